import ML
import Store
import Support

// Staging and committing: `add`, `rm`, `status`, `commit`.

let addCommand = Command(
    name: "add", kind: .porcelain, summary: "stage files (recursively) for the next commit",
    usage: """
    mlrepo add [-f] [--kind KIND] PATH...

    Hashes new and changed files under each PATH into the store and stages them; files gone
    from disk are unstaged. Unchanged files (same size, mtime, ctime, inode) are not re-read.
    .mlrepoignore files (gitignore syntax) exclude paths; -f/--force adds ignored files named
    explicitly. Large files are split into content-defined chunks so a new version stores
    only the chunks that changed.
    --kind sets what the paths hold (dataset, features, labels, code, model, metrics, params,
    other) for `log --kind`, `lineage` and `diff`; the next commit records it.
    """,
    flags: ["force": ["-f", "--force"], "verbose": ["-v", "--verbose"]],
    options: ["kind": ["--kind", "-k"]]
) { a, ctx in
    let kind = try a.value("kind").map { try PathKind.parse($0) }
    guard !a.positional.isEmpty || !(a.paths ?? []).isEmpty else { throw UsageError(message: "nothing specified: give the paths to add (e.g. 'mlrepo add .')") }
    let repo = try ctx.repository()
    let specs = try (a.positional + (a.paths ?? [])).map { try ctx.rel($0) }
    let bar = ProgressBar(label: "adding")
    let t0 = Clock.monotonic()
    let r = try repo.add(specs, force: a.has("force"), progress: { d, t in bar.update(d, t) })
    bar.finish()
    if let kind { try MLRepo(repo).setKind(kind, for: specs.filter { !$0.isEmpty }) }
    if a.has("verbose") {
        for p in r.staged { ctx.out.line("add '\(Quote.controls(p))'") }
        for p in r.removed { ctx.out.line("remove '\(Quote.controls(p))'") }
    }
    for p in r.skipped { ctx.err.line("warning: skipped '\(Quote.controls(p))': symlinks and special files are not tracked") }
    if a.has("verbose") || Output.stderr.isTerminal {
        let dt = Clock.monotonic() - t0
        ctx.err.line("staged \(r.staged.count) file(s), removed \(r.removed.count); hashed \(formatBytes(r.bytesHashed)), \(formatBytes(r.bytesNew)) new, in \(String(format1(dt))) s")
    }
    return 0
}

let rmCommand = Command(
    name: "rm", kind: .porcelain, summary: "unstage files and delete them from the work tree",
    usage: "mlrepo rm [--cached] [-f] PATH...\n\n--cached keeps the files on disk. Files with unstaged changes are refused unless -f.",
    flags: ["cached": ["--cached"], "force": ["-f", "--force"], "recursive": ["-r"]]
) { a, ctx in
    let all = a.positional + (a.paths ?? [])
    guard !all.isEmpty else { throw UsageError(message: "give the paths to remove") }
    let repo = try ctx.repository()
    let removed = try repo.remove(try all.map { try ctx.rel($0) }, cached: a.has("cached"), force: a.has("force"))
    for p in removed { ctx.out.line("rm '\(Quote.controls(p))'") }
    return 0
}

