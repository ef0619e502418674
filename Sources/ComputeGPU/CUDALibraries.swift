#if canImport(Glibc)
import Glibc
#endif
import Compute
import Support

/// The CUDA libraries the GPU backend loads at run time with `dlopen` (nothing CUDA is linked:
/// the binary builds and runs where CUDA is absent), where it looks for them, and why one is
/// missing.
///
/// Search order for each library: `GPUSettings.libraryDirectories` (the CLI fills them from
/// MLREPO_CUDA_LIBS, CUDA_HOME, LD_LIBRARY_PATH and Python's site-packages), then
/// `standardDirectories`, then (when `GPUSettings.allowLoaderSearch`) the bare soname: the
/// dynamic loader's own search, ld.so.cache and the process's LD_LIBRARY_PATH. Only absolute
/// folders are searched here; the loader's search would follow an empty or relative
/// LD_LIBRARY_PATH entry into the current directory, which is why the CLI turns it off then.
/// The driver is never taken from a `stubs` folder (the toolkit's link-time stub) or from
/// Python's site-packages (pip ships no driver). A file that is found but does not load (not
/// an ELF file, the wrong architecture, missing dependencies) is reported with the loader's
/// reason; the search goes on past it.
public enum CUDALibraries {
    /// The libraries, by soname.
    public enum Library: String, Sendable, CaseIterable {
        /// The driver API (comes with the NVIDIA driver, not with the toolkit).
        case driver = "libcuda.so.1"
        /// The run-time compiler for the kernel source (pip: nvidia-cuda-nvrtc).
        case nvrtc = "libnvrtc.so.13"
        /// cuBLAS: probed and reported only; the backend's kernels do their own GEMM.
        case cublas = "libcublas.so.13"

        public var soname: String { rawValue }
        /// What installs it, for the "not found" message.
        var hint: String {
            switch self {
            case .driver: return "install the NVIDIA driver"
            case .nvrtc: return "pip install nvidia-cuda-nvrtc, or set MLREPO_CUDA_LIBS"
            case .cublas: return "pip install nvidia-cublas, or set MLREPO_CUDA_LIBS"
            }
        }
    }

