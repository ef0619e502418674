import ML
import Store
import Support

// `exp show`: one row per commit with its params and metrics.

let expCommand = Command(
    name: "exp", kind: .porcelain, summary: "compare experiments: one row per commit with params and metrics",
    usage: """
    mlrepo exp show [BRANCH] [-n N] [--json] [--md] [--sort-by NAME] [--sort-order asc|desc] [--precision N]

    One row per commit reachable from BRANCH (default HEAD), newest first, with the params and
    metrics its commit recorded as columns (read from commit metadata only: no data is read).
    Columns are named by key, or FILE:KEY where two files share a key. --sort-by sorts by a
    metric or param (FILE:KEY or KEY); rows without it go last. --json prints
    [{"id", "time", "timestamp", "message", "params": {FILE: {KEY: v}}, "metrics": {...}, "runs": {STAGE: RECORD}}].
    """,
    flags: ["json": ["--json"], "md": ["--md", "--markdown"]],
    options: ["n": ["-n", "--max-count"], "sortBy": ["--sort-by"], "sortOrder": ["--sort-order"], "precision": ["--precision"]]
) { a, ctx in
    guard a.positional.first == "show" else { throw UsageError(message: "use 'mlrepo exp show [BRANCH]'") }
    guard a.positional.count <= 2 else { throw UsageError(message: "exp show takes one branch or revision") }
    let ml = try ctx.ml()
    let start: ObjectId
    if a.positional.count == 2 { start = try ml.repo.resolveCommit(a.positional[1]) }
    else {
        guard let h = try ml.repo.refs.headCommit() else {
            if a.has("json") { ctx.out.line("[]"); return 0 }
            throw UserError(message: "your current branch has no commits yet")
        }
        start = h
    }
    let order = a.value("sortOrder") ?? "asc"
    guard order == "asc" || order == "desc" else { throw UsageError(message: "--sort-order takes asc or desc") }
    let precision = min(try a.int("precision") ?? 5, 17)
    let sortBy = a.value("sortBy")
    // With a sort key every commit is read, then the first N kept.
    var rows = try ml.experiments(from: start, limit: sortBy == nil ? try a.int("n") : nil)
    // Columns: metrics then params, named by key unless another column shares it.
    typealias Column = (file: String, key: String, name: String, metric: Bool)
    var pairs: [(String, String, Bool)] = []
    var seenPairs = Set<String>()
    var byKey: [String: Int] = [:]
    for r in rows {
        guard let m = r.meta else { continue }
        for (isMetric, values) in [(true, m.metrics), (false, m.params)] {
            for (f, kv) in values {
                for k in kv.keys where seenPairs.insert("\(isMetric)\u{0}\(f)\u{0}\(k)").inserted {
                    pairs.append((f, k, isMetric)); byKey[k, default: 0] += 1
                }
            }
        }
    }
    let all: [Column] = pairs.map { f, k, m in (f, k, byKey[k]! > 1 ? f + ":" + k : k, m) }
    var names: [String: Int] = [:]
    for c in all { names[c.name, default: 0] += 1 }
    // A metrics file and a params file with the same name and key: say which is which.
    let cols: [Column] = all.map { c in names[c.name]! > 1 ? (c.file, c.key, (c.metric ? "metric " : "param ") + c.name, c.metric) : c }
        .sorted { ($0.metric ? 0 : 1, $0.name) < ($1.metric ? 0 : 1, $1.name) }
    let mcols = cols.filter(\.metric), pcols = cols.filter { !$0.metric }
    if let sortBy {
        let exact = cols.filter { $0.name == sortBy || "\($0.file):\($0.key)" == sortBy }
        let byKeyMatch = cols.filter { $0.key == sortBy }
        let leaf = cols.filter { $0.key.hasSuffix("." + sortBy) }
        let pick = !exact.isEmpty ? exact : !byKeyMatch.isEmpty ? byKeyMatch : leaf
        guard let col = pick.first else { throw UserError(message: "no metric or param named '\(sortBy)' in these commits") }
        if pick.count > 1 {
            throw UserError(message: "'\(sortBy)' is ambiguous: " + pick.map { "\($0.file):\($0.key)" }.joined(separator: ", "))
        }
        func value(_ r: ExperimentRow) -> JSON? { r.meta.flatMap { (col.metric ? $0.metrics : $0.params)[col.file]?[col.key] } }
        let keyed = rows.enumerated().map { ($0.offset, $0.element, value($0.element)) }
        rows = keyed.sorted { x, y in
            switch (x.2, y.2) {
            case (nil, nil): return x.0 < y.0
            case (nil, _): return false
            case (_, nil): return true
            case (let p?, let q?):
                if let u = p.doubleValue, let v = q.doubleValue, u != v { return order == "asc" ? u < v : u > v }
                let ps = p.display(), qs = q.display()
                if ps != qs, p.doubleValue == nil || q.doubleValue == nil { return order == "asc" ? ps < qs : ps > qs }
                return x.0 < y.0
            }
        }.map(\.1)
        if let n = try a.int("n") { rows = Array(rows.prefix(n)) }
    }
    if a.has("json") {
        ctx.out.line(JSON.array(rows.map { r in
            .object([
                "id": .string(r.id.hex),
                "time": .string(isoTime(r.commit.author.time, tzMinutes: r.commit.author.tzOffsetMinutes)),
                "timestamp": .int(r.commit.author.time),
                "message": .string(r.commit.subject),
                "params": .object((r.meta?.params ?? [:]).mapValues { .object($0) }),
                "metrics": .object((r.meta?.metrics ?? [:]).mapValues { .object($0) }),
                "runs": .object((r.meta?.runs ?? [:]).mapValues { .string($0.hex) }),
            ])
        }).encoded(pretty: true))
        return 0
    }
    let header = ["Commit", "Created", "Message"] + mcols.map(\.name) + pcols.map(\.name)
    let table = rows.map { r -> [String] in
        var msg = r.commit.subject
        if msg.count > 32 { msg = String(msg.prefix(31)) + "…" }
        var cells = [r.id.short, formatShortTime(r.commit.author.time, tzMinutes: r.commit.author.tzOffsetMinutes), msg]
        for c in mcols { cells.append(r.meta?.metrics[c.file]?[c.key]?.display(precision: precision) ?? "-") }
        for c in pcols { cells.append(r.meta?.params[c.file]?[c.key]?.display(precision: precision) ?? "-") }
        return cells
    }
    valueTable(header, table, md: a.has("md"), ctx)
    return 0
}
