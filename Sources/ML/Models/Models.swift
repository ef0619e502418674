#if canImport(Glibc)
import Glibc
#endif
import Compute
import Support

/// The built-in model types, as named in `mlrepo.json` and in model files.
public enum ModelType: String, CaseIterable, Sendable {
    case linearRegression = "linear_regression"
    case ridge
    case logisticRegression = "logistic_regression"
    case mlpClassifier = "mlp_classifier"
    case mlpRegressor = "mlp_regressor"
    case kmeans
    case pca

    public static func parse(_ s: String) throws -> ModelType {
        guard let t = ModelType(rawValue: s) else {
            throw MLError.unknownValue(what: "model type", value: s, expected: allCases.map(\.rawValue))
        }
        return t
    }

    public var task: String {
        switch self {
        case .linearRegression, .ridge, .mlpRegressor: return "regression"
        case .logisticRegression, .mlpClassifier: return "classification"
        case .kmeans: return "clustering"
        case .pca: return "decomposition"
        }
    }

    public var needsLabel: Bool { task == "regression" || task == "classification" }
}

/// Every random choice of training draws from Support's `SplitMix64`, seeded by the run.
extension SplitMix64 {
    /// Fisher-Yates with `nextModulo`, the order every recorded model was trained in.
    mutating func shuffle(_ a: inout [Int32]) {
        if a.count < 2 { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, nextModulo(i + 1)) }
    }
}

/// Typed access to a trainer's params, with one-line errors naming the key.
struct Params {
    let values: [String: JSON]
    let model: String
    var used = Set<String>()

    init(_ v: [String: JSON], model: String) { values = v; self.model = model }

    mutating func double(_ k: String, _ d: Double, min lo: Double? = nil) throws -> Double {
        used.insert(k)
        guard let v = values[k] else { return d }
        guard let x = v.doubleValue, x.isFinite else { throw MLError.param(model: model, param: k, reason: "must be a number, not \(v.encoded())") }
        if let lo, x < lo { throw MLError.param(model: model, param: k, reason: "must be at least \(lo), not \(x)") }
        return x
    }
    mutating func int(_ k: String, _ d: Int, min lo: Int = 0) throws -> Int {
        used.insert(k)
        guard let v = values[k] else { return d }
        guard let x = v.doubleValue, x == x.rounded(), x >= Double(lo), x < 1e9 else {
            throw MLError.param(model: model, param: k, reason: "must be a whole number ≥ \(lo), not \(v.encoded())")
        }
        return Int(x)
    }
    mutating func bool(_ k: String, _ d: Bool) throws -> Bool {
        used.insert(k)
        guard let v = values[k] else { return d }
        guard case .bool(let b) = v else { throw MLError.param(model: model, param: k, reason: "must be true or false, not \(v.encoded())") }
        return b
    }
    mutating func string(_ k: String, _ d: String, oneOf: [String]) throws -> String {
        used.insert(k)
        guard let v = values[k] else { return d }
        guard let s = v.stringValue, oneOf.contains(s) else {
            throw MLError.param(model: model, param: k, reason: "must be one of \(oneOf.joined(separator: ", ")), not \(v.encoded())")
        }
        return s
    }
    mutating func intList(_ k: String, _ d: [Int]) throws -> [Int] {
        used.insert(k)
        guard let v = values[k] else { return d }
        guard let a = v.arrayValue, a.allSatisfy({ ($0.doubleValue ?? 0) >= 1 && $0.doubleValue == $0.doubleValue?.rounded() }) else {
            throw MLError.param(model: model, param: k, reason: "must be a list of positive whole numbers, like [64, 32]")
        }
        return a.map { Int($0.doubleValue!) }
    }
    /// Unknown keys are typos: refuse them.
    func checkUnknown() throws {
        for k in values.keys.sorted() where !used.contains(k) {
            throw MLError.unknownParam(model: model, param: k, known: used.sorted())
        }
    }
}

/// Result of a training run.
public struct TrainingResult: Sendable {
    public var model: ModelFile
    /// Training summary for the metrics file: loss curve summary, epochs, rows.
    public var metrics: [String: JSON]
    /// Wall-clock seconds of the phases (column statistics, fitting): for the lineage
    /// record, never for the model or metrics files (they must reproduce bit for bit).
    public var timings: [String: Double] = [:]
}

/// Per-column moments of a feature matrix, from one parallel row-major pass. Rows are cut into
/// fixed blocks of `momentBlock` rows whatever the thread count, and the blocks' partial sums
/// are combined in block order, so the figures do not depend on the number of threads.
/// Sums are of (v − shift) with shift the column's first value (the "shifted data" form of
/// the one-pass variance, which stays accurate when the mean is large against the spread).
struct ColumnMoments {
    var rows: Int
    var shift: [Double]
    var sum: [Double]
    var sq: [Double]
    var lo: [Double]
    var hi: [Double]

