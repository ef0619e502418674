#if canImport(Glibc)
import Glibc
#endif
import Compute
import ComputeGPU
import ML
import Serve
import Store
import Support

/// The built-in stages of a kind ("train" or "eval") in the work tree's project.
func builtinStage(_ ml: MLRepo, kind: String, named: String?) throws -> Stage {
    let project = try ml.requireProject()
    let matching = project.order.filter { n in
        if case .builtin(let k, _) = project.stages[n]!.action { return k == kind }
        return false
    }
    if let named {
        guard let s = project.stages[named] else { _ = try project.closure(of: [named]); throw UserError(message: "no stage '\(named)'") }
        guard matching.contains(named) else { throw UserError(message: "stage '\(named)' is not a built-in \(kind) stage") }
        return s
    }
    guard matching.count == 1 else {
        throw UserError(message: matching.isEmpty ? "mlrepo.json has no built-in \(kind) stage ({\"\(kind)\": {...}})"
                                                  : "several \(kind) stages (\(matching.joined(separator: ", "))); name one")
    }
    return project.stages[matching[0]]!
}

/// A --backend value, checked.
func backendName(_ b: String) throws -> String {
    guard BackendRegistry.names.contains(b) else { throw UsageError(message: "--backend takes cpu, gpu or auto") }
    return b
}

func runOptions(_ a: Args) throws -> RunOptions {
    var o = RunOptions(gpu: Settings.gpu)
    if let b = a.value("backend") {
        o.backend = try backendName(b)
    }
    if let t = try a.int("threads") { guard t >= 1 else { throw UsageError(message: "--threads takes a number ≥ 1") }; o.threads = t }
    if let s = a.value("seed") { guard let v = UInt64(s) else { throw UsageError(message: "--seed takes a non-negative whole number") }; o.seed = v }
    return o
}

