#if canImport(Glibc)
import Glibc
#endif
import Support

// The pieces that table merge and table diff share: a file's chunk sequence, where its bytes
// come from, the alignment of chunk sequences (shared chunks are unchanged regions), and the
// splitting of byte regions into rows and cells.

/// Limits that keep a table merge or diff bounded whatever the input.
enum TableLimits {
    /// Bytes of one side read for one changed region (after widening to whole rows).
    static let regionBytes = 64 << 20
    /// Bytes searched for a line end around a changed region before giving up.
    static let rowSearchBytes = 8 << 20
    /// Rows of a region diffed row by row; larger regions are one replaced block.
    static let diffRows = 20_000
    /// Conflicts kept (all are counted).
    static let keptConflicts = 1000
    /// Cells per row when a row is split into fields.
    static let cellsPerRow = 100_000
    /// Text kept per row in a conflict or change.
    static let rowText = 1024
}

/// A file's chunks in order: ids, sizes and start offsets.
struct ChunkSeq {
    var ids: [ObjectId] = []
    var starts: [Int] = [0]

    var count: Int { ids.count }
    var total: Int { starts[starts.count - 1] }
    func size(_ k: Int) -> Int { starts[k + 1] - starts[k] }

    mutating func append(_ id: ObjectId, _ size: Int) {
        ids.append(id)
        starts.append(total + size)
    }

    /// The chunk holding byte `off` (< total).
    func chunk(at off: Int) -> Int {
        var lo = 0, hi = ids.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= off { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }
}

/// A table's bytes: a stored file (read chunk by chunk, verified) or a file on disk.
final class TableSource {
    let seq: ChunkSeq
    private let store: ObjectStore?
    private let fd: FileDescriptor?
    /// The last chunk read (regions are read in order, often one chunk twice).
    private var cached: (Int, [UInt8])? = nil

    var total: Int { seq.total }

    /// The stored file `id` (nil: an empty file).
    init(store: ObjectStore, id: ObjectId?) throws {
        var s = ChunkSeq()
        if let id {
            try store.ensureLocal(files: [id])
            try FileReader(store: store).forEachChunk(id) { cid, size in
                guard size <= UInt64(Int.max / 4), s.total <= Int.max / 4 else { throw NotATable("file too large") }
                s.append(cid, Int(size))
            }
        }
        seq = s
        self.store = store
        fd = nil
    }

    /// The file at `path`, chunked as `add` would chunk it (its ids are those `add` would store).
    init(path: String, chunker: Chunker) throws {
        let f = try sys { try FileDescriptor(path: path, flags: O_RDONLY) }
        var s = ChunkSeq()
        let size = Int(try sys { try f.stat() }.size)
        let hasher = SHA256Hasher()
        if size <= chunker.maxSize {
            var buf = [UInt8](repeating: 0, count: size)
            let n = try sys { try buf.withUnsafeMutableBytes { try f.pread(into: $0.baseAddress!, count: size, offset: 0) } }
            if n > 0 || size == 0 {
                let id = buf.withUnsafeBytes { ObjectHash.id(.blob, UnsafeRawBufferPointer(rebasing: $0[0..<n]), hasher: hasher) }
                s.append(id, n)
            }
        } else {
            let window = 8 << 20
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: window + chunker.maxSize, alignment: 64)
            defer { buf.deallocate() }
            var filled = 0, eof = false, offset = 0
            while !eof || filled > 0 {
                if !eof {
                    let n = try sys { try f.pread(into: buf.baseAddress! + filled, count: buf.count - filled, offset: UInt64(offset + filled)) }
                    filled += n
                    if n == 0 { eof = true }
                }
                var off = 0
                while off < filled && (eof || filled - off > chunker.maxSize) {
                    let len = chunker.cut(UnsafeRawBufferPointer(rebasing: buf[off..<filled]))
                    s.append(ObjectHash.id(.blob, UnsafeRawBufferPointer(rebasing: buf[off..<(off + len)]), hasher: hasher), len)
                    off += len
                }
                if off > 0 {
                    buf.baseAddress!.copyMemory(from: buf.baseAddress! + off, byteCount: filled - off)
                    offset += off
                    filled -= off
                }
                if eof && filled == 0 { break }
            }
        }
        seq = s
        store = nil
        fd = f
    }

