import Foundation
import XCTest
import TestHelpers

/// ML history across a merge commit (docs/merge-history.md): the merge carries the runs of
/// both sides that still describe its files, a stage whose inputs changed through the merge
/// is stale and `repro` re-runs it; `exp show`, `metrics diff`, `params diff`, `lineage`
/// and `rev-parse REV^2` handle two parents.
///
/// Merge commits are made as `mlrepo merge` concludes one: the merged files are brought into
/// the work tree and staged, `.mlrepo/MERGE_HEAD` names the other side, then `commit`.
final class MergeHistoryTests: CLITestCase {

    // MARK: Fixtures

    static let rawCSV = "id,x\n1,2\n2,3\n3,5\n"
    static let featurizeScript = "awk -F, 'NR > 1 {print $1 \",\" $2 * 2}' data/raw.csv > data/features.csv\n"
    static let trainScript = #"""
    lr=$(sed -n 's/.*"lr": *\([0-9.]*\).*/\1/p' params.json)
    n=$(awk 'END {print NR}' data/features.csv)
    printf 'model lr=%s n=%s\n' "$lr" "$n" > model.bin
    awk -v lr="$lr" -v n="$n" 'BEGIN {printf "{\"score\": %g}\n", lr * n}' > metrics.json

    """#
    /// featurize → train, and an independent report stage over notes.txt.
    static let pipelineJSON = """
    {"stages": {
      "featurize": {"cmd": "sh src/featurize.sh", "deps": ["data/raw.csv", "src/featurize.sh"], "outs": ["data/features.csv"]},
      "train": {"cmd": "sh src/train.sh", "deps": ["data/features.csv", "src/train.sh"],
                "params": ["train.lr"], "outs": ["model.bin"], "metrics": ["metrics.json"]},
      "report": {"cmd": "tr a-z A-Z < notes.txt > report.txt", "deps": ["notes.txt"], "outs": ["report.txt"]}
    }}