let trainCommand = Command(
    name: "train", kind: .porcelain, summary: "train a built-in model stage and record its lineage",
    usage: """
    mlrepo train [STAGE] [--json] [--rev REV] [--backend cpu|gpu|auto] [--threads N] [--seed N] [--commit -m MSG]
    mlrepo train --verify REV [--json]

    Runs the built-in train stage STAGE of mlrepo.json (the only one when not named):
    {"train": {"model": TYPE, "data": "train.csv", "label": "y", "params": {...}, "seed": 0,
    "backend": "auto"}, "outs": ["models/m.mlmodel"], "metrics": ["metrics/train.json"]}.
    TYPE: linear_regression, ridge, logistic_regression, mlp_classifier, mlp_regressor, kmeans, pca.
    The model file goes to the first out; training metrics (loss curve summary) to the first
    metrics file. The run is recorded like any stage (inputs with ids, params, seed, backend,
    device, threads); --commit commits it. The same commit, seed and backend give the same
    model file, bit for bit, whatever --threads (on a GPU: on the same GPU model).
    Prints a summary: the model type, the rows it trained on, the final loss (or the model's
    key training metrics), where the model and the metrics file went. --json prints the
    metrics file instead (all training metrics, with the loss curve) as the only stdout;
    progress and the new commit id (with --commit) go to stderr then.
    --rev REV trains the stage as REV defines it on REV's own data (in a scratch copy) and
    writes the model into the work tree, without recording a run (with --json:
    {"rev", "commit", "stage", "wrote": [PATH]}).
    --verify REV re-trains the stages of REV from REV's own data in a scratch copy and reports
    each output "bit-identical" or how it differs (max weight difference, metric deltas).
    """,
    flags: ["json": ["--json"], "commit": ["--commit"]],
    options: ["backend": ["--backend"], "threads": ["--threads", "-j"], "seed": ["--seed"],
              "message": ["-m", "--message"], "verify": ["--verify"], "rev": ["--rev", "-r"]]
) { a, ctx in
    let ml = try ctx.ml()
    ml.runOptions = try runOptions(a)
    if let rev = a.value("verify") {
        let commit = try ml.repo.resolveCommit(rev)
        let isTrainer: (StageAction) -> Bool = { if case .builtin("train", _) = $0 { return true }; return false }
        let report = try ml.verify(commit: commit, only: isTrainer, events: a.has("json") ? { _ in } : pipelinePrinter(ctx))
        printVerify(report, json: a.has("json"), ctx)
        return report.identical ? 0 : 1
    }
    guard a.positional.count <= 1 else { throw UsageError(message: "train takes at most one stage name") }
    if let rev = a.value("rev") {
        // REV's stage on REV's data, in a scratch copy; the model lands in the work tree.
        let commit = try ml.repo.resolveCommit(rev)
        let name = try a.positional.first ?? builtinStageName(ml, kind: "train", at: commit)
        let r = try ml.runBuiltin(stage: name, at: commit)
        if let note = r.note { ctx.err.line("note: \(note)") }
        for (path, bytes) in r.outputs {
            try FS.mkdirs(Path.dirname(ml.repo.fullPath(path)))
            try FS.atomicWrite(ml.repo.fullPath(path), bytes, durable: false, inWorkTree: true)
            (a.has("json") ? ctx.err : ctx.out).line("wrote \(Quote.path(path)) (trained on \(rev)'s data; not recorded: run 'mlrepo train' to record a run)")
        }
        if a.has("json") {
            ctx.out.line(JSON.object(["rev": .string(rev), "commit": .string(commit.hex), "stage": .string(name),
                                      "wrote": .array(r.outputs.map { .string($0.path) })]).encoded(pretty: true))
        }
        return 0
    }
    let stage = try builtinStage(ml, kind: "train", named: a.positional.first)
    let json = a.has("json")
    let code = try stagesOutputToStderr(json, ctx) { try stageStatus(ctx) { try ml.run(stage: stage.name, events: pipelinePrinter(ctx)) } }
    guard code == 0 else { return code }
    let metricsPath = stage.metrics.first?.path
    let text = metricsPath.flatMap { try? ml.workText($0) }
    if json { ctx.out.write(text ?? "{}\n") }
    else { printTrainSummary(stage, metrics: text.flatMap { try? JSON.parse($0) }?.objectValue, metricsPath: metricsPath, ctx) }
    let message = a.values("message").isEmpty ? nil : a.values("message").joined(separator: "\n\n")
    if a.has("commit") || message != nil {
        guard let message, a.has("commit") else { throw UsageError(message: "use --commit -m MSG to commit the run") }
        let r = try ml.commit(message: message)
        if json { ctx.err.line("committed \(r.id.hex)") } else { ctx.out.line(r.id.hex) }
    }
    return 0
}

