import ML
import Store
import Support

// The Charts page: (a) chosen metrics across the commits of the chosen branches, (b) a param
// against a metric, (c) parallel coordinates of params and a metric, (d) per-step curves and
// declared plots at chosen commits, overlaid. (a)–(c) read the index's cached columns only.

extension UIApp {
    /// Lines of a parallel-coordinates chart at most (the newest commits).
    static let chartsMaxParallelLines = 1000
    /// Commits whose plots are overlaid at most.
    static let chartsMaxPlotCommits = 8
    /// Plots drawn on one page at most (the first ones, chosen before any data is read), the
    /// bytes of plot files read for one page at most, and the parsed plot tables kept between
    /// requests (keyed by blob, so a file version is parsed once; Charts and Compare share it;
    /// a parsed table takes about 4× its file's bytes, so one page's 64 MiB fit in 256 MiB).
    static let pagePlotLimit = 24
    static let pagePlotBytes = 64 << 20
    static let plotTables = PlotTableCache(maxEntries: 32, maxBytes: 256 << 20)

    /// The plots of a page: bounded by `pagePlotLimit` and `pagePlotBytes`, with the shared cache.
    func pagePlots(_ revs: [PlotRevision], targets: [String]) throws -> PlotCollector.Collection {
        try PlotCollector(ml: ml).collect(revs, targets: targets, limit: UIApp.pagePlotLimit, byteBudget: UIApp.pagePlotBytes,
                                          cache: UIApp.plotTables)
    }

    /// "The first 24 of 100 plots" when some were left out.
    static func plotsLeftOut(_ c: PlotCollector.Collection) -> String {
        guard c.total > c.groups.count else { return "" }
        return "<p class=\"muted\">The first \(c.groups.count) of \(UIFormat.grouped(c.total)) plots; name one with <code>plot=</code> to see another.</p>"
    }
    /// Branches drawn as series of one chart at most (the current one first, then the most
    /// recently moved), and points per series at most (beyond it, every n-th commit and the
    /// newest), so a chart over 10,000 commits and many branches stays cheap to build.
    static let chartsMaxSeries = 10
    static let chartsMaxPoints = 2000
    /// Markers (each with its link and tooltip) a chart across commits draws at most; past
    /// that, lines only.
    static let chartsMarkerLimit = 400

    /// Indexes of `values` to draw when there are more than `limit`: in each run of
    /// consecutive values, the lowest and the highest (so a spike is never dropped), and the
    /// last value; at most `limit + 1` indexes, in order.
    static func thinMinMax(_ values: [Double], limit: Int) -> (kept: [Int], run: Int) {
        guard values.count > limit, limit >= 2 else { return (Array(values.indices), 1) }
        let buckets = limit / 2
        let run = (values.count + buckets - 1) / buckets
        var out: [Int] = []
        out.reserveCapacity(limit + 1)
        var start = 0
        while start < values.count {
            let end = min(values.count, start + run)
            var lo = start, hi = start
            for i in start..<end {
                if values[i] < values[lo] { lo = i }
                if values[i] > values[hi] { hi = i }
            }
            out.append(min(lo, hi))
            if hi != lo { out.append(max(lo, hi)) }
            start = end
        }
        if out.last != values.count - 1 { out.append(values.count - 1) }
        return (out, run)
    }

    /// Every `stride`-th element of `a` and its last, when `a` is longer than `limit`.
    static func thin<T>(_ a: [T], limit: Int) -> (kept: [T], stride: Int) {
        guard a.count > limit, limit > 1 else { return (a, 1) }
        let step = (a.count + limit - 2) / (limit - 1)
        var out: [T] = []
        out.reserveCapacity(limit)
        var i = 0
        while i < a.count - 1 { out.append(a[i]); i += step }
        out.append(a[a.count - 1])
        return (out, step)
    }

