import ML
import Net
import Store
import Support

// The Experiments page: one row per commit of the chosen branches, params and metrics as
// columns; sort, filter, choose columns (or only those that differ), pick rows to compare,
// paginated. Everything comes from the ExperimentIndex (memory); a page reads nothing.

/// Formatting shared by the experiment pages.
enum UIFormat {
    /// "2023-11-14 22:13" in the commit's own offset.
    static func shortTime(_ t: Int64, tzMinutes: Int) -> String { CommitTime.short(t, tzMinutes: tzMinutes) }

    /// ISO 8601 with the offset: "2023-11-14T22:13:20+00:00" (as `exp show --json`).
    static func isoTime(_ t: Int64, tzMinutes: Int) -> String { CommitTime.iso(t, tzMinutes: tzMinutes) }

    /// 10000 → "10,000".
    static func grouped(_ n: Int) -> String {
        let s = String(n.magnitude)
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += "," }
            out.append(ch)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// A number as the table shows it: 6 significant digits (sorting on the page reads it).
    static func cell(_ v: JSON) -> String { v.display(precision: 6) }

    /// `s` cut to `n` characters with an ellipsis (the charts' clip).
    static func cut(_ s: String, _ n: Int) -> String { ChartFormat.clip(s, n) }
}

/// What the experiments query asks for, resolved against the index.
struct ExperimentsView {
    /// The branches chosen (nil: all), and the `branch` values to keep in links.
    var branches: [String]?
    var branchParams: [String]
    /// Rows after the filter, sorted.
    var slots: [Int]
    /// Rows of the chosen branches before the filter.
    var totalBeforeFilter: Int
    var filterText: String
    var sortName: String
    var descending: Bool
    /// Columns shown (indexes into `index.columns`), metrics first.
    var columns: [Int]
    var colsParams: [String]
    var diffOnly: Bool
    var page: Int
    var per: Int
    /// Problems with the query shown above the table (the filter, a column name).
    var problems: [String]

    var pageSlots: ArraySlice<Int> {
        let start = min(slots.count, (page - 1) * per)
        return slots[start..<min(slots.count, start + per)]
    }
    var pageCount: Int { max(1, (slots.count + per - 1) / per) }

    /// The query that shows this view (page aside): for links that keep it.
    func query(page p: Int? = nil, sort: String? = nil, order: String? = nil) -> [(String, String?)] {
        var q: [(String, String?)] = branchParams.map { ("branch", $0) }
        if !filterText.isEmpty { q.append(("filter", filterText)) }
        let s = sort ?? sortName
        if !s.isEmpty { q.append(("sort", s)) }
        q.append(("order", order ?? (descending ? "desc" : "asc")))
        for c in colsParams { q.append(("cols", c)) }
        if diffOnly { q.append(("diff", "1")) }
        q.append(("per", String(per)))
        if let p { q.append(("page", String(p))) }
        return q
    }
}

extension UIApp {
    /// The branches a query names (`branch`, repeatable; `all`: every branch; default the
    /// current branch), checked against the index.
    func chosenBranches(_ q: Query) throws(UIError) -> (names: [String]?, params: [String]) {
        let given = q.all("branch").filter { !$0.isEmpty }
        if given.contains("all") { return (nil, ["all"]) }
        if given.isEmpty {
            if let b = index.currentBranch, index.hasBranch(b) { return ([b], []) }
            if index.hasBranch("HEAD") { return (["HEAD"], []) }
            return ([], [])
        }
        var out: [String] = []
        for b in given where !out.contains(b) {
            guard index.hasBranch(b) else {
                let near = ExperimentIndex.closeMatches(b, index.branches.map(\.name))
                throw UIError(400, "no branch '\(b)'" + (near.isEmpty ? "" : " (did you mean \(near.map { "'\($0)'" }.joined(separator: ", "))?)"))
            }
            out.append(b)
        }
        return (out, given)
    }

