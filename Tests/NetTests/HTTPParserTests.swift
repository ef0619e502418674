import XCTest
@testable import Net
import Support

final class HTTPParserTests: XCTestCase {
    func parse(_ s: String, limits: HTTPLimits = HTTPLimits()) -> ParseOutcome {
        parse(Array(s.utf8), limits: limits)
    }
    func parse(_ bytes: [UInt8], limits: HTTPLimits = HTTPLimits()) -> ParseOutcome {
        bytes.withUnsafeBufferPointer { parseRequest($0, limits: limits) }
    }

    func testCompleteIncompleteAndPipelined() {
        let one = "POST /invocations?probabilities=true HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 4\r\n\r\nabcd"
        guard case .request(let r, let used) = parse(one + "GET /ping HTTP/1.1\r\n\r\n") else { return XCTFail("expected a request") }
        XCTAssertEqual(used, one.utf8.count)
        XCTAssertEqual(r.method, "POST")
        XCTAssertEqual(r.path, "/invocations")
        XCTAssertEqual(r.queryValue("probabilities"), "true")
        XCTAssertEqual(r.mediaType, "application/json")
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "abcd")
        XCTAssertTrue(r.http11)
        for cut in [1, 10, one.utf8.count - 1] {
            guard case .incomplete = parse(Array(one.utf8.prefix(cut))) else { return XCTFail("prefix \(cut) should be incomplete") }
        }
        guard case .incomplete(let cont, let head) = parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n"), cont,
              head?.path == "/" else {
            return XCTFail("a head with Expect: 100-continue and no body yet asks for Continue")
        }
    }

    func testChunkedBodies() {
        let s = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: 1\r\n\r\n"
        guard case .request(let r, let used) = parse(s) else { return XCTFail() }
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "abcde")
        XCTAssertEqual(used, s.utf8.count)
        guard case .incomplete = parse(Array(s.utf8.dropLast(3))) else { return XCTFail() }
        guard case .failure(400, _) = parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") else { return XCTFail() }
        guard case .failure(413, _) = parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n", limits: HTTPLimits(maxBodyBytes: 8)) else { return XCTFail() }
        guard case .failure(501, _) = parse("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") else { return XCTFail() }
    }

    func chunked(_ body: String, limits: HTTPLimits = HTTPLimits()) -> ParseOutcome {
        parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + body, limits: limits)
    }

    /// Issue 13 #2: a chunk size of -1 crashed the server and +1f was accepted. Sizes are
    /// strict hex and bounded; every malformed framing is a 400 (or 413/431 for sizes).
    func testChunkSizesAreStrictHexAndBounded() {
        for bad in ["-1", "+1f", "0x1f", " 1f", "1f 2", "1f\t", "", "g", "1_0", "١"] {
            guard case .failure(400, let m) = chunked(bad + "\r\n" + String(repeating: "a", count: 40) + "\r\n0\r\n\r\n") else {
                return XCTFail("chunk size '\(bad)' must be a 400")
            }
            XCTAssertTrue(m.contains("chunk size"), m)
        }
        // Overflowing and oversized sizes: 413 before anything is allocated.
        for huge in ["ffffffffffffffffffff", "8000000000000000", "7fffffffffffffff", String(repeating: "f", count: 200), "4000001"] {
            guard case .failure(413, _) = chunked(huge + "\r\nabc") else { return XCTFail("chunk size \(huge.prefix(30)) must be a 413") }
        }
        // Leading zeros and upper-case digits are fine.
        guard case .request(let r, _) = chunked("0003\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n") else { return XCTFail() }
        XCTAssertEqual(r.body.count, 13)
    }

    func testMalformedChunkFramingIs400() {
        let cases: [(String, String)] = [
            ("3\r\nabcX\r\n0\r\n\r\n", "data without CRLF"),
            ("3\r\nabc\n0\r\n\r\n", "data followed by a bare LF"),
            ("3\r\nabcde\r\n0\r\n\r\n", "data longer than its size"),
            ("3\nabc\r\n0\r\n\r\n", "size line with a bare LF"),
            ("3;\r\nabc\r\n0\r\n\r\n", "an empty extension"),
            ("3;a=\r\nabc\r\n0\r\n\r\n", "an extension without a value"),
            ("3;a=\"x\r\nabc\r\n0\r\n\r\n", "an unterminated quoted extension"),
            ("3;a b\r\nabc\r\n0\r\n\r\n", "an extension with a space inside"),
            ("3;a\u{1}\r\nabc\r\n0\r\n\r\n", "a control byte in an extension"),
            ("3\r\nabc\r\n0\r\nno colon\r\n\r\n", "a trailer line without a colon"),
            ("3\r\nabc\r\n0\r\nX: 1\n\r\n", "a trailer with a bare LF"),
        ]
        for (body, what) in cases {
            guard case .failure(400, _) = chunked(body) else { return XCTFail("\(what) must be a 400") }
        }
        // Well-formed extensions (token and quoted values, spaces around ';') pass.
        guard case .request(let r, _) = chunked("3 ; a=1;b ;c=\"x;\\\" y\"\r\nabc\r\n0;last\r\nX-T: 1\r\n\r\n") else { return XCTFail("valid extensions") }
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "abc")
        // A size line that never ends, and huge trailers, are bounded.
        guard case .failure(400, _) = chunked("1" + String(repeating: "0", count: 5000)) else { return XCTFail("endless size line") }
        guard case .failure(400, _) = chunked("1;" + String(repeating: "a", count: 5000) + "\r\n") else { return XCTFail("huge extension") }
        let limits = HTTPLimits(maxHeaderBytes: 1024)
        let trailers = String(repeating: "X-Pad: " + String(repeating: "p", count: 100) + "\r\n", count: 20)
        guard case .failure(431, _) = chunked("3\r\nabc\r\n0\r\n" + trailers + "\r\n", limits: limits) else { return XCTFail("huge trailers, complete") }
        guard case .failure(431, _) = chunked("3\r\nabc\r\n0\r\n" + trailers, limits: limits) else { return XCTFail("huge trailers, incomplete") }
        guard case .failure(431, _) = chunked("3\r\nabc\r\n0\r\n" + String(repeating: "t", count: 2000), limits: limits) else { return XCTFail("endless trailer line") }
        // Transfer-Encoding over two fields cannot smuggle a second coding.
        guard case .failure(501, _) = parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n") else { return XCTFail("two TE fields") }
        // Split anywhere, a valid chunked body is incomplete, never an error.
        let good = Array("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n".utf8)
        for cut in 0..<good.count {
            switch parse(Array(good.prefix(cut))) {
            case .incomplete: break
            default: XCTFail("prefix \(cut) of a valid chunked request must be incomplete")
            }
        }
    }

    /// Mutation fuzzing of chunked framing (deterministic): random byte flips, inserts and
    /// cuts of valid requests never trap, and every outcome keeps the limits.
    func testChunkedParserSurvivesMutations() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(truncatingIfNeeded: state >> 33) }
        let seeds = [
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n",
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ].map { Array($0.utf8) }
        let alphabet = Array("0123456789abcdefABCDEF-+x;=\" \t\r\n:\\".utf8) + [0, 0x7f, 0xff]
        let limits = HTTPLimits(maxHeaderBytes: 256, maxBodyBytes: 64)
        for round in 0..<20_000 {
            var b = seeds[round % seeds.count]
            for _ in 0..<(1 + next() % 4) {
                let at = next() % (b.count + 1)
                switch next() % 3 {
                case 0: if at < b.count { b[at] = alphabet[next() % alphabet.count] }
                case 1: b.insert(alphabet[next() % alphabet.count], at: at)
                default: if at < b.count { b.remove(at: at) }
                }
            }
            if next() % 4 == 0 { b = Array(b.prefix(next() % (b.count + 1))) }
            // Arriving in pieces (progress kept between calls) ends as arriving whole does; a
            // failure on a prefix is a failure of the whole.
            let whole = parse(b, limits: limits)
            var progress = ParseProgress()
            var cuts = [next() % (b.count + 1), next() % (b.count + 1)].sorted() + [b.count]
            if b.isEmpty { cuts = [0] }
            for cut in cuts {
                let piece = Array(b.prefix(cut)).withUnsafeBufferPointer { parseRequest($0, limits: limits, progress: &progress) }
                if case .incomplete = piece, cut < b.count { continue }
                if case .failure = piece, cut < b.count {
                    guard case .failure = whole else { return XCTFail("round \(round): a prefix failed, the whole did not") }
                    break
                }
                XCTAssertEqual(describe(piece), describe(whole), "round \(round): pieces \(cuts) of \(String(decoding: b, as: UTF8.self).debugDescription)")
                break
            }
            switch whole {
            case .request(let r, let used):
                XCTAssertLessThanOrEqual(used, b.count)
                XCTAssertLessThanOrEqual(r.body.count, limits.maxBodyBytes)
            case .failure(let status, _):
                XCTAssertTrue([400, 411, 413, 431, 501].contains(status), "status \(status)")
            case .incomplete:
                break
            }
        }
    }

    /// A chunked body arriving piece by piece is decoded once: the progress kept between
    /// calls moves forward, and the result equals a one-shot parse at every split.
    func testChunkedBodyResumesWhereItStopped() {
        let head = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        let wire = Array((head + "3;a=1\r\nabc\r\n10\r\n0123456789abcdef\r\n1\r\nZ\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n").utf8)
        guard case .request(let whole, let used) = parse(wire) else { return XCTFail() }
        for step in [1, 2, 3, 7, 50] {
            var progress = ParseProgress()
            var offsets: [Int] = []
            var cut = 0
            var result: ParseOutcome? = nil
            while cut < wire.count {
                cut = min(wire.count, cut + step)
                let o = Array(wire.prefix(cut)).withUnsafeBufferPointer { parseRequest($0, limits: HTTPLimits(), progress: &progress) }
                if case .incomplete = o { offsets.append(progress.offset); continue }
                result = o
                break
            }
            guard case .request(let r, let u)? = result else { return XCTFail("step \(step): no request") }
            XCTAssertEqual(r.body, whole.body, "step \(step)")
            XCTAssertEqual(u, used)
            XCTAssertEqual(offsets, offsets.sorted(), "progress only moves forward")
            if step == 1 { XCTAssertEqual(Set(offsets).count, 5, "one resume point per chunk line (+ the body start): \(Set(offsets).sorted())") }
        }
    }

    func describe(_ o: ParseOutcome) -> String {
        switch o {
        case .incomplete(let c, let h): return "incomplete \(c) \(h?.path ?? "-")"
        case .failure(let status, _): return "failure \(status)"
        case .request(let r, let used): return "request \(r.method) \(r.path) \(r.body) \(used)"
        }
    }

    func testLimitsAndMalformedRequests() {
        let limits = HTTPLimits(maxHeaderBytes: 64, maxBodyBytes: 10)
        guard case .failure(431, _) = parse("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 100), limits: limits) else { return XCTFail() }
        guard case .failure(413, let m) = parse("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", limits: limits) else { return XCTFail() }
        XCTAssertTrue(m.contains("11 bytes"))
        guard case .failure(411, _) = parse("POST / HTTP/1.1\r\n\r\n") else { return XCTFail() }
        guard case .failure(400, _) = parse("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") else { return XCTFail() }
        guard case .failure(400, _) = parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") else { return XCTFail() }
        guard case .failure(400, _) = parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n") else { return XCTFail() }
        guard case .failure(400, _) = parse("get / HTTP/1.1\r\n\r\n") else { return XCTFail() }
        guard case .failure(400, _) = parse("GET / HTTP/2.0\r\n\r\n") else { return XCTFail() }
        guard case .failure(400, _) = parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n") else { return XCTFail() }
        guard case .request(let r, _) = parse("GET http://host:5000/ping?x HTTP/1.0\n\n") else { return XCTFail("absolute form, bare LF") }
        XCTAssertEqual(r.path, "/ping")
        XCTAssertFalse(r.http11)
    }

    func testErrorResponseShape() {
        let r = HTTPResponse.error(400, "bad \"x\"\n")
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), #"{"error_code":"BAD_REQUEST","message":"bad \"x\"\n"}"#)
        let wire = String(decoding: r.serialized(keepAlive: true, headOnly: false), as: UTF8.self)
        XCTAssertTrue(wire.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        XCTAssertTrue(wire.contains("Content-Length: \(r.body.count)\r\n"))
        XCTAssertTrue(wire.contains("Connection: keep-alive\r\n"))
    }
}
