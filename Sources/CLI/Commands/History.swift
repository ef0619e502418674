import ML
import Store
import Support

// Reading history: `log`, `show`, `diff`, `reflog`.

func commitJSON(_ id: ObjectId, _ c: Commit) -> JSON {
    .object([
        "id": .string(id.hex),
        "parents": .array(c.parents.map { .string($0.hex) }),
        "author": .string(c.author.person),
        "time": .string(isoTime(c.author.time, tzMinutes: c.author.tzOffsetMinutes)),
        "timestamp": .int(c.author.time),
        "message": .string(c.message),
        "tree": .string(c.tree.hex),
    ])
}

let logCommand = Command(
    name: "log", kind: .porcelain, summary: "show commit history",
    usage: """
    mlrepo log [REV] [-n N] [--json] [--oneline] [--graph] [--kind KIND] [-- PATH...]

    Every commit reachable from REV (default HEAD) through all parents, newest first.
    --json prints [{"id", "parents", "author", "time", "message"}] newest first
    (time in ISO 8601; also "timestamp" in unix seconds and "tree").
    --graph draws the history in git's style (*, |, /, \\ lanes), in topological order: a
    commit is never shown after one of its parents. Not with paths, --kind or --json.
    -- PATH...: only commits that changed any of the paths (at or under them); a merge only
    when it differs from every parent there (docs/merge-history.md).
    --kind KIND (model, dataset, features, labels, code, metrics, params, other) lists only
    commits that changed a path of that kind, naming the paths ("paths" in --json).
    """,
    flags: ["json": ["--json"], "oneline": ["--oneline"], "graph": ["--graph"]],
    options: ["n": ["-n", "--max-count"], "kind": ["--kind"]]
) { a, ctx in
    let repo = try ctx.repository()
    guard a.positional.count <= 1 else { throw UsageError(message: "log takes one revision (paths go after --)") }
    let limit = try a.int("n")
    let paths = try (a.paths ?? []).map { try ctx.rel($0) }
    if a.has("graph") {
        guard paths.isEmpty, a.value("kind") == nil, !a.has("json") else {
            throw UsageError(message: "--graph draws the whole history: give it without paths, --kind or --json")
        }
    }
    let start: ObjectId
    if let r = a.positional.first { start = try repo.resolveCommit(r) }
    else {
        guard let h = try repo.refs.headCommit() else {
            if a.has("json") { ctx.out.line("[]"); return 0 }
            throw UserError(message: "your current branch has no commits yet")
        }
        start = h
    }
    if let k = a.value("kind") {
        let kind = try PathKind.parse(k)
        guard paths.isEmpty else { throw UsageError(message: "give --kind or paths, not both") }
        let hits = try MLRepo(repo).commitsChanging(kind: kind, from: start, limit: limit)
        if a.has("json") {
            ctx.out.line(JSON.array(hits.map { h in
                var j = commitJSON(h.id, h.commit).objectValue!
                j["paths"] = .array(h.paths.map { .string($0) })
                return .object(j)
            }).encoded(pretty: true))
            return 0
        }
        for h in hits {
            if a.has("oneline") { ctx.out.line("\(h.id.short) \(h.commit.subject) (\(h.paths.map(Quote.path).joined(separator: ", ")))"); continue }
            printCommit(h.id, h.commit, ctx)
            for p in h.paths { ctx.out.line("    \(kind.rawValue): \(Quote.path(p))") }
            ctx.out.line("")
        }
        return 0
    }
    if a.has("graph") { try printGraph(repo, from: start, limit: limit, oneline: a.has("oneline"), ctx); return 0 }
    let entries = try repo.log(from: start, limit: limit, paths: paths)
    if a.has("json") {
        ctx.out.line(JSON.array(entries.map { commitJSON($0.id, $0.commit) }).encoded(pretty: true))
        return 0
    }
    for (id, c) in entries {
        if a.has("oneline") { ctx.out.line("\(id.short) \(c.subject)"); continue }
        printCommit(id, c, ctx)
    }
    return 0
}

/// `log --graph`: commits in topological order, each line prefixed with its graph row.
/// Streams: only the open lanes and the reachable commits' parent ids are held.
func printGraph(_ repo: Repository, from start: ObjectId, limit: Int?, oneline: Bool, _ ctx: Context) throws {
    var graph = LogGraph<ObjectId>()
    var shown = 0
    if let limit, limit <= 0 { return }
    try repo.walkTopo(from: start) { id, parents in
        let c = try repo.readCommit(id)
        if shown > 0 && !oneline { ctx.out.line(graph.separator(before: id, parents: parents)) }
        let rows = graph.add(id, parents: parents)
        let text = oneline ? ["\(id.short) \(c.subject)"] : commitLines(id, c)
        var after = rows.after[...]
        for (k, t) in text.enumerated() {
            let prefix = k == 0 ? rows.commit : (after.popFirst() ?? rows.padding)
            ctx.out.line(prefix + t)
        }
        // Rows the text did not use are drawn alone (trailing spaces kept, as git does).
        for r in after { ctx.out.line(r) }
        shown += 1
        return limit.map { shown < $0 } ?? true
    }
}

/// git-style commit header and indented message, without the blank line after it.
func commitLines(_ id: ObjectId, _ c: Commit, showParents: Bool = false) -> [String] {
    var out = ["commit \(id.hex)"]
    if showParents { for p in c.parents { out.append("Parent: \(p.hex)") } }
    else if c.parents.count > 1 { out.append("Merge: " + c.parents.map(\.short).joined(separator: " ")) }
    out.append("Author: \(c.author.person)")
    out.append("Date:   \(formatTime(c.author.time, tzMinutes: c.author.tzOffsetMinutes))")
    out.append("")
    for l in c.message.split(separator: "\n", omittingEmptySubsequences: false).dropLast(c.message.hasSuffix("\n") ? 1 : 0) { out.append("    \(l)") }
    return out
}

