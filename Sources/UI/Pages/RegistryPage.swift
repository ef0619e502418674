import ML
import Store
import Support

// The Registry page: `/registry` lists every alias and what it points at;
// `/registry?alias=NAME[&metric=FILE:KEY]` shows the alias's promotions (when, which
// commit, which checks passed, by whom, the note) and how a metric of the promoted models
// moved from one promotion to the next.

/// The version numbers `mlrepo registry` prints, per repository, with the refs they were
/// computed from: listing the models walks every branch's history, so a page reads it once
/// per change of a branch or an alias.
private final class RegistryVersionCache: @unchecked Sendable {
    let lock = Lock()
    /// Repository root → (refs fingerprint, model path → model id → version number).
    var byRoot: [String: (refs: String, numbers: [String: [String: Int]])] = [:]
    static let maxRoots = 8
}
private let registryVersionCache = RegistryVersionCache()

extension UIApp {
    /// Promotions read for one alias's history at most (newest first).
    static let maxPromotions = 500

    /// Model path → model id → its version number as `mlrepo registry` gives it: versions
    /// of a path numbered from v1, oldest first (`MLRepo.registryModels`), whatever alias
    /// points at them. A model not in the history of any branch has none.
    func registryVersionNumbers() throws -> [String: [String: Int]] {
        let refs = try (ml.repo.refs.list("heads").map { "h \($0.name) \($0.id.hex)" }
            + ml.repo.refs.list("aliases").map { "a \($0.name) \($0.id.hex)" }).joined(separator: "\n")
        let root = ml.repo.root
        if let hit = registryVersionCache.lock.withLock({ registryVersionCache.byRoot[root] }), hit.refs == refs { return hit.numbers }
        var numbers: [String: [String: Int]] = [:]
        for m in try ml.registryModels() {
            var byId: [String: Int] = [:]
            for (i, v) in m.versions.enumerated() where byId[v.id] == nil { byId[v.id] = i + 1 }
            numbers[m.path] = byId
        }
        registryVersionCache.lock.withLock {
            if registryVersionCache.byRoot.count >= RegistryVersionCache.maxRoots { registryVersionCache.byRoot = [:] }
            registryVersionCache.byRoot[root] = (refs, numbers)
        }
        return numbers
    }

    /// `v3` for the promoted model's version, `–` when the registry does not list it.
    static func versionText(_ p: Promotion, _ numbers: [String: [String: Int]]) -> String {
        numbers[p.path]?[p.modelId].map { "v\($0)" } ?? "–"
    }

    func registryPage(_ q: Query) throws -> PageContent {
        if let alias = q["alias"], !alias.isEmpty { return try aliasPage(alias, q) }
        let aliases = try ml.aliases()
        var body = "<h1>Registry</h1>"
        guard !aliases.isEmpty else {
            body += "<p class=\"muted\">No aliases yet: <code>mlrepo promote MODEL --to production</code> creates one.</p>"
            return PageContent(title: "Registry", section: .registry, body: body)
        }
        let numbers = try registryVersionNumbers()
        body += "<table class=\"sortable aliases\"><thead><tr><th>Alias</th><th class=\"num\">Version</th><th>Model</th><th>Commit</th><th>Model id</th><th>Format</th><th class=\"num\">Size</th><th>Promoted (UTC)</th><th>By</th><th>Checks</th></tr></thead><tbody>"
        for (name, p) in aliases {
            body += "<tr><td><a href=\"\(HTML.attr(HTML.url("/registry", [("alias", name)])))\">\(HTML.text(name))</a></td>"
            body += "<td class=\"num\">\(UIApp.versionText(p, numbers))</td>"
            body += promotionCells(p, withTime: true) + "</tr>"
        }
        body += "</tbody></table>"
        return PageContent(title: "Registry", section: .registry, body: body)
    }

