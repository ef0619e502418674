import XCTest
import Compute
@testable import ComputeGPU
import Support

/// GPUBackend's every operation through the CUDA emulator (the kernel source as host C++),
/// against CPUBackend on small shapes: exact where the kernel computes the CPU's formula
/// element by element, within a stated tolerance where it sums in another order (GEMM,
/// softmax, column sums over 64-row blocks, sums of squares). Results must not depend on the
/// grid limit: every output is compared bit for bit between maxGridBlocks 1 and 3.
final class GPUBackendEmulatedTests: XCTestCase {

    /// Named outputs of every operation on `be`, from the same inputs whatever the backend.
    static func runAll(_ be: any Backend) throws -> [(name: String, values: [Float], tolerance: Float)] {
        var out: [(String, [Float], Float)] = []
        func add(_ name: String, _ t: Tensor, _ tol: Float) { out.append((name, be.download(t), tol)) }
        func r(_ rows: Int, _ cols: Int, _ seed: UInt64, _ s: Float = 1) -> Tensor {
            be.upload(random(rows * cols, seed: seed, scale: s), rows: rows, cols: cols)
        }

        // GEMM: every transpose, beta 0 over NaN, beta ≠ 0, a split-K shape.
        let (m, n, k) = (33, 70, 45)
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = ta ? r(k, m, 1) : r(m, k, 1)
            let b = tb ? r(n, k, 2) : r(k, n, 2)
            let c = be.upload([Float](repeating: .nan, count: m * n), rows: m, cols: n)
            be.gemm(a, transA: ta, b, transB: tb, into: c, alpha: 0.5, beta: 0)
            add("gemm \(ta ? "t" : "n")\(tb ? "t" : "n") beta 0", c, 1e-5)
            let c2 = r(m, n, 3)
            be.gemm(a, transA: ta, b, transB: tb, into: c2, alpha: 1, beta: 0.75)
            add("gemm \(ta ? "t" : "n")\(tb ? "t" : "n") beta 0.75", c2, 1e-5)
        }
        let sa = r(700, 10, 4), sb = r(700, 5, 5), sc = be.tensor(rows: 10, cols: 5)
        be.gemm(sa, transA: true, sb, transB: false, into: sc, alpha: 1, beta: 0)
        add("gemm split-K 10×5×700", sc, 1e-4)
        let sc2 = r(10, 5, 51)
        be.gemm(sa, transA: true, sb, transB: false, into: sc2, alpha: -1, beta: 0.5)
        add("gemm split-K beta 0.5", sc2, 1e-4)
        let ly = be.tensor(rows: 5, cols: 3)
        be.linear(r(5, 600, 52), r(3, 600, 53), transW: true, bias: r(1, 3, 54), alpha: 0.25, into: ly)
        add("linear split-K bias", ly, 1e-4)
        // Narrow outputs (mlr_gemm_small_n) and short sums (mlr_gemm_small_k), with beta.
        let nc = r(300, 2, 55)
        be.gemm(r(300, 20, 56), transA: false, r(2, 20, 57), transB: true, into: nc, alpha: 1, beta: 0.5)
        add("gemm narrow 300×2×20", nc, 1e-5)
        let kc2 = r(33, 20, 58)
        be.gemm(r(2, 33, 59), transA: true, r(2, 20, 60), transB: false, into: kc2, alpha: 1, beta: -1)
        add("gemm short 33×20×2", kc2, 1e-5)
        let kc = be.tensor(rows: 3, cols: 4)
        be.gemm(be.tensor(rows: 3, cols: 0), transA: false, be.tensor(rows: 0, cols: 4), transB: false, into: kc, alpha: 1, beta: 0)
        add("gemm k = 0", kc, 0)

        // linear, dense.
        let x = r(37, 20, 6), w = r(20, 9, 7), wt = r(9, 20, 8), bias = r(1, 9, 9)
        let y1 = be.tensor(rows: 37, cols: 9), y2 = be.tensor(rows: 37, cols: 9), y3 = be.tensor(rows: 37, cols: 9)
        be.linear(x, w, transW: false, bias: bias, alpha: 0.5, into: y1)
        be.linear(x, wt, transW: true, bias: nil, alpha: 2, into: y2)
        be.dense(x, w, bias: bias, relu: true, into: y3)
        add("linear", y1, 1e-5); add("linear transW", y2, 1e-5); add("dense relu", y3, 1e-5)

