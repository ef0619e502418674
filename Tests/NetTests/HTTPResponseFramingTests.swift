import Foundation
import XCTest
@testable import Net

/// Bytes in memory as a connection: handed out in the pieces given (each at most as large as
/// the reader's buffer), then the end of the stream, or `failure`.
final class FakeSource: HTTPByteSource {
    let label = "fake:80"
    var pieces: [[UInt8]]
    var failure: NetError?

    init(_ pieces: [[UInt8]], failure: NetError? = nil) { self.pieces = pieces; self.failure = failure }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !pieces.isEmpty else {
            if let failure { throw failure }
            return 0
        }
        let p = pieces.removeFirst()
        let n = min(p.count, buffer.count)
        p.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        if n < p.count { pieces.insert(Array(p[n...]), at: 0) }
        return n
    }
}

/// The client's response framing (`readResponse`): Content-Length, chunked (strict, shared
/// with the server's parser), bodies to the end of the stream, interim responses, and every
/// way a response can be cut short or malformed.
final class HTTPResponseFramingTests: XCTestCase {
    /// Reads `wire` whole, in pieces of `piece` bytes, and byte by byte with a tiny buffer;
    /// all three must agree. Returns the response and whether the connection is reusable.
    /// (Bytes after the response make the connection unusable only when they arrived with it:
    /// `junk` leaves out that comparison.)
    func read(_ wire: String, method: String = "GET", to file: String? = nil, junk: Bool = false,
              file f: StaticString = #filePath, line: UInt = #line) throws -> (HTTPClientResponse, Bool) {
        let bytes = Array(wire.utf8)
        var results: [(HTTPClientResponse, Bool)] = []
        for (piece, bufferSize) in [(max(1, bytes.count), 1 << 16), (7, 1 << 16), (1, 3)] {
            let pieces = stride(from: 0, to: bytes.count, by: piece).map { Array(bytes[$0..<min(bytes.count, $0 + piece)]) }
            var scratch = [UInt8](repeating: 0, count: bufferSize)
            results.append(try readResponse(FakeSource(pieces), method: method, to: file, scratch: &scratch))
        }
        for r in results.dropFirst() {
            XCTAssertEqual(r.0.status, results[0].0.status, file: f, line: line)
            XCTAssertEqual(r.0.body, results[0].0.body, file: f, line: line)
            XCTAssertEqual(r.0.headers, results[0].0.headers, file: f, line: line)
            if !junk { XCTAssertEqual(r.1, results[0].1, file: f, line: line) }
        }
        return results[0]
    }

    /// The error reading `wire` throws (its text), or "no error".
    func failure(_ wire: String, method: String = "GET") -> String {
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        do {
            _ = try readResponse(FakeSource([Array(wire.utf8)]), method: method, to: nil, scratch: &scratch)
            return "no error"
        } catch let e as StaleConnection {
            return "stale: \(e.error)"
        } catch {
            return "\(error)"
        }
    }

