import ML
import Store
import Support

extension Context {
    func ml() throws -> MLRepo { MLRepo(try repository()) }
}

// MARK: run / repro

/// Prints pipeline progress; flushes before a stage's command writes to the same streams.
func pipelinePrinter(_ ctx: Context) -> PipelineEvents {
    return { e in
        switch e {
        case .upToDate(let s): ctx.out.line("stage \(s) is up to date")
        case .wouldRun(let s, let why): ctx.out.line("would run stage \(s) (\(why))")
        case .note(let s, let message): ctx.err.line(Quote.controls("note: stage '\(s)': \(message)"))
        case .running(let s, let action, let why):
            ctx.out.line("Running stage '\(s)' (\(why)):")
            ctx.out.line("> \(action)")
            ctx.out.flush(); ctx.err.flush()
        case .finished(let s, let secs, let rid):
            ctx.out.line("Recorded run of '\(s)' in \(format1(secs)) s (record \(rid.short))")
        }
    }
}

/// Runs `body`; a failed stage command ends the command with that command's exit status.
func stageStatus(_ ctx: Context, _ body: () throws -> Void) throws -> Int32 {
    do { try body() } catch let f as StageFailed {
        ctx.out.flush()
        ctx.err.line("error: " + Quote.controls("\(f)"))
        return f.status == 0 ? 1 : f.status
    }
    return 0
}

let runCommand = Command(
    name: "run", kind: .porcelain, summary: "run one pipeline stage now and record its lineage",
    usage: """
    mlrepo run STAGE

    Runs the stage of mlrepo.json in the repository root (its "cmd" by /bin/sh, with
    MLREPO_STAGE and MLREPO_ROOT set), whatever its state. On success its inputs, outputs,
    params files and mlrepo.json are staged and a lineage record is written; the next commit
    records it. A failed command exits with its own status and records nothing.
    """
) { a, ctx in
    guard a.positional.count == 1 else { throw UsageError(message: "run takes one stage name") }
    let ml = try ctx.ml()
    let code = try stageStatus(ctx) { try ml.run(stage: a.positional[0], events: pipelinePrinter(ctx)) }
    if code == 0 { ctx.out.line("Use 'mlrepo commit -m MSG' to record the run in history.") }
    return code
}

let reproCommand = Command(
    name: "repro", kind: .porcelain, summary: "re-run the stages whose inputs changed; --verify a commit",
    usage: """
    mlrepo repro [STAGE...] [-f|--force] [--dry-run]
    mlrepo repro --verify [--rev REV] [--json]

    Runs, in dependency order, every stage (of STAGE and the stages upstream of it, or all)
    whose command, params values, dependencies or outputs differ from its last recorded run;
    the rest print "stage NAME is up to date". --force runs them all; --dry-run only says
    what would run. Stops at the first failing command, with its exit status.

    --verify rebuilds REV (default HEAD) in a scratch folder, re-runs its recorded stages
    there and reports each output as "bit-identical" or "differs" (with metric deltas for
    metrics files). Exit 0 only when every output is bit-identical.
    """,
    flags: ["force": ["-f", "--force"], "dryRun": ["--dry-run", "--dry"], "verify": ["--verify"], "json": ["--json"]],
    options: ["rev": ["--rev", "-r"]]
) { a, ctx in
    let ml = try ctx.ml()
    if a.has("verify") {
        guard a.positional.isEmpty else { throw UsageError(message: "--verify checks a whole commit; use --rev REV instead of stage names") }
        let commit = try ml.repo.resolveCommit(a.value("rev") ?? "HEAD")
        let quiet = a.has("json")
        let report = try ml.verify(commit: commit, events: quiet ? { _ in } : pipelinePrinter(ctx))
        printVerify(report, json: a.has("json"), ctx)
        return report.identical ? 0 : 1
    }
    guard a.value("rev") == nil else { throw UsageError(message: "--rev goes with --verify") }
    var ran: [String] = []
    let code = try stageStatus(ctx) {
        ran = try ml.repro(targets: a.positional, force: a.has("force"), dryRun: a.has("dryRun"), events: pipelinePrinter(ctx))
    }
    if code == 0 && !ran.isEmpty && !a.has("dryRun") { ctx.out.line("Use 'mlrepo commit -m MSG' to record the runs in history.") }
    return code
}

