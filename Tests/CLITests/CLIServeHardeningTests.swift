import Foundation
import XCTest

/// `mlrepo serve` against hostile clients (issue 13 #2–#4): malformed chunked framing,
/// connection floods and slowloris clients, and access control (bearer tokens, TLS). Each
/// test fails on the server as it was before: a `-1` chunk size killed it, ~1,100 idle
/// connections made it answer 503 to everyone, and it had no tokens or TLS.
final class CLIServeHardeningTests: CLITestCase {
    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures/datasets")
    static let irisRow = #"{"instances": [[5.1, 3.5, 1.4, 0.2]]}"#

    var servers: [Spawned] = []
    var sockets: [Int32] = []

    override func tearDownWithError() throws {
        for s in servers { kill(s.pid, SIGKILL); var st: Int32 = 0; waitpid(s.pid, &st, 0) }
        servers = []
        for fd in sockets { close(fd) }
        sockets = []
        try super.tearDownWithError()
    }

    // MARK: Helpers

    func makeIrisRepo() throws {
        ok("init")
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("iris_train.csv"), to: url("iris_train.csv"))
        write("mlrepo.json", """
        {"stages": {"train": {"train": {"model": "logistic_regression", "data": "iris_train.csv", "label": "species"},
                              "outs": ["models/iris.mlmodel"]}}}
        """)
        ok("train", "--commit", "-m", "iris model")
    }

    /// Starts `mlrepo serve ARGS --port 0`; its port once it listens (http or https).
    func serve(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> (Spawned, Int) {
        let s = try start(["serve", "--port", "0"] + args)
        servers.append(s)
        do { return (s, try listening(s, timeout: 20, file: file, line: line)) } catch let e as ServerExited {
            servers.removeAll { $0.pid == e.pid }
            throw e
        }
    }

    func alive(_ s: Spawned) -> Bool {
        var st: Int32 = 0
        return waitpid(s.pid, &st, WNOHANG) == 0
    }

    /// A connected socket (kept for tearDown unless `keep` is false), or -1.
    func connect(_ port: Int, timeout: Int = 10, keep: Bool = true) -> Int32 {
        let fd = openSocket(port, timeout: timeout)
        if fd >= 0 && keep { sockets.append(fd) }
        return fd
    }

    /// One request on a fresh connection (status -1: no answer).
    func request(_ port: Int, _ method: String, _ path: String, body: String? = nil, headers: String = "") -> Reply {
        let fd = connect(port, keep: false)
        guard fd >= 0 else { return Reply(status: -1, headers: [:], body: "connect failed") }
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        sendAll(fd, Array((head + headers + "\r\n" + (body ?? "")).utf8))
        return readReply(fd) ?? Reply(status: -1, headers: [:], body: "")
    }

    /// Whether the server closed `fd` (reads until end of stream or `seconds` pass).
    func closedByServer(_ fd: Int32, within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(max(1, min(100, deadline.timeIntervalSinceNow * 1000)))
            if poll(&p, 1, ms) > 0 {
                let r = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if r <= 0 { return true }
            }
        }
        return false
    }

    func runTool(_ argv: [String]) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func hasTool(_ name: String) -> Bool { (try? runTool(["sh", "-c", "command -v \(name)"]).code) == 0 }

    func percentile(_ v: [Double], _ p: Double) -> Double {
        let s = v.sorted()
        return s[min(s.count - 1, Int((Double(s.count) * p).rounded(.up)) - 1)]
    }

    // MARK: #2 malformed chunked framing

    func testMalformedChunkFramingIsA400AndTheServerKeepsServing() throws {
        try makeIrisRepo()
        let (s, port) = try serve(["--max-header", "1024"])
        let head = "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        let data = Self.irisRow
        let cases: [(String, String, Int)] = [
            ("+25\r\n" + data + "\r\n0\r\n\r\n", "size +25 (was accepted as 0x25)", 400),
            ("-1\r\n" + data + "\r\n0\r\n\r\n", "size -1 (crashed the server)", 400),
            ("-0\r\n\r\n", "size -0", 400),
            ("0x25\r\n" + data + "\r\n0\r\n\r\n", "size 0x25", 400),
            ("ffffffffffffffffffffffff\r\n" + data, "an overflowing size", 413),
            ("7fffffffffffffff\r\n" + data, "the largest Int", 413),
            ("25\r\n" + data + "XY0\r\n\r\n", "no CRLF after the data", 400),
            ("25;=1\r\n" + data + "\r\n0\r\n\r\n", "an extension without a name", 400),
            ("25;a=\"open\r\n" + data + "\r\n0\r\n\r\n", "an unterminated quoted extension", 400),
            ("25;" + String(repeating: "x", count: 5000) + "\r\n", "a 5,000-byte extension", 400),
            ("25\r\n" + data + "\r\n0\r\n" + String(repeating: "X-Pad: 0123456789012345678901234567890123456789\r\n", count: 40) + "\r\n", "huge trailers", 431),
            ("25\r\n" + data + "\r\n0\r\nno colon here\r\n\r\n", "a malformed trailer", 400),
        ]
        for (body, what, status) in cases {
            let fd = connect(port)
            XCTAssertGreaterThanOrEqual(fd, 0)
            sendAll(fd, Array((head + body).utf8))
            let r = readReply(fd)
            XCTAssertEqual(r?.status, status, "\(what): \(r?.body ?? "no answer")")
            XCTAssertTrue(alive(s), "the server died on \(what)")
            XCTAssertEqual(request(port, "GET", "/ping").status, 200, "not serving after \(what)")
        }
        // Valid extensions and trailers still score.
        let fd = connect(port)
        sendAll(fd, Array((head + "25 ; name=value;q=\"a b\"\r\n" + data + "\r\n0\r\nX-Checksum: 1\r\n\r\n").utf8))
        XCTAssertEqual(readReply(fd)?.body, #"{"predictions":["setosa"]}"#)
    }

    // MARK: #3 connection exhaustion

    /// Far more idle and slowloris connections than --max-connections: the server reclaims
    /// them instead of refusing the well-behaved client, which never sees a 503 and stays fast.
    func testIdleAndSlowlorisFloodNeverStarvesAWellBehavedClient() throws {
        try makeIrisRepo()
        let (s, port) = try serve(["--max-connections", "150", "--log", "/dev/null"])
        var hostile: [Int32] = []
        for i in 0..<400 {
            let fd = connect(port, timeout: 1)
            guard fd >= 0 else { XCTFail("connect \(i) failed"); break }
            hostile.append(fd)
        }
        // Every fourth one trickles a request head a byte at a time (slowloris).
        let trickle = Array("GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8) + [UInt8](repeating: 97, count: 10_000)
        var trickled = 0
        let body = Self.irisRow
        let req = Array("POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        let keepAlive = connect(port)
        var latencies: [Double] = []
        var statuses: [Int: Int] = [:]
        for i in 0..<300 {
            for k in stride(from: i % 4, to: hostile.count, by: 16) { _ = [trickle[trickled % trickle.count]].withUnsafeBytes { send(hostile[k], $0.baseAddress, 1, Int32(MSG_NOSIGNAL)) } }
            trickled += 1
            let t0 = Date()
            let status: Int
            if i % 2 == 0 {
                sendAll(keepAlive, req)
                status = readReply(keepAlive)?.status ?? -1
            } else {
                let fd = connect(port, keep: false)
                if fd >= 0 { sendAll(fd, req); status = readReply(fd)?.status ?? -1; close(fd) } else { status = -2 }
            }
            latencies.append(Date().timeIntervalSince(t0))
            statuses[status, default: 0] += 1
        }
        XCTAssertEqual(statuses, [200: 300], "the well-behaved client must get 200s only (503 count: \(statuses[503] ?? 0))")
        let p50 = percentile(latencies, 0.5) * 1000, p99 = percentile(latencies, 0.99) * 1000
        print("well-behaved client with 400 idle/slowloris connections open: p50 \(p50) ms, p99 \(p99) ms")
        // The goal is p99 < 10 ms (bench/serve_flood.sh measures it with 2,000 connections on a
        // release build); a debug build on a shared 2-core machine gets headroom at p99.
        XCTAssertLessThan(p50, 10, "p50 \(p50) ms")
        XCTAssertLessThan(p99, 50, "p99 \(p99) ms")
        XCTAssertTrue(alive(s))
        // Most of the flood was reclaimed: the server holds no more than its limit.
        var closed = 0
        for fd in hostile where closedByServer(fd, within: 0.01) { closed += 1 }
        XCTAssertGreaterThanOrEqual(closed, 400 - 150, "reclaimed connections")
        let metrics = request(port, "GET", "/metrics").body
        let reclaimed = metrics.split(separator: "\n").first { $0.hasPrefix("mlrepo_connections_reclaimed_total ") }
        XCTAssertGreaterThanOrEqual(Int(reclaimed?.split(separator: " ").last ?? "") ?? 0, 400 - 150, metrics)
        XCTAssertTrue(metrics.contains("mlrepo_connections_refused_total 0\n"), metrics)
    }

    /// Many connections from one address: at --max-connections-per-client its oldest idle
    /// ones go; a new request is never refused while one can be reclaimed.
    func testPerClientLimitReclaimsTheOldestIdleConnection() throws {
        try makeIrisRepo()
        let (_, port) = try serve(["--max-connections-per-client", "20", "--workers", "1"])
        // 20 keep-alive connections that each made a request, then 20 more.
        var first: [Int32] = []
        for _ in 0..<20 {
            let fd = connect(port)
            sendAll(fd, Array("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            XCTAssertEqual(readReply(fd)?.status, 200)
            first.append(fd)
        }
        var second: [Int32] = []
        for _ in 0..<20 {
            let fd = connect(port)
            sendAll(fd, Array("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            XCTAssertEqual(readReply(fd)?.status, 200, "a connection over the per-client limit must reclaim, not be refused")
            second.append(fd)
        }
        // The first 20 (the oldest idle) were closed; the newer ones still work.
        XCTAssertEqual(first.filter { closedByServer($0, within: 0.5) }.count, 20)
        for fd in second.suffix(5) {
            sendAll(fd, Array("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            XCTAssertEqual(readReply(fd)?.status, 200)
        }
    }

    func testHeaderTimeoutClosesSilentAndSlowlorisConnectionsButNotIdleKeepAlive() throws {
        try makeIrisRepo()
        let (_, port) = try serve(["--header-timeout", "1"])
        let silent = connect(port)
        let slow = connect(port)
        let served = connect(port)
        sendAll(served, Array("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        XCTAssertEqual(readReply(served)?.status, 200)
        // One byte every 100 ms: never a complete head.
        let t0 = Date()
        let head = Array("GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8) + [UInt8](repeating: 97, count: 100)
        var answer: Reply? = nil
        for b in head {
            if send(slow, [b], 1, Int32(MSG_NOSIGNAL)) <= 0 { break }
            var p = pollfd(fd: slow, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) > 0 { answer = readReply(slow); break }
        }
        let elapsed = Date().timeIntervalSince(t0)
        XCTAssertEqual(answer?.status, 408, "a slowloris head gets 408")
        XCTAssertLessThan(elapsed, 4, "closed by the 1 s header timeout, not the 30 s read timeout")
        XCTAssertTrue(closedByServer(silent, within: 2), "a connection that sends nothing is closed after the header timeout")
        XCTAssertTrue(request(port, "GET", "/metrics").body.contains("mlrepo_connections_header_timeouts_total 2\n"))
        // The keep-alive connection that was served stays open (idle timeout: 60 s).
        sendAll(served, Array("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        XCTAssertEqual(readReply(served)?.status, 200)
        // Usage errors.
        let r = runResult(["serve", "--header-timeout", "0"])
        XCTAssertEqual(r.code, 2)
        XCTAssertTrue(r.err.contains("--header-timeout"), r.err)
    }

    // MARK: #4 bearer tokens and TLS

    func testBearerTokensGuardEveryPathButPingAndHealth() throws {
        try makeIrisRepo()
        let tokens = ["s3cr3t-token-ABC", "second.token_~+/=="]
        write("tokens.txt", "# serving tokens\n\n  \(tokens[0])  \r\n\(tokens[1])\n")
        let (s, port) = try serve(["--auth-token-file", "tokens.txt", "--log", "access.log"])
        let body = Self.irisRow
        var r = request(port, "POST", "/invocations", body: body)
        XCTAssertEqual(r.status, 401, r.body)
        XCTAssertEqual(r.headers["www-authenticate"], #"Bearer realm="mlrepo""#)
        XCTAssertTrue(r.body.contains("UNAUTHENTICATED"), r.body)
        r = request(port, "POST", "/invocations", body: body, headers: "Authorization: Bearer s3cr3t-token-ABD\r\n")
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(r.headers["www-authenticate"], #"Bearer realm="mlrepo", error="invalid_token""#)
        XCTAssertEqual(request(port, "POST", "/invocations", body: body, headers: "Authorization: Basic czNjcjN0\r\n").status, 401)
        XCTAssertEqual(request(port, "POST", "/invocations", body: body, headers: "Authorization: Bearer \r\n").status, 401)
        for t in tokens {
            r = request(port, "POST", "/invocations", body: body, headers: "Authorization: Bearer \(t)\r\n")
            XCTAssertEqual(r.status, 200, r.body)
            XCTAssertEqual(r.body, #"{"predictions":["setosa"]}"#)
        }
        XCTAssertEqual(request(port, "POST", "/invocations", body: body, headers: "Authorization: bearer \(tokens[0])\r\n").status, 200, "the scheme is case-insensitive")
        XCTAssertEqual(request(port, "GET", "/ping").status, 200)
        XCTAssertEqual(request(port, "GET", "/health").status, 200)
        for path in ["/version", "/metrics", "/monitor", "/nowhere"] { XCTAssertEqual(request(port, "GET", path).status, 401, path) }
        // A body is refused before it is read: no 100 Continue without a token.
        let fd = connect(port)
        sendAll(fd, Array("POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 50000000\r\n\r\n".utf8))
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buf, buf.count, 0)
        XCTAssertTrue(String(decoding: buf[0..<max(0, n)], as: UTF8.self).hasPrefix("HTTP/1.1 401 "), "401 instead of 100 Continue")
        if hasTool("curl") {
            let c = try runTool(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "http://127.0.0.1:\(port)/invocations",
                                 "-H", "Content-Type: application/json", "-H", "Authorization: Bearer \(tokens[1])", "--data-binary", body])
            XCTAssertEqual(c.out, "200", c.err)
            let d = try runTool(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/version"])
            XCTAssertEqual(d.out, "401", d.err)
        }
        if hasTool("python3") {
            let script = """
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", \(port), timeout=10)
            out = []
            for h in [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer \(tokens[0])"}]:
                c.request("POST", "/invocations", body='\(body)', headers=dict(h, **{"Content-Type": "application/json"}))
                r = c.getresponse(); r.read()
                out.append(str(r.status) + ":" + (r.getheader("WWW-Authenticate") or "-").split(",")[0])
            print(" ".join(out))
            """
            let p = try runTool(["python3", "-c", script])
            XCTAssertEqual(p.out.trimmingCharacters(in: .whitespacesAndNewlines), #"401:Bearer realm="mlrepo" 401:Bearer realm="mlrepo" 200:-"#, p.err)
        }
        kill(s.pid, SIGTERM)
        let result = collect(s)
        servers.removeAll { $0.pid == s.pid }
        XCTAssertTrue(result.err.contains("bearer token required"), result.err)
        let log = text("access.log") ?? ""
        XCTAssertTrue(log.contains("\"status\":401"), log)
        for t in tokens + ["s3cr3t-token-ABD", "czNjcjN0", "nope"] {
            XCTAssertFalse(log.contains(t), "a token reached the access log")
            XCTAssertFalse(result.err.contains(t), "a token reached stderr")
        }
        let absent = ["curl", "python3"].filter { !hasTool($0) }
        if !absent.isEmpty { throw XCTSkip("the \(absent.joined(separator: " and ")) client checks did not run: not installed") }
        // --auth-all closes /ping and /health too.
        let (_, p2) = try serve(["--auth-token-file", "tokens.txt", "--auth-all"])
        XCTAssertEqual(request(p2, "GET", "/ping").status, 401)
        XCTAssertEqual(request(p2, "GET", "/health", headers: "Authorization: Bearer \(tokens[0])\r\n").status, 200)
        // Bad token files: one line naming the file and line, never the token.
        write("bad.txt", "good-token\nbad token\"x\n")
        var e = runResult(["serve", "--auth-token-file", "bad.txt"])
        XCTAssertEqual(e.code, 1)
        XCTAssertTrue(e.err.contains("'bad.txt' line 2"), e.err)
        XCTAssertFalse(e.err.contains("bad token"), e.err)
        write("empty.txt", "# nothing\n\n")
        e = runResult(["serve", "--auth-token-file", "empty.txt"])
        XCTAssertTrue(e.err.contains("holds no token"), e.err)
        e = runResult(["serve", "--auth-token-file", "missing.txt"])
        XCTAssertTrue(e.err.contains("cannot read auth token file 'missing.txt'"), e.err)
        e = runResult(["serve", "--auth-all"])
        XCTAssertEqual(e.code, 2)
    }

    func testTLSWithCurlAndPython() throws {
        try makeIrisRepo()
        guard hasTool("openssl") else { throw XCTSkip("no openssl command to make a test certificate") }
        let cert = base.appendingPathComponent("cert.pem").path, key = base.appendingPathComponent("key.pem").path
        let g = try runTool(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                             "-keyout", key, "-out", cert, "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        guard g.code == 0 else { throw XCTSkip("openssl req failed: \(g.err)") }
        write("tokens.txt", "tls-token-123\n")
        let (s, port) = try serve(["--tls-cert", cert, "--tls-key", key, "--auth-token-file", "tokens.txt", "--header-timeout", "2"])
        XCTAssertTrue(((try? String(contentsOf: s.errURL, encoding: .utf8)) ?? "").contains("listening on https://127.0.0.1:"))
        // A plain-HTTP client, and a client that stalls mid-handshake, do not hurt the server.
        let plain = connect(port)
        sendAll(plain, Array("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        XCTAssertTrue(closedByServer(plain, within: 5))
        let stalled = connect(port)
        sendAll(stalled, [0x16, 0x03, 0x01, 0x00, 0x50])  // a record header, then nothing
        var ran = false
        if hasTool("curl") {
            ran = true
            let ping = try runTool(["curl", "-sS", "--cacert", cert, "https://127.0.0.1:\(port)/ping"])
            XCTAssertEqual(ping.out, #"{"status":"ok"}"#, ping.err)
            let scored = try runTool(["curl", "-sS", "--cacert", cert, "-X", "POST", "https://127.0.0.1:\(port)/invocations",
                                      "-H", "Content-Type: application/json", "-H", "Authorization: Bearer tls-token-123", "--data-binary", Self.irisRow])
            XCTAssertEqual(scored.out, #"{"predictions":["setosa"]}"#, scored.err)
            let denied = try runTool(["curl", "-sS", "--cacert", cert, "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(port)/version"])
            XCTAssertEqual(denied.out, "401", denied.err)
            // A large body over TLS (many records, Expect: 100-continue from curl).
            let big = "sepal_length,sepal_width,petal_length,petal_width\n" + String(repeating: "5.1,3.5,1.4,0.2\n", count: 50_000)
            write("big.csv", big)
            let b = try runTool(["curl", "-sS", "--cacert", cert, "-X", "POST", "https://127.0.0.1:\(port)/invocations", "-H", "Content-Type: text/csv",
                                 "-H", "Authorization: Bearer tls-token-123", "--data-binary", "@" + url("big.csv").path])
            let preds = ((try? JSONSerialization.jsonObject(with: Data(b.out.utf8))) as? [String: Any])?["predictions"] as? [String]
            XCTAssertEqual(preds?.count, 50_000, b.err)
            // An untrusted certificate is refused by the client (it is a real TLS server).
            XCTAssertNotEqual(try runTool(["curl", "-sS", "https://127.0.0.1:\(port)/ping"]).code, 0)
        }
        if hasTool("python3") {
            ran = true
            let script = """
            import http.client, ssl, json
            ctx = ssl.create_default_context(cafile="\(cert)")
            c = http.client.HTTPSConnection("127.0.0.1", \(port), context=ctx, timeout=10)
            out = []
            for i in range(3):  # one kept-alive TLS connection
                c.request("POST", "/invocations", body='\(Self.irisRow)',
                          headers={"Content-Type": "application/json", "Authorization": "Bearer tls-token-123"})
                r = c.getresponse(); out.append(json.loads(r.read())["predictions"][0])
            c.request("GET", "/health"); h = c.getresponse(); h.read()
            print(json.dumps({"predictions": out, "health": h.status, "version": c.sock.version()}))
            """
            let p = try runTool(["python3", "-c", script])
            XCTAssertEqual(p.code, 0, p.err)
            let o = (try? JSONSerialization.jsonObject(with: Data(p.out.utf8))) as? [String: Any]
            XCTAssertEqual(o?["predictions"] as? [String], ["setosa", "setosa", "setosa"], p.out + p.err)
            XCTAssertEqual(o?["health"] as? Int, 200)
            XCTAssertTrue((o?["version"] as? String ?? "").hasPrefix("TLSv1."), p.out)
        }
        XCTAssertTrue(alive(s))
        XCTAssertTrue(closedByServer(stalled, within: 3), "a stalled TLS handshake is closed by the header timeout")
        if !ran { throw XCTSkip("neither curl nor python3 to talk TLS to the server") }
        // Startup errors: one line naming the file.
        var e = runResult(["serve", "--tls-cert", cert, "--tls-key", url("tokens.txt").path])
        XCTAssertEqual(e.code, 1)
        XCTAssertTrue(e.err.contains("cannot load the TLS private key"), e.err)
        XCTAssertEqual(e.err.split(separator: "\n").count, 1, e.err)
        e = runResult(["serve", "--tls-cert", "nope.pem", "--tls-key", key])
        XCTAssertTrue(e.err.contains("cannot load the TLS certificate"), e.err)
        e = runResult(["serve", "--tls-cert", cert])
        XCTAssertEqual(e.code, 2)
    }
}
