import Support

// HTTP/1.1 messages: a request as the server parsed it, a response to send (serialized with
// its status line, Content-Length and Connection), and the limits a parser enforces.

/// One HTTP request, body complete.
public struct HTTPRequest: Sendable {
    public init(method: String, path: String, query: String, headers: [(name: String, value: String)], body: [UInt8], http11: Bool) {
        self.method = method; self.path = path; self.query = query; self.headers = headers; self.body = body; self.http11 = http11
    }

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

    /// The value of cookie `name` from the Cookie header(s), if sent.
    public func cookie(_ name: String) -> String? {
        for h in headers where h.name == "cookie" {
            for part in h.value.split(separator: ";") {
                let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if kv.count == 2, kv[0].trimmed(" \t") == name { return kv[1].trimmed(" \t") }
            }
        }
        return nil
    }

    /// The media type of Content-Type, lowercased, without parameters.
    public var mediaType: String? {
        guard let ct = header("content-type") else { return nil }
        let t = ct.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        return t.trimmed(" \t").lowercased()
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

    public static func errorCode(_ status: Int) -> String {
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

    public static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 204: return "No Content"
        case 303: return "See Other"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 421: return "Misdirected Request"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        default: return "Status \(status)"
        }
    }

    /// Status line, headers (Content-Length and Connection added) and body.
    public func serialized(keepAlive: Bool, headOnly: Bool) -> [UInt8] {
        var h = "HTTP/1.1 \(status) \(HTTPResponse.reason(status))\r\nServer: mlrepo\r\nContent-Length: \(body.count)\r\n"
        h += keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n"
        for (k, v) in headers { h += k; h += ": "; h += v; h += "\r\n" }
        h += "\r\n"
        var out = Array(h.utf8)
        if !headOnly { out.append(contentsOf: body) }
        return out
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
