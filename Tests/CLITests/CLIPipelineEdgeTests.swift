import Foundation
import XCTest

/// Edge cases of pipelines and lineage found in review: runs that no longer match, folder
/// inputs and outputs, canonical numbers, params files as inputs, deletions in log --kind.
final class CLIPipelineEdgeTests: CLITestCase {
    func obj(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> [String: Any] {
        guard let o = try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any] else {
            XCTFail("not a JSON object: \(s)", file: file, line: line); return [:]
        }
        return o
    }

    func headRuns() -> [String: String] {
        let rows = (try? JSONSerialization.jsonObject(with: Data(ok("exp", "show", "--json", "-n", "1").utf8))) as? [[String: Any]]
        return rows?.first?["runs"] as? [String: String] ?? [:]
    }

    func project(_ s: String) { write("mlrepo.json", s) }

    func testCommitRecordsARunOnlyWhenCommandAndParamsStillMatch() {
        ok("init")
        project(#"{"stages":{"train":{"cmd":"cat params.json > model.bin","params":["lr"],"outs":["model.bin"]}}}"#)
        write("params.json", #"{"lr": 0.1}"#)
        ok("repro")
        _ = commit("c1")
        XCTAssertEqual(Set(headRuns().keys), ["train"])
        // Params edited and staged without re-running: the run no longer describes the commit.
        write("params.json", #"{"lr": 0.5}"#)
        ok("add", "params.json")
        let r = runResult(["commit", "-m", "c2"])
        XCTAssertEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("no lineage recorded for stage 'train': params changed: lr"), r.err)
        XCTAssertEqual(headRuns(), [:])
        // The command edited instead.
        ok("repro")
        _ = commit("c3")
        project(#"{"stages":{"train":{"cmd":"cat params.json params.json > model.bin","params":["lr"],"outs":["model.bin"]}}}"#)
        ok("add", "mlrepo.json")
        XCTAssertTrue(runResult(["commit", "-m", "c4"]).err.contains("its command changed"))
        XCTAssertEqual(headRuns(), [:])
    }

    func testAnAbandonedRunDoesNotHideHEADsRun() {
        ok("init")
        project(#"{"stages":{"train":{"cmd":"cat params.json > model.bin","params":["lr"],"outs":["model.bin"]}}}"#)
        write("params.json", #"{"lr": 0.1}"#)
        ok("repro")
        _ = commit("c1")
        let run1 = headRuns()["train"]
        write("params.json", #"{"lr": 0.5}"#)
        ok("repro")                       // an experiment...
        ok("reset", "--hard", "HEAD")     // ...thrown away
        XCTAssertEqual(ok("repro", "--dry-run"), "stage train is up to date\n")
        let lin = obj(ok("lineage", "model.bin", "--json"))
        XCTAssertEqual((lin["produced_by"] as? [String: Any])?["record"] as? String, run1)
        XCTAssertNil(lin["note"])
        write("n.json", "{}")
        ok("add", "n.json")
        let r = runResult(["commit", "-m", "c2"])
        XCTAssertEqual(r.err, "")
        XCTAssertEqual(headRuns()["train"], run1)
        ok("repro", "--verify")
    }

    func testFloatSpelledIntegersAreTheSameParam() {
        ok("init")
        project(#"{"stages":{"train":{"cmd":"cat params.json > model.bin","params":["lr","epochs"],"outs":["model.bin"]}}}"#)
        write("params.json", #"{"lr": 1.0, "epochs": 10, "neg": -0.0}"#)
        XCTAssertTrue(ok("repro").contains("Running stage 'train'"))
        XCTAssertEqual(ok("repro"), "stage train is up to date\n")
        _ = commit("c1")
        XCTAssertEqual(Set(headRuns().keys), ["train"])
    }

    func testFolderInputsAndOutputs() {
        ok("init")
        project(#"""
        {"stages":{
          "feat":{"cmd":"mkdir -p data && cat raw.csv > data/features.csv","deps":["raw.csv"],"outs":["data/features.csv"]},
          "train":{"cmd":"mkdir -p models && cat data/*.csv > models/m.bin","deps":["data"],"outs":["models"]}
        }}
        """#)
        write("raw.csv", "a,b\n1,2\n")
        write("data/labels.csv", "y\n1\n")
        // The folder input is made (in part) by an upstream stage: no missing-dependency error.
        let first = ok("repro")
        XCTAssertTrue(first.contains("Running stage 'feat'") && first.contains("Running stage 'train'"), first)
        XCTAssertEqual(ok("repro"), "stage feat is up to date\nstage train is up to date\n")
        _ = commit("c1")

        // Upstream from the model reaches raw.csv through the folder's part.
        let up = obj(ok("lineage", "models/m.bin", "--json"))
        let step = up["produced_by"] as? [String: Any]
        XCTAssertEqual(step?["stage"] as? String, "train")
        let data = (step?["inputs"] as? [[String: Any]])?.first
        XCTAssertEqual(data?["path"] as? String, "data")
        let part = (data?["contains"] as? [[String: Any]])?.first
        XCTAssertEqual(part?["path"] as? String, "data/features.csv")
        XCTAssertEqual(part?["kind"] as? String, "features")
        XCTAssertEqual(((part?["produced_by"] as? [String: Any])?["stage"]) as? String, "feat")

        // Downstream through a folder input, from a file inside it and from upstream data.
        let d1 = obj(ok("lineage", "data/labels.csv", "--downstream", "--json"))
        XCTAssertEqual((d1["derived"] as? [[String: Any]])?.map { $0["path"] as? String }, ["models"])
        XCTAssertEqual((d1["derived"] as? [[String: Any]])?.first?["input"] as? String, "data")
        let d2 = obj(ok("lineage", "raw.csv", "--downstream", "--json"))
        XCTAssertEqual((d2["derived"] as? [[String: Any]])?.map { $0["path"] as? String }, ["data/features.csv", "models"])
        XCTAssertTrue(ok("lineage", "raw.csv", "--downstream", "--dot").contains("\"data/features.csv@"))

        // A hand-edited file inside an output folder is not claimed by the run.
        write("models/m.bin", "HAND\n")
        let hand = obj(ok("lineage", "models/m.bin", "--json"))
        XCTAssertTrue(hand["produced_by"] is NSNull)
        XCTAssertTrue((hand["note"] as? String)?.contains("not written by the recorded run") == true)

        // A stale file in an output folder is removed before the stage runs again, when the
        // store holds its content; an unsaved edit is left alone.
        ok("checkout", "-f", "--", "models/m.bin")
        project(#"""
        {"stages":{
          "feat":{"cmd":"mkdir -p data && cat raw.csv > data/features.csv","deps":["raw.csv"],"outs":["data/features.csv"]},
          "train":{"cmd":"mkdir -p models && cat data/*.csv > models/other.bin","deps":["data"],"outs":["models"]}
        }}
        """#)
        ok("repro")
        XCTAssertFalse(exists("models/m.bin"), "the old output (its content is in the store) is gone")
        XCTAssertTrue(exists("models/other.bin"))
        _ = commit("c2")
        XCTAssertTrue(ok("repro", "--verify").contains("all 2 output(s) bit-identical"))
    }

    func testIgnoredFilesInFolders() {
        ok("init")
        project(#"{"stages":{"train":{"cmd":"mkdir -p models && cat data/*.csv > models/m.bin && echo log > models/train.log","deps":["data"],"outs":["models"]}}}"#)
        write("data/raw.csv", "a\n")
        write("data/x.tmp", "tracked scratch\n")
        ok("add", "data")
        _ = commit("c0")
        write(".mlrepoignore", "*.tmp\n*.log\n")
        ok("add", ".mlrepoignore")
        ok("repro")
        // The tracked-but-ignored data/x.tmp stays part of the folder: no endless re-runs.
        XCTAssertEqual(ok("repro", "--dry-run"), "stage train is up to date\n")
        _ = commit("c1")
        // The ignored log in the output folder is not part of the output, here or in verify.
        XCTAssertTrue(ok("repro", "--verify").contains("models: bit-identical"))
    }

    func testParamsFileDownstreamAndLogKindDeletions() {
        ok("init")
        project(#"{"stages":{"train":{"cmd":"cat params.json > model.bin","params":["lr"],"outs":["model.bin"]}}}"#)
        write("params.json", #"{"lr": 0.1, "other": 1}"#)
        ok("repro")
        _ = commit("c1")
        let up = obj(ok("lineage", "params.json", "--json"))
        XCTAssertEqual(up["kind"] as? String, "params")
        XCTAssertTrue((up["note"] as? String)?.contains("read by stage(s) train") == true)
        let down = obj(ok("lineage", "params.json", "--downstream", "--json"))
        XCTAssertEqual((down["derived"] as? [[String: Any]])?.map { $0["path"] as? String }, ["model.bin"])
        // A different value of a key the stage reads: nothing was derived from this version.
        write("params.json", #"{"lr": 0.2, "other": 1}"#)
        XCTAssertEqual((obj(ok("lineage", "params.json", "--downstream", "--json"))["derived"] as? [Any])?.count, 0)
        // An unread key does not matter.
        write("params.json", #"{"lr": 0.1, "other": 2}"#)
        XCTAssertEqual((obj(ok("lineage", "params.json", "--downstream", "--json"))["derived"] as? [Any])?.count, 1)

        write("y.dat", "labels\n")
        ok("add", "--kind", "labels", "y.dat")
        let added = commit("labels")
        ok("rm", "y.dat")
        let removed = commit("drop labels")
        XCTAssertEqual(ok("log", "--kind", "labels", "--oneline"),
                       "\(removed.prefix(12)) drop labels (y.dat)\n\(added.prefix(12)) labels (y.dat)\n")
    }

    func testExpShowColumnNamesAreUniqueAndSortKeysUnambiguous() {
        ok("init")
        project(#"{"stages":{"s":{"cmd":"true","params":["epochs"],"metrics":["ma.json","mb.json"]}}}"#)
        write("params.json", #"{"epochs": 3}"#)
        write("ma.json", #"{"acc": 0.5}"#)
        write("mb.json", #"{"acc": 0.7, "epochs": 2}"#)
        ok("add", ".")
        _ = commit("c1")
        let header = ok("exp", "show").split(separator: "\n").first.map(String.init) ?? ""
        let cols = header.split(separator: " ").map(String.init)
        XCTAssertEqual(cols.filter { $0.contains("acc") }, ["ma.json:acc", "mb.json:acc"])
        XCTAssertEqual(cols.filter { $0.contains("epochs") }, ["mb.json:epochs", "params.json:epochs"])
        XCTAssertEqual(Set(cols).count, cols.count, "column names are unique: \(header)")
        XCTAssertTrue(fails(1, "exp", "show", "--sort-by", "acc").err.contains("'acc' is ambiguous"))
        ok("exp", "show", "--sort-by", "mb.json:acc")
    }

    func testProfileOfExtremeValuesTerminates() {
        ok("init")
        write("b.csv", "x\n1.7e308\n-1.7e308\n")
        let out = ok("profile", "b.csv")
        XCTAssertTrue(out.contains("2 rows"), out)
        XCTAssertTrue(ok("profile", "b.csv", "--json").contains("\"rows\": 2"))
    }
}
