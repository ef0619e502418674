import ML
import Store
import Support

// The Lineage page: `/lineage?rev=REV[&path=P | &stage=S]`. The graph of a commit's stages
// and the files they read and wrote, from the commit's lineage records, as inline SVG laid
// out by `GraphLayout`; with `path` (or `stage`) the graph narrows to that node's upstream
// and downstream and lists them.

/// One node of a commit's lineage graph.
struct LineageGraphNode {
    enum What { case stage(LineageRecord, ObjectId), file(PathKind, ObjectId?) }
    var key: String
    var name: String
    var what: What
    var isStage: Bool { if case .stage = what { return true }; return false }
}

/// A commit's lineage graph: stages and files, edges input → stage → output.
struct LineageGraph {
    static let maxNodes = 500
    var nodes: [LineageGraphNode] = []
    var index: [String: Int] = [:]
    var edges: [(Int, Int)] = []
    /// Why the graph is incomplete (nodes over the cap), if it is.
    var truncated = false

    mutating func node(_ key: String, _ make: () -> LineageGraphNode) -> Int? {
        if let i = index[key] { return i }
        guard nodes.count < LineageGraph.maxNodes else { truncated = true; return nil }
        index[key] = nodes.count
        nodes.append(make())
        return nodes.count - 1
    }

    /// Nodes reachable from `start` along the edges (`forward`) or against them.
    func reach(from start: Int, forward: Bool) -> [Int] {
        var adj = [[Int]](repeating: [], count: nodes.count)
        for (a, b) in edges { if forward { adj[a].append(b) } else { adj[b].append(a) } }
        var seen = Set([start]), out: [Int] = [], stack = [start]
        while let v = stack.popLast() {
            for w in adj[v] where seen.insert(w).inserted { out.append(w); stack.append(w) }
        }
        return out
    }
}

extension UIApp {
    /// Commits looked back through at most for the nearest one with lineage records.
    static let maxAncestorWalk = 200
    static let kindColours: [PathKind: String] = [
        .dataset: "#d6e9ff", .features: "#dcf3e3", .labels: "#fff0c9", .code: "#ece3fb",
        .params: "#ffe1d6", .model: "#ffd6e7", .metrics: "#e0f5f5", .other: "#eef0f3",
    ]

    /// The lineage graph of commit `commit`, from its records (nil meta: empty).
    func lineageGraph(_ commit: ObjectId) throws -> LineageGraph {
        var g = LineageGraph()
        guard let meta = try ml.meta(of: commit) else { return g }
        for (stage, rid) in meta.runs.sorted(by: { $0.key < $1.key }) {
            let rec = try ml.record(rid)
            guard let s = g.node("s:" + stage, { LineageGraphNode(key: "s:" + stage, name: stage, what: .stage(rec, rid)) }) else { break }
            func file(_ p: String, _ kind: PathKind, _ id: ObjectId?) -> Int? {
                g.node("f:" + p, { LineageGraphNode(key: "f:" + p, name: p, what: .file(meta.kinds[p] ?? kind, id)) })
            }
            for d in rec.deps { if let f = file(d.path, d.kind, d.id) { g.edges.append((f, s)) } }
            for p in rec.params.keys.sorted() where !rec.deps.contains(where: { $0.path == p }) {
                if let f = file(p, .params, nil) { g.edges.append((f, s)) }
            }
            for o in rec.outs { if let f = file(o.path, o.kind, o.id) { g.edges.append((s, f)) } }
        }
        return g
    }

