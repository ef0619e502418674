import Foundation
import XCTest

/// `mlrepo serve` end to end: the real binary on a free port, called with raw sockets, curl
/// and Python's http.client; predictions against `mlrepo predict`; every error path.
final class CLIServeTests: CLITestCase {
    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures/datasets")
    static let irisFeatures = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

    var servers: [Spawned] = []

    override func tearDownWithError() throws {
        for s in servers { kill(s.pid, SIGKILL); var st: Int32 = 0; waitpid(s.pid, &st, 0) }
        servers = []
        try super.tearDownWithError()
    }

    // MARK: Helpers

    /// A repo with an iris classifier committed at models/iris.mlmodel.
    func makeIrisRepo(model: String = "logistic_regression", params: String = "{}") throws {
        ok("init")
        for part in ["train", "test"] {
            try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("iris_\(part).csv"), to: url("iris_\(part).csv"))
        }
        write("mlrepo.json", """
        {"stages": {"train": {"train": {"model": "\(model)", "data": "iris_train.csv", "label": "species", "params": \(params)},
                              "outs": ["models/iris.mlmodel"], "metrics": ["train.json"]}}}
        """)
        ok("train", "--commit", "-m", "iris model")
    }

    /// Starts `mlrepo serve ARGS --port 0` and returns its port once it listens.
    func serve(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> (Spawned, Int) {
        let s = try start(["serve", "--port", "0"] + args)
        servers.append(s)
        do { return (s, try listening(s, timeout: 20, file: file, line: line)) } catch let e as ServerExited {
            servers.removeAll { $0.pid == e.pid }
            throw e
        }
    }

    /// Connects to the server.
    func connect(_ port: Int) -> Int32 {
        let fd = openSocket(port)
        XCTAssertGreaterThanOrEqual(fd, 0, "connect to \(port)")
        return fd
    }

    /// One request on a fresh connection.
    func request(_ port: Int, _ method: String, _ path: String, body: String? = nil, contentType: String? = "application/json",
                 extraHeaders: String = "") -> Reply {
        let fd = connect(port)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        if let contentType, body != nil { head += "Content-Type: \(contentType)\r\n" }
        if let body { head += "Content-Length: \(body.utf8.count)\r\n" }
        head += extraHeaders + "\r\n"
        sendAll(fd, Array(head.utf8) + Array((body ?? "").utf8))
        return readReply(fd) ?? Reply(status: -1, headers: [:], body: "")
    }

    func runTool(_ argv: [String], stdin: String? = nil) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func hasTool(_ name: String) -> Bool { (try? runTool(["sh", "-c", "command -v \(name)"]).code) == 0 }

    func irisTestRows() -> (header: [String], rows: [[String]]) {
        let lines = (text("iris_test.csv") ?? "").split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        return (lines[0], Array(lines.dropFirst()))
    }

    // MARK: Tests

    /// `serve --backend`: the CPU by default; gpu refuses to start without a GPU (one line,
    /// non-zero exit); auto falls back to the CPU, says so, and serves the same predictions.
    func testBackendGPUWithoutADeviceFailsAndAutoFallsBack() throws {
        if FileManager.default.fileExists(atPath: "/dev/nvidia0") { throw XCTSkip("this machine has an NVIDIA GPU: this test checks the fallback without one") }
        try makeIrisRepo()
        let r = run("serve", "--port", "0", "--backend", "gpu")
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("no GPU backend is available: "), r.err)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)

        let bad = run("serve", "--port", "0", "--backend", "tpu")
        XCTAssertEqual(bad.code, 2, bad.err)
        XCTAssertTrue(bad.err.contains("--backend takes cpu, gpu or auto"), bad.err)

        let (cpuServer, cpuPort) = try serve([])
        let body = #"{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}"#
        let want = request(cpuPort, "POST", "/invocations?probabilities=true", body: body)
        XCTAssertEqual(want.status, 200, want.body)
        _ = cpuServer

        let (s, port) = try serve(["--backend", "auto"])
        let got = request(port, "POST", "/invocations?probabilities=true", body: body)
        XCTAssertEqual(got.status, 200, got.body)
        XCTAssertEqual(got.body, want.body)
        let err = (try? String(contentsOf: s.errURL, encoding: .utf8)) ?? ""
        XCTAssertTrue(err.contains("note: auto: ") && err.contains("; using cpu"), err)
    }

    func testPredictionsMatchPredictInEveryInputFormat() throws {
        try makeIrisRepo()
        let (_, port) = try serve([])
        let expected = ok("predict", "models/iris.mlmodel", "--data", "iris_test.csv").split(separator: "\n").dropFirst().map(String.init)
        let (header, rows) = irisTestRows()
        let featureIdx = Self.irisFeatures.map { header.firstIndex(of: $0)! }
        // dataframe_split with the label column and shuffled column order: the label is ignored.
        let cols = header.reversed().map { "\"\($0)\"" }.joined(separator: ",")
        let data = rows.map { r in "[" + r.reversed().enumerated().map { i, v in i == 0 ? "\"\(v)\"" : v }.joined(separator: ",") + "]" }.joined(separator: ",")
        var r = request(port, "POST", "/invocations", body: #"{"dataframe_split": {"columns": [\#(cols)], "data": [\#(data)]}}"#)
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual((r.json as? [String: Any])?["predictions"] as? [String], expected)
        XCTAssertEqual(r.headers["content-type"], "application/json")
        XCTAssertEqual(r.headers["x-mlrepo-model"]?.count, 64)
        // dataframe_records.
        let records = rows.map { row in "{" + featureIdx.enumerated().map { "\"\(Self.irisFeatures[$0.offset])\": \(row[$0.element])" }.joined(separator: ",") + "}" }
        r = request(port, "POST", "/invocations", body: #"{"dataframe_records": [\#(records.joined(separator: ","))]}"#)
        XCTAssertEqual((r.json as? [String: Any])?["predictions"] as? [String], expected, r.body)
        // instances as rows in feature order, and inputs as columns.
        let positional = rows.map { row in "[" + featureIdx.map { row[$0] }.joined(separator: ",") + "]" }.joined(separator: ",")
        r = request(port, "POST", "/invocations", body: #"{"instances": [\#(positional)]}"#)
        XCTAssertEqual((r.json as? [String: Any])?["predictions"] as? [String], expected, r.body)
        let columns = Self.irisFeatures.enumerated().map { j, f in "\"\(f)\": [" + rows.map { $0[featureIdx[j]] }.joined(separator: ",") + "]" }
        r = request(port, "POST", "/invocations", body: #"{"inputs": {\#(columns.joined(separator: ","))}}"#)
        XCTAssertEqual((r.json as? [String: Any])?["predictions"] as? [String], expected, r.body)
        // text/csv: the test file as it is.
        r = request(port, "POST", "/invocations", body: text("iris_test.csv"), contentType: "text/csv")
        XCTAssertEqual((r.json as? [String: Any])?["predictions"] as? [String], expected, r.body)
        // Probabilities on request, matching predict --probabilities.
        r = request(port, "POST", "/invocations?probabilities=true", body: #"{"instances": [\#(positional)]}"#)
        let obj = r.json as? [String: Any]
        XCTAssertEqual(obj?["classes"] as? [String], ["setosa", "versicolor", "virginica"])
        let probs = obj?["probabilities"] as? [[Double]] ?? []
        let cli = ok("predict", "models/iris.mlmodel", "--data", "iris_test.csv", "--probabilities").split(separator: "\n").dropFirst()
        XCTAssertEqual(probs.count, cli.count)
        for (p, line) in zip(probs, cli) {
            let want = line.split(separator: ",").dropFirst().map { Double($0)! }
            for (a, b) in zip(p, want) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        }
    }

    func testRegressionClusteringAndPCAOutputs() throws {
        ok("init")
        for part in ["train", "test"] {
            try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("diabetes_\(part).csv"), to: url("d_\(part).csv"))
        }
        let label = String(text("d_train.csv")!.split(separator: "\n")[0].split(separator: ",").last!)
        write("mlrepo.json", """
        {"stages": {"ridge": {"train": {"model": "ridge", "data": "d_train.csv", "label": "\(label)"}, "outs": ["ridge.mlmodel"]},
                    "km": {"train": {"model": "kmeans", "data": "d_train.csv", "label": "\(label)", "params": {"k": 3}}, "outs": ["km.mlmodel"]},
                    "pca": {"train": {"model": "pca", "data": "d_train.csv", "label": "\(label)", "params": {"n_components": 2}}, "outs": ["pca.mlmodel"]}}}
        """)
        ok("repro")
        for (model, check) in [("ridge.mlmodel", "number"), ("km.mlmodel", "int"), ("pca.mlmodel", "list")] {
            let (s, port) = try serve([model])
            let r = request(port, "POST", "/invocations", body: text("d_test.csv"), contentType: "text/csv")
            XCTAssertEqual(r.status, 200, r.body)
            let preds = (r.json as? [String: Any])?["predictions"] as? [Any] ?? []
            let cli = ok("predict", model, "--data", "d_test.csv").split(separator: "\n").dropFirst()
            XCTAssertEqual(preds.count, cli.count)
            switch check {
            case "number":
                for (p, c) in zip(preds, cli) { XCTAssertEqual(p as? Double ?? .nan, Double(c)!, accuracy: 1e-3 * max(1, abs(Double(c)!))) }
            case "int":
                XCTAssertEqual(preds.compactMap { $0 as? Int }.map(String.init), cli.map(String.init))
            default:
                for (p, c) in zip(preds, cli) {
                    let want = c.split(separator: ",").map { Double($0)! }
                    XCTAssertEqual((p as? [Double])?.count, 2)
                    for (a, b) in zip(p as? [Double] ?? [], want) { XCTAssertEqual(a, b, accuracy: 1e-4) }
                }
            }
            kill(s.pid, SIGTERM)
            XCTAssertEqual(collect(s).code, 0)
            servers.removeAll { $0.pid == s.pid }
        }
    }

    func testErrorsAreMLflowShapedAndNeverHang() throws {
        try makeIrisRepo()
        let (_, port) = try serve(["--max-body", "2000", "--read-timeout", "1"])
        func expect(_ r: Reply, _ status: Int, _ part: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertEqual(r.status, status, r.body, file: file, line: line)
            if status != 405 || !r.body.isEmpty {
                let o = r.json as? [String: Any]
                XCTAssertNotNil(o?["error_code"] as? String, r.body, file: file, line: line)
                XCTAssertTrue((o?["message"] as? String ?? "").contains(part), "'\(r.body)' lacks '\(part)'", file: file, line: line)
            }
        }
        expect(request(port, "POST", "/invocations", body: "{not json"), 400, "invalid JSON")
        expect(request(port, "POST", "/invocations", body: #"{"instances": [[1, NaN, 3, 4]]}"#), 400, "NaN")
        expect(request(port, "POST", "/invocations", body: #"{"instances": [[1, 2, 3]]}"#), 400, "has 3 values")
        expect(request(port, "POST", "/invocations", body: #"{"instances": [[1, "a", 3, 4]]}"#), 400, "is not a number")
        expect(request(port, "POST", "/invocations", body: #"{"dataframe_records": [{"sepal_length": 1, "sepal_width": null, "petal_length": 1, "petal_width": 1}]}"#), 400, "null")
        expect(request(port, "POST", "/invocations", body: #"{"dataframe_split": {"columns": ["sepal_length", "colour"], "data": [[1, 2]]}}"#), 400, "missing columns: sepal_width, petal_length, petal_width; unexpected column: colour")
        expect(request(port, "POST", "/invocations", body: #"{"instances": [[1,2,3,4]], "inputs": [[1,2,3,4]]}"#), 400, "exactly one")
        expect(request(port, "POST", "/invocations", body: #"{"rows": []}"#), 400, "unknown field 'rows'")
        expect(request(port, "POST", "/invocations", body: "a,b\n1,2\n", contentType: "text/csv"), 400, "missing columns")
        expect(request(port, "POST", "/invocations", body: "sepal_length,sepal_width,petal_length,petal_width\n1,x,3,4\n", contentType: "text/csv"), 400, "'x' is not a number")
        expect(request(port, "POST", "/invocations", body: "{}", contentType: "application/xml"), 415, "unsupported Content-Type")
        expect(request(port, "POST", "/invocations", body: "{}", contentType: nil), 415, "missing Content-Type")
        expect(request(port, "GET", "/invocations"), 405, "POST")
        XCTAssertEqual(request(port, "GET", "/invocations").headers["allow"], "POST")
        expect(request(port, "GET", "/nowhere"), 404, "no endpoint")
        expect(request(port, "POST", "/invocations", body: String(repeating: " ", count: 3000)), 413, "larger than")
        // A client that sends a large refused body without waiting still reads the 413 (the
        // server drains instead of resetting the connection).
        expect(request(port, "POST", "/invocations", body: String(repeating: " ", count: 400_000)), 413, "larger than")
        // No length: 411.
        var fd = connect(port)
        sendAll(fd, Array("POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n".utf8))
        expect(readReply(fd) ?? Reply(status: -1, headers: [:], body: ""), 411, "Content-Length")
        close(fd)
        // Garbage request line: 400 and the connection closes.
        fd = connect(port)
        sendAll(fd, Array("HELLO\r\n\r\n".utf8))
        expect(readReply(fd) ?? Reply(status: -1, headers: [:], body: ""), 400, "malformed request line")
        close(fd)
        // Chunked upload works.
        fd = connect(port)
        let body = #"{"instances": [[5.1, 3.5, 1.4, 0.2]]}"#
        let chunked = "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n0\r\n\r\n"
        sendAll(fd, Array(chunked.utf8))
        XCTAssertEqual(readReply(fd)?.body, #"{"predictions":["setosa"]}"#)
        close(fd)
        // A client that sends half a request and disappears, and one that stalls: others are
        // served at once, the staller gets 408 after the read time-out.
        fd = connect(port)
        sendAll(fd, Array("POST /invocations HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"inst".utf8))
        close(fd)
        let staller = connect(port)
        sendAll(staller, Array("POST /invocations HTTP/1.1\r\nContent-Le".utf8))
        let t0 = Date()
        for _ in 0..<20 { XCTAssertEqual(request(port, "GET", "/ping").status, 200) }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 1.0, "a stalled client must not hold others")
        let timedOut = readReply(staller)
        XCTAssertEqual(timedOut?.status, 408)
        close(staller)
        // Keep-alive and pipelining: two requests in one write, two answers in order.
        fd = connect(port)
        sendAll(fd, Array("GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /version HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        XCTAssertEqual(readReply(fd)?.body, #"{"status":"ok"}"#)
        XCTAssertTrue(readReply(fd)?.body.contains("\"mlrepo\"") ?? false)
        close(fd)
        // Still healthy after all that.
        XCTAssertEqual(request(port, "GET", "/health").status, 200)
    }

    func testCurlAndPythonClients() throws {
        guard hasTool("curl"), hasTool("python3") else { throw XCTSkip("curl and python3 are needed to talk to the server as real clients do") }
        try makeIrisRepo()
        let (_, port) = try serve([])
        let expected = ok("predict", "models/iris.mlmodel", "--data", "iris_test.csv").split(separator: "\n").dropFirst().map(String.init)
        if hasTool("curl") {
            let r = try runTool(["curl", "-sS", "-X", "POST", "http://127.0.0.1:\(port)/invocations", "-H", "Content-Type: text/csv",
                                 "--data-binary", "@" + url("iris_test.csv").path])
            XCTAssertEqual(r.code, 0, r.err)
            let o = (try? JSONSerialization.jsonObject(with: Data(r.out.utf8))) as? [String: Any]
            XCTAssertEqual(o?["predictions"] as? [String], expected)
            // curl sends Expect: 100-continue for large bodies; make one.
            let big = "sepal_length,sepal_width,petal_length,petal_width\n" + String(repeating: "5.1,3.5,1.4,0.2\n", count: 100_000)
            write("big.csv", big)
            let b = try runTool(["curl", "-sS", "-X", "POST", "http://127.0.0.1:\(port)/invocations", "-H", "Content-Type: text/csv",
                                 "--data-binary", "@" + url("big.csv").path])
            XCTAssertEqual(b.code, 0, b.err)
            XCTAssertEqual(((try? JSONSerialization.jsonObject(with: Data(b.out.utf8))) as? [String: Any])?["predictions"] as? [String] ?? [],
                           [String](repeating: "setosa", count: 100_000))
        }
        if hasTool("python3") {
            let script = """
            import http.client, json, sys
            c = http.client.HTTPConnection("127.0.0.1", \(port), timeout=10)
            rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
            for i in range(3):  # one keep-alive connection, several requests
                c.request("POST", "/invocations", body=json.dumps({"dataframe_split": {"columns": \(Self.irisFeatures), "data": rows}}),
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                assert r.status == 200, r.status
                out = json.loads(r.read())
            c.request("GET", "/health"); h = c.getresponse(); h.read()
            c.request("POST", "/invocations", body="{", headers={"Content-Type": "application/json"})
            e = c.getresponse(); err = json.loads(e.read())
            print(json.dumps({"predictions": out["predictions"], "health": h.status, "error": [e.status, err["error_code"]]}))
            """
            let r = try runTool(["python3", "-c", script])
            XCTAssertEqual(r.code, 0, r.err)
            let o = (try? JSONSerialization.jsonObject(with: Data(r.out.utf8))) as? [String: Any]
            XCTAssertEqual(o?["predictions"] as? [String], ["setosa", "virginica"])
            XCTAssertEqual(o?["health"] as? Int, 200)
            XCTAssertEqual((o?["error"] as? [Any])?.first as? Int, 400)
            XCTAssertEqual((o?["error"] as? [Any])?.last as? String, "BAD_REQUEST")
        }
    }

    func testMetricsMonitorVersionAndAccessLog() throws {
        try makeIrisRepo()
        let (s, port) = try serve(["--log", "access.log"])
        let v = request(port, "GET", "/version").json as? [String: Any]
        let model = v?["model"] as? [String: Any]
        XCTAssertEqual(model?["path"] as? String, "models/iris.mlmodel")
        XCTAssertEqual(model?["commit"] as? String, ok("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(model?["id"] as? String, ok("rev-parse", "HEAD:models/iris.mlmodel").trimmingCharacters(in: .whitespacesAndNewlines))
        // Score the test set (in distribution), then shifted rows (out of distribution).
        XCTAssertEqual(request(port, "POST", "/invocations", body: text("iris_test.csv"), contentType: "text/csv").status, 200)
        var monitor = request(port, "GET", "/monitor").json as? [String: Any]
        var feats = ((monitor?["models"] as? [[String: Any]])?.first?["features"] as? [[String: Any]]) ?? []
        XCTAssertEqual(feats.map { $0["name"] as? String }, Self.irisFeatures)
        XCTAssertEqual(feats.first?["status"] as? String, "too few rows")  // 38 rows
        let shifted = "sepal_length,sepal_width,petal_length,petal_width\n" + String(repeating: "9.5,3.0,1.5,0.2\n", count: 200)
        XCTAssertEqual(request(port, "POST", "/invocations", body: shifted, contentType: "text/csv").status, 200)
        XCTAssertEqual(request(port, "POST", "/invocations", body: "{bad", contentType: "application/json").status, 400)
        monitor = request(port, "GET", "/monitor").json as? [String: Any]
        feats = ((monitor?["models"] as? [[String: Any]])?.first?["features"] as? [[String: Any]]) ?? []
        let sl = feats.first { $0["name"] as? String == "sepal_length" }
        XCTAssertEqual(sl?["status"] as? String, "drift")
        XCTAssertGreaterThan(sl?["psi"] as? Double ?? 0, 0.25)
        XCTAssertGreaterThan(sl?["mean_shift_std"] as? Double ?? 0, 2)
        XCTAssertEqual(sl?["rows"] as? Int, 238)
        let metrics = request(port, "GET", "/metrics")
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") ?? false)
        for want in [#"mlrepo_requests_total{model="primary","#, #"status="200"} 2"#, #"status="400"} 1"#,
                     "mlrepo_rows_scored_total{", "} 238\n", "mlrepo_request_duration_seconds_bucket{", #"le="+Inf"} 3"#,
                     "mlrepo_model_info{", #"path="models/iris.mlmodel""#, #"mlrepo_feature_drift_psi{model="primary""#,
                     #"feature="sepal_length"}"#, "mlrepo_feature_drift_mean_shift{"] {
            XCTAssertTrue(metrics.body.contains(want), "metrics lack \(want):\n\(metrics.body)")
        }
        let table = ok("monitor", "--url", "http://127.0.0.1:\(port)")
        XCTAssertTrue(table.contains("sepal_length"), table)
        XCTAssertTrue(table.contains("drift"), table)
        let mj = ok("monitor", "--url", "127.0.0.1:\(port)/", "--json")
        XCTAssertNotNil(((try? JSONSerialization.jsonObject(with: Data(mj.utf8))) as? [String: Any])?["models"])
        XCTAssertNotEqual(run("monitor", "--url", "http://127.0.0.1:1").code, 0)
        // Graceful stop on SIGTERM: exit 0; the access log has one JSON line per request.
        kill(s.pid, SIGTERM)
        let r = collect(s)
        servers.removeAll { $0.pid == s.pid }
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("stopped (SIGTERM)"), r.err)
        let lines = (text("access.log") ?? "").split(separator: "\n")
        let entries = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        XCTAssertEqual(entries.count, lines.count)
        XCTAssertGreaterThanOrEqual(entries.count, 7)
        let scored = entries.first { $0["path"] as? String == "/invocations" && $0["rows"] as? Int == 200 }
        XCTAssertEqual(scored?["status"] as? Int, 200)
        XCTAssertEqual(scored?["method"] as? String, "POST")
        XCTAssertEqual(scored?["model"] as? String, model?["id"] as? String)
        XCTAssertNotNil(scored?["latency_us"] as? Int)
        XCTAssertNotNil(scored?["time"] as? String)
    }

    func testFollowSwapsWithoutFailedRequestsAndCanaryRoutes() throws {
        try makeIrisRepo()
        let first = ok("rev-parse", "HEAD:models/iris.mlmodel").trimmingCharacters(in: .whitespacesAndNewlines)
        ok("branch", "production")
        let (_, port) = try serve(["--follow", "production", "--poll-interval", "0.2"])
        XCTAssertEqual(request(port, "GET", "/version").headers["content-type"], "application/json")
        // Retrain with other params on main, then move production to it.
        write("mlrepo.json", """
        {"stages": {"train": {"train": {"model": "mlp_classifier", "data": "iris_train.csv", "label": "species", "params": {"hidden_layers": [8], "epochs": 50}},
                              "outs": ["models/iris.mlmodel"], "metrics": ["train.json"]}}}
        """)
        ok("train", "--commit", "-m", "mlp")
        let second = ok("rev-parse", "HEAD:models/iris.mlmodel").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotEqual(first, second)
        // Hammer the server from one keep-alive connection while the ref moves.
        let fd = connect(port)
        defer { close(fd) }
        let body = #"{"instances": [[5.1, 3.5, 1.4, 0.2]]}"#
        let req = "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        var ids = Set<String>()
        var moved = false
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            sendAll(fd, Array(req.utf8))
            guard let r = readReply(fd) else { XCTFail("connection dropped during the swap"); break }
            XCTAssertEqual(r.status, 200, r.body)
            ids.insert(r.headers["x-mlrepo-model"] ?? "")
            if !moved { ok("branch", "-f", "production", "HEAD"); moved = true }
            if ids.contains(second) { break }
        }
        XCTAssertEqual(ids, [first, second])
        XCTAssertEqual((request(port, "GET", "/version").json as? [String: Any]).flatMap { ($0["model"] as? [String: Any])?["id"] as? String }, second)
        XCTAssertTrue(request(port, "GET", "/metrics").body.contains("mlrepo_model_swaps_total 1"))

        // Canary: production (the MLP) as primary, the first commit's model for 50%.
        let (_, cport) = try serve(["production", "--canary", "HEAD~1", "--canary-percent", "50"])
        var roles: [String: Int] = [:], byRole: [String: Set<String>] = [:]
        for _ in 0..<40 {
            let r = request(cport, "POST", "/invocations", body: body)
            XCTAssertEqual(r.status, 200)
            roles[r.headers["x-mlrepo-role"] ?? "", default: 0] += 1
            byRole[r.headers["x-mlrepo-role"] ?? "", default: []].insert(r.headers["x-mlrepo-model"] ?? "")
        }
        XCTAssertEqual(roles["canary"], 20)
        XCTAssertEqual(roles["primary"], 20)
        XCTAssertEqual(byRole["canary"], [first])
        XCTAssertEqual(byRole["primary"], [second])
        let m = request(cport, "GET", "/metrics").body
        XCTAssertTrue(m.contains(#"mlrepo_requests_total{model="canary",model_id="\#(first.prefix(12))",status="200"} 20"#), m)
        let v = request(cport, "GET", "/version").json as? [String: Any]
        XCTAssertEqual((v?["canary"] as? [String: Any])?["id"] as? String, first)
        XCTAssertEqual(v?["canary_percent"] as? Int, 50)
    }

    func testTargetsAndStartupErrors() throws {
        try makeIrisRepo()
        // A model file on disk, REV:PATH, and --model all name the same model.
        for args in [["models/iris.mlmodel"], ["HEAD:models/iris.mlmodel"], ["HEAD", "--model", "models/iris.mlmodel"]] {
            let (s, port) = try serve(args)
            XCTAssertEqual(request(port, "GET", "/ping").status, 200)
            kill(s.pid, SIGINT)
            XCTAssertEqual(collect(s).code, 0)
            servers.removeAll { $0.pid == s.pid }
        }
        func expectError(_ args: [String], _ part: String, file: StaticString = #filePath, line: UInt = #line) {
            let r = runResult(["serve", "--port", "0"] + args)
            XCTAssertNotEqual(r.code, 0, file: file, line: line)
            XCTAssertTrue(r.err.contains(part), "'\(r.err)' lacks '\(part)'", file: file, line: line)
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err, file: file, line: line)
        }
        expectError(["nosuchrev"], "'nosuchrev' is not a model file or a revision")
        expectError(["HEAD:models/none.mlmodel"], "has no file 'models/none.mlmodel'")
        write("notamodel.mlmodel", "hello")
        expectError(["notamodel.mlmodel"], "not a valid mlrepo model")
        for (args, part) in [(["--canary-percent", "10"], "--canary-percent needs --canary"), (["--port", "99999"], "--port takes 0–65535")] {
            let r = runResult(["serve"] + args)
            XCTAssertEqual(r.code, 2, "usage error")
            XCTAssertTrue(r.err.hasPrefix("error: \(part)"), r.err)
        }
        // Two model files in a commit: the target must say which.
        ok("add", "notamodel.mlmodel")
        commit("second model file")
        expectError(["HEAD"], "has 2 model files")
        // The port is taken.
        let (_, port) = try serve(["HEAD~1"])
        let r = runResult(["serve", "HEAD~1", "--port", String(port)])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("cannot listen on 127.0.0.1:\(port)"), r.err)
    }

    // MARK: Metrics labels join; --follow logs only real swaps

    /// Every series names the model by the same `model_id` label value (the short id), so
    /// mlrepo_requests_total joins mlrepo_model_info; model_info also carries the full id.
    func testMetricsModelIdLabelsJoin() throws {
        try makeIrisRepo()
        let full = ok("rev-parse", "HEAD:models/iris.mlmodel").trimmingCharacters(in: .whitespacesAndNewlines)
        let (_, port) = try serve([])
        XCTAssertEqual(request(port, "POST", "/invocations", body: #"{"instances": [[5.1, 3.5, 1.4, 0.2]]}"#).status, 200)
        let m = request(port, "GET", "/metrics").body
        func labelValues(_ metric: String) -> Set<String> {
            var out = Set<String>()
            for line in m.split(separator: "\n") where line.hasPrefix(metric + "{") {
                guard let r = line.range(of: #"model_id="[^"]*""#, options: .regularExpression) else { continue }
                out.insert(String(line[r].dropFirst(10).dropLast()))
            }
            return out
        }
        let requests = labelValues("mlrepo_requests_total"), info = labelValues("mlrepo_model_info")
        XCTAssertEqual(requests, [String(full.prefix(12))], m)
        XCTAssertEqual(info, requests, m)
        XCTAssertEqual(labelValues("mlrepo_rows_scored_total"), requests, m)
        XCTAssertTrue(m.contains(#"model_full_id="\#(full)""#), m)
    }

    /// `serve --follow ALIAS` (a registry alias): the first poll finds the model being served
    /// and logs nothing; a real promotion swaps the model and logs one model_swapped event.
    func testFollowAliasFirstPollLogsNoSwap() throws {
        try makeIrisRepo()
        let first = ok("rev-parse", "HEAD:models/iris.mlmodel").trimmingCharacters(in: .whitespacesAndNewlines)
        ok("promote", "models/iris.mlmodel", "--to", "production")
        let (_, port) = try serve(["--follow", "production", "--poll-interval", "0.1", "--log", "events.log"])
        usleep(800_000)  // several polls
        func swaps() -> [[String: Any]] {
            (text("events.log") ?? "").split(separator: "\n")
                .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
                .filter { $0["event"] as? String == "model_swapped" }
        }
        XCTAssertEqual(swaps().count, 0, text("events.log") ?? "")
        XCTAssertTrue(request(port, "GET", "/metrics").body.contains("mlrepo_model_swaps_total 0"))
        // A real promotion: a new model, promoted to production.
        write("mlrepo.json", """
        {"stages": {"train": {"train": {"model": "mlp_classifier", "data": "iris_train.csv", "label": "species", "params": {"hidden_layers": [8], "epochs": 50}},
                              "outs": ["models/iris.mlmodel"], "metrics": ["train.json"]}}}
        """)
        ok("train", "--commit", "-m", "mlp")
        let second = ok("rev-parse", "HEAD:models/iris.mlmodel").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotEqual(first, second)
        ok("promote", "models/iris.mlmodel", "--to", "production")
        let deadline = Date().addingTimeInterval(15)
        var served = ""
        while Date() < deadline {
            served = (request(port, "GET", "/version").json as? [String: Any]).flatMap { ($0["model"] as? [String: Any])?["id"] as? String } ?? ""
            if served == second { break }
            usleep(50_000)
        }
        XCTAssertEqual(served, second)
        usleep(500_000)  // more polls after the swap: still one event
        let events = swaps()
        XCTAssertEqual(events.count, 1, text("events.log") ?? "")
        XCTAssertEqual(events.first?["model"] as? String, second)
        XCTAssertEqual(events.first?["previous_model"] as? String, first)
        XCTAssertTrue(request(port, "GET", "/metrics").body.contains("mlrepo_model_swaps_total 1"))
    }
}
