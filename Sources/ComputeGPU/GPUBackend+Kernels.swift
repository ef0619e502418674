import Compute
#if canImport(Glibc)
import Glibc
#endif

/// What a scratch device buffer is for. One buffer per purpose, grown when a larger shape
/// comes, and made again smaller when a call needs much less than a large one holds
/// (`GPUBackend.scratch`).
enum Scratch: Hashable {
    case indices, gatherError, splitK, columnPartials, rowInts, rowFloats, rowNorms, centerNorms, distances,
         sumSquares, adamTable, labels, linearModel, logits, logitDelta, xentPartials, gradient,
         clusterOrder, clusterPartials
}

// MARK: Launch plumbing

extension GPUBackend {
    /// Threads per block of every kernel (a multiple of 32: the row kernels run a warp a row).
    static let blockThreads = 256
    /// Rows a block of a column sum's first pass sums (then the blocks are added in order).
    static let columnSumRowBlock = 64
    /// Column sums of at most this many rows run in one launch (`mlr_col_sums_small`).
    static let columnSumSmallRows = 1024
    /// Values a block of `sumSquares` sums (the host adds the blocks' sums in order).
    static let sumSquaresBlock = 1 << 16

    /// A buffer of at least this many bytes is made again smaller when a call (not being
    /// recorded) needs less than a `scratchShrinkFactor`th of it.
    static let scratchShrinkBytes = 16 << 20
    static let scratchShrinkFactor = 4

    /// A scratch buffer of at least `bytes` (> 0) for `purpose`. Caller holds `opLock`.
    /// Growing drops the old buffer, which is freed (waiting for the work queued on it) once
    /// no recorded step holds it; so does shrinking, when a buffer of at least
    /// `scratchShrinkBytes` is more than `scratchShrinkFactor` times the request (say
    /// nearestCenters over a million rows, then small calls). While `recordStep` records, the
    /// buffer is kept for the recording (never shrunk); making one then is refused
    /// (`recordStep`'s contract: run the step once before recording it).
    func scratch(_ purpose: Scratch, bytes: Int) throws -> DevicePointer {
        precondition(bytes > 0, "scratch of \(bytes) bytes")
        if let b = scratchBuffers[purpose], b.bytes >= bytes {
            if recordingBuffers != nil { b.recorded = true; recordingBuffers!.append(b); return b.pointer }
            let oversized = b.bytes >= GPUBackend.scratchShrinkBytes && b.bytes / GPUBackend.scratchShrinkFactor > bytes
            if !oversized { return b.pointer }
        }
        if recordingBuffers != nil {
            throw ComputeError("gpu: recordStep: a scratch buffer would have to be made while recording (run the step once first)")
        }
        scratchBuffers[purpose] = nil
        // What the old buffer held is gone with it (a new one may even get its address).
        if purpose == .adamTable { adamTableOnDevice = [] }
        if purpose == .labels { labelsOnDevice = ([], .null, 0) }
        // Round up (a little headroom, so a slowly growing shape does not reallocate each call).
        let size = max(256, bytes + bytes / 4)
        let p = try device.allocate(size)
        scratchBuffers[purpose] = ScratchBuffer(pointer: p, bytes: size, device: device)
        return p
    }

    /// The device error flag that gathers with device-resident indices (1) and Adam with a
    /// step counter (2) set (one int, zeroed when made). Caller holds `opLock`.
    func gatherErrorFlag() throws -> DevicePointer {
        if scratchBuffers[.gatherError] == nil {
            let p = try scratch(.gatherError, bytes: 4)
            try device.zero(p, bytes: 4)
            return p
        }
        return try scratch(.gatherError, bytes: 4)
    }

    /// Reads (and clears) the flag a device-index gather sets on an index out of range (or
    /// Adam on a step below 1); the caller has just waited for the device. Caller holds `opLock`.
    func readGatherFlag() {
        guard gatherFlagPending, !failed, let b = scratchBuffers[.gatherError] else { return }
        gatherFlagPending = false
        var flag: Int32 = 0
        run { try withUnsafeMutableBytes(of: &flag) { try device.copy(toHost: $0, from: b.pointer) } }
        if flag != 0 {
            run { try device.zero(b.pointer, bytes: 4) }
            fail(ComputeError(flag == 2 ? "gpu: adamStep(stepCounter:): step counter below 1"
                                        : "gpu: gatherRows: index out of range"))
        }
    }

    /// Blocks for a warp-a-row kernel over `rows` rows.
    func rowWarpBlocks(_ rows: Int) -> Int {
        max(1, min(maxGridBlocks, (rows + GPUBackend.blockThreads / 32 - 1) / (GPUBackend.blockThreads / 32)))
    }

    func grid(_ n: Int) -> Dim3 { Dim3(gridBlocks(n, threads: GPUBackend.blockThreads)) }
    var block: Dim3 { Dim3(GPUBackend.blockThreads) }

    static func int32(_ v: Int, _ what: String) -> Int32 {
        precondition(v >= 0 && v <= Int(Int32.max), "gpu: \(what) \(v) does not fit the kernels' 32-bit sizes")
        return Int32(v)
    }
}

// MARK: Gathers