        // Elementwise (exact).
        let e = r(13, 21, 10, 3)
        be.addRowVector(e, r(1, 21, 11)); add("addRowVector", e, 0)
        let e2 = r(13, 21, 12, 3); be.relu(e2); add("relu", e2, 0)
        let g = r(13, 21, 13); be.reluBackward(g, activation: r(13, 21, 14)); add("reluBackward", g, 0)
        let sg = r(13, 21, 15, 6); be.sigmoid(sg); add("sigmoid", sg, 1e-6)
        let ax = r(13, 21, 16); be.axpy(-0.3, r(13, 21, 17), ax); add("axpy", ax, 0)
        let scl = r(13, 21, 18); be.scale(scl, 1.7); add("scale", scl, 0)
        let sa1 = r(13, 21, 19); be.sub(sa1, r(13, 21, 20), into: sa1); add("sub aliased", sa1, 0)

        // Rows.
        for cols in [3, 70] {
            let s1 = r(19, cols, 21, 5); be.softmaxRows(s1); add("softmaxRows \(cols)", s1, 1e-6)
            let s2 = r(19, cols, 22, 5); be.logSoftmaxRows(s2); add("logSoftmaxRows \(cols)", s2, 1e-5)
            let z = r(19, cols, 23, 5), t = r(19, cols, 24), d = be.tensor(rows: 19, cols: cols)
            be.outputDelta(z, softmax: true, targets: t, scale: 0.25, into: d)
            add("outputDelta softmax \(cols) z", z, 1e-6); add("outputDelta softmax \(cols)", d, 1e-6)
        }
        let z3 = r(19, 5, 25), d3 = be.tensor(rows: 19, cols: 5)
        be.outputDelta(z3, softmax: false, targets: r(19, 5, 26), scale: 0.5, into: d3)
        add("outputDelta", d3, 0)
        for rows in [10, 150, 1100] {
            let cs = be.tensor(rows: 1, cols: 33); be.columnSums(r(rows, 33, 27), into: cs)
            add("columnSums \(rows)", cs, 1e-5)
        }
        var ties = random(12 * 7, seed: 28).map { ($0 * 4).rounded() }
        ties[5] = .nan
        let am = be.rowArgmax(be.upload(ties, rows: 12, cols: 7))
        out.append(("rowArgmax", am.map { Float($0) }, 0))

        // Distances.
        let px = r(41, 6, 29), pc = r(5, 6, 30), dd = be.tensor(rows: 41, cols: 5)
        be.squaredDistances(px, pc, into: dd); add("squaredDistances", dd, 1e-5)
        let near = be.nearestCenters(px, pc)
        out.append(("nearestCenters labels", near.labels.map { Float($0) }, 0))
        out.append(("nearestCenters distances", near.distances, 1e-5))
        let near1 = be.nearestCenters(px, r(1, 6, 55))
        out.append(("nearestCenters k=1", near1.labels.map { Float($0) } + near1.distances, 1e-5))
        let labels = (0..<41).map { Int32($0 % 5) }
        let cl = be.clusterSums(px, labels: labels, k: 5)
        out.append(("clusterSums", cl.sums.map { Float($0) } + cl.counts.map { Float($0) }, 0))
        let big = r(2100, 3, 50), bigLabels = (0..<2100).map { Int32($0 % 7 == 0 ? 2 : $0 % 2) }
        let cl2 = be.clusterSums(big, labels: bigLabels, k: 4)   // cluster 1: two blocks; cluster 3: empty
        out.append(("clusterSums 2100 rows", cl2.sums.map { Float($0) } + cl2.counts.map { Float($0) }, 1e-6))
        let gr = be.tensor(rows: 6, cols: 6); be.gram(px, into: gr, alpha: 0.5); add("gram", gr, 1e-5)
        let slg = be.softmaxLinearGradient(px, weights: random(18, seed: 31), bias: [0.1, -0.2, 0.3], classes: 3,
                                           labels: (0..<41).map { Int32($0 % 3) })
        out.append(("softmaxLinearGradient", [Float(slg.loss)] + slg.gradW.map { Float($0) } + slg.gradB.map { Float($0) }, 1e-5))
        let lx = r(300, 4, 48, 2), lab2 = (0..<300).map { Int32($0 * 7 % 2) }
        for _ in 0..<2 {   // the second call reuses the labels on the device
            let s2 = be.softmaxLinearGradient(lx, weights: random(8, seed: 49), bias: [0, 0.5], classes: 2, labels: lab2)
            out.append(("softmaxLinearGradient k=2 300 rows", [Float(s2.loss)] + s2.gradW.map { Float($0) } + s2.gradB.map { Float($0) }, 1e-5))
        }

