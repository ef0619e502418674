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
}