/// git-style commit header and indented message.
func printCommit(_ id: ObjectId, _ c: Commit, _ ctx: Context, showParents: Bool = false) {
    for l in commitLines(id, c, showParents: showParents) { ctx.out.line(l) }
    ctx.out.line("")
}

let showCommand = Command(
    name: "show", kind: .porcelain, summary: "show a commit, or a file's bytes with REV:PATH",
    usage: "mlrepo show REV | REV:PATH\n\nREV: the commit, its message and changed paths. REV:PATH: the file's bytes on stdout (a folder: its listing).",
    flags: ["json": ["--json"]]
) { a, ctx in
    guard a.positional.count == 1 else { throw UsageError(message: "show takes one REV or REV:PATH") }
    let repo = try ctx.repository()
    let arg = a.positional[0]
    if arg.contains(":") {
        let (commit, path) = try repo.resolvePathSpec(arg)
        let tree = try repo.readCommit(commit).tree
        guard let e = try repo.entry(in: tree, path: path) else {
            throw UserError(message: "path '\(Quote.controls(path))' does not exist in \(arg.split(separator: ":").first.map(String.init) ?? "HEAD") (\(commit.short))")
        }
        if e.mode.isDirectory {
            for t in try repo.readTree(e.id).entries { ctx.out.line(Quote.path(t.name + (t.mode.isDirectory ? "/" : ""))) }
            return 0
        }
        ctx.out.flush()
        try FileReader(store: repo.store).read(e.id) { ctx.out.writeBytes($0) }
        return 0
    }
    let id = try repo.resolve(arg)
    guard let info = try repo.store.info(id) else { throw UserError(message: "object \(id.hex) is missing") }
    switch info.kind {
    case .commit:
        let c = try repo.readCommit(id)
        printCommit(id, c, ctx, showParents: true)
        if let meta = try MLRepo(repo).meta(of: c) {
            if !meta.runs.isEmpty {
                ctx.out.line("Runs:    " + meta.runs.sorted { $0.key < $1.key }.map { "\($0.key) (record \($0.value.short))" }.joined(separator: ", "))
            }
            for (f, kv) in meta.metrics.sorted(by: { $0.key < $1.key }) {
                ctx.out.line("Metrics: \(f): " + kv.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.display(precision: 5))" }.joined(separator: ", "))
            }
            if !meta.runs.isEmpty || !meta.metrics.isEmpty { ctx.out.line("") }
        }
        let d = try repo.diff(c.parents.first.map { .commit($0) } ?? .commit(id), .commit(id))
        let entries = c.parents.isEmpty ? try repo.files(ofCommit: id).map { DiffEntry(path: $0.key, status: .added, oldSize: nil, newSize: $0.value.size, oldId: nil, newId: $0.value.id) }.sorted { $0.path < $1.path } : d
        printStat(entries, ctx)
    case .tree:
        for t in try repo.readTree(id).entries { ctx.out.line("\(t.mode.octal) \(t.mode.isDirectory ? "tree" : "file") \(t.id.hex)\t\(Quote.path(t.name))") }
    case .blob, .chunks:
        ctx.out.flush()
        try FileReader(store: repo.store).read(id) { ctx.out.writeBytes($0) }
    }
    return 0
}

func printStat(_ d: [DiffEntry], _ ctx: Context) {
    guard !d.isEmpty else { return }
    let shown = d.map { Quote.path($0.path) }
    let w = min(60, shown.map(\.count).max() ?? 0)
    var added: UInt64 = 0, removed: UInt64 = 0
    for (e, path) in zip(d, shown) {
        let change: String
        switch e.status {
        case .added: change = "added    \(formatBytes(e.newSize ?? 0))"; added += 1
        case .deleted: change = "deleted  \(formatBytes(e.oldSize ?? 0))"; removed += 1
        case .modified:
            let o = e.oldSize ?? 0, n = e.newSize ?? 0
            let delta = n >= o ? "+" + formatBytes(n - o) : "-" + formatBytes(o - n)
            change = "modified \(formatBytes(o)) -> \(formatBytes(n)) (\(delta))"
        }
        ctx.out.line(" \(path.padding(w)) | \(change)")
    }
    let mod = d.count - Int(added) - Int(removed)
    ctx.out.line(" \(d.count) path(s) changed: \(added) added, \(removed) removed, \(mod) modified")
}

let reflogCommand = Command(
    name: "reflog", kind: .porcelain, summary: "show where HEAD or a branch has been",
    usage: "mlrepo reflog [REF] [-n N]",
    options: ["n": ["-n"]]
) { a, ctx in
    let repo = try ctx.repository()
    var ref = a.positional.first ?? "HEAD"
    if ref != "HEAD" && !ref.hasPrefix("refs/") { ref = "refs/heads/" + ref }
    let entries = try repo.refs.log(ref)
    for (i, e) in entries.enumerated() {
        if let n = try a.int("n"), i >= n { break }
        // git shows a branch by its short name and any other ref by its full name.
        let shown = ref.hasPrefix("refs/heads/") ? String(ref.dropFirst("refs/heads/".count)) : ref
        ctx.out.line("\(e.new.short) \(shown)@{\(i)}: \(e.message)")
    }
    return 0
}
