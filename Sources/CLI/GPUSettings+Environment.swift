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
    /// wheels). Compiled kernels are cached in $XDG_CACHE_HOME/mlrepo/cuda, else
    /// ~/.cache/mlrepo/cuda; MLREPO_CUDA_CACHE=off turns the cache off.
    static func gpu(env: [String: String] = Env.all()) -> GPUSettings {
        var dirs: [String] = []
        func add(_ d: String) { if !d.isEmpty && d.hasPrefix("/") && !dirs.contains(d) { dirs.append(d) } }
        for d in (env["MLREPO_CUDA_LIBS"] ?? "").split(separator: ":") { add(String(d)) }
        for home in [env["CUDA_HOME"], env["CUDA_PATH"]].compactMap({ $0 }) where !home.isEmpty {
            add(home + "/lib64"); add(home + "/lib")
        }
        for d in (env["LD_LIBRARY_PATH"] ?? "").split(separator: ":") { add(String(d)) }
        for d in sitePackagesCUDADirectories(env: env) { add(d) }
        var cache: String? = nil
        if env["MLREPO_CUDA_CACHE"] != "off" {
            if let x = env["XDG_CACHE_HOME"], x.hasPrefix("/") { cache = x + "/mlrepo/cuda" }
            else if let h = env["HOME"], h.hasPrefix("/") { cache = h + "/.cache/mlrepo/cuda" }
        }
        return GPUSettings(libraryDirectories: dirs, cacheDirectory: cache)
    }

    /// The `nvidia/*/lib` folders under the site-packages of the Pythons this environment
    /// points at (VIRTUAL_ENV, CONDA_PREFIX, ~/.local, pyenv, /usr/local, /usr): see
    /// `CUDALibraries.pythonCUDADirectories`, which the tests call too.
    static func sitePackagesCUDADirectories(env: [String: String]) -> [String] {
        CUDALibraries.pythonCUDADirectories(env: env)
    }
}