let evalCommand = Command(
    name: "eval", kind: .porcelain, summary: "evaluate a model: metrics for metrics diff",
    usage: """
    mlrepo eval [STAGE] [--rev REV] [--json] [--backend B] [--threads N]
    mlrepo eval --model MODEL --data CSV [--label COLUMN] [--json]

    With a stage ({"eval": {"model": "models/m.mlmodel", "data": "test.csv"}, "metrics":
    ["metrics/eval.json"]}): runs it, writes the metrics file and records the run. --rev REV
    evaluates REV's model on REV's data and prints the metrics (nothing is written). With
    --model and --data: prints the metrics; MODEL is a file (.mlmodel or .onnx) or REV:PATH;
    an ONNX model's label column is --label, else the one its training data's lineage or
    its metadata names. Keys: accuracy, precision_macro, recall_macro,
    f1_macro, log_loss, roc_auc (binary), confusion_matrix for classifiers; rmse, mae, r2 for
    regressors; inertia, silhouette for k-means; explained_variance_ratio for PCA.
    Prints a summary (the model, the data, one metric a line); --json prints the metrics as
    one JSON object instead, the only thing on stdout.
    """,
    flags: ["json": ["--json"]],
    options: ["backend": ["--backend"], "threads": ["--threads", "-j"], "model": ["--model"], "data": ["--data"], "rev": ["--rev", "-r"],
              "label": ["--label"]]
) { a, ctx in
    let opts = try runOptions(a)
    if a.value("label") != nil && a.value("model") == nil { throw UsageError(message: "--label goes with --model MODEL --data CSV") }
    if a.value("model") != nil || a.value("data") != nil {
        guard let m = a.value("model"), let d = a.value("data") else { throw UsageError(message: "give both --model and --data") }
        let (backend, note) = try BackendRegistry.make(opts.backend ?? "auto", threads: opts.threads, gpu: opts.gpu)
        if let note, opts.backend != nil { ctx.err.line("note: \(note)") }
        let dataPath = d.hasPrefix("/") ? d : Path.join(ctx.cwd, d)
        let loaded = try loadModelArgument(m, ctx)
        let metrics: [String: JSON]
        switch loaded {
        case .builtin(let model):
            if a.value("label") != nil { throw UsageError(message: "--label is for ONNX models; an .mlmodel knows its label column") }
            metrics = try evaluate(model, csv: dataPath, backend: backend)
        case .onnx(let scorer):
            metrics = try scorer.evaluate(csv: dataPath, shownAs: d, label: a.value("label"), threads: backend.threads, backend: backend)
        }
        if a.has("json") { ctx.out.line(JSON.object(metrics).encoded(pretty: true)); return 0 }
        ctx.out.line("Evaluated \(Quote.controls(loaded.typeName)) model \(Quote.path(m)) on \(Quote.path(d))")
        printMetricLines(metrics, ctx)
        return 0
    }
    let ml = try ctx.ml()
    ml.runOptions = opts
    guard a.positional.count <= 1 else { throw UsageError(message: "eval takes at most one stage name") }
    if let rev = a.value("rev") {
        // REV's evaluation of REV's model on REV's data, printed.
        let commit = try ml.repo.resolveCommit(rev)
        let name = try a.positional.first ?? builtinStageName(ml, kind: "eval", at: commit)
        let r = try ml.runBuiltin(stage: name, at: commit)
        for (_, bytes) in r.outputs {
            let text = String(decoding: bytes, as: UTF8.self)
            if a.has("json") { ctx.out.write(text); continue }
            ctx.out.line("Evaluated \(rev)'s model on \(rev)'s data (stage \(Quote.controls(name)); nothing written)")
            printMetricLines((try? JSON.parse(text))?.objectValue ?? [:], ctx)
        }
        return 0
    }
    let stage = try builtinStage(ml, kind: "eval", named: a.positional.first)
    let json = a.has("json")
    let code = try stagesOutputToStderr(json, ctx) { try stageStatus(ctx) { try ml.run(stage: stage.name, events: json ? { _ in } : pipelinePrinter(ctx)) } }
    guard code == 0 else { return code }
    guard let m = stage.metrics.first?.path, let text = try? ml.workText(m) else { return 0 }
    if json { ctx.out.write(text); return 0 }
    var model = "the model", data = "the data"
    if case .builtin(_, let spec) = stage.action {
        model = spec["model"]?.stringValue.map(Quote.path) ?? model
        data = spec["data"]?.stringValue.map(Quote.path) ?? data
    }
    ctx.out.line("Evaluated \(model) on \(data) (stage \(Quote.controls(stage.name)))")
    printMetricLines((try? JSON.parse(text))?.objectValue ?? [:], ctx)
    ctx.out.line("Metrics written to \(Quote.path(m)); --json prints them.")
    return 0
}

/// `train`'s default output: what was trained on how many rows, the final loss or the
/// model's key training metrics, and where the model and the metrics file went.
func printTrainSummary(_ stage: Stage, metrics: [String: JSON]?, metricsPath: String?, _ ctx: Context) {
    var type = metrics?["model"]?.stringValue
    if type == nil, case .builtin(_, let spec) = stage.action { type = spec["model"]?.stringValue }
    let rows = metrics?["rows"]?.doubleValue.map { " on \(fmtStat($0)) rows" } ?? ""
    let out = stage.outs.first.map { " -> \(Quote.path($0.path))" } ?? ""
    ctx.out.line("Trained \(Quote.controls(type ?? "a model")) (stage \(Quote.controls(stage.name)))\(rows)\(out)")
    guard let metrics else { return }
    var m = metrics
    if let last = m["loss_last"] {
        // The final loss, with where it started.
        m["final loss"] = m["loss_first"].map { .string(summaryValue(last) + " (first " + summaryValue($0) + ")") } ?? last
    }
    printMetricLines(m, skip: ["model", "rows", "loss_curve", "loss_curve_step", "loss_first", "loss_last", "loss_min"], ctx)
    if let p = metricsPath { ctx.out.line("Training metrics written to \(Quote.path(p)); --json prints them with the loss curve.") }
}