    func chartsPage(_ q: Query) throws -> PageContent {
        let (names, branchParams) = try chosenBranches(q)
        let cols = index.columns
        let numericMetrics = cols.indices.filter { cols[$0].metric && index.isNumeric($0) }
        let numericParams = cols.indices.filter { !cols[$0].metric && index.isNumeric($0) }
        var problems: [String] = []
        func resolve(_ name: String, _ what: String) -> Int? {
            do { return try index.column(named: name, what: what) } catch { problems.append(error.message); return nil }
        }
        var metrics = q.all("metric").filter { !$0.isEmpty }.compactMap { resolve($0, "metric") }
        if q.all("metric").allSatisfy(\.isEmpty) { metrics = Array(numericMetrics.prefix(4)) }
        let xCol = q["x"].flatMap { $0.isEmpty ? nil : resolve($0, "column") }
        let yCol = q["y"].flatMap { $0.isEmpty ? nil : resolve($0, "column") }
        let parallel = q["parallel"] == "1"
        var params = q.all("param").filter { !$0.isEmpty }.compactMap { resolve($0, "param") }
        if params.isEmpty { params = Array(numericParams.prefix(6)) }

        // The series' branches: each chosen one (all: every branch).
        var seriesBranches = names ?? index.branches.map(\.name)
        var notes: [String] = []
        if seriesBranches.count > UIApp.chartsMaxSeries {
            // The current branch, then the branches whose tips are newest.
            let tips = Dictionary(index.branches.map { ($0.name, $0.tip) }, uniquingKeysWith: { a, _ in a })
            func time(_ b: String) -> Int64 { tips[b].flatMap { index.row($0) }?.commit.committer.time ?? 0 }
            seriesBranches.sort { a, b in
                if (a == index.currentBranch) != (b == index.currentBranch) { return a == index.currentBranch }
                return (time(a), b) > (time(b), a)
            }
            notes.append("\(seriesBranches.count) branches: the \(UIApp.chartsMaxSeries) most recently moved are drawn; choose branches above to see others.")
            seriesBranches = Array(seriesBranches.prefix(UIApp.chartsMaxSeries))
        }
        let allSlots = index.slots(branches: names)
        // Oldest first: x is the position among the shown commits.
        let oldestFirst = Array(allSlots.reversed())
        var xOf = [Int](repeating: -1, count: index.slotCount)
        for (i, s) in oldestFirst.enumerated() { xOf[s] = i }
        func label(_ s: Int) -> String { self.index.label(s) }
        func href(_ s: Int) -> String { self.index.compareHref(s) }

        var out = "<h1>Charts</h1>"
        out += chartsForm(q, names: names, metrics: metrics, xCol: xCol, yCol: yCol, parallel: parallel, params: params)
        for p in problems { out += "<p class=\"error\">\(HTML.text(p))</p>" }

        // (a) Metrics across commits.
        out += "<h2>Metrics across commits</h2>"
        if metrics.isEmpty { out += "<p class=\"muted\">No numeric metric recorded.</p>" }
        out += "<div class=\"charts\" id=\"metric-charts\">"
        let branchSlots: [(String, [Int])] = seriesBranches.map { b in (b, Array(index.slots(branches: [b]).reversed())) }
        var thinned = 1
        for m in metrics {
            let nums = index.numbers(m)
            var series: [ChartSeries] = []
            for (b, all) in branchSlots {
                let present = all.filter { !nums[$0].isNaN }
                let (kept, run) = UIApp.thinMinMax(present.map { nums[$0] }, limit: UIApp.chartsMaxPoints)
                let slots = kept.map { present[$0] }
                thinned = max(thinned, run)
                var pts: [ChartPoint] = []
                pts.reserveCapacity(slots.count)
                for s in slots {
                    let x = xOf[s]
                    guard x >= 0 else { continue }
                    pts.append(ChartPoint(x: Double(x), y: nums[s], label: label(s) + ": " + formatFixed(nums[s], 5), href: href(s)))
                }
                if !pts.isEmpty { series.append(ChartSeries(name: b, points: pts)) }
            }
            let cats: [String]? = oldestFirst.count <= 40 ? oldestFirst.map { index.entry($0).id.short } : nil
            var chart = Chart(title: cols[m].name, kind: .line, series: series, xLabel: "commits, oldest first", yLabel: cols[m].name, xCategories: cats)
            // Several of these on one page: past a few hundred commits, lines without a
            // marker (and its link and tooltip) per commit keep the page light.
            chart.markerLimit = UIApp.chartsMarkerLimit
            out += "<div class=\"chart\" data-metric=\"\(HTML.attr(cols[m].name))\">\(chart.svg())</div>"
        }
        out += "</div>"
        if thinned > 1 { notes.append("Over \(UIApp.chartsMaxPoints) commits in a series: of every \(thinned) commits in a row, the lowest and the highest value are drawn (and the newest).") }
        for n in notes { out += "<p class=\"muted\">\(HTML.text(n))</p>" }

        // (b) A param (or any column) against a metric.
        out += "<h2>Scatter</h2>"
        if let xCol, let yCol {
            let xs = index.numbers(xCol), ys = index.numbers(yCol)
            var pts: [ChartPoint] = []
            let (kept, step) = UIApp.thin(allSlots.filter { !xs[$0].isNaN && !ys[$0].isNaN }, limit: UIApp.chartsMaxPoints)
            for s in kept {
                pts.append(ChartPoint(x: xs[s], y: ys[s], label: label(s) + ": \(cols[xCol].name)=\(formatFixed(xs[s], 5)), \(cols[yCol].name)=\(formatFixed(ys[s], 5))", href: href(s)))
            }
            var chart = Chart(title: "\(cols[yCol].name) against \(cols[xCol].name)", kind: .scatter,
                              series: [ChartSeries(name: branchParams.isEmpty ? (names?.first ?? "commits") : branchParams.joined(separator: ", "), points: pts)],
                              xLabel: cols[xCol].name, yLabel: cols[yCol].name)
            chart.markerLimit = 2 * UIApp.chartsMarkerLimit
            out += "<div class=\"charts\" id=\"scatter\"><div class=\"chart\">\(chart.svg())</div></div>"
            if pts.isEmpty { out += "<p class=\"muted\">No commit has numbers for both.</p>" }
            if step > 1 { out += "<p class=\"muted\">Every \(step)th of the commits (newest first) is drawn.</p>" }
        } else {
            out += "<p class=\"muted\">Choose x (a param) and y (a metric) above.</p>"
        }

        // (c) Parallel coordinates.
        out += "<h2>Parallel coordinates</h2>"
        if parallel {
            let metric = yCol ?? metrics.first
            let axes = params + (metric.map { [$0] } ?? [])
            let arrays = axes.map { index.numbers($0) }
            var lines: [ParallelChart.Line] = []
            for s in allSlots.prefix(UIApp.chartsMaxParallelLines) {
                let vals: [Double?] = arrays.map { $0[s].isNaN ? nil : $0[s] }
                guard vals.contains(where: { $0 != nil }) else { continue }
                lines.append(ParallelChart.Line(name: label(s), values: vals, href: href(s)))
            }
            let chart = ParallelChart(title: "params and \(metric.map { cols[$0].name } ?? "no metric")", axes: axes.map { cols[$0].name },
                                      lines: lines, colorAxis: metric == nil ? nil : axes.count - 1)
            out += "<div class=\"charts\" id=\"parallel\"><div class=\"chart\">\(chart.svg())</div></div>"
            if allSlots.count > UIApp.chartsMaxParallelLines {
                out += "<p class=\"muted\">The newest \(UIApp.chartsMaxParallelLines) of \(UIFormat.grouped(allSlots.count)) commits.</p>"
            }
        } else {
            out += "<p class=\"muted\">Tick “parallel coordinates” above to draw the chosen params against a metric.</p>"
        }

        // (d) Per-step curves and declared plots at chosen commits.
        out += "<h2>Training curves and plots</h2>"
        var revs = q.all("c").filter { !$0.isEmpty }
        if revs.isEmpty { revs = ["HEAD"] }
        if revs.count > UIApp.chartsMaxPlotCommits {
            out += "<p class=\"muted\">\(HTML.text("The plots of the first \(UIApp.chartsMaxPlotCommits) of the \(revs.count) commits asked for are overlaid."))</p>"
            revs = Array(revs.prefix(UIApp.chartsMaxPlotCommits))
        }
        var plotRevs: [PlotRevision] = []
        for r in revs {
            do { plotRevs.append(PlotRevision(name: r, commit: try resolvePageCommit(r))) } catch {
                if r == "HEAD" && index.count == 0 { continue }
                out += "<p class=\"error\">\(HTML.text("'\(r)' is not a commit here: \(error)"))</p>"
            }
        }
        if !plotRevs.isEmpty {
            var groups: [PlotGroup] = []
            do {
                let c = try pagePlots(plotRevs, targets: q.all("plot").filter { !$0.isEmpty })
                groups = c.groups
                out += UIApp.plotsLeftOut(c)
            } catch {
                out += "<p class=\"error\">\(HTML.text("cannot read the plots: \(error)"))</p>"
            }
            if groups.isEmpty { out += "<p class=\"muted\">No training curves or declared plots at \(HTML.text(revs.joined(separator: ", "))).</p>" }
            out += "<div class=\"charts\" id=\"plots\">"
            for g in groups.prefix(24) {
                out += "<div class=\"chart\" data-plot=\"\(HTML.attr(g.id))\">\(g.svg())"
                for (rev, why) in g.problems.sorted(by: { $0.key < $1.key }) { out += "<p class=\"muted\">\(HTML.text(rev)): \(HTML.text(why))</p>" }
                out += "</div>"
            }
            out += "</div>"
        }
        return PageContent(title: "Charts", section: .charts, body: out, status: problems.isEmpty ? 200 : 400)
    }

