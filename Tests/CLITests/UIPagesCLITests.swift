import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `mlrepo ui`'s Lineage, Registry, Data, Files, /raw and Serving pages end to end: the real
/// binary on a free port over a repository with a built-in train stage, an eval stage and a
/// promotion, fetched with the raw HTTP client; the Serving page against a real
/// `mlrepo serve` and against a port nothing listens on.
final class UIPagesCLITests: CLITestCase {
    static let hostile = ["<img src=x onerror=alert(1)>", "\"><script>alert(1)</script>"]
    var servers: [Spawned] = []

    override func tearDownWithError() throws {
        for s in servers { kill(s.pid, SIGKILL); var st: Int32 = 0; waitpid(s.pid, &st, 0) }
        servers = []
        try super.tearDownWithError()
    }

    /// Iris: a built-in train stage, an eval stage, committed with a hostile message, the
    /// model promoted to production with a check and a hostile note.
    func makeRepo() throws {
        try initIrisProject()
        write("\(Self.hostile[0]).csv", "a,b\n1,\"\(Self.hostile[1].replacingOccurrences(of: "\"", with: "\"\""))\"\n")
        ok("repro")
        ok("add", ".")
        commit(Self.hostile[1])
        ok("promote", "models/iris.mlmodel", "--to", "production", "--require", "eval.json:accuracy>=0.9", "-m", Self.hostile[0])
    }

    /// Starts `mlrepo ARGS --port 0` (`serve` or `ui`) and returns its port once it says
    /// where it listens.
    func startServer(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let s = try start(args + ["--port", "0"])
        servers.append(s)
        do { return try listening(s, file: file, line: line) } catch let e as ServerExited {
            servers.removeAll { $0.pid == e.pid }
            throw e
        }
    }

    func get(_ port: Int, _ target: String, method: String = "GET", body: String? = nil) -> Reply {
        sendRequest(port, method, target, headers: body == nil ? [:] : ["Content-Type": "application/json"], body: body)
            ?? Reply(status: -1, headers: [:], body: "")
    }

    func q(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s }

    func assertSafe(_ r: Reply, file: StaticString = #filePath, line: UInt = #line) {
        for h in Self.hostile { XCTAssertFalse(r.body.contains(h), "raw hostile text", file: file, line: line) }
        XCTAssertFalse(r.body.contains("<script>alert"), file: file, line: line)
    }

    func testPagesOverARealPipelineAndPromotion() throws {
        try makeRepo()
        let port = try startServer(["ui"])
        // Lineage: two stages, the files they read and wrote, each file linking to /files.
        var r = get(port, "/lineage")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(r.body.components(separatedBy: "<g class=\"node stage\">").count - 1, 2)
        XCTAssertEqual(r.body.components(separatedBy: "<g class=\"node file").count - 1, 5, "two CSVs, the model, two metrics files")
        XCTAssertEqual(r.body.components(separatedBy: "<path class=\"edge\"").count - 1, 6)
        XCTAssertTrue(r.body.contains("href=\"/files?rev=HEAD&amp;path=models%2Firis.mlmodel\""))
        XCTAssertTrue(r.body.contains("built-in train"))
        assertSafe(r)
        XCTAssertTrue(r.body.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), "the commit message, escaped")
        r = get(port, "/lineage?path=models%2Firis.mlmodel")
        XCTAssertTrue(r.body.contains("<ul class=\"upstream\">") && r.body.contains("href=\"/lineage?rev=HEAD&amp;path=iris_train.csv\""))
        XCTAssertTrue(r.body.contains("<ul class=\"downstream\">") && r.body.contains(">eval.json</a>"))
        // Registry: the alias, its history with the check and the (escaped) note.
        r = get(port, "/registry")
        XCTAssertTrue(r.body.contains("href=\"/registry?alias=production\""))
        r = get(port, "/registry?alias=production")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("eval.json:accuracy=0.9737 (&gt;=0.9)"), r.body)
        XCTAssertTrue(r.body.contains("&lt;img src=x onerror=alert(1)&gt;"))
        assertSafe(r)
        // A bare metric key names its FILE:KEY when only one file has it.
        let bare = get(port, "/registry?alias=production&metric=accuracy")
        XCTAssertTrue(bare.body.contains("eval.json:accuracy across the promotions"), bare.body)
        XCTAssertEqual(bare.body.components(separatedBy: "class=\"pt\"").count - 1, 1)
        // Data: the profile of the training set, listed from the commit.
        r = get(port, "/data")
        XCTAssertTrue(r.body.contains("href=\"/data?rev=HEAD&amp;path=iris_train.csv\""))
        r = get(port, "/data?path=iris_train.csv")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("112 rows, 5 columns"), r.body)
        XCTAssertTrue(r.body.contains("<td>sepal_length</td><td>float</td>"))
        // Files: the hostile CSV's name and cell escaped; /raw sends it as a download.
        let name = Self.hostile[0] + ".csv"
        r = get(port, "/files")
        XCTAssertTrue(r.body.contains("&lt;img src=x onerror=alert(1)&gt;.csv"))
        assertSafe(r)
        r = get(port, "/files?path=" + q(name))
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("<td>&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</td>"), r.body)
        assertSafe(r)
        r = get(port, "/raw?path=" + q(name))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-type"], "application/octet-stream")
        XCTAssertEqual(r.headers["content-disposition"], "attachment; filename=\"_img_src_x_onerror_alert_1__.csv\"")
        XCTAssertEqual(r.headers["content-security-policy"], "default-src 'none'; sandbox")
        XCTAssertEqual(r.headers["x-content-type-options"], "nosniff")
        // Traversal and unknown revisions.
        for target in ["/raw?path=..%2F..%2Fetc%2Fpasswd", "/files?path=%2Fetc%2Fpasswd", "/raw?path=models%2F..%2Fmlrepo.json"] {
            XCTAssertEqual(get(port, target).status, 400, target)
        }
        r = get(port, "/files?rev=" + q(Self.hostile[1]))
        XCTAssertEqual(r.status, 404)
        assertSafe(r)
        XCTAssertEqual(get(port, "/serving").status, 404, "no --serve-url")
    }

    /// Compare with `table.label` set: tables without the column are still diffed by rows
    /// and show their column statistics; the registry's version numbers are `mlrepo
    /// registry`'s.
    func testCompareWithATableLabelAndRegistryVersionsLikeTheCLI() throws {
        try makeRepo()
        write("eval_loss.csv", "step,loss\n1,0.9\n2,0.5\n")
        ok("add", ".")
        commit("loss table")
        ok("config", "table.label", "species")
        // A second model version (one more training row), promoted to staging only.
        let train = try String(contentsOf: url("iris_train.csv"), encoding: .utf8)
        write("iris_train.csv", train + "5.9,3.0,5.1,1.8,virginica\n")
        write("eval_loss.csv", "step,loss\n1,0.9\n2,0.5\n3,0.25\n")
        ok("repro")
        ok("add", ".")
        commit("more data")
        ok("promote", "models/iris.mlmodel", "--to", "staging")
        let listing = ok("registry")
        XCTAssertTrue(listing.contains("  v2  model ") && listing.contains("[staging]"), listing)
        let v2 = try XCTUnwrap(listing.split(separator: "\n").first { $0.hasPrefix("  v2  ") && $0.contains("[staging]") }, listing)
        XCTAssertTrue(listing.split(separator: "\n").contains { $0.hasPrefix("  v1  ") && $0.contains("[production]") }, listing)

        let port = try startServer(["ui"])
        var r = get(port, "/compare?c=HEAD~1&c=HEAD")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertFalse(r.body.contains("no column named"), r.body)
        XCTAssertTrue(r.body.contains("2 → 3 rows (+1): 0 changed, 1 added, 0 removed"), "eval_loss.csv, diffed by rows: \(r.body)")
        XCTAssertTrue(r.body.contains("112 → 113 rows (+1)"), r.body)
        XCTAssertTrue(r.body.contains("species: setosa <span class=\"muted\">"), r.body)
        XCTAssertTrue(r.body.contains("<li><span class=\"mono\">loss</span>: mean <span class=\"muted\">0.7 → 0.55</span>"), r.body)
        XCTAssertTrue(r.body.contains("<li><span class=\"mono\">sepal_length</span>: mean "), r.body)
        // Registry: staging points at the model mlrepo registry calls v2, production at v1.
        r = get(port, "/registry?alias=staging")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("<td class=\"num\">v2</td>"), "\(v2): \(r.body)")
        XCTAssertFalse(r.body.contains("<td class=\"num\">v1</td>"))
        r = get(port, "/registry")
        XCTAssertTrue(r.body.contains("staging</a></td><td class=\"num\">v2</td>") && r.body.contains("production</a></td><td class=\"num\">v1</td>"), r.body)
    }

    /// A port nothing listens on.
    func deadPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        close(fd)
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    func testServingPageReadsARunningServeAndSaysWhenItIsGone() throws {
        try makeRepo()
        let servePort = try startServer(["serve", "production"])
        let row = "{\"dataframe_split\": {\"columns\": [\"sepal_length\", \"sepal_width\", \"petal_length\", \"petal_width\"], \"data\": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}"
        for _ in 0..<3 { XCTAssertEqual(get(servePort, "/invocations", method: "POST", body: row).status, 200) }
        XCTAssertEqual(get(servePort, "/invocations", method: "POST", body: "{").status, 400)
        let uiPort = try startServer(["ui", "--serve-url", "http://127.0.0.1:\(servePort)"])
        var r = get(uiPort, "/serving")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertFalse(r.body.contains("unreachable"), r.body)
        XCTAssertTrue(r.body.contains("<div class=\"muted\">Rows scored</div><div class=\"big\">6</div>"), r.body)
        XCTAssertTrue(r.body.contains("<div class=\"muted\">Errors</div><div class=\"big\">1</div>"), r.body)
        XCTAssertTrue(r.body.contains("Latency p99"))
        XCTAssertTrue(r.body.contains("<td>models/iris.mlmodel</td>"), "the model served")
        XCTAssertTrue(r.body.contains("<td>sepal_length</td>"), "per-feature drift from /monitor: \(r.body)")
        // A second view has a rate since the first.
        r = get(uiPort, "/serving")
        XCTAssertTrue(r.body.contains("since the last view"))
        // The server gone: the page says so, with the error.
        kill(servers[0].pid, SIGKILL); var st: Int32 = 0; waitpid(servers[0].pid, &st, 0)
        servers.removeFirst()
        r = get(uiPort, "/serving")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("<p class=\"error unreachable\">Cannot read the server's metrics: "), r.body)
        // A URL that never answered.
        let dead = try startServer(["ui", "--serve-url", "http://127.0.0.1:\(deadPort())/" + q(Self.hostile[1])])
        r = get(dead, "/serving")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("Connection refused") || r.body.contains("cannot connect"), r.body)
        assertSafe(r)
    }
}
