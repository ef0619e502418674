import Foundation
import XCTest
import ML

/// Built-in training through the binary: accuracy against scikit-learn's reference scores on
/// the classic datasets, determinism, verify, predict, and bad input.
final class CLITrainTests: CLITestCase {
    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures/datasets")

    static let reference: [String: [String: Double]] = {
        let url = fixtures.appendingPathComponent("sklearn_reference.json")
        guard let d = try? Data(contentsOf: url), let j = try? JSONSerialization.jsonObject(with: d) as? [String: [String: Double]] else { return [:] }
        return j
    }()

    func copyDataset(_ name: String) throws {
        for part in ["train", "test"] {
            let src = Self.fixtures.appendingPathComponent("\(name)_\(part).csv")
            try FileManager.default.copyItem(at: src, to: url("\(name)_\(part).csv"))
        }
    }

    func trainStage(_ model: String, _ data: String, label: String?, params: String = "{}", out: String = "m.mlmodel") -> String {
        let l = label.map { ", \"label\": \"\($0)\"" } ?? ""
        return """
        {"stages": {
          "train": {"train": {"model": "\(model)", "data": "\(data)_train.csv"\(l), "params": \(params)}, "outs": ["\(out)"], "metrics": ["train.json"]},
          "eval": {"eval": {"model": "\(out)", "data": "\(data)_test.csv"}, "metrics": ["eval.json"]}
        }}
        """
    }

