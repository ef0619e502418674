import Compute
import Support

// ai.onnx.ml operators (the classic machine-learning domain: tree ensembles, linear models,
// scalers, encoders, ZipMap). Semantics follow onnxruntime's CPU kernels, which the reference
// tests (ONNXReferenceTests) compare against; the tree operators live in
// ONNXOperators+MLTrees.swift.

let mlOperators: [String: ONNXOperatorFactory] = {
    var t = treeOperators
    for (k, f) in linearOperators { t[k] = f }
    for (k, f) in featureOperators { t[k] = f }
    return t
}()

// MARK: - Linear models

private let linearOperators: [String: ONNXOperatorFactory] = [
    "LinearRegressor": { c in
        let coef = try c.required(c.floats("coefficients"), "coefficients")
        let targets = try c.int("targets", 1)
        guard targets >= 1, targets <= Int64(maxMLTargets) else { throw ONNXRunError("attribute 'targets' is \(targets)") }
        let nt = Int(targets)
        let intercepts = try c.floats("intercepts") ?? []
        guard intercepts.isEmpty || intercepts.count == nt else {
            throw ONNXRunError("attribute 'intercepts' has \(intercepts.count) values for \(nt) targets")
        }
        guard coef.count % nt == 0 else { throw ONNXRunError("attribute 'coefficients' has \(coef.count) values for \(nt) targets") }
        let post = try linearPost(c)
        return { inputs, _ in
            let (x, rows, width) = try featureRows(inputs)
            guard coef.count == nt * width else {
                throw ONNXRunError("the model has \(coef.count / nt) coefficients per target, but the input has \(width) columns")
            }
            var out = linearScores(x, rows: rows, width: width, coef: coef, intercepts: intercepts, targets: nt)
            if post != .none, nt >= 1 {
                out.withUnsafeMutableBufferPointer { o in
                    for r in 0..<rows {
                        let row = UnsafeMutableBufferPointer(rebasing: o[(r * nt)..<((r + 1) * nt)])
                        if nt == 1 { if post == .probit { row[0] = PostTransform.probit(row[0]) } } else { post.apply(row) }
                    }
                }
            }
            return [.tensor(ONNXArray(floats: out, shape: [rows, nt]))]
        }
    },
    "LinearClassifier": { c in
        let coef = try c.required(c.floats("coefficients"), "coefficients")
        let intercepts = try c.floats("intercepts") ?? []
        let ints = try c.ints("classlabels_ints")
        let strs = try c.strings("classlabels_strings")
        guard (ints == nil) != (strs == nil) else { throw ONNXRunError("exactly one of 'classlabels_ints' and 'classlabels_strings' must be given") }
        let labelCount = ints?.count ?? strs!.count
        let classes = intercepts.isEmpty ? labelCount : intercepts.count
        guard classes >= 1, classes <= maxMLTargets else { throw ONNXRunError("the classifier has \(classes) classes") }
        guard coef.count % classes == 0 else { throw ONNXRunError("attribute 'coefficients' has \(coef.count) values for \(classes) classes") }
        let binary = classes == 1
        guard binary || labelCount == classes else {
            throw ONNXRunError("the classifier has \(labelCount) class labels for \(classes) classes")
        }
        let addSecond = binary && labelCount == 2
        let post = try linearPost(c)
        return { inputs, _ in
            let (x, rows, width) = try featureRows(inputs)
            guard coef.count == classes * width else {
                throw ONNXRunError("the model has \(coef.count / classes) coefficients per class, but the input has \(width) columns")
            }
            let scores = linearScores(x, rows: rows, width: width, coef: coef, intercepts: intercepts, targets: classes)
            var label = [Int](repeating: 0, count: rows)
            for r in 0..<rows {
                if binary { label[r] = scores[r] > 0 ? 1 : 0; continue }
                var best = 0
                for k in 1..<classes where scores[r * classes + k] > scores[r * classes + best] { best = k }
                label[r] = best
            }
            let cols = addSecond ? 2 : classes
            var z = [Float](repeating: 0, count: rows * cols)
            z.withUnsafeMutableBufferPointer { zb in
                for r in 0..<rows {
                    if binary {
                        let s = scores[r]
                        if post == .probit { zb[r * cols] = PostTransform.probit(s) }
                        else if addSecond {
                            // onnxruntime: LOGISTIC maps the score through the sigmoid first; the
                            // other transforms write [1 - s, s] from the raw score.
                            let p = post == .logistic ? PostTransform.logistic(s) : s
                            zb[r * 2] = 1 - p; zb[r * 2 + 1] = p
                        }
                        else { zb[r] = s }
                    } else {
                        for k in 0..<classes { zb[r * cols + k] = scores[r * classes + k] }
                        post.apply(UnsafeMutableBufferPointer(rebasing: zb[(r * cols)..<((r + 1) * cols)]))
                    }
                }
            }
            let y: ONNXArray
            if let strs {
                y = ONNXArray(strings: label.map { binary ? (labelCount == 2 ? strs[$0] : "\($0)") : strs[$0] }, shape: [rows])
            } else {
                y = ONNXArray(int64s: label.map { binary ? (labelCount == 2 ? ints![$0] : Int64($0)) : ints![$0] }, shape: [rows])
            }
            return [.tensor(y), .tensor(ONNXArray(floats: z, shape: [rows, cols]))]
        }
    },
]

