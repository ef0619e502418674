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

extension GPUSettings {
    /// The settings an environment gives (the caller passes it: the library reads none):
    /// MLREPO_CUDA_LIBS (folders, ':'-separated), $CUDA_HOME/lib64 and /lib (also CUDA_PATH),
    /// LD_LIBRARY_PATH, then the `nvidia/*/lib` folders of Python's site-packages (pip's CUDA
    /// wheels, `CUDALibraries.pythonCUDADirectories`); empty and relative entries are
    /// dropped. When LD_LIBRARY_PATH itself has an empty or relative entry, the loader's own
    /// search by soname is turned off (it would look in the current directory). Compiled
    /// kernels are cached in $XDG_CACHE_HOME/mlrepo/cuda, else ~/.cache/mlrepo/cuda;
    /// MLREPO_CUDA_CACHE=off (or 0, false, no) turns the cache off.
    public init(environment env: [String: String]) {
        var dirs: [String] = []
        func add(_ d: String) { if !d.isEmpty && d.hasPrefix("/") && !dirs.contains(d) { dirs.append(d) } }
        for d in (env["MLREPO_CUDA_LIBS"] ?? "").split(separator: ":") { add(String(d)) }
        for home in [env["CUDA_HOME"], env["CUDA_PATH"]].compactMap({ $0 }) where !home.isEmpty {
            add(home + "/lib64"); add(home + "/lib")
        }
        let ldPath = env["LD_LIBRARY_PATH"] ?? ""
        for d in ldPath.split(separator: ":") { add(String(d)) }
        for d in CUDALibraries.pythonCUDADirectories(env: env) { add(d) }
        var cache: String? = nil
        if !GPUSettings.cacheTurnedOff(env["MLREPO_CUDA_CACHE"]) {
            if let x = env["XDG_CACHE_HOME"], x.hasPrefix("/") { cache = x + "/mlrepo/cuda" }
            else if let h = env["HOME"], h.hasPrefix("/") { cache = h + "/.cache/mlrepo/cuda" }
        }
        self.init(libraryDirectories: dirs, cacheDirectory: cache, allowLoaderSearch: !GPUSettings.searchesCurrentDirectory(ldPath))
    }

    /// MLREPO_CUDA_CACHE=off, 0, false or no (any case).
    public static func cacheTurnedOff(_ v: String?) -> Bool {
        guard let v else { return false }
        return ["off", "0", "false", "no"].contains(v.trimmed().lowercased())
    }

    /// Whether a LD_LIBRARY_PATH value makes the loader look in the current directory: an
    /// empty entry ("", ":/a", "/a::/b", "/a:") or a relative one.
    public static func searchesCurrentDirectory(_ ldLibraryPath: String) -> Bool {
        guard !ldLibraryPath.isEmpty else { return false }   // unset or empty: no entries at all
        return ldLibraryPath.split(separator: ":", omittingEmptySubsequences: false).contains { !$0.hasPrefix("/") }
    }
}
