import Foundation
import XCTest
@testable import Net

/// The system-call wrappers: errno becomes `Errno` (code, operation, strerror's text), and
/// the socket helpers fail with one line.
final class SystemTests: XCTestCase {
    func testErrnoCarriesTheCallAndTheCode() {
        XCTAssertThrowsError(try Sys.openRead("/nonexistent-\(UUID().uuidString)")) { e in
            guard let e = e as? Errno else { return XCTFail("\(e)") }
            XCTAssertEqual(e.code, ENOENT)
            XCTAssertEqual("\(e.operation)", "open")
            XCTAssertEqual(e.description, "open: No such file or directory")
            XCTAssertFalse(e.wouldBlock)
        }
        XCTAssertTrue(Errno("recv", code: EAGAIN).wouldBlock)
        XCTAssertTrue(NetError("x", code: EWOULDBLOCK).timedOut)
        XCTAssertEqual(Errno("accept", code: EMFILE), Errno("accept", code: EMFILE))
        XCTAssertNotEqual(Errno("accept", code: EMFILE), Errno("recv", code: EMFILE))
    }

    func testListeningSocketsAndNonBlockingIO() throws {
        let a = try ListeningSocket(host: "127.0.0.1", port: 0)
        defer { a.close() }
        XCTAssertGreaterThan(a.port, 0)
        // The port is taken: one line naming it.
        XCTAssertThrowsError(try ListeningSocket(host: "127.0.0.1", port: a.port)) {
            XCTAssertEqual("\($0)", "cannot listen on 127.0.0.1:\(a.port): Address already in use")
        }
        XCTAssertThrowsError(try ListeningSocket(host: "no such host.invalid", port: 0)) {
            XCTAssertTrue("\($0)".hasPrefix("cannot resolve host 'no such host.invalid': "), "\($0)")
        }
        // Nothing to accept yet: EAGAIN, not a failure.
        XCTAssertThrowsError(try Sys.accept(a.fd)) { XCTAssertTrue(($0 as? Errno)?.wouldBlock ?? false, "\($0)") }
        // A connection, then reads and writes that never block.
        let client = try HTTPConnection(host: "127.0.0.1", port: a.port, timeout: 5).connect()
        var server: Int32 = -1
        for _ in 0..<200 where server < 0 { server = (try? Sys.accept(a.fd)) ?? -1; if server < 0 { usleep(5000) } }
        XCTAssertGreaterThanOrEqual(server, 0)
        defer { Sys.close(server) }
        XCTAssertEqual(ClientAddress(peerOf: server).lo, 0xffff_0000_0000_0000 | UInt64(inet_addr("127.0.0.1")))
        var buf = [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(buf.withUnsafeMutableBytes { SocketIO.read(server, into: $0) }, .wait(wantRead: true))
        XCTAssertEqual(Array("ping".utf8).withUnsafeBytes { SocketIO.write(client, $0) }, .done(4))
        var got = IOResult.wait(wantRead: true)
        for _ in 0..<200 { got = buf.withUnsafeMutableBytes { SocketIO.read(server, into: $0) }; if got != .wait(wantRead: true) { break }; usleep(5000) }
        XCTAssertEqual(got, .done(4))
        XCTAssertEqual(Array(buf[0..<4]), Array("ping".utf8))
        // The peer closes: a read of 0.
        Sys.close(client)
        var end = IOResult.wait(wantRead: true)
        for _ in 0..<200 { end = buf.withUnsafeMutableBytes { SocketIO.read(server, into: $0) }; if end != .wait(wantRead: true) { break }; usleep(5000) }
        XCTAssertEqual(end, .done(0))
    }

    func testPollerAndEventFD() throws {
        let p = try Poller()
        defer { p.close() }
        let e = try EventFD()
        defer { e.close() }
        XCTAssertTrue(p.add(e.fd, events: Poller.readable, tag: 42))
        var tags = [UInt64](repeating: 0, count: 4), events = [UInt32](repeating: 0, count: 4)
        XCTAssertEqual(p.wait(tags: &tags, events: &events, timeoutMs: 0), 0)
        e.signal()
        XCTAssertEqual(p.wait(tags: &tags, events: &events, timeoutMs: 1000), 1)
        XCTAssertEqual(tags[0], 42)
        XCTAssertNotEqual(events[0] & Poller.readable, 0)
        e.drain()
        XCTAssertEqual(p.wait(tags: &tags, events: &events, timeoutMs: 0), 0)
    }
}