    var mean: [Double] { (0..<shift.count).map { shift[$0] + sum[$0] / Double(max(rows, 1)) } }
    /// Σ (v − mean)² per column.
    var centeredSquares: [Double] {
        (0..<shift.count).map { max(0, sq[$0] - sum[$0] * sum[$0] / Double(max(rows, 1))) }
    }
}

let momentBlock = 8192

func columnMoments(_ d: Dataset, threads: Int) -> ColumnMoments {
    let n = d.rows, m = d.cols
    let blocks = (n + momentBlock - 1) / momentBlock
    var shift = [Double](repeating: 0, count: m)
    if n > 0 { for j in 0..<m { shift[j] = Double(d.features[j]) } }
    // Per block: sum, sum of squares, min, max — 4·m Doubles.
    var partial = [Double](repeating: 0, count: max(blocks, 1) * 4 * m)
    d.features.withUnsafeBufferPointer { f in
        shift.withUnsafeBufferPointer { k in
            partial.withUnsafeMutableBufferPointer { out in
                nonisolated(unsafe) let f = f, k = k, out = out
                Parallel.forEach(blocks, threads: threads) { b in
                    let base = out.baseAddress! + b * 4 * m
                    let s = base, q = base + m, lo = base + 2 * m, hi = base + 3 * m
                    for j in 0..<m { lo[j] = .infinity; hi[j] = -.infinity }
                    for i in (b * momentBlock)..<min(n, (b + 1) * momentBlock) {
                        let row = f.baseAddress! + i * m
                        for j in 0..<m {
                            let v = Double(row[j]), c = v - k[j]
                            s[j] += c; q[j] += c * c
                            lo[j] = min(lo[j], v); hi[j] = max(hi[j], v)
                        }
                    }
                }
            }
        }
    }
    var r = ColumnMoments(rows: n, shift: shift, sum: .init(repeating: 0, count: m), sq: .init(repeating: 0, count: m),
                          lo: .init(repeating: .infinity, count: m), hi: .init(repeating: -.infinity, count: m))
    for b in 0..<blocks {
        let o = b * 4 * m
        for j in 0..<m {
            r.sum[j] += partial[o + j]; r.sq[j] += partial[o + m + j]
            r.lo[j] = min(r.lo[j], partial[o + 2 * m + j]); r.hi[j] = max(r.hi[j], partial[o + 3 * m + j])
        }
    }
    return r
}

/// Per-column statistics of the training data, stored in the model for drift checks: mean,
/// sample standard deviation, min, max, and decile edges.
func columnStats(_ d: Dataset, _ mo: ColumnMoments, threads: Int) -> JSON {
    let n = d.rows, m = d.cols
    // Deciles come from an evenly spaced sample of at most 100,000 rows (sorting every
    // column of a large matrix would cost more than training).
    let stride = max(1, n / 100_000)
    let s = (n + stride - 1) / stride
    var edges = [Float](repeating: 0, count: m * 9)
    d.features.withUnsafeBufferPointer { f in
        edges.withUnsafeMutableBufferPointer { e in
            nonisolated(unsafe) let f = f, e = e
            Parallel.forEach(m, threads: threads) { j in
                var sample = [Float](repeating: 0, count: s)
                var k = 0
                for i in Swift.stride(from: 0, to: n, by: stride) { sample[k] = f[i * m + j]; k += 1 }
                // The nine order statistics by selection (the same values a sort gives).
                var lo = 0
                for q in 1..<10 {
                    let pos = min(s - 1, Int(Double(q) / 10 * Double(s)))
                    if pos >= lo { select(&sample, pos, from: lo) ; lo = pos + 1 }
                    e[j * 9 + q - 1] = sample[pos]
                }
            }
        }
    }
    let mean = mo.mean, css = mo.centeredSquares
    var cols: [JSON] = []
    for j in 0..<m {
        let std = n > 1 ? (css[j] / Double(n - 1)).squareRoot() : 0
        cols.append(.object(["name": .string(d.featureNames[j]), "mean": .number(mean[j]), "std": .number(std),
                             "min": .number(mo.lo[j]), "max": .number(mo.hi[j]),
                             "deciles": .array((0..<9).map { .number(Double(edges[j * 9 + $0])) })]))
    }
    return .array(cols)
}

