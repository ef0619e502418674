#if canImport(Glibc)
import Glibc
#endif

/// The conformance suite's GEMM, linear and elementwise checks.
///
/// Tolerances (|got − want| ≤ tolerance · scale per element):
/// - GEMM and linear: 1e-6 · ((k + 2) · (|alpha| Σ|a||b| + |beta c|) + |bias|), about 17
///   float ulps per term of the sum, whatever its order (GEMMConformanceTests' bound).
/// - sigmoid: 2e-7 absolute (a few ulps at 1; a GPU's expf is within 2 ulps of glibc's).
/// - softmaxRows: 1e-6 absolute per probability, and each row sums to 1 within
///   1e-5 · (1 + cols/100).
/// - logSoftmaxRows: 2e-6 · (1 + |want|).
/// - addRowVector, relu, reluBackward, scale, sub: exact (one float operation an element);
///   axpy: exact, either y + alpha·x rounded twice or fused into one multiply-add.
extension BackendConformance {
    static func gemmCases(_ size: Size) -> [Case] {
        var cases: [Case] = []
        let full = size == .full
        // (m, n, k, transposes (bit 0: A, bit 1: B), alpha, beta, c all NaN)
        var runs: [(Int, Int, Int, Int, Float, Float, Bool)] = []
        var plain = [(1, 1, 1), (33, 17, 65), (64, 64, 64), (7, 70, 5), (13, 9, 0), (0, 6, 4), (5, 0, 3)]
        if full { plain.append((256, 100, 128)) }
        for (m, n, k) in plain { for t in 0..<4 { runs.append((m, n, k, t, 1, 0, false)) } }
        for (i, (alpha, beta)) in [(Float(-0.5), Float(0.75)), (2.5, 0), (0, 0.5), (1, 1), (1, -1)].enumerated() {
            runs.append((37, 45, 50, i % 4, alpha, beta, false))
        }
        for t in 0..<4 { runs.append((7, 33, 17, t, 1.5, 0, true)) }   // beta 0 ignores NaN in c
        runs.append((13, 9, 5, 0, 0, 0, true))                          // alpha 0, beta 0: zeros
        if full {
            runs += [(1000, 1000, 100, 0, 1, 0, false), (64, 64, 4096, 1, 1, 0, false),
                     (20, 2100, 300, 0, 1, 0.5, false), (101, 65, 777, 3, -1, 0, true)]
        }
        for (m, n, k, t, alpha, beta, nanC) in runs {
            let transA = t & 1 != 0, transB = t & 2 != 0
            var name = "gemm \(transA ? "t" : "n")\(transB ? "t" : "n") \(dims(m, n, k))"
            if alpha != 1 || beta != 0 { name += " α=\(alpha) β=\(beta)" }
            if nanC { name += " NaN c" }
            cases.append(Case(["gemm"], name) { ck in
                var g = ck.inputs()
                let (ar, ac) = transA ? (k, m) : (m, k)
                let (br, bc) = transB ? (n, k) : (k, n)
                let a = g.floats(ar * ac), b = g.floats(br * bc)
                let c0 = nanC ? [Float](repeating: .nan, count: m * n) : g.floats(m * n)
                let outs = ck.twice { be in
                    let tc = be.upload(c0, rows: m, cols: n)
                    be.gemm(be.upload(a, rows: ar, cols: ac), transA: transA, be.upload(b, rows: br, cols: bc), transB: transB,
                            into: tc, alpha: alpha, beta: beta)
                    return [.f("", be.download(tc), cols: n)]
                }
                let (want, mag) = gemmReference(a, ar, ac, transA: transA, b, br, bc, transB: transB, c: c0, alpha: alpha, beta: beta)
                let bound = sumBound(k)
                if let o = outs.first { ck.close(o, want, tolerance: 1e-6) { bound * mag[$0] + 1e-30 } }
            })
        }
        return cases
    }