    """

    func params(_ lr: String) -> String { "{\"train\": {\"lr\": \(lr)}}\n" }

    /// The base commit: every stage run and committed on main.
    func makeBase() -> String {
        ok("init")
        write("data/raw.csv", Self.rawCSV)
        write("src/featurize.sh", Self.featurizeScript)
        write("src/train.sh", Self.trainScript)
        write("params.json", params("0.5"))
        write("notes.txt", "first notes\n")
        write("mlrepo.json", Self.pipelineJSON)
        ok("repro")
        return commit("base")
    }

    /// Concludes a merge of `theirs` into the current branch the way `mlrepo merge` does:
    /// `files` (path → text) are the merged content, staged; MERGE_HEAD names `theirs`.
    @discardableResult
    func mergeCommit(_ theirs: String, files: [String: String], message: String) -> (id: String, err: String) {
        for (p, t) in files { write(p, t) }
        ok("add", ".")
        let id = ok("rev-parse", theirs).trimmingCharacters(in: .whitespacesAndNewlines)
        write(".mlrepo/MERGE_HEAD", id + "\n")
        let r = runResult(["commit", "-m", message])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertFalse(exists(".mlrepo/MERGE_HEAD"), "the merge state is cleared")
        return (r.out.trimmingCharacters(in: .whitespacesAndNewlines), r.err)
    }

    func json(_ s: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(s.utf8)) }

    /// stage → record id of `exp show --json` rows, by commit id.
    func runsByCommit(_ rev: String = "HEAD") -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for r in (json(ok("exp", "show", rev, "--json")) as? [[String: Any]]) ?? [] {
            out[r["id"] as? String ?? "?"] = r["runs"] as? [String: String] ?? [:]
        }
        return out
    }

    func revParse(_ rev: String) -> String { ok("rev-parse", rev).trimmingCharacters(in: .whitespacesAndNewlines) }

    // MARK: Each side runs a different stage: the merge carries both sides' runs

    func testMergeCarriesTheRunsOfBothSidesThatStillMatch() throws {
        let base = makeBase()
        ok("branch", "tune")
        // main: new notes, so only `report` runs again; a hand-set kind.
        write("notes.txt", "second notes\n")
        XCTAssertTrue(ok("repro").contains("Running stage 'report'"))
        ok("add", "--kind", "labels", "data/raw.csv")
        let ours = commit("notes")
        // tune: a new learning rate, so only `train` runs again; hand-set kinds, one clashing.
        ok("checkout", "tune")
        write("params.json", params("0.25"))
        let r = ok("repro")
        XCTAssertTrue(r.contains("Running stage 'train'") && !r.contains("Running stage 'report'"), r)
        ok("add", "--kind", "dataset", "data/raw.csv")
        ok("add", "--kind", "code", "notes.txt")
        let theirs = commit("lr 0.25")
        let runs = runsByCommit("tune")
        let trainTheirs = try XCTUnwrap(runs[theirs]?["train"])
        let reportBase = try XCTUnwrap(runs[base]?["report"])
        XCTAssertNotEqual(trainTheirs, runs[base]?["train"])

        ok("checkout", "main")
        let reportOurs = try XCTUnwrap(runsByCommit()[ours]?["report"])
        XCTAssertNotEqual(reportOurs, reportBase)
        // The merged files: ours' notes and report, theirs' params, model and metrics.
        let merged: [String: String] = [
            "params.json": params("0.25"),
            "model.bin": "model lr=0.25 n=3\n",
            "metrics.json": "{\"score\": 0.75}\n",
        ]
        XCTAssertEqual(text("model.bin"), "model lr=0.5 n=3\n")
        let (m, err) = mergeCommit("tune", files: merged, message: "merge tune")
        XCTAssertTrue(isHexId(m), m)
        XCTAssertFalse(err.contains("warning"), "every stage's run still matches: \(err)")

        // rev-parse across the merge.
        XCTAssertEqual(revParse("HEAD^1"), ours)
        XCTAssertEqual(revParse("HEAD~1"), ours)
        XCTAssertEqual(revParse("HEAD^2"), theirs)
        XCTAssertEqual(revParse("HEAD^2~1"), base)
        XCTAssertEqual(revParse("HEAD^2^"), base)
        XCTAssertEqual(revParse("\(String(m.prefix(8)))^2"), theirs)
        XCTAssertTrue(fails(1, "rev-parse", "HEAD^3").err.contains("has no parent 3"))
        XCTAssertTrue(fails(1, "rev-parse", "HEAD^^2").err.contains("has no parent 2"), "ours has one parent")

        // The merge holds ours' report run, theirs' train run and the shared featurize run.
        let all = runsByCommit()
        XCTAssertEqual(all[m]?["report"], reportOurs)
        XCTAssertEqual(all[m]?["train"], trainTheirs)
        XCTAssertEqual(all[m]?["featurize"], runs[base]?["featurize"])
        let show = ok("show", "HEAD")
        XCTAssertTrue(show.contains("Parent: \(ours)\nParent: \(theirs)\n"), show)
        XCTAssertTrue(show.contains("train (record \(trainTheirs.prefix(12)))"), show)
        XCTAssertTrue(show.contains("Metrics: metrics.json: score=0.75"), show)
        // Nothing is stale: repro re-runs nothing.
        let again = ok("repro")
        XCTAssertFalse(again.contains("Running stage"), again)

        // exp show: the merge, both sides and the base, each once, newest first.
        let rows = (json(ok("exp", "show", "--json")) as? [[String: Any]]) ?? []
        let ids = rows.compactMap { $0["id"] as? String }
        XCTAssertEqual(ids.count, 4, "\(ids)")
        XCTAssertEqual(Set(ids), [m, ours, theirs, base])
        XCTAssertEqual(ids.first, m)
        XCTAssertEqual(ids.last, base)
        let table = ok("exp", "show")
        XCTAssertEqual(table.components(separatedBy: "merge tune").count - 1, 1, table)

        // metrics and params diff across the merge.
        let mdOurs = json(ok("metrics", "diff", "HEAD^1", "HEAD", "--json")) as? [String: Any]
        let score = (mdOurs?["metrics.json"] as? [String: Any])?["score"] as? [String: Any]
        XCTAssertEqual(score?["old"] as? Double, 1.5)
        XCTAssertEqual(score?["new"] as? Double, 0.75)
        XCTAssertEqual(ok("metrics", "diff", "HEAD^2", "HEAD", "--json").trimmingCharacters(in: .whitespacesAndNewlines), "{}")
        let pd = json(ok("params", "diff", "HEAD^1", "HEAD", "--json")) as? [String: Any]
        let lr = (pd?["params.json"] as? [String: Any])?["train.lr"] as? [String: Any]
        XCTAssertEqual(lr?["old"] as? Double, 0.5)
        XCTAssertEqual(lr?["new"] as? Double, 0.25)
        XCTAssertTrue(ok("metrics", "diff", "HEAD^2~1", "HEAD^2").contains("score"))

        // lineage of the merge commit: the model comes from theirs' run, first recorded there.
        let up = json(ok("lineage", "model.bin", "--rev", "HEAD", "--json")) as? [String: Any]
        let by = up?["produced_by"] as? [String: Any]
        XCTAssertEqual(by?["stage"] as? String, "train")
        XCTAssertEqual(by?["record"] as? String, trainTheirs)
        XCTAssertEqual(by?["recorded_in"] as? String, theirs, "found through the second parent")
        let rep = (json(ok("lineage", "report.txt", "--rev", "HEAD", "--json")) as? [String: Any])?["produced_by"] as? [String: Any]
        XCTAssertEqual(rep?["record"] as? String, reportOurs)
        XCTAssertEqual(rep?["recorded_in"] as? String, ours)
        XCTAssertTrue(ok("lineage", "model.bin", "--rev", "HEAD").contains("└─ stage train (recorded in \(theirs.prefix(12))"),
                      ok("lineage", "model.bin", "--rev", "HEAD"))
        // Downstream from the base's raw data reaches the merge commit too.
        let down = json(ok("lineage", "data/raw.csv", "--rev", base, "--downstream", "--json")) as? [String: Any]
        let derived = (down?["derived"] as? [[String: Any]]) ?? []
        let modelHolders = derived.first { ($0["path"] as? String) == "model.bin" && ($0["record"] as? String) == trainTheirs }?["commits"] as? [String]
        XCTAssertEqual(modelHolders, [theirs, m])

        // log --kind model: the merge took theirs' model unchanged, so it is not listed;
        // log -- PATH... the same; a merge that differs from both parents is.
        func subjects(_ args: [String]) -> [String] {
            runResult(["log", "--oneline"] + args).out.split(separator: "\n").map { String($0.split(separator: " ")[1]) }
        }
        // (report.txt, a stage output, is of kind model too; commits share a second, so sets.)
        XCTAssertEqual(Set(subjects(["--kind", "model"])), ["lr", "notes", "base"])
        XCTAssertEqual(Set(subjects(["--", "model.bin"])), ["lr", "base"])
        let both = subjects(["--", "report.txt", "model.bin"])
        XCTAssertEqual(Set(both), ["merge", "notes", "lr", "base"])
        XCTAssertEqual(both.first, "merge")

        // Hand-set kinds of both sides: ours wins the clash, theirs' other kind is kept.
        let raw = json(ok("lineage", "data/raw.csv", "--rev", "HEAD", "--json")) as? [String: Any]
        XCTAssertEqual(raw?["kind"] as? String, "labels")
        let notes = json(ok("lineage", "notes.txt", "--rev", "HEAD", "--json")) as? [String: Any]
        XCTAssertEqual(notes?["kind"] as? String, "code")
    }

    // MARK: An input changed through the merge: the stage is stale and repro re-runs it

    func testStageWhoseInputChangedThroughTheMergeIsStaleAndReproRerunsIt() throws {
        let base = makeBase()
        ok("branch", "tune")
        // main: a fourth row, so featurize and train run again (lr 0.5).
        write("data/raw.csv", Self.rawCSV + "4,7\n")
        let r1 = ok("repro")
        XCTAssertTrue(r1.contains("Running stage 'featurize'") && r1.contains("Running stage 'train'"), r1)
        let ours = commit("more data")
        // tune: lr 0.25 on the old rows.
        ok("checkout", "tune")
        write("params.json", params("0.25"))
        ok("repro")
        let theirs = commit("lr 0.25")
        let runs = runsByCommit("tune").merging(runsByCommit("main")) { a, _ in a }
        ok("checkout", "main")
        XCTAssertEqual(text("model.bin"), "model lr=0.5 n=4\n")
        // Merged: ours' data, features, model and metrics (the conflict kept ours), theirs' params.
        let (m, err) = mergeCommit("tune", files: ["params.json": params("0.25")], message: "merge tune")
        // featurize (ours' run still matches) is recorded; train matches neither side.
        XCTAssertTrue(err.contains("warning: no lineage recorded for stage 'train'"), err)
        XCTAssertFalse(err.contains("stage 'featurize'") || err.contains("stage 'report'"), err)
        let atMerge = runsByCommit()[m] ?? [:]
        XCTAssertEqual(atMerge["featurize"], runs[ours]?["featurize"])
        XCTAssertEqual(atMerge["report"], runs[base]?["report"])
        XCTAssertNil(atMerge["train"])
        XCTAssertNotNil(runs[theirs]?["train"])
        // lineage of the merge's model: no run of this commit wrote it.
        let up = json(ok("lineage", "model.bin", "--rev", "HEAD", "--json")) as? [String: Any]
        XCTAssertTrue(up?["produced_by"] is NSNull, "\(String(describing: up))")

        // repro --dry-run and repro see train as stale, with the reason, and only train.
        let dry = ok("repro", "--dry-run")
        XCTAssertTrue(dry.contains("would run stage train (not recorded by merge commit \(m.prefix(12))"), dry)
        XCTAssertTrue(dry.contains("through the merge"), dry)
        XCTAssertTrue(dry.contains("stage featurize is up to date"), dry)
        let rr = ok("repro")
        XCTAssertTrue(rr.contains("Running stage 'train'") && !rr.contains("Running stage 'featurize'"), rr)
        XCTAssertEqual(text("model.bin"), "model lr=0.25 n=4\n")
        XCTAssertEqual(text("metrics.json"), "{\"score\": 1}\n")
        let after = commit("retrain after merge")
        let rec = runsByCommit()[after] ?? [:]
        XCTAssertNotNil(rec["train"])
        XCTAssertNotEqual(rec["train"], runs[theirs]?["train"])
        XCTAssertNotEqual(rec["train"], runs[ours]?["train"])
        XCTAssertEqual(rec["featurize"], runs[ours]?["featurize"])
        XCTAssertTrue(ok("repro", "--dry-run").contains("stage train is up to date"))
        // metrics diff from each side to the retrained commit.
        let d = json(ok("metrics", "diff", "HEAD~1^2", "HEAD", "--json")) as? [String: Any]
        let score = (d?["metrics.json"] as? [String: Any])?["score"] as? [String: Any]
        XCTAssertEqual(score?["old"] as? Double, 0.75)
        XCTAssertEqual(score?["new"] as? Double, 1)
    }

    // MARK: A merge in progress: the merged side's runs count before the commit

    func testMergeInProgressCountsTheMergedSidesRuns() throws {
        _ = makeBase()
        ok("branch", "tune")
        ok("checkout", "tune")
        write("params.json", params("0.25"))
        ok("repro")
        commit("lr 0.25")
        ok("checkout", "main")
        // Bring theirs' files in; before the commit, train is up to date with theirs' run.
        write("params.json", params("0.25"))
        write("model.bin", "model lr=0.25 n=3\n")
        write("metrics.json", "{\"score\": 0.75}\n")
        XCTAssertTrue(ok("repro", "--dry-run").contains("would run stage train"), "not merging yet: HEAD's run is stale")
        write(".mlrepo/MERGE_HEAD", revParse("tune") + "\n")
        XCTAssertTrue(ok("repro", "--dry-run").contains("stage train is up to date"))
        let lin = ok("lineage", "model.bin")
        XCTAssertTrue(lin.contains("stage train (recorded in \(revParse("tune").prefix(12))"), lin)
    }
}