    /// The bytes of chunk `k`.
    func chunk(_ k: Int) throws -> [UInt8] {
        if let (i, b) = cached, i == k { return b }
        let n = seq.size(k)
        var b = [UInt8](repeating: 0, count: n)
        if let store {
            try b.withUnsafeMutableBytes { try store.readBlob(seq.ids[k], into: $0) }
        } else if let fd {
            let got = try sys { try b.withUnsafeMutableBytes { try fd.pread(into: $0.baseAddress!, count: n, offset: UInt64(seq.starts[k])) } }
            guard got == n else { throw NotATable("\(fd.path) changed while it was read") }
        }
        cached = (k, b)
        return b
    }

    /// The bytes [from, to).
    func bytes(_ from: Int, _ to: Int) throws -> [UInt8] {
        guard from < to else { return [] }
        guard to - from <= TableLimits.regionBytes else {
            throw NotATable("a changed region is larger than \(TableLimits.regionBytes >> 20) MiB (bytes \(from)..<\(to)); merge it as text")
        }
        var out: [UInt8] = []
        out.reserveCapacity(to - from)
        var k = seq.chunk(at: from)
        while k < seq.count && seq.starts[k] < to {
            let c = try chunk(k)
            let s = max(from, seq.starts[k]) - seq.starts[k], e = min(to, seq.starts[k + 1]) - seq.starts[k]
            out += c[s..<e]
            k += 1
        }
        return out
    }

    /// Position of the first line feed in [from, limit), or nil.
    func firstLineFeed(from: Int, limit: Int) throws -> Int? {
        var pos = from
        while pos < limit {
            guard pos - from <= TableLimits.rowSearchBytes else { throw NotATable("no line end within \(TableLimits.rowSearchBytes >> 20) MiB after byte \(from)") }
            let k = seq.chunk(at: pos)
            let c = try chunk(k)
            let s = pos - seq.starts[k], e = min(limit, seq.starts[k + 1]) - seq.starts[k]
            if let i = c[s..<e].firstIndex(of: 0x0A) { return seq.starts[k] + i }
            pos = seq.starts[k] + e
        }
        return nil
    }

    /// Position of the last line feed in [limit, before), or nil.
    func lastLineFeed(before: Int, limit: Int) throws -> Int? {
        var pos = before
        while pos > limit {
            guard before - pos <= TableLimits.rowSearchBytes else { throw NotATable("no line end within \(TableLimits.rowSearchBytes >> 20) MiB before byte \(before)") }
            let k = seq.chunk(at: pos - 1)
            let c = try chunk(k)
            let s = max(limit, seq.starts[k]) - seq.starts[k], e = pos - seq.starts[k]
            if let i = c[s..<e].lastIndex(of: 0x0A) { return seq.starts[k] + i }
            pos = seq.starts[k] + s
        }
        return nil
    }

    /// The first row (the header), without its line end; nil for an empty file.
    func header(delimiter: UInt8) throws -> [UInt8]? {
        guard total > 0 else { return nil }
        let end = try firstLineFeed(from: 0, limit: total).map { $0 + 1 } ?? total
        let b = try bytes(0, end)
        let rows = try TableRowScanner(delimiter: delimiter).rows(b, from: 0, to: b.count, at: 0)
        guard let r = rows.first else { return nil }
        return Array(TableRowScanner.content(b[r]))
    }
}

/// Chunk alignment: which chunks two versions share, in order.
enum ChunkAlign {
    /// For each chunk of `a`, the index of the chunk of `b` it is matched with (the same id),
    /// or -1. Matches increase. Linear time: after a mismatch both sequences are searched
    /// forward in step for the nearest chunk the other also has.
    static func match(_ a: [ObjectId], _ b: [ObjectId]) -> [Int] {
        var m = [Int](repeating: -1, count: a.count)
        var posA: [ObjectId: [Int]] = [:], posB: [ObjectId: [Int]] = [:]
        for (i, id) in a.enumerated() { posA[id, default: []].append(i) }
        for (j, id) in b.enumerated() { posB[id, default: []].append(j) }
        func first(_ list: [Int]?, atLeast x: Int) -> Int? {
            guard let list else { return nil }
            var lo = 0, hi = list.count
            while lo < hi { let mid = (lo + hi) / 2; if list[mid] < x { lo = mid + 1 } else { hi = mid } }
            return lo < list.count ? list[lo] : nil
        }
        var i = 0, j = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] { m[i] = j; i += 1; j += 1; continue }
            var d = 0
            var next: (Int, Int)? = nil
            while next == nil && (i + d < a.count || j + d < b.count) {
                var best: (Int, Int, Int)? = nil
                if i + d < a.count, let p = first(posB[a[i + d]], atLeast: j) { best = (i + d, p, d + p - j) }
                if j + d < b.count, let q = first(posA[b[j + d]], atLeast: i) {
                    let cost = d + q - i
                    if best == nil || cost < best!.2 { best = (q, j + d, cost) }
                }
                if let best { next = (best.0, best.1) }
                d += 1
            }
            guard let (ni, nj) = next else { break }
            i = ni; j = nj
        }
        return m
    }

    /// A region where the base and at least one other side differ: chunk ranges per side
    /// (side 0 is the base). Between spans all sides hold the same chunks.
    struct Span {
        var chunks: [Range<Int>]
    }

    /// The spans where `others` differ from `base`, in order.
    static func spans(base: ChunkSeq, others: [ChunkSeq]) -> [Span] {
        let ms = others.map { match(base.ids, $0.ids) }
        var out: [Span] = []
        var prev = [Int](repeating: -1, count: others.count + 1)
        func close(_ next: [Int]) {
            let r = (0...others.count).map { (prev[$0] + 1)..<next[$0] }
            if r.contains(where: { !$0.isEmpty }) { out.append(Span(chunks: r)) }
            prev = next
        }
        for k in 0..<base.count where ms.allSatisfy({ $0[k] >= 0 }) {
            close([k] + ms.map { $0[k] })
        }
        close([base.count] + others.map { $0.count })
        return out
    }
}

