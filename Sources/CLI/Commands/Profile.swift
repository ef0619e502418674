import ML
import Store
import Support

// `profile`: CSV statistics; also the CSV comparisons `diff` shows.

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
