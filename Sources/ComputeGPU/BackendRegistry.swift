import Compute
import Synchronization

/// Picks a backend by name for the command line and the ML layer.
public enum BackendRegistry {
    /// The names `make` accepts.
    public static let names = ["cpu", "gpu", "auto"]

    /// name: "cpu", "gpu" or "auto". auto = GPU if one loads, else CPU; `note` says which was
    /// used and why (e.g. "auto: no NVIDIA driver: libcuda.so.1 not found; using cpu").
    /// "gpu" throws ComputeError("no GPU backend is available: …") when none loads.
    /// threads nil = all cores (sysconf online CPUs); otherwise at least 1. `gpu` says where
    /// CUDA is (the CLI builds it from the environment).
    public static func make(_ name: String, threads: Int?, gpu: GPUSettings = GPUSettings()) throws -> (backend: any Backend, note: String?) {
        if let t = threads, t < 1 { throw ComputeError("threads must be at least 1 (got \(t))") }
        switch name {
        case "cpu":
            return (CPUBackend(threads: threads), nil)
        case "gpu":
            switch loadGPU(gpu) {
            case .success(let b): return (b, nil)
            case .failure(let e): throw ComputeError("no GPU backend is available: \(e.message)")
            }
        case "auto":
            switch loadGPU(gpu) {
            case .success(let b): return (b, "auto: using gpu (\(b.deviceName))")
            case .failure(let e): return (CPUBackend(threads: threads), "auto: \(e.message); using cpu")
            }
        default:
            throw ComputeError("unknown backend '\(name)' (expected cpu, gpu or auto)")
        }
    }

    /// One device per process and device ordinal: opening a context and loading the kernels is
    /// done once, and settings that differ only in where to look (or the cache folder) get the
    /// device already open rather than a second stream and lock on the same GPU. A failure is
    /// remembered per settings (other settings may find a working driver).
    private struct Opened {
        var devices: [Int: CUDADevice] = [:]
        var failures: [GPUSettings: ComputeError] = [:]
    }
    private static let opened = Mutex<Opened>(Opened())

    /// Forgets the devices and failures (for the tests: a device over a stand-in driver must
    /// not stay the process's GPU).
    static func forgetOpenedDevices() { opened.withLock { $0 = Opened() } }

    /// The GPU backend, or why there is none.
    public static func loadGPU(_ settings: GPUSettings) -> Result<GPUBackend, ComputeError> {
        let r: Result<CUDADevice, ComputeError> = opened.withLock { state in
            if let d = state.devices[settings.device] {
                // A lost context cannot be used again in this process (serve's workers then
                // fall back to the CPU; other commands fail with the reason).
                if d.contextLost { return .failure(ComputeError("the GPU context is lost after a device error: restart the process")) }
                return .success(d)
            }
            if let e = state.failures[settings] { return .failure(e) }
            do {
                let d = try CUDADevice.open(settings)
                state.devices[settings.device] = d
                return .success(d)
            } catch {
                let e = (error as? ComputeError) ?? ComputeError("\(error)")
                state.failures[settings] = e
                return .failure(e)
            }
        }
        return r.map { GPUBackend(device: $0) }
    }
}
