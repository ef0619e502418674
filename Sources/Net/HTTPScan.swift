// HTTP/1.1 framing, the part both sides share (RFC 9112): where a head ends, its lines and
// header fields, chunk-size lines, the CRLF after chunk data, and trailer sections. The
// server's request parser (HTTPRequestParser.swift) and the client's response reader
// (HTTPResponseReader.swift) scan with these and nothing else, over bytes in memory, so a
// message is framed by one set of rules whichever way it travels.

/// The longest chunk-size line (size and extensions) accepted.
public let maxChunkLineBytes = 4096

enum HTTPScan {
    /// The end of the head at the front of `buf`: CRLF CRLF (bare LF LF accepted). Returns
    /// the offset of the LF ending the last header line (`headEnd`) and where the body starts;
    /// nil while it is not there within `limit` + 4 bytes. `scanned`: bytes already searched
    /// (updated when nothing is found, so trickled bytes are scanned once).
    static func headEnd(_ buf: UnsafeBufferPointer<UInt8>, limit: Int, scanned: inout Int) -> (headEnd: Int, bodyStart: Int)? {
        let n = buf.count
        var i = max(0, min(scanned, n) - 3)
        let scanLimit = min(n, limit + 4)
        while i < scanLimit {
            if buf[i] == 10 {
                if i + 1 < n && buf[i + 1] == 10 { return (i, i + 2) }
                if i + 2 < n && buf[i + 1] == 13 && buf[i + 2] == 10 { return (i, i + 3) }
            }
            i += 1
        }
        scanned = scanLimit
        return nil
    }

    /// The line starting at `from` inside a head that ends at `headEnd`: the offset of its LF
    /// (or headEnd) and its end without a CR.
    @inline(__always)
    static func lineEnd(_ buf: UnsafeBufferPointer<UInt8>, from: Int, headEnd: Int) -> (lf: Int, end: Int) {
        var j = from
        while j < headEnd && buf[j] != 10 { j += 1 }
        var e = j
        if e > from && buf[e - 1] == 13 { e -= 1 }
        return (j, e)
    }

    enum Field {
        /// No colon, or nothing before it.
        case malformedLine
        /// Space or tab inside the name.
        case malformedName
        /// The name lowercased, the value without surrounding spaces and tabs.
        case field(name: String, value: String)
    }

    /// The header field `name: value` of the line buf[from..<to] (ASCII).
    @inline(__always)
    static func field(_ buf: UnsafeBufferPointer<UInt8>, from p: Int, to le: Int) -> Field {
        var colon = p
        while colon < le && buf[colon] != 58 { colon += 1 }
        guard colon < le, colon != p else { return .malformedLine }
        for x in p..<colon where buf[x] == 32 || buf[x] == 9 { return .malformedName }
        var v = colon + 1, e = le
        while v < e && (buf[v] == 32 || buf[v] == 9) { v += 1 }
        while e > v && (buf[e - 1] == 32 || buf[e - 1] == 9) { e -= 1 }
        let name = String(unsafeUninitializedCapacity: colon - p) { (out: UnsafeMutableBufferPointer<UInt8>) -> Int in
            for x in 0..<(colon - p) { let c = buf[p + x]; out[x] = c >= 65 && c <= 90 ? c + 32 : c }
            return colon - p
        }
        return .field(name: name, value: string(buf, v, e))
    }

