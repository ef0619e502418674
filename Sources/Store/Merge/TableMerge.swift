#if canImport(Glibc)
import Glibc
#endif
import Support

// Row-level three-way merge of tables (CSV/TSV), aligned on shared chunks (docs/tables.md).

public struct TableMergeOptions: Sendable {
    public enum Favor: String, Sendable { case none, ours, theirs }
    /// Rows are matched by this column's value instead of by position.
    public var keyColumn: String? = nil
    /// For rows changed differently on both sides: conflict (none), or take a side.
    public var favor: Favor = .none
    /// Field separator: `,` for CSV, tab for TSV.
    public var delimiter: UInt8 = 0x2C
    public var oursLabel = "ours"
    public var theirsLabel = "theirs"
    public init(keyColumn: String? = nil, favor: Favor = .none, delimiter: UInt8 = 0x2C, oursLabel: String = "ours", theirsLabel: String = "theirs") {
        self.keyColumn = keyColumn; self.favor = favor; self.delimiter = delimiter; self.oursLabel = oursLabel; self.theirsLabel = theirsLabel
    }
}

/// One row changed differently on both sides.
public struct TableConflict: Equatable, Sendable {
    /// 1-based data-row number (the header is row 0) in the merged file's ours side.
    public var row: Int
    /// The key column's value, when merging by key.
    public var key: String?
    /// Each side's row text (without the line feed; nil where that side deleted the row;
    /// cut to 1024 bytes).
    public var base: String?
    public var ours: String?
    public var theirs: String?
    public init(row: Int, key: String?, base: String?, ours: String?, theirs: String?) {
        self.row = row; self.key = key; self.base = base; self.ours = ours; self.theirs = theirs
    }
}

public struct TableMergeResult: Sendable {
    /// The merged file, stored in the object store: with favor none and conflicts, the
    /// conflicting rows are written between git-style conflict markers.
    public var file: StoredFile
    /// The first conflicts (at most 1000), in file order.
    public var conflicts: [TableConflict]
    /// All conflicts.
    public var conflictCount: Int
}

/// Why a file could not be merged as a table (the caller then treats it as text or binary).
public struct NotATable: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension Repository {
    /// Three-way row-level merge of the tables `base` (nil: added on both sides), `ours` and
    /// `theirs`, by id; the result is stored. Throws `NotATable` when a side is not a table
    /// this merge handles.
    ///
    /// The three chunk sequences are aligned; only where they differ are bytes read, widened
    /// to whole rows and merged row by row (`TableRowMerge`). Unchanged chunks, and chunks
    /// changed on one side only, are reused by id; the rest is re-chunked until the chunk
    /// boundaries fall back in step (`ChunkedFileBuilder`), so the merged file's id is the one
    /// `add` of the same bytes gives.
    public func mergeTable(base: ObjectId?, ours: ObjectId, theirs: ObjectId, options: TableMergeOptions = TableMergeOptions()) throws -> TableMergeResult {
        let b = try TableSource(store: store, id: base)
        let o = try TableSource(store: store, id: ours)
        let t = try TableSource(store: store, id: theirs)
        let stored = { (s: TableSource, id: ObjectId) in StoredFile(id: id, size: UInt64(s.total), newBytes: 0) }
        if ours == theirs || b.seq.ids == t.seq.ids { return TableMergeResult(file: stored(o, ours), conflicts: [], conflictCount: 0) }
        if b.seq.ids == o.seq.ids { return TableMergeResult(file: stored(t, theirs), conflicts: [], conflictCount: 0) }
        let r = try TableMerger(store: store, chunker: chunker, base: b, ours: o, theirs: t, options: options).run()
        // The merged file is readable at once (checkout writes it next).
        try store.commitPending()
        return r
    }
}

/// One table merge (see `Repository.mergeTable`).
struct TableMerger {
    let store: ObjectStore
    let chunker: Chunker
    let base: TableSource, ours: TableSource, theirs: TableSource
    let options: TableMergeOptions
    let scanner: TableRowScanner

    init(store: ObjectStore, chunker: Chunker, base: TableSource, ours: TableSource, theirs: TableSource, options: TableMergeOptions) {
        self.store = store; self.chunker = chunker; self.base = base; self.ours = ours; self.theirs = theirs; self.options = options
        scanner = TableRowScanner(delimiter: options.delimiter)
    }

    /// A run of spans merged together: which sides changed it.
    struct Group {
        var first: Int, last: Int
        var ours: Bool, theirs: Bool
        var twoSided: Bool { ours && theirs }
    }

