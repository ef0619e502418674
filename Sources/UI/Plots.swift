import ML
import Store
import Support

// Plots declared by stages (DVC's fields: a CSV/TSV/JSON file, x, y, template
// linear|scatter|confusion|bar) and the per-step series found in metrics files (the training
// curves the built-in trainers record, e.g. loss_curve), read at revisions or in the work
// tree; drawn by `plots show/diff` and the Charts/Compare pages. Every file read is bounded
// (16 MiB); a revision that lacks a file or holds a bad one becomes a problem of that plot,
// not an error of the whole report.

/// Where a plot's data was read: a commit, or the work tree.
public struct PlotRevision: Sendable, Equatable {
    /// What the user wrote (`HEAD~1`, a branch) or "workspace".
    public var name: String
    /// nil: the work tree.
    public var commit: ObjectId?
    public init(name: String, commit: ObjectId?) { self.name = name; self.commit = commit }
}

/// One plot (a declared plot file, or one curve of a metrics file) at each revision.
public struct PlotGroup: Sendable {
    /// Stable id: the file path, or FILE:KEY for a curve in a metrics file.
    public var id: String
    public var title: String
    /// linear, scatter, confusion or bar.
    public var template: String
    public var xLabel: String
    public var yLabel: String
    /// One series per (revision, y field), named "REV" or "REV: FIELD".
    public var series: [ChartSeries]
    /// For `confusion`: per revision, the class labels and counts[actual][predicted].
    public var confusion: [(revision: String, labels: [String], counts: [[Int]])]
    /// Why a revision has no data for it (missing file, bad row), per revision name.
    public var problems: [String: String]
    /// A categorical x (the x column held text): point x values index it.
    public var xCategories: [String]? = nil

    /// At most this many points of a series are drawn (evenly sampled); the JSON has all.
    public static let drawLimit = 5000

    public init(id: String, title: String, template: String, xLabel: String, yLabel: String, series: [ChartSeries],
                confusion: [(revision: String, labels: [String], counts: [[Int]])] = [], problems: [String: String] = [:]) {
        self.id = id; self.title = title; self.template = template; self.xLabel = xLabel; self.yLabel = yLabel
        self.series = series; self.confusion = confusion; self.problems = problems
    }

    /// Every `limit`-th point or so: at most `limit` points, first and last kept, evenly spaced.
    public static func sample(_ pts: [ChartPoint], limit: Int) -> [ChartPoint] {
        guard pts.count > limit, limit >= 2 else { return pts }
        let n = pts.count
        return (0..<limit).map { pts[Int((Double($0) * Double(n - 1) / Double(limit - 1)).rounded())] }
    }

    /// The chart(s) as inline SVG: one heat map per revision for `confusion`.
    public func svg() -> String { svgs().joined() }

    /// Each chart of the plot as inline SVG: one, or one heat map per revision for `confusion`.
    public func svgs() -> [String] {
        if template == "confusion" {
            if confusion.isEmpty { return [ConfusionChart(title: title, labels: [], counts: []).svg()] }
            return confusion.map { c in
                ConfusionChart(title: confusion.count > 1 ? "\(title) · \(c.revision)" : title, labels: c.labels, counts: c.counts,
                               width: confusion.count > 1 ? 360 : 420).svg()
            }
        }
        let drawn = series.map { ChartSeries(name: $0.name, points: PlotGroup.sample($0.points, limit: PlotGroup.drawLimit)) }
        return [Chart(title: title, kind: template == "scatter" ? .scatter : template == "bar" ? .bar : .line, series: drawn,
                      xLabel: xLabel, yLabel: yLabel, xCategories: xCategories).svg()]
    }

    static func number(_ v: Double) -> JSON {
        v.isFinite && v == v.rounded() && abs(v) < 9e15 ? .int(Int64(v)) : .number(v)
    }