/// Rearranges a[lo...] so that a[k] holds the value a full sort would put there, smaller or
/// equal values before it and larger or equal after (quickselect, median-of-three pivots).
func select(_ a: inout [Float], _ k: Int, from lo0: Int) {
    a.withUnsafeMutableBufferPointer { p in
        var lo = lo0, hi = p.count - 1
        while hi > lo {
            let mid = lo + (hi - lo) / 2
            // Median of three as the pivot.
            if p[mid] < p[lo] { p.swapAt(mid, lo) }
            if p[hi] < p[lo] { p.swapAt(hi, lo) }
            if p[hi] < p[mid] { p.swapAt(hi, mid) }
            let pivot = p[mid]
            var i = lo, j = hi
            while i <= j {
                while p[i] < pivot { i += 1 }
                while pivot < p[j] { j -= 1 }
                if i <= j { p.swapAt(i, j); i += 1; j -= 1 }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return }
        }
    }
}

/// Feature standardization: mean and scale (population standard deviation) per column; scale
/// 1 for a constant column.
func standardization(_ mo: ColumnMoments) -> (mean: [Float], scale: [Float]) {
    let mean = mo.mean, css = mo.centeredSquares
    let n = Double(max(mo.rows, 1))
    var mu = [Float](repeating: 0, count: mean.count), sc = [Float](repeating: 1, count: mean.count)
    for j in mean.indices {
        let varj = css[j] / n
        mu[j] = Float(mean[j])
        sc[j] = varj > 1e-24 ? Float(varj.squareRoot()) : 1
    }
    return (mu, sc)
}

/// x = (x − mean) / scale per column, in place, over row blocks in parallel (each element is
/// computed the same way whatever the split).
func applyStandardization(_ x: inout [Float], cols m: Int, mean: [Float], scale: [Float], threads: Int = 1) {
    let n = x.count / max(m, 1)
    let blocks = (n + momentBlock - 1) / momentBlock
    x.withUnsafeMutableBufferPointer { p in
        mean.withUnsafeBufferPointer { mu in
            scale.withUnsafeBufferPointer { sc in
                nonisolated(unsafe) let p = p, mu = mu, sc = sc
                Parallel.forEach(blocks, threads: threads) { b in
                    for i in (b * momentBlock)..<min(n, (b + 1) * momentBlock) {
                        let row = p.baseAddress! + i * m
                        for j in 0..<m { row[j] = (row[j] - mu[j]) / sc[j] }
                    }
                }
            }
        }
    }
}

/// Trains a built-in model on a dataset. Every random choice comes from `seed`.
/// `data` is consumed: its features are standardized in place and released once they are on
/// the backend, so training holds about one copy of the matrix.
public func trainModel(_ type: ModelType, data: inout Dataset, params raw: [String: JSON], seed: UInt64,
                       backend: any Backend) throws -> TrainingResult {
    guard data.rows > 0 else { throw MLError.model(type.rawValue, reason: "no training rows") }
    var p = Params(raw, model: type.rawValue)
    var header: [String: JSON] = [
        "task": .string(type.task), "features": .array(data.featureNames.map { .string($0) }),
        "label": data.labelName.map { .string($0) } ?? .null, "seed": .int(Int64(bitPattern: seed)),
    ]
    let t0 = Clock.monotonic()
    let moments = columnMoments(data, threads: backend.threads)
    header["column_stats"] = columnStats(data, moments, threads: backend.threads)
    let t1 = Clock.monotonic()
    var result: TrainingResult
    switch type {
    case .linearRegression, .ridge:
        result = try trainLinear(type, &data, &p, moments, backend: backend)
    case .logisticRegression, .mlpClassifier, .mlpRegressor:
        result = try trainNetwork(type, &data, &p, moments, seed: seed, backend: backend)
    case .kmeans:
        result = try trainKMeans(&data, &p, moments, seed: seed, backend: backend)
    case .pca:
        result = try trainPCA(&data, &p, moments, backend: backend)
    }
    try p.checkUnknown()
    result.timings = ["column_stats_s": t1 - t0, "fit_s": Clock.monotonic() - t1]
    for (k, v) in result.model.header { header[k] = v }
    header["params"] = .object(raw)
    result.model.header = header
    return result
}

// MARK: Label handling

