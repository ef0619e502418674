#if canImport(Glibc)
import Glibc
#endif
import CShims
import Support

/// A small blocking HTTP/1.1 client over POSIX sockets for S3-compatible endpoints and
/// `mlrepo monitor`: plain http, or https through OpenSSL's libssl, which is loaded at run
/// time (CShims/tls.c) so that the binary links only libcrypto. Certificates and host names
/// are always verified, against the system's trust store or the PEM file in AWS_CA_BUNDLE
/// (else SSL_CERT_FILE). Connections are kept alive and reused (`HTTPPool`). Bodies come
/// from memory or stream from a file; responses go to memory or stream to a file.
struct HTTPConnection {
    /// A name or an address (an IPv6 address without brackets).
    let host: String
    let port: Int
    let timeout: Double
    /// https: TLS, with the certificate chain and the host name verified.
    var tls = false
    /// A PEM file of the CAs to trust instead of the system's; nil: `trustFile()`.
    var caFile: String? = nil

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    enum Body {
        case bytes([UInt8])
        case file(path: String, size: Int)
    }

    /// `https://HOST:PORT` or, for plain http, `HOST:PORT`: the prefix of error messages.
    var label: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return (tls ? "https://" : "") + "\(h):\(port)"
    }

    /// The CA bundle named by the environment: AWS_CA_BUNDLE (the AWS CLI's), else
    /// SSL_CERT_FILE; nil: the system's default trust store.
    static func trustFile() -> String? {
        for k in ["AWS_CA_BUNDLE", "SSL_CERT_FILE"] { if let v = Env.get(k), !v.isEmpty { return v } }
        return nil
    }

    var poolKey: String { (tls ? "https://" : "http://") + "\(host):\(port)" + (tls ? "|" + (caFile ?? Self.trustFile() ?? "") : "") }

    /// Sends one request and reads its response, over a kept-alive connection when one is
    /// idle. All requests this client sends are idempotent, so when a reused connection turns
    /// out closed (the write fails, or it ends before any response byte) the request is sent
    /// once more on a fresh connection.
    func send(method: String, target: String, headers: [String: String], body: Body?, responseTo file: String? = nil) throws -> Response {
        var h = headers
        switch body {
        case .bytes(let b)?: h["content-length"] = String(b.count)
        case .file(_, let size)?: h["content-length"] = String(size)
        case nil: if method == "PUT" || method == "POST" { h["content-length"] = "0" }
        }
        var head = "\(method) \(target) HTTP/1.1\r\n"
        for (k, v) in h.sorted(by: { $0.key < $1.key }) { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        let request = Array(head.utf8)
        let key = poolKey
        if let stream = HTTPPool.shared.take(key) {
            do { return try exchange(stream, request, method: method, body: body, to: file, key: key) } catch is StaleConnection {}
        }
        do {
            return try exchange(try open(), request, method: method, body: body, to: file, key: key)
        } catch let e as StaleConnection { throw e.error }
    }

    private func exchange(_ s: HTTPStream, _ head: [UInt8], method: String, body: Body?, to file: String?, key: String) throws -> Response {
        try head.withUnsafeBytes { try s.write($0) }
        switch body {
        case .bytes(let b)?: try b.withUnsafeBytes { try s.write($0) }
        case .file(let path, let size)?:
            let src = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard src >= 0 else { throw RemoteError("cannot read '\(path)': \(String(cString: strerror(errno)))") }
            defer { close(src) }
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            var left = size
            while left > 0 {
                let r = buf.withUnsafeMutableBytes { read(src, $0.baseAddress, min($0.count, left)) }
                if r < 0 && errno == EINTR { continue }
                guard r > 0 else { throw RemoteError("'\(path)' shrank while being uploaded") }
                try buf.withUnsafeBytes { try s.write(UnsafeRawBufferPointer(rebasing: $0[0..<r])) }
                left -= r
            }
        case nil: break
        }
        let (response, reusable) = try readResponse(s, method: method, to: file)
        if reusable { HTTPPool.shared.put(key, s) }
        return response
    }

    /// A new connection: TCP, then the TLS handshake for https.
    func open() throws -> HTTPStream {
        let fd = try connect()
        guard tls else { return HTTPStream(fd: fd, session: nil, label: label) }
        var err = [CChar](repeating: 0, count: 512)
        let ca = caFile ?? Self.trustFile()
        let session = err.withUnsafeMutableBufferPointer { mlrepo_tls_connect(fd, host, ca, 1, $0.baseAddress, $0.count) }
        let code = errno
        guard let session else {
            close(fd)
            let why = err.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            // EPROTO: TLS itself refused (no libssl, an untrusted certificate): retrying cannot help.
            if code == EPROTO { throw HTTPPermanentError(message: "\(label): \(why)") }
            throw RemoteError("\(label): \(why)")
        }
        return HTTPStream(fd: fd, session: session, label: label)
    }

    func connect() throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let first = res else {
            throw RemoteError("cannot resolve '\(host)'")
        }
        defer { freeaddrinfo(res) }
        var ai: UnsafeMutablePointer<addrinfo>? = first
        var lastErr: Int32 = 0
        while let a = ai {
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            if fd >= 0 {
                var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
                lastErr = errno
                close(fd)
            }
            ai = a.pointee.ai_next
        }
        throw RemoteError("cannot connect to \(host):\(port): \(String(cString: strerror(lastErr)))")
    }

    /// Reads one response. The flag says whether the connection can carry another request:
    /// HTTP/1.1, no `connection: close`, the body delimited and read to its end, nothing after it.
    func readResponse(_ s: HTTPStream, method: String, to file: String?) throws -> (Response, Bool) {
        var data: [UInt8] = []
        var gotAny = false
        func fill() throws -> Bool {
            do {
                let n = try s.read()
                if n > 0 { data.append(contentsOf: s.buffer[0..<n]); gotAny = true; return true }
                if !gotAny { throw StaleConnection(error: RemoteError("\(label) closed the connection without answering")) }
                return false
            } catch let e as HTTPStream.ReadError {
                // Before any byte of the answer, a reset means a connection closed while idle;
                // a time-out means a slow server, which a second try would only wait for again.
                if !gotAny && e.code != EAGAIN && e.code != EWOULDBLOCK { throw StaleConnection(error: e.error) }
                throw e.error
            }
        }
        var status = 0
        var headers: [String: String] = [:]
        var http11 = false
        repeat {  // 1xx interim responses (100 Continue) precede the final one
            var headEnd = -1
            while headEnd < 0 {
                if let i = findCRLFCRLF(data) { headEnd = i; break }
                guard try fill() else { throw RemoteError("\(label) closed the connection without answering") }
            }
            let head = String(decoding: data[0..<headEnd], as: UTF8.self)
            var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
            let statusLine = lines.removeFirst()
            guard let st = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
                throw RemoteError("\(label) sent a malformed status line")
            }
            status = st
            http11 = statusLine.hasPrefix("HTTP/1.1 ")
            headers = [:]
            for l in lines { if let c = l.firstIndex(of: ":") { headers[l[..<c].lowercased()] = String(l[l.index(after: c)...]).remoteTrim(" \t") } }
            data.removeFirst(headEnd + 4)
        } while status >= 100 && status < 200 && status != 101
        let keepAlive = http11 && headers["connection"]?.lowercased().contains("close") != true
        var out: Int32 = -1
        if let file, status / 100 == 2 {
            out = Glibc.open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard out >= 0 else { throw RemoteError("cannot write '\(file)': \(String(cString: strerror(errno)))") }
        }
        defer { if out >= 0 { close(out) } }
        func emit(_ bytes: ArraySlice<UInt8>, into body: inout [UInt8]) throws {
            if out >= 0 {
                var off = bytes.startIndex
                while off < bytes.endIndex {
                    let w = bytes.withUnsafeBytes { write(out, $0.baseAddress! + (off - bytes.startIndex), bytes.endIndex - off) }
                    if w < 0 && errno == EINTR { continue }
                    guard w > 0 else { throw RemoteError("writing '\(file!)' failed: \(String(cString: strerror(errno)))") }
                    off += w
                }
            } else { body.append(contentsOf: bytes) }
        }
        var body: [UInt8] = []
        if method == "HEAD" || status == 204 || status == 304 {
            return (Response(status: status, headers: headers, body: []), keepAlive && data.isEmpty)
        }
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            func line() throws -> String {
                var lineEnd = data.firstIndex(of: 10)
                while lineEnd == nil { guard try fill() else { throw RemoteError("\(label): truncated chunked response") }; lineEnd = data.firstIndex(of: 10) }
                let text = String(decoding: data[0..<lineEnd!], as: UTF8.self).remoteTrim(" \r")
                data.removeFirst(lineEnd! + 1)
                return text
            }
            while true {
                let sizeText = try line()
                let size = Int(sizeText.split(separator: ";").first.map(String.init) ?? "", radix: 16) ?? -1
                guard size >= 0 else { throw RemoteError("\(label): malformed chunked response") }
                if size == 0 { break }
                while data.count < size + 2 { guard try fill() else { throw RemoteError("\(label): truncated chunked response") } }
                try emit(data[0..<size], into: &body)
                data.removeFirst(size + 2)
            }
            while try !line().isEmpty {}  // trailer fields, up to the empty line
            return (Response(status: status, headers: headers, body: body), keepAlive && data.isEmpty)
        }
        if let cl = headers["content-length"], let n = Int(cl) {
            if out < 0 { body.reserveCapacity(min(n, 1 << 26)) }
            var left = n
            while true {
                let take = min(left, data.count)
                try emit(data[0..<take], into: &body)
                data.removeFirst(take)
                left -= take
                if left == 0 { break }
                guard try fill() else { throw RemoteError("\(label): response ended \(left) bytes early") }
            }
            return (Response(status: status, headers: headers, body: body), keepAlive && data.isEmpty)
        }
        // No length: the body runs to the end of the connection.
        try emit(data[...], into: &body)
        data = []
        while try fill() { try emit(data[...], into: &body); data = [] }
        return (Response(status: status, headers: headers, body: body), false)
    }

    func findCRLFCRLF(_ d: [UInt8]) -> Int? {
        guard d.count >= 4 else { return nil }
        for i in 0...(d.count - 4) where d[i] == 13 && d[i + 1] == 10 && d[i + 2] == 13 && d[i + 3] == 10 { return i }
        return nil
    }
}

