#if canImport(Glibc)
import Glibc
#endif
import Compute
import Support
import Synchronization

/// Switches of the minibatch trainer, for the tests.
enum NetworkTraining {
    /// Whether the per-batch step is recorded and replayed where the backend can (a GPU).
    /// Off, every step runs as it is: the results are the same bits either way.
    static let recordSteps = Atomic<Bool>(true)
}

/// Logistic/softmax regression (a network with no hidden layer) and MLPs, trained with
/// minibatch Adam or SGD on the backend. Layers: z = a·W + b, ReLU between layers; the
/// output is softmax (classifiers) or identity (regressors).
func trainNetwork(_ type: ModelType, _ d: inout Dataset, _ p: inout Params, _ moments: ColumnMoments, seed: UInt64,
                  backend: any Backend) throws -> TrainingResult {
    let classify = type != .mlpRegressor
    let isLogistic = type == .logisticRegression
    let hidden = isLogistic ? [] : try p.intList("hidden_layers", [100])
    let epochs = try p.int("epochs", isLogistic ? 200 : 200, min: 1)
    let batch = try p.int("batch_size", isLogistic ? 64 : 200, min: 1)
    let lr = Float(try p.double("learning_rate", isLogistic ? 0.01 : 0.001, min: 0))
    // Logistic regression defaults to scikit-learn's solver, full-batch L-BFGS; the minibatch
    // optimizers remain available for data too large for many full passes.
    let optimizer = try p.string("optimizer", isLogistic ? "lbfgs" : "adam", oneOf: isLogistic ? ["lbfgs", "adam", "sgd"] : ["adam", "sgd"])
    if optimizer == "lbfgs" {
        for key in ["epochs", "batch_size", "learning_rate", "momentum", "early_stopping", "validation_fraction", "patience"]
        where p.values[key] != nil {
            throw MLError.param(model: type.rawValue, param: key, reason: "applies to optimizer adam or sgd; optimizer lbfgs (the default) takes C, max_iter and tol")
        }
    }
    let maxIter = optimizer == "lbfgs" ? try p.int("max_iter", 100, min: 1) : 0
    let momentum = Float(try p.double("momentum", 0.9, min: 0))
    // L2: logistic follows scikit-learn's C (penalty 1/(2C)·‖w‖² against the summed loss);
    // MLPs its alpha (penalty alpha/2·‖w‖² against the mean loss).
    let l2: Float
    if isLogistic { l2 = Float(1.0 / (try p.double("C", 1.0, min: 1e-12) * Double(d.rows))) }
    else { l2 = Float(try p.double("alpha", 0.0001, min: 0)) }
    let earlyStopping = optimizer == "lbfgs" ? false : try p.bool("early_stopping", !isLogistic && d.rows >= 1000)
    let validationFraction = try p.double("validation_fraction", 0.1, min: 0)
    let patience = try p.int("patience", 10, min: 1)
    // Without a validation split, stop as scikit-learn does: when the training loss has not
    // improved by `tol` for `patience` epochs in a row.
    let tol = try p.double("tol", 1e-4, min: 0)
    let standardize = try p.bool("standardize", true)

    // Targets.
    var codes: [Int32] = [], classNames: [String] = [], targets: [Double] = []
    if classify {
        (codes, classNames) = try classLabels(d, model: type.rawValue)
        guard classNames.count >= 2 else {
            throw MLError.model(type.rawValue, reason: "the label has a single class ('\(classNames.first ?? "")'); a classifier needs at least two")
        }
    } else { targets = try regressionTargets(d, model: type.rawValue) }
    let outDim = classify ? classNames.count : 1
    var yMean = 0.0, yScale = 1.0
    // scikit-learn fits raw targets; scaling them (scale_target) speeds up learning when the
    // targets are large, but changes the result.
    if !classify, try p.bool("scale_target", false) {
        yMean = targets.reduce(0, +) / Double(targets.count)
        let v = targets.reduce(0) { $0 + ($1 - yMean) * ($1 - yMean) } / Double(max(1, targets.count))
        yScale = v > 1e-24 ? v.squareRoot() : 1
    }

    let m = d.cols
    var mean = [Float](repeating: 0, count: m), scale = [Float](repeating: 1, count: m)
    if standardize {
        (mean, scale) = standardization(moments)
        applyStandardization(&d.features, cols: m, mean: mean, scale: scale, threads: backend.threads)
    }

    // Split off a validation set for early stopping (a seeded shuffle).
    var rng = SplitMix64(seed: seed)
    var order = (0..<Int32(d.rows)).map { $0 }
    var trainIdx = order, valIdx: [Int32] = []
    if earlyStopping {
        rng.shuffle(&order)
        let nVal = max(1, Int(Double(d.rows) * validationFraction))
        guard d.rows - nVal >= 1 else { throw MLError.model(type.rawValue, reason: "too few rows for a validation split") }
        valIdx = Array(order[0..<nVal]).sorted(); trainIdx = Array(order[nVal...]).sorted()
    }

    // Parameters, Glorot-uniform initialized as scikit-learn does.
    let sizes = [m] + hidden + [outDim]
    var weights: [Tensor] = [], biases: [Tensor] = []
    for l in 0..<(sizes.count - 1) {
        let fanIn = sizes[l], fanOut = sizes[l + 1]
        let bound = isLogistic ? 0 : Float((6.0 / Double(fanIn + fanOut)).squareRoot())
        var w = [Float](repeating: 0, count: fanIn * fanOut), b = [Float](repeating: 0, count: fanOut)
        if bound > 0 {
            for i in w.indices { w[i] = Float(rng.nextDouble() * 2 - 1) * bound }
            for i in b.indices { b[i] = Float(rng.nextDouble() * 2 - 1) * bound }
        }
        weights.append(backend.upload(w, rows: fanIn, cols: fanOut))
        biases.append(backend.upload(b, rows: 1, cols: fanOut))
    }
    let params = zip(weights, biases).flatMap { [$0, $1] }
    let state1 = params.map { backend.tensor(rows: $0.rows, cols: $0.cols) }
    let state2 = params.map { backend.tensor(rows: $0.rows, cols: $0.cols) }
    let grads = params.map { backend.tensor(rows: $0.rows, cols: $0.cols) }

    // Data on the device once; minibatches are gathered there.
    let xAll = backend.upload(taking: &d.features, rows: d.rows, cols: m)  // one copy of the matrix
    if optimizer == "lbfgs" {
        let solver = LogisticLBFGS(backend: backend, x: xAll, codes: codes, classes: outDim, l2: Double(l2))
        let r = solver.minimize(maxIter: maxIter, tol: tol)
        let mk = m * outDim
        let tensors: [ModelFile.NamedTensor] = [
            .init(name: "x_mean", rows: 1, cols: m, values: mean), .init(name: "x_scale", rows: 1, cols: m, values: scale),
            .init(name: "w0", rows: m, cols: outDim, values: r.theta[0..<mk].map { Float($0) }),
            .init(name: "b0", rows: 1, cols: outDim, values: r.theta[mk...].map { Float($0) }),
        ]
        let header: [String: JSON] = ["layers": .array([.int(Int64(m)), .int(Int64(outDim))]),
                                      "classes": .array(classNames.map { .string($0) })]
        let curve = r.curve
        let metrics: [String: JSON] = [
            "optimizer": .string("lbfgs"), "iterations": .int(Int64(r.iterations)), "converged": .bool(r.converged),
            "rows": .int(Int64(d.rows)),
            "loss_first": .number(curve.first ?? 0), "loss_last": .number(curve.last ?? 0), "loss_min": .number(curve.min() ?? 0),
            "loss_curve": .array(stride(from: 0, to: curve.count, by: max(1, curve.count / 20)).map { .number(curve[$0]) }),
            // Entry i of loss_curve is the loss after iteration/epoch i × loss_curve_step.
            "loss_curve_step": .int(Int64(max(1, curve.count / 20))),
        ]
        return TrainingResult(model: ModelFile(type: type.rawValue, header: header, tensors: tensors), metrics: metrics)
    }

    var yHost = [Float](repeating: 0, count: d.rows * outDim)
    if classify { for i in 0..<d.rows { yHost[i * outDim + Int(codes[i])] = 1 } }
    else { for i in 0..<d.rows { yHost[i] = Float((targets[i] - yMean) / yScale) } }
    let yAll = backend.upload(yHost, rows: d.rows, cols: outDim)

    let bs = min(batch, trainIdx.count)
    func buffers(_ rows: Int) -> (x: Tensor, y: Tensor, acts: [Tensor], deltas: [Tensor]) {
        (backend.tensor(rows: rows, cols: m), backend.tensor(rows: rows, cols: outDim),
         sizes.dropFirst().map { backend.tensor(rows: rows, cols: $0) }, sizes.dropFirst().map { backend.tensor(rows: rows, cols: $0) })
    }
    var cache: [Int: (x: Tensor, y: Tensor, acts: [Tensor], deltas: [Tensor])] = [:]
    func bufs(_ rows: Int) -> (x: Tensor, y: Tensor, acts: [Tensor], deltas: [Tensor]) {
        if let b = cache[rows] { return b }
        let b = buffers(rows); cache[rows] = b; return b
    }

    /// Forward pass: the output activations (probabilities, or values; the logits when
    /// `logits`, for `outputDelta` to turn into probabilities itself).
    func forward(_ bx: Tensor, _ acts: [Tensor], logits: Bool = false) {
        var input = bx
        for l in 0..<weights.count {
            // One fused launch on a GPU: GEMM, bias, ReLU (gemm, addRowVector, relu on the CPU).
            backend.dense(input, weights[l], bias: biases[l], relu: l < weights.count - 1, into: acts[l])
            if l == weights.count - 1 && classify && !logits { backend.softmaxRows(acts[l]) }
            input = acts[l]
        }
    }
    /// Rows per forward pass of `loss`: a GPU waits for each chunk's download, so it takes
    /// bigger ones (fixed per backend kind, so runs stay bit-identical).
    let lossChunk = backend.kind == "gpu" ? 65_536 : 4096
    /// Mean loss over a set of rows (cross-entropy or half squared error, scaled targets).
    func loss(_ idx: [Int32]) -> Double {
        var total = 0.0
        var start = 0
        while start < idx.count {
            let chunk = Array(idx[start..<min(idx.count, start + lossChunk)])
            let b = bufs(chunk.count)
            backend.gatherRows(xAll, chunk, into: b.x)
            forward(b.x, b.acts)
            let out = backend.download(b.acts.last!)
            for (r, i) in chunk.enumerated() {
                if classify { total -= log(Double(max(out[r * outDim + Int(codes[Int(i)])], 1e-15))) }
                else { let e = Double(out[r]) - Double(yHost[Int(i)]); total += 0.5 * e * e }
            }
            start += chunk.count
        }
        return total / Double(max(1, idx.count))
    }

    var curve: [Double] = []
    var best = Double.infinity, bestEpoch = 0, sinceBest = 0
    var bestParams: [[Float]]? = nil
    var shuffled = trainIdx
    let decays: [Float] = params.indices.map { $0 % 2 == 0 ? l2 : 0 }  // no penalty on biases
    // The epoch's order, the minibatch cursor and Adam's step live on the device (the same
    // tensors all run), so the per-batch step repeats with the same arguments: a GPU records
    // it once and replays it (one graph launch a batch).
    let epochOrder = backend.uploadIndices(shuffled)
    let cursor = backend.uploadIndices([0]), stepCounter = backend.uploadIndices([0])
    /// One minibatch of `count` rows at the cursor: forward, backward, the optimizer; then the
    /// cursor and the step counter advance. Only device work (it may be recorded).
    func trainStep(_ count: Int) {
        let b = bufs(count)
        backend.gatherRows(xAll, indices: epochOrder, cursor: cursor, count: count, into: b.x)
        backend.gatherRows(yAll, indices: epochOrder, cursor: cursor, count: count, into: b.y)
        backend.advance(cursor, by: count)
        forward(b.x, b.acts, logits: true)
        // Output delta: (p − y)/B for softmax + cross-entropy and for identity + squared error.
        let last = weights.count - 1
        backend.outputDelta(b.acts[last], softmax: classify, targets: b.y, scale: 1 / Float(count), into: b.deltas[last])
        for l in stride(from: last, through: 0, by: -1) {
            let input = l == 0 ? b.x : b.acts[l - 1]
            backend.gemm(input, transA: true, b.deltas[l], transB: false, into: grads[2 * l], alpha: 1, beta: 0)
            backend.columnSums(b.deltas[l], into: grads[2 * l + 1])
            if l > 0 {
                backend.gemm(b.deltas[l], transA: false, weights[l], transB: true, into: b.deltas[l - 1], alpha: 1, beta: 0)
                backend.reluBackward(b.deltas[l - 1], activation: b.acts[l - 1])
            }
        }
        if optimizer == "adam" {
            // Every parameter in one launch on a GPU; the step (from 1) read from the counter.
            backend.advance(stepCounter, by: 1)
            backend.adamStep(params: params, grads: grads, m: state1, v: state2, lr: lr, beta1: 0.9, beta2: 0.999,
                             eps: 1e-8, stepCounter: stepCounter, weightDecay: decays)
        } else {
            for (i, t) in params.enumerated() {
                backend.sgdStep(param: t, grad: grads[i], velocity: state1[i], lr: lr, momentum: momentum, weightDecay: decays[i])
            }
        }
    }
    // The first full batch runs as it is (so every scratch buffer reaches its size), the
    // second is recorded, and every full batch from then on replays the recording; a backend
    // that records nothing (the CPU) runs each step. The last, partial batch runs as it is.
    var fullBatches = 0
    var recorded: (any RecordedStep)? = nil
    let record = NetworkTraining.recordSteps.load(ordering: .relaxed)
    for epoch in 1...epochs {
        rng.shuffle(&shuffled)
        // The epoch's order goes to the device once; each minibatch is gathered there.
        backend.uploadIndices(shuffled, into: epochOrder)
        backend.uploadIndices([0], into: cursor)
        var start = 0
        while start < shuffled.count {
            let count = min(bs, shuffled.count - start)
            if count == bs {
                fullBatches += 1
                if fullBatches == 2 && record { recorded = backend.recordStep { trainStep(count) } }
                if fullBatches >= 2, let r = recorded { backend.replay(r) } else { trainStep(count) }
            } else {
                trainStep(count)
            }
            start += count
        }
        let trainLoss = loss(trainIdx)
        try backend.checkError()
        guard trainLoss.isFinite else {
            throw MLError.model(type.rawValue, reason: "training diverged at epoch \(epoch) (loss is not finite); lower learning_rate")
        }
        curve.append(trainLoss)
        if !earlyStopping {
            if trainLoss < best - tol { best = trainLoss; sinceBest = 0 } else { sinceBest += 1; if sinceBest >= patience { break } }
        }
        if earlyStopping {
            let v = loss(valIdx)
            if v < best - 1e-4 { best = v; bestEpoch = epoch; sinceBest = 0; bestParams = params.map { backend.download($0) } }
            else { sinceBest += 1; if sinceBest >= patience { break } }
        }
    }
    var finalParams = params.map { backend.download($0) }
    if let bp = bestParams { finalParams = bp }
    var tensors: [ModelFile.NamedTensor] = [
        .init(name: "x_mean", rows: 1, cols: m, values: mean), .init(name: "x_scale", rows: 1, cols: m, values: scale),
    ]
    for l in 0..<weights.count {
        tensors.append(.init(name: "w\(l)", rows: sizes[l], cols: sizes[l + 1], values: finalParams[2 * l]))
        tensors.append(.init(name: "b\(l)", rows: 1, cols: sizes[l + 1], values: finalParams[2 * l + 1]))
    }
    var header: [String: JSON] = ["layers": .array(sizes.map { .int(Int64($0)) })]
    if classify { header["classes"] = .array(classNames.map { .string($0) }) }
    else { header["target_mean"] = .number(yMean); header["target_scale"] = .number(yScale) }
    var metrics: [String: JSON] = [
        "epochs": .int(Int64(curve.count)), "rows": .int(Int64(trainIdx.count)),
        "loss_first": .number(curve.first ?? 0), "loss_last": .number(curve.last ?? 0),
        "loss_min": .number(curve.min() ?? 0),
        "loss_curve": .array(stride(from: 0, to: curve.count, by: max(1, curve.count / 20)).map { .number(curve[$0]) }),
            // Entry i of loss_curve is the loss after iteration/epoch i × loss_curve_step.
            "loss_curve_step": .int(Int64(max(1, curve.count / 20))),
    ]
    if earlyStopping { metrics["validation_loss_best"] = .number(best); metrics["best_epoch"] = .int(Int64(bestEpoch)) }
    return TrainingResult(model: ModelFile(type: type.rawValue, header: header, tensors: tensors), metrics: metrics)
}