func printVerify(_ r: VerifyReport, json: Bool, _ ctx: Context) {
    if json {
        let stages: [JSON] = r.stages.map { s in
            var o: [String: JSON] = [
                "stage": .string(s.stage), "record": jsonId(s.record),
                "exit_status": s.exitStatus.map { .int(Int64($0)) } ?? .null,
                "error": s.error.map { .string($0) } ?? .null,
                "duration_s": .number((s.seconds * 1000).rounded() / 1000),
            ]
            o["outputs"] = .array(s.outputs.map { v in
                .object([
                    "path": .string(v.path), "kind": .string(v.kind.rawValue),
                    "recorded": s.record == nil ? .null : .string(v.recorded.hex), "reproduced": jsonId(v.reproduced),
                    "status": .string(v.identical ? "bit-identical" : v.reproduced == nil ? "missing" : "differs"),
                    "metrics": changesJSON(v.metricChanges)[v.path] ?? .object([:]),
                    "max_weight_difference": v.maxWeightDifference.map { .number($0) } ?? .null,
                ])
            })
            return .object(o)
        }
        ctx.out.line(JSON.object(["commit": .string(r.commit.hex), "identical": .bool(r.identical), "stages": .array(stages)]).encoded(pretty: true))
        return
    }
    ctx.out.line("")
    ctx.out.line("Verification of \(r.commit.short):")
    var total = 0, same = 0
    for s in r.stages {
        ctx.out.line("stage \(s.stage)" + (s.error.map { ": \($0)" } ?? ""))
        for v in s.outputs {
            total += 1
            if v.identical { same += 1; ctx.out.line("  \(Quote.path(v.path)): bit-identical"); continue }
            if s.error != nil { ctx.out.line("  \(Quote.path(v.path)): not reproduced"); continue }
            guard let now = v.reproduced else { ctx.out.line("  \(Quote.path(v.path)): differs (the re-run did not write it)"); continue }
            ctx.out.line("  \(Quote.path(v.path)): differs (recorded \(v.recorded.short), reproduced \(now.short))"
                         + (v.maxWeightDifference.map { "; max |weight difference| \($0)" } ?? ""))
            for c in v.metricChanges {
                let d = c.diff.map { ($0 >= 0 ? " (+" : " (") + formatFixed($0, 6) + ")" } ?? ""
                ctx.out.line("    \(c.key): \(c.old?.display() ?? "-") -> \(c.new?.display() ?? "-")\(d)")
            }
        }
    }
    ctx.out.line(same == total ? "all \(total) output(s) bit-identical" : "\(total - same) of \(total) output(s) differ")
}

// MARK: params / metrics

/// One side of a comparison: a commit, or the work tree ("workspace").
enum ValueSide {
    case commit(ObjectId?, label: String)
    case workspace

    var label: String { if case .commit(_, let l) = self { return l }; return "workspace" }
}

func resolveSide(_ rev: String?, _ ml: MLRepo, defaultHead: Bool) throws -> ValueSide {
    guard let rev else {
        if defaultHead { return .commit(try ml.repo.refs.headCommit(), label: "HEAD") }
        return .workspace
    }
    if rev == "workspace" { return .workspace }
    return .commit(try ml.repo.resolveCommit(rev), label: rev)
}

/// Params (`metrics` false) or metrics values of one side, for the stages its project declares.
func values(_ side: ValueSide, metrics: Bool, _ ml: MLRepo) throws -> ValuesByFile {
    var out: ValuesByFile = [:]
    switch side {
    case .commit(let id, _):
        guard let id else { return [:] }
        let files = try ml.repo.files(ofCommit: id)
        guard let project = try ml.project(in: files, label: id.short) else { return [:] }
        let read: (String) throws -> String? = { p in try files[p].map { try ml.text(of: $0.id, path: p) } }
        try collect(project, metrics: metrics, read: read, into: &out)
    case .workspace:
        guard let project = try ml.workProject() else { return [:] }
        try collect(project, metrics: metrics, read: ml.workText, into: &out)
    }
    return out
}

