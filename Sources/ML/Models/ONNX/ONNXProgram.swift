import Compute
import Support

// The ONNX executor: a decoded graph checked once at load (every operator known, every
// input defined before it is used, no cycles, attributes parsed) into a list of prepared
// steps over numbered value slots; `run` walks them in order and frees each value after its
// last use. A program is immutable after loading, so one program serves any number of
// threads; each call passes its own backend.

/// What an operator implementation sees when its node is prepared at load.
public struct ONNXNodeContext: Sendable {
    public let node: ONNXNode
    /// The version of the node's operator set (its domain's opset import).
    public let opset: Int64
    /// Inputs whose values are known at load (initializers), by input position.
    public let constants: [Int: ONNXArray]

    public var name: String { node.name }

    func fail(_ why: String) -> ONNXRunError { ONNXRunError("attribute \(why)") }

    public func has(_ name: String) -> Bool { node.attribute(name) != nil }
    public func int(_ name: String, _ d: Int64) throws -> Int64 {
        guard let v = node.attribute(name) else { return d }
        guard case .int(let x) = v else { throw fail("'\(name)' must be an int") }
        return x
    }
    public func float(_ name: String, _ d: Float) throws -> Float {
        guard let v = node.attribute(name) else { return d }
        guard case .float(let x) = v else { throw fail("'\(name)' must be a float") }
        return x
    }
    public func string(_ name: String, _ d: String) throws -> String {
        guard let v = node.attribute(name) else { return d }
        guard case .string(let x) = v else { throw fail("'\(name)' must be a string") }
        return String(decoding: x, as: UTF8.self)
    }
    public func ints(_ name: String) throws -> [Int64]? {
        guard let v = node.attribute(name) else { return nil }
        guard case .ints(let x) = v else { throw fail("'\(name)' must be a list of ints") }
        return x
    }
    public func floats(_ name: String) throws -> [Float]? {
        guard let v = node.attribute(name) else { return nil }
        guard case .floats(let x) = v else { throw fail("'\(name)' must be a list of floats") }
        return x
    }
    public func strings(_ name: String) throws -> [String]? {
        guard let v = node.attribute(name) else { return nil }
        guard case .strings(let x) = v else { throw fail("'\(name)' must be a list of strings") }
        return x.map { String(decoding: $0, as: UTF8.self) }
    }
    public func tensor(_ name: String) throws -> ONNXArray? {
        guard let v = node.attribute(name) else { return nil }
        guard case .tensor(let t) = v else { throw fail("'\(name)' must be a tensor") }
        return try ONNXArray(t)
    }
}

/// A prepared node: maps its inputs (nil where an optional input is omitted) to its outputs.
public typealias ONNXKernel = @Sendable (_ inputs: [ONNXValue?], _ backend: any Backend) throws -> [ONNXValue]

/// Prepares a node (parses and checks its attributes) into a kernel; throws `ONNXRunError`
/// for attributes or constant inputs it does not support.
public typealias ONNXOperatorFactory = @Sendable (ONNXNodeContext) throws -> ONNXKernel

/// The operators mlrepo runs, by domain ("" is ai.onnx) and type. Each family of operators
/// lives in its own file and contributes one table.
public enum ONNXOperators {
    static let table: [String: ONNXOperatorFactory] = {
        var t: [String: ONNXOperatorFactory] = [:]
        for (k, f) in standardOperators { t[key("", k)] = f }
        for (k, f) in mlOperators { t[key("ai.onnx.ml", k)] = f }
        return t
    }()

    static func key(_ domain: String, _ op: String) -> String { normalizedDomain(domain) + "/" + op }

    /// "" and "ai.onnx" are the same domain.
    public static func normalizedDomain(_ d: String) -> String { d == "ai.onnx" ? "" : d }

    /// Whether mlrepo runs operator `op` of `domain`.
    public static func isSupported(domain: String, op: String) -> Bool { table[key(domain, op)] != nil }

    /// Operator sets mlrepo runs: ai.onnx 7 to 25, ai.onnx.ml 1 to 5. From 7 every supported
    /// operator broadcasts numpy-style and the versions that differ are read per node
    /// (`ctx.opset`: Clip's and Slice's attributes, TopK's k, Softmax's 2-D coercion, the
    /// reductions' axes, Split, Squeeze/Unsqueeze, Dropout's mask); at 7 and 8 the remaining
    /// differences only make mlrepo accept more (Max/Min/Sum/Mean-6 without broadcasting,
    /// Gemm-7's required C). Later versions differ only in types mlrepo does not run. Opsets
    /// below 7 are refused: their legacy `broadcast`/`axis` attributes (Add-6 …) and
    /// `consumed_inputs` are not implemented, and ignoring them would compute something else.
    public static let opsetRange: [String: ClosedRange<Int64>] = ["": 7...25, "ai.onnx.ml": 1...5]
}

