import ML
import Store
import Support

// The Compare page: two to eight commits side by side: params (differences highlighted),
// metrics with deltas against the first, the files changed from the first to each other
// (tables summarised by rows, changes and labels), the stages whose runs differ, and the
// plots overlaid. The work is bounded: file lists and table diffs are capped.

/// Table summaries of the Compare page (row diff, labels, column statistics) as HTML, by
/// the two versions' ids and the options: a reload of the same comparison reads no table.
/// Bounded; the oldest entry goes first.
final class CompareSummaryCache: @unchecked Sendable {
    let lock = Lock()
    private var html: [String: String] = [:]
    private var order: [String] = []
    /// Summaries computed (cache misses), for the tests.
    private(set) var computed = 0
    static let maxEntries = 128

    func get(_ key: String) -> String? { lock.withLock { html[key] } }

    func put(_ key: String, _ value: String) {
        lock.withLock {
            computed += 1
            if html.updateValue(value, forKey: key) == nil { order.append(key) }
            while order.count > CompareSummaryCache.maxEntries { html[order.removeFirst()] = nil }
        }
    }
}

extension UIApp {
    static let compareSummaries = CompareSummaryCache()
    static let compareMaxCommits = 8
    /// Changed files listed per pair, and tables diffed by rows per pair.
    static let compareMaxFiles = 200
    static let compareMaxTables = 6
    /// Tables larger than this (either side) are listed, not diffed by rows; and the bytes
    /// of tables diffed on one page at most (both sides counted).
    static let compareMaxTableBytes: UInt64 = 64 << 20
    static let compareTableBudget: UInt64 = 256 << 20

    /// Metrics where a fall is an improvement: the key's last part (after the last `.`, `/`
    /// or `:`) names a loss, an error or a cost in time.
    static func lowerIsBetter(_ key: String) -> Bool {
        let last = key.split(whereSeparator: { $0 == "." || $0 == "/" || $0 == ":" }).last.map { $0.lowercased() } ?? ""
        return ["loss", "error", "mse", "rmse", "mae", "mape", "log_loss", "perplexity", "latency", "time", "duration"]
            .contains { last.contains($0) }
    }

    struct CompareSide {
        var rev: String
        var id: ObjectId
        var commit: Commit
        var meta: CommitMeta?
    }

    func compareSides(_ q: Query) throws -> [CompareSide] {
        let revs = q.all("c").filter { !$0.isEmpty }
        guard !revs.isEmpty else { throw UIError(400, "choose commits to compare: /compare?c=REV&c=REV (2 to \(UIApp.compareMaxCommits)); on the Experiments page, tick rows and press Compare") }
        guard revs.count <= UIApp.compareMaxCommits else { throw UIError(400, "compare takes at most \(UIApp.compareMaxCommits) commits, not \(revs.count)") }
        var sides: [CompareSide] = []
        for r in revs {
            let id: ObjectId
            do { id = try ml.repo.resolveCommit(r) } catch { throw UIError(404, "'\(r)' is not a commit here: \(error)") }
            let c = try ml.repo.readCommit(id)
            sides.append(CompareSide(rev: r, id: id, commit: c, meta: index.row(id)?.meta ?? (try? ml.meta(of: c)) ?? nil))
        }
        // One commit: against its first parent.
        if sides.count == 1, let p = sides[0].commit.parents.first, ml.repo.store.contains(p) {
            let c = try ml.repo.readCommit(p)
            sides.insert(CompareSide(rev: p.short, id: p, commit: c, meta: index.row(p)?.meta ?? (try? ml.meta(of: c)) ?? nil), at: 0)
        }
        return sides
    }