private func linearPost(_ c: ONNXNodeContext) throws -> PostTransform {
    let s = try c.string("post_transform", "NONE")
    guard let p = PostTransform(name: s) else { throw ONNXRunError("attribute 'post_transform' is '\(s)', not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT") }
    return p
}

/// x · coefᵀ + intercepts, accumulated in Double per output.
private func linearScores(_ x: [Float], rows: Int, width: Int, coef: [Float], intercepts: [Float], targets: Int) -> [Float] {
    var out = [Float](repeating: 0, count: rows * targets)
    x.withUnsafeBufferPointer { xb in
    coef.withUnsafeBufferPointer { cb in
        for r in 0..<rows {
            for k in 0..<targets {
                var s: Double = intercepts.isEmpty ? 0 : Double(intercepts[k])
                for j in 0..<width { s += Double(xb[r * width + j]) * Double(cb[k * width + j]) }
                out[r * targets + k] = Float(s)
            }
        }
    }}
    return out
}

// MARK: - Feature transforms and encoders

/// A label or category key: strings, integers, or floats (NaN equals NaN).
private enum MLKey: Hashable {
    case s(String), i(Int64), f(UInt32)

    static func float(_ v: Float) -> MLKey { .f(v.isNaN ? Float.nan.bitPattern : (v == 0 ? 0 : v.bitPattern)) }

    static func keys(_ a: ONNXArray) -> [MLKey] {
        switch a.storage {
        case .string(let v): v.map { .s($0) }
        case .int64(let v): v.map { .i($0) }
        case .bool(let v): v.map { .i($0 ? 1 : 0) }
        case .float(let v): v.map { float($0) }
        case .double(let v): v.map { float(Float($0)) }
        }
    }
}

private func withShape(_ s: ONNXArray.Storage, _ shape: [Int]) -> ONNXValue { .tensor(ONNXArray(shape: shape, storage: s)) }

