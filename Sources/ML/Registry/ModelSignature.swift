import Support

/// What a model takes and gives, as the registry records it at promotion
/// (.mlrepo-format.md §12.3): named inputs and outputs with an element type and a shape,
/// and a classifier's classes. Read from the formats mlrepo understands: its own `.mlmodel`
/// files (one float column per feature in, the prediction out) and ONNX (the graph's
/// inputs that are not constants, and its outputs).
public struct ModelSignature: Equatable, Sendable {
    /// One input or output. `type`: an element type (`float`, `int64`, `string`, …), or for a
    /// value that is not a tensor its kind (`sequence`, `map`, `optional`); nil when the model
    /// does not declare it. `shape`: per dimension a size (`.int`), a symbolic name
    /// (`.string`, e.g. `"N"`) or unknown (`.null`); nil when undeclared.
    public struct Value: Equatable, Sendable {
        public var name: String
        public var type: String?
        public var shape: [JSON]?

        public init(name: String, type: String?, shape: [JSON]?) { self.name = name; self.type = type; self.shape = shape }

        var json: JSON {
            var o: [String: JSON] = ["name": .string(name)]
            if let type { o["type"] = .string(type) }
            if let shape { o["shape"] = .array(shape) }
            return .object(o)
        }

        init?(json j: JSON) {
            guard let name = j["name"]?.stringValue else { return nil }
            self.name = name
            type = j["type"]?.stringValue
            shape = j["shape"]?.arrayValue
        }

        /// `input float[N,4]`; an unknown dimension is `?`.
        public var compact: String {
            let dims = shape.map { s in
                "[" + s.map { d -> String in
                    switch d {
                    case .int(let n): return "\(n)"
                    case .number(let x): return "\(Int64(exactly: x).map(String.init) ?? "?")"
                    case .string(let s): return s
                    default: return "?"
                    }
                }.joined(separator: ",") + "]"
            } ?? ""
            return "\(name) \(type ?? "?")\(dims)"
        }
    }

    public var inputs: [Value]
    public var outputs: [Value]
    /// A classifier's class names, in the order of its probabilities.
    public var classes: [String]?
    /// How many inputs, outputs or classes were left out of the record (a model with more
    /// than `maxEntries` of one of them); 0 when none.
    public var inputsOmitted = 0
    public var outputsOmitted = 0
    public var classesOmitted = 0

    /// At most this many inputs, outputs and classes are recorded, so a hostile model cannot
    /// make its promotion record huge; the count of the rest is recorded instead.
    public static let maxEntries = 1_024
    /// Names and symbolic dimensions longer than this (UTF-8 bytes) are cut, with "…".
    public static let maxNameBytes = 256

    /// Each of inputs, outputs and classes keeps entries while its encoded JSON stays under
    /// this many bytes (so a signature is at most about 1 MiB, whatever the model claims).
    public static let maxListBytes = 340 << 10

    public init(inputs: [Value], outputs: [Value], classes: [String]? = nil) {
        func clip(_ s: String) -> String {
            guard s.utf8.count > Self.maxNameBytes else { return s }
            return String(decoding: s.utf8.prefix(Self.maxNameBytes), as: UTF8.self) + "…"
        }
        func clipped(_ v: Value) -> Value {
            var v = v
            v.name = clip(v.name)
            v.shape = v.shape.map { $0.map { d in d.stringValue.map { .string(clip($0)) } ?? d } }
            return v
        }
        /// The longest prefix (at most maxEntries) whose encoded size fits maxListBytes.
        func fit<T>(_ xs: [T], _ size: (T) -> Int) -> [T] {
            var total = 0, n = 0
            for x in xs.prefix(Self.maxEntries) {
                total += size(x) + 1
                if total > Self.maxListBytes { break }
                n += 1
            }
            return Array(xs.prefix(n))
        }
        let ins = fit(inputs.prefix(Self.maxEntries).map(clipped)) { $0.json.encoded().utf8.count }
        let outs = fit(outputs.prefix(Self.maxEntries).map(clipped)) { $0.json.encoded().utf8.count }
        let cls = classes.map { c in fit(c.prefix(Self.maxEntries).map(clip)) { $0.utf8.count + 2 } }
        self.inputs = ins
        self.outputs = outs
        self.classes = cls
        inputsOmitted = inputs.count - ins.count
        outputsOmitted = outputs.count - outs.count
        classesOmitted = (classes?.count ?? 0) - (cls?.count ?? 0)
    }

