import Foundation
import XCTest
import TestHelpers

/// End to end through the real binary: mlrepo.json pipelines (run, repro), params and metrics
/// diffs, exp show, lineage, log --kind, failures and errors, repro --verify, gc with records.
/// Stage commands use only /bin/sh, awk, sed, sort, od and date.
final class CLIPipelineTests: CLITestCase {

    // MARK: Fixtures

    static let rawCSV = "id,x\n1,2\n2,3\n3,5\n"

    /// featurize: awk doubles column x of data/raw.csv into data/features.csv.
    static let featurizeScript = """
    awk -F, 'NR > 1 {print $1 "," $2 * 2}' data/raw.csv > data/features.csv

    """

    /// train: lr from params.json (sed), rows and sum of the features (awk) → model.bin and
    /// metrics.json {"train": {"loss": lr, "rows": n}, "score": lr * n}.
    static let trainScript = #"""
    lr=$(sed -n 's/.*"lr": *\([0-9.]*\).*/\1/p' params.json)
    n=$(awk 'END {print NR}' data/features.csv)
    s=$(awk -F, '{s += $2} END {print s}' data/features.csv)
    printf 'model lr=%s n=%s sum=%s\n' "$lr" "$n" "$s" > model.bin
    awk -v lr="$lr" -v n="$n" 'BEGIN {printf "{\"train\": {\"loss\": %s, \"rows\": %d}, \"score\": %g}\n", lr, n, lr * n}' > metrics.json

    """#

    static let pipelineJSON = """
    {"stages": {
      "featurize": {"cmd": "sh src/featurize.sh", "deps": ["data/raw.csv", "src/featurize.sh"], "outs": ["data/features.csv"]},
      "train": {"cmd": "sh src/train.sh", "deps": ["data/features.csv", "src/train.sh"],
                "params": ["train.lr"], "outs": ["model.bin"], "metrics": ["metrics.json"]}
    }}