    /// buf[from..<to] as UTF-8 text (empty when to <= from).
    @inline(__always)
    static func string(_ buf: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: buf[from..<max(from, to)]), as: UTF8.self)
    }

    enum ChunkLine {
        /// The line has not ended yet; `tooLong`: and it is already past maxChunkLineBytes.
        case incomplete(tooLong: Bool)
        case malformed(String)
        /// The size (saturated just above `cap`, so it never overflows) and where the data starts.
        case size(Int, dataStart: Int)
    }

    /// The chunk-size line at `p` (RFC 9112 §7.1), strictly: one or more hex digits (no sign,
    /// no `0x`, no spaces inside), optionally well-formed extensions, ending in CRLF.
    static func chunkLine(_ buf: UnsafeBufferPointer<UInt8>, at p: Int, cap: Int) -> ChunkLine {
        let n = buf.count
        guard let lineEnd = findLF(buf, from: p, limit: maxChunkLineBytes) else {
            return .incomplete(tooLong: n - p > maxChunkLineBytes)
        }
        guard lineEnd > p, buf[lineEnd - 1] == 13 else { return .malformed("chunk size line does not end in CRLF") }
        let lineStop = lineEnd - 1
        // Hex digits, saturating above the cap (so no size can overflow).
        var size = 0, digits = 0, q = p
        while q < lineStop, let d = hexValue(buf[q]) {
            if size <= cap && size <= (Int.max - 15) / 16 { size = size * 16 + d }
            digits += 1; q += 1
        }
        guard digits > 0 else { return .malformed("malformed chunk size '\(printable(buf, p, lineStop))'") }
        guard chunkExtensionsValid(buf, from: q, to: lineStop) else {
            return .malformed("malformed chunk size line '\(printable(buf, p, lineStop))'")
        }
        return .size(size, dataStart: lineEnd + 1)
    }

    /// Whether the two bytes at `at` are the CRLF that ends chunk data: nil while they have
    /// not all arrived (false at once when the first one is already wrong).
    @inline(__always)
    static func crlfAfterData(_ buf: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool? {
        if i < buf.count && buf[i] != 13 { return false }
        if i + 1 >= buf.count { return nil }
        return buf[i + 1] == 10
    }

    enum Trailers {
        case incomplete
        case failure(status: Int, message: String)
        /// The offset just past the empty line that ends the section.
        case end(Int)
    }

    /// The trailer section after the last chunk, at `start`: `name: value` lines (name a
    /// token), each ending in CRLF, up to an empty line; at most `maxBytes`.
    static func trailers(_ buf: UnsafeBufferPointer<UInt8>, from start: Int, maxBytes: Int) -> Trailers {
        let n = buf.count
        var p = start
        while true {
            guard let te = findLF(buf, from: p, limit: maxBytes) else {
                if n - start > maxBytes { return .failure(status: 431, message: "chunked trailer section is larger than \(maxBytes) bytes") }
                return .incomplete
            }
            if te + 1 - start > maxBytes { return .failure(status: 431, message: "chunked trailer section is larger than \(maxBytes) bytes") }
            guard te > p, buf[te - 1] == 13 else { return .failure(status: 400, message: "chunked trailer line does not end in CRLF") }
            let empty = te == p + 1
            if !empty {
                // name ":" value, name a token.
                var k = p
                while k < te - 1, isTokenChar(buf[k]) { k += 1 }
                guard k > p, k < te - 1, buf[k] == 58 else { return .failure(status: 400, message: "malformed chunked trailer line") }
            }
            p = te + 1
            if empty { return .end(p) }
        }
    }

    static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 48...57: return Int(c - 48)
        case 65...70: return Int(c - 55)
        case 97...102: return Int(c - 87)
        default: return nil
        }
    }

    /// RFC 9110 tchar.
    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case 48...57, 65...90, 97...122: return true
        case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: return true  // ! # $ % & ' * + - . ^ _ ` | ~
        default: return false
        }
    }

    /// `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )` over buf[from..<to].
    static func chunkExtensionsValid(_ buf: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Bool {
        var i = from
        func skipWS() { while i < to && (buf[i] == 32 || buf[i] == 9) { i += 1 } }
        func token() -> Bool { let s = i; while i < to && isTokenChar(buf[i]) { i += 1 }; return i > s }
        while true {
            let before = i
            skipWS()
            if i == to { return i == before }  // no whitespace at the end of the line
            guard buf[i] == 59 else { return false }  // ';'
            i += 1
            skipWS()
            guard token() else { return false }
            skipWS()
            if i < to && buf[i] == 61 {  // '='
                i += 1
                skipWS()
                if i < to && buf[i] == 34 {  // quoted-string
                    i += 1
                    var closed = false
                    while i < to {
                        let c = buf[i]
                        if c == 34 { i += 1; closed = true; break }
                        if c == 92 { guard i + 1 < to, buf[i + 1] == 9 || buf[i + 1] >= 32, buf[i + 1] != 127 else { return false }; i += 2; continue }
                        guard c == 9 || (c >= 32 && c != 127) else { return false }
                        i += 1
                    }
                    guard closed else { return false }
                } else {
                    guard token() else { return false }
                }
            }
        }
    }

    /// Up to 20 bytes of buf[from..<to] for an error message, control bytes as '?'.
    static func printable(_ buf: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> String {
        let end = min(to, from + 20)
        guard end > from else { return "" }
        return String(decoding: buf[from..<end].map { $0 < 32 || $0 > 126 ? 63 : $0 }, as: UTF8.self)
    }

    /// The first LF at or after `from`, looking at most `limit` + 1 bytes ahead.
    static func findLF(_ buf: UnsafeBufferPointer<UInt8>, from: Int, limit: Int = Int.max) -> Int? {
        var i = from
        let end = limit >= buf.count - from ? buf.count : from + limit + 1
        while i < end { if buf[i] == 10 { return i }; i += 1 }
        return nil
    }
}
