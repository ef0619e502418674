#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Support
import Synchronization

// The parallel CSV reader behind `DatasetReader.readCSV`.
//
// 1. The file is memory-mapped; the header is parsed on its own.
// 2. The data is cut into chunks (4 per thread, at most 16 MiB each) just after a line feed,
//    and every chunk's line ends are counted in parallel (SIMD, ~10 GB/s). A chunk that
//    starts at a record start holds at most that many records, so every chunk gets a fixed
//    slot of rows in the one float32 matrix, which is allocated once and never grows. A
//    chunk's pages are dropped from the process once counted and again once parsed, so the
//    resident size is the matrix plus a few chunks, whatever the file's size.
// 3. The chunks are parsed in parallel, each straight into its slot. A chunk parses every
//    record that *starts* before its end and finishes the last one past it.
// 4. In file order, a chunk whose start is not where the previous chunk's last record ended
//    (its boundary fell inside a quoted field holding a line feed) is parsed again from the
//    right place. The first error in file order is reported; line numbers are counted only
//    then.
// 5. Slots are compacted where a chunk held fewer records than line ends (quoted line feeds,
//    trailing blank lines) and the label column is assembled.
//
// Labels are interned per chunk (a byte-keyed table: only distinct names are ever copied) and
// stored as codes; a chunk whose labels are all numbers and that sees more than
// `labelInternLimit` distinct values stores the numbers instead. Should text then appear, the
// file is parsed again with unlimited interning (needs > 4,096 distinct numbers in a chunk
// before the first text label: rare).

private let dsComma: UInt8 = 0x2C
private let dsQuote: UInt8 = 0x22
private let dsLF: UInt8 = 0x0A
private let dsCR: UInt8 = 0x0D

let datasetLabelRole: Int32 = -1
let datasetSkipRole: Int32 = -2

/// The header resolved against the caller's column choice.
struct DatasetLayout {
    let path: String
    let names: [String]
    /// Per file column: the feature index (≥ 0), `datasetLabelRole` or `datasetSkipRole`.
    let roles: [Int32]
    let featureNames: [String]
    let labelIndex: Int?
    var cols: Int { featureNames.count }
}

/// An error found by a chunk, kept as a byte offset; the line is counted when it is reported.
struct DatasetPendingError {
    var offset: Int
    var column: Int?
    var reason: String
}

enum DatasetCSVReader {
    static let labelInternLimit = 4_096
    static let minChunkBytes = 64 << 10
    static let chunksPerThread = 4
    static let maxChunkBytes = 16 << 20

    static func read(path: String, label: String?, features: [String]?, threads: Int) throws -> Dataset {
        let file = try datasetMap(path)
        return try withExtendedLifetime(file) { () throws -> Dataset in
            let bytes = file.bytes
            guard let raw = bytes.baseAddress, bytes.count > 0 else { throw DatasetError(path: path, "is empty") }
            let p = raw.assumingMemoryBound(to: UInt8.self)
            let n = bytes.count
            let (names, dataStart) = try header(p, n, path: path)
            let layout = try resolve(names: names, label: label, features: features, path: path)
            if let d = try parse(p, n, dataStart, layout, threads: threads, internLimit: labelInternLimit, file: file) {
                return d
            }
            // Text labels after many distinct numbers in one chunk: intern everything.
            guard let d = try parse(p, n, dataStart, layout, threads: threads, internLimit: .max, file: file) else {
                throw DatasetError(path: path, "could not be parsed (internal error: label interning)")
            }
            return d
        }
    }

    // MARK: Header and columns

    /// The header's names (trimmed, made unique as the profiler does) and the data's offset.
    static func header(_ p: UnsafePointer<UInt8>, _ n: Int, path: String) throws -> (names: [String], dataStart: Int) {
        var i = 0
        if n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF { i = 3 }
        while i < n && (p[i] == dsLF || p[i] == dsCR) { i += 1 }   // blank lines before the header
        guard i < n else { throw DatasetError(path: path, "is empty") }
        var raw: [String] = []
        while true {
            let f = datasetScanField(p, i, n)
            if f.next < 0 {
                throw DatasetError(path: path, line: datasetLine(p, f.start, n),
                                   "unterminated quoted field in the header")
            }
            raw.append(datasetFieldText(p, f))
            i = f.next
            if i >= n { break }
            let d = p[i]
            i += 1
            if d == dsComma { continue }
            if d == dsCR && i < n && p[i] == dsLF { i += 1 }
            break
        }
        return (CSVProfilerCore.uniqueNames(raw), i)
    }