    static func linearCases(_ size: Size) -> [Case] {
        var cases: [Case] = []
        // Small m (x·w read in place on the CPU), narrow n, the blocked path, k = 0.
        var shapes = [(1, 64, 70), (3, 7, 5), (9, 33, 40), (70, 64, 3), (4, 0, 9)]
        if size == .full { shapes += [(600, 100, 128), (2000, 128, 2), (256, 100, 128)] }
        for (m, k, n) in shapes {
            for transW in [false, true] {
                for withBias in [false, true] {
                    let alpha: Float = withBias ? 1 : 0.75
                    let name = "linear \(dims(m, k, n))" + (transW ? " transW" : "") + (withBias ? " bias" : " α=0.75")
                    cases.append(Case(["linear"], name) { ck in
                        var g = ck.inputs()
                        let (wr, wc) = transW ? (n, k) : (k, n)
                        let x = g.floats(m * k), w = g.floats(wr * wc), b = g.floats(n)
                        let outs = ck.twice { be in
                            let y = be.uninitializedTensor(rows: m, cols: n)
                            be.linear(be.upload(x, rows: m, cols: k), be.upload(w, rows: wr, cols: wc), transW: transW,
                                      bias: withBias ? be.upload(b, rows: 1, cols: n) : nil, alpha: alpha, into: y)
                            return [.f("", be.download(taking: y), cols: n)]
                        }
                        var (want, mag) = gemmReference(x, m, k, transA: false, w, wr, wc, transB: transW, c: [], alpha: alpha, beta: 0)
                        if withBias { for i in 0..<want.count { want[i] += Double(b[i % n]); mag[i] += abs(Double(b[i % n])) } }
                        let bound = sumBound(k)
                        if let o = outs.first { ck.close(o, want, tolerance: 1e-6) { bound * mag[$0] + 1e-30 } }
                    })
                }
            }
        }
        return cases
    }