    /// Model, commit, model id, format, size, [time,] by, checks cells of a promotion.
    func promotionCells(_ p: Promotion, withTime: Bool) -> String {
        let commit = String(p.commit.prefix(64))
        var out = "<td><a href=\"\(HTML.attr(HTML.url("/files", [("rev", commit), ("path", p.path)])))\">\(HTML.text(p.path))</a></td>"
        out += "<td class=\"mono\"><a href=\"\(HTML.attr(HTML.url("/lineage", [("rev", commit), ("path", p.path)])))\">\(HTML.text(String(p.commit.prefix(12))))</a></td>"
        out += "<td class=\"mono\">\(HTML.text(String(p.modelId.prefix(12))))</td>"
        out += "<td>\(HTML.text(p.format ?? "-"))</td><td class=\"num\" data-v=\"\(p.size ?? 0)\">\(p.size.map(PageText.bytes) ?? "-")</td>"
        if withTime { out += "<td>\(HTML.text(p.time))</td>" }
        out += "<td>\(HTML.text(p.by))</td><td>\(p.checks.map { HTML.text(UIApp.checkText($0)) }.joined(separator: "<br>"))"
        if !p.lineageChecked { out += "<br><span class=\"muted\">lineage not checked</span>" }
        return out + "</td>"
    }

    /// `eval.json:accuracy=0.97 (>=0.9)`; older records: `accuracy>=0.9 (0.97)`.
    static func checkText(_ c: JSON) -> String {
        if let f = c["file"]?.stringValue, let k = c["key"]?.stringValue, let op = c["op"]?.stringValue,
           let t = c["threshold"]?.doubleValue, let v = c["value"]?.doubleValue {
            return "\(f):\(k)=\(PageText.number(v)) (\(op)\(PageText.number(t)))"
        }
        return (c["check"]?.stringValue ?? "?") + (c["value"]?.doubleValue.map { " (\(PageText.number($0)))" } ?? "")
    }

    /// An alias's promotions, newest first (at most `maxPromotions`), and whether there are
    /// more.
    func promotions(of alias: String) throws -> (list: [Promotion], more: Bool) {
        guard var id = try ml.repo.refs.read(MLRepo.aliasRef(alias)) else {
            throw UIError(404, "no alias '\(alias)'")
        }
        var out: [Promotion] = []
        while true {
            guard out.count < UIApp.maxPromotions else { return (out, true) }
            out.append(try ml.promotion(id))
            let c = try ml.repo.readCommit(id)
            guard c.parents.count == 2 else { break }
            id = c.parents[0]
        }
        return (out, false)
    }

