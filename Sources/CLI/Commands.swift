import ML
import Store
import Support

/// Every subcommand, in help order.
let commands: [Command] = [
    initCommand, addCommand, rmCommand, statusCommand, commitCommand, logCommand, showCommand,
    diffCommand, checkoutCommand, switchCommand, branchCommand, tagCommand, fsckCommand, gcCommand,
    duCommand, configCommand, reflogCommand, resetCommand,
    runCommand, reproCommand, paramsCommand, metricsCommand, expCommand, lineageCommand, profileCommand,
    trainCommand, evalCommand, predictCommand, serveCommand, monitorCommand, remoteCommand, pushCommand, fetchCommand, pullCommand, cloneCommand, promoteCommand, registryCommand,
    revParseCommand, hashObjectCommand, catObjectCommand, lsTreeCommand,
]

func jsonId(_ id: ObjectId?) -> JSON { id.map { .string($0.hex) } ?? .null }

let initCommand = Command(
    name: "init", kind: .porcelain, summary: "create an empty repository",
    usage: "mlrepo init [DIR] [--branch NAME]\n\nCreates DIR/.mlrepo (DIR defaults to the current folder) with an unborn branch (main).",
    options: ["branch": ["-b", "--branch"]]
) { a, ctx in
    guard a.positional.count <= 1 else { throw UsageError(message: "init takes at most one directory") }
    let dir = a.positional.first.map { $0.hasPrefix("/") ? $0 : Path.join(ctx.cwd, $0) } ?? ctx.cwd
    let r = try Repository.create(at: dir, branch: a.value("branch") ?? "main", settings: Settings.store)
    ctx.out.line("Initialized empty mlrepo repository in \(r.dotDir)")
    return 0
}

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

