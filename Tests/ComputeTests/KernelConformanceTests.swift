import XCTest
@testable import Compute
import TestHelpers

/// The non-GEMM kernels against naive references, on every backend (`BackendTestCase`).
/// Elementwise kernels that do one or two float operations per element must match the same
/// float expression exactly; kernels with exp/log or sums are checked against Double with the
/// tolerance stated at each check.
final class KernelConformanceTests: BackendTestCase {
    // MARK: Memory

    func testTensorsAreZeroed() throws {
        try forEachBackend { be in
            for (r, c) in [(0, 0), (1, 1), (3, 5), (1000, 333)] {
                let t = be.tensor(rows: r, cols: c)
                XCTAssertEqual(t.count, r * c)
                XCTAssertTrue(be.download(t).allSatisfy { $0 == 0 })
            }
        }
    }

    func testUploadDownloadAndRowUpload() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 10)
            let v = rng.floats(6 * 4)
            let t = be.upload(v, rows: 6, cols: 4)
            XCTAssertEqual(be.download(t), v)
            let part: [Float] = [1, 2, 3, 4, 5, 6, 7, 8]
            part.withUnsafeBufferPointer { be.upload($0, into: t, row: 3) }
            var want = v
            for i in 0..<8 { want[12 + i] = part[i] }
            XCTAssertEqual(be.download(t), want)
            XCTAssertEqual(t.backend.kind, expectedKind)
        }
    }

    func testGatherRows() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 11)
            for (rows, cols, count) in [(10, 3, 4), (5000, 37, 3000)] {
                let src = rng.floats(rows * cols)
                let idx = (0..<count).map { _ in Int32(rng.int(0..<rows)) }
                let ts = be.upload(src, rows: rows, cols: cols), td = be.tensor(rows: count + 2, cols: cols)
                be.gatherRows(ts, idx, into: td)
                let got = be.download(td)
                for (r, i) in idx.enumerated() {
                    XCTAssertEqual(Array(got[(r * cols)..<((r + 1) * cols)]), Array(src[(Int(i) * cols)..<((Int(i) + 1) * cols)]))
                }
                XCTAssertTrue(got[(count * cols)...].allSatisfy { $0 == 0 }, "rows past indices.count untouched")
            }
        }
    }

    // MARK: Elementwise

    let shapes = [(1, 1), (3, 7), (17, 33), (257, 100), (700, 1000)]

    func testAddRowVector() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 12)
            for (r, c) in shapes {
                let x = rng.floats(r * c), v = rng.floats(c)
                let t = be.upload(x, rows: r, cols: c)
                be.addRowVector(t, be.upload(v, rows: 1, cols: c))
                XCTAssertEqual(be.download(t), (0..<(r * c)).map { x[$0] + v[$0 % c] })
            }
        }
    }

    func testReluAndBackward() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 13)
            for (r, c) in shapes {
                var x = rng.floats(r * c)
                x[0] = 0
                let t = be.upload(x, rows: r, cols: c)
                be.relu(t)
                let act = be.download(t)
                XCTAssertEqual(act, x.map { $0 < 0 ? 0 : $0 })
                let g = rng.floats(r * c)
                let tg = be.upload(g, rows: r, cols: c)
                be.reluBackward(tg, activation: t)
                XCTAssertEqual(be.download(tg), (0..<(r * c)).map { act[$0] > 0 ? g[$0] : 0 })
            }
        }
    }

    func testSigmoid() throws {
        try forEachBackend { be in
            // |got − 1/(1+e^(−x))| ≤ 2e-7 (a few ulps at 1) for x in [−20, 20], and the extremes.
            var rng = SplitMix(seed: 14)
            for (r, c) in shapes {
                var x = rng.floats(r * c, scale: 20)
                if x.count >= 3 { x[0] = -200; x[1] = 200; x[2] = 0 }
                let t = be.upload(x, rows: r, cols: c)
                be.sigmoid(t)
                let got = be.download(t)
                for i in 0..<x.count {
                    let ref = 1 / (1 + exp(-Double(x[i])))
                    XCTAssertEqual(Double(got[i]), ref, accuracy: 2e-7, "x=\(x[i])")
                }
                if x.count >= 3 { XCTAssertEqual(got[0], 0); XCTAssertEqual(got[1], 1); XCTAssertEqual(got[2], 0.5) }
            }
        }
    }

    func softmaxInput(_ rng: inout SplitMix, _ r: Int, _ c: Int) -> [Float] {
        var x = rng.floats(r * c, scale: 10)
        // A row with huge values (stability) and a row of ties.
        if r >= 3 {
            for j in 0..<c { x[j] = 1000 + Float(j % 3) }
            for j in 0..<c { x[c + j] = -5 }
        }
        return x
    }

    func testSoftmaxRows() throws {
        try forEachBackend { be in
            // |got − ref| ≤ 1e-6 per element (probabilities); each row sums to 1 within 1e-5·(1 + c·1e-2).
            var rng = SplitMix(seed: 15)
            for (r, c) in shapes {
                let x = softmaxInput(&rng, r, c)
                let t = be.upload(x, rows: r, cols: c)
                be.softmaxRows(t)
                let got = be.download(t)
                for i in 0..<r {
                    let row = x[(i * c)..<((i + 1) * c)].map(Double.init)
                    let mx = row.max()!
                    let e = row.map { exp($0 - mx) }
                    let s = e.reduce(0, +)
                    var total = 0.0
                    for j in 0..<c {
                        XCTAssertEqual(Double(got[i * c + j]), e[j] / s, accuracy: 1e-6)
                        total += Double(got[i * c + j])
                    }
                    XCTAssertEqual(total, 1, accuracy: 1e-5 * (1 + Double(c) * 1e-2))
                }
            }
        }
    }

    func testLogSoftmaxRows() throws {
        try forEachBackend { be in
            // |got − ref| ≤ 2e-6·(1 + |ref|).
            var rng = SplitMix(seed: 16)
            for (r, c) in shapes {
                let x = softmaxInput(&rng, r, c)
                let t = be.upload(x, rows: r, cols: c)
                be.logSoftmaxRows(t)
                let got = be.download(t)
                for i in 0..<r {
                    let row = x[(i * c)..<((i + 1) * c)].map(Double.init)
                    let mx = row.max()!
                    let lse = mx + log(row.map { exp($0 - mx) }.reduce(0, +))
                    for j in 0..<c {
                        let ref = row[j] - lse
                        XCTAssertEqual(Double(got[i * c + j]), ref, accuracy: 2e-6 * (1 + abs(ref)))
                    }
                }
            }
        }
    }

    func testAxpyScaleSub() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 17)
            for (r, c) in shapes {
                let x = rng.floats(r * c), y = rng.floats(r * c)
                let tx = be.upload(x, rows: r, cols: c), ty = be.upload(y, rows: r, cols: c)
                be.axpy(-0.37, tx, ty)
                XCTAssertEqual(be.download(ty), (0..<x.count).map { y[$0] + -0.37 * x[$0] })
                be.scale(tx, 1.7)
                XCTAssertEqual(be.download(tx), x.map { $0 * 1.7 })
                let a = rng.floats(r * c), b = rng.floats(r * c)
                let ta = be.upload(a, rows: r, cols: c), tb = be.upload(b, rows: r, cols: c), tc = be.tensor(rows: r, cols: c)
                let want = (0..<a.count).map { a[$0] - b[$0] }
                be.sub(ta, tb, into: tc)
                XCTAssertEqual(be.download(tc), want)
                be.sub(ta, tb, into: ta)   // c is a
                XCTAssertEqual(be.download(ta), want)
                let ta2 = be.upload(a, rows: r, cols: c)
                be.sub(ta2, tb, into: tb)  // c is b
                XCTAssertEqual(be.download(tb), want)
            }
        }
    }

    // MARK: Reductions

    func testColumnSums() throws {
        try forEachBackend { be in
            // |got − Σ| ≤ 1e-6 · rows · Σ|x| per column (float summation in row order, by blocks).
            var rng = SplitMix(seed: 18)
            for (r, c) in [(1, 1), (5, 7), (1024, 40), (1025, 3), (3000, 600), (2, 1500), (20000, 10)] {
                let x = rng.floats(r * c)
                let t = be.upload(x, rows: r, cols: c), out = be.tensor(rows: 1, cols: c)
                be.columnSums(t, into: out)
                let got = be.download(out)
                for j in 0..<c {
                    var s = 0.0, a = 0.0
                    for i in 0..<r { s += Double(x[i * c + j]); a += abs(Double(x[i * c + j])) }
                    XCTAssertEqual(Double(got[j]), s, accuracy: 1e-6 * Double(r) * a + 1e-30, "\(r)×\(c) col \(j)")
                }
            }
            // One block: exactly the sequential float sum.
            let x = rng.floats(100 * 9)
            let t = be.upload(x, rows: 100, cols: 9), out = be.tensor(rows: 1, cols: 9)
            be.columnSums(t, into: out)
            XCTAssertEqual(be.download(out), (0..<9).map { j in (0..<100).reduce(Float(0)) { $0 + x[$1 * 9 + j] } })
        }
    }

    func testRowArgmax() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 19)
            for (r, c) in shapes {
                var x = (0..<(r * c)).map { _ in Float(rng.int(0..<5)) }   // many ties
                if r > 1 { for j in 0..<c { x[c + j] = 3 } }
                let got = be.rowArgmax(be.upload(x, rows: r, cols: c))
                XCTAssertEqual(got.count, r)
                for i in 0..<r {
                    let row = Array(x[(i * c)..<((i + 1) * c)])
                    XCTAssertEqual(Int(got[i]), row.firstIndex(of: row.max()!)!, "first index on ties")
                }
            }
        }
    }

    func testBorrowReadsTheArrayAndNeverChangesIt() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 30)
            for (r, c) in [(0, 0), (1, 3), (5, 40)] {
                let v = rng.floats(r * c)
                let keep = v
                let t = be.borrow(v, rows: r, cols: c)
                XCTAssertEqual(t.rows, r); XCTAssertEqual(t.cols, c)
                XCTAssertEqual(be.download(t), v)
                // Read as an operand, the array keeps its values.
                if r > 0 && c > 0 {
                    let y = be.tensor(rows: r, cols: r)
                    be.gemm(t, transA: false, t, transB: true, into: y, alpha: 1, beta: 0)
                }
                XCTAssertEqual(v, keep)
            }
        }
    }

    func testUninitializedTensorAndDownloadTaking() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 31)
            for (r, c) in [(0, 0), (1, 2), (7, 30)] {
                let v = rng.floats(r * c)
                let t = be.uninitializedTensor(rows: r, cols: c)
                XCTAssertEqual(t.rows, r); XCTAssertEqual(t.cols, c)
                v.withUnsafeBufferPointer { if r > 0 && c > 0 { be.upload($0, into: t, row: 0) } }
                XCTAssertEqual(be.download(taking: t), v)
                // A tensor of any other origin gives its values too.
                XCTAssertEqual(be.download(taking: be.upload(v, rows: r, cols: c)), v)
            }
        }
    }

    /// `linear` against a Double reference for every path (small m, narrow n×k weights, the
    /// blocked GEMM, over several K and row blocks), both weight layouts, with and without bias, alpha ≠ 1 and k = 0; the
    /// same bits with 1 and 3 threads.
    func testLinearMatchesReferenceWhateverTheThreads() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 32)
            let one = try make(threads: 1), three = try make(threads: 3)
            let shapes = [(1, 100, 128), (3, 7, 5), (8, 33, 40), (9, 33, 40), (1, 128, 2), (2000, 128, 2),
                          (600, 100, 128), (4, 0, 9), (1, 5, 70), (300, 520, 24), (10, 9, 7)]
            for (m, k, n) in shapes {
                for transW in [false, true] {
                    for withBias in [false, true] {
                        let x = rng.floats(m * k), w = rng.floats(k * n), b = rng.floats(n)
                        let alpha: Float = withBias ? 1 : 0.75
                        let ref = referenceGEMM(x, m, k, transA: false, w, transW ? n : k, transW ? k : n, transB: transW,
                                                c: [], alpha: alpha, beta: 0)
                        var got: [[Float]] = []
                        for b2 in [be, one, three] {
                            let y = b2.uninitializedTensor(rows: m, cols: n)
                            b2.linear(b2.borrow(x, rows: m, cols: k), b2.borrow(w, rows: transW ? n : k, cols: transW ? k : n),
                                      transW: transW, bias: withBias ? b2.upload(b, rows: 1, cols: n) : nil, alpha: alpha, into: y)
                            got.append(b2.download(taking: y))
                        }
                        let label = "m \(m) k \(k) n \(n) transW \(transW) bias \(withBias)"
                        XCTAssertEqual(bits(got[0]), bits(got[1]), "\(label): 2 vs 1 threads")
                        XCTAssertEqual(bits(got[0]), bits(got[2]), "\(label): 2 vs 3 threads")
                        for i in 0..<(m * n) {
                            let want = ref.value[i] + (withBias ? Double(b[i % n]) : 0)
                            XCTAssertEqual(Double(got[0][i]), want, accuracy: 1e-5 * (ref.scale[i] + 1), label)
                        }
                    }
                }
            }
        }
    }

    func testGramMatchesReferenceWhateverTheThreads() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 23)
            let one = try make(threads: 1)
            for (n, m) in [(1, 1), (300, 7), (140_000, 9)] {
                let xs = rng.floats(n * m)
                let g = be.tensor(rows: m, cols: m), g1 = one.tensor(rows: m, cols: m)
                be.gram(be.upload(xs, rows: n, cols: m), into: g, alpha: 0.5)
                one.gram(one.upload(xs, rows: n, cols: m), into: g1, alpha: 0.5)
                let a = be.download(g)
                XCTAssertEqual(bits(a), bits(one.download(g1)), "same bits with 1 and 2 threads")
                for i in 0..<m {
                    for j in 0..<m {
                        var ref = 0.0, mag = 0.0
                        for r in 0..<n { ref += Double(xs[r * m + i]) * Double(xs[r * m + j]); mag += abs(Double(xs[r * m + i]) * Double(xs[r * m + j])) }
                        XCTAssertEqual(Double(a[i * m + j]), 0.5 * ref, accuracy: 1e-5 * mag + 1e-6)
                    }
                }
            }
        }
    }

    func testSoftmaxLinearGradient() throws {
        try forEachBackend { be in
            // Against a Double reference; identical bits with 1 and 2 threads.
            var rng = SplitMix(seed: 22)
            let one = try make(threads: 1)
            for (n, m, k) in [(1, 1, 2), (5000, 13, 2), (9000, 20, 5)] {
                let x = rng.floats(n * m, scale: 2), w = rng.floats(m * k), b = rng.floats(k)
                let labels = (0..<n).map { _ in Int32((rng.float() + 1) / 2 * Float(k - 1) + 0.5) }
                let r = be.softmaxLinearGradient(be.upload(x, rows: n, cols: m), weights: w, bias: b, classes: k, labels: labels)
                let r1 = one.softmaxLinearGradient(one.upload(x, rows: n, cols: m), weights: w, bias: b, classes: k, labels: labels)
                XCTAssertEqual(r.loss.bitPattern, r1.loss.bitPattern)
                XCTAssertEqual(r.gradW.map(\.bitPattern), r1.gradW.map(\.bitPattern))
                XCTAssertEqual(r.gradB.map(\.bitPattern), r1.gradB.map(\.bitPattern))
                var loss = 0.0, gw = [Double](repeating: 0, count: m * k), gb = [Double](repeating: 0, count: k)
                for i in 0..<n {
                    var z = (0..<k).map { j in (0..<m).reduce(Double(b[j])) { $0 + Double(x[i * m + $1]) * Double(w[$1 * k + j]) } }
                    let zmax = z.max()!
                    z = z.map { exp($0 - zmax) }
                    let s = z.reduce(0, +)
                    let c = Int(labels[i])
                    loss -= log(z[c] / s)
                    for j in 0..<k {
                        let d = z[j] / s - (j == c ? 1 : 0)
                        gb[j] += d
                        for q in 0..<m { gw[q * k + j] += d * Double(x[i * m + q]) }
                    }
                }
                XCTAssertEqual(r.loss, loss, accuracy: 1e-4 * Double(n))
                for e in 0..<(m * k) { XCTAssertEqual(r.gradW[e], gw[e], accuracy: 1e-4 * Double(n)) }
                for j in 0..<k { XCTAssertEqual(r.gradB[j], gb[j], accuracy: 1e-6 * Double(n)) }
            }
        }
    }

    func testNearestCentersAndClusterSums() throws {
        try forEachBackend { be in
            // Labels and distances equal the argmin of squaredDistances, bit for bit, with any
            // thread count; cluster sums equal a Double reference and do not depend on threads.
            var rng = SplitMix(seed: 21)
            let one = try make(threads: 1)
            for (n, k, d) in [(1, 1, 3), (5000, 7, 13), (20_000, 10, 100)] {
                let x = rng.floats(n * d, scale: 2), cs = rng.floats(k * d, scale: 2)
                let tx = be.upload(x, rows: n, cols: d), tc = be.upload(cs, rows: k, cols: d)
                let full = be.tensor(rows: n, cols: k)
                be.squaredDistances(tx, tc, into: full)
                let dm = be.download(full)
                let (labels, dist) = be.nearestCenters(tx, tc)
                for i in 0..<n {
                    var b = 0
                    for j in 1..<k where dm[i * k + j] < dm[i * k + b] { b = j }
                    XCTAssertEqual(labels[i], Int32(b))
                    XCTAssertEqual(dist[i].bitPattern, dm[i * k + b].bitPattern)
                }
                let (l1, d1) = one.nearestCenters(one.upload(x, rows: n, cols: d), one.upload(cs, rows: k, cols: d))
                XCTAssertEqual(l1, labels)
                XCTAssertEqual(bits(d1), bits(dist))
                let (sums, counts) = be.clusterSums(tx, labels: labels, k: k)
                let (s1, c1) = one.clusterSums(one.upload(x, rows: n, cols: d), labels: labels, k: k)
                XCTAssertEqual(counts, c1)
                XCTAssertEqual(sums.map(\.bitPattern), s1.map(\.bitPattern))
                var ref = [Double](repeating: 0, count: k * d)
                for i in 0..<n { for q in 0..<d { ref[Int(labels[i]) * d + q] += Double(x[i * d + q]) } }
                XCTAssertEqual(counts.reduce(0, +), n)
                for e in 0..<(k * d) { XCTAssertEqual(sums[e], ref[e], accuracy: 1e-9 * Double(n)) }
            }
        }
    }

    func testSquaredDistances() throws {
        try forEachBackend { be in
            // |got − ‖x−c‖²| ≤ 1e-5·(‖x‖² + ‖c‖² + 1) (the expansion cancels), and never negative.
            var rng = SplitMix(seed: 20)
            for (n, k, d) in [(1, 1, 1), (7, 3, 17), (500, 10, 100), (33, 257, 5)] {
                var x = rng.floats(n * d, scale: 3)
                let cs = rng.floats(k * d, scale: 3)
                for j in 0..<d { x[j] = cs[j] }   // x_0 == c_0: distance 0 (clamped)
                let td = be.tensor(rows: n, cols: k)
                be.squaredDistances(be.upload(x, rows: n, cols: d), be.upload(cs, rows: k, cols: d), into: td)
                let got = be.download(td)
                let ref = BackendConformance.distanceReference(x, cs, n, k, d)
                for e in 0..<(n * k) {
                    XCTAssertGreaterThanOrEqual(got[e], 0)
                    XCTAssertEqual(Double(got[e]), ref.value[e], accuracy: 1e-5 * ref.scale[e])
                }
            }
        }
    }

    func testSumSquares() throws {
        try forEachBackend { be in
            // Relative error ≤ 1e-12 against a Double sum (the kernel sums in Double too).
            var rng = SplitMix(seed: 21)
            for count in [0, 1, 5, 65536, 65537, 300_001] {
                let x = rng.floats(count, scale: 4)
                let got = be.sumSquares(be.upload(x, rows: 1, cols: count))
                let ref = x.reduce(0.0) { $0 + Double($1) * Double($1) }
                XCTAssertEqual(got, ref, accuracy: 1e-12 * max(ref, 1))
            }
        }
    }

    // MARK: Optimizers

    func testAdamMatchesPyTorchFormula() throws {
        try forEachBackend { be in
            // Reference: torch.optim.Adam's update in Double; |got − ref| ≤ 1e-5·(|ref| + lr).
            var rng = SplitMix(seed: 22)
            let n = 1000
            for wd: Float in [0, 0.01] {
                let lr: Float = 1e-3, b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8
                var p = rng.floats(n).map(Double.init), m = [Double](repeating: 0, count: n), v = m
                let tp = be.upload(p.map(Float.init), rows: 10, cols: 100)
                let tm = be.tensor(rows: 10, cols: 100), tv = be.tensor(rows: 10, cols: 100)
                for step in 1...5 {
                    let g = rng.floats(n)
                    be.adamStep(param: tp, grad: be.upload(g, rows: 10, cols: 100), m: tm, v: tv, lr: lr, beta1: b1,
                                beta2: b2, eps: eps, step: step, weightDecay: wd)
                    let bc1 = 1 - pow(Double(b1), Double(step)), bc2 = 1 - pow(Double(b2), Double(step))
                    for i in 0..<n {
                        let gi = Double(g[i]) + Double(wd) * p[i]
                        m[i] = Double(b1) * m[i] + (1 - Double(b1)) * gi
                        v[i] = Double(b2) * v[i] + (1 - Double(b2)) * gi * gi
                        p[i] -= Double(lr) / bc1 * m[i] / (v[i].squareRoot() / bc2.squareRoot() + Double(eps))
                    }
                    let got = be.download(tp), gm = be.download(tm), gv = be.download(tv)
                    for i in 0..<n {
                        XCTAssertEqual(Double(got[i]), p[i], accuracy: 1e-5 * (abs(p[i]) + Double(lr)), "step \(step)")
                        XCTAssertEqual(Double(gm[i]), m[i], accuracy: 1e-6 * (abs(m[i]) + 1)) // |g| ≤ 1.01
                        XCTAssertEqual(Double(gv[i]), v[i], accuracy: 1e-5 * (abs(v[i]) + 1e-9))
                    }
                }
            }
            // First step from zero moments moves each parameter by lr·sign(g) (up to eps).
            let tp = be.upload([1, 1], rows: 1, cols: 2), tm = be.tensor(rows: 1, cols: 2), tv = be.tensor(rows: 1, cols: 2)
            be.adamStep(param: tp, grad: be.upload([0.5, -2], rows: 1, cols: 2), m: tm, v: tv, lr: 0.1, beta1: 0.9,
                        beta2: 0.999, eps: 1e-8, step: 1, weightDecay: 0)
            let got = be.download(tp)
            XCTAssertEqual(got[0], 0.9, accuracy: 1e-6)
            XCTAssertEqual(got[1], 1.1, accuracy: 1e-6)
        }
    }

    func testSGD() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 23)
            let n = 300
            var p = rng.floats(n), vel = [Float](repeating: 0, count: n)
            let tp = be.upload(p, rows: 3, cols: 100), tv = be.tensor(rows: 3, cols: 100)
            for _ in 0..<3 {
                let g = rng.floats(n)
                be.sgdStep(param: tp, grad: be.upload(g, rows: 3, cols: 100), velocity: tv, lr: 0.05, momentum: 0.9, weightDecay: 0.01)
                for i in 0..<n {
                    let gi = g[i] + 0.01 * p[i]
                    vel[i] = vel[i] * 0.9 + gi
                    p[i] = p[i] - 0.05 * vel[i]
                }
                XCTAssertEqual(be.download(tp), p)
                XCTAssertEqual(be.download(tv), vel)
            }
        }
    }

    /// Every kernel accepts empty tensors (0 rows or 0 columns).
    func testEmptyTensors() throws {
        try forEachBackend { be in
            for (r, c) in [(0, 5), (5, 0), (0, 0)] {
                let x = be.tensor(rows: r, cols: c), y = be.tensor(rows: r, cols: c)
                be.addRowVector(x, be.tensor(rows: 1, cols: c))
                be.relu(x); be.reluBackward(x, activation: y); be.sigmoid(x)
                be.softmaxRows(x); be.logSoftmaxRows(x)
                be.axpy(2, x, y); be.scale(x, 2); be.sub(x, y, into: x)
                be.columnSums(x, into: be.tensor(rows: 1, cols: c))
                XCTAssertEqual(be.rowArgmax(x).count, r)
                XCTAssertEqual(be.sumSquares(x), 0)
                XCTAssertEqual(be.download(x), [])
                be.gatherRows(x, [], into: be.tensor(rows: 0, cols: c))
                let d = be.tensor(rows: r, cols: 3)
                be.squaredDistances(x, be.tensor(rows: 3, cols: c), into: d)
                be.adamStep(param: x, grad: y, m: be.tensor(rows: r, cols: c), v: be.tensor(rows: r, cols: c), lr: 0.1,
                            beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1, weightDecay: 0)
                be.sgdStep(param: x, grad: y, velocity: be.tensor(rows: r, cols: c), lr: 0.1, momentum: 0.9, weightDecay: 0)
                let c2 = be.tensor(rows: r, cols: 4)
                be.gemm(x, transA: false, be.tensor(rows: c, cols: 4), transB: false, into: c2, alpha: 1, beta: 0)
            }
        }
    }

    // MARK: Determinism

    /// Every kernel gives bit-identical results with 1, 2 and 3 threads on tensors big enough
    /// to be split.
    func testKernelsBitIdenticalAcrossThreadCounts() throws {
        try forEachBackend { be in
            var rng = SplitMix(seed: 24)
            let r = 1500, c = 300
            let x = rng.floats(r * c, scale: 5), y = rng.floats(r * c), v = rng.floats(c)
            let centers = rng.floats(7 * c)
            let idx = (0..<2000).map { _ in Int32(rng.int(0..<r)) }
            var outputs: [[[UInt32]]] = []
            for threads in [1, 2, 3] {
                let b = try make(threads: threads)
                var o: [[UInt32]] = []
                func run(_ f: (Tensor) -> Void) { let t = b.upload(x, rows: r, cols: c); f(t); o.append(bits(b.download(t))) }
                run { b.addRowVector($0, b.upload(v, rows: 1, cols: c)) }
                run { b.relu($0) }
                run { b.reluBackward($0, activation: b.upload(y, rows: r, cols: c)) }
                run { b.sigmoid($0) }
                run { b.softmaxRows($0) }
                run { b.logSoftmaxRows($0) }
                run { b.axpy(0.3, b.upload(y, rows: r, cols: c), $0) }
                run { b.scale($0, 0.3) }
                run { b.sub($0, b.upload(y, rows: r, cols: c), into: $0) }
                run { t in let out = b.tensor(rows: 1, cols: c); b.columnSums(t, into: out); o.append(bits(b.download(out))) }
                run { t in o.append(b.rowArgmax(t).map { UInt32(bitPattern: $0) }) }
                run { t in
                    let d = b.tensor(rows: r, cols: 7)
                    b.squaredDistances(t, b.upload(centers, rows: 7, cols: c), into: d)
                    o.append(bits(b.download(d)))
                }
                run { t in
                    let g = b.tensor(rows: 2000, cols: c)
                    b.gatherRows(t, idx, into: g)
                    o.append(bits(b.download(g)))
                }
                run { t in
                    let m = b.tensor(rows: r, cols: c), vv = b.tensor(rows: r, cols: c), grad = b.upload(y, rows: r, cols: c)
                    for s in 1...3 { b.adamStep(param: t, grad: grad, m: m, v: vv, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: s, weightDecay: 0.1) }
                    o.append(bits(b.download(m))); o.append(bits(b.download(vv)))
                }
                run { t in
                    let vel = b.tensor(rows: r, cols: c), grad = b.upload(y, rows: r, cols: c)
                    for _ in 0..<3 { b.sgdStep(param: t, grad: grad, velocity: vel, lr: 0.01, momentum: 0.9, weightDecay: 0.1) }
                }
                run { t in o.append([UInt32(truncatingIfNeeded: b.sumSquares(t).bitPattern), UInt32(b.sumSquares(t).bitPattern >> 32)]) }
                outputs.append(o)
            }
            for k in 0..<outputs[0].count {
                XCTAssertEqual(outputs[0][k], outputs[1][k], "output \(k): 1 vs 2 threads")
                XCTAssertEqual(outputs[0][k], outputs[2][k], "output \(k): 1 vs 3 threads")
            }
        }
    }
}