let statusCommand = Command(
    name: "status", kind: .porcelain, summary: "show staged, unstaged and untracked changes",
    usage: """
    mlrepo status [--json] [-s|--short]

    --json prints {"branch", "head", "staged": [{"path", "status"}], "unstaged": [...],
    "untracked": [path]} with status one of added/modified/deleted, plus "not_checked_out": N
    when tracked files are left out of the work tree (clone --no-checkout). During a merge:
    "merging": the merged commit's id ("merge_interrupted": true when a merge stopped before
    it finished: run 'merge --abort'), and "unmerged": [{"path", "kind"}] with kind one of
    both modified, both added, deleted by us, deleted by them, file/folder.
    """,
    flags: ["json": ["--json"], "short": ["-s", "--short", "--porcelain"]]
) { a, ctx in
    let repo = try ctx.repository()
    let s = try repo.status()
    if a.has("json") {
        func list(_ l: [PathChange]) -> JSON { .array(l.map { .object(["path": .string($0.path), "status": .string($0.change.rawValue)]) }) }
        var fields: [String: JSON] = [
            "branch": s.branch.map { .string($0) } ?? .null,
            "head": jsonId(s.head),
            "staged": list(s.staged), "unstaged": list(s.unstaged),
            "untracked": .array(s.untracked.map { .string($0) }),
        ]
        if s.notCheckedOut > 0 { fields["not_checked_out"] = .int(Int64(s.notCheckedOut)) }
        if let m = s.merging { fields["merging"] = .string(m.hex) }
        if s.mergeInterrupted { fields["merge_interrupted"] = .bool(true) }
        if !s.unmerged.isEmpty {
            fields["unmerged"] = .array(s.unmerged.map { .object(["path": .string($0.path), "kind": .string($0.kind.rawValue)]) })
        }
        let j: JSON = .object(fields)
        ctx.out.line(j.encoded(pretty: true))
        return 0
    }
    if a.has("short") {
        let code: [ChangeKind: String] = [.added: "A", .modified: "M", .deleted: "D"]
        var rows: [String: (String, String)] = [:]
        for c in s.staged { rows[c.path, default: (" ", " ")].0 = code[c.change]! }
        for c in s.unstaged { rows[c.path, default: (" ", " ")].1 = code[c.change]! }
        // git's two-letter codes for unmerged paths.
        let ucode: [UnmergedKind: String] = [.bothModified: "UU", .bothAdded: "AA", .deletedByUs: "DU", .deletedByThem: "UD", .fileFolder: "UU"]
        for u in s.unmerged { rows[u.path] = (String(ucode[u.kind]!.first!), String(ucode[u.kind]!.last!)) }
        for p in rows.keys.sorted() { ctx.out.line("\(rows[p]!.0)\(rows[p]!.1) \(Quote.path(p))") }
        for p in s.untracked { ctx.out.line("?? \(Quote.path(p))") }
        return 0
    }
    if let b = s.branch { ctx.out.line("On branch \(b)") } else { ctx.out.line("HEAD detached at \(s.head?.short ?? "?")") }
    if s.head == nil { ctx.out.line("\nNo commits yet") }
    if s.mergeInterrupted {
        ctx.out.line("\nA merge was interrupted before it finished.\n  (use \"mlrepo merge --abort\" to put things back)")
    }
    if s.merging != nil {
        if s.unmerged.isEmpty {
            ctx.out.line("\nAll conflicts fixed but you are still merging.\n  (use \"mlrepo commit\" to conclude merge)")
        } else {
            ctx.out.line("\nYou have unmerged paths.\n  (fix conflicts and run \"mlrepo commit\")\n  (use \"mlrepo merge --abort\" to abort the merge)")
        }
    }
    let verb: [ChangeKind: String] = [.added: "new file:", .modified: "modified:", .deleted: "deleted:"]
    if !s.staged.isEmpty {
        ctx.out.line("\nChanges to be committed:")
        for c in s.staged { ctx.out.line("\t\(verb[c.change]!.padding(12))\(Quote.path(c.path))") }
    }
    if !s.unmerged.isEmpty {
        ctx.out.line("\nUnmerged paths:\n  (use \"mlrepo add <path>...\" to mark resolution, \"mlrepo rm <path>\" to resolve as deleted)")
        for u in s.unmerged { ctx.out.line("\t\((u.kind.rawValue + ":").padding(17))\(Quote.path(u.path))") }
    }
    if !s.unstaged.isEmpty {
        ctx.out.line("\nChanges not staged for commit:\n  (use \"mlrepo add <path>...\" to stage them)")
        for c in s.unstaged { ctx.out.line("\t\(verb[c.change]!.padding(12))\(Quote.path(c.path))") }
    }
    if !s.untracked.isEmpty {
        ctx.out.line("\nUntracked files:\n  (use \"mlrepo add <path>...\" to track them)")
        for p in s.untracked { ctx.out.line("\t\(Quote.path(p))") }
    }
    if s.notCheckedOut > 0 {
        ctx.out.line("\n\(s.notCheckedOut) tracked file\(s.notCheckedOut == 1 ? " is" : "s are") not checked out\n  (use \"mlrepo checkout HEAD -- <path>...\" to write them)")
    }
    if s.clean { ctx.out.line(s.head == nil ? "nothing to commit (create files and use \"mlrepo add\" to track them)" : "nothing to commit, working tree clean") }
    return 0
}

let commitCommand = Command(
    name: "commit", kind: .porcelain, summary: "record the staged files as a new commit",
    usage: """
    mlrepo commit -m MSG [--allow-empty] [-q]

    Prints the new commit id. While a merge is in progress, -m may be left out: the merge's
    prepared message (.mlrepo/MERGE_MSG) is used, and the commit has two parents; it is
    refused while paths are unmerged. The author comes from MLREPO_AUTHOR_NAME/EMAIL,
    GIT_AUTHOR_NAME/EMAIL, user.name/user.email (mlrepo config, ~/.gitconfig) or the login.
    The commit also records its ML metadata: the lineage records of stage runs whose inputs
    and outputs match the committed files, the kinds of paths, and params and metrics values.
    """,
    flags: ["allowEmpty": ["--allow-empty"], "quiet": ["-q", "--quiet"]],
    options: ["message": ["-m", "--message"]]
) { a, ctx in
    guard a.positional.isEmpty else { throw UsageError(message: "unexpected argument '\(a.positional[0])' (stage files with 'mlrepo add')") }
    let ml = try ctx.ml()
    // Concluding a merge: MERGE_MSG is the default message.
    let merging = try ml.repo.mergeHead() != nil
    guard !a.values("message").isEmpty || merging else { throw UsageError(message: "a commit message is required (-m MSG)") }
    let message = a.values("message").isEmpty ? (ml.repo.mergeMessage() ?? "Merge") : a.values("message").joined(separator: "\n\n")
    let r = try ml.commit(message: message, allowEmpty: a.has("allowEmpty"))
    if !a.has("quiet") { ctx.out.line(r.id.hex) }
    warnStale(r.stale, ctx)
    return 0
}

/// The stages a commit recorded no lineage for, one warning line each (commit, merge, pull).
func warnStale(_ stale: [MLRepo.StaleRun], _ ctx: Context) {
    for s in stale {
        let advice = s.removed ? "" : " (run 'mlrepo repro' and commit again)"
        ctx.err.line("warning: no lineage recorded for stage '\(Quote.controls(s.stage))': \(Quote.controls(s.reason))\(advice)")
    }
}