/// Class indices and names for a classifier (text labels keep their names; numeric labels
/// become classes named by their values, sorted).
func classLabels(_ d: Dataset, model: String) throws -> (codes: [Int32], names: [String]) {
    guard let label = d.label else { throw MLError.model(model, reason: "needs a label column (\"label\": NAME)") }
    switch label {
    case .categorical(let codes, let names):
        // Sort class names so the model does not depend on row order.
        let order = names.indices.sorted { names[$0] < names[$1] }
        var remap = [Int32](repeating: 0, count: names.count)
        for (new, old) in order.enumerated() { remap[old] = Int32(new) }
        return (codes.map { remap[Int($0)] }, order.map { names[$0] })
    case .numeric(let values):
        let distinct = Array(Set(values)).sorted()
        guard distinct.count <= 1000 else {
            throw MLError.model(model, reason: "the label has \(distinct.count) distinct numbers; a classifier needs classes (use a regressor?)")
        }
        var index: [Double: Int32] = [:]
        for (i, v) in distinct.enumerated() { index[v] = Int32(i) }
        return (values.map { index[$0]! }, distinct.map { $0 == $0.rounded() && abs($0) < 1e15 ? String(Int64($0)) : String($0) })
    }
}

func regressionTargets(_ d: Dataset, model: String) throws -> [Double] {
    guard let label = d.label else { throw MLError.model(model, reason: "needs a label column (\"label\": NAME)") }
    guard case .numeric(let v) = label else { throw MLError.model(model, reason: "needs a numeric label; '\(d.labelName ?? "label")' holds text") }
    return v
}

// MARK: Linear and ridge regression

func trainLinear(_ type: ModelType, _ d: inout Dataset, _ p: inout Params, _ moments: ColumnMoments,
                 backend: any Backend) throws -> TrainingResult {
    let alpha = try p.double("alpha", type == .ridge ? 1.0 : 0.0, min: 0)
    let y = try regressionTargets(d, model: type.rawValue)
    let (mean, scale) = standardization(moments)
    applyStandardization(&d.features, cols: d.cols, mean: mean, scale: scale, threads: backend.threads)
    let n = d.rows, m = d.cols
    let yMean = y.reduce(0, +) / Double(n)
    // Normal equations on standardized features: (XᵀX + αI) w = Xᵀ(y − ȳ).
    let xt = backend.upload(taking: &d.features, rows: n, cols: m)
    let gram = backend.tensor(rows: m, cols: m)
    backend.gram(xt, into: gram, alpha: 1)
    let yc = backend.upload(y.map { Float($0 - yMean) }, rows: n, cols: 1)
    let xty = backend.tensor(rows: m, cols: 1)
    backend.gemm(xt, transA: true, yc, transB: false, into: xty, alpha: 1, beta: 0)
    var a = backend.download(gram).map(Double.init)
    let b = backend.download(xty).map(Double.init)
    // sklearn's ridge penalizes the coefficients of the *unscaled* features; on standardized
    // columns that is α / scale² per column.
    for j in 0..<m { a[j * m + j] += alpha / Double(scale[j] * scale[j]) + 1e-9 * max(1, a[j * m + j]) }
    let w = try solveSymmetric(a, b, m)
    let predT = backend.tensor(rows: n, cols: 1)
    backend.gemm(xt, transA: false, backend.upload(w.map(Float.init), rows: m, cols: 1), transB: false, into: predT, alpha: 1, beta: 0)
    let pred = backend.download(predT).map { Double($0) + yMean }
    let mse = zip(pred, y).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(n)
    let model = ModelFile(type: type.rawValue, header: ["target_mean": .number(yMean)], tensors: [
        .init(name: "x_mean", rows: 1, cols: m, values: mean),
        .init(name: "x_scale", rows: 1, cols: m, values: scale),
        .init(name: "weights", rows: m, cols: 1, values: w.map(Float.init)),
        .init(name: "bias", rows: 1, cols: 1, values: [Float(yMean)]),
    ])
    return TrainingResult(model: model, metrics: ["train_mse": .number(mse), "train_rmse": .number(mse.squareRoot()), "rows": .int(Int64(n))])
}

/// Solves A x = b for symmetric positive definite A (m×m, Double) by Cholesky.
func solveSymmetric(_ a: [Double], _ b: [Double], _ m: Int) throws -> [Double] {
    var l = [Double](repeating: 0, count: m * m)
    for i in 0..<m {
        for j in 0...i {
            var s = a[i * m + j]
            for k in 0..<j { s -= l[i * m + k] * l[j * m + k] }
            if i == j {
                guard s > 0 else { throw MLError.model(nil, reason: "the features are linearly dependent (singular matrix); use ridge with alpha > 0") }
                l[i * m + i] = s.squareRoot()
            } else { l[i * m + j] = s / l[j * m + j] }
        }
    }
    var z = b
    for i in 0..<m { var s = z[i]; for k in 0..<i { s -= l[i * m + k] * z[k] }; z[i] = s / l[i * m + i] }
    for i in stride(from: m - 1, through: 0, by: -1) { var s = z[i]; for k in (i + 1)..<max(i + 1, m) { s -= l[k * m + i] * z[k] }; z[i] = s / l[i * m + i] }
    return z
}
