import Compute
import Support

// An ONNX model made ready to score tables: request columns mapped to graph inputs by name,
// graph outputs read back as labels, class probabilities or regression values, the way
// MLflow's onnx flavor reads them (the first output is the prediction).

/// What an ONNX model says about a set of rows.
public struct ONNXPrediction: Sendable {
    public enum Labels: Sendable, Equatable {
        case ints([Int64])
        case strings([String])
    }
    public var rows: Int
    /// The label output (classifiers, clusterers): int64 or string per row.
    public var labels: Labels? = nil
    /// Regression or other numeric outputs: rows × `valueWidth`, row-major.
    public var values: [Double]? = nil
    public var valueWidth = 1
    /// Class probabilities: rows × classes.count, in `classes` order.
    public var probabilities: [Float]? = nil
    /// Class names in probability order (ZipMap's keys, or the classifier's class labels).
    public var classes: [String] = []
    /// Classes (and labels) are numbers: sent as JSON numbers.
    public var numericClasses = false

    /// Row `i`'s label as text.
    public func label(_ i: Int) -> String? {
        switch labels {
        case .ints(let v): String(v[i])
        case .strings(let v): v[i]
        case nil: nil
        }
    }
}

/// An ONNX model ready to score: its program (shared by every thread) and how a table of
/// columns feeds it. Immutable; each call passes its own backend.
public final class ONNXScorer: Sendable {
    public let program: ONNXProgram
    /// One graph input: its name, element type and the columns it takes per row.
    public struct Input: Sendable, Equatable {
        public var name: String
        public var type: ONNXElementType
        /// Values per row (the second dimension of a rank-2 input; 1 for rank 1); nil when
        /// the model does not say.
        public var width: Int?
        public var rank: Int
    }
    public enum Layout: Sendable, Equatable {
        /// One 2-D float or double input: each row holds the features in `features` order.
        case matrix(Input)
        /// Several inputs (or a string one): each input from the request column of its name.
        case columns([Input])
    }
    public let layout: Layout
    /// The request columns the model reads, in its order (matrix: the features; columns: the
    /// input names).
    public let featureNames: [String]
    /// Where the feature names came from: "metadata", "training data", "inputs", or
    /// "position" (no names known: columns are taken in the order given, their count checked).
    public let namesFrom: String
    /// The label column of the training data, when known (ignored in requests).
    public let label: String?
    /// Class labels the model's classifier node declares (classlabels_ints/strings), used
    /// when the probabilities come as a plain tensor.
    public let declaredClasses: [String]?
    public let declaredNumericClasses: Bool

    /// The metadata_props keys that name the features: "features" (comma-separated or a JSON
    /// list) or "feature_names".
    public static let featureKeys = ["features", "feature_names"]

