#if canImport(Glibc)
import Glibc
#endif
import Compute
import ComputeGPU
import Support

extension Settings {
    /// Where the GPU backend looks for CUDA: `GPUSettings(environment:)` over this process's
    /// environment, worked out once (it lists site-packages folders).
    static var gpu: GPUSettings { cachedGPU }
    private static let cachedGPU = GPUSettings(environment: Env.all())
}
