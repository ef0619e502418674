#if canImport(Glibc)
import Glibc
#endif
import Compute
import Synchronization
import Support

/// The CUDA driver API entry points the device uses, looked up with dlsym in libcuda.so.1.
///
/// Every signature, symbol name and constant below is taken from `cuda.h` of CUDA 13.2 (the
/// nvidia-cuda-nvcc 13 wheel's include/cuda.h, CUDA_VERSION 13020): `CUresult` is a C enum
/// (an `int`, CUDA_SUCCESS = 0), `CUdevice` an `int`, `CUdeviceptr` an `unsigned long long`
/// (64-bit builds), handles (`CUcontext`, `CUstream`, `CUmodule`, `CUfunction`, `CUgraph`,
/// `CUgraphExec`) opaque pointers, `size_t` is `Int`. Where cuda.h maps an API name to a
/// versioned symbol (`#define cuMemAlloc cuMemAlloc_v2`, `#define cuStreamBeginCapture
/// __CUDA_API_PTSZ(cuStreamBeginCapture_v2)`), the versioned symbol is used; the plain
/// (not `_ptsz`) symbols have the default-stream semantics, which do not matter here since
/// everything goes to the device's own stream.
struct CUDADriver: @unchecked Sendable {
    typealias Stream = OpaquePointer?
    /// Set when a call returns a sticky error: the context is lost for the process's life.
    let lost = LostFlag()
    // CUresult cuInit(unsigned int Flags);
    let cuInit: @convention(c) (UInt32) -> Int32
    // CUresult cuDriverGetVersion(int *driverVersion);
    let cuDriverGetVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    // CUresult cuDeviceGetCount(int *count);
    let cuDeviceGetCount: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    // CUresult cuDeviceGet(CUdevice *device, int ordinal);
    let cuDeviceGet: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    // CUresult cuDeviceGetName(char *name, int len, CUdevice dev);
    let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> Int32
    // CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev);
    let cuDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> Int32
    // #define cuDeviceTotalMem cuDeviceTotalMem_v2: CUresult (size_t *bytes, CUdevice dev);
    let cuDeviceTotalMem: @convention(c) (UnsafeMutablePointer<Int>, Int32) -> Int32
    // CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev);
    // (The primary context, as the runtime API uses: cuda.h 13 maps cuCtxCreate to
    // cuCtxCreate_v4 with a params struct, which the primary context avoids.)
    let cuDevicePrimaryCtxRetain: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, Int32) -> Int32
    // #define cuDevicePrimaryCtxRelease cuDevicePrimaryCtxRelease_v2: CUresult (CUdevice dev);
    let cuDevicePrimaryCtxRelease: @convention(c) (Int32) -> Int32
    // CUresult cuCtxSetCurrent(CUcontext ctx);
    let cuCtxSetCurrent: @convention(c) (OpaquePointer?) -> Int32
    // #define cuMemAlloc cuMemAlloc_v2: CUresult (CUdeviceptr *dptr, size_t bytesize);
    let cuMemAlloc: @convention(c) (UnsafeMutablePointer<UInt64>, Int) -> Int32
    // #define cuMemFree cuMemFree_v2: CUresult (CUdeviceptr dptr);
    let cuMemFree: @convention(c) (UInt64) -> Int32
    // cuMemcpyHtoDAsync_v2: CUresult (CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream);
    let cuMemcpyHtoDAsync: @convention(c) (UInt64, UnsafeRawPointer?, Int, Stream) -> Int32
    // cuMemcpyDtoHAsync_v2: CUresult (void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
    let cuMemcpyDtoHAsync: @convention(c) (UnsafeMutableRawPointer?, UInt64, Int, Stream) -> Int32
    // cuMemcpyDtoDAsync_v2: CUresult (CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
    let cuMemcpyDtoDAsync: @convention(c) (UInt64, UInt64, Int, Stream) -> Int32
    // CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream);
    let cuMemsetD8Async: @convention(c) (UInt64, UInt8, Int, Stream) -> Int32
    // CUresult cuModuleLoadData(CUmodule *module, const void *image);
    let cuModuleLoadData: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafeRawPointer?) -> Int32
    // CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name);
    let cuModuleGetFunction: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer?, UnsafePointer<CChar>) -> Int32
    // CUresult cuLaunchKernel(CUfunction f, unsigned gridDimX, gridDimY, gridDimZ, unsigned blockDimX,
    //     blockDimY, blockDimZ, unsigned sharedMemBytes, CUstream hStream, void **kernelParams, void **extra);
    let cuLaunchKernel: @convention(c) (OpaquePointer?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, Stream,
                                        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32
    // CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags);
    let cuStreamCreate: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UInt32) -> Int32
    // CUresult cuStreamSynchronize(CUstream hStream);
    let cuStreamSynchronize: @convention(c) (Stream) -> Int32
    // CUresult cuGetErrorName(CUresult error, const char **pStr); cuGetErrorString likewise.
    let cuGetErrorName: @convention(c) (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Int32
    let cuGetErrorString: @convention(c) (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Int32
    // cuStreamBeginCapture_v2: CUresult (CUstream hStream, CUstreamCaptureMode mode);
    let cuStreamBeginCapture: @convention(c) (Stream, Int32) -> Int32
    // CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph);
    let cuStreamEndCapture: @convention(c) (Stream, UnsafeMutablePointer<OpaquePointer?>) -> Int32
    // CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags);
    let cuGraphInstantiateWithFlags: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer?, UInt64) -> Int32
    // CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream);
    let cuGraphLaunch: @convention(c) (OpaquePointer?, Stream) -> Int32
    // CUresult cuGraphExecDestroy(CUgraphExec hGraphExec); CUresult cuGraphDestroy(CUgraph hGraph);
    let cuGraphExecDestroy: @convention(c) (OpaquePointer?) -> Int32
    let cuGraphDestroy: @convention(c) (OpaquePointer?) -> Int32
    // #define cuDevicePrimaryCtxSetFlags cuDevicePrimaryCtxSetFlags_v2 (cuda.h:153):
    // CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags); (cuda.h:6214)
    let cuDevicePrimaryCtxSetFlags: @convention(c) (Int32, UInt32) -> Int32
    // #define cuStreamDestroy cuStreamDestroy_v2 (cuda.h:142): CUresult cuStreamDestroy(CUstream hStream); (cuda.h:16400)
    let cuStreamDestroy: @convention(c) (Stream) -> Int32
    // CUresult cuModuleUnload(CUmodule hmod); (cuda.h:7666)
    let cuModuleUnload: @convention(c) (OpaquePointer?) -> Int32

    // cuda.h, enum CUdevice_attribute.
    static let attributeMultiprocessorCount: Int32 = 16       // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    static let attributeComputeCapabilityMajor: Int32 = 75    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
    static let attributeComputeCapabilityMinor: Int32 = 76    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
    // cuda.h, enum CUstream_flags: CU_STREAM_NON_BLOCKING = 0x1 (no implicit syncs with the
    // legacy NULL stream, so nothing outside can break a capture).
    static let streamNonBlocking: UInt32 = 1
    // cuda.h:2527, enum CUstreamCaptureMode: CU_STREAM_CAPTURE_MODE_RELAXED = 2 (cuMemAlloc stays
    // allowed during a capture; CUDADevice itself keeps other threads out of it).
    static let captureModeRelaxed: Int32 = 2
    // cuda.h, enum cudaError_enum.
    static let success: Int32 = 0                           // CUDA_SUCCESS
    static let errorNoDevice: Int32 = 100                    // CUDA_ERROR_NO_DEVICE
    static let errorStubLibrary: Int32 = 34                  // CUDA_ERROR_STUB_LIBRARY (cuda.h:2728)
    static let errorSystemDriverMismatch: Int32 = 803        // CUDA_ERROR_SYSTEM_DRIVER_MISMATCH (cuda.h:3170)
    static let errorCompatNotSupported: Int32 = 804          // CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE (cuda.h:3179)
    /// Errors that leave the process "in an inconsistent state" (cuda.h: "the process must be
    /// terminated and relaunched"): CUDA_ERROR_CONTAINED 226, ILLEGAL_ADDRESS 700,
    /// LAUNCH_TIMEOUT 702, HARDWARE_STACK_ERROR 714, ILLEGAL_INSTRUCTION 715, MISALIGNED_ADDRESS
    /// 716, INVALID_ADDRESS_SPACE 717, INVALID_PC 718, LAUNCH_FAILED 719, EXTERNAL_DEVICE 911.
    static let stickyErrors: Set<Int32> = [226, 700, 702, 714, 715, 716, 717, 718, 719, 911]
    // cuda.h:385, enum CUctx_flags: CU_CTX_SCHED_BLOCKING_SYNC = 0x04 (a waiting thread sleeps
    // instead of spinning: the device's lock is held while it waits).
    static let contextSchedBlockingSync: UInt32 = 0x04

    let library: CUDALibraries.Handle

    init(_ lib: CUDALibraries.Handle) throws {
        library = lib
        func f<T>(_ name: String) throws -> T { unsafeBitCast(try lib.symbol(name), to: T.self) }
        cuInit = try f("cuInit")
        cuDriverGetVersion = try f("cuDriverGetVersion")
        cuDeviceGetCount = try f("cuDeviceGetCount")
        cuDeviceGet = try f("cuDeviceGet")
        cuDeviceGetName = try f("cuDeviceGetName")
        cuDeviceGetAttribute = try f("cuDeviceGetAttribute")
        cuDeviceTotalMem = try f("cuDeviceTotalMem_v2")
        cuDevicePrimaryCtxRetain = try f("cuDevicePrimaryCtxRetain")
        cuDevicePrimaryCtxRelease = try f("cuDevicePrimaryCtxRelease_v2")
        cuCtxSetCurrent = try f("cuCtxSetCurrent")
        cuMemAlloc = try f("cuMemAlloc_v2")
        cuMemFree = try f("cuMemFree_v2")
        cuMemcpyHtoDAsync = try f("cuMemcpyHtoDAsync_v2")
        cuMemcpyDtoHAsync = try f("cuMemcpyDtoHAsync_v2")
        cuMemcpyDtoDAsync = try f("cuMemcpyDtoDAsync_v2")
        cuMemsetD8Async = try f("cuMemsetD8Async")
        cuModuleLoadData = try f("cuModuleLoadData")
        cuModuleGetFunction = try f("cuModuleGetFunction")
        cuLaunchKernel = try f("cuLaunchKernel")
        cuStreamCreate = try f("cuStreamCreate")
        cuStreamSynchronize = try f("cuStreamSynchronize")
        cuGetErrorName = try f("cuGetErrorName")
        cuGetErrorString = try f("cuGetErrorString")
        cuStreamBeginCapture = try f("cuStreamBeginCapture_v2")
        cuStreamEndCapture = try f("cuStreamEndCapture")
        cuGraphInstantiateWithFlags = try f("cuGraphInstantiateWithFlags")
        cuGraphLaunch = try f("cuGraphLaunch")
        cuGraphExecDestroy = try f("cuGraphExecDestroy")
        cuGraphDestroy = try f("cuGraphDestroy")
        cuDevicePrimaryCtxSetFlags = try f("cuDevicePrimaryCtxSetFlags_v2")
        cuStreamDestroy = try f("cuStreamDestroy_v2")
        cuModuleUnload = try f("cuModuleUnload")
    }

    /// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)"
    func describe(_ rc: Int32) -> String {
        var name: UnsafePointer<CChar>? = nil, text: UnsafePointer<CChar>? = nil
        let n = cuGetErrorName(rc, &name) == 0 ? name.map { String(cString: $0) } : nil
        let t = cuGetErrorString(rc, &text) == 0 ? text.map { String(cString: $0) } : nil
        switch (n, t) {
        case let (n?, t?): return "\(n) (\(t))"
        case let (n?, nil): return n
        default: return "CUresult \(rc)"
        }
    }

    /// Throws ComputeError("gpu: cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)").
    /// After a sticky error (an illegal address in a kernel, …) the message says the process
    /// must restart: the device is opened once per process and stays unusable.
    func check(_ rc: Int32, _ call: String) throws {
        if rc != CUDADriver.success { throw error(rc, call) }
    }

    func error(_ rc: Int32, _ call: String) -> ComputeError {
        let sticky = CUDADriver.stickyErrors.contains(rc)
        if sticky { lost.value.store(true, ordering: .relaxed) }
        let restart = sticky ? "; the GPU context is lost: restart the process" : ""
        return ComputeError("gpu: \(call) failed: \(describe(rc))\(restart)")
    }
}

