import ML
import Store
import Support
import UI

// `mlrepo plots show|diff`: static HTML reports of declared plots and training curves.
// SCAFFOLD (helper A builds it).

let plotsCommand = Command(
    name: "plots", kind: .porcelain, summary: "draw declared plots and training curves as a static HTML report",
    usage: """
    mlrepo plots show [TARGET...] [-o DIR] [--json]
    mlrepo plots diff [REV...] [--targets T...] [-o DIR] [--json]
    """,
    flags: ["json": ["--json"]],
    options: ["out": ["-o", "--out"]]
) { a, ctx in
    throw UserError(message: "plots: not built yet")
}
