#if canImport(Glibc)
import Glibc
#endif
import Support

/// A minimal blocking HTTP/1.1 GET for `mlrepo monitor` (plain http only).
public enum HTTPClient {
    /// GETs `url` (http://HOST[:PORT]/PATH); returns status and body. Time-out in seconds.
    public static func get(_ url: String, timeout: Double = 10) throws -> (status: Int, body: [UInt8]) {
        guard url.hasPrefix("http://") else { throw ServeError("'\(url)': only http:// URLs are supported") }
        let rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var host = authority, port = "80"
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { port = String(after.dropFirst()) }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon]); port = String(authority[authority.index(after: colon)...])
        }
        guard !host.isEmpty, Int(port) != nil else { throw ServeError("'\(url)' is not a valid http URL") }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, port, &hints, &res) == 0, let ai = res else { throw ServeError("cannot resolve '\(host)'") }
        defer { freeaddrinfo(res) }
        let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
        guard fd >= 0 else { throw ServeError("socket failed: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            throw ServeError("cannot connect to \(authority): \(String(cString: strerror(errno)))")
        }
        let req = Array("GET \(path) HTTP/1.1\r\nHost: \(authority)\r\nConnection: close\r\nAccept: application/json\r\n\r\n".utf8)
        var sent = 0
        while sent < req.count {
            let r = req.withUnsafeBytes { send(fd, $0.baseAddress! + sent, req.count - sent, Int32(MSG_NOSIGNAL)) }
            guard r > 0 else { throw ServeError("sending to \(authority) failed: \(String(cString: strerror(errno)))") }
            sent += r
        }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let r = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if r > 0 { data.append(contentsOf: buf[0..<r]); continue }
            if r == 0 { break }
            if errno == EINTR { continue }
            throw ServeError("reading from \(authority) failed: \(String(cString: strerror(errno)))")
        }
        let parsed = data.withUnsafeBufferPointer { parseResponse($0) }
        guard let p = parsed else { throw ServeError("\(authority) sent a malformed HTTP response") }
        return p
    }

    static func parseResponse(_ buf: UnsafeBufferPointer<UInt8>) -> (Int, [UInt8])? {
        var i = 0
        while i + 3 < buf.count && !(buf[i] == 13 && buf[i + 1] == 10 && buf[i + 2] == 13 && buf[i + 3] == 10) { i += 1 }
        guard i + 3 < buf.count else { return nil }
        let head = String(decoding: UnsafeBufferPointer(rebasing: buf[0..<i]), as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let status = lines.first?.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        guard status > 0 else { return nil }
        var body = Array(UnsafeBufferPointer(rebasing: buf[(i + 4)...]))
        let chunked = lines.contains { $0.lowercased().hasPrefix("transfer-encoding:") && $0.lowercased().contains("chunked") }
        if chunked {
            var out: [UInt8] = [], p = 0
            while p < body.count {
                var e = p
                while e < body.count && body[e] != 10 { e += 1 }
                let line = String(decoding: body[p..<e], as: UTF8.self).filter { $0 != "\r" && $0 != " " }
                guard let size = Int(line.split(separator: ";").first.map(String.init) ?? "", radix: 16), size > 0 else { break }
                p = e + 1
                guard p + size <= body.count else { break }
                out.append(contentsOf: body[p..<(p + size)])
                p += size + 2
            }
            body = out
        }
        return (status, body)
    }
}
