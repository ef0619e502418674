import Support

// HTTP/1.1 messages: an incremental request parser with hard limits, and responses.

/// One HTTP request, body complete.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target's path (before `?`), percent-escapes left as sent.
    public var path: String
    /// The query string (after `?`), without the `?`.
    public var query: String
    /// Header fields in order, names lowercased.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// HTTP/1.1 (true) or HTTP/1.0.
    public var http11: Bool

    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }

    /// Query parameter `name` ("a=1&b" style; a bare name is "").
    public func queryValue(_ name: String) -> String? {
        for part in query.split(separator: "&") {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if kv.first.map(String.init) == name { return kv.count > 1 ? String(kv[1]) : "" }
        }
        return nil
    }

    /// The media type of Content-Type, lowercased, without parameters.
    public var mediaType: String? {
        guard let ct = header("content-type") else { return nil }
        let t = ct.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        return t.trimmingSpaces().lowercased()
    }
}

/// A response to send.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status; self.headers = headers; self.body = body
    }

    public init(status: Int, json: String, headers: [(String, String)] = []) {
        self.init(status: status, headers: [("Content-Type", "application/json")] + headers, body: Array(json.utf8))
    }

    public init(status: Int, text: String, contentType: String = "text/plain; charset=utf-8") {
        self.init(status: status, headers: [("Content-Type", contentType)], body: Array(text.utf8))
    }

    /// MLflow's error shape: {"error_code": CODE, "message": MSG}.
    public static func error(_ status: Int, _ message: String, code: String? = nil) -> HTTPResponse {
        let c = code ?? HTTPResponse.errorCode(status)
        var out = "{\"error_code\":"
        JSON.quote(c, into: &out)
        out += ",\"message\":"
        JSON.quote(message, into: &out)
        out += "}"
        return HTTPResponse(status: status, json: out)
    }

    static func errorCode(_ status: Int) -> String {
        switch status {
        case 400: return "BAD_REQUEST"
        case 401: return "UNAUTHENTICATED"
        case 404: return "ENDPOINT_NOT_FOUND"
        case 405: return "METHOD_NOT_ALLOWED"
        case 408: return "REQUEST_TIMEOUT"
        case 411: return "LENGTH_REQUIRED"
        case 413: return "REQUEST_TOO_LARGE"
        case 415: return "UNSUPPORTED_MEDIA_TYPE"
        case 431: return "HEADERS_TOO_LARGE"
        case 501: return "NOT_IMPLEMENTED"
        case 503: return "SERVICE_UNAVAILABLE"
        default: return status >= 500 ? "INTERNAL_ERROR" : "BAD_REQUEST"
        }
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        default: return "Status \(status)"
        }
    }

    /// Status line, headers (Content-Length and Connection added) and body.
    func serialized(keepAlive: Bool, headOnly: Bool) -> [UInt8] {
        var h = "HTTP/1.1 \(status) \(HTTPResponse.reason(status))\r\nServer: mlrepo\r\nContent-Length: \(body.count)\r\n"
        h += keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n"
        for (k, v) in headers { h += k; h += ": "; h += v; h += "\r\n" }
        h += "\r\n"
        var out = Array(h.utf8)
        if !headOnly { out.append(contentsOf: body) }
        return out
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

/// Limits the parser enforces.
public struct HTTPLimits: Sendable {
    public var maxHeaderBytes: Int
    public var maxBodyBytes: Int
    public init(maxHeaderBytes: Int = 64 << 10, maxBodyBytes: Int = 64 << 20) {
        self.maxHeaderBytes = maxHeaderBytes; self.maxBodyBytes = maxBodyBytes
    }
}

/// What the parser found at the front of a connection's input buffer.
enum ParseOutcome {
    /// Not enough bytes yet. `expectsContinue`: the head is complete, the client asked for
    /// `100 Continue` and the body has not started. `head`: the request without its body once
    /// the head is complete (nil while the head is still arriving).
    case incomplete(expectsContinue: Bool, head: HTTPRequest?)
    /// A complete request and the number of bytes it used.
    case request(HTTPRequest, consumed: Int)
    /// A request that cannot be served: answer with this status and close.
    case failure(status: Int, message: String)
}

/// The longest chunk-size line (size and extensions) accepted.
let maxChunkLineBytes = 4096

/// How far a request has been parsed, kept between calls while it arrives, so each byte is
/// scanned once (re-decoding a chunked body from its start on every read let one slowly
/// dripping client keep a loop busy; re-scanning a head trickled a byte per packet cost
/// quadratic time).
struct ParseProgress {
    /// Bytes already searched for the end of the head.
    var headScanned = 0
    /// The head, once complete, and where the body starts (kept only while the request is
    /// incomplete; a struct, not a tuple, whose optional needs no runtime metadata look-up).
    var head: ParsedHead? = nil
    /// Offset, from the start of the request, of the next chunk-size line to read (0: none
    /// read yet).
    var offset = 0
    /// The data of the chunks before it.
    var body: [UInt8] = []
}

struct ParsedHead {
    var request: HTTPRequest
    var bodyStart: Int
}

/// Parses one request from the front of `buf`.
func parseRequest(_ buf: UnsafeBufferPointer<UInt8>, limits: HTTPLimits) -> ParseOutcome {
    var progress = ParseProgress()
    return parseRequest(buf, limits: limits, progress: &progress)
}

/// Parses one request from the front of `buf`, resuming a chunked body at `progress` (which
/// must come from earlier calls on the same request, or be fresh).
func parseRequest(_ buf: UnsafeBufferPointer<UInt8>, limits: HTTPLimits, progress: inout ParseProgress) -> ParseOutcome {
    let n = buf.count
    var req: HTTPRequest
    let bodyStart: Int
    var keep = false
    if let head = progress.head {
        (req, bodyStart) = (head.request, head.bodyStart)
    } else {
        keep = true
        switch parseHead(buf, limits: limits, scanned: &progress.headScanned) {
        case .incomplete: return .incomplete(expectsContinue: false, head: nil)
        case .failure(let status, let message): return .failure(status: status, message: message)
        case .head(let r, let start):
            (req, bodyStart) = (r, start)
        }
    }
    let headers = req.headers, method = req.method
    // Every Transfer-Encoding field counts ("chunked" split over two fields, or "gzip" in a
    // second one, must not slip past).
    let teFields = headers.filter { $0.name == "transfer-encoding" }.map { $0.value.lowercased() }
    let cl = headers.filter { $0.name == "content-length" }.map(\.value)
    let expects = req.header("expect")?.lowercased() == "100-continue"
    if !teFields.isEmpty {
        let te = teFields.joined(separator: ", ")
        if !cl.isEmpty { return .failure(status: 400, message: "both Content-Length and Transfer-Encoding") }
        guard te == "chunked" else { return .failure(status: 501, message: "unsupported Transfer-Encoding '\(te.prefix(40))'") }
        switch parseChunked(buf, from: bodyStart, limits: limits, progress: &progress) {
        case .incomplete(let started):
            // Keep the head for the next call (only needed while the request is incomplete).
            if keep { progress.head = ParsedHead(request: req, bodyStart: bodyStart) }
            return .incomplete(expectsContinue: expects && !started, head: req)
        case .failure(let status, let message):
            return .failure(status: status, message: message)
        case .complete(let body, let end):
            req.body = body
            return .request(req, consumed: end)
        }
    }
    var length = 0
    if let first = cl.first {
        guard cl.allSatisfy({ $0 == first }), !first.isEmpty, first.count <= 15, first.allSatisfy({ $0.isASCII && $0.isNumber }),
              let v = Int(first) else {
            return .failure(status: 400, message: "invalid Content-Length")
        }
        length = v
    } else if method == "POST" || method == "PUT" || method == "PATCH" {
        return .failure(status: 411, message: "a \(method) needs Content-Length or chunked Transfer-Encoding")
    }
    if length > limits.maxBodyBytes {
        return .failure(status: 413, message: "request body of \(length) bytes is larger than the limit of \(limits.maxBodyBytes)")
    }
    if n - bodyStart < length {
        if keep { progress.head = ParsedHead(request: req, bodyStart: bodyStart) }
        return .incomplete(expectsContinue: expects && n == bodyStart, head: req)
    }
    req.body = Array(UnsafeBufferPointer(rebasing: buf[bodyStart..<(bodyStart + length)]))
    return .request(req, consumed: bodyStart + length)
}

enum HeadOutcome {
    case incomplete
    case failure(status: Int, message: String)
    /// The request without its body, and where the body starts.
    case head(HTTPRequest, bodyStart: Int)
}

/// Parses the head at the front of `buf`; `scanned`: bytes already searched for its end
/// (updated).
func parseHead(_ buf: UnsafeBufferPointer<UInt8>, limits: HTTPLimits, scanned: inout Int) -> HeadOutcome {
    let n = buf.count
    // End of the head: CRLF CRLF (bare LF LF accepted).
    var headEnd = -1, bodyStart = -1
    var i = max(0, min(scanned, n) - 3)
    let scanLimit = min(n, limits.maxHeaderBytes + 4)
    while i < scanLimit {
        if buf[i] == 10 {
            if i + 1 < n && buf[i + 1] == 10 { headEnd = i; bodyStart = i + 2; break }
            if i + 2 < n && buf[i + 1] == 13 && buf[i + 2] == 10 { headEnd = i; bodyStart = i + 3; break }
        }
        i += 1
    }
    if headEnd < 0 {
        scanned = scanLimit
        if n > limits.maxHeaderBytes { return .failure(status: 431, message: "request head is larger than \(limits.maxHeaderBytes) bytes") }
        return .incomplete
    }
    if bodyStart - 1 > limits.maxHeaderBytes { return .failure(status: 431, message: "request head is larger than \(limits.maxHeaderBytes) bytes") }
    if let outcome = parseASCIIHead(buf, headEnd: headEnd, bodyStart: bodyStart) { return outcome }
    // Lines of the head.
    var lines: [String] = []
    var ls = 0
    for j in 0...headEnd where buf[j] == 10 || j == headEnd {
        var e = buf[j] == 10 ? j : j + 1
        if e > ls && buf[e - 1] == 13 { e -= 1 }
        lines.append(String(decoding: UnsafeBufferPointer(rebasing: buf[ls..<max(ls, e)]), as: UTF8.self))
        ls = j + 1
    }
    // Tolerate leading empty lines (RFC 9112 §2.2).
    while let f = lines.first, f.isEmpty { lines.removeFirst() }
    guard let requestLine = lines.first else { return .failure(status: 400, message: "empty request line") }
    let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
    guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isLetter && $0.isUppercase }),
          parts[1].hasPrefix("/") || parts[1] == "*" || parts[1].hasPrefix("http") else {
        return .failure(status: 400, message: "malformed request line")
    }
    let version = parts[2]
    guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
        return .failure(status: 400, message: "unsupported protocol '\(version.prefix(20))'")
    }
    var target = String(parts[1])
    if target.hasPrefix("http://") || target.hasPrefix("https://") {
        // Absolute form: keep the path.
        let afterScheme = target.drop(while: { $0 != ":" }).dropFirst(3)
        target = afterScheme.firstIndex(of: "/").map { String(afterScheme[$0...]) } ?? "/"
    }
    var headers: [(name: String, value: String)] = []
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
            return .failure(status: 400, message: "malformed header line")
        }
        let name = line[..<colon]
        if name.contains(" ") || name.contains("\t") { return .failure(status: 400, message: "malformed header name") }
        headers.append((name.lowercased(), String(line[line.index(after: colon)...]).trimmingSpaces()))
    }
    let method = String(parts[0])
    let q = target.firstIndex(of: "?")
    let req = HTTPRequest(method: method, path: q.map { String(target[..<$0]) } ?? target,
                          query: q.map { String(target[target.index(after: $0)...]) } ?? "",
                          headers: headers, body: [], http11: version == "HTTP/1.1")
    return .head(req, bodyStart: bodyStart)
}

