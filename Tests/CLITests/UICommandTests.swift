import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `mlrepo ui` as a server: what every page shares (headers, Host check, methods, the token and
/// its cookie, assets, errors), whatever the pages hold.
final class UICommandTests: CLITestCase {
    /// Starts `mlrepo ui --port 0 ARGS` and returns it with its port.
    func startUI(_ args: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws -> (Spawned, Int) {
        let s = try start(["ui", "--port", "0"] + args)
        return (s, try listening(s, file: file, line: line))
    }

    func stop(_ s: Spawned) -> RunResult {
        kill(s.pid, SIGTERM)
        return collect(s)
    }

    /// One request on a new connection.
    func get(_ port: Int, _ target: String, headers: [String: String] = [:]) -> Reply? { sendRequest(port, "GET", target, headers: headers) }

    func makeRepo() {
        ok("init")
        write("metrics.json", #"{"acc": 0.91}"#)
        ok("add", "metrics.json")
        _ = commit("first")
    }

    func testPagesCarryTheSecurityHeadersAndOnlyOurAssets() throws {
        makeRepo()
        let (s, port) = try startUI()
        defer { _ = stop(s) }
        let r = try XCTUnwrap(get(port, "/experiments"))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-type"], "text/html; charset=utf-8")
        let csp = try XCTUnwrap(r.headers["content-security-policy"])
        XCTAssertTrue(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"), csp)
        XCTAssertEqual(r.headers["x-content-type-options"], "nosniff")
        XCTAssertNotNil(r.headers["server-timing"])
        // Every script and stylesheet the page names is served by the app itself.
        let refs = matches(#"(?:src|href)="(/assets/[^"]+)""#, in: r.body)
        XCTAssertEqual(refs.count, 2, r.body)
        for ref in refs {
            let a = try XCTUnwrap(get(port, ref))
            XCTAssertEqual(a.status, 200, ref)
            XCTAssertTrue(a.headers["cache-control"]?.contains("immutable") ?? false)
            XCTAssertFalse(a.body.isEmpty)
        }
        XCTAssertFalse(r.body.contains("http://") || r.body.contains("https://"), "a page names an outside address")
        // / goes to the experiments.
        let root = try XCTUnwrap(get(port, "/"))
        XCTAssertEqual(root.status, 303)
        XCTAssertEqual(root.headers["location"], "/experiments")
    }

    func testPagesAreGzippedForClientsThatAskAndDecodeToThePage() throws {
        makeRepo()
        for i in 0..<30 {
            write("metrics.json", "{\"acc\": 0.\(100 + i), \"loss\": \(i)}")
            ok("add", "metrics.json")
            _ = commit("run \(i)")
        }
        let (s, port) = try startUI()
        defer { _ = stop(s) }
        let plain = try XCTUnwrap(get(port, "/experiments"))
        XCTAssertNil(plain.headers["content-encoding"])
        // The raw bytes of a gzip answer (the Reply helper decodes bodies as text).
        func raw(_ acceptEncoding: String) throws -> (head: String, body: [UInt8]) {
            let fd = openSocket(port)
            defer { close(fd) }
            sendAll(fd, Array("GET /experiments HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept-Encoding: \(acceptEncoding)\r\nConnection: close\r\n\r\n".utf8))
            var got: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                got += buf[0..<n]
            }
            let end = try XCTUnwrap(find(got, Array("\r\n\r\n".utf8)))
            return (String(decoding: got[0..<end], as: UTF8.self), Array(got[(end + 4)...]))
        }
        let z = try raw("br, gzip;q=0.8")
        XCTAssertTrue(z.head.lowercased().contains("content-encoding: gzip"), z.head)
        XCTAssertTrue(z.head.lowercased().contains("vary: accept-encoding"), z.head)
        XCTAssertEqual(Array(z.body.prefix(2)), [0x1f, 0x8b])
        XCTAssertLessThan(z.body.count * 3, plain.body.utf8.count, "gzip should shrink the table several times")
        let file = dir("gz").appendingPathComponent("page.gz")
        try Data(z.body).write(to: file)
        let unzipped = tool(["gzip", "-dc", file.path])
        XCTAssertEqual(unzipped.code, 0)
        // The same page (Server-Timing aside, the bodies are byte for byte equal).
        XCTAssertEqual(unzipped.out, plain.body)
        // gzip;q=0 means no gzip.
        XCTAssertFalse(try raw("gzip;q=0").head.lowercased().contains("content-encoding"))
    }

    func testAnotherHostNameIsRefused() throws {
        // DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not read the app.
        makeRepo()
        let (s, port) = try startUI()
        defer { _ = stop(s) }
        let misdirected = try XCTUnwrap(get(port, "/experiments", headers: ["Host": "evil.example:\(port)"]))
        XCTAssertEqual(misdirected.status, 421)
        XCTAssertNotNil(misdirected.headers["content-security-policy"])
        XCTAssertEqual(get(port, "/experiments", headers: ["Host": "localhost:\(port)"])?.status, 200)
        XCTAssertEqual(get(port, "/experiments", headers: ["Host": "127.0.0.1:\(port + 1)"])?.status, 421)
        // A name given with --allow-host is accepted, with the port.
        let (s2, port2) = try startUI(["--allow-host", "Box.Example"])
        defer { _ = stop(s2) }
        XCTAssertEqual(get(port2, "/experiments", headers: ["Host": "box.example:\(port2)"])?.status, 200)
        XCTAssertEqual(get(port2, "/experiments", headers: ["Host": "box.example"])?.status, 421)
        XCTAssertEqual(get(port2, "/experiments")?.status, 200)
    }

    func testReadOnlyAndUnknownPathsAreEscaped() throws {
        makeRepo()
        let (s, port) = try startUI()
        defer { _ = stop(s) }
        let post = try XCTUnwrap(sendRequest(port, "POST", "/experiments", headers: ["Content-Length": "0"]))
        XCTAssertEqual(post.status, 405)
        XCTAssertEqual(post.headers["allow"], "GET, HEAD")
        let hostile = "/%3Cscript%3Ealert(1)%3C/script%3E"
        let r = try XCTUnwrap(get(port, hostile))
        XCTAssertEqual(r.status, 404)
        XCTAssertTrue(r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), r.body)
        XCTAssertFalse(r.body.contains("<script>alert"))
        XCTAssertEqual(get(port, "/experiments?a=%zz")?.status, 400)
        // HEAD: the status line and headers, no body.
        let fd = openSocket(port)
        defer { close(fd) }
        sendAll(fd, Array("HEAD /experiments HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8))
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            got += buf[0..<n]
        }
        let text = String(decoding: got, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 200 "), text)
        XCTAssertTrue(text.hasSuffix("\r\n\r\n"), "HEAD sent a body")
    }

    func testTokenIsNeededAndLoginSetsTheCookie() throws {
        makeRepo()
        write("tokens.txt", "# ui\ns3cret-token\n")
        let (s, port) = try startUI(["--auth-token-file", "tokens.txt"])
        defer { _ = stop(s) }
        XCTAssertEqual(get(port, "/experiments")?.status, 401)
        XCTAssertEqual(get(port, "/experiments", headers: ["Authorization": "Bearer s3cret-token"])?.status, 200)
        XCTAssertEqual(get(port, "/experiments", headers: ["Authorization": "Bearer wrong"])?.status, 401)
        // The stylesheet and script load before signing in; pages do not.
        let page = try XCTUnwrap(get(port, "/login"))
        let css = try XCTUnwrap(matches(#"href="(/assets/mlrepo-[0-9a-f]+\.css)""#, in: page.body).first, page.body)
        XCTAssertEqual(get(port, css)?.status, 200)
        XCTAssertEqual(get(port, "/login?token=wrong")?.status, 401)
        let login = try XCTUnwrap(get(port, "/login?token=s3cret-token"))
        XCTAssertEqual(login.status, 303)
        let cookie = try XCTUnwrap(login.headers["set-cookie"])
        XCTAssertTrue(cookie.hasPrefix("mlrepo_ui_token=s3cret-token;") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), cookie)
        XCTAssertEqual(get(port, "/experiments", headers: ["Cookie": "other=1; mlrepo_ui_token=s3cret-token"])?.status, 200)
        XCTAssertEqual(get(port, "/experiments", headers: ["Cookie": "mlrepo_ui_token=nope"])?.status, 401)
        // A stale cookie does not hide a good Authorization header.
        XCTAssertEqual(get(port, "/experiments", headers: ["Cookie": "mlrepo_ui_token=old", "Authorization": "Bearer s3cret-token"])?.status, 200)
        // The server's own refusals carry the same protective headers as pages.
        let refused = try XCTUnwrap(get(port, "/experiments"))
        XCTAssertEqual(refused.headers["x-content-type-options"], "nosniff")
        XCTAssertNotNil(refused.headers["content-security-policy"])
        let err = stop(s).err
        XCTAssertFalse(err.contains("s3cret-token"), "the token was printed: \(err)")
    }

    func testHostileFilesPageNumberAndCommitTimeDoNotKillTheServer() throws {
        // Found by review: page=Int.max overflowed a multiplication (trap); a commit time of
        // Int64.min overflowed the date arithmetic (trap). Either killed the whole server.
        makeRepo()
        write("big.csv", "v\n-1e308\n1e308\n")
        ok("add", "big.csv")
        _ = ok("commit", "-m", "ancient", env: ["MLREPO_AUTHOR_DATE": "-9223372036854775808"])
        let (s, port) = try startUI()
        defer { _ = stop(s) }
        XCTAssertEqual(get(port, "/files?page=9223372036854775807")?.status, 400)
        XCTAssertEqual(get(port, "/experiments")?.status, 200)
        XCTAssertEqual(get(port, "/api/experiments")?.status, 200)
        // A CSV spanning ±1e308: its histogram bins overflowed to NaN (trap).
        XCTAssertEqual(get(port, "/data?path=big.csv")?.status, 200)
        XCTAssertEqual(get(port, "/health")?.status, 200, "the server died")
        XCTAssertTrue(ok("exp", "show", "--json").contains("\"timestamp\""))
        XCTAssertFalse(ok("log").isEmpty)
    }

    func testAFailedRefreshLeavesTheIndexWhole() throws {
        // Found by review: a refresh that failed part-way (a pack gone: gc, a half-copied
        // store) kept rows never linked to their parents, and the next page trapped.
        makeRepo()
        let (s, port) = try startUI()
        defer { _ = stop(s) }
        XCTAssertEqual(get(port, "/experiments")?.status, 200)
        let packDir = url(".mlrepo/objects/pack")
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: packDir.path))
        ok("switch", "-c", "side")
        for i in 1...2 {
            write("metrics.json", "{\"acc\": 0.7\(i)}")
            ok("add", "metrics.json")
            _ = commit("side \(i)")
        }
        let added = Set(try FileManager.default.contentsOfDirectory(atPath: packDir.path)).subtracting(before)
        XCTAssertFalse(added.isEmpty)
        // Missing packs: the branch is not shown yet, and is looked for again.
        let aside = dir("aside")
        for f in added { try FileManager.default.moveItem(at: packDir.appendingPathComponent(f), to: aside.appendingPathComponent(f)) }
        let missing = try XCTUnwrap(get(port, "/experiments?branch=all"))
        XCTAssertFalse(missing.body.contains("side 2"))
        for f in added { try FileManager.default.moveItem(at: aside.appendingPathComponent(f), to: packDir.appendingPathComponent(f)) }
        XCTAssertTrue(try XCTUnwrap(get(port, "/experiments?branch=all")).body.contains("side 2"), "the branch stayed hidden")
        // Corrupt packs: the refresh fails part-way (the page says so), and once they are
        // whole again the index is complete and consistent.
        ok("switch", "main")
        let before2 = Set(try FileManager.default.contentsOfDirectory(atPath: packDir.path))
        ok("switch", "-c", "other")
        for i in 1...2 {
            write("metrics.json", "{\"acc\": 0.6\(i)}")
            ok("add", "metrics.json")
            _ = commit("other \(i)")
        }
        var saved: [String: Data] = [:]
        for f in Set(try FileManager.default.contentsOfDirectory(atPath: packDir.path)).subtracting(before2) where f.hasSuffix(".pack") {
            let u = packDir.appendingPathComponent(f)
            let d = try Data(contentsOf: u)
            saved[f] = d
            var bad = d
            for i in 12..<d.count { bad[i] = 0x5a }
            try bad.write(to: u)
        }
        XCTAssertFalse(saved.isEmpty)
        let broken = try XCTUnwrap(get(port, "/experiments?branch=all"))
        XCTAssertNotEqual(broken.status, 200)
        for (f, d) in saved { try d.write(to: packDir.appendingPathComponent(f)) }
        let healed = try XCTUnwrap(get(port, "/experiments?branch=all"))
        XCTAssertEqual(healed.status, 200)
        XCTAssertTrue(healed.body.contains("other 2") && healed.body.contains("other 1") && healed.body.contains("side 2") && healed.body.contains("first"), healed.body)
        XCTAssertEqual(get(port, "/health")?.status, 200, "the server died")
    }

    func testBadOptionsAndNoRepository() throws {
        XCTAssertTrue(fails(2, "ui", "extra").err.contains("takes no arguments"))
        let empty = dir("norepo")
        let r = runResult(["ui", "--port", "0"], in: empty)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertFalse(r.err.isEmpty)
        makeRepo()
        XCTAssertTrue(fails(2, "ui", "--serve-url", "ftp://x").err.contains("--serve-url"))
    }

    func matches(_ pattern: String, in s: String) -> [String] {
        let re = try! NSRegularExpression(pattern: pattern)
        return re.matches(in: s, range: NSRange(s.startIndex..., in: s)).compactMap { m in Range(m.range(at: 1), in: s).map { String(s[$0]) } }
    }
}
