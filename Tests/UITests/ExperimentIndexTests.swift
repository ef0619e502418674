import Foundation
import XCTest
import ML
import Net
@testable import Store
import Support
@testable import UI

/// A repository in a temporary folder with a one-stage project (params.json, metrics.json),
/// committed through the ML layer like `mlrepo commit`, for the UI's tests.
final class UIFixture {
    let dir: String
    let ml: MLRepo
    var repo: Repository { ml.repo }

    static let hostile = "<img src=x onerror=alert(1)>"
    static let hostile2 = "\"><script>alert(1)</script>"

    init(_ name: String) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-ui-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ml = MLRepo(try Repository.create(at: dir, settings: StoreSettings(fsync: false, identity: Identity(name: "UI Test", email: "ui@test", time: 1_700_000_000))))
        try write("mlrepo.json", #"{"stages": {"train": {"cmd": "true", "params": ["params.json:"], "metrics": ["metrics.json"]}}}"#)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ rel: String, _ text: String) throws {
        let path = dir + "/" + rel
        if let slash = rel.lastIndex(of: "/") {
            try FileManager.default.createDirectory(atPath: dir + "/" + rel[..<slash], withIntermediateDirectories: true)
        }
        try FS.atomicWrite(path, text: text, durable: false)
    }

    /// Writes params and metrics (JSON object bodies) and commits everything.
    @discardableResult
    func commit(_ message: String, params: String, metrics: String, files: [String: String] = [:]) throws -> ObjectId {
        try write("params.json", "{\(params)}")
        try write("metrics.json", "{\(metrics)}")
        for (p, t) in files { try write(p, t) }
        _ = try repo.add([""])
        return try ml.commit(message: message).id
    }

    /// Points HEAD at `branch`, creating it at `at` (the index is left as it is, so the next
    /// commit goes on that branch with the files staged now).
    func switchTo(_ branch: String, creatingAt at: ObjectId? = nil) throws {
        if let at { try repo.refs.update("refs/heads/" + branch, to: at, who: repo.signature(), message: "branch") }
        try repo.refs.setHead(.branch(branch), who: repo.signature(), message: "switch")
    }

    func app(pageSize: Int = 100) -> UIApp {
        var o = UIOptions()
        o.pageSize = pageSize
        return UIApp(ml: ml, options: o)
    }
}

extension UIApp {
    /// A page's status and body (test helper).
    func get(_ path: String, _ query: [(String, String?)] = []) -> (status: Int, body: String) {
        let full = HTML.url(path, query)
        let q = full.firstIndex(of: "?").map { String(full[full.index(after: $0)...]) } ?? ""
        let r = render(path: path, query: q)
        return (r.status, String(decoding: r.body, as: UTF8.self))
    }
}

func count(_ needle: String, in hay: String) -> Int { hay.components(separatedBy: needle).count - 1 }

final class ExperimentIndexTests: XCTestCase {
    var fx: UIFixture!
    override func setUpWithError() throws { fx = try UIFixture("index") }
    override func tearDown() { fx.cleanup() }