    static func resolve(names: [String], label: String?, features: [String]?, path: String) throws -> DatasetLayout {
        var index: [String: Int] = [:]
        for (k, name) in names.enumerated() { index[name] = k }
        func noColumn(_ c: String) -> DatasetError {
            let shown = names.count <= 20 ? names.joined(separator: ", ")
                : names.prefix(20).joined(separator: ", ") + ", ... (\(names.count) in all)"
            return DatasetError(path: path, "has no column '\(c)' (columns: \(shown))")
        }
        var roles = [Int32](repeating: datasetSkipRole, count: names.count)
        var labelIndex: Int? = nil
        if let label {
            guard let k = index[label] else { throw noColumn(label) }
            roles[k] = datasetLabelRole
            labelIndex = k
        }
        var featureNames: [String] = []
        if let features {
            for f in features {
                guard let k = index[f] else { throw noColumn(f) }
                if k == labelIndex { throw DatasetError(path: path, "column '\(f)' is the label; it cannot also be a feature") }
                if roles[k] >= 0 { throw DatasetError(path: path, "column '\(f)' is selected twice as a feature") }
                roles[k] = Int32(featureNames.count)
                featureNames.append(f)
            }
        } else {
            for k in names.indices where k != labelIndex {
                roles[k] = Int32(featureNames.count)
                featureNames.append(names[k])
            }
        }
        if featureNames.isEmpty && labelIndex == nil {
            throw DatasetError(path: path, "has no columns selected (no feature columns and no label)")
        }
        return DatasetLayout(path: path, names: names, roles: roles, featureNames: featureNames, labelIndex: labelIndex)
    }

    // MARK: Parse

    /// Parses the data; nil when labels must be parsed again with unlimited interning. Pages of
    /// `file` are dropped from the process once counted and once parsed (they stay in the page
    /// cache), so the resident size stays near the matrix's whatever the file's size.
    static func parse(_ p: UnsafePointer<UInt8>, _ n: Int, _ dataStart: Int, _ layout: DatasetLayout,
                      threads: Int, internLimit: Int, file: MappedFile) throws -> Dataset? {
        let path = layout.path
        guard dataStart < n else { throw DatasetError(path: path, "has no data rows") }

        // Chunks start just after a line feed.
        let dataBytes = n - dataStart
        // At least `chunksPerThread` per thread (balance) and at most `maxChunkBytes` each (the
        // file's resident pages), none under `minChunkBytes`.
        let wanted = max(1, min(max(threads * chunksPerThread, dataBytes / maxChunkBytes), dataBytes / minChunkBytes))
        var cuts = [dataStart]
        for k in 1..<max(wanted, 1) {
            let last = cuts[cuts.count - 1]
            let target = max(dataStart + Int((Double(k) / Double(wanted)) * Double(dataBytes)), last)
            guard target < n, let hit = memchr(p + target, Int32(dsLF), n - target) else { break }
            let b = UnsafeRawPointer(hit) - UnsafeRawPointer(p) + 1
            if b >= n { break }
            if b > last { cuts.append(b) }
        }
        let starts = cuts
        let chunks = starts.count
        let ends = (0..<chunks).map { k in k + 1 < chunks ? starts[k + 1] : n }

        // Row slots: a chunk holds at most as many records as line ends (the last one also a
        // record without a line end).
        var upper = [Int](repeating: 0, count: chunks)
        upper.withUnsafeMutableBufferPointer { u in
            let box = DatasetSendable(u)
            datasetParallel(chunks, threads: threads) { k in
                box.value[k] = datasetCountTerminators(p, starts[k], ends[k], n)
                datasetRelease(file, starts[k], ends[k])
            }
        }
        upper[chunks - 1] += 1
        var bases = [Int](repeating: 0, count: chunks)
        var totalUpper = 0
        for k in 0..<chunks {
            bases[k] = totalUpper
            totalUpper += upper[k]
        }
        let rowBase = bases

        let cols = layout.cols
        let hasLabel = layout.labelIndex != nil
        let roles = UnsafeMutablePointer<Int32>.allocate(capacity: max(layout.roles.count, 1))
        defer { roles.deallocate() }
        for (k, r) in layout.roles.enumerated() { roles[k] = r }
        // Label codes or numbers per row; becomes the numeric label column in place.
        var labelStore = [Double](repeating: 0, count: hasLabel ? totalUpper : 0)
        let tables = DatasetNumberTables()
        defer { tables.free() }
        let dummy = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        defer { dummy.deallocate() }
        let dummyLabel = UnsafeMutablePointer<Double>.allocate(capacity: 1)
        defer { dummyLabel.deallocate() }

        var results: [DatasetChunk] = []
        var rows = 0
        let features = try labelStore.withUnsafeMutableBufferPointer { labelBuffer in
            let labels = labelBuffer.baseAddress ?? dummyLabel
            return try [Float](unsafeUninitializedCapacity: totalUpper * cols) { buffer, count in
                count = 0
                let ctx = DatasetCSVContext(p: p, n: n, ncols: layout.roles.count, roles: roles, cols: cols,
                                            features: buffer.baseAddress ?? dummy, labels: labels,
                                            numbers: tables, internLimit: internLimit)
                let slots = UnsafeMutablePointer<DatasetChunk?>.allocate(capacity: chunks)
                slots.initialize(repeating: nil, count: chunks)
                defer {
                    slots.deinitialize(count: chunks)
                    slots.deallocate()
                }
                let box = DatasetSendable(slots)
                datasetParallel(chunks, threads: threads) { k in
                    var c = DatasetChunk(ctx, rowBase: rowBase[k])
                    c.run(from: starts[k], to: ends[k])
                    c.release()
                    datasetRelease(file, starts[k], max(ends[k], c.stop))
                    box.value[k] = c
                }

                // In file order: re-parse misaligned chunks, report the first error.
                var pos = dataStart
                var pendingBlank: DatasetPendingError? = nil
                results.reserveCapacity(chunks)
                for k in 0..<chunks {
                    var c: DatasetChunk
                    if let parsed = slots[k], pos == starts[k] {
                        c = parsed
                    } else {
                        c = DatasetChunk(ctx, rowBase: rowBase[k])
                        c.run(from: pos, to: ends[k])
                        c.release()
                    }
                    slots[k] = nil
                    if let b = pendingBlank, c.rows > 0 || c.error != nil { throw report(b, layout, p, n) }
                    if let e = c.error { throw report(e, layout, p, n) }
                    if pendingBlank == nil { pendingBlank = c.blankError() }
                    pos = c.stop
                    results.append(c)
                }
                rows = results.reduce(0) { $0 + $1.rows }
                guard rows > 0 else { throw DatasetError(path: path, "has no data rows") }

                // Close the gaps between slots (rare: quoted line feeds, blank lines at the end).
                var dest = 0
                for k in 0..<chunks {
                    let r = results[k].rows
                    if dest != rowBase[k] && r > 0 {
                        if cols > 0, let base = buffer.baseAddress {
                            memmove(base + dest * cols, base + rowBase[k] * cols, r * cols * MemoryLayout<Float>.stride)
                        }
                        if hasLabel { memmove(labels + dest, labels + rowBase[k], r * MemoryLayout<Double>.stride) }
                    }
                    results[k].rowBase = dest
                    dest += r
                }
                count = rows * cols
            }
        }

        var labelColumn: LabelColumn? = nil
        if hasLabel {
            let anyText = results.contains { !$0.allNumeric }
            if results.contains(where: { $0.lostText }) || (anyText && results.contains { !$0.interning }) {
                return nil
            }
            if anyText {
                labelColumn = labelStore.withUnsafeBufferPointer { categorical(results, $0, rows) }
            } else {
                labelStore.withUnsafeMutableBufferPointer { numbers(results, $0) }
                labelStore.removeLast(labelStore.count - rows)   // keeps the storage: no copy
                labelColumn = .numeric(labelStore)
            }
        }
        return Dataset(rows: rows, cols: cols, features: features, featureNames: layout.featureNames,
                       labelName: layout.labelIndex.map { layout.names[$0] }, label: labelColumn)
    }

