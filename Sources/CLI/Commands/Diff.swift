#if canImport(Glibc)
import Glibc
#endif
import ML
import Store
import Support

// `diff`: what changed between two sides, with content for text files and tables.

let diffCommand = Command(
    name: "diff", kind: .porcelain, summary: "show changes between commits, the index and the work tree",
    usage: """
    mlrepo diff [REV [REV]] [--cached] [-U N] [--stat | --name-status | --name-only] [--json] [-- PATH...]

    No REV: the work tree against the index. One REV: the work tree against REV (with
    --cached: the index against REV). Two: the first against the second.
    Text files (no NUL byte in their first 8000 bytes, at most 16 MiB on both sides, not a
    table) show as unified diffs with N lines of context (-U/--unified, default 3), hunks as
    git diff prints them. Tables (.csv, .tsv) and binary files show as one line,
    'M<TAB>path<TAB>old size -> new size'.
    --stat: per path the added and removed lines (sizes for tables and binaries) and a total.
    --name-status: 'A', 'M' or 'D', a tab and the path. --name-only: the paths.
    --json prints [{"path", "status", "old_size", "new_size", "old_id", "new_id"}], status one
    of added/modified/deleted (the words of status --json and DVC) (sizes null where the side
    has no file); text files add "added_lines", "removed_lines" and "hunks": [{"old_start",
    "old_count", "new_start", "new_count", "lines": ["+added", "-removed", " context"]}];
    binary files add "binary": true. See docs/diffs.md.
    For a modified CSV file the diff also shows the data's changes: row count, columns added,
    removed or retyped, and every changed column statistic (count, missing, min, max, mean,
    std, distinct); in --json as "profile": {"rows": {"old", "new"}, "columns_added",
    "columns_removed", "retyped": [{"column", "old", "new"}], "changes": [{"column", "stat",
    "old", "new"}]}. Profiles are cached by file id (see 'mlrepo profile'). --no-profile skips them.
    --rows [--key COL] [--limit N] [--offset N]: the rows of tables that changed.
    """,
    flags: ["json": ["--json"], "stat": ["--stat"], "cached": ["--cached", "--staged"], "nameOnly": ["--name-only"],
            "nameStatus": ["--name-status"], "noProfile": ["--no-profile"], "rows": ["--rows"]],
    options: ["key": ["--key"], "limit": ["--limit"], "offset": ["--offset"], "unified": ["-U", "--unified"]]
) { a, ctx in
    let repo = try ctx.repository()
    guard a.positional.count <= 2 else { throw UsageError(message: "diff takes at most two revisions") }
    let context = try a.int("unified") ?? 3
    let specs = try (a.paths ?? [""]).map { $0.isEmpty ? "" : try ctx.rel($0) }
    var from: DiffSide, to: DiffSide
    switch a.positional.count {
    case 0:
        if a.has("cached") {
            guard let h = try repo.refs.headCommit() else { throw UserError(message: "HEAD has no commits yet") }
            from = .commit(h); to = .index
        } else { from = .index; to = .workTree }
    case 1:
        from = .commit(try repo.resolveCommit(a.positional[0]))
        to = a.has("cached") ? .index : .workTree
    default:
        from = .commit(try repo.resolveCommit(a.positional[0])); to = .commit(try repo.resolveCommit(a.positional[1]))
    }
    // Overlapping paths (`-- a a .`) name each changed path once, in path order.
    var byPath: [String: DiffEntry] = [:]
    for s in specs { for e in try repo.diff(from, to, spec: s) { byPath[e.path] = e } }
    let entries = byPath.values.sorted { $0.path < $1.path }
    if a.has("rows") { return try runRowDiff(entries, from: from, to: to, a, ctx) }
    if a.has("nameOnly") {
        for e in entries { ctx.out.line(Quote.path(e.path)) }
        return 0
    }
    if a.has("nameStatus") && !a.has("json") {
        for e in entries { ctx.out.line("\(statusLetter(e.status))\t\(Quote.path(e.path))") }
        return 0
    }
    let profiles = a.has("noProfile") || a.has("stat") ? [:] : try csvComparisons(entries, from: from, to: to, MLRepo(repo))
    let loader = DiffContentLoader(repo: repo, from: from, to: to)
    if a.has("json") {
        let j = JSON.array(try entries.map { e in
            var o: [String: JSON] = [
                "path": .string(e.path), "status": .string(e.status.rawValue),
                "old_size": e.oldSize.map { .int(Int64($0)) } ?? .null,
                "new_size": e.newSize.map { .int(Int64($0)) } ?? .null,
                "old_id": jsonId(e.oldId), "new_id": jsonId(e.newId),
            ]
            if let p = profiles[e.path] { o["profile"] = p.json() }
            switch try loader.content(e) {
            case .table: break
            case .binary: o["binary"] = .bool(true)
            case .text(let old, let new):
                let hunks = LineDiff.hunks(old, new, context: context)
                let (added, removed) = lineCounts(hunks)
                o["added_lines"] = .int(Int64(added)); o["removed_lines"] = .int(Int64(removed))
                var lossy = false
                o["hunks"] = .array(hunks.map { h in
                    .object([
                        "old_start": .int(Int64(h.oldStart)), "old_count": .int(Int64(h.oldCount)),
                        "new_start": .int(Int64(h.newStart)), "new_count": .int(Int64(h.newCount)),
                        "lines": .array(h.lines.map { l in
                            if !lossy && String(validating: l.text, as: UTF8.self) == nil { lossy = true }
                            return .string(l.kind.rawValue + String(decoding: l.text, as: UTF8.self))
                        }),
                    ])
                })
                // Lines that are not UTF-8 are shown with U+FFFD: say so rather than pass them off as the bytes.
                if lossy { o["lossy"] = .bool(true) }
            }
            return .object(o)
        })
        ctx.out.line(j.encoded(pretty: true))
        return 0
    }
    if a.has("stat") {
        var rows: [DiffStatRow] = []
        for e in entries {
            switch try loader.content(e) {
            case .text(let old, let new):
                let (added, removed) = lineCounts(LineDiff.hunks(old, new, context: 0))
                rows.append(DiffStatRow(path: Quote.path(e.path), added: added, removed: removed, sizes: nil))
            case .binary, .table:
                let sizes = "\(e.oldSize ?? 0) -> \(e.newSize ?? 0) bytes"
                rows.append(DiffStatRow(path: Quote.path(e.path), added: 0, removed: 0,
                                        sizes: Repository.isTablePath(e.path) ? sizes : "Bin " + sizes))
            }
        }
        printDiffStat(rows, ctx)
        return 0
    }
    for e in entries {
        switch try loader.content(e) {
        case .text(let old, let new):
            let hunks = LineDiff.hunks(old, new, context: context)
            let a = Quote.path("a/" + e.path), b = Quote.path("b/" + e.path)
            var head = "diff --mlrepo \(a) \(b)\n"
            // git's extended header lines: a new or deleted file, a changed mode.
            switch e.status {
            case .added: head += "new file mode \((e.newMode ?? .regular).octal)\n"
            case .deleted: head += "deleted file mode \((e.oldMode ?? .regular).octal)\n"
            case .modified:
                if let om = e.oldMode, let nm = e.newMode, om != nm { head += "old mode \(om.octal)\nnew mode \(nm.octal)\n" }
            }
            if !hunks.isEmpty {
                head += "--- \(e.status == .added ? "/dev/null" : a)\n+++ \(e.status == .deleted ? "/dev/null" : b)\n"
            }
            ctx.out.write(head)
            let text = LineDiff.hunkText(hunks)
            text.withUnsafeBytes { ctx.out.writeBytes($0) }
        case .binary, .table:
            let sizes = "\(e.oldSize.map(String.init) ?? "-") -> \(e.newSize.map(String.init) ?? "-")"
            ctx.out.line("\(statusLetter(e.status))\t\(Quote.path(e.path))\t\(sizes)")
            if let p = profiles[e.path] { printComparison(p, ctx) }
        }
    }
    return 0
}

