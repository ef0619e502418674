import ML
import Store
import Support
import UI

// `mlrepo plots show|diff`: static HTML reports of declared plots and training curves.

let plotsCommand = Command(
    name: "plots", kind: .porcelain, summary: "draw declared plots and training curves as a static HTML report",
    usage: """
    mlrepo plots show [TARGET...] [-o DIR] [--json]
    mlrepo plots diff [REV...] [--targets T]... [-o DIR] [--json]

    Draws the plots the stages of mlrepo.json declare under "plots" (CSV, TSV or JSON files)
    and the training curves in their metrics files (every list of numbers, e.g. the
    loss_curve the built-in trainers record; its id is FILE:KEY).
    show: the work tree. diff: no REV compares HEAD with the work tree, one REV compares it
    with the work tree, several compare those commits ("workspace" names the work tree);
    the same plot from every revision is overlaid.
    TARGET (or --targets, repeatable) limits the report to a plot file, a metrics file or
    a FILE:KEY curve. Writes DIR/index.html (default DIR: mlrepo_plots), a page with the
    charts inline and no script, and prints its path. --json prints {"plots": [...]} with
    every point instead and writes nothing. See docs/plots.md.
    """,
    flags: ["json": ["--json"]],
    options: ["out": ["-o", "--out"], "targets": ["--targets", "-t"]]
) { a, ctx in
    guard let sub = a.positional.first, sub == "show" || sub == "diff" else {
        throw UsageError(message: "use 'mlrepo plots show [TARGET...]' or 'mlrepo plots diff [REV...]'")
    }
    let ml = try ctx.ml()
    let rest = Array(a.positional.dropFirst())
    var targets = a.values("targets")
    var revisions: [PlotRevision] = []
    func revision(_ r: String) throws -> PlotRevision {
        r == "workspace" ? PlotRevision(name: r, commit: nil) : PlotRevision(name: r, commit: try ml.repo.resolveCommit(r))
    }
    if sub == "show" {
        targets += rest
        revisions = [PlotRevision(name: "workspace", commit: nil)]
    } else {
        switch rest.count {
        case 0:
            // HEAD against the work tree; on an unborn branch, the work tree alone.
            revisions = try ml.repo.refs.headCommit() == nil ? [] : [try revision("HEAD")]
            revisions.append(PlotRevision(name: "workspace", commit: nil))
        case 1: revisions = [try revision(rest[0]), PlotRevision(name: "workspace", commit: nil)]
        default: revisions = try rest.map(revision)
        }
        var seen = Set<String>()
        for r in revisions where !seen.insert(r.name).inserted { throw UsageError(message: "revision '\(r.name)' is named twice") }
    }
    // Targets are repository paths (as the project names them), from wherever we stand.
    targets = try targets.map { t in
        if let c = t.lastIndex(of: ":"), !t.hasPrefix("/") {
            let file = String(t[..<c]), key = String(t[t.index(after: c)...])
            return (try ctx.rel(file)) + ":" + key
        }
        return try ctx.rel(t)
    }
    let groups = try PlotCollector(ml: ml).collect(revisions, targets: targets)
    if a.has("json") {
        ctx.out.line(PlotReport.json(groups: groups).encoded())
        return 0
    }
    let title = sub == "show" ? "Plots · workspace" : "Plots · " + revisions.map(\.name).joined(separator: " vs ")
    let html = PlotReport.html(title: title, revisions: revisions, groups: groups)
    let dirArg = a.value("out") ?? "mlrepo_plots"
    guard !dirArg.isEmpty else { throw UsageError(message: "-o takes a folder") }
    let dir = dirArg.hasPrefix("/") ? dirArg : Path.join(ctx.cwd, dirArg)
    try FS.mkdirs(dir)
    let file = Path.join(dir, "index.html")
    try FS.atomicWrite(file, text: html, durable: false)
    ctx.out.line(Path.join(dirArg, "index.html"))
    for g in groups where !g.problems.isEmpty {
        for r in revisions { if let p = g.problems[r.name] { ctx.err.line("warning: \(r.name): \(p)") } }
    }
    return 0
}
