import Compute
import ComputeGPU
import Store
import Support

/// Overrides of a built-in stage's run, from the command line.
public struct RunOptions: Sendable {
    public var backend: String?
    public var threads: Int?
    public var seed: UInt64?
    /// Where CUDA is, for the GPU backend (the CLI builds it from the environment).
    public var gpu: GPUSettings
    public init(backend: String? = nil, threads: Int? = nil, seed: UInt64? = nil, gpu: GPUSettings = GPUSettings()) {
        self.backend = backend; self.threads = threads; self.seed = seed; self.gpu = gpu
    }
}

/// What a built-in stage adds to its lineage record.
struct BuiltinOutcome {
    var environment: [String: JSON]
    var note: String?
}

extension Project {
    /// The implicit dependencies of a built-in stage: its data (and, for eval, its model).
    static func builtinDeps(_ kind: String, _ spec: JSON) -> [String] {
        var out: [String] = []
        if kind == "eval", let m = spec["model"]?.stringValue { out.append(m) }
        if let d = spec["data"]?.stringValue { out.append(d) }
        return out
    }
}

/// Runs a built-in `train` or `eval` stage with `root` as the working folder (the work
/// tree, or a scratch copy when verifying). Writes the stage's outputs.
func runBuiltinStage(_ kind: String, _ spec: JSON, stage: Stage, root: String, options: RunOptions) throws -> BuiltinOutcome {
    func fail(_ m: String) -> MLError { .stage(stage.name, reason: m) }
    func path(_ key: String) throws -> String {
        guard let p = spec[key]?.stringValue, !p.isEmpty else { throw fail("the built-in \(kind) needs \"\(key)\"") }
        return root + "/" + p
    }
    let requested = options.backend ?? spec["backend"]?.stringValue
    let (backend, autoNote) = try BackendRegistry.make(requested ?? "auto", threads: options.threads, gpu: options.gpu)
    // The choice is always in the lineage record; it is said out loud when asked for.
    let note = requested == nil ? nil : autoNote
    var env: [String: JSON] = ["backend": .string(backend.kind), "device": .string(backend.deviceName),
                               "threads": .int(Int64(backend.threads))]
    for (k, v) in backend.environment { env[k] = .string(v) }
    switch kind {
    case "train":
        guard let out = stage.outs.first?.path else { throw fail("a train stage needs \"outs\": [\"models/NAME.mlmodel\"]") }
        guard let typeName = spec["model"]?.stringValue else { throw fail("the built-in train needs \"model\" (one of \(ModelType.allCases.map(\.rawValue).joined(separator: ", ")))") }
        let type = try ModelType.parse(typeName)
        let label = spec["label"]?.stringValue
        if type.needsLabel && label == nil { throw fail("\(typeName) needs \"label\": the name of the label column") }
        let features = spec["features"]?.arrayValue?.compactMap(\.stringValue)
        var data: Dataset
        let readStart = Clock.monotonic()
        do { data = try DatasetReader.readCSV(path: try path("data"), label: type.needsLabel ? label : nil, features: features, threads: backend.threads) }
        catch let e as DatasetError { throw MLError.data(e) }
        let seed = options.seed ?? spec["seed"].flatMap { $0.doubleValue }.map { UInt64(max(0, $0)) } ?? 0
        env["seed"] = .int(Int64(bitPattern: seed))
        let params = spec["params"]?.objectValue ?? [:]
        let readSeconds = Clock.monotonic() - readStart
        let result = try trainModel(type, data: &data, params: params, seed: seed, backend: backend)
        try backend.checkError()
        // Where the time went (not part of any output file).
        var phases: [String: JSON] = ["read_s": .number((readSeconds * 1000).rounded() / 1000)]
        for (k, v) in result.timings { phases[k] = .number((v * 1000).rounded() / 1000) }
        env["phases"] = .object(phases)
        var model = result.model
        model.header["trained_with"] = .object(["backend": .string(backend.kind), "device": .string(backend.deviceName)])
        try FS.atomicWrite(root + "/" + out, model.encode(), durable: false, inWorkTree: true)
        if let m = stage.metrics.first?.path {
            var metrics = result.metrics
            metrics["model"] = .string(typeName)
            try FS.atomicWrite(root + "/" + m, text: JSON.object(metrics).encoded(pretty: true) + "\n", durable: false, inWorkTree: true)
        }
    case "eval":
        guard let out = stage.metrics.first?.path else { throw fail("an eval stage needs \"metrics\": [\"metrics/NAME.json\"]") }
        // Any model mlrepo runs: its own .mlmodel files and ONNX (an ONNX model's label column
        // comes from "label", else from its metadata).
        let modelPath = try path("model"), dataPath = try path("data")
        let label = spec["label"]?.stringValue
        let metrics: [String: JSON]
        switch try LoadedModel.read(path: modelPath, shownAs: spec["model"]?.stringValue ?? modelPath, label: label) {
        case .builtin(let model):
            metrics = try evaluate(model, csv: dataPath, backend: backend)
        case .onnx(let scorer):
            metrics = try scorer.evaluate(csv: dataPath, shownAs: spec["data"]?.stringValue ?? dataPath, label: label,
                                          threads: backend.threads, backend: backend)
        }
        try FS.atomicWrite(root + "/" + out, text: JSON.object(metrics).encoded(pretty: true) + "\n", durable: false, inWorkTree: true)
    default:
        throw fail("unknown built-in '\(kind)'")
    }
    return BuiltinOutcome(environment: env, note: note)
}