func statusLetter(_ s: DiffStatus) -> String { s == .added ? "A" : s == .deleted ? "D" : "M" }

private func lineCounts(_ hunks: [Hunk]) -> (added: Int, removed: Int) {
    var added = 0, removed = 0
    for h in hunks { for l in h.lines { if l.kind == .added { added += 1 } else if l.kind == .removed { removed += 1 } } }
    return (added, removed)
}


/// What a diff shows of one path: text (both sides' bytes), a table, or a binary file.
enum DiffContent { case text([UInt8], [UInt8]), table, binary }

/// Loads both sides of diff entries for showing their lines: the work tree from its file,
/// the index and commits from the store; a side over 16 MiB or with a NUL byte in its
/// first 8000 bytes makes the path binary.
struct DiffContentLoader {
    static let maxTextBytes: UInt64 = 16 << 20
    let repo: Repository
    let from: DiffSide, to: DiffSide

    func content(_ e: DiffEntry) throws -> DiffContent {
        if Repository.isTablePath(e.path) { return .table }
        if (e.oldSize ?? 0) > Self.maxTextBytes || (e.newSize ?? 0) > Self.maxTextBytes { return .binary }
        let old: [UInt8]? = e.status == .added ? [] : try load(e.oldId, e.path, from)
        let new: [UInt8]? = e.status == .deleted ? [] : try load(e.newId, e.path, to)
        guard let o = old, let n = new else { return .binary }
        return .text(o, n)
    }

