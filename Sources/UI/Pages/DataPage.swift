#if canImport(Glibc)
import Glibc
#endif
import ML
import Net
import Store
import Support

// The Data page: `/data?rev=REV&path=P[&base=REV2]`. A CSV version's profile (schema,
// per-column type, missing values, statistics) with a histogram per numeric column and the
// top values of text columns; with `base`, the drift from that revision's version of the
// same file, per column: population stability index and a binned Kolmogorov–Smirnov
// distance over common bins, the mean shift in the base's standard deviations, and the shift
// of text columns' top values. Without `path`: the commit's dataset-like files.
//
// Profiles come from `MLRepo.profile` (cached on disk by file id); the histograms need one
// more pass over the file, so both are kept in memory by file id (`DataPageCache`, bounded):
// a page shown once is served from memory afterwards.

/// What the Data page keeps per file version (and per pair of versions, for drift bins).
final class DataPageCache: @unchecked Sendable {
    struct Entry {
        var profile: DataProfile
        /// Histograms by column over the key's bins.
        var histograms: [String: [Int]]
        /// When it was computed (wall seconds), how long it took, whether the profile came
        /// from the disk cache, whether the histogram pass stopped before the end.
        var computedAt: Double
        var seconds: Double
        var profileWasCached: Bool
        var partial: Bool
    }
    static let capacity = 64
    private let lock = Lock()
    private var entries: [String: Entry] = [:]
    private var order: [String] = []

    func get(_ key: String) -> Entry? { lock.withLock { entries[key] } }

    func put(_ key: String, _ e: Entry) {
        lock.withLock {
            if entries[key] == nil { order.append(key) }
            entries[key] = e
            while order.count > DataPageCache.capacity { entries[order.removeFirst()] = nil }
        }
    }
}

extension UIApp {
    static let dataCache = DataPageCache()
    static let histogramBins = 20
    static let driftBins = 10
    /// Bytes of a file read at most for its histograms.
    static let maxHistogramBytes = 512 << 20

    /// Bins for a numeric column: `bins` equal widths over [lo, hi] (one bin when lo == hi).
    struct Bins: Hashable { var lo: Double; var hi: Double; var count: Int }

