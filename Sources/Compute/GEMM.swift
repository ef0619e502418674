import Support
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ComputeAVX2
import CShims

// Blocked single-precision GEMM (GotoBLAS/BLIS structure):
//
//   for each task (a range of C rows × a block of ≤ nc C columns), on some worker:
//     for pc in K blocks (kc deep):         pack op(B)[pc, cols] into nr-wide panels (L3/L2)
//       for ic in the task's rows by mc:    pack op(A)[rows, pc] into mr-tall panels (L2)
//         for each nr panel, each mr panel: micro-kernel (mr × nr block of C in registers)
//
// With row-major A and a narrow C (n ≤ stridedAMaxN) the micro-kernel reads A in place
// instead of from a packed copy (packing costs more than it saves when each A value serves
// few columns). Tasks are taken by workers from a shared counter (see parallelTasks).
//
// Determinism: the K blocking depends only on k, and every micro-kernel computes its block
// as one multiply-add chain over the K block starting from 0, then C = alpha·acc + beta·C
// (beta 1 after the first K block). So each element of C gets the same operations in the
// same order whatever the task split, the thread count or the position of its block: the
// result is bit-identical for any number of threads. (The portable and AVX2 kernels differ
// from each other: one rounds after the multiply, the other fuses.)

/// Which GEMM micro-kernel a CPU backend uses.
public enum GEMMPath: String, Sendable, CaseIterable {
    /// AVX2+FMA 6×16 kernel (ComputeAVX2, compiled for Haswell).
    case avx2
    /// Swift SIMD kernel compiled for the baseline target (6×8; on x86-64 without FMA).
    case portable

    /// Whether this CPU can run the AVX2 kernel.
    public static var avx2Supported: Bool { mlrepo_cpu_has_avx2_fma() != 0 }

    /// The path to use by default: env MLREPO_GEMM=portable forces the portable kernel;
    /// otherwise AVX2 when the CPU has AVX2 and FMA.
    public static var automatic: GEMMPath {
        if let e = getenv("MLREPO_GEMM"), String(cString: e) == "portable" { return .portable }
        return avx2Supported ? .avx2 : .portable
    }
}

typealias MicroKernelFn = @Sendable (Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Float, Float) -> Void
typealias StridedKernelFn = @Sendable (Int, UnsafePointer<Float>, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Float, Float) -> Void

struct MicroKernel: Sendable {
    let mr: Int
    let nr: Int
    /// (kc, packed A panel, packed B panel, C, ldc, alpha, beta)
    let run: MicroKernelFn
    /// (kc, A rows at stride lda, lda, packed B panel, C, ldc, alpha, beta): same arithmetic.
    let runStrided: StridedKernelFn

    static let avx2 = MicroKernel(mr: AVX2Kernels.mr, nr: AVX2Kernels.nr, run: AVX2Kernels.kernel,
                                  runStrided: AVX2Kernels.kernelStridedA)
    static let portable = MicroKernel(mr: PortableKernel.mr, nr: PortableKernel.nr, run: PortableKernel.kernel,
                                      runStrided: PortableKernel.kernelStridedA)

    static func of(_ path: GEMMPath) -> MicroKernel {
        switch path {
        case .avx2: return .avx2
        case .portable: return .portable
        }
    }
}

/// The portable micro-kernel: a 6×8 block of C in Swift SIMD registers (on x86-64 baseline,
/// 12 xmm accumulators). On x86-64 the baseline target has no FMA, where `addingProduct`
/// would become eight calls to fmaf per vector, so the kernel multiplies then adds there;
/// elsewhere (aarch64 has FMA in the base ISA) it uses `addingProduct`.
enum PortableKernel {
    static let mr = 6
    static let nr = 8
    typealias V = SIMD8<Float>

    @inline(__always)
    static func madd(_ c: V, _ a: V, _ b: V) -> V {
        #if arch(x86_64) || arch(i386)
        return c + a * b
        #else
        return c.addingProduct(a, b)
        #endif
    }

