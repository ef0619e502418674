#if canImport(Glibc)
import Glibc
#endif
import FuzzHarness

// libFuzzer's entry points. The target is chosen once, from MLREPO_FUZZ_TARGET.

nonisolated(unsafe) var fuzzTarget = ""

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = getenv("MLREPO_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard FuzzHarness.targets.contains(name) else {
        fputs("mlrepo-fuzz: set MLREPO_FUZZ_TARGET to one of: \(FuzzHarness.targets.joined(separator: " "))\n", stderr)
        exit(2)
    }
    fuzzTarget = name
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let buffer = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    FuzzHarness.run(fuzzTarget, buffer)
    return 0
}