/// Whether the driver has reported a sticky error (shared by the copies of a `CUDADriver`).
final class LostFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// `KernelDevice` on a real NVIDIA GPU: the CUDA driver API and NVRTC, loaded with dlopen
/// (nothing CUDA is linked: `ldd mlrepo` names no CUDA library).
///
/// One primary context (blocking sync: a waiting thread sleeps) and one non-blocking stream
/// per device; every call takes the device's lock and makes the context current on the calling
/// thread, so any thread may use it. Copies and launches are queued on the stream;
/// `copy(toHost:)` and `synchronize` wait; `free` waits for the queued work first.
///
/// Graphs are recorded by stream capture, which covers the whole stream: while one thread
/// captures (between `beginCapture` and `endCapture`/`abortCapture`), every other thread's
/// call waits until the capture ends, so nothing of theirs lands in the graph. On the
/// capturing thread, what cannot be captured (a copy from or to host memory, `synchronize`)
/// throws before it reaches the driver, and `free` is deferred: the memory belongs to the
/// graph and is freed when the graph is destroyed.
public final class CUDADevice: KernelDevice, @unchecked Sendable {
    public let info: GPUDeviceInfo
    /// Where the kernels' image came from: "cache" (loaded from the kernel cache), "compiled"
    /// (NVRTC ran in this process).
    public let kernelOrigin: String
    /// Seconds spent getting the kernels' image (NVRTC, or reading the cache) and loading it.
    public let kernelLoadSeconds: Double
    /// The architecture the image was built for ("sm_90", or "compute_90" when the driver
    /// compiled PTX).
    public let kernelTarget: String
    /// Where libcuda.so.1 and libnvrtc.so.13 were loaded from.
    public let driverPath: String, nvrtcPath: String
    /// Why the compiled kernels could not be written to the kernel cache (nil: stored, loaded
    /// from it, or no cache). The device works without it; `doctor` reports it.
    public let kernelCacheProblem: String?

