import ML
import Store
import Support

// Moving the work tree and HEAD: `checkout`, `switch`, `reset`.

let checkoutCommand = Command(
    name: "checkout", kind: .porcelain, summary: "check out a revision, or restore paths",
    usage: """
    mlrepo checkout [-f] REV
    mlrepo checkout [-f] [REV] -- PATH...
    mlrepo checkout --ours | --theirs | --conflict=merge|diff3 [--] PATH...

    The first form updates the work tree and index to REV (a branch name makes HEAD
    follow it; anything else detaches HEAD). The second restores PATHs from REV (staging
    them) or from the index. Both refuse to overwrite uncommitted changes unless -f/--force.
    During a merge, --ours/--theirs write that side of each unmerged PATH (for a table: the
    merged table with each conflicting row taken from that side) and --conflict re-creates
    the conflict markers; the paths stay unmerged until 'mlrepo add PATH'.
    """,
    flags: ["force": ["-f", "--force"], "ours": ["--ours"], "theirs": ["--theirs"]],
    options: ["conflict": ["--conflict"]]
) { a, ctx in
    let repo = try ctx.repository()
    if a.has("ours") || a.has("theirs") || a.value("conflict") != nil {
        let chosen = [a.has("ours"), a.has("theirs"), a.value("conflict") != nil].filter { $0 }.count
        guard chosen == 1 else { throw UsageError(message: "choose one of --ours, --theirs, --conflict") }
        let paths = (a.paths ?? []) + a.positional
        guard !paths.isEmpty else { throw UsageError(message: "give the unmerged paths to check out") }
        let side: Repository.ConflictSide
        if a.has("ours") { side = .ours } else if a.has("theirs") { side = .theirs } else {
            guard let st = TextMergeOptions.Style(rawValue: a.value("conflict")!) else { throw UsageError(message: "--conflict takes merge or diff3") }
            side = .merge(st)
        }
        let written = try repo.checkoutConflicts(try paths.map { try ctx.rel($0) }, side: side)
        ctx.err.line("Updated \(written.count) path(s) (still unmerged: 'mlrepo add' them when resolved)")
        return 0
    }
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