    /// Resolves the experiments query (shared by the page and /api/experiments).
    func experimentsView(_ q: Query) throws(UIError) -> ExperimentsView {
        let (names, branchParams) = try chosenBranches(q)
        var problems: [String] = []
        let base = index.slots(branches: names)
        var slots = base
        let filterText = q["filter"] ?? ""
        if !filterText.trimmed().isEmpty {
            do {
                let f = try FilterExpression(filterText)
                slots = try index.filter(slots, f)
            } catch {
                problems.append(error.message.hasPrefix("filter:") ? error.message : "filter: " + error.message)
            }
        }
        let order = q["order"] ?? "desc"
        guard order == "asc" || order == "desc" else { throw UIError(400, "'order' takes asc or desc, not '\(order)'") }
        let descending = order == "desc"
        var sortName = q["sort"] ?? ""
        var key = ExperimentIndex.SortKey.time
        switch sortName {
        case "", "time": sortName = sortName.isEmpty ? "" : "time"
        case "message": key = .message
        default:
            do { key = .column(try index.column(named: sortName, what: "column to sort by")) } catch {
                problems.append("sort: " + error.message); sortName = ""
            }
        }
        if key != .time || !descending { slots = index.sort(slots, by: key, descending: descending) }
        // Columns: those named (in the index's order, metrics first), else all.
        let colsParams = q.all("cols").filter { !$0.isEmpty }
        var cols: [Int]
        if colsParams.isEmpty { cols = Array(index.columns.indices) } else {
            var set = Set<Int>()
            for c in colsParams {
                do { set.insert(try index.column(named: c)) } catch { problems.append("columns: " + error.message) }
            }
            cols = set.sorted()
        }
        let diffOnly = q["diff"] == "1"
        if diffOnly { cols = cols.filter { differs($0, slots) } }
        let per = max(1, try q.int("per", default: options.pageSize, max: 1000))
        var page = max(1, try q.int("page", default: 1))
        page = min(page, max(1, (slots.count + per - 1) / per))
        return ExperimentsView(branches: names, branchParams: branchParams, slots: slots, totalBeforeFilter: base.count,
                               filterText: filterText, sortName: sortName, descending: descending, columns: cols,
                               colsParams: colsParams, diffOnly: diffOnly, page: page, per: per, problems: problems)
    }

    /// Whether column `c` holds different values (a missing value counts) across `slots`.
    func differs(_ c: Int, _ slots: [Int]) -> Bool {
        guard let first = slots.first else { return false }
        if index.isNumeric(c) {
            let nums = index.numbers(c)
            let x = nums[first]
            return slots.contains { let y = nums[$0]; return x.isNaN ? !y.isNaN : !(y == x) }
        }
        let v = index.value(c, first)
        return slots.contains { index.value(c, $0) != v }
    }

