#if canImport(Glibc)
import Glibc
#endif
import Compute
import Support

/// What a model says about a set of rows.
public struct Prediction: Sendable {
    /// Class index (classifiers) or cluster id (k-means).
    public var labels: [Int32]? = nil
    /// rows × classes (classifiers).
    public var probabilities: [Float]? = nil
    /// Regression outputs.
    public var values: [Double]? = nil
    /// rows × components (PCA).
    public var components: [Float]? = nil
    public var componentCount = 0
}

/// Applies a model to raw features (rows × the model's feature count, in its order).
public func predict(_ model: ModelFile, features raw: [Float], rows n: Int, backend: any Backend) throws -> Prediction {
    var x = raw
    return try ModelScorer(model, backend: backend).score(taking: &x, rows: n)
}

/// `predict` that consumes the feature matrix (standardized in place, then handed to the
/// backend without a copy; `x` is left empty), so scoring a large file holds it once.
public func predict(_ model: ModelFile, taking x: inout [Float], rows n: Int, backend: any Backend) throws -> Prediction {
    try ModelScorer(model, backend: backend).score(taking: &x, rows: n)
}

/// A model made ready to score many batches: checked once, its tensors uploaded to the
/// backend once. Not for concurrent use (its backend's buffers are shared): a server keeps
/// one per worker thread.
public final class ModelScorer: @unchecked Sendable {
    public let model: ModelFile
    public let type: ModelType
    public let backend: any Backend
    /// Feature count.
    public let width: Int
    let mean: [Float]?
    let scale: [Float]
    var layers: [(w: Tensor, b: Tensor)] = []
    var linear: (w: Tensor, bias: Double)? = nil
    var centers: Tensor? = nil
    var components: Tensor? = nil

    public init(_ model: ModelFile, backend: any Backend) throws {
        self.model = model
        self.backend = backend
        type = try ModelType.parse(model.type)
        let m = model.featureNames.count
        width = m
        func t(_ name: String) throws -> ModelFile.NamedTensor {
            guard let x = model.tensor(name) else { throw MLError.modelFile(path: nil, reason: "it lacks tensor '\(name)'") }
            return x
        }
        if let mu = model.tensor("x_mean") {
            let sc = model.tensor("x_scale")?.values ?? [Float](repeating: 1, count: m)
            guard mu.values.count == m, sc.count == m else { throw MLError.modelFile(path: nil, reason: "its standardization does not match its features") }
            mean = mu.values; scale = sc
        } else { mean = nil; scale = [] }
        switch type {
        case .linearRegression, .ridge:
            let w = try t("weights").values
            guard w.count == m else { throw MLError.modelFile(path: nil, reason: "its weights do not match its features") }
            linear = (backend.upload(w, rows: m, cols: 1), Double(try t("bias").values.first ?? 0))
        case .logisticRegression, .mlpClassifier, .mlpRegressor:
            var l = 0, inputWidth = m
            while let w = model.tensor("w\(l)"), let b = model.tensor("b\(l)") {
                guard w.rows == inputWidth, b.cols == w.cols else { throw MLError.modelFile(path: nil, reason: "its layer \(l) does not match its input") }
                layers.append((backend.upload(w.values, rows: w.rows, cols: w.cols), backend.upload(b.values, rows: 1, cols: b.cols)))
                inputWidth = w.cols
                l += 1
            }
            guard l > 0 else { throw MLError.modelFile(path: nil, reason: "it has no layers") }
            if type != .mlpRegressor, let classes = model.classes, classes.count != inputWidth {
                throw MLError.modelFile(path: nil, reason: "it has \(classes.count) classes but \(inputWidth) outputs")
            }
        case .kmeans:
            let c = try t("centers")
            guard c.cols == m else { throw MLError.modelFile(path: nil, reason: "its centers do not match its features") }
            centers = backend.upload(c.values, rows: c.rows, cols: c.cols)
        case .pca:
            let c = try t("components")
            guard c.cols == m else { throw MLError.modelFile(path: nil, reason: "its components do not match its features") }
            components = backend.upload(c.values, rows: c.rows, cols: c.cols)
        }
    }

