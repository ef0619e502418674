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
    var table = ExperimentTable(rows: try ml.experiments(from: start, limit: sortBy == nil ? try a.int("n") : nil))
    if let sortBy {
        try table.sort(by: sortBy, descending: order == "desc")
        if let n = try a.int("n") { table.rows = Array(table.rows.prefix(n)) }
    }
    let rows = table.rows
    if a.has("json") {
        ctx.out.line(JSON.array(rows.map { .object($0.json) }).encoded(pretty: true))
        return 0
    }
    let header = ["Commit", "Created", "Message"] + table.columns.map(\.name)
    let lines = rows.map { r -> [String] in
        var msg = r.commit.subject
        if msg.count > 32 { msg = String(msg.prefix(31)) + "…" }
        var cells = [r.id.short, formatShortTime(r.commit.author.time, tzMinutes: r.commit.author.tzOffsetMinutes), msg]
        for c in table.columns { cells.append(r.value(c)?.display(precision: precision) ?? "-") }
        return cells
    }
    valueTable(header, lines, md: a.has("md"), ctx)
    return 0
}
