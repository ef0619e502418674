import Support
import Synchronization

/// A failure of the network layer, one line naming the peer (or file) and what failed.
public struct NetError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    /// The errno of the failed call (0: none).
    public let code: Int32
    /// A retry cannot fix it (no libssl, a certificate that does not verify).
    public let permanent: Bool

    public init(_ message: String, code: Int32 = 0, permanent: Bool = false) {
        self.message = message; self.code = code; self.permanent = permanent
    }

    public var description: String { message }
    /// A socket time-out (SO_RCVTIMEO / SO_SNDTIMEO ran out).
    public var timedOut: Bool { Errno("recv", code: code).wouldBlock }
}

/// A kept-alive connection that the server closed meanwhile: try again on a fresh one.
struct StaleConnection: Error {
    let error: NetError
}

/// A small blocking HTTP/1.1 client over POSIX sockets for S3-compatible endpoints and
/// `mlrepo monitor`: plain http, or https through OpenSSL's libssl, which is loaded at run
/// time (CShims/tls.c) so that the binary links only libcrypto. Certificates and host names
/// are always verified, against the system's trust store or the PEM file in AWS_CA_BUNDLE
/// (else SSL_CERT_FILE). Connections are kept alive and reused (`HTTPPool`). Bodies come
/// from memory or stream from a file; responses go to memory or stream to a file.
public struct HTTPConnection: Sendable {
    /// A name or an address (an IPv6 address without brackets).
    public let host: String
    public let port: Int
    public let timeout: Double
    /// https: TLS, with the certificate chain and the host name verified.
    public var tls = false
    /// A PEM file of the CAs to trust instead of the system's (the CLI takes it from
    /// AWS_CA_BUNDLE, else SSL_CERT_FILE); nil: the system's default trust store.
    public var caFile: String? = nil

    public typealias Response = HTTPClientResponse

    public enum Body: Sendable {
        case bytes([UInt8])
        case file(path: String, size: Int)
    }

    public init(host: String, port: Int, timeout: Double, tls: Bool = false, caFile: String? = nil) {
        self.host = host; self.port = port; self.timeout = timeout; self.tls = tls; self.caFile = caFile
    }

    /// `https://HOST:PORT` or, for plain http, `HOST:PORT`: the prefix of error messages.
    public var label: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return (tls ? "https://" : "") + "\(h):\(port)"
    }

    var poolKey: String { (tls ? "https://" : "http://") + "\(host):\(port)" + (tls ? "|" + (caFile ?? "") : "") }

    /// Sends one request and reads its response, over a kept-alive connection when one is
    /// idle. All requests this client sends are idempotent, so when a reused connection turns
    /// out closed (the write fails, or it ends before any response byte) the request is sent
    /// once more on a fresh connection. Failures throw `NetError`. A body kept in memory (no
    /// `file`) larger than `maxBody` bytes is refused as it arrives, before it is held.
    public func send(method: String, target: String, headers: [String: String], body: Body?, responseTo file: String? = nil,
                     maxBody: Int = HTTPConnection.defaultMaxBody) throws -> Response {
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
            do { return try exchange(stream, request, method: method, body: body, to: file, key: key, maxBody: maxBody) } catch is StaleConnection {}
        }
        do {
            return try exchange(try open(), request, method: method, body: body, to: file, key: key, maxBody: maxBody)
        } catch let e as StaleConnection { throw e.error }
    }

    /// The default bound on a response body kept in memory: 1 GiB.
    public static let defaultMaxBody = 1 << 30

    private func exchange(_ s: HTTPStream, _ head: [UInt8], method: String, body: Body?, to file: String?, key: String, maxBody: Int) throws -> Response {
        try head.withUnsafeBytes { try s.write($0) }
        switch body {
        case .bytes(let b)?: try b.withUnsafeBytes { try s.write($0) }
        case .file(let path, let size)?:
            let src: Int32
            do throws(Errno) { src = try Sys.openRead(path) } catch { throw NetError("cannot read '\(path)': \(error.message)", code: error.code) }
            defer { Sys.close(src) }
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            var left = size
            while left > 0 {
                let r = (try? buf.withUnsafeMutableBytes { b throws(Errno) in try Sys.read(src, UnsafeMutableRawBufferPointer(rebasing: b[0..<min(b.count, left)])) }) ?? -1
                guard r > 0 else { throw NetError("'\(path)' shrank while being uploaded") }
                try buf.withUnsafeBytes { try s.write(UnsafeRawBufferPointer(rebasing: $0[0..<r])) }
                left -= r
            }
        case nil: break
        }
        let (response, reusable) = try s.readResponse(method: method, to: file, maxBody: maxBody)
        if reusable { HTTPPool.shared.put(key, s) }
        return response
    }

    /// A new connection: TCP, then the TLS handshake for https.
    func open() throws -> HTTPStream {
        let fd = try connect()
        guard tls else { return HTTPStream(fd: fd, session: nil, label: label) }
        let (session, why, code) = Sys.tlsConnect(fd, host: host, caFile: caFile)
        guard let session else {
            Sys.close(fd)
            // EPROTO: TLS itself refused (no libssl, an untrusted certificate): retrying cannot help.
            throw NetError("\(label): \(why)", code: code, permanent: Sys.isTLSRefusal(code))
        }
        return HTTPStream(fd: fd, session: session, label: label)
    }

    /// A connected blocking TCP socket (send and receive time-outs set, Nagle off).
    func connect() throws -> Int32 {
        var lastErr: Int32 = 0
        let fd: Int32?
        do {
            fd = try Sys.withAddresses(host: host, port: port, passive: false) { a -> Int32? in
                guard let fd = try? Sys.socket(for: a, nonBlocking: false) else { return nil }
                Sys.setTimeouts(fd, seconds: timeout)
                Sys.noDelay(fd)
                do throws(Errno) { try Sys.connect(fd, a); return fd } catch { lastErr = error.code }
                Sys.close(fd)
                return nil
            }
        } catch {
            throw NetError("cannot resolve '\(host)'")
        }
        guard let fd else { throw NetError("cannot connect to \(host):\(port): \(Errno("connect", code: lastErr).message)", code: lastErr) }
        return fd
    }
}

