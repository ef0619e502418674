import Foundation
import XCTest
import Compute
import Support
@testable import ComputeGPU

/// The kernel source compiles with NVRTC (no GPU needed: pip's nvidia-cuda-nvrtc) for the
/// architectures we ship for, without a warning, and ptxas (pip's nvidia-cuda-nvcc) finds no
/// register spill. The libraries are located the way the CLI locates them.
final class NVRTCCompileTests: XCTestCase {
    /// The settings the CLI would build from this environment (MLREPO_CUDA_LIBS, then Python's
    /// site-packages).
    static func settings() -> GPUSettings {
        let env = ProcessInfo.processInfo.environment
        var dirs = (env["MLREPO_CUDA_LIBS"] ?? "").split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }
        dirs += CUDALibraries.pythonCUDADirectories(env: env)
        return GPUSettings(libraryDirectories: dirs)
    }

    /// NVRTC as the CLI would find it. Skips only when libnvrtc.so.13 is nowhere to be found;
    /// a copy that is found but does not load (a broken wheel, a missing symbol) fails the test.
    static func loadNVRTC() throws -> NVRTC {
        switch CUDALibraries.load(.nvrtc, settings: settings()) {
        case .failure(let f) where f.notFound:
            throw XCTSkip("nvidia-cuda-nvrtc not installed (pip install nvidia-cuda-nvrtc, or set MLREPO_CUDA_LIBS): \(f.message)")
        case .failure(let f):
            throw ComputeError(f.message)
        case .success(let h):
            return try NVRTC(h)
        }
    }

    /// The folders that hold NVRTC (for settings of other tests), skipping as `loadNVRTC` does.
    static func nvrtcDirectories() throws -> [String] {
        _ = try loadNVRTC()
        return settings().libraryDirectories
    }

    func nvrtc() throws -> NVRTC { try Self.loadNVRTC() }

    func testKernelsCompileWithoutWarningsForSM80AndSM90() throws {
        let n = try nvrtc()
        XCTAssertEqual(n.version.major, 13, "libnvrtc.so.13 reports \(n.versionString)")
        for arch in ["sm_80", "sm_90"] {
            let (image, log) = try n.compile(CUDAKernels.source, arch: arch)
            if !log.isEmpty { print("NVRTC \(n.versionString) log for \(arch):\n\(log)") }
            XCTAssertEqual(NVRTC.warnings(in: log), [], "\(arch): warnings in the compile log:\n\(log)")
            // A CUBIN is an ELF file.
            XCTAssertEqual(Array(image.prefix(4)), [0x7f, 0x45, 0x4c, 0x46], "\(arch): not an ELF image")
            XCTAssertGreaterThan(image.count, 64)
        }
    }

    func testEveryKernelIsInThePTX() throws {
        let n = try nvrtc()
        let (ptx, log) = try n.compile(CUDAKernels.source, arch: "compute_90")
        XCTAssertEqual(NVRTC.warnings(in: log), [], log)
        XCTAssertEqual(ptx.last, 0, "PTX ends with its NUL, as cuModuleLoadData wants")
        let text = String(decoding: ptx.dropLast(), as: UTF8.self)
        XCTAssertFalse(CUDAKernels.specs.isEmpty)
        for spec in CUDAKernels.specs {
            XCTAssertTrue(text.contains(".entry \(spec.name)("), "\(spec.name) missing from the PTX")
        }
    }

    func testTargetFallsBackToPTXForUnknownArchitectures() throws {
        let n = try nvrtc()
        XCTAssertTrue(n.supportedArchitectures.contains(90), "\(n.supportedArchitectures)")
        XCTAssertEqual(n.target(major: 9, minor: 0), "sm_90")
        let newest = n.supportedArchitectures.max()!
        // A device newer than this NVRTC knows: PTX for the newest it knows.
        XCTAssertEqual(n.target(major: 99, minor: 9), "compute_\(newest)")
        XCTAssertNil(n.target(major: 1, minor: 0))
        // PTX for compute_XY is what the driver would JIT.
        let (ptx, _) = try n.compile(CUDAKernels.source, arch: "compute_\(newest)")
        XCTAssertTrue(String(decoding: ptx.prefix(4096), as: UTF8.self).contains(".target sm_\(newest)"))
    }

    func testTheDeviceSelfTestKernelCompiles() throws {
        // `doctor --gpu` compiles it on the device; here: it parses and compiles cleanly.
        let specs = CUDAKernels.parseSpecs(CUDADevice.selfTestSource)
        XCTAssertEqual(specs, [.init(name: "mlr_selftest_axpb", parameters: ["float*", "const float*", "int", "long long", "float", "double"])])
        let n = try nvrtc()
        for arch in ["sm_80", "sm_90"] {
            let (_, log) = try n.compile(CUDADevice.selfTestSource, arch: arch)
            XCTAssertEqual(NVRTC.warnings(in: log), [], log)
        }
    }

    func testABrokenSourceFailsWithTheErrorLine() throws {
        let n = try nvrtc()
        let src = """
        extern "C" __global__ void mlr_broken(float* x, long long n) {
            x[0] = no_such_name;
        }
        """
        XCTAssertThrowsError(try n.compile(src, arch: "sm_90")) { e in
            let m = (e as? ComputeError)?.message ?? "\(e)"
            XCTAssertTrue(m.hasPrefix("gpu: kernel compile for sm_90 failed (NVRTC 13."), m)
            XCTAssertTrue(m.contains("error"), m)
            XCTAssertTrue(m.contains("no_such_name"), m)
            XCTAssertTrue(m.contains("(2)"), "names the line: \(m)")
            XCTAssertFalse(m.contains("\n"), "one line: \(m)")
        }
        XCTAssertThrowsError(try n.compile(CUDAKernels.source, arch: "sm_9x"))
        XCTAssertThrowsError(try n.compile(CUDAKernels.source, arch: "sm_90", options: ["--no-such-option"])) { e in
            XCTAssertTrue("\(e)".contains("failed"), "\(e)")
        }
    }

    func testWarningsAreSeen() throws {
        // The check above would catch a warning: NVRTC reports one here.
        let n = try nvrtc()
        let src = """
        extern "C" __global__ void mlr_warn(float* x) {
            int unused_variable = 3;
            x[0] = 1.0f;
        }
        """
        let (_, log) = try n.compile(src, arch: "sm_90")
        XCTAssertFalse(NVRTC.warnings(in: log).isEmpty, "no warning in: \(log)")
    }

    // MARK: ptxas: registers and spills

    /// Registers a kernel may use before it counts as too many (occupancy): every kernel now;
    /// a kernel that needs more for a reason is named here with its own budget.
    static let registerBudget = 128
    static let registerBudgets: [String: Int] = [:]

    func testNoKernelSpillsAndRegistersStayInBudget() throws {
        let n = try nvrtc()
        guard let ptxas = Self.ptxas() else { throw XCTSkip("ptxas not installed: pip install nvidia-cuda-nvcc") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-ptxas-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for arch in ["80", "90"] {
            let (ptx, log) = try n.compile(CUDAKernels.source, arch: "compute_\(arch)")
            XCTAssertEqual(NVRTC.warnings(in: log), [], log)
            let input = dir.appendingPathComponent("kernels_\(arch).ptx")
            try Data(ptx.dropLast()).write(to: input)
            let (status, output) = try Self.run(ptxas, ["-arch=sm_\(arch)", "-v", input.path, "-o", dir.appendingPathComponent("kernels_\(arch).cubin").path])
            // A ptxas older than NVRTC rejects its PTX ISA version: a setup problem (.ci/run
            // pins both wheels to one release), not a kernel problem.
            if status != 0, Self.ptxasIsOlderThanThePTX(output) {
                throw XCTSkip("ptxas (\(ptxas)) is older than NVRTC \(n.versionString): \(output.split(separator: "\n").first ?? "")")
            }
            XCTAssertEqual(status, 0, output)
            let usage = Self.parsePTXAS(output)
            print("ptxas sm_\(arch):", usage.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.registers) regs, spill \($0.value.spillStores)/\($0.value.spillLoads) B" }.joined(separator: "; "))
            // Every kernel, and nothing else but the math library's out-of-line functions
            // (double pow, `__internal_accurate_pow`, in mlr_adam_multi_step), spills checked for all.
            XCTAssertEqual(Set(usage.keys.filter { !$0.hasPrefix("__internal_") }), Set(CUDAKernels.specs.map(\.name)),
                           "sm_\(arch): ptxas reported every kernel:\n\(output)")
            for (name, u) in usage {
                XCTAssertEqual(u.spillStores + u.spillLoads, 0, "sm_\(arch): \(name) spills (\(u.spillStores) bytes stored, \(u.spillLoads) loaded)")
                let budget = Self.registerBudgets[name] ?? Self.registerBudget
                XCTAssertLessThanOrEqual(u.registers, budget, "sm_\(arch): \(name) uses \(u.registers) registers")
            }
        }
    }

    /// ptxas's answer to PTX of a newer ISA version than it knows ("ptxas fatal : Unsupported
    /// .version 9.2; current version is '9.1'").
    static func ptxasIsOlderThanThePTX(_ output: String) -> Bool { output.contains("Unsupported .version") }

    func testAPTXNewerThanPTXASIsRecognized() throws {
        guard let ptxas = Self.ptxas() else { throw XCTSkip("ptxas not installed: pip install nvidia-cuda-nvcc") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-ptxv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("future.ptx")
        try Data(".version 99.0\n.target sm_90\n.address_size 64\n".utf8).write(to: input)
        let (status, output) = try Self.run(ptxas, ["-arch=sm_90", input.path, "-o", dir.appendingPathComponent("f.cubin").path])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(Self.ptxasIsOlderThanThePTX(output), output)
        XCTAssertFalse(Self.ptxasIsOlderThanThePTX("ptxas error   : Entry function 'x' uses too much shared data"))
    }

    /// pip's ptxas beside a MLREPO_CUDA_LIBS folder (`…/cu13/lib` → `…/cu13/bin/ptxas`, what
    /// .ci/run sets), else beside a site-packages folder of the search.
    static func ptxas() -> String? {
        let env = ProcessInfo.processInfo.environment
        for d in (env["MLREPO_CUDA_LIBS"] ?? "").split(separator: ":") where d.hasPrefix("/") {
            let p = Path.dirname(String(d)) + "/bin/ptxas"
            if let st = FS.stat(p), st.isRegular, st.isExecutable { return p }
        }
        return CUDALibraries.pythonPTXAS(env: env)
    }

    /// Runs `tool` with `args`: its exit status and its output (stdout and stderr together).
    static func run(_ tool: String, _ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, output)
    }

    func testFirstErrorMatchesErrorLinesOnly() {
        let log = """
        mlrepo_kernels.cu(3): warning #177-D: variable "error_count" was declared but never referenced
        mlrepo_kernels.cu(7): error: identifier "no_such_name" is undefined
        """
        XCTAssertEqual(NVRTC.firstError(in: log), "mlrepo_kernels.cu(7): error: identifier \"no_such_name\" is undefined")
        XCTAssertNil(NVRTC.firstError(in: "x.cu(1): warning: error_handler unused"))
    }

    struct Usage: Equatable { var registers = -1, spillStores = 0, spillLoads = 0 }

    /// Per function, from `ptxas -v`:
    ///     ptxas info    : Compiling entry function 'mlr_relu' for 'sm_90'
    ///     ptxas info    : Function properties for mlr_relu
    ///         0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
    ///     ptxas info    : Used 8 registers, used 0 barriers, 368 bytes cmem[0]
    static func parsePTXAS(_ text: String) -> [String: Usage] {
        var out: [String: Usage] = [:]
        var current: String? = nil
        func number(before word: String, in line: Substring) -> Int? {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "," })
            guard let i = parts.firstIndex(where: { $0 == word }), i > parts.startIndex else { return nil }
            return Int(parts[parts.index(before: i)])
        }
        for line in text.split(separator: "\n") {
            if let r = line.range(of: "Compiling entry function '") {
                let rest = line[r.upperBound...]
                current = rest.firstIndex(of: "'").map { String(rest[..<$0]) }
                if let c = current, out[c] == nil { out[c] = Usage() }
            } else if let r = line.range(of: "Function properties for ") {
                current = String(line[r.upperBound...]).trimmingCharacters(in: .whitespaces)
                if let c = current, out[c] == nil { out[c] = Usage() }
            } else if let c = current, line.contains("spill stores") {
                let parts = line.components(separatedBy: ",")
                for p in parts {
                    let words = p.split(separator: " ")
                    if p.contains("spill stores"), let v = words.first.flatMap({ Int($0) }) { out[c]?.spillStores = v }
                    if p.contains("spill loads"), let v = words.first.flatMap({ Int($0) }) { out[c]?.spillLoads = v }
                }
            } else if let c = current, line.contains("Used "), let regs = number(before: "registers", in: line) {
                out[c]?.registers = regs
            }
        }
        return out
    }

    func testParsePTXAS() {
        let sample = """
        ptxas info    : 0 bytes gmem
        ptxas info    : Compiling entry function 'mlr_a' for 'sm_90'
        ptxas info    : Function properties for mlr_a
            0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
        ptxas info    : Used 8 registers, used 0 barriers, 368 bytes cmem[0]
        ptxas info    : Compiling entry function 'mlr_b' for 'sm_90'
        ptxas info    : Function properties for mlr_b
            48 bytes stack frame, 40 bytes spill stores, 36 bytes spill loads
        ptxas info    : Used 255 registers, used 1 barriers, 400 bytes cmem[0]
        """
        XCTAssertEqual(Self.parsePTXAS(sample), ["mlr_a": Usage(registers: 8, spillStores: 0, spillLoads: 0),
                                                 "mlr_b": Usage(registers: 255, spillStores: 40, spillLoads: 36)])
    }
}
