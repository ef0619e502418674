/// The conformance suite's checks of device-resident cursors and counters and of recorded
/// steps (what the trainer's replayed minibatch step is made of).
///
/// - uploadIndices(into:), gatherRows(cursor:), advance: exact (three gathers at a cursor
///   advanced between them, the rows compared bit for bit, the cursor's final value exact).
/// - adamStep(stepCounter:): after 3 steps, each advancing the counter first, against the
///   same Double reference and tolerances as adamStep(params:) (param 1e-6 · (|p| + lr), m
///   1e-6 · |m|', v 1e-6 · |v|): a GPU computes the bias corrections on the device, where
///   −lr/bc1 and √bc2 may be one Float ulp from the host's.
/// - recordStep + replay: a training step (gather at a cursor, dense, column sums, GEMM,
///   Adam with a counter, cursor and counter advanced) run once, recorded, and replayed
///   N − 1 times gives the same bits as the step run N times on fresh state (a backend that
///   records nothing runs the step itself instead, as callers do); the cursor and counter
///   end at N · batch and N.
extension BackendConformance {
    static func stepCases(_ size: Size) -> [Case] {
        var cases: [Case] = []
        let full = size == .full

        // (source rows, cols, indices, rows a gather, first offset)
        var gathers = [(23, 7, 30, 8, 2), (1, 1, 3, 1, 0), (9, 5, 4, 0, 1)]
        if full { gathers += [(5000, 64, 6000, 1024, 100)] }
        for (rows, cols, n, count, offset) in gathers {
            cases.append(Case(["uploadIndices(into:)", "gatherRows(cursor:)", "advance"],
                              "gatherRows(cursor:) 3 × \(count) rows from offset \(offset) of \(n), from \(dims(rows, cols))") { ck in
                var g = ck.inputs()
                let src = g.floats(rows * cols)
                var idx = [Int32](repeating: 0, count: n)
                for r in 0..<n { idx[r] = Int32(g.int(rows)) }
                let outs = ck.twice { be in
                    let s = be.upload(src, rows: rows, cols: cols)
                    let ti = be.uploadIndices([Int32](repeating: -1, count: n))
                    be.uploadIndices(idx, into: ti)
                    let cursor = be.uploadIndices([-7])
                    be.uploadIndices([Int32(offset)], into: cursor)
                    var o: [Output] = []
                    for k in 0..<3 {
                        let dst = be.tensor(rows: count + 2, cols: cols)
                        be.gatherRows(s, indices: ti, cursor: cursor, count: count, into: dst)
                        be.advance(cursor, by: count)
                        o.append(.f("gather \(k)", be.download(dst), cols: cols))
                    }
                    be.advance(cursor, by: -1)
                    be.advance(cursor, by: 1)
                    o.append(.i("cursor", be.download(cursor).map { Int32(bitPattern: $0.bitPattern) }))
                    return o
                }
                guard outs.count == 4 else { ck.fail("missing outputs"); return }
                for k in 0..<3 {
                    var want = [Float](repeating: 0, count: (count + 2) * cols)
                    for r in 0..<count {
                        for j in 0..<cols { want[r * cols + j] = src[Int(idx[offset + k * count + r]) * cols + j] }
                    }
                    ck.sameBits(outs[k], want)
                }
                ck.exact(outs[3], ints: [Int32(offset + 3 * count)])
            })
        }

        let steps = 3
        var models: [[(Int, Int)]] = [[(1, 1), (7, 13), (33, 17), (0, 4)]]
        if full { models.append([(100, 128), (1, 128), (128, 2), (1, 2)]) }
        for shapes in models {
            let decays: [Float] = shapes.indices.map { [0, 0.01, 0.1, 0.01][$0 % 4] }
            let name = "adamStep(stepCounter:) \(shapes.count) tensors " + shapes.map { dims($0.0, $0.1) }.joined(separator: ", ")
                + ", \(steps) steps"
            cases.append(multiAdamCase(["adamStep(stepCounter:)"], name, shapes, decays: decays, steps: steps, counter: true))
        }

        // (source rows, features, outputs, batch, steps)
        var recorded = [(40, 6, 5, 8, 4)]
        if full { recorded.append((5000, 64, 100, 256, 8)) }
        for (rows, k, n, batch, steps) in recorded {
            cases.append(Case(["recordStep", "replay"],
                              "recordStep + replay: \(steps) training steps of \(batch) rows, \(dims(k, n)) weights") { ck in
                var g = ck.inputs()
                let src = g.floats(rows * k)
                var idx = [Int32](repeating: 0, count: steps * batch)
                for r in idx.indices { idx[r] = Int32(g.int(rows)) }
                let w0 = g.floats(k * n), b0 = g.floats(n)
                /// The step `steps` times, recorded after the first when `record`: w, b, their
                /// moments, the cursor and the counter.
                func train(_ be: any Backend, record: Bool) -> [Output] {
                    let s = be.upload(src, rows: rows, cols: k), ti = be.uploadIndices(idx)
                    let w = be.upload(w0, rows: k, cols: n), b = be.upload(b0, rows: 1, cols: n)
                    let gw = be.tensor(rows: k, cols: n), gb = be.tensor(rows: 1, cols: n)
                    let ms = [be.tensor(rows: k, cols: n), be.tensor(rows: 1, cols: n)]
                    let vs = [be.tensor(rows: k, cols: n), be.tensor(rows: 1, cols: n)]
                    let x = be.tensor(rows: batch, cols: k), y = be.tensor(rows: batch, cols: n)
                    let cursor = be.uploadIndices([0]), counter = be.uploadIndices([0])
                    func step() {
                        be.gatherRows(s, indices: ti, cursor: cursor, count: batch, into: x)
                        be.advance(cursor, by: batch)
                        be.dense(x, w, bias: b, relu: true, into: y)
                        be.scale(y, 1 / Float(batch))
                        be.columnSums(y, into: gb)
                        be.gemm(x, transA: true, y, transB: false, into: gw, alpha: 1, beta: 0)
                        be.advance(counter, by: 1)
                        be.adamStep(params: [w, b], grads: [gw, gb], m: ms, v: vs, lr: 0.01, beta1: 0.9, beta2: 0.999,
                                    eps: 1e-8, stepCounter: counter, weightDecay: [0.01, 0])
                    }
                    step()
                    let rec = record ? be.recordStep(step) : nil
                    for _ in 1..<steps {
                        if let rec { be.replay(rec) } else { step() }
                    }
                    let ints = { (t: Tensor) in be.download(t).map { Int32(bitPattern: $0.bitPattern) } }
                    return [.f("w", be.download(w), cols: n), .f("b", be.download(b), cols: n),
                            .f("m w", be.download(ms[0]), cols: n), .f("v b", be.download(vs[1]), cols: n),
                            .i("cursor", ints(cursor)), .i("counter", ints(counter))]
                }
                let outs = ck.twice { be in train(be, record: false) + train(be, record: true) }
                guard outs.count == 12 else { ck.fail("missing outputs"); return }
                for i in 0..<4 { ck.sameBits(outs[6 + i], outs[i].values.map { Float($0) }) }
                for i in [4, 10] { ck.exact(outs[i], ints: [Int32(steps * batch)]) }
                for i in [5, 11] { ck.exact(outs[i], ints: [Int32(steps)]) }
            })
        }
        return cases
    }
}