    func experimentsPage(_ q: Query) throws -> PageContent {
        let v = try experimentsView(q)
        let cols = index.columns
        var out = "<h1>Experiments</h1>"
        out += experimentsForm(v)
        for p in v.problems { out += "<p class=\"error\" id=\"filter-error\">\(HTML.text(p))</p>" }
        let shown = v.pageSlots
        let first = v.slots.isEmpty ? 0 : (v.page - 1) * v.per + 1
        var pager = "<div class=\"pager\">"
        if v.page > 1 { pager += "<a rel=\"prev\" href=\"\(HTML.attr(HTML.url("/experiments", v.query(page: v.page - 1))))\">‹ prev</a>" }
        pager += "<span class=\"count\">\(UIFormat.grouped(first))–\(UIFormat.grouped(first + shown.count - (shown.isEmpty ? 0 : 1))) of \(UIFormat.grouped(v.slots.count))"
        if v.slots.count != v.totalBeforeFilter { pager += " (filtered from \(UIFormat.grouped(v.totalBeforeFilter)))" }
        pager += "</span>"
        if v.page < v.pageCount { pager += "<a rel=\"next\" href=\"\(HTML.attr(HTML.url("/experiments", v.query(page: v.page + 1))))\">next ›</a>" }
        pager += "</div>"
        out += pager
        // The rows: a form to /compare (works without script); the script adds a live link.
        out += "<form method=\"get\" action=\"/compare\" class=\"pick-form\"><p><button type=\"submit\">Compare checked</button> "
        out += "<a id=\"compare-link\" href=\"/compare\" style=\"visibility:hidden\">Compare selected</a></p>"
        out += "<div class=\"scroll\"><table class=\"sortable\" id=\"experiments\"><thead><tr><th class=\"nosort\"></th>"
        func sortHead(_ title: String, _ name: String, num: Bool, extra: String = "") -> String {
            let active = v.sortName == name
            let next = active && v.descending ? "asc" : "desc"
            let arrow = active ? (v.descending ? "▼" : "▲") : "↕"
            return "<th\(num ? " class=\"num\"" : "")\(extra)>\(HTML.text(title)) <a class=\"sort\" title=\"sort all rows\" href=\"\(HTML.attr(HTML.url("/experiments", v.query(page: 1, sort: name, order: next))))\">\(arrow)</a></th>"
        }
        out += "<th>Commit</th>" + sortHead("Time", "time", num: false) + "<th>Branches</th>" + sortHead("Message", "message", num: false)
        for c in v.columns {
            let col = cols[c]
            out += sortHead(col.name, col.name, num: index.isNumeric(c),
                            extra: " title=\"\(HTML.attr((col.metric ? "metric" : "param") + " \(col.file):\(col.key)"))\" data-kind=\"\(col.metric ? "metric" : "param")\"")
        }
        out += "</tr></thead><tbody>"
        for s in shown {
            let r = index.entry(s)
            let hex = r.id.hex
            out += "<tr><td><input class=\"pick\" type=\"checkbox\" name=\"c\" value=\"\(hex)\"></td>"
            out += "<td class=\"mono\"><a href=\"\(HTML.attr(HTML.url("/compare", [("c", hex)])))\">\(r.id.short)</a> "
            out += "<a class=\"muted\" href=\"\(HTML.attr(HTML.url("/files", [("rev", hex)])))\">files</a></td>"
            let t = r.commit.committer
            out += "<td title=\"\(HTML.attr(UIFormat.isoTime(t.time, tzMinutes: t.tzOffsetMinutes)))\">\(HTML.text(UIFormat.shortTime(t.time, tzMinutes: t.tzOffsetMinutes)))</td><td>"
            let tips = index.tipNames(s)
            for b in tips { out += "<span class=\"tag tip\" title=\"tip of \(HTML.attr(b))\">\(HTML.text(b))</span>" }
            let others = index.branchNames(reaching: s).filter { !tips.contains($0) }
            for b in others.prefix(3) { out += "<span class=\"tag\">\(HTML.text(b))</span>" }
            if others.count > 3 { out += "<span class=\"muted\" title=\"\(HTML.attr(others.dropFirst(3).joined(separator: ", ")))\">+\(others.count - 3)</span>" }
            let subject = r.commit.subject
            out += "</td><td class=\"msg\" title=\"\(HTML.attr(subject))\">\(HTML.text(UIFormat.cut(subject, 80)))</td>"
            for c in v.columns {
                guard let val = index.value(c, s) else { out += "<td class=\"muted\">–</td>"; continue }
                switch val {
                case .number, .int:
                    // A bare cell (right-aligned by the stylesheet, sorted by its text on the
                    // page): 100 rows × 100 columns must stay a light page.
                    out += "<td>\(HTML.text(UIFormat.cell(val)))</td>"
                case .array, .object:
                    out += "<td class=\"t muted\">[…]</td>"
                default:
                    out += "<td class=\"t\">\(HTML.text(UIFormat.cut(val.display(), 60)))</td>"
                }
            }
            out += "</tr>"
        }
        out += "</tbody></table></div></form>"
        if shown.isEmpty {
            out += "<p class=\"muted\">\(index.count == 0 ? "No commits yet." : "No commit matches.")</p>"
        }
        out += pager
        return PageContent(title: "Experiments", section: .experiments, body: out, status: v.problems.isEmpty ? 200 : 400)
    }

    /// The controls: a GET form (works without script).
    func experimentsForm(_ v: ExperimentsView) -> String {
        var out = "<form class=\"controls\" method=\"get\" action=\"/experiments\" id=\"experiments-form\">"
        out += "<label>Branches <select name=\"branch\" multiple size=\"\(min(5, index.branches.count + 1))\">"
        out += "<option value=\"all\"\(v.branches == nil ? " selected" : "")>all branches</option>"
        for b in index.branches {
            let sel = v.branches?.contains(b.name) == true ? " selected" : ""
            out += "<option value=\"\(HTML.attr(b.name))\"\(sel)>\(HTML.text(b.name))</option>"
        }
        out += "</select></label>"
        out += "<label>Filter <input type=\"text\" name=\"filter\" size=\"40\" value=\"\(HTML.attr(v.filterText))\" placeholder=\"accuracy&gt;0.9 &amp;&amp; lr&lt;0.01\"></label>"
        out += "<label>Sort <select name=\"sort\"><option value=\"\">time</option><option value=\"message\"\(v.sortName == "message" ? " selected" : "")>message</option>"
        for c in index.columns {
            out += "<option value=\"\(HTML.attr(c.name))\"\(v.sortName == c.name ? " selected" : "")>\(HTML.text(c.name))</option>"
        }
        out += "</select></label><select name=\"order\"><option value=\"desc\"\(v.descending ? " selected" : "")>desc</option><option value=\"asc\"\(v.descending ? "" : " selected")>asc</option></select>"
        out += "<label><input type=\"checkbox\" name=\"diff\" value=\"1\"\(v.diffOnly ? " checked" : "")> only columns that differ</label>"
        out += "<label>Per page <input type=\"text\" name=\"per\" size=\"4\" value=\"\(v.per)\"></label>"
        let chosen = v.colsParams.isEmpty ? Set(index.columns.indices) : Set(v.columns)
        out += "<details class=\"cols\"><summary>Columns (\(v.colsParams.isEmpty ? index.columns.count : chosen.count) of \(index.columns.count))</summary><div class=\"colpick\">"
        for (i, c) in index.columns.enumerated() {
            let on = v.colsParams.isEmpty || v.colsParams.contains(c.name) || chosen.contains(i)
            out += "<label><input type=\"checkbox\" name=\"cols\" value=\"\(HTML.attr(c.name))\"\(on ? " checked" : "")> \(HTML.text(c.name))<span class=\"muted\"> \(c.metric ? "metric" : "param")</span></label>"
        }
        out += "</div></details><button type=\"submit\">Apply</button></form>"
        return out
    }
}

extension UIApp {
    /// `/api/experiments`: the rows the experiments page shows, as JSON (same query): the
    /// shape of `exp show --json` plus "branches" (those reaching the commit). The total
    /// (after the filter) is in the X-Total-Count header.
    func experimentsJSON(_ q: Query) throws -> HTTPResponse {
        let v: ExperimentsView
        do throws(UIError) {
            v = try experimentsView(q)
            if let p = v.problems.first { throw UIError(400, p) }
        } catch {
            return HTTPResponse(status: error.status, json: JSON.object(["error": .string(error.message)]).encoded())
        }
        let rows: [JSON] = v.pageSlots.map { s in
            var o = index.entry(s).json
            o["branches"] = .array(index.branchNames(reaching: s).map { .string($0) })
            return .object(o)
        }
        var r = HTTPResponse(status: 200, json: JSON.array(rows).encoded())
        r.headers.append(("X-Total-Count", String(v.slots.count)))
        return r
    }
}