/// Splits bytes into CSV rows: a row ends at a line feed outside quotes (a carriage return
/// before it belongs to the row). Quotes follow the CSVScanner rules: a quote opens a quoted
/// field only at the start of a field; `""` inside is a quote; text after the closing quote
/// belongs to the field.
struct TableRowScanner {
    let delimiter: UInt8

    enum State { case fieldStart, unquoted, quoted, quoteSeen }

    /// The rows of `b[from..<to]` (each including its line feed; a last row without one is
    /// kept). `at` is the offset of `from` in its file, for messages.
    /// - Throws: `NotATable` when a quoted field is open at `to`.
    func rows(_ b: [UInt8], from: Int, to: Int, at: Int) throws -> [Range<Int>] {
        var out: [Range<Int>] = []
        let state = b.withUnsafeBufferPointer { p -> (State, Int) in
            var st = State.fieldStart
            var rowStart = from
            var i = from
            var openAt = -1
            let base = p.baseAddress!
            while i < to {
                // Fast path: outside quotes, jump to the next quote or line feed.
                if st == .fieldStart || st == .unquoted {
                    var j = i
                    if st == .unquoted || base[j] != 0x22 {
                        // find the next LF; if a quote comes first, handle it byte by byte
                        let lf = memchr(base + j, 0x0A, to - j).map { UnsafeRawPointer($0) - UnsafeRawPointer(base) } ?? to
                        let q = memchr(base + j, 0x22, lf - j).map { UnsafeRawPointer($0) - UnsafeRawPointer(base) } ?? lf
                        if q == lf {
                            if lf == to { i = to; st = .unquoted; break }
                            out.append(rowStart..<(lf + 1))
                            rowStart = lf + 1
                            i = lf + 1
                            st = .fieldStart
                            continue
                        }
                        // a quote before the line end: scan to it tracking field starts
                        while j < q {
                            st = base[j] == delimiter ? .fieldStart : .unquoted
                            j += 1
                        }
                        i = q
                        if st == .unquoted { i = q + 1; continue }
                    }
                    // a quote at a field start opens a quoted field
                    st = .quoted
                    openAt = i
                    i += 1
                    continue
                }
                let c = base[i]
                switch st {
                case .quoted:
                    if let h = memchr(base + i, 0x22, to - i) {
                        i = UnsafeRawPointer(h) - UnsafeRawPointer(base) + 1
                        st = .quoteSeen
                    } else { i = to }
                    continue
                case .quoteSeen:
                    if c == 0x22 { st = .quoted } else if c == delimiter { st = .fieldStart } else if c == 0x0A {
                        out.append(rowStart..<(i + 1)); rowStart = i + 1; st = .fieldStart
                    } else { st = .unquoted }
                default: break
                }
                i += 1
            }
            if rowStart < to && st != .quoted { out.append(rowStart..<to) }
            return (st, openAt)
        }
        if state.0 == .quoted { throw NotATable("unterminated quoted field at byte \(at + state.1 - from)") }
        return out
    }

    /// A row without its line end (LF or CRLF).
    static func content(_ r: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var e = r.endIndex
        if e > r.startIndex && r[e - 1] == 0x0A { e -= 1 }
        if e > r.startIndex && r[e - 1] == 0x0D { e -= 1 }
        return r[r.startIndex..<e]
    }

