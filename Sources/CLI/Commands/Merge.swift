import ML
import Store
import Support

// `merge`: joins another line of history into the current branch (docs/merging.md).

let mergeCommand = Command(
    name: "merge", kind: .porcelain, summary: "join another branch or commit into the current branch",
    usage: """
    mlrepo merge REV [-m MSG] [--no-ff | --ff-only] [--no-commit] [--conflict=merge|diff3] [--key COL] [--json]
    mlrepo merge --abort | --continue

    Fast-forwards when HEAD is an ancestor of REV (unless --no-ff); otherwise merges three
    ways against the merge base and commits the result with two parents (unless --no-commit
    or a conflict). Text files merge line by line, CSV/TSV tables row by row (--key COL, or
    the table.key setting, matches rows on a column instead of by position), other files
    conflict when both sides changed them (the work tree keeps ours). A merge that would overwrite uncommitted changes
    is refused before anything is written. On conflicts: edit the files (or 'mlrepo checkout
    --ours/--theirs PATH'), 'mlrepo add PATH', then 'mlrepo commit' or 'merge --continue';
    'merge --abort' restores the state before the merge. --conflict=diff3 also shows the
    base's lines in conflict markers (default: the merge.conflictstyle setting, else merge).
    --json prints {"status": "up-to-date|fast-forward|merged|conflicts", "commit", "base",
    "bases", "conflicts": [{"path", "kind", "reason", "rows"?, "keys"?, "row_count"?}]}.
    Exits 1 when conflicts are left to resolve.
    """,
    flags: ["abort": ["--abort"], "continue": ["--continue"], "noFF": ["--no-ff"], "ffOnly": ["--ff-only"],
            "noCommit": ["--no-commit"], "json": ["--json"], "quiet": ["-q", "--quiet"]],
    options: ["message": ["-m", "--message"], "conflict": ["--conflict"], "key": ["--key"]]
) { a, ctx in
    let repo = try ctx.repository()
    if a.has("abort") || a.has("continue") {
        guard a.positional.isEmpty, !(a.has("abort") && a.has("continue")) else { throw UsageError(message: "--abort and --continue take no other arguments") }
        if a.has("abort") {
            let r = try repo.abortMerge()
            ctx.err.line("Merge aborted (\(r.written.count) restored, \(r.removed.count) removed).")
            return 0
        }
        guard try repo.mergeHead() != nil else { throw UserError(message: "there is no merge to continue (MERGE_HEAD missing)") }
        return try concludeMerge(ctx, message: a.values("message").isEmpty ? nil : a.values("message").joined(separator: "\n\n"), quiet: a.has("quiet"))
    }
    guard a.positional.count == 1 else { throw UsageError(message: "merge takes one revision (or --abort / --continue)") }
    let rev = a.positional[0]
    var req = MergeRequest(rev: rev, label: rev, message: "")
    req.message = a.values("message").isEmpty ? try defaultMergeMessage(repo, rev: rev) : a.values("message").joined(separator: "\n\n")
    try applyMergeFlags(&req, a, repo)
    return try performMerge(ctx, repo, req, noCommit: a.has("noCommit"), json: a.has("json"), quiet: a.has("quiet"))
}

/// --no-ff / --ff-only / --conflict / --key into a request.
func applyMergeFlags(_ req: inout MergeRequest, _ a: Args, _ repo: Repository) throws {
    if a.has("noFF") && a.has("ffOnly") { throw UsageError(message: "--no-ff and --ff-only do not go together") }
    if a.has("noFF") { req.fastForward = .never }
    if a.has("ffOnly") { req.fastForward = .only }
    let style = a.value("conflict") ?? repo.config["merge.conflictstyle"] ?? "merge"
    guard let s = TextMergeOptions.Style(rawValue: style) else { throw UsageError(message: "--conflict takes merge or diff3, not '\(style)'") }
    req.style = s
    req.keyColumn = a.value("key") ?? repo.config["table.key"].flatMap { $0.trimmed().isEmpty ? nil : $0.trimmed() }  // the table.key setting, as diff --rows
}

/// git's default messages: `Merge branch 'X'`, `Merge remote-tracking branch 'origin/X'`,
/// `Merge tag 'v1'`, `Merge commit 'abc1234'`, plus ` into CUR` off main/master.
func defaultMergeMessage(_ repo: Repository, rev: String) throws -> String {
    var m: String
    func has(_ ref: String) -> Bool { Refs.isValidName(rev) && ((try? repo.refs.read(ref)) ?? nil) != nil }
    if has("refs/heads/" + rev) { m = "Merge branch '\(rev)'" }
    else if has("refs/tags/" + rev) { m = "Merge tag '\(rev)'" }
    else if has("refs/remotes/" + rev) { m = "Merge remote-tracking branch '\(rev)'" }
    else { m = "Merge commit '\(rev)'" }
    if case .branch(let b) = try repo.refs.head(), b != "main", b != "master" { m += " into \(b)" }
    return m
}

