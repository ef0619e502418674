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
    /// `100 Continue` and the body has not started.
    case incomplete(expectsContinue: Bool)
    /// A complete request and the number of bytes it used.
    case request(HTTPRequest, consumed: Int)
    /// A request that cannot be served: answer with this status and close.
    case failure(status: Int, message: String)
}

/// Parses one request from the front of `buf` (bytes from `start`).
func parseRequest(_ buf: UnsafeBufferPointer<UInt8>, limits: HTTPLimits) -> ParseOutcome {
    let n = buf.count
    // End of the head: CRLF CRLF (bare LF LF accepted).
    var headEnd = -1, bodyStart = -1
    var i = 0
    let scanLimit = min(n, limits.maxHeaderBytes + 4)
    while i < scanLimit {
        if buf[i] == 10 {
            if i + 1 < n && buf[i + 1] == 10 { headEnd = i; bodyStart = i + 2; break }
            if i + 2 < n && buf[i + 1] == 13 && buf[i + 2] == 10 { headEnd = i; bodyStart = i + 3; break }
        }
        i += 1
    }
    if headEnd < 0 {
        if n > limits.maxHeaderBytes { return .failure(status: 431, message: "request head is larger than \(limits.maxHeaderBytes) bytes") }
        return .incomplete(expectsContinue: false)
    }
    if bodyStart - 1 > limits.maxHeaderBytes { return .failure(status: 431, message: "request head is larger than \(limits.maxHeaderBytes) bytes") }
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
    var req = HTTPRequest(method: method, path: q.map { String(target[..<$0]) } ?? target,
                          query: q.map { String(target[target.index(after: $0)...]) } ?? "",
                          headers: headers, body: [], http11: version == "HTTP/1.1")
    let te = req.header("transfer-encoding")?.lowercased()
    let cl = headers.filter { $0.name == "content-length" }.map(\.value)
    let expects = req.header("expect")?.lowercased() == "100-continue"
    if let te {
        if !cl.isEmpty { return .failure(status: 400, message: "both Content-Length and Transfer-Encoding") }
        guard te == "chunked" else { return .failure(status: 501, message: "unsupported Transfer-Encoding '\(te)'") }
        // Chunked body: size lines, data, CRLF; ends with a 0 chunk and optional trailers.
        var p = bodyStart
        var body: [UInt8] = []
        while true {
            guard let lineEnd = findLF(buf, from: p) else {
                if n - p > 1024 { return .failure(status: 400, message: "malformed chunk size line") }
                return .incomplete(expectsContinue: expects && p == bodyStart)
            }
            var e = lineEnd
            if e > p && buf[e - 1] == 13 { e -= 1 }
            let sizeText = String(decoding: UnsafeBufferPointer(rebasing: buf[p..<e]), as: UTF8.self)
            let hex = sizeText.split(separator: ";", maxSplits: 1).first.map { String($0).trimmingSpaces() } ?? ""
            guard !hex.isEmpty, hex.count <= 15, let size = Int(hex, radix: 16) else {
                return .failure(status: 400, message: "malformed chunk size '\(sizeText.prefix(20))'")
            }
            p = lineEnd + 1
            if size == 0 {
                // Trailers until an empty line.
                while true {
                    guard let te = findLF(buf, from: p) else { return .incomplete(expectsContinue: false) }
                    let empty = te == p || (te == p + 1 && buf[p] == 13)
                    p = te + 1
                    if empty { break }
                }
                req.body = body
                return .request(req, consumed: p)
            }
            if body.count + size > limits.maxBodyBytes {
                return .failure(status: 413, message: "request body is larger than \(limits.maxBodyBytes) bytes")
            }
            guard n - p >= size + 1 else { return .incomplete(expectsContinue: false) }
            body.append(contentsOf: UnsafeBufferPointer(rebasing: buf[p..<(p + size)]))
            p += size
            if buf[p] == 13 { guard p + 1 < n else { return .incomplete(expectsContinue: false) }; p += 1 }
            guard buf[p] == 10 else { return .failure(status: 400, message: "malformed chunk ending") }
            p += 1
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
    if n - bodyStart < length { return .incomplete(expectsContinue: expects && n == bodyStart) }
    req.body = Array(UnsafeBufferPointer(rebasing: buf[bodyStart..<(bodyStart + length)]))
    return .request(req, consumed: bodyStart + length)
}

private func findLF(_ buf: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
    var i = from
    while i < buf.count { if buf[i] == 10 { return i }; i += 1 }
    return nil
}