/// Metrics one a line, sorted by name: numbers shortened, short arrays inline.
func printMetricLines(_ m: [String: JSON], skip: Set<String> = [], _ ctx: Context) {
    let keys = m.keys.filter { !skip.contains($0) }.sorted()
    let width = (keys.map(\.count).max() ?? 0) + 1
    for k in keys { ctx.out.line("  " + Quote.controls(k + ":").padding(width) + " " + summaryValue(m[k]!)) }
}

/// A metric value for people: numbers to about four significant digits, arrays of up to
/// 40 values inline ("[[12, 0], [1, 11]]"), bigger ones counted.
func summaryValue(_ v: JSON) -> String {
    func leaves(_ v: JSON) -> Int {
        switch v {
        case .array(let a): return a.reduce(0) { $0 + leaves($1) }
        case .object(let o): return o.values.reduce(0) { $0 + leaves($1) }
        default: return 1
        }
    }
    switch v {
    case .number(let d): return fmtStat(d)
    case .int(let i): return String(i)
    case .string(let s): return Quote.controls(s)
    case .array(let a):
        let n = leaves(v)
        return n <= 40 ? "[" + a.map(summaryValue).joined(separator: ", ") + "]" : "(\(n) values; --json shows them)"
    case .object:
        let n = leaves(v)
        return n <= 40 ? Quote.controls(v.encoded()) : "(\(n) values; --json shows them)"
    default: return v.display()
    }
}

let predictCommand = Command(
    name: "predict", kind: .porcelain, summary: "score a CSV with a model (.mlmodel or ONNX)",
    usage: """
    mlrepo predict MODEL --data CSV [--out CSV] [--probabilities] [--label COLUMN] [--backend B] [--threads N]

    MODEL is a model file (.mlmodel or .onnx) or REV:PATH (a file of a commit, branch, tag
    or registry alias). Reads the model's feature columns from CSV by name (the label column,
    if present, is ignored; any other extra column is an error), applies the model's
    standardization and writes one row per input row: "prediction" (class name, number or
    cluster id; PCA: pc1..pcK), plus one "p_CLASS" column per class with --probabilities. To
    stdout unless --out.
    ONNX models (docs/onnx.md): a model with one float matrix input reads the features its
    metadata names, else the header of its training data (found through lineage), else the
    CSV's columns in order without --label COLUMN (their count checked); a model with one
    input per column reads each input from the column of its name (string inputs take text).
    A first output of several numbers a row is written as prediction_0, prediction_1, ….
    Other formats (pickle, PyTorch, …) are refused with the export that makes them runnable.
    """,
    flags: ["probabilities": ["--probabilities", "-p"]],
    options: ["data": ["--data"], "out": ["--out", "-o"], "backend": ["--backend"], "threads": ["--threads", "-j"], "label": ["--label"]]
) { a, ctx in
    guard a.positional.count == 1 else { throw UsageError(message: "predict takes one model file") }
    guard let data = a.value("data") else { throw UsageError(message: "--data CSV is required") }
    let opts = try runOptions(a)
    let (backend, note) = try BackendRegistry.make(opts.backend ?? "auto", threads: opts.threads, gpu: opts.gpu)
    if let note, opts.backend != nil { ctx.err.line("note: \(note)") }
    let abs = { (p: String) in p.hasPrefix("/") ? p : Path.join(ctx.cwd, p) }
    let loaded = try loadModelArgument(a.positional[0], ctx)
    var out = ""
    func cell(_ s: String) -> String { s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replacingOccurrences("\"", "\"\"") + "\"" : s }
    let rowCount: Int
    switch loaded {
    case .builtin(let model):
        if a.value("label") != nil { throw UsageError(message: "--label is for ONNX models; an .mlmodel knows its label column") }
        var rows = try readForModel(model, csv: abs(data), threads: backend.threads, withLabel: false)
        rowCount = rows.rows
        let p = try predict(model, taking: &rows.features, rows: rows.rows, backend: backend)
        let classes = model.classes ?? []
        if let comps = p.components {
            out += (1...max(1, p.componentCount)).map { "pc\($0)" }.joined(separator: ",") + "\n"
            for i in 0..<rows.rows { out += (0..<p.componentCount).map { "\(comps[i * p.componentCount + $0])" }.joined(separator: ",") + "\n" }
        } else if let values = p.values {
            out += "prediction\n"
            for v in values { out += "\(v)\n" }
        } else if let labels = p.labels {
            let probs = a.has("probabilities") ? p.probabilities : nil
            out += "prediction" + (probs != nil ? "," + classes.map { cell("p_" + $0) }.joined(separator: ",") : "") + "\n"
            for i in 0..<rows.rows {
                out += classes.isEmpty ? "\(labels[i])" : cell(classes[Int(labels[i])])
                if let probs { for c in 0..<classes.count { out += ",\(probs[i * classes.count + c])" } }
                out += "\n"
            }
        }
    case .onnx(let scorer):
        let p = try scorer.scoreCSV(path: abs(data), shownAs: data, label: a.value("label"), threads: backend.threads, backend: backend).prediction
        rowCount = p.rows
        if p.labels != nil {
            let probs = a.has("probabilities") ? p.probabilities : nil
            let c = p.classes.count
            out += "prediction" + (probs != nil ? "," + p.classes.map { cell("p_" + $0) }.joined(separator: ",") : "") + "\n"
            for i in 0..<p.rows {
                out += cell(p.label(i) ?? "")
                if let probs { for j in 0..<c { out += ",\(probs[i * c + j])" } }
                out += "\n"
            }
        } else {
            let v = p.values ?? [], k = max(1, p.valueWidth)
            out += (k == 1 ? "prediction" : (0..<k).map { "prediction_\($0)" }.joined(separator: ",")) + "\n"
            func num(_ d: Double) -> String { let f = Float(d); return Double(f) == d ? "\(f)" : "\(d)" }
            for i in 0..<p.rows { out += (0..<k).map { num(v[i * k + $0]) }.joined(separator: ",") + "\n" }
        }
    }
    if let o = a.value("out") {
        try FS.atomicWrite(abs(o), text: out, durable: false, inWorkTree: true)
        ctx.err.line("wrote \(rowCount) prediction(s) to \(o)")
    } else { ctx.out.write(out) }
    return 0
}

