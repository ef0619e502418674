// swift-tools-version:6.0
import PackageDescription

// Layers (see docs/design and ../shared/DESIGN.md): mlrepo -> CLI -> Serve | UI -> ML -> Store | Compute,
// Store, Serve and UI -> Net (sockets, HTTP, TLS) -> Support -> C shims. A module imports only what is below it.
//
// Safety: every module that parses network, remote or repository input (Support, Store, ML,
// Net, Serve, UI, CLI) builds with plain `-O`, so an out-of-range index or an integer overflow traps
// instead of being undefined behaviour. Only the compute kernels (Compute, ComputeAVX2), which
// read no input, keep `-Ounchecked`: it pays there (MLP training +36% user CPU under -O,
// k-means +12%: bench/kernel_flags.sh, bench/results/kernel_flags.md).
let kernels: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "mlrepo",
    products: [
        .executable(name: "mlrepo", targets: ["mlrepo"]),
        .library(name: "Store", targets: ["Store"]),
        // The fuzz targets' bodies, for fuzz/Package.swift (libFuzzer binaries, see fuzz/README.md).
        .library(name: "FuzzHarness", targets: ["FuzzHarness"]),
    ],
    targets: [
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "CShims", path: "Sources/CShims"),
        .target(name: "Support", dependencies: ["CZlib", "CCrypto", "CShims"]),
        // Net: sockets, HTTP/1.1 framing (both sides), the pooled client, TLS (libssl by dlopen).
        // Every C call it makes goes through Sources/Net/System.swift.
        .target(name: "Net", dependencies: ["Support", "CShims"]),
        .target(name: "Store", dependencies: ["Net", "Support", "CShims"]),
        // Compute: the Backend protocol, tensors, the CPU backend (and later CUDA via dlopen).
        // ComputeAVX2 holds only the AVX2+FMA GEMM micro-kernel, compiled for Haswell and
        // called only after a runtime CPU check, so the binary still runs on older x86-64.
        .target(name: "ComputeAVX2", path: "Sources/ComputeAVX2",
                swiftSettings: [.unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"])]),
        .target(name: "Compute", dependencies: ["ComputeAVX2", "CShims", "Support"], swiftSettings: kernels),
        // ComputeGPU: the CUDA backend (the driver API and NVRTC loaded with dlopen: nothing
        // CUDA is linked) and BackendRegistry, which picks CPU or GPU. Runtime checks stay on
        // here: it reads a kernel cache from disk and drives a device through raw pointers.
        .target(name: "ComputeGPU", dependencies: ["Compute", "CShims", "Support"]),
        // ML: pipelines, lineage records, params/metrics, data profiles, models. Store and
        // Compute meet here.
        .target(name: "ML", dependencies: ["ComputeGPU", "Compute", "Store", "Support"]),
        // Serve: the HTTP/1.1 scoring server (MLflow's protocol), metrics and drift monitor.
        .target(name: "Serve", dependencies: ["ML", "Compute", "Store", "Net", "Support"]),
        // UI: the web app behind `mlrepo ui` (server-rendered pages, SVG charts) and the static
        // reports of `mlrepo plots`. Beside Serve: the two never import each other; both use
        // Net's HTTP server.
        .target(name: "UI", dependencies: ["ML", "Store", "Net", "Support"]),
        .target(name: "CLI", dependencies: ["UI", "Serve", "ML", "ComputeGPU", "Compute", "Store", "Net", "Support"]),
        // Release binaries link the Swift runtime statically: one self-contained file that
        // starts faster (no dynamic symbol binding for the runtime) and runs where no Swift
        // toolchain is installed.
        .executableTarget(name: "mlrepo", dependencies: ["CLI"],
                          linkerSettings: [.unsafeFlags(["-static-stdlib"], .when(configuration: .release))]),
        .executableTarget(name: "mlrepo-bench", dependencies: ["ML", "Compute", "Store", "Support"], path: "Sources/mlrepo-bench"),
        // GEMM throughput of the CPU backend's kernels (bench/gemm.sh sets it beside numpy).
        .executableTarget(name: "mlrepo-gemm-bench", dependencies: ["Compute", "Support"], path: "Sources/mlrepo-gemm-bench"),
        // Fuzz targets (issue 13): one function per parser, driven by fuzz/ under libFuzzer and
        // by FuzzSeedTests over the seed corpora. Not linked into the product.
        .target(name: "FuzzHarness", dependencies: ["UI", "Serve", "ML", "ComputeGPU", "Compute", "Store", "Net", "Support"]),
        .target(name: "TestHelpers", dependencies: ["Support"], path: "Tests/TestHelpers"),
        .testTarget(name: "SupportTests", dependencies: ["Support", "TestHelpers"]),
        .testTarget(name: "NetTests", dependencies: ["Net", "Support"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Net", "Support", "TestHelpers"]),
        .testTarget(name: "ComputeTests", dependencies: ["Compute", "ComputeGPU", "TestHelpers"]),
        // The GPU backend without a GPU: NVRTC compiles of the kernels, ptxas register checks,
        // and the emulator (the kernel source as host C++) under the conformance suite.
        .testTarget(name: "ComputeGPUTests", dependencies: ["ComputeGPU", "Compute", "ML", "Support", "TestHelpers"]),
        .testTarget(name: "MLTests", dependencies: ["ML", "Compute", "Store", "Support", "TestHelpers"]),
        .testTarget(name: "ServeTests", dependencies: ["Serve", "ML", "ComputeGPU", "Compute", "Net", "Support"]),
        .testTarget(name: "UITests", dependencies: ["UI", "ML", "Store", "Net", "Support", "TestHelpers"]),
        .testTarget(name: "FuzzSeedTests", dependencies: ["FuzzHarness"]),
        .testTarget(name: "CLITests", dependencies: ["ML", "ComputeGPU", "Store", "Support", "TestHelpers"]),
    ],
    swiftLanguageModes: [.v6]
)