    /// Prepares `program`. `features` and `label` come from the training data's header
    /// (lineage) when the caller found them; names in the model's metadata win.
    public init(_ program: ONNXProgram, features hint: [String]? = nil, label: String? = nil) throws {
        self.program = program
        let model = program.model
        func bad(_ why: String) -> MLError { .onnx(path: program.path, reason: why) }
        guard !program.inputs.isEmpty else { throw bad("the graph has no inputs to feed") }
        guard !program.outputs.isEmpty else { throw bad("the graph has no outputs") }
        var inputs: [Input] = []
        for info in program.inputs {
            guard info.kind == .tensor, let raw = info.elementType, let t = ONNXElementType(rawValue: raw) else {
                throw bad("input '\(info.name)' is not a tensor of a type mlrepo feeds (float, double, integers, string, bool)")
            }
            let shape = info.shape ?? []
            guard shape.count <= 2 else { throw bad("input '\(info.name)' has rank \(shape.count); mlrepo feeds tables (rank 1 or 2)") }
            var width: Int? = shape.count < 2 ? 1 : nil
            if shape.count == 2, case .size(let k) = shape[1] {
                guard k >= 1, k <= 1 << 20 else { throw bad("input '\(info.name)' has \(k) columns") }
                width = Int(k)
            }
            inputs.append(Input(name: info.name, type: t, width: width, rank: max(shape.count, 1)))
        }
        var metaNames: [String]? = nil
        let meta = model.metadata
        for key in ONNXScorer.featureKeys {
            guard let v = meta[key]?.trimmed(), !v.isEmpty else { continue }
            if v.hasPrefix("["), let list = (try? JSON.parse(v))?.arrayValue?.compactMap(\.stringValue) { metaNames = list }
            else { metaNames = v.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmed() } }
            break
        }
        self.label = meta["label"] ?? label
        if inputs.count == 1, inputs[0].rank == 2, inputs[0].type == .float || inputs[0].type == .double {
            var input = inputs[0]
            if let names = metaNames {
                if let w = input.width, w != names.count {
                    throw bad("its metadata names \(names.count) features but input '\(input.name)' takes \(w)")
                }
                input.width = names.count
                featureNames = names; namesFrom = "metadata"
            } else if let names = hint?.filter({ $0 != label }), !names.isEmpty, input.width == nil || input.width == names.count {
                input.width = names.count
                featureNames = names; namesFrom = "training data"
            } else {
                featureNames = (0..<(input.width ?? 0)).map { "f\($0)" }; namesFrom = "position"
            }
            var seen = Set<String>()
            for f in featureNames where !seen.insert(f).inserted { throw bad("feature '\(f)' is named twice") }
            layout = .matrix(input)
        } else {
            layout = .columns(inputs)
            featureNames = inputs.map(\.name); namesFrom = "inputs"
        }
        // Class labels a classifier node declares (the last one wins: the final estimator).
        var classes: [String]? = nil, numeric = false
        for n in model.graph.nodes where ONNXOperators.normalizedDomain(n.domain) == "ai.onnx.ml" {
            if case .ints(let v)? = n.attribute("classlabels_ints") ?? n.attribute("classlabels_int64s"), !v.isEmpty {
                classes = v.map { String($0) }; numeric = true
            } else if case .strings(let v)? = n.attribute("classlabels_strings"), !v.isEmpty {
                classes = v.map { String(decoding: $0, as: UTF8.self) }; numeric = false
            }
        }
        declaredClasses = classes
        declaredNumericClasses = numeric
    }

    /// The matrix input's width (nil: columns layout or not declared).
    public var width: Int? { if case .matrix(let i) = layout { return i.width }; return nil }

    /// Whether requests may name their columns (false: by position only).
    public var namedFeatures: Bool { namesFrom != "position" }

    /// Scores `n` rows × `featureNames.count` features, row-major (matrix layout); `x` is
    /// consumed.
    public func score(taking x: inout [Float], rows n: Int, backend: any Backend) throws -> ONNXPrediction {
        guard case .matrix(let input) = layout else {
            throw MLError.onnx(path: program.path, reason: "the model takes \(featureNames.count) named inputs, not one matrix")
        }
        let w = input.width ?? (n == 0 ? 0 : x.count / n)
        guard x.count == n * w, w > 0 || n == 0 else {
            throw MLError.model(nil, reason: "the model expects \(w) features per row")
        }
        let array: ONNXArray
        if input.type == .double { array = ONNXArray(shape: [n, w], storage: .double(x.map { Double($0) })) }
        else { array = ONNXArray(floats: x, shape: [n, w]) }
        x = []
        return try run([input.name: .tensor(array)], rows: n, backend: backend)
    }

    /// Scores a table: each input from the column of its name (columns layout), or the
    /// features from their columns (matrix layout). Columns the model does not read (the
    /// label) are ignored; a missing one is an error naming it.
    public func score(_ table: ScoringTable, backend: any Backend) throws -> ONNXPrediction {
        let n = table.rows
        func fail(_ why: String) -> MLError { .model(nil, reason: why) }
        switch layout {
        case .matrix:
            let w = featureNames.count
            var x = [Float](repeating: 0, count: n * w)
            for (j, name) in featureNames.enumerated() {
                guard let col = table.column(name) else { throw fail("missing column '\(name)' (the model's features: \(featureNames.joined(separator: ", ")))") }
                for i in 0..<n {
                    guard let d = ScoringTable.feature(col[i]), Float(d).isFinite || d.isNaN else {
                        throw fail("row \(i), column '\(name)': \(describe(col[i])) is not a number")
                    }
                    x[i * w + j] = Float(d)
                }
            }
            return try score(taking: &x, rows: n, backend: backend)
        case .columns(let inputs):
            var feeds: [String: ONNXValue] = [:]
            for input in inputs {
                guard let col = table.column(input.name) else {
                    throw fail("missing column '\(input.name)' (the model's inputs: \(featureNames.joined(separator: ", ")))")
                }
                feeds[input.name] = .tensor(try tensor(input, col, rows: n))
            }
            return try run(feeds, rows: n, backend: backend)
        }
    }

    func describe(_ c: ScoringCell) -> String {
        switch c {
        case .number(let d): String(d)
        case .string(let s): "\"\(s.prefix(40))\""
        case .list: "a list"
        case .missing: "a missing value"
        }
    }

    /// One input's tensor from its column: a cell per row (width 1) or a list of `width`
    /// cells per row.
    func tensor(_ input: Input, _ col: [ScoringCell], rows n: Int) throws -> ONNXArray {
        func fail(_ i: Int, _ why: String) -> MLError { .model(nil, reason: "row \(i), column '\(input.name)': \(why)") }
        // A cell per row, or a list of `width` cells (MLflow's tensor form sends [[v], …]
        // for an [N, 1] input).
        var cells: [ScoringCell] = []
        cells.reserveCapacity(col.count)
        var width = input.width
        for (i, c) in col.enumerated() {
            guard case .list(let items) = c else {
                if width == nil { width = 1 }
                guard width == 1 else { throw fail(i, "expected a list of \(width!) values") }
                cells.append(c)
                continue
            }
            if width == nil { width = items.count }
            guard items.count == width else { throw fail(i, "expected \(width!) values, got \(items.count)") }
            cells.append(contentsOf: items)
        }
        let w = width ?? 1
        let shape = input.rank == 1 ? [n] : [n, w]
        switch input.type {
        case .string:
            var out: [String] = []
            out.reserveCapacity(cells.count)
            for (k, c) in cells.enumerated() {
                guard let s = ScoringTable.text(c) else { throw fail(k / w, "\(describe(c)) is not a category (text)") }
                out.append(s)
            }
            return ONNXArray(strings: out, shape: shape)
        case .float, .double, .float16, .bfloat16:
            var out: [Double] = []
            out.reserveCapacity(cells.count)
            let single = input.type != .double
            for (k, c) in cells.enumerated() {
                // As in the matrix layout: a number out of the input type's range is refused,
                // not fed as infinity.
                guard let d = ScoringTable.feature(c), !single || Float(d).isFinite || d.isNaN else {
                    throw fail(k / w, "\(describe(c)) is not a number")
                }
                out.append(d)
            }
            return input.type == .double ? ONNXArray(shape: shape, storage: .double(out)) : ONNXArray(floats: out.map { Float($0) }, shape: shape)
        case .bool:
            var out: [Bool] = []
            for (k, c) in cells.enumerated() {
                if case .string(let s) = c, s == "true" || s == "false" { out.append(s == "true"); continue }
                guard let d = ScoringTable.number(c) else { throw fail(k / w, "\(describe(c)) is not true/false") }
                out.append(d != 0)
            }
            return ONNXArray(shape: shape, storage: .bool(out))
        default:
            var out: [Int64] = []
            out.reserveCapacity(cells.count)
            for (k, c) in cells.enumerated() {
                guard let d = ScoringTable.number(c), d == d.rounded(), abs(d) < 9.2e18 else { throw fail(k / w, "\(describe(c)) is not a whole number") }
                out.append(Int64(d))
            }
            return ONNXArray(int64s: out, shape: shape)
        }
    }

    /// Runs the graph and reads its outputs: the first is the prediction (labels when int64,
    /// string or bool; values when float); for labels, the first sequence of maps (ZipMap)
    /// after it, or float tensor of rows × classes (as many as the classifier declares, or
    /// named for probabilities), holds the probabilities.
    func run(_ feeds: [String: ONNXValue], rows n: Int, backend: any Backend) throws -> ONNXPrediction {
        let out = try program.run(feeds, backend: backend)
        // The model loaded: what its outputs hold is a run-time problem, not an invalid model.
        func bad(_ why: String) -> MLError { .onnxRun(path: program.path, reason: why) }
        var p = ONNXPrediction(rows: n)
        let firstName = program.outputs[0].name
        guard let first = out[firstName] else { throw bad("output '\(firstName)' was not computed") }
        var rest = program.outputs.dropFirst().compactMap { o in out[o.name].map { (o.name, $0) } }
        switch first {
        case .mapSequence:
            // Only probabilities: the prediction is the most probable class.
            rest.insert((firstName, first), at: 0)
        case .tensor(let t):
            guard t.shape.first == n || (n == 0 && t.count == 0) else {
                throw bad("output '\(firstName)' has shape \(t.shape) for \(n) rows")
            }
            switch t.storage {
            case .string(let v):
                guard v.count == n else { throw bad("output '\(firstName)' has \(v.count) labels for \(n) rows") }
                p.labels = .strings(v)
            case .int64, .bool:
                let v = t.asInt64s!
                guard v.count == n else { throw bad("output '\(firstName)' has \(v.count) labels for \(n) rows") }
                p.labels = .ints(v)
            case .float, .double:
                let v = t.doubles ?? t.floats!.map { Double($0) }
                p.values = v
                p.valueWidth = n == 0 ? max(1, ONNXK.product(t.shape.dropFirst())) : v.count / n
                return p
            }
        }
        // Probabilities: the first map sequence or 2-D float tensor after the labels.
        for (name, v) in rest {
            switch v {
            case .mapSequence(let keys, let rows):
                guard rows.count == n else { throw bad("output '\(name)' has \(rows.count) rows for \(n)") }
                if let s = keys.strings { p.classes = s; p.numericClasses = false }
                else if let k = keys.asInt64s { p.classes = k.map { String($0) }; p.numericClasses = true }
                let c = p.classes.count
                var probs = [Float](repeating: 0, count: n * c)
                for (i, r) in rows.enumerated() {
                    guard r.count == c else { throw bad("output '\(name)' row \(i) has \(r.count) classes, not \(c)") }
                    for j in 0..<c { probs[i * c + j] = r[j] }
                }
                p.probabilities = probs
            case .tensor(let t):
                guard t.rank == 2, t.shape[0] == n, let f = t.asFloats, t.elementType == .float || t.elementType == .double else { continue }
                // A classifier's scores (its declared classes, or an output named for
                // probabilities), not, say, k-means distances.
                guard declaredClasses?.count == t.shape[1] || name.lowercased().contains("prob") else { continue }
                p.probabilities = f
                if let d = declaredClasses, d.count == t.shape[1] { p.classes = d; p.numericClasses = declaredNumericClasses }
                else { p.classes = (0..<t.shape[1]).map { String($0) }; p.numericClasses = true }
            }
            if p.probabilities != nil { break }
        }
        if p.labels == nil, let probs = p.probabilities {
            // Labels from the probabilities (a model whose only output is ZipMap's).
            let c = p.classes.count
            var best: [String] = []
            for i in 0..<n {
                var k = 0
                for j in 1..<max(c, 1) where probs[i * c + j] > probs[i * c + k] { k = j }
                best.append(c == 0 ? "" : p.classes[k])
            }
            p.labels = p.numericClasses ? .ints(best.map { Int64($0) ?? 0 }) : .strings(best)
        }
        if p.classes.isEmpty, let d = declaredClasses { p.classes = d; p.numericClasses = declaredNumericClasses }
        if p.classes.isEmpty, case .ints = p.labels { p.numericClasses = true }
        return p
    }
}