    /// The profile of stored CSV `id` with histograms of the numeric columns over `bins`,
    /// from memory when it was computed before.
    func dataEntry(_ id: ObjectId, path: String, bins: [String: Bins]) throws -> DataPageCache.Entry {
        let key = id.hex + "|" + bins.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.lo),\($0.value.hi),\($0.value.count)" }.joined(separator: ";")
        if let e = UIApp.dataCache.get(key) { return e }
        let started = Sys.monotonicSeconds()
        let (profile, cached) = try profileOf(id, path: path)
        // One streaming pass for the histograms of the numeric columns asked for.
        let names = profile.columns.map(\.name)
        var targets: [(col: Int, name: String, bins: Bins)] = []
        var taken = Set<String>()   // a repeated column name: its first column
        for (i, n) in names.enumerated() { if let b = bins[n], taken.insert(n).inserted { targets.append((i, n, b)) } }
        var counts = targets.map { [Int](repeating: 0, count: $0.bins.count) }
        var partial = false
        if !targets.isEmpty {
            let size = try FileReader(store: ml.repo.store).size(of: id)
            let table = TableStream(tab: false)
            var header = true, read = 0
            try readPrefix(id, maxBytes: UIApp.maxHistogramBytes) { chunk in
                read += chunk.count
                try table.feed(chunk, atEnd: UInt64(read) >= size) { rec in
                    if header { header = false; return true }
                    for (t, target) in targets.enumerated() where target.col < rec.count && target.bins.count > 0 {
                        guard let x = rec.number(target.col) else { continue }   // missing or not a number
                        let b = target.bins
                        counts[t][UIApp.bin(x, lo: b.lo, hi: b.hi, count: b.count)] += 1
                    }
                    return true
                }
                return true
            }
            partial = UInt64(read) < size
        }
        var hist: [String: [Int]] = [:]
        for (t, target) in targets.enumerated() { hist[target.name] = counts[t] }
        let e = DataPageCache.Entry(profile: profile, histograms: hist, computedAt: Clock.wallSeconds(),
                                    seconds: Sys.monotonicSeconds() - started, profileWasCached: cached, partial: partial)
        UIApp.dataCache.put(key, e)
        return e
    }

    /// A file version's profile, kept in memory once read (from the disk cache or computed).
    func profileOf(_ id: ObjectId, path: String) throws -> (profile: DataProfile, cached: Bool) {
        let key = "profile|" + id.hex
        if let e = UIApp.dataCache.get(key) { return (e.profile, true) }
        let started = Sys.monotonicSeconds()
        let profile: DataProfile, cached: Bool
        do { (profile, cached) = try ml.profile(id: id, path: path) } catch let e as ProfileError { throw UIError(422, e.description) }
        UIApp.dataCache.put(key, DataPageCache.Entry(profile: profile, histograms: [:], computedAt: Clock.wallSeconds(),
                                                     seconds: Sys.monotonicSeconds() - started, profileWasCached: cached, partial: false))
        return (profile, cached)
    }

    static func isNumeric(_ c: ColumnProfile) -> Bool { c.type == "integer" || c.type == "float" }

    func dataPage(_ q: Query) throws -> PageContent {
        let rev = q["rev"].flatMap { $0.isEmpty ? nil : $0 } ?? "HEAD"
        let path = try checkedPath(q["path"])
        let commit = try resolvePageCommit(rev)
        let c = try ml.repo.readCommit(commit)
        var body = "<h1>Data</h1>" + revisionForm(action: "/data", rev: rev, commit: commit, c, extra: [("path", path), ("base", q["base"])])
        guard !path.isEmpty else {
            body += try datasetList(c, rev: rev)
            return PageContent(title: "Data", section: .data, body: body)
        }
        guard let e = try ml.repo.entry(in: c.tree, path: path), !e.mode.isDirectory else {
            throw UIError(404, "'\(path)' is not a file in \(rev) (\(commit.short))")
        }
        body += "<h2>" + HTML.text(path) + " <span class=\"mono muted\">\(e.id.short)</span></h2>"
        body += "<p><a href=\"\(HTML.attr(HTML.url("/files", [("rev", rev), ("path", path)])))\">rows</a> · <a href=\"\(HTML.attr(HTML.url("/lineage", [("rev", rev), ("path", path)])))\">lineage</a></p>"
        guard MLRepo.isCSV(path) else {
            body += "<p class=\"muted\">Profiles are computed for CSV files; this one is shown on the <a href=\"\(HTML.attr(HTML.url("/files", [("rev", rev), ("path", path)])))\">Files</a> page.</p>"
            return PageContent(title: "Data: \(Path.basename(path))", section: .data, body: body)
        }
        if let baseRev = q["base"], !baseRev.isEmpty {
            body += try driftSection(path: path, rev: rev, id: e.id, baseRev: baseRev)
            return PageContent(title: "Drift: \(Path.basename(path))", section: .data, body: body)
        }
        // The profile, then histograms over each numeric column's own range.
        let profile = try profileOf(e.id, path: path).profile
        var bins: [String: Bins] = [:]
        for col in profile.columns where UIApp.isNumeric(col) {
            if let lo = col.min, let hi = col.max, lo.isFinite, hi.isFinite { bins[col.name] = Bins(lo: lo, hi: hi, count: UIApp.histogramBins) }
        }
        let entry = try dataEntry(e.id, path: path, bins: bins)
        body += computedNote(entry)
        body += baseForm(path: path, rev: rev)
        body += profileTable(entry.profile)
        body += "<h2>Distributions</h2><div class=\"charts\">"
        for col in entry.profile.columns.prefix(100) {
            if let h = entry.histograms[col.name], let b = bins[col.name] {
                let cats = (0..<b.count).map { i -> String in
                    let w = (b.hi - b.lo) / Double(b.count)
                    return PageText.number(b.lo + Double(i) * w)
                }
                let pts = h.enumerated().map { i, n in
                    ChartPoint(x: Double(i), y: Double(n), label: "\(col.name) in [\(PageText.number(b.lo + Double(i) * (b.hi - b.lo) / Double(b.count))), \(PageText.number(b.lo + Double(i + 1) * (b.hi - b.lo) / Double(b.count))))\(i == b.count - 1 ? "]" : ""): \(n) rows")
                }
                body += "<div class=\"chart\">" + Chart(title: col.name, kind: .bar, series: [ChartSeries(name: col.name, points: pts)],
                                                     xLabel: col.name, yLabel: "rows", xCategories: cats, width: 420, height: 220).svg() + "</div>"
            } else if !col.top.isEmpty {
                let top = Array(col.top.prefix(10))
                let pts = top.enumerated().map { i, t in ChartPoint(x: Double(i), y: Double(t.count), label: "\(col.name) = \(t.value): \(t.count) rows") }
                body += "<div class=\"chart\">" + Chart(title: col.name, kind: .bar, series: [ChartSeries(name: col.name, points: pts)],
                                                     xLabel: col.name, yLabel: "rows", xCategories: top.map(\.value), width: 420, height: 220).svg() + "</div>"
            }
        }
        body += "</div>"
        return PageContent(title: "Data: \(Path.basename(path))", section: .data, body: body)
    }

    func computedNote(_ e: DataPageCache.Entry) -> String {
        "<p class=\"muted computed\">Computed \(HTML.text(ISOTime.format(e.computedAt))) in \(formatFixed(e.seconds * 1000, 1)) ms"
            + (e.profileWasCached ? " (profile from the cache)" : "")
            + (e.partial ? "; histograms from the first \(PageText.bytes(UInt64(UIApp.maxHistogramBytes))) only" : "") + ".</p>"
    }

    func baseForm(path: String, rev: String) -> String {
        "<form class=\"controls\" method=\"get\" action=\"/data\"><input type=\"hidden\" name=\"rev\" value=\"\(HTML.attr(rev))\"><input type=\"hidden\" name=\"path\" value=\"\(HTML.attr(path))\">"
            + "<label>Drift from revision <input type=\"text\" name=\"base\" value=\"\(HTML.attr(rev == "HEAD" ? "HEAD~1" : rev + "~1"))\"></label><button type=\"submit\">Compare</button></form>"
    }

    func profileTable(_ p: DataProfile) -> String {
        var out = "<p>\(p.rows) rows, \(p.columns.count) columns, \(PageText.bytes(p.bytes))</p>"
        out += "<div class=\"scroll\"><table class=\"sortable profile\"><thead><tr><th>Column</th><th>Type</th><th class=\"num\">Missing</th><th class=\"num\">Distinct</th><th class=\"num\">Min</th><th class=\"num\">Median</th><th class=\"num\">Max</th><th class=\"num\">Mean</th><th class=\"num\">Std</th><th>Top values</th></tr></thead><tbody>"
        for c in p.columns {
            let median = c.quantiles.first { $0.q == 0.5 }?.value
            let n = max(1, c.count + c.missing)
            out += "<tr><td>\(HTML.text(c.name))</td><td>\(HTML.text(c.type))</td>"
            out += "<td class=\"num\" data-v=\"\(c.missing)\">\(c.missing) (\(formatFixed(Double(c.missing) * 100 / Double(n), 1))%)</td>"
            out += "<td class=\"num\">\(c.distinctApproximate ? "~" : "")\(c.distinct)</td>"
            for v in [c.min, median, c.max, c.mean, c.std] { out += "<td class=\"num\">\(HTML.text(PageText.number(v)))</td>" }
            let top = UIApp.isNumeric(c) ? "" : c.top.prefix(5).map { "\($0.value) (\($0.count))" }.joined(separator: ", ")
            out += "<td>\(HTML.text(top))</td></tr>"
        }
        return out + "</tbody></table></div>"
    }

    /// The commit's dataset-like files: kinds dataset, features, labels, and CSV/TSV/NPY files
    /// (the walk stops after `maxListing` entries).
    func datasetList(_ c: Commit, rev: String) throws -> String {
        let meta = try? ml.meta(of: c)
        var found: [(String, UInt64, String)] = []
        var visited = 0
        do {
            try ml.repo.walkTree(c.tree, descend: { _, _ in true }) { p, e in
                visited += 1
                if visited > UIApp.maxListing { throw StopReading() }
                guard !e.mode.isDirectory else { return }
                let kind = UIApp.kind(meta, p)
                let ext = UIApp.ext(p)
                if [.dataset, .features, .labels].contains(kind) || ["csv", "tsv", "npy"].contains(ext) {
                    found.append((p, e.size, kind?.rawValue ?? ""))
                }
            }
        } catch is StopReading {}
        var out = "<h2>Datasets</h2>"
        guard !found.isEmpty else { return out + "<p class=\"muted\">No CSV, TSV or NPY files and no paths of kind dataset, features or labels in this commit.</p>" }
        out += "<table class=\"sortable datasets\"><thead><tr><th>Path</th><th>Kind</th><th class=\"num\">Size</th></tr></thead><tbody>"
        for (p, size, kind) in found {
            let target = MLRepo.isCSV(p) ? HTML.url("/data", [("rev", rev), ("path", p)]) : HTML.url("/files", [("rev", rev), ("path", p)])
            out += "<tr><td><a href=\"\(HTML.attr(target))\">\(HTML.text(p))</a></td><td>\(HTML.text(kind))</td><td class=\"num\" data-v=\"\(size)\">\(PageText.bytes(size))</td></tr>"
        }
        out += "</tbody></table>"
        if visited > UIApp.maxListing { out += "<p class=\"muted\">Stopped after \(UIApp.maxListing) entries of the tree.</p>" }
        return out
    }

    /// One column's drift between two versions.
    struct ColumnDrift {
        var name: String
        var type: String
        var psi: Double?
        var ks: Double?
        var meanShift: Double?
        var topShift: Double?
        var status: String
    }

    /// Total variation distance between two columns' top-value distributions (values outside
    /// the top lists lumped together).
    static func topShift(_ a: ColumnProfile, _ b: ColumnProfile) -> Double? {
        guard !a.top.isEmpty || !b.top.isEmpty, a.count > 0, b.count > 0 else { return nil }
        var pa: [String: Double] = [:], pb: [String: Double] = [:]
        for t in a.top { pa[t.value] = Double(t.count) / Double(a.count) }
        for t in b.top { pb[t.value] = Double(t.count) / Double(b.count) }
        let restA = max(0, 1 - pa.values.reduce(0, +)), restB = max(0, 1 - pb.values.reduce(0, +))
        var d = 0.0
        for k in Set(pa.keys).union(pb.keys) { d += abs((pa[k] ?? 0) - (pb[k] ?? 0)) }
        // The lumped rest compares as one more value (an upper bound on its part).
        d += abs(restA - restB)
        return min(1, d / 2)
    }

    func driftSection(path: String, rev: String, id: ObjectId, baseRev: String) throws -> String {
        let baseCommit = try resolvePageCommit(baseRev)
        guard let be = try ml.repo.entry(in: ml.repo.readCommit(baseCommit).tree, path: path), !be.mode.isDirectory else {
            throw UIError(404, "'\(path)' is not a file in \(baseRev) (\(baseCommit.short))")
        }
        var out = "<p>Drift of <span class=\"mono\">\(id.short)</span> (\(HTML.text(rev))) from <span class=\"mono\">\(be.id.short)</span> (\(HTML.text(baseRev))) · "
        out += "<a href=\"\(HTML.attr(HTML.url("/data", [("rev", rev), ("path", path)])))\">profile</a></p>"
        let oldP = try profileOf(be.id, path: path).profile
        let newP = try profileOf(id, path: path).profile
        // Common bins per numeric column: the union of both ranges.
        var bins: [String: Bins] = [:]
        let oldBy = Dictionary(oldP.columns.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for c in newP.columns where UIApp.isNumeric(c) {
            guard let o = oldBy[c.name], UIApp.isNumeric(o), let a = c.min, let b = c.max, let x = o.min, let y = o.max else { continue }
            let lo = min(a, x), hi = max(b, y)
            if lo.isFinite && hi.isFinite { bins[c.name] = Bins(lo: lo, hi: hi, count: UIApp.driftBins) }
        }
        let oldE = try dataEntry(be.id, path: path, bins: bins)
        let newE = try dataEntry(id, path: path, bins: bins)
        out += computedNote(newE)
        let cmp = compareProfiles(oldP, newP)
        out += "<p>rows: \(cmp.rows.old) → \(cmp.rows.new) (\(cmp.rows.new - cmp.rows.old >= 0 ? "+" : "")\(cmp.rows.new - cmp.rows.old))</p>"
        if !cmp.addedColumns.isEmpty { out += "<p>columns added: " + cmp.addedColumns.map(HTML.text).joined(separator: ", ") + "</p>" }
        if !cmp.removedColumns.isEmpty { out += "<p>columns removed: " + cmp.removedColumns.map(HTML.text).joined(separator: ", ") + "</p>" }
        for r in cmp.retyped { out += "<p>column \(HTML.text(r.column)) retyped: \(HTML.text(r.old)) → \(HTML.text(r.new))</p>" }
        var drifts: [ColumnDrift] = []
        for c in newP.columns {
            guard let o = oldBy[c.name] else { continue }
            var d = ColumnDrift(name: c.name, type: c.type, status: "ok")
            if let a = oldE.histograms[c.name], let b = newE.histograms[c.name], let r = Drift.psiAndKS(reference: a, new: b) { d.psi = r.psi; d.ks = r.ks }
            if let m0 = o.mean, let s0 = o.std, s0 > 0, let m1 = c.mean { d.meanShift = (m1 - m0) / s0 }
            if !UIApp.isNumeric(c) { d.topShift = UIApp.topShift(o, c) }
            if let psi = d.psi { d.status = psi >= 0.25 ? "drift" : psi >= 0.1 ? "warn" : "ok" }
            else if let t = d.topShift { d.status = t >= 0.2 ? "drift" : t >= 0.1 ? "warn" : "ok" }
            else { d.status = o.type == c.type ? "-" : "retyped" }
            drifts.append(d)
        }
        out += "<table class=\"sortable drift\"><thead><tr><th>Column</th><th>Type</th><th class=\"num\">PSI</th><th class=\"num\">KS (binned)</th><th class=\"num\">Mean shift (base sd)</th><th class=\"num\">Top-value shift</th><th class=\"num\">Missing</th><th>Status</th></tr></thead><tbody>"
        for d in drifts {
            let o = oldBy[d.name]!, n = newP.columns.first { $0.name == d.name }!
            let cls = d.status == "drift" ? "down" : d.status == "warn" ? "muted" : ""
            out += "<tr><td>\(HTML.text(d.name))</td><td>\(HTML.text(d.type))</td>"
            for v in [d.psi, d.ks, d.meanShift, d.topShift] { out += "<td class=\"num\">\(HTML.text(PageText.number(v.map { ($0 * 10_000).rounded() / 10_000 })))</td>" }
            out += "<td class=\"num\">\(o.missing) → \(n.missing)</td><td class=\"\(cls)\">\(HTML.text(d.status))</td></tr>"
        }
        out += "</tbody></table>"
        out += "<p class=\"muted\">PSI and KS over \(UIApp.driftBins) equal bins spanning both versions' range; PSI below 0.1 is stable, 0.1–0.25 a moderate shift, above 0.25 a significant one. Top-value shift: total variation distance between the text columns' top values.</p>"
        // Bars: PSI per numeric column (text columns: their top-value shift).
        let shown = drifts.filter { $0.psi != nil || $0.topShift != nil }.prefix(60)
        if !shown.isEmpty {
            let pts = shown.enumerated().map { i, d in
                ChartPoint(x: Double(i), y: d.psi ?? d.topShift ?? 0, label: "\(d.name): " + (d.psi.map { "PSI \(PageText.number($0))" } ?? "top-value shift \(PageText.number(d.topShift ?? 0))"))
            }
            out += "<div class=\"charts\"><div class=\"chart\">" + Chart(title: "Drift by column", kind: .bar, series: [ChartSeries(name: "drift", points: pts)],
                                                                       xLabel: "column", yLabel: "PSI / shift", xCategories: shown.map(\.name), width: max(420, 40 * shown.count + 120), height: 260).svg() + "</div>"
            // Overlaid histograms of the columns that moved most.
            for d in drifts.filter({ $0.psi != nil }).sorted(by: { ($0.psi ?? 0) > ($1.psi ?? 0) }).prefix(6) {
                guard let a = oldE.histograms[d.name], let b = newE.histograms[d.name], let bin = bins[d.name] else { continue }
                let na = Double(max(1, a.reduce(0, +))), nb = Double(max(1, b.reduce(0, +)))
                let cats = (0..<bin.count).map { PageText.number(bin.lo + Double($0) * (bin.hi - bin.lo) / Double(bin.count)) }
                let sa = ChartSeries(name: baseRev, points: a.enumerated().map { ChartPoint(x: Double($0), y: Double($1) / na, label: "\(baseRev): \(PageText.number(Double($1) * 100 / na))%") })
                let sb = ChartSeries(name: rev, points: b.enumerated().map { ChartPoint(x: Double($0), y: Double($1) / nb, label: "\(rev): \(PageText.number(Double($1) * 100 / nb))%") })
                out += "<div class=\"chart\">" + Chart(title: "\(d.name) (share of rows)", kind: .bar, series: [sa, sb], xLabel: d.name, yLabel: "share",
                                                    xCategories: cats, width: 420, height: 220).svg() + "</div>"
            }
            out += "</div>"
        }
        return out
    }
}

extension UIApp {
    /// The bin of `x` among `count` equal bins over [lo, hi] (values outside go to the end
    /// bins). Overflow-safe: the span is computed in halves, so lo = -1e308 and hi = 1e308
    /// (a hostile CSV's) give a finite ratio; a non-finite x goes to bin 0.
    static func bin(_ x: Double, lo: Double, hi: Double, count: Int) -> Int {
        guard count > 1, hi > lo, x.isFinite else { return 0 }
        let r = (x / 2 - lo / 2) / (hi / 2 - lo / 2) * Double(count)
        guard r.isFinite else { return 0 }
        return Int(min(max(r.rounded(.down), 0), Double(count - 1)))
    }
}
