#if canImport(Glibc)
import Glibc
#endif

/// The conformance suite's reductions and distance kernels.
///
/// Tolerances (|got − want| ≤ tolerance · scale):
/// - columnSums, gram: 1e-6 · `sumBound(rows)` · Σ|terms| (a float sum in any order, long
///   sums in blocks).
/// - squaredDistances: 1e-5 · (‖x‖² + ‖c‖² + 1) (the expansion ‖x‖² + ‖c‖² − 2x·c cancels),
///   and never negative. nearestCenters: the label and distance are exactly the first
///   smallest of the backend's own squaredDistances row, and that distance is within the
///   same tolerance of the Double reference.
/// - clusterSums: counts exact; sums 1e-12 · Σ|x| of the cluster (Double sums).
/// - softmaxLinearGradient: loss and gradB 1e-6 · Σ_rows (m + 2)(1 + |z|max) (the logits are
///   float dot products); gradW 1e-6 · Σ_rows (`sumBound(n)` |d x| + (m + 2)(1 + |z|max)|x|) (float partial
///   sums, and the logits' error carried through the probabilities d).
/// - sumSquares: 1e-10 relative (the squares and their sum in Double, as the protocol says).
/// - rowArgmax: exact (first index on ties).
extension BackendConformance {
    static func reductionCases(_ size: Size) -> [Case] {
        var cases: [Case] = []
        let full = size == .full

        var colShapes = [(1, 1), (5, 7), (300, 13), (1025, 3), (2, 1500), (0, 5)]
        if full { colShapes += [(3000, 600), (20000, 10), (4096, 128)] }
        for (r, c) in colShapes {
            cases.append(Case(["columnSums"], "columnSums \(dims(r, c))") { ck in
                var g = ck.inputs()
                let x = g.floats(r * c)
                let outs = ck.twice { be in
                    let out = be.upload([Float](repeating: .nan, count: c), rows: 1, cols: c)   // every column written
                    be.columnSums(be.upload(x, rows: r, cols: c), into: out)
                    return [.f("", be.download(out), cols: c)]
                }
                var want = [Double](repeating: 0, count: c), mag = want
                for i in 0..<r { for j in 0..<c { want[j] += Double(x[i * c + j]); mag[j] += abs(Double(x[i * c + j])) } }
                let bound = sumBound(r)
                if let o = outs.first { ck.close(o, want, tolerance: 1e-6) { bound * mag[$0] + 1e-30 } }
            })
        }

        var argShapes = [(1, 1), (3, 7), (17, 33), (4, 1000), (0, 3)]
        if full { argShapes += [(4096, 128), (1000, 1000)] }
        for (r, c) in argShapes {
            cases.append(Case(["rowArgmax"], "rowArgmax \(dims(r, c)) (ties: first)") { ck in
                var g = ck.inputs()
                var x = (0..<(r * c)).map { _ in Float(g.int(5)) }   // many ties
                if r > 1 { for j in 0..<c { x[c + j] = 3 } }          // a row of equal values
                let outs = ck.twice { be in [.i("", be.rowArgmax(be.upload(x, rows: r, cols: c)))] }
                var want = [Int32](repeating: 0, count: r)
                for i in 0..<r where c > 0 {
                    var best = 0
                    for j in 0..<c where x[i * c + j] > x[i * c + best] { best = j }
                    want[i] = Int32(best)
                }
                if let o = outs.first { ck.exact(o, ints: want) }
            })
        }

        var distShapes = [(1, 1, 1), (7, 3, 17), (33, 64, 5), (20, 5, 70), (0, 3, 4)]   // n, k, d
        if full { distShapes += [(5000, 10, 100), (500, 257, 33)] }
        for (n, k, d) in distShapes {
            cases.append(Case(["squaredDistances"], "squaredDistances \(n) rows, \(k) centers, \(d) dims") { ck in
                var g = ck.inputs()
                let (x, cs) = distanceInputs(&g, n, k, d)
                let outs = ck.twice { be in
                    let td = be.upload([Float](repeating: .nan, count: n * k), rows: n, cols: k)
                    be.squaredDistances(be.upload(x, rows: n, cols: d), be.upload(cs, rows: k, cols: d), into: td)
                    return [.f("", be.download(td), cols: k)]
                }
                guard let o = outs.first else { return }
                let (want, scale) = distanceReference(x, cs, n, k, d)
                ck.close(o, want, tolerance: 1e-5) { scale[$0] }
                if let i = o.values.firstIndex(where: { $0 < 0 }) { ck.fail("\(o.place(i)): negative distance \(o.show(o.values[i]))") }
            })
        }

        var nearShapes = [(1, 1, 3), (100, 7, 13), (65, 3, 1), (30, 1, 5), (0, 3, 4)]
        if full { nearShapes += [(20000, 10, 100), (5000, 64, 32)] }
        for (n, k, d) in nearShapes {
            cases.append(Case(["nearestCenters"], "nearestCenters \(n) rows, \(k) centers, \(d) dims") { ck in
                var g = ck.inputs()
                let (x, cs) = distanceInputs(&g, n, k, d)
                let outs = ck.twice { be in
                    let tx = be.upload(x, rows: n, cols: d), tc = be.upload(cs, rows: k, cols: d)
                    let (labels, dist) = be.nearestCenters(tx, tc)
                    let td = be.tensor(rows: n, cols: k)
                    be.squaredDistances(tx, tc, into: td)
                    return [.i("labels", labels), .f("distances", dist, cols: 0), .f("squaredDistances", be.download(td), cols: k)]
                }
                guard outs.count == 3, ck.counts(outs[2], n * k) else { return }
                // The first smallest of the backend's own distance row, bit for bit.
                let dm = outs[2].values
                var wantLabels = [Int32](repeating: 0, count: n), wantDist = [Float](repeating: 0, count: n)
                for i in 0..<n where k > 0 {
                    var best = 0
                    for j in 0..<k where dm[i * k + j] < dm[i * k + best] { best = j }
                    wantLabels[i] = Int32(best); wantDist[i] = Float(dm[i * k + best])
                }
                ck.exact(outs[0], ints: wantLabels)
                ck.exact(outs[1], wantDist)
                // And close to the true nearest distance.
                let (ref, scale) = distanceReference(x, cs, n, k, d)
                var nearest = [Double](repeating: 0, count: n), nearestScale = nearest
                for i in 0..<n where k > 0 {
                    var best = 0
                    for j in 0..<k where ref[i * k + j] < ref[i * k + best] { best = j }
                    nearest[i] = ref[i * k + best]; nearestScale[i] = scale[i * k + best]
                }
                ck.close(outs[1], nearest, tolerance: 1e-5) { nearestScale[$0] }
            })
        }

        var clusterShapes = [(1, 1, 3), (100, 4, 13), (257, 3, 7), (0, 2, 3)]   // n, k, d; the last cluster empty when k > 1
        if full { clusterShapes += [(20000, 10, 100), (100_000, 5, 16)] }
        for (n, k, d) in clusterShapes {
            cases.append(Case(["clusterSums"], "clusterSums \(n) rows, \(k) clusters, \(d) dims") { ck in
                var g = ck.inputs()
                let x = g.floats(n * d, scale: 2)
                let labels = (0..<n).map { _ in Int32(g.int(max(k - 1, 1))) }
                let outs = ck.twice { be in
                    let (sums, counts) = be.clusterSums(be.upload(x, rows: n, cols: d), labels: labels, k: k)
                    return [.d("sums", sums, cols: d), .i("counts", counts.map { Int32(truncatingIfNeeded: $0) })]
                }
                var want = [Double](repeating: 0, count: k * d), mag = want, counts = [Int32](repeating: 0, count: k)
                for i in 0..<n {
                    let c = Int(labels[i])
                    counts[c] += 1
                    for q in 0..<d { want[c * d + q] += Double(x[i * d + q]); mag[c * d + q] += abs(Double(x[i * d + q])) }
                }
                if outs.count == 2 {
                    ck.close(outs[0], want, tolerance: 1e-12) { mag[$0] + 1e-300 }
                    ck.exact(outs[1], ints: counts)
                }
            })
        }

        var gramShapes = [(1, 1), (300, 7), (5, 20), (0, 3)]   // rows, cols
        if full { gramShapes += [(140_000, 9), (4096, 64)] }
        for (n, m) in gramShapes {
            cases.append(Case(["gram"], "gram \(dims(n, m)) α=0.5") { ck in
                var g = ck.inputs()
                let x = g.floats(n * m)
                let outs = ck.twice { be in
                    let tg = be.upload([Float](repeating: .nan, count: m * m), rows: m, cols: m)
                    be.gram(be.upload(x, rows: n, cols: m), into: tg, alpha: 0.5)
                    return [.f("", be.download(tg), cols: m)]
                }
                let (want, mag) = gemmReference(x, n, m, transA: true, x, n, m, transB: false, c: [], alpha: 0.5, beta: 0)
                let bound = sumBound(n)
                if let o = outs.first { ck.close(o, want, tolerance: 1e-6) { bound * mag[$0] + 1e-30 } }
            })
        }

        var slgShapes = [(1, 1, 2), (100, 13, 3), (257, 7, 5), (0, 3, 2)]   // n, m, k
        if full { slgShapes += [(9000, 20, 5), (20000, 100, 2)] }
        for (n, m, k) in slgShapes {
            cases.append(Case(["softmaxLinearGradient"], "softmaxLinearGradient \(n) rows, \(m) features, \(k) classes") { ck in
                var g = ck.inputs()
                let x = g.floats(n * m, scale: 2), w = g.floats(m * k), b = g.floats(k)
                let labels = (0..<n).map { _ in Int32(g.int(k)) }
                let outs = ck.twice { be in
                    let r = be.softmaxLinearGradient(be.upload(x, rows: n, cols: m), weights: w, bias: b, classes: k, labels: labels)
                    return [.d("loss", [r.loss]), .d("gradW", r.gradW, cols: k), .d("gradB", r.gradB)]
                }
                var loss = 0.0, lossScale = 0.0
                var gw = [Double](repeating: 0, count: m * k), gwScale = gw, gb = [Double](repeating: 0, count: k)
                var z = [Double](repeating: 0, count: k)
                let bound = sumBound(n)
                for i in 0..<n {
                    var zmag = 0.0, zmax = -Double.infinity
                    for j in 0..<k {
                        var s = Double(b[j]), a = abs(Double(b[j]))
                        for q in 0..<m { s += Double(x[i * m + q]) * Double(w[q * k + j]); a += abs(Double(x[i * m + q]) * Double(w[q * k + j])) }
                        z[j] = s; zmag = max(zmag, a); zmax = max(zmax, s)
                    }
                    var sum = 0.0
                    for j in 0..<k { z[j] = exp(z[j] - zmax); sum += z[j] }
                    let c = Int(labels[i])
                    loss -= log(z[c] / sum)
                    lossScale += Double(m + 2) * (1 + zmag)
                    for j in 0..<k {
                        let dj = z[j] / sum - (j == c ? 1 : 0)
                        gb[j] += dj
                        for q in 0..<m {
                            let xv = Double(x[i * m + q])
                            gw[q * k + j] += dj * xv
                            gwScale[q * k + j] += bound * abs(dj * xv) + Double(m + 2) * (1 + zmag) * abs(xv)
                        }
                    }
                }
                if outs.count == 3 {
                    ck.close(outs[0], [loss], tolerance: 1e-6) { _ in lossScale + 1e-30 }
                    ck.close(outs[1], gw, tolerance: 1e-6) { gwScale[$0] + 1e-30 }
                    ck.close(outs[2], gb, tolerance: 1e-6) { _ in lossScale + 1e-30 }
                }
            })
        }

        var sumCounts = [0, 1, 5, 4097]
        if full { sumCounts += [65537, 300_001, 1_000_000] }
        for count in sumCounts {
            cases.append(Case(["sumSquares"], "sumSquares \(count)") { ck in
                var g = ck.inputs()
                let x = g.floats(count, scale: 4)
                let outs = ck.twice { be in [.d("", [be.sumSquares(be.upload(x, rows: 1, cols: count))])] }
                var want = 0.0
                for v in x { want += Double(v) * Double(v) }
                if let o = outs.first { ck.close(o, [want], tolerance: 1e-10) { _ in want + 1e-300 } }
            })
        }
        return cases
    }

