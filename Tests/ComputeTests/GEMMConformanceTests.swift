import XCTest
@testable import Compute
import TestHelpers

/// GEMM against a naive Double reference. Error bound per element:
/// |c − ref| ≤ 1e-6 · (k + 2) · (|alpha|·Σ_p |a_ip·b_pj| + |beta·c_ij|) + 1e-30,
/// i.e. a relative error of at most ~8·k float ulps of the magnitude (sequential float
/// summation is within k·2⁻²⁴ of it).
final class GEMMTests: XCTestCase {
    func check(_ be: CPUBackend, m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float,
               rng: inout SplitMix, nanC: Bool = false, file: StaticString = #filePath, line: UInt = #line) {
        let (ar, ac) = transA ? (k, m) : (m, k)
        let (br, bc) = transB ? (n, k) : (k, n)
        let a = rng.floats(ar * ac), b = rng.floats(br * bc)
        let c0 = nanC ? [Float](repeating: .nan, count: m * n) : rng.floats(m * n)
        let ta = be.upload(a, rows: ar, cols: ac), tb = be.upload(b, rows: br, cols: bc)
        let tc = be.upload(c0, rows: m, cols: n)
        be.gemm(ta, transA: transA, tb, transB: transB, into: tc, alpha: alpha, beta: beta)
        let got = be.download(tc)
        let (ref, mag) = referenceGEMM(a, ar, ac, transA: transA, b, br, bc, transB: transB, c: c0, alpha: alpha, beta: beta)
        var worst = 0.0, at = -1
        for i in 0..<(m * n) {
            let tol = 1e-6 * Double(k + 2) * mag[i] + 1e-30
            let err = abs(Double(got[i]) - ref[i])
            if !(err <= tol) { if at < 0 || err / tol > worst { worst = err / tol; at = i } }
        }
        XCTAssertLessThan(at, 0, "\(be.gemmPath) m=\(m) n=\(n) k=\(k) tA=\(transA) tB=\(transB) α=\(alpha) β=\(beta): "
                          + "element \(at) off by \(worst)× the tolerance", file: file, line: line)
    }

    func testOddSizesAllTransposes() {
        var rng = SplitMix(seed: 1)
        let sizes = [1, 7, 17, 33, 100, 257]
        for path in gemmPaths {
            let be = CPUBackend(threads: 2, gemmPath: path)
            for m in sizes {
                for n in sizes {
                    // k covers every size for a rotating subset of (m, n), so the test stays quick
                    // (in debug builds).
                    let ks = (m + n) % 3 == 0 ? sizes : [sizes[(m * 7 + n) % sizes.count]]
                    for k in ks where m * n * k <= 2_000_000 {
                        for t in 0..<4 {
                            check(be, m: m, n: n, k: k, transA: t & 1 != 0, transB: t & 2 != 0, alpha: 1, beta: 0, rng: &rng)
                        }
                    }
                }
            }
        }
    }

    func testAlphaBeta() {
        var rng = SplitMix(seed: 2)
        let cases: [(Float, Float)] = [(1, 0), (2.5, 0), (1, 1), (-0.5, 0.75), (0, 0.5), (0, 0), (1, -1)]
        for path in gemmPaths {
            let be = CPUBackend(threads: 2, gemmPath: path)
            for (alpha, beta) in cases {
                for t in 0..<4 {
                    check(be, m: 37, n: 45, k: 300, transA: t & 1 != 0, transB: t & 2 != 0, alpha: alpha, beta: beta, rng: &rng)
                    check(be, m: 6, n: 16, k: 5, transA: t & 1 != 0, transB: t & 2 != 0, alpha: alpha, beta: beta, rng: &rng)
                }
            }
        }
    }

    func testBetaZeroIgnoresNaN() {
        var rng = SplitMix(seed: 3)
        for path in gemmPaths {
            let be = CPUBackend(threads: 2, gemmPath: path)
            for (m, n, k) in [(1, 1, 1), (7, 33, 17), (100, 257, 600), (13, 9, 0)] {
                check(be, m: m, n: n, k: k, transA: false, transB: true, alpha: 1.5, beta: 0, rng: &rng, nanC: true)
                let tc = be.upload([Float](repeating: .nan, count: m * n), rows: m, cols: n)
                let ta = be.tensor(rows: m, cols: k), tb = be.tensor(rows: k, cols: n)
                be.gemm(ta, transA: false, tb, transB: false, into: tc, alpha: 0, beta: 0)
                XCTAssertTrue(be.download(tc).allSatisfy { $0 == 0 }, "alpha 0, beta 0 must give zeros")
            }
        }
    }

    func testLargeMultiBlock() {
        // Several K blocks (k > 256), several column blocks (n > 2048), partial edge tiles.
        var rng = SplitMix(seed: 4)
        for path in gemmPaths {
            let be = CPUBackend(threads: 3, gemmPath: path)
            check(be, m: 20, n: 2100, k: 300, transA: false, transB: false, alpha: 1, beta: 0.5, rng: &rng)
            check(be, m: 101, n: 65, k: 777, transA: true, transB: true, alpha: -1, beta: 0, rng: &rng)
        }
    }

