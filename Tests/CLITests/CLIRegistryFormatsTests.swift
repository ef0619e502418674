import Foundation
import XCTest
import Store
import Support

/// Issue 15, "Registry for any artifact": promote takes any model (a recognised format, or a
/// file or folder of kind model), records its format, size and (.mlmodel, ONNX) signature and
/// the checks it passed with the file, value and threshold; registry and registry log show
/// them; older promotion records still read.
final class CLIRegistryFormatsTests: CLITestCase {
    static let onnxFixture = packageRoot.appendingPathComponent("Tests/Fixtures/onnx/logreg.onnx")
    static let datasets = packageRoot.appendingPathComponent("Tests/Fixtures/datasets")

    /// `registry log ALIAS --json`, parsed.
    func log(_ alias: String, file: StaticString = #filePath, line: UInt = #line) -> [[String: Any]] {
        json(ok("registry", "log", alias, "--json", file: file, line: line), file: file, line: line) as? [[String: Any]] ?? []
    }

    func checks(_ p: [String: Any]?) -> [[String: Any]] { p?["checks"] as? [[String: Any]] ?? [] }

    /// A pickle (protocol 4, as pickle.dump writes it) and a metrics file, written by one stage.
    func testPromoteAPickleGatedOnTheMetricsItsRunWrote() throws {
        ok("init")
        write("data.csv", "x,y\n1,0\n2,1\n")
        write("mlrepo.json", #"""
        {"stages": {"train": {"cmd": "printf '\\200\\004\\225\\013\\000\\000\\000\\000\\000\\000\\000}\\224.' > model.pkl && echo '{\"accuracy\": 0.93}' > metrics.json",
                              "deps": ["data.csv"], "outs": ["model.pkl"], "metrics": ["metrics.json"]}}}
        """#)
        ok("repro"); ok("add", "."); let v1 = commit("pickle")
        let bytes = try XCTUnwrap(read("model.pkl"))
        XCTAssertEqual(Array(bytes.prefix(3)), [0x80, 0x04, 0x95], "the stage wrote a pickle header")
        // Today's refusal for a pickle is gone; a failing gate names the file it read.
        var r = runResult(["promote", "model.pkl", "--to", "production", "--require", "accuracy>=0.95"])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains("refused: accuracy>=0.95 failed: metrics.json:accuracy is 0.93"), r.err)
        XCTAssertFalse(r.err.contains("MLRMODL1"), r.err)
        r = runResult(["promote", "model.pkl", "--to", "production", "--require", "accuracy>=0.9"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("production -> model.pkl@\(v1.prefix(12)) (model \(revParse("HEAD:model.pkl").prefix(12)), pickle, \(bytes.count) B); checks passed: metrics.json:accuracy=0.93 (>=0.9)"), r.out)
        let p = log("production").first
        XCTAssertEqual(p?["format"] as? String, "pickle")
        XCTAssertEqual(p?["size"] as? Int, bytes.count)
        XCTAssertEqual(p?["model"] as? String, revParse("HEAD:model.pkl"))
        XCTAssertNil(p?["signature"], "mlrepo does not read a pickle's signature")
        XCTAssertNil(p?["signature_error"])
        let c = checks(p).first
        XCTAssertEqual(c?["check"] as? String, "accuracy>=0.9")
        XCTAssertEqual(c?["file"] as? String, "metrics.json")
        XCTAssertEqual(c?["key"] as? String, "accuracy")
        XCTAssertEqual(c?["op"] as? String, ">=")
        XCTAssertEqual(c?["threshold"] as? Double, 0.9)
        XCTAssertEqual(c?["value"] as? Double, 0.93)
        XCTAssertEqual(c?["passed"] as? Bool, true)
        // registry lists it with its format and size.
        let reg = ok("registry")
        XCTAssertTrue(reg.contains("model.pkl\n  v1  model \(revParse("HEAD:model.pkl").prefix(12))  commit \(v1.prefix(12))"), reg)
        XCTAssertTrue(reg.contains("pickle \(bytes.count) B  [production]"), reg)
        XCTAssertTrue(reg.contains("  production -> model.pkl@\(v1.prefix(12))"), reg)
        XCTAssertTrue(reg.contains("      pickle, \(bytes.count) B\n      checks: metrics.json:accuracy=0.93 (>=0.9)"), reg)
    }

    /// A LightGBM text model named model.txt and read by an eval stage: its kind is inferred
    /// as features (a stage reads it, no model extension), but its first bytes say LightGBM.
    /// A model trained outside mlrepo and added by hand has no recorded run: promote refuses
    /// it and names --no-lineage; with it the promotion is made and says so, and a gate still
    /// reads only an eval stage that read this version.
    func testPromoteAModelTrainedElsewhereWithNoLineage() throws {
        ok("init")
        write("model.pkl", "\u{80}\u{04}\u{95}not really a pickle")
        write("data.csv", "x\n1\n")
        // Another model's evaluation: a declared metrics file this model has nothing to do with.
        write("mlrepo.json", #"{"stages": {"other": {"cmd": "echo '{\"accuracy\": 0.99}' > other.json", "deps": ["data.csv"], "metrics": ["other.json"]}}}"#)
        ok("repro"); ok("add", "."); commit("a model trained in a notebook")
        let refused = fails(1, "promote", "model.pkl", "--to", "production")
        XCTAssertTrue(refused.err.contains("no recorded run produced this version") && refused.err.contains("--no-lineage"), refused.err)
        ok("promote", "model.pkl", "--to", "production", "--no-lineage")
        let p = log("production").first
        XCTAssertEqual(p?["lineage_checked"] as? Bool, false)
        XCTAssertEqual(p?["format"] as? String, "pickle")
        XCTAssertTrue(ok("registry", "log", "production").contains("lineage not checked (promoted with --no-lineage)"))
        // Gates: another file's metrics are still not this model's evaluation.
        let gate = fails(1, "promote", "model.pkl", "--to", "staging", "--no-lineage", "--require", "other.json:accuracy>=0.9")
        XCTAssertTrue(gate.err.contains("not an evaluation"), gate.err)
        // A promotion with lineage checked does not carry the field.
        write("mlrepo.json", #"{"stages": {"other": {"cmd": "echo '{\"accuracy\": 0.99}' > other.json", "deps": ["data.csv"], "metrics": ["other.json"]}, "t": {"cmd": "cp model.pkl m2.pkl", "deps": ["model.pkl"], "outs": ["m2.pkl"]}}}"#)
        ok("repro"); ok("add", "."); commit("a run")
        ok("promote", "m2.pkl", "--to", "staging")
        XCTAssertNil(log("staging").first?["lineage_checked"])
    }

    func testPromoteALightGBMModelRecognisedByItsBytes() throws {
        ok("init")
        write("data.csv", "x,y\n1,0\n")
        write("mlrepo.json", #"""
        {"stages": {"train": {"cmd": "printf 'tree\\nversion=v4\\nnum_class=1\\n' > model.txt", "deps": ["data.csv"], "outs": ["model.txt"]},
                    "eval": {"cmd": "echo '{\"auc\": 0.81}' > eval.json", "deps": ["model.txt"], "metrics": ["eval.json"]}}}
        """#)
        ok("repro"); ok("add", "."); commit("lightgbm")
        XCTAssertEqual(text("model.txt"), "tree\nversion=v4\nnum_class=1\n")
        let r = runResult(["promote", "model.txt", "--to", "production", "--require", "auc>=0.8"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("lightgbm, 28 B); checks passed: eval.json:auc=0.81 (>=0.8)"), r.out)
        XCTAssertEqual(log("production").first?["format"] as? String, "lightgbm")
        XCTAssertTrue(ok("registry").contains("model.txt\n  v1  "), "listed because an alias points at it")
    }

    /// An ONNX model gated on an eval stage that read it; the signature comes from the graph.
    func testPromoteAnONNXModelGatedOnItsEvalStage() throws {
        ok("init")
        try FileManager.default.copyItem(at: Self.onnxFixture, to: url("export.onnx"))
        write("mlrepo.json", #"""
        {"stages": {"export": {"cmd": "mkdir -p models && cp export.onnx models/logreg.onnx", "deps": ["export.onnx"], "outs": ["models/logreg.onnx"]},
                    "eval": {"cmd": "echo '{\"accuracy\": 0.95, \"f1\": 0.9}' > eval.json", "deps": ["models/logreg.onnx"], "metrics": ["eval.json"]},
                    "other": {"cmd": "echo '{\"accuracy\": 0.99}' > other.json", "deps": ["export.onnx"], "metrics": ["other.json"]}}}
        """#)
        ok("repro"); ok("add", "."); let v1 = commit("onnx model and its evaluation")
        let size = try XCTUnwrap(read("models/logreg.onnx")).count
        var r = runResult(["promote", "models/logreg.onnx", "--to", "production", "--require", "other.json:accuracy>=0.9"])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("refused: 'other.json' is not an evaluation of models/logreg.onnx"), r.err)
        r = runResult(["promote", "models/logreg.onnx", "--to", "production", "--require", "eval.json:accuracy>=0.99"])
        XCTAssertTrue(r.err.contains("refused: eval.json:accuracy>=0.99 failed: eval.json:accuracy is 0.95"), r.err)
        XCTAssertNotEqual(run("rev-parse", "production").code, 0, "a refused promotion writes nothing")
        r = runResult(["promote", "models/logreg.onnx", "--to", "production", "--require", "accuracy>=0.9", "--require", "f1>0.5", "-m", "first ONNX"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("onnx, \(size) B); checks passed: eval.json:accuracy=0.95 (>=0.9), eval.json:f1=0.9 (>0.5)"), r.out)
        XCTAssertTrue(r.out.contains("  in: X float[N,4]  out: Y float[N,3]"), r.out)
        let p = log("production").first
        XCTAssertEqual(p?["format"] as? String, "onnx")
        XCTAssertEqual(p?["size"] as? Int, size)
        XCTAssertEqual(p?["commit"] as? String, v1)
        XCTAssertEqual(p?["note"] as? String, "first ONNX")
        let sig = p?["signature"] as? [String: Any]
        let inputs = sig?["inputs"] as? [[String: Any]] ?? []
        let outputs = sig?["outputs"] as? [[String: Any]] ?? []
        XCTAssertEqual(inputs.count, 1)
        XCTAssertEqual(inputs.first?["name"] as? String, "X")
        XCTAssertEqual(inputs.first?["type"] as? String, "float")
        XCTAssertEqual((inputs.first?["shape"] as? [Any])?.first as? String, "N", "a symbolic dimension keeps its name")
        XCTAssertEqual((inputs.first?["shape"] as? [Any])?.last as? Int, 4)
        XCTAssertEqual(outputs.first?["name"] as? String, "Y")
        XCTAssertEqual((outputs.first?["shape"] as? [Any])?.last as? Int, 3)
        XCTAssertEqual(checks(p).map { $0["file"] as? String }, ["eval.json", "eval.json"])
        XCTAssertEqual(checks(p).map { $0["value"] as? Double }, [0.95, 0.9])
        XCTAssertEqual(checks(p).map { $0["threshold"] as? Double }, [0.9, 0.5])
        // Text: format, size, signature and checks under each promotion.
        let text = ok("registry", "log", "production")
        XCTAssertTrue(text.contains("models/logreg.onnx@\(v1.prefix(12))  model \(revParse("HEAD:models/logreg.onnx").prefix(12))"), text)
        XCTAssertTrue(text.contains("    onnx, \(size) B; in: X float[N,4]  out: Y float[N,3]\n    checks: eval.json:accuracy=0.95 (>=0.9), eval.json:f1=0.9 (>0.5)\n    first ONNX\n"), text)
        // registry --json: versions with format and size; the alias with everything.
        let reg = json(ok("registry", "--json")) as? [String: Any]
        let models = reg?["models"] as? [[String: Any]] ?? []
        let m = models.first { $0["path"] as? String == "models/logreg.onnx" }
        let v = (m?["versions"] as? [[String: Any]])?.first
        XCTAssertEqual(v?["format"] as? String, "onnx")
        XCTAssertEqual(v?["size"] as? Int, size)
        XCTAssertEqual(v?["aliases"] as? [String], ["production"])
        let a = (reg?["aliases"] as? [String: Any])?["production"] as? [String: Any]
        XCTAssertEqual(a?["format"] as? String, "onnx")
        XCTAssertNotNil(a?["signature"])
        XCTAssertEqual(a?["promotion"] as? String, revParse("production"))
        XCTAssertNil(a?["type"])
        XCTAssertTrue(ok("registry").contains("      onnx, \(size) B; in: X float[N,4]  out: Y float[N,3]\n"))
    }

    /// A folder is promoted as a unit: its tree id is the model id, its size the total of its
    /// files; the eval stage that read the folder gates it.
    func testPromoteAFolderDeclaredAsAModel() throws {
        ok("init")
        write("data.csv", "x,y\n1,0\n")
        write("mlrepo.json", #"""
        {"stages": {"train": {"cmd": "mkdir -p saved/variables && printf 'weights!' > saved/variables/w.bin && printf '{}' > saved/config.json", "deps": ["data.csv"], "outs": ["saved"]},
                    "eval": {"cmd": "echo '{\"score\": 0.8}' > eval.json", "deps": ["saved"], "metrics": ["eval.json"]}}}
        """#)
        ok("repro"); ok("add", "."); commit("a saved model folder")
        // Read by a stage and without a model name, the folder's kind is inferred as features.
        let r = runResult(["promote", "saved", "--to", "staging"])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("saved at \(revParse("HEAD").prefix(12)) is not a model: its kind is features"), r.err)
        ok("add", "--kind", "model", "saved"); let v2 = commit("declare the folder a model")
        let out = ok("promote", "saved", "--to", "staging", "--require", "eval.json:score>=0.5")
        XCTAssertTrue(out.contains("staging -> saved@\(v2.prefix(12)) (model \(revParse("HEAD:saved").prefix(12)), directory, 10 B)"), out)
        let p = log("staging").first
        XCTAssertEqual(p?["model"] as? String, revParse("HEAD:saved"), "the folder's tree id")
        XCTAssertEqual(p?["format"] as? String, "directory")
        XCTAssertEqual(p?["size"] as? Int, 10, "8 + 2 bytes")
        XCTAssertNil(p?["signature"])
        XCTAssertEqual(checks(p).first?["file"] as? String, "eval.json")
        // The registry lists the folder once, not its files.
        let reg = json(ok("registry", "--json")) as? [String: Any]
        let paths = (reg?["models"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
        XCTAssertEqual(paths, ["saved"])
        XCTAssertTrue(ok("registry").contains("directory 10 B  [staging]"))
    }

    /// mlrepo's own model: features in, prediction and probabilities out, and the classes.
    func testPromoteAnMLModelRecordsItsSignature() throws {
        ok("init")
        for part in ["train", "test"] {
            try FileManager.default.copyItem(at: Self.datasets.appendingPathComponent("iris_\(part).csv"), to: url("iris_\(part).csv"))
        }
        write("mlrepo.json", """
        {"stages": {"train": {"train": {"model": "logistic_regression", "data": "iris_train.csv", "label": "species"}, "outs": ["models/iris.mlmodel"]},
                    "eval": {"eval": {"model": "models/iris.mlmodel", "data": "iris_test.csv"}, "metrics": ["eval.json"]}}}
        """)
        ok("repro"); ok("add", "."); commit("v1")
        let out = ok("promote", "models/iris.mlmodel", "--to", "production", "--require", "accuracy>=0.9")
        let header = String(decoding: try XCTUnwrap(read("iris_train.csv")).prefix { $0 != 10 }, as: UTF8.self)
        let features = header.split(separator: ",").map(String.init).filter { $0 != "species" }
        XCTAssertEqual(features.count, 4)
        XCTAssertTrue(out.contains("  in: " + features.map { "\($0) float[N]" }.joined(separator: ", ") + "  out: prediction string[N], probabilities float[N,3]"), out)
        let p = log("production").first
        XCTAssertEqual(p?["format"] as? String, "mlmodel")
        XCTAssertEqual(p?["size"] as? Int, try XCTUnwrap(read("models/iris.mlmodel")).count)
        let sig = p?["signature"] as? [String: Any]
        XCTAssertEqual((sig?["inputs"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, features)
        XCTAssertEqual((sig?["outputs"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["prediction", "probabilities"])
        let classes = Set(try XCTUnwrap(text("iris_train.csv")).split(separator: "\n").dropFirst().compactMap { $0.split(separator: ",").last.map(String.init) })
        XCTAssertEqual(Set(sig?["classes"] as? [String] ?? []), classes)
        XCTAssertEqual((sig?["classes"] as? [String])?.count, 3)
    }

    func testRefusesAPathThatIsNotAModel() throws {
        ok("init")
        write("data.csv", "x,y\n1,0\n")
        write("notes.bin", "plain bytes")
        write("mlrepo.json", #"""
        {"stages": {"train": {"cmd": "printf 'opaque weights' > weights.bin && echo '{\"loss\": 0.1}' > metrics.json", "deps": ["data.csv"], "outs": ["weights.bin"], "metrics": ["metrics.json"]}}}
        """#)
        ok("repro"); ok("add", "."); let head = commit("v1").prefix(12)
        var r = runResult(["promote", "data.csv", "--to", "production"])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("refused: data.csv at \(head) is not a model: its kind is dataset"), r.err)
        r = runResult(["promote", "metrics.json", "--to", "production"])
        XCTAssertTrue(r.err.contains("metrics.json at \(head) is not a model: its kind is metrics"), r.err)
        r = runResult(["promote", "notes.bin", "--to", "production"])
        XCTAssertTrue(r.err.contains("notes.bin at \(head) is not a model: its kind is not known and it is no recognised model format"), r.err)
        XCTAssertTrue(r.err.contains("mlrepo add --kind model PATH"), r.err)
        XCTAssertNotEqual(run("rev-parse", "production").code, 0)
        // A stage output no stage reads is a model (format other), whatever its bytes.
        let out = ok("promote", "weights.bin", "--to", "production", "--require", "loss<0.5")
        XCTAssertTrue(out.contains("other, 14 B"), out)
        // A recognised model format declared as something else by hand is refused too.
        write("mlrepo.json", #"""
        {"stages": {"train": {"cmd": "printf '\\200\\004\\225.' > model.pkl", "deps": ["data.csv"], "outs": ["model.pkl"]}}}
        """#)
        ok("repro"); ok("add", "--kind", "dataset", "model.pkl"); ok("add", "."); commit("a pickle declared as data")
        r = runResult(["promote", "model.pkl", "--to", "staging"])
        XCTAssertTrue(r.err.contains("model.pkl at \(revParse("HEAD").prefix(12)) is not a model: its kind is dataset"), r.err)
    }

    /// A corrupt ONNX file, or a hostile .mlmodel, is still promoted (format known from its
    /// name, size recorded) with the reason instead of a signature and a warning; nothing
    /// crashes.
    func testUnreadableModelsArePromotedWithoutASignature() throws {
        ok("init")
        write("data.csv", "x,y\n1,0\n")
        var onnx = try Data(contentsOf: Self.onnxFixture)
        onnx = onnx.prefix(onnx.count / 2)  // cut in the middle of the graph
        write("src/cut.onnx", onnx)
        write("src/garbage.onnx", Data([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))
        // A tensor entry with rows 1e300 and cols 0 (their product passed the old bound).
        let header = #"{"features":["x"],"format":1,"tensor_bytes":0,"tensors":[{"cols":0,"name":"w","rows":1e300}],"type":"ridge"}"#
        var mlmodel = Data("MLRMODL1".utf8)
        let n = UInt32(header.utf8.count)
        mlmodel.append(contentsOf: [UInt8(n & 0xff), UInt8(n >> 8 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 24)])
        mlmodel.append(Data(header.utf8))
        write("src/huge.mlmodel", mlmodel)
        write("mlrepo.json", #"""
        {"stages": {"build": {"cmd": "cp src/cut.onnx cut.onnx && cp src/garbage.onnx garbage.onnx && cp src/huge.mlmodel huge.mlmodel",
                              "deps": ["data.csv", "src"], "outs": ["cut.onnx", "garbage.onnx", "huge.mlmodel"]}}}
        """#)
        ok("repro"); ok("add", "."); commit("broken models")
        for (path, alias, reason) in [("cut.onnx", "a", "invalid ONNX model"), ("garbage.onnx", "b", "invalid ONNX model"), ("huge.mlmodel", "c", "bad tensor entry")] {
            let r = runResult(["promote", path, "--to", alias])
            XCTAssertEqual(r.code, 0, "\(path): \(r.err)")
            XCTAssertTrue(r.err.contains("warning: no signature recorded for \(path): 'HEAD:\(path)'"), r.err)
            XCTAssertTrue(r.err.contains(reason), r.err)
            let p = log(alias).first
            XCTAssertEqual(p?["format"] as? String, path.hasSuffix(".onnx") ? "onnx" : "mlmodel")
            XCTAssertEqual(p?["size"] as? Int, read(path)?.count)
            XCTAssertNil(p?["signature"])
            XCTAssertTrue((p?["signature_error"] as? String)?.contains(reason) == true, "\(p ?? [:])")
            XCTAssertTrue(ok("registry", "log", alias).contains("no signature: 'HEAD:\(path)'"))
        }
    }

    /// A promotion record written before format, size and signature were recorded (the exact
    /// shape of .mlrepo-format.md's Example 9) still reads, beside a new one.
    func testPromotionRecordsWithoutTheNewFieldsStillRead() throws {
        ok("init")
        try FileManager.default.copyItem(at: Self.onnxFixture, to: url("export.onnx"))
        write("mlrepo.json", #"""
        {"stages": {"export": {"cmd": "cp export.onnx model.onnx && echo '{\"accuracy\": 0.97}' > eval.json", "deps": ["export.onnx"], "outs": ["model.onnx"], "metrics": ["eval.json"]}}}
        """#)
        ok("repro"); ok("add", "."); let v1 = commit("v1")
        let model = revParse("HEAD:model.onnx")
        // The old record, written as an older mlrepo wrote it.
        let old = #"{"alias":"production","by":"Ada <ada@example.com>","checks":[{"check":"accuracy>=0.9","passed":true,"value":0.97}],"commit":"\#(v1)","model":"\#(model)","path":"model.onnx","time":"2026-11-23T06:00:00Z","type":"promotion"}"#
        let r = try Repository(root: repo.path)
        let meta = try r.store.put(.blob, Array(old.utf8))
        try r.store.commitPending()
        let commitId = try XCTUnwrap(ObjectId(hex: v1))
        let first = try r.commitObject(tree: r.readCommit(commitId).tree, parents: [commitId], headers: [("meta", meta.hex)],
                                       message: "promote model.onnx to production", ref: "refs/aliases/production", expected: nil)
        // It reads alone …
        var entries = log("production")
        XCTAssertEqual(entries.count, 1)
        XCTAssertEqual(entries.first?["promotion"] as? String, first.hex)
        XCTAssertNil(entries.first?["format"])
        XCTAssertNil(entries.first?["size"])
        XCTAssertNil(entries.first?["signature"])
        XCTAssertEqual(checks(entries.first).first?["value"] as? Double, 0.97)
        var text = ok("registry", "log", "production")
        XCTAssertTrue(text.contains("2026-11-23T06:00:00Z  model.onnx@\(v1.prefix(12))  model \(model.prefix(12))  by Ada <ada@example.com>\n    format not recorded\n    checks: accuracy>=0.9 (0.97)\n"), text)
        XCTAssertTrue(ok("registry").contains("onnx 327 B  [production]"))
        // … and beside a new one on the same alias.
        ok("promote", "model.onnx", "--to", "production", "--require", "accuracy>=0.9")
        entries = log("production")
        XCTAssertEqual(entries.count, 2)
        XCTAssertEqual(entries.map { $0["format"] as? String }, ["onnx", nil])
        XCTAssertEqual(checks(entries.first).first?["file"] as? String, "eval.json")
        XCTAssertNil(checks(entries.last).first?["file"])
        text = ok("registry", "log", "production")
        XCTAssertTrue(text.contains("onnx, 327 B; in: X float[N,4]"), text)
        XCTAssertTrue(text.contains("format not recorded"), text)
        // serve still finds the model an alias points at.
        XCTAssertEqual(revParse("production^2"), v1)
    }
}