    func lineagePage(_ q: Query) throws -> PageContent {
        let rev = q["rev"].flatMap { $0.isEmpty ? nil : $0 } ?? "HEAD"
        let commit = try resolvePageCommit(rev)
        let c = try ml.repo.readCommit(commit)
        var full = try lineageGraph(commit)
        var body = "<h1>Lineage</h1>"
        body += revisionForm(action: "/lineage", rev: rev, commit: commit, c, extra: [("path", q["path"])])
        guard !full.nodes.isEmpty else {
            body += "<p class=\"muted\">No lineage records in this commit: run a pipeline (<code>mlrepo repro</code>) or <code>mlrepo train</code> and commit"
                + " (a commit keeps only the runs that still describe its files).</p>"
            // The nearest first-parent ancestor that has records (a few hundred commits back at most).
            var cur = c.parents.first
            var steps = 0
            while let id = cur, steps < UIApp.maxAncestorWalk, ml.repo.store.contains(id) {
                let pc = try ml.repo.readCommit(id)
                if let m = try ml.meta(of: pc), !m.runs.isEmpty {
                    body += "<p>The nearest earlier commit with records: <a class=\"mono\" href=\"\(HTML.attr(HTML.url("/lineage", [("rev", id.hex)])))\">\(id.short)</a> \(HTML.text(PageText.subject(pc.message)))</p>"
                    break
                }
                cur = pc.parents.first
                steps += 1
            }
            return PageContent(title: "Lineage", section: .lineage, body: body)
        }
        // A chosen node: a file (`path`) or a stage (`stage`).
        var focus: Int? = nil
        if let raw = q["path"], !raw.isEmpty {
            let p = try checkedPath(raw)
            // A file inside a folder that a stage reads or writes: shown through the folder.
            // (The walk up ends at the top folder: the path is relative, checked above.)
            var at = p
            while full.index["f:" + at] == nil, let i = at.lastIndex(of: "/"), i != at.startIndex { at = String(at[..<i]) }
            if full.index["f:" + at] != nil && at != p {
                body += "<p class=\"muted\">" + HTML.text(p) + " is inside " + HTML.text(at) + ", which the graph shows.</p>"
            }
            guard let i = full.index["f:" + at] else {
                body += "<p class=\"error\">No recorded stage of this commit reads or writes " + HTML.text(p) + ". "
                    + "<a href=\"\(HTML.attr(HTML.url("/files", [("rev", rev), ("path", p)])))\">Show the file</a>.</p>"
                return PageContent(title: "Lineage", section: .lineage, body: body + lineageSVG(full, rev: rev, focus: nil) + stageTable(full, rev: rev))
            }
            focus = i
        } else if let s = q["stage"], !s.isEmpty {
            guard let i = full.index["s:" + s] else { throw UIError(404, "no stage '\(s)' in the lineage of \(commit.short)") }
            focus = i
        }
        var upstream: [Int] = [], downstream: [Int] = []
        if let f = focus {
            upstream = full.reach(from: f, forward: false)
            downstream = full.reach(from: f, forward: true)
            // The graph narrows to the chosen node's upstream and downstream.
            let keep = Set(upstream + downstream + [f])
            var g = LineageGraph()
            var map: [Int: Int] = [:]
            for (i, n) in full.nodes.enumerated() where keep.contains(i) { map[i] = g.nodes.count; g.index[n.key] = g.nodes.count; g.nodes.append(n) }
            g.edges = full.edges.compactMap { a, b in map[a].flatMap { x in map[b].map { (x, $0) } } }
            g.truncated = full.truncated
            upstream = upstream.compactMap { map[$0] }
            downstream = downstream.compactMap { map[$0] }
            focus = map[f]
            full = g
        }
        if full.truncated {
            body += "<p class=\"muted\">The graph is cut at \(LineageGraph.maxNodes) nodes.</p>"
        }
        body += lineageSVG(full, rev: rev, focus: focus)
        if let f = focus {
            let n = full.nodes[f]
            body += "<h2>" + (n.isStage ? "Stage " : "") + HTML.text(n.name) + "</h2>"
            body += "<p><a href=\"\(HTML.attr(HTML.url("/lineage", [("rev", rev)])))\">Whole graph</a>"
            if !n.isStage { body += " · <a href=\"\(HTML.attr(HTML.url("/files", [("rev", rev), ("path", n.name)])))\">File</a>" }
            body += "</p>"
            body += nodeList("Upstream", upstream, full, rev: rev)
            body += nodeList("Downstream", downstream, full, rev: rev)
        }
        body += stageTable(full, rev: rev)
        return PageContent(title: "Lineage", section: .lineage, body: body)
    }

    /// A link to a node on this page (`path` for a file, `stage` for a stage).
    func lineageLink(_ n: LineageGraphNode, rev: String) -> String {
        HTML.url("/lineage", [("rev", rev), n.isStage ? ("stage", n.name) : ("path", n.name)])
    }

