#if canImport(Glibc)
import Glibc
#endif
import Support

/// A small blocking HTTP/1.1 client over POSIX sockets for S3-compatible endpoints (plain
/// http; one connection per request). Bodies come from memory or stream from a file;
/// responses go to memory or stream to a file.
struct HTTPConnection {
    let host: String
    let port: Int
    let timeout: Double

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    enum Body {
        case bytes([UInt8])
        case file(path: String, size: Int)
    }

    func send(method: String, target: String, headers: [String: String], body: Body?, responseTo file: String? = nil) throws -> Response {
        let fd = try connect()
        defer { close(fd) }
        var head = "\(method) \(target) HTTP/1.1\r\n"
        var h = headers
        h["connection"] = "close"
        switch body {
        case .bytes(let b)?: h["content-length"] = String(b.count)
        case .file(_, let size)?: h["content-length"] = String(size)
        case nil: if method == "PUT" || method == "POST" { h["content-length"] = "0" }
        }
        for (k, v) in h.sorted(by: { $0.key < $1.key }) { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        try writeAll(fd, Array(head.utf8))
        switch body {
        case .bytes(let b)?: try writeAll(fd, b)
        case .file(let path, let size)?:
            let src = open(path, O_RDONLY | O_CLOEXEC)
            guard src >= 0 else { throw RemoteError("cannot read '\(path)': \(String(cString: strerror(errno)))") }
            defer { close(src) }
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            var left = size
            while left > 0 {
                let r = buf.withUnsafeMutableBytes { read(src, $0.baseAddress, min($0.count, left)) }
                if r < 0 && errno == EINTR { continue }
                guard r > 0 else { throw RemoteError("'\(path)' shrank while being uploaded") }
                try writeAll(fd, Array(buf[0..<r]))
                left -= r
            }
        case nil: break
        }
        return try readResponse(fd, method: method, to: file)
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

    func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let r = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { throw RemoteError("sending to \(host):\(port) failed: \(String(cString: strerror(errno)))") }
            off += r
        }
    }

    func readResponse(_ fd: Int32, method: String, to file: String?) throws -> Response {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        func fill() throws -> Bool {
            while true {
                let r = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if r > 0 { data.append(contentsOf: buf[0..<r]); return true }
                if r == 0 { return false }
                if errno == EINTR { continue }
                throw RemoteError("reading from \(host):\(port) failed: \(String(cString: strerror(errno)))")
            }
        }
        var headEnd = -1
        while headEnd < 0 {
            if let i = findCRLFCRLF(data) { headEnd = i; break }
            guard try fill() else { throw RemoteError("\(host):\(port) closed the connection without answering") }
        }
        let head = String(decoding: data[0..<headEnd], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst()
        guard let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw RemoteError("\(host):\(port) sent a malformed status line")
        }
        var headers: [String: String] = [:]
        for l in lines { if let c = l.firstIndex(of: ":") { headers[l[..<c].lowercased()] = String(l[l.index(after: c)...]).remoteTrim(" \t") } }
        data.removeFirst(headEnd + 4)
        if status == 100 { return try readResponse(fd, method: method, to: file) }
        var out: Int32 = -1
        if let file, status / 100 == 2 {
            out = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
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
        if method == "HEAD" || status == 204 || status == 304 { return Response(status: status, headers: headers, body: []) }
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                var lineEnd = data.firstIndex(of: 10)
                while lineEnd == nil { guard try fill() else { throw RemoteError("\(host):\(port): truncated chunked response") }; lineEnd = data.firstIndex(of: 10) }
                let sizeText = String(decoding: data[0..<lineEnd!], as: UTF8.self).remoteTrim(" \r")
                let size = Int(sizeText.split(separator: ";").first.map(String.init) ?? "", radix: 16) ?? -1
                guard size >= 0 else { throw RemoteError("\(host):\(port): malformed chunked response") }
                data.removeFirst(lineEnd! + 1)
                if size == 0 { break }
                while data.count < size + 2 { guard try fill() else { throw RemoteError("\(host):\(port): truncated chunked response") } }
                try emit(data[0..<size], into: &body)
                data.removeFirst(size + 2)
            }
        } else if let cl = headers["content-length"], let n = Int(cl) {
            var left = n
            while true {
                let take = min(left, data.count)
                try emit(data[0..<take], into: &body)
                data.removeFirst(take)
                left -= take
                if left == 0 { break }
                guard try fill() else { throw RemoteError("\(host):\(port): response ended \(left) bytes early") }
            }
        } else {
            try emit(data[...], into: &body)
            data = []
            while try fill() { try emit(data[...], into: &body); data = [] }
        }
        return Response(status: status, headers: headers, body: body)
    }

    func findCRLFCRLF(_ d: [UInt8]) -> Int? {
        guard d.count >= 4 else { return nil }
        for i in 0...(d.count - 4) where d[i] == 13 && d[i + 1] == 10 && d[i + 2] == 13 && d[i + 3] == 10 { return i }
        return nil
    }
}

/// A blocking GET of an http:// URL (for `mlrepo monitor` and other small reads).
public enum HTTPClient {
    /// GETs `url` (http://HOST[:PORT]/PATH); returns the status and body.
    public static func get(_ url: String, timeout: Double = 10) throws -> (status: Int, body: [UInt8]) {
        guard url.hasPrefix("http://") else { throw RemoteError("'\(url)': only http:// URLs are supported") }
        let rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var host = authority, port = 80
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { port = Int(after.dropFirst()) ?? -1 }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon]); port = Int(authority[authority.index(after: colon)...]) ?? -1
        }
        guard !host.isEmpty, port > 0, port < 65536 else { throw RemoteError("'\(url)' is not a valid http URL") }
        let r = try HTTPConnection(host: host, port: port, timeout: timeout)
            .send(method: "GET", target: path, headers: ["host": authority, "accept": "application/json"], body: nil)
        return (r.status, r.body)
    }
}