    /// `{"id", "title", "template", "x_label", "y_label", "series": [{"name", "points": [[x, y], ...]}],
    /// "problems": {REV: why}}`; a categorical x is written as its text; `confusion` adds
    /// `"confusion": [{"revision", "labels", "counts"}]`.
    public var json: JSON {
        var o: [String: JSON] = ["id": .string(id), "title": .string(title), "template": .string(template),
                                 "x_label": .string(xLabel), "y_label": .string(yLabel),
                                 "series": .array(series.map { s in
                                     .object(["name": .string(s.name), "points": .array(s.points.map { p in
                                         let x: JSON = xCategories.map { c in
                                             p.x >= 0 && p.x < Double(c.count) ? .string(c[ChartInt.clamped(p.x, 0, c.count - 1)]) : PlotGroup.number(p.x)
                                         } ?? PlotGroup.number(p.x)
                                         return .array([x, PlotGroup.number(p.y)])
                                     })])
                                 }),
                                 "problems": .object(problems.mapValues { .string($0) })]
        if template == "confusion" {
            o["confusion"] = .array(confusion.map { c in
                .object(["revision": .string(c.revision), "labels": .array(c.labels.map { .string($0) }),
                         "counts": .array(c.counts.map { .array($0.map { .int(Int64($0)) }) })])
            })
        }
        return .object(o)
    }
}

/// A plot report that cannot be made at all: an unknown target.
public struct PlotError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads plots at revisions.
public struct PlotCollector {
    public let ml: MLRepo
    public init(ml: MLRepo) { self.ml = ml }

    /// Files larger than this are refused.
    public static let maxFileBytes = 16 << 20
    /// At most this many rows of a data file are read (a note says so when there were more).
    public static let maxRows = 100_000
    /// At most this many classes in a confusion plot.
    public static let maxClasses = 100

    struct Problem: Error { var message: String }

    enum Source {
        case declared(PlotDecl)
        case curve(file: String, key: String)
    }

    /// What one `collect` call may still read (nil: no limit but the per-file cap).
    final class Budget {
        let total: Int?
        var left: Int
        init(_ total: Int?) { self.total = total; left = total ?? Int.max }
        /// Takes `size` bytes, or throws the problem of a file over what is left.
        func take(_ size: UInt64) throws {
            guard let total else { return }
            guard size <= UInt64(left) else {
                left = 0
                throw Problem(message: "not read: over the \(total >= 1 << 20 ? "\(total >> 20) MiB" : "\(total) bytes") a page reads")
            }
            left -= Int(size)
        }
    }

    /// A revision's files.
    struct Reader {
        let ml: MLRepo
        let tree: ObjectId?
        var budget = Budget(nil)
        var cache: PlotTableCache? = nil

        /// The blob of `path` at this revision and its size (nil: the work tree, or absent).
        func blob(_ path: String) throws -> (id: ObjectId, size: UInt64)? {
            guard let tree else { return nil }
            guard let e = try ml.repo.entry(in: tree, path: path), !e.mode.isDirectory else { return nil }
            return (e.id, try FileReader(store: ml.repo.store).size(of: e.id))
        }

        /// The bytes of `path`, nil when absent (or not a regular file).
        func bytes(_ path: String) throws -> [UInt8]? {
            let limit = PlotCollector.maxFileBytes
            if tree != nil {
                guard let (id, size) = try blob(path) else { return nil }
                guard size <= UInt64(limit) else { throw Problem(message: "\(path) is over \(limit >> 20) MiB (\(size) bytes); plots read at most \(limit >> 20) MiB") }
                try budget.take(size)
                var out: [UInt8] = []
                out.reserveCapacity(Int(size))
                try FileReader(store: ml.repo.store).read(id) { out.append(contentsOf: $0) }
                return out
            }
            let full = ml.repo.fullPath(path)
            guard let st = FS.lstat(full), st.isRegular else { return nil }
            guard st.size <= UInt64(limit) else { throw Problem(message: "\(path) is over \(limit >> 20) MiB (\(st.size) bytes); plots read at most \(limit >> 20) MiB") }
            try budget.take(st.size)
            return try FS.readFile(full)
        }

        /// The parsed table of the plot file `path` (nil when absent): from the cache when
        /// this file version (blob) was parsed before. A cached table counts against the
        /// budget as if read, so the work of one call stays bounded.
        func table(_ path: String) throws -> PlotTable? {
            if let cache, tree != nil, let (id, size) = try blob(path), size <= UInt64(PlotCollector.maxFileBytes) {
                let key = PlotTableCache.key(id, path: path)
                if let t = cache.get(key) { try budget.take(size); return t }
                guard let b = try bytes(path) else { return nil }
                let t = try PlotTable.parse(b, path: path)
                cache.put(key, t, cost: PlotTableCache.cost(t))
                return t
            }
            guard let b = try bytes(path) else { return nil }
            return try PlotTable.parse(b, path: path)
        }
    }