extension ONNXScorer {
    /// Scores the rows of a CSV file (`path` absolute, `shownAs` in errors): the features by
    /// name (matrix layout with names; the label column, when present, is read into `truth`),
    /// the columns in file order without the label (by position, their count checked), or
    /// each input from its column (columns layout).
    public func scoreCSV(path: String, shownAs: String, label: String?, threads: Int,
                         backend: any Backend) throws -> (prediction: ONNXPrediction, truth: [ScoringCell]?) {
        let label = label ?? self.label
        if case .matrix = layout, namedFeatures {
            // The fast reader for numbers; a file with missing values (NaN for the graph's
            // imputers) is read again as a table below.
            do {
                var d = try readForModel(features: featureNames, label: label, csv: path, threads: threads)
                let truth: [ScoringCell]? = d.label.map { l in
                    switch l {
                    case .numeric(let v): v.map { .number($0) }
                    case .categorical(let codes, let names): codes.map { .string(names[Int($0)]) }
                    }
                }
                return (try score(taking: &d.features, rows: d.rows, backend: backend), truth)
            } catch MLError.data(let e) where e.line != nil {}
        }
        let bytes: [UInt8]
        do { bytes = try FS.readFile(path) } catch let e as SystemError { throw MLError.unreadable(path: shownAs, reason: e.message) }
        let table = try bytes.withUnsafeBytes { try ScoringTable.csv($0, name: shownAs) }
        if case .matrix = layout, namedFeatures {
            let extra = table.names.filter { !featureNames.contains($0) && $0 != label }
            if !extra.isEmpty {
                throw MLError.columns(file: shownAs, reason: "has column(s) the model was not trained on: \(extra.joined(separator: ", ")) (the model has \(featureNames.count) features)")
            }
        }
        return (try score(table, label: label, backend: backend, file: shownAs), label.flatMap { table.column($0) })
    }