    private static func report(_ e: DatasetPendingError, _ layout: DatasetLayout, _ p: UnsafePointer<UInt8>, _ n: Int) -> DatasetError {
        let column = e.column.flatMap { $0 < layout.names.count ? layout.names[$0] : nil }
        return DatasetError(path: layout.path, line: datasetLine(p, e.offset, n), column: column, e.reason)
    }

    /// Replaces interned codes by their numbers, in place.
    private static func numbers(_ chunks: [DatasetChunk], _ labels: UnsafeMutableBufferPointer<Double>) {
        for c in chunks where c.rows > 0 && c.interning {
            c.values.withUnsafeBufferPointer { v in
                for r in c.rowBase..<(c.rowBase + c.rows) { labels[r] = v[Int(labels[r])] }
            }
        }
    }

    private static func categorical(_ chunks: [DatasetChunk], _ labels: UnsafeBufferPointer<Double>, _ rows: Int) -> LabelColumn {
        var index: [String: Int32] = [:]
        var names: [String] = []
        let codes = [Int32](unsafeUninitializedCapacity: rows) { out, count in
            for c in chunks where c.rows > 0 {
                var map = [Int32](repeating: 0, count: c.table.entryCount)
                for e in 0..<c.table.entryCount {
                    let name = String(decoding: c.table.key(e), as: UTF8.self)
                    if let code = index[name] {
                        map[e] = code
                    } else {
                        let code = Int32(names.count)
                        index[name] = code
                        names.append(name)
                        map[e] = code
                    }
                }
                map.withUnsafeBufferPointer { m in
                    for r in c.rowBase..<(c.rowBase + c.rows) { out[r] = m[Int(labels[r])] }
                }
            }
            count = rows
        }
        return .categorical(codes: codes, names: names)
    }
}