    static func kernel(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
        var pa = a
        var pb = UnsafeRawPointer(b)
        var p = 0
        while p < kc {
            let bv = pb.load(as: V.self)
            c0 = madd(c0, V(repeating: pa[0]), bv)
            c1 = madd(c1, V(repeating: pa[1]), bv)
            c2 = madd(c2, V(repeating: pa[2]), bv)
            c3 = madd(c3, V(repeating: pa[3]), bv)
            c4 = madd(c4, V(repeating: pa[4]), bv)
            c5 = madd(c5, V(repeating: pa[5]), bv)
            pa += 6
            pb += 32
            p += 1
        }
        let va = V(repeating: alpha)
        if beta == 0 {
            row(c, 0, c0 * va); row(c, ldc, c1 * va); row(c, 2 * ldc, c2 * va)
            row(c, 3 * ldc, c3 * va); row(c, 4 * ldc, c4 * va); row(c, 5 * ldc, c5 * va)
        } else {
            let vb = V(repeating: beta)
            update(c, 0, c0 * va, vb); update(c, ldc, c1 * va, vb); update(c, 2 * ldc, c2 * va, vb)
            update(c, 3 * ldc, c3 * va, vb); update(c, 4 * ldc, c4 * va, vb); update(c, 5 * ldc, c5 * va, vb)
        }
    }

    static func kernelStridedA(_ kc: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>,
                               _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
        var pa = a
        let a3 = 3 * lda
        var pb = UnsafeRawPointer(b)
        var p = 0
        while p < kc {
            let bv = pb.load(as: V.self)
            c0 = madd(c0, V(repeating: pa[0]), bv)
            c1 = madd(c1, V(repeating: pa[lda]), bv)
            c2 = madd(c2, V(repeating: pa[2 * lda]), bv)
            c3 = madd(c3, V(repeating: pa[a3]), bv)
            c4 = madd(c4, V(repeating: pa[4 * lda]), bv)
            c5 = madd(c5, V(repeating: pa[a3 + 2 * lda]), bv)
            pa += 1
            pb += 32
            p += 1
        }
        let va = V(repeating: alpha)
        if beta == 0 {
            row(c, 0, c0 * va); row(c, ldc, c1 * va); row(c, 2 * ldc, c2 * va)
            row(c, 3 * ldc, c3 * va); row(c, 4 * ldc, c4 * va); row(c, 5 * ldc, c5 * va)
        } else {
            let vb = V(repeating: beta)
            update(c, 0, c0 * va, vb); update(c, ldc, c1 * va, vb); update(c, 2 * ldc, c2 * va, vb)
            update(c, 3 * ldc, c3 * va, vb); update(c, 4 * ldc, c4 * va, vb); update(c, 5 * ldc, c5 * va, vb)
        }
    }

    @inline(__always)
    static func row(_ c: UnsafeMutablePointer<Float>, _ off: Int, _ x: V) {
        UnsafeMutableRawPointer(c + off).storeBytes(of: x, as: V.self)
    }

    @inline(__always)
    static func update(_ c: UnsafeMutablePointer<Float>, _ off: Int, _ x: V, _ vb: V) {
        let r = UnsafeMutableRawPointer(c + off)
        let o = UnsafeRawPointer(r).loadUnaligned(as: V.self)
        r.storeBytes(of: x + vb * o, as: V.self)
    }
}

/// Per-worker packing buffers, reused across calls (page faults on fresh 2 MB buffers would
/// cost more than a small GEMM).
final class GEMMScratch {
    var a: UnsafeMutablePointer<Float>
    var aCap: Int
    var b: UnsafeMutablePointer<Float>
    var bCap: Int
    var tile: UnsafeMutablePointer<Float>

    init() {
        aCap = 0; bCap = 0
        a = alignedFloats(16); b = alignedFloats(16)
        tile = alignedFloats(8 * 32)
    }
    deinit { a.deallocate(); b.deallocate(); tile.deallocate() }

    func reserve(a na: Int, b nb: Int) {
        if na > aCap { a.deallocate(); a = alignedFloats(na); aCap = na }
        if nb > bCap { b.deallocate(); b = alignedFloats(nb); bCap = nb }
    }
}

/// A pool of scratch buffers shared by the GEMM calls of one backend (calls may overlap
/// when callers use the backend from several threads).
final class GEMMScratchPool: @unchecked Sendable {
    private let lock = Lock()
    private var free: [GEMMScratch] = []

    func take() -> GEMMScratch { lock.withLock { free.popLast() } ?? GEMMScratch() }
    func give(_ s: GEMMScratch) { lock.withLock { if free.count < 16 { free.append(s) } } }
}

func alignedFloats(_ n: Int) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer.allocate(byteCount: max(n, 16) * 4, alignment: 64).bindMemory(to: Float.self, capacity: max(n, 16))
}