    /// Scores a table whatever the layout: by name, or (a matrix model that names no features)
    /// every column but the label, in order, their count checked. `file` names the source in
    /// errors.
    public func score(_ table: ScoringTable, label: String?, backend: any Backend, file: String) throws -> ONNXPrediction {
        guard case .matrix = layout, !namedFeatures else { return try score(table, backend: backend) }
        var names = table.names, cols = table.columns
        if let label, let k = names.firstIndex(of: label) { names.remove(at: k); cols.remove(at: k) }
        if let w = width, names.count != w {
            throw MLError.columns(file: file, reason: "has \(names.count) feature column(s) (\(names.prefix(12).joined(separator: ", "))) but the model takes \(w) and names none of them; give the label with --label, or name the features in the model's metadata (see docs/onnx.md)")
        }
        let t = ScoringTable(rows: table.rows, names: featureNames.isEmpty ? names : featureNames, columns: cols)
        return featureNames.isEmpty ? try scoreByPosition(t, backend: backend) : try score(t, backend: backend)
    }

    /// Matrix layout whose width the model does not declare: the table's columns in order.
    func scoreByPosition(_ t: ScoringTable, backend: any Backend) throws -> ONNXPrediction {
        let w = t.columns.count, n = t.rows
        var x = [Float](repeating: 0, count: n * w)
        for (j, col) in t.columns.enumerated() {
            for i in 0..<n {
                guard let d = ScoringTable.feature(col[i]), Float(d).isFinite || d.isNaN else {
                    throw MLError.model(nil, reason: "row \(i), column '\(t.names[j])': \(describe(col[i])) is not a number")
                }
                x[i * w + j] = Float(d)
            }
        }
        guard case .matrix(let input) = layout else { return try score(t, backend: backend) }
        let a = input.type == .double ? ONNXArray(shape: [n, w], storage: .double(x.map { Double($0) })) : ONNXArray(floats: x, shape: [n, w])
        return try run([input.name: .tensor(a)], rows: n, backend: backend)
    }

