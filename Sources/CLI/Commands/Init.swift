import ML
import Store
import Support

// `mlrepo init`: create a repository.

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