    func metrics(_ rel: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: read(rel) ?? Data())) as? [String: Any] ?? [:]
    }

    /// Trains and evaluates `model` on `data`; returns the eval metrics.
    func trainAndEval(_ model: String, _ data: String, label: String?, params: String = "{}") throws -> [String: Any] {
        try? FileManager.default.removeItem(at: repo)
        try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
        ok("init")
        try copyDataset(data)
        write("mlrepo.json", trainStage(model, data, label: label, params: params))
        ok("repro")
        return metrics("eval.json")
    }

    func assertNear(_ data: String, _ model: String, label: String, key: String, params: String = "{}", file: StaticString = #filePath, line: UInt = #line) throws {
        let ref = try XCTUnwrap(Self.reference[data]?[model], "no reference for \(data)/\(model)", file: file, line: line)
        let m = try trainAndEval(model, data, label: label, params: params)
        let got = try XCTUnwrap(m[key] as? Double, "no \(key) in \(m)", file: file, line: line)
        XCTAssertGreaterThanOrEqual(got, ref - 0.015, "\(data) \(model): \(key) \(got) vs scikit-learn \(ref)", file: file, line: line)
    }

    func testClassifiersMatchScikitLearn() throws {
        try assertNear("iris", "logistic_regression", label: "species", key: "accuracy")
        try assertNear("wine", "logistic_regression", label: "cultivar", key: "accuracy")
        try assertNear("breast_cancer", "logistic_regression", label: "diagnosis", key: "accuracy")
        try assertNear("digits", "logistic_regression", label: "digit", key: "accuracy")
        // scikit-learn's reference MLP ran max_iter=500.
        try assertNear("iris", "mlp_classifier", label: "species", key: "accuracy", params: #"{"epochs": 500}"#)
        try assertNear("wine", "mlp_classifier", label: "cultivar", key: "accuracy")
        try assertNear("breast_cancer", "mlp_classifier", label: "diagnosis", key: "accuracy")
        let m = metrics("eval.json")
        XCTAssertEqual(Set(m.keys).intersection(["accuracy", "precision_macro", "recall_macro", "f1_macro", "log_loss", "roc_auc", "confusion_matrix"]).count, 7)
    }

    func testRegressorsMatchScikitLearn() throws {
        try assertNear("diabetes", "linear_regression", label: "progression", key: "r2")
        try assertNear("diabetes", "ridge", label: "progression", key: "r2")
        let m = metrics("eval.json")
        XCTAssertNotNil(m["rmse"] as? Double); XCTAssertNotNil(m["mae"] as? Double)
    }

    func testClusteringAndPCA() throws {
        ok("init")
        try copyDataset("iris")
        // Features only: drop the label column.
        let text = String(decoding: read("iris_train.csv") ?? Data(), as: UTF8.self)
        write("x.csv", text.split(separator: "\n").map { $0.split(separator: ",").dropLast().joined(separator: ",") }.joined(separator: "\n") + "\n")
        write("mlrepo.json", """
        {"stages": {
          "km": {"train": {"model": "kmeans", "data": "x.csv", "params": {"k": 3}}, "outs": ["km.mlmodel"]},
          "km_eval": {"eval": {"model": "km.mlmodel", "data": "x.csv"}, "metrics": ["km.json"]},
          "pca": {"train": {"model": "pca", "data": "x.csv", "params": {"n_components": 2}}, "outs": ["pca.mlmodel"]},
          "pca_eval": {"eval": {"model": "pca.mlmodel", "data": "x.csv"}, "metrics": ["pca.json"]}
        }}
        """)
        ok("repro")
        let km = metrics("km.json")
        XCTAssertGreaterThan(km["silhouette"] as? Double ?? 0, 0.45, "\(km)")
        XCTAssertGreaterThan(km["inertia"] as? Double ?? 0, 0)
        let ratio = (metrics("pca.json")["explained_variance_ratio"] as? [Double]) ?? []
        XCTAssertEqual(ratio.count, 2)
        XCTAssertGreaterThan(ratio.first ?? 0, 0.9, "iris's first component explains ~92% (scikit-learn: 0.9246)")
        let pred = ok("predict", "pca.mlmodel", "--data", "x.csv")
        XCTAssertTrue(pred.hasPrefix("pc1,pc2\n"))
        let clusters = ok("predict", "km.mlmodel", "--data", "x.csv").split(separator: "\n").dropFirst()
        XCTAssertEqual(Set(clusters).count, 3)
    }

    func testSameModelBitForBitWhateverTheThreadsAndVerify() throws {
        ok("init")
        try copyDataset("breast_cancer")
        write("mlrepo.json", trainStage("mlp_classifier", "breast_cancer", label: "diagnosis", params: #"{"hidden_layers": [16], "epochs": 30}"#))
        ok("train", "--threads", "1")
        let one = read("m.mlmodel")
        ok("train", "--threads", "2")
        XCTAssertEqual(read("m.mlmodel"), one, "threads 1 and 2 give the same model file")
        ok("train", "--seed", "7")
        XCTAssertNotEqual(read("m.mlmodel"), one, "another seed, another model")
        ok("train", "--seed", "0")
        XCTAssertEqual(read("m.mlmodel"), one)
        let out = ok("train", "--json", "--commit", "-m", "trained")
        XCTAssertTrue(out.contains("\"loss_last\""), out)
        let v = ok("train", "--verify", "HEAD")
        XCTAssertTrue(v.contains("m.mlmodel: bit-identical"), v)
        // The record carries the training environment.
        let lin = (try? JSONSerialization.jsonObject(with: Data(ok("lineage", "m.mlmodel", "--json").utf8))) as? [String: Any]
        let env = ((lin?["produced_by"] as? [String: Any])?["environment"] as? [String: Any]) ?? [:]
        XCTAssertEqual(env["backend"] as? String, "cpu")
        XCTAssertNotNil(env["device"] as? String)
        XCTAssertEqual(env["seed"] as? Int, 0)
        // The data is a dependency: editing it makes the stage stale.
        XCTAssertEqual(ok("repro", "--dry-run", "train"), "stage train is up to date\n")
    }

    func testLogisticLBFGSIsDeterministicAndBinaryIsTheSigmoidModel() throws {
        ok("init")
        try copyDataset("breast_cancer")
        write("mlrepo.json", trainStage("logistic_regression", "breast_cancer", label: "diagnosis"))
        ok("train", "--threads", "1")
        let one = read("m.mlmodel")
        ok("train", "--threads", "2")
        XCTAssertEqual(read("m.mlmodel"), one, "L-BFGS: threads 1 and 2 give the same model file")
        let m = metrics("train.json")
        XCTAssertEqual(m["optimizer"] as? String, "lbfgs")
        XCTAssertEqual(m["converged"] as? Bool, true)
        XCTAssertGreaterThan(m["iterations"] as? Int ?? 0, 2)
        let curve = (m["loss_curve"] as? [Double]) ?? []
        XCTAssertEqual(curve.first ?? 0, log(2.0), accuracy: 1e-6, "starts from zero weights: log 2 for two classes")
        XCTAssertLessThan(m["loss_last"] as? Double ?? 1, 0.1)
        // Binary: the first class's weights and bias stay exactly zero (softmax([0, z]) = sigmoid(z)).
        let file = try ModelFile.read(path: url("m.mlmodel").path)
        let w = try XCTUnwrap(file.tensor("w0")), b = try XCTUnwrap(file.tensor("b0"))
        XCTAssertEqual(w.cols, 2)
        XCTAssertTrue((0..<w.rows).allSatisfy { w.values[$0 * 2] == 0 })
        XCTAssertTrue((0..<w.rows).contains { w.values[$0 * 2 + 1] != 0 })
        XCTAssertEqual(b.values[0], 0)
        // Minibatch-only params are refused with lbfgs, accepted with adam.
        write("mlrepo.json", trainStage("logistic_regression", "breast_cancer", label: "diagnosis", params: #"{"epochs": 5}"#))
        let r = runResult(["train"])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("param 'epochs' applies to optimizer adam or sgd"), r.err)
        write("mlrepo.json", trainStage("logistic_regression", "breast_cancer", label: "diagnosis",
                                        params: #"{"epochs": 5, "optimizer": "adam"}"#))
        ok("train")
        XCTAssertEqual(metrics("train.json")["epochs"] as? Int, 5)
    }

    func testPredictAndEvalAgree() throws {
        ok("init")
        try copyDataset("iris")
        write("mlrepo.json", trainStage("logistic_regression", "iris", label: "species"))
        ok("repro")
        let rows = ok("predict", "m.mlmodel", "--data", "iris_test.csv", "--probabilities").split(separator: "\n")
        XCTAssertEqual(rows.first, "prediction,p_setosa,p_versicolor,p_virginica")
        XCTAssertEqual(rows.count, 39)
        let truth = (String(decoding: read("iris_test.csv") ?? Data(), as: UTF8.self)).split(separator: "\n").dropFirst().map { $0.split(separator: ",").last! }
        let predicted = rows.dropFirst().map { $0.split(separator: ",").first! }
        let acc = Double(zip(truth, predicted).filter { $0 == $1 }.count) / Double(truth.count)
        XCTAssertEqual(acc, metrics("eval.json")["accuracy"] as? Double ?? -1, accuracy: 1e-12)
        ok("predict", "m.mlmodel", "--data", "iris_test.csv", "--out", "preds.csv")
        XCTAssertEqual(text("preds.csv")?.split(separator: "\n").count, 39)
    }

    func testBadInputIsAOneLineError() throws {
        ok("init")
        try copyDataset("iris")
        func expectError(_ args: [String], _ part: String, file: StaticString = #filePath, line: UInt = #line) {
            let r = runResult(args)
            XCTAssertNotEqual(r.code, 0, "\(args) should fail", file: file, line: line)
            XCTAssertTrue(r.err.contains(part), "\(args): '\(r.err)' lacks '\(part)'", file: file, line: line)
            let lines = r.err.split(separator: "\n").filter { !$0.hasPrefix("note: ") }
            XCTAssertEqual(lines.count, 1, "one line: \(r.err)", file: file, line: line)
        }
        write("one.csv", "a,b,y\n1,2,x\n3,4,x\n")
        write("mlrepo.json", trainStage("logistic_regression", "one", label: "y").replacingOccurrences(of: "one_train.csv", with: "one.csv"))
        expectError(["train", "train"], "single class")
        write("nan.csv", "a,b,y\n1,nan,x\n3,4,z\n")
        write("mlrepo.json", trainStage("logistic_regression", "nan", label: "y").replacingOccurrences(of: "nan_train.csv", with: "nan.csv"))
        expectError(["train", "train"], "nan.csv")
        write("empty.csv", "")
        write("mlrepo.json", trainStage("logistic_regression", "empty", label: "y").replacingOccurrences(of: "empty_train.csv", with: "empty.csv"))
        expectError(["train", "train"], "empty")
        write("mlrepo.json", trainStage("logistic_regression", "iris", label: "nolabel"))
        expectError(["train", "train"], "nolabel")
        write("mlrepo.json", trainStage("logistic_regression", "iris", label: "species", params: #"{"learning_rat": 1}"#))
        expectError(["train", "train"], "no param 'learning_rat'")
        write("mlrepo.json", trainStage("random_forest", "iris", label: "species"))
        expectError(["train", "train"], "unknown model type 'random_forest'")
        write("mlrepo.json", trainStage("logistic_regression", "iris", label: "species"))
        ok("train")
        // Predict-time problems.
        let extra = String(decoding: read("iris_test.csv") ?? Data(), as: UTF8.self).split(separator: "\n").enumerated()
            .map { $0.offset == 0 ? $0.element + ",extra" : $0.element + ",1" }.joined(separator: "\n") + "\n"
        write("extra.csv", extra)
        expectError(["predict", "m.mlmodel", "--data", "extra.csv"], "extra")
        let bytes = read("m.mlmodel") ?? Data()
        write("cut.mlmodel", bytes.prefix(bytes.count - 10))
        expectError(["predict", "cut.mlmodel", "--data", "iris_test.csv"], "truncated")
        expectError(["predict", "iris_test.csv", "--data", "iris_test.csv"], "not a valid mlrepo model")
        expectError(["predict", "missing.mlmodel", "--data", "iris_test.csv"], "does not exist")
        expectError(["train", "--backend", "gpu"], "GPU")
    }

    func testTrainAndEvalAtARevision() throws {
        ok("init")
        try copyDataset("iris")
        write("mlrepo.json", trainStage("logistic_regression", "iris", label: "species"))
        ok("repro")
        let v1Model = read("m.mlmodel")
        let v1 = metrics("eval.json")["accuracy"] as? Double
        _ = commit("v1")
        // Fewer training rows now: a different model and score in the work tree.
        let lines = String(decoding: read("iris_train.csv") ?? Data(), as: UTF8.self).split(separator: "\n")
        write("iris_train.csv", lines.prefix(40).joined(separator: "\n") + "\n")
        ok("repro")
        XCTAssertNotEqual(read("m.mlmodel"), v1Model)
        let atRev = (try? JSONSerialization.jsonObject(with: Data(ok("eval", "eval", "--rev", "HEAD", "--json").utf8))) as? [String: Any]
        XCTAssertEqual(atRev?["accuracy"] as? Double, v1, "HEAD's model on HEAD's data")
        XCTAssertTrue(ok("train", "--rev", "HEAD").contains("wrote m.mlmodel"))
        XCTAssertEqual(read("m.mlmodel"), v1Model, "HEAD's stage on HEAD's data gives HEAD's model")
    }

    /// train and eval print a short summary for people; --json prints the metrics, and then
    /// stdout is one JSON document (progress and the commit id go to stderr).
    func testTrainAndEvalPrintASummaryOrJSON() throws {
        ok("init")
        try copyDataset("iris")
        write("mlrepo.json", trainStage("logistic_regression", "iris", label: "species"))
        let s = ok("train")
        XCTAssertNotNil(s.range(of: #"Trained logistic_regression \(stage train\) on \d+ rows -> m\.mlmodel\n"#, options: .regularExpression), s)
        XCTAssertNotNil(s.range(of: #"\n  final loss: +[0-9.e-]+ \(first 1\.0986\)\n"#, options: .regularExpression), s)
        XCTAssertTrue(s.contains("  converged: "), s)
        XCTAssertTrue(s.contains("written to train.json"), s)
        XCTAssertFalse(s.contains("loss_curve"), s)
        let j = runResult(["train", "--json", "--commit", "-m", "trained"])
        XCTAssertEqual(j.code, 0, j.err)
        let m = json(j.out) as? [String: Any] ?? [:]
        XCTAssertEqual(m["model"] as? String, "logistic_regression")
        XCTAssertNotNil(m["loss_curve"] as? [Double])
        XCTAssertEqual(m["loss_last"] as? Double, metrics("train.json")["loss_last"] as? Double)
        XCTAssertTrue(j.err.contains("Running stage 'train'"), j.err)
        XCTAssertTrue(j.err.contains("committed \(revParse("HEAD"))"), j.err)

        let e = ok("eval")
        XCTAssertTrue(e.contains("Evaluated m.mlmodel on iris_test.csv (stage eval)\n"), e)
        XCTAssertNotNil(e.range(of: #"\n  accuracy: +[0-9.]+\n"#, options: .regularExpression), e)
        XCTAssertTrue(e.contains("  confusion_matrix: [["), e)
        XCTAssertTrue(e.contains("written to eval.json"), e)
        let ej = json(ok("eval", "--json")) as? [String: Any] ?? [:]
        XCTAssertEqual(ej["accuracy"] as? Double, metrics("eval.json")["accuracy"] as? Double)

        let adHoc = ok("eval", "--model", "m.mlmodel", "--data", "iris_test.csv")
        XCTAssertTrue(adHoc.hasPrefix("Evaluated logistic_regression model m.mlmodel on iris_test.csv\n"), adHoc)
        XCTAssertTrue(adHoc.contains("  accuracy: "), adHoc)
        XCTAssertNil(try? JSONSerialization.jsonObject(with: Data(adHoc.utf8)))
        let adHocJSON = json(ok("eval", "--model", "m.mlmodel", "--data", "iris_test.csv", "--json")) as? [String: Any] ?? [:]
        XCTAssertEqual(adHocJSON["accuracy"] as? Double, ej["accuracy"] as? Double)
        ok("add", ".")
        _ = commit("evaluated")
        let atRev = ok("eval", "--rev", "HEAD")
        XCTAssertTrue(atRev.hasPrefix("Evaluated HEAD's model on HEAD's data (stage eval; nothing written)\n"), atRev)
        XCTAssertTrue(atRev.contains("  accuracy: "), atRev)
        let trained = json(ok("train", "--rev", "HEAD", "--json")) as? [String: Any] ?? [:]
        XCTAssertEqual(trained["commit"] as? String, revParse("HEAD"))
        XCTAssertEqual(trained["wrote"] as? [String], ["m.mlmodel", "train.json"])
    }
}