    func comparePage(_ q: Query) throws -> PageContent {
        // The navigation tab: no commit named yet.
        if q.all("c").allSatisfy({ $0.isEmpty }) { return try compareStart() }
        let sides = try compareSides(q)
        var out = "<h1>Compare \(sides.count) commits</h1>"
        // The commits.
        out += "<table class=\"kv\" id=\"compare-commits\"><thead><tr><th></th>"
        for i in sides.indices { out += "<th>\(i == 0 ? "base" : "#\(i + 1)")</th>" }
        out += "</tr></thead><tbody><tr><td>commit</td>"
        for s in sides {
            out += "<td class=\"mono\">\(s.id.short) <a href=\"\(HTML.attr(HTML.url("/files", [("rev", s.id.hex)])))\">files</a> "
            out += "<a href=\"\(HTML.attr(HTML.url("/lineage", [("rev", s.id.hex)])))\">lineage</a></td>"
        }
        out += "</tr><tr><td>message</td>"
        for s in sides { out += "<td title=\"\(HTML.attr(s.commit.subject))\">\(HTML.text(UIFormat.cut(s.commit.subject, 60)))</td>" }
        out += "</tr><tr><td>time</td>"
        for s in sides { out += "<td>\(HTML.text(UIFormat.shortTime(s.commit.committer.time, tzMinutes: s.commit.committer.tzOffsetMinutes)))</td>" }
        out += "</tr><tr><td>branches</td>"
        for s in sides {
            out += "<td>"
            if let slot = index.slot(of: s.id), index.row(s.id) != nil {
                for b in index.tipNames(slot) { out += "<span class=\"tag tip\">\(HTML.text(b))</span>" }
            }
            out += "</td>"
        }
        out += "</tr></tbody></table>"

        out += "<h2>Params</h2>" + valuesTable(sides, metrics: false, id: "compare-params")
        out += "<h2>Metrics</h2>" + valuesTable(sides, metrics: true, id: "compare-metrics")
        out += "<h2>Files changed</h2>" + filesSection(sides)
        out += "<h2>Lineage</h2>" + lineageSection(sides)
        out += "<h2>Plots</h2>" + plotsSection(sides)
        return PageContent(title: "Compare", section: .compare, body: out)
    }

    /// `/compare` with no commit: how to choose them, a form for two revisions (HEAD~1 and
    /// HEAD to start with), and links comparing HEAD and the branch tips with their parents.
    func compareStart() throws -> PageContent {
        var out = "<h1>Compare</h1>"
        out += "<p>Compare two to \(UIApp.compareMaxCommits) commits side by side: params, metrics with their changes, the files "
        out += "changed (tables summarised by rows, column statistics and labels), the stages whose runs differ, and the plots overlaid.</p>"
        out += "<p>On the <a href=\"/experiments\">Experiments</a> page, tick the rows to compare and press <strong>Compare</strong>; "
        out += "or name two revisions here (a commit id, a branch, a tag, <code>HEAD~2</code>).</p>"
        out += "<form class=\"controls\" id=\"compare-form\" method=\"get\" action=\"/compare\">"
        out += "<label>Base <input type=\"text\" name=\"c\" value=\"HEAD~1\"></label> "
        out += "<label>Against <input type=\"text\" name=\"c\" value=\"HEAD\"></label> "
        out += "<button type=\"submit\">Compare</button></form>"
        guard let head = try ml.repo.refs.headCommit(), ml.repo.store.contains(head) else {
            out += "<p class=\"muted\">No commits yet.</p>"
            return PageContent(title: "Compare", section: .compare, body: out)
        }
        // HEAD first, then the other branch tips (at most 10), each against its first parent.
        var tips: [(name: String, id: ObjectId)] = [("HEAD", head)]
        for b in index.branches where b.tip != head && tips.count < 11 { tips.append((b.name, b.tip)) }
        var items: [String] = []
        for (name, id) in tips {
            guard let c = try? ml.repo.readCommit(id) else { continue }
            guard let p = c.parents.first else {
                if name == "HEAD" { items.append("<li>HEAD (<span class=\"mono\">\(id.short)</span>) is the first commit: it has no parent to compare with.</li>") }
                continue
            }
            let href = HTML.url("/compare", [("c", p.hex), ("c", id.hex)])
            items.append("<li><a href=\"\(HTML.attr(href))\">\(HTML.text(name)) (<span class=\"mono\">\(id.short)</span> \(HTML.text(UIFormat.cut(c.subject, 60)))) with its parent <span class=\"mono\">\(p.short)</span></a></li>")
        }
        if !items.isEmpty { out += "<ul id=\"compare-start\">" + items.joined() + "</ul>" }
        return PageContent(title: "Compare", section: .compare, body: out)
    }

    /// Params or metrics side by side: one row per FILE:KEY any side has (arrays left to the
    /// plots); a row whose values differ is marked; metrics show the change from the first.
    func valuesTable(_ sides: [CompareSide], metrics: Bool, id: String) -> String {
        var keys: [(file: String, key: String)] = []
        var seen = Set<String>()
        for s in sides {
            for (f, kv) in (metrics ? s.meta?.metrics : s.meta?.params) ?? [:] {
                for (k, v) in kv where seen.insert(f + "\u{0}" + k).inserted {
                    // A metric's list is a curve (in the plots); a param's list or object
                    // (`hidden_layers: [8]`) is shown as its compact JSON.
                    if metrics, case .array = v { continue }
                    if metrics, case .object = v { continue }
                    keys.append((f, k))
                }
            }
        }
        guard !keys.isEmpty else { return "<p class=\"muted\">None recorded.</p>" }
        keys.sort { ($0.key, $0.file) < ($1.key, $1.file) }
        let shared = Dictionary(keys.map { ($0.key, 1) }, uniquingKeysWith: +)
        var out = "<div class=\"scroll\"><table id=\"\(id)\" class=\"sortable compare\"><thead><tr><th>\(metrics ? "Metric" : "Param")</th>"
        for (i, s) in sides.enumerated() { out += "<th class=\"num\">\(i == 0 ? "base " : "")\(s.id.short)</th>" }
        out += "</tr></thead><tbody>"
        for (f, k) in keys {
            let vals = sides.map { (metrics ? $0.meta?.metrics : $0.meta?.params)?[f]?[k] }
            let differs = vals.contains { $0 != vals[0] }
            let name = shared[k]! > 1 ? "\(f):\(k)" : k
            out += "<tr\(differs ? " class=\"changed\"" : "")><td title=\"\(HTML.attr(f + ":" + k))\">\(HTML.text(name))</td>"
            for (i, v) in vals.enumerated() {
                guard let v else { out += "<td class=\"num muted\">–</td>"; continue }
                var cell = HTML.text(UIFormat.cell(v))
                let diffCls = i > 0 && v != vals[0] ? " diff" : ""
                if metrics, i > 0, let a = vals[0]?.doubleValue, let b = v.doubleValue, a != b {
                    let d = b - a
                    let pct = a != 0 ? " " + (d >= 0 ? "+" : "") + formatFixed(d / abs(a) * 100, 1) + "%" : ""
                    // The arrow shows the direction; the colour whether it is better.
                    let better = UIApp.lowerIsBetter(k) ? d < 0 : d > 0
                    cell += " <span class=\"\(better ? "up" : "down") delta\">\(d > 0 ? "▲ +" : "▼ ")\(HTML.text(formatFixed(d, 5)))\(HTML.text(pct))</span>"
                }
                out += "<td class=\"num\(diffCls)\" data-v=\"\(HTML.attr(v.display()))\">\(cell)</td>"
            }
            out += "</tr>"
        }
        return out + "</tbody></table></div>"
    }