/// A failure that a retry cannot fix (no libssl, a certificate that does not verify).
struct HTTPPermanentError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A kept-alive connection that the server closed meanwhile: try again on a fresh one.
struct StaleConnection: Error {
    let error: RemoteError
}

/// One open connection: a socket and, for https, the TLS session over it. Closed when
/// released. Used by one request at a time.
final class HTTPStream: @unchecked Sendable {
    let fd: Int32
    let session: UnsafeMutableRawPointer?
    let label: String
    /// Receive buffer, kept for the connection's life (many small responses over one).
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    /// Monotonic seconds when it was last put back in the pool.
    var idleSince = 0.0

    struct ReadError: Error {
        let code: Int32
        let error: RemoteError
    }

    init(fd: Int32, session: UnsafeMutableRawPointer?, label: String) {
        self.fd = fd; self.session = session; self.label = label
    }

    deinit {
        if let session { mlrepo_tls_close(session) }
        close(fd)
    }

    /// Sends all of `bytes`; a failure throws StaleConnection.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var off = 0
        var err = [CChar](repeating: 0, count: 256)
        while off < bytes.count {
            let r: Int
            if let session {
                r = err.withUnsafeMutableBufferPointer { mlrepo_tls_write(session, bytes.baseAddress! + off, bytes.count - off, $0.baseAddress, $0.count) }
            } else {
                r = Glibc.send(fd, bytes.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL))
            }
            if r < 0 && errno == EINTR && session == nil { continue }
            guard r > 0 else {
                let why = session != nil ? err.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : String(cString: strerror(errno))
                throw StaleConnection(error: RemoteError("sending to \(label) failed: \(why)"))
            }
            off += r
        }
    }

    /// Reads into `buffer`: the count, 0 at the end of the stream.
    func read() throws -> Int {
        while true {
            var err = [CChar](repeating: 0, count: 256)
            let r: Int
            if let session {
                r = buffer.withUnsafeMutableBytes { b in err.withUnsafeMutableBufferPointer { mlrepo_tls_read(session, b.baseAddress, b.count, $0.baseAddress, $0.count) } }
            } else {
                r = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            }
            if r >= 0 { return r }
            let code = errno
            if code == EINTR && session == nil { continue }
            let why = session != nil ? err.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : String(cString: strerror(code))
            throw ReadError(code: code, error: RemoteError("reading from \(label) failed: \(why)"))
        }
    }

    /// An idle connection is worth reusing while there is nothing to read on it: readable
    /// means the server closed it (or sent something unasked).
    var looksAlive: Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) == 0
    }
}