// MARK: k-means

func trainKMeans(_ d: inout Dataset, _ p: inout Params, _ moments: ColumnMoments, seed: UInt64,
                 backend: any Backend) throws -> TrainingResult {
    let k = try p.int("k", 8, min: 1)
    let nInit = try p.int("n_init", 3, min: 1)
    let maxIter = try p.int("max_iter", 300, min: 1)
    let tol = try p.double("tol", 1e-4, min: 0)
    let n = d.rows, m = d.cols
    guard k <= n else { throw MLError.model("kmeans", reason: "k = \(k) is more than the \(n) rows") }
    // The matrix lives on the backend only; the host keeps per-row labels and distances.
    let x = backend.upload(taking: &d.features, rows: n, cols: m)
    let row = backend.tensor(rows: 1, cols: m)
    var rng = SplitMix64(seed: seed)
    // The tolerance is relative to the mean column variance, as in scikit-learn.
    let tolAbs = tol * moments.centeredSquares.reduce(0, +) / Double(n * m)
    func fetchRow(_ i: Int) -> [Float] {
        backend.gatherRows(x, [Int32(i)], into: row)
        return backend.download(row)
    }

    var bestInertia = Double.infinity
    var bestCenters: [Float] = [], bestIter = 0
    for _ in 0..<nInit {
        // k-means++: first center uniform, then proportional to squared distance.
        var centers = [Float](repeating: 0, count: k * m)
        let first = rng.nextModulo(n)
        centers.replaceSubrange(0..<m, with: fetchRow(first))
        var closest = [Double](repeating: .infinity, count: n)
        for c in 1..<max(k, 1) {
            let prev = backend.upload(Array(centers[((c - 1) * m)..<(c * m)]), rows: 1, cols: m)
            let dh = backend.nearestCenters(x, prev).distances
            var total = 0.0
            for i in 0..<n { closest[i] = min(closest[i], Double(dh[i])); total += closest[i] }
            var target = rng.nextDouble() * total, pick = n - 1
            for i in 0..<n { target -= closest[i]; if target < 0 { pick = i; break } }
            centers.replaceSubrange((c * m)..<((c + 1) * m), with: fetchRow(pick))
        }
        var inertia = 0.0, iter = 0
        while iter < maxIter {
            iter += 1
            let (labels, dist) = backend.nearestCenters(x, backend.upload(centers, rows: k, cols: m))
            inertia = 0
            for v in dist { inertia += Double(v) }
            let (sums, counts) = backend.clusterSums(x, labels: labels, k: k)
            var shift = 0.0
            for c in 0..<k where counts[c] > 0 {
                for j in 0..<m {
                    let v = Float(sums[c * m + j] / Double(counts[c]))
                    shift += Double(v - centers[c * m + j]) * Double(v - centers[c * m + j])
                    centers[c * m + j] = v
                }
            }
            if shift <= tolAbs { break }
        }
        if inertia < bestInertia { bestInertia = inertia; bestCenters = centers; bestIter = iter }
    }
    let model = ModelFile(type: ModelType.kmeans.rawValue, header: ["k": .int(Int64(k)), "inertia": .number(bestInertia)],
                          tensors: [.init(name: "centers", rows: k, cols: m, values: bestCenters)])
    return TrainingResult(model: model, metrics: ["inertia": .number(bestInertia), "iterations": .int(Int64(bestIter)), "rows": .int(Int64(n))])
}

