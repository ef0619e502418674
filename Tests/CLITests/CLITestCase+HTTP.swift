import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client over raw sockets, for the tests that talk to `mlrepo serve`
/// byte by byte (pipelining, partial heads, stalls) where a real client would hide what the
/// server does.
struct Reply {
    var status: Int
    var headers: [String: String]
    var body: String
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) }
}

extension CLITestCase {
    /// A socket connected to 127.0.0.1:`port` (receive timeout `timeout` seconds, Nagle off),
    /// or -1.
    func openSocket(_ port: Int, timeout: Int = 10) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        leftovers[fd] = nil
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if rc != 0 { close(fd); return -1 }
        return fd
    }

    func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let r = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if r <= 0 { return }
            off += r
        }
    }

    /// Reads one Content-Length framed response (skipping 100 Continue); bytes past its end
    /// are kept for the next call on the same socket. Nil: closed or timed out first.
    func readReply(_ fd: Int32) -> Reply? {
        var data = leftovers.removeValue(forKey: fd) ?? []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            if let end = find(data, Array("\r\n\r\n".utf8)) {
                let head = String(decoding: data[0..<end], as: UTF8.self)
                var lines = head.components(separatedBy: "\r\n")
                let status = Int(lines.removeFirst().split(separator: " ").dropFirst().first ?? "") ?? 0
                var headers: [String: String] = [:]
                for l in lines { if let c = l.firstIndex(of: ":") { headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces) } }
                let len = Int(headers["content-length"] ?? "0") ?? 0
                if status == 100 { data.removeFirst(end + 4); continue }
                if data.count >= end + 4 + len {
                    if data.count > end + 4 + len { leftovers[fd] = Array(data[(end + 4 + len)...]) }
                    return Reply(status: status, headers: headers, body: String(decoding: data[(end + 4)..<(end + 4 + len)], as: UTF8.self))
                }
            }
            let r = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if r <= 0 { return nil }
            data.append(contentsOf: buf[0..<r])
        }
    }

    /// The port a started `mlrepo serve` (“listening on URL”) or `mlrepo ui` (“serving NAME on
    /// URL”) listens on, once it says so (http or https). A server
    /// that exits first is a failure (`ServerExited`, the server reaped); one that says nothing
    /// within `timeout` seconds too.
    func listening(_ s: Spawned, timeout: Double = 30, file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let err = (try? String(contentsOf: s.errURL, encoding: .utf8)) ?? ""
            if let r = err.range(of: #"(?:listening|mlrepo ui: serving .*) on https?://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
               let port = Int(err[r].split(separator: ":").last ?? "") {
                return port
            }
            var st: Int32 = 0
            if waitpid(s.pid, &st, WNOHANG) == s.pid {
                XCTFail("serve exited early: \(err)", file: file, line: line)
                throw ServerExited(pid: s.pid)
            }
            usleep(20_000)
        }
        XCTFail("serve did not start", file: file, line: line)
        throw NSError(domain: "serve", code: 2)
    }

    /// One request on a new connection to 127.0.0.1:`port` (Host set unless `headers` has
    /// one; the connection closed after it); nil when nothing comes back.
    func sendRequest(_ port: Int, _ method: String, _ target: String, headers: [String: String] = [:], body: String? = nil) -> Reply? {
        let fd = openSocket(port)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var head = "\(method) \(target) HTTP/1.1\r\n"
        if headers["Host"] == nil { head += "Host: 127.0.0.1:\(port)\r\n" }
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body { head += "Content-Length: \(body.utf8.count)\r\n" }
        head += "Connection: close\r\n\r\n"
        sendAll(fd, Array((head + (body ?? "")).utf8))
        return readReply(fd)
    }

    func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }
}

/// A server that exited before it listened (already reaped: drop it from the list to stop).
struct ServerExited: Error { let pid: pid_t }