        // Optimizers (exact: the CPU's formulas in its order).
        let p = r(7, 11, 32), pg = r(7, 11, 33), pm = r(7, 11, 34, 0.1), pv = be.upload(random(77, seed: 35).map { $0 * $0 }, rows: 7, cols: 11)
        be.adamStep(param: p, grad: pg, m: pm, v: pv, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 3, weightDecay: 0.01)
        add("adam p", p, 0); add("adam m", pm, 0); add("adam v", pv, 0)
        let ps = [r(3, 4, 36), r(1, 4, 37), r(4, 2, 38)]
        let gs = [r(3, 4, 39), r(1, 4, 40), r(4, 2, 41)]
        let ms = ps.map { be.tensor(rows: $0.rows, cols: $0.cols) }, vs = ps.map { be.tensor(rows: $0.rows, cols: $0.cols) }
        for step in 1...3 {
            be.adamStep(params: ps, grads: gs, m: ms, v: vs, lr: 0.05, beta1: 0.6, beta2: 0.99, eps: 1e-7, step: step,
                        weightDecay: [0, 0.1, 0])
        }
        for i in 0..<3 { add("adam multi p\(i)", ps[i], 0); add("adam multi v\(i)", vs[i], 0) }
        // The step from a device counter: exact here too (the emulator's pow is the host's; a
        // GPU's may move −lr/bc1 or √bc2 by one Float ulp).
        let cps = [r(3, 4, 36), r(1, 4, 37), r(4, 2, 38)]
        let cms = cps.map { be.tensor(rows: $0.rows, cols: $0.cols) }, cvs = cps.map { be.tensor(rows: $0.rows, cols: $0.cols) }
        let counter = be.uploadIndices([0])
        for _ in 1...3 {
            be.advance(counter, by: 1)
            be.adamStep(params: cps, grads: gs, m: cms, v: cvs, lr: 0.05, beta1: 0.6, beta2: 0.99, eps: 1e-7, stepCounter: counter,
                        weightDecay: [0, 0.1, 0])
        }
        for i in 0..<3 { add("adam counter p\(i)", cps[i], 0); add("adam counter v\(i)", cvs[i], 0) }
        add("adam counter", counter, 0)
        let sp = r(5, 5, 42), sv = r(5, 5, 43)
        be.sgdStep(param: sp, grad: r(5, 5, 44), velocity: sv, lr: 0.1, momentum: 0.9, weightDecay: 0.05)
        add("sgd p", sp, 0); add("sgd velocity", sv, 0)
        out.append(("sumSquares small", [Float(be.sumSquares(r(9, 9, 45)))], 1e-6))
        out.append(("sumSquares 2 blocks", [Float(be.sumSquares(r(70_000, 1, 46)))], 1e-6))