/// One open connection: a socket and, for https, the TLS session over it. Closed when
/// released. Used by one request at a time.
public final class HTTPStream: HTTPByteSource, @unchecked Sendable {
    let fd: Int32
    let session: UnsafeMutableRawPointer?
    public let label: String
    /// Receive buffer, kept for the connection's life (many small responses over one).
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    /// Monotonic seconds when it was last put back in the pool.
    var idleSince = 0.0

    init(fd: Int32, session: UnsafeMutableRawPointer?, label: String) {
        self.fd = fd; self.session = session; self.label = label
    }

    deinit {
        if let session { Sys.tlsClose(session) }
        Sys.close(fd)
    }

    /// Sends all of `bytes`; a failure throws StaleConnection.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[off...])
            let r: Int, why: String, code: Int32
            if let session {
                (r, why, code) = Sys.tlsIO(session, UnsafeMutableRawBufferPointer(mutating: rest), writing: true)
            } else {
                do throws(Errno) { (r, why, code) = (try Sys.send(fd, rest), "", 0) } catch { (r, why, code) = (-1, error.message, error.code) }
            }
            guard r > 0 else {
                throw StaleConnection(error: NetError("sending to \(label) failed: \(r == 0 && session == nil ? "nothing sent" : why)", code: code))
            }
            off += r
        }
    }

    /// Reads into `buffer`: the count, 0 at the end of the stream.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if let session {
            let (r, why, code) = Sys.tlsIO(session, buffer, writing: false)
            if r >= 0 { return r }
            throw NetError("reading from \(label) failed: \(why)", code: code)
        }
        do throws(Errno) { return try Sys.recv(fd, buffer) } catch {
            throw NetError("reading from \(label) failed: \(error.message)", code: error.code)
        }
    }

    /// Reads one response (see `readResponse`), with this connection's receive buffer.
    func readResponse(method: String, to file: String?, maxBody: Int = HTTPConnection.defaultMaxBody) throws -> (HTTPClientResponse, Bool) {
        try Net.readResponse(self, method: method, to: file, scratch: &buffer, maxBody: maxBody)
    }

    /// An idle connection is worth reusing while there is nothing to read on it: readable
    /// means the server closed it (or sent something unasked).
    var looksAlive: Bool { !Sys.readable(fd) }
}

/// Idle kept-alive connections by scheme, host, port (and trust store): a few per key, so
/// that sequential requests (and each of a few parallel workers) skip the TCP and TLS
/// handshakes. Thread-safe.
final class HTTPPool: Sendable {
    static let shared = HTTPPool()
    /// Idle connections kept per key; more are closed.
    static let perKey = 8
    /// Seconds an idle connection is kept (servers close theirs after a while).
    static let maxIdle = 15.0

    private let idle = Mutex<[String: [HTTPStream]]>([:])

    /// The most recently used live idle connection for `key`, if any.
    func take(_ key: String) -> HTTPStream? {
        let now = Sys.monotonicSeconds()
        while true {
            guard let s = idle.withLock({ $0[key]?.popLast() }) else { return nil }
            if now - s.idleSince < Self.maxIdle && s.looksAlive { return s }
            // Released here: closed.
        }
    }

    /// Keeps `s` for a later request (or closes it when `key` has enough idle ones).
    func put(_ key: String, _ s: HTTPStream) {
        s.idleSince = Sys.monotonicSeconds()
        idle.withLock {
            if $0[key, default: []].count < Self.perKey { $0[key, default: []].append(s) }
        }
    }
}

/// An http:// or https:// URL, split.
public struct HTTPURL: Sendable {
    public var tls: Bool
    /// A name or an address (an IPv6 address without brackets).
    public var host: String
    public var port: Int
    /// The path and query, "/" when the URL has none.
    public var target: String
    /// HOST[:PORT] as the Host header carries it: the port left out when it is the scheme's default.
    public var hostHeader: String

    public init(_ url: String) throws {
        let rest: Substring
        if url.hasPrefix("https://") { tls = true; rest = url.dropFirst(8) }
        else if url.hasPrefix("http://") { tls = false; rest = url.dropFirst(7) }
        else { throw NetError("'\(url)': only http:// and https:// URLs are supported") }
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
        guard !h.isEmpty, !h.contains("@"), p > 0, p < 65536 else { throw NetError("'\(url)' is not a valid http URL") }
        host = h; port = p
        let bracketed = h.contains(":") ? "[\(h)]" : h
        hostHeader = p == (tls ? 443 : 80) ? bracketed : "\(bracketed):\(p)"
    }
}

/// A blocking GET of an http:// or https:// URL (for `mlrepo monitor` and other small reads).
public enum HTTPClient {
    /// GETs `url` (http[s]://HOST[:PORT]/PATH); returns the status and body. `caFile`: the
    /// CAs to trust for https instead of the system's.
    public static func get(_ url: String, timeout: Double = 10, caFile: String? = nil) throws -> (status: Int, body: [UInt8]) {
        let u = try HTTPURL(url)
        let r = try HTTPConnection(host: u.host, port: u.port, timeout: timeout, tls: u.tls, caFile: caFile)
            .send(method: "GET", target: u.target, headers: ["host": u.hostHeader, "accept": "application/json"], body: nil)
        return (r.status, r.body)
    }
}
