#if canImport(Glibc)
import Glibc
#endif

// The one CSV field scanner, over bytes in memory: datasets (`train`, `predict`, `eval`), the
// scoring server's text/csv bodies and the header of a file to score all read fields with it;
// the streaming profiler uses its delimiter scan.
//
// Rules (RFC 4180 plus the usual, as `mlrepo` has always read CSV):
// - The separator is a comma; records end with LF, CRLF or a lone CR.
// - A field that starts with `"` is quoted: it may hold commas, CR and LF, and `""` stands for
//   one quote. Text after the closing quote belongs to the field (lenient: `"a"b` is `ab`). A
//   `"` inside an unquoted field is an ordinary character.
// - Callers trim cells of spaces and tabs (`trim`), after unquoting.
// Hot entry points are `@inlinable` so they specialise into the callers' loops.

/// A field's extent. `next` is the offset of the delimiter after it (or the end), or -1 when
/// a quoted field is still open at the end of the input (`start` is then the quote).
/// `assemble`: [start, start + count) is the raw quoted text, to be unquoted (`unquote`);
/// otherwise it is the field's text itself.
public struct CSVField: Equatable, Sendable {
    public var start: Int
    public var count: Int
    public var assemble: Bool
    public var next: Int

    @inlinable
    public init(start: Int, count: Int, assemble: Bool, next: Int) {
        self.start = start
        self.count = count
        self.assemble = assemble
        self.next = next
    }
}

/// A quoted field still open at the end of the input; `offset` is its opening quote.
public struct CSVUnterminatedQuote: Error, Equatable, Sendable {
    public let offset: Int
    public init(offset: Int) { self.offset = offset }
}

public enum CSVScanner {
    public static let comma: UInt8 = 0x2C
    public static let quote: UInt8 = 0x22
    public static let lineFeed: UInt8 = 0x0A
    public static let carriageReturn: UInt8 = 0x0D

    /// A comma, LF or CR.
    @inlinable @inline(always)
    public static func isDelimiter(_ c: UInt8) -> Bool { c == 0x2C || c == 0x0A || c == 0x0D }

    /// Index of the first comma, LF or CR at or after `start` (`n` if none), eight bytes at a time.
    @inlinable @inline(always)
    public static func delimiter(_ p: UnsafePointer<UInt8>, from start: Int, _ n: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let raw = UnsafeRawPointer(p)
        var i = start
        while i &+ 8 <= n {
            let w = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let a = w ^ (ones &* 0x2C), b = w ^ (ones &* 0x0A), c = w ^ (ones &* 0x0D)
            // A zero byte in a, b or c marks a match; bits above the first match may be spurious.
            let m = ((a &- ones) & ~a | (b &- ones) & ~b | (c &- ones) & ~c) & highs
            if m != 0 { return i &+ (m.trailingZeroBitCount >> 3) }
            i &+= 8
        }
        while i < n {
            let c = p[i]
            if c == 0x2C || c == 0x0A || c == 0x0D { return i }
            i &+= 1
        }
        return n
    }