        // Gathers.
        let src = r(30, 9, 47), gd = be.tensor(rows: 6, cols: 9)
        be.gatherRows(src, [29, 0, 3, 3, 17], into: gd); add("gatherRows", gd, 0)
        let idx = be.uploadIndices([4, 8, 15, 16, 23, 29, 1])
        let gd2 = be.tensor(rows: 5, cols: 9)
        be.gatherRows(src, indices: idx, offset: 2, count: 5, into: gd2); add("gatherRows device indices", gd2, 0)
        let cursor = be.uploadIndices([9])
        be.uploadIndices([1], into: cursor)
        let gd3 = be.tensor(rows: 3, cols: 9), gd4 = be.tensor(rows: 3, cols: 9)
        be.gatherRows(src, indices: idx, cursor: cursor, count: 3, into: gd3)
        be.advance(cursor, by: 3)
        be.gatherRows(src, indices: idx, cursor: cursor, count: 3, into: gd4)
        add("gatherRows cursor 1", gd3, 0); add("gatherRows cursor 4", gd4, 0); add("cursor", cursor, 0)
        try be.checkError()
        return out
    }

    func testEveryOperationAgainstTheCPUAndIndependentOfTheGrid() throws {
        let dev = try emulator()
        let cpu = try Self.runAll(CPUBackend(threads: 2))
        let g3 = GPUBackend(device: dev, maxGridBlocks: 3), g1 = GPUBackend(device: dev, maxGridBlocks: 1)
        let gpu3 = try Self.runAll(g3), gpu1 = try Self.runAll(g1)
        XCTAssertEqual(cpu.map(\.name), gpu3.map(\.name))
        for ((c, a), b) in zip(zip(cpu, gpu3), gpu1) {
            XCTAssertEqual(c.values.count, a.values.count, c.name)
            for i in 0..<min(c.values.count, a.values.count) {
                let want = c.values[i], got = a.values[i]
                if c.tolerance == 0 {
                    XCTAssertTrue(want.bitPattern == got.bitPattern || (want.isNaN && got.isNaN),
                                  "\(c.name)[\(i)]: gpu \(got), cpu \(want) (exact)")
                } else {
                    XCTAssertLessThanOrEqual(abs(got - want), c.tolerance * max(1, abs(want)),
                                             "\(c.name)[\(i)]: gpu \(got), cpu \(want)")
                }
            }
            XCTAssertEqual(a.values.map(\.bitPattern), b.values.map(\.bitPattern), "\(c.name): maxGridBlocks 3 vs 1")
        }
        // Every kernel of the source ran.
        let launched = dev.launched
        for s in CUDAKernels.specs { XCTAssertGreaterThan(launched[s.name] ?? 0, 0, "\(s.name) never ran") }
    }

    func testIndicesAndLabelsOutOfRangeFailTheBackend() throws {
        let be = GPUBackend(device: try emulator(), maxGridBlocks: 2)
        let src = be.upload(Self.random(12, seed: 1), rows: 4, cols: 3), dst = be.tensor(rows: 2, cols: 3)
        // Device-resident indices: zeros written, the error seen at the next wait.
        let idx = be.uploadIndices([1, 4])
        be.gatherRows(src, indices: idx, offset: 0, count: 2, into: dst)
        _ = be.download(dst)
        XCTAssertThrowsError(try be.checkError()) { XCTAssertEqual("\($0)", "gpu: gatherRows: index out of range") }

        // A cursor past the indices: zeros, and the same error.
        let bc = GPUBackend(device: try emulator(), maxGridBlocks: 2)
        let srcC = bc.upload(Self.random(12, seed: 1), rows: 4, cols: 3), dstC = bc.upload([Float](repeating: 5, count: 6), rows: 2, cols: 3)
        let idxC = bc.uploadIndices([1, 2, 3]), cursor = bc.uploadIndices([2])
        bc.gatherRows(srcC, indices: idxC, cursor: cursor, count: 2, into: dstC)
        XCTAssertEqual(bc.download(dstC), [Float](repeating: 0, count: 6))
        XCTAssertThrowsError(try bc.checkError()) { XCTAssertEqual("\($0)", "gpu: gatherRows: index out of range") }

        // Adam with a step counter below 1: nothing updated, an error at the next wait.
        let ba = GPUBackend(device: try emulator(), maxGridBlocks: 2)
        let pa = ba.upload([1, 2], rows: 1, cols: 2), counter = ba.uploadIndices([0])
        ba.adamStep(params: [pa], grads: [ba.upload([1, 1], rows: 1, cols: 2)], m: [ba.tensor(rows: 1, cols: 2)],
                    v: [ba.tensor(rows: 1, cols: 2)], lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, stepCounter: counter, weightDecay: [0])
        ba.synchronize()
        XCTAssertThrowsError(try ba.checkError()) { XCTAssertEqual("\($0)", "gpu: adamStep(stepCounter:): step counter below 1") }

        let be2 = GPUBackend(device: try emulator(), maxGridBlocks: 2)
        let src2 = be2.upload(Self.random(12, seed: 1), rows: 4, cols: 3), dst2 = be2.tensor(rows: 2, cols: 3)
        be2.gatherRows(src2, [0, -1], into: dst2)
        XCTAssertThrowsError(try be2.checkError()) { XCTAssertTrue("\($0)".hasPrefix("gpu: gatherRows: index -1 out of range")) }

        let be3 = GPUBackend(device: try emulator(), maxGridBlocks: 2)
        let x3 = be3.upload(Self.random(12, seed: 1), rows: 4, cols: 3)
        let labels: [Int32] = [0, 1, 1, 0]
        _ = be3.softmaxLinearGradient(x3, weights: [Float](repeating: 0, count: 6), bias: [0, 0], classes: 2, labels: labels)
        try be3.checkError()
        // The same labels, fewer classes: checked again.
        _ = be3.softmaxLinearGradient(x3, weights: [0, 0, 0], bias: [0], classes: 1, labels: labels)
        XCTAssertThrowsError(try be3.checkError()) {
            XCTAssertEqual("\($0)", "gpu: softmaxLinearGradient: label 1 out of range 0..<1")
        }
    }

    /// A 6→8→3 MLP, minibatches gathered on the device from resident indices, forward (dense
    /// ReLU, dense), fused softmax delta, backward (GEMMs, column sums, ReLU mask), one Adam
    /// launch for all parameters: two runs give the same bits, and agree with the CPU.
    static func train(_ be: any Backend, steps: Int = 4) -> [[Float]] {
        let n = 40, d = 6, h = 8, c = 3, batch = 16
        let xAll = be.upload(random(n * d, seed: 100), rows: n, cols: d)
        var yHost = [Float](repeating: 0, count: n * c)
        for i in 0..<n { yHost[i * c + i % c] = 1 }
        let yAll = be.upload(yHost, rows: n, cols: c)
        var perm = (0..<n).map { Int32($0) }
        var g = SplitMix64(seed: 7)
        perm.shuffle(using: &g)
        let idx = be.uploadIndices(perm + perm)
        let w1 = be.upload(random(d * h, seed: 101, scale: 0.5), rows: d, cols: h), b1 = be.tensor(rows: 1, cols: h)
        let w2 = be.upload(random(h * c, seed: 102, scale: 0.5), rows: h, cols: c), b2 = be.tensor(rows: 1, cols: c)
        let params = [w1, b1, w2, b2]
        let grads = params.map { be.tensor(rows: $0.rows, cols: $0.cols) }
        let ms = params.map { be.tensor(rows: $0.rows, cols: $0.cols) }, vs = params.map { be.tensor(rows: $0.rows, cols: $0.cols) }
        let xb = be.tensor(rows: batch, cols: d), yb = be.tensor(rows: batch, cols: c)
        let a1 = be.tensor(rows: batch, cols: h), z = be.tensor(rows: batch, cols: c)
        let d2 = be.tensor(rows: batch, cols: c), d1 = be.tensor(rows: batch, cols: h)
        for s in 0..<steps {
            be.gatherRows(xAll, indices: idx, offset: s * batch, count: batch, into: xb)
            be.gatherRows(yAll, indices: idx, offset: s * batch, count: batch, into: yb)
            be.dense(xb, w1, bias: b1, relu: true, into: a1)
            be.dense(a1, w2, bias: b2, relu: false, into: z)
            be.outputDelta(z, softmax: true, targets: yb, scale: 1 / Float(batch), into: d2)
            be.gemm(a1, transA: true, d2, transB: false, into: grads[2], alpha: 1, beta: 0)
            be.columnSums(d2, into: grads[3])
            be.gemm(d2, transA: false, w2, transB: true, into: d1, alpha: 1, beta: 0)
            be.reluBackward(d1, activation: a1)
            be.gemm(xb, transA: true, d1, transB: false, into: grads[0], alpha: 1, beta: 0)
            be.columnSums(d1, into: grads[1])
            be.adamStep(params: params, grads: grads, m: ms, v: vs, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8,
                        step: s + 1, weightDecay: [0, 0, 0, 0])
        }
        return params.map { be.download($0) }
    }

    func testTrainingStepsAreBitIdenticalAcrossRuns() throws {
        let dev = try emulator()
        let a = Self.train(GPUBackend(device: dev, maxGridBlocks: 3))
        let b = Self.train(GPUBackend(device: dev, maxGridBlocks: 2))
        let cpu = Self.train(CPUBackend(threads: 2))
        XCTAssertEqual(a.map { $0.map(\.bitPattern) }, b.map { $0.map(\.bitPattern) })
        for (p, q) in zip(a, cpu) {
            for (x, y) in zip(p, q) { XCTAssertEqual(x, y, accuracy: 1e-5) }
        }
        XCTAssertNotEqual(a[0], Self.random(48, seed: 101, scale: 0.5), "the weights moved")
    }
}

extension GPUBackendEmulatedTests {
    /// A recorded forward pass replays with new inputs (the same tensors) and gives what a
    /// direct run gives.
    func testCapturedStepReplays() throws {
        let be = GPUBackend(device: try emulator(), maxGridBlocks: 2)
        let x = be.upload(Self.random(20 * 6, seed: 1), rows: 20, cols: 6)
        let w = be.upload(Self.random(6 * 5, seed: 2), rows: 6, cols: 5), b = be.upload(Self.random(5, seed: 3), rows: 1, cols: 5)
        let y = be.tensor(rows: 20, cols: 5), d = be.tensor(rows: 20, cols: 5), t = be.tensor(rows: 20, cols: 5)
        let step = {
            be.dense(x, w, bias: b, relu: true, into: y)
            be.outputDelta(y, softmax: true, targets: t, scale: 0.5, into: d)
        }
        step()
        let recorded = try XCTUnwrap(be.recordStep(step))
        let x2 = Self.random(20 * 6, seed: 4)
        x2.withUnsafeBufferPointer { be.upload($0, into: x, row: 0) }
        be.replay(recorded)
        let replayed = be.download(d)
        step()
        XCTAssertEqual(replayed, be.download(d))
        try be.checkError()
    }
}