    func aliasPage(_ alias: String, _ q: Query) throws -> PageContent {
        guard Refs.isValidName(alias), !alias.contains("/") else { throw UIError(400, "'\(alias)' is not an alias name") }
        let (newest, more) = try promotions(of: alias)
        let list = Array(newest.reversed())   // oldest first
        // Version numbers as `mlrepo registry` gives them (per model path, not per alias).
        let numbers = try registryVersionNumbers()
        let versions = list.map { UIApp.versionText($0, numbers) }
        var body = "<h1>Registry: \(HTML.text(alias))</h1><p><a href=\"/registry\">All aliases</a></p>"
        if more { body += "<p class=\"muted\">Showing the last \(UIApp.maxPromotions) promotions.</p>" }
        // Metrics of each promoted commit: from its commit metadata (no data read); a commit
        // without metadata has its declared metrics files read.
        var values: [[String: Double]] = []
        var keys = Set<String>()
        for p in list {
            var v: [String: Double] = [:]
            if let cid = ObjectId(hex: p.commit), ml.repo.store.contains(cid) {
                let byFile = (try? ml.meta(of: cid))?.metrics ?? ((try? ml.metricsValues(at: cid)) ?? [:])
                for (f, kv) in byFile { for (k, x) in kv { if let d = x.doubleValue, d.isFinite { v["\(f):\(k)"] = d } } }
            }
            keys.formUnion(v.keys)
            values.append(v)
        }
        // The metric shown: asked for, else the one the newest promotion's first check read,
        // else the first in name order.
        let checked = newest.first?.checks.first.flatMap { c -> String? in
            guard let f = c["file"]?.stringValue, let k = c["key"]?.stringValue else { return nil }
            return "\(f):\(k)"
        }
        let sortedKeys = keys.sorted()
        // A bare key (`accuracy`) names the FILE:KEY that ends with it when only one does.
        let asked = q["metric"].flatMap { $0.isEmpty ? nil : $0 }.map { m -> String in
            if keys.contains(m) { return m }
            let byKey = sortedKeys.filter { $0.hasSuffix(":" + m) }
            return byKey.count == 1 ? byKey[0] : m
        }
        let metric = asked ?? (checked.flatMap { keys.contains($0) ? $0 : nil } ?? sortedKeys.first)
        body += "<form class=\"controls\" method=\"get\" action=\"/registry\"><input type=\"hidden\" name=\"alias\" value=\"\(HTML.attr(alias))\"><label>Metric <select name=\"metric\">"
        for k in sortedKeys.prefix(500) { body += "<option value=\"\(HTML.attr(k))\"\(k == metric ? " selected" : "")>\(HTML.text(k))</option>" }
        body += "</select></label><button type=\"submit\">Show</button></form>"
        if let metric {
            var points: [ChartPoint] = []
            var labels: [String] = []
            for (i, p) in list.enumerated() {
                labels.append("\(versions[i]) · \(p.time.prefix(10)) · \(p.commit.prefix(7))")
                guard let y = values[i][metric] else { continue }
                points.append(ChartPoint(x: Double(i), y: y, label: "\(versions[i]) · \(p.time) · \(p.commit.prefix(12)): \(metric) = \(PageText.number(y))",
                                         href: HTML.url("/files", [("rev", p.commit), ("path", p.path)])))
            }
            if points.isEmpty {
                body += "<p class=\"muted\">No promoted version of \(HTML.text(alias)) has the metric \(HTML.text(metric)).</p>"
            } else {
                let chart = Chart(title: "\(metric) across the promotions of \(alias)", kind: .line,
                                  series: [ChartSeries(name: metric, points: points)], xLabel: "promotion", yLabel: metric, xCategories: labels)
                body += "<div class=\"charts\"><div class=\"chart\">" + chart.svg() + "</div></div>"
            }
        } else {
            body += "<p class=\"muted\">The promoted commits record no numeric metrics.</p>"
        }
        body += "<h2>History</h2><p class=\"muted\">Versions are numbered per model, oldest first, as <code>mlrepo registry</code> numbers them.</p><div class=\"scroll\"><table class=\"sortable promotions\"><thead><tr><th class=\"num\">Version</th><th>Promoted (UTC)</th><th>Model</th><th>Commit</th><th>Model id</th><th>Format</th><th class=\"num\">Size</th><th>By</th><th>Checks</th>"
        if let metric { body += "<th class=\"num\">\(HTML.text(metric))</th>" }
        body += "<th>Note</th><th class=\"nosort\"></th></tr></thead><tbody>"
        for (i, p) in list.enumerated().reversed() {
            body += "<tr><td class=\"num\">\(versions[i])</td><td>\(HTML.text(p.time))</td>" + promotionCells(p, withTime: false)
            if let metric { body += "<td class=\"num\">\(HTML.text(PageText.number(values[i][metric])))</td>" }
            body += "<td>\(HTML.text(p.note ?? ""))</td><td>"
            if i > 0 {
                body += "<a href=\"\(HTML.attr(HTML.url("/compare", [("c", list[i - 1].commit), ("c", p.commit)])))\">compare with the previous promotion (\(versions[i - 1]))</a>"
            }
            body += "</td></tr>"
        }
        body += "</tbody></table></div>"
        return PageContent(title: "Registry: \(alias)", section: .registry, body: body)
    }
}
