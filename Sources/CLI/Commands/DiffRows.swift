import ML
import Store
import Support

// `diff --rows`: the rows of tables that changed (docs/tables.md).


/// Prints the row changes of each modified, added or deleted table among `entries` (text, or
/// `--json`), honouring `--key`, `--limit` and `--offset`. Other files get the one line of
/// the plain diff (in `--json`: no "rows"). The JSON is written as it is made, one change at a
/// time (all of them unless --limit/--offset are given), so memory does not grow with the
/// number of changes.
func runRowDiff(_ entries: [DiffEntry], from: DiffSide, to: DiffSide, _ a: Args, _ ctx: Context) throws -> Int32 {
    let repo = try ctx.repository()
    let table = Settings.table(repo.config)
    let key = a.value("key") ?? table.key
    let limitGiven = a.value("limit") != nil || a.value("offset") != nil
    let limit = max(0, try a.int("limit") ?? 50), offset = max(0, try a.int("offset") ?? 0)
    let json = a.has("json")
    if json { ctx.out.write("[") }
    for (n, e) in entries.enumerated() {
        let sizes = "\(e.oldSize.map(String.init) ?? "-") -> \(e.newSize.map(String.init) ?? "-")"
        let code = e.status == .added ? "A" : e.status == .deleted ? "D" : "M"
        let head: [String: JSON] = ["path": .string(e.path), "status": .string(e.status.rawValue),
                                    "old_size": e.oldSize.map { .int(Int64($0)) } ?? .null, "new_size": e.newSize.map { .int(Int64($0)) } ?? .null]
        /// An object's members as JSON text, without the braces (to write around streamed changes).
        func members(_ fields: [String: JSON]) -> String {
            let text = JSON.object(fields).encoded()
            return String(text.dropFirst().dropLast())
        }
        if json { ctx.out.write(n > 0 ? ",\n" : "\n") }
        guard let delim = Repository.tableDelimiter(e.path) else {
            if json { ctx.out.write(JSON.object(head).encoded()) } else { ctx.out.line("\(code)\t\(Quote.path(e.path))\t\(sizes)") }
            continue
        }
        let target: TableDiffTarget
        if case .workTree = to, e.status != .deleted { target = .file(repo.root + "/" + e.path) } else { target = .stored(e.newId) }
        var shown: [TableRowChange] = []
        var total = 0, streamed = 0
        if json { ctx.out.write("{" + members(head) + ",\"changes\":[") }
        let summary: TableDiffSummary
        do {
            summary = try repo.diffTable(old: e.oldId, new: target, options: TableDiffOptions(keyColumn: key, labelColumn: table.label, delimiter: delim)) { c in
                let inPage = total >= offset && total - offset < limit
                total += 1
                guard !limitGiven && json || inPage else { return }
                if json {
                    ctx.out.write((streamed > 0 ? ",\n" : "\n") + changeJSON(c).encoded())
                    streamed += 1
                } else { shown.append(c) }
            }
        } catch let x as NotATable {
            if json { ctx.out.write("],\"error\":" + JSON.string("not diffed by rows: \(x.reason)").encoded() + "}") } else {
                ctx.out.line("\(code)\t\(Quote.path(e.path))\t\(sizes)\t(not diffed by rows: \(Quote.controls(x.reason)))")
            }
            continue
        }
        if json {
            var o: [String: JSON] = [:]
            o["rows"] = .object(["old": .int(Int64(summary.oldRows)), "new": .int(Int64(summary.newRows))])
            o["added"] = .int(Int64(summary.added)); o["deleted"] = .int(Int64(summary.deleted)); o["modified"] = .int(Int64(summary.modified))
            if let col = summary.labelColumn {
                func counts(_ m: [String: Int]) -> JSON { .object(m.mapValues { .int(Int64($0)) }) }
                o["label"] = .object(["column": .string(col), "old": counts(summary.oldLabels), "new": counts(summary.newLabels)])
            }
            if summary.headerChanged {
                o["header"] = .object(["old": .array(summary.oldHeader.map { .string($0) }), "new": .array(summary.newHeader.map { .string($0) })])
            }
            o["changes_total"] = .int(Int64(total))
            ctx.out.write((streamed > 0 ? "\n]," : "],") + members(o) + "}")
            continue
        }
        ctx.out.line("\(code)\t\(Quote.path(e.path))\t\(sizes)")
        if summary.headerChanged {
            func cols(_ c: [String]) -> String { c.map { Quote.controls($0) }.joined(separator: ",") }
            ctx.out.line("  header: \(cols(summary.oldHeader)) -> \(cols(summary.newHeader))")
        }
        let d = summary.newRows - summary.oldRows
        ctx.out.line("  rows: \(summary.oldRows) -> \(summary.newRows) (\(d >= 0 ? "+" : "")\(d)): \(summary.modified) modified, \(summary.added) added, \(summary.deleted) deleted")
        if let col = summary.labelColumn {
            let classes = Set(summary.oldLabels.keys).union(summary.newLabels.keys).sorted()
            let parts = classes.map { "\(Quote.controls($0)): \(summary.oldLabels[$0] ?? 0) -> \(summary.newLabels[$0] ?? 0)" }
            ctx.out.line("  \(Quote.controls(col)): {\(parts.joined(separator: ", "))}")
        }
        for c in shown { ctx.out.line("  " + changeLine(c)) }
        if total - shown.count > offset {
            ctx.out.line("  … \(total - offset - shown.count) more change(s): --offset \(offset + shown.count) [--limit N] shows them")
        }
    }
    if json { ctx.out.line(entries.isEmpty ? "]" : "\n]") }
    return 0
}

private func changeJSON(_ c: TableRowChange) -> JSON {
    .object([
        "kind": .string(c.kind.rawValue),
        "old_row": c.oldRow.map { .int(Int64($0)) } ?? .null,
        "new_row": c.newRow.map { .int(Int64($0)) } ?? .null,
        "key": c.key.map { .string($0) } ?? .null,
        "cells": .array(c.cells.map { .object(["column": .string($0.column), "old": .string($0.old), "new": .string($0.new)]) }),
        "row": .array(c.row.map { .string($0) }),
    ])
}

/// `~ row 17 [key=42]: label: cat -> dog`, `+ row 541: …`, `- row 12: …` (cells cut to 60
/// characters, control characters escaped).
private func changeLine(_ c: TableRowChange) -> String {
    func show(_ s: String) -> String {
        Quote.controls(s.count > 60 ? String(s.prefix(60)) + "…" : s)
    }
    let key = c.key.map { " [key=\(show($0))]" } ?? ""
    switch c.kind {
    case .modified:
        let moved = c.oldRow != c.newRow ? " (was \(c.oldRow ?? 0))" : ""
        return "~ row \(c.newRow ?? 0)\(moved)\(key): " + c.cells.map { "\(show($0.column)): \(show($0.old)) -> \(show($0.new))" }.joined(separator: ", ")
    case .added: return "+ row \(c.newRow ?? 0)\(key): " + c.row.map(show).joined(separator: ",")
    case .deleted: return "- row \(c.oldRow ?? 0)\(key): " + c.row.map(show).joined(separator: ",")
    }
}
