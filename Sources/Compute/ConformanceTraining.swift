#if canImport(Glibc)
import Glibc
#endif

/// The conformance suite's optimizer and fused training checks.
///
/// Tolerances (|got − want| ≤ tolerance · scale), against torch's formulas in Double; not
/// exact, since a GPU may fuse multiply-adds differently:
/// - adamStep (both forms), after 3 steps from zero moments: param 1e-6 · (|p| + lr),
///   m 1e-6 · |m|', v 1e-6 · |v|, where |m|' is m computed from |g| (the size of the terms
///   that may cancel in β1·m + (1 − β1)·g).
/// - sgdStep, after 3 steps: velocity 1e-6 · |velocity|' (the velocity computed from |g|),
///   param 1e-6 · (max |p| over the steps + lr · (|velocity|' + 1)).
/// - dense: as linear (1e-6 · ((k + 2) Σ|x||w| + |bias|)); ReLU after.
/// - outputDelta with softmax: the probabilities 1e-6 absolute, delta 1e-6 · (2|scale| +
///   |delta|); without: exact ((z − y) · scale in float, z untouched).
extension BackendConformance {
    static func optimizerCases(_ size: Size) -> [Case] {
        var cases: [Case] = []
        let full = size == .full
        let lr: Float = 0.01, b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8, steps = 3

        var adamShapes = [(1, 1), (10, 100), (33, 17), (0, 5)]
        if full { adamShapes += [(4096, 128), (1000, 1000)] }
        for (r, c) in adamShapes {
            for wd: Float in [0, 0.01] {
                cases.append(Case(["adamStep"], "adamStep \(dims(r, c))" + (wd == 0 ? "" : " weightDecay \(wd)") + ", \(steps) steps") { ck in
                    var g = ck.inputs()
                    let p0 = g.floats(r * c)
                    let grads = (0..<steps).map { _ in g.floats(r * c) }
                    let outs = ck.twice { be in
                        let p = be.upload(p0, rows: r, cols: c), m = be.tensor(rows: r, cols: c), v = be.tensor(rows: r, cols: c)
                        for s in 0..<steps {
                            be.adamStep(param: p, grad: be.upload(grads[s], rows: r, cols: c), m: m, v: v, lr: lr, beta1: b1,
                                        beta2: b2, eps: eps, step: s + 1, weightDecay: wd)
                        }
                        return [.f("param", be.download(p), cols: c), .f("m", be.download(m), cols: c), .f("v", be.download(v), cols: c)]
                    }
                    let ref = adamReference(p0, grads, lr: lr, beta1: b1, beta2: b2, eps: eps, weightDecay: wd)
                    checkAdam(ck, outs, 0, ref, lr: lr)
                })
            }
        }

        // One call for all of a model's parameters, each with its own weight decay.
        var models: [[(Int, Int)]] = [[(1, 1), (7, 13), (33, 17), (0, 4)]]
        if full { models.append([(100, 128), (1, 128), (128, 2), (1, 2)]); models.append([(1000, 1000), (1, 1000)]) }
        for shapes in models {
            let decays: [Float] = shapes.indices.map { [0, 0.01, 0.1, 0.01][$0 % 4] }
            let name = "adamStep(params:) \(shapes.count) tensors " + shapes.map { dims($0.0, $0.1) }.joined(separator: ", ") + ", \(steps) steps"
            cases.append(multiAdamCase(["adamStep(params:)"], name, shapes, decays: decays, steps: steps, counter: false))
        }

        var sgdShapes = [(1, 1), (3, 100), (0, 5)]
        if full { sgdShapes += [(4096, 128), (1000, 1000)] }
        for (r, c) in sgdShapes {
            for (momentum, wd): (Float, Float) in [(0.9, 0.01), (0, 0)] {
                cases.append(Case(["sgdStep"], "sgdStep \(dims(r, c)) momentum \(momentum) weightDecay \(wd), \(steps) steps") { ck in
                    var g = ck.inputs()
                    let p0 = g.floats(r * c)
                    let grads = (0..<steps).map { _ in g.floats(r * c) }
                    let lr: Float = 0.05
                    let outs = ck.twice { be in
                        let p = be.upload(p0, rows: r, cols: c), vel = be.tensor(rows: r, cols: c)
                        for s in 0..<steps {
                            be.sgdStep(param: p, grad: be.upload(grads[s], rows: r, cols: c), velocity: vel, lr: lr,
                                       momentum: momentum, weightDecay: wd)
                        }
                        return [.f("param", be.download(p), cols: c), .f("velocity", be.download(vel), cols: c)]
                    }
                    var p = p0.map(Double.init), v = [Double](repeating: 0, count: r * c), vmag = v
                    var pmax = p.map(abs)
                    for s in 0..<steps {
                        for i in 0..<(r * c) {
                            let gi = Double(grads[s][i]) + Double(wd) * p[i]
                            v[i] = Double(momentum) * v[i] + gi
                            vmag[i] = Double(momentum) * vmag[i] + abs(gi)
                            p[i] -= Double(lr) * v[i]
                            pmax[i] = max(pmax[i], abs(p[i]))
                        }
                    }
                    if outs.count == 2 {
                        ck.close(outs[0], p, tolerance: 1e-6) { pmax[$0] + Double(lr) * (vmag[$0] + 1) }
                        ck.close(outs[1], v, tolerance: 1e-6) { vmag[$0] + 1e-30 }
                    }
                })
            }
        }
        return cases
    }