private let featureOperators: [String: ONNXOperatorFactory] = [
    "Scaler": { c in
        let offset = try c.floats("offset") ?? [0]
        let scale = try c.floats("scale") ?? [1]
        return { inputs, _ in
            let (x, rows, width) = try featureRows(inputs)
            let shape = try tensorInput(inputs, 0).shape
            for (name, v) in [("offset", offset), ("scale", scale)] where v.count != 1 && v.count != width {
                throw ONNXRunError("attribute '\(name)' has \(v.count) values, but the input has \(width) columns")
            }
            var y = [Float](repeating: 0, count: rows * width)
            for r in 0..<rows {
                for j in 0..<width {
                    let o = offset.count == 1 ? offset[0] : offset[j], s = scale.count == 1 ? scale[0] : scale[j]
                    y[r * width + j] = (x[r * width + j] - o) * s
                }
            }
            return [.tensor(ONNXArray(floats: y, shape: shape))]
        }
    },
    "Imputer": { c in
        let fillF = try c.floats("imputed_value_floats")
        let fillI = try c.ints("imputed_value_int64s")
        let replF = try c.float("replaced_value_float", 0)
        let replI = try c.int("replaced_value_int64", 0)
        guard fillF != nil || fillI != nil else { throw ONNXRunError("attribute 'imputed_value_floats' or 'imputed_value_int64s' is required") }
        return { inputs, _ in
            let t = try tensorInput(inputs, 0)
            let width = t.rank == 0 ? 1 : t.shape[t.rank - 1]
            switch t.storage {
            case .float, .double:
                guard let fill = fillF, !fill.isEmpty else { throw ONNXRunError("float input needs 'imputed_value_floats'") }
                guard fill.count == 1 || fill.count == width else {
                    throw ONNXRunError("attribute 'imputed_value_floats' has \(fill.count) values, but the input has \(width) columns")
                }
                var v = t.asFloats!
                for i in v.indices where replF.isNaN ? v[i].isNaN : v[i] == replF { v[i] = fill.count == 1 ? fill[0] : fill[i % width] }
                return [.tensor(ONNXArray(floats: v, shape: t.shape))]
            case .int64(var v):
                guard let fill = fillI, !fill.isEmpty else { throw ONNXRunError("integer input needs 'imputed_value_int64s'") }
                guard fill.count == 1 || fill.count == width else {
                    throw ONNXRunError("attribute 'imputed_value_int64s' has \(fill.count) values, but the input has \(width) columns")
                }
                for i in v.indices where v[i] == replI { v[i] = fill.count == 1 ? fill[0] : fill[i % width] }
                return [.tensor(ONNXArray(int64s: v, shape: t.shape))]
            default: throw ONNXRunError("Imputer takes float or integer input, not \(t.elementType.name)")
            }
        }
    },
    "Normalizer": { c in
        let norm = try c.string("norm", "MAX")
        guard ["MAX", "L1", "L2"].contains(norm) else { throw ONNXRunError("attribute 'norm' is '\(norm)', not MAX, L1 or L2") }
        return { inputs, _ in
            var (x, rows, width) = try featureRows(inputs)
            let shape = try tensorInput(inputs, 0).shape
            for r in 0..<rows {
                let row = (r * width)..<((r + 1) * width)
                switch norm {
                case "MAX":
                    var m = -Float.greatestFiniteMagnitude
                    for i in row where x[i] > m { m = x[i] }
                    if m != 0 { for i in row { x[i] /= m } }
                case "L1":
                    var s: Float = 0
                    for i in row { s += abs(x[i]) }
                    if s != 0 { for i in row { x[i] /= s } }
                default:
                    var s: Float = 0
                    for i in row { s += x[i] * x[i] }
                    if s != 0 { let n = s.squareRoot(); for i in row { x[i] /= n } }
                }
            }
            return [.tensor(ONNXArray(floats: x, shape: shape))]
        }
    },
    "Binarizer": { c in
        let threshold = try c.float("threshold", 0)
        return { inputs, _ in
            let t = try tensorInput(inputs, 0)
            switch t.storage {
            case .float(let v): return [withShape(.float(v.map { $0 > threshold ? 1 : 0 }), t.shape)]
            case .double(let v): return [withShape(.double(v.map { $0 > Double(threshold) ? 1 : 0 }), t.shape)]
            case .int64(let v): return [withShape(.int64(v.map { Float($0) > threshold ? 1 : 0 }), t.shape)]
            default: throw ONNXRunError("Binarizer takes numeric input, not \(t.elementType.name)")
            }
        }
    },
    "OneHotEncoder": { c in
        let ints = try c.ints("cats_int64s")
        let strs = try c.strings("cats_strings")
        guard (ints == nil) != (strs == nil) else { throw ONNXRunError("exactly one of 'cats_int64s' and 'cats_strings' must be given") }
        let zeros = try c.int("zeros", 1) != 0
        var index: [MLKey: Int] = [:]
        let cats: [MLKey] = ints.map { $0.map { MLKey.i($0) } } ?? strs!.map { MLKey.s($0) }
        for (k, key) in cats.enumerated() where index[key] == nil { index[key] = k }
        let n = cats.count
        guard n >= 1, n <= 1 << 24 else { throw ONNXRunError("the encoder has \(n) categories") }
        let table = index
        return { inputs, _ in
            let t = try tensorInput(inputs, 0)
            let keys: [MLKey]
            switch t.storage {
            case .string(let v):
                guard strs != nil else { throw ONNXRunError("string input needs 'cats_strings'") }
                keys = v.map { .s($0) }
            case .float, .double, .int64, .bool:
                guard ints != nil, let v = t.asInt64s ?? t.asFloats.map({ $0.map { Int64(exactly: $0.rounded(.towardZero)) ?? Int64.min } }) else {
                    throw ONNXRunError("numeric input needs 'cats_int64s'")
                }
                keys = v.map { .i($0) }
            }
            _ = try ONNXK.count(t.shape + [n], "the one-hot output", width: 4)
            var y = [Float](repeating: 0, count: keys.count * n)
            for (i, k) in keys.enumerated() {
                if let j = table[k] { y[i * n + j] = 1 } else if !zeros {
                    throw ONNXRunError("value \(k) is not one of the encoder's categories")
                }
            }
            return [.tensor(ONNXArray(floats: y, shape: t.shape + [n]))]
        }
    },
    "ZipMap": { c in
        let ints = try c.ints("classlabels_int64s")
        let strs = try c.strings("classlabels_strings")
        guard (ints == nil) != (strs == nil) else { throw ONNXRunError("exactly one of 'classlabels_int64s' and 'classlabels_strings' must be given") }
        // As onnxruntime: an empty label list is refused at load.
        guard (ints?.count ?? strs!.count) > 0 else { throw ONNXRunError("the class label list is empty") }
        let keys = ints.map { ONNXArray(int64s: $0, shape: [$0.count]) } ?? ONNXArray(strings: strs!, shape: [strs!.count])
        let n = keys.count
        return { inputs, _ in
            let t = try tensorInput(inputs, 0)
            guard let f = t.asFloats, t.elementType == .float || t.elementType == .double else {
                throw ONNXRunError("ZipMap takes float input, not \(t.elementType.name)")
            }
            let width = t.rank == 0 ? 1 : t.shape[t.rank - 1]
            guard width == n else { throw ONNXRunError("the input has \(width) columns for \(n) class labels") }
            let rows = n == 0 ? 0 : f.count / n
            return [.mapSequence(keys: keys, rows: (0..<rows).map { Array(f[($0 * n)..<(($0 + 1) * n)]) })]
        }
    },
    "ArrayFeatureExtractor": { _ in
        { inputs, _ in
            let x = try tensorInput(inputs, 0)
            guard let idx = try tensorInput(inputs, 1).int64s else { throw ONNXRunError("input Y (the indices) must be int64") }
            let last = x.rank == 0 ? 1 : x.shape[x.rank - 1]
            for i in idx where i < 0 || i >= Int64(last) {
                throw ONNXRunError("index \(i) is out of range for the last dimension \(last)")
            }
            let outer = last == 0 ? 0 : x.count / last
            let picks = idx.map { Int($0) }
            let shape = x.rank <= 1 ? [1, picks.count] : Array(x.shape.dropLast()) + [picks.count]
            // Checked (elements and bytes) before anything is allocated.
            _ = try ONNXK.count(shape, "ArrayFeatureExtractor's output", width: x.elementWidth)
            func gather<T>(_ v: [T]) -> [T] {
                var out: [T] = []
                out.reserveCapacity(outer * picks.count)
                for o in 0..<outer { for p in picks { out.append(v[o * last + p]) } }
                return out
            }
            let s: ONNXArray.Storage
            switch x.storage {
            case .float(let v): s = .float(gather(v))
            case .double(let v): s = .double(gather(v))
            case .int64(let v): s = .int64(gather(v))
            case .bool(let v): s = .bool(gather(v))
            case .string(let v): s = .string(gather(v))
            }
            return [withShape(s, shape)]
        }
    },
    "FeatureVectorizer": { c in
        let dims = try c.ints("inputdimensions") ?? []
        for d in dims where d < 0 || d > Int64(ONNXModel.maxTensorElements) { throw ONNXRunError("attribute 'inputdimensions' has \(d)") }
        let total = dims.reduce(0) { $0 + Int($1) }
        guard total <= maxMLTargets * 16 else { throw ONNXRunError("attribute 'inputdimensions' sums to \(total)") }
        return { inputs, _ in
            guard inputs.count == dims.count else { throw ONNXRunError("\(inputs.count) inputs for \(dims.count) input dimensions") }
            var rows = -1
            var parts: [(x: [Float], width: Int)] = []
            for i in 0..<inputs.count {
                let t = try tensorInput(inputs, i)
                guard let f = t.asFloats else { throw ONNXRunError("input \(i) must be numeric") }
                let r = t.rank <= 1 ? 1 : t.shape[0]
                if rows < 0 { rows = r } else if r != rows { throw ONNXRunError("input \(i) has \(r) rows, input 0 has \(rows)") }
                parts.append((f, r == 0 ? 0 : f.count / r))
            }
            rows = max(rows, 0)
            _ = try ONNXK.count([rows, total], "the output", width: 4)
            var y = [Float](repeating: 0, count: rows * total)
            var col = 0
            for (i, p) in parts.enumerated() {
                let d = Int(dims[i]), w = min(d, p.width)
                for r in 0..<rows { for j in 0..<w { y[r * total + col + j] = p.x[r * p.width + j] } }
                col += d
            }
            return [.tensor(ONNXArray(floats: y, shape: [rows, total]))]
        }
    },
    "CategoryMapper": { c in
        let ints = try c.required(c.ints("cats_int64s"), "cats_int64s")
        let strs = try c.required(c.strings("cats_strings"), "cats_strings")
        guard ints.count == strs.count else { throw ONNXRunError("'cats_int64s' has \(ints.count) values, 'cats_strings' \(strs.count)") }
        let defI = try c.int("default_int64", -1)
        let defS = try c.string("default_string", "_Unused")
        var s2i: [String: Int64] = [:], i2s: [Int64: String] = [:]
        for (i, s) in zip(ints, strs) { if s2i[s] == nil { s2i[s] = i }; if i2s[i] == nil { i2s[i] = s } }
        let (a, b) = (s2i, i2s)
        return { inputs, _ in
            let t = try tensorInput(inputs, 0)
            switch t.storage {
            case .string(let v): return [withShape(.int64(v.map { a[$0] ?? defI }), t.shape)]
            case .int64(let v): return [withShape(.string(v.map { b[$0] ?? defS }), t.shape)]
            default: throw ONNXRunError("CategoryMapper takes string or int64 input, not \(t.elementType.name)")
            }
        }
    },
    "LabelEncoder": { c in
        let encoder = try LabelEncoderTable(c)
        return { inputs, _ in
            let t = try tensorInput(inputs, 0)
            return [.tensor(try encoder.map(t))]
        }
    },
]