/// The blocking of one GEMM call.
struct GEMMBlocking {
    static let kcMax = 256
    static let mcMax = 144
    static let ncMax = 2048
    /// Below this many multiply-adds a GEMM runs on the calling thread alone: measured here,
    /// a second thread starts to pay at about 100³ (64³ ran 2× slower on two threads).
    static let parallelThreshold = 1 << 20
    /// Up to this many C columns, row-major A is read in place rather than packed (measured
    /// here: as fast or faster up to n = 256 even with a 4 KB row stride; slower at 1024²).
    nonisolated(unsafe) static var stridedAMaxN = 256

    /// The K blocks: k split into ceil(k / kcMax) nearly equal blocks (a function of k only,
    /// which keeps results independent of the thread count).
    static func kBlock(_ k: Int) -> Int {
        let nb = (k + kcMax - 1) / kcMax
        return (k + nb - 1) / nb
    }
}

/// C (m×n, row stride ldc) = alpha · op(A) · op(B) + beta · C. op(A) is m×k: A is m×k with
/// row stride lda, or k×m when transA. op(B) is k×n: B is k×n with row stride ldb, or n×k
/// when transB.
func sgemm(kernel: MicroKernel, threads: Int, pool: GEMMScratchPool,
           m: Int, n: Int, k: Int, alpha: Float,
           a: UnsafePointer<Float>, lda: Int, transA: Bool,
           b: UnsafePointer<Float>, ldb: Int, transB: Bool,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>? = nil) {
    if m <= 0 || n <= 0 { return }
    if k <= 0 || alpha == 0 {
        scaleMatrix(c, rows: m, cols: n, ld: ldc, beta: beta, threads: threads)
        if let bias { for i in 0..<m { Vec.add(c + i * ldc, bias, n) } }
        return
    }
    let mr = kernel.mr, nr = kernel.nr
    let kc = GEMMBlocking.kBlock(k)
    let kBlocks = (k + kc - 1) / kc
    let mc = GEMMBlocking.mcMax
    let work = m * n * k
    let nThreads = work < GEMMBlocking.parallelThreshold ? 1 : max(1, threads)

    // Column blocks: n split into nearly equal nr-multiples of at most ncMax.
    let ncb = (n + GEMMBlocking.ncMax - 1) / GEMMBlocking.ncMax
    var nc = roundUp((n + ncb - 1) / ncb, nr)
    var colBlocks = (n + nc - 1) / nc
    // Row ranges: one per task. With several threads, up to 4 tasks per thread so that a
    // worker slowed by another process hands work to the others; but every task packs its
    // own B panels, so tasks get at least ~96 rows where m allows, and at most 4·mc rows.
    var rowsPerTask = roundUp(m, mr)
    if nThreads > 1 {
        let perThread = max(1, min(4, m / (nThreads * 96)))
        let rowTasks = max(1, (nThreads * perThread + colBlocks - 1) / colBlocks)
        rowsPerTask = min(roundUp((m + rowTasks - 1) / rowTasks, mr), 4 * mc)
    }
    let rowTasks = (m + rowsPerTask - 1) / rowsPerTask
    if nThreads > 1 && rowTasks * colBlocks < 2 * nThreads && n > 4 * nr {
        // Few rows, wide C: split the columns further (blocks of at least 4·nr).
        let wantColBlocks = (2 * nThreads + rowTasks - 1) / rowTasks
        nc = max(4 * nr, roundUp((n + wantColBlocks - 1) / wantColBlocks, nr))
        colBlocks = (n + nc - 1) / nc
    }
    let tasks = rowTasks * colBlocks
    let bPanelFloats = kc * roundUp(min(nc, n), nr)
    let aPanelFloats = kc * roundUp(min(mc, rowsPerTask), mr)
    // Narrow C: each A value serves few columns, so packing A costs more than it saves;
    // read row-major A in place instead.
    let stridedA = !transA && n <= GEMMBlocking.stridedAMaxN

    let scratches = UnsafeMutableBufferPointer<GEMMScratch?>.allocate(capacity: min(nThreads, tasks))
    scratches.initialize(repeating: nil)
    defer {
        for s in scratches { if let s { pool.give(s) } }
        scratches.deinitialize()
        scratches.deallocate()
    }

    Parallel.forEachWorker(tasks, threads: nThreads) { task, worker in
        let s: GEMMScratch
        if let have = scratches[worker] {
            s = have
        } else {
            s = pool.take()
            s.reserve(a: aPanelFloats, b: bPanelFloats)
            scratches[worker] = s
        }
        let jb = task / rowTasks, ib = task % rowTasks
        let j0 = jb * nc, jn = min(nc, n - j0)
        let i0 = ib * rowsPerTask, iEnd = min(m, i0 + rowsPerTask)
        for pb in 0..<kBlocks {
            let p0 = pb * kc, pk = min(kc, k - p0)
            let betaEff: Float = pb == 0 ? beta : 1
            packB(b, ldb: ldb, trans: transB, p0: p0, pk: pk, j0: j0, jn: jn, nr: nr, into: s.b)
            var ic = i0
            while ic < iEnd {
                let im = min(mc, iEnd - ic)
                if stridedA {
                    // Full mr-row panels straight from A; only a last partial panel is packed.
                    let full = im / mr * mr
                    if full > 0 {
                        macroKernelStridedA(kernel, im: full, jn: jn, pk: pk, a: a + ic * lda + p0, lda: lda, b: s.b,
                                            c: c + ic * ldc + j0, ldc: ldc, alpha: alpha, beta: betaEff)
                    }
                    if full < im {
                        packA(a, lda: lda, trans: false, i0: ic + full, im: im - full, p0: p0, pk: pk, mr: mr, into: s.a)
                        macroKernel(kernel, im: im - full, jn: jn, pk: pk, a: s.a, b: s.b,
                                    c: c + (ic + full) * ldc + j0, ldc: ldc, alpha: alpha, beta: betaEff, tile: s.tile)
                    }
                } else {
                    packA(a, lda: lda, trans: transA, i0: ic, im: im, p0: p0, pk: pk, mr: mr, into: s.a)
                    macroKernel(kernel, im: im, jn: jn, pk: pk, a: s.a, b: s.b,
                                c: c + ic * ldc + j0, ldc: ldc, alpha: alpha, beta: betaEff, tile: s.tile)
                }
                if let bias, pb == kBlocks - 1 {
                    // The bias row, while the block of C is still in cache.
                    for r in ic..<(ic + im) { Vec.add(c + r * ldc + j0, bias + j0, jn) }
                }
                ic += im
            }
        }
    }
}

