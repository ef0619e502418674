/// Picks a backend by name for the command line and the ML layer.
public enum BackendRegistry {
    /// The names `make` accepts.
    public static let names = ["cpu", "gpu", "auto"]

    /// name: "cpu", "gpu" or "auto". auto = GPU if one loads, else CPU; `note` says which was
    /// used and why (e.g. "auto: no GPU backend in this build; using cpu"). "gpu" throws
    /// ComputeError("no GPU backend is available: …") for now (the CUDA backend is a later
    /// issue). threads nil = all cores (sysconf online CPUs); otherwise at least 1.
    public static func make(_ name: String, threads: Int?) throws -> (backend: any Backend, note: String?) {
        if let t = threads, t < 1 { throw ComputeError("threads must be at least 1 (got \(t))") }
        switch name {
        case "cpu":
            return (CPUBackend(threads: threads), nil)
        case "gpu":
            switch loadGPU() {
            case .success(let b): return (b, nil)
            case .failure(let e): throw ComputeError("no GPU backend is available: \(e.message)")
            }
        case "auto":
            switch loadGPU() {
            case .success(let b): return (b, "auto: using gpu (\(b.deviceName))")
            case .failure(let e): return (CPUBackend(threads: threads), "auto: \(e.message); using cpu")
            }
        default:
            throw ComputeError("unknown backend '\(name)' (expected cpu, gpu or auto)")
        }
    }

    /// The GPU backend, or why there is none.
    static func loadGPU() -> Result<any Backend, ComputeError> {
        .failure(ComputeError("no GPU backend in this build"))
    }
}
