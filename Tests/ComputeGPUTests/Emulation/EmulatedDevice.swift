import Foundation
import Compute
@testable import ComputeGPU
import Support

/// A `KernelDevice` that runs the CUDA kernel source on the CPU: the source is compiled as
/// host C++ (clang++, else g++) after `emulatorHeader`, with one generated launcher per
/// kernel of its specs, into a shared library that is loaded with dlopen. Device memory is
/// host memory; every copy is checked against the allocations it touches, so a backend that
/// copies past a tensor fails here instead of corrupting memory quietly. Launches run one at
/// a time. Slow by design: it is a test harness for the kernels' logic and for GPUBackend's
/// code, not a product path.
final class EmulatedDevice: KernelDevice, @unchecked Sendable {
    let info = GPUDeviceInfo(name: "emulator", computeCapability: (0, 0), driverVersion: 0,
                             nvrtcVersion: (0, 0), multiprocessors: 1, totalMemory: 1 << 30)
    let specs: [String: CUDAKernels.Spec]
    private let launchers: [String: Launcher]
    private let lock = NSLock()
    private var allocations: [UInt64: Int] = [:]
    private var launchCounts: [String: Int] = [:]
    private var capturing: [() throws -> Void]? = nil
    /// Launches per kernel so far (to check that a suite ran every kernel).
    var launched: [String: Int] { lock.withLock { launchCounts } }

    typealias Launcher = @convention(c) (UnsafePointer<UInt32>, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Int32

    /// Why the emulator cannot run here (no C++ compiler), or nil.
    static var unavailableReason: String? {
        compiler == nil ? "no C++ compiler (clang++ or g++) on PATH: the CUDA emulator compiles the kernels as host C++" : nil
    }

    static let compiler: String? = {
        for name in ["clang++", "g++"] {
            for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
                let p = "\(dir)/\(name)"
                if FileManager.default.isExecutableFile(atPath: p) { return p }
            }
        }
        return nil
    }()

    /// Serializes launches across devices (see `launch`).
    static let launchLock = NSLock()

    /// Compiled libraries by hash of their source, for the life of the test process.
    private static let built = NSLock()
    nonisolated(unsafe) private static var libraries: [String: UnsafeMutableRawPointer] = [:]

    /// An emulator for `source` (CUDAKernels.source unless a test gives its own).
    init(source: String = CUDAKernels.source) throws {
        guard let cxx = Self.compiler else { throw ComputeError(Self.unavailableReason!) }
        let specList = CUDAKernels.parseSpecs(source)
        var program = "#include \"cuda_emu.h\"\n" + source + "\n" + emulatorRuntime + "\n"
        for s in specList {
            var unpack = "", call: [String] = []
            for (i, t) in s.parameters.enumerated() {
                unpack += "    \(t) a\(i) = *(\(t)*)args[\(i)];\n"
                call.append("a\(i)")
            }
            program += """
            extern "C" int emu_launch_\(s.name)(const unsigned* dims, void** args) {
            \(unpack)    return emu::run(dims, [=]() { \(s.name)(\(call.joined(separator: ", "))); });
            }

            """
        }
        let key = Hex.encode(SHA256Hasher.digest(Array((emulatorHeader + emulatorRuntime + program).utf8)))
        let handle: UnsafeMutableRawPointer = try Self.built.withLock {
            if let h = Self.libraries[key] { return h }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-cuda-emu-\(key.prefix(16))").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let lib = dir + "/libkernels.so"
            if !FileManager.default.fileExists(atPath: lib) {
                try emulatorHeader.write(toFile: dir + "/cuda_emu.h", atomically: true, encoding: .utf8)
                try program.write(toFile: dir + "/kernels.cpp", atomically: true, encoding: .utf8)
                let p = Process()
                p.executableURL = URL(fileURLWithPath: cxx)
                p.arguments = ["-std=c++17", "-O2", "-shared", "-fPIC", "-pthread", "-w", "-o", lib + ".tmp", dir + "/kernels.cpp"]
                let errPipe = Pipe()
                p.standardError = errPipe
                try p.run()
                let err = errPipe.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                guard p.terminationStatus == 0 else {
                    let log = String(decoding: err, as: UTF8.self)
                    throw ComputeError("emulator: \(cxx) could not compile the kernels:\n\(log.prefix(4000))")
                }
                try FileManager.default.moveItem(atPath: lib + ".tmp", toPath: lib)
            }
            guard let h = dlopen(lib, RTLD_NOW | RTLD_LOCAL) else {
                throw ComputeError("emulator: dlopen \(lib): \(String(cString: dlerror()))")
            }
            Self.libraries[key] = h
            return h
        }
        var l: [String: Launcher] = [:], sp: [String: CUDAKernels.Spec] = [:]
        for s in specList {
            guard let sym = dlsym(handle, "emu_launch_\(s.name)") else { throw ComputeError("emulator: no launcher for \(s.name)") }
            l[s.name] = unsafeBitCast(sym, to: Launcher.self)
            sp[s.name] = s
        }
        launchers = l
        specs = sp
    }

    deinit {
        for (a, _) in allocations { Foundation.free(UnsafeMutableRawPointer(bitPattern: UInt(a))) }
    }

    // MARK: Memory