    /// Scores `n` rows of raw features (n × width, row-major); `x` is consumed (left empty).
    public func score(taking x: inout [Float], rows n: Int) throws -> Prediction {
        let m = width
        guard x.count == n * m else { throw MLError.model(type.rawValue, reason: "expects \(m) features per row") }
        if let mean { applyStandardization(&x, cols: m, mean: mean, scale: scale, threads: backend.threads) }
        var out = Prediction()
        if n == 0 {
            switch type {
            case .linearRegression, .ridge, .mlpRegressor: out.values = []
            case .logisticRegression, .mlpClassifier: out.labels = []; out.probabilities = []
            case .kmeans: out.labels = []
            case .pca: out.components = []; out.componentCount = components?.rows ?? 0
            }
            return out
        }
        let xt = backend.upload(taking: &x, rows: n, cols: m)
        switch type {
        case .linearRegression, .ridge:
            let (w, bias) = linear!
            let z = backend.uninitializedTensor(rows: n, cols: 1)
            backend.gemm(xt, transA: false, w, transB: false, into: z, alpha: 1, beta: 0)
            out.values = backend.download(z).map { Double($0) + bias }
        case .logisticRegression, .mlpClassifier, .mlpRegressor:
            var input = xt
            for (l, layer) in layers.enumerated() {
                let z = backend.uninitializedTensor(rows: n, cols: layer.w.cols)
                backend.dense(input, layer.w, bias: layer.b, relu: l < layers.count - 1, into: z)
                if l == layers.count - 1 && type != .mlpRegressor { backend.softmaxRows(z) }
                input = z
            }
            let result = backend.download(input)
            if type == .mlpRegressor {
                let mu = model.header["target_mean"]?.doubleValue ?? 0, sc = model.header["target_scale"]?.doubleValue ?? 1
                out.values = result.map { Double($0) * sc + mu }
            } else {
                out.probabilities = result
                out.labels = backend.rowArgmax(input)
            }
        case .kmeans:
            let c = centers!
            let d = backend.tensor(rows: n, cols: c.rows)
            backend.squaredDistances(xt, c, into: d)
            backend.scale(d, -1)
            out.labels = backend.rowArgmax(d)
        case .pca:
            let c = components!
            let z = backend.uninitializedTensor(rows: n, cols: c.rows)
            backend.gemm(xt, transA: false, c, transB: true, into: z, alpha: 1, beta: 0)
            out.components = backend.download(z)
            out.componentCount = c.rows
        }
        // A device error (out of memory, a failed launch) leaves zeros behind: never return them.
        try backend.checkError()
        return out
    }
}

/// Reads the rows a model scores from a CSV: its feature columns by name (any order); the
/// label column, when present, is read for evaluation with `withLabel`, else skipped (its
/// cells are not read). Missing or extra columns are errors. The header and cells are read by
/// `DatasetReader.readCSV`, as the scoring server reads a text/csv body.
public func readForModel(_ model: ModelFile, csv path: String, threads: Int, withLabel: Bool = true) throws -> Dataset {
    try readForModel(features: model.featureNames, label: model.header["label"]?.stringValue, csv: path, threads: threads, withLabel: withLabel)
}

/// `readForModel` for a model that reads `features` (by name) and was trained with `label`.
public func readForModel(features: [String], label: String?, csv path: String, threads: Int, withLabel: Bool = true) throws -> Dataset {
    let header: [String]
    do { header = try DatasetReader.csvHeader(path: path) } catch let e as DatasetError { throw MLError.data(e) }
    let missing = features.filter { !header.contains($0) }
    if !missing.isEmpty {
        throw MLError.columns(file: path, reason: "lacks the model's feature column(s): \(missing.joined(separator: ", "))")
    }
    let extra = header.filter { !features.contains($0) && $0 != label }
    if !extra.isEmpty {
        throw MLError.columns(file: path, reason: "has column(s) the model was not trained on: \(extra.joined(separator: ", ")) (the model has \(features.count) features)")
    }
    let hasLabel = withLabel && (label.map { header.contains($0) } ?? false)
    do {
        return try DatasetReader.readCSV(path: path, label: hasLabel ? label : nil, features: features, threads: threads)
    } catch let e as DatasetError { throw MLError.data(e) }
}