    /// The cells of one row (unquoted, untrimmed).
    func cells(_ row: ArraySlice<UInt8>) -> [String] {
        let r = TableRowScanner.content(row)
        var out: [String] = []
        var cur: [UInt8] = []
        var st = State.fieldStart
        for c in r {
            switch st {
            case .fieldStart:
                if c == 0x22 { st = .quoted } else if c == delimiter { out.append(""); if out.count >= TableLimits.cellsPerRow { return out } } else { cur.append(c); st = .unquoted }
            case .unquoted:
                if c == delimiter { out.append(String(decoding: cur, as: UTF8.self)); cur.removeAll(keepingCapacity: true); st = .fieldStart; if out.count >= TableLimits.cellsPerRow { return out } } else { cur.append(c) }
            case .quoted:
                if c == 0x22 { st = .quoteSeen } else { cur.append(c) }
            case .quoteSeen:
                if c == 0x22 { cur.append(c); st = .quoted } else if c == delimiter {
                    out.append(String(decoding: cur, as: UTF8.self)); cur.removeAll(keepingCapacity: true); st = .fieldStart
                    if out.count >= TableLimits.cellsPerRow { return out }
                } else { cur.append(c); st = .unquoted }
            }
        }
        out.append(String(decoding: cur, as: UTF8.self))
        return out
    }

    /// The cell at `index` of a row (nil when the row is shorter).
    func cell(_ row: ArraySlice<UInt8>, _ index: Int) -> String? {
        let c = cells(row)
        return index < c.count ? c[index] : nil
    }

    /// A row's text for messages: without its line end, cut to `TableLimits.rowText` bytes.
    static func text(_ row: ArraySlice<UInt8>) -> String {
        let c = content(row)
        return String(decoding: c.prefix(TableLimits.rowText), as: UTF8.self)
    }
}

/// Row-sequence diff: rows are interned to small integers first (hashed and compared as
/// bytes), common rows at both ends are skipped, and `LineDiff.diff` runs on what is left (one
/// replaced block when that is larger than `TableLimits.diffRows` rows on both sides).
enum RowDiff {
    typealias Row = ArraySlice<UInt8>

    /// Whether two rows hold the same bytes.
    @inline(__always)
    static func same(_ x: Row, _ y: Row) -> Bool {
        x.count == y.count && x.withUnsafeBytes { a in y.withUnsafeBytes { b in a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }
    }

    static func sameRows(_ x: ArraySlice<Row>, _ y: ArraySlice<Row>) -> Bool {
        x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
    }

    /// Equal rows get equal numbers, different rows different ones.
    static func intern(_ lists: [[Row]]) -> [[Int32]] {
        var first: [Int: (id: Int32, row: Row)] = [:]
        var more: [Int: [(id: Int32, row: Row)]] = [:]
        var next: Int32 = 0
        func id(_ r: Row) -> Int32 {
            let h = r.withUnsafeBytes { b -> Int in var x = Hasher(); x.combine(bytes: b); return x.finalize() }
            if let f = first[h] {
                if same(f.row, r) { return f.id }
                for m in more[h] ?? [] where same(m.row, r) { return m.id }
                next += 1
                more[h, default: []].append((next, r))
                return next
            }
            next += 1
            first[h] = (next, r)
            return next
        }
        return lists.map { $0.map(id) }
    }

    /// Common rows at both ends are compared as bytes; only the rows between are interned.
    static func diff(_ a: [Row], _ b: [Row]) -> [DiffRegion] {
        var p = 0
        while p < a.count && p < b.count && same(a[p], b[p]) { p += 1 }
        var s = 0
        while s < a.count - p && s < b.count - p && same(a[a.count - 1 - s], b[b.count - 1 - s]) { s += 1 }
        let na = a.count - p - s, nb = b.count - p - s
        if na == 0 && nb == 0 { return [] }
        if na == 0 || nb == 0 || na > TableLimits.diffRows || nb > TableLimits.diffRows {
            return [DiffRegion(aStart: p, aCount: na, bStart: p, bCount: nb)]
        }
        // Isolated one-row replacements (the row before and after the same on both sides, and
        // different from the replaced rows, so no other placement exists) are taken directly;
        // from the first change that is anything else, the line diff decides.
        var out: [DiffRegion] = []
        var i = p, j = p
        let ea = p + na, eb = p + nb
        while i < ea && j < eb {
            if same(a[i], b[j]) { i += 1; j += 1; continue }
            guard i + 1 < a.count, j + 1 < b.count, same(a[i + 1], b[j + 1]),
                  !same(a[i], a[i + 1]), !same(b[j], b[j + 1]),
                  i == 0 || !same(a[i], a[i - 1]), j == 0 || !same(b[j], b[j - 1]) else { break }
            out.append(DiffRegion(aStart: i, aCount: 1, bStart: j, bCount: 1))
            i += 1; j += 1
        }
        if i == ea && j == eb { return out }
        if i == ea || j == eb { return out + [DiffRegion(aStart: i, aCount: ea - i, bStart: j, bCount: eb - j)] }
        let ids = intern([Array(a[i..<ea]), Array(b[j..<eb])])
        return out + LineDiff.diff(ids[0], ids[1]).map { DiffRegion(aStart: $0.aStart + i, aCount: $0.aCount, bStart: $0.bStart + j, bCount: $0.bCount) }
    }

}

/// Widens a changed region to whole rows on every side at once.
///
/// The region is [start, end) on each side, and the bytes before `start` (back to `lo`
/// bytes before it) and after `end` (up to `hi` bytes after it) are the same on every side,
/// so one distance back and one forward serve all sides. The start goes back to a line start;
/// as a line break may sit inside a quoted field, line starts further back are tried (up to
/// 16) until the first row there has as many cells as the header. The end goes forward to a
/// line end, and further while a side would end inside a quoted field.
struct RowWidener {
    let scanner: TableRowScanner
    /// Cells in the header (0: unknown, no check).
    let headerCells: Int