    /// The bytes of one side, or nil when they are not text.
    private func load(_ id: ObjectId?, _ path: String, _ side: DiffSide) throws -> [UInt8]? {
        var bytes: [UInt8]
        if case .workTree = side {
            let full = Path.join(repo.root, path)
            guard let st = FS.lstat(full), st.isRegular else { return nil }
            let f = try FileDescriptor(path: full, flags: O_RDONLY)
            let size = try f.stat().size
            guard UInt64(size) <= Self.maxTextBytes else { return nil }
            bytes = [UInt8](repeating: 0, count: Int(size))
            let n = try bytes.withUnsafeMutableBytes { try f.readFully(into: $0.baseAddress!, count: Int(size)) }
            bytes.removeSubrange(n...)
        } else {
            guard let id else { return [] }
            let reader = FileReader(store: repo.store)
            guard try reader.size(of: id) <= Self.maxTextBytes else { return nil }
            bytes = []
            try reader.read(id) { chunk in
                guard UInt64(bytes.count + chunk.count) <= Self.maxTextBytes else { throw DiffTooLarge() }
                bytes.append(contentsOf: chunk)
            }
        }
        return bytes.prefix(8000).contains(0) ? nil : bytes
    }
}

struct DiffTooLarge: Error, CustomStringConvertible {
    var description: String { "a stored file grew past its recorded size while being read" }
}

struct DiffStatRow { var path: String; var added: Int; var removed: Int; var sizes: String? }

/// git's `--stat`: ` path | N ++--` (graph scaled to fit 80 columns), binaries and tables by
/// size, then `N files changed, X insertions(+), Y deletions(-)`.
func printDiffStat(_ rows: [DiffStatRow], _ ctx: Context) {
    guard !rows.isEmpty else { return }
    let nameWidth = rows.map(\.path.count).max() ?? 0
    let maxChange = rows.map { $0.added + $0.removed }.max() ?? 0
    let numWidth = max(String(maxChange).count, rows.contains { $0.sizes != nil } ? 3 : 0)
    // 80 columns: " " + name + " | " + number + " " + graph.
    let graphWidth = max(10, 80 - 1 - min(nameWidth, 50) - 3 - numWidth - 1)
    var added = 0, removed = 0
    for r in rows {
        added += r.added; removed += r.removed
        let name = r.path.padding(nameWidth)
        if let s = r.sizes { ctx.out.line(" \(name) | \(s)"); continue }
        let total = r.added + r.removed
        var plus = r.added, minus = r.removed
        if maxChange > graphWidth {
            // Scale so the largest change fills the graph, every nonzero part at least one mark.
            func scale(_ n: Int) -> Int { n == 0 ? 0 : 1 + (n * (graphWidth - 1)) / maxChange }
            let t = scale(total)
            plus = scale(r.added); minus = t - plus
            if r.removed > 0 && minus == 0 { minus = 1; plus = max(0, t - 1) }
        }
        ctx.out.line(" \(name) | \(String(total).leftPad(numWidth)) \(String(repeating: "+", count: plus))\(String(repeating: "-", count: minus))")
    }
    var summary = " \(rows.count) file\(rows.count == 1 ? "" : "s") changed"
    if added > 0 || removed == 0 { summary += ", \(added) insertion\(added == 1 ? "" : "s")(+)" }
    if removed > 0 || added == 0 { summary += ", \(removed) deletion\(removed == 1 ? "" : "s")(-)" }
    ctx.out.line(summary)
}