/// Idle kept-alive connections by scheme, host, port (and trust store): a few per key, so
/// that sequential requests (and each of a few parallel workers) skip the TCP and TLS
/// handshakes. Thread-safe.
final class HTTPPool: @unchecked Sendable {
    static let shared = HTTPPool()
    /// Idle connections kept per key; more are closed.
    static let perKey = 8
    /// Seconds an idle connection is kept (servers close theirs after a while).
    static let maxIdle = 15.0

    private let lock = NSLockLike()
    private var idle: [String: [HTTPStream]] = [:]

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The most recently used live idle connection for `key`, if any.
    func take(_ key: String) -> HTTPStream? {
        let now = Self.now()
        while true {
            guard let s = lock.withLock({ idle[key]?.popLast() }) else { return nil }
            if now - s.idleSince < Self.maxIdle && s.looksAlive { return s }
            // Released here: closed.
        }
    }

    /// Keeps `s` for a later request (or closes it when `key` has enough idle ones).
    func put(_ key: String, _ s: HTTPStream) {
        s.idleSince = Self.now()
        lock.withLock {
            if idle[key, default: []].count < Self.perKey { idle[key, default: []].append(s) }
        }
    }
}

/// An http:// or https:// URL, split.
struct HTTPURL {
    var tls: Bool
    /// A name or an address (an IPv6 address without brackets).
    var host: String
    var port: Int
    /// The path and query, "/" when the URL has none.
    var target: String
    /// HOST[:PORT] as the Host header carries it: the port left out when it is the scheme's default.
    var hostHeader: String