// MARK: - Chunk parser

struct DatasetCSVContext {
    let p: UnsafePointer<UInt8>
    let n: Int
    let ncols: Int
    let roles: UnsafePointer<Int32>
    let cols: Int
    let features: UnsafeMutablePointer<Float>
    let labels: UnsafeMutablePointer<Double>
    let numbers: DatasetNumberTables
    let internLimit: Int
}

/// One chunk's parse: its rows (written straight into the shared matrix) and label state.
struct DatasetChunk {
    let ctx: DatasetCSVContext
    var rowBase: Int
    var rows = 0
    /// Offset just past the last record parsed.
    var stop = 0
    var error: DatasetPendingError? = nil
    /// First of the blank lines at the chunk's end (an error if any record follows).
    var blankOffset: Int? = nil

    // Labels: codes into `table` while `interning`, else the numbers themselves.
    var interning = true
    var table = CountTable(slotCount: 16)
    var values: [Double] = []      // per table entry: its number (when allNumeric)
    var allNumeric = true
    var lostText = false            // text after interning stopped: parse again

    private var scratch: UnsafeMutablePointer<UInt8>? = nil
    private var scratchCapacity = 0

    init(_ ctx: DatasetCSVContext, rowBase: Int) {
        self.ctx = ctx
        self.rowBase = rowBase
    }

    mutating func release() {
        scratch?.deallocate()
        scratch = nil
        scratchCapacity = 0
    }

    /// Parses every record that starts in [start, chunkEnd).
    mutating func run(from start: Int, to chunkEnd: Int) {
        let p = ctx.p, n = ctx.n, ncols = ctx.ncols, roles = ctx.roles, cols = ctx.cols
        let features = ctx.features, numbers = ctx.numbers
        var i = start
        var row = 0
        defer { rows = row }
        while i < chunkEnd {
            let c0 = p[i]
            if c0 == dsLF || c0 == dsCR {
                if blankOffset == nil { blankOffset = i }
                i &+= 1
                if c0 == dsCR && i < n && p[i] == dsLF { i &+= 1 }
                continue
            }
            if blankOffset != nil {
                error = blankError()
                return
            }
            let recordStart = i
            let out = features + (rowBase &+ row) &* cols
            var field = 0
            var cellError: DatasetPendingError? = nil
            while true {
                let role = field < ncols ? roles[field] : datasetSkipRole
                if role >= 0 {
                    if let r = datasetFastNumber(p, i, n, numbers), r.next == n || datasetIsDelimiter(p[r.next]) {
                        let f = r.value
                        if f.isFinite {
                            out[Int(role)] = f
                        } else if cellError == nil {
                            cellError = DatasetPendingError(offset: i, column: field,
                                                            reason: "'\(datasetShow(p + i, r.next - i))' is out of float32 range")
                        }
                        i = r.next
                    } else {
                        i = slowFeature(i, field, out + Int(role), &cellError)
                    }
                } else if role == datasetLabelRole {
                    i = labelCell(i, field, rowBase &+ row, &cellError)
                } else if i < n && p[i] != dsQuote {
                    i = CSVProfilerCore.delimiter(p, from: i, n)
                } else {
                    let f = datasetScanField(p, i, n)
                    if f.next < 0 { error = unterminated(f.start, field); return }
                    i = f.next
                }
                if i < 0 { return }
                field &+= 1
                if i >= n { break }
                let d = p[i]
                i &+= 1
                if d == dsComma { continue }
                if d == dsCR && i < n && p[i] == dsLF { i &+= 1 }
                break
            }
            if field != ncols {
                error = DatasetPendingError(offset: recordStart, column: nil,
                                            reason: "\(field) field\(field == 1 ? "" : "s"), header has \(ncols)")
                return
            }
            if let e = cellError {
                error = e
                return
            }
            row &+= 1
        }
        stop = i
    }

    /// A blank line followed by a record is a record of one empty field.
    func blankError() -> DatasetPendingError? {
        guard let b = blankOffset else { return nil }
        if ctx.ncols != 1 { return DatasetPendingError(offset: b, column: nil, reason: "1 field, header has \(ctx.ncols)") }
        return DatasetPendingError(offset: b, column: 0,
                                   reason: ctx.roles[0] == datasetLabelRole ? "missing label" : "missing value")
    }

    private func unterminated(_ offset: Int, _ field: Int) -> DatasetPendingError {
        DatasetPendingError(offset: offset, column: field, reason: "unterminated quoted field")
    }

