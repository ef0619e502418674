import ML
import Store
import Support

let promoteCommand = Command(
    name: "promote", kind: .porcelain, summary: "move a model version to a registry alias, after checks",
    usage: """
    mlrepo promote MODEL_PATH[@REV] --to ALIAS [--require 'METRIC OP VALUE'...] [-m NOTE] [--no-lineage]

    Points ALIAS (e.g. staging, production) at MODEL_PATH as committed in REV (default HEAD),
    recording who, when, from which commit, the model's format and size, its signature
    where mlrepo reads it, and which checks passed.

    MODEL_PATH is any model artifact: a file of a recognised format (.mlmodel, .onnx, .pkl,
    .joblib, .pt/.pth, .safetensors, .keras, .h5, LightGBM and XGBoost model files), or a file
    or folder of kind model (mlrepo add --kind model PATH, or a stage output of kind model).
    A folder is promoted as a unit: its tree id is the model id. Any other path is refused,
    naming its kind. For .mlmodel and .onnx files the signature (inputs and outputs with
    types and shapes) is recorded; a file of those formats that does not decode is still
    promoted, with a warning and the reason recorded instead of the signature.

    Refused, naming the failing check, when a required metric is missing or fails (OP: >=,
    <=, >, <, ==, !=; METRIC may be FILE:KEY), or when the model's lineage is incomplete (no
    recorded run produced it, or its training data is not in the store). Checks read only
    the model's own evaluation, found through lineage: the metrics files written by the run
    that produced this version, and by runs that read it (an eval stage), as REV holds
    them; a FILE:KEY naming any other metrics file is refused as not an evaluation of this
    model. Each check records the file and key it read, the value and the threshold.

    --no-lineage promotes a model that no recorded run produced: one trained by a script
    outside mlrepo and added with `mlrepo add` (its lineage is neither required nor
    checked; the record says so, "lineage_checked": false, and `registry log` shows it).
    Gates still read only the model's own evaluation: an eval stage that read this version.

    The alias keeps its history (mlrepo registry log ALIAS); `mlrepo serve ALIAS` serves
    what it points to.
    """,
    flags: ["no-lineage": ["--no-lineage"]],
    options: ["to": ["--to"], "require": ["--require", "-r"], "message": ["-m", "--message"]]
) { a, ctx in
    guard a.positional.count == 1 else { throw UsageError(message: "promote takes one MODEL_PATH[@REV]") }
    guard let alias = a.value("to") else { throw UsageError(message: "--to ALIAS is required") }
    let spec = a.positional[0]
    var path = spec, rev = "HEAD"
    if let at = spec.lastIndex(of: "@"), at != spec.startIndex { path = String(spec[..<at]); rev = String(spec[spec.index(after: at)...]) }
    let ml = MLRepo(try ctx.repository())
    let rel = try ctx.rel(path)
    let checks = try a.values("require").map { try MetricCheck.parse($0) }
    let p = try ml.promote(path: rel, rev: rev, alias: alias, require: checks, note: a.value("message"),
                           checkLineage: !a.has("no-lineage"))
    if let why = p.signatureError { ctx.err.line("warning: no signature recorded for \(Quote.path(p.path)): \(Quote.controls(why))") }
    ctx.out.line("\(alias) -> \(Quote.path(p.path))@\(p.commit.prefix(12)) (model \(p.modelId.prefix(12)), \(RegistryText.formatAndSize(p)))"
        + (p.checks.isEmpty ? "" : "; checks passed: \(p.checks.map(RegistryText.check).joined(separator: ", "))"))
    if let s = p.signature { ctx.out.line("  " + Quote.controls(s.compact())) }
    return 0
}

/// How registry output shows a promotion's parts.
enum RegistryText {
    static func number(_ x: Double) -> String { JSON.number(x).encoded() }

