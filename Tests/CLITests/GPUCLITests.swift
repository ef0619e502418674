import Foundation
import XCTest
import ComputeGPU
import Support

/// The GPU backend from the command line on a machine without a GPU: `--backend gpu` fails
/// with the reason, `--backend auto` says it falls back and trains on the CPU, `doctor` reports
/// what it found, `doctor --gpu` fails with the reason, and the binary links no CUDA library.
final class GPUCLITests: CLITestCase {
    /// The Python variables the CLI searches for pip's CUDA wheels, from this process (the
    /// runs get a fresh HOME, so ~/.pyenv is passed as PYENV_ROOT).
    var pythonEnv: [String: String] {
        let e = ProcessInfo.processInfo.environment
        var out: [String: String] = [:]
        for k in ["VIRTUAL_ENV", "CONDA_PREFIX", "MLREPO_CUDA_LIBS"] { if let v = e[k] { out[k] = v } }
        out["PYENV_ROOT"] = e["PYENV_ROOT"] ?? ((e["HOME"] ?? "/root") + "/.pyenv")
        return out
    }

    /// The settings the child process builds from `extra` (plus the run's fixed environment).
    func childSettings(_ extra: [String: String]) -> GPUSettings {
        GPUSettings(environment: environment(extra))
    }

    /// Skips where the child, given `extra`, would load a libcuda: these tests are about its
    /// absence. Probes the folders the child searches, not just this process's defaults.
    func requireNoDriver(_ extra: [String: String]? = nil) throws {
        if case .success(let h) = CUDALibraries.load(.driver, settings: childSettings(extra ?? pythonEnv)) {
            throw XCTSkip("this machine has an NVIDIA driver (\(h.path)); run 'mlrepo doctor --gpu' instead")
        }
    }

    let noDriver = "no NVIDIA driver: libcuda.so.1 not found"

    func testTrainWithBackendGPUFailsWithTheReason() throws {
        try requireNoDriver()
        try initIrisProject()
        let r = fails(1, "train", "--backend", "gpu", env: pythonEnv)
        XCTAssertTrue(r.err.contains("error: no GPU backend is available: \(noDriver)"), r.err)
        XCTAssertFalse(exists("models/iris.mlmodel"), "nothing trained")
    }