    /// One multi-tensor Adam check: `steps` steps over `shapes` (each with its weight decay),
    /// the step passed as a number or (`counter`) read from a device counter advanced before
    /// each step; every tensor's param, m and v against the Double reference.
    static func multiAdamCase(_ ops: [String], _ name: String, _ shapes: [(Int, Int)], decays: [Float], steps: Int,
                              counter: Bool) -> Case {
        let lr: Float = 0.01, b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8
        return Case(ops, name) { ck in
            var g = ck.inputs()
            let p0 = shapes.map { g.floats($0.0 * $0.1) }
            let grads = shapes.map { s in (0..<steps).map { _ in g.floats(s.0 * s.1) } }
            let outs = ck.twice { be in
                let ps = shapes.indices.map { be.upload(p0[$0], rows: shapes[$0].0, cols: shapes[$0].1) }
                let ms = shapes.map { be.tensor(rows: $0.0, cols: $0.1) }, vs = shapes.map { be.tensor(rows: $0.0, cols: $0.1) }
                let stepCounter = counter ? be.uploadIndices([0]) : nil
                for s in 0..<steps {
                    let gs = shapes.indices.map { be.upload(grads[$0][s], rows: shapes[$0].0, cols: shapes[$0].1) }
                    if let stepCounter {
                        be.advance(stepCounter, by: 1)
                        be.adamStep(params: ps, grads: gs, m: ms, v: vs, lr: lr, beta1: b1, beta2: b2, eps: eps,
                                    stepCounter: stepCounter, weightDecay: decays)
                    } else {
                        be.adamStep(params: ps, grads: gs, m: ms, v: vs, lr: lr, beta1: b1, beta2: b2, eps: eps, step: s + 1,
                                    weightDecay: decays)
                    }
                }
                var o: [Output] = []
                for i in shapes.indices {
                    let c = shapes[i].1
                    o += [.f("tensor \(i) param", be.download(ps[i]), cols: c), .f("tensor \(i) m", be.download(ms[i]), cols: c),
                          .f("tensor \(i) v", be.download(vs[i]), cols: c)]
                }
                return o
            }
            for i in shapes.indices {
                let ref = adamReference(p0[i], grads[i], lr: lr, beta1: b1, beta2: b2, eps: eps, weightDecay: decays[i])
                checkAdam(ck, outs, 3 * i, ref, lr: lr)
            }
        }
    }

    /// torch.optim.Adam's update in Double (L2 weight decay added to the gradient), from zero
    /// moments, one step per gradient: the final param, m, v, and m computed from |g|.
    static func adamReference(_ p0: [Float], _ grads: [[Float]], lr: Float, beta1: Float, beta2: Float, eps: Float,
                              weightDecay: Float) -> (p: [Double], m: [Double], v: [Double], mmag: [Double]) {
        let n = p0.count
        var p = p0.map(Double.init), m = [Double](repeating: 0, count: n), v = m, mmag = m
        let b1 = Double(beta1), b2 = Double(beta2)
        for (s, g) in grads.enumerated() {
            let bc1 = 1 - pow(b1, Double(s + 1)), bc2 = 1 - pow(b2, Double(s + 1))
            for i in 0..<n {
                let gi = Double(g[i]) + Double(weightDecay) * p[i]
                m[i] = b1 * m[i] + (1 - b1) * gi
                mmag[i] = b1 * mmag[i] + (1 - b1) * abs(gi)
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                p[i] -= Double(lr) / bc1 * m[i] / (v[i].squareRoot() / bc2.squareRoot() + Double(eps))
            }
        }
        return (p, m, v, mmag)
    }