@inline(__always)
func roundUp(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }

/// Runs the micro-kernel over an im × jn block of C from packed panels.
@inline(__always)
func macroKernel(_ kernel: MicroKernel, im: Int, jn: Int, pk: Int,
                 a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                 c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                 tile: UnsafeMutablePointer<Float>) {
    let mr = kernel.mr, nr = kernel.nr
    let run = kernel.run
    var j = 0
    while j < jn {
        let nb = min(nr, jn - j)
        let bp = b + (j / nr) * pk * nr
        var i = 0
        while i < im {
            let mb = min(mr, im - i)
            let ap = a + (i / mr) * pk * mr
            let cp = c + i * ldc + j
            if mb == mr && nb == nr {
                run(pk, ap, bp, cp, ldc, alpha, beta)
            } else {
                // Edge block: the same kernel on a copy, so the arithmetic is identical.
                if beta != 0 {
                    for r in 0..<mb { for q in 0..<nb { tile[r * nr + q] = cp[r * ldc + q] } }
                }
                run(pk, ap, bp, tile, nr, alpha, beta)
                for r in 0..<mb { for q in 0..<nb { cp[r * ldc + q] = tile[r * nr + q] } }
            }
            i += mr
        }
        j += nr
    }
}

/// The micro-kernel over an im × jn block of C (im a multiple of mr) reading A in place.
@inline(__always)
func macroKernelStridedA(_ kernel: MicroKernel, im: Int, jn: Int, pk: Int,
                         a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
                         c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    let mr = kernel.mr, nr = kernel.nr
    let run = kernel.runStrided
    var j = 0
    while j < jn {
        let nb = min(nr, jn - j)
        let bp = b + (j / nr) * pk * nr
        var i = 0
        if nb == nr {
            while i < im {
                run(pk, a + i * lda, lda, bp, c + i * ldc + j, ldc, alpha, beta)
                i += mr
            }
        } else {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: mr * nr) { t in
                let tp = t.baseAddress!
                while i < im {
                    let cp = c + i * ldc + j
                    if beta != 0 { for r in 0..<mr { for q in 0..<nb { tp[r * nr + q] = cp[r * ldc + q] } } }
                    run(pk, a + i * lda, lda, bp, tp, nr, alpha, beta)
                    for r in 0..<mr { for q in 0..<nb { cp[r * ldc + q] = tp[r * nr + q] } }
                    i += mr
                }
            }
        }
        j += nr
    }
}