extension GPUBackend {
    /// Indices are checked on the host (an index out of range fails the backend with
    /// "gpu: gatherRows: index out of range" and nothing runs), then copied to a reusable
    /// scratch buffer and gathered on the device.
    public func gatherRows(_ src: Tensor, _ indices: [Int32], into dst: Tensor) {
        precondition(src.cols == dst.cols && indices.count <= dst.rows, "gatherRows: shape mismatch")
        if indices.isEmpty || src.cols == 0 { return }
        let srcRows = src.rows
        for i in indices where i < 0 || Int(i) >= srcRows {
            fail(ComputeError("gpu: gatherRows: index \(i) out of range 0..<\(srcRows)"))
            return
        }
        opLock.withLock {
            run {
                let idx = try scratch(.indices, bytes: indices.count * 4)
                try indices.withUnsafeBytes { try device.copy(toDevice: idx, from: $0) }
                try launchGather(src, idx, rows: indices.count, into: dst)
            }
        }
    }

    /// The indices as Int32 in device memory (a 1×n tensor of their bit patterns).
    public func uploadIndices(_ indices: [Int32]) -> Tensor {
        let t = allocate(rows: 1, cols: indices.count, zero: false)
        if !indices.isEmpty { run { try indices.withUnsafeBytes { try device.copy(toDevice: ptr(t), from: $0) } } }
        return t
    }

    /// Entirely on the device: indices out of range of src give rows of zeros and fail the
    /// backend at the next wait (download, synchronize, or an operation returning host values).
    public func gatherRows(_ src: Tensor, indices: Tensor, offset: Int, count: Int, into dst: Tensor) {
        precondition(offset >= 0 && count >= 0 && offset + count <= indices.count, "gatherRows: index range out of bounds")
        precondition(src.cols == dst.cols && count <= dst.rows, "gatherRows: shape mismatch")
        if count == 0 || src.cols == 0 { return }
        opLock.withLock {
            run { try launchGather(src, ptr(indices).advanced(by: offset * 4), rows: count, into: dst) }
            gatherFlagPending = true
        }
    }

    public func uploadIndices(_ indices: [Int32], into t: Tensor) {
        precondition(indices.count == t.count, "uploadIndices(into:): \(indices.count) indices for \(t.count) elements")
        if indices.isEmpty { return }
        run { try indices.withUnsafeBytes { try device.copy(toDevice: ptr(t), from: $0) } }
    }

    /// Entirely on the device, the offset read from `cursor` by the kernel: an offset out of
    /// range of `indices` (or an index out of range of src) gives rows of zeros and fails the
    /// backend at the next wait.
    public func gatherRows(_ src: Tensor, indices: Tensor, cursor: Tensor, count: Int, into dst: Tensor) {
        precondition(cursor.count == 1, "gatherRows(cursor:): the cursor is \(cursor.rows)×\(cursor.cols), not 1×1")
        precondition(count >= 0 && count <= indices.count, "gatherRows(cursor:): \(count) rows from \(indices.count) indices")
        precondition(src.cols == dst.cols && count <= dst.rows, "gatherRows: shape mismatch")
        if count == 0 || src.cols == 0 { return }
        opLock.withLock {
            run {
                let flag = try gatherErrorFlag()
                try device.launch("mlr_gather_rows_cursor", grid: grid(count * src.cols), block: block,
                                  [.pointer(ptr(src)), .pointer(ptr(indices)), .pointer(ptr(cursor)), .pointer(ptr(dst)),
                                   .int64(Int64(count)), .int32(GPUBackend.int32(src.cols, "columns")), .int64(Int64(src.rows)),
                                   .int64(Int64(indices.count)), .pointer(flag)])
            }
            gatherFlagPending = true
        }
    }

    /// One thread on the device.
    public func advance(_ counter: Tensor, by: Int) {
        precondition(counter.count == 1, "advance: the counter is \(counter.rows)×\(counter.cols), not 1×1")
        precondition(by >= Int(Int32.min) && by <= Int(Int32.max), "advance: \(by) does not fit 32 bits")
        launch("mlr_advance", grid: Dim3(1), block: Dim3(32), [.pointer(ptr(counter)), .int32(Int32(by))])
    }

    /// Caller holds `opLock`.
    private func launchGather(_ src: Tensor, _ idx: DevicePointer, rows: Int, into dst: Tensor) throws {
        let flag = try gatherErrorFlag()
        try device.launch("mlr_gather_rows", grid: grid(rows * src.cols), block: block,
                          [.pointer(ptr(src)), .pointer(idx), .pointer(ptr(dst)), .int64(Int64(rows)),
                           .int32(GPUBackend.int32(src.cols, "columns")), .int64(Int64(src.rows)), .pointer(flag)])
    }
}

// MARK: GEMM

extension GPUBackend {
    /// Splits of k for a GEMM with few output tiles and a long k: (chunk, splits), chosen from
    /// the shapes alone. Each split sums a fixed chunk of k (a multiple of 16); the chunks are
    /// added in order by `mlr_gemm_reduce`.
    static func splitK(m: Int, n: Int, k: Int) -> (chunk: Int, splits: Int) {
        let tiles = ((m + 63) / 64) * ((n + 63) / 64)
        guard tiles < 64 && k > 512 else { return (max(k, 1), 1) }
        let want = min((k + 255) / 256, (128 + tiles - 1) / tiles)
        if want <= 1 { return (max(k, 1), 1) }
        let chunk = ((k + want - 1) / want + 15) / 16 * 16
        return (chunk, (k + chunk - 1) / chunk)
    }

    /// The GEMM kernels and when each runs.
    enum GEMMKernel: Equatable {
        /// `mlr_gemm`: 64×64 tiles (split-K when there are few tiles and a long k).
        case tiled
        /// `mlr_gemm_small_n`: a thread a row, for n ≤ 16.
        case smallN
        /// `mlr_gemm_small_k`: a thread an element, for k ≤ 16.
        case smallK
    }