    /// The result of a bounded `collect`: the groups read and how many plots there were.
    public struct Collection: Sendable {
        public var groups: [PlotGroup]
        /// Plots found in all (the groups are the first `limit` of them).
        public var total: Int
    }

    /// Every plot (declared by a stage, or a curve in a metrics file) at each revision,
    /// limited to `targets` (plot files or metrics files; empty: all), grouped by plot.
    /// - Throws: `PlotError` for a target that names no plot or metrics file at any revision;
    ///   store errors for a revision that cannot be read.
    public func collect(_ revisions: [PlotRevision], targets: [String]) throws -> [PlotGroup] {
        try collect(revisions, targets: targets, limit: nil, byteBudget: nil, cache: nil).groups
    }

    /// `collect` bounded for a page: only the first `limit` plots (in the report's order,
    /// chosen before any plot data is read), at most `byteBudget` bytes of files read in all
    /// (what is over becomes a problem of that plot and revision), parsed tables shared
    /// through `cache` (keyed by blob, so a file version is parsed once).
    public func collect(_ revisions: [PlotRevision], targets: [String], limit: Int?, byteBudget: Int?,
                        cache: PlotTableCache?) throws -> Collection {
        var readers: [Reader] = []
        let budget = Budget(byteBudget)
        for r in revisions {
            readers.append(Reader(ml: ml, tree: try r.commit.map { try ml.repo.readCommit($0).tree }, budget: budget, cache: cache))
        }
        var order: [String] = []
        var sources: [String: Source] = [:]
        var curves: [[String: ([Double], Double)]] = Array(repeating: [:], count: revisions.count)
        var revProblems: [String: String] = [:]
        for (ri, rev) in revisions.enumerated() {
            let project: Project?
            do {
                guard let b = try readers[ri].bytes(Project.fileName) else { continue }
                project = try Project.parse(String(decoding: b, as: UTF8.self), file: rev.commit == nil ? Project.fileName : "\(Project.fileName) in \(rev.name)")
            } catch let p as Problem { revProblems[rev.name] = p.message; continue }
            catch let e as MLError { revProblems[rev.name] = e.description; continue }
            guard let project else { continue }
            func add(_ id: String, _ s: Source) {
                if sources[id] == nil { order.append(id) }
                sources[id] = s
            }
            for name in project.order {
                let st = project.stages[name]!
                for p in st.plots { add(p.path, .declared(p)) }
            }
            for name in project.order {
                for m in project.stages[name]!.metrics {
                    guard let b = try? readers[ri].bytes(m.path), let j = try? JSON.parse(String(decoding: b, as: UTF8.self)) else { continue }
                    for (key, values, step) in PlotCollector.numericArrays(j) {
                        let id = m.path + ":" + key
                        add(id, .curve(file: m.path, key: key))
                        curves[ri][id] = (values, step)
                    }
                }
            }
        }
        // Targets: a plot id, a declared plot's file, or a metrics file (all its curves).
        var wanted = order
        if !targets.isEmpty {
            for t in targets {
                let hit = order.contains { id in
                    if id == t { return true }
                    if case .curve(let f, _) = sources[id]! { return f == t }
                    return false
                }
                if !hit {
                    throw PlotError("no plot or metrics file '\(t)' in \(revisions.map(\.name).joined(separator: ", "))"
                                    + (order.isEmpty ? " (declare plots under a stage's \"plots\" in \(Project.fileName))" : " (plots: \(order.prefix(8).joined(separator: ", "))\(order.count > 8 ? ", …" : ""))"))
                }
            }
            wanted = order.filter { id in
                targets.contains { t in
                    if id == t { return true }
                    if case .curve(let f, _) = sources[id]! { return f == t }
                    return false
                }
            }
        }
        let total = wanted.count
        if let limit { wanted = Array(wanted.prefix(max(0, limit))) }
        var groups: [PlotGroup] = []
        for id in wanted {
            var g: PlotGroup
            switch sources[id]! {
            case .curve(let file, let key):
                g = PlotGroup(id: id, title: "\(file): \(key)", template: "linear", xLabel: "step", yLabel: key, series: [])
                for (ri, rev) in revisions.enumerated() {
                    if let (values, step) = curves[ri][id] {
                        var pts: [ChartPoint] = []
                        for (i, v) in values.enumerated() where v.isFinite { pts.append(ChartPoint(x: Double(i) * step, y: v)) }
                        g.series.append(ChartSeries(name: rev.name, points: pts))
                    } else {
                        g.problems[rev.name] = revProblems[rev.name] ?? "\(file) has no curve '\(key)'"
                    }
                }
            case .declared(let d):
                g = try declaredGroup(d, revisions: revisions, readers: readers, revProblems: revProblems)
            }
            groups.append(g)
        }
        return Collection(groups: groups, total: total)
    }