/// `parseHead` on bytes, for a head that is all ASCII (nil otherwise): the same lines, checks,
/// failures and request as the Character-based path below it, which took most of a small
/// request's parsing time (decoding every line into a String and walking it by Character).
private func parseASCIIHead(_ buf: UnsafeBufferPointer<UInt8>, headEnd: Int, bodyStart: Int) -> HeadOutcome? {
    var k = 0
    while k < headEnd { if buf[k] >= 0x80 { return nil }; k += 1 }
    func string(_ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: buf[from..<max(from, to)]), as: UTF8.self)
    }
    // Lines: [start, end) without their CR, up to headEnd (the LF that ends the last one).
    var ls = 0
    /// The end of the line starting at `from` (its LF, or headEnd) and the end without a CR.
    func lineEnd(_ from: Int) -> (lf: Int, end: Int) {
        var j = from
        while j < headEnd && buf[j] != 10 { j += 1 }
        var e = j
        if e > from && buf[e - 1] == 13 { e -= 1 }
        return (j, e)
    }
    // Leading empty lines (RFC 9112 §2.2).
    var (lf, le) = lineEnd(ls)
    while le == ls {
        if lf >= headEnd { return .failure(status: 400, message: "empty request line") }
        ls = lf + 1
        (lf, le) = lineEnd(ls)
    }
    // Request line: three parts separated by single spaces.
    var sp1 = ls
    while sp1 < le && buf[sp1] != 32 { sp1 += 1 }
    var sp2 = sp1 < le ? sp1 + 1 : le
    while sp2 < le && buf[sp2] != 32 { sp2 += 1 }
    var extra = sp2 < le ? sp2 + 1 : le
    while extra < le && buf[extra] != 32 { extra += 1 }
    func hasPrefix(_ from: Int, _ to: Int, _ p: StaticString) -> Bool {
        let c = p.utf8CodeUnitCount
        guard to - from >= c else { return false }
        let q = p.utf8Start
        for x in 0..<c where buf[from + x] != q[x] { return false }
        return true
    }
    var methodOK = sp1 > ls
    if methodOK { for x in ls..<sp1 where !(buf[x] >= 65 && buf[x] <= 90) { methodOK = false; break } }
    let t0 = sp1 + 1, t1 = sp2
    guard sp1 < le, sp2 < le, extra == le, methodOK,
          hasPrefix(t0, t1, "/") || (t1 - t0 == 1 && buf[t0] == 42) || hasPrefix(t0, t1, "http") else {
        return .failure(status: 400, message: "malformed request line")
    }
    let v0 = sp2 + 1
    let http11 = le - v0 == 8 && hasPrefix(v0, le, "HTTP/1.1")
    guard http11 || (le - v0 == 8 && hasPrefix(v0, le, "HTTP/1.0")) else {
        return .failure(status: 400, message: "unsupported protocol '\(string(v0, min(le, v0 + 20)))'")
    }
    var path: String, query: String
    if hasPrefix(t0, t1, "http://") || hasPrefix(t0, t1, "https://") {
        // Absolute form: keep the path (as the Character-based path does).
        var c = t0
        while buf[c] != 58 { c += 1 }
        var s = min(c + 3, t1)
        while s < t1 && buf[s] != 47 { s += 1 }
        let target = s < t1 ? string(s, t1) : "/"
        let q = target.firstIndex(of: "?")
        path = q.map { String(target[..<$0]) } ?? target
        query = q.map { String(target[target.index(after: $0)...]) } ?? ""
    } else {
        var q = t0
        while q < t1 && buf[q] != 63 { q += 1 }
        path = string(t0, q)
        query = q < t1 ? string(q + 1, t1) : ""
    }
    var headers: [(name: String, value: String)] = []
    var p = lf + 1
    while p <= headEnd && lf < headEnd {
        (lf, le) = lineEnd(p)
        var colon = p
        while colon < le && buf[colon] != 58 { colon += 1 }
        guard colon < le, colon != p else { return .failure(status: 400, message: "malformed header line") }
        for x in p..<colon where buf[x] == 32 || buf[x] == 9 { return .failure(status: 400, message: "malformed header name") }
        var v = colon + 1, e = le
        while v < e && (buf[v] == 32 || buf[v] == 9) { v += 1 }
        while e > v && (buf[e - 1] == 32 || buf[e - 1] == 9) { e -= 1 }
        let name = String(unsafeUninitializedCapacity: colon - p) { (out: UnsafeMutableBufferPointer<UInt8>) -> Int in
            for x in 0..<(colon - p) { let c = buf[p + x]; out[x] = c >= 65 && c <= 90 ? c + 32 : c }
            return colon - p
        }
        headers.append((name, string(v, e)))
        p = lf + 1
    }
    let req = HTTPRequest(method: string(ls, sp1), path: path, query: query, headers: headers, body: [], http11: http11)
    return .head(req, bodyStart: bodyStart)
}