    func testContentLength() throws {
        let (r, reusable) = try read("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-A:  spaced \t\r\n\r\nhello")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "hello")
        XCTAssertEqual(r.headers["content-type"], "text/plain")
        XCTAssertEqual(r.headers["x-a"], "spaced")
        XCTAssertTrue(reusable)
        // Not reusable: connection: close, HTTP/1.0, or bytes after the body.
        XCTAssertFalse(try read("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi").1)
        XCTAssertFalse(try read("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi").1)
        let extra = try read("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\n", junk: true)
        XCTAssertEqual(extra.0.body, Array("hi".utf8))
        XCTAssertFalse(extra.1)
        // Zero length, and no body for HEAD, 204 and 304 whatever the headers say.
        XCTAssertEqual(try read("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").0.body, [])
        let head = try read("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", method: "HEAD")
        XCTAssertEqual(head.0.body, [])
        XCTAssertTrue(head.1)
        XCTAssertTrue(try read("HTTP/1.1 204 No Content\r\n\r\n").1)
    }

    func testChunked() throws {
        let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
            "5;name=value\r\nhello\r\n1\r\n,\r\nA\r\n 012345678\r\n0\r\nX-Trailer: yes\r\n\r\n"
        let (r, reusable) = try read(wire)
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "hello, 012345678")
        XCTAssertTrue(reusable)
        // Upper-case hex, no trailer; bytes after the last chunk make it not reusable.
        XCTAssertEqual(try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nB\r\nhello world\r\n0\r\n\r\n").0.body, Array("hello world".utf8))
        XCTAssertFalse(try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\njunk", junk: true).1)
    }

    func testBadChunkSizesAreErrors() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        for body in ["-2\r\nhi\r\n0\r\n\r\n", "+2\r\nhi\r\n0\r\n\r\n", "0x2\r\nhi\r\n0\r\n\r\n", "zz\r\n\r\n", " 2\r\nhi\r\n0\r\n\r\n",
                     "2 \r\nhi\r\n0\r\n\r\n", "2;\r\nhi\r\n0\r\n\r\n", "\r\n", "2\nhi\r\n0\r\n\r\n",
                     "2\r\nhiX\r\n0\r\n\r\n", "2\r\nhi\n0\r\n\r\n", "0\r\nbad trailer\r\n\r\n",
                     String(repeating: "1", count: 5000) + "\r\n"] {
            let e = failure(head + body)
            XCTAssertTrue(e.hasPrefix("fake:80: malformed chunked response ("), "\(body.prefix(40).debugDescription): \(e)")
            XCTAssertFalse(e.contains("\n"), e)
        }
        // A huge size is not an overflow: it waits for data that never comes.
        XCTAssertEqual(failure(head + "ffffffffffffffffffffffff\r\nab"), "fake:80: truncated chunked response")
    }

    func testTruncatedResponses() {
        XCTAssertEqual(failure("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"), "fake:80: response ended 5 bytes early")
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        for cut in [chunked, chunked + "5", chunked + "5\r\nhel", chunked + "5\r\nhello", chunked + "5\r\nhello\r\n0\r\n", chunked + "5\r\nhello\r\n0\r\nX: 1\r\n"] {
            XCTAssertEqual(failure(cut), "fake:80: truncated chunked response", cut.debugDescription)
        }
        XCTAssertEqual(failure("HTTP/1.1 200 OK\r\nContent-Le"), "fake:80 closed the connection without answering")
        XCTAssertEqual(failure("garbage\r\n\r\n"), "fake:80 sent a malformed status line")
        // Nothing at all: the connection was closed while idle (the client retries).
        XCTAssertEqual(failure(""), "stale: fake:80 closed the connection without answering")
    }

    func testReadErrors() {
        var scratch = [UInt8](repeating: 0, count: 64)
        func run(_ pieces: [String], _ error: NetError) -> String {
            do {
                _ = try readResponse(FakeSource(pieces.map { Array($0.utf8) }, failure: error), method: "GET", to: nil, scratch: &scratch)
                return "no error"
            } catch let e as StaleConnection { return "stale: \(e.error)" } catch { return "\(error)" }
        }
        // A reset before any byte: stale (retry on a fresh connection); a time-out: not.
        XCTAssertEqual(run([], NetError("reset", code: ECONNRESET)), "stale: reset")
        XCTAssertEqual(run([], NetError("slow", code: EAGAIN)), "slow")
        // After the first byte, every failure is the answer.
        XCTAssertEqual(run(["HTTP/1.1 200 OK\r\n"], NetError("reset", code: ECONNRESET)), "reset")
    }

    func testInterimResponsesAndBodiesToTheEnd() throws {
        let (r, reusable) = try read("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        XCTAssertEqual(r.status, 201)
        XCTAssertEqual(r.body, Array("ok".utf8))
        XCTAssertTrue(reusable)
        // No length: the body runs to the end of the stream; the connection is done.
        let toEnd = try read("HTTP/1.1 200 OK\r\n\r\neverything until the end")
        XCTAssertEqual(String(decoding: toEnd.0.body, as: UTF8.self), "everything until the end")
        XCTAssertFalse(toEnd.1)
    }

    func testBodyToAFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-net-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (r, _) = try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n", to: path)
        XCTAssertEqual(r.body, [])
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "abcdefg")
        // An error answer is kept in memory (its message), not written to the file.
        try? FileManager.default.removeItem(atPath: path)
        let (e, _) = try read("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nNoSuchKey", to: path)
        XCTAssertEqual(e.body, Array("NoSuchKey".utf8))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        // A file that cannot be written: one line naming it.
        var scratch = [UInt8](repeating: 0, count: 64)
        XCTAssertThrowsError(try readResponse(FakeSource([Array("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx".utf8)]), method: "GET",
                                              to: "/nonexistent-dir/x", scratch: &scratch)) {
            XCTAssertTrue("\($0)".hasPrefix("cannot write '/nonexistent-dir/x': "), "\($0)")
        }
    }

    /// A body kept in memory is bounded: an announced length over the bound is refused before
    /// anything is read, and a chunked or unframed body as soon as it passes the bound.
    func testMemoryBodyIsBounded() throws {
        var scratch = [UInt8](repeating: 0, count: 64)
        func attempt(_ wire: String, max: Int) throws -> HTTPClientResponse {
            try readResponse(FakeSource([Array(wire.utf8)]), method: "GET", to: nil, scratch: &scratch, maxBody: max).0
        }
        XCTAssertEqual(try attempt("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd", max: 4).body, Array("abcd".utf8))
        for wire in ["HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\nabcd",
                     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde",
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
                     "HTTP/1.0 200 OK\r\n\r\nabcdefgh"] {
            XCTAssertThrowsError(try attempt(wire, max: 4), wire) {
                XCTAssertTrue("\($0)".contains("sent a response body larger than the 4 bytes expected"), "\($0)")
                XCTAssertTrue(($0 as? NetError)?.permanent == true)
            }
        }
    }

    /// An error answer to a download is kept for its message, only its first 64 KiB.
    func testErrorBodyOfADownloadIsCut() throws {
        let big = String(repeating: "e", count: 200_000)
        var scratch = [UInt8](repeating: 0, count: 64)
        let r = try readResponse(FakeSource([Array("HTTP/1.1 500 Oops\r\nContent-Length: \(big.utf8.count)\r\n\r\n\(big)".utf8)]),
                                 method: "GET", to: "/nonexistent-dir/x", scratch: &scratch, maxBody: 10).0
        XCTAssertEqual(r.status, 500)
        XCTAssertEqual(r.body.count, 64 << 10)
    }

    /// The client against a real socket: a one-shot server on localhost answers two requests
    /// on one kept-alive connection (the second chunked), which the pool then reuses.
    func testClientOverALocalSocket() throws {
        let listener = try ListeningSocket(host: "127.0.0.1", port: 0)
        defer { listener.close() }
        let answers = ["HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none",
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n"]
        let served = Sys.spawnThread { [fd = listener.fd] in
            // Blocking accept via poll-free retry: the listening socket is non-blocking.
            var conn: Int32 = -1
            for _ in 0..<500 {
                if let c = try? Sys.accept(fd) { conn = c; break }
                usleep(10_000)
            }
            guard conn >= 0 else { return }
            defer { Sys.close(conn) }
            var buf = [UInt8](repeating: 0, count: 4096)
            for a in answers {
                var got: [UInt8] = []
                while !got.contains(sequence: [13, 10, 13, 10]) {
                    switch buf.withUnsafeMutableBytes({ SocketIO.read(conn, into: $0) }) {
                    case .done(let n) where n > 0: got += buf[0..<n]
                    case .wait: usleep(1000)
                    default: return
                    }
                }
                _ = Array(a.utf8).withUnsafeBytes { SocketIO.write(conn, $0) }
            }
            usleep(200_000)
        }
        defer { served?.join() }
        let one = try HTTPClient.get("http://127.0.0.1:\(listener.port)/one")
        XCTAssertEqual(String(decoding: one.body, as: UTF8.self), "one")
        let two = try HTTPClient.get("http://127.0.0.1:\(listener.port)/two")
        XCTAssertEqual(String(decoding: two.body, as: UTF8.self), "two")
    }
}

extension Array where Element == UInt8 {
    func contains(sequence s: [UInt8]) -> Bool {
        guard count >= s.count else { return false }
        for i in 0...(count - s.count) where Array(self[i..<(i + s.count)]) == s { return true }
        return false
    }
}
