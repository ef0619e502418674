import Foundation
import XCTest

/// The model registry: promote with checks, aliases with history, push/pull of aliases.
final class CLIRegistryTests: CLITestCase {

    func makeRepo() throws {
        try initIrisProject()
        ok("repro")
        ok("add", ".")
        commit("v1")
    }

    /// Issue 15: a gate reads only the model's own evaluation (the run that produced it, or a
    /// run that read this version), found through lineage; before, any metrics file of the
    /// commit passed a gate (`other.json:roc_auc>=0.9` for an unrelated model).
    func testGateRefusesAMetricsFileOutsideTheModelsLineage() throws {
        try makeRepo()
        write("mlrepo.json", """
        {"stages": {"train": {"train": {"model": "logistic_regression", "data": "iris_train.csv", "label": "species"}, "outs": ["models/iris.mlmodel"], "metrics": ["train.json"]},
                    "eval": {"eval": {"model": "models/iris.mlmodel", "data": "iris_test.csv"}, "metrics": ["eval.json"]},
                    "other": {"cmd": "echo '{\\"roc_auc\\": 0.99}' > other.json", "deps": ["iris_test.csv"], "metrics": ["other.json"]}}}
        """)
        ok("repro"); ok("add", "."); commit("with an unrelated metrics file")
        XCTAssertEqual(text("other.json")?.contains("0.99"), true)
        var r = runResult(["promote", "models/iris.mlmodel", "--to", "production", "--require", "other.json:roc_auc>=0.9"])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains("refused: 'other.json' is not an evaluation of models/iris.mlmodel"), r.err)
        r = runResult(["promote", "models/iris.mlmodel", "--to", "production", "--require", "roc_auc>=0.9"])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains("required metric 'roc_auc' is missing"), r.err)
        XCTAssertFalse(r.err.contains("other.json"), "only the model's own metrics are offered: \(r.err)")
        XCTAssertNotEqual(run("rev-parse", "production").code, 0, "a refused promotion writes nothing")
        // The eval stage read this version: its metrics count.
        ok("promote", "models/iris.mlmodel", "--to", "production", "--require", "eval.json:accuracy>=0.9")
    }

    func testPromoteChecksHistoryAndServe() throws {
        try makeRepo()
        let v1 = ok("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
        var r = runResult(["promote", "models/iris.mlmodel", "--to", "production", "--require", "accuracy>=0.99"])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("refused: accuracy>=0.99 failed: eval.json:accuracy is 0.97"), "names the file it read: \(r.err)")
        r = runResult(["promote", "models/iris.mlmodel", "--to", "production", "--require", "auc>=0.5"])
        XCTAssertTrue(r.err.contains("required metric 'auc' is missing"), r.err)
        XCTAssertNotEqual(run("rev-parse", "production").code, 0, "a refused promotion writes nothing")
        ok("promote", "models/iris.mlmodel@\(v1)", "--to", "staging")
        ok("promote", "models/iris.mlmodel", "--to", "production", "--require", "eval.json:accuracy>=0.95", "-m", "first release")
        // A second version: retrain as an MLP, promote it too.
        write("mlrepo.json", """
        {"stages": {"train": {"train": {"model": "mlp_classifier", "data": "iris_train.csv", "label": "species", "params": {"hidden_layers": [8], "epochs": 100}}, "outs": ["models/iris.mlmodel"], "metrics": ["train.json"]},
                    "eval": {"eval": {"model": "models/iris.mlmodel", "data": "iris_test.csv"}, "metrics": ["eval.json"]}}}
        """)
        ok("repro"); ok("add", "."); let v2 = commit("v2")
        ok("promote", "models/iris.mlmodel", "--to", "production", "--require", "accuracy>=0.5")
        // History: newest first, with checks.
        let log = (try? JSONSerialization.jsonObject(with: Data(ok("registry", "log", "production", "--json").utf8))) as? [[String: Any]] ?? []
        XCTAssertEqual(log.count, 2)
        XCTAssertEqual(log.map { $0["commit"] as? String }, [v2, v1])
        XCTAssertEqual(log.last?["note"] as? String, "first release")
        XCTAssertEqual(((log.last?["checks"] as? [[String: Any]])?.first)?["check"] as? String, "eval.json:accuracy>=0.95")
        XCTAssertEqual(log.first?["model"] as? String, ok("rev-parse", "\(v2):models/iris.mlmodel").trimmingCharacters(in: .whitespacesAndNewlines))
        // Registry listing: two versions of one model, aliases attached.
        let reg = (try? JSONSerialization.jsonObject(with: Data(ok("registry", "--json").utf8))) as? [String: Any]
        let models = reg?["models"] as? [[String: Any]] ?? []
        XCTAssertEqual(models.first?["path"] as? String, "models/iris.mlmodel")
        let versions = models.first?["versions"] as? [[String: Any]] ?? []
        XCTAssertEqual(versions.count, 2)
        XCTAssertEqual(versions.first?["aliases"] as? [String], ["staging"])
        XCTAssertEqual(versions.last?["aliases"] as? [String], ["production"])
        XCTAssertTrue(ok("registry").contains("[production]"))
        // gc keeps what aliases point to; fsck is clean.
        ok("gc")
        XCTAssertTrue(ok("fsck").contains(": ok"))
        XCTAssertEqual(ok("rev-parse", "staging:models/iris.mlmodel").trimmingCharacters(in: .whitespacesAndNewlines),
                       ok("rev-parse", "\(v1):models/iris.mlmodel").trimmingCharacters(in: .whitespacesAndNewlines))
        // serve ALIAS serves the promoted model.
        let s = try start(["serve", "staging", "--port", "0"])
        defer { kill(s.pid, SIGKILL); _ = collect(s) }
        var line = ""
        for _ in 0..<200 { line = (try? String(contentsOf: s.errURL, encoding: .utf8)) ?? ""; if line.contains("listening") { break }; usleep(20_000) }
        XCTAssertTrue(line.contains("commit \(v1.prefix(12))"), line)
    }

    func testLineageMustBeCompleteAndAliasesTravel() throws {
        try makeRepo()
        // A model file with no recorded run is refused.
        try FileManager.default.copyItem(at: url("models/iris.mlmodel"), to: url("models/copy.mlmodel"))
        ok("add", "models/copy.mlmodel"); commit("a copied model")
        let r = runResult(["promote", "models/copy.mlmodel", "--to", "production"])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("lineage of models/copy.mlmodel") && r.err.contains("incomplete"), r.err)
        XCTAssertTrue(runResult(["promote", "iris_test.csv", "--to", "production"]).err.contains("iris_test.csv at \(ok("rev-parse", "HEAD").prefix(12)) is not a model: its kind is dataset"))
        XCTAssertTrue(runResult(["promote", "models/none.mlmodel", "--to", "production"]).err.contains("has no file"))
        XCTAssertTrue(runResult(["promote", "models/iris.mlmodel", "--to", "production", "--require", "accuracy=>1"]).err.contains("expected METRIC OP NUMBER"))
        // Push the alias with --all; a clone sees it.
        ok("promote", "models/iris.mlmodel", "--to", "production")
        let remote = base.appendingPathComponent("remote").path
        ok("remote", "add", "origin", remote)
        ok("push", "--all")
        ok("clone", remote, base.appendingPathComponent("b").path, in: base)
        let b = base.appendingPathComponent("b")
        XCTAssertEqual(ok("rev-parse", "production", in: b), ok("rev-parse", "production"))
        XCTAssertTrue(ok("registry", "log", "production", in: b).contains("models/iris.mlmodel@"))
    }
}