    /// The files changed from the first commit to each other one, with table summaries.
    func filesSection(_ sides: [CompareSide]) -> String {
        var out = ""
        let labels = compareLabels(sides)
        var budget = UIApp.compareTableBudget
        for s in sides.dropFirst() {
            let base = sides[0]
            out += "<h3>\(base.id.short) → \(s.id.short)</h3>"
            let entries: [DiffEntry]
            do { entries = try ml.repo.diff(.commit(base.id), .commit(s.id)) } catch {
                out += "<p class=\"error\">\(HTML.text("cannot compare the trees: \(error)"))</p>"; continue
            }
            if entries.isEmpty { out += "<p class=\"muted\">No file changed.</p>"; continue }
            out += "<table class=\"files\"><thead><tr><th></th><th>Path</th><th class=\"num\">Size</th><th>Rows</th></tr></thead><tbody>"
            var tables = 0
            for e in entries.prefix(UIApp.compareMaxFiles) {
                let code = e.status == .added ? "A" : e.status == .deleted ? "D" : "M"
                let rev = e.status == .deleted ? base.id.hex : s.id.hex
                out += "<tr class=\"\(e.status.rawValue)\"><td class=\"mono\">\(code)</td>"
                out += "<td><a href=\"\(HTML.attr(HTML.url("/files", [("rev", rev), ("path", e.path)])))\">\(HTML.text(e.path))</a></td>"
                out += "<td class=\"num\">\(e.oldSize.map { String($0) } ?? "–") → \(e.newSize.map { String($0) } ?? "–")</td><td>"
                if let delim = Repository.tableDelimiter(e.path) {
                    if tables >= UIApp.compareMaxTables {
                        out += "<span class=\"muted\">not diffed (at most \(UIApp.compareMaxTables) tables per pair)</span>"
                    } else if (e.oldSize ?? 0) > UIApp.compareMaxTableBytes || (e.newSize ?? 0) > UIApp.compareMaxTableBytes {
                        out += "<span class=\"muted\">not diffed (over \(UIApp.compareMaxTableBytes >> 20) MiB)</span>"
                    } else if (e.oldSize ?? 0) + (e.newSize ?? 0) > budget {
                        out += "<span class=\"muted\">not diffed (this page diffs at most \(UIApp.compareTableBudget >> 20) MiB of tables)</span>"
                    } else {
                        tables += 1
                        budget -= (e.oldSize ?? 0) + (e.newSize ?? 0)
                        out += tableSummary(e, delimiter: delim, label: tableLabel(e, delimiter: delim, labels))
                    }
                }
                out += "</td></tr>"
            }
            out += "</tbody></table>"
            if entries.count > UIApp.compareMaxFiles {
                out += "<p class=\"muted\">… and \(entries.count - UIApp.compareMaxFiles) more files.</p>"
            }
        }
        return out
    }