    func nodeList(_ title: String, _ ids: [Int], _ g: LineageGraph, rev: String) -> String {
        var out = "<h2>\(title)</h2>"
        guard !ids.isEmpty else { return out + "<p class=\"muted\">nothing</p>" }
        out += "<ul class=\"\(title.lowercased())\">"
        for i in ids.sorted(by: { g.nodes[$0].name < g.nodes[$1].name }) {
            let n = g.nodes[i]
            let label: String
            switch n.what {
            case .stage: label = "stage"
            case .file(let k, _): label = k.rawValue
            }
            out += "<li><span class=\"tag\">\(label)</span><a href=\"\(HTML.attr(lineageLink(n, rev: rev)))\">\(HTML.text(n.name))</a></li>"
        }
        return out + "</ul>"
    }

    func stageTable(_ g: LineageGraph, rev: String) -> String {
        var out = "<h2>Stages</h2><div class=\"scroll\"><table class=\"sortable stages\"><thead><tr><th>Stage</th><th>Command</th><th>Params</th><th>Started (UTC)</th><th class=\"num\">Duration (s)</th><th class=\"num\">Exit</th><th>Inputs</th><th>Outputs</th></tr></thead><tbody>"
        for n in g.nodes {
            guard case .stage(let rec, _) = n.what else { continue }
            let action: String
            switch rec.action {
            case .command(let c): action = "<code>" + HTML.text(c) + "</code>"
            case .builtin(let k, let spec): action = "built-in \(HTML.text(k)) <code>" + HTML.text(String(spec.encoded().prefix(300))) + "</code>"
            }
            var params: [String] = []
            for (f, kv) in rec.params.sorted(by: { $0.key < $1.key }) {
                for (k, v) in kv.sorted(by: { $0.key < $1.key }).prefix(40) {
                    params.append(HTML.text("\(f):\(k)=\(String(v.display(precision: 6).prefix(80)))"))
                }
            }
            func paths(_ ps: [RecordedPath]) -> String {
                ps.prefix(50).map { "<a href=\"\(HTML.attr(HTML.url("/lineage", [("rev", rev), ("path", $0.path)])))\">\(HTML.text($0.path))</a>" }.joined(separator: "<br>")
            }
            out += "<tr><td><a href=\"\(HTML.attr(lineageLink(n, rev: rev)))\">\(HTML.text(n.name))</a></td><td>\(action)</td><td>\(params.joined(separator: "<br>"))</td>"
            out += "<td>\(HTML.text(rec.started > 0 ? ISOTime.format(rec.started) : "-"))</td><td class=\"num\">\(HTML.text(formatFixed(rec.duration, 3)))</td><td class=\"num\">\(rec.exitStatus)</td>"
            out += "<td>\(paths(rec.deps))</td><td>\(paths(rec.outs))</td></tr>"
        }
        return out + "</tbody></table></div>"
    }

