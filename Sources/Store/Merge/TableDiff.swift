#if canImport(Glibc)
import Glibc
#endif
import Support

// Row diffs of tables (CSV/TSV), aligned on shared chunks like the merge (docs/tables.md).

public struct TableDiffOptions: Sendable {
    /// Rows of a changed region are matched by this column's value instead of by position.
    public var keyColumn: String?
    /// The label column; nil: the first column named `label`, `target` or `y`.
    public var labelColumn: String?
    /// Field separator: `,` for CSV, tab for TSV.
    public var delimiter: UInt8
    public init(keyColumn: String? = nil, labelColumn: String? = nil, delimiter: UInt8 = 0x2C) {
        self.keyColumn = keyColumn; self.labelColumn = labelColumn; self.delimiter = delimiter
    }
}

/// One cell that changed in a modified row.
public struct TableCellChange: Equatable, Sendable {
    public var column: String
    public var old: String
    public var new: String
    public init(column: String, old: String, new: String) { self.column = column; self.old = old; self.new = new }
}

/// One changed row. Row numbers are 1-based data rows (the header is row 0).
public struct TableRowChange: Equatable, Sendable {
    public enum Kind: String, Sendable { case modified, added, deleted }
    public var kind: Kind
    public var oldRow: Int?
    public var newRow: Int?
    /// The key column's value (with a key column).
    public var key: String?
    /// For a modified row: the cells that changed, by column.
    public var cells: [TableCellChange]
    /// The row's cells: the new row (added, modified) or the old one (deleted).
    public var row: [String]
    public init(kind: Kind, oldRow: Int?, newRow: Int?, key: String?, cells: [TableCellChange], row: [String]) {
        self.kind = kind; self.oldRow = oldRow; self.newRow = newRow; self.key = key; self.cells = cells; self.row = row
    }
}

public struct TableDiffSummary: Equatable, Sendable {
    /// Data rows (without the header).
    public var oldRows: Int
    public var newRows: Int
    public var added: Int
    public var deleted: Int
    public var modified: Int
    /// The label column, when there is one.
    public var labelColumn: String?
    /// Rows per label value, before and after.
    public var oldLabels: [String: Int]
    public var newLabels: [String: Int]
    /// The header rows' cells, before and after (empty for a side with no file); the header
    /// changed when they differ and both are non-empty.
    public var oldHeader: [String] = []
    public var newHeader: [String] = []
    public var headerChanged: Bool { !oldHeader.isEmpty && !newHeader.isEmpty && oldHeader != newHeader }
}

/// The newer side of a table diff.
public enum TableDiffTarget: Sendable {
    /// A stored file (nil: none, the table was deleted).
    case stored(ObjectId?)
    /// A file on disk (the work tree): chunked as `add` would chunk it.
    case file(String)
}

extension Repository {
    /// The row changes from the stored table `old` (nil: none) to `new`, in file order, each
    /// passed to `visit`; returns the summary. Only the regions whose chunks differ are read
    /// row by row; the old side is scanned once for its row and label counts, and the new
    /// side's counts are the old ones plus the changes.
    public func diffTable(old: ObjectId?, new: TableDiffTarget, options: TableDiffOptions = TableDiffOptions(),
                          visit: (TableRowChange) throws -> Void) throws -> TableDiffSummary {
        let o = try TableSource(store: store, id: old)
        let n: TableSource
        switch new {
        case .stored(let id): n = try TableSource(store: store, id: id)
        case .file(let path): n = try TableSource(path: path, chunker: chunker)
        }
        return try TableDiffer(old: o, new: n, options: options, store: store, oldId: old).run(visit)
    }
}

struct TableDiffer {
    let old: TableSource, new: TableSource
    let options: TableDiffOptions
    let store: ObjectStore
    let oldId: ObjectId?
    let scanner: TableRowScanner

    init(old: TableSource, new: TableSource, options: TableDiffOptions, store: ObjectStore, oldId: ObjectId?) {
        self.old = old; self.new = new; self.options = options; self.store = store; self.oldId = oldId
        scanner = TableRowScanner(delimiter: options.delimiter)
    }

    /// A changed region widened to whole rows: byte ranges in the old and new file.
    struct Hunk { var old: Range<Int>; var new: Range<Int> }

