#if canImport(Glibc)
import Glibc
#endif
import CFuzz
import FuzzHarness

// libFuzzer's entry points. The target is chosen once, from MLREPO_FUZZ_TARGET.

nonisolated(unsafe) var fuzzTarget = ""
/// MLREPO_FUZZ_SKIP_KNOWN=1: inputs that would only hit a bug already saved in fuzz/findings
/// are skipped, so a run can get past it to the next one (see `knownBug`).
nonisolated(unsafe) var skipKnown = false

func chooseTarget() {
    let name = getenv("MLREPO_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard FuzzHarness.targets.contains(name) else {
        let msg = "mlrepo-fuzz: set MLREPO_FUZZ_TARGET to one of: \(FuzzHarness.targets.joined(separator: " "))\n"
        _ = msg.withCString { write(2, $0, strlen($0)) }
        exit(2)
    }
    fuzzTarget = name
    skipKnown = getenv("MLREPO_FUZZ_SKIP_KNOWN").map { String(cString: $0) == "1" } ?? false
}

/// Whether `d` would hit a bug recorded in fuzz/findings/README.md (crude, on purpose: it
/// only has to keep the fuzzer away from known crashes while they are unfixed).
func knownBug(_ target: String, _ d: UnsafeRawBufferPointer) -> Bool {
    switch target {
    case "http", "chunked":
        // Signed chunk sizes (chunked/crash-negative-chunk-size).
        if target == "chunked", let f = d.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") { return true }
        for i in d.indices.dropLast() where d[i] == 10 && (d[i + 1] == UInt8(ascii: "-") || d[i + 1] == UInt8(ascii: "+")) { return true }
        return false
    case "packindex", "pack":
        // A fan-out table that decreases or passes the count (packindex/crash-fanout-out-of-range).
        var idx = d
        if target == "pack" {
            guard d.count >= 4 else { return false }
            let n = Int(UInt32(littleEndian: d.loadUnaligned(as: UInt32.self)))
            guard n <= d.count - 4 else { return false }
            idx = UnsafeRawBufferPointer(rebasing: d[4..<(4 + n)])
        }
        guard idx.count >= 16 + 1024 else { return false }
        let count = UInt32(littleEndian: idx.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        var prev: UInt32 = 0
        for b in 0..<256 {
            let f = UInt32(littleEndian: idx.loadUnaligned(fromByteOffset: 16 + 4 * b, as: UInt32.self))
            if f < prev || f > count { return true }
            prev = f
        }
        // An entry offset >= 2^63 (pack/crash-entry-offset-over-int-max).
        let entries = 16 + 1024 + Int(count) * 32
        guard idx.count == entries + Int(count) * 16 + 32 else { return false }
        for i in 0..<Int(count) where UInt64(littleEndian: idx.loadUnaligned(fromByteOffset: entries + i * 16, as: UInt64.self)) > UInt64(Int.max) {
            return true
        }
        return false
    case "objects":
        // Chunk-list part sizes that overflow UInt64 (objects/crash-chunklist-size-overflow).
        guard d.count >= 9, (d.count - 9) % 40 == 0 else { return false }
        var sum: UInt64 = 0
        for o in stride(from: 9 + 32, to: d.count, by: 40) {
            let (s, over) = sum.addingReportingOverflow(UInt64(littleEndian: d.loadUnaligned(fromByteOffset: o, as: UInt64.self)))
            if over { return true }
            sum = s
        }
        return false
    case "ignore":
        // Exponential glob backtracking (ignore/timeout-glob-many-stars): at most 2 stars a line.
        var stars = 0
        for c in d {
            if c == 10 { stars = 0 } else if c == UInt8(ascii: "*") { stars += 1; if stars > 2 { return true } }
        }
        return false
    default:
        return false
    }
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
    if skipKnown && knownBug(fuzzTarget, buffer) { return 0 }
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