    func allocate(_ bytes: Int) throws -> DevicePointer {
        guard bytes > 0 else { throw ComputeError("emulator: allocate \(bytes) bytes") }
        var p: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&p, 256, bytes) == 0, let p else { throw ComputeError("emulator: out of memory (\(bytes) bytes)") }
        // Fill with a NaN pattern: a kernel that reads memory nobody wrote shows up in results.
        memset(p, 0xFF, bytes)
        let a = UInt64(UInt(bitPattern: p))
        lock.withLock { allocations[a] = bytes }
        return DevicePointer(a)
    }

    func free(_ p: DevicePointer) {
        let known = lock.withLock { allocations.removeValue(forKey: p.address) != nil }
        precondition(known, "emulator: free of \(p), which is not an allocation")
        Foundation.free(UnsafeMutableRawPointer(bitPattern: UInt(p.address)))
    }

    /// The host address of [p, p + bytes), checked to lie inside one allocation.
    private func checked(_ p: DevicePointer, _ bytes: Int) throws -> UnsafeMutableRawPointer {
        let ok = lock.withLock {
            allocations.contains { base, size in p.address >= base && p.address &+ UInt64(bytes) <= base &+ UInt64(size) }
        }
        guard ok, let r = UnsafeMutableRawPointer(bitPattern: UInt(p.address)) else {
            throw ComputeError("emulator: \(bytes) bytes at \(p) are outside every allocation")
        }
        return r
    }

    private func queue(_ op: @escaping () throws -> Void) throws {
        let recording = lock.withLock { () -> Bool in
            if capturing != nil { capturing!.append(op); return true }
            return false
        }
        if !recording { try op() }
    }

    func copy(toDevice dst: DevicePointer, from src: UnsafeRawBufferPointer) throws {
        guard lock.withLock({ capturing == nil }) else { throw ComputeError("emulator: a host copy cannot be captured in a graph") }
        if src.isEmpty { return }
        try checked(dst, src.count).copyMemory(from: src.baseAddress!, byteCount: src.count)
    }

    func copy(toHost dst: UnsafeMutableRawBufferPointer, from src: DevicePointer) throws {
        guard lock.withLock({ capturing == nil }) else { throw ComputeError("emulator: a host copy cannot be captured in a graph") }
        if dst.isEmpty { return }
        dst.baseAddress!.copyMemory(from: try checked(src, dst.count), byteCount: dst.count)
    }

    func copy(_ dst: DevicePointer, from src: DevicePointer, bytes: Int) throws {
        if bytes == 0 { return }
        let d = try checked(dst, bytes), s = try checked(src, bytes)
        try queue { memmove(d, s, bytes) }
    }

    func zero(_ p: DevicePointer, bytes: Int) throws {
        if bytes == 0 { return }
        let d = try checked(p, bytes)
        try queue { memset(d, 0, bytes) }
    }

    func synchronize() throws {}

    // MARK: Launches

    func launch(_ kernel: String, grid: Dim3, block: Dim3, _ args: [KernelArgument]) throws {
        guard let spec = specs[kernel], let fn = launchers[kernel] else { throw ComputeError("emulator: no kernel \(kernel)") }
        guard CUDAKernels.matches(spec, args) else {
            throw ComputeError("emulator: \(kernel) takes (\(spec.parameters.joined(separator: ", "))), got \(args)")
        }
        guard grid.x >= 1, grid.y >= 1, grid.z >= 1, block.x >= 1, block.y >= 1, block.z >= 1, block.count <= 1024,
              grid.x < (1 << 31), grid.y <= 65_535, grid.z <= 65_535 else {
            throw ComputeError("emulator: \(kernel): bad launch grid \(grid) block \(block)")
        }
        for case .pointer(let p) in args where p != .null {
            // A pointer argument must point into an allocation (its extent is the kernel's business).
            _ = try checked(p, 0)
        }
        try queue { [self] in
            lock.withLock { launchCounts[kernel, default: 0] += 1 }
            // One 8-byte slot per argument, and the array of their addresses.
            let slots = UnsafeMutableRawPointer.allocate(byteCount: max(1, args.count) * 8, alignment: 8)
            defer { slots.deallocate() }
            let ptrs = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: max(1, args.count))
            defer { ptrs.deallocate() }
            for (i, a) in args.enumerated() {
                let s = slots + i * 8
                switch a {
                case .pointer(let p): s.storeBytes(of: p.address, as: UInt64.self)
                case .int32(let v): s.storeBytes(of: v, as: Int32.self)
                case .int64(let v): s.storeBytes(of: v, as: Int64.self)
                case .float(let v): s.storeBytes(of: v, as: Float.self)
                case .double(let v): s.storeBytes(of: v, as: Double.self)
                }
                ptrs[i] = s
            }
            let dims: [UInt32] = [grid.x, grid.y, grid.z, block.x, block.y, block.z].map { UInt32($0) }
            // One launch at a time in the process: `__shared__` is one static per kernel, shared
            // by every emulated device that loaded the same library.
            let rc = EmulatedDevice.launchLock.withLock { dims.withUnsafeBufferPointer { fn($0.baseAddress!, ptrs) } }
            if rc != 0 { throw ComputeError("emulator: \(kernel) failed (\(rc))") }
        }
    }

    // MARK: Graphs

    final class Graph: DeviceGraph, @unchecked Sendable {
        let ops: [() throws -> Void]
        init(_ ops: [() throws -> Void]) { self.ops = ops }
    }

    func beginCapture() throws -> Bool {
        try lock.withLock {
            guard capturing == nil else { throw ComputeError("emulator: capture already under way") }
            capturing = []
        }
        return true
    }

    func endCapture() throws -> any DeviceGraph {
        try lock.withLock {
            guard let ops = capturing else { throw ComputeError("emulator: no capture under way") }
            capturing = nil
            return Graph(ops)
        }
    }

    func abortCapture() { lock.withLock { capturing = nil } }

    func launch(graph: any DeviceGraph) throws {
        guard let g = graph as? Graph else { throw ComputeError("emulator: not an emulator graph") }
        for op in g.ops { try op() }
    }
}