    /// The changed regions, widened to whole rows: byte ranges in the old and new file (the
    /// bytes are read again when each is diffed, so memory holds one region at a time).
    func hunks(headerCells: Int) throws -> [(old: Range<Int>, new: Range<Int>)] {
        let spans = ChunkAlign.spans(base: old.seq, others: [new.seq])
        func bstart(_ i: Int) -> Int { old.seq.starts[spans[i].chunks[0].lowerBound] }
        func bend(_ i: Int) -> Int { old.seq.starts[spans[i].chunks[0].upperBound] }
        // Spans with no line end between them change the same row: one group.
        var groups: [(first: Int, last: Int)] = []
        for i in spans.indices {
            if let top = groups.last, try old.firstLineFeed(from: bend(top.last), limit: bstart(i)) == nil {
                groups[groups.count - 1].last = i
            } else { groups.append((i, i)) }
        }
        let widener = RowWidener(scanner: scanner, headerCells: headerCells)
        var out: [(old: Range<Int>, new: Range<Int>)] = []
        for (gi, g) in groups.enumerated() {
            let cb = spans[g.first].chunks[0].lowerBound..<spans[g.last].chunks[0].upperBound
            let cn = spans[g.first].chunks[1].lowerBound..<spans[g.last].chunks[1].upperBound
            let gs = old.seq.starts[cb.lowerBound], ge = old.seq.starts[cb.upperBound]
            let prevEnd = gi > 0 ? max(bend(groups[gi - 1].last), out.last.map { $0.old.upperBound } ?? 0) : 0
            let nextStart = gi + 1 < groups.count ? bstart(groups[gi + 1].first) : old.total
            let w = try widener.widen([.init(source: old, start: gs, end: ge),
                                       .init(source: new, start: new.seq.starts[cn.lowerBound], end: new.seq.starts[cn.upperBound])],
                                      back: gs - prevEnd, forward: nextStart - ge)
            out.append((w.ranges[0], w.ranges[1]))
        }
        return out
    }