    /// Results are bit-identical for 1, 2 and 3 threads (shapes above the parallel threshold).
    func testThreadCountDeterminism() {
        var rng = SplitMix(seed: 5)
        // Several K blocks; narrow C (A read in place); two column blocks; odd edges.
        let shapes = [(70, 40, 530), (1200, 10, 100), (20, 2100, 40), (257, 33, 257)]
        for path in gemmPaths {
            for (m, n, k) in shapes {
                XCTAssertGreaterThanOrEqual(m * n * k, GEMMBlocking.parallelThreshold, "shape must be split over threads")
                for t in 0..<4 {
                    let transA = t & 1 != 0, transB = t & 2 != 0
                    let a = rng.floats(m * k), b = rng.floats(k * n), c0 = rng.floats(m * n)
                    var results: [[UInt32]] = []
                    for threads in [1, 2, 3] {
                        let be = CPUBackend(threads: threads, gemmPath: path)
                        let ta = be.upload(a, rows: transA ? k : m, cols: transA ? m : k)
                        let tb = be.upload(b, rows: transB ? n : k, cols: transB ? k : n)
                        let tc = be.upload(c0, rows: m, cols: n)
                        be.gemm(ta, transA: transA, tb, transB: transB, into: tc, alpha: 0.75, beta: 0.25)
                        results.append(bits(be.download(tc)))
                    }
                    XCTAssertEqual(results[0], results[1], "\(path) \(m)×\(n)×\(k) t=\(t): 1 vs 2 threads")
                    XCTAssertEqual(results[0], results[2], "\(path) \(m)×\(n)×\(k) t=\(t): 1 vs 3 threads")
                }
            }
        }
    }

    /// The portable and AVX2 kernels agree within the tolerance (they round differently).
    func testPortableMatchesAVX2() throws {
        try XCTSkipUnless(GEMMPath.avx2Supported, "no AVX2+FMA on this CPU")
        var rng = SplitMix(seed: 6)
        let p = CPUBackend(threads: 2, gemmPath: .portable), x = CPUBackend(threads: 2, gemmPath: .avx2)
        XCTAssertEqual(p.gemmPath, .portable)
        XCTAssertEqual(x.gemmPath, .avx2)
        for (m, n, k) in [(129, 77, 400), (1, 300, 33), (500, 16, 6)] {
            let a = rng.floats(m * k), b = rng.floats(k * n)
            var outs: [[Float]] = []
            var mag = [Double](repeating: 0, count: m * n)
            for be in [p, x] {
                let ta = be.upload(a, rows: m, cols: k), tb = be.upload(b, rows: k, cols: n), tc = be.tensor(rows: m, cols: n)
                be.gemm(ta, transA: false, tb, transB: false, into: tc, alpha: 1, beta: 0)
                outs.append(be.download(tc))
            }
            for i in 0..<m { for j in 0..<n { for q in 0..<k { mag[i * n + j] += Double(abs(a[i * k + q] * b[q * n + j])) } } }
            for i in 0..<(m * n) {
                XCTAssertLessThanOrEqual(abs(Double(outs[0][i]) - Double(outs[1][i])), 2e-6 * Double(k + 2) * mag[i] + 1e-30)
            }
        }
    }

    /// Narrow C reads row-major A in place instead of packing it: the same arithmetic, so
    /// the same bits as the packed path.
    func testInPlaceAMatchesPacked() {
        var rng = SplitMix(seed: 8)
        let saved = GEMMBlocking.stridedAMaxN
        defer { GEMMBlocking.stridedAMaxN = saved }
        for path in gemmPaths {
            for (m, n, k) in [(100, 10, 100), (37, 33, 300), (6, 16, 7), (13, 1, 5)] {
                let a = rng.floats(m * k), b = rng.floats(k * n), c0 = rng.floats(m * n)
                var results: [[UInt32]] = []
                for limit in [0, 1 << 30] {
                    GEMMBlocking.stridedAMaxN = limit
                    let be = CPUBackend(threads: 2, gemmPath: path)
                    let tc = be.upload(c0, rows: m, cols: n)
                    be.gemm(be.upload(a, rows: m, cols: k), transA: false, be.upload(b, rows: k, cols: n), transB: false,
                            into: tc, alpha: 1.25, beta: 0.5)
                    results.append(bits(be.download(tc)))
                }
                XCTAssertEqual(results[0], results[1], "\(path) \(m)×\(n)×\(k)")
            }
        }
    }

    func testEnvForcesPortable() {
        setenv("MLREPO_GEMM", "portable", 1)
        defer { unsetenv("MLREPO_GEMM") }
        XCTAssertEqual(CPUBackend(threads: 1).gemmPath, .portable)
        XCTAssertEqual(GEMMPath.automatic, .portable)
        unsetenv("MLREPO_GEMM")
        XCTAssertEqual(CPUBackend(threads: 1).gemmPath, GEMMPath.avx2Supported ? .avx2 : .portable)
    }

    func testRawBufferEntryPointWithStrides() {
        // A sub-matrix view (lda > k) into a sub-block of C (ldc > n).
        var rng = SplitMix(seed: 7)
        let be = CPUBackend(threads: 2)
        let m = 20, n = 30, k = 40, lda = 50, ldb = 35, ldc = 33
        let a = rng.floats(m * lda), b = rng.floats(k * ldb)
        var c = [Float](repeating: 7, count: m * ldc)
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            be.gemm(m: m, n: n, k: k, alpha: 1, a: ap.baseAddress!, lda: lda, transA: false,
                    b: bp.baseAddress!, ldb: ldb, transB: false, beta: 0, c: cp.baseAddress!, ldc: ldc)
        } } }
        for i in 0..<m {
            for j in 0..<ldc {
                if j >= n { XCTAssertEqual(c[i * ldc + j], 7, "outside the block must be untouched"); continue }
                var s = 0.0
                for p in 0..<k { s += Double(a[i * lda + p]) * Double(b[p * ldb + j]) }
                XCTAssertEqual(Double(c[i * ldc + j]), s, accuracy: 1e-6 * Double(k + 2) * Double(k))
            }
        }
    }
}