    func testTrainWithBackendAutoFallsBackToCPU() throws {
        try requireNoDriver()
        try initIrisProject()
        let r = runResult(["train", "--backend", "auto"], env: pythonEnv)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("auto: \(noDriver); using cpu"), r.err)
        XCTAssertTrue(exists("models/iris.mlmodel"))
        let lin = try JSONSerialization.jsonObject(with: Data(ok("lineage", "models/iris.mlmodel", "--json").utf8)) as? [String: Any]
        let env = ((lin?["produced_by"] as? [String: Any])?["environment"] as? [String: Any]) ?? [:]
        XCTAssertEqual(env["backend"] as? String, "cpu")
    }

    func testDoctorReportsLibrariesAndExitsZero() throws {
        try requireNoDriver()
        let out = ok("doctor", env: pythonEnv)
        XCTAssertTrue(out.hasPrefix("mlrepo "), out)
        for label in ["os ", "cpu ", "gemm ", "cuda libraries:"] { XCTAssertTrue(out.contains("\n" + label), "no '\(label)' in\n\(out)") }
        XCTAssertTrue(out.contains("libcuda.so.1     missing: \(noDriver)"), out)
        XCTAssertTrue(out.contains("gpu       none: \(noDriver)"), out)
        // NVRTC is found where the CLI's search finds pip's wheel.
        var env = environment(pythonEnv)
        env["HOME"] = base.path
        let pip = CUDALibraries.pythonCUDADirectories(env: env)
        if let dir = pip.first(where: { FS.exists($0 + "/libnvrtc.so.13") }) {
            XCTAssertTrue(out.contains("libnvrtc.so.13   found: \(dir)/libnvrtc.so.13"), out)
        } else {
            XCTAssertTrue(out.contains("libnvrtc.so.13   missing: libnvrtc.so.13 not found in "), out)
            XCTAssertTrue(out.contains("(pip install nvidia-cuda-nvrtc, or set MLREPO_CUDA_LIBS)"), out)
        }

        // --json: the same content as one object.
        let json = try JSONSerialization.jsonObject(with: Data(ok("doctor", "--json", env: pythonEnv).utf8)) as? [String: Any]
        XCTAssertNotNil(json?["tool_version"] as? String)
        XCTAssertNotNil(json?["cpu"] as? String)
        XCTAssertTrue(["avx2", "portable"].contains(json?["gemm"] as? String ?? ""))
        XCTAssertTrue(json?["gpu"] is NSNull)
        XCTAssertEqual(json?["gpu_error"] as? String, noDriver)
        let libs = json?["libraries"] as? [[String: Any]] ?? []
        XCTAssertEqual(libs.map { $0["name"] as? String }, ["libcuda.so.1", "libnvrtc.so.13", "libcublas.so.13"])
        XCTAssertEqual(libs.first?["found"] as? Bool, false)
        XCTAssertEqual(libs.first?["reason"] as? String, noDriver)
        XCTAssertEqual(json?["kernel_cache"] as? String, base.path + "/.cache/mlrepo/cuda")
    }

    func testDoctorGPUFailsWithTheReason() throws {
        try requireNoDriver()
        let r = fails(1, "doctor", "--gpu", env: pythonEnv)
        XCTAssertTrue(r.err.contains("error: no GPU backend is available: \(noDriver)"), r.err)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
        let j = fails(1, "doctor", "--gpu", "--json", env: pythonEnv)
        let json = try JSONSerialization.jsonObject(with: j.outData) as? [String: Any]
        XCTAssertEqual(json?["gpu_error"] as? String, noDriver)
        XCTAssertNil(json?["checks"], "no suite without a GPU")
        fails(2, "doctor", "extra")
    }

    func testDoctorNamesABrokenDriver() throws {
        try requireNoDriver()
        try initIrisProject()
        let fake = dir("fakecuda")
        try requireNoDriver(["MLREPO_CUDA_LIBS": fake.path])
        write("../fakecuda/libcuda.so.1", "not a library")
        let r = runResult(["doctor"], env: ["MLREPO_CUDA_LIBS": fake.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("libcuda.so.1     missing: NVIDIA driver library found but not loadable: \(fake.path)/libcuda.so.1: "), r.out)
        let t = fails(1, "train", "--backend", "gpu", env: ["MLREPO_CUDA_LIBS": fake.path])
        XCTAssertTrue(t.err.contains("no GPU backend is available: NVIDIA driver library found but not loadable"), t.err)
    }

    func testDoctorReportsTheKernelCacheAndItsSettings() throws {
        try requireNoDriver()
        let cache = base.path + "/.cache/mlrepo/cuda"
        XCTAssertTrue(ok("doctor", env: pythonEnv).contains("\ncache     \(cache)\n"))
        for off in ["off", "0", "false", "NO"] {
            var env = pythonEnv
            env["MLREPO_CUDA_CACHE"] = off
            let json = try JSONSerialization.jsonObject(with: Data(ok("doctor", "--json", env: env).utf8)) as? [String: Any]
            XCTAssertTrue(json?["kernel_cache"] is NSNull, "MLREPO_CUDA_CACHE=\(off)")
            XCTAssertTrue(ok("doctor", env: env).contains("\ncache     off (MLREPO_CUDA_CACHE)\n"))
        }
        var on = pythonEnv
        on["MLREPO_CUDA_CACHE"] = "yes"
        let jsonOn = try JSONSerialization.jsonObject(with: Data(ok("doctor", "--json", env: on).utf8)) as? [String: Any]
        XCTAssertEqual(jsonOn?["kernel_cache"] as? String, cache)
        // A folder that cannot be used is reported, in the text and the JSON.
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(cache, 0o777), 0)
        let problem = "gpu: kernel cache folder \(cache) is not usable: writable by group or others"
        XCTAssertTrue(ok("doctor", env: pythonEnv).contains("\ncache     \(problem)\n"))
        let json = try JSONSerialization.jsonObject(with: Data(ok("doctor", "--json", env: pythonEnv).utf8)) as? [String: Any]
        XCTAssertEqual(json?["kernel_cache_problem"] as? String, problem)
        XCTAssertEqual(chmod(cache, 0o700), 0)
        XCTAssertNil((try JSONSerialization.jsonObject(with: Data(ok("doctor", "--json", env: pythonEnv).utf8)) as? [String: Any])?["kernel_cache_problem"])
    }

    func testAnLDLibraryPathThatNamesTheCurrentDirectoryTurnsOffTheLoaderSearch() throws {
        try requireNoDriver()
        for (value, search) in [("/nowhere", true), ("/nowhere:", false), (":/nowhere", false), ("/a::/b", false), ("lib:/nowhere", false)] {
            var env = pythonEnv
            env["LD_LIBRARY_PATH"] = value
            let json = try JSONSerialization.jsonObject(with: Data(ok("doctor", "--json", env: env).utf8)) as? [String: Any]
            XCTAssertEqual(json?["cuda_loader_search"] as? Bool, search, "LD_LIBRARY_PATH=\(value)")
        }
        var env = pythonEnv
        env["LD_LIBRARY_PATH"] = ".:/nowhere"
        XCTAssertTrue(ok("doctor", env: env).contains("libraries are not looked up by soname"))
    }

    func testBinaryLinksNoCUDALibrary() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/ldd") else { throw XCTSkip("ldd is not installed") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        p.arguments = [CLITestCase.binary]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, out)
        XCTAssertTrue(out.contains("libc.so"), "ldd listed the libraries: \(out)")
        for lib in ["libcuda", "libnvrtc", "libcublas", "libcudart"] {
            XCTAssertFalse(out.contains(lib), "mlrepo links \(lib):\n\(out)")
        }
    }
}