    """

    func params(lr: String, epochs: Int = 3) -> String { "{\"train\": {\"lr\": \(lr), \"epochs\": \(epochs)}}\n" }

    /// A fresh repository holding the two-stage pipeline, nothing run yet.
    func makePipeline() {
        ok("init")
        write("data/raw.csv", Self.rawCSV)
        write("src/featurize.sh", Self.featurizeScript)
        write("src/train.sh", Self.trainScript)
        write("params.json", params(lr: "0.5"))
        write("mlrepo.json", Self.pipelineJSON)
    }

    /// Three commits: c1 lr 0.5 on 3 rows, c2 lr 0.25, c3 a fourth row in data/raw.csv.
    /// Scores: 1.5, 0.75, 1. With `spacedDates` the commits are a minute apart.
    func makeHistory(spacedDates: Bool = false) -> (String, String, String) {
        func date(_ i: Int) { if spacedDates { env["MLREPO_AUTHOR_DATE"] = String(1_800_000_000 + 60 * i) } }
        makePipeline()
        ok("repro")
        date(1)
        let c1 = commit("baseline")
        write("params.json", params(lr: "0.25"))
        ok("repro")
        date(2)
        let c2 = commit("lr 0.25")
        write("data/raw.csv", Self.rawCSV + "4,7\n")
        ok("repro")
        date(3)
        let c3 = commit("more data")
        env["MLREPO_AUTHOR_DATE"] = nil
        return (c1, c2, c3)
    }

    func obj(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> [String: Any] {
        guard let o = json(s, file: file, line: line) as? [String: Any] else {
            XCTFail("not a JSON object: \(s)", file: file, line: line); return [:]
        }
        return o
    }

    func arr(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> [[String: Any]] {
        guard let a = json(s, file: file, line: line) as? [[String: Any]] else {
            XCTFail("not a JSON array of objects: \(s)", file: file, line: line); return []
        }
        return a
    }

    /// The id the store gives the work-tree file at `rel`.
    func hashObject(_ rel: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        ok("hash-object", rel, file: file, line: line).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// path → id of every file of `rev` (ls-tree -r: mode, kind, id, size, path).
    func treeIds(_ rev: String, file: StaticString = #filePath, line: UInt = #line) -> [String: String] {
        var out: [String: String] = [:]
        for l in ok("ls-tree", "-r", rev, file: file, line: line).split(separator: "\n") {
            let f = l.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if f.count >= 5 { out[String(f[4])] = String(f[2]) }
        }
        return out
    }

    /// The `runs` of `exp show --json` for each commit id.
    func runsByCommit(file: StaticString = #filePath, line: UInt = #line) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for r in arr(ok("exp", "show", "--json", file: file, line: line), file: file, line: line) {
            out[r["id"] as? String ?? "?"] = r["runs"] as? [String: String] ?? [:]
        }
        return out
    }

    /// `{"old", "new", "diff"}` entries of a diff --json as (old, new, diff) with NSNull → nil.
    func change(_ o: [String: Any], _ path: String, _ key: String) -> (old: Any?, new: Any?, diff: Any?)? {
        guard let e = (o[path] as? [String: Any])?[key] as? [String: Any] else { return nil }
        XCTAssertEqual(Set(e.keys), ["old", "new", "diff"])
        func v(_ x: Any?) -> Any? { x is NSNull ? nil : x }
        return (v(e["old"]), v(e["new"]), v(e["diff"]))
    }

    func assertOneLineError(_ r: RunResult, _ expected: String, prefixOnly: Bool = false, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.code, 1, "exit status; err: \(r.err)", file: file, line: line)
        XCTAssertTrue(r.err.hasSuffix("\n") && r.err.filter { $0 == "\n" }.count == 1, "one line on stderr: \(r.err)", file: file, line: line)
        let got = r.err.trimmingCharacters(in: .newlines)
        if prefixOnly { XCTAssertTrue(got.hasPrefix(expected), "'\(got)' starts with '\(expected)'", file: file, line: line) }
        else { XCTAssertEqual(got, expected, file: file, line: line) }
    }

    // MARK: 1. repro, params/metrics diff, exp show

    func testReproRunsOnlyStaleStagesAndDiffsValues() {
        makePipeline()
        // First repro: both stages, producer first.
        let r1 = ok("repro")
        let f1 = r1.range(of: "Running stage 'featurize' (never run):\n> sh src/featurize.sh\n")
        let t1 = r1.range(of: "Running stage 'train' (never run):\n> sh src/train.sh\n")
        XCTAssertNotNil(f1, r1); XCTAssertNotNil(t1, r1)
        if let f1, let t1 { XCTAssertTrue(f1.lowerBound < t1.lowerBound, "featurize runs before train: \(r1)") }
        XCTAssertTrue(r1.hasSuffix("Use 'mlrepo commit -m MSG' to record the runs in history.\n"), r1)
        XCTAssertEqual(text("data/features.csv"), "1,4\n2,6\n3,10\n")
        XCTAssertEqual(text("model.bin"), "model lr=0.5 n=3 sum=20\n")
        XCTAssertEqual(text("metrics.json"), "{\"train\": {\"loss\": 0.5, \"rows\": 3}, \"score\": 1.5}\n")
        // A run stages what it read and wrote, params file and mlrepo.json included.
        let st = status()
        XCTAssertEqual(st.staged, ["data/raw.csv": "added", "data/features.csv": "added", "src/featurize.sh": "added",
                                   "src/train.sh": "added", "params.json": "added", "mlrepo.json": "added",
                                   "model.bin": "added", "metrics.json": "added"])
        XCTAssertTrue(st.unstaged.isEmpty && st.untracked.isEmpty, "\(st)")
        let c1 = commit("baseline")
        XCTAssertTrue(status().clean)

        // Nothing changed: nothing runs.
        XCTAssertEqual(ok("repro"), "stage featurize is up to date\nstage train is up to date\n")
        XCTAssertEqual(ok("repro", "--dry-run"), "stage featurize is up to date\nstage train is up to date\n")
        // A params key no stage declares does not make train stale, nor shows in params diff.
        write("params.json", params(lr: "0.5", epochs: 9))
        XCTAssertEqual(ok("repro"), "stage featurize is up to date\nstage train is up to date\n")
        XCTAssertEqual(ok("params", "diff", "--json"), "{}\n")
        XCTAssertEqual(ok("params", "diff"), "")

        // Only the declared param changes: only train re-runs.
        write("params.json", params(lr: "0.25"))
        XCTAssertEqual(ok("params", "diff"),
                       "Path         Param     HEAD  workspace  Change\nparams.json  train.lr  0.5   0.25       -0.25\n")
        let pd = obj(ok("params", "diff", "--json"))
        XCTAssertEqual(Set(pd.keys), ["params.json"])
        XCTAssertEqual((pd["params.json"] as? [String: Any]).map { Set($0.keys) }, ["train.lr"])
        if let c = change(pd, "params.json", "train.lr") {
            XCTAssertEqual(c.old as? Double, 0.5); XCTAssertEqual(c.new as? Double, 0.25); XCTAssertEqual(c.diff as? Double, -0.25)
        } else { XCTFail("no train.lr row: \(pd)") }
        XCTAssertEqual(ok("repro", "--dry-run"), "stage featurize is up to date\nwould run stage train (params changed: train.lr)\n")
        XCTAssertEqual(text("model.bin"), "model lr=0.5 n=3 sum=20\n", "--dry-run runs nothing")
        let r2 = ok("repro")
        XCTAssertTrue(r2.hasPrefix("stage featurize is up to date\nRunning stage 'train' (params changed: train.lr):\n> sh src/train.sh\n"), r2)
        XCTAssertFalse(r2.contains("Running stage 'featurize'"), r2)
        XCTAssertEqual(text("model.bin"), "model lr=0.25 n=3 sum=20\n")
        XCTAssertEqual(status().staged, ["params.json": "modified", "model.bin": "modified", "metrics.json": "modified"])
        let c2 = commit("lr 0.25")

        // metrics diff between the two commits: exact values, unchanged keys left out.
        let md = obj(ok("metrics", "diff", "HEAD~1", "HEAD", "--json"))
        XCTAssertEqual((md["metrics.json"] as? [String: Any]).map { Set($0.keys) }, ["score", "train.loss"], "\(md)")
        if let c = change(md, "metrics.json", "score") {
            XCTAssertEqual(c.old as? Double, 1.5); XCTAssertEqual(c.new as? Double, 0.75); XCTAssertEqual(c.diff as? Double, -0.75)
        } else { XCTFail("no score row: \(md)") }
        if let c = change(md, "metrics.json", "train.loss") {
            XCTAssertEqual(c.old as? Double, 0.5); XCTAssertEqual(c.new as? Double, 0.25); XCTAssertEqual(c.diff as? Double, -0.25)
        } else { XCTFail("no train.loss row: \(md)") }
        let mdAll = obj(ok("metrics", "diff", c1, c2, "--all", "--json"))
        if let c = change(mdAll, "metrics.json", "train.rows") {
            XCTAssertEqual(c.old as? Int, 3); XCTAssertEqual(c.new as? Int, 3); XCTAssertEqual(c.diff as? Double, 0)
        } else { XCTFail("--all has the unchanged train.rows: \(mdAll)") }
        XCTAssertEqual(ok("metrics", "diff", "HEAD~1", "HEAD"),
                       "Path          Metric      HEAD~1  HEAD  Change\nmetrics.json  score       1.5     0.75  -0.75\nmetrics.json  train.loss  0.5     0.25  -0.25\n")
        XCTAssertEqual(ok("metrics", "diff", "HEAD~1", "HEAD", "--md"),
                       "| Path | Metric | HEAD~1 | HEAD | Change |\n|---|---|---|---|---|\n| metrics.json | score | 1.5 | 0.75 | -0.75 |\n| metrics.json | train.loss | 0.5 | 0.25 | -0.25 |\n")
        XCTAssertEqual(ok("metrics", "diff"), "", "work tree equals HEAD")
        XCTAssertEqual(ok("metrics", "diff", "--json"), "{}\n")

        // New data: both stages re-run.
        write("data/raw.csv", Self.rawCSV + "4,7\n")
        let r3 = ok("repro")
        XCTAssertTrue(r3.contains("Running stage 'featurize' (dependency 'data/raw.csv' changed):\n"), r3)
        XCTAssertTrue(r3.contains("Running stage 'train' (dependency 'data/features.csv' changed):\n"), r3)
        XCTAssertFalse(r3.contains("up to date"), r3)
        XCTAssertEqual(text("model.bin"), "model lr=0.25 n=4 sum=34\n")
        let c3 = commit("more data")
        XCTAssertEqual(ok("repro"), "stage featurize is up to date\nstage train is up to date\n")

        // metrics show: flattened keys, per revision.
        let show = obj(ok("metrics", "show", "--json"))
        XCTAssertEqual(show["metrics.json"] as? [String: Double], ["score": 1, "train.loss": 0.25, "train.rows": 4])
        let show1 = obj(ok("metrics", "show", c1, "--json"))
        XCTAssertEqual(show1["metrics.json"] as? [String: Double], ["score": 1.5, "train.loss": 0.5, "train.rows": 3])
        let md13 = obj(ok("metrics", "diff", c1, c3, "--json"))
        if let c = change(md13, "metrics.json", "train.rows") {
            XCTAssertEqual(c.old as? Int, 3); XCTAssertEqual(c.new as? Int, 4); XCTAssertEqual(c.diff as? Double, 1)
        } else { XCTFail("\(md13)") }

        // exp show: one row per commit, newest first, values from the commit metadata.
        let exp = arr(ok("exp", "show", "--json"))
        XCTAssertEqual(exp.map { $0["id"] as? String }, [c3, c2, c1])
        XCTAssertEqual(exp.map { $0["message"] as? String }, ["more data", "lr 0.25", "baseline"])
        for e in exp { XCTAssertEqual(Set(e.keys), ["id", "time", "timestamp", "message", "params", "metrics", "runs"]) }
        let scores = exp.map { (($0["metrics"] as? [String: Any])?["metrics.json"] as? [String: Any])?["score"] as? Double }
        XCTAssertEqual(scores, [1, 0.75, 1.5])
        let rows = exp.map { (($0["metrics"] as? [String: Any])?["metrics.json"] as? [String: Any])?["train.rows"] as? Int }
        XCTAssertEqual(rows, [4, 3, 3])
        let lrs = exp.map { (($0["params"] as? [String: Any])?["params.json"] as? [String: Double]) }
        XCTAssertEqual(lrs, [["train.lr": 0.25], ["train.lr": 0.25], ["train.lr": 0.5]])
        let runs = exp.map { $0["runs"] as? [String: String] ?? [:] }
        XCTAssertEqual(runs.map { Set($0.keys) }, [["featurize", "train"], ["featurize", "train"], ["featurize", "train"]])
        XCTAssertEqual(runs[1]["featurize"], runs[2]["featurize"], "featurize did not re-run for c2: same record")
        XCTAssertNotEqual(runs[0]["featurize"], runs[1]["featurize"])
        XCTAssertEqual(Set(runs.compactMap { $0["train"] }).count, 3, "train ran once per commit")
        for r in runs { for v in r.values { XCTAssertTrue(isHexId(v), v) } }

        // Sorting by a metric (or param), either order, with -n after the sort.
        func order(_ args: String...) -> [String?] { arr(runResult(["exp", "show", "--json"] + args).out).map { $0["id"] as? String } }
        XCTAssertEqual(order("--sort-by", "score"), [c2, c3, c1])
        XCTAssertEqual(order("--sort-by", "score", "--sort-order", "desc"), [c1, c3, c2])
        XCTAssertEqual(order("--sort-by", "metrics.json:score", "--sort-order", "asc"), [c2, c3, c1])
        XCTAssertEqual(order("--sort-by", "train.rows", "--sort-order", "desc"), [c3, c2, c1])
        XCTAssertEqual(order("--sort-by", "score", "-n", "2"), [c2, c3])
        XCTAssertEqual(order("-n", "1"), [c3])
        XCTAssertEqual(order("--sort-by", "train.lr", "--sort-order", "desc"), [c1, c3, c2])
        let badSort = fails(1, "exp", "show", "--sort-by", "nosuchmetric")
        XCTAssertTrue(badSort.err.contains("no metric or param named 'nosuchmetric'"), badSort.err)
        let table = ok("exp", "show")
        let lines = table.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, table)
        XCTAssertEqual(lines.first?.split(separator: " ").map(String.init),
                       ["Commit", "Created", "Message", "score", "train.loss", "train.rows", "train.lr"], table)
        XCTAssertTrue(lines.count == 4 && lines[1].hasPrefix(String(c3.prefix(12))) && lines[3].hasPrefix(String(c1.prefix(12))), table)

        // `run` runs a stage whatever its state; an identical result leaves it up to date.
        let rr = ok("run", "featurize")
        XCTAssertTrue(rr.hasPrefix("Running stage 'featurize' (requested):\n"), rr)
        XCTAssertEqual(ok("repro"), "stage featurize is up to date\nstage train is up to date\n")
        // Editing an output by hand makes its stage stale.
        write("model.bin", "tampered\n")
        let r4 = ok("repro", "train")
        XCTAssertTrue(r4.contains("Running stage 'train' (output 'model.bin' was modified):\n"), r4)
        XCTAssertEqual(text("model.bin"), "model lr=0.25 n=4 sum=34\n")
        let forced = ok("repro", "--force")
        XCTAssertTrue(forced.contains("Running stage 'featurize' (forced):") && forced.contains("Running stage 'train' (forced):"), forced)
    }

    // MARK: 2. lineage

    func testLineageUpstreamAndDownstream() {
        // Commits a minute apart, so "oldest first" is well defined by time alone (see
        // testDownstreamCommitsOldestFirstWithinOneSecond for commits made in one second).
        let (c1, c2, c3) = makeHistory(spacedDates: true)
        let runs = runsByCommit()
        guard let run3 = runs[c3], let run2 = runs[c2], let run1 = runs[c1] else { return XCTFail("exp show runs: \(runs)") }

        // Upstream from the model, work tree view (= HEAD).
        let up = obj(ok("lineage", "model.bin", "--json"))
        XCTAssertEqual(up["path"] as? String, "model.bin")
        XCTAssertEqual(up["id"] as? String, hashObject("model.bin"))
        XCTAssertEqual(up["id"] as? String, treeIds("HEAD")["model.bin"])
        XCTAssertEqual(up["kind"] as? String, "model")
        guard let train = up["produced_by"] as? [String: Any] else { return XCTFail("model.bin has a producer: \(up)") }
        XCTAssertEqual(train["stage"] as? String, "train")
        XCTAssertEqual(train["cmd"] as? String, "sh src/train.sh")
        XCTAssertEqual(train["record"] as? String, run3["train"])
        XCTAssertEqual(train["recorded_in"] as? String, c3)
        XCTAssertEqual((train["params"] as? [String: Any])?["params.json"] as? [String: Double], ["train.lr": 0.25])
        let tin = train["inputs"] as? [[String: Any]] ?? []
        XCTAssertEqual(tin.map { $0["path"] as? String }, ["data/features.csv", "src/train.sh"])
        XCTAssertEqual(tin.map { $0["kind"] as? String }, ["features", "code"])
        XCTAssertEqual(tin.map { $0["id"] as? String }, [hashObject("data/features.csv"), hashObject("src/train.sh")])
        XCTAssertTrue(tin.count == 2 && tin[1]["produced_by"] is NSNull, "code is a raw input")
        guard let feat = tin.first?["produced_by"] as? [String: Any] else { return XCTFail("features have a producer: \(tin)") }
        XCTAssertEqual(feat["stage"] as? String, "featurize")
        XCTAssertEqual(feat["cmd"] as? String, "sh src/featurize.sh")
        XCTAssertEqual(feat["record"] as? String, run3["featurize"])
        XCTAssertEqual(feat["recorded_in"] as? String, c3)
        let fin = feat["inputs"] as? [[String: Any]] ?? []
        XCTAssertEqual(fin.map { $0["path"] as? String }, ["data/raw.csv", "src/featurize.sh"])
        XCTAssertEqual(fin.map { $0["kind"] as? String }, ["dataset", "code"])
        XCTAssertEqual(fin.map { $0["id"] as? String }, [hashObject("data/raw.csv"), hashObject("src/featurize.sh")])
        XCTAssertEqual(fin.map { $0["produced_by"] is NSNull }, [true, true], "raw data and code end the walk")

        let mup = obj(ok("lineage", "metrics.json", "--json"))
        XCTAssertEqual(mup["kind"] as? String, "metrics")
        XCTAssertEqual((mup["produced_by"] as? [String: Any])?["record"] as? String, run3["train"])
        let rawUp = obj(ok("lineage", "data/raw.csv", "--json"))
        XCTAssertEqual(rawUp["kind"] as? String, "dataset")
        XCTAssertTrue(rawUp["produced_by"] is NSNull)

        // An older commit: featurize's run was first recorded in c1 and reused by c2.
        let ids2 = treeIds(c2)
        let up2 = obj(ok("lineage", "model.bin", "--rev", c2, "--json"))
        XCTAssertEqual(up2["id"] as? String, ids2["model.bin"])
        XCTAssertNotEqual(up2["id"] as? String, up["id"] as? String)
        let train2 = up2["produced_by"] as? [String: Any]
        XCTAssertEqual(train2?["record"] as? String, run2["train"])
        XCTAssertEqual(train2?["recorded_in"] as? String, c2)
        XCTAssertEqual((train2?["params"] as? [String: Any])?["params.json"] as? [String: Double], ["train.lr": 0.25])
        let f2 = ((train2?["inputs"] as? [[String: Any]])?.first)
        XCTAssertEqual(f2?["id"] as? String, ids2["data/features.csv"])
        let feat2 = f2?["produced_by"] as? [String: Any]
        XCTAssertEqual(feat2?["record"] as? String, run1["featurize"])
        XCTAssertEqual(feat2?["recorded_in"] as? String, c1)
        let raw2 = (feat2?["inputs"] as? [[String: Any]])?.first
        XCTAssertEqual(raw2?["id"] as? String, treeIds(c1)["data/raw.csv"])

        // Text form.
        let tree = ok("lineage", "model.bin")
        XCTAssertTrue(tree.hasPrefix("model.bin [model] \(hashObject("model.bin").prefix(12))\n└─ stage train (recorded in \(c3.prefix(12)), "), tree)
        XCTAssertTrue(tree.contains("cmd: sh src/train.sh\n") && tree.contains("params params.json: train.lr=0.25\n"), tree)
        XCTAssertTrue(tree.contains("data/raw.csv [dataset] ") && tree.contains("src/featurize.sh [code] "), tree)

        // Downstream from the current raw data: features (depth 1), model and metrics (depth 2).
        let down = obj(ok("lineage", "data/raw.csv", "--downstream", "--json"))
        XCTAssertEqual(down["path"] as? String, "data/raw.csv")
        XCTAssertEqual(down["id"] as? String, hashObject("data/raw.csv"))
        let derived = down["derived"] as? [[String: Any]] ?? []
        XCTAssertEqual(derived.map { $0["path"] as? String }, ["data/features.csv", "model.bin", "metrics.json"])
        XCTAssertEqual(derived.map { $0["depth"] as? Int }, [1, 2, 2])
        XCTAssertEqual(derived.map { $0["kind"] as? String }, ["features", "model", "metrics"])
        XCTAssertEqual(derived.map { $0["stage"] as? String }, ["featurize", "train", "train"])
        XCTAssertEqual(derived.map { $0["via"] as? String }, ["data/raw.csv", "data/features.csv", "data/features.csv"])
        XCTAssertEqual(derived.map { $0["record"] as? String }, [run3["featurize"], run3["train"], run3["train"]])
        XCTAssertEqual(derived.map { $0["id"] as? String },
                       [hashObject("data/features.csv"), hashObject("model.bin"), hashObject("metrics.json")])
        XCTAssertEqual(derived.map { $0["commits"] as? [String] }, [[c3], [c3], [c3]])
        for d in derived { XCTAssertEqual(Set(d.keys), ["path", "id", "kind", "stage", "record", "via", "via_id", "input", "depth", "commits"]) }
        XCTAssertEqual(derived.map { $0["input"] as? String }, ["data/raw.csv", "data/features.csv", "data/features.csv"])
        XCTAssertEqual(derived.map { $0["via_id"] as? String }, [hashObject("data/raw.csv"), hashObject("data/features.csv"), hashObject("data/features.csv")])

        // Downstream from c1's raw data: one features version held by c1 and c2, and the two
        // models (and metrics) trained from it.
        let down1 = obj(ok("lineage", "data/raw.csv", "--rev", c1, "--downstream", "--json"))
        XCTAssertEqual(down1["id"] as? String, treeIds(c1)["data/raw.csv"])
        let d1 = down1["derived"] as? [[String: Any]] ?? []
        XCTAssertEqual(d1.count, 5, "\(d1)")
        let f1 = d1.filter { $0["path"] as? String == "data/features.csv" }
        XCTAssertEqual(f1.count, 1)
        XCTAssertEqual(f1.first?["commits"] as? [String], [c1, c2])
        let models = d1.filter { $0["path"] as? String == "model.bin" }
        XCTAssertEqual(Set(models.compactMap { $0["id"] as? String }), [treeIds(c1)["model.bin"] ?? "?1", ids2["model.bin"] ?? "?2"])
        XCTAssertEqual(Set(models.compactMap { $0["commits"] as? [String] }), [[c1], [c2]])
        XCTAssertEqual(models.map { $0["depth"] as? Int }, [2, 2])
        XCTAssertFalse(d1.contains { ($0["commits"] as? [String])?.contains(c3) == true }, "c3's outputs come from other data")

        // Graphviz.
        let dot = ok("lineage", "model.bin", "--dot")
        XCTAssertTrue(dot.hasPrefix("digraph "), dot)
        XCTAssertTrue(dot.hasSuffix("}\n"), dot)
        let trainNode = "\"stage:train@\((run3["train"] ?? "").prefix(12))\""
        XCTAssertTrue(dot.contains("\(trainNode) -> \"model.bin@\(hashObject("model.bin").prefix(12))\";"), dot)
        XCTAssertTrue(dot.contains("\"data/raw.csv@\(hashObject("data/raw.csv").prefix(12))\" -> \"stage:featurize@"), dot)
        let ddot = ok("lineage", "data/raw.csv", "--downstream", "--dot")
        XCTAssertTrue(ddot.hasPrefix("digraph ") && ddot.contains(trainNode), ddot)

        // Errors.
        fails(1, "lineage", "nosuch.bin")
        fails(1, "lineage", "model.bin", "--rev", "nosuchrev")
        XCTAssertNotEqual(runResult(["lineage", "model.bin", "--upstream", "--downstream"]).code, 0)
    }

    /// Downstream "commits" are documented as oldest first. Commits made within one second
    /// (scripts, CI) must still come in history order, parent before child.
    func testDownstreamCommitsOldestFirstWithinOneSecond() {
        env["MLREPO_AUTHOR_DATE"] = "1800000000"
        makePipeline()
        ok("repro")
        var chain = [commit("baseline")]
        for i in 1...5 {
            write("notes/\(i).txt", "note \(i)\n")
            ok("add", "notes/\(i).txt")
            chain.append(commit("note \(i)"))
        }
        XCTAssertEqual(arr(ok("log", "--json")).map { $0["id"] as? String }, chain.reversed().map { Optional($0) })
        let derived = obj(ok("lineage", "data/raw.csv", "--downstream", "--json"))["derived"] as? [[String: Any]] ?? []
        XCTAssertEqual(derived.map { $0["path"] as? String }, ["data/features.csv", "model.bin", "metrics.json"])
        XCTAssertEqual(derived.map { $0["commits"] as? [String] }, [chain, chain, chain], "commits oldest first")
        let text = ok("lineage", "data/raw.csv", "--downstream")
        let first3 = chain.prefix(3).map { String($0.prefix(12)) }.joined(separator: ", ")
        XCTAssertTrue(text.contains("by stage featurize from data/raw.csv; in 6 commit(s): \(first3), …\n"), text)
    }

    // MARK: 3. log --kind

    func testLogByKind() {
        let (c1, c2, c3) = makeHistory()
        write("README.md", "notes\n")
        ok("add", "README.md")
        let c4 = commit("readme")
        func short(_ c: String) -> String { String(c.prefix(12)) }
        XCTAssertEqual(ok("log", "--kind", "model", "--oneline"),
                       "\(short(c3)) more data (model.bin)\n\(short(c2)) lr 0.25 (model.bin)\n\(short(c1)) baseline (model.bin)\n")
        XCTAssertEqual(ok("log", "--kind", "dataset", "--oneline"),
                       "\(short(c3)) more data (data/raw.csv)\n\(short(c1)) baseline (data/raw.csv)\n")
        XCTAssertEqual(ok("log", "--kind", "features", "--oneline"),
                       "\(short(c3)) more data (data/features.csv)\n\(short(c1)) baseline (data/features.csv)\n")
        XCTAssertEqual(ok("log", "--kind", "code", "--oneline"),
                       "\(short(c1)) baseline (src/featurize.sh, src/train.sh)\n")
        XCTAssertEqual(ok("log", "--kind", "params", "--oneline"),
                       "\(short(c2)) lr 0.25 (params.json)\n\(short(c1)) baseline (params.json)\n")
        XCTAssertEqual(ok("log", "--kind", "model", "--oneline", "-n", "1"), "\(short(c3)) more data (model.bin)\n")
        let js = arr(ok("log", "--kind", "metrics", "--json"))
        XCTAssertEqual(js.map { $0["id"] as? String }, [c3, c2, c1])
        XCTAssertEqual(js.map { $0["paths"] as? [String] }, [["metrics.json"], ["metrics.json"], ["metrics.json"]])
        XCTAssertEqual(ok("log", "--kind", "labels", "--oneline"), "")
        let full = ok("log", "--kind", "model")
        XCTAssertTrue(full.hasPrefix("commit \(c3)\n") && full.contains("    model: model.bin\n") && !full.contains(c4), full)

        // A kind set by hand, recorded at the next commit and carried by later ones.
        write("annotations/y.csv", "id,y\n1,0\n")
        ok("add", "--kind", "labels", "annotations/y.csv")
        XCTAssertEqual(status().staged, ["annotations/y.csv": "added"])
        let c5 = commit("labels")
        XCTAssertEqual(ok("log", "--kind", "labels", "--oneline"), "\(short(c5)) labels (annotations/y.csv)\n")
        let lj = arr(ok("log", "--kind", "labels", "--json"))
        XCTAssertEqual(lj.map { $0["id"] as? String }, [c5])
        XCTAssertEqual(lj.first?["paths"] as? [String], ["annotations/y.csv"])
        XCTAssertEqual(lj.first?["parents"] as? [String], [c4])
        write("annotations/y.csv", "id,y\n1,0\n2,1\n")
        ok("add", "annotations/y.csv")
        let c6 = commit("more labels")
        XCTAssertEqual(ok("log", "--kind", "labels", "--oneline"),
                       "\(short(c6)) more labels (annotations/y.csv)\n\(short(c5)) labels (annotations/y.csv)\n")
        XCTAssertEqual(ok("log", "--kind", "model", "--oneline").split(separator: "\n").count, 3, "c4..c6 did not touch the model")
        XCTAssertEqual(obj(ok("lineage", "annotations/y.csv", "--json"))["kind"] as? String, "labels")

        let bad = fails(1, "add", "--kind", "bogus", "README.md")
        XCTAssertTrue(bad.err.contains("unknown kind 'bogus'"), bad.err)
        XCTAssertNotEqual(runResult(["log", "--kind", "bogus"]).code, 0)
    }

    // MARK: 4. a failing stage

    func testFailingStageRecordsNothing() {
        ok("init")
        write("in.txt", "3\n1\n2\n")
        ok("add", "in.txt")
        let c0 = commit("data")
        let failing = """
        {"stages": {
          "prep": {"cmd": "sort in.txt > sorted.txt", "deps": ["in.txt"], "outs": ["sorted.txt"]},
          "bad": {"cmd": "cp sorted.txt out.txt && exit 7", "deps": ["sorted.txt"], "outs": ["out.txt"]},
          "after": {"cmd": "awk 'END {print NR}' out.txt > count.txt", "deps": ["out.txt"], "outs": ["count.txt"]}
        }}

