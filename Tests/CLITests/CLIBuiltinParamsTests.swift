import Foundation
import XCTest

/// A built-in stage's hyperparameters are params of the stage, under `mlrepo.json` as
/// `STAGE.NAME`: `params diff`, `repro`'s reason, `exp show` and `lineage` show them.
final class CLIBuiltinParamsTests: CLITestCase {
    func project(c: String) -> String {
        """
        {"stages": {
          "train": {"train": {"model": "logistic_regression", "data": "iris_train.csv", "label": "species",
                              "params": {"C": \(c), "max_iter": 50}},
                    "outs": ["models/iris.mlmodel"], "metrics": ["train.json"]},
          "evaluate": {"eval": {"model": "models/iris.mlmodel", "data": "iris_test.csv"}, "metrics": ["eval.json"]}
        }}
        """
    }

    func testHyperparametersAreParamsOfTheStage() throws {
        ok("init")
        let fixtures = Self.packageRoot.appendingPathComponent("Tests/Fixtures/datasets")
        for part in ["train", "test"] {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent("iris_\(part).csv"), to: url("iris_\(part).csv"))
        }
        write("mlrepo.json", project(c: "1"))
        ok("repro")
        let c1 = commit("C=1")
        XCTAssertEqual(ok("repro"), "stage train is up to date\nstage evaluate is up to date\n")

        // Changing C: repro names the param, not "its command changed".
        write("mlrepo.json", project(c: "0.01"))
        XCTAssertEqual(ok("repro", "--dry-run"),
                       "would run stage train (params changed: train.C)\nwould run stage evaluate (upstream stage 'train' will run)\n")
        XCTAssertEqual(ok("params", "diff"),
                       "Path         Param    HEAD  workspace  Change\nmlrepo.json  train.C  1     0.01       -0.99\n")
        let r = ok("repro")
        XCTAssertTrue(r.hasPrefix("Running stage 'train' (params changed: train.C):\n"), r)
        XCTAssertFalse(r.contains("command changed"), r)
        let c2 = commit("C=0.01")

        // params diff between the two commits.
        XCTAssertEqual(ok("params", "diff", "HEAD~1", "HEAD"),
                       "Path         Param    HEAD~1  HEAD  Change\nmlrepo.json  train.C  1       0.01  -0.99\n")
        let pd = json(ok("params", "diff", "HEAD~1", "HEAD", "--json")) as? [String: [String: [String: Any]]]
        XCTAssertEqual(pd?["mlrepo.json"]?["train.C"]?["old"] as? Double, 1)
        XCTAssertEqual(pd?["mlrepo.json"]?["train.C"]?["new"] as? Double, 0.01)
        XCTAssertNil(pd?["mlrepo.json"]?["train.max_iter"], "unchanged rows only")
        XCTAssertTrue(ok("params", "diff", c1, c2, "--all").contains("mlrepo.json  train.max_iter  50"))

        // exp show: a column per hyperparameter, read from the commit metadata.
        let rows = json(ok("exp", "show", "--json")) as? [[String: Any]] ?? []
        XCTAssertEqual(rows.map { $0["id"] as? String }, [c2, c1])
        let cs = rows.map { (($0["params"] as? [String: Any])?["mlrepo.json"] as? [String: Double]) }
        XCTAssertEqual(cs, [["train.C": 0.01, "train.max_iter": 50], ["train.C": 1, "train.max_iter": 50]])
        let table = ok("exp", "show")
        XCTAssertTrue(table.split(separator: "\n").first?.contains("train.C") == true, table)

        // lineage: the run that wrote the model, with its hyperparameters.
        let lin = json(ok("lineage", "models/iris.mlmodel", "--json")) as? [String: Any]
        let step = lin?["produced_by"] as? [String: Any]
        XCTAssertEqual(step?["params"] as? [String: [String: Double]], ["mlrepo.json": ["train.C": 0.01, "train.max_iter": 50]])
        XCTAssertTrue(ok("lineage", "models/iris.mlmodel").contains("params mlrepo.json: train.C=0.01, train.max_iter=50"))
        // The project file's downstream: the models its hyperparameters trained.
        let down = ok("lineage", "mlrepo.json", "--downstream")
        XCTAssertTrue(down.contains("models/iris.mlmodel"), down)

        // Another field of the spec is still the command.
        write("mlrepo.json", project(c: "0.01").replacingOccurrences(of: "\"label\": \"species\"", with: "\"label\": \"species\", \"seed\": 3"))
        XCTAssertEqual(ok("repro", "--dry-run").split(separator: "\n").first, "would run stage train (its command changed)")
    }
}