    /// The label columns this comparison may use: `table.label` when set, and the `label`
    /// of each built-in train stage (from the sides' lineage records and project files),
    /// with the data file it trained on.
    struct CompareLabels {
        var configured: String?
        var trained: [(data: String?, label: String)] = []
    }

    func compareLabels(_ sides: [CompareSide]) -> CompareLabels {
        var out = CompareLabels(configured: ml.repo.config["table.label"].flatMap { $0.trimmed().isEmpty ? nil : $0.trimmed() })
        var seen = Set<String>()
        func add(_ spec: JSON) {
            guard let l = spec["label"]?.stringValue, !l.isEmpty else { return }
            let d = spec["data"]?.stringValue
            if seen.insert((d ?? "") + "\u{0}" + l).inserted { out.trained.append((d, l)) }
        }
        for s in sides {
            for (_, rid) in (s.meta?.runs ?? [:]).sorted(by: { $0.key < $1.key }).prefix(100) {
                if let r = try? ml.record(rid), case .builtin("train", let spec) = r.action { add(spec) }
            }
            if let e = try? ml.repo.entry(in: s.commit.tree, path: Project.fileName), !e.mode.isDirectory,
               let text = try? ml.text(of: e.id, path: Project.fileName), let p = try? Project.parse(text) {
                for (_, st) in p.stages.sorted(by: { $0.key < $1.key }) {
                    if case .builtin("train", let spec) = st.action { add(spec) }
                }
            }
        }
        return out
    }

