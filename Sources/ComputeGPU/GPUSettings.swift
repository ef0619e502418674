import Compute
/// Where the GPU backend looks for CUDA and keeps its compiled kernels. The library reads no
/// environment: the CLI builds this from MLREPO_CUDA_LIBS, CUDA_HOME, LD_LIBRARY_PATH and
/// Python's site-packages (`nvidia/*/lib`, where pip's CUDA wheels put the libraries).
public struct GPUSettings: Sendable, Hashable {
    /// Folders searched first, in this order, for libcuda.so.1, libnvrtc.so.13 and
    /// libcublas.so.13; then the standard locations (`CUDALibraries.standardDirectories`),
    /// then the dynamic loader's own search.
    public var libraryDirectories: [String]
    /// Where compiled kernels are cached (a folder that need not exist yet); nil: compile
    /// every process.
    public var cacheDirectory: String?
    /// The device ordinal.
    public var device: Int

    public init(libraryDirectories: [String] = [], cacheDirectory: String? = nil, device: Int = 0) {
        self.libraryDirectories = libraryDirectories; self.cacheDirectory = cacheDirectory; self.device = device
    }
}