    public var json: JSON {
        var o: [String: JSON] = ["inputs": .array(inputs.map(\.json)), "outputs": .array(outputs.map(\.json))]
        if let classes { o["classes"] = .array(classes.map { .string($0) }) }
        if inputsOmitted > 0 { o["inputs_omitted"] = .int(Int64(inputsOmitted)) }
        if outputsOmitted > 0 { o["outputs_omitted"] = .int(Int64(outputsOmitted)) }
        if classesOmitted > 0 { o["classes_omitted"] = .int(Int64(classesOmitted)) }
        return .object(o)
    }

    /// Reads a recorded signature; nil when it is not one (a record from a newer or broken
    /// writer: the promotion still reads, without a signature).
    public init?(json j: JSON) {
        guard let i = j["inputs"]?.arrayValue, let o = j["outputs"]?.arrayValue else { return nil }
        inputs = i.compactMap(Value.init(json:))
        outputs = o.compactMap(Value.init(json:))
        classes = j["classes"]?.arrayValue?.compactMap(\.stringValue)
        func count(_ k: String) -> Int { j[k]?.doubleValue.flatMap { Int(exactly: $0) }.map { max(0, $0) } ?? 0 }
        inputsOmitted = count("inputs_omitted"); outputsOmitted = count("outputs_omitted"); classesOmitted = count("classes_omitted")
    }

    /// One line: `in: X float[N,4]  out: Y float[N,3]`, at most `limit` values a side.
    public func compact(limit: Int = 6) -> String {
        func side(_ vs: [Value], omitted: Int) -> String {
            let more = max(0, vs.count - limit) + omitted
            return vs.prefix(limit).map(\.compact).joined(separator: ", ") + (more > 0 ? ", … (+\(more) more)" : "")
        }
        return "in: \(side(inputs, omitted: inputsOmitted))  out: \(side(outputs, omitted: outputsOmitted))"
    }

    // MARK: Reading it from a model

    /// An mlrepo model: one float column per feature in (N rows); out, by task: the
    /// predicted class (`string`) and its probabilities (`float[N,classes]`), a regression
    /// value (`double`), a cluster id (`int64`), or PCA components (`float[N,k]`).
    public init(mlmodel m: ModelFile) {
        let n = JSON.string("N")
        let ins = m.featureNames.map { Value(name: $0, type: "float", shape: [n]) }
        var outs: [Value] = []
        var classes: [String]? = nil
        switch ModelType(rawValue: m.type) {
        case .logisticRegression, .mlpClassifier:
            let cs = m.classes ?? []
            outs = [Value(name: "prediction", type: "string", shape: [n]),
                    Value(name: "probabilities", type: "float", shape: [n, .int(Int64(cs.count))])]
            classes = cs
        case .linearRegression, .ridge, .mlpRegressor:
            outs = [Value(name: "prediction", type: "double", shape: [n])]
        case .kmeans:
            outs = [Value(name: "prediction", type: "int64", shape: [n])]
        case .pca:
            outs = [Value(name: "components", type: "float", shape: [n, .int(Int64(m.tensor("components")?.rows ?? 0))])]
        case nil:
            outs = []
        }
        self.init(inputs: ins, outputs: outs, classes: classes)
    }

    /// An ONNX model: the graph's inputs that are not initializers, and its outputs.
    public init(onnx m: ONNXModel) {
        func value(_ v: ONNXValueInfo) -> Value {
            switch v.kind {
            case .tensor:
                let type = v.elementType.map { t in ONNXElementType(rawValue: t)?.name ?? "type \(t)" }
                let shape = v.shape.map { s in
                    s.map { d -> JSON in
                        switch d {
                        case .size(let k): return .int(k)
                        case .symbol(let s): return .string(s)
                        case .unknown: return .null
                        }
                    }
                }
                return Value(name: v.name, type: type, shape: shape)
            case .sequence: return Value(name: v.name, type: "sequence", shape: nil)
            case .map: return Value(name: v.name, type: "map", shape: nil)
            case .optional: return Value(name: v.name, type: "optional", shape: nil)
            case .other: return Value(name: v.name, type: nil, shape: nil)
            }
        }
        self.init(inputs: m.graph.feedInputs.map(value), outputs: m.graph.outputs.map(value))
    }
}
