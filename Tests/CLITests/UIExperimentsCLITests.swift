import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `mlrepo ui` end to end: the real binary serving a repository built by the CLI (a
/// pipeline run with `repro`), the Experiments, Compare and Charts pages and
/// /api/experiments fetched over HTTP, a commit made while it runs.
final class UIExperimentsCLITests: CLITestCase {
    var servers: [Spawned] = []
    override func tearDownWithError() throws {
        for s in servers { kill(s.pid, SIGKILL); var st: Int32 = 0; waitpid(s.pid, &st, 0) }
        try super.tearDownWithError()
    }

    static let project = """
    {"stages": {"train": {"cmd": "sh train.sh", "deps": ["train.sh", "data.csv"], "params": ["lr"],
                          "outs": ["model.txt"], "metrics": ["metrics.json"]}}}

    """
    static let script = """
    lr=$(sed -n 's/.*"lr": *\\([0-9.]*\\).*/\\1/p' params.json)
    rows=$(wc -l < data.csv)
    printf '{"accuracy": %s, "rows": %s}\\n' "$lr" "$rows" > metrics.json
    cat data.csv > model.txt

    """

    /// Starts `mlrepo ui --port 0` and returns its port (read from its stderr line).
    func startUI() throws -> Int {
        let s = try start(["ui", "--port", "0"])
        servers.append(s)
        return try listening(s)
    }

    func get(_ port: Int, _ target: String) throws -> Reply {
        try XCTUnwrap(sendRequest(port, "GET", target), "no reply to \(target)")
    }

    func testPagesOverHTTPFollowNewCommits() throws {
        ok("init")
        write("mlrepo.json", Self.project)
        write("train.sh", Self.script)
        write("params.json", "{\"lr\": 0.5}\n")
        write("data.csv", "x,label\n1,a\n2,b\n")
        ok("config", "table.label", "label")
        ok("repro")
        let c1 = commit("baseline")
        write("params.json", "{\"lr\": 0.25}\n")
        ok("repro")
        commit("lower lr")
        write("data.csv", "x,label\n1,a\n2,b\n3,b\n")
        ok("repro")
        let hostile = "\"><script>alert(1)</script> more data"
        let c3 = commit(hostile)

        let port = try startUI()
        var r = try get(port, "/experiments")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.headers["content-security-policy"]?.contains("script-src 'self'") == true)
        XCTAssertEqual(r.body.components(separatedBy: "<input class=\"pick\"").count - 1, 3)
        XCTAssertTrue(r.body.contains("1–3 of 3"))
        XCTAssertFalse(r.body.contains("<script>alert(1)"))
        XCTAssertTrue(r.body.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt; more data"))

        // Sorted and filtered over HTTP; a bad filter is a 400 with the reason.
        r = try get(port, "/api/experiments?sort=rows&order=asc&filter=" + "accuracy%3C0.4")
        XCTAssertEqual(r.status, 200, r.body)
        let rows = try XCTUnwrap(r.json as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["message"] as? String }, ["lower lr", hostile])
        XCTAssertEqual(rows.first?["branches"] as? [String], ["main"])
        r = try get(port, "/experiments?filter=rows%3E%3E2")
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(r.body.contains("filter: expected a number or a quoted string after &#39;&gt;&#39;"), r.body)

        // Compare the first and the last: metric deltas, the table's rows and labels, and
        // the stage whose run differs (its changed deps, params and outputs).
        r = try get(port, "/compare?c=\(c1)&c=HEAD")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertTrue(r.body.contains("<span class=\"down delta\">▼ -0.25 -50%</span>"), r.body)
        XCTAssertTrue(r.body.contains("2 → 3 rows (+1): 0 changed, 1 added, 0 removed"), r.body)
        XCTAssertTrue(r.body.contains("label: a <span class=\"muted\">1 → 1</span>, b <span class=\"up\">1 → 2</span>"), r.body)
        XCTAssertTrue(r.body.contains("<tr><td>train</td><td>deps: data.csv<br>params: lr 0.5 → 0.25<br>outs: metrics.json, model.txt</td></tr>"), r.body)
        XCTAssertTrue(r.body.contains("href=\"/lineage?rev=\(c3)\""))
        // The Compare tab with no commit named: how to compare, a form, HEAD against its parent.
        r = try get(port, "/compare")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertTrue(r.body.contains("<input type=\"text\" name=\"c\" value=\"HEAD~1\">"), r.body)
        XCTAssertTrue(r.body.contains("&amp;c=\(c3)\">HEAD ("), r.body)

        // Charts: one point per commit.
        r = try get(port, "/charts?metric=accuracy")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body.components(separatedBy: "class=\"pt\"").count - 1, 3)

        // A commit made while the server runs shows on the next request.
        write("params.json", "{\"lr\": 0.125}\n")
        ok("repro")
        commit("even lower")
        r = try get(port, "/experiments?sort=accuracy&order=asc")
        XCTAssertTrue(r.body.contains("1–4 of 4"), String(r.body.suffix(3000)))
        XCTAssertTrue(r.body.contains("<td class=\"msg\" title=\"even lower\">even lower</td>"))
    }
}