    /// Checks outputs [at], [at + 1], [at + 2] (param, m, v) against `adamReference`.
    static func checkAdam(_ ck: Check, _ outs: [Output], _ at: Int,
                          _ ref: (p: [Double], m: [Double], v: [Double], mmag: [Double]), lr: Float) {
        guard at + 2 < outs.count else { ck.fail("missing outputs"); return }
        ck.close(outs[at], ref.p, tolerance: 1e-6) { abs(ref.p[$0]) + Double(lr) }
        ck.close(outs[at + 1], ref.m, tolerance: 1e-6) { ref.mmag[$0] + 1e-30 }
        ck.close(outs[at + 2], ref.v, tolerance: 1e-6) { abs(ref.v[$0]) + 1e-30 }
    }

    static func fusedCases(_ size: Size) -> [Case] {
        var cases: [Case] = []
        let full = size == .full

        // (m, k, n, bias, relu)
        var denses: [(Int, Int, Int, Bool, Bool)] = [(1, 1, 1, true, true), (5, 70, 9, true, true), (0, 4, 3, true, true)]
        for bias in [false, true] { for relu in [false, true] { denses.append((33, 17, 20, bias, relu)) } }
        if full { denses += [(4096, 100, 128, true, true), (256, 128, 2, true, false)] }
        for (m, k, n, withBias, relu) in denses {
            cases.append(Case(["dense"], "dense \(dims(m, k, n))" + (withBias ? " bias" : "") + (relu ? " relu" : "")) { ck in
                var g = ck.inputs()
                let x = g.floats(m * k), w = g.floats(k * n), b = g.floats(n)
                let outs = ck.twice { be in
                    let y = be.upload([Float](repeating: .nan, count: m * n), rows: m, cols: n)
                    be.dense(be.upload(x, rows: m, cols: k), be.upload(w, rows: k, cols: n),
                             bias: withBias ? be.upload(b, rows: 1, cols: n) : nil, relu: relu, into: y)
                    return [.f("", be.download(y), cols: n)]
                }
                var (want, mag) = gemmReference(x, m, k, transA: false, w, k, n, transB: false, c: [], alpha: 1, beta: 0)
                for i in 0..<want.count {
                    if withBias { want[i] += Double(b[i % n]); mag[i] += abs(Double(b[i % n])) }
                    if relu { want[i] = max(want[i], 0) }
                }
                let bound = sumBound(k)
                if let o = outs.first { ck.close(o, want, tolerance: 1e-6) { bound * mag[$0] + 1e-30 } }
            })
        }

        var deltas = [(1, 1), (17, 3), (64, 10), (0, 4)]
        if full { deltas += [(4096, 2), (4096, 10)] }
        for (r, c) in deltas {
            for softmax in [true, false] {
                cases.append(Case(["outputDelta"], "outputDelta \(dims(r, c)) softmax \(softmax)") { ck in
                    var g = ck.inputs()
                    let z = g.floats(r * c, scale: 5)
                    var y = [Float](repeating: 0, count: r * c)
                    for i in 0..<r where c > 0 { y[i * c + g.int(c)] = 1 }
                    let s = 1 / Float(max(r, 1))
                    let outs = ck.twice { be in
                        let tz = be.upload(z, rows: r, cols: c), td = be.upload([Float](repeating: .nan, count: r * c), rows: r, cols: c)
                        be.outputDelta(tz, softmax: softmax, targets: be.upload(y, rows: r, cols: c), scale: s, into: td)
                        return [.f("z", be.download(tz), cols: c), .f("delta", be.download(td), cols: c)]
                    }
                    guard outs.count == 2 else { return }
                    if softmax {
                        let (p, _) = softmaxReference(z, r, c)
                        ck.close(outs[0], p, tolerance: 1e-6) { _ in 1 }
                        let want = (0..<(r * c)).map { (p[$0] - Double(y[$0])) * Double(s) }
                        ck.close(outs[1], want, tolerance: 1e-6) { 2 * Double(s) + abs(want[$0]) }
                    } else {
                        ck.sameBits(outs[0], z)
                        ck.exact(outs[1], (0..<(r * c)).map { (z[$0] - y[$0]) * s })
                    }
                })
            }
        }
        return cases
    }
}