    private let driver: CUDADriver
    /// Whether the device's context was lost (a sticky error): nothing more can run on it in
    /// this process, and `BackendRegistry` no longer hands it out.
    public var contextLost: Bool { driver.lost.value.load(ordering: .relaxed) }
    private let nvrtc: NVRTC
    private let device: Int32
    private let context: OpaquePointer?
    private let stream: OpaquePointer?
    private let module: OpaquePointer?
    /// Kernel name → (its parameters, its function handle).
    private let kernels: [String: (spec: CUDAKernels.Spec, function: OpaquePointer?)]
    /// The device's lock (a pthread mutex) and the condition other threads wait on while a
    /// capture runs. (Support's `Lock` has no condition variable.)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let captureEnded: UnsafeMutablePointer<pthread_cond_t>
    /// Launch argument storage, reused under the lock: 8 bytes per argument value and the
    /// array of pointers to them that cuLaunchKernel reads (it copies the values at launch).
    private let argValues: UnsafeMutableRawPointer
    private let argPointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let maxArguments: Int
    /// The thread that is capturing, nil when none; frees it asks for meanwhile go to the graph.
    private var captureOwner: pthread_t?
    private var captureFrees: [UInt64] = []
    /// The first error of a call that cannot throw (`free`, a graph's destruction), thrown by
    /// the next `synchronize` or `copy(toHost:)`.
    private var pendingError: ComputeError?
    /// The self-test's module, loaded once (unloaded with the device).
    private var selfTestModule: OpaquePointer?
    private var selfTestFunction: OpaquePointer?

    /// NVRTC options for the kernels besides the architecture and `NVRTC.defaultOptions`
    /// (part of the kernel cache's key). No fast math.
    public static let compileOptions: [String] = []