/// LabelEncoder's mapping, from the attributes of any version: 1 (classes_strings), 2 and 3
/// (keys_*/values_*), 4 (keys_tensor/values_tensor/default_tensor).
private struct LabelEncoderTable: Sendable {
    let table: [MLKey: Int]
    let values: ONNXArray
    let defaultValue: ONNXArray

    init(_ c: ONNXNodeContext) throws {
        var keys: ONNXArray?
        var vals: ONNXArray?
        var def: ONNXArray?
        if let classes = try c.strings("classes_strings") {
            // Version 1: string ↔ index.
            let defI = try c.int("default_int64", -1), defS = try c.string("default_string", "_Unused")
            // Direction is decided by the input type at run time; store both.
            keys = ONNXArray(strings: classes, shape: [classes.count])
            vals = ONNXArray(int64s: (0..<Int64(classes.count)).map { $0 }, shape: [classes.count])
            def = ONNXArray(int64s: [defI], shape: [1])
            reverseDefault = defS
        } else {
            reverseDefault = nil
            if let k = try c.tensor("keys_tensor") { keys = k }
            else if let k = try c.strings("keys_strings") { keys = ONNXArray(strings: k, shape: [k.count]) }
            else if let k = try c.ints("keys_int64s") { keys = ONNXArray(int64s: k, shape: [k.count]) }
            else if let k = try c.floats("keys_floats") { keys = ONNXArray(floats: k, shape: [k.count]) }
            if let v = try c.tensor("values_tensor") { vals = v }
            else if let v = try c.strings("values_strings") { vals = ONNXArray(strings: v, shape: [v.count]) }
            else if let v = try c.ints("values_int64s") { vals = ONNXArray(int64s: v, shape: [v.count]) }
            else if let v = try c.floats("values_floats") { vals = ONNXArray(floats: v, shape: [v.count]) }
            guard let vals else { throw ONNXRunError("attribute 'values_*' is missing") }
            if let d = try c.tensor("default_tensor") { def = d } else {
                switch vals.storage {
                case .string: def = ONNXArray(strings: [try c.string("default_string", "_Unused")], shape: [1])
                case .int64: def = ONNXArray(int64s: [try c.int("default_int64", -1)], shape: [1])
                case .float, .double: def = ONNXArray(floats: [try c.float("default_float", -0.0)], shape: [1])
                case .bool: throw ONNXRunError("LabelEncoder values cannot be booleans")
                }
            }
        }
        guard let keys, let vals, let def else { throw ONNXRunError("attribute 'keys_*' is missing") }
        guard keys.count == vals.count else { throw ONNXRunError("\(keys.count) keys for \(vals.count) values") }
        guard def.count == 1, def.elementType == vals.elementType || (def.elementType == .float && vals.elementType == .double) else {
            throw ONNXRunError("the default value must be one value of the values' type")
        }
        var t: [MLKey: Int] = [:]
        for (i, k) in MLKey.keys(keys).enumerated() where t[k] == nil { t[k] = i }
        table = t; values = vals; defaultValue = def
        self.keys = keys
    }
    let keys: ONNXArray
    /// Version 1's string for an unknown index (int64 → string direction).
    let reverseDefault: String?