/// Metrics of a model on a labelled CSV (the eval contract's keys; see EvalMetrics).
public func evaluate(_ model: ModelFile, csv: String, backend: any Backend) throws -> [String: JSON] {
    var data = try readForModel(model, csv: csv, threads: backend.threads)
    let type = try ModelType.parse(model.type)
    // Clustering metrics need the rows after scoring (silhouette); the others let predict
    // consume them.
    let p = type.task == "clustering" ? try predict(model, features: data.features, rows: data.rows, backend: backend)
                                      : try predict(model, taking: &data.features, rows: data.rows, backend: backend)
    switch type.task {
    case "classification":
        guard let label = data.label else { throw MLError.data(DatasetError(path: csv, "has no label column '\(model.header["label"]?.stringValue ?? "")' to evaluate against")) }
        let classes = model.classes ?? []
        var index: [String: Int32] = [:]
        for (i, c) in classes.enumerated() { index[c] = Int32(i) }
        var truth: [Int32] = []
        switch label {
        case .categorical(let codes, let names):
            truth = try codes.map { c in
                guard let i = index[names[Int(c)]] else { throw MLError.data(DatasetError(path: csv, "has label '\(names[Int(c)])', which is not a class the model knows (\(classes.joined(separator: ", ")))")) }
                return i
            }
        case .numeric(let values):
            truth = try values.map { v in
                let name = v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
                guard let i = index[name] else { throw MLError.data(DatasetError(path: csv, "has label \(name), which is not a class the model knows (\(classes.joined(separator: ", ")))")) }
                return i
            }
        }
        return EvalMetrics.classification(yTrue: truth, yPred: p.labels ?? [], probabilities: p.probabilities, classes: classes)
    case "regression":
        guard let label = data.label, case .numeric(let y) = label else {
            throw MLError.data(DatasetError(path: csv, "has no numeric label column '\(model.header["label"]?.stringValue ?? "")' to evaluate against"))
        }
        return EvalMetrics.regression(yTrue: y, yPred: p.values ?? [])
    case "clustering":
        let c = model.tensor("centers")!
        return EvalMetrics.clustering(x: data.features, rows: data.rows, cols: data.cols, assignments: p.labels ?? [],
                                      centers: c.values, k: c.rows, seed: 0)
    default:
        return ["explained_variance_ratio": model.header["explained_variance_ratio"] ?? .array([]), "n": .int(Int64(data.rows))]
    }
}

extension MLRepo {
    /// Runs built-in stage `name` as commit `commit` defines it, on that commit's own files,
    /// in a scratch copy. Returns the outputs' contents by path (the caller decides where
    /// they go) and the backend note. Nothing is recorded: the inputs are the commit's, not
    /// the work tree's.
    public func runBuiltin(stage name: String, at commit: ObjectId) throws -> (outputs: [(path: String, bytes: [UInt8])], note: String?) {
        let c = try repo.readCommit(commit)
        guard let project = try project(in: repo.flatten(c.tree), label: commit.short) else {
            throw MLError.revision(commit.short, reason: "has no \(Project.fileName)")
        }
        guard let stage = project.stages[name] else { throw MLError.revision(commit.short, reason: "has no stage '\(name)'") }
        guard case .builtin(let kind, let spec) = stage.action else { throw MLError.revision(commit.short, reason: "has stage '\(name)', but it runs a command, not a built-in train or eval") }
        let scratch = try FS.makeTempDirectory(prefix: "mlrepo-rev-")
        defer { FS.removeTree(scratch) }
        try repo.export(tree: c.tree, to: scratch)
        for o in stage.outputs { FS.removeTree(scratch + "/" + o.path) }
        for o in stage.outputs {
            let d = Path.dirname(o.path)
            if d != "." && !d.isEmpty { try FS.mkdirs(scratch + "/" + d) }
        }
        let outcome = try runBuiltinStage(kind, spec, stage: stage, root: scratch, options: runOptions)
        var outputs: [(String, [UInt8])] = []
        for o in stage.outputs where FS.stat(scratch + "/" + o.path)?.isRegular == true {
            outputs.append((o.path, try FS.readFile(scratch + "/" + o.path)))
        }
        return (outputs, outcome.note)
    }
}
