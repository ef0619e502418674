import XCTest
@testable import Serve
import ML
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
        guard case .incomplete(let cont) = parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n"), cont else {
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

final class DriftTests: XCTestCase {
    func model(deciles: [Double], max: Double = 10) -> ModelFile {
        ModelFile(type: "linear_regression", header: [
            "features": .array([.string("a")]),
            "column_stats": .array([.object(["name": .string("a"), "mean": .number(4.5), "std": .number(2.0), "max": .number(max),
                                             "deciles": .array(deciles.map { .number($0) })])]),
        ], tensors: [])
    }

    func testPSIIsZeroForTheTrainingDistributionAndLargeForAShift() {
        let p = TrainingProfile(model: model(deciles: [1, 2, 3, 4, 5, 6, 7, 8, 9].map(Double.init)))
        XCTAssertEqual(p.features[0].edges, [1, 2, 3, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(p.features[0].expected.reduce(0, +), 1, accuracy: 1e-12)
        var live = LiveStats(profile: p)
        // Uniform over the ten bins: values 0.5, 1.5, ..., 9.5, ten times each.
        let x = (0..<100).map { Float($0 % 10) + 0.5 }
        live.observe(rows: x, count: 100, profile: p)
        let d = drift(live, p)[0]
        XCTAssertEqual(d.psi ?? -1, 0, accuracy: 1e-9)
        XCTAssertEqual(d.meanShift ?? -1, 0.25, accuracy: 1e-9)  // (5.0 − 4.5) / 2
        XCTAssertEqual(d.status, "ok")
        var shifted = LiveStats(profile: p)
        shifted.observe(rows: [Float](repeating: 20, count: 100), count: 100, profile: p)
        let s = drift(shifted, p)[0]
        // All mass in the top bin: (1 − 0.1)·ln(10) + 9·(1e-4 − 0.1)·ln(1e-3).
        XCTAssertEqual(s.psi!, 0.9 * log(10) + 9 * (1e-4 - 0.1) * log(1e-3), accuracy: 1e-9)
        XCTAssertEqual(s.status, "drift")
    }

    func testTiedDecilesMergeBins() {
        // A binary feature: 60% zeros, 40% ones.
        let p = TrainingProfile(model: model(deciles: [0, 0, 0, 0, 0, 0, 1, 1, 1], max: 1))
        XCTAssertEqual(p.features[0].edges, [0, 1])
        XCTAssertEqual(p.features[0].expected.map { ($0 * 10).rounded() / 10 }, [0.6, 0.4, 0])
        var live = LiveStats(profile: p)
        live.observe(rows: (0..<100).map { $0 < 60 ? 0 : 1 }, count: 100, profile: p)
        XCTAssertEqual(drift(live, p)[0].psi ?? -1, 0, accuracy: 1e-3)
        // A value above the training maximum lands in a bin training never filled.
        live.observe(rows: [Float](repeating: 2, count: 50), count: 50, profile: p)
        XCTAssertGreaterThan(drift(live, p)[0].psi ?? 0, 0.25)
    }
}