    /// Where distributions, the CUDA toolkit, WSL and container images put the libraries.
    public static let standardDirectories: [String] = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu/nvidia/current",
        "/usr/lib64",
        "/usr/lib64/nvidia",
        "/usr/local/cuda/lib64",
        "/usr/local/cuda/targets/x86_64-linux/lib",
        "/usr/local/nvidia/lib64",
        "/usr/lib/wsl/lib",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/local/cuda/targets/sbsa-linux/lib",
    ]

    /// The folders searched, in order: the settings' folders, then the standard ones (each once;
    /// relative paths are skipped).
    public static func searchDirectories(_ settings: GPUSettings) -> [String] {
        var out: [String] = []
        for d in settings.libraryDirectories + standardDirectories where d.hasPrefix("/") && !out.contains(d) {
            out.append(d)
        }
        return out
    }

    /// The folders searched for `library`: for the driver, `searchDirectories` less the
    /// toolkit's stub folders (".../stubs") and Python's site-packages.
    public static func searchDirectories(_ settings: GPUSettings, for library: Library) -> [String] {
        let all = searchDirectories(settings)
        guard library == .driver else { return all }
        return all.filter { d in
            let parts = d.split(separator: "/")
            return !parts.contains("stubs") && !parts.contains("site-packages") && !parts.contains("dist-packages")
        }
    }

    /// A loaded library. Never closed: the CUDA libraries keep threads and state for the
    /// whole process.
    public struct Handle: @unchecked Sendable {
        public let library: Library
        /// The file it was loaded from (found by soname: the file the loader opened, from the
        /// handle's link map; the bare soname only if that is unknown).
        public let path: String
        let handle: UnsafeMutableRawPointer

        /// The address of `name`, or a one-line reason.
        public func symbol(_ name: String) throws -> UnsafeMutableRawPointer {
            _ = dlerror()
            guard let p = dlsym(handle, name) else {
                throw ComputeError("\(library.soname) at \(path) has no \(name) (too old for CUDA 13?)")
            }
            return p
        }
    }

    /// Why a library could not be loaded.
    public struct LoadFailure: Error, Sendable {
        public let library: Library
        /// Nothing with the library's name was found anywhere (as opposed to: found, but it
        /// would not load).
        public let notFound: Bool
        public let message: String
    }

    /// Loads `library`, searching as the type's comment says.
    public static func open(_ library: Library, settings: GPUSettings) throws -> Handle {
        switch load(library, settings: settings) {
        case .success(let h): return h
        case .failure(let f): throw ComputeError(f.message)
        }
    }

    /// Loads `library` or says why not.
    public static func load(_ library: Library, settings: GPUSettings) -> Result<Handle, LoadFailure> {
        load(library, directories: searchDirectories(settings, for: library), loaderSearch: settings.allowLoaderSearch)
    }

    /// Loads `library` as `load(_:settings:)` does, passing over the files in `excluding`
    /// (a stub driver that was found first).
    public static func load(_ library: Library, settings: GPUSettings, excluding: [String]) -> Result<Handle, LoadFailure> {
        load(library, directories: searchDirectories(settings, for: library), loaderSearch: settings.allowLoaderSearch,
             excluding: excluding)
    }

    /// Loads `library` from the first of `directories` that holds a loadable copy, else (when
    /// `loaderSearch`) by soname through the dynamic loader's own search.
    static func load(_ library: Library, directories dirs: [String], loaderSearch: Bool,
                     excluding: [String] = []) -> Result<Handle, LoadFailure> {
        var rejected: [String] = []   // "PATH: loader's reason" for files found that did not load
        for d in dirs {
            let path = d + "/" + library.soname
            guard !excluding.contains(path), let st = FS.stat(path), st.isRegular else { continue }
            switch dlopenReporting(path) {
            case .success(let h): return .success(Handle(library: library, path: path, handle: h))
            case .failure(let reason): rejected.append("\(path): \(reason)")
            }
        }
        // The dynamic loader's own search (ld.so.cache, LD_LIBRARY_PATH of this process).
        switch loaderSearch ? dlopenReporting(library.soname) : .failure(LoadError("No such file")) {
        case .success(let h):
            let path = loadedPath(h) ?? library.soname
            // The loader may hand back a copy already excluded (loaded by path before).
            if !excluding.contains(path) { return .success(Handle(library: library, path: path, handle: h)) }
        case .failure(let reason):
            if !reason.contains("No such file") && !reason.contains("cannot open shared object") {
                rejected.append("\(library.soname): \(reason)")
            }
        }
        if !rejected.isEmpty {
            let what = library == .driver ? "NVIDIA driver library" : library.soname
            return .failure(LoadFailure(library: library, notFound: false,
                                        message: "\(what) found but not loadable: " + listedReasons(rejected)))
        }
        if library == .driver {
            return .failure(LoadFailure(library: library, notFound: true, message: "no NVIDIA driver: libcuda.so.1 not found"))
        }
        return .failure(LoadFailure(library: library, notFound: true,
                                    message: "\(library.soname) not found in \(listed(dirs)) (\(library.hint))"))
    }

    /// "A: why; B: why; C: why" (at most 3, then "and N more").
    static func listedReasons(_ reasons: [String]) -> String {
        let shown = reasons.prefix(3).joined(separator: "; ")
        return reasons.count > 3 ? shown + " and \(reasons.count - 3) more" : shown
    }

    /// "A, B, C" (at most 12 folders, then "and N more").
    static func listed(_ dirs: [String]) -> String {
        let shown = dirs.prefix(12).joined(separator: ", ")
        return dirs.count > 12 ? shown + " and \(dirs.count - 12) more" : shown
    }

    /// dlopen with RTLD_NOW | RTLD_LOCAL: every symbol resolved now (a broken library fails
    /// here, not at a later call), none leaking into the global namespace.
    static func dlopenReporting(_ path: String) -> Result<UnsafeMutableRawPointer, LoadError> {
        _ = dlerror()
        if let h = dlopen(path, RTLD_NOW | RTLD_LOCAL) { return .success(h) }
        let reason = dlerror().map { String(cString: $0) } ?? "dlopen failed"
        // The loader's message starts with the path; keep the reason after it.
        let prefix = path + ": "
        return .failure(LoadError(reason.hasPrefix(prefix) ? String(reason.dropFirst(prefix.count)) : reason))
    }

    struct LoadError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
        func contains(_ s: String) -> Bool { description.contains(s) }
    }

    /// The file `handle` was loaded from: the link map's `l_name` (dlinfo RTLD_DI_LINKMAP),
    /// which is the path the loader opened; nil if unknown. (Swift's Glibc module does not
    /// declare dlinfo; it is looked up in libc, glibc ≥ 2.3.3.)
    static func loadedPath(_ handle: UnsafeMutableRawPointer) -> String? {
        // dlfcn.h: int dlinfo(void *handle, int request, void *arg); RTLD_DI_LINKMAP = 2.
        typealias DLInfo = @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafeMutableRawPointer?) -> Int32
        guard let sym = dlsym(nil, "dlinfo") else { return nil }
        let dlinfo = unsafeBitCast(sym, to: DLInfo.self)
        // link.h: struct link_map { ElfW(Addr) l_addr; char *l_name; ... }: l_name follows one address.
        var map: UnsafeMutableRawPointer? = nil
        guard dlinfo(handle, 2, &map) == 0, let map else { return nil }
        guard let name = map.load(fromByteOffset: MemoryLayout<UInt>.size, as: UnsafePointer<CChar>?.self) else { return nil }
        let path = String(cString: name)
        return path.hasPrefix("/") ? path : nil
    }

    // MARK: Probe (for `mlrepo doctor`)

    /// One library's state.
    public struct ProbeResult: Sendable, Equatable {
        public let library: Library
        /// Where it loaded from; nil when it did not.
        public let path: String?
        /// Why it did not load; nil when it did.
        public let reason: String?
        /// cuBLAS is optional: the backend runs without it.
        public var required: Bool { library != .cublas }
    }

    /// Tries to load each library (a loaded library stays loaded) and reports where each was
    /// found or why not.
    public static func probe(_ settings: GPUSettings) -> [ProbeResult] {
        Library.allCases.map { lib in
            switch load(lib, settings: settings) {
            case .success(let h): return ProbeResult(library: lib, path: h.path, reason: nil)
            case .failure(let f): return ProbeResult(library: lib, path: nil, reason: f.message)
            }
        }
    }

    // MARK: Python site-packages (pip's CUDA wheels)

    /// The most folders `pythonCUDADirectories` returns, and the most entries it reads from
    /// any one folder: a hostile or huge environment cannot make the search unbounded.
    public static let maxPythonCandidates = 64
    static let maxEntriesPerFolder = 512

    /// The `nvidia/*/lib` folders (pip's CUDA wheels: CUDA 13 puts everything in
    /// `nvidia/cu13/lib`, older wheels one folder per library) under the site-packages of
    /// the Pythons that `env` points at, in this order: VIRTUAL_ENV, CONDA_PREFIX,
    /// ~/.local/lib/python3*, $PYENV_ROOT (default ~/.pyenv)/versions/*/lib/python3*,
    /// /usr/local/lib/python3*/{site,dist}-packages, /usr/lib/python3/dist-packages.
    /// Within one site-packages, `cu13` comes first. Reads directories only (no processes are
    /// started); the environment is the caller's (this library reads none).
    public static func pythonCUDADirectories(env: [String: String]) -> [String] {
        var sitePackages: [String] = []
        func absolute(_ v: String?) -> String? {
            guard let v, v.hasPrefix("/"), !v.contains("\0") else { return nil }
            return v.count > 1 && v.hasSuffix("/") ? String(v.dropLast()) : v
        }
        /// prefix/lib/python3*/{names}
        func addPythonLibs(_ prefix: String, _ names: [String]) {
            for py in pythonFolders(prefix + "/lib") {
                for n in names { sitePackages.append(prefix + "/lib/" + py + "/" + n) }
            }
        }
        if let v = absolute(env["VIRTUAL_ENV"]) { addPythonLibs(v, ["site-packages"]) }
        if let c = absolute(env["CONDA_PREFIX"]) { addPythonLibs(c, ["site-packages"]) }
        let home = absolute(env["HOME"])
        if let home { addPythonLibs(home + "/.local", ["site-packages"]) }
        if let pyenv = absolute(env["PYENV_ROOT"]) ?? home.map({ $0 + "/.pyenv" }) {
            for v in sortedEntries(pyenv + "/versions").reversed() { addPythonLibs(pyenv + "/versions/" + v, ["site-packages"]) }
        }
        addPythonLibs("/usr/local", ["site-packages", "dist-packages"])
        sitePackages.append("/usr/lib/python3/dist-packages")

        var out: [String] = []
        for sp in sitePackages {
            let nvidia = sp + "/nvidia"
            guard FS.isDirectory(nvidia) else { continue }
            let names = sortedEntries(nvidia).sorted { a, b in
                a == "cu13" ? b != "cu13" : (b == "cu13" ? false : a < b)
            }
            for n in names {
                let lib = nvidia + "/" + n + "/lib"
                if FS.isDirectory(lib) && !out.contains(lib) {
                    out.append(lib)
                    if out.count >= maxPythonCandidates { return out }
                }
            }
        }
        return out
    }

    /// The `python3*` folders in `dir`, newest minor version first.
    static func pythonFolders(_ dir: String) -> [String] {
        func minor(_ s: String) -> Int { Int(s.dropFirst("python3.".count)) ?? -1 }
        return sortedEntries(dir).filter { $0.hasPrefix("python3") }.sorted { minor($0) > minor($1) }
    }

    /// The names in `dir` (folders and links to them; hidden names skipped), sorted, at most
    /// `maxEntriesPerFolder`; empty when it cannot be read.
    static func sortedEntries(_ dir: String) -> [String] {
        guard let entries = try? FS.list(dir) else { return [] }
        var names: [String] = []
        for e in entries where !e.name.hasPrefix(".") && (e.type == .directory || e.type == .symlink) {
            names.append(e.name)
            if names.count >= maxEntriesPerFolder { break }
        }
        return names.sorted()
    }

    /// pip's `ptxas` (nvidia-cuda-nvcc) beside one of `pythonCUDADirectories`: `…/cu13/bin/ptxas`.
    public static func pythonPTXAS(env: [String: String]) -> String? {
        for lib in pythonCUDADirectories(env: env) {
            let p = Path.dirname(lib) + "/bin/ptxas"
            if let st = FS.stat(p), st.isRegular, st.isExecutable { return p }
        }
        return nil
    }
}