func collect(_ project: Project, metrics: Bool, read: (String) throws -> String?, into out: inout ValuesByFile) throws {
    for name in project.order {
        let s = project.stages[name]!
        if metrics {
            for m in s.metrics { if let t = try read(m.path) { out[m.path] = try readMetrics(t, file: m.path) } }
        } else {
            for r in s.params {
                // A params file or key missing on one side shows as added or removed.
                guard let v = try? readParams([r], stage: name, read: read) else { continue }
                for (f, kv) in v { out[f, default: [:]].merge(kv) { $1 } }
            }
            for (f, kv) in s.builtinParams { out[f, default: [:]].merge(kv) { $1 } }
        }
    }
}

func valueTable(_ header: [String], _ rows: [[String]], md: Bool, _ ctx: Context) {
    // Cells come from repository files (metric and param names, paths): no raw control bytes.
    let header = header.map(Quote.controls), rows = rows.map { $0.map(Quote.controls) }
    if md {
        ctx.out.line("| " + header.joined(separator: " | ") + " |")
        ctx.out.line("|" + header.map { _ in "---" }.joined(separator: "|") + "|")
        for r in rows { ctx.out.line("| " + r.map { $0.replacingOccurrences("|", "\\|") }.joined(separator: " | ") + " |") }
        return
    }
    var w = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() { w[i] = max(w[i], c.count) } }
    func line(_ cells: [String]) -> String {
        var s = ""
        for (i, c) in cells.enumerated() { s += i == cells.count - 1 ? c : c.padding(w[i]) + "  " }
        return s
    }
    ctx.out.line(line(header))
    for r in rows { ctx.out.line(line(r)) }
}

extension String {
    func replacingOccurrences(_ a: String, _ b: String) -> String {
        split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b)
    }
}

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
            let side = try resolveSide(revs.first, ml, defaultHead: false)
            let v = try values(side, metrics: true, ml)
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
        let sa = try resolveSide(revs.first, ml, defaultHead: true)
        let sb = try resolveSide(revs.count > 1 ? revs[1] : nil, ml, defaultHead: false)
        let rows = compareValues(try values(sa, metrics: metrics, ml), try values(sb, metrics: metrics, ml), all: a.has("all"))
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

// MARK: exp show