        """
        write("mlrepo.json", failing)
        let r = fails(7, "repro")
        XCTAssertTrue(r.out.contains("Running stage 'prep' (never run):\n") && r.out.contains("Recorded run of 'prep'"), r.out)
        XCTAssertTrue(r.out.contains("Running stage 'bad' (never run):\n> cp sorted.txt out.txt && exit 7\n"), r.out)
        XCTAssertFalse(r.out.contains("Recorded run of 'bad'"), r.out)
        XCTAssertFalse(r.out.contains("'after'"), "the run stops at the failure: \(r.out)")
        XCTAssertEqual(r.err, "error: stage 'bad' failed with exit status 7; its outputs were not recorded\n")
        XCTAssertEqual(text("out.txt"), "1\n2\n3\n", "the command did write its output")
        XCTAssertFalse(exists("count.txt"))
        var st = status()
        XCTAssertEqual(st.staged, ["sorted.txt": "added", "mlrepo.json": "added"], "prep's run is staged, bad's is not")
        XCTAssertEqual(st.untracked, ["out.txt"])
        XCTAssertTrue(st.unstaged.isEmpty)
        let lin = obj(ok("lineage", "out.txt", "--json"))
        XCTAssertTrue(lin["produced_by"] is NSNull, "\(lin)")
        let prepLin = obj(ok("lineage", "sorted.txt", "--json"))
        XCTAssertEqual((prepLin["produced_by"] as? [String: Any])?["stage"] as? String, "prep")
        XCTAssertTrue((prepLin["produced_by"] as? [String: Any])?["recorded_in"] is NSNull, "not committed yet")

        // Not recorded, so it runs again; `run` fails the same way.
        let again = fails(7, "repro")
        XCTAssertTrue(again.out.hasPrefix("stage prep is up to date\nRunning stage 'bad' (never run):\n"), again.out)
        let run = fails(7, "run", "bad")
        XCTAssertTrue(run.out.hasPrefix("Running stage 'bad' (requested):\n"), run.out)
        XCTAssertFalse(run.out.contains("mlrepo commit"), run.out)
        XCTAssertEqual(ok("repro", "--dry-run"),
                       "stage prep is up to date\nwould run stage bad (never run)\nwould run stage after (upstream stage 'bad' will run)\n")

        // A commit now records prep's run only, and not the failed output.
        let c1 = ok("commit", "-m", "prep only").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(isHexId(c1))
        var runs = runsByCommit()
        XCTAssertEqual(runs[c1].map { Set($0.keys) }, ["prep"])
        XCTAssertEqual(runs[c0], [:])
        fails(1, "show", "HEAD:out.txt")
        XCTAssertEqual(status().untracked, ["out.txt"])

        // Fixed: prep stays up to date, bad and after run and are recorded.
        write("mlrepo.json", failing.replacingOccurrences(of: " && exit 7", with: ""))
        let fixed = ok("repro")
        XCTAssertTrue(fixed.hasPrefix("stage prep is up to date\nRunning stage 'bad' (never run):\n"), fixed)
        XCTAssertTrue(fixed.contains("Running stage 'after' (never run):\n"), fixed)
        XCTAssertEqual(text("count.txt"), "3\n")
        st = status()
        XCTAssertEqual(st.staged, ["mlrepo.json": "modified", "out.txt": "added", "count.txt": "added"])
        XCTAssertTrue(st.untracked.isEmpty && st.unstaged.isEmpty, "\(st)")
        let c2 = commit("fixed")
        runs = runsByCommit()
        XCTAssertEqual(runs[c2].map { Set($0.keys) }, ["prep", "bad", "after"])
        XCTAssertEqual(runs[c2]?["prep"], runs[c1]?["prep"])
        XCTAssertEqual((obj(ok("lineage", "count.txt", "--json"))["produced_by"] as? [String: Any])?["recorded_in"] as? String, c2)
        XCTAssertEqual(ok("repro"), "stage prep is up to date\nstage bad is up to date\nstage after is up to date\n")

        // A stage that exits 0 without writing its output records nothing either.
        write("mlrepo.json", "{\"stages\": {\"lazy\": {\"cmd\": \"true\", \"deps\": [\"in.txt\"], \"outs\": [\"never.txt\"]}}}\n")
        let lazy = fails(1, "repro")
        XCTAssertEqual(lazy.err, "error: stage 'lazy' finished but did not write its output 'never.txt'; nothing was recorded\n")
        XCTAssertTrue(status().staged.isEmpty)
        XCTAssertEqual(status().unstaged, ["mlrepo.json": "modified"])
    }

    // MARK: 5. configuration and input errors

    func testErrorsAreOneLineAndRecordNothing() {
        ok("init")
        write("in.txt", "in\n")
        ok("add", "in.txt")
        commit("data")
        let noRecord = "no recorded run wrote or read 'in.txt'"

        /// Writes mlrepo.json, runs `repro ARGS`, checks exit 1 and the one error line, that
        /// nothing was staged and that no run reading in.txt was recorded.
        func check(_ project: String, _ args: [String] = ["repro"], _ expected: String, prefixOnly: Bool = false,
                   file: StaticString = #filePath, line: UInt = #line) {
            write("mlrepo.json", project)
            let r = runResult(args)
            assertOneLineError(r, expected, prefixOnly: prefixOnly, file: file, line: line)
            XCTAssertFalse(r.out.contains("Recorded run"), r.out, file: file, line: line)
            XCTAssertEqual(status(file: file, line: line).staged, [:], file: file, line: line)
            let lin = obj(ok("lineage", "in.txt", "--json", file: file, line: line), file: file, line: line)
            XCTAssertEqual(lin["note"] as? String, noRecord, file: file, line: line)
        }

        check("""
        {"stages": {"a": {"cmd": "cp b.txt a.txt", "deps": ["in.txt", "b.txt"], "outs": ["a.txt"]},
                    "b": {"cmd": "cp a.txt b.txt", "deps": ["a.txt"], "outs": ["b.txt"]}}}
        """, ["repro"], "error: mlrepo.json: stage cycle: a -> b -> a")
        check("""
        {"stages": {"a": {"cmd": "cp b.txt a.txt", "deps": ["in.txt", "b.txt"], "outs": ["a.txt"]},
                    "b": {"cmd": "cp a.txt b.txt", "deps": ["a.txt"], "outs": ["b.txt"]}}}
        """, ["repro", "--dry-run"], "error: mlrepo.json: stage cycle: a -> b -> a")
        check("""
        {"stages": {"a": {"cmd": "cp in.txt a.txt", "deps": ["in.txt", "a.txt"], "outs": ["a.txt"]}}}
        """, ["repro"], "error: mlrepo.json: stage cycle: 'a' depends on its own output")
        check("""
        {"stages": {"a": {"cmd": "cp in.txt o.txt", "deps": ["in.txt"], "outs": ["o.txt"]},
                    "b": {"cmd": "cp in.txt o.txt", "deps": ["in.txt"], "outs": ["o.txt"]}}}
        """, ["repro"], "error: mlrepo.json: output 'o.txt' is declared by two stages: 'a' and 'b'")
        check("""
        {"stages": {"a": {"cmd": "cat in.txt x.txt > o.txt", "deps": ["in.txt", "x.txt"], "outs": ["o.txt"]}}}
        """, ["repro"], "error: stage 'a': dependency 'x.txt' does not exist and no stage produces it")
        XCTAssertFalse(exists("o.txt"), "a missing dependency is found before anything runs")
        // Malformed JSON: line and column of the stray '}' after the trailing comma.
        check("""
        {"stages": {
          "a": {"cmd": "echo", "outs": ["o.txt"],}
        }}
        """, ["repro"], "error: mlrepo.json line 2, column 42: invalid JSON: ", prefixOnly: true)
        check("""
        {"stages": {"a": {"cmd": "cp in.txt o.txt", "deps": ["in.txt"], "outs": ["o.txt"], "out": ["x"]}}}
        """, ["repro"], "error: mlrepo.json: stage 'a': unknown field 'out'")
        check("""
        {"stages": {"a": {"cmd": "cp in.txt o.txt", "deps": ["in.txt"], "outs": ["o.txt"]}}, "stagez": {}}
        """, ["repro"], "error: mlrepo.json: unknown field 'stagez' (expected \"stages\" and optionally \"kinds\")")
        let valid = """
        {"stages": {"a": {"cmd": "cp in.txt o.txt", "deps": ["in.txt"], "params": ["lr"], "outs": ["o.txt"]}}}
        """
        write("params.json", "{\"lr\": 0.1}\n")
        check(valid, ["repro", "nosuch"], "error: no stage named 'nosuch' in mlrepo.json (stages: a)")
        check(valid, ["run", "nosuch"], "error: no stage named 'nosuch' in mlrepo.json (stages: a)")
        // Malformed params file: line 2, column 7 is the '}' where a value belongs.
        write("params.json", "{\"lr\": 0.1,\n \"x\": }\n")
        check(valid, ["repro"], "error: params.json line 2, column 7: invalid JSON: ", prefixOnly: true)
        check(valid, ["run", "a"], "error: params.json line 2, column 7: invalid JSON: ", prefixOnly: true)
        XCTAssertFalse(exists("o.txt"), "params are read before the command runs")
        write("params.json", "{\"rate\": 0.1}\n")
        check(valid, ["repro"], "error: params file 'params.json' has no key 'lr' (stage 'a')")
        remove("params.json")
        check(valid, ["repro"], "error: params file 'params.json' does not exist (stage 'a')")

        // A metrics file that is not JSON: the command ran, but nothing is staged or recorded.
        let badMetrics = """
        {"stages": {"a": {"cmd": "echo acc=1 > m.json", "deps": ["in.txt"], "metrics": ["m.json"]}}}
        """
        check(badMetrics, ["repro"], "error: metrics file 'm.json' is not valid JSON", prefixOnly: true)
        XCTAssertEqual(text("m.json"), "acc=1\n")
        XCTAssertTrue(obj(ok("lineage", "m.json", "--json"))["produced_by"] is NSNull)
        XCTAssertTrue(status().untracked.contains("m.json"))
        check("""
        {"stages": {"a": {"cmd": "echo 3 > m.json", "deps": ["in.txt"], "metrics": ["m.json"]}}}
        """, ["repro"], "error: metrics file 'm.json' must hold a JSON object", prefixOnly: true)

        // None of the failures left a run behind: a good run and commit record only it,
        // with no warning about other runs.
        write("mlrepo.json", "{\"stages\": {\"good\": {\"cmd\": \"cp in.txt g.txt\", \"deps\": [\"in.txt\"], \"outs\": [\"g.txt\"]}}}\n")
        ok("repro")
        let c = runResult(["commit", "-m", "good"])
        XCTAssertEqual(c.code, 0, c.err)
        XCTAssertEqual(c.err, "", "no leftover runs to warn about")
        XCTAssertEqual(runsByCommit()[c.line].map { Set($0.keys) }, ["good"])
        XCTAssertEqual(ok("fsck").hasSuffix(": ok\n"), true)
    }

    // MARK: 6. repro --verify

    func testVerifyReportsIdenticalAndDifferingOutputs() {
        ok("init")
        write("in.txt", "3\n1\n2\n")
        ok("add", "in.txt")
        let c0 = commit("data only")
        let deterministic = #"""
        {"stages": {
          "sort": {"cmd": "sort in.txt > sorted.txt", "deps": ["in.txt"], "outs": ["sorted.txt"]},
          "score": {"cmd": "awk '{s += $1} END {printf \"{\\\"sum\\\": %d, \\\"eval\\\": {\\\"n\\\": %d}}\\n\", s, NR}' sorted.txt > m.json",
                    "deps": ["sorted.txt"], "metrics": ["m.json"]}
        }}

