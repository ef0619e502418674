#if canImport(Glibc)
import Glibc
#endif
import Support

// One chunk's parse: its records and their cells, written straight into the shared matrix.

private let dsComma: UInt8 = 0x2C
private let dsQuote: UInt8 = 0x22
private let dsLF: UInt8 = 0x0A
private let dsCR: UInt8 = 0x0D

struct DatasetCSVContext {
    let p: UnsafePointer<UInt8>
    let n: Int
    let ncols: Int
    let roles: UnsafePointer<Int32>
    let cols: Int
    let features: UnsafeMutablePointer<Float>
    let labels: UnsafeMutablePointer<Double>
    let numbers: DecimalTables
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
                    if let r = DecimalParser.float32Prefix(p, i, n, numbers), r.next == n || CSVScanner.isDelimiter(p[r.next]) {
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
                    i = CSVScanner.delimiter(p, from: i, n)
                } else {
                    let f = CSVScanner.field(p, i, n)
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
    private mutating func text(_ f: CSVField) -> (UnsafePointer<UInt8>, Int) {
        if !f.assemble { return (ctx.p + f.start, f.count) }
        if scratchCapacity < f.count {
            scratch?.deallocate()
            scratchCapacity = max(f.count, 256)
            scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: scratchCapacity)
        }
        guard let s = scratch else { return (ctx.p + f.start, 0) }
        return (UnsafePointer(s), CSVScanner.unquote(ctx.p, f.start, f.count, into: s))
    }

    /// A feature cell off the fast path: quoted, padded, missing, long, or not a number.
    private mutating func slowFeature(_ i: Int, _ field: Int, _ dest: UnsafeMutablePointer<Float>,
                                      _ cellError: inout DatasetPendingError?) -> Int {
        let f = CSVScanner.field(ctx.p, i, ctx.n)
        if f.next < 0 { error = unterminated(f.start, field); return -1 }
        if cellError != nil { return f.next }
        var (q, len) = text(f)
        CSVScanner.trim(&q, &len)
        if len == 0 {
            cellError = DatasetPendingError(offset: i, column: field, reason: "missing value")
            return f.next
        }
        switch DecimalParser.number(q, len, ctx.numbers) {
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
        let f = CSVScanner.field(ctx.p, i, ctx.n)
        if f.next < 0 { error = unterminated(f.start, field); return -1 }
        var (q, len) = text(f)
        CSVScanner.trim(&q, &len)
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
                let v = DecimalParser.number(q, len, ctx.numbers).value
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
        if let v = DecimalParser.number(q, len, ctx.numbers).value { labels[slot] = v } else { lostText = true }
        return f.next
    }
}