    /// Widest output `mlr_gemm_small_n` takes, and the longest k `mlr_gemm_small_k` takes.
    static let gemmSmallN = 16, gemmSmallK = 16
    /// Rows and columns the GEMM takes: its tile arithmetic (m0 + 63) stays in an int.
    static let gemmMaxSide = Int(Int32.max) - 64

    /// The kernel for a shape, from the shapes alone. Every kernel sums each element from 0
    /// over k in increasing order with one FMA a step, so without split-K they give the same
    /// bits; the small kernels run only where the tiled one would not split k.
    static func gemmKernel(m: Int, n: Int, k: Int) -> GEMMKernel {
        if splitK(m: m, n: n, k: k).splits > 1 { return .tiled }
        if n <= gemmSmallN { return .smallN }
        if k <= gemmSmallK { return .smallK }
        return .tiled
    }

    /// c (m×n) = epilogue(op(a)·op(b)). Caller holds `opLock`. `kernel` (for the tests)
    /// overrides `gemmKernel`'s choice.
    func gemmLocked(a: DevicePointer, lda: Int, transA: Bool, b: DevicePointer, ldb: Int, transB: Bool,
                    c: DevicePointer, m: Int, n: Int, k: Int, alpha: Float, beta: Float,
                    bias: DevicePointer?, relu: Bool, kernel chosen: GEMMKernel? = nil) throws {
        if m == 0 || n == 0 { return }
        precondition(m <= GPUBackend.gemmMaxSide && n <= GPUBackend.gemmMaxSide,
                     "gpu: GEMM of \(m)×\(n): rows and columns are limited to \(GPUBackend.gemmMaxSide)")
        let flags: Int32 = (bias != nil ? 1 : 0) | (relu ? 2 : 0)
        let i32 = GPUBackend.int32
        let kernel = chosen ?? GPUBackend.gemmKernel(m: m, n: n, k: k)
        precondition(kernel != .smallN || n <= GPUBackend.gemmSmallN, "gemm: mlr_gemm_small_n takes at most \(GPUBackend.gemmSmallN) columns")
        if kernel != .tiled {
            let rowsGrid = kernel == .smallN ? Dim3(max(1, min(maxGridBlocks, (m + 255) / 256))) : grid(m * n)
            try device.launch(kernel == .smallN ? "mlr_gemm_small_n" : "mlr_gemm_small_k", grid: rowsGrid, block: block,
                              [.pointer(k > 0 ? a : .null), .pointer(k > 0 ? b : .null), .pointer(c), .pointer(bias ?? .null),
                               .int32(i32(m, "rows")), .int32(i32(n, "columns")), .int32(i32(k, "inner size")),
                               .int32(i32(lda, "leading dimension")), .int32(i32(ldb, "leading dimension")),
                               .int32(transA ? 1 : 0), .int32(transB ? 1 : 0), .float(alpha), .float(beta), .int32(flags)])
            return
        }
        let (chunk, splits) = GPUBackend.splitK(m: m, n: n, k: k)
        let tiles = ((m + 63) / 64) * ((n + 63) / 64)
        let part = try splits > 1 ? scratch(.splitK, bytes: splits * m * n * 4) : c
        try device.launch("mlr_gemm", grid: Dim3(max(1, min(maxGridBlocks, tiles * splits))), block: Dim3(256),
                          [.pointer(k > 0 ? a : .null), .pointer(k > 0 ? b : .null), .pointer(part), .pointer(bias ?? .null),
                           .int32(i32(m, "rows")), .int32(i32(n, "columns")), .int32(i32(k, "inner size")),
                           .int32(i32(lda, "leading dimension")), .int32(i32(ldb, "leading dimension")),
                           .int32(transA ? 1 : 0), .int32(transB ? 1 : 0), .float(alpha), .float(beta), .int32(flags),
                           .int32(i32(chunk, "chunk")), .int32(Int32(splits))])
        if splits > 1 {
            try device.launch("mlr_gemm_reduce", grid: grid(m * n), block: block,
                              [.pointer(part), .pointer(c), .pointer(bias ?? .null), .int32(Int32(m)), .int32(Int32(n)),
                               .int32(Int32(splits)), .float(alpha), .float(beta), .int32(flags)])
        }
    }

    /// A shared-memory tiled GEMM (64×64 tiles, 4×4 a thread), each element summed over k in
    /// order with one FMA a step (split-K in fixed chunks, added in order, when there are few
    /// tiles and a long k); narrow outputs (n ≤ 16) and short sums (k ≤ 16) go to kernels of
    /// their own that sum in the same order (`gemmKernel`). Agrees with the CPU within a
    /// tolerance, with itself bit for bit.
    public func gemm(_ a: Tensor, transA: Bool, _ b: Tensor, transB: Bool, into c: Tensor, alpha: Float, beta: Float) {
        let (m, n, k) = gemmShape(a, transA: transA, b, transB: transB, c)
        if m == 0 || n == 0 { return }
        opLock.withLock {
            run {
                try gemmLocked(a: ptr(a), lda: a.cols, transA: transA, b: ptr(b), ldb: b.cols, transB: transB,
                               c: ptr(c), m: m, n: n, k: k, alpha: alpha, beta: beta, bias: nil, relu: false)
            }
        }
    }