    /// The field that starts at `i` (see the rules above).
    @inlinable @inline(always)
    public static func field(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> CSVField {
        if i >= n || p[i] != 0x22 {
            let j = delimiter(p, from: i, n)
            return CSVField(start: i, count: j - i, assemble: false, next: j)
        }
        return quotedField(p, i, n)
    }

    @inlinable
    static func quotedField(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> CSVField {
        var j = i + 1
        var escaped = false
        while true {
            guard j < n, let hit = memchr(p + j, 0x22, n - j) else {
                return CSVField(start: i, count: 0, assemble: false, next: -1)
            }
            let q = UnsafeRawPointer(hit) - UnsafeRawPointer(p)
            if q + 1 < n && p[q + 1] == 0x22 {
                escaped = true
                j = q + 2
                continue
            }
            let after = q + 1
            if after >= n || isDelimiter(p[after]) {
                if escaped { return CSVField(start: i, count: after - i, assemble: true, next: after) }
                return CSVField(start: i + 1, count: q - i - 1, assemble: false, next: after)
            }
            let d = delimiter(p, from: after, n)
            return CSVField(start: i, count: d - i, assemble: true, next: d)
        }
    }

    /// Unquotes the raw field [start, start + count) (it starts with a quote) into `out`, which
    /// holds at least `count` bytes; returns the length.
    public static func unquote(_ p: UnsafePointer<UInt8>, _ start: Int, _ count: Int,
                               into out: UnsafeMutablePointer<UInt8>) -> Int {
        var j = start + 1
        let e = start + count
        var o = 0
        while j < e {
            let c = p[j]
            if c == 0x22 {
                if j + 1 < e && p[j + 1] == 0x22 {
                    out[o] = 0x22
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

    /// The field's text, unquoted (invalid UTF-8 replaced), untrimmed.
    public static func text(_ p: UnsafePointer<UInt8>, _ f: CSVField) -> String {
        if !f.assemble { return String(decoding: UnsafeBufferPointer(start: p + f.start, count: f.count), as: UTF8.self) }
        var buf = [UInt8](repeating: 0, count: f.count)
        let len = buf.withUnsafeMutableBufferPointer { b in
            guard let base = b.baseAddress else { return 0 }
            return unquote(p, f.start, f.count, into: base)
        }
        return String(decoding: buf[0..<len], as: UTF8.self)
    }

    /// Narrows `q[0..<len]` to drop leading and trailing spaces and tabs.
    @inlinable @inline(always)
    public static func trim(_ q: inout UnsafePointer<UInt8>, _ len: inout Int) {
        while len > 0 && (q[0] == 0x20 || q[0] == 0x09) { q += 1; len -= 1 }
        while len > 0 && (q[len - 1] == 0x20 || q[len - 1] == 0x09) { len -= 1 }
    }

    /// Where the header starts: past a UTF-8 byte order mark and blank lines.
    public static func headerStart(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        var i = 0
        if n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF { i = 3 }
        while i < n && (p[i] == 0x0A || p[i] == 0x0D) { i += 1 }
        return i
    }

    /// The record that starts at `i` < n as its fields' texts (unquoted, untrimmed) and the
    /// offset just past its line end.
    /// - Throws: `CSVUnterminatedQuote` when a quoted field is open at the end.
    public static func record(_ p: UnsafePointer<UInt8>, from start: Int, _ n: Int) throws -> (fields: [String], next: Int) {
        var i = start
        var fields: [String] = []
        while true {
            let f = field(p, i, n)
            if f.next < 0 { throw CSVUnterminatedQuote(offset: f.start) }
            fields.append(text(p, f))
            i = f.next
            if i >= n { break }
            let d = p[i]
            i += 1
            if d == 0x2C { continue }
            if d == 0x0D && i < n && p[i] == 0x0A { i += 1 }
            break
        }
        return (fields, i)
    }

    /// Line ends in [s, e): line feeds plus carriage returns not followed by a line feed
    /// (looking up to `n` past `e`). Sixteen bytes at a time, per-byte matches summed in byte
    /// lanes.
    public static func lineEnds(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int, _ n: Int) -> Int {
        let raw = UnsafeRawPointer(p)
        let lfs = SIMD16<UInt8>(repeating: 0x0A), crs = SIMD16<UInt8>(repeating: 0x0D), ones = SIMD16<UInt8>(repeating: 1)
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
            if p[i] == 0x0A { lf &+= 1 } else if p[i] == 0x0D { cr &+= 1 }
            i &+= 1
        }
        if cr > 0 {   // CRLF counts once
            var j = s
            while j < e, let hit = memchr(p + j, 0x0D, e - j) {
                let q = UnsafeRawPointer(hit) - raw
                if q + 1 < n && p[q + 1] == 0x0A { cr -= 1 }
                j = q + 1
            }
        }
        return lf + cr
    }

    /// 1-based line of `offset`: line ends before it (LF, CRLF or a lone CR) plus one.
    public static func line(_ p: UnsafePointer<UInt8>, at offset: Int, _ n: Int) -> Int {
        1 + lineEnds(p, 0, offset, n)
    }
}