/// An ONNX model made ready to run.
public final class ONNXProgram: Sendable {
    public let model: ONNXModel
    /// The name errors give the model (its path, or REV:PATH).
    public let path: String?

    struct Step: Sendable {
        let kernel: ONNXKernel
        let inputs: [Int]      // slot per input, -1 where omitted
        let outputs: [Int]     // slot per output, -1 where unused
        let free: [Int]        // slots whose last use is this step
        let label: String      // "node 'name' (OpType)"
    }
    let steps: [Step]
    let slotCount: Int
    let constants: [(slot: Int, value: ONNXValue)]
    /// The inputs a caller feeds, in declared order, with their slots.
    public let inputs: [ONNXValueInfo]
    let inputSlots: [Int]
    public let outputs: [ONNXValueInfo]
    let outputSlots: [Int]

    public convenience init(path: String, shownAs: String? = nil) throws {
        try self.init(ONNXModel.load(path: path, shownAs: shownAs), path: shownAs ?? path)
    }

    /// Checks and prepares `model`. Refuses, naming the node and the operator, anything it
    /// cannot run: an operator it does not have, an operator set outside `opsetRange`, a value
    /// used before it is defined.
    public init(_ model: ONNXModel, path: String?) throws {
        self.model = model
        self.path = path
        func bad(_ why: String) -> MLError { .onnx(path: path, reason: why) }
        guard model.irVersion >= 3 else { throw bad("IR version \(model.irVersion) is older than 3, the oldest mlrepo runs") }
        for (d, v) in model.opsets {
            let nd = ONNXOperators.normalizedDomain(d)
            if let r = ONNXOperators.opsetRange[nd], !r.contains(v) {
                throw bad("operator set \(nd.isEmpty ? "ai.onnx" : nd) version \(v) is outside the versions mlrepo runs (\(r.lowerBound) to \(r.upperBound))")
            }
        }
        let g = model.graph
        var slotOf: [String: Int] = [:]
        var next = 0
        func slot(_ name: String) -> Int {
            if let s = slotOf[name] { return s }
            slotOf[name] = next; next += 1
            return next - 1
        }
        var consts: [(Int, ONNXValue)] = []
        var constValues: [String: ONNXArray] = [:]
        for t in g.initializers {
            let a: ONNXArray
            do { a = try ONNXArray(t) } catch let e as ONNXRunError { throw bad("initializer '\(t.name)': \(e.message)") }
            consts.append((slot(t.name), .tensor(a)))
            constValues[t.name] = a
        }
        constants = consts
        inputs = g.feedInputs
        inputSlots = inputs.map { slot($0.name) }
        var defined = Set(slotOf.keys)
        var steps: [Step] = []
        for (i, n) in g.nodes.enumerated() {
            let label = "node '\(n.name.isEmpty ? "#\(i)" : n.name)' (\(n.opType))"
            let domain = ONNXOperators.normalizedDomain(n.domain)
            guard let factory = ONNXOperators.table[ONNXOperators.key(domain, n.opType)] else {
                throw bad("\(label): operator \(domain.isEmpty ? "" : domain + ".")\(n.opType) is not supported by mlrepo")
            }
            guard let opset = model.opsetVersion(domain) else {
                throw bad("\(label): the model imports no version of operator set \(domain.isEmpty ? "ai.onnx" : domain)")
            }
            var known: [Int: ONNXArray] = [:]
            var ins: [Int] = []
            for (k, name) in n.inputs.enumerated() {
                if name.isEmpty { ins.append(-1); continue }
                guard defined.contains(name) else { throw bad("\(label): input '\(name)' is not defined before it is used") }
                if let c = constValues[name] { known[k] = c }
                ins.append(slot(name))
            }
            let kernel: ONNXKernel
            do { kernel = try factory(ONNXNodeContext(node: n, opset: opset, constants: known)) } catch let e as ONNXRunError {
                throw bad("\(label): \(e.message)")
            }
            var outs: [Int] = []
            for name in n.outputs {
                if name.isEmpty { outs.append(-1); continue }
                outs.append(slot(name))
                defined.insert(name)
            }
            steps.append(Step(kernel: kernel, inputs: ins, outputs: outs, free: [], label: label))
        }
        outputs = g.outputs
        var outSlots: [Int] = []
        for o in g.outputs {
            guard defined.contains(o.name) else { throw bad("output '\(o.name)' is not computed by any node") }
            outSlots.append(slot(o.name))
        }
        outputSlots = outSlots
        slotCount = next
        // Free each intermediate after its last reader; never graph outputs or constants.
        let keep = Set(outSlots).union(consts.map(\.0))
        var lastUse: [Int: Int] = [:]
        for (i, s) in steps.enumerated() { for x in s.inputs where x >= 0 { lastUse[x] = i } }
        var frees = [[Int]](repeating: [], count: steps.count)
        for (x, i) in lastUse where !keep.contains(x) { frees[i].append(x) }
        self.steps = steps.enumerated().map { i, s in
            Step(kernel: s.kernel, inputs: s.inputs, outputs: s.outputs, free: frees[i].sorted(), label: s.label)
        }
    }