    /// The GEMM with alpha and the bias in its epilogue (one launch).
    public func linear(_ x: Tensor, _ w: Tensor, transW: Bool, bias: Tensor?, alpha: Float, into y: Tensor) {
        let (m, n, k) = linearShape(x, w, transW: transW, bias: bias, y)
        if m == 0 || n == 0 { return }
        opLock.withLock {
            run {
                try gemmLocked(a: ptr(x), lda: k, transA: false, b: ptr(w), ldb: w.cols, transB: transW, c: ptr(y),
                               m: m, n: n, k: k, alpha: alpha, beta: 0, bias: bias.map { ptr($0) }, relu: false)
            }
        }
    }

    /// y = x·w + bias, ReLU: one GEMM launch, the bias and ReLU in its epilogue.
    public func dense(_ x: Tensor, _ w: Tensor, bias: Tensor?, relu doRelu: Bool, into y: Tensor) {
        let m = x.rows, k = x.cols, n = w.cols
        precondition(w.rows == k && y.rows == m && y.cols == n && (bias == nil || bias!.count == n),
                     "dense: x \(m)×\(k), w \(w.rows)×\(w.cols), y \(y.rows)×\(y.cols), bias \(bias?.count ?? 0)")
        precondition(y.storage !== x.storage && y.storage !== w.storage, "dense: y must not alias x or w")
        if m == 0 || n == 0 { return }
        opLock.withLock {
            run {
                try gemmLocked(a: ptr(x), lda: k, transA: false, b: ptr(w), ldb: n, transB: false, c: ptr(y),
                               m: m, n: n, k: k, alpha: 1, beta: 0, bias: bias.map { ptr($0) }, relu: doRelu)
            }
        }
    }
}

// MARK: Elementwise and rows

extension GPUBackend {
    /// An elementwise kernel over n elements: `args` then the count.
    func elementwise(_ kernel: String, _ n: Int, _ args: [KernelArgument]) {
        if n == 0 { return }
        launch(kernel, grid: grid(n), block: block, args + [.int64(Int64(n))])
    }

    public func relu(_ x: Tensor) { elementwise("mlr_relu", x.count, [.pointer(ptr(x))]) }

    public func reluBackward(_ grad: Tensor, activation: Tensor) {
        precondition(grad.count == activation.count, "reluBackward: shape mismatch")
        elementwise("mlr_relu_backward", grad.count, [.pointer(ptr(grad)), .pointer(ptr(activation))])
    }

    public func sigmoid(_ x: Tensor) { elementwise("mlr_sigmoid", x.count, [.pointer(ptr(x))]) }

    public func addRowVector(_ x: Tensor, _ v: Tensor) {
        precondition(v.count == x.cols, "addRowVector: vector of \(v.count) for \(x.cols) columns")
        if x.count == 0 { return }
        launch("mlr_add_row", grid: grid(x.count), block: block,
               [.pointer(ptr(x)), .pointer(ptr(v)), .int64(Int64(x.rows)), .int32(GPUBackend.int32(x.cols, "columns"))])
    }

