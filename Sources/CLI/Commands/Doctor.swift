import Compute
import ComputeGPU
import ML
import Support

// `doctor`: what this machine offers the compute core, and with --gpu the proof that the GPU
// backend computes what the CPU backend does (the conformance suite, run from the binary:
// a GPU machine has no `swift test`).

let doctorCommand = Command(
    name: "doctor", kind: .porcelain, summary: "check the machine: CPU, GEMM kernel, CUDA libraries, GPU (--gpu: conformance suite)",
    usage: """
    mlrepo doctor [--gpu] [--json]

    Prints the tool version, the OS, the CPU backend's device and GEMM kernel, and for the GPU
    backend each CUDA library (libcuda.so.1, libnvrtc.so.13, libcublas.so.13: optional) with
    where it was found or why not, and the GPU if one opens. Exit 0.
    --gpu opens the GPU backend (exit 1 with the reason when there is none), checks the
    device layer (copies, a launch with every argument kind, a CUDA graph replayed) and runs
    the backend conformance suite on it: every operation checked against a host reference,
    and run twice for bit-identity. Prints a table (check, result, max error, tolerance, ms), the
    device, compute capability, driver and NVRTC versions, the kernels' compile (or cache)
    time and the total time, then the GEMM kernel's rate (median ms and GFLOP/s of a
    4096×4096×4096 product and of the MLP's training shapes); exit 1 if any check fails.
    --json prints one JSON object with the same content (stdout only).
    CUDA is searched in MLREPO_CUDA_LIBS (':'-separated folders), CUDA_HOME, LD_LIBRARY_PATH,
    Python's site-packages (pip's nvidia-* wheels: nvidia/*/lib), then the standard folders.
    Compiled kernels are cached in $XDG_CACHE_HOME/mlrepo/cuda or ~/.cache/mlrepo/cuda
    (MLREPO_CUDA_CACHE=off, 0, false or no: compile every time); doctor prints the folder,
    why it cannot be used if so, and whether the kernels came from it.
    """,
    flags: ["gpu": ["--gpu"], "json": ["--json"]]
) { a, ctx in
    guard a.positional.isEmpty, a.paths == nil else { throw UsageError(message: "doctor takes no arguments") }
    let start = Clock.monotonic()
    let json = a.has("json")
    let settings = Settings.gpu()
    let machine = machineEnvironment()
    let cpu = CPUBackend(threads: nil)
    let libraries = CUDALibraries.probe(settings)

    var report: [String: JSON] = [
        "tool_version": .string(toolVersion),
        "os": machine["os"] ?? .null,
        "cpu": .string(cpu.deviceName),
        "cpu_threads": .int(Int64(cpu.threads)),
        "gemm": .string(cpu.gemmPath.rawValue),
        "libraries": .array(libraries.map { l in
            var o: [String: JSON] = ["name": .string(l.library.soname), "found": .bool(l.path != nil), "required": .bool(l.required)]
            if let p = l.path { o["path"] = .string(p) }
            if let r = l.reason { o["reason"] = .string(r) }
            return .object(o)
        }),
        "kernel_cache": settings.cacheDirectory.map { .string($0) } ?? .null,
        "cuda_loader_search": .bool(settings.allowLoaderSearch),
    ]
    // A cache folder that cannot be used only costs a compile per run; say so once.
    let cacheProblem = settings.cacheDirectory.flatMap { KernelCache(directory: $0).problem() }
    if let cacheProblem { report["kernel_cache_problem"] = .string(cacheProblem) }
    if !json {
        ctx.out.line("mlrepo \(toolVersion)")
        ctx.out.line("os        " + (machine["os"]?.stringValue ?? "?"))
        ctx.out.line("cpu       \(cpu.deviceName)")
        ctx.out.line("gemm      \(cpu.gemmPath.rawValue)")
        ctx.out.line("cuda libraries:")
        for l in libraries {
            let state = l.path.map { "found: \($0)" } ?? ((l.required ? "missing: " : "missing (optional): ") + (l.reason ?? "?"))
            ctx.out.line("  " + l.library.soname.padding(16) + " " + Quote.controls(state))
        }
        let cacheLine = settings.cacheDirectory.map { dir in cacheProblem ?? dir } ?? "off (MLREPO_CUDA_CACHE)"
        ctx.out.line("cache     " + Quote.controls(cacheLine))
        if !settings.allowLoaderSearch {
            ctx.out.line("          (LD_LIBRARY_PATH has an empty or relative entry: libraries are not looked up by soname)")
        }
    }

    // The GPU backend (opened once per process: the failure is cached too).
    let gpu: GPUBackend
    switch BackendRegistry.loadGPU(settings) {
    case .failure(let e):
        report["gpu"] = .null
        report["gpu_error"] = .string(e.message)
        if json { ctx.out.line(JSON.object(report).encoded(pretty: true)) }
        else { ctx.out.line("gpu       none: " + Quote.controls(e.message)) }
        if a.has("gpu") {
            ctx.err.line("error: no GPU backend is available: " + Quote.controls(e.message))
            return 1
        }
        return 0
    case .success(let b):
        gpu = b
    }
    let info = gpu.device.info
    var device: [String: JSON] = [
        "name": .string(info.name),
        "compute_capability": .string(info.computeCapabilityString),
        "driver": .string(info.driverVersionString),
        "nvidia_driver": .string(info.driverRelease),
        "nvrtc": .string("\(info.nvrtcVersion.major).\(info.nvrtcVersion.minor)"),
        "multiprocessors": .int(Int64(info.multiprocessors)),
        "memory_bytes": .int(Int64(info.totalMemory)),
    ]
    let cuda = gpu.device as? CUDADevice
    if let cuda {
        device["kernel_target"] = .string(cuda.kernelTarget)
        device["kernel_image"] = .string(cuda.kernelOrigin)
        device["kernel_load_seconds"] = .number(cuda.kernelLoadSeconds)
        if let p = cuda.kernelCacheProblem { device["kernel_cache_problem"] = .string(p) }
    }
    report["gpu"] = .object(device)
    if !json {
        ctx.out.line("gpu       \(Quote.controls(info.name)), compute capability \(info.computeCapabilityString), \(info.multiprocessors) SMs, \(formatBytes(UInt64(max(0, info.totalMemory))))")
        ctx.out.line("driver    \(info.driverRelease.isEmpty ? "" : "NVIDIA \(Quote.controls(info.driverRelease)), ")CUDA \(info.driverVersionString), NVRTC \(info.nvrtcVersion.major).\(info.nvrtcVersion.minor)")
        if let cuda {
            let how = cuda.kernelOrigin == "cache" ? "loaded from the kernel cache" : "compiled by NVRTC"
            // The store's own error, unless the folder check above already said why.
            let notStored = cacheProblem == nil ? cuda.kernelCacheProblem.map { "; not cached: " + $0 } ?? "" : ""
            ctx.out.line("kernels   \(cuda.kernelTarget), \(how) in \(ms(cuda.kernelLoadSeconds)) ms" + Quote.controls(notStored))
        }
    }
    guard a.has("gpu") else {
        if json { ctx.out.line(JSON.object(report).encoded(pretty: true)) }
        return 0
    }

    // The device layer on its own (copies, launches, graphs), then the conformance suite.
    let deviceChecks = cuda?.selfTest() ?? []
    let suite = BackendConformance.run(gpu, size: .full)
    let results = deviceChecks + suite
    let failed = results.filter { !$0.passed }
    // The GEMM kernel's rate: a large square product (its peak) and the MLP's shapes.
    let rates = GEMMRate.measure(gpu)
    let total = Clock.monotonic() - start
    report["gpu_gemm"] = .array(rates.map { r in
        .object(["m": .int(Int64(r.m)), "n": .int(Int64(r.n)), "k": .int(Int64(r.k)), "seconds": .number(r.seconds),
                 "gflops": .number((r.gflops * 10).rounded() / 10)])
    })
    report["checks"] = .array(results.map { r in
        .object(["check": .string(r.check), "passed": .bool(r.passed), "max_error": .number(r.maxError),
                 "tolerance": .number(r.tolerance), "seconds": .number(r.seconds), "detail": .string(r.detail)])
    })
    report["passed"] = .int(Int64(results.count - failed.count))
    report["failed"] = .int(Int64(failed.count))
    report["total_seconds"] = .number(total)
    if json {
        ctx.out.line(JSON.object(report).encoded(pretty: true))
    } else {
        ctx.out.line()
        valueTable(["check", "result", "max error", "tolerance", "ms"], results.map { r in
            [r.check, r.passed ? "pass" : "FAIL", sci(r.maxError), r.tolerance == 0 ? "exact" : sci(r.tolerance), ms(r.seconds)]
        }, md: false, ctx)
        for r in failed { ctx.out.line("FAIL \(Quote.controls(r.check)): \(Quote.controls(r.detail))") }
        ctx.out.line()
        valueTable(["gemm m×n×k", "ms", "GFLOP/s"], rates.map { r in
            ["\(r.m)×\(r.n)×\(r.k)", String((r.seconds * 1e6).rounded() / 1000), String(Int(r.gflops.rounded()))]
        }, md: false, ctx)
        ctx.out.line()
        ctx.out.line("\(results.count - failed.count) passed, \(failed.count) failed in \(ms(total)) ms on \(Quote.controls(info.name))")
    }
    if suite.isEmpty {
        ctx.err.line("error: the conformance suite ran no checks")
        return 1
    }
    return failed.isEmpty ? 0 : 1
}

/// "12.3" milliseconds from seconds.
private func ms(_ seconds: Double) -> String {
    let v = (seconds * 10_000).rounded() / 10
    return String(v)
}

/// A short error figure: "0", "3.1e-07".
private func sci(_ x: Double) -> String {
    if x == 0 { return "0" }
    if !x.isFinite || x < 0 { return "\(x)" }
    if x >= 0.01 && x < 1000 { return String((x * 1000).rounded() / 1000) }
    var e = 0
    var m = x
    while m >= 10 { m /= 10; e += 1 }
    while m < 1 && e > -400 { m *= 10; e -= 1 }
    let mr = (m * 10).rounded() / 10
    return "\(mr)e\(e < 0 ? "-" : "+")\(abs(e) < 10 ? "0" : "")\(abs(e))"
}
