#if canImport(Glibc)
import Glibc
#endif
import Compute
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

    // cuda.h, enum CUdevice_attribute.
    static let attributeMultiprocessorCount: Int32 = 16       // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    static let attributeComputeCapabilityMajor: Int32 = 75    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
    static let attributeComputeCapabilityMinor: Int32 = 76    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
    // cuda.h, enum CUstream_flags: CU_STREAM_NON_BLOCKING = 0x1 (no implicit syncs with the
    // legacy NULL stream, so nothing outside can break a capture).
    static let streamNonBlocking: UInt32 = 1
    // cuda.h, enum CUstreamCaptureMode: CU_STREAM_CAPTURE_MODE_RELAXED = 2 (capture may begin and
    // end on different threads; the device's lock serializes all calls anyway).
    static let captureModeRelaxed: Int32 = 2
    // cuda.h, enum cudaError_enum.
    static let success: Int32 = 0                           // CUDA_SUCCESS
    static let errorNoDevice: Int32 = 100                    // CUDA_ERROR_NO_DEVICE

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
    func check(_ rc: Int32, _ call: String) throws {
        if rc != CUDADriver.success { throw ComputeError("gpu: \(call) failed: \(describe(rc))") }
    }
}

/// `KernelDevice` on a real NVIDIA GPU: the CUDA driver API and NVRTC, loaded with dlopen
/// (nothing CUDA is linked: `ldd mlrepo` names no CUDA library).
///
/// One primary context and one non-blocking stream per device; every call takes the device's
/// lock and makes the context current on the calling thread, so any thread may use it.
/// Copies and launches are queued on the stream; `copy(toHost:)` and `synchronize` wait.
/// Graphs are recorded by stream capture.
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

    private let driver: CUDADriver
    private let nvrtc: NVRTC
    private let context: OpaquePointer?
    private let stream: OpaquePointer?
    private let module: OpaquePointer?
    /// Kernel name → (its parameters, its function handle).
    private let kernels: [String: (spec: CUDAKernels.Spec, function: OpaquePointer?)]
    private let lock = Lock()
    /// Launch argument storage, reused under the lock: 8 bytes per argument value and the
    /// array of pointers to them that cuLaunchKernel reads (it copies the values at launch).
    private let argValues: UnsafeMutableRawPointer
    private let argPointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let maxArguments: Int
    /// Set between beginCapture and endCapture; frees asked for meanwhile wait until the end.
    private var capturing = false
    private var deferredFrees: [UInt64] = []

    /// NVRTC options for the kernels besides the architecture and `NVRTC.defaultOptions`
    /// (part of the kernel cache's key). No fast math.
    public static let compileOptions: [String] = []

    /// Loads the libraries (searching `settings`), creates a context on the device, and
    /// compiles (or loads from the cache) `CUDAKernels.source` for its architecture.
    /// Throws a one-line reason: "no NVIDIA driver: libcuda.so.1 not found", "libnvrtc.so.13
    /// not found in ...", "no CUDA device", a compile log's first error.
    public static func open(_ settings: GPUSettings) throws -> CUDADevice {
        let driver = try CUDADriver(CUDALibraries.open(.driver, settings: settings))
        let rc = driver.cuInit(0)
        if rc == CUDADriver.errorNoDevice { throw ComputeError("no CUDA device (cuInit: \(driver.describe(rc)))") }
        try driver.check(rc, "cuInit")
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

        var ctx: OpaquePointer? = nil
        try driver.check(driver.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain")
        do {
            return try open(driver: driver, device: dev, context: ctx, nvrtc: nvrtc, target: target, settings: settings,
                            info: GPUDeviceInfo(name: String(decoding: nameBuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                                                computeCapability: (major, minor), driverVersion: Int(driverVersion),
                                                nvrtcVersion: nvrtc.version, multiprocessors: sms, totalMemory: memory))
        } catch {
            // Nothing of a half-opened device stays behind (the stream and module go with the
            // primary context's last release).
            _ = driver.cuCtxSetCurrent(nil)
            _ = driver.cuDevicePrimaryCtxRelease(dev)
            throw error
        }
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
        if let cached = cache?.load(key) { image = cached }
        else {
            image = try nvrtc.compile(CUDAKernels.source, arch: target, options: options).image
            from = "compiled"
            try? cache?.store(key, image: image)   // a cache that cannot be written only costs time
        }
        var module: OpaquePointer? = nil
        var lr = image.withUnsafeBytes { driver.cuModuleLoadData(&module, $0.baseAddress) }
        if lr != CUDADriver.success && from == "cache" {
            // A cached image the driver refuses (e.g. a newer driver): compile afresh.
            image = try nvrtc.compile(CUDAKernels.source, arch: target, options: options).image
            from = "compiled"
            try? cache?.store(key, image: image)
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
        return CUDADevice(info: info, driver: driver, context: ctx, stream: stream, module: module, kernels: kernels,
                          kernelOrigin: from, kernelLoadSeconds: loadSeconds, kernelTarget: target, nvrtc: nvrtc)
    }

    private init(info: GPUDeviceInfo, driver: CUDADriver, context: OpaquePointer?, stream: OpaquePointer?,
                 module: OpaquePointer?, kernels: [String: (spec: CUDAKernels.Spec, function: OpaquePointer?)],
                 kernelOrigin: String, kernelLoadSeconds: Double, kernelTarget: String, nvrtc: NVRTC) {
        self.info = info; self.driver = driver; self.context = context; self.stream = stream
        self.module = module; self.kernels = kernels
        self.kernelOrigin = kernelOrigin; self.kernelLoadSeconds = kernelLoadSeconds; self.kernelTarget = kernelTarget
        self.driverPath = driver.library.path; self.nvrtcPath = nvrtc.path; self.nvrtc = nvrtc
        // At least 16: the self-test's kernels take up to 6.
        maxArguments = max(16, kernels.values.map(\.spec.parameters.count).max() ?? 0)
        argValues = .allocate(byteCount: 8 * maxArguments, alignment: 16)
        argPointers = .allocate(capacity: maxArguments)
        for i in 0..<maxArguments { argPointers[i] = argValues + 8 * i }
    }

    // The device lives for the process (BackendRegistry keeps it): the context, stream and
    // module are not torn down, the argument buffers are.
    deinit {
        argValues.deallocate()
        argPointers.deallocate()
    }

    /// Runs `body` under the lock with the context current on this thread.
    private func withContext<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock {
            try driver.check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent")
            return try body()
        }
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

    public func free(_ p: DevicePointer) {
        guard p != .null else { return }
        _ = try? withContext {
            // Freeing during a capture would break it (and the graph may use the memory):
            // wait for the capture's end.
            if capturing { deferredFrees.append(p.address); return }
            _ = driver.cuMemFree(p.address)
        }
    }

    public func copy(toDevice dst: DevicePointer, from src: UnsafeRawBufferPointer) throws {
        guard src.count > 0 else { return }
        try withContext {
            // A graph cannot hold a copy from pageable host memory (the bytes are gone when it
            // replays): refused during a capture, as the emulator does.
            if capturing { throw ComputeError("gpu: a host copy cannot be captured in a graph") }
            // From pageable memory the driver stages the bytes before returning, so `src` may
            // be reused at once.
            try driver.check(driver.cuMemcpyHtoDAsync(dst.address, src.baseAddress, src.count, stream), "cuMemcpyHtoDAsync")
        }
    }

    public func copy(toHost dst: UnsafeMutableRawBufferPointer, from src: DevicePointer) throws {
        guard dst.count > 0 else { return }
        try withContext {
            if capturing { throw ComputeError("gpu: a host copy cannot be captured in a graph") }
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
        try withContext { try driver.check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize") }
    }

    // MARK: Launches

    public func launch(_ kernel: String, grid: Dim3, block: Dim3, _ args: [KernelArgument]) throws {
        guard let k = kernels[kernel] else { throw ComputeError("gpu: no kernel '\(kernel)'") }
        try launch(k.function, k.spec, grid: grid, block: block, args)
    }

    /// Checks the arguments against the kernel's parameters and the launch shape, then queues it.
    private func launch(_ function: OpaquePointer?, _ spec: CUDAKernels.Spec, grid: Dim3, block: Dim3, _ args: [KernelArgument]) throws {
        let kernel = spec.name, k = (spec: spec, function: function)
        guard CUDAKernels.matches(k.spec, args), args.count <= maxArguments else {
            throw ComputeError("gpu: \(kernel) takes (\(k.spec.parameters.joined(separator: ", "))), not \(args.count) arguments \(args)")
        }
        for d in [grid.x, grid.y, grid.z, block.x, block.y, block.z] where d < 1 || d > Int(UInt32.max) {
            throw ComputeError("gpu: \(kernel): bad launch shape grid \(grid) block \(block)")
        }
        guard block.count <= 1024 else { throw ComputeError("gpu: \(kernel): \(block.count) threads a block (at most 1024)") }
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

    /// A captured and instantiated CUDA graph.
    final class Graph: DeviceGraph, @unchecked Sendable {
        let exec: OpaquePointer?
        let graph: OpaquePointer?
        weak var device: CUDADevice?
        init(exec: OpaquePointer?, graph: OpaquePointer?, device: CUDADevice) { self.exec = exec; self.graph = graph; self.device = device }
        deinit { device?.destroy(self) }
    }

    func destroy(_ g: Graph) {
        _ = try? withContext {
            _ = driver.cuGraphExecDestroy(g.exec)
            _ = driver.cuGraphDestroy(g.graph)
        }
    }

    public func beginCapture() throws -> Bool {
        try withContext {
            guard !capturing else { throw ComputeError("gpu: a capture is already running") }
            try driver.check(driver.cuStreamBeginCapture(stream, CUDADriver.captureModeRelaxed), "cuStreamBeginCapture")
            capturing = true
            return true
        }
    }

    public func endCapture() throws -> any DeviceGraph {
        try withContext {
            guard capturing else { throw ComputeError("gpu: endCapture without beginCapture") }
            capturing = false
            defer {
                for p in deferredFrees { _ = driver.cuMemFree(p) }
                deferredFrees.removeAll()
            }
            var graph: OpaquePointer? = nil
            try driver.check(driver.cuStreamEndCapture(stream, &graph), "cuStreamEndCapture")
            var exec: OpaquePointer? = nil
            let rc = driver.cuGraphInstantiateWithFlags(&exec, graph, 0)
            if rc != CUDADriver.success { _ = driver.cuGraphDestroy(graph) }
            try driver.check(rc, "cuGraphInstantiateWithFlags")
            return Graph(exec: exec, graph: graph, device: self)
        }
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
            let (image, _) = try nvrtc.compile(CUDADevice.selfTestSource, arch: kernelTarget)
            var module: OpaquePointer? = nil
            try withContext {
                try image.withUnsafeBytes { try driver.check(driver.cuModuleLoadData(&module, $0.baseAddress), "cuModuleLoadData(self-test)") }
                try driver.check(driver.cuModuleGetFunction(&function, module, spec.name), "cuModuleGetFunction(\(spec.name))")
            }
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
                _ = try? endCapture()
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