    public func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) {
        precondition(x.count == y.count, "axpy: shape mismatch")
        if x.count == 0 { return }
        launch("mlr_axpy", grid: grid(x.count), block: block, [.float(alpha), .pointer(ptr(x)), .pointer(ptr(y)), .int64(Int64(x.count))])
    }

    public func scale(_ x: Tensor, _ alpha: Float) {
        if x.count == 0 { return }
        launch("mlr_scale", grid: grid(x.count), block: block, [.pointer(ptr(x)), .float(alpha), .int64(Int64(x.count))])
    }

    public func sub(_ a: Tensor, _ b: Tensor, into c: Tensor) {
        precondition(a.count == b.count && a.count == c.count, "sub: shape mismatch")
        elementwise("mlr_sub", a.count, [.pointer(ptr(a)), .pointer(ptr(b)), .pointer(ptr(c))])
    }

    func softmaxLaunch(_ x: Tensor, mode: Int32) {
        if x.rows == 0 || x.cols == 0 { return }
        launch("mlr_softmax_rows", grid: Dim3(rowWarpBlocks(x.rows)), block: block,
               [.pointer(ptr(x)), .int64(Int64(x.rows)), .int32(GPUBackend.int32(x.cols, "columns")), .int32(mode)])
    }

    public func softmaxRows(_ x: Tensor) { softmaxLaunch(x, mode: 0) }
    public func logSoftmaxRows(_ x: Tensor) { softmaxLaunch(x, mode: 1) }

    /// One launch: softmax of z's rows (in place) and delta = (p − y)·scale, or without softmax
    /// delta = (z − y)·scale.
    public func outputDelta(_ z: Tensor, softmax: Bool, targets y: Tensor, scale s: Float, into delta: Tensor) {
        precondition(z.count == y.count && z.count == delta.count && z.cols == y.cols, "outputDelta: shape mismatch")
        if z.count == 0 { return }
        if softmax {
            launch("mlr_softmax_delta", grid: Dim3(rowWarpBlocks(z.rows)), block: block,
                   [.pointer(ptr(z)), .pointer(ptr(y)), .pointer(ptr(delta)), .int64(Int64(z.rows)),
                    .int32(GPUBackend.int32(z.cols, "columns")), .float(s)])
        } else {
            launch("mlr_delta", grid: grid(z.count), block: block,
                   [.pointer(ptr(z)), .pointer(ptr(y)), .pointer(ptr(delta)), .float(s), .int64(Int64(z.count))])
        }
    }

    /// Up to `columnSumSmallRows` rows: one launch, eight interleaved row groups a column
    /// meeting in a fixed tree. More: fixed blocks of 64 rows (each column summed in row
    /// order), then the blocks in order. No atomics; the same bits whatever the grid.
    public func columnSums(_ x: Tensor, into out: Tensor) {
        precondition(out.count == x.cols, "columnSums: output of \(out.count) for \(x.cols) columns")
        let rows = x.rows, cols = x.cols
        if cols == 0 { return }
        if rows == 0 { run { try device.zero(ptr(out), bytes: cols * 4) }; return }
        if rows <= GPUBackend.columnSumSmallRows {
            launch("mlr_col_sums_small", grid: Dim3(max(1, min(maxGridBlocks, (cols + 31) / 32))), block: Dim3(256),
                   [.pointer(ptr(x)), .pointer(ptr(out)), .int64(Int64(rows)), .int32(GPUBackend.int32(cols, "columns"))])
            return
        }
        let rb = GPUBackend.columnSumRowBlock
        let blocks = (rows + rb - 1) / rb
        let c32 = GPUBackend.int32(cols, "columns")
        opLock.withLock {
            run {
                let part = try blocks == 1 ? ptr(out) : scratch(.columnPartials, bytes: blocks * cols * 4)
                try device.launch("mlr_col_sums_partial", grid: grid(blocks * cols), block: block,
                                  [.pointer(ptr(x)), .pointer(part), .int64(Int64(rows)), .int32(c32), .int32(Int32(rb))])
                if blocks > 1 {
                    try device.launch("mlr_col_sums_final", grid: grid(cols), block: block,
                                      [.pointer(part), .pointer(ptr(out)), .int32(GPUBackend.int32(blocks, "blocks")), .int32(c32)])
                }
            }
        }
    }

    /// Copies `count` Int32 from device memory (waits). Caller holds `opLock`.
    func downloadInts(_ p: DevicePointer, _ count: Int) throws -> [Int32] {
        var out = [Int32](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try device.copy(toHost: $0, from: p) }
        return out
    }

    public func rowArgmax(_ x: Tensor) -> [Int32] {
        let rows = x.rows
        if rows == 0 { return [] }
        if x.cols == 0 { return [Int32](repeating: 0, count: rows) }
        var out = [Int32](repeating: 0, count: rows)
        opLock.withLock {
            run {
                let o = try scratch(.rowInts, bytes: rows * 4)
                try device.launch("mlr_row_argmax", grid: grid(rows), block: block,
                                  [.pointer(ptr(x)), .pointer(o), .int64(Int64(rows)), .int32(GPUBackend.int32(x.cols, "columns"))])
                out = try downloadInts(o, rows)
            }
            readGatherFlag()
        }
        return failed ? [Int32](repeating: 0, count: rows) : out
    }
}

// MARK: Distances

extension GPUBackend {
    /// d = −2·x·cᵀ by the GEMM, then (‖x_i‖² + ‖c_j‖²) + d clamped at 0, the norms as the
    /// CPU computes them. Caller holds `opLock`.
    func squaredDistancesLocked(_ x: Tensor, _ centers: Tensor, into d: DevicePointer) throws {
        let n = x.rows, k = centers.rows, dim = x.cols
        try gemmLocked(a: ptr(x), lda: dim, transA: false, b: ptr(centers), ldb: dim, transB: true, c: d,
                       m: n, n: k, k: dim, alpha: -2, beta: 0, bias: nil, relu: false)
        let xn = try scratch(.rowNorms, bytes: n * 4), cn = try scratch(.centerNorms, bytes: k * 4)
        let d32 = GPUBackend.int32(dim, "columns")
        try device.launch("mlr_row_sqnorms", grid: grid(n), block: block,
                          [.pointer(dim > 0 ? ptr(x) : .null), .pointer(xn), .int64(Int64(n)), .int32(d32)])
        try device.launch("mlr_row_sqnorms", grid: grid(k), block: block,
                          [.pointer(dim > 0 ? ptr(centers) : .null), .pointer(cn), .int64(Int64(k)), .int32(d32)])
        try device.launch("mlr_sqdist_finish", grid: grid(n * k), block: block,
                          [.pointer(d), .pointer(xn), .pointer(cn), .int64(Int64(n)), .int32(GPUBackend.int32(k, "centers"))])
    }

    public func squaredDistances(_ x: Tensor, _ centers: Tensor, into d: Tensor) {
        precondition(x.cols == centers.cols && d.rows == x.rows && d.cols == centers.rows,
                     "squaredDistances: x \(x.rows)×\(x.cols), centers \(centers.rows)×\(centers.cols), d \(d.rows)×\(d.cols)")
        if x.rows == 0 || centers.rows == 0 { return }
        opLock.withLock { run { try squaredDistancesLocked(x, centers, into: ptr(d)) } }
    }

    /// The distances into a scratch matrix, then a first-on-ties argmin a row on the device;
    /// only the labels and distances come back.
    public func nearestCenters(_ x: Tensor, _ centers: Tensor) -> (labels: [Int32], distances: [Float]) {
        precondition(x.cols == centers.cols, "nearestCenters: x has \(x.cols) columns, centers \(centers.cols)")
        let n = x.rows, k = centers.rows
        var labels = [Int32](repeating: 0, count: n), dist = [Float](repeating: 0, count: n)
        if n == 0 || k == 0 { return (labels, dist) }
        opLock.withLock {
            run {
                let d = try scratch(.distances, bytes: n * k * 4)
                try squaredDistancesLocked(x, centers, into: d)
                let lp = try scratch(.rowInts, bytes: n * 4), dp = try scratch(.rowFloats, bytes: n * 4)
                try device.launch("mlr_row_argmin", grid: grid(n), block: block,
                                  [.pointer(d), .pointer(lp), .pointer(dp), .int64(Int64(n)), .int32(GPUBackend.int32(k, "centers"))])
                labels = try downloadInts(lp, n)
                try dist.withUnsafeMutableBytes { try device.copy(toHost: $0, from: dp) }
            }
            readGatherFlag()
        }
        if failed { return ([Int32](repeating: 0, count: n), [Float](repeating: 0, count: n)) }
        return (labels, dist)
    }
}