    func chartsForm(_ q: Query, names: [String]?, metrics: [Int], xCol: Int?, yCol: Int?, parallel: Bool, params: [Int]) -> String {
        let cols = index.columns
        var out = "<form class=\"controls\" method=\"get\" action=\"/charts\" id=\"charts-form\">"
        out += "<label>Branches <select name=\"branch\" multiple size=\"\(min(5, index.branches.count + 1))\">"
        out += "<option value=\"all\"\(names == nil ? " selected" : "")>all branches</option>"
        for b in index.branches {
            out += "<option value=\"\(HTML.attr(b.name))\"\(names?.contains(b.name) == true ? " selected" : "")>\(HTML.text(b.name))</option>"
        }
        out += "</select></label>"
        out += "<details><summary>Metrics (\(metrics.count))</summary><div class=\"colpick\">"
        for i in cols.indices where cols[i].metric && index.isNumeric(i) {
            out += "<label><input type=\"checkbox\" name=\"metric\" value=\"\(HTML.attr(cols[i].name))\"\(metrics.contains(i) ? " checked" : "")> \(HTML.text(cols[i].name))</label>"
        }
        out += "</div></details>"
        func select(_ name: String, _ chosen: Int?, metric: Bool?) -> String {
            var s = "<select name=\"\(name)\"><option value=\"\"></option>"
            for i in cols.indices where index.isNumeric(i) && (metric == nil || cols[i].metric == metric!) {
                s += "<option value=\"\(HTML.attr(cols[i].name))\"\(chosen == i ? " selected" : "")>\(HTML.text(cols[i].name))</option>"
            }
            return s + "</select>"
        }
        out += "<label>x \(select("x", xCol, metric: nil))</label><label>y \(select("y", yCol, metric: nil))</label>"
        out += "<label><input type=\"checkbox\" name=\"parallel\" value=\"1\"\(parallel ? " checked" : "")> parallel coordinates</label>"
        out += "<details><summary>Params (\(params.count))</summary><div class=\"colpick\">"
        for i in cols.indices where !cols[i].metric && index.isNumeric(i) {
            out += "<label><input type=\"checkbox\" name=\"param\" value=\"\(HTML.attr(cols[i].name))\"\(params.contains(i) ? " checked" : "")> \(HTML.text(cols[i].name))</label>"
        }
        out += "</div></details>"
        let revs = q.all("c").filter { !$0.isEmpty }
        out += "<label>Curves at <input type=\"text\" name=\"c\" size=\"12\" value=\"\(HTML.attr(revs.first ?? "HEAD"))\"></label>"
        for r in revs.dropFirst() { out += "<input type=\"text\" name=\"c\" size=\"12\" value=\"\(HTML.attr(r))\">" }
        out += "<input type=\"text\" name=\"c\" size=\"12\" placeholder=\"another commit\">"
        out += "<button type=\"submit\">Draw</button></form>"
        return out
    }
}
