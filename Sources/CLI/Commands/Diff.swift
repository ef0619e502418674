import ML
import Store
import Support

// `diff`: what changed between two sides, with content for text files and tables.

let diffCommand = Command(
    name: "diff", kind: .porcelain, summary: "list added, removed and modified paths with sizes",
    usage: """
    mlrepo diff [REV [REV]] [--cached] [--stat] [--json] [-- PATH...]

    No REV: the work tree against the index. One REV: the work tree against REV (with
    --cached: the index against REV). Two: the first against the second.
    --json prints [{"path", "status", "old_size", "new_size", "old_id", "new_id"}], status one
    of added/modified/deleted (the words of status --json and DVC) (sizes null where the side has no file).
    For a modified CSV file the diff also shows the data's changes: row count, columns added,
    removed or retyped, and every changed column statistic (count, missing, min, max, mean,
    std, distinct); in --json as "profile": {"rows": {"old", "new"}, "columns_added",
    "columns_removed", "retyped": [{"column", "old", "new"}], "changes": [{"column", "stat",
    "old", "new"}]}. Profiles are cached by file id (see 'mlrepo profile'). --no-profile skips them.
    """,
    flags: ["json": ["--json"], "stat": ["--stat"], "cached": ["--cached", "--staged"], "nameOnly": ["--name-only"],
            "noProfile": ["--no-profile"], "rows": ["--rows"]],
    options: ["key": ["--key"], "limit": ["--limit"], "offset": ["--offset"]]
) { a, ctx in
    let repo = try ctx.repository()
    guard a.positional.count <= 2 else { throw UsageError(message: "diff takes at most two revisions") }
    let specs = try (a.paths ?? [""]).map { $0.isEmpty ? "" : try ctx.rel($0) }
    var from: DiffSide, to: DiffSide
    switch a.positional.count {
    case 0:
        if a.has("cached") {
            guard let h = try repo.refs.headCommit() else { throw UserError(message: "HEAD has no commits yet") }
            from = .commit(h); to = .index
        } else { from = .index; to = .workTree }
    case 1:
        from = .commit(try repo.resolveCommit(a.positional[0]))
        to = a.has("cached") ? .index : .workTree
    default:
        from = .commit(try repo.resolveCommit(a.positional[0])); to = .commit(try repo.resolveCommit(a.positional[1]))
    }
    var entries: [DiffEntry] = []
    for s in specs { entries += try repo.diff(from, to, spec: s) }
    if a.has("rows") { return try runRowDiff(entries, from: from, to: to, a, ctx) }
    let profiles = a.has("noProfile") || a.has("stat") || a.has("nameOnly") ? [:] : try csvComparisons(entries, from: from, to: to, MLRepo(repo))
    if a.has("json") {
        let j = JSON.array(entries.map { e in
            var o: [String: JSON] = [
                "path": .string(e.path), "status": .string(e.status.rawValue),
                "old_size": e.oldSize.map { .int(Int64($0)) } ?? .null,
                "new_size": e.newSize.map { .int(Int64($0)) } ?? .null,
                "old_id": jsonId(e.oldId), "new_id": jsonId(e.newId),
            ]
            if let p = profiles[e.path] { o["profile"] = p.json() }
            return .object(o)
        })
        ctx.out.line(j.encoded(pretty: true))
        return 0
    }
    if a.has("stat") { printStat(entries, ctx); return 0 }
    for e in entries {
        if a.has("nameOnly") { ctx.out.line(Quote.path(e.path)); continue }
        let code = e.status == .added ? "A" : e.status == .deleted ? "D" : "M"
        let sizes = "\(e.oldSize.map(String.init) ?? "-") -> \(e.newSize.map(String.init) ?? "-")"
        ctx.out.line("\(code)\t\(Quote.path(e.path))\t\(sizes)")
        if let p = profiles[e.path] { printComparison(p, ctx) }
    }
    return 0
}