    func testRowsColumnsBranchesAndIncrementalRefresh() throws {
        let a = try fx.commit("first", params: #""lr": 0.1, "opt": {"beta": 0.9}, "hidden": [3, 2, 1]"#, metrics: #""accuracy": 0.5, "loss_curve": [3, 2, 1]"#)
        let b = try fx.commit("second", params: #""lr": 0.01, "opt": {"beta": 0.9}, "hidden": [4]"#, metrics: #""accuracy": 0.7, "loss_curve": [2, 1, 0.5]"#)
        try fx.switchTo("feature", creatingAt: a)
        let f = try fx.commit("on feature", params: #""lr": 0.5, "opt": {"beta": 0.8}"#, metrics: #""accuracy": 0.6, "note": "x""#)
        try fx.switchTo("main")
        let idx = ExperimentIndex(ml: fx.ml)
        try idx.refresh()
        XCTAssertEqual(idx.count, 3)
        XCTAssertEqual(idx.commitsRead, 3)
        XCTAssertEqual(idx.currentBranch, "main")
        XCTAssertEqual(idx.branches.map(\.name), ["feature", "main"])
        XCTAssertEqual(idx.branches.map(\.tip), [f, b])
        // Same time stamps: children still before parents (generation numbers).
        XCTAssertEqual(idx.rows.last?.id, a)
        XCTAssertEqual(Set(idx.rows.map(\.id)), [a, b, f])
        // Columns as exp show names them; a param's list is a text column holding its
        // compact JSON (metrics files' arrays, the loss curves, are not in commit metadata
        // at all).
        XCTAssertEqual(idx.columns.map(\.name), ["accuracy", "note", "hidden", "lr", "opt.beta"])
        XCTAssertEqual(idx.columns.filter(\.metric).map(\.name), ["accuracy", "note"])
        XCTAssertEqual(idx.curves.map(\.name), [])
        XCTAssertTrue(idx.isNumeric(try idx.column(named: "accuracy")))
        XCTAssertFalse(idx.isNumeric(try idx.column(named: "note")))
        XCTAssertFalse(idx.isNumeric(try idx.column(named: "hidden")))
        XCTAssertEqual(idx.value(try idx.column(named: "hidden"), idx.slot(of: a)!), .string("[3,2,1]"))
        // Branch reach.
        XCTAssertEqual(Set(idx.slots(branches: ["main"]).map { idx.entry($0).id }), [a, b])
        XCTAssertEqual(Set(idx.slots(branches: ["feature"]).map { idx.entry($0).id }), [a, f])
        XCTAssertEqual(idx.branchNames(reaching: idx.slot(of: a)!), ["feature", "main"])
        XCTAssertEqual(idx.tipNames(idx.slot(of: f)!), ["feature"])

        // Nothing moved: nothing read, nothing rebuilt.
        let gen = idx.generation
        try idx.refresh()
        XCTAssertEqual(idx.generation, gen)
        XCTAssertEqual(idx.commitsRead, 3)

        // main moves forward: only the new commit is read.
        let c = try fx.commit("third", params: #""lr": 0.001, "opt": {"beta": 0.9}, "epochs": 3"#, metrics: #""accuracy": 0.9"#)
        try idx.refresh()
        XCTAssertEqual(idx.commitsRead, 4)
        XCTAssertEqual(idx.generation, gen + 1)
        XCTAssertEqual(idx.rows.first?.id, c)
        XCTAssertEqual(idx.count, 4)
        XCTAssertTrue(idx.columns.map(\.name).contains("epochs"))
        XCTAssertEqual(idx.number(try idx.column(named: "epochs"), idx.slot(of: c)!), 3)
        XCTAssertTrue(idx.number(try idx.column(named: "epochs"), idx.slot(of: a)!).isNaN)

        // A branch deleted: its own commits leave the rows, without reading anything.
        try fx.repo.refs.delete("refs/heads/feature")
        try idx.refresh()
        XCTAssertEqual(idx.commitsRead, 4)
        XCTAssertEqual(idx.count, 3)
        XCTAssertNil(idx.row(f))
        XCTAssertFalse(idx.hasBranch("feature"))

        // Detached HEAD: the pseudo-branch HEAD.
        try fx.repo.refs.setHead(.detached(b), who: fx.repo.signature(), message: "detach")
        try idx.refresh()
        XCTAssertNil(idx.currentBranch)
        XCTAssertTrue(idx.hasBranch("HEAD"))
    }

    func testNamesResolveLikeExpShowAndUnknownNamesSuggest() throws {
        try fx.write("mlrepo.json", #"{"stages": {"train": {"cmd": "true", "params": ["params.json:", "other.json:"], "metrics": ["metrics.json"]}}}"#)
        try fx.write("other.json", #"{"lr": 5, "train": {"batch_size": 32}}"#)
        try fx.commit("one", params: #""lr": 0.1"#, metrics: #""accuracy": 0.5"#)
        let idx = ExperimentIndex(ml: fx.ml)
        try idx.refresh()
        XCTAssertEqual(idx.columns.map(\.name), ["accuracy", "other.json:lr", "params.json:lr", "train.batch_size"])
        XCTAssertEqual(idx.columns[try idx.column(named: "batch_size")].key, "train.batch_size")
        XCTAssertEqual(idx.columns[try idx.column(named: "params.json:lr")].file, "params.json")
        XCTAssertThrowsError(try idx.column(named: "lr")) { e in
            XCTAssertTrue((e as! UIError).message.contains("several"), "\(e)")
        }
        XCTAssertThrowsError(try idx.column(named: "acuracy")) { e in
            XCTAssertEqual((e as! UIError).message, "no column 'acuracy' (did you mean 'accuracy'?)")
        }
    }

    func testSortAndFilterOverCachedColumns() throws {
        for (i, acc) in [0.5, 0.9, 0.7, 0.8].enumerated() {
            try fx.commit("c\(i)", params: #""lr": \#(Double(i) / 100), "model": "m\#(i % 2)""#, metrics: #""accuracy": \#(acc)"#)
        }
        let idx = ExperimentIndex(ml: fx.ml)
        try idx.refresh()
        let acc = try idx.column(named: "accuracy")
        let sorted = idx.sort(idx.slots(branches: nil), by: .column(acc), descending: true).map { idx.number(acc, $0) }
        XCTAssertEqual(sorted, [0.9, 0.8, 0.7, 0.5])
        let asc = idx.sort(idx.slots(branches: nil), by: .column(acc), descending: false).map { idx.number(acc, $0) }
        XCTAssertEqual(asc, [0.5, 0.7, 0.8, 0.9])
        let model = try idx.column(named: "model")
        XCTAssertEqual(idx.sort(idx.slots(branches: nil), by: .column(model), descending: false).map { idx.value(model, $0)?.stringValue }, ["m0", "m0", "m1", "m1"])
        let f = try FilterExpression(#"accuracy >= 0.7 && (lr < 0.025 || model == "m1")"#)
        let kept = try idx.filter(idx.slots(branches: nil), f).map { idx.entry($0).commit.subject }
        XCTAssertEqual(kept, ["c3", "c2", "c1"])
        XCTAssertThrowsError(try idx.filter(idx.slots(branches: nil), try FilterExpression("accuracy > 1 || nope < 2"))) { e in
            XCTAssertEqual((e as! UIError).message, "filter: no column 'nope' at column 17")
        }
    }

    /// A generated history of a few thousand commits written straight to the store: how long
    /// the index takes to build, refresh and answer (printed; no timed assertions).
    func testThousandsOfCommits() throws {
        let n = 3000
        let repo = fx.repo
        var g = SplitMix64(seed: 7)
        let t0 = Sys.monotonicSeconds()
        let tip = try repo.withLock { () -> ObjectId in
            let tree = try repo.writeTree([:])
            var parent: ObjectId? = nil
            for i in 0..<n {
                var m = CommitMeta()
                var params: FlatValues = [:], metrics: FlatValues = [:]
                for k in 0..<20 { params["p\(k)"] = .number(Double(g.next() % 1000) / 1000) }
                for k in 0..<20 { metrics["m\(k)"] = .number(Double(g.next() % 1000) / 1000) }
                metrics["loss_curve"] = .array((0..<5).map { .number(Double($0 + i)) })
                m.params = ["params.json": params]; m.metrics = ["metrics.json": metrics]
                let metaId = try repo.store.put(.blob, m.encoded())
                let who = Signature(name: "G", email: "g@g", time: 1_700_000_000 + Int64(i))
                let c = Commit(tree: tree, parents: parent.map { [$0] } ?? [], author: who, committer: who,
                               extra: [("meta", metaId.hex)], message: "run \(i)\n")
                parent = try repo.store.put(.commit, c.encode())
            }
            try repo.store.commitPending()
            return parent!
        }
        try repo.refs.update("refs/heads/main", to: tip, who: repo.signature(), message: "generated")
        let t1 = Sys.monotonicSeconds()
        let app = fx.app()
        var r = app.get("/experiments")
        let t2 = Sys.monotonicSeconds()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(app.index.count, n)
        XCTAssertEqual(app.index.columns.count, 40)
        XCTAssertEqual(count("class=\"pick\"", in: r.body), 100)
        XCTAssertTrue(r.body.contains("1–100 of 3,000"), String(r.body.prefix(3000)))
        var times: [String: Double] = [:]
        func time(_ name: String, _ path: String, _ q: [(String, String?)]) {
            let s = Sys.monotonicSeconds()
            r = app.get(path, q)
            times[name] = (Sys.monotonicSeconds() - s) * 1000
            XCTAssertLessThan(r.status, 500, name)
        }
        time("experiments (warm)", "/experiments", [])
        time("sorted by m3", "/experiments", [("sort", "m3"), ("order", "desc")])
        time("filtered", "/experiments", [("filter", "m1 > 0.5 && p2 < 0.3 || !(m4 >= 0.1)")])
        time("diff columns, page 7", "/experiments", [("diff", "1"), ("page", "7")])
        time("api", "/api/experiments", [("sort", "m0")])
        time("charts (4 metrics)", "/charts", [])
        time("charts (1 metric, scatter, parallel)", "/charts", [("metric", "m0"), ("x", "p1"), ("y", "m1"), ("parallel", "1")])
        time("compare", "/compare", [("c", "HEAD~5"), ("c", "HEAD")])
        // One more commit: an incremental refresh reads one commit.
        let before = app.index.commitsRead
        try repo.withLock {
            let c = Commit(tree: try repo.readCommit(tip).tree, parents: [tip], author: repo.signature(), committer: Signature(name: "G", email: "g@g", time: 1_700_000_000 + Int64(n)), message: "one more\n")
            let id = try repo.store.put(.commit, c.encode())
            try repo.store.commitPending()
            try repo.refs.update("refs/heads/main", to: id, who: repo.signature(), message: "more")
        }
        time("after one new commit", "/experiments", [])
        XCTAssertEqual(app.index.commitsRead, before + 1)
        print("UI index over \(n) commits: generate \(Int((t1 - t0) * 1000)) ms, first page (index built) \(Int((t2 - t1) * 1000)) ms; "
              + times.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1f", $0.value)) ms" }.joined(separator: ", "))
    }
}