    /// The field's text: in the map, or unquoted into the scratch buffer.
    private mutating func text(_ f: DatasetField) -> (UnsafePointer<UInt8>, Int) {
        if !f.assemble { return (ctx.p + f.start, f.count) }
        if scratchCapacity < f.count {
            scratch?.deallocate()
            scratchCapacity = max(f.count, 256)
            scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: scratchCapacity)
        }
        guard let s = scratch else { return (ctx.p + f.start, 0) }
        return (UnsafePointer(s), datasetUnquote(ctx.p, f.start, f.count, into: s))
    }

    /// A feature cell off the fast path: quoted, padded, missing, long, or not a number.
    private mutating func slowFeature(_ i: Int, _ field: Int, _ dest: UnsafeMutablePointer<Float>,
                                      _ cellError: inout DatasetPendingError?) -> Int {
        let f = datasetScanField(ctx.p, i, ctx.n)
        if f.next < 0 { error = unterminated(f.start, field); return -1 }
        if cellError != nil { return f.next }
        var (q, len) = text(f)
        datasetTrim(&q, &len)
        if len == 0 {
            cellError = DatasetPendingError(offset: i, column: field, reason: "missing value")
            return f.next
        }
        switch profileParseNumber(q, len) {
        case .integer(let v), .float(let v):
            let x = Float(v)
            if x.isFinite {
                dest.pointee = x
            } else {
                cellError = DatasetPendingError(offset: i, column: field, reason: "'\(datasetShow(q, len))' is out of float32 range")
            }
        case .notNumber:
            cellError = DatasetPendingError(offset: i, column: field, reason: datasetNotANumber(q, len))
        }
        return f.next
    }

    private mutating func labelCell(_ i: Int, _ field: Int, _ slot: Int, _ cellError: inout DatasetPendingError?) -> Int {
        let f = datasetScanField(ctx.p, i, ctx.n)
        if f.next < 0 { error = unterminated(f.start, field); return -1 }
        var (q, len) = text(f)
        datasetTrim(&q, &len)
        if len == 0 {
            if cellError == nil { cellError = DatasetPendingError(offset: i, column: field, reason: "missing label") }
            return f.next
        }
        let labels = ctx.labels
        if interning {
            let h = profileHash(q, len)
            let r = table.find(h, q, len)
            if r >= 0 {
                labels[slot] = Double(r)
                return f.next
            }
            if !allNumeric || table.entryCount < ctx.internLimit {
                let code = table.entryCount
                table.insert(slot: -r - 1, h, q, len, count: 1)
                let v = datasetLabelNumber(q, len)
                if v == nil { allNumeric = false }
                values.append(v ?? 0)
                labels[slot] = Double(code)
                return f.next
            }
            // Many distinct numbers: keep the numbers instead.
            values.withUnsafeBufferPointer { v in
                for s in rowBase..<slot { labels[s] = v[Int(labels[s])] }
            }
            interning = false
            table = CountTable(slotCount: 1)
            values = []
        }
        if let v = datasetLabelNumber(q, len) { labels[slot] = v } else { lostText = true }
        return f.next
    }
}

// MARK: - Bytes

@inline(__always)
func datasetIsDelimiter(_ c: UInt8) -> Bool { c == dsComma || c == dsLF || c == dsCR }

/// A field's extent. `next` is the offset of the delimiter after it (or the end), or -1 when a
/// quoted field is still open at the end of the file (`start` is then the quote).
/// `assemble`: [start, start + count) is the raw quoted text, to be unquoted.
struct DatasetField {
    var start: Int
    var count: Int
    var assemble: Bool
    var next: Int
}

