import ML
import Store
import Support

// `lineage`: what produced a file, or what was derived from it (text, JSON, Graphviz).

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