    func run() throws -> TableMergeResult {
        // The header decides the columns: a header changed on one side only while the other
        // side changed rows would mix two column layouts.
        let hb = try base.header(delimiter: options.delimiter), ho = try ours.header(delimiter: options.delimiter), ht = try theirs.header(delimiter: options.delimiter)
        if base.total == 0 && ho != ht {
            // Added on both sides: one file with two column layouts is no table.
            throw NotATable("added on both sides with different header rows")
        }
        if base.total > 0 && (ho != hb || ht != hb) && ho != ht {
            let who = ho != hb && ht != hb ? "both sides" : ho != hb ? "ours" : "theirs"
            throw NotATable("the header row changed on \(who) while the other side changed rows; the columns no longer line up")
        }
        var keyIndex: Int? = nil
        if let key = options.keyColumn {
            let cols = scanner.cells(ArraySlice(ho ?? []))
            guard let k = cols.firstIndex(where: { $0.trimmed() == key }) else { throw NotATable("no column named '\(key)' for the key") }
            keyIndex = k
        }
        let spans = ChunkAlign.spans(base: base.seq, others: [ours.seq, theirs.seq])
        func spanStart(_ i: Int) -> Int { base.seq.starts[spans[i].chunks[0].lowerBound] }
        func spanEnd(_ i: Int) -> Int { base.seq.starts[spans[i].chunks[0].upperBound] }
        func changed(_ i: Int, _ side: Int, _ src: TableSource) -> Bool {
            let r = spans[i].chunks[side], rb = spans[i].chunks[0]
            return !src.seq.ids[r].elementsEqual(base.seq.ids[rb])
        }
        // Group spans whose changes may touch the same row (no line end between them).
        var groups: [Group] = []
        for i in spans.indices {
            var g = Group(first: i, last: i, ours: changed(i, 1, ours), theirs: changed(i, 2, theirs))
            while let top = groups.last {
                let need = top.twoSided || g.twoSided || top.ours != g.ours
                if !need { break }
                if try base.firstLineFeed(from: spanEnd(top.last), limit: spanStart(g.first)) != nil { break }
                groups.removeLast()
                g = Group(first: top.first, last: g.last, ours: top.ours || g.ours, theirs: top.theirs || g.theirs)
            }
            groups.append(g)
        }
        let out = ChunkedFileBuilder(store: store, chunker: chunker)
        let widener = RowWidener(scanner: scanner, headerCells: hb.map { scanner.cells(ArraySlice($0)).count } ?? 0)
        var merge = TableRowMerge(scanner: scanner, keyIndex: keyIndex, favor: options.favor, oursLabel: options.oursLabel, theirsLabel: options.theirsLabel)
        var conflicts: [(offset: Int, c: TableRowMerge.Conflict)] = []
        var conflictCount = 0
        var oursPos = 0
        var lastBaseEnd = 0
        for (gi, g) in groups.enumerated() {
            let cb = spans[g.first].chunks[0].lowerBound..<spans[g.last].chunks[0].upperBound
            let co = spans[g.first].chunks[1].lowerBound..<spans[g.last].chunks[1].upperBound
            let ct = spans[g.first].chunks[2].lowerBound..<spans[g.last].chunks[2].upperBound
            if !g.twoSided {
                try emit(ours, oursPos, ours.seq.starts[co.lowerBound], to: out)
                if g.ours { try emitChunks(ours, co, to: out) } else { try emitChunks(theirs, ct, to: out) }
                oursPos = ours.seq.starts[co.upperBound]
                continue
            }
            // Widen to whole rows: back to the line end before, on to the line end after
            // (the bytes around a group are the same on all sides).
            let gs = base.seq.starts[cb.lowerBound], ge = base.seq.starts[cb.upperBound]
            let prevEnd = gi > 0 ? max(spanEnd(groups[gi - 1].last), lastBaseEnd) : 0
            let nextStart = gi + 1 < groups.count ? spanStart(groups[gi + 1].first) : base.total
            let w = try widener.widen([.init(source: base, start: gs, end: ge),
                                       .init(source: ours, start: ours.seq.starts[co.lowerBound], end: ours.seq.starts[co.upperBound]),
                                       .init(source: theirs, start: theirs.seq.starts[ct.lowerBound], end: theirs.seq.starts[ct.upperBound])],
                                      back: gs - prevEnd, forward: nextStart - ge)
            let (rows, ranges, starts) = (w.bytes, w.rows, w.ranges.map { $0.lowerBound })
            func slices(_ n: Int) -> [ArraySlice<UInt8>] { ranges[n].map { rows[n][$0] } }
            let oRows = slices(1)
            merge.merge(base: slices(0), ours: oRows, theirs: slices(2))
            try emit(ours, oursPos, starts[1], to: out)
            try out.append(bytes: merge.take())
            for c in merge.takeConflicts() {
                conflictCount += 1
                if conflicts.count < TableLimits.keptConflicts {
                    let off = c.oursRow < oRows.count ? starts[1] + ranges[1][c.oursRow].lowerBound : starts[1] + rows[1].count
                    conflicts.append((off, c))
                }
            }
            oursPos = w.ranges[1].upperBound
            lastBaseEnd = w.ranges[0].upperBound
        }
        try emit(ours, oursPos, ours.total, to: out)
        let file = try out.finish()
        // Conflicts are numbered by their row in ours: count the rows before each.
        var numbered: [TableConflict] = []
        if !conflicts.isEmpty {
            let numbers = try rowNumbers(ours, at: conflicts.map { $0.offset })
            for (n, (_, c)) in zip(numbers, conflicts) {
                func text(_ r: ArraySlice<UInt8>?) -> String? { r.map(TableRowScanner.text) }
                numbered.append(TableConflict(row: n, key: c.key, base: text(c.base), ours: text(c.ours), theirs: text(c.theirs)))
            }
        }
        return TableMergeResult(file: file, conflicts: numbered, conflictCount: conflictCount)
    }