    /// `eval.json:accuracy=0.97 (>=0.9)`; older records: `accuracy>=0.9 (0.97)`.
    static func check(_ c: JSON) -> String {
        if let f = c["file"]?.stringValue, let k = c["key"]?.stringValue, let op = c["op"]?.stringValue,
           let t = c["threshold"]?.doubleValue, let v = c["value"]?.doubleValue {
            return Quote.controls("\(f):\(k)=\(number(v)) (\(op)\(number(t)))")
        }
        return Quote.controls((c["check"]?.stringValue ?? "?") + (c["value"]?.doubleValue.map { " (\(number($0)))" } ?? ""))
    }

    /// `onnx, 1.2 KiB`; a record from before formats were recorded: `format not recorded`.
    static func formatAndSize(_ p: Promotion) -> String {
        guard let f = p.format else { return "format not recorded" }
        return Quote.controls(f) + (p.size.map { ", \(formatBytes($0))" } ?? "")
    }

    /// The lines under a promotion: format and size, signature, checks, note, and an ONNX
    /// model's training statistics (or why drift monitoring is off).
    static func details(_ p: Promotion, indent: String) -> [String] {
        var out = [indent + formatAndSize(p) + (p.signature.map { "; " + Quote.controls($0.compact()) } ?? "")]
        if let why = p.signatureError { out.append(indent + "no signature: " + Quote.controls(why)) }
        if !p.checks.isEmpty { out.append(indent + "checks: " + p.checks.map(check).joined(separator: ", ")) }
        if let n = p.note { out.append(indent + Quote.controls(n)) }
        if let id = p.trainingStats { out.append(indent + "training statistics: " + id.short) }
        if let why = p.trainingStatsOff { out.append(indent + "drift monitoring off: " + Quote.controls(why)) }
        if !p.lineageChecked { out.append(indent + "lineage not checked (promoted with --no-lineage)") }
        return out
    }

    /// A promotion for --json: the record's fields (less "type") and "promotion", the id of
    /// the promotion commit.
    static func json(_ p: Promotion) -> JSON {
        var o = p.json.objectValue ?? [:]
        o["type"] = nil
        o["promotion"] = .string(p.id.hex)
        return .object(o)
    }
}