// MARK: Cluster sums

extension GPUBackend {
    /// Rows a block of a cluster's sum takes (then the blocks are added in order).
    static let clusterSumBlock = 1024

    /// On the device, without copying x back: the host orders the row indices by cluster
    /// (a stable counting sort) and cuts each cluster's rows into fixed blocks of 1024; the
    /// device sums each block's columns in row order in Double; the host adds a cluster's
    /// blocks in order. Labels out of 0..<k fail the backend.
    public func clusterSums(_ x: Tensor, labels: [Int32], k: Int) -> (sums: [Double], counts: [Int]) {
        let n = x.rows, d = x.cols
        precondition(labels.count == n, "clusterSums: \(labels.count) labels for \(n) rows")
        var sums = [Double](repeating: 0, count: k * d), counts = [Int](repeating: 0, count: k)
        for c in labels {
            guard c >= 0 && Int(c) < k else {
                fail(ComputeError("gpu: clusterSums: label \(c) out of range 0..<\(k)"))
                return (sums, counts)
            }
            counts[Int(c)] += 1
        }
        if n == 0 || d == 0 { return (sums, counts) }
        var start = [Int](repeating: 0, count: k + 1)
        for c in 0..<k { start[c + 1] = start[c] + counts[c] }
        var order = [Int32](repeating: 0, count: n), next = start
        for i in 0..<n { let c = Int(labels[i]); order[next[c]] = Int32(i); next[c] += 1 }
        let bs = GPUBackend.clusterSumBlock
        var table: [Int32] = [], cluster: [Int] = []
        for c in 0..<k {
            var s = start[c]
            while s < start[c + 1] {
                let len = min(bs, start[c + 1] - s)
                table += [Int32(s), Int32(len), Int32(c)]
                cluster.append(c)
                s += len
            }
        }
        let nb = cluster.count
        var part = [Double](repeating: 0, count: nb * d)
        opLock.withLock {
            run {
                let o = try scratch(.clusterOrder, bytes: (n + table.count) * 4)
                try order.withUnsafeBytes { try device.copy(toDevice: o, from: $0) }
                let t = o.advanced(by: n * 4)
                try table.withUnsafeBytes { try device.copy(toDevice: t, from: $0) }
                let p = try scratch(.clusterPartials, bytes: nb * d * 8)
                try device.launch("mlr_cluster_sums_partial", grid: grid(nb * d), block: block,
                                  [.pointer(ptr(x)), .pointer(o), .pointer(t), .pointer(p),
                                   .int32(GPUBackend.int32(nb, "blocks")), .int32(GPUBackend.int32(d, "columns"))])
                try part.withUnsafeMutableBytes { try device.copy(toHost: $0, from: p) }
            }
            readGatherFlag()
        }
        if failed { return ([Double](repeating: 0, count: k * d), counts) }
        for b in 0..<nb {
            let c = cluster[b]
            for j in 0..<d { sums[c * d + j] += part[b * d + j] }
        }
        return (sums, counts)
    }
}

// MARK: Optimizers and sums

extension GPUBackend {
    /// The step's scalars, computed on the host exactly as `CPUBackend.adamStep` does.
    struct AdamScalars {
        let negStep: Float, bc2Sqrt: Float, beta2: Float, w1: Float, omw1: Float, w2: Float, eps: Float, lerpLow: Int32
        init(lr: Float, beta1: Float, beta2: Float, eps: Float, step: Int) {
            precondition(step >= 1, "adamStep: step counts from 1")
            let bc1 = 1 - pow(Double(beta1), Double(step))
            let bc2 = 1 - pow(Double(beta2), Double(step))
            negStep = Float(-(Double(lr) / bc1))
            bc2Sqrt = Float(bc2.squareRoot())
            self.beta2 = beta2
            w1 = 1 - beta1
            omw1 = 1 - w1
            w2 = 1 - beta2
            self.eps = eps
            lerpLow = abs(w1) < 0.5 ? 1 : 0
        }
        var arguments: [KernelArgument] {
            [.float(negStep), .float(bc2Sqrt), .float(beta2), .float(w1), .float(omw1), .float(w2), .float(eps), .int32(lerpLow)]
        }
    }