    init(_ url: String) throws {
        let rest: Substring
        if url.hasPrefix("https://") { tls = true; rest = url.dropFirst(8) }
        else if url.hasPrefix("http://") { tls = false; rest = url.dropFirst(7) }
        else { throw RemoteError("'\(url)': only http:// and https:// URLs are supported") }
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<slash]
        target = slash == rest.endIndex ? "/" : (rest[slash] == "?" ? "/" : "") + String(rest[slash...])
        var h = String(authority), p = tls ? 443 : 80
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            h = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { p = Int(after.dropFirst()) ?? -1 } else if !after.isEmpty { p = -1 }
        } else if let colon = authority.lastIndex(of: ":") {
            h = String(authority[..<colon]); p = Int(authority[authority.index(after: colon)...]) ?? -1
        }
        guard !h.isEmpty, !h.contains("@"), p > 0, p < 65536 else { throw RemoteError("'\(url)' is not a valid http URL") }
        host = h; port = p
        let bracketed = h.contains(":") ? "[\(h)]" : h
        hostHeader = p == (tls ? 443 : 80) ? bracketed : "\(bracketed):\(p)"
    }
}

/// A blocking GET of an http:// or https:// URL (for `mlrepo monitor` and other small reads).
public enum HTTPClient {
    /// GETs `url` (http[s]://HOST[:PORT]/PATH); returns the status and body.
    public static func get(_ url: String, timeout: Double = 10) throws -> (status: Int, body: [UInt8]) {
        let u = try HTTPURL(url)
        let r = try HTTPConnection(host: u.host, port: u.port, timeout: timeout, tls: u.tls)
            .send(method: "GET", target: u.target, headers: ["host": u.hostHeader, "accept": "application/json"], body: nil)
        return (r.status, r.body)
    }
}
