import ML
import Store
import Support

let promoteCommand = Command(
    name: "promote", kind: .porcelain, summary: "move a model version to a registry alias, after checks",
    usage: """
    mlrepo promote MODEL_PATH[@REV] --to ALIAS [--require 'METRIC OP VALUE'...] [-m NOTE]

    Points ALIAS (e.g. staging, production) at MODEL_PATH as committed in REV (default HEAD),
    recording who, when, from which commit and which checks passed. Refused, naming the
    failing check, when a required metric is missing or fails (OP: >=, <=, >, <, ==, !=;
    METRIC may be FILE:KEY), or when the model's lineage is incomplete (no recorded run
    produced it, or its training data is not in the store). Checks read only the model's
    own evaluation, found through lineage: the metrics files written by the run that
    produced this version, and by runs that read it (an eval stage), as REV holds them; a
    FILE:KEY naming any other metrics file is refused as not an evaluation of this model. The alias keeps its
    history (mlrepo registry log ALIAS); `mlrepo serve ALIAS` serves what it points to.
    """,
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
    let p = try ml.promote(path: rel, rev: rev, alias: alias, require: checks, note: a.value("message"))
    ctx.out.line("\(alias) -> \(Quote.path(p.path))@\(p.commit.prefix(12)) (model \(p.modelId.prefix(12)))" + (checks.isEmpty ? "" : "; checks passed: \(checks.map(\.text).joined(separator: ", "))"))
    return 0
}

let registryCommand = Command(
    name: "registry", kind: .porcelain, summary: "list models, versions and aliases; show an alias's history",
    usage: """
    mlrepo registry [--json]
    mlrepo registry log ALIAS [--json]

    The model registry: model files, their versions, and the aliases (staging, production,
    …) that `mlrepo promote` points at one of them.

    registry          every model file (a .mlmodel file, or a path of kind model) in the
                      history of any branch, with its versions oldest as v1: the model id,
                      the first commit that has it, that commit's time (UTC), and the
                      aliases pointing at it in [brackets]
    registry log ALIAS
                      every promotion of ALIAS, newest first: when (UTC), the model path
                      @ commit, the model id, who promoted it, the checks that passed, and
                      the note (-m) on the next line

    --json: registry prints {"models": [{"path", "versions": [{"model", "commit", "time",
    "aliases"}]}], "aliases": {ALIAS: PROMOTION}}; registry log prints [PROMOTION], where
    PROMOTION is {"alias", "path", "model", "commit", "by", "time", "checks", "promotion",
    "note"} ("promotion": the id of the promotion commit; "note" only when given).

    An alias is a ref, refs/aliases/ALIAS: push and pull move it like a branch, gc keeps
    what it points to, and `mlrepo serve ALIAS` serves its model.

    Examples:
      mlrepo promote models/iris.mlmodel --to production --require 'accuracy>=0.9'
      mlrepo registry
      mlrepo registry log production
    """,
    flags: ["json": ["--json"]]
) { a, ctx in
    let ml = MLRepo(try ctx.repository())
    func promoJSON(_ p: Promotion) -> JSON {
        var o: [String: JSON] = ["alias": .string(p.alias), "path": .string(p.path), "model": .string(p.modelId), "commit": .string(p.commit),
                                 "by": .string(p.by), "time": .string(p.time), "checks": .array(p.checks), "promotion": .string(p.id.hex)]
        if let n = p.note { o["note"] = .string(n) }
        return .object(o)
    }
    if a.positional.first == "log" {
        guard a.positional.count == 2 else { throw UsageError(message: "registry log takes ALIAS") }
        let log = try ml.aliasLog(a.positional[1])
        if a.has("json") { ctx.out.line(JSON.array(log.map(promoJSON)).encoded(pretty: true)); return 0 }
        for p in log {
            let checks = p.checks.compactMap { $0["check"]?.stringValue }
            ctx.out.line("\(p.time)  \(Quote.path(p.path))@\(p.commit.prefix(12))  model \(p.modelId.prefix(12))  by \(p.by)" + (checks.isEmpty ? "" : "  checks: \(checks.joined(separator: ", "))"))
            if let n = p.note { ctx.out.line("    \(n)") }
        }
        return 0
    }
    guard a.positional.isEmpty else { throw UsageError(message: "registry takes no arguments (or: registry log ALIAS)") }
    let models = try ml.registryModels()
    let aliases = try ml.aliases()
    if a.has("json") {
        let out = JSON.object([
            "models": .array(models.map { m in
                .object(["path": .string(m.path), "versions": .array(m.versions.map { v in
                    .object(["model": .string(v.id), "commit": .string(v.commit), "time": .string(ISOTime.format(Double(v.time))),
                             "aliases": .array(aliases.filter { $0.promotion.path == m.path && $0.promotion.modelId == v.id }.map { .string($0.name) })])
                })])
            }),
            "aliases": .object(Dictionary(uniqueKeysWithValues: aliases.map { ($0.name, promoJSON($0.promotion)) })),
        ])
        ctx.out.line(out.encoded(pretty: true))
        return 0
    }
    for m in models {
        ctx.out.line(Quote.path(m.path))
        for (i, v) in m.versions.enumerated().reversed() {
            let names = aliases.filter { $0.promotion.path == m.path && $0.promotion.modelId == v.id }.map(\.name)
            ctx.out.line("  v\(i + 1)  model \(v.id.prefix(12))  commit \(v.commit.prefix(12))  \(ISOTime.format(Double(v.time)))" + (names.isEmpty ? "" : "  [\(names.joined(separator: ", "))]"))
        }
    }
    if models.isEmpty { ctx.out.line("no model files in the history of any branch") }
    return 0
}