/// The model MODEL names for predict and eval: a file (any format; the ones mlrepo cannot
/// run are refused with their export) or REV:PATH. An ONNX file in a repository gets its
/// feature names from its training data's lineage when its metadata has none.
func loadModelArgument(_ arg: String, _ ctx: Context) throws -> LoadedModel {
    let full = arg.hasPrefix("/") ? arg : Path.join(ctx.cwd, arg)
    let isFile = FS.stat(full) != nil
    let repo = try? ctx.repository()
    if isFile, ModelFormat.detect(name: arg, head: []) != .onnx || repo == nil {
        return try LoadedModel.read(path: full, shownAs: arg)
    }
    if isFile || arg.contains(":"), let repo {
        do { return try ModelSource(target: arg).load(repo: repo, cwd: ctx.cwd).loaded } catch let e as ServeError {
            throw UserError(message: e.message)
        }
    }
    if !isFile && arg.contains(":") && repo == nil {
        throw UserError(message: "'\(arg)' does not exist (and there is no mlrepo repository here to read REV:PATH from)")
    }
    return try LoadedModel.read(path: full, shownAs: arg)
}

/// The only built-in stage of `kind` in a commit's project.
func builtinStageName(_ ml: MLRepo, kind: String, at commit: ObjectId) throws -> String {
    guard let project = try ml.project(in: ml.repo.flatten(ml.repo.readCommit(commit).tree), label: commit.short) else {
        throw UserError(message: "commit \(commit.short) has no mlrepo.json")
    }
    let names = project.order.filter { if case .builtin(let k, _) = project.stages[$0]!.action { return k == kind }; return false }
    guard names.count == 1 else {
        throw UserError(message: names.isEmpty ? "commit \(commit.short) has no built-in \(kind) stage" : "commit \(commit.short) has several \(kind) stages (\(names.joined(separator: ", "))); name one")
    }
    return names[0]
}