    /// The label column for one table: `table.label` when the table has that column, else the
    /// label a train stage declares for this file, else any train stage's label the table
    /// has; nil (the differ's default: `label`, `target` or `y`) otherwise.
    func tableLabel(_ e: DiffEntry, delimiter: UInt8, _ labels: CompareLabels) -> String? {
        guard labels.configured != nil || !labels.trained.isEmpty,
              let id = e.newId ?? e.oldId, let header = tableHeader(id, delimiter: delimiter) else { return nil }
        let cols = Set(header)
        if let l = labels.configured, cols.contains(l) { return l }
        if let t = labels.trained.first(where: { $0.data == e.path && cols.contains($0.label) }) { return t.label }
        return labels.trained.first(where: { cols.contains($0.label) })?.label
    }

    /// The column names of a stored table's first line (unquoted, trimmed), reading at most
    /// 1 MiB; nil when that line cannot be read.
    func tableHeader(_ id: ObjectId, delimiter: UInt8) -> [String]? {
        struct Stop: Error {}
        var line: [UInt8] = []
        do {
            try FileReader(store: ml.repo.store).read(id) { chunk in
                if let lf = chunk.firstIndex(of: 0x0A) { line.append(contentsOf: chunk[..<lf]); throw Stop() }
                line.append(contentsOf: chunk)
                if line.count >= 1 << 20 { throw Stop() }
            }
        } catch is Stop {} catch { return nil }
        if line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
        guard !line.isEmpty else { return [] }
        if delimiter != CSVScanner.comma {
            return line.split(separator: delimiter, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self).trimmed() }
        }
        return line.withUnsafeBufferPointer { b in
            (try? CSVScanner.record(b.baseAddress!, from: 0, b.count))?.fields.map { $0.trimmed() }
        }
    }

    /// One table's summary, cached by both versions' ids and the options.
    func tableSummary(_ e: DiffEntry, delimiter: UInt8, label: String?) -> String {
        let key = [e.oldId?.hex ?? "-", e.newId?.hex ?? "-", String(delimiter), e.path, label ?? ""].joined(separator: "\u{0}")
        if let hit = UIApp.compareSummaries.get(key) { return hit }
        let html = computeTableSummary(e, delimiter: delimiter, label: label)
        if html.cache { UIApp.compareSummaries.put(key, html.text) }
        return html.text
    }

    /// One table's row diff, summarised: rows before and after, changed/added/removed rows,
    /// the header when it changed, the label distribution, and for a modified CSV file the
    /// column statistics that changed (`mlrepo diff`'s profile comparison). `cache`: false
    /// for an error that may pass (a missing object).
    func computeTableSummary(_ e: DiffEntry, delimiter: UInt8, label: String?) -> (text: String, cache: Bool) {
        let sum: TableDiffSummary
        do {
            sum = try ml.repo.diffTable(old: e.oldId, new: .stored(e.newId), options: TableDiffOptions(labelColumn: label, delimiter: delimiter)) { _ in }
        } catch let x as NotATable {
            return ("<span class=\"muted\">\(HTML.text("not diffed by rows: \(x.reason)"))</span>", true)
        } catch {
            return ("<span class=\"error\">\(HTML.text("\(error)"))</span>", false)
        }
        let d = sum.newRows - sum.oldRows
        var out = "<span class=\"rows\">\(UIFormat.grouped(sum.oldRows)) → \(UIFormat.grouped(sum.newRows)) rows (\(d >= 0 ? "+" : "")\(UIFormat.grouped(d))): "
        out += "\(UIFormat.grouped(sum.modified)) changed, \(UIFormat.grouped(sum.added)) added, \(UIFormat.grouped(sum.deleted)) removed</span>"
        if sum.headerChanged {
            out += "<br><span class=\"muted\">header: \(HTML.text(sum.oldHeader.joined(separator: ","))) → \(HTML.text(sum.newHeader.joined(separator: ",")))</span>"
        }
        if let col = sum.labelColumn {
            let classes = Set(sum.oldLabels.keys).union(sum.newLabels.keys).sorted()
            out += "<br><span class=\"labels\">\(HTML.text(col)): "
            out += classes.prefix(20).map { c in
                let a = sum.oldLabels[c] ?? 0, b = sum.newLabels[c] ?? 0
                let cls = b > a ? "up" : b < a ? "down" : "muted"
                return "\(HTML.text(c)) <span class=\"\(cls)\">\(a) → \(b)</span>"
            }.joined(separator: ", ")
            if classes.count > 20 { out += ", … \(classes.count - 20) more classes" }
            out += "</span>"
        }
        if e.status == .modified, MLRepo.isCSV(e.path), let o = e.oldId, let n = e.newId {
            do {
                out += columnStatistics(compareProfiles(try ml.profile(id: o, path: e.path).profile, try ml.profile(id: n, path: e.path).profile))
            } catch let x as ProfileError {
                out += "<br><span class=\"muted\">\(HTML.text("no column statistics: \(x.description)"))</span>"
            } catch {
                return (out + "<br><span class=\"error\">\(HTML.text("\(error)"))</span>", false)
            }
        }
        return (out, true)
    }

    /// Statistics compared per column, at most this many columns shown.
    static let compareMaxStatColumns = 16
    static let compareStats = ["mean", "std", "min", "max", "missing"]

    /// The schema changes and, per column, old → new for mean, std, min, max and missing
    /// where they changed.
    func columnStatistics(_ c: ProfileComparison) -> String {
        var out = ""
        if !c.addedColumns.isEmpty { out += "<br><span class=\"up\">columns added: \(c.addedColumns.map(HTML.text).joined(separator: ", "))</span>" }
        if !c.removedColumns.isEmpty { out += "<br><span class=\"down\">columns removed: \(c.removedColumns.map(HTML.text).joined(separator: ", "))</span>" }
        for r in c.retyped { out += "<br><span class=\"muted\">column \(HTML.text(r.column)) retyped: \(HTML.text(r.old)) → \(HTML.text(r.new))</span>" }
        var columns: [String] = []
        var byColumn: [String: [String]] = [:]
        for ch in c.changes where UIApp.compareStats.contains(ch.stat) {
            if byColumn[ch.column] == nil { columns.append(ch.column) }
            let cls = ch.stat == "missing" ? ((ch.new ?? 0) > (ch.old ?? 0) ? "down" : "up") : "muted"
            byColumn[ch.column, default: []].append("\(ch.stat) <span class=\"\(cls)\">\(HTML.text(PageText.number(ch.old))) → \(HTML.text(PageText.number(ch.new)))</span>")
        }
        guard !columns.isEmpty else { return out }
        out += "<ul class=\"stats\">"
        for col in columns.prefix(UIApp.compareMaxStatColumns) {
            // In the order mean, std, min, max, missing.
            let parts = byColumn[col]!.sorted { a, b in
                (UIApp.compareStats.firstIndex { a.hasPrefix($0 + " ") } ?? 9) < (UIApp.compareStats.firstIndex { b.hasPrefix($0 + " ") } ?? 9)
            }
            out += "<li><span class=\"mono\">\(HTML.text(col))</span>: \(parts.joined(separator: ", "))</li>"
        }
        if columns.count > UIApp.compareMaxStatColumns { out += "<li class=\"muted\">… \(columns.count - UIApp.compareMaxStatColumns) more changed columns</li>" }
        return out + "</ul>"
    }

    /// The stages whose runs differ from the first commit's: which deps, params and outputs
    /// changed.
    func lineageSection(_ sides: [CompareSide]) -> String {
        var stages = Set<String>()
        for s in sides { stages.formUnion((s.meta?.runs ?? [:]).keys) }
        guard !stages.isEmpty else { return "<p class=\"muted\">No stage runs recorded.</p>" }
        var out = "<table id=\"compare-lineage\"><thead><tr><th>Stage</th>"
        for s in sides.dropFirst() { out += "<th>\(sides[0].id.short) → \(s.id.short)</th>" }
        out += "</tr></thead><tbody>"
        var records: [ObjectId: LineageRecord?] = [:]
        func record(_ id: ObjectId?) -> LineageRecord? {
            guard let id else { return nil }
            if let r = records[id] { return r }
            let r = try? ml.record(id)
            records[id] = r
            return r
        }
        var any = false
        for stage in stages.sorted().prefix(100) {
            let base = sides[0].meta?.runs[stage]
            guard sides.dropFirst().contains(where: { $0.meta?.runs[stage] != base }) else { continue }
            any = true
            out += "<tr><td>\(HTML.text(stage))</td>"
            for s in sides.dropFirst() {
                let other = s.meta?.runs[stage]
                out += "<td>"
                if other == base { out += "<span class=\"muted\">same run</span>" }
                else if base == nil { out += "<span class=\"up\">run added</span>" }
                else if other == nil { out += "<span class=\"down\">no run</span>" }
                else if let a = record(base), let b = record(other) { out += runDifference(a, b) }
                else { out += "<span class=\"muted\">a run record cannot be read</span>" }
                out += "</td>"
            }
            out += "</tr>"
        }
        out += "</tbody></table>"
        return any ? out : "<p class=\"muted\">Every stage has the same run in all of them.</p>"
    }

    func runDifference(_ a: LineageRecord, _ b: LineageRecord) -> String {
        var parts: [String] = []
        func paths(_ x: [RecordedPath], _ y: [RecordedPath], _ what: String) {
            let xa = Dictionary(x.map { ($0.path, $0.id) }, uniquingKeysWith: { p, _ in p })
            let ya = Dictionary(y.map { ($0.path, $0.id) }, uniquingKeysWith: { p, _ in p })
            let changed = Set(xa.keys).union(ya.keys).filter { xa[$0] != ya[$0] }.sorted()
            if !changed.isEmpty {
                parts.append("\(what): " + changed.prefix(10).map { HTML.text($0) }.joined(separator: ", ") + (changed.count > 10 ? ", …" : ""))
            }
        }
        paths(a.deps, b.deps, "deps")
        var pchanges: [String] = []
        for f in Set(a.params.keys).union(b.params.keys).sorted() {
            let x = a.params[f] ?? [:], y = b.params[f] ?? [:]
            for k in Set(x.keys).union(y.keys).sorted() where x[k] != y[k] {
                pchanges.append("\(HTML.text(k)) \(HTML.text(x[k].map { UIFormat.cell($0) } ?? "–")) → \(HTML.text(y[k].map { UIFormat.cell($0) } ?? "–"))")
            }
        }
        if !pchanges.isEmpty { parts.append("params: " + pchanges.prefix(10).joined(separator: ", ") + (pchanges.count > 10 ? ", …" : "")) }
        paths(a.outs, b.outs, "outs")
        if a.action != b.action { parts.append("command changed") }
        return parts.isEmpty ? "<span class=\"muted\">rerun, same inputs and outputs</span>" : parts.joined(separator: "<br>")
    }

    /// The plots (declared and per-step curves) of every side, overlaid.
    func plotsSection(_ sides: [CompareSide]) -> String {
        let revs = sides.map { PlotRevision(name: $0.id.short, commit: $0.id) }
        let c: PlotCollector.Collection
        do { c = try pagePlots(revs, targets: []) } catch {
            return "<p class=\"error\">\(HTML.text("cannot read the plots: \(error)"))</p>"
        }
        let groups = c.groups
        guard !groups.isEmpty else { return "<p class=\"muted\">No plots or training curves.</p>" }
        var out = UIApp.plotsLeftOut(c) + "<div class=\"charts\">"
        for g in groups.prefix(24) {
            out += "<div class=\"chart\" data-plot=\"\(HTML.attr(g.id))\">\(g.svg())"
            for (rev, why) in g.problems.sorted(by: { $0.key < $1.key }) { out += "<p class=\"muted\">\(HTML.text(rev)): \(HTML.text(why))</p>" }
            out += "</div>"
        }
        return out + "</div>"
    }
}