let expCommand = Command(
    name: "exp", kind: .porcelain, summary: "compare experiments: one row per commit with params and metrics",
    usage: """
    mlrepo exp show [BRANCH] [-n N] [--json] [--md] [--sort-by NAME] [--sort-order asc|desc] [--precision N]

    One row per commit reachable from BRANCH (default HEAD), newest first, with the params and
    metrics its commit recorded as columns (read from commit metadata only: no data is read).
    Columns are named by key, or FILE:KEY where two files share a key. --sort-by sorts by a
    metric or param (FILE:KEY or KEY); rows without it go last. --json prints
    [{"id", "time", "timestamp", "message", "params": {FILE: {KEY: v}}, "metrics": {...}, "runs": {STAGE: RECORD}}].
    """,
    flags: ["json": ["--json"], "md": ["--md", "--markdown"]],
    options: ["n": ["-n", "--max-count"], "sortBy": ["--sort-by"], "sortOrder": ["--sort-order"], "precision": ["--precision"]]
) { a, ctx in
    guard a.positional.first == "show" else { throw UsageError(message: "use 'mlrepo exp show [BRANCH]'") }
    guard a.positional.count <= 2 else { throw UsageError(message: "exp show takes one branch or revision") }
    let ml = try ctx.ml()
    let start: ObjectId
    if a.positional.count == 2 { start = try ml.repo.resolveCommit(a.positional[1]) }
    else {
        guard let h = try ml.repo.refs.headCommit() else {
            if a.has("json") { ctx.out.line("[]"); return 0 }
            throw UserError(message: "your current branch has no commits yet")
        }
        start = h
    }
    let order = a.value("sortOrder") ?? "asc"
    guard order == "asc" || order == "desc" else { throw UsageError(message: "--sort-order takes asc or desc") }
    let precision = min(try a.int("precision") ?? 5, 17)
    let sortBy = a.value("sortBy")
    // With a sort key every commit is read, then the first N kept.
    var rows = try ml.experiments(from: start, limit: sortBy == nil ? try a.int("n") : nil)
    // Columns: metrics then params, named by key unless another column shares it.
    typealias Column = (file: String, key: String, name: String, metric: Bool)
    var pairs: [(String, String, Bool)] = []
    var seenPairs = Set<String>()
    var byKey: [String: Int] = [:]
    for r in rows {
        guard let m = r.meta else { continue }
        for (isMetric, values) in [(true, m.metrics), (false, m.params)] {
            for (f, kv) in values {
                for k in kv.keys where seenPairs.insert("\(isMetric)\u{0}\(f)\u{0}\(k)").inserted {
                    pairs.append((f, k, isMetric)); byKey[k, default: 0] += 1
                }
            }
        }
    }
    let all: [Column] = pairs.map { f, k, m in (f, k, byKey[k]! > 1 ? f + ":" + k : k, m) }
    var names: [String: Int] = [:]
    for c in all { names[c.name, default: 0] += 1 }
    // A metrics file and a params file with the same name and key: say which is which.
    let cols: [Column] = all.map { c in names[c.name]! > 1 ? (c.file, c.key, (c.metric ? "metric " : "param ") + c.name, c.metric) : c }
        .sorted { ($0.metric ? 0 : 1, $0.name) < ($1.metric ? 0 : 1, $1.name) }
    let mcols = cols.filter(\.metric), pcols = cols.filter { !$0.metric }
    if let sortBy {
        let exact = cols.filter { $0.name == sortBy || "\($0.file):\($0.key)" == sortBy }
        let byKeyMatch = cols.filter { $0.key == sortBy }
        let leaf = cols.filter { $0.key.hasSuffix("." + sortBy) }
        let pick = !exact.isEmpty ? exact : !byKeyMatch.isEmpty ? byKeyMatch : leaf
        guard let col = pick.first else { throw UserError(message: "no metric or param named '\(sortBy)' in these commits") }
        if pick.count > 1 {
            throw UserError(message: "'\(sortBy)' is ambiguous: " + pick.map { "\($0.file):\($0.key)" }.joined(separator: ", "))
        }
        func value(_ r: ExperimentRow) -> JSON? { r.meta.flatMap { (col.metric ? $0.metrics : $0.params)[col.file]?[col.key] } }
        let keyed = rows.enumerated().map { ($0.offset, $0.element, value($0.element)) }
        rows = keyed.sorted { x, y in
            switch (x.2, y.2) {
            case (nil, nil): return x.0 < y.0
            case (nil, _): return false
            case (_, nil): return true
            case (let p?, let q?):
                if let u = p.doubleValue, let v = q.doubleValue, u != v { return order == "asc" ? u < v : u > v }
                let ps = p.display(), qs = q.display()
                if ps != qs, p.doubleValue == nil || q.doubleValue == nil { return order == "asc" ? ps < qs : ps > qs }
                return x.0 < y.0
            }
        }.map(\.1)
        if let n = try a.int("n") { rows = Array(rows.prefix(n)) }
    }
    if a.has("json") {
        ctx.out.line(JSON.array(rows.map { r in
            .object([
                "id": .string(r.id.hex),
                "time": .string(isoTime(r.commit.author.time, tzMinutes: r.commit.author.tzOffsetMinutes)),
                "timestamp": .int(r.commit.author.time),
                "message": .string(r.commit.subject),
                "params": .object((r.meta?.params ?? [:]).mapValues { .object($0) }),
                "metrics": .object((r.meta?.metrics ?? [:]).mapValues { .object($0) }),
                "runs": .object((r.meta?.runs ?? [:]).mapValues { .string($0.hex) }),
            ])
        }).encoded(pretty: true))
        return 0
    }
    let header = ["Commit", "Created", "Message"] + mcols.map(\.name) + pcols.map(\.name)
    let table = rows.map { r -> [String] in
        var msg = r.commit.subject
        if msg.count > 32 { msg = String(msg.prefix(31)) + "…" }
        var cells = [r.id.short, formatShortTime(r.commit.author.time, tzMinutes: r.commit.author.tzOffsetMinutes), msg]
        for c in mcols { cells.append(r.meta?.metrics[c.file]?[c.key]?.display(precision: precision) ?? "-") }
        for c in pcols { cells.append(r.meta?.params[c.file]?[c.key]?.display(precision: precision) ?? "-") }
        return cells
    }
    valueTable(header, table, md: a.has("md"), ctx)
    return 0
}

