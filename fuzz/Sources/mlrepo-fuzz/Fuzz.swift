#if canImport(Glibc)
import Glibc
#endif
import CFuzz
import FuzzHarness

// libFuzzer's entry points. The target is chosen once, from MLREPO_FUZZ_TARGET.

nonisolated(unsafe) var fuzzTarget = ""
func chooseTarget() {
    let name = getenv("MLREPO_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard FuzzHarness.targets.contains(name) else {
        let msg = "mlrepo-fuzz: set MLREPO_FUZZ_TARGET to one of: \(FuzzHarness.targets.joined(separator: " "))\n"
        _ = msg.withCString { write(2, $0, strlen($0)) }
        exit(2)
    }
    fuzzTarget = name
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    chooseTarget()
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let buffer = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    FuzzHarness.run(fuzzTarget, buffer)
    return 0
}

/// The program's entry in a debug build: SwiftPM links executables with
/// `--defsym main=mlrepo_fuzz_main`, so libFuzzer's own `main` is not the one called; this
/// hands the command line to libFuzzer's driver, as its `main` would.
@_cdecl("mlrepo_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzerTestOneInput(data, size) }
}