    /// The graph as SVG, left to right: files as boxes coloured by kind (linking to the Files
    /// page), stages as rounded dark boxes (linking to this page, focused on the stage).
    func lineageSVG(_ g: LineageGraph, rev: String, focus: Int?) -> String {
        let layout = GraphLayout(nodeCount: g.nodes.count, edges: g.edges)
        let boxW = 190.0, boxH = 34.0, colGap = 240.0, rowGap = 50.0, margin = 16.0
        let tallest = layout.layers.map(\.count).max() ?? 1
        func point(_ v: Int) -> (x: Double, y: Double) {
            let l = layout.layer[v]
            let offset = Double(tallest - layout.layers[l].count) * rowGap / 2
            return (margin + Double(l) * colGap, margin + offset + Double(layout.position[v]) * rowGap)
        }
        let width = Int(margin * 2 + Double(max(0, layout.layers.count - 1)) * colGap + boxW)
        let height = Int(margin * 2 + Double(tallest - 1) * rowGap + boxH)
        var out = "<div class=\"chart lineage\" style=\"overflow:auto;max-width:100%\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\">"
        out += "<title>Lineage graph: \(g.nodes.filter(\.isStage).count) stages, \(g.nodes.filter { !$0.isStage }.count) files</title>"
        out += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0 0L10 5L0 10z\" fill=\"#7a8496\"/></marker></defs>"
        func fmt(_ d: Double) -> String { String(Int(d.rounded())) }
        for route in layout.routes {
            // From the right edge of the source through the dummies' centres to the left edge
            // of the target, as smooth curves.
            var pts: [(Double, Double)] = []
            for (i, v) in route.enumerated() {
                let p = point(v)
                if v >= g.nodes.count { pts.append((p.x + boxW / 2, p.y + boxH / 2)) }
                else if i == 0 { pts.append((p.x + boxW, p.y + boxH / 2)) }
                else { pts.append((p.x, p.y + boxH / 2)) }
            }
            guard pts.count >= 2 else { continue }
            var d = "M\(fmt(pts[0].0)) \(fmt(pts[0].1))"
            for i in 1..<pts.count {
                let (x0, y0) = pts[i - 1], (x1, y1) = pts[i]
                let mx = (x0 + x1) / 2
                d += " C\(fmt(mx)) \(fmt(y0)) \(fmt(mx)) \(fmt(y1)) \(fmt(x1)) \(fmt(y1))"
            }
            let a = route.first!, b = route.last!
            out += "<path class=\"edge\" d=\"\(d)\" fill=\"none\" stroke=\"#7a8496\" stroke-width=\"1.3\" marker-end=\"url(#arrow)\"><title>\(HTML.text(g.nodes[a].name + " → " + g.nodes[b].name))</title></path>"
        }
        for (i, n) in g.nodes.enumerated() {
            let p = point(i)
            let label = n.name.count > 28 ? "…" + String(n.name.suffix(27)) : n.name
            let chosen = i == focus
            let stroke = chosen ? "stroke=\"#2458c6\" stroke-width=\"3\"" : "stroke=\"#8a93a3\" stroke-width=\"1\""
            switch n.what {
            case .stage(let rec, _):
                let tip = "stage \(n.name)\n\(rec.action.summary.prefix(200))\nstarted \(rec.started > 0 ? ISOTime.format(rec.started) : "-"), \(formatFixed(rec.duration, 3)) s"
                out += "<g class=\"node stage\"><title>\(HTML.text(tip))</title><a href=\"\(HTML.attr(lineageLink(n, rev: rev)))\">"
                out += "<rect x=\"\(fmt(p.x))\" y=\"\(fmt(p.y))\" width=\"\(fmt(boxW))\" height=\"\(fmt(boxH))\" rx=\"12\" fill=\"#2f3a4f\" \(stroke)/>"
                out += "<text x=\"\(fmt(p.x + boxW / 2))\" y=\"\(fmt(p.y + boxH / 2 + 4))\" text-anchor=\"middle\" font-size=\"12\" fill=\"#ffffff\">\(HTML.text(label))</text></a></g>"
            case .file(let kind, let id):
                let tip = "\(n.name)\n\(kind.rawValue)" + (id.map { " \($0.short)" } ?? "")
                let colour = UIApp.kindColours[kind] ?? "#eef0f3"
                out += "<g class=\"node file kind-\(kind.rawValue)\"><title>\(HTML.text(tip))</title><a href=\"\(HTML.attr(HTML.url("/files", [("rev", rev), ("path", n.name)])))\">"
                out += "<rect x=\"\(fmt(p.x))\" y=\"\(fmt(p.y))\" width=\"\(fmt(boxW))\" height=\"\(fmt(boxH))\" rx=\"3\" fill=\"\(colour)\" \(stroke)/>"
                out += "<text x=\"\(fmt(p.x + 8))\" y=\"\(fmt(p.y + 14))\" font-size=\"12\" fill=\"#1d2330\">\(HTML.text(label))</text>"
                out += "<text x=\"\(fmt(p.x + 8))\" y=\"\(fmt(p.y + 28))\" font-size=\"10\" fill=\"#5b6475\">\(kind.rawValue)\(id.map { " " + $0.short } ?? "")</text></a></g>"
            }
        }
        out += "</svg></div>"
        // The legend: one swatch per kind present.
        let kinds = Set(g.nodes.compactMap { n -> PathKind? in if case .file(let k, _) = n.what { return k }; return nil })
        out += "<p class=\"legend\">"
        for k in PathKind.allCases where kinds.contains(k) {
            out += "<span class=\"tag\" style=\"background:\(UIApp.kindColours[k] ?? "#eef0f3")\">\(k.rawValue)</span>"
        }
        return out + "<span class=\"tag\" style=\"background:#2f3a4f;color:#fff\">stage</span></p>"
    }
}
