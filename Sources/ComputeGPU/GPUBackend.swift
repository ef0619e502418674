import Compute
import Support
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A scratch device buffer (`GPUBackend.scratch`), freed when the backend and every
/// recorded step that captured it have let it go.
final class ScratchBuffer: @unchecked Sendable {
    let pointer: DevicePointer
    let bytes: Int
    let device: any KernelDevice
    /// Whether a recorded step captured it: its contents (a table uploaded from the host) must
    /// then not be overwritten; a different table goes into a fresh buffer.
    var recorded = false
    init(pointer: DevicePointer, bytes: Int, device: any KernelDevice) {
        self.pointer = pointer; self.bytes = bytes; self.device = device
    }
    deinit { device.free(pointer) }
}

/// A tensor's device memory. Freed (through its device) when the tensor goes.
public final class GPUStorage: TensorStorage, @unchecked Sendable {
    public let pointer: DevicePointer
    public let bytes: Int
    let device: any KernelDevice
    init(pointer: DevicePointer, bytes: Int, device: any KernelDevice) {
        self.pointer = pointer; self.bytes = bytes; self.device = device
    }
    deinit { if pointer != .null { device.free(pointer) } }
}

/// The `Backend` protocol on a GPU, through `KernelDevice` (a real GPU, or the emulator in
/// the tests). Tensors live in device memory; every operation queues kernels on the
/// device's one stream, and only downloads (and the operations that return host values)
/// wait. Kernels cannot throw: the first device error is kept, the work after it is
/// skipped, and `checkError()` throws it (downloads give zeros meanwhile).
///
/// Determinism: every kernel computes each output element in a fixed order that depends
/// only on the shapes (no atomics in reductions; column sums and sums of squares reduce
/// fixed blocks of rows, then the blocks in order), so the same inputs on the same GPU
/// model give bit-identical results.
///
/// Host overhead: no allocation per call (scratch buffers, one per purpose, are kept and
/// grown when a larger shape comes), no host copy per minibatch (`uploadIndices` once, then
/// `gatherRows(_:indices:offset:count:into:)` on the device), and only the operations that
/// return host values wait for the device. A per-batch step whose offset and Adam step come
/// from the device (a cursor, a counter) is recorded once by `recordStep` and replayed as
/// one graph launch. The kernels are in `CUDAKernels.source`; the operations are in
/// GPUBackend+Kernels.swift.
public final class GPUBackend: Backend, @unchecked Sendable {
    public let device: any KernelDevice
    public var kind: String { "gpu" }
    public var deviceName: String { device.info.name }
    /// Host threads for the work around the device (reading CSVs, column statistics,
    /// standardization): the GPU runs the kernels, the host still parses the data.
    public let threads: Int
    /// The most blocks a grid-stride kernel is launched with (a small number in the
    /// emulator, where every block's threads are real threads). Results never depend on it.
    public let maxGridBlocks: Int

    private let firstError = Mutex<ComputeError?>(nil)

    /// Held by every operation that uses scratch buffers or the state below, so that two
    /// threads sharing the backend never queue work on the same scratch memory in between.
    let opLock = Lock()
    /// Scratch device buffers by purpose (guarded by `opLock`). A recorded step keeps the
    /// buffers it captured (their raw pointers are in its graph): one grown or replaced
    /// meanwhile leaves this table but stays allocated until those recordings are released.
    var scratchBuffers: [Scratch: ScratchBuffer] = [:]
    /// The scratch buffers used while `recordStep` records (nil when not recording; guarded by
    /// `opLock`).
    var recordingBuffers: [ScratchBuffer]? = nil
    /// Steps replayed so far (for the tests: a count, nothing depends on it).
    var stepReplays = 0
    /// Whether a gather with device-resident indices ran since the error flag was last read.
    var gatherFlagPending = false
    /// The multi-tensor Adam table now on the device (`Scratch.adamTable`).
    var adamTableOnDevice: [UInt32] = []
    /// The last multi-tensor Adam table built on the host and what it was built from (the
    /// tensors, held so that their storage cannot be reused by others, and the weight
    /// decays): a repeated call with the same tensors reuses it without allocating (guarded
    /// by `opLock`).
    var adamTableCache: (tensors: [Tensor], weightDecay: [Float], table: [UInt32], largest: Int)? = nil
    /// The labels now on the device (`Scratch.labels`), where, and the class count they were
    /// checked against: a solver passes the same array every call (compared by buffer
    /// first, so that costs nothing).
    var labelsOnDevice: (labels: [Int32], pointer: DevicePointer, classes: Int) = ([], .null, 0)

    /// threads: host threads (nil = every online CPU).
    public init(device: any KernelDevice, maxGridBlocks: Int = 65_535, threads: Int? = nil) {
        self.device = device
        self.maxGridBlocks = max(1, maxGridBlocks)
        self.threads = max(1, threads ?? CPUBackend.onlineCPUs)
    }


    public var environment: [String: String] {
        let i = device.info
        var e = ["gpu_compute_capability": i.computeCapabilityString]
        if i.driverVersion != 0 { e["cuda_driver"] = i.driverVersionString }
        if !i.driverRelease.isEmpty { e["nvidia_driver"] = i.driverRelease }
        if i.nvrtcVersion.major != 0 { e["nvrtc"] = "\(i.nvrtcVersion.major).\(i.nvrtcVersion.minor)" }
        return e
    }

    public func checkError() throws {
        if let e = firstError.withLock({ $0 }) { throw e }
    }

