import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `mlrepo ui` in a real browser: builds a repository with params, metrics, a built-in train
/// stage (lineage, a loss curve), a promotion, a dataset in two versions and hostile names
/// and values, starts `mlrepo ui --port 0`, and runs Tests/browser/check_ui.py (Selenium +
/// headless Chromium) over every page. Skips, saying why, without python3, selenium,
/// chromium or chromedriver (.ci/run installs them).
final class BrowserUITests: CLITestCase {
    /// Values that would run script if a page put them into HTML unescaped; the checker fails
    /// a page where `window.__pwned` gets set, an inline handler or script appears, or the
    /// server sent one of these strings verbatim.
    static let hostileImg = #"<img src=x onerror="window.__pwned=1">"#
    static let hostileScript = #""><script>window.__pwned=1</script>"#
    /// Ref names cannot hold spaces: the same attack without them.
    static let hostileBranch = #""><img/src=x/onerror=window.__pwned=1>"#
    static let hostileFile = hostileImg + ".txt"

    var ui: Spawned?
    var serve: Spawned?

    override func tearDownWithError() throws {
        for s in [ui, serve].compactMap({ $0 }) {
            kill(s.pid, SIGTERM)
            var st: Int32 = 0
            while waitpid(s.pid, &st, 0) < 0 && errno == EINTR {}
        }
        ui = nil
        serve = nil
        try super.tearDownWithError()
    }