/// Packs op(A)[i0 ..< i0+im, p0 ..< p0+pk] into mr-row panels: panel q holds, for each p,
/// the mr values of rows q·mr ..< q·mr+mr (zero past the last row).
func packA(_ a: UnsafePointer<Float>, lda: Int, trans: Bool, i0: Int, im: Int, p0: Int, pk: Int,
           mr: Int, into dst: UnsafeMutablePointer<Float>) {
    let panels = (im + mr - 1) / mr
    if trans {
        // A is k×m: row p of A holds the values for all rows of op(A); read it once, in order.
        let full = im / mr
        for p in 0..<pk {
            let src = a + (p0 + p) * lda + i0
            var o = dst + p * mr
            var q = 0
            if mr == 6 {
                while q < full {
                    let s = src + q * 6
                    o[0] = s[0]; o[1] = s[1]; o[2] = s[2]; o[3] = s[3]; o[4] = s[4]; o[5] = s[5]
                    o += pk * 6
                    q += 1
                }
            }
            while q < panels {
                let rows = min(mr, im - q * mr)
                for r in 0..<rows { o[r] = src[q * mr + r] }
                for r in rows..<mr { o[r] = 0 }
                o += pk * mr
                q += 1
            }
        }
        return
    }
    // A is m×k: row r of a panel is contiguous in A.
    var d = dst
    for q in 0..<panels {
        let i = q * mr
        let rows = min(mr, im - i)
        if rows == 6 && mr == 6 {
            let r0 = a + (i0 + i) * lda + p0
            let r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda, r4 = r3 + lda, r5 = r4 + lda
            var o = d
            for p in 0..<pk {
                o[0] = r0[p]; o[1] = r1[p]; o[2] = r2[p]; o[3] = r3[p]; o[4] = r4[p]; o[5] = r5[p]
                o += 6
            }
        } else {
            for r in 0..<mr {
                if r < rows {
                    let src = a + (i0 + i + r) * lda + p0
                    for p in 0..<pk { d[p * mr + r] = src[p] }
                } else {
                    for p in 0..<pk { d[p * mr + r] = 0 }
                }
            }
        }
        d += pk * mr
    }
}

/// Packs op(B)[p0 ..< p0+pk, j0 ..< j0+jn] into nr-column panels: panel q holds, for each p,
/// the nr values of columns q·nr ..< q·nr+nr (zero past the last column).
func packB(_ b: UnsafePointer<Float>, ldb: Int, trans: Bool, p0: Int, pk: Int, j0: Int, jn: Int,
           nr: Int, into dst: UnsafeMutablePointer<Float>) {
    let panels = (jn + nr - 1) / nr
    if !trans {
        // B is k×n: row p of B holds the values for all panels; read it once, in order.
        let full = jn / nr
        for p in 0..<pk {
            let src = b + (p0 + p) * ldb + j0
            var o = dst + p * nr
            var q = 0
            if nr == 16 {
                while q < full {
                    UnsafeMutableRawPointer(o).storeBytes(
                        of: UnsafeRawPointer(src + q * 16).loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self)
                    o += pk * 16
                    q += 1
                }
            } else if nr == 8 {
                while q < full {
                    UnsafeMutableRawPointer(o).storeBytes(
                        of: UnsafeRawPointer(src + q * 8).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                    o += pk * 8
                    q += 1
                }
            }
            while q < panels {
                let cols = min(nr, jn - q * nr)
                for c in 0..<cols { o[c] = src[q * nr + c] }
                for c in cols..<nr { o[c] = 0 }
                o += pk * nr
                q += 1
            }
        }
        return
    }
    // B is n×k: column c of a panel is contiguous in B.
    var d = dst
    for q in 0..<panels {
        let j = q * nr
        let cols = min(nr, jn - j)
        for c in 0..<nr {
            if c < cols {
                let src = b + (j0 + j + c) * ldb + p0
                for p in 0..<pk { d[p * nr + c] = src[p] }
            } else {
                for p in 0..<pk { d[p * nr + c] = 0 }
            }
        }
        d += pk * nr
    }
}

/// C = beta · C (beta 0: zeros, old contents ignored).
func scaleMatrix(_ c: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int, beta: Float, threads: Int) {
    let t = rows * cols >= 1 << 18 ? threads : 1
    Parallel.forEachWorker(min(rows, t * 4), threads: t) { task, _ in
        for r in Parallel.chunkRange(task, of: min(rows, t * 4), count: rows) {
            let row = c + r * ld
            if beta == 0 {
                row.update(repeating: 0, count: cols)
            } else if beta != 1 {
                for j in 0..<cols { row[j] *= beta }
            }
        }
    }
}