    /// The operators the model uses, in first-use order, with whether mlrepo runs each.
    public static func operators(of model: ONNXModel) -> [(domain: String, op: String, nodes: Int, supported: Bool)] {
        // Linear in the nodes: a dictionary from (domain, op) to its row (a model may use
        // thousands of distinct custom operators).
        struct Key: Hashable { let domain: String, op: String }
        var ops: [(domain: String, op: String, nodes: Int, supported: Bool)] = []
        var row: [Key: Int] = [:]
        for n in model.graph.nodes {
            let d = ONNXOperators.normalizedDomain(n.domain)
            let k = Key(domain: d, op: n.opType)
            if let i = row[k] { ops[i].nodes += 1; continue }
            row[k] = ops.count
            ops.append((d, n.opType, 1, ONNXOperators.isSupported(domain: d, op: n.opType)))
        }
        return ops
    }

    /// Runs the graph on `feeds` (every declared input, by name) and returns every output by
    /// name. Errors name the node that failed.
    public func run(_ feeds: [String: ONNXValue], backend: any Backend) throws -> [String: ONNXValue] {
        var slots = [ONNXValue?](repeating: nil, count: slotCount)
        // Live bytes of the inputs and computed values (constants belong to the model), bounded
        // by `ONNXModel.maxRunBytes`; each slot's share is subtracted when the slot is freed.
        var bytes = [Int](repeating: 0, count: slotCount)
        var live = 0
        let limit = ONNXModel.maxRunBytes
        func hold(_ s: Int, _ v: ONNXValue) {
            live -= bytes[s]
            bytes[s] = v.storageBytes
            live = live > Int.max - bytes[s] ? Int.max : live + bytes[s]
        }
        for (s, v) in constants { slots[s] = v }
        for (info, s) in zip(inputs, inputSlots) {
            guard let v = feeds[info.name] else { throw MLError.onnxRun(path: path, reason: "input '\(info.name)' was not given") }
            slots[s] = v
            hold(s, v)
        }
        for step in steps {
            let args = step.inputs.map { $0 >= 0 ? slots[$0] : nil }
            let results: [ONNXValue]
            do { results = try step.kernel(args, backend) } catch let e as ONNXRunError {
                throw MLError.onnxRun(path: path, reason: "\(step.label): \(e.message)")
            }
            for (k, s) in step.outputs.enumerated() where s >= 0 {
                guard k < results.count else { throw MLError.onnxRun(path: path, reason: "\(step.label): output \(k) was not produced") }
                slots[s] = results[k]
                hold(s, results[k])
            }
            guard live <= limit else {
                throw MLError.onnxRun(path: path, reason: "\(step.label): the run's live values would take \(live) bytes, over the \(limit >> 30) GiB per-run limit")
            }
            for s in step.free { slots[s] = nil; live -= bytes[s]; bytes[s] = 0 }
        }
        // A device error (a GPU backend's GEMM) leaves zeros behind: never return them.
        do { try backend.checkError() } catch { throw MLError.onnxRun(path: path, reason: "\(error)") }
        var out: [String: ONNXValue] = [:]
        for (info, s) in zip(outputs, outputSlots) { out[info.name] = slots[s] }
        return out
    }
}