        """#
        write("mlrepo.json", deterministic)
        ok("repro")
        XCTAssertEqual(text("m.json"), "{\"sum\": 6, \"eval\": {\"n\": 3}}\n")
        let c1 = commit("deterministic")
        let before = listFiles()
        let v = ok("repro", "--verify")
        XCTAssertTrue(v.contains("Verification of \(c1.prefix(12)):\n"), v)
        XCTAssertTrue(v.contains("stage sort\n  sorted.txt: bit-identical\n"), v)
        XCTAssertTrue(v.contains("stage score\n  m.json: bit-identical\n"), v)
        XCTAssertTrue(v.hasSuffix("all 2 output(s) bit-identical\n"), v)
        let vj = obj(ok("repro", "--verify", "--json"))
        XCTAssertEqual(vj["commit"] as? String, c1)
        XCTAssertEqual(vj["identical"] as? Bool, true)
        let stages = vj["stages"] as? [[String: Any]] ?? []
        XCTAssertEqual(stages.map { $0["stage"] as? String }, ["sort", "score"])
        let outs = stages.flatMap { $0["outputs"] as? [[String: Any]] ?? [] }
        XCTAssertEqual(outs.map { $0["path"] as? String }, ["sorted.txt", "m.json"])
        XCTAssertEqual(outs.map { $0["status"] as? String }, ["bit-identical", "bit-identical"])
        XCTAssertEqual(outs.map { $0["recorded"] as? String }, [hashObject("sorted.txt"), hashObject("m.json")])
        XCTAssertEqual(outs.map { $0["reproduced"] as? String }, outs.map { $0["recorded"] as? String })
        XCTAssertEqual(listFiles(), before, "verify works in a scratch copy, not the work tree")
        XCTAssertTrue(status().clean)

        // Outputs that embed the time or random bytes differ; the metric delta is reported.
        let nondeterministic = #"""
        {"stages": {
          "sort": {"cmd": "sort in.txt > sorted.txt", "deps": ["in.txt"], "outs": ["sorted.txt"]},
          "stamp": {"cmd": "{ date +%s%N; od -An -N8 -tx1 /dev/urandom; } > stamp.txt", "outs": ["stamp.txt"]},
          "score": {"cmd": "r=$(od -An -N4 -tu4 /dev/urandom | tr -d ' '); awk -v r=\"$r\" '{s += $1} END {printf \"{\\\"sum\\\": %d, \\\"rand\\\": %s}\\n\", s, r}' sorted.txt > m.json",
                    "deps": ["sorted.txt"], "metrics": ["m.json"]}
        }}