    public func adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, lr: Float, beta1: Float, beta2: Float,
                         eps: Float, step: Int, weightDecay: Float) {
        let count = param.count
        precondition(grad.count == count && m.count == count && v.count == count, "adamStep: shape mismatch")
        let s = AdamScalars(lr: lr, beta1: beta1, beta2: beta2, eps: eps, step: step)
        if count == 0 { return }
        launch("mlr_adam", grid: grid(count), block: block,
               [.pointer(ptr(param)), .pointer(ptr(grad)), .pointer(ptr(m)), .pointer(ptr(v)), .int64(Int64(count)),
                .float(weightDecay)] + s.arguments)
    }

    /// Every parameter in one launch: a table of (p, g, m, v, count, weight decay) in device
    /// memory, uploaded when it differs from the one already there (the same tensors step
    /// after step: uploaded once).
    public func adamStep(params: [Tensor], grads: [Tensor], m: [Tensor], v: [Tensor], lr: Float, beta1: Float,
                         beta2: Float, eps: Float, step: Int, weightDecay: [Float]) {
        let s = AdamScalars(lr: lr, beta1: beta1, beta2: beta2, eps: eps, step: step)
        opLock.withLock {
            let (table, largest) = cachedAdamTable(params: params, grads: grads, m: m, v: v, weightDecay: weightDecay)
            if table.isEmpty { return }
            run {
                let dt = try uploadAdamTable(table)
                try device.launch("mlr_adam_multi", grid: grid(largest), block: block,
                                  [.pointer(dt), .int32(Int32(table.count / 12))] + s.arguments)
            }
        }
    }

    /// As the step form, in one launch (`mlr_adam_multi_step`): the step is read from the
    /// counter and the bias corrections computed on the device (see the kernel for how they
    /// may differ from the host's: one Float ulp in −lr/bc1 or √bc2 at most). A counter below
    /// 1 updates nothing and fails the backend at the next wait.
    public func adamStep(params: [Tensor], grads: [Tensor], m: [Tensor], v: [Tensor], lr: Float, beta1: Float,
                         beta2: Float, eps: Float, stepCounter: Tensor, weightDecay: [Float]) {
        precondition(stepCounter.count == 1, "adamStep: the step counter is \(stepCounter.rows)×\(stepCounter.cols), not 1×1")
        opLock.withLock {
            let (table, largest) = cachedAdamTable(params: params, grads: grads, m: m, v: v, weightDecay: weightDecay)
            if table.isEmpty { return }
            run {
                let dt = try uploadAdamTable(table)
                let flag = try gatherErrorFlag()
                try device.launch("mlr_adam_multi_step", grid: grid(largest), block: block,
                                  [.pointer(dt), .int32(Int32(table.count / 12)), .pointer(ptr(stepCounter)), .float(lr),
                                   .float(beta1), .float(beta2), .float(eps), .pointer(flag)])
            }
            gatherFlagPending = true
        }
    }

    /// The table on the device (`Scratch.adamTable`), uploaded unless it is already there. A
    /// buffer a recorded step reads is never overwritten: a different table goes into a fresh
    /// one. Caller holds `opLock`.
    func uploadAdamTable(_ table: [UInt32]) throws -> DevicePointer {
        if table != adamTableOnDevice, let b = scratchBuffers[.adamTable], b.recorded { scratchBuffers[.adamTable] = nil }
        let dt = try scratch(.adamTable, bytes: table.count * 4)
        if table != adamTableOnDevice {
            adamTableOnDevice = []
            try table.withUnsafeBytes { try device.copy(toDevice: dt, from: $0) }
            adamTableOnDevice = table
        }
        return dt
    }

    /// `adamTable`, reused while the same tensors (by identity: a tensor's shape is fixed) and weight
    /// decays come: a repeated call compares and allocates nothing. Caller holds `opLock`.
    func cachedAdamTable(params: [Tensor], grads: [Tensor], m: [Tensor], v: [Tensor], weightDecay: [Float]) -> ([UInt32], Int) {
        if let c = adamTableCache, c.tensors.count == 4 * params.count, grads.count == params.count, m.count == params.count,
           v.count == params.count, weightDecay.count == params.count {
            var same = true
            for i in params.indices {
                let t = c.tensors
                if t[4 * i] !== params[i] || t[4 * i + 1] !== grads[i] || t[4 * i + 2] !== m[i] || t[4 * i + 3] !== v[i]
                    || c.weightDecay[i].bitPattern != weightDecay[i].bitPattern {
                    same = false
                    break
                }
            }
            if same { return (c.table, c.largest) }
        }
        let (table, largest) = adamTable(params: params, grads: grads, m: m, v: v, weightDecay: weightDecay)
        var tensors: [Tensor] = []
        tensors.reserveCapacity(4 * params.count)
        for i in params.indices { tensors += [params[i], grads[i], m[i], v[i]] }
        adamTableCache = (tensors, weightDecay, table, largest)
        return (table, largest)
    }

    /// The multi-tensor Adam table (12 words a non-empty tensor, see `mlr_adam_multi`) and
    /// the largest tensor's size.
    func adamTable(params: [Tensor], grads: [Tensor], m: [Tensor], v: [Tensor], weightDecay: [Float]) -> ([UInt32], Int) {
        precondition(grads.count == params.count && m.count == params.count && v.count == params.count
                     && weightDecay.count == params.count, "adamStep: one grad, m, v and weight decay per parameter")
        var table: [UInt32] = []
        table.reserveCapacity(12 * params.count)
        var largest = 0
        for i in params.indices {
            let n = params[i].count
            precondition(grads[i].count == n && m[i].count == n && v[i].count == n, "adamStep: shape mismatch (parameter \(i))")
            if n == 0 { continue }
            largest = max(largest, n)
            for t in [params[i], grads[i], m[i], v[i]] {
                let a = ptr(t).address
                table += [UInt32(truncatingIfNeeded: a), UInt32(truncatingIfNeeded: a >> 32)]
            }
            table += [UInt32(truncatingIfNeeded: n), UInt32(truncatingIfNeeded: n >> 32), weightDecay[i].bitPattern, 0]
        }
        return (table, largest)
    }

    public func sgdStep(param: Tensor, grad: Tensor, velocity: Tensor, lr: Float, momentum: Float, weightDecay: Float) {
        let count = param.count
        precondition(grad.count == count && velocity.count == count, "sgdStep: shape mismatch")
        if count == 0 { return }
        launch("mlr_sgd", grid: grid(count), block: block,
               [.pointer(ptr(param)), .pointer(ptr(grad)), .pointer(ptr(velocity)), .int64(Int64(count)),
                .float(lr), .float(momentum), .float(weightDecay)])
    }

    /// Fixed blocks of 65,536 values summed on the device in Double (a fixed tree), the blocks'
    /// sums added on the host in order.
    public func sumSquares(_ x: Tensor) -> Double {
        let n = x.count
        if n == 0 { return 0 }
        let bs = GPUBackend.sumSquaresBlock
        let blocks = (n + bs - 1) / bs
        var partial = [Double](repeating: 0, count: blocks)
        opLock.withLock {
            run {
                let p = try scratch(.sumSquares, bytes: blocks * 8)
                try device.launch("mlr_sum_squares_partial", grid: Dim3(max(1, min(maxGridBlocks, blocks))), block: Dim3(256),
                                  [.pointer(ptr(x)), .pointer(p), .int64(Int64(n)), .int32(Int32(bs))])
                try partial.withUnsafeMutableBytes { try device.copy(toHost: $0, from: p) }
            }
            readGatherFlag()
        }
        if failed { return 0 }
        var s = 0.0
        for v in partial { s += v }
        return s
    }
}