func format1(_ d: Double) -> String { String((d * 100).rounded() / 100) }

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
    when tracked files are left out of the work tree (clone --no-checkout).
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
        let j: JSON = .object(fields)
        ctx.out.line(j.encoded(pretty: true))
        return 0
    }
    if a.has("short") {
        let code: [ChangeKind: String] = [.added: "A", .modified: "M", .deleted: "D"]
        var rows: [String: (String, String)] = [:]
        for c in s.staged { rows[c.path, default: (" ", " ")].0 = code[c.change]! }
        for c in s.unstaged { rows[c.path, default: (" ", " ")].1 = code[c.change]! }
        for p in rows.keys.sorted() { ctx.out.line("\(rows[p]!.0)\(rows[p]!.1) \(Quote.path(p))") }
        for p in s.untracked { ctx.out.line("?? \(Quote.path(p))") }
        return 0
    }
    if let b = s.branch { ctx.out.line("On branch \(b)") } else { ctx.out.line("HEAD detached at \(s.head?.short ?? "?")") }
    if s.head == nil { ctx.out.line("\nNo commits yet") }
    let verb: [ChangeKind: String] = [.added: "new file:", .modified: "modified:", .deleted: "deleted:"]
    if !s.staged.isEmpty {
        ctx.out.line("\nChanges to be committed:")
        for c in s.staged { ctx.out.line("\t\(verb[c.change]!.padding(12))\(Quote.path(c.path))") }
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

    Prints the new commit id. The author comes from MLREPO_AUTHOR_NAME/EMAIL,
    GIT_AUTHOR_NAME/EMAIL, user.name/user.email (mlrepo config, ~/.gitconfig) or the login.
    The commit also records its ML metadata: the lineage records of stage runs whose inputs
    and outputs match the committed files, the kinds of paths, and params and metrics values.
    """,
    flags: ["allowEmpty": ["--allow-empty"], "quiet": ["-q", "--quiet"]],
    options: ["message": ["-m", "--message"]]
) { a, ctx in
    guard !a.values("message").isEmpty else { throw UsageError(message: "a commit message is required (-m MSG)") }
    guard a.positional.isEmpty else { throw UsageError(message: "unexpected argument '\(a.positional[0])' (stage files with 'mlrepo add')") }
    let ml = try ctx.ml()
    let r = try ml.commit(message: a.values("message").joined(separator: "\n\n"), allowEmpty: a.has("allowEmpty"))
    if !a.has("quiet") { ctx.out.line(r.id.hex) }
    for s in r.stale {
        let advice = s.removed ? "" : " (run 'mlrepo repro' and commit again)"
        ctx.err.line("warning: no lineage recorded for stage '\(s.stage)': \(s.reason)\(advice)")
    }
    return 0
}

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
    mlrepo log [REV] [-n N] [--json] [--oneline] [--kind KIND] [-- PATH]

    --json prints [{"id", "parents", "author", "time", "message"}] newest first
    (time in ISO 8601; also "timestamp" in unix seconds and "tree").
    --kind KIND (model, dataset, features, labels, code, metrics, params, other) lists only
    commits that changed a path of that kind, naming the paths ("paths" in --json).
    """,
    flags: ["json": ["--json"], "oneline": ["--oneline"]],
    options: ["n": ["-n", "--max-count"], "kind": ["--kind"]]
) { a, ctx in
    let repo = try ctx.repository()
    guard a.positional.count <= 1 else { throw UsageError(message: "log takes one revision") }
    let limit = try a.int("n")
    var path: String? = nil
    if let ps = a.paths {
        guard ps.count == 1 else { throw UsageError(message: "log takes one path after --") }
        path = try ctx.rel(ps[0])
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
        guard path == nil else { throw UsageError(message: "give --kind or a path, not both") }
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
    let entries = try repo.log(from: start, limit: limit, path: path)
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

/// git-style commit header and indented message.
func printCommit(_ id: ObjectId, _ c: Commit, _ ctx: Context, showParents: Bool = false) {
    ctx.out.line("commit \(id.hex)")
    if showParents { for p in c.parents { ctx.out.line("Parent: \(p.hex)") } }
    ctx.out.line("Author: \(c.author.person)")
    ctx.out.line("Date:   \(formatTime(c.author.time, tzMinutes: c.author.tzOffsetMinutes))")
    ctx.out.line("")
    for l in c.message.split(separator: "\n", omittingEmptySubsequences: false).dropLast(c.message.hasSuffix("\n") ? 1 : 0) { ctx.out.line("    \(l)") }
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
        case .removed: change = "removed  \(formatBytes(e.oldSize ?? 0))"; removed += 1
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

let diffCommand = Command(
    name: "diff", kind: .porcelain, summary: "list added, removed and modified paths with sizes",
    usage: """
    mlrepo diff [REV [REV]] [--cached] [--stat] [--json] [-- PATH...]

    No REV: the work tree against the index. One REV: the work tree against REV (with
    --cached: the index against REV). Two: the first against the second.
    --json prints [{"path", "status", "old_size", "new_size", "old_id", "new_id"}], status one
    of added/removed/modified (sizes null where the side has no file).
    For a modified CSV file the diff also shows the data's changes: row count, columns added,
    removed or retyped, and every changed column statistic (count, missing, min, max, mean,
    std, distinct); in --json as "profile": {"rows": {"old", "new"}, "columns_added",
    "columns_removed", "retyped": [{"column", "old", "new"}], "changes": [{"column", "stat",
    "old", "new"}]}. Profiles are cached by file id (see 'mlrepo profile'). --no-profile skips them.
    """,
    flags: ["json": ["--json"], "stat": ["--stat"], "cached": ["--cached", "--staged"], "nameOnly": ["--name-only"],
            "noProfile": ["--no-profile"]]
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
        let code = e.status == .added ? "A" : e.status == .removed ? "D" : "M"
        let sizes = "\(e.oldSize.map(String.init) ?? "-") -> \(e.newSize.map(String.init) ?? "-")"
        ctx.out.line("\(code)\t\(Quote.path(e.path))\t\(sizes)")
        if let p = profiles[e.path] { printComparison(p, ctx) }
    }
    return 0
}

let checkoutCommand = Command(
    name: "checkout", kind: .porcelain, summary: "check out a revision, or restore paths",
    usage: """
    mlrepo checkout [-f] REV
    mlrepo checkout [-f] [REV] -- PATH...

    The first form updates the work tree and index to REV (a branch name makes HEAD
    follow it; anything else detaches HEAD). The second restores PATHs from REV (staging
    them) or from the index. Both refuse to overwrite uncommitted changes unless -f/--force.
    """,
    flags: ["force": ["-f", "--force"]]
) { a, ctx in
    let repo = try ctx.repository()
    if let paths = a.paths {
        guard !paths.isEmpty else { throw UsageError(message: "give the paths to restore after --") }
        guard a.positional.count <= 1 else { throw UsageError(message: "checkout takes one revision") }
        let r = try repo.checkoutPaths(try paths.map { try ctx.rel($0) }, rev: a.positional.first, force: a.has("force"))
        ctx.err.line("Updated \(r.written.count) path(s)")
        return 0
    }
    guard a.positional.count == 1 else { throw UsageError(message: "checkout takes one revision (or paths after --)") }
    let r = try repo.checkout(a.positional[0], force: a.has("force"))
    switch r.head {
    case .branch(let b): ctx.err.line("Switched to branch '\(b)' (\(r.written.count) written, \(r.removed.count) removed)")
    case .detached(let id): ctx.err.line("HEAD is now at \(id.short) (detached; \(r.written.count) written, \(r.removed.count) removed)")
    }
    return 0
}

let switchCommand = Command(
    name: "switch", kind: .porcelain, summary: "switch to a branch, or create one with -c",
    usage: "mlrepo switch [-f] BRANCH\nmlrepo switch -c BRANCH [START]",
    flags: ["create": ["-c", "--create"], "force": ["-f", "--force", "--discard-changes"]]
) { a, ctx in
    let repo = try ctx.repository()
    guard let name = a.positional.first, a.positional.count <= (a.has("create") ? 2 : 1) else {
        throw UsageError(message: "switch takes a branch name")
    }
    let r = try repo.switchBranch(name, create: a.has("create"), start: a.positional.count > 1 ? a.positional[1] : nil, force: a.has("force"))
    ctx.err.line(a.has("create") ? "Switched to a new branch '\(name)'" : "Switched to branch '\(name)' (\(r.written.count) written, \(r.removed.count) removed)")
    return 0
}

let branchCommand = Command(
    name: "branch", kind: .porcelain, summary: "list, create or delete branches",
    usage: "mlrepo branch [--json]\nmlrepo branch [-f] NAME [REV]\nmlrepo branch -d|-D NAME\n\n-f moves an existing branch to REV (not the checked-out one).",
    flags: ["json": ["--json"], "verbose": ["-v", "--verbose"], "force": ["-f", "--force"]],
    options: ["delete": ["-d", "--delete"], "forceDelete": ["-D"]]
) { a, ctx in
    let repo = try ctx.repository()
    if let n = a.value("delete") ?? a.value("forceDelete") {
        let id = try repo.deleteBranch(n, force: a.value("forceDelete") != nil)
        ctx.out.line("Deleted branch \(n) (was \(id.short)).")
        return 0
    }
    if let name = a.positional.first {
        guard a.positional.count <= 2 else { throw UsageError(message: "branch takes NAME [REV]") }
        let existed = a.has("force") && (try? repo.refs.read("refs/heads/" + name)) != nil
        let id = try repo.createBranch(name, at: a.positional.count > 1 ? a.positional[1] : nil, force: a.has("force"))
        ctx.err.line(existed ? "Reset branch \(name) to \(id.short)" : "Created branch \(name) at \(id.short)")
        return 0
    }
    var current: String? = nil
    if case .branch(let b) = try repo.refs.head() { current = b }
    let list = try repo.branches()
    if a.has("json") {
        ctx.out.line(JSON.array(list.map { .object(["name": .string($0.name), "id": .string($0.id.hex), "current": .bool($0.name == current)]) }).encoded(pretty: true))
        return 0
    }
    for (n, id) in list {
        ctx.out.line((n == current ? "* " : "  ") + n + (a.has("verbose") ? " \(id.short) \(try repo.readCommit(id).subject)" : ""))
    }
    return 0
}

let tagCommand = Command(
    name: "tag", kind: .porcelain, summary: "list, create or delete tags",
    usage: "mlrepo tag [--json]\nmlrepo tag [-f] NAME [REV]\nmlrepo tag -d NAME",
    flags: ["json": ["--json"], "force": ["-f", "--force"]],
    options: ["delete": ["-d", "--delete"]]
) { a, ctx in
    let repo = try ctx.repository()
    if let n = a.value("delete") {
        let id = try repo.deleteTag(n)
        ctx.out.line("Deleted tag '\(n)' (was \(id.short))")
        return 0
    }
    if let name = a.positional.first {
        guard a.positional.count <= 2 else { throw UsageError(message: "tag takes NAME [REV]") }
        _ = try repo.createTag(name, at: a.positional.count > 1 ? a.positional[1] : nil, force: a.has("force"))
        return 0
    }
    let list = try repo.tags()
    if a.has("json") {
        ctx.out.line(JSON.array(list.map { .object(["name": .string($0.name), "id": .string($0.id.hex)]) }).encoded(pretty: true))
        return 0
    }
    for (n, _) in list { ctx.out.line(n) }
    return 0
}

let fsckCommand = Command(
    name: "fsck", kind: .porcelain, summary: "verify every reachable object",
    usage: "mlrepo fsck [--json]\n\nChecks HEAD, every ref and reflog, and re-hashes every object reachable from branches, tags,\nHEAD, reflogs and the index. Exits 1 naming each problem: a missing or corrupt object, a bad\nHEAD, a ref file with an invalid name or content, a reflog line that does not parse.",
    flags: ["json": ["--json"]]
) { a, ctx in
    let repo = try ctx.repository()
    let t0 = Clock.monotonic()
    let r = try repo.fsck()
    if a.has("json") {
        ctx.out.line(JSON.object([
            "objects": .int(Int64(r.objectsChecked)), "bytes": .int(Int64(r.bytesChecked)),
            "not_fetched": .int(Int64(r.notFetched)),
            "problems": .array(r.problems.map { .object(["id": jsonId($0.id), "context": .string($0.context), "message": .string($0.message)]) }),
        ]).encoded(pretty: true))
    } else {
        for p in r.problems { ctx.err.line("error: " + Quote.controls("\(p)")) }
        let dt = Clock.monotonic() - t0
        let lazy = r.notFetched > 0 ? " (\(r.notFetched) not fetched: on remote '\(repo.lazyRemote ?? "?")')" : ""
        ctx.out.line("checked \(r.objectsChecked) objects, \(formatBytes(r.bytesChecked)) in \(format1(dt)) s\(lazy): " + (r.problems.isEmpty ? "ok" : "\(r.problems.count) problem(s)"))
    }
    return r.problems.isEmpty ? 0 : 1
}

let gcCommand = Command(
    name: "gc", kind: .porcelain, summary: "drop unreachable data and repack",
    usage: """
    mlrepo gc [--dry-run] [--expire-reflogs] [--json]
    mlrepo gc --remote NAME [--dry-run] [--grace SECONDS]

    Keeps everything reachable from branches, tags, HEAD, reflogs and the index; repacks
    into one pack and removes temp files left by killed writers. --expire-reflogs first
    forgets the reflogs, so data only a deleted branch or an old checkout reached goes too.

    --remote NAME removes the remote's packs that none of its refs reach, once they are older
    than --grace seconds (default 3600: a push in flight uploads packs before moving its ref).
    """,
    flags: ["dryRun": ["-n", "--dry-run"], "json": ["--json"], "expireReflogs": ["--expire-reflogs", "--prune-reflogs"]],
    options: ["remote": ["--remote"], "grace": ["--grace"]]
) { a, ctx in
    let repo = try ctx.repository()
    if let name = a.value("remote") {
        var grace = 3600.0
        if let g = a.value("grace") {
            guard let v = Double(g), v >= 0 else { throw UsageError(message: "--grace takes a number of seconds ≥ 0") }
            grace = v
        }
        let sync = try RemoteSync(repo: repo, remote: name)
        let r = try sync.gcRemote(dryRun: a.has("dryRun"), grace: grace)
        let verb = a.has("dryRun") ? "would remove" : "removed"
        ctx.out.line("\(verb) \(r.packsRemoved.count) unreachable pack(s) (\(formatBytes(UInt64(r.bytesRemoved)))) from \(name); kept \(r.packsKept) pack(s)"
                     + (r.packsTooYoung > 0 ? "; \(r.packsTooYoung) unreachable pack(s) younger than the grace period left alone" : "")
                     + (r.unreachableInKeptPacks > 0 ? "; \(r.unreachableInKeptPacks) unreachable object(s) remain inside kept packs" : ""))
        return 0
    }
    let r = try repo.gc(dryRun: a.has("dryRun"), expireReflogs: a.has("expireReflogs"))
    if a.has("json") {
        ctx.out.line(JSON.object([
            "reachable": .int(Int64(r.reachable)), "unreachable": .int(Int64(r.unreachable)),
            "unreachable_bytes": .int(Int64(r.unreachableBytes)), "packs_before": .int(Int64(r.packsBefore)),
            "packs_after": .int(Int64(r.packsAfter)), "bytes_before": .int(Int64(r.bytesBefore)),
            "bytes_after": .int(Int64(r.bytesAfter)), "dry_run": .bool(a.has("dryRun")),
        ]).encoded(pretty: true))
        return 0
    }
    if a.has("dryRun") {
        ctx.out.line("would remove \(r.unreachable) unreachable object(s) (\(formatBytes(r.unreachableBytes))) and \(r.tempFilesRemoved) temp file(s); \(r.packsBefore) pack(s)")
    } else {
        ctx.out.line("removed \(r.unreachable) unreachable object(s) (\(formatBytes(r.unreachableBytes))) and \(r.tempFilesRemoved) temp file(s); packs \(r.packsBefore) -> \(r.packsAfter); store \(formatBytes(r.bytesBefore)) -> \(formatBytes(r.bytesAfter))")
    }
    return 0
}

let duCommand = Command(
    name: "du", kind: .porcelain, summary: "logical size, stored size and dedup ratio",
    usage: "mlrepo du [--json]",
    flags: ["json": ["--json"]]
) { a, ctx in
    let repo = try ctx.repository()
    let r = try repo.du()
    let ratio = (r.dedupRatio * 100).rounded() / 100
    if a.has("json") {
        ctx.out.line(JSON.object([
            "head_files": .int(Int64(r.headFiles)), "head_bytes": .int(Int64(r.headBytes)),
            "commits": .int(Int64(r.commits)), "file_versions": .int(Int64(r.fileVersions)),
            "logical_bytes": .int(Int64(r.logicalBytes)), "unique_chunks": .int(Int64(r.uniqueChunks)),
            "unique_chunk_bytes": .int(Int64(r.uniqueChunkBytes)), "stored_bytes": .int(Int64(r.storedBytes)),
            "objects": .int(Int64(r.objects)), "packs": .int(Int64(r.packs)), "dedup_ratio": .number(ratio),
        ]).encoded(pretty: true))
        return 0
    }
    ctx.out.line("HEAD:            \(r.headFiles) files, \(formatBytes(r.headBytes))")
    ctx.out.line("logical size:    \(formatBytes(r.logicalBytes)) (\(r.fileVersions) distinct file versions in \(r.commits) commits)")
    ctx.out.line("unique chunks:   \(formatBytes(r.uniqueChunkBytes)) (\(r.uniqueChunks) chunks)")
    ctx.out.line("stored size:     \(formatBytes(r.storedBytes)) (\(r.objects) objects in \(r.packs) packs)")
    ctx.out.line("dedup ratio:     \(ratio)x")
    return 0
}

let configCommand = Command(
    name: "config", kind: .porcelain, summary: "get or set repository settings",
    usage: """
    mlrepo config KEY [VALUE]
    mlrepo config --list
    mlrepo config --unset KEY

    Keys: user.name, user.email, core.compression (none|auto|all), core.fsync (true|false),
    chunking.avgsize (bytes, power of two; affects new files only).
    A line of .mlrepo/config that does not parse stops every command, naming the file and
    line; setting or unsetting a key rewrites the file without such lines (and says so).
    """,
    flags: ["list": ["-l", "--list"], "unset": ["--unset"]]
) { a, ctx in
    // Opened leniently, so that setting or unsetting a key can repair a broken file.
    let repo = try Repository.discover(from: ctx.cwd, lenientConfig: true, settings: Settings.store)
    let path = repo.dotDir + "/config"
    let writes = !a.has("list") && (a.has("unset") || a.positional.count == 2)
    if !writes, let p = repo.config.problems.first { throw UserError(message: "\(path):\(p.line): \(p.reason)") }
    func set(_ key: String, _ value: String?) throws {
        for d in try repo.setConfig(key, value, dropUnparseable: true) { ctx.err.line("warning: \(d); removed that line") }
    }
    if a.has("list") {
        for (k, v) in repo.config.values { ctx.out.line("\(k)=\(v)") }
        return 0
    }
    guard let key = a.positional.first, a.positional.count <= 2 else { throw UsageError(message: "config takes KEY [VALUE]") }
    guard key.contains(".") else { throw UsageError(message: "key '\(key)' must look like section.name") }
    if a.has("unset") { try set(key, nil); return 0 }
    if a.positional.count == 2 {
        let v = a.positional[1]
        switch key.lowercased() {
        case "core.compression":
            guard CompressionPolicy(rawValue: v) != nil else { throw UserError(message: "core.compression must be none, auto or all, not '\(v)'") }
        case "core.fsync":
            guard ["true", "false", "yes", "no", "on", "off", "1", "0"].contains(v.lowercased()) else { throw UserError(message: "core.fsync must be true or false") }
        case "chunking.avgsize":
            guard let n = Int(v), n >= 256, n <= FormatLimits.maxAverageChunkSize, n & (n - 1) == 0 else {
                throw UserError(message: "chunking.avgsize must be a power of two from 256 to \(FormatLimits.maxAverageChunkSize)")
            }
        default: break
        }
        try set(key, v)
        return 0
    }
    guard let v = repo.config[key] else { return 1 }
    ctx.out.line(v)
    return 0
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

let resetCommand = Command(
    name: "reset", kind: .porcelain, summary: "move the branch; rebuild the index (or the work tree)",
    usage: """
    mlrepo reset [--soft | --mixed | --hard] [REV]

    Moves the current branch (or detached HEAD) to REV (default HEAD). --soft keeps the
    index and work tree; --mixed (default) rebuilds the index from REV, keeping the work tree
    (this also repairs a damaged .mlrepo/index); --hard also resets the work tree,
    discarding uncommitted changes to tracked files.
    """,
    flags: ["soft": ["--soft"], "mixed": ["--mixed"], "hard": ["--hard"]]
) { a, ctx in
    guard a.positional.count <= 1 else { throw UsageError(message: "reset takes at most one revision") }
    let modes = ["soft", "mixed", "hard"].filter { a.has($0) }
    guard modes.count <= 1 else { throw UsageError(message: "choose one of --soft, --mixed, --hard") }
    let mode = Repository.ResetMode(rawValue: modes.first ?? "mixed")!
    let repo = try ctx.repository()
    let id = try repo.reset(to: a.positional.first, mode: mode)
    ctx.err.line(id.map { "HEAD is now at \($0.short)" } ?? "index cleared (no commits yet)")
    return 0
}

// MARK: Plumbing

let revParseCommand = Command(
    name: "rev-parse", kind: .plumbing, summary: "print the full id of revisions",
    usage: "mlrepo rev-parse REV...\n\nREV: a full id or unique prefix (4+ hex digits), HEAD, a branch, a tag, refs/..., with ~N, ^ or ^N;\nREV:PATH is the id of the file or folder at PATH in REV.\n--abbrev-ref HEAD prints the branch name.",
    flags: ["abbrevRef": ["--abbrev-ref"], "short": ["--short"]]
) { a, ctx in
    guard !a.positional.isEmpty else { throw UsageError(message: "rev-parse needs a revision") }
    let repo = try ctx.repository()
    for r in a.positional {
        if a.has("abbrevRef") && r == "HEAD" {
            if case .branch(let b) = try repo.refs.head() { ctx.out.line(b) } else { ctx.out.line("HEAD") }
            continue
        }
        let id: ObjectId
        if r.contains(":") {
            // REV:PATH names the file or folder at PATH in REV, as in git.
            let (commit, path) = try repo.resolvePathSpec(r)
            guard let e = try repo.entry(in: repo.readCommit(commit).tree, path: path) else {
                throw UserError(message: "path '\(path)' does not exist in \(r.split(separator: ":").first.map(String.init) ?? "HEAD") (\(commit.short))")
            }
            id = e.id
        } else { id = try repo.resolve(r) }
        ctx.out.line(a.has("short") ? id.short : id.hex)
    }
    return 0
}

let hashObjectCommand = Command(
    name: "hash-object", kind: .plumbing, summary: "print the id a file would have",
    usage: "mlrepo hash-object [-w] FILE...\n\n-w also stores it. Outside a repository, ids use the default chunk size.",
    flags: ["write": ["-w"]]
) { a, ctx in
    guard !a.positional.isEmpty else { throw UsageError(message: "hash-object needs a file") }
    for f in a.positional {
        let path = f.hasPrefix("/") ? f : Path.join(ctx.cwd, f)
        guard let st = FS.stat(path), st.isRegular else { throw UserError(message: "cannot hash '\(f)': not a regular file") }
        let repo = try? ctx.repository()
        if a.has("write") {
            guard let repo else { throw UserError(message: "hash-object -w needs a repository") }
            ctx.out.line(try repo.hashFile(path, write: true).id.hex)
        } else if let repo {
            ctx.out.line(try repo.hashFile(path, write: false).id.hex)
        } else {
            let tmp = try ObjectStore(directory: "/nonexistent-mlrepo-scratch", durable: false)
            tmp.mapFiles = Settings.store.mapFiles
            ctx.out.line(try FileWriter(store: tmp, chunker: .default, dryRun: true).store(path: path).id.hex)
        }
    }
    return 0
}

let catObjectCommand = Command(
    name: "cat-object", kind: .plumbing, summary: "print an object's payload, kind or size",
    usage: "mlrepo cat-object [-t | -s | -p] ID\n\nWithout a flag: the raw payload bytes. -t kind, -s payload size, -p pretty form.",
    flags: ["type": ["-t"], "size": ["-s"], "pretty": ["-p"]]
) { a, ctx in
    guard a.positional.count == 1 else { throw UsageError(message: "cat-object takes one object id") }
    let repo = try ctx.repository()
    let id = try repo.resolve(a.positional[0])
    guard let info = try repo.store.info(id) else { throw UserError(message: "object \(id.hex) is missing") }
    if a.has("type") { ctx.out.line(info.kind.name); return 0 }
    if a.has("size") { ctx.out.line(String(info.size)); return 0 }
    try repo.store.withObject(id) { kind, bytes in
        guard a.has("pretty") else { ctx.out.writeBytes(bytes); return }
        switch kind {
        case .tree:
            for e in try Tree.decode(bytes, id: id).entries { ctx.out.line("\(e.mode.octal) \(e.size) \(e.id.hex)\t\(e.name)") }
        case .chunks:
            let l = try ChunkList.decode(bytes, id: id)
            ctx.out.line("level \(l.level) size \(l.totalSize) parts \(l.parts.count)")
            for p in l.parts { ctx.out.line("\(p.id.hex) \(p.size)") }
        default: ctx.out.writeBytes(bytes)
        }
    }
    return 0
}

let lsTreeCommand = Command(
    name: "ls-tree", kind: .plumbing, summary: "list a tree's entries",
    usage: """
    mlrepo ls-tree [-r] [--json] REV [PATH]

    One line per entry: mode, kind, id, size, path. -r recurses into folders.
    --json prints [{"path", "id", "size", "mode"}] (mode as octal text).
    """,
    flags: ["recursive": ["-r"], "json": ["--json"]]
) { a, ctx in
    guard (1...2).contains(a.positional.count) else { throw UsageError(message: "ls-tree takes REV [PATH]") }
    let repo = try ctx.repository()
    let target = try repo.resolve(a.positional[0])
    guard let info = try repo.store.info(target) else { throw UserError(message: "object \(target.hex) is missing") }
    var tree = target
    if info.kind == .commit { tree = try repo.readCommit(target).tree }
    else if info.kind != .tree { throw UserError(message: "'\(a.positional[0])' is not a commit or tree") }
    var base = ""
    if a.positional.count == 2 {
        var p = a.positional[1]
        while p.hasSuffix("/") { p.removeLast() }
        guard let e = try repo.entry(in: tree, path: p) else { throw UserError(message: "path '\(p)' does not exist in \(a.positional[0])") }
        if e.mode.isDirectory { tree = e.id; base = p } else {
            let row: [(String, TreeEntry)] = [(p, e)]
            return try emitTree(row, a, ctx)
        }
    }
    var rows: [(String, TreeEntry)] = []
    let recursive = a.has("recursive")
    try repo.walkTree(tree, base: base, descend: { _, _ in recursive }) { p, e in
        if !(e.mode.isDirectory && recursive) { rows.append((p, e)) }
    }
    return try emitTree(rows, a, ctx)
}

func emitTree(_ rows: [(String, TreeEntry)], _ a: Args, _ ctx: Context) throws -> Int32 {
    if a.has("json") {
        ctx.out.line(JSON.array(rows.map { p, e in .object([
            "path": .string(p), "id": .string(e.id.hex), "size": .int(Int64(e.size)),
            "mode": .string(String(repeating: "0", count: max(0, 6 - e.mode.octal.count)) + e.mode.octal),
            "type": .string(e.mode.isDirectory ? "tree" : "file"),
        ]) }).encoded(pretty: true))
        return 0
    }
    for (p, e) in rows {
        let mode = String(repeating: "0", count: max(0, 6 - e.mode.octal.count)) + e.mode.octal
        ctx.out.line("\(mode) \(e.mode.isDirectory ? "tree" : "file") \(e.id.hex) \(String(e.size).leftPad(12))\t\(Quote.path(p))")
    }
    return 0
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