enum ChunkedOutcome {
    /// More bytes needed; `started`: some of the body has arrived.
    case incomplete(started: Bool)
    case failure(status: Int, message: String)
    /// The decoded body and the offset just past the last trailer line.
    case complete([UInt8], end: Int)
}

/// Decodes a chunked body (RFC 9112 §7.1) starting at `start`, strictly: a chunk size is
/// one or more hex digits (no sign, no `0x`, no spaces inside), optionally followed by
/// well-formed extensions, and every line ends in CRLF; sizes are checked against the body
/// limit before anything is allocated, and the trailer section is bounded like a head.
func parseChunked(_ buf: UnsafeBufferPointer<UInt8>, from start: Int, limits: HTTPLimits,
                  progress: inout ParseProgress) -> ChunkedOutcome {
    let n = buf.count
    var p = max(start, min(progress.offset, n))
    var body: [UInt8] = []
    swap(&body, &progress.body)
    var chunkStart = p
    /// Keeps what is decoded for the next call.
    func wait(_ body: inout [UInt8]) -> ChunkedOutcome {
        progress.offset = chunkStart
        swap(&body, &progress.body)
        return .incomplete(started: chunkStart > start)
    }
    while true {
        chunkStart = p
        guard let lineEnd = findLF(buf, from: p, limit: maxChunkLineBytes) else {
            if n - p > maxChunkLineBytes { return .failure(status: 400, message: "chunk size line longer than \(maxChunkLineBytes) bytes") }
            return wait(&body)
        }
        guard lineEnd > p, buf[lineEnd - 1] == 13 else {
            return .failure(status: 400, message: "chunk size line does not end in CRLF")
        }
        let lineStop = lineEnd - 1
        // Hex digits, saturating above the body limit (so no size can overflow).
        var size = 0, digits = 0, q = p
        while q < lineStop, let d = hexValue(buf[q]) {
            if size <= limits.maxBodyBytes && size <= (Int.max - 15) / 16 { size = size * 16 + d }
            digits += 1; q += 1
        }
        guard digits > 0 else { return .failure(status: 400, message: "malformed chunk size '\(printable(buf, p, lineStop))'") }
        guard chunkExtensionsValid(buf, from: q, to: lineStop) else {
            return .failure(status: 400, message: "malformed chunk size line '\(printable(buf, p, lineStop))'")
        }
        if size > limits.maxBodyBytes - body.count {
            return .failure(status: 413, message: "request body is larger than \(limits.maxBodyBytes) bytes")
        }
        p = lineEnd + 1
        if size == 0 {
            // Trailer fields until an empty line, bounded like a head.
            let trailerStart = p
            while true {
                guard let te = findLF(buf, from: p, limit: limits.maxHeaderBytes) else {
                    if n - trailerStart > limits.maxHeaderBytes { return .failure(status: 431, message: "chunked trailer section is larger than \(limits.maxHeaderBytes) bytes") }
                    return wait(&body)
                }
                if te + 1 - trailerStart > limits.maxHeaderBytes { return .failure(status: 431, message: "chunked trailer section is larger than \(limits.maxHeaderBytes) bytes") }
                guard te > p, buf[te - 1] == 13 else { return .failure(status: 400, message: "chunked trailer line does not end in CRLF") }
                let empty = te == p + 1
                if !empty {
                    // name ":" value, name a token.
                    var k = p
                    while k < te - 1, isTokenChar(buf[k]) { k += 1 }
                    guard k > p, k < te - 1, buf[k] == 58 else { return .failure(status: 400, message: "malformed chunked trailer line") }
                }
                p = te + 1
                if empty { return .complete(body, end: p) }
            }
        }
        guard n - p >= size + 2 else {
            // A wrong byte where the CRLF after the data belongs is an error now, not later.
            if n - p > size && buf[p + size] != 13 { return .failure(status: 400, message: "chunk data not followed by CRLF") }
            return wait(&body)
        }
        guard buf[p + size] == 13, buf[p + size + 1] == 10 else {
            return .failure(status: 400, message: "chunk data not followed by CRLF")
        }
        if body.isEmpty { body.reserveCapacity(size) }
        body.append(contentsOf: UnsafeBufferPointer(rebasing: buf[p..<(p + size)]))
        p += size + 2
    }
}

private func hexValue(_ c: UInt8) -> Int? {
    switch c {
    case 48...57: return Int(c - 48)
    case 65...70: return Int(c - 55)
    case 97...102: return Int(c - 87)
    default: return nil
    }
}

/// RFC 9110 tchar.
func isTokenChar(_ c: UInt8) -> Bool {
    switch c {
    case 48...57, 65...90, 97...122: return true
    case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: return true  // ! # $ % & ' * + - . ^ _ ` | ~
    default: return false
    }
}

/// `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )` over buf[from..<to].
func chunkExtensionsValid(_ buf: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Bool {
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
private func printable(_ buf: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> String {
    let end = min(to, from + 20)
    guard end > from else { return "" }
    return String(decoding: buf[from..<end].map { $0 < 32 || $0 > 126 ? 63 : $0 }, as: UTF8.self)
}

/// The first LF at or after `from`, looking at most `limit` + 1 bytes ahead.
private func findLF(_ buf: UnsafeBufferPointer<UInt8>, from: Int, limit: Int = Int.max) -> Int? {
    var i = from
    let end = limit >= buf.count - from ? buf.count : from + limit + 1
    while i < end { if buf[i] == 10 { return i }; i += 1 }
    return nil
}