    /// Metrics of the model on a labelled CSV, with the keys of `mlrepo eval` (EvalMetrics):
    /// classification when the first output is a label, regression when it is one number a row.
    public func evaluate(csv path: String, shownAs: String, label: String?, threads: Int, backend: any Backend) throws -> [String: JSON] {
        guard let labelName = label ?? self.label else {
            throw MLError.columns(file: shownAs, reason: "needs a label column to evaluate against: name it with --label COLUMN")
        }
        let (p, truthCells) = try scoreCSV(path: path, shownAs: shownAs, label: labelName, threads: threads, backend: backend)
        guard let truthCells else { throw MLError.columns(file: shownAs, reason: "has no label column '\(labelName)' to evaluate against") }
        let n = p.rows
        if p.labels != nil {
            var classes = p.classes
            if classes.isEmpty {
                var seen = Set<String>()
                for i in 0..<n { if let l = p.label(i), seen.insert(l).inserted { classes.append(l) } }
                for c in truthCells { if let t = ScoringTable.text(c), seen.insert(t).inserted { classes.append(t) } }
                classes.sort()
            }
            var index: [String: Int32] = [:]
            for (i, c) in classes.enumerated() { index[c] = Int32(i) }
            func key(_ c: ScoringCell) -> String? {
                guard let t = ScoringTable.text(c) else { return nil }
                if index[t] != nil { return t }
                // "1.0" in the data for class 1.
                if let d = ScoringTable.number(c) { return ScoringTable.text(.number(d)) }
                return t
            }
            var truth: [Int32] = [], pred: [Int32] = []
            for i in 0..<n {
                guard let t = key(truthCells[i]), let ti = index[t] else {
                    throw MLError.columns(file: shownAs, reason: "has label '\(ScoringTable.text(truthCells[i]) ?? "")' in row \(i + 1), which is not a class the model knows (\(classes.prefix(12).joined(separator: ", ")))")
                }
                guard let l = p.label(i), let pi = index[l] else {
                    throw MLError.onnxRun(path: program.path, reason: "predicted label '\(p.label(i) ?? "")' is not one of its classes")
                }
                truth.append(ti); pred.append(pi)
            }
            let probs = p.probabilities.flatMap { $0.count == n * classes.count ? $0 : nil }
            return EvalMetrics.classification(yTrue: truth, yPred: pred, probabilities: probs, classes: classes)
        }
        guard let values = p.values, p.valueWidth == 1 else {
            throw MLError.onnx(path: program.path, reason: "its first output has \(p.valueWidth) values a row; eval scores classifiers (a label output) and regressors (one value a row)")
        }
        var y: [Double] = []
        for (i, c) in truthCells.enumerated() {
            guard let d = ScoringTable.number(c) else {
                throw MLError.columns(file: shownAs, reason: "row \(i + 1), label column '\(labelName)': not a number")
            }
            y.append(d)
        }
        return EvalMetrics.regression(yTrue: y, yPred: values)
    }
}