/// The field that starts at `i` (CSVProfiler's rules: a field starting with `"` is quoted, `""`
/// inside is one quote, text after the closing quote belongs to the field).
@inline(__always)
func datasetScanField(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> DatasetField {
    if i >= n || p[i] != dsQuote {
        let j = CSVProfilerCore.delimiter(p, from: i, n)
        return DatasetField(start: i, count: j - i, assemble: false, next: j)
    }
    var j = i + 1
    var escaped = false
    while true {
        guard j < n, let hit = memchr(p + j, Int32(dsQuote), n - j) else {
            return DatasetField(start: i, count: 0, assemble: false, next: -1)
        }
        let q = UnsafeRawPointer(hit) - UnsafeRawPointer(p)
        if q + 1 < n && p[q + 1] == dsQuote {
            escaped = true
            j = q + 2
            continue
        }
        let after = q + 1
        if after >= n || datasetIsDelimiter(p[after]) {
            if escaped { return DatasetField(start: i, count: after - i, assemble: true, next: after) }
            return DatasetField(start: i + 1, count: q - i - 1, assemble: false, next: after)
        }
        let d = CSVProfilerCore.delimiter(p, from: after, n)
        return DatasetField(start: i, count: d - i, assemble: true, next: d)
    }
}

/// Unquotes the raw field [start, start + count) (it starts with a quote) into `out`, which holds
/// at least `count` bytes; returns the length.
func datasetUnquote(_ p: UnsafePointer<UInt8>, _ start: Int, _ count: Int, into out: UnsafeMutablePointer<UInt8>) -> Int {
    var j = start + 1
    let e = start + count
    var o = 0
    while j < e {
        let c = p[j]
        if c == dsQuote {
            if j + 1 < e && p[j + 1] == dsQuote {
                out[o] = dsQuote
                o += 1
                j += 2
                continue
            }
            j += 1
            break
        }
        out[o] = c
        o += 1
        j += 1
    }
    while j < e {
        out[o] = p[j]
        o += 1
        j += 1
    }
    return o
}

func datasetFieldText(_ p: UnsafePointer<UInt8>, _ f: DatasetField) -> String {
    if !f.assemble { return String(decoding: UnsafeBufferPointer(start: p + f.start, count: f.count), as: UTF8.self) }
    var buf = [UInt8](repeating: 0, count: f.count)
    let len = buf.withUnsafeMutableBufferPointer { b in
        guard let base = b.baseAddress else { return 0 }
        return datasetUnquote(p, f.start, f.count, into: base)
    }
    return String(decoding: buf[0..<len], as: UTF8.self)
}

@inline(__always)
func datasetTrim(_ q: inout UnsafePointer<UInt8>, _ len: inout Int) {
    while len > 0 && (q[0] == 0x20 || q[0] == 0x09) { q += 1; len -= 1 }
    while len > 0 && (q[len - 1] == 0x20 || q[len - 1] == 0x09) { len -= 1 }
}

/// A label cell as a finite number, or nil.
@inline(__always)
func datasetLabelNumber(_ q: UnsafePointer<UInt8>, _ len: Int) -> Double? {
    switch profileParseNumber(q, len) {
    case .integer(let v), .float(let v): return v
    case .notNumber: return nil
    }
}

/// Why a (trimmed, non-empty) feature cell is not a number.
func datasetNotANumber(_ q: UnsafePointer<UInt8>, _ len: Int) -> String {
    let shown = datasetShow(q, len)
    if let d = Double(String(decoding: UnsafeBufferPointer(start: q, count: len), as: UTF8.self)), !d.isFinite {
        return "'\(shown)' is not a finite number"
    }
    if len <= 4 && profileIsMissing(q, len) { return "missing value ('\(shown)')" }
    return "'\(shown)' is not a number"
}

/// 1-based line of `offset`: line ends before it (LF, CRLF or a lone CR) plus one.
func datasetLine(_ p: UnsafePointer<UInt8>, _ offset: Int, _ n: Int) -> Int {
    1 + datasetCountTerminators(p, 0, offset, n)
}

/// Line ends in [s, e): line feeds plus carriage returns not followed by a line feed (looking
/// up to `n` past `e`). Sixteen bytes at a time, per-byte matches summed in byte lanes.
func datasetCountTerminators(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int, _ n: Int) -> Int {
    let raw = UnsafeRawPointer(p)
    let lfs = SIMD16<UInt8>(repeating: dsLF), crs = SIMD16<UInt8>(repeating: dsCR), ones = SIMD16<UInt8>(repeating: 1)
    var lf = 0, cr = 0
    var i = s
    while i &+ 16 <= e {
        let stop = min(e, i &+ 16 &* 255)   // a byte lane holds up to 255
        var a = SIMD16<UInt8>(), b = SIMD16<UInt8>()
        while i &+ 16 <= stop {
            let v = raw.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
            a &+= ones.replacing(with: 0, where: v .!= lfs)
            b &+= ones.replacing(with: 0, where: v .!= crs)
            i &+= 16
        }
        lf &+= Int(SIMD16<UInt16>(truncatingIfNeeded: a).wrappedSum())
        cr &+= Int(SIMD16<UInt16>(truncatingIfNeeded: b).wrappedSum())
    }
    while i < e {
        if p[i] == dsLF { lf &+= 1 } else if p[i] == dsCR { cr &+= 1 }
        i &+= 1
    }
    if cr > 0 {   // CRLF counts once
        var j = s
        while j < e, let hit = memchr(p + j, Int32(dsCR), e - j) {
            let q = UnsafeRawPointer(hit) - raw
            if q + 1 < n && p[q + 1] == dsLF { cr -= 1 }
            j = q + 1
        }
    }
    return lf + cr
}

// MARK: - Numbers

/// Powers of ten for the fast number path, allocated per read (no global-initialisation check
/// in the hot loop): `scale[k + 22]` = 10^k rounded to a Double (exact for k ≥ 0), `pow10` exact
/// Doubles 10^0...10^22, `pow10i` exact integers 10^0...10^19.
struct DatasetNumberTables {
    let scale: UnsafeMutablePointer<Double>
    let pow10: UnsafeMutablePointer<Double>
    let pow10i: UnsafeMutablePointer<UInt64>

    init() {
        scale = .allocate(capacity: 45)
        pow10 = .allocate(capacity: 23)
        pow10i = .allocate(capacity: 20)
        var d = 1.0
        for k in 0..<23 { pow10[k] = d; d *= 10 }
        for k in -22...22 { scale[k + 22] = k >= 0 ? pow10[k] : 1 / pow10[-k] }   // one correctly rounded division
        var u: UInt64 = 1
        for k in 0..<20 { pow10i[k] = u; if k < 19 { u &*= 10 } }
    }

    func free() {
        scale.deallocate()
        pow10.deallocate()
        pow10i.deallocate()
    }
}

/// A plain decimal number at `p[i...]` (`[+-]digits[.digits][e[+-]digits]`, at most 19
/// significant digits, |exponent| ≤ 22) as a Float, and the offset after it; nil for anything
/// else (the caller then takes the general path through `profileParseNumber`).
///
/// The result is always Float(correctly rounded Double), as numpy's `astype(float32)` of a parsed
/// float64 gives. Exact cases (an integer mantissa ≤ 2^53 times an exact 10^k) take one rounding.
/// Otherwise `Double(m) * 10^k` (10^k rounded) is within 2 Double ulps of the correctly rounded
/// Double, so it converts to the same Float unless a Float rounding boundary (a Double whose low
/// 29 mantissa bits are 1000…0) is that close, or the value is in Float's subnormal range: those
/// rare cases are computed exactly.
@inline(always)
func datasetFastNumber(_ p: UnsafePointer<UInt8>, _ start: Int, _ n: Int,
                       _ t: DatasetNumberTables) -> (value: Float, next: Int)? {
    var i = start
    if i >= n { return nil }
    var negative = false
    let c = p[i]
    if c == 0x2D { negative = true; i &+= 1 } else if c == 0x2B { i &+= 1 }
    var m: UInt64 = 0
    var digits = datasetDigitRun(p, &i, n, &m, t.pow10i)   // all digits seen
    var significant = m == 0 ? 0 : digits
    var exponent = 0
    if i < n && p[i] == 0x2E {
        i &+= 1
        if m == 0 && i < n && p[i] == 0x30 {   // leading zeros of a fraction do not count
            let z = i
            datasetSkipZeros(p, &i, n)
            exponent = z &- i
            digits &+= i &- z
        }
        let frac = datasetDigitRun(p, &i, n, &m, t.pow10i)
        exponent &-= frac
        digits &+= frac
        significant &+= frac
    }
    if digits == 0 || significant > 19 { return nil }
    if i < n && p[i] | 0x20 == 0x65 {
        i &+= 1
        var expNegative = false
        if i < n && (p[i] == 0x2D || p[i] == 0x2B) { expNegative = p[i] == 0x2D; i &+= 1 }
        let expStart = i
        var e = 0
        while i < n {
            let d = p[i] &- 0x30
            if d > 9 { break }
            if e < 100_000 { e = e &* 10 &+ Int(d) }
            i &+= 1
        }
        if i == expStart { return nil }
        exponent &+= expNegative ? -e : e
    }
    var f: Float = 0
    if m != 0 {
        guard exponent >= -22 && exponent <= 22 else { return nil }
        // m < 2^63 but with 19 digits; a signed conversion is one instruction.
        let v = (significant < 19 ? Double(Int64(bitPattern: m)) : Double(m)) * t.scale[exponent &+ 22]
        if exponent >= 0 && m <= UInt64(1) << 53 {
            f = Float(v)
        } else {
            let low = v.bitPattern & 0x1FFF_FFFF
            if low &- 0x0FFF_FFFB <= 10 || v < 0x1p-125 {
                guard let d = datasetExactDouble(m, exponent, t) else { return nil }
                f = Float(d)
            } else {
                f = Float(v)
            }
        }
    }
    return (negative ? -f : f, i)
}

/// Appends the run of decimal digits at `p[i...]` to `m` (wrapping past 19 digits; callers
/// count), advancing `i` past it; returns the run's length. Eight bytes at a time: the run's
/// length within the word comes from a per-byte digit test, and that many digits are converted
/// at once (SWAR, as in simdjson), so numbers of varying length cost no mispredicted branches.
@inline(always)
func datasetDigitRun(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ n: Int, _ m: inout UInt64,
                     _ pow10i: UnsafePointer<UInt64>) -> Int {
    let start = i
    let raw = UnsafeRawPointer(p)
    let zeros: UInt64 = 0x3030_3030_3030_3030, highs: UInt64 = 0x8080_8080_8080_8080
    @inline(__always) func combine(_ d: UInt64) -> UInt64 {   // 8 digit values, first in the low byte
        let w = (d &* 10) &+ (d >> 8)
        let mask: UInt64 = 0x0000_00FF_0000_00FF
        return ((w & mask) &* (100 &+ (1_000_000 << 32)) &+ ((w >> 16) & mask) &* (1 &+ (10_000 << 32))) >> 32
    }
    while i &+ 8 <= n {
        // t = byte - '0': a digit iff t ≤ 9, i.e. neither t nor t + 0x76 has its high bit. A borrow
        // or carry out of a byte comes only from a non-digit and only disturbs the bytes after it.
        let t = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &- zeros
        let nonDigits = ((t &+ 0x7676_7676_7676_7676) | t) & highs
        if nonDigits == 0 {
            m = m &* 100_000_000 &+ combine(t)
            i &+= 8
            continue
        }
        let len = nonDigits.trailingZeroBitCount >> 3
        if len > 0 {
            // Digits to the high bytes; the zero bytes below act as leading zeros.
            m = m &* pow10i[len] &+ combine(t << UInt64((8 &- len) &<< 3))
            i &+= len
        }
        return i &- start
    }
    while i < n {
        let d = p[i] &- 0x30
        if d > 9 { break }
        m = m &* 10 &+ UInt64(d)
        i &+= 1
    }
    return i &- start
}

/// Advances `i` past a run of '0' bytes, eight at a time.
@inline(always)
func datasetSkipZeros(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ n: Int) {
    let raw = UnsafeRawPointer(p)
    let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
    while i &+ 8 <= n {
        let x = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) ^ 0x3030_3030_3030_3030
        let others = (((x & low7) &+ low7) | x) & ~low7     // high bit set in bytes that are not '0'
        if others == 0 { i &+= 8; continue }
        i &+= others.trailingZeroBitCount >> 3
        return
    }
    while i < n && p[i] == 0x30 { i &+= 1 }
}