let registryCommand = Command(
    name: "registry", kind: .porcelain, summary: "list models, versions and aliases; show an alias's history",
    usage: """
    mlrepo registry [--json]
    mlrepo registry log ALIAS [--json]

    The model registry: model artifacts, their versions, and the aliases (staging,
    production, …) that `mlrepo promote` points at one of them.

    registry          every model in the history of any branch (a file of a recognised
                      format, a file or folder of kind model, or a path an alias points at),
                      with its versions oldest as v1: the model id, the first commit that
                      has it, that commit's time (UTC), its format and size, and the aliases
                      pointing at it in [brackets]; then each alias: what it points at, its
                      format, size and signature, and the checks that passed
    registry log ALIAS
                      every promotion of ALIAS, newest first: when (UTC), the model path
                      @ commit, the model id, who promoted it; then its format and size,
                      its signature (in: NAME TYPE[SHAPE]…  out: …), the checks that passed
                      (FILE:KEY=VALUE (OP THRESHOLD)), the note (-m), and for an ONNX
                      model "training statistics: ID" or "drift monitoring off: WHY"

    --json: registry prints
      {"models": [{"path", "versions": [{"model", "commit", "time", "format", "size",
                                         "aliases": [ALIAS]}]}],
       "aliases": {ALIAS: PROMOTION}}
    and registry log prints [PROMOTION], newest first, where PROMOTION is
      {"alias", "path", "model", "commit", "by", "time", "promotion", "format", "size",
       "signature": {"inputs": [VALUE], "outputs": [VALUE], "classes"?: [name]},
       "signature_error"?, "training_stats"?, "training_stats_off"?, "lineage_checked"? (false after --no-lineage), "checks": [{"check",
       "file", "key", "op", "threshold", "value", "passed"}], "note"?}
    with VALUE {"name", "type"?, "shape"?: [size, or symbolic name, or null]}. "promotion"
    is the id of the promotion commit; "format" is one of mlmodel, onnx, pickle, joblib,
    torch, torchscript, safetensors, keras, hdf5, lightgbm, xgboost, directory, other;
    "size" is in bytes. "signature" is there for .mlmodel and ONNX models, "signature_error"
    (why not) when such a file did not decode. For an ONNX model, "training_stats" is the
    id of its training statistics (computed at promotion from the CSV its run read; serving
    the alias uses them for drift monitoring), or "training_stats_off" says why there are
    none. Promotions recorded by older versions of
    mlrepo lack "format", "size" and "signature", and their checks hold only "check",
    "value" and "passed".

    An alias is a ref, refs/aliases/ALIAS: push and pull move it like a branch, gc keeps
    what it points to, and `mlrepo serve ALIAS` serves its model. See docs/registry.md.

    Examples:
      mlrepo promote models/iris.mlmodel --to production --require 'accuracy>=0.9'
      mlrepo promote model.onnx --to staging --require 'eval.json:accuracy>=0.9'
      mlrepo registry
      mlrepo registry log production
    """,
    flags: ["json": ["--json"]]
) { a, ctx in
    let ml = MLRepo(try ctx.repository())
    if a.positional.first == "log" {
        guard a.positional.count == 2 else { throw UsageError(message: "registry log takes ALIAS") }
        let log = try ml.aliasLog(a.positional[1])
        if a.has("json") { ctx.out.line(JSON.array(log.map(RegistryText.json)).encoded(pretty: true)); return 0 }
        for p in log {
            ctx.out.line("\(Quote.controls(p.time))  \(Quote.path(p.path))@\(Quote.controls(String(p.commit.prefix(12))))  model \(Quote.controls(String(p.modelId.prefix(12))))  by \(Quote.controls(p.by))")
            for l in RegistryText.details(p, indent: "    ") { ctx.out.line(l) }
        }
        return 0
    }
    guard a.positional.isEmpty else { throw UsageError(message: "registry takes no arguments (or: registry log ALIAS)") }
    let models = try ml.registryModels()
    let aliases = try ml.aliases()
    func names(_ path: String, _ id: String) -> [String] {
        aliases.filter { $0.promotion.path == path && $0.promotion.modelId == id }.map(\.name)
    }
    if a.has("json") {
        let out = JSON.object([
            "models": .array(models.map { m in
                .object(["path": .string(m.path), "versions": .array(m.versions.map { v in
                    .object(["model": .string(v.id), "commit": .string(v.commit), "time": .string(ISOTime.format(Double(v.time))),
                             "format": .string(v.format), "size": .int(Int64(clamping: v.size)),
                             "aliases": .array(names(m.path, v.id).map { .string($0) })])
                })])
            }),
            "aliases": .object(Dictionary(uniqueKeysWithValues: aliases.map { ($0.name, RegistryText.json($0.promotion)) })),
        ])
        ctx.out.line(out.encoded(pretty: true))
        return 0
    }
    for m in models {
        ctx.out.line(Quote.path(m.path))
        for (i, v) in m.versions.enumerated().reversed() {
            let n = names(m.path, v.id)
            ctx.out.line("  v\(i + 1)  model \(v.id.prefix(12))  commit \(v.commit.prefix(12))  \(ISOTime.format(Double(v.time)))  \(v.format) \(formatBytes(v.size))"
                + (n.isEmpty ? "" : "  [\(n.joined(separator: ", "))]"))
        }
    }
    if models.isEmpty { ctx.out.line("no models in the history of any branch") }
    if !aliases.isEmpty {
        ctx.out.line("aliases:")
        for (name, p) in aliases {
            ctx.out.line("  \(name) -> \(Quote.path(p.path))@\(Quote.controls(String(p.commit.prefix(12))))  model \(Quote.controls(String(p.modelId.prefix(12))))  promoted \(Quote.controls(p.time)) by \(Quote.controls(p.by))")
            for l in RegistryText.details(p, indent: "      ") { ctx.out.line(l) }
        }
    }
    return 0
}
