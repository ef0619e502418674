import XCTest
@testable import Compute
import TestHelpers

/// GEMM against a naive Double reference, on every backend (`BackendTestCase`; on the CPU,
/// every GEMM kernel it has). Error bound per element:
/// |c − ref| ≤ 1e-6 · (k + 2) · (|alpha|·Σ_p |a_ip·b_pj| + |beta·c_ij|) + 1e-30,
/// i.e. a relative error of at most ~8·k float ulps of the magnitude (sequential float
/// summation is within k·2⁻²⁴ of it).
final class GEMMConformanceTests: BackendTestCase {
    override class var backends: [BackendUnderTest] { BackendUnderTest.allGEMMKernels }

    func check(_ be: any Backend, m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float,
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
        XCTAssertLessThan(at, 0, "m=\(m) n=\(n) k=\(k) tA=\(transA) tB=\(transB) α=\(alpha) β=\(beta): "
                          + "element \(at) off by \(worst)× the tolerance", file: file, line: line)
    }

    func testOddSizesAllTransposes() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 1)
            let sizes = [1, 7, 17, 33, 100, 257]
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

    func testAlphaBeta() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 2)
            let cases: [(Float, Float)] = [(1, 0), (2.5, 0), (1, 1), (-0.5, 0.75), (0, 0.5), (0, 0), (1, -1)]
            for (alpha, beta) in cases {
                for t in 0..<4 {
                    check(be, m: 37, n: 45, k: 300, transA: t & 1 != 0, transB: t & 2 != 0, alpha: alpha, beta: beta, rng: &rng)
                    check(be, m: 6, n: 16, k: 5, transA: t & 1 != 0, transB: t & 2 != 0, alpha: alpha, beta: beta, rng: &rng)
                }
            }
        }
    }

    func testBetaZeroIgnoresNaN() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 3)
            for (m, n, k) in [(1, 1, 1), (7, 33, 17), (100, 257, 600), (13, 9, 0)] {
                check(be, m: m, n: n, k: k, transA: false, transB: true, alpha: 1.5, beta: 0, rng: &rng, nanC: true)
                let tc = be.upload([Float](repeating: .nan, count: m * n), rows: m, cols: n)
                let ta = be.tensor(rows: m, cols: k), tb = be.tensor(rows: k, cols: n)
                be.gemm(ta, transA: false, tb, transB: false, into: tc, alpha: 0, beta: 0)
                XCTAssertTrue(be.download(tc).allSatisfy { $0 == 0 }, "alpha 0, beta 0 must give zeros")
            }
        }
    }

    func testLargeMultiBlock() throws {
        try forEachBackend { _ in
            // Several K blocks (k > 256), several column blocks (n > 2048), partial edge tiles.
            var rng = SplitMix(seed: 4)
            let be = try make(threads: 3)
            check(be, m: 20, n: 2100, k: 300, transA: false, transB: false, alpha: 1, beta: 0.5, rng: &rng)
            check(be, m: 101, n: 65, k: 777, transA: true, transB: true, alpha: -1, beta: 0, rng: &rng)
        }
    }

    /// Results are bit-identical for 1, 2 and 3 threads (shapes above the parallel threshold).
    func testThreadCountDeterminism() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 5)
            // Several K blocks; narrow C (A read in place); two column blocks; odd edges.
            let shapes = [(70, 40, 530), (1200, 10, 100), (20, 2100, 40), (257, 33, 257)]
            for (m, n, k) in shapes {
                XCTAssertGreaterThanOrEqual(m * n * k, GEMMBlocking.parallelThreshold, "shape must be split over threads")
                for t in 0..<4 {
                    let transA = t & 1 != 0, transB = t & 2 != 0
                    let a = rng.floats(m * k), b = rng.floats(k * n), c0 = rng.floats(m * n)
                    var results: [[UInt32]] = []
                    for threads in [1, 2, 3] {
                        let be = try make(threads: threads)
                        let ta = be.upload(a, rows: transA ? k : m, cols: transA ? m : k)
                        let tb = be.upload(b, rows: transB ? n : k, cols: transB ? k : n)
                        let tc = be.upload(c0, rows: m, cols: n)
                        be.gemm(ta, transA: transA, tb, transB: transB, into: tc, alpha: 0.75, beta: 0.25)
                        results.append(bits(be.download(tc)))
                    }
                    XCTAssertEqual(results[0], results[1], "\(m)×\(n)×\(k) t=\(t): 1 vs 2 threads")
                    XCTAssertEqual(results[0], results[2], "\(m)×\(n)×\(k) t=\(t): 1 vs 3 threads")
                }
            }
        }
    }
}
