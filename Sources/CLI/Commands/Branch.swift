import ML
import Store
import Support

// Named refs: `branch`, `tag`.

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