/// Runs a merge and reports it as git does; commits a clean merge unless `noCommit`.
/// Returns the exit status: 1 when conflicts are left.
func performMerge(_ ctx: Context, _ repo: Repository, _ req: MergeRequest, noCommit: Bool, json: Bool, quiet: Bool) throws -> Int32 {
    let r = try repo.merge(req)
    var commit: ObjectId? = nil
    var lines: [String] = []
    switch r.status {
    case .upToDate:
        lines.append("Already up to date.")
    case .fastForward:
        lines.append("Updating \(r.head?.short ?? "(none)")..\(r.theirs.short)")
        lines.append("Fast-forward (\(r.written.count) written, \(r.removed.count) removed)")
        commit = r.theirs
    case .merged, .conflicts:
        for e in r.events {
            switch e {
            case .autoMerging(let p): lines.append("Auto-merging \(Quote.controls(p))")
            case .conflict(let c): lines.append(conflictLine(c, theirs: req.label))
            case .notMergedByRows(let p, let why): lines.append("note: \(Quote.controls(p)) not merged by rows (\(Quote.controls(why))); merged by lines")
            }
        }
        if r.status == .conflicts {
            lines.append("Automatic merge failed; fix conflicts and then commit the result.")
        } else if noCommit {
            lines.append("Automatic merge went well; stopped before committing as requested (conclude with 'mlrepo commit' or 'mlrepo merge --continue').")
        }
    }
    if r.status == .merged && !noCommit {
        let out = try MLRepo(repo).commit(message: repo.mergeMessage() ?? req.message)
        commit = out.id
        lines.append("Merge made by the three-way strategy: \(out.id.short) (\(r.written.count) written, \(r.removed.count) removed).")
        if !json { warnStale(out.stale, ctx) }
    }
    if json {
        var conflicts: [JSON] = []
        for c in r.conflicts {
            var o: [String: JSON] = ["path": .string(c.path), "kind": .string(c.kind.rawValue), "reason": .string(c.reason.rawValue)]
            if c.reason == .rows {
                o["rows"] = .array(c.rows.map { .int(Int64($0)) })
                if !c.keys.isEmpty { o["keys"] = .array(c.keys.map { .string($0) }) }
                o["row_count"] = .int(Int64(c.rowCount))
            }
            conflicts.append(.object(o))
        }
        let j: JSON = .object([
            "status": .string(r.status.rawValue), "commit": jsonId(commit), "theirs": .string(r.theirs.hex),
            "base": jsonId(r.bases.first), "bases": .array(r.bases.map { .string($0.hex) }),
            "conflicts": .array(conflicts),
        ])
        ctx.out.line(j.encoded(pretty: true))
    } else if !quiet || r.status == .conflicts {
        for l in lines { ctx.out.line(l) }
    }
    return r.status == .conflicts ? 1 : 0
}

/// One CONFLICT line, in git's words where git has them.
func conflictLine(_ c: MergeConflict, theirs: String) -> String {
    let p = Quote.controls(c.path)
    switch c.reason {
    case .content: return "CONFLICT (content): Merge conflict in \(p)"
    case .addAdd: return "CONFLICT (add/add): Merge conflict in \(p)"
    case .binary: return "warning: Cannot merge binary files: \(p) (HEAD vs. \(theirs))\nCONFLICT (content): Merge conflict in \(p)"
    case .modifyDelete: return "CONFLICT (modify/delete): \(Quote.controls(c.detail))"
    case .fileFolder: return "CONFLICT (file/directory): \(Quote.controls(c.detail))"
    case .rows:
        let shown = c.keys.isEmpty ? "rows " + c.rows.prefix(10).map(String.init).joined(separator: ", ")
                                   : "keys " + c.keys.prefix(10).map { Quote.controls($0) }.joined(separator: ", ")
        let more = c.rowCount > 10 ? ", ..." : ""
        return "CONFLICT (rows): \(c.rowCount) row\(c.rowCount == 1 ? "" : "s") of \(p) changed on both sides: \(shown)\(more)"
    }
}

/// `merge --continue` and `commit` during a merge: commits with MERGE_MSG (or `message`).
func concludeMerge(_ ctx: Context, message: String?, quiet: Bool) throws -> Int32 {
    let repo = try ctx.repository()
    guard let msg = message ?? repo.mergeMessage() else { throw UserError(message: "no merge message (.mlrepo/MERGE_MSG is empty); give one with -m") }
    let r = try MLRepo(repo).commit(message: msg)
    if !quiet { ctx.out.line(r.id.hex) }
    for s in r.stale where !s.removed {
        ctx.err.line("warning: no lineage recorded for stage '\(s.stage)': \(s.reason) (run 'mlrepo repro' and commit again)")
    }
    return 0
}