    /// x (n×d, scale 3) and centers (k×d, scale 3) with x₀ = c₀ (distance 0) and, when k > 1,
    /// c₁ = c₀ (a tie: the first wins).
    static func distanceInputs(_ g: inout Inputs, _ n: Int, _ k: Int, _ d: Int) -> (x: [Float], centers: [Float]) {
        var x = g.floats(n * d, scale: 3), cs = g.floats(k * d, scale: 3)
        if k > 1 { for q in 0..<d { cs[d + q] = cs[q] } }
        if n > 0 && k > 0 { for q in 0..<d { x[q] = cs[q] } }
        return (x, cs)
    }

    /// ‖x_i − c_j‖² in Double, and its error scale ‖x_i‖² + ‖c_j‖² + 1.
    static func distanceReference(_ x: [Float], _ cs: [Float], _ n: Int, _ k: Int, _ d: Int) -> (value: [Double], scale: [Double]) {
        var value = [Double](repeating: 0, count: n * k), scale = value
        for i in 0..<n {
            for j in 0..<k {
                var s = 0.0, xn = 0.0, cn = 0.0
                for q in 0..<d {
                    let xv = Double(x[i * d + q]), cv = Double(cs[j * d + q])
                    s += (xv - cv) * (xv - cv); xn += xv * xv; cn += cv * cv
                }
                value[i * k + j] = s; scale[i * k + j] = xn + cn + 1
            }
        }
        return (value, scale)
    }
}
