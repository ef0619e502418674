import Foundation
import XCTest
import TestHelpers
#if canImport(Glibc)
import Glibc
#endif

/// predict, eval, serve and model inspect of ONNX models end to end (issue 15): the fixtures
/// of Tests/Fixtures/onnx/make_serve_fixtures.py, compared with onnxruntime's outputs that
/// the script recorded in serve_expected.json. relu.onnx and echo_strings.onnx use only the
/// executor core's operators; the scikit-learn models need the operator tables, and a test
/// whose operators mlrepo does not have yet skips saying which.
final class CLIONNXTests: CLITestCase {
    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures/onnx")
    static let pickleLine = "error: model.pkl is a Python pickle; mlrepo runs .mlmodel and ONNX models: export it to ONNX with skl2onnx (scikit-learn) or onnxmltools (LightGBM, XGBoost): see docs/onnx.md\n"

    var servers: [Spawned] = []

    override func tearDownWithError() throws {
        for s in servers { kill(s.pid, SIGKILL); var st: Int32 = 0; waitpid(s.pid, &st, 0) }
        servers = []
        try super.tearDownWithError()
    }

    // MARK: Helpers

    lazy var expected: [String: Any] = {
        let d = (try? Data(contentsOf: Self.fixtures.appendingPathComponent("serve_expected.json"))) ?? Data()
        return ((try? JSONSerialization.jsonObject(with: d)) as? [String: Any]) ?? [:]
    }()

    func copyFixture(_ name: String, to rel: String? = nil, from dir: URL = fixtures) {
        let dst = url(rel ?? name)
        try? FileManager.default.createDirectory(at: dst.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: dst)
        XCTAssertNoThrow(try FileManager.default.copyItem(at: dir.appendingPathComponent(name), to: dst))
    }

    /// Copies the fixture in; skips unless mlrepo runs it (its operators are in the tables).
    func requireRunnable(_ name: String, from dir: URL = fixtures) throws {
        copyFixture(name, from: dir)
        let r = runResult(["model", "inspect", name, "--json"])
        let doc = (try? JSONSerialization.jsonObject(with: r.outData)) as? [String: Any] ?? [:]
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(doc["runnable"] as? Bool, true, "\(name) is not runnable: \(doc["not_runnable_because"] as? String ?? "?")")
    }