    /// Remembers the first error.
    func fail(_ e: Error) {
        let ce = e as? ComputeError ?? ComputeError("gpu: \(e)")
        firstError.withLock { if $0 == nil { $0 = ce } }
    }
    var failed: Bool { firstError.withLock { $0 != nil } }

    /// Runs `body` unless an error came before; keeps the error it throws.
    func run(_ body: () throws -> Void) {
        if failed { return }
        do { try body() } catch { fail(error) }
    }

    func ptr(_ t: Tensor) -> DevicePointer {
        guard let s = t.storage as? GPUStorage else { preconditionFailure("tensor is not on the GPU backend") }
        return s.pointer
    }

    func launch(_ kernel: String, grid: Dim3, block: Dim3, _ args: [KernelArgument]) {
        run { try device.launch(kernel, grid: grid, block: block, args) }
    }

    /// Blocks for a grid-stride loop over n elements with `threads` threads a block.
    func gridBlocks(_ n: Int, threads: Int = 256) -> Int { max(1, min(maxGridBlocks, (n + threads - 1) / threads)) }

    // MARK: Memory

    func allocate(rows: Int, cols: Int, zero: Bool) -> Tensor {
        precondition(rows >= 0 && cols >= 0, "tensor: negative shape")
        let (count, o1) = rows.multipliedReportingOverflow(by: cols)
        let (bytes, o2) = count.multipliedReportingOverflow(by: 4)
        precondition(!o1 && !o2, "tensor: \(rows)×\(cols) is too large")
        var p = DevicePointer.null
        if bytes > 0 {
            run {
                p = try device.allocate(bytes)
                if zero { try device.zero(p, bytes: bytes) }
            }
        }
        return Tensor(rows: rows, cols: cols, backend: self, storage: GPUStorage(pointer: p, bytes: p == .null ? 0 : bytes, device: device))
    }

    public func tensor(rows: Int, cols: Int) -> Tensor { allocate(rows: rows, cols: cols, zero: true) }
    public func uninitializedTensor(rows: Int, cols: Int) -> Tensor { allocate(rows: rows, cols: cols, zero: false) }

    public func upload(_ host: [Float], rows: Int, cols: Int) -> Tensor {
        precondition(host.count == rows * cols, "upload: \(host.count) values for \(rows)×\(cols)")
        let t = allocate(rows: rows, cols: cols, zero: false)
        if t.count > 0 { run { try host.withUnsafeBytes { try device.copy(toDevice: ptr(t), from: $0) } } }
        return t
    }

    public func upload(_ host: UnsafeBufferPointer<Float>, into t: Tensor, row: Int) {
        precondition(t.cols > 0 && host.count % t.cols == 0 && row >= 0 && row + host.count / t.cols <= t.rows,
                     "upload(into:): rows out of range")
        if host.isEmpty { return }
        run { try device.copy(toDevice: ptr(t).advanced(by: row * t.cols * 4), from: UnsafeRawBufferPointer(host)) }
    }

    public func download(_ t: Tensor) -> [Float] {
        var out = [Float](repeating: 0, count: t.count)
        if t.count > 0 {
            run { try out.withUnsafeMutableBytes { try device.copy(toHost: $0, from: ptr(t)) } }
            opLock.withLock { readGatherFlag() }
            if failed { return [Float](repeating: 0, count: t.count) }
        }
        return out
    }

    public func synchronize() {
        run { try device.synchronize() }
        opLock.withLock { readGatherFlag() }
    }
}

// MARK: Recorded steps

/// A step `GPUBackend.recordStep` recorded: its graph, and the scratch buffers the graph's
/// launches point into (kept allocated while it lives). Releasing it destroys the graph
/// (the device's graph object goes with it).
final class GPURecordedStep: RecordedStep, @unchecked Sendable {
    let graph: any DeviceGraph
    let buffers: [ScratchBuffer]
    weak var backend: GPUBackend?
    init(graph: any DeviceGraph, buffers: [ScratchBuffer], backend: GPUBackend) {
        self.graph = graph; self.buffers = buffers; self.backend = backend
    }
}

extension GPUBackend {
    /// Records `body`'s launches as a graph without running them (the contract is
    /// `Backend.recordStep`'s). nil, with `body` not run, when the device cannot capture or
    /// an error came before; nil after an error in `body` (kept for `checkError`: a host
    /// copy, or a scratch buffer that had to be made, is refused during a capture).
    public func recordStep(_ body: () -> Void) -> (any RecordedStep)? {
        if failed { return nil }
        var started = false
        opLock.withLock {
            precondition(recordingBuffers == nil, "recordStep: a recording is already under way")
            run { started = try device.beginCapture() }
            if started { recordingBuffers = [] }
        }
        if !started { return nil }
        body()
        var graph: (any DeviceGraph)? = nil
        if failed {
            device.abortCapture()
        } else {
            do { graph = try device.endCapture() } catch { fail(error) }
        }
        let kept = opLock.withLock { () -> [ScratchBuffer] in
            defer { recordingBuffers = nil }
            return recordingBuffers ?? []
        }
        guard let graph, !failed else { return nil }
        return GPURecordedStep(graph: graph, buffers: kept, backend: self)
    }

    /// Queues the recorded step's graph. The device errors its gathers and Adam report are
    /// read at the next wait, as for the operations run one by one.
    public func replay(_ step: any RecordedStep) {
        guard let s = step as? GPURecordedStep, s.backend === self else {
            preconditionFailure("replay: a step recorded on another backend")
        }
        opLock.withLock {
            run { try device.launch(graph: s.graph) }
            stepReplays += 1
            gatherFlagPending = true
        }
    }
}