// MARK: Softmax regression

extension GPUBackend {
    /// On the device: logits by the GEMM, then one thread a row for the softmax, loss and
    /// p − e_label in Double (the CPU's arithmetic), summed over fixed chunks of 256 rows by
    /// fixed trees (the host adds the chunks in order), then gradW = xᵀ·(P − Y) by the GEMM
    /// (fixed split-K). Only W, b and (when they change) the labels go up; the chunk sums and
    /// gradW come back. Labels out of 0..<k fail the backend.
    public func softmaxLinearGradient(_ x: Tensor, weights: [Float], bias: [Float], classes k: Int,
                                      labels: [Int32]) -> (loss: Double, gradW: [Double], gradB: [Double]) {
        let n = x.rows, m = x.cols
        precondition(weights.count == m * k && bias.count == k && labels.count == n, "softmaxLinearGradient: shapes")
        var loss = 0.0
        var gradW = [Double](repeating: 0, count: m * k), gradB = [Double](repeating: 0, count: k)
        if n == 0 || k == 0 { return (loss, gradW, gradB) }
        let chunks = (n + 255) / 256
        var part = [Double](repeating: 0, count: chunks * (k + 1))
        var gw = [Float](repeating: 0, count: m * k)
        opLock.withLock {
            run {
                let lab = try scratch(.labels, bytes: n * 4)
                // The same labels array call after call (the solver's): checked and uploaded once.
                if labels != labelsOnDevice.labels || labelsOnDevice.pointer != lab || labelsOnDevice.classes != k {
                    labelsOnDevice = ([], .null, 0)
                    for c in labels where c < 0 || Int(c) >= k {
                        throw ComputeError("gpu: softmaxLinearGradient: label \(c) out of range 0..<\(k)")
                    }
                    try labels.withUnsafeBytes { try device.copy(toDevice: lab, from: $0) }
                    labelsOnDevice = (labels, lab, k)
                }
                let wb = try scratch(.linearModel, bytes: (m * k + k) * 4)
                if m * k > 0 { try weights.withUnsafeBytes { try device.copy(toDevice: wb, from: $0) } }
                let bp = wb.advanced(by: m * k * 4)
                try bias.withUnsafeBytes { try device.copy(toDevice: bp, from: $0) }
                let z = try scratch(.logits, bytes: n * k * 4), d = try scratch(.logitDelta, bytes: n * k * 4)
                try gemmLocked(a: ptr(x), lda: m, transA: false, b: wb, ldb: k, transB: false, c: z,
                               m: n, n: k, k: m, alpha: 1, beta: 0, bias: nil, relu: false)
                let pp = try scratch(.xentPartials, bytes: part.count * 8)
                try device.launch("mlr_softmax_xent", grid: Dim3(max(1, min(maxGridBlocks, chunks))), block: Dim3(256),
                                  [.pointer(z), .pointer(bp), .pointer(lab), .pointer(d), .pointer(pp), .int64(Int64(n)),
                                   .int32(GPUBackend.int32(k, "classes"))])
                if m > 0 {
                    let g = try scratch(.gradient, bytes: m * k * 4)
                    try gemmLocked(a: ptr(x), lda: m, transA: true, b: d, ldb: k, transB: false, c: g,
                                   m: m, n: k, k: n, alpha: 1, beta: 0, bias: nil, relu: false)
                    try gw.withUnsafeMutableBytes { try device.copy(toHost: $0, from: g) }
                }
                try part.withUnsafeMutableBytes { try device.copy(toHost: $0, from: pp) }
            }
            readGatherFlag()
        }
        if failed { return (0, gradW, gradB) }
        for c in 0..<chunks {
            loss += part[c * (k + 1)]
            for j in 0..<k { gradB[j] += part[c * (k + 1) + 1 + j] }
        }
        for e in 0..<(m * k) { gradW[e] = Double(gw[e]) }
        return (loss, gradW, gradB)
    }
}