    /// The NVIDIA kernel driver's release from `path` (the kernel module's line of
    /// /proc/driver/nvidia/version: "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06
    /// Sun Jul 27 ..."), "" when the file is missing or says no version. Reads at most 4 KiB.
    static func nvidiaDriverRelease(path: String = "/proc/driver/nvidia/version") -> String {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        var n = 0
        while n < buf.count {
            let r = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + n, $0.count - n) }
            if r <= 0 { break }
            n += r
        }
        let text = String(decoding: buf[0..<n], as: UTF8.self)
        for line in text.split(separator: "\n") where line.contains("Kernel Module") {
            for word in line.split(separator: " ") {
                let parts = word.split(separator: ".", omittingEmptySubsequences: false)
                if parts.count >= 2, parts.count <= 4, word.count <= 24,
                   parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }) {
                    return String(word)
                }
            }
        }
        return ""
    }

    /// Loads the libraries (searching `settings`), creates a context on the device, and
    /// compiles (or loads from the cache) `CUDAKernels.source` for its architecture.
    /// Throws a one-line reason: "no NVIDIA driver: libcuda.so.1 not found", "libnvrtc.so.13
    /// not found in ...", "no CUDA device", a driver older than NVRTC, a compile log's first error.
    public static func open(_ settings: GPUSettings) throws -> CUDADevice {
        var driver = try CUDADriver(CUDALibraries.open(.driver, settings: settings))
        var rc = driver.cuInit(0)
        // The toolkit's stub libcuda (lib64/stubs, for linking only) answers
        // CUDA_ERROR_STUB_LIBRARY: try the next copy the search finds (a few at most).
        var stubs: [String] = []
        while rc == CUDADriver.errorStubLibrary && stubs.count < 4 {
            stubs.append(driver.library.path)
            guard case .success(let next) = CUDALibraries.load(.driver, settings: settings, excluding: stubs) else { break }
            driver = try CUDADriver(next)
            rc = driver.cuInit(0)
        }
        let at = driver.library.path
        switch rc {
        case CUDADriver.success: break
        case CUDADriver.errorNoDevice: throw ComputeError("no CUDA device (cuInit: \(driver.describe(rc)))")
        case CUDADriver.errorStubLibrary:
            throw ComputeError("gpu: cuInit failed: \(driver.describe(rc)): the stub library loaded from \(at) is not the driver (remove its folder from LD_LIBRARY_PATH or MLREPO_CUDA_LIBS)")
        case CUDADriver.errorSystemDriverMismatch:
            throw ComputeError("gpu: cuInit failed: \(driver.describe(rc)): \(at) does not match the loaded NVIDIA kernel driver (a cuda-compat libcuda? use the system's libcuda.so.1)")
        case CUDADriver.errorCompatNotSupported:
            throw ComputeError("gpu: cuInit failed: \(driver.describe(rc)): this GPU does not support the forward-compatibility driver \(at) (use the system's libcuda.so.1)")
        default: try driver.check(rc, "cuInit")
        }
        var count: Int32 = 0
        try driver.check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount")
        guard count > 0 else { throw ComputeError("no CUDA device") }
        guard settings.device >= 0, settings.device < Int(count) else {
            throw ComputeError("no CUDA device \(settings.device) (this machine has \(count))")
        }
        var dev: Int32 = 0
        try driver.check(driver.cuDeviceGet(&dev, Int32(settings.device)), "cuDeviceGet")
        var nameBuf = [CChar](repeating: 0, count: 256)
        try driver.check(driver.cuDeviceGetName(&nameBuf, 255, dev), "cuDeviceGetName")
        nameBuf[255] = 0
        func attribute(_ a: Int32) throws -> Int {
            var v: Int32 = 0
            try driver.check(driver.cuDeviceGetAttribute(&v, a, dev), "cuDeviceGetAttribute(\(a))")
            return Int(v)
        }
        let major = try attribute(CUDADriver.attributeComputeCapabilityMajor)
        let minor = try attribute(CUDADriver.attributeComputeCapabilityMinor)
        let sms = try attribute(CUDADriver.attributeMultiprocessorCount)
        var memory = 0
        try driver.check(driver.cuDeviceTotalMem(&memory, dev), "cuDeviceTotalMem")
        var driverVersion: Int32 = 0
        try driver.check(driver.cuDriverGetVersion(&driverVersion), "cuDriverGetVersion")

        let nvrtc = try NVRTC.load(settings)
        guard let target = nvrtc.target(major: major, minor: minor) else {
            throw ComputeError("NVRTC \(nvrtc.versionString) cannot compile for compute capability \(major).\(minor) (it knows sm_\(nvrtc.supportedArchitectures.map(String.init).joined(separator: ", sm_")))")
        }
        // A driver older than NVRTC's major version cannot load its CUBIN or PTX
        // (CUDA_ERROR_UNSUPPORTED_PTX_VERSION / INVALID_IMAGE at cuModuleLoadData); PTX also
        // needs the driver at NVRTC's minor version (the driver compiles it).
        let needed = nvrtc.version.major * 1000 + (target.hasPrefix("compute_") ? nvrtc.version.minor * 10 : 0)
        if Int(driverVersion) < needed {
            throw ComputeError(CUDADevice.driverTooOld(driverVersion: Int(driverVersion), nvrtc: nvrtc.versionString))
        }

        // Blocking sync before the context exists: a thread waiting in cuStreamSynchronize
        // (with the device's lock held) sleeps rather than spins. A hint: if the primary
        // context is already active with other flags, the driver's choice stands.
        _ = driver.cuDevicePrimaryCtxSetFlags(dev, CUDADriver.contextSchedBlockingSync)
        var ctx: OpaquePointer? = nil
        try driver.check(driver.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain")
        do {
            return try open(driver: driver, device: dev, context: ctx, nvrtc: nvrtc, target: target, settings: settings,
                            info: GPUDeviceInfo(name: String(decoding: nameBuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                                                computeCapability: (major, minor), driverVersion: Int(driverVersion),
                                                nvrtcVersion: nvrtc.version, multiprocessors: sms, totalMemory: memory,
                                                driverRelease: CUDADevice.nvidiaDriverRelease()))
        } catch {
            // Nothing of a half-opened device stays behind (the stream and module go with the
            // primary context's last release).
            _ = driver.cuCtxSetCurrent(nil)
            _ = driver.cuDevicePrimaryCtxRelease(dev)
            throw error
        }
    }

    /// "the NVIDIA driver supports CUDA 12.4, NVRTC is 13.2: update the driver (or use an
    /// NVRTC no newer than the driver)"
    static func driverTooOld(driverVersion v: Int, nvrtc: String) -> String {
        "the NVIDIA driver supports CUDA \(v / 1000).\(v % 1000 / 10), NVRTC is \(nvrtc): update the driver (or use an NVRTC no newer than the driver)"
    }

    /// The rest of `open`, with the primary context retained.
    private static func open(driver: CUDADriver, device dev: Int32, context ctx: OpaquePointer?, nvrtc: NVRTC, target: String,
                             settings: GPUSettings, info: GPUDeviceInfo) throws -> CUDADevice {
        try driver.check(driver.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        var stream: OpaquePointer? = nil
        try driver.check(driver.cuStreamCreate(&stream, CUDADriver.streamNonBlocking), "cuStreamCreate")

        // The kernels: from the cache when a valid image is there, else NVRTC (then cached).
        let options = CUDADevice.compileOptions
        let cache = settings.cacheDirectory.map { KernelCache(directory: $0) }
        let key = KernelCache.key(source: CUDAKernels.source, arch: target, nvrtcVersion: nvrtc.version,
                                  options: NVRTC.defaultOptions + options)
        let loadStart = Clock.monotonic()
        var image: [UInt8]
        var from = "cache"
        var cacheProblem: String? = nil
        /// A cache that cannot be written only costs time; the reason is kept for `doctor`.
        func store() {
            do { try cache?.store(key, image: image) } catch { cacheProblem = (error as? ComputeError)?.message ?? "\(error)" }
        }
        if let cached = cache?.load(key) { image = cached }
        else {
            image = try nvrtc.compile(CUDAKernels.source, arch: target, options: options).image
            from = "compiled"
            store()
        }
        var module: OpaquePointer? = nil
        var lr = image.withUnsafeBytes { driver.cuModuleLoadData(&module, $0.baseAddress) }
        if lr != CUDADriver.success && from == "cache" {
            // A cached image the driver refuses (e.g. a newer driver): compile afresh.
            image = try nvrtc.compile(CUDAKernels.source, arch: target, options: options).image
            from = "compiled"
            store()
            lr = image.withUnsafeBytes { driver.cuModuleLoadData(&module, $0.baseAddress) }
        }
        try driver.check(lr, "cuModuleLoadData(\(target))")
        var kernels: [String: (spec: CUDAKernels.Spec, function: OpaquePointer?)] = [:]
        for spec in CUDAKernels.specs {
            var fn: OpaquePointer? = nil
            try driver.check(driver.cuModuleGetFunction(&fn, module, spec.name), "cuModuleGetFunction(\(spec.name))")
            kernels[spec.name] = (spec, fn)
        }
        let loadSeconds = Clock.monotonic() - loadStart
        return CUDADevice(info: info, driver: driver, device: dev, context: ctx, stream: stream, module: module, kernels: kernels,
                          kernelOrigin: from, kernelLoadSeconds: loadSeconds, kernelTarget: target, nvrtc: nvrtc,
                          kernelCacheProblem: cacheProblem)
    }

    private init(info: GPUDeviceInfo, driver: CUDADriver, device: Int32, context: OpaquePointer?, stream: OpaquePointer?,
                 module: OpaquePointer?, kernels: [String: (spec: CUDAKernels.Spec, function: OpaquePointer?)],
                 kernelOrigin: String, kernelLoadSeconds: Double, kernelTarget: String, nvrtc: NVRTC, kernelCacheProblem: String?) {
        self.info = info; self.driver = driver; self.device = device; self.context = context; self.stream = stream
        self.module = module; self.kernels = kernels
        self.kernelOrigin = kernelOrigin; self.kernelLoadSeconds = kernelLoadSeconds; self.kernelTarget = kernelTarget
        self.driverPath = driver.library.path; self.nvrtcPath = nvrtc.path; self.nvrtc = nvrtc
        self.kernelCacheProblem = kernelCacheProblem
        // At least 16: the self-test's kernels take up to 6.
        maxArguments = max(16, kernels.values.map(\.spec.parameters.count).max() ?? 0)
        argValues = .allocate(byteCount: 8 * maxArguments, alignment: 16)
        argPointers = .allocate(capacity: maxArguments)
        for i in 0..<maxArguments { argPointers[i] = argValues + 8 * i }
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        captureEnded = .allocate(capacity: 1)
        captureEnded.initialize(to: pthread_cond_t())
        pthread_cond_init(captureEnded, nil)
    }

    // The registry keeps a device for the process; one that goes away (the tests) waits for
    // its work, then unloads its modules, destroys its stream and releases the primary context
    // (whose last release frees its memory).
    deinit {
        if captureOwner != nil {
            var g: OpaquePointer? = nil
            if driver.cuStreamEndCapture(stream, &g) == CUDADriver.success, g != nil { _ = driver.cuGraphDestroy(g) }
        }
        if driver.cuCtxSetCurrent(context) == CUDADriver.success {
            _ = driver.cuStreamSynchronize(stream)
            for p in captureFrees { _ = driver.cuMemFree(p) }
            if selfTestModule != nil { _ = driver.cuModuleUnload(selfTestModule) }
            _ = driver.cuModuleUnload(module)
            _ = driver.cuStreamDestroy(stream)
            _ = driver.cuCtxSetCurrent(nil)
        }
        _ = driver.cuDevicePrimaryCtxRelease(device)
        argValues.deallocate()
        argPointers.deallocate()
        pthread_cond_destroy(captureEnded)
        captureEnded.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Whether the calling thread is the one capturing (call with the lock held).
    private var capturingHere: Bool { captureOwner.map { pthread_equal($0, pthread_self()) != 0 } ?? false }

    /// Takes the lock, waiting while another thread captures.
    private func lockOutsideOthersCapture() {
        pthread_mutex_lock(mutex)
        while let owner = captureOwner, pthread_equal(owner, pthread_self()) == 0 { pthread_cond_wait(captureEnded, mutex) }
    }

    /// Runs `body` under the lock (after any other thread's capture) with the context current.
    private func withContext<T>(_ body: () throws -> T) throws -> T {
        lockOutsideOthersCapture()
        defer { pthread_mutex_unlock(mutex) }
        try driver.check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent")
        return try body()
    }

    /// Keeps the first error of a call that cannot throw (lock held).
    private func remember(_ e: ComputeError) { if pendingError == nil { pendingError = e } }

    /// Throws the kept error, if any, once (lock held).
    private func throwPending() throws {
        if let e = pendingError { pendingError = nil; throw e }
    }

    /// Waits for the queued work, then frees `pointers` (lock held, context current, no capture).
    private func freeNow(_ pointers: [UInt64]) {
        guard !pointers.isEmpty else { return }
        let s = driver.cuStreamSynchronize(stream)
        if s != CUDADriver.success { remember(driver.error(s, "cuStreamSynchronize (before cuMemFree)")) }
        for p in pointers {
            let f = driver.cuMemFree(p)
            if f != CUDADriver.success { remember(driver.error(f, "cuMemFree")) }
        }
    }

    /// Throws when the calling thread is capturing: `what` cannot be captured.
    private func refuseWhileCapturing(_ what: String) throws {
        if capturingHere { throw ComputeError("gpu: \(what) cannot be part of a graph capture (end or abort the capture first)") }
    }

    // MARK: Memory

    public func allocate(_ bytes: Int) throws -> DevicePointer {
        guard bytes > 0 else { throw ComputeError("gpu: cannot allocate \(bytes) bytes") }
        return try withContext {
            var p: UInt64 = 0
            try driver.check(driver.cuMemAlloc(&p, bytes), "cuMemAlloc(\(bytes) bytes)")
            return DevicePointer(p)
        }
    }

    /// Waits for the queued work (a kernel may still use `p`), then frees it; on the capturing
    /// thread, `p` goes to the graph being captured and is freed with it. An error is thrown
    /// by the next `synchronize` or `copy(toHost:)`.
    public func free(_ p: DevicePointer) {
        guard p != .null else { return }
        lockOutsideOthersCapture()
        defer { pthread_mutex_unlock(mutex) }
        if capturingHere { captureFrees.append(p.address); return }
        let rc = driver.cuCtxSetCurrent(context)
        guard rc == CUDADriver.success else { return remember(driver.error(rc, "cuCtxSetCurrent")) }
        freeNow([p.address])
    }

    public func copy(toDevice dst: DevicePointer, from src: UnsafeRawBufferPointer) throws {
        guard src.count > 0 else { return }
        try withContext {
            // Captured, the copy would read `src` at every replay, long after this returns.
            try refuseWhileCapturing("a copy from host memory")
            // From pageable memory the driver stages the bytes before returning, so `src` may
            // be reused at once.
            try driver.check(driver.cuMemcpyHtoDAsync(dst.address, src.baseAddress, src.count, stream), "cuMemcpyHtoDAsync")
        }
    }

    public func copy(toHost dst: UnsafeMutableRawBufferPointer, from src: DevicePointer) throws {
        guard dst.count > 0 else { return }
        try withContext {
            try refuseWhileCapturing("a copy to host memory")
            try throwPending()
            try driver.check(driver.cuMemcpyDtoHAsync(dst.baseAddress, src.address, dst.count, stream), "cuMemcpyDtoHAsync")
            try driver.check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
        }
    }

    public func copy(_ dst: DevicePointer, from src: DevicePointer, bytes: Int) throws {
        guard bytes > 0 else { return }
        try withContext {
            try driver.check(driver.cuMemcpyDtoDAsync(dst.address, src.address, bytes, stream), "cuMemcpyDtoDAsync")
        }
    }

    public func zero(_ p: DevicePointer, bytes: Int) throws {
        guard bytes > 0 else { return }
        try withContext {
            try driver.check(driver.cuMemsetD8Async(p.address, 0, bytes, stream), "cuMemsetD8Async")
        }
    }

    public func synchronize() throws {
        try withContext {
            try refuseWhileCapturing("synchronize")
            try throwPending()
            try driver.check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
        }
    }

    // MARK: Launches

    public func launch(_ kernel: String, grid: Dim3, block: Dim3, _ args: [KernelArgument]) throws {
        guard let k = kernels[kernel] else { throw ComputeError("gpu: no kernel '\(kernel)'") }
        try launch(k.function, k.spec, grid: grid, block: block, args)
    }

    /// The launch limits of every GPU since compute capability 3.0 (CUDA C++ Programming
    /// Guide, "Technical Specifications"): block x, y ≤ 1024, z ≤ 64, x·y·z ≤ 1024 threads;
    /// grid x < 2^31, y, z ≤ 65535. Each dimension is checked before any product is formed.
    static func launchShapeProblem(grid: Dim3, block: Dim3) -> String? {
        guard (1...1024).contains(block.x), (1...1024).contains(block.y), (1...64).contains(block.z),
              (1...Int(Int32.max)).contains(grid.x), (1...65535).contains(grid.y), (1...65535).contains(grid.z)
        else { return "bad launch shape grid \(grid) block \(block)" }
        let threads = block.x * block.y * block.z   // at most 1024 · 1024 · 64: no overflow
        return threads <= 1024 ? nil : "\(threads) threads a block (at most 1024)"
    }

    /// Checks the arguments against the kernel's parameters and the launch shape, then queues it.
    private func launch(_ function: OpaquePointer?, _ spec: CUDAKernels.Spec, grid: Dim3, block: Dim3, _ args: [KernelArgument]) throws {
        let kernel = spec.name, k = (spec: spec, function: function)
        guard CUDAKernels.matches(k.spec, args), args.count <= maxArguments else {
            throw ComputeError("gpu: \(kernel) takes (\(k.spec.parameters.joined(separator: ", "))), not \(args.count) arguments \(args)")
        }
        if let problem = CUDADevice.launchShapeProblem(grid: grid, block: block) { throw ComputeError("gpu: \(kernel): \(problem)") }
        try withContext {
            for (i, a) in args.enumerated() {
                let slot = argValues + 8 * i
                switch a {
                case .pointer(let p): slot.storeBytes(of: p.address, as: UInt64.self)
                case .int32(let v): slot.storeBytes(of: v, as: Int32.self)
                case .int64(let v): slot.storeBytes(of: v, as: Int64.self)
                case .float(let v): slot.storeBytes(of: v, as: Float.self)
                case .double(let v): slot.storeBytes(of: v, as: Double.self)
                }
            }
            let rc = driver.cuLaunchKernel(k.function, UInt32(grid.x), UInt32(grid.y), UInt32(grid.z),
                                           UInt32(block.x), UInt32(block.y), UInt32(block.z), 0, stream,
                                           args.isEmpty ? nil : argPointers, nil)
            try driver.check(rc, "cuLaunchKernel(\(kernel))")
        }
    }

    // MARK: Graphs

    /// A captured and instantiated CUDA graph, and the memory freed during its capture (its
    /// nodes use it): freed when the graph is.
    final class Graph: DeviceGraph, @unchecked Sendable {
        let exec: OpaquePointer?
        let graph: OpaquePointer?
        let frees: [UInt64]
        weak var device: CUDADevice?
        init(exec: OpaquePointer?, graph: OpaquePointer?, frees: [UInt64], device: CUDADevice) {
            self.exec = exec; self.graph = graph; self.frees = frees; self.device = device
        }
        deinit { device?.destroy(self) }
    }

    func destroy(_ g: Graph) {
        lockOutsideOthersCapture()
        defer { pthread_mutex_unlock(mutex) }
        let rc = driver.cuCtxSetCurrent(context)
        guard rc == CUDADriver.success else { return remember(driver.error(rc, "cuCtxSetCurrent")) }
        // cuda.h, cuGraphExecDestroy: an exec still in flight is freed when it completes.
        _ = driver.cuGraphExecDestroy(g.exec)
        _ = driver.cuGraphDestroy(g.graph)
        // Its memory waits for the replays queued (freeNow synchronizes first); on a thread
        // that is capturing, it goes to the new graph instead.
        if capturingHere { captureFrees += g.frees } else { freeNow(g.frees) }
    }

    /// Starts capturing this thread's launches and device-to-device copies and zeroings
    /// (waits while another thread captures). Every other thread waits until `endCapture`
    /// or `abortCapture`: call one of them on every path.
    public func beginCapture() throws -> Bool {
        try withContext {
            guard captureOwner == nil else { throw ComputeError("gpu: a capture is already running on this thread") }
            try throwPending()
            try driver.check(driver.cuStreamBeginCapture(stream, CUDADriver.captureModeRelaxed), "cuStreamBeginCapture")
            captureOwner = pthread_self()
            return true
        }
    }

    /// Ends the capture (the other threads go on): the graph, ready to replay.
    public func endCapture() throws -> any DeviceGraph {
        try withContext {
            guard capturingHere else { throw ComputeError("gpu: endCapture without beginCapture") }
            captureOwner = nil
            pthread_cond_broadcast(captureEnded)
            let frees = captureFrees
            captureFrees = []
            var graph: OpaquePointer? = nil
            let er = driver.cuStreamEndCapture(stream, &graph)
            guard er == CUDADriver.success else {
                if graph != nil { _ = driver.cuGraphDestroy(graph) }
                freeNow(frees)
                throw driver.error(er, "cuStreamEndCapture")
            }
            var exec: OpaquePointer? = nil
            let rc = driver.cuGraphInstantiateWithFlags(&exec, graph, 0)
            guard rc == CUDADriver.success else {
                _ = driver.cuGraphDestroy(graph)
                freeNow(frees)
                throw driver.error(rc, "cuGraphInstantiateWithFlags")
            }
            return Graph(exec: exec, graph: graph, frees: frees, device: self)
        }
    }

    /// Ends a capture on an error path: the partial graph is destroyed, the memory freed
    /// during it is freed, and the other threads go on. Does nothing when this thread is not
    /// capturing. (Not in `KernelDevice`: callers of `CUDADevice` use it directly.)
    public func abortCapture() {
        lockOutsideOthersCapture()
        defer { pthread_mutex_unlock(mutex) }
        guard capturingHere else { return }
        captureOwner = nil
        pthread_cond_broadcast(captureEnded)
        let frees = captureFrees
        captureFrees = []
        _ = driver.cuCtxSetCurrent(context)
        var graph: OpaquePointer? = nil
        // An invalidated capture ends with an error and maybe no graph: nothing to keep.
        _ = driver.cuStreamEndCapture(stream, &graph)
        if graph != nil { _ = driver.cuGraphDestroy(graph) }
        freeNow(frees)
    }

    public func launch(graph: any DeviceGraph) throws {
        guard let g = graph as? Graph, g.device === self else { throw ComputeError("gpu: a graph from another device") }
        try withContext { try driver.check(driver.cuGraphLaunch(g.exec, stream), "cuGraphLaunch") }
    }

    // MARK: Self-test (`mlrepo doctor --gpu`)

    /// A module of its own, independent of `CUDAKernels`: one kernel taking every argument
    /// kind, so the driver layer (copies, argument marshalling, launches, graphs) is checked
    /// on its own before the backend's kernels are.
    static let selfTestSource = #"""
    extern "C" __global__ void mlr_selftest_axpb(float* y, const float* x, int a, long long n, float s, double d) {
        for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
            y[i] = y[i] + x[i] * s + (float)a + (float)d;
        }
    }
    """#

    /// The self-test's kernel: compiled and loaded once per device (unloaded with it).
    private func selfTestKernel(_ spec: CUDAKernels.Spec) throws -> OpaquePointer? {
        if let f = try withContext({ selfTestFunction }) { return f }
        let (image, _) = try nvrtc.compile(CUDADevice.selfTestSource, arch: kernelTarget)
        return try withContext {
            if let f = selfTestFunction { return f }   // another thread got there first
            var module: OpaquePointer? = nil, function: OpaquePointer? = nil
            try image.withUnsafeBytes { try driver.check(driver.cuModuleLoadData(&module, $0.baseAddress), "cuModuleLoadData(self-test)") }
            let rc = driver.cuModuleGetFunction(&function, module, spec.name)
            guard rc == CUDADriver.success else {
                _ = driver.cuModuleUnload(module)
                throw driver.error(rc, "cuModuleGetFunction(\(spec.name))")
            }
            selfTestModule = module
            selfTestFunction = function
            return function
        }
    }

    /// Checks the device layer: copies (host to device, device to device, zeroing at an
    /// offset, back), a launch with every argument kind, a captured graph replayed, and the
    /// argument checks. Exact results: every value is a small integer or half-integer.
    public func selfTest() -> [BackendConformance.Result] {
        var results: [BackendConformance.Result] = []
        func check(_ name: String, _ body: () throws -> String?) {
            let t0 = Clock.monotonic()
            var detail: String? = nil
            do { detail = try body() } catch { detail = "\(error)" }
            results.append(.init(check: name, passed: detail == nil, maxError: 0, tolerance: 0,
                                 seconds: Clock.monotonic() - t0, detail: detail ?? ""))
        }
        let n = (1 << 20) + 3
        let bytes = n * 4
        var x = [Float](repeating: 0, count: n)
        for i in 0..<n { x[i] = Float(i % 1000) }
        var px = DevicePointer.null, py = DevicePointer.null, pz = DevicePointer.null
        defer { for p in [px, py, pz] where p != .null { free(p) } }
        func download(_ p: DevicePointer) throws -> [Float] {
            var out = [Float](repeating: -1, count: n)
            try out.withUnsafeMutableBytes { try copy(toHost: $0, from: p) }
            return out
        }
        func firstDifference(_ got: [Float], _ want: (Int) -> Float) -> String? {
            for i in 0..<n where got[i] != want(i) { return "element \(i): got \(got[i]), want \(want(i))" }
            return nil
        }
        check("device: copies") {
            px = try allocate(bytes); py = try allocate(bytes); pz = try allocate(bytes)
            try x.withUnsafeBytes { try copy(toDevice: px, from: $0) }
            try copy(pz, from: px, bytes: bytes)
            try zero(pz.advanced(by: 4 * 1000), bytes: 4 * 24)
            try zero(py, bytes: bytes)
            let z = try download(pz)
            if let d = firstDifference(z, { (1000..<1024).contains($0) ? 0 : Float($0 % 1000) }) { return d }
            return firstDifference(try download(py), { _ in 0 })
        }
        var function: OpaquePointer? = nil
        let spec = CUDAKernels.parseSpecs(CUDADevice.selfTestSource)[0]
        check("device: launch with every argument kind") {
            guard px != .null, py != .null else { return "no memory (the copy check failed)" }
            function = try selfTestKernel(spec)
            // y = 0 + 2x + 1 + 0.5
            try launch(function, spec, grid: Dim3(120), block: Dim3(256),
                       [.pointer(py), .pointer(px), .int32(1), .int64(Int64(n)), .float(2), .double(0.5)])
            return firstDifference(try download(py), { 2 * Float($0 % 1000) + 1.5 })
        }
        check("device: graph capture and replay") {
            guard function != nil else { return "no kernel (the launch check failed)" }
            guard try beginCapture() else { return "the device cannot capture" }
            let graph: any DeviceGraph
            do {
                // y += x, recorded once, replayed three times.
                try launch(function, spec, grid: Dim3(64), block: Dim3(128),
                           [.pointer(py), .pointer(px), .int32(0), .int64(Int64(n)), .float(1), .double(0)])
                graph = try endCapture()
            } catch {
                abortCapture()
                throw error
            }
            for _ in 0..<3 { try launch(graph: graph) }
            return firstDifference(try download(py), { 5 * Float($0 % 1000) + 1.5 })
        }
        check("device: argument checks") {
            var refused = 0
            let attempts: [() throws -> Void] = [
                { try self.launch("mlr_no_such_kernel", grid: Dim3(1), block: Dim3(1), []) },
                { try self.launch(function, spec, grid: Dim3(1), block: Dim3(32), [.pointer(py)]) },
                { try self.launch(function, spec, grid: Dim3(1), block: Dim3(32),
                                  [.pointer(py), .pointer(px), .int64(0), .int64(1), .float(1), .double(0)]) },
                { try self.launch(function, spec, grid: Dim3(0), block: Dim3(32),
                                  [.pointer(py), .pointer(px), .int32(0), .int64(1), .float(1), .double(0)]) },
                { try self.launch(function, spec, grid: Dim3(1), block: Dim3(2048),
                                  [.pointer(py), .pointer(px), .int32(0), .int64(1), .float(1), .double(0)]) },
            ]
            for a in attempts { do { try a() } catch { refused += 1 } }
            try synchronize()
            return refused == attempts.count ? nil : "\(attempts.count - refused) bad launches were queued"
        }
        return results
    }
}