// MARK: PCA

func trainPCA(_ d: inout Dataset, _ p: inout Params, _ moments: ColumnMoments, backend: any Backend) throws -> TrainingResult {
    let n = d.rows, m = d.cols
    let k = try p.int("n_components", min(m, n), min: 1)
    guard k <= m else { throw MLError.model("pca", reason: "n_components = \(k) is more than the \(m) features") }
    guard n >= 2 else { throw MLError.model("pca", reason: "needs at least two rows") }
    let (mean, _) = standardization(moments)
    applyStandardization(&d.features, cols: m, mean: mean, scale: [Float](repeating: 1, count: m), threads: backend.threads)
    let xt = backend.upload(taking: &d.features, rows: n, cols: m)
    let cov = backend.tensor(rows: m, cols: m)
    backend.gram(xt, into: cov, alpha: 1 / Float(n - 1))
    var c = backend.download(cov).map(Double.init)
    for i in 0..<m { for j in 0..<i { let v = (c[i * m + j] + c[j * m + i]) / 2; c[i * m + j] = v; c[j * m + i] = v } }
    let (values, vectors) = jacobiEigen(c, m)
    let order = (0..<m).sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
    let total = max(values.reduce(0) { $0 + max($1, 0) }, 1e-300)
    var comps = [Float](repeating: 0, count: k * m)
    var ratio: [JSON] = [], explained: [JSON] = []
    for (r, idx) in order.prefix(k).enumerated() {
        // Sign: the largest-magnitude entry positive, so the result does not depend on the solver.
        var big = 0
        for j in 0..<m where abs(vectors[j * m + idx]) > abs(vectors[big * m + idx]) { big = j }
        let sign: Double = vectors[big * m + idx] < 0 ? -1 : 1
        for j in 0..<m { comps[r * m + j] = Float(sign * vectors[j * m + idx]) }
        ratio.append(.number(max(values[idx], 0) / total)); explained.append(.number(max(values[idx], 0)))
    }
    let model = ModelFile(type: ModelType.pca.rawValue,
                          header: ["n_components": .int(Int64(k)), "explained_variance": .array(explained), "explained_variance_ratio": .array(ratio)],
                          tensors: [.init(name: "x_mean", rows: 1, cols: m, values: mean), .init(name: "components", rows: k, cols: m, values: comps)])
    return TrainingResult(model: model, metrics: ["explained_variance_ratio": .array(ratio), "rows": .int(Int64(n))])
}

/// Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations: eigenvalues and
/// eigenvectors (column i of the returned m×m row-major matrix belongs to value i).
func jacobiEigen(_ input: [Double], _ m: Int) -> ([Double], [Double]) {
    var a = input
    var v = [Double](repeating: 0, count: m * m)
    for i in 0..<m { v[i * m + i] = 1 }
    for _ in 0..<100 {
        var off = 0.0
        for i in 0..<m { for j in 0..<m where i != j { off += a[i * m + j] * a[i * m + j] } }
        var diag = 0.0
        for i in 0..<m { diag += a[i * m + i] * a[i * m + i] }
        if off <= 1e-30 * max(diag, 1e-300) { break }
        for p in 0..<m {
            for q in (p + 1)..<max(p + 1, m) {
                let apq = a[p * m + q]
                if abs(apq) < 1e-300 { continue }
                let theta = (a[q * m + q] - a[p * m + p]) / (2 * apq)
                let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                let cs = 1 / (t * t + 1).squareRoot(), sn = t * cs
                for k in 0..<m {
                    let akp = a[k * m + p], akq = a[k * m + q]
                    a[k * m + p] = cs * akp - sn * akq
                    a[k * m + q] = sn * akp + cs * akq
                }
                for k in 0..<m {
                    let apk = a[p * m + k], aqk = a[q * m + k]
                    a[p * m + k] = cs * apk - sn * aqk
                    a[q * m + k] = sn * apk + cs * aqk
                }
                for k in 0..<m {
                    let vkp = v[k * m + p], vkq = v[k * m + q]
                    v[k * m + p] = cs * vkp - sn * vkq
                    v[k * m + q] = sn * vkp + cs * vkq
                }
            }
        }
    }
    return ((0..<m).map { a[$0 * m + $0] }, v)
}
