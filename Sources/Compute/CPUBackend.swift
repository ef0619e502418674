import Support
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A CPU tensor's memory: a 64-byte-aligned host allocation of `count` floats, zero-filled
/// when made, freed when the tensor goes; or a Swift array's buffer taken over from its
/// owner (`upload(taking:)`), kept alive by holding the array. Kernels assume only Float
/// alignment of tensor memory (packed GEMM panels are their own aligned copies).
public final class CPUStorage: TensorStorage, @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    /// The adopted array, never read or written through; nil for an own allocation.
    private let adopted: [Float]?

    public init(count: Int) {
        precondition(count >= 0, "negative tensor size")
        self.count = count
        let n = max(count, 16)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
            .initializeMemory(as: Float.self, repeating: 0, count: n)
        adopted = nil
        super.init()
    }

    /// Takes over `array`'s buffer. Asking for mutable access first makes the buffer unique:
    /// when someone else still shares it, that is a copy (their values never change); when
    /// the caller has let go (`upload(taking:)` empties its array first), it is the buffer
    /// itself.
    init(adopting array: [Float]) {
        var a = array
        count = a.count
        pointer = a.withUnsafeMutableBufferPointer { $0.baseAddress! }
        adopted = a
        super.init()
    }

    /// Reads `array`'s buffer in place, never writing it (`CPUBackend.borrow`): the tensor
    /// holds the array, so the buffer lives as long as the tensor and its other holders see
    /// the same values.
    init(borrowing array: [Float]) {
        count = array.count
        pointer = UnsafeMutablePointer(mutating: array.withUnsafeBufferPointer { $0.baseAddress! })
        adopted = array
        super.init()
    }

    /// An array-backed allocation of `count` floats, contents unspecified (every element is
    /// written before it is read), which `download(taking:)` hands over without a copy.
    init(uninitialized count: Int) {
        precondition(count >= 16, "uninitialized storage is for 16 floats or more")
        var a = [Float](unsafeUninitializedCapacity: count) { _, n in n = count }
        self.count = count
        pointer = a.withUnsafeMutableBufferPointer { $0.baseAddress! }
        adopted = a
        super.init()
    }

    /// The array behind an adopted or array-backed storage, nil for an own allocation.
    var array: [Float]? { adopted }

    deinit { if adopted == nil { pointer.deallocate() } }
}

/// The CPU backend: SIMD kernels, blocked GEMM, work split over `threads` with Dispatch.
/// Every kernel gives bit-identical results whatever the thread count.
public final class CPUBackend: Backend {
    public let kind = "cpu"
    public let deviceName: String
    public let threads: Int
    /// The GEMM micro-kernel in use.
    public let gemmPath: GEMMPath
    let kernel: MicroKernel
    let scratch = GEMMScratchPool()

    /// `threads` nil: all online CPUs. `gemmPath` nil: `GEMMPath.automatic` (AVX2 when the
    /// CPU has it, unless MLREPO_GEMM=portable); asking for AVX2 on a CPU without it gives the
    /// portable path.
    public init(threads: Int? = nil, gemmPath: GEMMPath? = nil) {
        let cores = CPU.count
        self.threads = max(1, threads ?? cores)
        var path = gemmPath ?? GEMMPath.automatic
        if path == .avx2 && !GEMMPath.avx2Supported { path = .portable }
        self.gemmPath = path
        self.kernel = MicroKernel.of(path)
        deviceName = "\(CPUBackend.cpuModel) (\(cores) core\(cores == 1 ? "" : "s"))"
    }

    /// Online CPUs (Support's `CPU.count`).
    public static var onlineCPUs: Int { CPU.count }

    /// "model name" from /proc/cpuinfo, or the architecture when there is none.
    static let cpuModel: String = {
        if let f = fopen("/proc/cpuinfo", "r") {
            defer { fclose(f) }
            var line: UnsafeMutablePointer<CChar>? = nil
            var cap = 0
            defer { free(line) }
            while getline(&line, &cap, f) > 0 {
                let s = String(cString: line!)
                if s.hasPrefix("model name"), let colon = s.firstIndex(of: ":") {
                    let v = s[s.index(after: colon)...].trimmed()
                    if !v.isEmpty { return v }
                }
            }
        }
        #if arch(x86_64)
        return "x86-64 CPU"
        #elseif arch(arm64)
        return "arm64 CPU"
        #else
        return "CPU"
        #endif
    }()

