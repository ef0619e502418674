// swift-tools-version:6.0
import PackageDescription

// libFuzzer binary for mlrepo's parsers (issue 13). A package of its own so that the main
// package's `swift build` / `swift test` never see the sanitizer flags. Build and run with
// fuzz/run.sh (see fuzz/README.md); by hand:
//
//   swift build -c debug --package-path fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   MLREPO_FUZZ_TARGET=json fuzz/.build/debug/mlrepo-fuzz fuzz/corpus/json
//
// One binary holds every target; MLREPO_FUZZ_TARGET picks one. SwiftPM's debug link points
// `main` at `mlrepo_fuzz_main` (--defsym, for testable executables), which Fuzz.swift defines
// to call libFuzzer's driver (LLVMFuzzerRunDriver, declared by CFuzz); libFuzzer's runtime
// is linked by -sanitize=fuzzer.
let package = Package(
    name: "mlrepo-fuzz",
    dependencies: [.package(name: "mlrepo", path: "..")],
    targets: [
        .target(name: "CFuzz", path: "Sources/CFuzz"),
        .executableTarget(name: "mlrepo-fuzz",
                          dependencies: ["CFuzz", .product(name: "FuzzHarness", package: "mlrepo")],
                          path: "Sources/mlrepo-fuzz"),
    ],
    swiftLanguageModes: [.v6]
)
