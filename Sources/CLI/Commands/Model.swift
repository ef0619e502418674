import ML
import Serve
import Support

let modelCommand = Command(
    name: "model", kind: .porcelain, summary: "inspect a model file (ONNX)",
    usage: """
    mlrepo model inspect MODEL [--json]

    Reads an ONNX model file (any producer: skl2onnx, onnxmltools, torch.onnx.export) with
    mlrepo's own bounded decoder and prints what a caller needs to know: the producer, the IR
    version and operator sets, the inputs a request feeds (name, element type, shape; `N` and
    other names are symbolic dimensions, `?` unknown), the outputs, the operators the graph
    uses (with how many nodes use each, by domain, each marked supported or not), whether
    mlrepo can run the model (and, if not, the first reason: an operator it does not have,
    naming the node), the constant tensors and the metadata. MODEL is a file or REV:PATH (a
    file of a commit, branch, tag or registry alias). A malformed or hostile file is refused
    with one line naming the field and byte offset.

    --json prints {"path", "producer", "producer_version", "ir_version", "opsets":
    {DOMAIN: VERSION}, "inputs": [VALUE], "outputs": [VALUE], "operators": [{"domain",
    "op", "nodes", "supported"}], "runnable": BOOL, "not_runnable_because": TEXT or null,
    "initializers": N, "metadata": {KEY: VALUE}}, where VALUE is {"name", "kind" (tensor,
    sequence, map, optional), "type", "shape" ([size or name or null])}.

    predict, eval and serve run the models marked runnable (docs/onnx.md).

    Example:
      mlrepo model inspect models/churn.onnx
    """,
    flags: ["json": ["--json"]]
) { a, ctx in
    guard a.positional.first == "inspect" else { throw UsageError(message: "model takes a subcommand: inspect FILE") }
    guard a.positional.count == 2 else { throw UsageError(message: "model inspect takes one FILE") }
    let path = a.positional[1]
    // Errors name the file as it was given; REV:PATH reads the file from a commit.
    let full = path.hasPrefix("/") ? path : ctx.cwd + "/" + path
    let m: ONNXModel
    if FS.stat(full) == nil, path.contains(":"), let repo = try? ctx.repository() {
        let bytes: [UInt8]
        do { bytes = try ModelSource(target: path).readFromCommit(repo: repo).bytes } catch let e as ServeError { throw UserError(message: e.message) }
        m = try ONNXModel.decode(bytes, path: path)
    } else {
        if FS.stat(full)?.isRegular == true, let f = ModelFormat.detect(name: path, head: []), f != .onnx, f != .other {
            throw UserError(message: "\(path) is not an ONNX model (\(f.displayName)); model inspect reads ONNX files")
        }
        m = try ONNXModel.load(path: full, shownAs: path)
    }
    // Whether mlrepo runs it: the first reason the executor refuses it at load.
    var refusal: String? = nil
    do { _ = try ONNXProgram(m, path: path) } catch { refusal = "\(error)" }
    let support = ONNXProgram.operators(of: m)
    let g = m.graph
    func typeName(_ t: Int32?) -> String {
        guard let t else { return "?" }
        return ONNXElementType(rawValue: t)?.name ?? "type \(t)"
    }
    func dims(_ v: ONNXValueInfo) -> [JSON] {
        (v.shape ?? []).map {
            switch $0 {
            case .size(let n): return .int(n)
            case .symbol(let s): return .string(s)
            case .unknown: return .null
            }
        }
    }
    func kindName(_ k: ONNXValueInfo.Kind) -> String {
        switch k { case .tensor: "tensor"; case .sequence: "sequence"; case .map: "map"; case .optional: "optional"; case .other: "other" }
    }
    // Operators in first-use order, counted (computed once, linear in the nodes).
    let ops = support
    if a.has("json") {
        func value(_ v: ONNXValueInfo) -> JSON {
            var o: [String: JSON] = ["name": .string(v.name), "kind": .string(kindName(v.kind))]
            if v.kind == .tensor { o["type"] = .string(typeName(v.elementType)); o["shape"] = v.shape == nil ? .null : .array(dims(v)) }
            return .object(o)
        }
        var opsets: [String: JSON] = [:]
        for o in m.opsets { opsets[o.domain.isEmpty ? "ai.onnx" : o.domain] = .int(o.version) }
        let doc = JSON.object([
            "path": .string(path), "producer": .string(m.producerName), "producer_version": .string(m.producerVersion),
            "ir_version": .int(m.irVersion), "opsets": .object(opsets),
            "inputs": .array(g.feedInputs.map(value)), "outputs": .array(g.outputs.map(value)),
            "operators": .array(ops.map { o in .object(["domain": .string(o.domain.isEmpty ? "ai.onnx" : o.domain), "op": .string(o.op), "nodes": .int(Int64(o.nodes)),
                                                        "supported": .bool(o.supported)]) }),
            "runnable": .bool(refusal == nil), "not_runnable_because": refusal.map { .string($0) } ?? .null,
            "initializers": .int(Int64(g.initializers.count)),
            "metadata": .object(m.metadata.mapValues { .string($0) }),
        ])
        ctx.out.line(doc.encoded(pretty: true))
        return 0
    }
    func line(_ v: ONNXValueInfo) -> String {
        guard v.kind == .tensor else { return "  \(Quote.controls(v.name))  \(kindName(v.kind))" }
        let shape = v.shape.map { s in "[" + s.map { d -> String in
            switch d { case .size(let n): "\(n)"; case .symbol(let s): Quote.controls(s); case .unknown: "?" }
        }.joined(separator: ", ") + "]" } ?? "(no shape)"
        return "  \(Quote.controls(v.name))  \(typeName(v.elementType)) \(shape)"
    }
    ctx.out.line("\(Quote.path(path)): ONNX IR \(m.irVersion), produced by \(m.producerName.isEmpty ? "(unknown)" : Quote.controls(m.producerName + (m.producerVersion.isEmpty ? "" : " " + m.producerVersion)))")
    ctx.out.line("opsets: " + m.opsets.map { "\($0.domain.isEmpty ? "ai.onnx" : Quote.controls($0.domain)) \($0.version)" }.joined(separator: ", "))
    ctx.out.line("inputs:")
    for v in g.feedInputs { ctx.out.line(line(v)) }
    ctx.out.line("outputs:")
    for v in g.outputs { ctx.out.line(line(v)) }
    ctx.out.line("operators (\(g.nodes.count) nodes):")
    for o in ops {
        ctx.out.line("  \(o.domain.isEmpty ? "" : Quote.controls(o.domain) + ".")\(Quote.controls(o.op))  ×\(o.nodes)  \(o.supported ? "supported" : "NOT SUPPORTED")")
    }
    ctx.out.line("constant tensors: \(g.initializers.count)")
    for (k, v) in m.metadataProps { ctx.out.line("metadata \(Quote.controls(k)): \(Quote.controls(v))") }
    if let refusal { ctx.out.line("runnable: no: \(Quote.controls(refusal))") }
    else { ctx.out.line("runnable: yes (mlrepo predict, eval and serve run it)") }
    return 0
}