    func run(_ visit: (TableRowChange) throws -> Void) throws -> TableDiffSummary {
        let ohRaw = try old.header(delimiter: options.delimiter), nhRaw = try new.header(delimiter: options.delimiter)
        for (h, side) in [(ohRaw, "old"), (nhRaw, "new")] {
            // Rows are split at line feeds only: a file whose lines end in a lone CR (classic
            // Mac OS) would be one row. Seen in the header row (with no quotes to hide a CR).
            if let h, !h.contains(0x22), h.indices.contains(where: { h[$0] == 0x0D && ($0 + 1 == h.count || h[$0 + 1] != 0x0A) }) {
                throw NotATable("the \(side) file's lines end in a lone carriage return (CR), not a line feed")
            }
        }
        let oh = ohRaw.map { scanner.cells(ArraySlice($0)) } ?? []
        let nh = nhRaw.map { scanner.cells(ArraySlice($0)) } ?? []
        let oldCols = oh.map { $0.trimmed() }, newCols = nh.map { $0.trimmed() }
        let cols = newCols.isEmpty ? oldCols : newCols
        let labelName = options.labelColumn ?? ["label", "target", "y"].first(where: { cols.contains($0) })
        let labelOld = labelName.flatMap { oldCols.firstIndex(of: $0) }, labelNew = labelName.flatMap { newCols.firstIndex(of: $0) }
        if let k = options.keyColumn, !cols.contains(k) { throw NotATable("no column named '\(k)' for the key") }
        if let l = options.labelColumn, !cols.contains(l) { throw NotATable("no column named '\(l)' for the label") }
        let keyOld = options.keyColumn.flatMap { oldCols.firstIndex(of: $0) }, keyNew = options.keyColumn.flatMap { newCols.firstIndex(of: $0) }

        // Each column's index in the old header (columns are matched by name).
        var oldPos: [String: Int] = [:]
        for (i, c) in oldCols.enumerated() where oldPos[c] == nil { oldPos[c] = i }
        let oldIndex = cols.map { oldPos[$0] }
        let hs = try hunks(headerCells: oh.count)
        // One pass over the old side: its rows, labels, and the row number at each hunk.
        var scan = TableScan(delimiter: options.delimiter, labelIndex: labelOld)
        let before = try scan.run(store: store, id: oldId, at: hs.map { $0.old.lowerBound })
        let hasHeader = old.total > 0 ? 1 : 0
        var summary = TableDiffSummary(oldRows: max(0, scan.rows - hasHeader), newRows: 0, added: 0, deleted: 0, modified: 0,
                                       labelColumn: labelName.flatMap { labelOld != nil || labelNew != nil ? $0 : nil },
                                       oldLabels: scan.labels, newLabels: scan.labels, oldHeader: oh, newHeader: nh)
        if let l = labelOld, hasHeader == 1, let h = oh.count > l ? oh[l] : nil {   // the header is not a label
            summary.oldLabels[h, default: 0] -= 1
            if summary.oldLabels[h] == 0 { summary.oldLabels[h] = nil }
            summary.newLabels = summary.oldLabels
        }
        var delta = 0
        for (hi, h) in hs.enumerated() {
            let ob = try old.bytes(h.old.lowerBound, h.old.upperBound), nb = try new.bytes(h.new.lowerBound, h.new.upperBound)
            var orows = try scanner.rows(ob, from: 0, to: ob.count, at: h.old.lowerBound).map { ob[$0] }
            var nrows = try scanner.rows(nb, from: 0, to: nb.count, at: h.new.lowerBound).map { nb[$0] }
            var firstOld = before[hi], firstNew = before[hi] + delta
            if h.old.lowerBound == 0 {   // the header is no data row
                if !orows.isEmpty { orows.removeFirst() } else { firstOld -= 1 }
                if !nrows.isEmpty { nrows.removeFirst() } else { firstNew -= 1 }
                firstOld += 1; firstNew += 1
            }
            func cellsOf(_ r: ArraySlice<UInt8>) -> [String] { scanner.cells(r) }
            func label(_ c: [String], _ i: Int?) -> String? { i.flatMap { $0 < c.count ? c[$0] : nil } }
            func dropLabel(_ c: [String]) {
                if let v = label(c, labelOld) { summary.newLabels[v, default: 0] -= 1; if summary.newLabels[v] == 0 { summary.newLabels[v] = nil } }
            }
            func addLabel(_ c: [String]) { if let v = label(c, labelNew) { summary.newLabels[v, default: 0] += 1 } }
            func modified(_ a: [String], _ b: [String], _ oi: Int, _ ni: Int) throws {
                if a == b { return }   // the same cells (moved, or only quoting changed)
                var cells: [TableCellChange] = []
                for (j, name) in cols.enumerated() {
                    let ov = oldIndex[j].flatMap { $0 < a.count ? a[$0] : nil } ?? ""
                    let nv = j < b.count ? b[j] : ""
                    if ov != nv { cells.append(TableCellChange(column: name, old: ov, new: nv)) }
                }
                if cells.isEmpty && a != b { cells.append(TableCellChange(column: "", old: a.joined(separator: ","), new: b.joined(separator: ","))) }
                summary.modified += 1
                dropLabel(a); addLabel(b)
                try visit(TableRowChange(kind: .modified, oldRow: firstOld + oi, newRow: firstNew + ni, key: label(b, keyNew), cells: cells, row: b))
            }
            func deleted(_ a: [String], _ oi: Int, newAt: Int) throws {
                summary.deleted += 1
                dropLabel(a)
                try visit(TableRowChange(kind: .deleted, oldRow: firstOld + oi, newRow: nil, key: label(a, keyOld), cells: [], row: a))
            }
            func added(_ b: [String], _ ni: Int) throws {
                summary.added += 1
                addLabel(b)
                try visit(TableRowChange(kind: .added, oldRow: nil, newRow: firstNew + ni, key: label(b, keyNew), cells: [], row: b))
            }
            let regions = RowDiff.diff(orows, nrows)
            if keyOld != nil, keyNew != nil {
                // Match the hunk's removed and added rows by key: a row that moved is modified
                // (or unchanged); rows without a match are deleted or added.
                var gone: [(Int, [String])] = [], came: [(Int, [String])] = []
                for r in regions {
                    for i in r.aStart..<(r.aStart + r.aCount) { gone.append((i, cellsOf(orows[i]))) }
                    for j in r.bStart..<(r.bStart + r.bCount) { came.append((j, cellsOf(nrows[j]))) }
                }
                var byKey: [String: Int] = [:]
                for (n, (_, c)) in gone.enumerated() { if let k = label(c, keyOld), byKey[k] == nil { byKey[k] = n } }
                var matched = [Int?](repeating: nil, count: came.count)
                var used = Set<Int>()
                for (m, (_, c)) in came.enumerated() {
                    if let k = label(c, keyNew), let n = byKey[k], used.insert(n).inserted { matched[m] = n }
                }
                for (n, (i, c)) in gone.enumerated() where !used.contains(n) { try deleted(c, i, newAt: 0) }
                for (m, (j, c)) in came.enumerated() {
                    if let n = matched[m] { try modified(gone[n].1, c, gone[n].0, j) } else { try added(c, j) }
                }
            } else {
                for r in regions {
                    let a = (r.aStart..<(r.aStart + r.aCount)).map { cellsOf(orows[$0]) }
                    let b = (r.bStart..<(r.bStart + r.bCount)).map { cellsOf(nrows[$0]) }
                    if r.aCount == r.bCount {
                        for i in 0..<r.aCount { try modified(a[i], b[i], r.aStart + i, r.bStart + i) }
                    } else {
                        for i in 0..<r.aCount { try deleted(a[i], r.aStart + i, newAt: r.bStart) }
                        for j in 0..<r.bCount { try added(b[j], r.bStart + j) }
                    }
                }
            }
            delta += nrows.count - orows.count
        }
        summary.newRows = summary.oldRows + summary.added - summary.deleted
        return summary
    }
}