    func map(_ x: ONNXArray) throws -> ONNXArray {
        if let reverseDefault, case .int64(let v) = x.storage, let classes = keys.strings {
            return ONNXArray(strings: v.map { $0 >= 0 && $0 < Int64(classes.count) ? classes[Int($0)] : reverseDefault }, shape: x.shape)
        }
        guard (x.elementType == .string) == (keys.elementType == .string) else {
            throw ONNXRunError("input of type \(x.elementType.name) for keys of type \(keys.elementType.name)")
        }
        let idx = MLKey.keys(x).map { table[$0] ?? -1 }
        func pick<T>(_ v: [T], _ d: T) -> [T] { idx.map { $0 >= 0 ? v[$0] : d } }
        switch (values.storage, defaultValue.storage) {
        case (.string(let v), .string(let d)): return ONNXArray(shape: x.shape, storage: .string(pick(v, d[0])))
        case (.int64(let v), .int64(let d)): return ONNXArray(shape: x.shape, storage: .int64(pick(v, d[0])))
        case (.float(let v), .float(let d)): return ONNXArray(shape: x.shape, storage: .float(pick(v, d[0])))
        case (.double(let v), .double(let d)): return ONNXArray(shape: x.shape, storage: .double(pick(v, d[0])))
        case (.double(let v), .float(let d)): return ONNXArray(shape: x.shape, storage: .double(pick(v, Double(d[0]))))
        default: throw ONNXRunError("LabelEncoder values of type \(values.elementType.name) are not supported")
        }
    }
}