    static func elementwiseCases(_ size: Size) -> [Case] {
        var cases = linearCases(size)
        var shapes = [(1, 1), (3, 7), (17, 33), (64, 65), (0, 5)]
        if size == .full { shapes += [(4096, 128), (1000, 1000)] }
        for (r, c) in shapes {
            let n = r * c, shape = dims(r, c)
            cases.append(Case(["addRowVector"], "addRowVector \(shape)") { ck in
                var g = ck.inputs()
                let x = g.floats(n), v = g.floats(c)
                let outs = ck.twice { be in
                    let t = be.upload(x, rows: r, cols: c)
                    be.addRowVector(t, be.upload(v, rows: 1, cols: c))
                    return [.f("", be.download(t), cols: c)]
                }
                if let o = outs.first { ck.exact(o, (0..<n).map { x[$0] + v[$0 % c] }) }
            })
            cases.append(Case(["relu"], "relu \(shape)") { ck in
                var g = ck.inputs()
                var x = g.floats(n)
                if n >= 2 { x[0] = 0; x[1] = -0.0 }
                let outs = ck.twice { be in
                    let t = be.upload(x, rows: r, cols: c)
                    be.relu(t)
                    return [.f("", be.download(t), cols: c)]
                }
                if let o = outs.first { ck.exact(o, x.map { $0 < 0 ? 0 : $0 }) }
            })
            cases.append(Case(["reluBackward"], "reluBackward \(shape)") { ck in
                var g = ck.inputs()
                var act = g.floats(n).map { $0 < 0 ? 0 : $0 }
                if n >= 2 { act[1] = -0.0 }
                let grad = g.floats(n)
                let outs = ck.twice { be in
                    let t = be.upload(grad, rows: r, cols: c)
                    be.reluBackward(t, activation: be.upload(act, rows: r, cols: c))
                    return [.f("", be.download(t), cols: c)]
                }
                if let o = outs.first { ck.exact(o, (0..<n).map { act[$0] > 0 ? grad[$0] : 0 }) }
            })
            cases.append(Case(["sigmoid"], "sigmoid \(shape)") { ck in
                var g = ck.inputs()
                var x = g.floats(n, scale: 20)
                if n >= 3 { x[0] = -200; x[1] = 200; x[2] = 0 }
                let outs = ck.twice { be in
                    let t = be.upload(x, rows: r, cols: c)
                    be.sigmoid(t)
                    return [.f("", be.download(t), cols: c)]
                }
                if let o = outs.first { ck.close(o, x.map { 1 / (1 + exp(-Double($0))) }, tolerance: 2e-7) { _ in 1 } }
            })
            cases.append(Case(["softmaxRows"], "softmaxRows \(shape)") { ck in
                var g = ck.inputs()
                let x = softmaxInput(&g, r, c)
                let outs = ck.twice { be in
                    let t = be.upload(x, rows: r, cols: c)
                    be.softmaxRows(t)
                    return [.f("", be.download(t), cols: c)]
                }
                guard let o = outs.first else { return }
                let (want, _) = softmaxReference(x, r, c)
                ck.close(o, want, tolerance: 1e-6) { _ in 1 }
                if o.values.count == n {
                    var sums = [Double](repeating: 0, count: r)
                    for i in 0..<r { for j in 0..<c { sums[i] += o.values[i * c + j] } }
                    ck.close(.d("row sum", sums), [Double](repeating: 1, count: r), tolerance: 1e-5) { _ in 1 + Double(c) / 100 }
                }
            })
            cases.append(Case(["logSoftmaxRows"], "logSoftmaxRows \(shape)") { ck in
                var g = ck.inputs()
                let x = softmaxInput(&g, r, c)
                let outs = ck.twice { be in
                    let t = be.upload(x, rows: r, cols: c)
                    be.logSoftmaxRows(t)
                    return [.f("", be.download(t), cols: c)]
                }
                let (_, want) = softmaxReference(x, r, c)
                if let o = outs.first { ck.close(o, want, tolerance: 2e-6) { 1 + abs(want[$0]) } }
            })
            cases.append(Case(["axpy"], "axpy \(shape)") { ck in
                var g = ck.inputs()
                let x = g.floats(n), y = g.floats(n)
                let alpha: Float = -0.37
                let outs = ck.twice { be in
                    let ty = be.upload(y, rows: r, cols: c)
                    be.axpy(alpha, be.upload(x, rows: r, cols: c), ty)
                    return [.f("", be.download(ty), cols: c)]
                }
                if let o = outs.first {
                    ck.exact(o, (0..<n).map { y[$0] + alpha * x[$0] }, or: (0..<n).map { y[$0].addingProduct(alpha, x[$0]) })
                }
            })
            cases.append(Case(["scale"], "scale \(shape)") { ck in
                var g = ck.inputs()
                let x = g.floats(n)
                let outs = ck.twice { be in
                    let t = be.upload(x, rows: r, cols: c)
                    be.scale(t, 1.7)
                    return [.f("", be.download(t), cols: c)]
                }
                if let o = outs.first { ck.exact(o, x.map { $0 * 1.7 }) }
            })
            cases.append(Case(["sub"], "sub \(shape) (c separate, c is a, c is b)") { ck in
                var g = ck.inputs()
                let a = g.floats(n), b = g.floats(n)
                let outs = ck.twice { be in
                    let ta = be.upload(a, rows: r, cols: c), tb = be.upload(b, rows: r, cols: c), tc = be.tensor(rows: r, cols: c)
                    be.sub(ta, tb, into: tc)
                    var o: [Output] = [.f("c", be.download(tc), cols: c)]
                    be.sub(ta, tb, into: ta)
                    o.append(.f("c is a", be.download(ta), cols: c))
                    let ta2 = be.upload(a, rows: r, cols: c)
                    be.sub(ta2, tb, into: tb)
                    o.append(.f("c is b", be.download(tb), cols: c))
                    return o
                }
                let want = (0..<n).map { a[$0] - b[$0] }
                for o in outs { ck.exact(o, want) }
            })
        }
        return cases
    }

    /// Random rows (scale 10), with a row of huge values (1000 + j mod 3: exp overflows
    /// unless the max is subtracted) and a row of equal values when there are 3 rows or more.
    static func softmaxInput(_ g: inout Inputs, _ r: Int, _ c: Int) -> [Float] {
        var x = g.floats(r * c, scale: 10)
        if r >= 3 {
            for j in 0..<c { x[j] = 1000 + Float(j % 3) }
            for j in 0..<c { x[c + j] = -5 }
        }
        return x
    }

    /// Softmax and log-softmax of each row in Double.
    static func softmaxReference(_ x: [Float], _ r: Int, _ c: Int) -> (softmax: [Double], logSoftmax: [Double]) {
        var p = [Double](repeating: 0, count: r * c), lp = p
        for i in 0..<r where c > 0 {
            var mx = -Double.infinity
            for j in 0..<c { mx = max(mx, Double(x[i * c + j])) }
            var s = 0.0
            for j in 0..<c { s += exp(Double(x[i * c + j]) - mx) }
            let lse = log(s)
            for j in 0..<c {
                let d = Double(x[i * c + j]) - mx
                p[i * c + j] = exp(d) / s
                lp[i * c + j] = d - lse
            }
        }
        return (p, lp)
    }
}