// MARK: lineage

let lineageCommand = Command(
    name: "lineage", kind: .porcelain, summary: "what produced a file, or what was derived from it",
    usage: """
    mlrepo lineage PATH [--rev REV] [--upstream | --downstream] [--json] [--dot]

    --upstream (default): the run that wrote PATH, its command, params and inputs (with ids),
    the runs that wrote those, back to raw data and code, with the commit that recorded each
    run. Without --rev: the work tree (HEAD's runs plus uncommitted ones).
    --downstream: every output, in every commit a branch or tag reaches, derived from this
    version of PATH (the work tree's, or REV's), directly or through further stages.
    --dot prints a Graphviz digraph (mlrepo lineage m.bin --dot | dot -Tsvg > lineage.svg).
    """,
    flags: ["upstream": ["--upstream", "-u"], "downstream": ["--downstream", "-d"], "json": ["--json"], "dot": ["--dot"]],
    options: ["rev": ["--rev", "-r"]]
) { a, ctx in
    guard a.positional.count == 1 else { throw UsageError(message: "lineage takes one path") }
    guard !(a.has("upstream") && a.has("downstream")) else { throw UsageError(message: "give --upstream or --downstream, not both") }
    let ml = try ctx.ml()
    let path = try ctx.rel(a.positional[0])
    let commit = try a.value("rev").map { try ml.repo.resolveCommit($0) }
    if a.has("downstream") {
        let id: ObjectId
        if let commit {
            guard let e = try ml.repo.entry(in: ml.repo.readCommit(commit).tree, path: path) else {
                throw UserError(message: "path '\(path)' is not in \(a.value("rev")!) (\(commit.short))")
            }
            id = e.id
        } else {
            guard let w = try ml.repo.workTreeId(of: path) ?? ml.repo.indexId(of: path) else {
                throw UserError(message: "path '\(path)' does not exist in the work tree (use --rev REV for a committed version)")
            }
            id = w
        }
        let derived = try ml.downstream(path: path, id: id)
        if a.has("json") {
            ctx.out.line(JSON.object([
                "path": .string(path), "id": .string(id.hex),
                "derived": .array(derived.map { d in .object([
                    "path": .string(d.path), "id": .string(d.id.hex), "kind": .string(d.kind.rawValue),
                    "stage": .string(d.stage), "record": .string(d.record.hex), "via": .string(d.via),
                    "via_id": .string(d.viaId.hex), "input": .string(d.input),
                    "depth": .int(Int64(d.depth)), "commits": .array(d.commits.map { .string($0.hex) }),
                ]) }),
            ]).encoded(pretty: true))
            return 0
        }
        if a.has("dot") { ctx.out.write(downstreamDot(path, id, derived)); return 0 }
        ctx.out.line("\(Quote.path(path)) \(id.short)")
        if derived.isEmpty { ctx.out.line("  nothing recorded was derived from this version"); return 0 }
        for d in derived {
            let indent = String(repeating: "  ", count: d.depth)
            let commits = d.commits.isEmpty ? "not committed yet"
                : "in \(d.commits.count) commit(s): " + d.commits.prefix(3).map(\.short).joined(separator: ", ") + (d.commits.count > 3 ? ", …" : "")
            let from = d.input == d.via ? d.via : "\(d.via) (in \(d.input))"
            ctx.out.line("\(indent)-> \(Quote.path(d.path)) [\(d.kind.rawValue)] \(d.id.short)  by stage \(d.stage) from \(from); \(commits)")
        }
        return 0
    }
    let root = try ml.upstream(path: path, commit: commit)
    if a.has("json") { ctx.out.line(nodeJSON(root).encoded(pretty: true)); return 0 }
    if a.has("dot") { ctx.out.write(upstreamDot(root)); return 0 }
    printNode(root, prefix: "", childPrefix: "", ctx)
    return 0
}

