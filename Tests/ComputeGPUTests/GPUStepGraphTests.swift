import XCTest
import Compute
@testable import ComputeGPU
@testable import ML
import Support

/// Recorded steps (`recordStep`/`replay`, a CUDA graph on a GPU) on the emulated GPU: a
/// recorded MLP training step replayed across batches and epochs gives the bits of the same
/// steps run one by one; a recording stays valid when the scratch buffers it captured are
/// grown or their table replaced; and the trainer gives the same model bits with recording
/// as without.
final class GPUStepGraphTests: XCTestCase {

    /// A 6→8→3 MLP trained with minibatches of 8 over 50 rows (6 full batches and one of 2 an
    /// epoch) for two epochs, as the trainer does: the step once as it is, then (if `record`)
    /// recorded and replayed for every later full batch. Returns the parameters, Adam's
    /// moments, the cursor and the step counter (as Float bit patterns), and the replays.
    func trainMLP(_ be: any Backend, record: Bool) -> (values: [[Float]], replays: Int) {
        let rows = 50, m = 6, hidden = 8, classes = 3, bs = 8
        let x = be.upload(Self.random(rows * m, seed: 1), rows: rows, cols: m)
        var yHost = [Float](repeating: 0, count: rows * classes)
        var g = SplitMix64(seed: 2)
        for r in 0..<rows { yHost[r * classes + g.nextModulo(classes)] = 1 }
        let y = be.upload(yHost, rows: rows, cols: classes)
        let sizes = [m, hidden, classes]
        var params: [Tensor] = []
        for l in 0..<2 {
            params.append(be.upload(Self.random(sizes[l] * sizes[l + 1], seed: 10 + UInt64(l), scale: 0.5), rows: sizes[l], cols: sizes[l + 1]))
            params.append(be.upload(Self.random(sizes[l + 1], seed: 20 + UInt64(l), scale: 0.1), rows: 1, cols: sizes[l + 1]))
        }
        let grads = params.map { be.tensor(rows: $0.rows, cols: $0.cols) }
        let ms = params.map { be.tensor(rows: $0.rows, cols: $0.cols) }, vs = params.map { be.tensor(rows: $0.rows, cols: $0.cols) }
        var shuffled = (0..<Int32(rows)).map { $0 }
        let order = be.uploadIndices(shuffled)
        let cursor = be.uploadIndices([0]), counter = be.uploadIndices([0])
        var cache: [Int: (x: Tensor, y: Tensor, acts: [Tensor], deltas: [Tensor])] = [:]
        func bufs(_ n: Int) -> (x: Tensor, y: Tensor, acts: [Tensor], deltas: [Tensor]) {
            if let b = cache[n] { return b }
            let b = (be.tensor(rows: n, cols: m), be.tensor(rows: n, cols: classes),
                     sizes.dropFirst().map { be.tensor(rows: n, cols: $0) }, sizes.dropFirst().map { be.tensor(rows: n, cols: $0) })
            cache[n] = b
            return b
        }
        func step(_ n: Int) {
            let b = bufs(n)
            be.gatherRows(x, indices: order, cursor: cursor, count: n, into: b.x)
            be.gatherRows(y, indices: order, cursor: cursor, count: n, into: b.y)
            be.advance(cursor, by: n)
            be.dense(b.x, params[0], bias: params[1], relu: true, into: b.acts[0])
            be.dense(b.acts[0], params[2], bias: params[3], relu: false, into: b.acts[1])
            be.outputDelta(b.acts[1], softmax: true, targets: b.y, scale: 1 / Float(n), into: b.deltas[1])
            for l in stride(from: 1, through: 0, by: -1) {
                be.gemm(l == 0 ? b.x : b.acts[0], transA: true, b.deltas[l], transB: false, into: grads[2 * l], alpha: 1, beta: 0)
                be.columnSums(b.deltas[l], into: grads[2 * l + 1])
                if l > 0 {
                    be.gemm(b.deltas[l], transA: false, params[2], transB: true, into: b.deltas[0], alpha: 1, beta: 0)
                    be.reluBackward(b.deltas[0], activation: b.acts[0])
                }
            }
            be.advance(counter, by: 1)
            be.adamStep(params: params, grads: grads, m: ms, v: vs, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8,
                        stepCounter: counter, weightDecay: [1e-4, 0, 1e-4, 0])
        }
        var rng = SplitMix64(seed: 3)
        var full = 0
        var recorded: (any RecordedStep)? = nil
        let gpu = be as? GPUBackend
        let replays0 = gpu?.stepReplays ?? 0
        for _ in 0..<2 {
            rng.shuffle(&shuffled)
            be.uploadIndices(shuffled, into: order)
            be.uploadIndices([0], into: cursor)
            var start = 0
            while start < rows {
                let n = min(bs, rows - start)
                if n == bs {
                    full += 1
                    if full == 2 && record { recorded = be.recordStep { step(n) } }
                    if full >= 2, let r = recorded { be.replay(r) } else { step(n) }
                } else {
                    step(n)
                }
                start += n
            }
        }
        var out = params.map { be.download($0) } + ms.map { be.download($0) } + vs.map { be.download($0) }
        out += [be.download(cursor), be.download(counter)]
        return (out, (gpu?.stepReplays ?? 0) - replays0)
    }

