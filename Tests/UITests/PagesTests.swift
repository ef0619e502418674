import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif
import ML
import Net
import Store
import Support
@testable import UI

/// The Lineage, Registry, Data, Files (+ /raw) and Serving pages, rendered without a server
/// (`UIApp.render`) over real repositories built through the library.
final class PagesTests: XCTestCase {
    var dir = ""
    var ml: MLRepo!
    static let hostile = ["<img src=x onerror=alert(1)>", "\"><script>alert(1)</script>"]
    static let hostileName = "<img src=x onerror=alert(1)>"

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-pages-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ml = MLRepo(try Repository.create(at: dir, settings: StoreSettings(fsync: false, identity: Identity(name: "Page <b>Tester</b>", email: "p@t"))))
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ rel: String, _ text: String) throws { try write(rel, Array(text.utf8)) }
    func write(_ rel: String, _ bytes: [UInt8]) throws {
        try FS.mkdirs(Path.dirname(dir + "/" + rel))
        try FS.atomicWrite(dir + "/" + rel, bytes, durable: false)
    }

    @discardableResult
    func commitAll(_ message: String) throws -> ObjectId {
        _ = try ml.repo.add([""])
        return try ml.commit(message: message).id
    }

    struct Page {
        var status: Int
        var headers: [(String, String)]
        var body: String
        func header(_ n: String) -> String? { headers.first { $0.0.lowercased() == n.lowercased() }?.1 }
        func count(_ s: String) -> Int { body.components(separatedBy: s).count - 1 }
    }

    func render(_ app: UIApp, _ path: String, _ query: [(String, String?)] = []) -> Page {
        let url = HTML.url(path, query)
        let parts = url.split(separator: "?", maxSplits: 1)
        let r = app.render(path: String(parts[0]), query: parts.count > 1 ? String(parts[1]) : "")
        return Page(status: r.status, headers: r.headers, body: String(decoding: r.body, as: UTF8.self))
    }

    func app(serveURL: String? = nil) -> UIApp {
        var o = UIOptions()
        o.serveURL = serveURL
        return UIApp(ml: ml, options: o)
    }

    /// No hostile value appears raw; `escaped` ones appear escaped.
    func assertSafe(_ p: Page, escaped: [String] = [], file: StaticString = #filePath, line: UInt = #line) {
        for h in PagesTests.hostile { XCTAssertFalse(p.body.contains(h), "raw hostile text in the page", file: file, line: line) }
        XCTAssertFalse(p.body.contains("<script>alert"), file: file, line: line)
        XCTAssertFalse(p.body.contains("<img src=x"), file: file, line: line)
        for e in escaped { XCTAssertTrue(p.body.contains(HTML.text(e)), "'\(e)' shown escaped", file: file, line: line) }
    }

    // MARK: Files and /raw

    func testFilesListsFoldersFirstAndEscapesNamesCellsAndMessages() throws {
        try write("\(Self.hostileName).csv", "name,note\nx,\"\(Self.hostile[1].replacingOccurrences(of: "\"", with: "\"\""))\"\ny,\(Self.hostile[0])\n")
        try write("zz/notes.txt", "hello <b>world</b>\n")
        try write("aa.txt", "a\n")
        try commitAll(Self.hostile[1])
        let a = app()
        var p = render(a, "/files")
        XCTAssertEqual(p.status, 200)
        assertSafe(p, escaped: [Self.hostileName + ".csv", Self.hostile[1]])
        let folder = try XCTUnwrap(p.body.range(of: ">zz/</a>")), file = try XCTUnwrap(p.body.range(of: ">aa.txt</a>"))
        XCTAssertLessThan(folder.lowerBound, file.lowerBound, "folders first")
        XCTAssertTrue(p.body.contains(HTML.attr(HTML.url("/files", [("rev", "HEAD"), ("path", Self.hostileName + ".csv")]))))
        // The CSV: its cells escaped in a sortable table.
        p = render(a, "/files", [("path", Self.hostileName + ".csv")])
        XCTAssertEqual(p.status, 200)
        XCTAssertTrue(p.body.contains("<table class=\"sortable data\">"))
        assertSafe(p, escaped: Self.hostile)
        // Text: escaped inside <pre>; breadcrumbs link each folder.
        p = render(a, "/files", [("path", "zz/notes.txt")])
        XCTAssertTrue(p.body.contains("<pre class=\"file\">hello &lt;b&gt;world&lt;/b&gt;"), p.body)
        XCTAssertTrue(p.body.contains(HTML.attr(HTML.url("/files", [("rev", "HEAD"), ("path", "zz")]))))
        // The author's name is repository text too.
        XCTAssertFalse(p.body.contains("<b>Tester</b>"))
    }

    func testTablesArePaginatedAndStopAtThePage() throws {
        var csv = "id,value\n"
        for i in 1...120 { csv += "row-\(i),\(i)\n" }
        try write("t.csv", csv)
        try write("t.tsv", "a\tb\n1\t<x>\n")
        try commitAll("tables")
        let a = app()
        var p = render(a, "/files", [("path", "t.csv")])
        XCTAssertEqual(p.count("<tr><td class=\"num\">"), 50)
        XCTAssertTrue(p.body.contains(">row-50<") && !p.body.contains(">row-51<"))
        XCTAssertTrue(p.body.contains(HTML.attr(HTML.url("/files", [("rev", "HEAD"), ("path", "t.csv"), ("page", "2")]))))
        p = render(a, "/files", [("path", "t.csv"), ("page", "3")])
        XCTAssertEqual(p.count("<tr><td class=\"num\">"), 20)
        XCTAssertTrue(p.body.contains(">row-101<") && p.body.contains(">row-120<"))
        XCTAssertFalse(p.body.contains("page=4"), "no next page after the last")
        XCTAssertEqual(render(a, "/files", [("path", "t.csv"), ("page", "99999")]).status, 400)
        XCTAssertEqual(render(a, "/files", [("path", "t.csv"), ("page", "-1")]).status, 400)
        p = render(a, "/files", [("path", "t.tsv")])
        XCTAssertTrue(p.body.contains("<th>b</th>") && p.body.contains("<td>&lt;x&gt;</td>"), p.body)
    }

    func testLargeFoldersAreListedAPageAtATime() throws {
        for i in 0..<(UIApp.listingPage + 5) { try write(String(format: "big/f%05d.txt", i), "\(i)\n") }
        try commitAll("many files")
        let a = app()
        var p = render(a, "/files", [("path", "big")])
        XCTAssertEqual(p.count("<tr><td><a href="), UIApp.listingPage)
        XCTAssertTrue(p.body.contains("entries 1–\(UIApp.listingPage) of \(UIApp.listingPage + 5)"))
        XCTAssertTrue(p.body.contains(HTML.attr(HTML.url("/files", [("rev", "HEAD"), ("path", "big"), ("page", "2")]))))
        p = render(a, "/files", [("path", "big"), ("page", "2")])
        XCTAssertEqual(p.count("<tr><td><a href="), 5)
        XCTAssertTrue(p.body.contains(">f01004.txt<"))
        XCTAssertEqual(render(a, "/files", [("path", "big"), ("page", "3")]).status, 400)
    }

    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDRpixels".utf8)

    func testImagesBinaryAndRawHeaders() throws {
        try write("img/plot.png", Self.png)
        try write("fake.png", "<html><script>alert(1)</script></html>")
        try write("evil.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>")
        try write("page.html", "<script>alert(1)</script>")
        try write("blob.bin", [1, 2, 0, 3, 255, 0])
        try commitAll("files")
        let a = app()
        var p = render(a, "/files", [("path", "img/plot.png")])
        XCTAssertTrue(p.body.contains("<img class=\"preview\" src=\"\(HTML.attr(HTML.url("/raw", [("rev", "HEAD"), ("path", "img/plot.png")])))\""), p.body)
        p = render(a, "/files", [("path", "blob.bin")])
        XCTAssertTrue(p.body.contains("Binary file"))
        p = render(a, "/files", [("path", "evil.svg")])
        XCTAssertFalse(p.body.contains("<img class=\"preview\""), "SVG is never displayed as an image")
        XCTAssertFalse(p.body.contains("<script>alert(1)</script>"))
        // /raw: a real PNG with its type under a sandboxing CSP.
        var r = render(a, "/raw", [("path", "img/plot.png")])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Content-Type"), "image/png")
        XCTAssertEqual(r.header("Content-Security-Policy"), "default-src 'none'; sandbox")
        XCTAssertEqual(r.header("X-Content-Type-Options"), "nosniff")
        XCTAssertNil(r.header("Content-Disposition"))
        XCTAssertEqual(Array(r.body.utf8).count, Array(String(decoding: Self.png, as: UTF8.self).utf8).count)
        // Everything else, a PNG name on HTML bytes included, is a download.
        for path in ["fake.png", "evil.svg", "page.html", "blob.bin"] {
            r = render(a, "/raw", [("path", path)])
            XCTAssertEqual(r.status, 200, path)
            XCTAssertEqual(r.header("Content-Type"), "application/octet-stream", path)
            XCTAssertEqual(r.header("Content-Disposition")?.hasPrefix("attachment; filename=\""), true, path)
            XCTAssertEqual(r.header("Content-Security-Policy"), "default-src 'none'; sandbox", path)
            XCTAssertEqual(r.header("X-Content-Type-Options"), "nosniff", path)
        }
    }

    func testPathTraversalAndBadRevisionsAreRefusedAndEscaped() throws {
        try write("a/b.txt", "b\n")
        try commitAll("one")
        let a = app()
        for path in ["../etc/passwd", "/etc/passwd", "a/../a/b.txt", "a/./b.txt", "a//b.txt", "a\\b.txt"] {
            XCTAssertEqual(render(a, "/files", [("path", path)]).status, 400, path)
            XCTAssertEqual(render(a, "/raw", [("path", path)]).status, 400, path)
        }
        XCTAssertEqual(render(a, "/raw", [("path", "a/missing.txt")]).status, 404)
        XCTAssertEqual(render(a, "/raw", [("path", "a")]).status, 400, "a folder is not sent")
        XCTAssertEqual(render(a, "/files", [("path", "nope")]).status, 404)
        for page in ["/files", "/raw", "/lineage", "/data"] {
            let p = render(a, page, [("rev", Self.hostile[1])])
            XCTAssertEqual(p.status, 404, page)
            assertSafe(p)
            XCTAssertTrue(p.body.contains(HTML.text(Self.hostile[1])), page)
        }
    }

    // MARK: Lineage

    func makePipeline() throws {
        try write("raw.csv", "x,y\n1,2\n3,4\n")
        try write("\(Self.hostileName).txt", "hostile input\n")
        try write("params.json", "{\"lr\": 0.5, \"note\": \"\(Self.hostile[0])\"}")
        try write("mlrepo.json", """
        {"stages": {
          "prep": {"cmd": "echo '\(Self.hostile[0])' > /dev/null; cp raw.csv clean.csv", "deps": ["raw.csv", "\(Self.hostileName).txt"], "outs": ["clean.csv"]},
          "train": {"cmd": "cat clean.csv > model.pkl; echo '{\\"accuracy\\": 0.9}' > metrics.json", "deps": ["clean.csv"], "params": ["lr", "note"], "outs": ["model.pkl"], "metrics": ["metrics.json"]}
        }}
        """)
        try ml.repro(targets: [], events: { _ in })
        try commitAll("pipeline")
    }

    func testLineageGraphNodesEdgesFocusAndEscaping() throws {
        try makePipeline()
        let a = app()
        var p = render(a, "/lineage")
        XCTAssertEqual(p.status, 200, p.body)
        // Found by review: an absolute path looped for ever walking up to its folder.
        XCTAssertEqual(render(a, "/lineage?path=%2Fx").status, 400)
        XCTAssertEqual(render(a, "/lineage?path=..%2Fx").status, 400)
        // Stages prep and train; files raw.csv, the hostile input, params.json, clean.csv,
        // model.pkl, metrics.json.
        XCTAssertEqual(p.count("<g class=\"node stage\">"), 2)
        XCTAssertEqual(p.count("<g class=\"node file"), 6)
        XCTAssertEqual(p.count("<path class=\"edge\""), 7)
        XCTAssertTrue(p.body.contains("<g class=\"node file kind-model\">"))
        XCTAssertTrue(p.body.contains(HTML.attr(HTML.url("/files", [("rev", "HEAD"), ("path", "model.pkl")]))))
        XCTAssertTrue(p.body.contains(HTML.attr(HTML.url("/files", [("rev", "HEAD"), ("path", Self.hostileName + ".txt")]))))
        assertSafe(p, escaped: [Self.hostileName + ".txt", "note=" + Self.hostile[0]])
        // Focused on clean.csv: its upstream and downstream, the rest of the graph gone.
        p = render(a, "/lineage", [("path", "clean.csv")])
        let up = try XCTUnwrap(p.body.range(of: "<ul class=\"upstream\">")), down = try XCTUnwrap(p.body.range(of: "<ul class=\"downstream\">"))
        let upList = String(p.body[up.upperBound..<down.lowerBound])
        XCTAssertTrue(upList.contains(">raw.csv<") && upList.contains(">prep<"), upList)
        XCTAssertFalse(upList.contains(">model.pkl<"))
        let downList = String(p.body[down.upperBound...].prefix(while: { _ in true }))
        XCTAssertTrue(downList.contains(">model.pkl<") && downList.contains(">train<"))
        XCTAssertTrue(p.body.contains(HTML.attr(HTML.url("/lineage", [("rev", "HEAD"), ("path", "raw.csv")]))))
        assertSafe(p)
        // A stage focus, a file no stage touched, an unknown stage.
        p = render(a, "/lineage", [("stage", "train")])
        XCTAssertEqual(p.count("<g class=\"node stage\">"), 2, "train's upstream holds prep")
        XCTAssertEqual(render(a, "/lineage", [("path", "params.json"), ("rev", "HEAD")]).status, 200)
        p = render(a, "/lineage", [("path", Self.hostile[1])])
        XCTAssertTrue(p.body.contains("No recorded stage"))
        assertSafe(p)
        XCTAssertEqual(render(a, "/lineage", [("stage", Self.hostile[0])]).status, 404)
    }

    func testLineageFocusesThroughFoldersAndPointsBackWhenRecordsAreGone() throws {
        try write("in/a.txt", "a\n")
        try write("in/b.txt", "b\n")
        try write("mlrepo.json", """
        {"stages": {"pack": {"cmd": "cat in/a.txt in/b.txt > packed.txt", "deps": ["in"], "outs": ["packed.txt"]}}}
        """)
        try ml.repro(targets: [], events: { _ in })
        try commitAll("packed")
        let a = app()
        // A file inside the folder input is shown through the folder.
        var p = render(a, "/lineage", [("path", "in/b.txt")])
        XCTAssertTrue(p.body.contains("in/b.txt is inside in, which the graph shows."), p.body)
        XCTAssertTrue(p.body.contains("<ul class=\"downstream\">") && p.body.contains(">packed.txt</a>"))
        // An input changed and committed without running the stage: the commit keeps no
        // record; the page points at the last commit that has one.
        let recorded = try XCTUnwrap(ml.repo.refs.headCommit())
        try write("in/b.txt", "b2\n")
        try commitAll("changed input")
        try write("other.txt", "o\n")
        try commitAll("another")
        p = render(a, "/lineage")
        XCTAssertTrue(p.body.contains("No lineage records in this commit"))
        XCTAssertTrue(p.body.contains("The nearest earlier commit with records: <a class=\"mono\" href=\"\(HTML.attr(HTML.url("/lineage", [("rev", recorded.hex)])))\">"), p.body)
    }

    func testLineageOfACommitWithoutRecordsSaysSo() throws {
        try write("a.txt", "a\n")
        try commitAll("plain")
        XCTAssertTrue(render(app(), "/lineage").body.contains("No lineage records in this commit"))
    }

    // MARK: Registry

    func testRegistryHistoryMetricAcrossPromotionsAndEscaping() throws {
        try makePipeline()
        let first = try ml.promote(path: "model.pkl", rev: "HEAD", alias: "production", require: [MetricCheck.parse("accuracy>=0.5")], note: Self.hostile[1])
        // A second version with a higher accuracy.
        try write("raw.csv", "x,y\n1,2\n3,4\n5,6\n")
        try write("mlrepo.json", try String(contentsOfFile: dir + "/mlrepo.json", encoding: .utf8).replacingOccurrences(of: "0.9", with: "0.95"))
        try ml.repro(targets: [], events: { _ in })
        try commitAll("v2")
        let second = try ml.promote(path: "model.pkl", rev: "HEAD", alias: "production", require: [], note: Self.hostile[0])
        let a = app()
        var p = render(a, "/registry")
        XCTAssertEqual(p.status, 200)
        XCTAssertTrue(p.body.contains(HTML.attr(HTML.url("/registry", [("alias", "production")]))))
        XCTAssertTrue(p.body.contains(String(second.commit.prefix(12))))
        assertSafe(p)
        p = render(a, "/registry", [("alias", "production")])
        XCTAssertEqual(p.status, 200, p.body)
        XCTAssertEqual(p.count("<td class=\"num\">v"), 2)
        // The metric defaults to the one the check read, across both promotions.
        XCTAssertTrue(p.body.contains("<option value=\"metrics.json:accuracy\" selected>"), p.body)
        XCTAssertEqual(p.count("class=\"pt\""), 2, "one point per promoted version")
        XCTAssertTrue(p.body.contains(">0.95<") && p.body.contains(">0.9<"))
        XCTAssertTrue(p.body.contains(HTML.text("metrics.json:accuracy=0.9 (>=0.5)")))
        XCTAssertTrue(p.body.contains(HTML.attr(HTML.url("/compare", [("c", first.commit), ("c", second.commit)]))))
        assertSafe(p, escaped: Self.hostile)
        // Unknown and malformed aliases.
        XCTAssertEqual(render(a, "/registry", [("alias", "staging")]).status, 404)
        p = render(a, "/registry", [("alias", Self.hostile[1])])
        XCTAssertEqual(p.status, 400)
        assertSafe(p)
        // No aliases at all.
        let empty = try FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-pages-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: empty) }
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let other = UIApp(ml: MLRepo(try Repository.create(at: empty, settings: StoreSettings(fsync: false))), options: UIOptions())
        XCTAssertTrue(render(other, "/registry").body.contains("No aliases yet"))
    }

    /// Version numbers are the registry's (per model, oldest v1, as `mlrepo registry`
    /// prints them), not the promotion's place in one alias's history.
    func testRegistryVersionsAreTheRegistrysNumbers() throws {
        try makePipeline()
        try ml.promote(path: "model.pkl", rev: "HEAD", alias: "production", require: [], note: nil)
        try write("raw.csv", "x,y\n1,2\n3,4\n5,6\n")
        try ml.repro(targets: [], events: { _ in })
        try commitAll("v2")
        try write("raw.csv", "x,y\n1,2\n3,4\n5,6\n7,8\n")
        try ml.repro(targets: [], events: { _ in })
        try commitAll("v3")
        // staging gets only the third version: its first promotion, the model's v3.
        let third = try ml.promote(path: "model.pkl", rev: "HEAD", alias: "staging", require: [], note: nil)
        let second = try ml.promote(path: "model.pkl", rev: "HEAD~1", alias: "production", require: [], note: nil)
        let listed = try XCTUnwrap(ml.registryModels().first { $0.path == "model.pkl" }).versions
        XCTAssertEqual(listed.count, 3)
        let cli = { (id: String) in "v\((listed.firstIndex { $0.id == id } ?? -1) + 1)" }
        XCTAssertEqual(cli(third.modelId), "v3")
        XCTAssertEqual(cli(second.modelId), "v2")
        let a = app()
        var p = render(a, "/registry", [("alias", "staging")])
        XCTAssertEqual(p.status, 200, p.body)
        XCTAssertEqual(p.count("<td class=\"num\">v"), 1)
        XCTAssertTrue(p.body.contains("<td class=\"num\">v3</td>"), p.body)
        XCTAssertTrue(p.body.contains("v3 · "), "the chart's labels number the same way")
        p = render(a, "/registry", [("alias", "production")])
        XCTAssertTrue(p.body.contains("<td class=\"num\">v1</td>") && p.body.contains("<td class=\"num\">v2</td>"), p.body)
        XCTAssertFalse(p.body.contains("<td class=\"num\">v3</td>"))
        XCTAssertTrue(p.body.contains("compare with the previous promotion (v1)"), p.body)
        // The alias list shows what each alias points at, numbered the same way.
        p = render(a, "/registry")
        XCTAssertTrue(p.body.contains("staging</a></td><td class=\"num\">v3</td>"), p.body)
        XCTAssertTrue(p.body.contains("production</a></td><td class=\"num\">v2</td>"), p.body)
    }

    // MARK: Data

    func testDataProfileHistogramsDriftAndTheMemoryCache() throws {
        var v1 = "\(Self.hostileName),steady,label\n", v2 = v1
        for i in 0..<200 {
            v1 += "\(Double(i % 20)),\(i % 7),\(i % 2 == 0 ? "cat" : "dog")\n"
            v2 += "\(Double(i % 20) + 15),\(i % 7),\(i % 4 == 0 ? "cat" : "dog")\n"
        }
        try write("data/d.csv", v1)
        try write("data/x.npy", [0x93, 0x4E, 0x55, 0x4D])
        try write("readme.md", "r\n")
        try commitAll("v1")
        try write("data/d.csv", v2)
        try commitAll("v2")
        let a = app()
        var p = render(a, "/data")
        XCTAssertTrue(p.body.contains(HTML.attr(HTML.url("/data", [("rev", "HEAD"), ("path", "data/d.csv")]))))
        XCTAssertTrue(p.body.contains(">data/x.npy<"))
        XCTAssertFalse(p.body.contains("readme.md"))
        p = render(a, "/data", [("path", "data/d.csv")])
        XCTAssertEqual(p.status, 200, p.body)
        assertSafe(p, escaped: [Self.hostileName])
        XCTAssertTrue(p.body.contains("200 rows, 3 columns"))
        // Two numeric columns with 20 bins each, and the text column's two top values.
        let main = Page(status: 200, headers: [], body: String(p.body[try XCTUnwrap(p.body.range(of: "<main>")).lowerBound...]))
        let marks = main.count("class=\"pt\"") + main.count("class=\"bar\"")
        XCTAssertEqual(marks, 2 * UIApp.histogramBins + 2, "one mark per bin and per top value")
        let note = String(p.body[try XCTUnwrap(p.body.range(of: "<p class=\"muted computed\">.*?</p>", options: .regularExpression))])
        let again = render(a, "/data", [("path", "data/d.csv")])
        XCTAssertTrue(again.body.contains(note), "the second view is the cached computation (same time stamp)")
        // Drift from v1: the shifted column drifts, the steady one does not.
        p = render(a, "/data", [("path", "data/d.csv"), ("base", "HEAD~1")])
        XCTAssertEqual(p.status, 200, p.body)
        let table = String(p.body[try XCTUnwrap(p.body.range(of: "<table class=\"sortable drift\">.*?</table>", options: .regularExpression))])
        let rows = table.components(separatedBy: "<tr>").dropFirst(2)
        XCTAssertEqual(rows.count, 3)
        let hostileRow = try XCTUnwrap(rows.first { $0.contains(HTML.text(Self.hostileName)) })
        XCTAssertTrue(hostileRow.contains(">drift<"), hostileRow)
        XCTAssertTrue(try XCTUnwrap(rows.first { $0.contains(">steady<") }).contains(">ok<"))
        let label = try XCTUnwrap(rows.first { $0.contains(">label<") })
        XCTAssertTrue(label.contains(">0.25<"), "cat 50% -> 25%: total variation 0.25: \(label)")
        assertSafe(p)
        // Not CSV, not a file, a missing base.
        XCTAssertTrue(render(a, "/data", [("path", "data/x.npy")]).body.contains("Profiles are computed for CSV files"))
        XCTAssertEqual(render(a, "/data", [("path", "data")]).status, 404)
        XCTAssertEqual(render(a, "/data", [("path", "data/d.csv"), ("base", "nope")]).status, 404)
    }

    func testDriftStatistics() {
        let same = Drift.psiAndKS(reference: [10, 20, 30], new: [10, 20, 30])!
        XCTAssertEqual(same.psi, 0, accuracy: 1e-12)
        XCTAssertEqual(same.ks, 0, accuracy: 1e-12)
        let moved = Drift.psiAndKS(reference: [50, 50, 0], new: [0, 50, 50])!
        XCTAssertEqual(moved.ks, 0.5, accuracy: 1e-12)
        // (0.0001-0.5)ln(0.0001/0.5) twice.
        XCTAssertEqual(moved.psi, 2 * (0.5 - 0.0001) * log(0.5 / 0.0001), accuracy: 1e-9)
        XCTAssertNil(Drift.psiAndKS(reference: [0, 0], new: [1, 1]))
    }

    // MARK: Serving

    func testPrometheusParsingAndLatencyQuantiles() {
        let text = """
        # HELP x y
        mlrepo_requests_total{model="primary",model_id="abc",status="200"} 90
        mlrepo_requests_total{model="primary",model_id="abc",status="500"} 10
        mlrepo_model_info{model="primary",path="a\\"b\\\\c\\nd"} 1
        mlrepo_request_duration_seconds_bucket{le="0.001"} 50
        mlrepo_request_duration_seconds_bucket{le="0.01"} 100
        mlrepo_request_duration_seconds_bucket{le="+Inf"} 100
        broken{le="1 2
        mlrepo_uptime_seconds 12.5
        """
        let s = PromText.parse(text)
        XCTAssertEqual(s.count, 7, "comments and the broken line skipped")
        XCTAssertEqual(s[2].labels["path"], "a\"b\\c\nd")
        XCTAssertEqual(s.last?.value, 12.5)
        let buckets: [(le: Double, count: Double)] = [(0.001, 50), (0.01, 100), (.infinity, 100)]
        XCTAssertEqual(PromText.quantile(0.5, buckets: buckets)!, 0.001, accuracy: 1e-12)
        XCTAssertEqual(PromText.quantile(0.75, buckets: buckets)!, 0.0055, accuracy: 1e-12)
        XCTAssertEqual(PromText.quantile(0.25, buckets: buckets)!, 0.0005, accuracy: 1e-12)
        XCTAssertNil(PromText.quantile(0.5, buckets: [(1, 0)]))
    }

    /// A port nothing listens on: bound, then closed.
    func deadPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        close(fd)
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    func testServingPageNeedsAURLAndSaysWhenTheServerIsUnreachable() throws {
        try write("a.txt", "a\n")
        try commitAll("one")
        var p = render(app(), "/serving")
        XCTAssertEqual(p.status, 404)
        XCTAssertFalse(p.body.contains("href=\"/serving\""), "no Serving tab without --serve-url")
        let url = "http://127.0.0.1:\(deadPort())/\(Self.hostile[1])"
        p = render(app(serveURL: url), "/serving")
        XCTAssertEqual(p.status, 200)
        XCTAssertTrue(p.body.contains("<p class=\"error unreachable\">Cannot read the server's metrics: "), p.body)
        XCTAssertTrue(p.body.contains("href=\"/serving\""))
        assertSafe(p, escaped: [url])
        p = render(app(serveURL: "ftp://\(Self.hostile[0])"), "/serving")
        XCTAssertEqual(p.status, 200)
        XCTAssertTrue(p.body.contains("not usable"))
        assertSafe(p)
    }

    /// A stand-in for `mlrepo serve` whose /metrics and /monitor carry hostile names.
    final class FakeServe: HTTPHandler, @unchecked Sendable {
        let metrics: String, monitor: String
        init(metrics: String, monitor: String) { self.metrics = metrics; self.monitor = monitor }
        func handle(_ request: HTTPRequest, worker: Int) -> HTTPResponse {
            switch request.path {
            case "/metrics": return HTTPResponse(status: 200, text: metrics)
            case "/monitor": return HTTPResponse(status: 200, json: monitor)
            default: return HTTPResponse(status: 404, text: "no")
            }
        }
        func completed(_ request: HTTPRequest?, response: HTTPResponse, latencyMicros: Int, worker: Int) {}
        func flush(worker: Int) {}
    }

    func testServingPageShowsAServersFiguresEscaped() throws {
        try write("a.txt", "a\n")
        try commitAll("one")
        let h = PagesTests.hostile
        func prom(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") }
        let metrics = """
        mlrepo_requests_total{model="primary",model_id="abc",status="200"} 95
        mlrepo_requests_total{model="primary",model_id="abc",status="503"} 5
        mlrepo_request_duration_seconds_bucket{model="primary",le="0.001"} 50
        mlrepo_request_duration_seconds_bucket{model="primary",le="0.01"} 100
        mlrepo_request_duration_seconds_bucket{model="primary",le="+Inf"} 100
        mlrepo_request_duration_seconds_sum{model="primary"} 0.3
        mlrepo_request_duration_seconds_count{model="primary"} 100
        mlrepo_rows_scored_total{model="primary"} 250
        mlrepo_model_info{model="primary",model_id="abc",path="\(prom(h[1]))",commit="c",type="t",source="\(prom(h[0]))"} 1
        mlrepo_uptime_seconds 50

        """
        var feature = ""
        JSON.quote(h[0], into: &feature)
        let monitor = "{\"models\": [{\"role\": \"primary\", \"model\": {\"path\": \"m\"}, \"rows\": 250, \"features\": [{\"name\": \(feature), \"rows\": 250, \"psi\": 0.4, \"mean_shift_std\": 1.5, \"live_mean\": 3, \"train_mean\": 1, \"status\": \"drift\"}]}]}"
        var config = ServerConfig()
        config.port = 0
        config.workers = 1
        let server = try HTTPServer(config: config, handler: FakeServe(metrics: metrics, monitor: monitor))
        server.start()
        defer { server.stop(); server.wait() }
        let p = render(app(serveURL: "http://127.0.0.1:\(server.port)"), "/serving")
        XCTAssertEqual(p.status, 200)
        XCTAssertFalse(p.body.contains("unreachable"), p.body)
        XCTAssertTrue(p.body.contains("<div class=\"muted\">Requests</div><div class=\"big\">100</div><div class=\"muted\">2/s since start</div>"), p.body)
        XCTAssertTrue(p.body.contains("<div class=\"big\">5</div><div class=\"muted\">5% (5xx: 5)</div>"), p.body)
        XCTAssertTrue(p.body.contains("<div class=\"muted\">Latency p50</div><div class=\"big\">1 ms</div><div class=\"muted\">mean 3 ms</div>"), p.body)
        XCTAssertTrue(p.body.contains("<div class=\"muted\">Rows scored</div><div class=\"big\">250</div>"))
        XCTAssertTrue(p.body.contains(">drift<") && p.body.contains(">0.4<"))
        assertSafe(p, escaped: h)
    }

    func testLineageGraphAndDataCacheAreBounded() {
        var g = LineageGraph()
        for i in 0..<(LineageGraph.maxNodes + 10) { _ = g.node("f:\(i)") { LineageGraphNode(key: "f:\(i)", name: "\(i)", what: .file(.other, nil)) } }
        XCTAssertEqual(g.nodes.count, LineageGraph.maxNodes)
        XCTAssertTrue(g.truncated)
        XCTAssertEqual(g.node("f:3") { fatalError() }, 3, "a known node is found, not added")
        let cache = DataPageCache()
        let e = DataPageCache.Entry(profile: DataProfile(rows: 0, bytes: 0, columns: []), histograms: [:], computedAt: 0, seconds: 0, profileWasCached: false, partial: false)
        for i in 0...DataPageCache.capacity { cache.put("k\(i)", e) }
        XCTAssertNil(cache.get("k0"), "the oldest entry is dropped")
        XCTAssertNotNil(cache.get("k1"))
        XCTAssertNotNil(cache.get("k\(DataPageCache.capacity)"))
    }

    /// Records read from pieces of any size are the records of the whole.
    func testTableStreamGivesTheSameRecordsWhateverThePieces() throws {
        let csv = Array("\u{FEFF}\n\na,b,c\r\n1,\"x,\r\ny\",\" 2 \"\r3,\"say \"\"hi\"\"\",\n\n4,5,6".utf8)
        let tsv = Array("a\tb\r\n1\t\"q\"\n\n2\t3".utf8)
        func records(_ bytes: [UInt8], tab: Bool, piece: Int) throws -> [[String]] {
            let t = TableStream(tab: tab)
            var out: [[String]] = []
            var i = 0
            repeat {
                let end = min(bytes.count, i + piece)
                try t.feed(Array(bytes[i..<end]), atEnd: end == bytes.count) { out.append($0.texts); return true }
                i = end
            } while i < bytes.count
            return out
        }
        let whole = try records(csv, tab: false, piece: csv.count)
        XCTAssertEqual(whole, [["a", "b", "c"], ["1", "x,\r\ny", " 2 "], ["3", "say \"hi\"", ""], ["4", "5", "6"]])
        for piece in 1...8 { XCTAssertEqual(try records(csv, tab: false, piece: piece), whole, "pieces of \(piece)") }
        let tabs = try records(tsv, tab: true, piece: tsv.count)
        XCTAssertEqual(tabs, [["a", "b"], ["1", "\"q\""], ["2", "3"]])
        for piece in 1...4 { XCTAssertEqual(try records(tsv, tab: true, piece: piece), tabs) }
        XCTAssertThrowsError(try records(Array("a\n\"open".utf8), tab: false, piece: 3))
        // Numbers: trimmed, quoted or not; missing words and text are not numbers.
        let t = TableStream(tab: false)
        var nums: [Double?] = []
        try t.feed(Array(" 1.5 ,\"2\",NA,,x,1e3\n".utf8), atEnd: true) { r in nums = (0..<r.count).map(r.number); return true }
        XCTAssertEqual(nums, [1.5, 2, nil, nil, nil, 1000])
    }
}