func actionJSON(_ a: StageAction) -> (String, JSON) {
    switch a {
    case .command(let c): return ("cmd", .string(c))
    case .builtin(let k, let spec): return (k, spec)
    }
}

func nodeJSON(_ n: LineageNode) -> JSON {
    var o: [String: JSON] = ["path": .string(n.path), "id": jsonId(n.id), "kind": .string(n.kind.rawValue)]
    if let note = n.note { o["note"] = .string(note) }
    if !n.parts.isEmpty { o["contains"] = .array(n.parts.map(nodeJSON)) }
    if let s = n.producedBy {
        let (k, v) = actionJSON(s.action)
        o["produced_by"] = .object([
            "stage": .string(s.stage), k: v, "record": .string(s.record.hex), "recorded_in": jsonId(s.recordedIn),
            "started": .string(ISOTime.format(s.started)), "duration_s": .number(s.duration),
            "params": .object(s.params.mapValues { .object($0) }), "environment": .object(s.environment),
            "inputs": .array(s.inputs.map(nodeJSON)),
        ])
    } else { o["produced_by"] = .null }
    return .object(o)
}

func printNode(_ n: LineageNode, prefix: String, childPrefix: String, _ ctx: Context) {
    ctx.out.line(prefix + "\(Quote.path(n.path)) [\(n.kind.rawValue)] \(n.id?.short ?? "-")" + (n.note.map { "  (\($0))" } ?? ""))
    for (i, part) in n.parts.enumerated() {
        let last = i == n.parts.count - 1 && n.producedBy == nil
        printNode(part, prefix: childPrefix + (last ? "└─ contains " : "├─ contains "), childPrefix: childPrefix + (last ? "   " : "│  "), ctx)
    }
    guard let s = n.producedBy else { return }
    let when = s.recordedIn.map { "recorded in \($0.short)" } ?? "not committed yet"
    ctx.out.line(childPrefix + "└─ stage \(s.stage) (\(when), \(ISOTime.format(s.started)), \(format1(s.duration)) s)")
    let inner = childPrefix + "   "
    switch s.action {
    case .command(let c): ctx.out.line(inner + "cmd: \(c)")
    case .builtin(let k, let spec): ctx.out.line(inner + "\(k): \(spec.encoded())")
    }
    for (f, kv) in s.params.sorted(by: { $0.key < $1.key }) {
        ctx.out.line(inner + "params \(f): " + kv.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.display())" }.joined(separator: ", "))
    }
    for (i, c) in s.inputs.enumerated() {
        let last = i == s.inputs.count - 1
        printNode(c, prefix: inner + (last ? "└─ " : "├─ "), childPrefix: inner + (last ? "   " : "│  "), ctx)
    }
}

func dotQuote(_ s: String) -> String {
    var out = ""
    JSON.quote(s, into: &out)
    return out
}

func upstreamDot(_ root: LineageNode) -> String {
    var lines = ["digraph lineage {", "  rankdir=LR;", "  node [fontname=\"Helvetica\"];"]
    var seen = Set<String>()
    func fileId(_ n: LineageNode) -> String { dotQuote("\(n.path)@\(n.id?.short ?? "-")") }
    func visit(_ n: LineageNode) {
        let fid = fileId(n)
        if seen.insert(fid).inserted {
            lines.append("  \(fid) [shape=note, label=\(dotQuote("\(n.path)\n\(n.kind.rawValue) \(n.id?.short ?? "")"))];")
        }
        for part in n.parts { visit(part); lines.append("  \(fileId(part)) -> \(fid) [style=dashed, label=\"in\"];") }
        guard let s = n.producedBy else { return }
        let sid = dotQuote("stage:\(s.stage)@\(s.record.short)")
        if seen.insert(sid).inserted {
            lines.append("  \(sid) [shape=box, style=rounded, label=\(dotQuote("\(s.stage)\n\(s.action.summary.prefix(60))"))];")
        }
        lines.append("  \(sid) -> \(fid);")
        for c in s.inputs { visit(c); lines.append("  \(fileId(c)) -> \(sid);") }
    }
    visit(root)
    lines.append("}")
    return uniqueLines(lines).joined(separator: "\n") + "\n"
}