    func testRecordedMLPStepReplaysBitForBitAcrossEpochs() throws {
        let device = try emulator()
        let eager = trainMLP(GPUBackend(device: device, maxGridBlocks: 3), record: false)
        let be = GPUBackend(device: device, maxGridBlocks: 3)
        let replayed = trainMLP(be, record: true)
        XCTAssertNoThrow(try be.checkError())
        XCTAssertEqual(eager.replays, 0)
        XCTAssertEqual(replayed.replays, 11, "6 full batches an epoch, 2 epochs, the first run as it is")
        XCTAssertEqual(eager.values.count, replayed.values.count)
        for (i, (a, b)) in zip(eager.values, replayed.values).enumerated() {
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "output \(i): replayed steps differ from the steps run one by one")
        }
        // The cursor ended at the epoch's end, the counter at the 14 steps of two epochs.
        XCTAssertEqual(eager.values[12].map { Int32(bitPattern: $0.bitPattern) }, [50])
        XCTAssertEqual(eager.values[13].map { Int32(bitPattern: $0.bitPattern) }, [14])
        // And track the CPU's (the same calls; a different GEMM order: a tolerance).
        let cpu = trainMLP(CPUBackend(threads: 1), record: true)
        XCTAssertEqual(cpu.replays, 0)
        for (a, b) in zip(cpu.values[0..<4], replayed.values[0..<4]) {
            for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-4) }
        }
        XCTAssertEqual(cpu.values[12].map(\.bitPattern), eager.values[12].map(\.bitPattern))
        XCTAssertEqual(cpu.values[13].map(\.bitPattern), eager.values[13].map(\.bitPattern))
    }

    /// A recording's scratch buffer (column sums' partials) grown by a larger call: the old
    /// buffer stays allocated for the recording, the replay still computes the right sums,
    /// and tensors allocated since (which could have reused the memory) are untouched.
    func testGrowingAScratchBufferKeepsTheRecordingValid() throws {
        let device = try emulator()
        let be = GPUBackend(device: device, maxGridBlocks: 3)
        let rows = 1100, cols = 8   // > 1024 rows: 18 blocks of partials in a scratch buffer
        let x = be.upload(Self.random(rows * cols, seed: 5), rows: rows, cols: cols)
        let out = be.tensor(rows: 1, cols: cols), acc = be.tensor(rows: 1, cols: cols)
        func step() {
            be.columnSums(x, into: out)
            be.axpy(1, out, acc)
        }
        step()
        let once = be.download(out)
        let (oldPointer, oldBytes) = try XCTUnwrap(be.opLock.withLock { be.scratchBuffers[.columnPartials].map { ($0.pointer, $0.bytes) } })
        var rec: (any RecordedStep)? = be.recordStep(step)
        XCTAssertNotNil(rec)
        // A larger column sum grows the partials buffer.
        let big = be.upload(Self.random(3000 * 40, seed: 6), rows: 3000, cols: 40), bigOut = be.tensor(rows: 1, cols: 40)
        be.columnSums(big, into: bigOut)
        let grown = try XCTUnwrap(be.opLock.withLock { be.scratchBuffers[.columnPartials]?.pointer })
        XCTAssertNotEqual(grown, oldPointer, "the buffer was replaced")
        // The old one is still an allocation (a copy from it is checked against them).
        var probe = [UInt8](repeating: 0, count: oldBytes)
        XCTAssertNoThrow(try probe.withUnsafeMutableBytes { try device.copy(toHost: $0, from: oldPointer) })
        // Tensors of the old buffer's size, made after it was dropped: a dangling recording
        // would write its partials into one of them.
        let victims = (0..<16).map { _ in be.upload([Float](repeating: 7, count: oldBytes / 4), rows: 1, cols: oldBytes / 4) }
        be.replay(rec!)
        be.replay(rec!)
        XCTAssertNoThrow(try be.checkError())
        XCTAssertEqual(be.download(out).map(\.bitPattern), once.map(\.bitPattern))
        XCTAssertEqual(be.download(acc).map(\.bitPattern), once.map { ($0 + $0 + $0).bitPattern }, "three steps' sums")
        for v in victims { XCTAssertEqual(be.download(v), [Float](repeating: 7, count: oldBytes / 4)) }
        // Released with the recording: the old buffer is freed then.
        rec = nil
        XCTAssertThrowsError(try probe.withUnsafeMutableBytes { try device.copy(toHost: $0, from: oldPointer) })
    }

    /// A recording reads the multi-tensor Adam table it captured: another model's adamStep
    /// with a table of the same size does not overwrite it (a fresh buffer takes the new one).
    func testAnotherAdamTableDoesNotChangeTheRecording() throws {
        let device = try emulator()
        func run(_ be: GPUBackend, record: Bool) -> [[Float]] {
            let a = [be.upload(Self.random(12, seed: 7), rows: 3, cols: 4)], ga = [be.upload(Self.random(12, seed: 8), rows: 3, cols: 4)]
            let b = [be.upload(Self.random(12, seed: 9), rows: 3, cols: 4)], gb = [be.upload(Self.random(12, seed: 10), rows: 3, cols: 4)]
            let ma = [be.tensor(rows: 3, cols: 4)], va = [be.tensor(rows: 3, cols: 4)]
            let mb = [be.tensor(rows: 3, cols: 4)], vb = [be.tensor(rows: 3, cols: 4)]
            let ca = be.uploadIndices([0]), cb = be.uploadIndices([0])
            func stepA() {
                be.advance(ca, by: 1)
                be.adamStep(params: a, grads: ga, m: ma, v: va, lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, stepCounter: ca, weightDecay: [0])
            }
            stepA()
            let rec = record ? be.recordStep(stepA) : nil
            be.advance(cb, by: 1)
            be.adamStep(params: b, grads: gb, m: mb, v: vb, lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, stepCounter: cb, weightDecay: [0])
            if let rec { be.replay(rec) } else { stepA() }
            return [be.download(a[0]), be.download(ma[0]), be.download(b[0]), be.download(mb[0])]
        }
        let be = GPUBackend(device: device, maxGridBlocks: 2)
        let replayed = run(be, record: true)
        XCTAssertEqual(be.stepReplays, 1)
        XCTAssertNoThrow(try be.checkError())
        let eager = run(GPUBackend(device: device, maxGridBlocks: 2), record: false)
        for (i, (x, y)) in zip(eager, replayed).enumerated() { XCTAssertEqual(x.map(\.bitPattern), y.map(\.bitPattern), "output \(i)") }
    }

    /// What recordStep refuses: a host copy in the body fails the backend and gives nil.
    func testAHostCopyWhileRecordingFailsTheBackend() throws {
        let device = try emulator()
        let be = GPUBackend(device: device, maxGridBlocks: 2)
        let t = be.tensor(rows: 1, cols: 4)
        let host: [Float] = [1, 2, 3, 4]
        let rec = be.recordStep { host.withUnsafeBufferPointer { be.upload($0, into: t, row: 0) } }
        XCTAssertNil(rec)
        XCTAssertThrowsError(try be.checkError())
    }

    /// The trainer through the emulated GPU: the same model bits with recorded steps as with
    /// every step run as it is, and the recording was used.
    func testTrainerGivesTheSameModelWithAndWithoutRecording() throws {
        let device = try emulator()
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/datasets")
        func train(_ type: ModelType, _ params: [String: JSON], record: Bool) throws -> (ModelFile, Int) {
            var d = try DatasetReader.readCSV(path: fixtures.appendingPathComponent("iris_train.csv").path, label: "species", threads: 1)
            NetworkTraining.recordSteps.store(record, ordering: .relaxed)
            defer { NetworkTraining.recordSteps.store(true, ordering: .relaxed) }
            let be = GPUBackend(device: device, maxGridBlocks: 3)
            let r = try trainModel(type, data: &d, params: params, seed: 7, backend: be)
            try be.checkError()
            return (r.model, be.stepReplays)
        }
        let cases: [(ModelType, [String: JSON])] = [
            (.mlpClassifier, ["hidden_layers": .array([.int(8)]), "epochs": .int(3), "batch_size": .int(32)]),
            (.logisticRegression, ["optimizer": .string("sgd"), "epochs": .int(3), "batch_size": .int(32), "learning_rate": .number(0.1)]),
        ]
        for (type, params) in cases {
            let (withRecording, replays) = try train(type, params, record: true)
            let (without, none) = try train(type, params, record: false)
            XCTAssertEqual(none, 0)
            // 112 rows in batches of 32: 3 full batches an epoch, the first of the run as it is.
            XCTAssertEqual(replays, 8, "\(type.rawValue): replayed full batches")
            XCTAssertEqual(withRecording.encode(), without.encode(), "\(type.rawValue): the same model bits")
        }
    }
}
