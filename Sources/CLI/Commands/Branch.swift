import ML
import Store
import Support

// Named refs: `branch`, `tag`.

let branchCommand = Command(
    name: "branch", kind: .porcelain, summary: "list, create or delete branches",
    usage: """
    mlrepo branch [-a | -r] [-v] [--json]
    mlrepo branch [-f] NAME [REV]
    mlrepo branch -d|-D NAME

    Without NAME: the local branches, the current one marked "*". -r/--remotes lists the
    remote-tracking branches instead (refs/remotes/REMOTE/BRANCH, where fetch, pull and push
    record each remote's branches), as "origin/main"; -a/--all lists both, the remote ones as
    "remotes/origin/main". -v adds each branch's commit and subject. --json prints
    [{"name", "id", "current"}], with "remote": true or false under -a or -r (a remote one
    named "origin/main").
    -f moves an existing branch to REV (not the checked-out one).
    """,
    flags: ["json": ["--json"], "verbose": ["-v", "--verbose"], "force": ["-f", "--force"],
            "all": ["-a", "--all"], "remotes": ["-r", "--remotes"]],
    options: ["delete": ["-d", "--delete"], "forceDelete": ["-D"]]
) { a, ctx in
    let repo = try ctx.repository()
    if let n = a.value("delete") ?? a.value("forceDelete") {
        let id = try repo.deleteBranch(n, force: a.value("forceDelete") != nil)
        ctx.out.line("Deleted branch \(n) (was \(id.short)).")
        return 0
    }
    let all = a.has("all"), remotes = a.has("remotes")
    if let name = a.positional.first {
        guard !all && !remotes else { throw UsageError(message: "-a and -r list branches; they take no NAME") }
        guard a.positional.count <= 2 else { throw UsageError(message: "branch takes NAME [REV]") }
        let existed = a.has("force") && (try? repo.refs.read("refs/heads/" + name)) != nil
        let id = try repo.createBranch(name, at: a.positional.count > 1 ? a.positional[1] : nil, force: a.has("force"))
        ctx.err.line(existed ? "Reset branch \(name) to \(id.short)" : "Created branch \(name) at \(id.short)")
        return 0
    }
    var current: String? = nil
    if case .branch(let b) = try repo.refs.head() { current = b }
    let local = remotes && !all ? [] : try repo.branches()
    let tracking = all || remotes ? try repo.refs.list("remotes") : []
    if a.has("json") {
        func row(_ name: String, _ id: ObjectId, remote: Bool) -> JSON {
            var o: [String: JSON] = ["name": .string(name), "id": .string(id.hex), "current": .bool(!remote && name == current)]
            if all || remotes { o["remote"] = .bool(remote) }
            return .object(o)
        }
        ctx.out.line(JSON.array(local.map { row($0.name, $0.id, remote: false) } + tracking.map { row($0.name, $0.id, remote: true) }).encoded(pretty: true))
        return 0
    }
    func subject(_ id: ObjectId) -> String {
        // A remote-tracking ref of a shallow or lazy clone may name a commit not fetched.
        " \(id.short) " + ((try? repo.readCommit(id).subject) ?? "(commit not in this repository)")
    }
    for (n, id) in local {
        ctx.out.line((n == current ? "* " : "  ") + n + (a.has("verbose") ? " \(id.short) \(try repo.readCommit(id).subject)" : ""))
    }
    for (n, id) in tracking {
        ctx.out.line("  " + (all ? "remotes/" : "") + Quote.controls(n) + (a.has("verbose") ? subject(id) : ""))
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
