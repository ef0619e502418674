#if canImport(Glibc)
import Glibc
#endif
import Compute
import Support

/// NVRTC, the CUDA run-time compiler (libnvrtc.so.13, loaded with dlopen). It needs no GPU, so
/// the kernel source is compiled in the tests on any machine that has the pip wheel
/// (nvidia-cuda-nvrtc).
///
/// Signatures and constants are those of `nvrtc.h` in CUDA 13 (the nvidia-cuda-nvrtc 13 wheel's
/// include/nvrtc.h): every function returns `nvrtcResult` (a C enum, an `int`; NVRTC_SUCCESS =
/// 0), `nvrtcProgram` is an opaque pointer.
public final class NVRTC: @unchecked Sendable {
    /// Where the library was loaded from.
    public let path: String
    /// nvrtcVersion().
    public let version: (major: Int, minor: Int)
    /// The `sm_XY` architectures this NVRTC compiles for (nvrtcGetSupportedArchs), as XY.
    public let supportedArchitectures: [Int]

    // nvrtc.h: nvrtcResult nvrtcVersion(int *major, int *minor);
    typealias VersionFn = @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32
    // nvrtcResult nvrtcGetNumSupportedArchs(int* numArchs); nvrtcGetSupportedArchs(int* supportedArchs);
    typealias IntOutFn = @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    // nvrtcResult nvrtcCreateProgram(nvrtcProgram *prog, const char *src, const char *name,
    //     int numHeaders, const char * const *headers, const char * const *includeNames);
    typealias CreateFn = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<CChar>, UnsafePointer<CChar>,
                                         Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    // nvrtcResult nvrtcDestroyProgram(nvrtcProgram *prog);
    typealias DestroyFn = @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    // nvrtcResult nvrtcCompileProgram(nvrtcProgram prog, int numOptions, const char * const *options);
    typealias CompileFn = @convention(c) (OpaquePointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    // nvrtcResult nvrtcGetProgramLogSize / nvrtcGetPTXSize / nvrtcGetCUBINSize (nvrtcProgram prog, size_t *ret);
    typealias SizeFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Int32
    // nvrtcResult nvrtcGetProgramLog / nvrtcGetPTX / nvrtcGetCUBIN (nvrtcProgram prog, char *out);
    typealias BytesFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Int32
    // const char *nvrtcGetErrorString(nvrtcResult result);
    typealias ErrorStringFn = @convention(c) (Int32) -> UnsafePointer<CChar>?

    private let create: CreateFn
    private let destroy: DestroyFn
    private let compileProgram: CompileFn
    private let logSize: SizeFn, log: BytesFn
    private let ptxSize: SizeFn, ptx: BytesFn
    private let cubinSize: SizeFn, cubin: BytesFn
    private let errorString: ErrorStringFn

    /// Loads libnvrtc.so.13 from the settings' folders, the standard ones, or the loader's
    /// search; throws "libnvrtc.so.13 not found in …" or a missing symbol.
    public static func load(_ settings: GPUSettings) throws -> NVRTC {
        try NVRTC(CUDALibraries.open(.nvrtc, settings: settings))
    }

    init(_ lib: CUDALibraries.Handle) throws {
        func fn<T>(_ name: String, _ type: T.Type) throws -> T { unsafeBitCast(try lib.symbol(name), to: type) }
        path = lib.path
        let versionFn = try fn("nvrtcVersion", VersionFn.self)
        let numArchs = try fn("nvrtcGetNumSupportedArchs", IntOutFn.self)
        let archs = try fn("nvrtcGetSupportedArchs", IntOutFn.self)
        create = try fn("nvrtcCreateProgram", CreateFn.self)
        destroy = try fn("nvrtcDestroyProgram", DestroyFn.self)
        compileProgram = try fn("nvrtcCompileProgram", CompileFn.self)
        logSize = try fn("nvrtcGetProgramLogSize", SizeFn.self)
        log = try fn("nvrtcGetProgramLog", BytesFn.self)
        ptxSize = try fn("nvrtcGetPTXSize", SizeFn.self)
        ptx = try fn("nvrtcGetPTX", BytesFn.self)
        cubinSize = try fn("nvrtcGetCUBINSize", SizeFn.self)
        cubin = try fn("nvrtcGetCUBIN", BytesFn.self)
        errorString = try fn("nvrtcGetErrorString", ErrorStringFn.self)

        var major: Int32 = 0, minor: Int32 = 0
        guard versionFn(&major, &minor) == 0 else { throw ComputeError("gpu: nvrtcVersion failed (\(lib.path))") }
        version = (Int(major), Int(minor))
        var n: Int32 = 0
        var list: [Int] = []
        if numArchs(&n) == 0, n > 0, n < 1024 {
            var a = [Int32](repeating: 0, count: Int(n))
            if archs(&a) == 0 { list = a.map(Int.init) }
        }
        supportedArchitectures = list
    }

    /// "13.2"
    public var versionString: String { "\(version.major).\(version.minor)" }

    /// The options every compile gets besides the architecture: C++17, and no fast math
    /// (`--use_fast_math` would change results between NVRTC versions and from the CPU's).
    public static let defaultOptions = ["--std=c++17"]

    /// The image to load for a device of compute capability `major.minor`: "sm_XY" (a CUBIN)
    /// when this NVRTC knows the architecture, else "compute_XY" (PTX the driver compiles) for
    /// the newest architecture it knows below the device's; nil when it knows none.
    public func target(major: Int, minor: Int) -> String? {
        let want = major * 10 + minor
        if supportedArchitectures.isEmpty || supportedArchitectures.contains(want) { return "sm_\(want)" }
        guard let below = supportedArchitectures.filter({ $0 <= want }).max() else { return nil }
        return "compute_\(below)"
    }

    /// Compiles `source` for `arch`: "sm_XY" gives a CUBIN, "compute_XY" PTX (with its
    /// terminating NUL, as `cuModuleLoadData` wants it). Throws a one-line reason with the
    /// log's first error on failure; on success returns the log too (warnings, if any).
    public func compile(_ source: String, arch: String, options: [String] = []) throws -> (image: [UInt8], log: String) {
        let isCubin: Bool
        if arch.hasPrefix("sm_"), arch.dropFirst(3).allSatisfy(\.isNumber), arch.count > 3 { isCubin = true }
        else if arch.hasPrefix("compute_"), arch.dropFirst(8).allSatisfy(\.isNumber), arch.count > 8 { isCubin = false }
        else { throw ComputeError("gpu: bad architecture '\(arch)' (expected sm_XY or compute_XY)") }
        guard !source.utf8.contains(0) else { throw ComputeError("gpu: kernel source contains a NUL byte") }

        var prog: OpaquePointer? = nil
        let rc = create(&prog, source, "mlrepo_kernels.cu", 0, nil, nil)
        guard rc == 0, prog != nil else { throw ComputeError("gpu: nvrtcCreateProgram failed: \(message(rc))") }
        defer { _ = destroy(&prog) }

        let all = ["--gpu-architecture=\(arch)"] + NVRTC.defaultOptions + options
        let cOptions = all.map { strdup($0) }
        defer { cOptions.forEach { Glibc.free($0) } }
        let compiled: Int32 = cOptions.map { UnsafePointer<CChar>($0) }.withUnsafeBufferPointer { opts in
            compileProgram(prog, Int32(opts.count), opts.baseAddress)
        }
        let text = programLog(prog)
        guard compiled == 0 else {
            let first = NVRTC.firstError(in: text) ?? message(compiled)
            throw ComputeError("gpu: kernel compile for \(arch) failed (NVRTC \(versionString)): \(first)")
        }
        let getSize = isCubin ? cubinSize : ptxSize
        let get = isCubin ? cubin : ptx
        var size = 0
        let src = getSize(prog, &size)
        guard src == 0, size > 0 else { throw ComputeError("gpu: NVRTC gave no \(isCubin ? "CUBIN" : "PTX"): \(message(src))") }
        var image = [UInt8](repeating: 0, count: size)
        let gr = image.withUnsafeMutableBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: size) { get(prog, $0) }
        }
        guard gr == 0 else { throw ComputeError("gpu: NVRTC could not return the \(isCubin ? "CUBIN" : "PTX"): \(message(gr))") }
        return (image, text)
    }

    /// The program's log, without its trailing NUL ("" when empty).
    private func programLog(_ prog: OpaquePointer?) -> String {
        var n = 0
        guard logSize(prog, &n) == 0, n > 1 else { return "" }
        var buf = [CChar](repeating: 0, count: n)
        guard log(prog, &buf) == 0 else { return "" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// "NVRTC_ERROR_COMPILATION"
    private func message(_ rc: Int32) -> String {
        errorString(rc).map { String(cString: $0) } ?? "nvrtcResult \(rc)"
    }

    /// The first line of a compile log that reports an error ("mlrepo_kernels.cu(12): error: …"):
    /// one with "error:" (not a line that merely mentions the word, like an identifier).
    public static func firstError(in log: String) -> String? {
        log.split(separator: "\n").first { $0.contains("error:") }.map { String($0).trimmed() }
    }

    /// The lines of a compile log that report warnings.
    public static func warnings(in log: String) -> [String] {
        log.split(separator: "\n").filter { $0.contains("warning") }.map(String.init)
    }
}