    /// Every list of numbers in a metrics file, by dotted key, with the step between its
    /// entries: the number `KEY_step` beside it (the built-in trainers record a curve
    /// thinned to about 20 points and its stride, `loss_curve_step`), else 1. Entry i is
    /// drawn at x = i × step.
    static func numericArrays(_ j: JSON) -> [(String, [Double], Double)] {
        var out: [(String, [Double], Double)] = []
        var stack: [(String, JSON, Double)] = [("", j, 1)]
        while let (prefix, v, step) = stack.popLast() {
            switch v {
            case .object(let o):
                for (k, c) in o {
                    var st = 1.0
                    if case .array = c, let d = o[k + "_step"]?.doubleValue, d.isFinite, d > 0, d <= 1e12 { st = d }
                    stack.append((prefix.isEmpty ? k : prefix + "." + k, c, st))
                }
            case .array(let a) where !prefix.isEmpty && !a.isEmpty:
                let ds = a.compactMap(\.doubleValue)
                if ds.count == a.count { out.append((prefix, ds, step)) }
            default: break
            }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    func declaredGroup(_ d: PlotDecl, revisions: [PlotRevision], readers: [Reader], revProblems: [String: String]) throws -> PlotGroup {
        let template = d.template ?? "linear"
        var g = PlotGroup(id: d.path, title: d.title ?? d.path, template: template, xLabel: d.xLabel ?? (d.x ?? "step"),
                          yLabel: d.yLabel ?? d.y.joined(separator: ", "), series: [])
        // Raw series first (x as text), so a text x column becomes categories shared by all.
        // xn: x as a number (NaN when it is not a finite one), parsed once.
        var raw: [(name: String, xs: [String], xn: [Double], ys: [Double])] = []
        var yNames: [String] = []
        for (ri, rev) in revisions.enumerated() {
            // A revision whose project cannot be read has no plots.
            if let p = revProblems[rev.name] { g.problems[rev.name] = p; continue }
            do {
                guard var table = try readers[ri].table(d.path) else { throw Problem(message: "\(d.path) is missing") }
                if table.truncated { g.problems[rev.name] = "\(d.path): only the first \(table.rows.count) rows were read" }
                if template == "confusion" {
                    let a = try table.column(d.x ?? (table.columns.contains("actual") ? "actual" : table.columns.first ?? ""), d.path)
                    let p = try table.column(d.y.first ?? (table.columns.contains("predicted") ? "predicted" : table.columns.last ?? ""), d.path)
                    if d.xLabel == nil { g.xLabel = table.columns[a] }
                    if d.yLabel == nil { g.yLabel = table.columns[p] }
                    let (labels, counts) = try PlotTable.confusion(table.rows, a, p, path: d.path)
                    g.confusion.append((rev.name, labels, counts))
                    continue
                }
                let ys = try (d.y.isEmpty ? [table.columns.last ?? ""] : d.y).map { try table.column($0, d.path) }
                let xi = try d.x.map { try table.column($0, d.path) }
                if yNames.isEmpty { yNames = ys.map { table.columns[$0] } }
                var skipped = 0
                for y in ys {
                    // x as text: the row number when no x column is named.
                    var xs: [String] = [], xn: [Double] = [], vs: [Double] = []
                    xs.reserveCapacity(table.rows.count); xn.reserveCapacity(table.rows.count); vs.reserveCapacity(table.rows.count)
                    for (r, row) in table.rows.enumerated() {
                        guard y < row.count, let v = PlotTable.number(row[y]), v.isFinite else { skipped += 1; continue }
                        if let xi, xi >= row.count { skipped += 1; continue }
                        if let xi {
                            xs.append(row[xi])
                            let n = PlotTable.number(row[xi]) ?? .nan
                            xn.append(n.isFinite ? n : .nan)
                        } else {
                            xs.append(String(r)); xn.append(Double(r))
                        }
                        vs.append(v)
                    }
                    let name = ys.count > 1 ? "\(rev.name): \(table.columns[y])" : rev.name
                    raw.append((name, xs, xn, vs))
                }
                table.rows = []
                if skipped > 0 && g.problems[rev.name] == nil { g.problems[rev.name] = "\(d.path): \(skipped) value\(skipped == 1 ? "" : "s") not numbers were skipped" }
            } catch let p as Problem {
                g.problems[rev.name] = p.message
            }
        }
        if template == "confusion" { return g }
        if d.yLabel == nil && g.yLabel.isEmpty && yNames.count == 1 { g.yLabel = yNames[0] }
        // x: numbers unless some value is not one; then categories in order of appearance.
        let numeric = raw.allSatisfy { $0.xn.allSatisfy(\.isFinite) }
        var cats: [String] = []
        var catIndex: [String: Int] = [:]
        for s in raw {
            var pts: [ChartPoint] = []
            pts.reserveCapacity(s.ys.count)
            for (i, y) in s.ys.enumerated() {
                let xt = s.xs[i]
                let x: Double
                if numeric { x = s.xn[i] } else {
                    if let c = catIndex[xt] { x = Double(c) } else { catIndex[xt] = cats.count; x = Double(cats.count); cats.append(xt) }
                }
                pts.append(ChartPoint(x: x, y: y))
            }
            g.series.append(ChartSeries(name: s.name, points: pts))
        }
        if !numeric { g.xCategories = cats }
        return g
    }
}

/// Parsed plot tables shared between calls (the web app keeps one), keyed by the file
/// version's blob id and how it is parsed; bounded by entries and an estimate of memory,
/// the least recently used dropped first.
public final class PlotTableCache: @unchecked Sendable {
    let lock = Lock()
    let maxEntries: Int, maxBytes: Int
    var entries: [String: (table: PlotTable, cost: Int, used: UInt64)] = [:]
    var bytes = 0, clock: UInt64 = 0
    /// Tables parsed and tables found (for tests and timing).
    public private(set) var misses = 0, hits = 0

    public init(maxEntries: Int = 32, maxBytes: Int = 128 << 20) {
        self.maxEntries = maxEntries; self.maxBytes = maxBytes
    }

    /// About the memory a table holds: per row an array, per cell a String (16 bytes, and
    /// its text when longer than fits inline).
    static func cost(_ t: PlotTable) -> Int {
        var n = 64 + t.columns.count * 32
        for r in t.rows {
            n += 48 + r.count * 16
            for c in r where c.utf8.count > 15 { n += c.utf8.count + 32 }
        }
        return n
    }

    static func key(_ id: ObjectId, path: String) -> String {
        let ext = PathKind.fileExtension(path)
        return id.hex + ":" + (ext == "json" ? "json" : ext == "tsv" || ext == "tab" ? "tsv" : "csv")
    }

    func get(_ key: String) -> PlotTable? {
        lock.withLock {
            guard let e = entries[key] else { misses += 1; return nil }
            clock += 1
            entries[key]!.used = clock
            hits += 1
            return e.table
        }
    }

    func put(_ key: String, _ t: PlotTable, cost: Int) {
        lock.withLock {
            guard cost <= maxBytes, maxEntries > 0 else { return }
            if let old = entries.removeValue(forKey: key) { bytes -= old.cost }
            while !entries.isEmpty && (entries.count >= maxEntries || bytes + cost > maxBytes) {
                let oldest = entries.min { $0.value.used < $1.value.used }!
                bytes -= oldest.value.cost
                entries.removeValue(forKey: oldest.key)
            }
            clock += 1
            entries[key] = (t, cost, clock)
            bytes += cost
        }
    }

    /// Tables held now.
    public var count: Int { lock.withLock { entries.count } }
}

/// A small table read from a plot file: CSV, TSV (by extension) or JSON (an array of
/// objects, or an object holding one such array). Cells are kept as text.
public struct PlotTable: Sendable {
    public var columns: [String]
    public var rows: [[String]]
    public var truncated = false
    static let maxColumns = 10_000
    /// At most this many cells are kept (rows × columns), whatever the row limit.
    static let maxCells = 2_000_000

    func column(_ name: String, _ path: String) throws -> Int {
        guard let i = columns.firstIndex(of: name) else {
            throw PlotCollector.Problem(message: "\(path) has no column '\(name)' (columns: \(columns.prefix(12).joined(separator: ", "))\(columns.count > 12 ? ", …" : ""))")
        }
        return i
    }

    /// A cell as a number (the shared decimal parser), nil when it is not one.
    public static func number(_ s: String) -> Double? {
        var s = s
        return s.withUTF8 { b -> Double? in
            guard let base = b.baseAddress, b.count > 0 else { return nil }
            var q = base, n = b.count
            CSVScanner.trim(&q, &n)
            return n > 0 ? DecimalParser.double(q, n) : nil
        }
    }

    public static func parse(_ bytes: [UInt8], path: String) throws -> PlotTable {
        let ext = PathKind.fileExtension(path)
        if ext == "json" { return try parseJSONTable(bytes, path: path) }
        return try bytes.withUnsafeBufferPointer { buf -> PlotTable in
            guard let p = buf.baseAddress, buf.count > 0 else { throw PlotCollector.Problem(message: "\(path) is empty") }
            let n = buf.count
            var i = CSVScanner.headerStart(p, n)
            guard i < n else { throw PlotCollector.Problem(message: "\(path) is empty") }
            let tsv = ext == "tsv" || ext == "tab"
            func next() throws -> [String] {
                if tsv {
                    var e = i
                    while e < n && p[e] != 0x0A { e += 1 }
                    var end = e
                    if end > i && p[end - 1] == 0x0D { end -= 1 }
                    let line = UnsafeBufferPointer(start: p + i, count: end - i)
                    i = e + 1
                    return line.split(separator: 0x09, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
                }
                do {
                    let r = try CSVScanner.record(p, from: i, n)
                    i = r.next
                    return r.fields
                } catch let e as CSVUnterminatedQuote {
                    throw PlotCollector.Problem(message: "\(path) line \(CSVScanner.line(p, at: e.offset, n)): a quoted field is not closed")
                }
            }
            let header = try next().map { $0.trimmed(" \t") }
            guard header.count <= maxColumns else { throw PlotCollector.Problem(message: "\(path) has more than \(maxColumns) columns") }
            var t = PlotTable(columns: header, rows: [])
            let rowLimit = min(PlotCollector.maxRows, maxCells / max(1, header.count))
            while i < n {
                let row = try next()
                if row.count == 1 && row[0].isEmpty { continue }
                if t.rows.count >= rowLimit { t.truncated = true; break }
                t.rows.append(Array(row.prefix(header.count)))
            }
            return t
        }
    }

    static func parseJSONTable(_ bytes: [UInt8], path: String) throws -> PlotTable {
        let j: JSON
        do { j = try parseJSON(String(decoding: bytes, as: UTF8.self), file: path) } catch let e as MLError {
            throw PlotCollector.Problem(message: e.description)
        }
        var arr: [JSON]
        if let a = j.arrayValue { arr = a }
        else if let o = j.objectValue, let only = o.values.compactMap(\.arrayValue).first, o.values.filter({ $0.arrayValue != nil }).count == 1 { arr = only }
        else { throw PlotCollector.Problem(message: "\(path) must hold an array of objects (or an object holding one such array)") }
        guard let first = arr.first?.objectValue else {
            if arr.isEmpty { return PlotTable(columns: [], rows: []) }
            throw PlotCollector.Problem(message: "\(path) must hold an array of objects like [{\"step\": 0, \"loss\": 0.9}]")
        }
        let columns = first.keys.sorted()
        guard columns.count <= maxColumns else { throw PlotCollector.Problem(message: "\(path) has more than \(maxColumns) keys") }
        var t = PlotTable(columns: columns, rows: [])
        let rowLimit = min(PlotCollector.maxRows, maxCells / max(1, columns.count))
        if arr.count > rowLimit { t.truncated = true; arr = Array(arr.prefix(rowLimit)) }
        t.rows.reserveCapacity(arr.count)
        for (i, item) in arr.enumerated() {
            guard let o = item.objectValue else { throw PlotCollector.Problem(message: "\(path): item \(i) is not an object") }
            t.rows.append(columns.map { c in
                switch o[c] {
                case .string(let s)?: return s
                case .int(let v)?: return String(v)
                case .number(let v)?: return "\(v)"
                case .bool(let b)?: return b ? "true" : "false"
                default: return ""
                }
            })
        }
        return t
    }

    /// Class labels (numerically sorted when all are numbers, else by text) and
    /// counts[actual][predicted].
    public static func confusion(_ rows: [[String]], _ a: Int, _ p: Int, path: String) throws -> ([String], [[Int]]) {
        var index: [String: Int] = [:]
        var labels: [String] = []
        var pairs: [(Int, Int)] = []
        pairs.reserveCapacity(rows.count)
        func id(_ s: String) throws -> Int {
            if let i = index[s] { return i }
            guard labels.count < PlotCollector.maxClasses else {
                throw PlotCollector.Problem(message: "\(path) has more than \(PlotCollector.maxClasses) classes")
            }
            index[s] = labels.count; labels.append(s)
            return labels.count - 1
        }
        for row in rows where a < row.count && p < row.count {
            pairs.append((try id(row[a].trimmed(" \t")), try id(row[p].trimmed(" \t"))))
        }
        let nums = labels.map(number)
        let sortedIdx: [Int]
        if nums.allSatisfy({ $0 != nil }) { sortedIdx = labels.indices.sorted { (nums[$0]!, labels[$0]) < (nums[$1]!, labels[$1]) } }
        else { sortedIdx = labels.indices.sorted { labels[$0] < labels[$1] } }
        var rank = [Int](repeating: 0, count: labels.count)
        for (r, i) in sortedIdx.enumerated() { rank[i] = r }
        var counts = [[Int]](repeating: [Int](repeating: 0, count: labels.count), count: labels.count)
        for (x, y) in pairs { counts[rank[x]][rank[y]] += 1 }
        return (sortedIdx.map { labels[$0] }, counts)
    }
}

/// The static report of `plots show/diff`.
public enum PlotReport {
    /// A self-contained HTML page (inline SVG and style, no script).
    public static func html(title: String, revisions: [PlotRevision], groups: [PlotGroup]) -> String {
        var body = "<h1>\(HTML.text(title))</h1><p class=\"legend\">Revisions: "
        body += revisions.map { r in
            "<span class=\"tag\">\(HTML.text(r.name))\(r.commit.map { " <code>\(HTML.text($0.short))</code>" } ?? "")</span>"
        }.joined(separator: " ")
        body += "</p>"
        if groups.isEmpty {
            body += "<p class=\"muted\">No plots. Declare them under a stage's <code>\"plots\"</code> in mlrepo.json, or record a metrics file holding a list of numbers (a training curve).</p>"
        }
        for g in groups {
            body += "<section class=\"plot\"><h2>\(HTML.text(ChartFormat.clip(g.title, 300)))"
            if g.title != g.id { body += " <code class=\"muted\">\(HTML.text(ChartFormat.clip(g.id, 300)))</code>" }
            body += "</h2>"
            if !g.problems.isEmpty {
                body += "<ul class=\"problems error\">"
                for r in revisions where g.problems[r.name] != nil { body += "<li>\(HTML.text(ChartFormat.clip(r.name + ": " + g.problems[r.name]!, 600)))</li>" }
                body += "</ul>"
            }
            body += "<div class=\"charts\">" + g.svgs().map { "<div class=\"chart\">\($0)</div>" }.joined() + "</div></section>"
        }
        return Layout.standalone(title: title, body: body)
    }

    /// `{"plots": [group json...]}` (see `PlotGroup.json`).
    public static func json(groups: [PlotGroup]) -> JSON {
        .object(["plots": .array(groups.map(\.json))])
    }
}
