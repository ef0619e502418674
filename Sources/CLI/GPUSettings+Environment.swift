#if canImport(Glibc)
import Glibc
#endif
import Compute
import ComputeGPU
import Support

extension Settings {
    /// Where the GPU backend looks for CUDA, from the environment (the Compute library reads
    /// none): MLREPO_CUDA_LIBS (folders, ':'-separated), $CUDA_HOME/lib64 and /lib,
    /// LD_LIBRARY_PATH, then the `nvidia/*/lib` folders of Python's site-packages (pip's CUDA
    /// wheels); empty and relative entries are dropped. When LD_LIBRARY_PATH itself has an
    /// empty or relative entry, the loader's own search by soname is turned off (it would look
    /// in the current directory). Compiled kernels are cached in $XDG_CACHE_HOME/mlrepo/cuda,
    /// else ~/.cache/mlrepo/cuda; MLREPO_CUDA_CACHE=off (or 0, false, no) turns the cache off.
    /// This process's `gpu(env:)`, worked out once (it lists site-packages folders).
    static var gpu: GPUSettings { cachedGPU }
    private static let cachedGPU = gpu(env: Env.all())

    static func gpu(env: [String: String]) -> GPUSettings {
        var dirs: [String] = []
        func add(_ d: String) { if !d.isEmpty && d.hasPrefix("/") && !dirs.contains(d) { dirs.append(d) } }
        for d in (env["MLREPO_CUDA_LIBS"] ?? "").split(separator: ":") { add(String(d)) }
        for home in [env["CUDA_HOME"], env["CUDA_PATH"]].compactMap({ $0 }) where !home.isEmpty {
            add(home + "/lib64"); add(home + "/lib")
        }
        let ldPath = env["LD_LIBRARY_PATH"] ?? ""
        for d in ldPath.split(separator: ":") { add(String(d)) }
        for d in sitePackagesCUDADirectories(env: env) { add(d) }
        var cache: String? = nil
        if !cacheTurnedOff(env["MLREPO_CUDA_CACHE"]) {
            if let x = env["XDG_CACHE_HOME"], x.hasPrefix("/") { cache = x + "/mlrepo/cuda" }
            else if let h = env["HOME"], h.hasPrefix("/") { cache = h + "/.cache/mlrepo/cuda" }
        }
        return GPUSettings(libraryDirectories: dirs, cacheDirectory: cache, allowLoaderSearch: !searchesCurrentDirectory(ldPath))
    }

    /// MLREPO_CUDA_CACHE=off, 0, false or no (any case).
    static func cacheTurnedOff(_ v: String?) -> Bool {
        guard let v else { return false }
        return ["off", "0", "false", "no"].contains(v.trimmed().lowercased())
    }

    /// Whether a LD_LIBRARY_PATH value makes the loader look in the current directory: an
    /// empty entry ("", ":/a", "/a::/b", "/a:") or a relative one.
    static func searchesCurrentDirectory(_ ldLibraryPath: String) -> Bool {
        guard !ldLibraryPath.isEmpty else { return false }   // unset or empty: no entries at all
        return ldLibraryPath.split(separator: ":", omittingEmptySubsequences: false).contains { !$0.hasPrefix("/") }
    }

    /// The `nvidia/*/lib` folders under the site-packages of the Pythons this environment
    /// points at (VIRTUAL_ENV, CONDA_PREFIX, ~/.local, pyenv, /usr/local, /usr): see
    /// `CUDALibraries.pythonCUDADirectories`, which the tests call too.
    static func sitePackagesCUDADirectories(env: [String: String]) -> [String] {
        CUDALibraries.pythonCUDADirectories(env: env)
    }
}
