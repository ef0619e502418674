import Support
// The server's side of HTTP/1.1 framing: an incremental request parser with hard limits,
// built on HTTPScan (which the client's response reader shares).

/// What the parser found at the front of a connection's input buffer.
public enum ParseOutcome {
    /// Not enough bytes yet. `expectsContinue`: the head is complete, the client asked for
    /// `100 Continue` and the body has not started. `head`: the request without its body once
    /// the head is complete (nil while the head is still arriving).
    case incomplete(expectsContinue: Bool, head: HTTPRequest?)
    /// A complete request and the number of bytes it used.
    case request(HTTPRequest, consumed: Int)
    /// A request that cannot be served: answer with this status and close.
    case failure(status: Int, message: String)
}

/// How far a request has been parsed, kept between calls while it arrives, so each byte is
/// scanned once (re-decoding a chunked body from its start on every read let one slowly
/// dripping client keep a loop busy; re-scanning a head trickled a byte per packet cost
/// quadratic time).
public struct ParseProgress {
    public init() {}
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
public func parseRequest(_ buf: UnsafeBufferPointer<UInt8>, limits: HTTPLimits) -> ParseOutcome {
    var progress = ParseProgress()
    return parseRequest(buf, limits: limits, progress: &progress)
}

/// Parses one request from the front of `buf`, resuming a chunked body at `progress` (which
/// must come from earlier calls on the same request, or be fresh).
public func parseRequest(_ buf: UnsafeBufferPointer<UInt8>, limits: HTTPLimits, progress: inout ParseProgress) -> ParseOutcome {
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
    guard let (headEnd, bodyStart) = HTTPScan.headEnd(buf, limit: limits.maxHeaderBytes, scanned: &scanned) else {
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
        headers.append((name.lowercased(), String(line[line.index(after: colon)...]).trimmed(" \t")))
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
    func string(_ from: Int, _ to: Int) -> String { HTTPScan.string(buf, from, to) }
    // Lines: [start, end) without their CR, up to headEnd (the LF that ends the last one).
    var ls = 0
    /// The end of the line starting at `from` (its LF, or headEnd) and the end without a CR.
    func lineEnd(_ from: Int) -> (lf: Int, end: Int) { HTTPScan.lineEnd(buf, from: from, headEnd: headEnd) }
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
        switch HTTPScan.field(buf, from: p, to: le) {
        case .malformedLine: return .failure(status: 400, message: "malformed header line")
        case .malformedName: return .failure(status: 400, message: "malformed header name")
        case .field(let name, let value): headers.append((name, value))
        }
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
        let size: Int
        switch HTTPScan.chunkLine(buf, at: p, cap: limits.maxBodyBytes) {
        case .incomplete(let tooLong):
            if tooLong { return .failure(status: 400, message: "chunk size line longer than \(maxChunkLineBytes) bytes") }
            return wait(&body)
        case .malformed(let message): return .failure(status: 400, message: message)
        case .size(let s, let dataStart): size = s; p = dataStart
        }
        if size > limits.maxBodyBytes - body.count {
            return .failure(status: 413, message: "request body is larger than \(limits.maxBodyBytes) bytes")
        }
        if size == 0 {
            // Trailer fields until an empty line, bounded like a head.
            switch HTTPScan.trailers(buf, from: p, maxBytes: limits.maxHeaderBytes) {
            case .incomplete: return wait(&body)
            case .failure(let status, let message): return .failure(status: status, message: message)
            case .end(let end): return .complete(body, end: end)
            }
        }
        // A wrong byte where the CRLF after the data belongs is an error now, not later.
        switch HTTPScan.crlfAfterData(buf, at: p + size) {
        case nil: return wait(&body)
        case false?: return .failure(status: 400, message: "chunk data not followed by CRLF")
        case true?: break
        }
        if body.isEmpty { body.reserveCapacity(size) }
        body.append(contentsOf: UnsafeBufferPointer(rebasing: buf[p..<(p + size)]))
        p += size + 2
    }
}