/// m · 10^e correctly rounded (|e| ≤ 22), or nil where that needs the general parser.
@inline(never)
func datasetExactDouble(_ m: UInt64, _ e: Int, _ t: DatasetNumberTables) -> Double? {
    if m <= UInt64(1) << 53 {   // Clinger: exact operands, one rounding
        return e < 0 ? Double(m) / t.pow10[-e] : Double(m) * t.pow10[e]
    }
    if e < 0 && e >= -19 { return datasetExactQuotient(m, t.pow10i[-e]) }
    if e >= 0 && e <= 19 { return datasetExactProduct(m, t.pow10i[e]) }
    return nil
}

/// m / d correctly rounded (1 ≤ m < 2^64, 10 ≤ d < 2^64): a 64-bit quotient of the normalised
/// mantissa with the remainder as a sticky bit (as in ProfileSketches).
@inline(__always)
private func datasetExactQuotient(_ m: UInt64, _ d: UInt64) -> Double {
    let lz = m.leadingZeroBitCount
    let mn = m << UInt64(lz)
    let t = 63 - d.leadingZeroBitCount
    let high = mn >> UInt64(64 - t), low = mn << UInt64(t)
    var (q, r) = d.dividingFullWidth((high, low))
    if r != 0 { q |= 1 }
    return Double(sign: .plus, exponent: -(lz + t), significand: Double(q))
}

