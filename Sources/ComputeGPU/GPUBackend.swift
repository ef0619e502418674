import Compute
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

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
public final class GPUBackend: Backend, @unchecked Sendable {
    public let device: any KernelDevice
    public var kind: String { "gpu" }
    public var deviceName: String { device.info.name }
    public var threads: Int { 1 }
    /// The most blocks a grid-stride kernel is launched with (a small number in the
    /// emulator, where every block's threads are real threads). Results never depend on it.
    public let maxGridBlocks: Int

    private let firstError = Mutex<ComputeError?>(nil)

    public init(device: any KernelDevice, maxGridBlocks: Int = 65_535) {
        self.device = device
        self.maxGridBlocks = max(1, maxGridBlocks)
    }

    public var environment: [String: String] {
        let i = device.info
        var e = ["gpu_compute_capability": i.computeCapabilityString]
        if i.driverVersion != 0 { e["cuda_driver"] = i.driverVersionString }
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
            if failed { return [Float](repeating: 0, count: t.count) }
        }
        return out
    }

    public func synchronize() { run { try device.synchronize() } }

    // MARK: Kernels (to be written)

    func unimplemented(_ name: String) { fail(ComputeError("gpu: \(name) is not implemented yet")) }

    public func gatherRows(_ src: Tensor, _ indices: [Int32], into dst: Tensor) { unimplemented("gatherRows") }
    public func gemm(_ a: Tensor, transA: Bool, _ b: Tensor, transB: Bool, into c: Tensor, alpha: Float, beta: Float) { unimplemented("gemm") }
    public func addRowVector(_ x: Tensor, _ v: Tensor) { unimplemented("addRowVector") }
    public func relu(_ x: Tensor) {
        if x.count == 0 { return }
        launch("mlr_relu", grid: Dim3(gridBlocks(x.count)), block: Dim3(256), [.pointer(ptr(x)), .int64(Int64(x.count))])
    }
    public func reluBackward(_ grad: Tensor, activation: Tensor) { unimplemented("reluBackward") }
    public func sigmoid(_ x: Tensor) { unimplemented("sigmoid") }
    public func softmaxRows(_ x: Tensor) { unimplemented("softmaxRows") }
    public func logSoftmaxRows(_ x: Tensor) { unimplemented("logSoftmaxRows") }
    public func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) { unimplemented("axpy") }
    public func scale(_ x: Tensor, _ alpha: Float) { unimplemented("scale") }
    public func sub(_ a: Tensor, _ b: Tensor, into c: Tensor) { unimplemented("sub") }
    public func columnSums(_ x: Tensor, into out: Tensor) { unimplemented("columnSums") }
    public func rowArgmax(_ x: Tensor) -> [Int32] { unimplemented("rowArgmax"); return [Int32](repeating: 0, count: x.rows) }
    public func squaredDistances(_ x: Tensor, _ centers: Tensor, into d: Tensor) { unimplemented("squaredDistances") }
    public func adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, lr: Float, beta1: Float, beta2: Float,
                         eps: Float, step: Int, weightDecay: Float) { unimplemented("adamStep") }
    public func sgdStep(param: Tensor, grad: Tensor, velocity: Tensor, lr: Float, momentum: Float, weightDecay: Float) { unimplemented("sgdStep") }
    public func sumSquares(_ x: Tensor) -> Double { unimplemented("sumSquares"); return 0 }
}
