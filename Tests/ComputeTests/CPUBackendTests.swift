import XCTest
@testable import Compute
import TestHelpers

/// What only the CPU backend has: its aligned host storage, its two GEMM kernels (portable and
/// AVX2+FMA) and their blocking, the MLREPO_GEMM override and the raw-pointer GEMM entry
/// point. The contract every backend meets is in the conformance suites (`BackendTestCase`).
final class CPUBackendTests: XCTestCase {
    func testTensorsAreAligned() {
        let be = CPUBackend(threads: 2)
        for (r, c) in [(0, 0), (1, 1), (3, 5), (1000, 333)] {
            let t = be.tensor(rows: r, cols: c)
            let s = t.storage as! CPUStorage
            XCTAssertEqual(Int(bitPattern: s.pointer) % 64, 0, "64-byte alignment")
            XCTAssertEqual(s.count, r * c)
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

    /// `Vec.dot2` gives each of its two sums the same bits as `Vec.dot` (so `linear`'s narrow
    /// path does not depend on whether an output is computed in a pair).
    func testDot2MatchesDot() {
        var rng = SplitMix(seed: 40)
        for n in [0, 1, 7, 8, 9, 100, 128, 131] {
            let a = rng.floats(n, scale: 3), b0 = rng.floats(n), b1 = rng.floats(n)
            a.withUnsafeBufferPointer { ap in b0.withUnsafeBufferPointer { p0 in b1.withUnsafeBufferPointer { p1 in
                let (d0, d1) = Vec.dot2(ap.baseAddress!, p0.baseAddress!, p1.baseAddress!, n)
                XCTAssertEqual(d0.bitPattern, Vec.dot(ap.baseAddress!, p0.baseAddress!, n).bitPattern, "n \(n)")
                XCTAssertEqual(d1.bitPattern, Vec.dot(ap.baseAddress!, p1.baseAddress!, n).bitPattern, "n \(n)")
            } } }
        }
    }
}