/// Lines with exact duplicates removed, first occurrence kept.
func uniqueLines(_ lines: [String]) -> [String] {
    var seen = Set<String>()
    return lines.filter { seen.insert($0).inserted || $0 == "}" }
}

func downstreamDot(_ path: String, _ id: ObjectId, _ derived: [DerivedOutput]) -> String {
    var lines = ["digraph lineage {", "  rankdir=LR;", "  node [fontname=\"Helvetica\"];"]
    let root = dotQuote("\(path)@\(id.short)")
    lines.append("  \(root) [shape=note, style=bold, label=\(dotQuote("\(path)\n\(id.short)"))];")
    for d in derived {
        let sid = dotQuote("stage:\(d.stage)@\(d.record.short)")
        let oid = dotQuote("\(d.path)@\(d.id.short)")
        lines.append("  \(sid) [shape=box, style=rounded, label=\(dotQuote(d.stage))];")
        lines.append("  \(oid) [shape=note, label=\(dotQuote("\(d.path)\n\(d.kind.rawValue) \(d.id.short)"))];")
        lines.append("  \(sid) -> \(oid);")
        lines.append("  \(dotQuote("\(d.via)@\(d.viaId.short)")) -> \(sid);")
    }
    lines.append("}")
    return uniqueLines(lines).joined(separator: "\n") + "\n"
}

// MARK: profile

func fmtStat(_ d: Double?) -> String {
    guard let d else { return "-" }
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
    let a = abs(d)
    if a >= 1e6 || a < 1e-4 { return String(format4e(d)) }
    return formatFixed(d, a >= 100 ? 2 : 4)
}

func format4e(_ d: Double) -> String {
    var e = 0
    var m = abs(d)
    while m >= 10 { m /= 10; e += 1 }
    while m < 1 && m > 0 { m *= 10; e -= 1 }
    return (d < 0 ? "-" : "") + formatFixed(m, 3) + "e" + (e < 0 ? "-" : "+") + String(abs(e))
}

func printProfile(_ p: DataProfile, path: String, id: ObjectId, cached: Bool, _ ctx: Context) {
    ctx.out.line("\(Quote.path(path))  \(id.short)  \(p.rows) rows, \(p.columns.count) columns, \(formatBytes(p.bytes))" + (cached ? " (cached)" : ""))
    ctx.out.line("")
    let header = ["Column", "Type", "Missing", "Distinct", "Min", "P25", "Median", "P75", "Max", "Mean", "Std"]
    var rows: [[String]] = []
    for c in p.columns {
        func q(_ level: Double) -> String { fmtStat(c.quantiles.first { $0.q == level }?.value) }
        rows.append([c.name, c.type, String(c.missing), (c.distinctApproximate ? "~" : "") + String(c.distinct),
                     fmtStat(c.min), q(0.25), q(0.5), q(0.75), fmtStat(c.max), fmtStat(c.mean), fmtStat(c.std)])
    }
    valueTable(header, rows, md: false, ctx)
    let tops = p.columns.filter { !$0.top.isEmpty && ($0.type == "text" || $0.type == "boolean") }
    if !tops.isEmpty {
        ctx.out.line("")
        for c in tops {
            let n = max(1, c.count)
            let items = c.top.prefix(5).map { "\($0.value) \($0.count) (\(formatFixed(Double($0.count) * 100 / Double(n), 1))%)" }
            ctx.out.line(Quote.controls("\(c.name): " + items.joined(separator: ", ") + (c.top.count > 5 ? ", …" : "")))
        }
    }
}

