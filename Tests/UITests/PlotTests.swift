import Foundation
import XCTest
import ML
import Store
import Support
@testable import UI

/// Plot files (CSV, TSV, JSON), confusion counts, and the collector over commits and the
/// work tree, through the library.
final class PlotTests: XCTestCase {
    var dir = ""
    var ml: MLRepo!
    static let hostile = "<img src=x onerror=alert(1)>"

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-plots-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ml = MLRepo(try Repository.create(at: dir, settings: StoreSettings(fsync: false, identity: Identity(name: "Lib Test", email: "lib@test"))))
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ rel: String, _ text: String) throws {
        try FS.mkdirs(Path.dirname(dir + "/" + rel))
        try FS.atomicWrite(dir + "/" + rel, text: text, durable: false)
    }

    func commitAll(_ message: String) throws -> ObjectId {
        _ = try ml.repo.add([""])
        return try ml.commit(message: message).id
    }

    func table(_ text: String, _ path: String) throws -> PlotTable { try PlotTable.parse(Array(text.utf8), path: path) }

    func problem(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch let p as PlotCollector.Problem { return p.message } catch { return "other: \(error)" }
    }

    func testCSVTSVAndJSONTables() throws {
        var t = try table("\u{FEFF}step,loss,\"a,b\"\n0,1.5,\"x,y\"\r\n1,0.75,z\n\n", "l.csv")
        XCTAssertEqual(t.columns, ["step", "loss", "a,b"])
        XCTAssertEqual(t.rows, [["0", "1.5", "x,y"], ["1", "0.75", "z"]])
        t = try table("step\tloss\n0\t2\n1\t1\n", "l.tsv")
        XCTAssertEqual(t.columns, ["step", "loss"])
        XCTAssertEqual(t.rows, [["0", "2"], ["1", "1"]])
        t = try table(#"[{"step": 0, "loss": 0.5, "tag": "a"}, {"step": 1, "loss": 2, "tag": "b"}]"#, "l.json")
        XCTAssertEqual(t.columns, ["loss", "step", "tag"])
        XCTAssertEqual(t.rows, [["0.5", "0", "a"], ["2", "1", "b"]])
        t = try table(#"{"train": [{"x": 1, "y": 2}]}"#, "l.json")
        XCTAssertEqual(t.rows, [["1", "2"]])
        XCTAssertEqual(PlotTable.number(" 2.5 "), 2.5)
        XCTAssertNil(PlotTable.number("abc"))
        XCTAssertNil(PlotTable.number(""))
        XCTAssertTrue(problem { _ = try self.table("{\"a\": ", "bad.json") }.contains("bad.json"))
        XCTAssertTrue(problem { _ = try self.table("[1, 2]", "nums.json") }.contains("nums.json must hold an array of objects"))
        XCTAssertTrue(problem { _ = try self.table("a,b\n\"open,1\n", "q.csv") }.contains("q.csv line 2"))
        XCTAssertTrue(problem { _ = try self.table("", "e.csv") }.contains("e.csv is empty"))
        XCTAssertTrue(problem { _ = try t.column("nope", "l.json") }.contains("l.json has no column 'nope' (columns: x, y)"))
        // Rows past the limit are not read.
        let many = "i\n" + String(repeating: "1\n", count: PlotCollector.maxRows + 5)
        let big = try table(many, "m.csv")
        XCTAssertEqual(big.rows.count, PlotCollector.maxRows)
        XCTAssertTrue(big.truncated)
        // Wide files keep at most maxCells cells.
        let wide = (0..<1000).map { "c\($0)" }.joined(separator: ",") + "\n" + String(repeating: Array(repeating: "1", count: 1000).joined(separator: ",") + "\n", count: 2500)
        let w = try table(wide, "w.csv")
        XCTAssertEqual(w.rows.count, PlotTable.maxCells / 1000)
        XCTAssertTrue(w.truncated)
    }

    func testConfusionCounts() throws {
        let rows = [["1", "1"], ["10", "2"], ["2", "2"], ["1", "2"], ["2", "2"]]
        let (labels, counts) = try PlotTable.confusion(rows, 0, 1, path: "c.csv")
        XCTAssertEqual(labels, ["1", "2", "10"])        // numeric order
        XCTAssertEqual(counts, [[1, 1, 0], [0, 2, 0], [0, 1, 0]])
        let (l2, c2) = try PlotTable.confusion([["dog", "cat"], ["cat", "cat"]], 0, 1, path: "c.csv")
        XCTAssertEqual(l2, ["cat", "dog"])
        XCTAssertEqual(c2, [[1, 0], [1, 0]])
        let tooMany = (0...PlotCollector.maxClasses).map { ["c\($0)", "x"] }
        XCTAssertTrue(problem { _ = try PlotTable.confusion(tooMany, 0, 1, path: "c.csv") }.contains("more than 100 classes"))
    }

    func testSamplingKeepsEndsAndIsEven() {
        let pts = (0..<12_345).map { ChartPoint(x: Double($0), y: 0) }
        let s = PlotGroup.sample(pts, limit: 5000)
        XCTAssertEqual(s.count, 5000)
        XCTAssertEqual(s.first?.x, 0)
        XCTAssertEqual(s.last?.x, 12_344)
        XCTAssertEqual(PlotGroup.sample(Array(pts.prefix(10)), limit: 5000).count, 10)
    }

    let project = """
    {"stages": {"ev": {"cmd": "true", "metrics": ["m.json"],
      "plots": ["plain.csv", {"loss.csv": {"x": "step", "y": ["loss", "val"], "title": "Loss"}},
                {"conf.csv": {"template": "confusion", "x": "actual", "y": "predicted"}},
                {"cls.csv": {"x": "cls", "y": "n", "template": "bar"}}]}}}
    """

    func testCollectOverlaysRevisionsAndReportsProblems() throws {
        try write("mlrepo.json", project)
        try write("plain.csv", "a,b\n1,10\n2,20\n")
        try write("loss.csv", "step,loss,val\n0,1,2\n1,0.5,1\n")
        try write("conf.csv", "actual,predicted\na,a\na,b\nb,b\n")
        try write("cls.csv", "cls,n\n\(Self.hostile),3\nsafe,4\n")
        try write("m.json", #"{"acc": 0.9, "curve": [3, 2, 1], "nested": {"c": [1, "x"]}}"#)
        let c1 = try commitAll("one")
        try write("loss.csv", "step,loss,val\n0,0.9,2\n1,0.4,1\n2,0.2,nope\n")
        try FileManager.default.removeItem(atPath: dir + "/plain.csv")
        let revs = [PlotRevision(name: "HEAD", commit: c1), PlotRevision(name: "workspace", commit: nil)]
        let groups = try PlotCollector(ml: ml).collect(revs, targets: [])
        // Declared plots in the stage's order, then the curves of its metrics files.
        XCTAssertEqual(groups.map(\.id), ["plain.csv", "loss.csv", "conf.csv", "cls.csv", "m.json:curve"])
        let byId = Dictionary(uniqueKeysWithValues: groups.map { ($0.id, $0) })
        // Defaults: x is the row index, y the last column.
        let plain = byId["plain.csv"]!
        XCTAssertEqual(plain.series.map(\.name), ["HEAD"])
        XCTAssertEqual(plain.series[0].points.map { [$0.x, $0.y] }, [[0, 10], [1, 20]])
        XCTAssertEqual(plain.xLabel, "step"); XCTAssertEqual(plain.yLabel, "b")
        XCTAssertEqual(plain.problems["workspace"], "plain.csv is missing")
        let loss = byId["loss.csv"]!
        XCTAssertEqual(loss.title, "Loss")
        XCTAssertEqual(loss.xLabel, "step"); XCTAssertEqual(loss.yLabel, "loss, val")
        XCTAssertEqual(loss.series.map(\.name), ["HEAD: loss", "HEAD: val", "workspace: loss", "workspace: val"])
        XCTAssertEqual(loss.series[2].points.map { [$0.x, $0.y] }, [[0, 0.9], [1, 0.4], [2, 0.2]])
        XCTAssertEqual(loss.series[3].points.count, 2)
        XCTAssertEqual(loss.problems["workspace"], "loss.csv: 1 value not numbers were skipped")
        let conf = byId["conf.csv"]!
        XCTAssertEqual(conf.confusion.count, 2)
        XCTAssertEqual(conf.confusion[0].labels, ["a", "b"])
        XCTAssertEqual(conf.confusion[0].counts, [[1, 1], [0, 1]])
        XCTAssertEqual(conf.xLabel, "actual"); XCTAssertEqual(conf.yLabel, "predicted")
        // A text x column is categorical.
        let cls = byId["cls.csv"]!
        XCTAssertEqual(cls.xCategories, [Self.hostile, "safe"])
        // The curve of the metrics file, x = step; the mixed list is not a curve.
        let curve = byId["m.json:curve"]!
        XCTAssertEqual(curve.series.map(\.name), ["HEAD", "workspace"])
        XCTAssertEqual(curve.series[0].points.map(\.y), [3, 2, 1])
        XCTAssertNil(byId["m.json:nested.c"])
        // JSON: every point; categorical x as its text.
        let j = PlotReport.json(groups: groups).encoded()
        XCTAssertTrue(j.contains(#"{"name":"HEAD","points":[[0,10],[1,20]]}"#), j)
        XCTAssertTrue(j.contains(#"[["<img src=x onerror=alert(1)>",3],["safe",4]]"#), j)
        XCTAssertTrue(j.contains(#""counts":[[1,1],[0,1]]"#))
        // HTML: escaped, no script, problems listed per revision.
        let html = PlotReport.html(title: "Plots " + Self.hostile, revisions: revs, groups: groups)
        XCTAssertFalse(html.contains("<img"))
        XCTAssertFalse(html.contains("<script"))
        XCTAssertTrue(html.contains("workspace: plain.csv is missing"))
        XCTAssertTrue(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        XCTAssertEqual(html.components(separatedBy: "class=\"cell\"").count - 1, 8)
        XCTAssertEqual(html.components(separatedBy: "class=\"bar\"").count - 1, 4)

        // Targets: a plot file, a metrics file (its curves), a curve id; unknown is an error.
        XCTAssertEqual(try PlotCollector(ml: ml).collect(revs, targets: ["loss.csv"]).map(\.id), ["loss.csv"])
        XCTAssertEqual(try PlotCollector(ml: ml).collect(revs, targets: ["m.json"]).map(\.id), ["m.json:curve"])
        XCTAssertEqual(try PlotCollector(ml: ml).collect(revs, targets: ["m.json:curve", "conf.csv"]).map(\.id), ["conf.csv", "m.json:curve"])
        XCTAssertThrowsError(try PlotCollector(ml: ml).collect(revs, targets: ["nope.csv"])) { e in
            XCTAssertTrue("\(e)".hasPrefix("no plot or metrics file 'nope.csv' in HEAD, workspace (plots: "), "\(e)")
        }
    }

    func testOversizedFileIsAProblemNamingIt() throws {
        try write("mlrepo.json", #"{"stages": {"ev": {"cmd": "true", "plots": ["big.csv"]}}}"#)
        let big = "v\n" + String(repeating: "1234567\n", count: (PlotCollector.maxFileBytes / 8) + 10)
        try write("big.csv", big)
        let g = try PlotCollector(ml: ml).collect([PlotRevision(name: "workspace", commit: nil)], targets: [])
        XCTAssertEqual(g.count, 1)
        XCTAssertTrue(g[0].series.isEmpty)
        XCTAssertTrue(g[0].problems["workspace"]!.hasPrefix("big.csv is over 16 MiB"), g[0].problems["workspace"]!)
    }

    func testBadProjectAtARevisionIsAProblemNotACrash() throws {
        try write("mlrepo.json", #"{"stages": {"ev": {"cmd": "true", "plots": ["a.csv"]}}}"#)
        try write("a.csv", "x\n1\n")
        let c = try commitAll("one")
        try write("mlrepo.json", #"{"stages": "#)
        let revs = [PlotRevision(name: "HEAD", commit: c), PlotRevision(name: "workspace", commit: nil)]
        let g = try PlotCollector(ml: ml).collect(revs, targets: [])
        XCTAssertEqual(g.map(\.id), ["a.csv"])
        XCTAssertEqual(g[0].series.map(\.name), ["HEAD"])
        XCTAssertTrue(g[0].problems["workspace"]!.contains("mlrepo.json line 1"), g[0].problems["workspace"]!)
    }

    // MARK: bounded page reads (issue 17 review)

    /// 30 declared plots: a page asks for 24, and only those 24 files are read and parsed;
    /// the total says how many there were. The CLI's plain `collect` still gets all 30.
    func testPageLimitChoosesPlotsBeforeReadingData() throws {
        let ids = (0..<30).map { String(format: "p%02d.csv", $0) }
        try write("mlrepo.json", #"{"stages": {"ev": {"cmd": "true", "plots": ["# + ids.map { "\"\($0)\"" }.joined(separator: ", ") + "]}}}")
        for (i, id) in ids.enumerated() { try write(id, "x,y\n0,\(i)\n1,\(i + 1)\n") }
        let c = try commitAll("thirty")
        let revs = [PlotRevision(name: "HEAD", commit: c)]
        let cache = PlotTableCache()
        let page = try PlotCollector(ml: ml).collect(revs, targets: [], limit: 24, byteBudget: 64 << 20, cache: cache)
        XCTAssertEqual(page.groups.map(\.id), Array(ids.prefix(24)))
        XCTAssertEqual(page.total, 30)
        XCTAssertEqual(cache.misses, 24)
        XCTAssertEqual(cache.count, 24)
        XCTAssertEqual(page.groups[23].series[0].points.map(\.y), [23, 24])
        // The same file versions again: parsed once, served from the cache.
        let again = try PlotCollector(ml: ml).collect(revs, targets: [], limit: 24, byteBudget: 64 << 20, cache: cache)
        XCTAssertEqual(cache.misses, 24)
        XCTAssertEqual(cache.hits, 24)
        XCTAssertEqual(again.groups.map { $0.series.map(\.points) }, page.groups.map { $0.series.map(\.points) })
        XCTAssertEqual(try PlotCollector(ml: ml).collect(revs, targets: []).count, 30)
        // The Charts and Compare pages draw the first 24 and say so.
        let app = UIApp(ml: ml, options: UIOptions())
        for (path, query) in [("/charts", ""), ("/compare", "c=\(c.short)&c=\(c.short)")] {
            let body = String(decoding: app.render(path: path, query: query).body, as: UTF8.self)
            XCTAssertEqual(body.components(separatedBy: "data-plot=\"").count - 1, 24, path)
            XCTAssertTrue(body.contains("The first 24 of 30 plots"), path)
        }
    }

    /// Over the byte budget, a plot at a revision is a problem "not read", not a slow page.
    func testByteBudgetMakesTheRestAProblem() throws {
        try write("mlrepo.json", #"{"stages": {"ev": {"cmd": "true", "plots": ["a.csv", "b.csv", "c.csv"]}}}"#)
        let body = "x,y\n" + String(repeating: "1,2\n", count: 250)  // 1,004 bytes
        for f in ["a.csv", "b.csv", "c.csv"] { try write(f, body) }
        let c = try commitAll("three")
        let revs = [PlotRevision(name: "HEAD", commit: c), PlotRevision(name: "workspace", commit: nil)]
        let project = try FS.readFile(dir + "/mlrepo.json").count
        // Both project files, then a.csv twice and b.csv once fit.
        let cache = PlotTableCache()
        let r = try PlotCollector(ml: ml).collect(revs, targets: [], limit: nil, byteBudget: 2 * project + 3 * 1004, cache: cache)
        XCTAssertEqual(r.groups.map(\.id), ["a.csv", "b.csv", "c.csv"])
        XCTAssertEqual(r.groups[0].series.map(\.name), ["HEAD", "workspace"])
        XCTAssertEqual(r.groups[1].series.map(\.name), ["HEAD"])
        XCTAssertEqual(r.groups[1].problems["workspace"], "not read: over the \(2 * project + 3 * 1004) bytes a page reads")
        XCTAssertTrue(r.groups[2].series.isEmpty)
        XCTAssertEqual(r.groups[2].problems["HEAD"], "not read: over the \(2 * project + 3 * 1004) bytes a page reads")
        // Without a budget, all of it.
        XCTAssertTrue(try PlotCollector(ml: ml).collect(revs, targets: []).allSatisfy { $0.problems.isEmpty && $0.series.count == 2 })
    }

    /// The cache is bounded by entries (least recently used dropped first).
    func testTableCacheIsBounded() throws {
        let cache = PlotTableCache(maxEntries: 2, maxBytes: 1 << 20)
        let t = PlotTable(columns: ["a"], rows: [["1"]])
        cache.put("a", t, cost: 10); cache.put("b", t, cost: 10)
        XCTAssertNotNil(cache.get("a"))
        cache.put("c", t, cost: 10)
        XCTAssertNil(cache.get("b"))
        XCTAssertNotNil(cache.get("a")); XCTAssertNotNil(cache.get("c"))
        cache.put("huge", t, cost: 2 << 20)
        XCTAssertNil(cache.get("huge"))
        XCTAssertEqual(cache.count, 2)
    }

    /// A categorical plot whose JSON x is not an index never traps.
    func testJSONOfOddCategoricalX() {
        var g = PlotGroup(id: "a", title: "a", template: "linear", xLabel: "x", yLabel: "y",
                          series: [ChartSeries(name: "s", points: [ChartPoint(x: .nan, y: 1), ChartPoint(x: 1e300, y: 2), ChartPoint(x: 0, y: 3)])])
        g.xCategories = ["zero"]
        let j = g.json.encoded()
        XCTAssertTrue(j.contains(#"["zero",3]"#), j)
    }
}

final class CurveStepTests: XCTestCase {
    func testACurveIsDrawnAtItsRecordedStep() throws {
        let j = try JSON.parse(#"{"loss_curve": [3, 2, 1], "loss_curve_step": 5, "acc": [0.1, 0.2], "nested": {"l": [1, 2], "l_step": 2}, "bad": [1], "bad_step": -3}"#)
        let arrays = Dictionary(uniqueKeysWithValues: PlotCollector.numericArrays(j).map { ($0.0, $0.2) })
        XCTAssertEqual(arrays["loss_curve"], 5)
        XCTAssertEqual(arrays["acc"], 1)
        XCTAssertEqual(arrays["nested.l"], 2)
        XCTAssertEqual(arrays["bad"], 1, "a step that is not positive is ignored")
    }
}
