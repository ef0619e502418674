import Compute
/// The device layer under the GPU backend: memory, copies and kernel launches, and nothing
/// else. `GPUBackend` is written against this protocol only, so the same backend code runs on
/// a real GPU (`CUDADevice`, the CUDA driver API loaded with dlopen) and, in the tests, on
/// the emulator (the kernel source compiled as host C++, its blocks' threads run as real
/// threads: Tests/ComputeGPUTests/Emulation).
///
/// All work goes to one in-order queue (a CUDA stream): a launch or a copy to the device
/// returns at once, `copy(toHost:)` and `synchronize` wait for everything queued before.
/// Errors are thrown where they are seen; a launch error may surface only at the next wait.

/// A grid or block size.
public struct Dim3: Sendable, Equatable, CustomStringConvertible {
    public var x: Int, y: Int, z: Int
    public init(_ x: Int, _ y: Int = 1, _ z: Int = 1) { self.x = x; self.y = y; self.z = z }
    public var count: Int { x * y * z }
    public var description: String { "(\(x), \(y), \(z))" }
}

/// An address in device memory (0 is null). Offsets are in bytes.
public struct DevicePointer: Hashable, Sendable, CustomStringConvertible {
    public let address: UInt64
    public init(_ address: UInt64) { self.address = address }
    public static let null = DevicePointer(0)
    public func advanced(by bytes: Int) -> DevicePointer { DevicePointer(address &+ UInt64(bytes)) }
    public var description: String { "0x" + String(address, radix: 16) }
}

/// One argument of a kernel launch, matching the C type of its parameter in the kernel
/// source (`KernelSpec.parameters`): pointers, `int`, `long long`, `float`, `double`.
public enum KernelArgument: Sendable, Equatable {
    case pointer(DevicePointer)
    case int32(Int32)
    case int64(Int64)
    case float(Float)
    case double(Double)
}

/// What a device is, for the lineage record, `doctor --gpu` and the kernel cache key.
public struct GPUDeviceInfo: Sendable, Equatable {
    /// "NVIDIA H100 80GB HBM3", or "emulator".
    public var name: String
    /// Compute capability, e.g. (9, 0).
    public var computeCapability: (major: Int, minor: Int)
    /// The driver's CUDA version as the driver API reports it (13000 = 13.0), 0 if none.
    public var driverVersion: Int
    /// NVRTC's version (major, minor), (0, 0) if none (the emulator).
    public var nvrtcVersion: (major: Int, minor: Int)
    public var multiprocessors: Int
    public var totalMemory: Int
    /// The NVIDIA kernel driver's release ("580.65.06", from /proc/driver/nvidia/version), ""
    /// when unknown.
    public var driverRelease: String
    public init(name: String, computeCapability: (major: Int, minor: Int), driverVersion: Int,
                nvrtcVersion: (major: Int, minor: Int), multiprocessors: Int, totalMemory: Int, driverRelease: String = "") {
        self.name = name; self.computeCapability = computeCapability; self.driverVersion = driverVersion
        self.nvrtcVersion = nvrtcVersion; self.multiprocessors = multiprocessors; self.totalMemory = totalMemory
        self.driverRelease = driverRelease
    }
    public static func == (a: GPUDeviceInfo, b: GPUDeviceInfo) -> Bool {
        a.name == b.name && a.computeCapability == b.computeCapability && a.driverVersion == b.driverVersion
            && a.nvrtcVersion == b.nvrtcVersion && a.multiprocessors == b.multiprocessors && a.totalMemory == b.totalMemory
            && a.driverRelease == b.driverRelease
    }
    /// "9.0"
    public var computeCapabilityString: String { "\(computeCapability.major).\(computeCapability.minor)" }
    /// "13.0" from 13000, "" for 0.
    public var driverVersionString: String {
        driverVersion == 0 ? "" : "\(driverVersion / 1000).\(driverVersion % 1000 / 10)"
    }
}

/// A captured sequence of launches that replays as one (a CUDA graph).
public protocol DeviceGraph: AnyObject, Sendable {}

/// Memory, copies and launches on one device. Implementations are thread-safe: calls from
/// several threads are serialized onto the one queue.
public protocol KernelDevice: AnyObject, Sendable {
    var info: GPUDeviceInfo { get }
    /// Allocates `bytes` (> 0) of device memory (plain device memory, never managed memory).
    func allocate(_ bytes: Int) throws -> DevicePointer
    /// Frees what `allocate` returned. Waits for queued work first where the device needs it.
    func free(_ p: DevicePointer)
    /// Queues a copy of `src` to `dst` (the source may be reused when this returns).
    func copy(toDevice dst: DevicePointer, from src: UnsafeRawBufferPointer) throws
    /// Waits for queued work, then copies `dst.count` bytes from `src`.
    func copy(toHost dst: UnsafeMutableRawBufferPointer, from src: DevicePointer) throws
    /// Queues a device-to-device copy.
    func copy(_ dst: DevicePointer, from src: DevicePointer, bytes: Int) throws
    /// Queues setting `bytes` bytes at `p` to zero.
    func zero(_ p: DevicePointer, bytes: Int) throws
    /// Queues `kernel` (a name of `CUDAKernels.specs`) with `args` in its parameters' order
    /// and types; a mismatch throws before anything is queued.
    func launch(_ kernel: String, grid: Dim3, block: Dim3, _ args: [KernelArgument]) throws
    /// Waits for everything queued.
    func synchronize() throws

    /// Starts recording the launches, device-to-device copies and zeroing that follow,
    /// instead of running them; false if the device cannot (then nothing is recorded). The
    /// calling thread owns the capture: other threads' calls wait until it ends; on the owning
    /// thread host copies, `copy(toHost:)` and `synchronize` throw. Memory freed during a
    /// capture is freed with the graph (its nodes may use it).
    func beginCapture() throws -> Bool
    /// Ends the recording: the graph, ready to replay.
    func endCapture() throws -> any DeviceGraph
    /// Ends a capture that failed part way, discarding what it recorded.
    func abortCapture()
    /// Queues a replay of `graph`.
    func launch(graph: any DeviceGraph) throws
}

extension KernelDevice {
    public func beginCapture() throws -> Bool { false }
    public func abortCapture() {}
    public func endCapture() throws -> any DeviceGraph { throw ComputeError("this device cannot capture graphs") }
    public func launch(graph: any DeviceGraph) throws { throw ComputeError("this device cannot replay graphs") }
}