    // MARK: Memory

    @inline(__always)
    func ptr(_ t: Tensor) -> UnsafeMutablePointer<Float> {
        guard let s = t.storage as? CPUStorage else { preconditionFailure("tensor is not on the CPU backend") }
        return s.pointer
    }

    public func tensor(rows: Int, cols: Int) -> Tensor {
        precondition(rows >= 0 && cols >= 0, "negative tensor shape")
        return Tensor(rows: rows, cols: cols, backend: self, storage: CPUStorage(count: rows * cols))
    }

    public func upload(_ host: [Float], rows: Int, cols: Int) -> Tensor {
        precondition(host.count == rows * cols, "upload: \(host.count) values for a \(rows)×\(cols) tensor")
        let t = tensor(rows: rows, cols: cols)
        host.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { ptr(t).update(from: base, count: src.count) }
        }
        return t
    }

    public func upload(taking host: inout [Float], rows: Int, cols: Int) -> Tensor {
        precondition(host.count == rows * cols, "upload: \(host.count) values for a \(rows)×\(cols) tensor")
        // Small or empty arrays are copied (an empty array has no buffer of its own).
        if host.count < 16 { defer { host = [] }; return upload(host, rows: rows, cols: cols) }
        let array = host
        host = []
        return Tensor(rows: rows, cols: cols, backend: self, storage: CPUStorage(adopting: consume array))
    }

    public func borrow(_ host: [Float], rows: Int, cols: Int) -> Tensor {
        precondition(host.count == rows * cols, "borrow: \(host.count) values for a \(rows)×\(cols) tensor")
        // Small arrays are copied (an empty array has no buffer of its own).
        if host.count < 16 { return upload(host, rows: rows, cols: cols) }
        return Tensor(rows: rows, cols: cols, backend: self, storage: CPUStorage(borrowing: host))
    }

    public func uninitializedTensor(rows: Int, cols: Int) -> Tensor {
        precondition(rows >= 0 && cols >= 0, "negative tensor shape")
        if rows * cols < 16 { return tensor(rows: rows, cols: cols) }
        return Tensor(rows: rows, cols: cols, backend: self, storage: CPUStorage(uninitialized: rows * cols))
    }

    public func download(taking t: Tensor) -> [Float] {
        if let s = t.storage as? CPUStorage, let a = s.array, a.count == t.count { return a }
        return download(t)
    }

    public func upload(_ host: UnsafeBufferPointer<Float>, into t: Tensor, row: Int) {
        precondition(t.cols > 0 && host.count % t.cols == 0, "upload: \(host.count) values is not whole rows of \(t.cols)")
        precondition(row >= 0 && row + host.count / t.cols <= t.rows, "upload: rows out of range")
        if let base = host.baseAddress { (ptr(t) + row * t.cols).update(from: base, count: host.count) }
    }

    public func download(_ t: Tensor) -> [Float] {
        let p = ptr(t)
        return [Float](unsafeUninitializedCapacity: t.count) { buf, n in
            if let base = buf.baseAddress { base.initialize(from: p, count: t.count) }
            n = t.count
        }
    }

    public func gatherRows(_ src: Tensor, _ indices: [Int32], into dst: Tensor) {
        precondition(src.cols == dst.cols && indices.count <= dst.rows, "gatherRows: shape mismatch")
        let s = ptr(src), d = ptr(dst), cols = src.cols, srcRows = src.rows
        indices.withUnsafeBufferPointer { idx in
            forRanges(idx.count, cost: cols, threads: threads) { range in
                for r in range {
                    let i = Int(idx[r])
                    precondition(i >= 0 && i < srcRows, "gatherRows: index \(i) out of range 0..<\(srcRows)")
                    (d + r * cols).update(from: s + i * cols, count: cols)
                }
            }
        }
    }

    public func gatherRows(_ src: Tensor, indices: Tensor, offset: Int, count: Int, into dst: Tensor) {
        precondition(offset >= 0 && count >= 0 && offset + count <= indices.count, "gatherRows: index range out of bounds")
        let raw = UnsafeRawPointer(ptr(indices) + offset).assumingMemoryBound(to: Int32.self)
        gatherRows(src, Array(UnsafeBufferPointer(start: raw, count: count)), into: dst)
    }

    public func synchronize() {}

    // MARK: Cursors and counters (read and written in place; the CPU records no steps)

    /// The Int32 a 1×1 index tensor holds.
    func index(_ t: Tensor) -> Int {
        precondition(t.count == 1, "index tensor: \(t.rows)×\(t.cols), not 1×1")
        return Int(UnsafeRawPointer(ptr(t)).load(as: Int32.self))
    }

    public func uploadIndices(_ indices: [Int32], into t: Tensor) {
        precondition(indices.count == t.count, "uploadIndices(into:): \(indices.count) indices for \(t.count) elements")
        indices.withUnsafeBytes { if let b = $0.baseAddress { UnsafeMutableRawPointer(ptr(t)).copyMemory(from: b, byteCount: $0.count) } }
    }

    public func gatherRows(_ src: Tensor, indices: Tensor, cursor: Tensor, count: Int, into dst: Tensor) {
        gatherRows(src, indices: indices, offset: index(cursor), count: count, into: dst)
    }

    public func advance(_ counter: Tensor, by: Int) {
        let v = index(counter) + by
        precondition(v >= Int(Int32.min) && v <= Int(Int32.max), "advance: counter out of 32-bit range")
        UnsafeMutableRawPointer(ptr(counter)).storeBytes(of: Int32(v), as: Int32.self)
    }

    public func adamStep(params: [Tensor], grads: [Tensor], m: [Tensor], v: [Tensor], lr: Float, beta1: Float,
                         beta2: Float, eps: Float, stepCounter: Tensor, weightDecay: [Float]) {
        adamStep(params: params, grads: grads, m: m, v: v, lr: lr, beta1: beta1, beta2: beta2, eps: eps,
                 step: index(stepCounter), weightDecay: weightDecay)
    }

    // MARK: GEMM

    public func gemm(_ a: Tensor, transA: Bool, _ b: Tensor, transB: Bool, into c: Tensor, alpha: Float, beta: Float) {
        let (m, n, k) = gemmShape(a, transA: transA, b, transB: transB, c)
        sgemm(kernel: kernel, threads: threads, pool: scratch, m: m, n: n, k: k, alpha: alpha,
              a: ptr(a), lda: a.cols, transA: transA, b: ptr(b), ldb: b.cols, transB: transB,
              beta: beta, c: ptr(c), ldc: n)
    }

    /// The same GEMM on raw row-major buffers (for callers that hold host memory).
    public func gemm(m: Int, n: Int, k: Int, alpha: Float,
                     a: UnsafePointer<Float>, lda: Int, transA: Bool,
                     b: UnsafePointer<Float>, ldb: Int, transB: Bool,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        sgemm(kernel: kernel, threads: threads, pool: scratch, m: m, n: n, k: k, alpha: alpha,
              a: a, lda: lda, transA: transA, b: b, ldb: ldb, transB: transB, beta: beta, c: c, ldc: ldc)
    }

    /// Rows at or below which `linear` reads w in place instead of packing it for the GEMM.
    static let linearSmallRows = 8
    /// Output widths below which `linear` with an n×k w computes each element as one dot
    /// product of two contiguous rows, for any number of rows.
    static let linearNarrowCols = 8

    /// Small m (≤ `linearSmallRows`) or narrow y (n < `linearNarrowCols` with w n×k): each
    /// element of y is one product sum over p = 0..<k in order, read straight from x and w
    /// (w k×n: 8-wide column strips accumulated row by row of w; w n×k: a dot product of
    /// two contiguous rows, as `Vec.dot`), then alpha·sum + bias. Otherwise the blocked GEMM,
    /// which adds the bias to each block of y as it finishes it.
    public func linear(_ x: Tensor, _ w: Tensor, transW: Bool, bias: Tensor?, alpha: Float, into y: Tensor) {
        let (m, n, k) = linearShape(x, w, transW: transW, bias: bias, y)
        if m == 0 || n == 0 { return }
        let xp = UnsafePointer(ptr(x)), wp = UnsafePointer(ptr(w)), yp = ptr(y)
        let bp: UnsafePointer<Float>? = bias.map { UnsafePointer(ptr($0)) }
        let narrow = transW && n < CPUBackend.linearNarrowCols
        if k > 0 && !narrow && m > CPUBackend.linearSmallRows {
            sgemm(kernel: kernel, threads: threads, pool: scratch, m: m, n: n, k: k, alpha: alpha,
                  a: xp, lda: k, transA: false, b: wp, ldb: w.cols, transB: transW, beta: 0, c: yp, ldc: n, bias: bp)
            return
        }
        forRanges(m, cost: n * max(k, 1), threads: threads) { rows in
            for i in rows {
                let xr = xp + i * k, yr = yp + i * n
                if transW {
                    var j = 0
                    while j + 2 <= n {
                        let (d0, d1) = Vec.dot2(xr, wp + j * k, wp + (j + 1) * k, k)
                        yr[j] = alpha * d0 + (bp?[j] ?? 0)
                        yr[j + 1] = alpha * d1 + (bp?[j + 1] ?? 0)
                        j += 2
                    }
                    if j < n { yr[j] = alpha * Vec.dot(xr, wp + j * k, k) + (bp?[j] ?? 0) }
                } else {
                    Vec.rowTimesMatrix(xr, k: k, wp, n: n, into: yr)
                    if alpha != 1 { Vec.scale(yr, alpha, n) }
                    if let bp { Vec.add(yr, bp, n) }
                }
            }
        }
    }

    // MARK: Elementwise and row kernels

    public func addRowVector(_ x: Tensor, _ v: Tensor) {
        precondition(v.count == x.cols, "addRowVector: vector of \(v.count) for \(x.cols) columns")
        let p = ptr(x), vp = UnsafePointer(ptr(v)), cols = x.cols
        forRanges(x.rows, cost: cols, threads: threads) { rows in
            for r in rows { Vec.add(p + r * cols, vp, cols) }
        }
    }

    public func relu(_ x: Tensor) {
        let p = ptr(x)
        forRanges(x.count, cost: 1, threads: threads) { r in Vec.relu(p + r.lowerBound, r.count) }
    }

    public func reluBackward(_ grad: Tensor, activation: Tensor) {
        precondition(grad.count == activation.count, "reluBackward: shape mismatch")
        let g = ptr(grad), a = UnsafePointer(ptr(activation))
        forRanges(grad.count, cost: 1, threads: threads) { r in
            Vec.reluMask(g + r.lowerBound, a + r.lowerBound, r.count)
        }
    }

    public func sigmoid(_ x: Tensor) {
        let p = ptr(x)
        forRanges(x.count, cost: 16, threads: threads) { r in
            for i in r { p[i] = 1 / (1 + expf(-p[i])) }
        }
    }

    public func softmaxRows(_ x: Tensor) {
        let p = ptr(x), cols = x.cols
        if cols == 0 { return }
        forRanges(x.rows, cost: cols * 16, threads: threads) { rows in
            for r in rows {
                let row = p + r * cols
                let mx = Vec.max(row, cols)
                var sum: Float = 0
                for j in 0..<cols {
                    let e = expf(row[j] - mx)
                    row[j] = e
                    sum += e
                }
                let inv = 1 / sum
                Vec.scale(row, inv, cols)
            }
        }
    }

    public func logSoftmaxRows(_ x: Tensor) {
        let p = ptr(x), cols = x.cols
        if cols == 0 { return }
        forRanges(x.rows, cost: cols * 16, threads: threads) { rows in
            for r in rows {
                let row = p + r * cols
                let mx = Vec.max(row, cols)
                var sum: Float = 0
                for j in 0..<cols { sum += expf(row[j] - mx) }
                // (x − max) − log Σ: both terms small, so nothing is absorbed by a large max.
                let lse = logf(sum)
                Vec.subTwo(row, mx, lse, cols)
            }
        }
    }

    public func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) {
        precondition(x.count == y.count, "axpy: shape mismatch")
        let xp = UnsafePointer(ptr(x)), yp = ptr(y)
        forRanges(x.count, cost: 1, threads: threads) { r in
            Vec.axpy(alpha, xp + r.lowerBound, yp + r.lowerBound, r.count)
        }
    }

    public func scale(_ x: Tensor, _ alpha: Float) {
        let p = ptr(x)
        forRanges(x.count, cost: 1, threads: threads) { r in Vec.scale(p + r.lowerBound, alpha, r.count) }
    }

    public func sub(_ a: Tensor, _ b: Tensor, into c: Tensor) {
        precondition(a.count == b.count && a.count == c.count, "sub: shape mismatch")
        let ap = UnsafePointer(ptr(a)), bp = UnsafePointer(ptr(b)), cp = ptr(c)
        forRanges(a.count, cost: 1, threads: threads) { r in
            Vec.sub(ap + r.lowerBound, bp + r.lowerBound, cp + r.lowerBound, r.count)
        }
    }

    /// Row blocks of a column sum: each column is summed over the rows of a block in row
    /// order, then the block sums are added in block order. The block size is fixed, so the
    /// result does not depend on the thread count.
    static let columnSumBlock = 1024
    /// Column chunks of a column sum (for parallelism on wide, short matrices).
    static let columnSumChunk = 512

    public func columnSums(_ x: Tensor, into out: Tensor) {
        precondition(out.count == x.cols, "columnSums: output of \(out.count) for \(x.cols) columns")
        let rows = x.rows, cols = x.cols
        let src = UnsafePointer(ptr(x)), dst = ptr(out)
        if cols == 0 { return }
        let rb = CPUBackend.columnSumBlock, cc = CPUBackend.columnSumChunk
        let rowBlocks = max(1, (rows + rb - 1) / rb)
        let colChunks = (cols + cc - 1) / cc
        let t = rows * cols >= 1 << 16 ? threads : 1
        if rowBlocks == 1 {
            Parallel.forEachWorker(colChunks, threads: t) { chunk, _ in
                let c0 = chunk * cc, cn = min(cc, cols - c0)
                Vec.columnSum(src + c0, ld: cols, rows: rows, cols: cn, into: dst + c0)
            }
            return
        }
        let partial = alignedFloats(rowBlocks * cols)
        defer { partial.deallocate() }
        Parallel.forEachWorker(rowBlocks * colChunks, threads: t) { task, _ in
            let blk = task / colChunks, chunk = task % colChunks
            let r0 = blk * rb, rn = min(rb, rows - r0)
            let c0 = chunk * cc, cn = min(cc, cols - c0)
            Vec.columnSum(src + r0 * cols + c0, ld: cols, rows: rn, cols: cn, into: partial + blk * cols + c0)
        }
        Parallel.forEachWorker(colChunks, threads: t) { chunk, _ in
            let c0 = chunk * cc, cn = min(cc, cols - c0)
            Vec.columnSum(UnsafePointer(partial) + c0, ld: cols, rows: rowBlocks, cols: cn, into: dst + c0)
        }
    }

    public func rowArgmax(_ x: Tensor) -> [Int32] {
        let p = UnsafePointer(ptr(x)), cols = x.cols, rows = x.rows
        if rows == 0 { return [] }
        if cols == 0 { return [Int32](repeating: 0, count: rows) }
        return [Int32](unsafeUninitializedCapacity: rows) { out, n in
            let o = out.baseAddress!
            forRanges(rows, cost: cols, threads: threads) { range in
                for r in range {
                    let row = p + r * cols
                    var best = row[0], bi = 0
                    for j in 1..<cols where row[j] > best { best = row[j]; bi = j }
                    (o + r).initialize(to: Int32(bi))
                }
            }
            n = rows
        }
    }

    public func squaredDistances(_ x: Tensor, _ centers: Tensor, into d: Tensor) {
        precondition(x.cols == centers.cols && d.rows == x.rows && d.cols == centers.rows,
                     "squaredDistances: x \(x.rows)×\(x.cols), centers \(centers.rows)×\(centers.cols), d \(d.rows)×\(d.cols)")
        let n = x.rows, k = centers.rows, dim = x.cols
        if n == 0 || k == 0 { return }
        let xp = UnsafePointer(ptr(x)), cp = UnsafePointer(ptr(centers)), dp = ptr(d)
        // d = −2 · x · cᵀ
        gemm(x, transA: false, centers, transB: true, into: d, alpha: -2, beta: 0)
        let cn = alignedFloats(k)
        defer { cn.deallocate() }
        for j in 0..<k { cn[j] = Vec.dot(cp + j * dim, cp + j * dim, dim) }
        let cnc = UnsafePointer(cn)
        forRanges(n, cost: k + dim, threads: threads) { rows in
            for i in rows {
                let xn = Vec.dot(xp + i * dim, xp + i * dim, dim)
                let row = dp + i * k
                for j in 0..<k {
                    let v = (xn + cnc[j]) + row[j]
                    row[j] = v > 0 ? v : 0
                }
            }
        }
    }

    /// Rows are scored in fixed blocks of 2048 (a block's distances are one small GEMM, each
    /// element computed as in squaredDistances), blocks spread over the threads.
    public func nearestCenters(_ x: Tensor, _ centers: Tensor) -> (labels: [Int32], distances: [Float]) {
        precondition(x.cols == centers.cols, "nearestCenters: x has \(x.cols) columns, centers \(centers.cols)")
        let n = x.rows, k = centers.rows, dim = x.cols
        var labels = [Int32](repeating: 0, count: n), dist = [Float](repeating: 0, count: n)
        if n == 0 || k == 0 { return (labels, dist) }
        let xp = UnsafePointer(ptr(x)), cp = UnsafePointer(ptr(centers))
        let cn = alignedFloats(k)
        defer { cn.deallocate() }
        for j in 0..<k { cn[j] = Vec.dot(cp + j * dim, cp + j * dim, dim) }
        let cnc = UnsafePointer(cn)
        let block = 2048
        let blocks = (n + block - 1) / block
        let kernel = self.kernel, pool = scratch
        labels.withUnsafeMutableBufferPointer { lp in
            dist.withUnsafeMutableBufferPointer { dp in
                nonisolated(unsafe) let lp = lp, dp = dp
                Parallel.forEachWorker(blocks, threads: threads) { b, _ in
                    let r0 = b * block, rows = min(block, n - r0)
                    let buf = alignedFloats(rows * k)
                    defer { buf.deallocate() }
                    sgemm(kernel: kernel, threads: 1, pool: pool, m: rows, n: k, k: dim, alpha: -2,
                          a: xp + r0 * dim, lda: dim, transA: false, b: cp, ldb: dim, transB: true, beta: 0, c: buf, ldc: k)
                    for i in 0..<rows {
                        let xn = Vec.dot(xp + (r0 + i) * dim, xp + (r0 + i) * dim, dim)
                        var best = 0
                        var bv = (xn + cnc[0]) + buf[i * k]
                        if !(bv > 0) { bv = 0 }
                        for j in 1..<max(k, 1) {
                            var v = (xn + cnc[j]) + buf[i * k + j]
                            if !(v > 0) { v = 0 }
                            if v < bv { bv = v; best = j }
                        }
                        lp[r0 + i] = Int32(best); dp[r0 + i] = bv
                    }
                }
            }
        }
        return (labels, dist)
    }

    /// For tall x: the rows are cut into fixed chunks of 65,536, each chunk's xᵀx is one
    /// single-threaded GEMM (the chunks spread over the threads), and the partial products are
    /// added in chunk order in Double. x is read once, not once per output tile; the result
    /// does not depend on the thread count.
    public func gram(_ x: Tensor, into g: Tensor, alpha: Float) {
        let n = x.rows, m = x.cols
        precondition(g.rows == m && g.cols == m, "gram: output \(g.rows)×\(g.cols) for \(m) columns")
        let chunk = 65_536
        guard n > chunk else { gemm(x, transA: true, x, transB: false, into: g, alpha: alpha, beta: 0); return }
        let chunks = (n + chunk - 1) / chunk
        let xp = UnsafePointer(ptr(x))
        let parts = alignedFloats(chunks * m * m)
        defer { parts.deallocate() }
        let kernel = self.kernel, pool = scratch
        nonisolated(unsafe) let pp = parts
        Parallel.forEachWorker(chunks, threads: threads) { t, _ in
            let r0 = t * chunk, rows = min(chunk, n - r0)
            sgemm(kernel: kernel, threads: 1, pool: pool, m: m, n: m, k: rows, alpha: 1,
                  a: xp + r0 * m, lda: m, transA: true, b: xp + r0 * m, ldb: m, transB: false, beta: 0, c: pp + t * m * m, ldc: m)
        }
        let gp = ptr(g)
        var acc = [Double](repeating: 0, count: m * m)
        for t in 0..<chunks { for e in 0..<(m * m) { acc[e] += Double(parts[t * m * m + e]) } }
        for e in 0..<(m * m) { gp[e] = Float(acc[e] * Double(alpha)) }
    }

    /// One pass over x in fixed blocks of 4096 rows: per row, k SIMD dot products, a softmax
    /// in Double, and k SIMD axpys into the block's Float gradient; blocks merge in order.
    public func softmaxLinearGradient(_ x: Tensor, weights: [Float], bias: [Float], classes k: Int,
                                      labels: [Int32]) -> (loss: Double, gradW: [Double], gradB: [Double]) {
        let n = x.rows, m = x.cols
        precondition(weights.count == m * k && bias.count == k && labels.count == n, "softmaxLinearGradient: shapes")
        // W transposed: one contiguous row of m weights per class.
        var wt = [Float](repeating: 0, count: k * m)
        for q in 0..<m { for j in 0..<k { wt[j * m + q] = weights[q * k + j] } }
        let block = 4096
        let blocks = (n + block - 1) / block
        var partW = [Float](repeating: 0, count: max(blocks, 1) * k * m)
        var partB = [Double](repeating: 0, count: max(blocks, 1) * k)
        var partLoss = [Double](repeating: 0, count: max(blocks, 1))
        let xp = UnsafePointer(ptr(x))
        wt.withUnsafeBufferPointer { wtp in
            bias.withUnsafeBufferPointer { bp in
                labels.withUnsafeBufferPointer { lab in
                    partW.withUnsafeMutableBufferPointer { pw in
                        partB.withUnsafeMutableBufferPointer { pb in
                            partLoss.withUnsafeMutableBufferPointer { pl in
                                nonisolated(unsafe) let wtp = wtp, bp = bp, lab = lab, pw = pw, pb = pb, pl = pl
                                Parallel.forEachWorker(blocks, threads: threads) { blk, _ in
                                    var z = [Double](repeating: 0, count: k)
                                    let gw = pw.baseAddress! + blk * k * m, gbias = pb.baseAddress! + blk * k
                                    var loss = 0.0
                                    for i in (blk * block)..<Swift.min(n, (blk + 1) * block) {
                                        let row = xp + i * m
                                        var zmax = -Double.infinity
                                        for j in 0..<k {
                                            z[j] = Double(Vec.dot(row, wtp.baseAddress! + j * m, m)) + Double(bp[j])
                                            zmax = Swift.max(zmax, z[j])
                                        }
                                        var sum = 0.0
                                        for j in 0..<k { z[j] = exp(z[j] - zmax); sum += z[j] }
                                        let c = Int(lab[i])
                                        loss -= log(Swift.max(z[c] / sum, 1e-300))
                                        for j in 0..<k {
                                            let d = z[j] / sum - (j == c ? 1 : 0)
                                            gbias[j] += d
                                            Vec.axpy(Float(d), row, gw + j * m, m)
                                        }
                                    }
                                    pl[blk] = loss
                                }
                            }
                        }
                    }
                }
            }
        }
        var gradW = [Double](repeating: 0, count: m * k), gradB = [Double](repeating: 0, count: k)
        var loss = 0.0
        for blk in 0..<blocks {
            loss += partLoss[blk]
            for j in 0..<k {
                gradB[j] += partB[blk * k + j]
                for q in 0..<m { gradW[q * k + j] += Double(partW[blk * k * m + j * m + q]) }
            }
        }
        return (loss, gradW, gradB)
    }

    /// Partial sums over fixed blocks of 8192 rows, merged in block order.
    public func clusterSums(_ x: Tensor, labels: [Int32], k: Int) -> (sums: [Double], counts: [Int]) {
        let n = x.rows, dim = x.cols
        precondition(labels.count == n, "clusterSums: \(labels.count) labels for \(n) rows")
        let block = 8192
        let blocks = (n + block - 1) / block
        var partial = [Double](repeating: 0, count: max(blocks, 1) * k * dim)
        var partialCounts = [Int](repeating: 0, count: max(blocks, 1) * k)
        let xp = UnsafePointer(ptr(x))
        labels.withUnsafeBufferPointer { lab in
            partial.withUnsafeMutableBufferPointer { pp in
                partialCounts.withUnsafeMutableBufferPointer { pc in
                    nonisolated(unsafe) let lab = lab, pp = pp, pc = pc
                    Parallel.forEachWorker(blocks, threads: threads) { b, _ in
                        let s = pp.baseAddress! + b * k * dim, cnt = pc.baseAddress! + b * k
                        for i in (b * block)..<min(n, (b + 1) * block) {
                            let c = Int(lab[i])
                            cnt[c] += 1
                            let row = xp + i * dim, acc = s + c * dim
                            for j in 0..<dim { acc[j] += Double(row[j]) }
                        }
                    }
                }
            }
        }
        var sums = [Double](repeating: 0, count: k * dim), counts = [Int](repeating: 0, count: k)
        for b in 0..<blocks {
            for c in 0..<k { counts[c] += partialCounts[b * k + c] }
            for e in 0..<(k * dim) { sums[e] += partial[b * k * dim + e] }
        }
        return (sums, counts)
    }

    // MARK: Optimizers

    public func adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, lr: Float, beta1: Float, beta2: Float,
                         eps: Float, step: Int, weightDecay: Float) {
        let count = param.count
        precondition(grad.count == count && m.count == count && v.count == count, "adamStep: shape mismatch")
        precondition(step >= 1, "adamStep: step counts from 1")
        let p = ptr(param), g = UnsafePointer(ptr(grad)), mp = ptr(m), vp = ptr(v)
        // As torch.optim.Adam (single-tensor path), in its order of operations:
        //   g = grad + wd·p;  m = m.lerp(g, 1−β1);  v = v·β2 + ((1−β2)·g)·g
        //   p = p + ((−lr/bc1)·m) / (sqrt(v)/sqrt(bc2) + eps),  bc = 1 − β^step in double.
        let bc1 = 1 - pow(Double(beta1), Double(step))
        let bc2 = 1 - pow(Double(beta2), Double(step))
        let negStep = Float(-(Double(lr) / bc1))
        let bc2Sqrt = Float(bc2.squareRoot())
        let w1 = 1 - beta1, w2 = 1 - beta2
        forRanges(count, cost: 4, threads: threads) { r in
            for i in r {
                var gi = g[i]
                if weightDecay != 0 { gi = gi + weightDecay * p[i] }
                // torch's lerp: |w| < 0.5 ? self + w·(end − self) : end − (end − self)·(1 − w)
                let mi = abs(w1) < 0.5 ? mp[i] + w1 * (gi - mp[i]) : gi - (gi - mp[i]) * (1 - w1)
                let vi = vp[i] * beta2 + (w2 * gi) * gi
                mp[i] = mi
                vp[i] = vi
                let denom = vi.squareRoot() / bc2Sqrt + eps
                p[i] = p[i] + (negStep * mi) / denom
            }
        }
    }

    public func sgdStep(param: Tensor, grad: Tensor, velocity: Tensor, lr: Float, momentum: Float, weightDecay: Float) {
        let count = param.count
        precondition(grad.count == count && velocity.count == count, "sgdStep: shape mismatch")
        let p = ptr(param), g = UnsafePointer(ptr(grad)), vel = ptr(velocity)
        forRanges(count, cost: 2, threads: threads) { r in
            for i in r {
                var gi = g[i]
                if weightDecay != 0 { gi = gi + weightDecay * p[i] }
                // torch.optim.SGD (dampening 0): buf = buf·momentum + g; p = p − lr·buf
                let v = vel[i] * momentum + gi
                vel[i] = v
                p[i] = p[i] - lr * v
            }
        }
    }

    /// Σ x² in Double: fixed blocks of `sumSquaresBlock` values, each summed in order (four
    /// interleaved Double lanes), block sums added in block order.
    static let sumSquaresBlock = 1 << 16

    public func sumSquares(_ x: Tensor) -> Double {
        let p = UnsafePointer(ptr(x)), count = x.count
        let bs = CPUBackend.sumSquaresBlock
        let blocks = (count + bs - 1) / bs
        if blocks <= 1 { return Vec.sumSquaresDouble(p, count) }
        let partial = UnsafeMutableBufferPointer<Double>.allocate(capacity: blocks)
        defer { partial.deallocate() }
        Parallel.forEachWorker(blocks, threads: threads) { b, _ in
            let lo = b * bs
            partial[b] = Vec.sumSquaresDouble(p + lo, min(bs, count - lo))
        }
        var s = 0.0
        for b in 0..<blocks { s += partial[b] }
        return s
    }
}

/// Splits 0..<count into ranges of at least ~64K units of work (count·cost) each and runs
/// them over `threads` workers; jobs under 256K units run inline. For kernels whose
/// per-element result does not depend on the split.
@inline(__always)
func forRanges(_ count: Int, cost: Int, threads: Int, _ body: (Range<Int>) -> Void) {
    if count <= 0 { return }
    let work = count * max(cost, 1)
    let minWork = 1 << 16
    if threads <= 1 || work < 4 * minWork {
        body(0..<count)
        return
    }
    let chunks = min(count, min(threads * 4, work / minWork))
    Parallel.forEachWorker(chunks, threads: threads) { t, _ in body(Parallel.chunkRange(t, of: chunks, count: count)) }
}