    func serve(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> (Spawned, Int) {
        let s = try start(["serve", "--port", "0", "--workers", "2"] + args)
        servers.append(s)
        do { return (s, try listening(s, timeout: 20, file: file, line: line)) } catch let e as ServerExited {
            servers.removeAll { $0.pid == e.pid }
            throw e
        }
    }

    func request(_ port: Int, _ method: String, _ path: String, body: String? = nil, contentType: String = "application/json") -> Reply {
        let fd = openSocket(port)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        if let body { head += "Content-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\n" }
        sendAll(fd, Array((head + "\r\n").utf8) + Array((body ?? "").utf8))
        return readReply(fd) ?? Reply(status: -1, headers: [:], body: "")
    }

    func predictions(_ r: Reply, file: StaticString = #filePath, line: UInt = #line) -> [Any] {
        XCTAssertEqual(r.status, 200, r.body, file: file, line: line)
        return ((r.json as? [String: Any])?["predictions"] as? [Any]) ?? []
    }

    func assertClose(_ a: [[Double]], _ b: [[Double]], tol: Double = 1e-5, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "rows", file: file, line: line)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.count, y.count, file: file, line: line)
            for (u, v) in zip(x, y) { XCTAssertEqual(u, v, accuracy: tol * max(1, abs(v)), file: file, line: line) }
        }
    }

    func csvRows(_ text: String) -> [[Double]] {
        text.split(separator: "\n").dropFirst().map { $0.split(separator: ",").map { Double($0)! } }
    }

    /// A repository whose stage `train` read data/train.csv (columns a,b,c,label) and wrote
    /// models/model.onnx (relu.onnx, which names no features), committed.
    func makeLineageRepo() {
        ok("init")
        copyFixture("relu.onnx", to: "src/relu.bin")
        var csv = "a,b,c,label\n"
        var rng = SplitMix(seed: 5)
        for i in 0..<300 {
            let a = Double(rng.next() % 2000) / 1000 - 1, b = Double(rng.next() % 1000) / 100, c = Double(rng.next() % 1000) / 1000
            csv += "\(a),\(b),\(c),\(i % 2)\n"
        }
        write("data/train.csv", csv)
        write("mlrepo.json", """
        {"stages": {"train": {"cmd": "mkdir -p models && cp src/relu.bin models/model.onnx", "deps": ["data/train.csv", "src/relu.bin"], "outs": ["models/model.onnx"]}}}
        """)
        ok("repro")
        commit("onnx model")
    }

    // MARK: Core operators: relu.onnx, echo_strings.onnx

    /// predict and serve of a model that names no features: columns by position, their count
    /// checked; outputs equal onnxruntime's.
    func testReluPredictAndServeMatchOnnxruntime() throws {
        copyFixture("relu.onnx")
        let rows = expected["relu_rows"] as! [[Double]], want = expected["relu_y"] as! [[Double]]
        write("x.csv", "a,b,c\n" + rows.map { $0.map { "\($0)" }.joined(separator: ",") }.joined(separator: "\n") + "\n")
        let out = ok("predict", "relu.onnx", "--data", "x.csv")
        XCTAssertTrue(out.hasPrefix("prediction_0,prediction_1,prediction_2\n"), out)
        assertClose(csvRows(out), want)
        // Four columns for a model of three: refused, naming the counts.
        write("y.csv", "a,b,c,d\n1,2,3,4\n")
        let bad = fails(1, "predict", "relu.onnx", "--data", "y.csv")
        XCTAssertTrue(bad.err.contains("has 4 feature column(s)") && bad.err.contains("takes 3"), bad.err)
        // --label drops the label column.
        write("z.csv", "a,y,b,c\n1,9,-2,3\n")
        assertClose(csvRows(ok("predict", "relu.onnx", "--data", "z.csv", "--label", "y")), [[1, 0, 3]])

        let (_, port) = try serve(["relu.onnx"])
        let json = "{\"instances\": [" + rows.map { "[" + $0.map { "\($0)" }.joined(separator: ",") + "]" }.joined(separator: ",") + "]}"
        assertClose(predictions(request(port, "POST", "/invocations", body: json)) as? [[Double]] ?? [], want)
        assertClose(predictions(request(port, "POST", "/invocations", body: text("x.csv")!, contentType: "text/csv")) as? [[Double]] ?? [], want)
        let split = "{\"dataframe_split\": {\"columns\": [\"p\",\"q\",\"r\"], \"data\": [[1,-2,3]]}}"
        assertClose(predictions(request(port, "POST", "/invocations", body: split)) as? [[Double]] ?? [], [[1, 0, 3]])
        let wrong = request(port, "POST", "/invocations", body: #"{"instances": [[1, 2]]}"#)
        XCTAssertEqual(wrong.status, 400, wrong.body)
        let records = request(port, "POST", "/invocations", body: #"{"dataframe_records": [{"a": 1, "b": 2, "c": 3}]}"#)
        XCTAssertEqual(records.status, 400)
        XCTAssertTrue(records.body.contains("by position"), records.body)
        // Outside a repository there is no lineage: drift is off, and /health says why.
        let health = request(port, "GET", "/health")
        XCTAssertEqual(health.body, #"{"status":"ok","drift":"off: relu.onnx is not in an mlrepo repository, so no lineage names its training data"}"#)
    }

    /// A model with one string and one float input, served with JSON (records, split, an
    /// object of columns) and CSV bodies: each input from the column of its name.
    func testStringInputsServedWithJSONAndCSV() throws {
        copyFixture("echo_strings.onnx")
        let labels = expected["echo_labels"] as! [String]
        XCTAssertEqual(labels, ["red", "blue"])
        let (_, port) = try serve(["echo_strings.onnx"])
        let bodies: [(String, String)] = [
            (#"{"dataframe_records": [{"color": "red", "x1": 1.5}, {"x1": -2, "color": "blue"}]}"#, "application/json"),
            (#"{"dataframe_split": {"columns": ["x1", "color"], "data": [[1.5, "red"], [-2, "blue"]]}}"#, "application/json"),
            (#"{"inputs": {"color": ["red", "blue"], "x1": [1.5, -2]}}"#, "application/json"),
            (#"{"inputs": {"color": [["red"], ["blue"]], "x1": [[1.5], [-2]]}}"#, "application/json"),
            ("color,x1\nred,1.5\n\"blue\",-2\n", "text/csv"),
        ]
        for (body, type) in bodies {
            XCTAssertEqual(predictions(request(port, "POST", "/invocations", body: body, contentType: type)) as? [String], labels, body)
        }
        // Its float output is no classifier's probabilities (not named so, no declared classes).
        let p = request(port, "POST", "/invocations?probabilities=1", body: bodies[0].0).json as? [String: Any]
        XCTAssertEqual(p?["predictions"] as? [String], labels)
        XCTAssertNil(p?["probabilities"])
        let missing = request(port, "POST", "/invocations", body: #"{"dataframe_records": [{"color": "red"}]}"#)
        XCTAssertEqual(missing.status, 400)
        XCTAssertTrue(missing.body.contains("missing column: x1"), missing.body)
        let notNumber = request(port, "POST", "/invocations", body: "color,x1\nred,abc\n", contentType: "text/csv")
        XCTAssertEqual(notNumber.status, 400)
        XCTAssertTrue(notNumber.body.contains("column 'x1'"), notNumber.body)
        // predict reads the same columns from a file.
        write("e.csv", "x1,color\n1.5,red\n-2,blue\n")
        XCTAssertEqual(ok("predict", "echo_strings.onnx", "--data", "e.csv"), "prediction\nred\nblue\n")
    }

    // MARK: Lineage: REV:PATH, feature names and drift

    /// The training data the producing stage read names the features (relu.onnx names none)
    /// and gives drift statistics; a model without lineage has drift off, and /health says why.
    func testDriftOnThroughLineageAndOffWithout() throws {
        makeLineageRepo()
        let (_, port) = try serve(["HEAD:models/model.onnx"])
        XCTAssertEqual(request(port, "GET", "/health").body, #"{"status":"ok","drift":"on"}"#)
        // Named columns now (the training header), the label ignored.
        let r = request(port, "POST", "/invocations", body: #"{"dataframe_records": [{"c": -1, "a": 1, "b": 2, "label": 1}]}"#)
        assertClose(predictions(r) as? [[Double]] ?? [], [[1, 2, 0]])
        let monitor = request(port, "GET", "/monitor").json as? [String: Any]
        let feats = ((monitor?["models"] as? [[String: Any]])?.first?["features"] as? [[String: Any]]) ?? []
        XCTAssertEqual(feats.map { $0["name"] as? String }, ["a", "b", "c"])
        XCTAssertNotNil(feats.first?["train_mean"] as? Double)
        let cached = try FileManager.default.contentsOfDirectory(atPath: url(".mlrepo/cache/training-stats").path)
        XCTAssertEqual(cached.count, 1, "statistics cached once")
        // The cache entry as .mlrepo-format.md §10.5 describes it.
        let modelId = ok("rev-parse", "HEAD:models/model.onnx").trimmingCharacters(in: .whitespacesAndNewlines)
        let dataId = ok("rev-parse", "HEAD:data/train.csv").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(cached.first, "\(modelId)-\(dataId).json")
        let entry = json(text(".mlrepo/cache/training-stats/\(modelId)-\(dataId).json") ?? "") as? [String: Any]
        XCTAssertEqual(entry?["version"] as? Int, 2)
        XCTAssertEqual(entry?["model"] as? String, modelId)
        XCTAssertEqual(entry?["data"] as? String, dataId)
        XCTAssertEqual(entry?["data_path"] as? String, "data/train.csv")
        XCTAssertEqual(entry?["columns"] as? [String], ["a", "b", "c", "label"])
        XCTAssertEqual(entry?["label"] as? String, "label")
        let stats = entry?["column_stats"] as? [[String: Any]] ?? []
        XCTAssertEqual(stats.map { $0["name"] as? String }, ["a", "b", "c"])
        XCTAssertEqual((stats.first?["deciles"] as? [Double])?.count, 9)
        // REV:PATH for predict and eval's --model, named columns from lineage.
        write("q.csv", "c,a,b\n-1,1,2\n")
        assertClose(csvRows(ok("predict", "HEAD:models/model.onnx", "--data", "q.csv")), [[1, 2, 0]])
        // A copy that no run wrote: drift off, saying why.
        copyFixture("relu.onnx", to: "other.onnx")
        let (_, port2) = try serve(["other.onnx"])
        XCTAssertEqual(request(port2, "GET", "/health").body, #"{"status":"ok","drift":"off: other.onnx has no lineage record naming its training data"}"#)
    }

    /// Training data whose header does not fit the model (an extra id column): features are
    /// taken by position, so drift is off and /health says why (not "on" with no statistics
    /// that match).
    func testDriftOffWhenTheTrainingHeaderDoesNotNameTheInputs() throws {
        ok("init")
        copyFixture("relu.onnx", to: "src/relu.bin")
        write("data/train.csv", "id,a,b,c,label\n1,0.5,2,0.1,0\n2,-0.5,3,0.2,1\n3,0.1,4,0.3,0\n")
        write("mlrepo.json", """
        {"stages": {"train": {"cmd": "mkdir -p models && cp src/relu.bin models/model.onnx", "deps": ["data/train.csv", "src/relu.bin"], "outs": ["models/model.onnx"]}}}
        """)
        ok("repro")
        commit("onnx model, training data with an id column")
        let (_, port) = try serve(["HEAD:models/model.onnx"])
        let health = request(port, "GET", "/health").body
        XCTAssertTrue(health.contains(#""drift":"off: models/model.onnx takes its 3 features by position"#), health)
        assertClose(predictions(request(port, "POST", "/invocations", body: #"{"instances": [[1, -1, 2]]}"#)) as? [[Double]] ?? [], [[1, 0, 2]])
    }

    /// A model with one input per column: drift watches its numeric inputs, with statistics
    /// from the training data its lineage names; string columns are not watched.
    func testDriftOfColumnInputsThroughLineage() throws {
        try requireRunnable("ct_strings.onnx")
        ok("init")
        copyFixture("ct_strings.onnx", to: "src/ct.bin")
        copyFixture("ct_train.csv", to: "data/train.csv")
        write("mlrepo.json", """
        {"stages": {"train": {"cmd": "mkdir -p models && cp src/ct.bin models/ct.onnx", "deps": ["data/train.csv", "src/ct.bin"], "outs": ["models/ct.onnx"]}}}
        """)
        ok("repro")
        commit("ct model")
        let (_, port) = try serve(["HEAD:models/ct.onnx"])
        XCTAssertEqual(request(port, "GET", "/health").body, #"{"status":"ok","drift":"on"}"#)
        let csv = (text("data/train.csv") ?? "").split(separator: "\n").prefix(121).joined(separator: "\n") + "\n"
        XCTAssertEqual(predictions(request(port, "POST", "/invocations", body: csv, contentType: "text/csv")).count, 120)
        let monitor = request(port, "GET", "/monitor").json as? [String: Any]
        let model = (monitor?["models"] as? [[String: Any]])?.first
        XCTAssertEqual(model?["rows"] as? Int, 120)
        let feats = (model?["features"] as? [[String: Any]]) ?? []
        XCTAssertEqual(feats.map { $0["name"] as? String }, ["x1", "x2"])
        // The very training rows: no drift.
        XCTAssertEqual(feats.map { $0["status"] as? String }, ["ok", "ok"], "\(feats)")
    }

    /// --follow a branch serving an ONNX model: a new commit's model is swapped in.
    func testFollowBranchSwapsONNXModel() throws {
        makeLineageRepo()
        let (_, port) = try serve(["--follow", "main", "--model", "models/model.onnx", "--poll-interval", "0.1"])
        let first = ((request(port, "GET", "/version").json as? [String: Any])?["model"] as? [String: Any])?["id"] as? String
        copyFixture("echo_strings.onnx", to: "src/relu.bin")
        ok("repro")
        commit("another model")
        let deadline = Date().addingTimeInterval(15)
        var now = first
        while Date() < deadline, now == first {
            usleep(50_000)
            now = ((request(port, "GET", "/version").json as? [String: Any])?["model"] as? [String: Any])?["id"] as? String
        }
        XCTAssertNotEqual(now, first)
        XCTAssertEqual(predictions(request(port, "POST", "/invocations", body: #"{"inputs": {"color": ["x"], "x1": [1]}}"#)) as? [String], ["x"])
    }

    /// A canary ONNX model beside a primary one: the share of requests goes to it, tagged.
    func testCanaryONNX() throws {
        try requireRunnable("linreg.onnx")
        copyFixture("relu.onnx")
        let (_, port) = try serve(["relu.onnx", "--canary", "linreg.onnx", "--canary-percent", "100"])
        let r = request(port, "POST", "/invocations", body: #"{"instances": [[1, 2, 3]]}"#)
        XCTAssertEqual(r.headers["x-mlrepo-role"] ?? r.headers["X-Mlrepo-Role"], "canary")
        let want = ((expected["linreg_y"] as! [[Double]])[0])[0]
        XCTAssertEqual((predictions(r) as? [Double])?.first ?? .nan, want, accuracy: 1e-5)
        let v = request(port, "GET", "/version").json as? [String: Any]
        XCTAssertEqual((v?["canary"] as? [String: Any])?["path"] as? String, "linreg.onnx")
    }

    /// A registry alias pointing at an .onnx file is served.
    func testRegistryAliasToONNXServed() throws {
        makeLineageRepo()
        ok("promote", "models/model.onnx", "--to", "production")
        let (_, port) = try serve(["production"])
        let v = (request(port, "GET", "/version").json as? [String: Any])?["model"] as? [String: Any]
        XCTAssertEqual(v?["path"] as? String, "models/model.onnx")
        XCTAssertEqual(v?["format"] as? String, "onnx")
        assertClose(predictions(request(port, "POST", "/invocations", body: #"{"instances": [[1, -1, 2]]}"#)) as? [[Double]] ?? [], [[1, 0, 2]])
    }

    /// Promoting an ONNX model computes its training statistics from the CSV its run read
    /// and stores them with the promotion: a replica (`serve --remote` on a folder remote)
    /// serves the alias with drift on without ever fetching the training data. A model whose
    /// run read no CSV is promoted with the reason, which /health repeats.
    func testPromotedTrainingStatisticsServeAReplicaWithoutTheTrainingData() throws {
        makeLineageRepo()
        ok("promote", "models/model.onnx", "--to", "production")
        let log = json(ok("registry", "log", "production", "--json")) as? [[String: Any]] ?? []
        let statsId = try XCTUnwrap(log.first?["training_stats"] as? String, "\(log)")
        XCTAssertNil(log.first?["training_stats_off"])
        XCTAssertTrue(ok("registry", "log", "production").contains("training statistics: \(statsId.prefix(12))"))
        let dataId = ok("rev-parse", "HEAD:data/train.csv").trimmingCharacters(in: .whitespacesAndNewlines)
        // gc keeps the statistics (the promotion commit's training-stats header names them).
        ok("gc")
        let stored = json(ok("cat-object", statsId)) as? [String: Any]
        XCTAssertEqual(stored?["data_id"] as? String, dataId)
        XCTAssertEqual(stored?["columns"] as? [String], ["a", "b", "c", "label"])
        XCTAssertEqual((stored?["column_stats"] as? [[String: Any]])?.map { $0["name"] as? String }, ["a", "b", "c"])
        ok("fsck")
        let remote = base.appendingPathComponent("remote")
        ok("remote", "add", "origin", remote.path)
        ok("push", "origin", "main", "production")
        let cache = base.appendingPathComponent("replica-cache")
        let s = try start(["serve", "--port", "0", "--workers", "2", "--remote", remote.path, "--alias", "production", "--cache", cache.path], in: base)
        servers.append(s)
        var port = 0
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && port == 0 {
            let err = (try? String(contentsOf: s.errURL, encoding: .utf8)) ?? ""
            if let r = err.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) { port = Int(err[r].split(separator: ":").last!)! }
            var st: Int32 = 0
            if waitpid(s.pid, &st, WNOHANG) == s.pid { servers.removeAll { $0.pid == s.pid }; XCTFail("serve exited: \(err)"); return }
            usleep(20_000)
        }
        XCTAssertEqual(request(port, "GET", "/health").body, #"{"status":"ok","drift":"on"}"#)
        let r = request(port, "POST", "/invocations", body: #"{"dataframe_records": [{"c": -1, "a": 1, "b": 2}]}"#)
        assertClose(predictions(r) as? [[Double]] ?? [], [[1, 2, 0]])
        let monitor = request(port, "GET", "/monitor").json as? [String: Any]
        let feats = ((monitor?["models"] as? [[String: Any]])?.first?["features"] as? [[String: Any]]) ?? []
        XCTAssertEqual(feats.map { $0["name"] as? String }, ["a", "b", "c"])
        XCTAssertNotNil(feats.first?["train_mean"] as? Double)
        // The cache holds the statistics blob and not the training CSV, and computed nothing.
        let packs = cache.appendingPathComponent(".mlrepo/objects/pack")
        var ids = Set<String>()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: packs.path)) ?? [] where name.hasSuffix(".idx") {
            let d = try Data(contentsOf: packs.appendingPathComponent(name))
            guard d.count >= 1072 else { continue }
            let count = Int(d[8]) << 24 | Int(d[9]) << 16 | Int(d[10]) << 8 | Int(d[11])
            let le = Int(d[8]) | Int(d[9]) << 8 | Int(d[10]) << 16 | Int(d[11]) << 24
            let n = d.count == 1072 + 48 * count ? count : le
            for i in 0..<n { ids.insert(d[(1040 + 32 * i)..<(1040 + 32 * i + 32)].map { String(format: "%02x", $0) }.joined()) }
        }
        XCTAssertFalse(ids.isEmpty, "the cache has packs")
        XCTAssertTrue(ids.contains(statsId), "the replica did not fetch the promotion's statistics")
        XCTAssertFalse(ids.contains(dataId), "the replica fetched the training CSV (\(dataId.prefix(12)))")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache.appendingPathComponent(".mlrepo/cache/training-stats").path),
                       "the replica computed statistics from the training data")

        // A run that read no CSV: promoted, drift off with the reason recorded.
        write("mlrepo.json", """
        {"stages": {"train": {"cmd": "mkdir -p models && cp src/relu.bin models/model.onnx", "deps": ["src/relu.bin"], "outs": ["models/model.onnx"]}}}
        """)
        ok("repro", "--force")
        commit("no data")
        ok("promote", "models/model.onnx", "--to", "staging")
        let log2 = json(ok("registry", "log", "staging", "--json")) as? [[String: Any]] ?? []
        XCTAssertEqual(log2.first?["training_stats_off"] as? String, "stage 'train', which wrote models/model.onnx, read no CSV file")
        let (_, port2) = try serve(["staging"])
        XCTAssertEqual(request(port2, "GET", "/health").body, #"{"status":"ok","drift":"off: stage 'train', which wrote models/model.onnx, read no CSV file"}"#)
    }

    /// REV:PATH for predict and eval works for mlrepo's own models too, and gives the same
    /// output as the file.
    func testRevPathForBuiltinModels() throws {
        ok("init")
        let data = Self.packageRoot.appendingPathComponent("Tests/Fixtures/datasets")
        for part in ["train", "test"] {
            try FileManager.default.copyItem(at: data.appendingPathComponent("iris_\(part).csv"), to: url("iris_\(part).csv"))
        }
        write("mlrepo.json", """
        {"stages": {"train": {"train": {"model": "logistic_regression", "data": "iris_train.csv", "label": "species"},
                              "outs": ["models/iris.mlmodel"], "metrics": ["train.json"]}}}
        """)
        ok("train", "--commit", "-m", "iris")
        let file = ok("predict", "models/iris.mlmodel", "--data", "iris_test.csv", "--probabilities")
        XCTAssertEqual(ok("predict", "HEAD:models/iris.mlmodel", "--data", "iris_test.csv", "--probabilities"), file)
        XCTAssertEqual(ok("eval", "--model", "HEAD:models/iris.mlmodel", "--data", "iris_test.csv", "--json"),
                       ok("eval", "--model", "models/iris.mlmodel", "--data", "iris_test.csv", "--json"))
        let missing = fails(1, "predict", "HEAD:models/none.mlmodel", "--data", "iris_test.csv")
        XCTAssertTrue(missing.err.contains("has no file 'models/none.mlmodel'"), missing.err)
    }

    // MARK: Refusals

    /// A pickle: predict, eval and serve refuse it with one line naming the format and the export.
    func testPickleRefusedWithOneLine() throws {
        write("model.pkl", Data([0x80, 0x04, 0x95, 0x10, 0, 0, 0, 0, 0, 0, 0]))
        write("x.csv", "a\n1\n")
        XCTAssertEqual(fails(1, "predict", "model.pkl", "--data", "x.csv").err, Self.pickleLine)
        XCTAssertEqual(fails(1, "eval", "--model", "model.pkl", "--data", "x.csv").err, Self.pickleLine)
        XCTAssertEqual(fails(1, "serve", "model.pkl", "--port", "0").err, Self.pickleLine)
        // The only model of a commit: refused the same way, named REV:PATH.
        ok("init")
        ok("add", "model.pkl")
        commit("pickle")
        XCTAssertEqual(fails(1, "serve", "HEAD", "--port", "0").err,
                       Self.pickleLine.replacingOccurrences(of: "error: model.pkl", with: "error: HEAD:model.pkl"))
    }

    /// An operator mlrepo does not have is refused at load, naming node and operator; inspect
    /// marks it and says the model cannot run.
    func testUnsupportedOperatorRefusedAtLoad() throws {
        copyFixture("unsupported_op.onnx")
        write("x.csv", "a,b\n1,2\n")
        let line = "error: 'unsupported_op.onnx': invalid ONNX model: node 'weird' (Frobnicate): operator com.example.Frobnicate is not supported by mlrepo\n"
        XCTAssertEqual(fails(1, "predict", "unsupported_op.onnx", "--data", "x.csv").err, line)
        XCTAssertEqual(fails(1, "serve", "unsupported_op.onnx", "--port", "0").err, line)
        let text = ok("model", "inspect", "unsupported_op.onnx")
        XCTAssertTrue(text.contains("com.example.Frobnicate  ×1  NOT SUPPORTED"), text)
        XCTAssertTrue(text.contains("Relu  ×1  supported"), text)
        XCTAssertTrue(text.contains("runnable: no: 'unsupported_op.onnx': invalid ONNX model: node 'weird' (Frobnicate)"), text)
        let doc = json(ok("model", "inspect", "unsupported_op.onnx", "--json")) as? [String: Any]
        XCTAssertEqual(doc?["runnable"] as? Bool, false)
        XCTAssertEqual((doc?["operators"] as? [[String: Any]])?.map { $0["supported"] as? Bool }, [true, false])
    }

    /// Hostile bytes named .onnx: one line, exit 1, nothing served.
    func testHostileONNXOneLineError() throws {
        var rng = SplitMix(seed: 99)
        for k in 0..<4 {
            write("h.onnx", rng.data(64 + k * 100))
            write("x.csv", "a\n1\n")
            for args in [["predict", "h.onnx", "--data", "x.csv"], ["serve", "h.onnx", "--port", "0"], ["model", "inspect", "h.onnx"]] {
                let r = runResult(args)
                XCTAssertEqual(r.code, 1, "\(args): \(r.err)")
                XCTAssertTrue(r.err.hasPrefix("error: 'h.onnx': invalid ONNX model: "), r.err)
                XCTAssertEqual(r.err.filter { $0 == "\n" }.count, 1, r.err)
            }
        }
    }

    // MARK: scikit-learn models (need the operator tables)

    /// logreg.onnx (features a,b,c,d in its metadata): predict and serve equal onnxruntime.
    func testLogregPredictAndServe() throws {
        try requireRunnable("logreg.onnx")
        let rows = expected["logreg_rows"] as! [[Double]], want = expected["logreg_y"] as! [[Double]]
        write("x.csv", "d,c,b,a\n" + rows.map { r in [r[3], r[2], r[1], r[0]].map { "\($0)" }.joined(separator: ",") }.joined(separator: "\n") + "\n")
        assertClose(csvRows(ok("predict", "logreg.onnx", "--data", "x.csv")), want)
        let (_, port) = try serve(["logreg.onnx"])
        let records = "{\"dataframe_records\": [" + rows.map { r in "{\"a\": \(r[0]), \"b\": \(r[1]), \"c\": \(r[2]), \"d\": \(r[3])}" }.joined(separator: ",") + "]}"
        assertClose(predictions(request(port, "POST", "/invocations", body: records)) as? [[Double]] ?? [], want)
        assertClose(predictions(request(port, "POST", "/invocations", body: text("x.csv")!, contentType: "text/csv")) as? [[Double]] ?? [], want)
    }

    /// linreg.onnx (regression, features by position): eval computes rmse, mae, r2.
    func testLinregEval() throws {
        try requireRunnable("linreg.onnx")
        let rows = expected["linreg_rows"] as! [[Double]], want = (expected["linreg_y"] as! [[Double]]).map { $0[0] }
        let truth = want.enumerated().map { $0.element + ($0.offset == 0 ? 1 : 0) }   // one row off by 1
        write("t.csv", "x,y,z,target\n" + zip(rows, truth).map { r, t in (r.map { "\($0)" } + ["\(t)"]).joined(separator: ",") }.joined(separator: "\n") + "\n")
        let m = json(ok("eval", "--model", "linreg.onnx", "--data", "t.csv", "--label", "target", "--json")) as? [String: Any]
        XCTAssertEqual(m?["mae"] as? Double ?? -1, 1.0 / 3, accuracy: 1e-5)
        XCTAssertEqual(m?["rmse"] as? Double ?? -1, (1.0 / 3).squareRoot(), accuracy: 1e-5)
        let noLabel = fails(1, "eval", "--model", "linreg.onnx", "--data", "t.csv")
        XCTAssertTrue(noLabel.err.contains("--label"), noLabel.err)
    }

    /// A built-in eval stage runs an ONNX model; promotion gates read its metrics (the eval
    /// stage read this model version) and name the file in a refusal.
    func testBuiltinEvalStageOfONNXModelGatesPromotion() throws {
        try requireRunnable("linreg.onnx")
        ok("init")
        let rows = expected["linreg_rows"] as! [[Double]], want = (expected["linreg_y"] as! [[Double]]).map { $0[0] }
        let truth = want.enumerated().map { $0.element + ($0.offset == 0 ? 1 : 0) }
        write("t.csv", "x,y,z,target\n" + zip(rows, truth).map { r, t in (r.map { "\($0)" } + ["\(t)"]).joined(separator: ",") }.joined(separator: "\n") + "\n")
        copyFixture("linreg.onnx", to: "src/linreg.bin")
        write("mlrepo.json", """
        {"stages": {"export": {"cmd": "mkdir -p models && cp src/linreg.bin models/m.onnx", "deps": ["src/linreg.bin"], "outs": ["models/m.onnx"]},
                    "evaluate": {"eval": {"model": "models/m.onnx", "data": "t.csv", "label": "target"}, "metrics": ["eval.json"]}}}
        """)
        ok("repro")
        commit("onnx model and its evaluation")
        let m = json(String(decoding: read("eval.json") ?? Data(), as: UTF8.self)) as? [String: Any]
        XCTAssertEqual(m?["mae"] as? Double ?? -1, 1.0 / 3, accuracy: 1e-5)
        ok("promote", "models/m.onnx", "--to", "production", "--require", "eval.json:mae<=0.5")
        let refused = fails(1, "promote", "models/m.onnx", "--to", "staging", "--require", "mae<0.1")
        XCTAssertTrue(refused.err.contains("eval.json"), refused.err)
    }

    /// A scikit-learn ColumnTransformer with string categories (one input per column):
    /// served with JSON and CSV, labels and ZipMap probabilities equal onnxruntime's; eval
    /// gives the classifier metrics.
    func testColumnTransformerStringsServeAndEval() throws {
        try requireRunnable("ct_strings.onnx")
        copyFixture("ct_train.csv")
        let rows = expected["ct_rows"] as! [[String: Any]]
        let labels = expected["ct_labels"] as! [String], classes = expected["ct_classes"] as! [String]
        let (_, port) = try serve(["ct_strings.onnx"])
        let records = "{\"dataframe_records\": [" + rows.map { r in
            "{\"color\": \"\(r["color"]!)\", \"size\": \"\(r["size"]!)\", \"x1\": \(r["x1"]!), \"x2\": \(r["x2"]!)}"
        }.joined(separator: ",") + "]}"
        let p = request(port, "POST", "/invocations?probabilities=1", body: records).json as? [String: Any]
        XCTAssertEqual(p?["predictions"] as? [String], labels)
        XCTAssertEqual(p?["classes"] as? [String], classes)
        assertClose(p?["probabilities"] as? [[Double]] ?? [], expected["ct_probabilities"] as! [[Double]])
        let csv = "x2,size,color,x1\n" + rows.map { r in "\(r["x2"]!),\(r["size"]!),\(r["color"]!),\(r["x1"]!)" }.joined(separator: "\n") + "\n"
        XCTAssertEqual(predictions(request(port, "POST", "/invocations", body: csv, contentType: "text/csv")) as? [String], labels)
        let m = json(ok("eval", "--model", "ct_strings.onnx", "--data", "ct_train.csv", "--label", "label", "--json")) as? [String: Any]
        XCTAssertEqual(m?["classes"] as? [String], classes)
        XCTAssertGreaterThan(m?["accuracy"] as? Double ?? 0, 0.6)
        XCTAssertNotNil(m?["log_loss"] as? Double)
    }

    /// Missing values reach the graph as NaN (a SimpleImputer fills them): empty CSV cells
    /// in predict and serve, JSON null in serve. The reference imputer model, 200 rows.
    func testMissingValuesReachTheImputer() throws {
        let ref = Self.fixtures.appendingPathComponent("reference")
        guard FileManager.default.fileExists(atPath: ref.appendingPathComponent("imputer.onnx").path) else {
            throw XCTSkip("the reference fixtures (Tests/Fixtures/onnx/reference) are not here")
        }
        try requireRunnable("imputer.onnx", from: ref)
        func floats(_ name: String) throws -> [Float] {
            let d = try Data(contentsOf: ref.appendingPathComponent(name))
            return d.withUnsafeBytes { b in (0..<(d.count / 4)).map { b.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
        }
        let x = try floats("imputer.in0.bin"), y = try floats("imputer.out0.bin")
        let n = 200, k = x.count / 1000, ky = y.count / 1000
        XCTAssertTrue(x.prefix(n * k).contains { $0.isNaN }, "the fixture has missing values")
        func cell(_ v: Float) -> String { v.isNaN ? "" : "\(v)" }
        var csv = (0..<k).map { "f\($0)" }.joined(separator: ",") + "\n"
        var json = "{\"instances\": ["
        var want: [[Double]] = []
        for i in 0..<n {
            let row = Array(x[(i * k)..<(i * k + k)])
            csv += row.map(cell).joined(separator: ",") + "\n"
            json += (i > 0 ? "," : "") + "[" + row.map { $0.isNaN ? "null" : "\($0)" }.joined(separator: ",") + "]"
            want.append(y[(i * ky)..<(i * ky + ky)].map { Double($0) })
        }
        json += "]}"
        write("m.csv", csv)
        assertClose(csvRows(ok("predict", "imputer.onnx", "--data", "m.csv")), want)
        let (_, port) = try serve(["imputer.onnx"])
        assertClose(predictions(request(port, "POST", "/invocations", body: text("m.csv")!, contentType: "text/csv")) as? [[Double]] ?? [], want)
        assertClose(predictions(request(port, "POST", "/invocations", body: json)) as? [[Double]] ?? [], want)
    }

    /// A random forest exported without ZipMap (int64 labels, a probability tensor): the
    /// reference model of Tests/Fixtures/onnx/reference (make_reference.py), 1,000 rows.
    /// predict equals onnxruntime's labels and probabilities; eval scores it; serve answers
    /// numbers for int64 classes.
    func testForestLabelsAndProbabilityTensor() throws {
        let ref = Self.fixtures.appendingPathComponent("reference")
        guard FileManager.default.fileExists(atPath: ref.appendingPathComponent("forest.onnx").path) else {
            throw XCTSkip("the reference fixtures (Tests/Fixtures/onnx/reference) are not here")
        }
        try requireRunnable("forest.onnx", from: ref)
        func load<T>(_ name: String, _: T.Type) throws -> [T] {
            let d = try Data(contentsOf: ref.appendingPathComponent(name))
            return d.withUnsafeBytes { b in (0..<(d.count / MemoryLayout<T>.size)).map { b.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) } }
        }
        let x = try load("forest.in0.bin", Float.self), labels = try load("forest.out0.bin", Int64.self), probs = try load("forest.out1.bin", Float.self)
        let n = labels.count, k = x.count / n
        var csv = (0..<k).map { "f\($0)" }.joined(separator: ",") + ",y\n"
        for i in 0..<n { csv += (0..<k).map { "\(x[i * k + $0])" }.joined(separator: ",") + ",\(labels[i])\n" }
        write("f.csv", csv)
        let out = ok("predict", "forest.onnx", "--data", "f.csv", "--label", "y", "--probabilities").split(separator: "\n")
        XCTAssertEqual(out.first, "prediction,p_0,p_1,p_2")
        let rows = out.dropFirst().map { $0.split(separator: ",").map { Double($0)! } }
        XCTAssertEqual(rows.map { Int64($0[0]) }, labels)
        assertClose(rows.map { Array($0.dropFirst()) }, (0..<n).map { i in (0..<3).map { Double(probs[i * 3 + $0]) } })
        let m = json(ok("eval", "--model", "forest.onnx", "--data", "f.csv", "--label", "y", "--json")) as? [String: Any]
        XCTAssertEqual(m?["accuracy"] as? Double, 1)
        XCTAssertEqual(m?["n"] as? Int, n)
        let (_, port) = try serve(["forest.onnx"])
        let body = "{\"instances\": [[" + (0..<k).map { "\(x[$0])" }.joined(separator: ",") + "]]}"
        let r = request(port, "POST", "/invocations?probabilities=true", body: body).json as? [String: Any]
        XCTAssertEqual(r?["predictions"] as? [Int], [Int(labels[0])])
        XCTAssertEqual(r?["classes"] as? [Int], [0, 1, 2])
    }
}