let profileCommand = Command(
    name: "profile", kind: .porcelain, summary: "profile a CSV file: types, missing values, statistics",
    usage: """
    mlrepo profile PATH [--rev REV] [--json]

    Reads the CSV (header row, comma-separated, RFC 4180 quoting) once, streaming, and reports
    the row count and per column the inferred type (integer, float, boolean, text, empty), the
    missing count (empty, NA, N/A, NaN, null, None), distinct values (approximate, marked ~,
    past 65,536), min/max/mean/std and quantiles for numbers, the top values for text. The
    result is cached by the file's id, so asking again is instant. Without --rev: the work
    tree's file. --json prints {"path", "id", "cached", "profile": {"rows", "bytes",
    "columns": [{"name", "type", "count", "missing", "min", "max", "mean", "std", "distinct",
    "distinct_approximate", "top": [{"value", "count"}], "quantiles": {"0": v, ..., "1": v},
    "quantiles_approximate"}]}}.
    """,
    flags: ["json": ["--json"]],
    options: ["rev": ["--rev", "-r"]]
) { a, ctx in
    guard a.positional.count == 1 else { throw UsageError(message: "profile takes one path") }
    let ml = try ctx.ml()
    let path = try ctx.rel(a.positional[0])
    let id: ObjectId, p: DataProfile, cached: Bool
    if let rev = a.value("rev") {
        let commit = try ml.repo.resolveCommit(rev)
        guard let e = try ml.repo.entry(in: ml.repo.readCommit(commit).tree, path: path), !e.mode.isDirectory else {
            throw UserError(message: "'\(path)' is not a file in \(rev) (\(commit.short))")
        }
        id = e.id
        (p, cached) = try ml.profile(id: e.id, path: path)
    } else {
        (id, p, cached) = try ml.profileWorkFile(path)
    }
    if a.has("json") {
        ctx.out.line(JSON.object(["path": .string(path), "id": .string(id.hex), "cached": .bool(cached), "profile": p.json()]).encoded(pretty: true))
        return 0
    }
    printProfile(p, path: path, id: id, cached: cached, ctx)
    return 0
}

/// Profile comparisons for the changed CSV files of a diff (both sides present).
func csvComparisons(_ entries: [DiffEntry], from: DiffSide, to: DiffSide, _ ml: MLRepo) throws -> [String: ProfileComparison] {
    var out: [String: ProfileComparison] = [:]
    func profile(_ id: ObjectId, _ path: String, _ side: DiffSide) throws -> DataProfile {
        if ml.repo.store.contains(id) { return try ml.profile(id: id, path: path).profile }
        if case .workTree = side { return try ml.profileWorkFile(path).profile }
        throw UserError(message: "object \(id.hex) of '\(path)' is missing from the store")
    }
    for e in entries where e.status == .modified && MLRepo.isCSV(e.path) {
        guard let o = e.oldId, let n = e.newId else { continue }
        do {
            out[e.path] = compareProfiles(try profile(o, e.path, from), try profile(n, e.path, to))
        } catch let pe as ProfileError {
            // A file that is not parseable CSV just gets no statistics in the diff.
            _ = pe
        }
    }
    return out
}

func printComparison(_ c: ProfileComparison, _ ctx: Context) {
    let d = c.rows.new - c.rows.old
    ctx.out.line("\trows: \(c.rows.old) -> \(c.rows.new) (\(d >= 0 ? "+" : "")\(d))")
    if !c.addedColumns.isEmpty { ctx.out.line("\tcolumns added: " + c.addedColumns.map(Quote.controls).joined(separator: ", ")) }
    if !c.removedColumns.isEmpty { ctx.out.line("\tcolumns removed: " + c.removedColumns.map(Quote.controls).joined(separator: ", ")) }
    for r in c.retyped { ctx.out.line("\tcolumn \(Quote.controls(r.column)) retyped: \(r.old) -> \(r.new)") }
    // One line per column, its changed statistics in a fixed order.
    var columns: [String] = []
    var byColumn: [String: [String]] = [:]
    for ch in c.changes {
        if byColumn[ch.column] == nil { columns.append(ch.column) }
        byColumn[ch.column, default: []].append("\(ch.stat) \(fmtStat(ch.old)) -> \(fmtStat(ch.new))")
    }
    for col in columns.prefix(16) { ctx.out.line("\t\(Quote.controls(col)): " + byColumn[col]!.joined(separator: ", ")) }
    if columns.count > 16 { ctx.out.line("\t… \(columns.count - 16) more changed column(s); see --json") }
}
