import ML
import Store
import Support

// `params diff`, `metrics show` and `metrics diff`.

func valuesCommand(metrics: Bool) -> Command {
    let noun = metrics ? "metrics" : "params"
    let col = metrics ? "Metric" : "Param"
    return Command(
        name: noun, kind: .porcelain,
        summary: metrics ? "show metrics, or diff them between revisions" : "diff params between revisions",
        usage: """
        mlrepo \(noun) diff [A [B]] [--all] [--json] [--md] [--precision N]
        \(metrics ? "mlrepo metrics show [REV] [--json] [--md] [--precision N]\n" : "")
        Compares the \(noun) the stages of mlrepo.json declare, flattened to dotted keys, between
        A (default HEAD) and B (default the work tree; "workspace" names it explicitly).
        Only changed rows unless --all. --json prints DVC's shape
        {"path": {"key": {"old": x, "new": y, "diff": d}}} (diff null when not numeric);
        --md a Markdown table; --precision N rounds shown numbers to N digits (default 5).
        """,
        flags: ["all": ["-a", "--all"], "json": ["--json"], "md": ["--md", "--markdown"]],
        options: ["precision": ["--precision"]]
    ) { a, ctx in
        guard let sub = a.positional.first, sub == "diff" || (metrics && sub == "show") else {
            throw UsageError(message: metrics ? "use 'mlrepo metrics diff [A [B]]' or 'mlrepo metrics show [REV]'" : "use 'mlrepo params diff [A [B]]'")
        }
        let ml = try ctx.ml()
        let precision = min(try a.int("precision") ?? 5, 17)
        let revs = Array(a.positional.dropFirst())
        if sub == "show" {
            guard revs.count <= 1 else { throw UsageError(message: "metrics show takes at most one revision") }
            let side = try ml.comparisonSide(revs.first, defaultHead: false)
            let v = try ml.values(of: side, metrics: true)
            if a.has("json") {
                ctx.out.line(JSON.object(v.mapValues { .object($0) }).encoded(pretty: true)); return 0
            }
            if v.isEmpty { ctx.err.line("no metrics files found in \(side.label) (declare them under \"metrics\" in mlrepo.json)"); return 0 }
            var rows: [[String]] = []
            for p in v.keys.sorted() { for k in v[p]!.keys.sorted() { rows.append([p, k, v[p]![k]!.display(precision: precision)]) } }
            valueTable(["Path", "Metric", "Value"], rows, md: a.has("md"), ctx)
            return 0
        }
        guard revs.count <= 2 else { throw UsageError(message: "\(noun) diff takes at most two revisions") }
        let sa = try ml.comparisonSide(revs.first, defaultHead: true)
        let sb = try ml.comparisonSide(revs.count > 1 ? revs[1] : nil, defaultHead: false)
        let rows = compareValues(try ml.values(of: sa, metrics: metrics), try ml.values(of: sb, metrics: metrics), all: a.has("all"))
        if a.has("json") { ctx.out.line(changesJSON(rows).encoded(pretty: true)); return 0 }
        if rows.isEmpty { return 0 }
        let table = rows.map { r -> [String] in
            let change: String
            if let d = r.diff { change = (d > 0 ? "+" : "") + formatFixed(d, precision) }
            else if r.old == nil { change = "added" } else if r.new == nil { change = "removed" }
            else { change = r.changed ? "changed" : "-" }
            return [r.path, r.key, r.old?.display(precision: precision) ?? "-", r.new?.display(precision: precision) ?? "-", change]
        }
        valueTable(["Path", col, sa.label, sb.label, "Change"], table, md: a.has("md"), ctx)
        return 0
    }
}

let metricsCommand = valuesCommand(metrics: true)

let paramsCommand = valuesCommand(metrics: false)
