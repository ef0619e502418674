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
    /// Whether, after the folders, a library may be loaded by its bare soname through the
    /// dynamic loader's own search (ld.so.cache and this process's LD_LIBRARY_PATH). The CLI
    /// turns it off when LD_LIBRARY_PATH has an empty or relative entry: the loader would then
    /// search the current directory.
    public var allowLoaderSearch: Bool

    public init(libraryDirectories: [String] = [], cacheDirectory: String? = nil, device: Int = 0, allowLoaderSearch: Bool = true) {
        self.libraryDirectories = libraryDirectories; self.cacheDirectory = cacheDirectory; self.device = device
        self.allowLoaderSearch = allowLoaderSearch
    }
}