/// m · p correctly rounded: the 128-bit product's top 64 bits with a sticky bit.
@inline(__always)
private func datasetExactProduct(_ m: UInt64, _ p: UInt64) -> Double {
    let (high, low) = m.multipliedFullWidth(by: p)
    if high == 0 { return Double(low) }
    let shift = 64 - high.leadingZeroBitCount
    var top = shift == 64 ? high : (high << UInt64(64 - shift)) | (low >> UInt64(shift))
    if shift == 64 { if low != 0 { top |= 1 } } else if low << UInt64(64 - shift) != 0 { top |= 1 }
    return Double(sign: .plus, exponent: shift, significand: Double(top))
}

// MARK: - Threads and memory

private let datasetPageSize = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))

/// Drops the whole pages of [start, end) of the map from the process (see MappedFile.release).
func datasetRelease(_ file: MappedFile, _ start: Int, _ end: Int) {
    let lo = start / datasetPageSize * datasetPageSize, hi = end / datasetPageSize * datasetPageSize
    if hi > lo { file.release(lo..<hi) }
}

/// A value handed to worker threads that only touch disjoint parts of it.
struct DatasetSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Runs `body(task)` for every task on up to `threads` workers taking tasks from a shared
/// counter (inline with one worker).
func datasetParallel(_ tasks: Int, threads: Int, _ body: (Int) -> Void) {
    let workers = min(threads, tasks)
    if workers <= 1 {
        for t in 0..<tasks { body(t) }
        return
    }
    let next = Atomic<Int>(0)
    withoutActuallyEscaping(body) { body in
        let task = DatasetSendable(body)   // callers hand each task a disjoint part of their data
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let t = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if t >= tasks { break }
                task.value(t)
            }
        }
    }
}