        """#
        write("mlrepo.json", nondeterministic)
        let rr = ok("repro")
        XCTAssertTrue(rr.contains("stage sort is up to date\n"), rr)
        let committed = text("m.json") ?? ""
        guard let recordedRand = (obj(committed)["rand"] as? NSNumber)?.int64Value else { return XCTFail("m.json: \(committed)") }
        let c2 = commit("nondeterministic")
        let stampBefore = read("stamp.txt")
        let bad = fails(1, "repro", "--verify")
        XCTAssertTrue(bad.out.contains("  sorted.txt: bit-identical\n"), bad.out)
        XCTAssertTrue(bad.out.contains("  stamp.txt: differs (recorded "), bad.out)
        XCTAssertTrue(bad.out.contains("  m.json: differs (recorded "), bad.out)
        XCTAssertTrue(bad.out.contains("    rand: \(recordedRand) -> "), bad.out)
        XCTAssertFalse(bad.out.contains("    sum:"), "unchanged metrics are not listed: \(bad.out)")
        XCTAssertTrue(bad.out.hasSuffix("2 of 3 output(s) differ\n"), bad.out)
        XCTAssertEqual(read("stamp.txt"), stampBefore, "the work tree is untouched")

        let bj = runResult(["repro", "--verify", "--json"])
        XCTAssertEqual(bj.code, 1)
        let bo = obj(bj.out)
        XCTAssertEqual(bo["commit"] as? String, c2)
        XCTAssertEqual(bo["identical"] as? Bool, false)
        var byPath: [String: [String: Any]] = [:]
        for s in bo["stages"] as? [[String: Any]] ?? [] {
            XCTAssertEqual(s["exit_status"] as? Int, 0)
            XCTAssertTrue(s["error"] is NSNull)
            for o in s["outputs"] as? [[String: Any]] ?? [] { byPath[o["path"] as? String ?? "?"] = o }
        }
        XCTAssertEqual(Set(byPath.keys), ["sorted.txt", "stamp.txt", "m.json"])
        XCTAssertEqual(byPath["sorted.txt"]?["status"] as? String, "bit-identical")
        XCTAssertEqual(byPath["stamp.txt"]?["status"] as? String, "differs")
        XCTAssertEqual(byPath["stamp.txt"]?["recorded"] as? String, hashObject("stamp.txt"))
        XCTAssertNotEqual(byPath["stamp.txt"]?["reproduced"] as? String, byPath["stamp.txt"]?["recorded"] as? String)
        let m = byPath["m.json"] ?? [:]
        XCTAssertEqual(m["status"] as? String, "differs")
        XCTAssertEqual(m["recorded"] as? String, hashObject("m.json"))
        let deltas = m["metrics"] as? [String: Any] ?? [:]
        XCTAssertEqual(Set(deltas.keys), ["rand"], "\(m)")
        if let d = deltas["rand"] as? [String: Any], let old = (d["old"] as? NSNumber)?.int64Value,
           let new = (d["new"] as? NSNumber)?.int64Value, let diff = (d["diff"] as? NSNumber)?.doubleValue {
            XCTAssertEqual(old, recordedRand)
            XCTAssertNotEqual(new, old)
            XCTAssertEqual(diff, Double(new - old))
        } else { XCTFail("rand delta: \(deltas)") }

        // The earlier commit still verifies; a commit without runs cannot be verified.
        let old = obj(ok("repro", "--verify", "--rev", c1, "--json"))
        XCTAssertEqual(old["commit"] as? String, c1)
        XCTAssertEqual(old["identical"] as? Bool, true)
        XCTAssertEqual(ok("repro", "--verify", "--rev", "HEAD~1").hasSuffix("all 2 output(s) bit-identical\n"), true)
        let none = runResult(["repro", "--verify", "--rev", c0])
        assertOneLineError(none, "error: commit \(c0.prefix(12)) records no stage runs", prefixOnly: true)
        XCTAssertTrue(status().clean)
    }

    // MARK: 7. gc keeps lineage records

    func testGCKeepsCommittedAndPendingRecords() {
        let (c1, _, c3) = makeHistory()
        let runs = runsByCommit()
        let gc1 = ok("gc")
        XCTAssertTrue(gc1.hasPrefix("removed "), gc1)
        XCTAssertTrue(ok("fsck").hasSuffix(": ok\n"))
        let up = obj(ok("lineage", "model.bin", "--json"))
        let train = up["produced_by"] as? [String: Any]
        XCTAssertEqual(train?["record"] as? String, runs[c3]?["train"])
        XCTAssertEqual(train?["recorded_in"] as? String, c3)
        let old = obj(ok("lineage", "model.bin", "--rev", c1, "--json"))
        XCTAssertEqual((old["produced_by"] as? [String: Any])?["record"] as? String, runs[c1]?["train"])
        for (_, r) in runs { for id in r.values { XCTAssertEqual(ok("cat-object", "-t", id), "blob\n") } }
        ok("gc", "--expire-reflogs")
        XCTAssertTrue(ok("fsck").hasSuffix(": ok\n"))
        XCTAssertEqual(runsByCommit(), runs, "commit metadata survives gc")
        XCTAssertEqual((obj(ok("lineage", "data/raw.csv", "--rev", c1, "--downstream", "--json"))["derived"] as? [Any])?.count, 5)

        // An uncommitted run is pinned: it survives gc, and the next commit records it.
        write("params.json", params(lr: "0.125"))
        ok("repro")
        let pending = (obj(ok("lineage", "model.bin", "--json"))["produced_by"] as? [String: Any]) ?? [:]
        guard let rid = pending["record"] as? String else { return XCTFail("pending run: \(pending)") }
        XCTAssertTrue(pending["recorded_in"] is NSNull)
        XCTAssertNotEqual(rid, runs[c3]?["train"])
        ok("gc")
        ok("gc", "--expire-reflogs")
        let fj = obj(ok("fsck", "--json"))
        XCTAssertEqual((fj["problems"] as? [Any])?.count, 0, "\(fj)")
        XCTAssertEqual(ok("cat-object", "-t", rid), "blob\n")
        let after = (obj(ok("lineage", "model.bin", "--json"))["produced_by"] as? [String: Any]) ?? [:]
        XCTAssertEqual(after["record"] as? String, rid)
        XCTAssertEqual((after["params"] as? [String: Any])?["params.json"] as? [String: Double], ["train.lr": 0.125])
        XCTAssertEqual(ok("repro"), "stage featurize is up to date\nstage train is up to date\n", "the pending run still describes the work tree")
        let c4r = runResult(["commit", "-m", "after gc"])
        XCTAssertEqual(c4r.code, 0, c4r.err)
        XCTAssertEqual(c4r.err, "")
        let c4 = c4r.line
        XCTAssertEqual(runsByCommit()[c4]?["train"], rid)
        XCTAssertEqual(runsByCommit()[c4]?["featurize"], runs[c3]?["featurize"])
        XCTAssertEqual((obj(ok("lineage", "model.bin", "--json"))["produced_by"] as? [String: Any])?["recorded_in"] as? String, c4)
        XCTAssertEqual(obj(ok("metrics", "show", "--json"))["metrics.json"] as? [String: Double], ["score": 0.5, "train.loss": 0.125, "train.rows": 4])
        ok("gc")
        XCTAssertTrue(ok("fsck").hasSuffix(": ok\n"))
        XCTAssertEqual(obj(ok("repro", "--verify", "--json"))["identical"] as? Bool, true)
    }
    // MARK: Review follow-ups

    func testVerifyFailsWhenAStageOfTheCommitHasNoRecordedRun() {
        makePipeline()
        ok("repro")
        write("model.bin", "edited by hand\n")
        ok("add", "model.bin")
        let r = runResult(["commit", "-m", "hand-edited model"])
        XCTAssertEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("no lineage recorded for stage 'train'"), r.err)
        let v = fails(1, "repro", "--verify", "--json")
        let o = obj(v.out)
        XCTAssertEqual(o["identical"] as? Bool, false)
        let stages = (o["stages"] as? [[String: Any]]) ?? []
        let train = stages.first { $0["stage"] as? String == "train" }
        XCTAssertTrue(train?["record"] is NSNull, "\(String(describing: train))")
        XCTAssertTrue((train?["error"] as? String)?.contains("no recorded run") == true)
        XCTAssertTrue(stages.contains { $0["stage"] as? String == "featurize" && $0["error"] is NSNull })
    }

    func testRevParsePathSortByLeafAndRenamedStageWarning() {
        let (c1, c2, c3) = makeHistory()
        XCTAssertEqual(ok("rev-parse", "HEAD:model.bin").trimmingCharacters(in: .whitespacesAndNewlines),
                       ok("hash-object", "model.bin").trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(fails(1, "rev-parse", "HEAD:nope.bin").err.contains("nope.bin"), true)
        // A leaf name sorts when it names one column.
        let rows = arr(ok("exp", "show", "--json", "--sort-by", "loss", "--sort-order", "desc"))
        XCTAssertEqual(rows.compactMap { (($0["metrics"] as? [String: Any])?["metrics.json"] as? [String: Any])?["train.loss"] as? Double }, [0.5, 0.25, 0.25])
        // Ties keep history order (newest first).
        XCTAssertEqual(rows.compactMap { $0["id"] as? String }, [c1, c3, c2])
        // Renaming a stage drops its record without advising a re-run.
        write("mlrepo.json", Self.pipelineJSON.replacingOccurrences(of: "\"train\":", with: "\"fit\":"))
        ok("add", "mlrepo.json")
        let r = runResult(["commit", "-m", "rename train to fit"])
        XCTAssertEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("no lineage recorded for stage 'train': the stage is no longer in mlrepo.json\n"), r.err)
    }

    /// With --json, the stages' own stdout goes to stderr, so stdout is one JSON document.
    func testVerifyJSONKeepsTheStagesOutputOffStdout() {
        ok("init")
        write("in.txt", "a\n")
        write("mlrepo.json", #"{"stages": {"copy": {"cmd": "echo stage says hello; echo stage warns >&2; cp in.txt out.txt", "deps": ["in.txt"], "outs": ["out.txt"]}}}"#)
        XCTAssertTrue(ok("repro").contains("stage says hello"), "without --json the stage prints where it likes")
        let c = commit("copy")
        let r = runResult(["repro", "--verify", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let report = json(r.out) as? [String: Any] ?? [:]
        XCTAssertEqual(report["commit"] as? String, c)
        XCTAssertEqual(report["identical"] as? Bool, true)
        XCTAssertFalse(r.out.contains("hello"), r.out)
        XCTAssertTrue(r.err.contains("stage says hello"), r.err)
        XCTAssertTrue(r.err.contains("stage warns"), r.err)
        // Plain repro has no JSON report: --json is refused rather than ignored.
        XCTAssertTrue(fails(2, "repro", "--json").err.contains("--json goes with --verify"))
    }
}
