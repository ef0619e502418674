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
    return try predict(model, taking: &x, rows: n, backend: backend)
}

/// `predict` that consumes the feature matrix (standardized in place, then handed to the
/// backend without a copy; `x` is left empty), so scoring a large file holds it once.
public func predict(_ model: ModelFile, taking x: inout [Float], rows n: Int, backend: any Backend) throws -> Prediction {
    let type = try ModelType.parse(model.type)
    let m = model.featureNames.count
    guard x.count == n * m else { throw MLError("the model expects \(m) features per row") }
    func t(_ name: String) throws -> ModelFile.NamedTensor {
        guard let x = model.tensor(name) else { throw MLError("model file lacks tensor '\(name)'") }
        return x
    }
    if let mean = model.tensor("x_mean") {
        let scale = model.tensor("x_scale")?.values ?? [Float](repeating: 1, count: m)
        guard mean.values.count == m, scale.count == m else { throw MLError("model file: standardization does not match its features") }
        applyStandardization(&x, cols: m, mean: mean.values, scale: scale, threads: backend.threads)
    }
    var out = Prediction()
    switch type {
    case .linearRegression, .ridge:
        let w = try t("weights").values
        let b = Double(try t("bias").values.first ?? 0)
        guard w.count == m else { throw MLError("model file: weights do not match its features") }
        let xt = backend.upload(taking: &x, rows: n, cols: m)
        let z = backend.tensor(rows: n, cols: 1)
        backend.gemm(xt, transA: false, backend.upload(w, rows: m, cols: 1), transB: false, into: z, alpha: 1, beta: 0)
        out.values = backend.download(z).map { Double($0) + b }
    case .logisticRegression, .mlpClassifier, .mlpRegressor:
        var input = backend.upload(taking: &x, rows: n, cols: m)
        var l = 0
        while let w = model.tensor("w\(l)"), let b = model.tensor("b\(l)") {
            guard w.rows == input.cols else { throw MLError("model file: layer \(l) does not match its input") }
            let wt = backend.upload(w.values, rows: w.rows, cols: w.cols)
            let bt = backend.upload(b.values, rows: 1, cols: b.cols)
            let z = backend.tensor(rows: n, cols: w.cols)
            backend.gemm(input, transA: false, wt, transB: false, into: z, alpha: 1, beta: 0)
            backend.addRowVector(z, bt)
            let isLast = model.tensor("w\(l + 1)") == nil
            if !isLast { backend.relu(z) } else if type != .mlpRegressor { backend.softmaxRows(z) }
            input = z
            l += 1
        }
        guard l > 0 else { throw MLError("model file has no layers") }
        let result = backend.download(input)
        if type == .mlpRegressor {
            let mu = model.header["target_mean"]?.doubleValue ?? 0, sc = model.header["target_scale"]?.doubleValue ?? 1
            out.values = result.map { Double($0) * sc + mu }
        } else {
            out.probabilities = result
            out.labels = backend.rowArgmax(input)
        }
    case .kmeans:
        let c = try t("centers")
        guard c.cols == m else { throw MLError("model file: centers do not match its features") }
        let xt = backend.upload(taking: &x, rows: n, cols: m)
        let d = backend.tensor(rows: n, cols: c.rows)
        backend.squaredDistances(xt, backend.upload(c.values, rows: c.rows, cols: c.cols), into: d)
        backend.scale(d, -1)
        out.labels = backend.rowArgmax(d)
    case .pca:
        let c = try t("components")
        let xt = backend.upload(taking: &x, rows: n, cols: m)
        let z = backend.tensor(rows: n, cols: c.rows)
        backend.gemm(xt, transA: false, backend.upload(c.values, rows: c.rows, cols: c.cols), transB: true, into: z, alpha: 1, beta: 0)
        out.components = backend.download(z)
        out.componentCount = c.rows
    }
    return out
}

/// The header names of a CSV file (first line, RFC 4180 quotes).
func csvHeader(_ path: String) throws -> [String] {
    guard let fd = try? FileDescriptor(path: path, flags: O_RDONLY) else { throw MLError("cannot open '\(path)'") }
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    let n = try buf.withUnsafeMutableBytes { try fd.read(into: $0.baseAddress!, count: $0.count) }
    var line = Array(buf[0..<n])
    if line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
    if let nl = line.firstIndex(of: 0x0A) { line = Array(line[..<nl]) }
    if line.last == 0x0D { line.removeLast() }
    var names: [String] = [], cur: [UInt8] = [], quoted = false
    var i = 0
    while i < line.count {
        let c = line[i]
        if quoted {
            if c == 0x22 { if i + 1 < line.count && line[i + 1] == 0x22 { cur.append(0x22); i += 1 } else { quoted = false } }
            else { cur.append(c) }
        } else if c == 0x22 { quoted = true }
        else if c == 0x2C { names.append(String(decoding: cur, as: UTF8.self).trimmingCharacters(in: " \t")); cur = [] }
        else { cur.append(c) }
        i += 1
    }
    names.append(String(decoding: cur, as: UTF8.self).trimmingCharacters(in: " \t"))
    return names
}

/// Reads the rows a model scores from a CSV: its feature columns by name (any order); the
/// label column, when present, is kept for evaluation. Missing or extra columns are errors.
public func readForModel(_ model: ModelFile, csv path: String, threads: Int) throws -> Dataset {
    let header = try csvHeader(path)
    let label = model.header["label"]?.stringValue
    let features = model.featureNames
    let missing = features.filter { !header.contains($0) }
    if !missing.isEmpty {
        throw MLError("'\(path)' lacks the model's feature column(s): \(missing.joined(separator: ", "))")
    }
    let extra = header.filter { !features.contains($0) && $0 != label }
    if !extra.isEmpty {
        throw MLError("'\(path)' has column(s) the model was not trained on: \(extra.joined(separator: ", ")) (the model has \(features.count) features)")
    }
    let hasLabel = label.map { header.contains($0) } ?? false
    do {
        return try DatasetReader.readCSV(path: path, label: hasLabel ? label : nil, features: features, threads: threads)
    } catch let e as DatasetError { throw MLError(e.description) }
}