    /// Appends `src`'s bytes [from, to): whole chunks by id, parts of chunks as bytes.
    func emit(_ src: TableSource, _ from: Int, _ to: Int, to out: ChunkedFileBuilder) throws {
        var pos = from
        while pos < to {
            let k = src.seq.chunk(at: pos)
            let cs = src.seq.starts[k], ce = src.seq.starts[k + 1]
            if pos == cs && ce <= to {
                try out.append(chunk: src.seq.ids[k], size: ce - cs, reusable: k + 1 < src.seq.count, bytes: { try src.chunk(k) })
            } else {
                let c = try src.chunk(k)
                try out.append(bytes: c[(pos - cs)..<(min(to, ce) - cs)])
            }
            pos = min(to, ce)
        }
    }

    func emitChunks(_ src: TableSource, _ r: Range<Int>, to out: ChunkedFileBuilder) throws {
        for k in r { try out.append(chunk: src.seq.ids[k], size: src.seq.size(k), reusable: k + 1 < src.seq.count, bytes: { try src.chunk(k) }) }
    }

    /// The number of rows that end before each offset (sorted ascending): the data-row
    /// number of a row starting there (the header is row 0). One pass over the file.
    func rowNumbers(_ src: TableSource, at offsets: [Int]) throws -> [Int] {
        var counter = TableRowCounter(delimiter: options.delimiter)
        var out: [Int] = []
        var q = 0
        for k in 0..<src.seq.count where q < offsets.count {
            let c = try src.chunk(k)
            var from = 0
            while q < offsets.count && offsets[q] < src.seq.starts[k + 1] {
                let upTo = offsets[q] - src.seq.starts[k]
                counter.feed(c[from..<upTo])
                from = upTo
                out.append(counter.rows)
                q += 1
            }
            counter.feed(c[from...])
        }
        while out.count < offsets.count { out.append(counter.rows) }
        return out
    }
}

/// Counts rows (line feeds outside quoted fields) in bytes fed in pieces.
struct TableRowCounter {
    let delimiter: UInt8
    var rows = 0
    var state = TableRowScanner.State.fieldStart

    init(delimiter: UInt8) { self.delimiter = delimiter }

    mutating func feed(_ b: ArraySlice<UInt8>) {
        if b.isEmpty { return }
        b.withUnsafeBufferPointer { p in
            let base = p.baseAddress!
            let n = p.count
            // No quote at all and outside one: count line feeds only.
            if state != .quoted && state != .quoteSeen && memchr(base, 0x22, n) == nil {
                var i = 0
                while i < n, let h = memchr(base + i, 0x0A, n - i) {
                    rows += 1
                    i = UnsafeRawPointer(h) - UnsafeRawPointer(base) + 1
                }
                state = base[n - 1] == 0x0A ? .fieldStart : base[n - 1] == delimiter ? .fieldStart : .unquoted
                return
            }
            for i in 0..<n {
                let c = base[i]
                switch state {
                case .fieldStart:
                    if c == 0x22 { state = .quoted } else if c == 0x0A { rows += 1 } else if c != delimiter { state = .unquoted }
                case .unquoted:
                    if c == 0x0A { rows += 1; state = .fieldStart } else if c == delimiter { state = .fieldStart }
                case .quoted:
                    if c == 0x22 { state = .quoteSeen }
                case .quoteSeen:
                    if c == 0x22 { state = .quoted } else if c == 0x0A { rows += 1; state = .fieldStart } else if c == delimiter { state = .fieldStart } else { state = .unquoted }
                }
            }
        }
    }
}