/// One pass over a stored table: rows (line feeds outside quoted fields, plus a last row
/// without one), the label column's counts, and the number of rows before given offsets.
/// The file streams through `FileReader` (verified on all cores); rows without quotes are
/// split with memchr and their label found without parsing the other cells.
struct TableScan {
    let delimiter: UInt8
    let labelIndex: Int?
    private(set) var rows = 0
    /// Label counts by the label's bytes: a short list (most tables have few classes), a
    /// dictionary past 64 distinct values.
    private var small: [([UInt8], Int)] = []
    private var big: [[UInt8]: Int] = [:]
    private var st = TableRowScanner.State.fieldStart
    /// The unfinished row's bytes from earlier windows.
    private var carry: [UInt8] = []
    private var inRow = false

    var labels: [String: Int] {
        var out: [String: Int] = [:]
        for (k, v) in small { out[String(decoding: k, as: UTF8.self), default: 0] += v }
        for (k, v) in big { out[String(decoding: k, as: UTF8.self), default: 0] += v }
        return out
    }

    init(delimiter: UInt8, labelIndex: Int?) { self.delimiter = delimiter; self.labelIndex = labelIndex }

    /// Scans the stored file `id` (nil: empty); returns the rows before each offset of `at` (ascending).
    mutating func run(store: ObjectStore, id: ObjectId?, at offsets: [Int]) throws -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(offsets.count)
        var q = 0
        var pos = 0
        if let id {
            try FileReader(store: store).read(id) { buf in
                try window(buf, at: pos, offsets: offsets, q: &q, out: &out)
                pos += buf.count
            }
        }
        finish(at: pos, offsets: offsets, q: &q, out: &out)
        return out
    }

    /// Ends the scan at byte `pos`: a last row without a line feed counts.
    mutating func finish(at pos: Int, offsets: [Int], q: inout Int, out: inout [Int]) {
        if inRow || !carry.isEmpty {
            while q < offsets.count && offsets[q] < pos { out.append(rows); q += 1 }
            carry.withUnsafeBufferPointer { b in if let base = b.baseAddress { count(base, b.count) } }
            carry.removeAll()
            inRow = false
            rows += 1
        }
        while out.count < offsets.count { out.append(rows) }
    }

    /// Scans the next window, `buf`, which starts at byte `base`.
    mutating func window(_ buf: UnsafeRawBufferPointer, at base: Int, offsets: [Int], q: inout Int, out: inout [Int]) throws {
        guard let raw = buf.baseAddress, buf.count > 0 else { return }
        let p = raw.assumingMemoryBound(to: UInt8.self)
        let n = buf.count
        var i = 0
        var rowStart = 0
        var nextQuote = -1, nextLF = -1
        func endRow(_ e: Int) throws {   // the row ends just before p[e] (e is past its LF)
            while q < offsets.count && offsets[q] < base + e { out.append(rows); q += 1 }
            if carry.isEmpty {
                count(p + rowStart, e - rowStart)
            } else {
                guard carry.count + (e - rowStart) <= TableLimits.rowSearchBytes else { throw NotATable("a row longer than \(TableLimits.rowSearchBytes >> 20) MiB ends at byte \(base + e)") }
                carry.append(contentsOf: UnsafeBufferPointer(start: p + rowStart, count: e - rowStart))
                carry.withUnsafeBufferPointer { count($0.baseAddress!, $0.count) }
                carry.removeAll(keepingCapacity: true)
            }
            rows += 1
            rowStart = e
            inRow = false
        }
        while i < n {
            inRow = true
            if st == .fieldStart || st == .unquoted {
                // The next line feed and quote are remembered, so each byte is searched once.
                if nextLF < i { nextLF = memchr(p + i, 0x0A, n - i).map { UnsafeRawPointer($0) - raw } ?? n }
                if nextQuote < i { nextQuote = memchr(p + i, 0x22, n - i).map { UnsafeRawPointer($0) - raw } ?? n }
                if nextLF < nextQuote {
                    st = .fieldStart
                    i = nextLF + 1
                    try endRow(i)
                    continue
                }
                // No line feed nor quote before the quote (or the window's end): jump there;
                // the byte before it decides the state.
                if nextQuote > i {
                    st = p[nextQuote - 1] == delimiter ? .fieldStart : .unquoted
                    i = nextQuote
                    if i == n { break }
                }
            }
            // Byte by byte through the row holding a quote.
            let c = p[i]
            switch st {
            case .fieldStart:
                if c == 0x22 { st = .quoted } else if c == 0x0A { i += 1; try endRow(i); continue } else if c != delimiter { st = .unquoted }
            case .unquoted:
                if c == 0x0A { st = .fieldStart; i += 1; try endRow(i); continue } else if c == delimiter { st = .fieldStart }
            case .quoted:
                if let h = memchr(p + i, 0x22, n - i) { i = UnsafeRawPointer(h) - raw; st = .quoteSeen } else { i = n; continue }
            case .quoteSeen:
                if c == 0x22 { st = .quoted } else if c == 0x0A { st = .fieldStart; i += 1; try endRow(i); continue } else if c == delimiter { st = .fieldStart } else { st = .unquoted }
            }
            i += 1
        }
        if rowStart < n {
            guard carry.count + (n - rowStart) <= TableLimits.rowSearchBytes else { throw NotATable("a row longer than \(TableLimits.rowSearchBytes >> 20) MiB at byte \(base + rowStart)") }
            carry.append(contentsOf: UnsafeBufferPointer(start: p + rowStart, count: n - rowStart))
            inRow = true
        }
    }

    /// Counts the label of the row at p[0..<len].
    private mutating func count(_ p: UnsafePointer<UInt8>, _ len: Int) {
        guard let k = labelIndex else { return }
        var e = len
        if e > 0 && p[e - 1] == 0x0A { e -= 1 }
        if e > 0 && p[e - 1] == 0x0D { e -= 1 }
        if memchr(p, 0x22, e) == nil {
            var s = 0
            for _ in 0..<k {
                guard let d = memchr(p + s, Int32(delimiter), e - s) else { return }
                s = UnsafeRawPointer(d) - UnsafeRawPointer(p) + 1
            }
            let f = memchr(p + s, Int32(delimiter), e - s).map { UnsafeRawPointer($0) - UnsafeRawPointer(p) } ?? e
            tally(UnsafeBufferPointer(start: p + s, count: f - s))
        } else {
            let cells = TableRowScanner(delimiter: delimiter).cells(ArraySlice(UnsafeBufferPointer(start: p, count: len)))
            guard k < cells.count else { return }
            Array(cells[k].utf8).withUnsafeBufferPointer { tally($0) }
        }
    }

    private mutating func tally(_ label: UnsafeBufferPointer<UInt8>) {
        for j in small.indices where small[j].0.count == label.count
            && (label.count == 0 || small[j].0.withUnsafeBufferPointer { memcmp($0.baseAddress!, label.baseAddress!, label.count) == 0 }) {
            small[j].1 += 1
            return
        }
        if small.count < 64 { small.append((Array(label), 1)) } else { big[Array(label), default: 0] += 1 }
    }
}