    /// The python3 that has selenium, and the browser and driver; skips naming what is missing.
    func browserTools() throws -> String {
        let env = ProcessInfo.processInfo.environment
        let dirs = (env["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        guard let python = dirs.map({ $0 + "/python3" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("browser tests need python3 on PATH (with selenium, chromium and chromedriver; .ci/run installs them)")
        }
        let chromium = env["CHROMIUM"] ?? "/usr/bin/chromium"
        let driver = env["CHROMEDRIVER"] ?? "/usr/bin/chromedriver"
        guard FileManager.default.isExecutableFile(atPath: chromium) else {
            throw XCTSkip("browser tests need Chromium at \(chromium) (apt-get install chromium, or set CHROMIUM)")
        }
        guard FileManager.default.isExecutableFile(atPath: driver) else {
            throw XCTSkip("browser tests need chromedriver at \(driver) (apt-get install chromium-driver, or set CHROMEDRIVER)")
        }
        let (code, _, _) = try runTool(python, ["-c", "import selenium.webdriver"])
        guard code == 0 else { throw XCTSkip("browser tests need Selenium 4 for \(python) (python3 -m pip install selenium)") }
        return python
    }

    /// Runs a tool (not mlrepo) to completion; output through files, so no pipe can fill up.
    func runTool(_ exe: String, _ args: [String], timeout: Double = 120) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = base.appendingPathComponent(".io/tool.out"), err = base.appendingPathComponent(".io/tool.err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning { p.terminate(); p.waitUntilExit(); XCTFail("\(exe) \(args.first ?? "") ran over \(Int(timeout)) s") }
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "", (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    func stages(lr: Double) -> String {
        """
        {"stages": {
          "prep": {"cmd": "cp hostile.csv prepared.csv && printf 'epoch,score\\n1,0.5\\n2,0.7\\n3,0.8\\n' > curve.csv",
                   "deps": ["hostile.csv"], "params": ["prep"], "outs": ["prepared.csv"],
                   "plots": [{"curve.csv": {"x": "epoch", "y": "score", "title": \(jsonString(Self.hostileImg))}}]},
          "train": {"train": {"model": "logistic_regression", "data": "iris_train.csv", "label": "species",
                              "params": {"optimizer": "adam", "epochs": 20, "learning_rate": \(lr), "patience": 1000}},
                    "outs": ["models/iris.mlmodel"], "metrics": ["train.json"]},
          "eval": {"eval": {"model": "models/iris.mlmodel", "data": "iris_test.csv"}, "metrics": ["eval.json"]}
        }}
        """
    }

    /// `s` as a JSON string literal.
    func jsonString(_ s: String) -> String {
        String(String(decoding: try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes]), as: UTF8.self).dropFirst().dropLast())
    }

    func params(level: Int) -> String {
        "{\"prep\": {\"note\": \(jsonString(Self.hostileImg)), \"level\": \(level)}}\n"
    }

    /// Three commits on main (learning rates 0.1, 0.05, 0.2: not in order), hostile messages,
    /// a promotion, the training set changed in the third; branches `tune` and a hostile one.
    /// Returns the commit ids, oldest first.
    func buildRepo() throws -> [String] {
        ok("init")
        let fixtures = Self.packageRoot.appendingPathComponent("Tests/Fixtures/datasets")
        for part in ["train", "test"] {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent("iris_\(part).csv"), to: url("iris_\(part).csv"))
        }
        write("hostile.csv", "name,score\n\"\(Self.hostileImg.replacingOccurrences(of: "\"", with: "\"\""))\",1\n\"\(Self.hostileScript.replacingOccurrences(of: "\"", with: "\"\""))\",2\nplain,3\n")
        write(Self.hostileFile, Self.hostileScript + "\n")
        var ids: [String] = []
        for (i, (lr, message)) in [(0.1, Self.hostileImg), (0.05, Self.hostileScript), (0.2, "smaller training set")].enumerated() {
            write("mlrepo.json", stages(lr: lr))
            write("params.json", params(level: i + 1))
            if i == 2 {
                let lines = (text("iris_train.csv") ?? "").split(separator: "\n")
                write("iris_train.csv", lines.dropLast(20).joined(separator: "\n") + "\n")
            }
            ok("repro")
            ok("add", ".")
            ids.append(commit(message))
            if i == 1 { ok("promote", "models/iris.mlmodel", "--to", "production", "--require", "accuracy>=0.5", "-m", Self.hostileScript) }
        }
        ok("branch", "tune", ids[1])
        ok("branch", Self.hostileBranch, ids[0])
        return ids
    }

    /// `mlrepo serve production` with one prediction answered, for the Serving page; its port.
    func startServe() throws -> Int {
        let s = try start(["serve", "production", "--port", "0"])
        serve = s
        let port = try listening(s)
        let csv = Array("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n".utf8)
        let fd = openSocket(port)
        XCTAssertGreaterThanOrEqual(fd, 0)
        sendAll(fd, Array("POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nContent-Length: \(csv.count)\r\nConnection: close\r\n\r\n".utf8) + csv)
        XCTAssertEqual(readReply(fd)?.status, 200, "a prediction from the served model")
        close(fd)
        return port
    }

    func startUI(serveURL: String) throws -> Int {
        let s = try start(["ui", "--port", "0", "--serve-url", serveURL])
        ui = s
        do { return try listening(s) } catch let e as ServerExited { ui = nil; throw e }
    }

    func q(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s }

    /// What every page must show, for check_ui.py (its docstring describes the fields).
    func expectations(_ ids: [String]) -> [String: Any] {
        let (c1, c2, c3) = (ids[0], ids[1], ids[2])
        return [
            "hostile": [Self.hostileImg, Self.hostileScript, Self.hostileBranch],
            "pages": [
                ["name": "experiments", "path": "/experiments?branch=main", "title": "Experiments",
                 "tables": ["experiments": 3], "text": [Self.hostileImg, Self.hostileScript]],
                ["name": "experiments-default", "path": "/experiments", "title": "Experiments",
                 "tables": ["experiments": ["min": 3]]],
                ["name": "experiments-hostile-branch", "path": "/experiments?branch=\(q(Self.hostileBranch))",
                 "tables": ["experiments": 1]],
                ["name": "experiments-tune", "path": "/experiments?branch=tune", "tables": ["experiments": 2]],
                // One chart, one point per commit of main; HEAD's curves below it: the loss curve
                // (20 epochs) and the declared plot (3 rows, its title hostile).
                ["name": "charts", "path": "/charts?metric=accuracy&branch=main", "title": "Charts",
                 "counts": ["#metric-charts .chart": 1, "#metric-charts circle.pt": 3, "#plots circle.pt": ["min": 23]],
                 "text": [Self.hostileImg]],
                ["name": "charts-scatter", "path": "/charts?x=train.learning_rate&y=accuracy&branch=main", "counts": ["#scatter circle.pt": 3]],
                ["name": "charts-parallel", "path": "/charts?parallel=1&branch=main", "counts": ["path.pline": 3]],
                // Two commits overlaid: a line each on the loss curve and on the declared plot.
                ["name": "charts-curves", "path": "/charts?c=\(c3)&c=\(c1)", "counts": ["#plots path.line": ["min": 4]]],
                ["name": "compare", "path": "/compare?c=\(c1)&c=\(c3)", "title": "Compare", "text": ["0.2"]],
                ["name": "lineage", "path": "/lineage?rev=\(c3)", "title": "Lineage",
                 "counts": ["g.node": 13, "path.edge": 11]],
                ["name": "registry", "path": "/registry", "title": "Registry", "text": ["production"]],
                ["name": "registry-alias", "path": "/registry?alias=production&metric=eval.json%3Aaccuracy", "title": "production",
                 "text": [Self.hostileScript], "counts": ["circle.pt": 1]],
                ["name": "data", "path": "/data?rev=\(c3)&path=iris_train.csv", "title": "Data", "text": ["sepal_length"]],
                ["name": "data-hostile", "path": "/data?rev=\(c3)&path=hostile.csv"],
                ["name": "data-drift", "path": "/data?rev=\(c3)&path=iris_train.csv&base=\(c1)", "title": "Data", "text": ["sepal_length"]],
                ["name": "files", "path": "/files?rev=\(c3)&path=", "title": "Files", "text": [Self.hostileFile, "iris_train.csv"]],
                ["name": "files-table", "path": "/files?rev=\(c3)&path=hostile.csv", "text": [Self.hostileImg, Self.hostileScript]],
                ["name": "files-text", "path": "/files?rev=\(c3)&path=\(q(Self.hostileFile))", "text": [Self.hostileScript]],
                ["name": "files-c2", "path": "/files?rev=\(c2)&path=", "text": ["iris_train.csv"]],
                ["name": "serving", "path": "/serving", "title": "Serving", "text": ["Requests by status", "models/iris.mlmodel"]],
            ],
            "sort": [["path": "/experiments?branch=main", "table": "experiments", "column": "train.learning_rate"]],
            "compare": [["path": "/experiments?branch=main", "table": "experiments", "link": "#compare-link", "title": "Compare"]],
            "links": [
                ["path": "/experiments?branch=main", "selector": "header nav a[href='/lineage']", "title": "Lineage"],
                ["path": "/experiments?branch=main", "selector": "header nav a[href='/registry']", "title": "Registry"],
                ["path": "/experiments?branch=main", "selector": "header nav a[href='/serving']", "title": "Serving"],
                ["path": "/experiments?branch=main", "selector": "#experiments tbody a[href^='/files?rev=\(c3)']", "title": "Files"],
                ["path": "/registry", "selector": "a[href='/registry?alias=production']", "title": "production"],
                ["path": "/registry?alias=production", "selector": "a[href^='/lineage?rev=\(c2)']", "title": "Lineage"],
                ["path": "/lineage?rev=\(c3)", "selector": "g.node a[href*='models%2Firis.mlmodel'], g.node a[href*='models/iris.mlmodel']", "title": "iris.mlmodel"],
            ],
            "crawl": true,
        ]
    }

    /// The checker itself: a clean page passes, and each planted fault (wrong rows, missing
    /// text, an unescaped value, script without CSP, a script error, a broken link, a column
    /// that is not there) is reported, so the page test above cannot pass by checking nothing.
    func testCheckerCatchesPlantedFaults() throws {
        let python = try browserTools()
        let script = Self.packageRoot.appendingPathComponent("Tests/browser/selftest.py").path
        let (code, out, err) = try runTool(python, [script], timeout: 120)
        guard let result = (try? JSONSerialization.jsonObject(with: Data(out.utf8))) as? [String: Any] else {
            XCTFail("selftest.py printed no JSON (exit \(code)): \(out.suffix(1000)) \(err.suffix(2000))")
            return
        }
        if code == 2, let why = result["error"] as? String { throw XCTSkip("browser tests: \(why)") }
        let cases = result["cases"] as? [[String: Any]] ?? []
        XCTAssertEqual(cases.count, 8)
        for c in cases where c["passed"] as? Bool != true {
            XCTFail("checker self-test '\(c["case"] ?? "")': missed \(c["missed"] ?? []), reported \(c["failures"] ?? [])")
        }
        XCTAssertEqual(code, 0)
    }

    func testEveryPageInHeadlessChromium() throws {
        let python = try browserTools()
        let t0 = Date()
        let ids = try buildRepo()
        let port = try startUI(serveURL: "http://127.0.0.1:\(try startServe())")

        // The JSON API holds the same rows.
        let fd = openSocket(port)
        XCTAssertGreaterThanOrEqual(fd, 0)
        sendAll(fd, Array("GET /api/experiments?branch=main HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8))
        let reply = readReply(fd)
        close(fd)
        XCTAssertEqual(reply?.status, 200)
        let api = (try? JSONSerialization.jsonObject(with: Data((reply?.body ?? "").utf8))) as? [[String: Any]]
        XCTAssertEqual(api?.compactMap { $0["id"] as? String }.sorted(), ids.sorted(), "GET /api/experiments?branch=main: \(reply?.body.prefix(300) ?? "no reply")")

        let expectURL = base.appendingPathComponent("expect.json")
        try JSONSerialization.data(withJSONObject: expectations(ids), options: [.prettyPrinted, .sortedKeys]).write(to: expectURL)
        let script = Self.packageRoot.appendingPathComponent("Tests/browser/check_ui.py").path
        var args = [script, "--base", "http://127.0.0.1:\(port)", "--expect", expectURL.path]
        if let dir = ProcessInfo.processInfo.environment["MLREPO_UI_SCREENSHOTS"], !dir.isEmpty { args += ["--screenshots", dir] }
        let (code, out, err) = try runTool(python, args, timeout: 150)
        guard let result = (try? JSONSerialization.jsonObject(with: Data(out.utf8))) as? [String: Any] else {
            XCTFail("check_ui.py printed no JSON (exit \(code)): \(out.suffix(2000)) \(err.suffix(2000))")
            return
        }
        if code == 2, let why = result["error"] as? String, why.hasPrefix("cannot start headless Chromium") {
            throw XCTSkip("browser tests: \(why)")
        }
        for f in result["failures"] as? [String] ?? [] { XCTFail("browser: \(f)") }
        XCTAssertEqual(result["ok"] as? Bool, true, "check_ui.py: \(err.suffix(3000))")
        XCTAssertEqual(code, 0)
        let pages = result["pages"] as? [[String: Any]] ?? []
        XCTAssertEqual(pages.count, (expectations(ids)["pages"] as? [Any])?.count, "every page was visited")
        XCTAssertGreaterThan(result["checks"] as? Int ?? 0, 100, "the checker checked things")
        for p in pages {
            print("  \(p["name"] ?? ""): tables \(p["tables"] ?? [:]) counts \(p["counts"] ?? [:]) server \(p["server_ms"] ?? "-") ms")
        }
        print("browser checks: \(result["checks"] ?? 0) on \(pages.count) pages in \(Int(Date().timeIntervalSince(t0))) s")
    }
}