    struct Side { let source: TableSource; let start: Int; let end: Int }
    struct Widened {
        var ranges: [Range<Int>]
        var bytes: [[UInt8]]
        var rows: [[Range<Int>]]
    }

    func widen(_ sides: [Side], back maxBack: Int, forward maxFwd: Int) throws -> Widened {
        let s0 = sides[0]
        let lo = s0.start - maxBack, hi = s0.end + maxFwd
        // Line starts before the region, nearest first.
        var starts: [Int] = []
        var pos = s0.start
        while starts.count < 17 {
            if let lf = try s0.source.lastLineFeed(before: pos, limit: lo) { starts.append(lf + 1); pos = lf } else { starts.append(lo); break }
            if pos == lo { break }
        }
        var back = s0.start - starts[0]
        if headerCells > 0 && starts.count > 1 {
            for st in starts {
                let end = try s0.source.firstLineFeed(from: st, limit: min(hi, st + TableLimits.rowSearchBytes)).map { $0 + 1 } ?? hi
                let b = try s0.source.bytes(st, max(st, min(end, hi)))
                if cellCount(b[...]) == headerCells { back = s0.start - st; break }
            }
        }
        var fwd = (try s0.source.firstLineFeed(from: s0.end, limit: hi).map { $0 + 1 } ?? hi) - s0.end
        var tries = 0
        while true {
            var out = Widened(ranges: [], bytes: [], rows: [])
            do {
                for s in sides {
                    let r = (s.start - back)..<(s.end + fwd)
                    let b = try s.source.bytes(r.lowerBound, r.upperBound)
                    out.rows.append(try scanner.rows(b, from: 0, to: b.count, at: r.lowerBound))
                    out.bytes.append(b)
                    out.ranges.append(r)
                }
                return out
            } catch let e as NotATable {
                // A quoted field open at the end: take in the next line too.
                tries += 1
                guard e.reason.hasPrefix("unterminated"), tries < 1000, s0.end + fwd < hi,
                      let lf = try s0.source.firstLineFeed(from: s0.end + fwd, limit: hi) else { throw e }
                fwd = lf + 1 - s0.end
            }
        }
    }

    /// Cells in the first row of `b` (quotes as the scanner reads them).
    func cellCount(_ b: ArraySlice<UInt8>) -> Int {
        var n = 1
        var st = TableRowScanner.State.fieldStart
        for c in b {
            switch st {
            case .fieldStart, .unquoted:
                if c == 0x0A { return n }
                if c == scanner.delimiter { n += 1; st = .fieldStart } else if c == 0x22 && st == .fieldStart { st = .quoted } else { st = .unquoted }
            case .quoted: if c == 0x22 { st = .quoteSeen }
            case .quoteSeen:
                if c == 0x22 { st = .quoted } else if c == 0x0A { return n } else if c == scanner.delimiter { n += 1; st = .fieldStart } else { st = .unquoted }
            }
        }
        return n
    }
}
