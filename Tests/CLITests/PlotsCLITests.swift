import Foundation
import XCTest

/// `mlrepo plots show|diff` through the binary: declared plots over two commits, exact JSON
/// points, the HTML report's marks and escaping, training curves of a built-in trainer, and
/// errors.
final class PlotsCLITests: CLITestCase {
    static let hostile = "<img src=x onerror=alert(1)>"
    static let hostile2 = "\"><script>alert(1)</script>"

    func count(_ needle: String, in s: String) -> Int { s.components(separatedBy: needle).count - 1 }

    /// A stage whose command writes eval/loss.csv (3 rows; the last loss given by `last`),
    /// a confusion file and a metrics file with a curve.
    func setUpProject(last: String) {
        write("gen.sh", """
        mkdir -p eval
        printf 'step,loss,val_loss\\n0,1.0,1.5\\n1,0.5,0.75\\n2,\(last),0.5\\n' > eval/loss.csv
        printf 'actual,predicted\\ncat,cat\\ncat,dog\\ndog,dog\\n' > eval/conf.csv
        printf 'kind,n\\n%s,3\\nsafe,4\\n' '\"\"\"><script>alert(1)</script>\"' > eval/bars.csv
        echo '{"acc": 0.9, "curve": [4, 2, 1]}' > eval/m.json

        """)
        write("mlrepo.json", """
        {"stages": {"ev": {"cmd": "sh gen.sh", "deps": ["gen.sh"], "metrics": ["eval/m.json"],
          "plots": [{"eval/loss.csv": {"x": "step", "y": ["loss", "val_loss"], "title": "\(Self.hostile)"}},
                    {"eval/conf.csv": {"template": "confusion"}},
                    {"eval/bars.csv": {"x": "kind", "y": "n", "template": "bar"}}]}}}
        """)
    }

    func testShowAndDiffOfDeclaredPlotsOverTwoCommits() throws {
        ok("init")
        setUpProject(last: "0.25")
        ok("repro")
        _ = commit("one")
        // The plot files were recorded as outputs of the run.
        let lineage = ok("lineage", "eval/loss.csv")
        XCTAssertTrue(lineage.contains("stage ev"), lineage)
        setUpProject(last: "0.125")
        ok("repro")
        _ = commit("two")

        // --json: every point of both commits, nothing written.
        let r = ok("plots", "diff", "HEAD~1", "HEAD", "--json")
        XCTAssertFalse(exists("mlrepo_plots"))
        let j = try XCTUnwrap(json(r) as? [String: Any])
        let plots = try XCTUnwrap(j["plots"] as? [[String: Any]])
        XCTAssertEqual(plots.map { $0["id"] as? String }, ["eval/loss.csv", "eval/conf.csv", "eval/bars.csv", "eval/m.json:curve"])
        let loss = plots[0]
        XCTAssertEqual(loss["title"] as? String, Self.hostile)
        XCTAssertEqual(loss["template"] as? String, "linear")
        let series = try XCTUnwrap(loss["series"] as? [[String: Any]])
        XCTAssertEqual(series.map { $0["name"] as? String }, ["HEAD~1: loss", "HEAD~1: val_loss", "HEAD: loss", "HEAD: val_loss"])
        XCTAssertEqual(series[0]["points"] as? [[Double]], [[0, 1], [1, 0.5], [2, 0.25]])
        XCTAssertEqual(series[2]["points"] as? [[Double]], [[0, 1], [1, 0.5], [2, 0.125]])
        XCTAssertEqual(series[3]["points"] as? [[Double]], [[0, 1.5], [1, 0.75], [2, 0.5]])
        let conf = plots[1]["confusion"] as? [[String: Any]]
        XCTAssertEqual(conf?.count, 2)
        XCTAssertEqual(conf?[0]["labels"] as? [String], ["cat", "dog"])
        XCTAssertEqual(conf?[0]["counts"] as? [[Int]], [[1, 1], [0, 1]])
        let bars = try XCTUnwrap((plots[2]["series"] as? [[String: Any]])?.first?["points"] as? [[Any]])
        XCTAssertEqual(bars.first?.first as? String, Self.hostile2)
        let curve = try XCTUnwrap(plots[3]["series"] as? [[String: Any]])
        XCTAssertEqual(curve.map { $0["points"] as? [[Double]] }, [[[0, 4], [1, 2], [2, 1]], [[0, 4], [1, 2], [2, 1]]])

        // show: the work tree, written to mlrepo_plots/index.html.
        let shown = ok("plots", "show")
        XCTAssertEqual(shown, "mlrepo_plots/index.html\n")
        let html = try XCTUnwrap(text("mlrepo_plots/index.html"))
        // loss: 2 series × 3 points; curve: 3 points; no script; hostile text escaped.
        XCTAssertEqual(count("class=\"pt\"", in: html), 9)
        XCTAssertEqual(count("class=\"cell\"", in: html), 4)
        XCTAssertEqual(count("class=\"bar\"", in: html), 2)
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("<img"))
        XCTAssertTrue(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        XCTAssertTrue(html.contains("&quot;&gt;&lt;script&gt;"))
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))

        // diff with -o and targets; three commits' worth of names; a missing file is a problem.
        remove("eval/conf.csv")
        let d = runResult(["plots", "diff", "-o", "out/report", "--targets", "eval/conf.csv", "--targets", "eval/m.json"])
        XCTAssertEqual(d.code, 0, d.err)
        XCTAssertEqual(d.out, "out/report/index.html\n")
        XCTAssertTrue(d.err.contains("warning: workspace: eval/conf.csv is missing"), d.err)
        let rep = try XCTUnwrap(text("out/report/index.html"))
        XCTAssertTrue(rep.contains("workspace: eval/conf.csv is missing"))
        XCTAssertEqual(count("class=\"cell\"", in: rep), 4)      // HEAD's matrix only
        XCTAssertEqual(count("class=\"pt\"", in: rep), 6)        // the curve at HEAD and in the work tree
        XCTAssertFalse(rep.contains("eval/loss.csv"))

        // show with a target; a FILE:KEY target; from a subfolder the path is relative.
        let one = try XCTUnwrap(json(ok("plots", "show", "eval/m.json:curve", "--json")) as? [String: Any])
        XCTAssertEqual((one["plots"] as? [[String: Any]])?.map { $0["id"] as? String }, ["eval/m.json:curve"])
        let sub = runResult(["plots", "show", "loss.csv", "--json"], in: url("eval"))
        XCTAssertEqual(sub.code, 0, sub.err)
        XCTAssertTrue(sub.out.contains("\"id\":\"eval/loss.csv\""))
    }

    func testErrorsAreOneLine() throws {
        ok("init")
        setUpProject(last: "0.25")
        ok("repro")
        // Before the first commit, diff shows the work tree alone.
        let unborn = try XCTUnwrap(json(ok("plots", "diff", "--json")) as? [String: Any])
        let names = ((unborn["plots"] as? [[String: Any]])?.first?["series"] as? [[String: Any]])?.map { $0["name"] as? String }
        XCTAssertEqual(names, ["workspace: loss", "workspace: val_loss"])
        _ = commit("one")
        for args in [["plots", "diff", "no-such-branch"], ["plots", "show", "nope.csv"], ["plots", "diff", "HEAD", "HEAD"], ["plots", "draw"]] {
            let r = runResult(args)
            XCTAssertNotEqual(r.code, 0, "\(args)")
            XCTAssertTrue(r.err.hasPrefix("error: "), "\(args): \(r.err)")
            XCTAssertEqual(r.out, "", "\(args)")
        }
        XCTAssertFalse(exists("mlrepo_plots"))
        let bad = runResult(["plots", "show", "nope.csv"])
        XCTAssertTrue(bad.err.contains("no plot or metrics file 'nope.csv'"), bad.err)
        XCTAssertEqual(bad.err.split(separator: "\n").count, 1, bad.err)
        // A bad plots field stops repro with one line naming the stage and field.
        write("mlrepo.json", #"{"stages": {"ev": {"cmd": "sh gen.sh", "plots": [{"eval/loss.csv": {"template": "pie"}}]}}}"#)
        let r = fails(1, "repro")
        XCTAssertTrue(r.err.contains("stage 'ev'") && r.err.contains("unknown template 'pie'"), r.err)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
    }

    func testBuiltinTrainerLossCurveIsAPlot() throws {
        ok("init")
        let src = Self.packageRoot.appendingPathComponent("Tests/Fixtures/datasets/iris_train.csv")
        try FileManager.default.copyItem(at: src, to: url("iris_train.csv"))
        write("mlrepo.json", """
        {"stages": {"train": {"train": {"model": "logistic_regression", "data": "iris_train.csv", "label": "species"},
                              "outs": ["m.mlmodel"], "metrics": ["train.json"]}}}
        """)
        ok("repro")
        _ = commit("trained")
        let metrics = try XCTUnwrap(try JSONSerialization.jsonObject(with: read("train.json")!) as? [String: Any])
        let curve = try XCTUnwrap(metrics["loss_curve"] as? [Double])
        XCTAssertGreaterThan(curve.count, 1)
        let j = try XCTUnwrap(json(ok("plots", "diff", "--json")) as? [String: Any])
        let plots = try XCTUnwrap(j["plots"] as? [[String: Any]])
        let p = try XCTUnwrap(plots.first { $0["id"] as? String == "train.json:loss_curve" }, "\(plots.map { $0["id"] })")
        XCTAssertEqual(p["x_label"] as? String, "step")
        let series = try XCTUnwrap(p["series"] as? [[String: Any]])
        XCTAssertEqual(series.map { $0["name"] as? String }, ["HEAD", "workspace"])
        XCTAssertEqual((series[0]["points"] as? [[Double]])?.map { $0[1] }, curve)
        // x is the iteration: entry i of the thinned curve is iteration i × loss_curve_step.
        let step = try XCTUnwrap(metrics["loss_curve_step"] as? Int)
        XCTAssertGreaterThanOrEqual(step, 1)
        XCTAssertEqual((series[0]["points"] as? [[Double]])?.map { $0[0] }, (0..<curve.count).map { Double($0 * step) })
        ok("plots", "show", "train.json")
        let html = try XCTUnwrap(text("mlrepo_plots/index.html"))
        XCTAssertEqual(count("class=\"pt\"", in: html), curve.count)
        XCTAssertTrue(html.contains("train.json: loss_curve"))
    }

    /// Runs `mlrepo ARGS`, killing it (and failing) when it runs past `seconds`.
    func runWithin(_ seconds: Double, _ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        let s = try start(args)
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        while waitpid(s.pid, &status, WNOHANG) == 0 {
            if Date() > deadline {
                kill(s.pid, SIGKILL)
                XCTFail("mlrepo \(args.joined(separator: " ")) still running after \(Int(seconds)) s", file: file, line: line)
                return collect(s)
            }
            usleep(50_000)
        }
        let out = (try? Data(contentsOf: s.outURL)) ?? Data()
        let err = String(decoding: (try? Data(contentsOf: s.errURL)) ?? Data(), as: UTF8.self)
        let sig = status & 0x7f
        return RunResult(outData: out, err: err, code: sig == 0 ? (status >> 8) & 0xff : 128 + sig)
    }

    /// 2,500 rows whose y (scatter) or x (line) spans ±1e308: `plots show` used to trap
    /// (exit 132) or never end. Now the report is written, the two huge points left out.
    func testHugeValuesNeitherTrapNorHang() throws {
        ok("init")
        var scatter = "x,y\n", line = "x,y\n"
        for i in 0..<2500 {
            scatter += "\(i),\(i == 0 ? "-1e308" : i == 1 ? "1e308" : String(i))\n"
            line += "\(i == 0 ? "-1e308" : i == 2499 ? "1e308" : String(i)),\(i)\n"
        }
        write("s.csv", scatter)
        write("l.csv", line)
        write("mlrepo.json", #"{"stages": {"p": {"cmd": "true", "plots": [{"s.csv": {"x": "x", "y": "y", "template": "scatter"}}, {"l.csv": {"x": "x", "y": "y"}}]}}}"#)
        ok("add", ".")
        _ = commit("huge")
        // Each plot alone (the scatter plot trapped, the line plot never ended), then both.
        for (target, mark) in [("s.csv", "class=\"dots\""), ("l.csv", "class=\"line\"")] {
            let r = try runWithin(30, ["plots", "show", target, "-o", "out-" + target])
            XCTAssertEqual(r.code, 0, "\(target): \(r.err)")
            let html = text("out-\(target)/index.html") ?? ""
            XCTAssertEqual(count(mark, in: html), 1, target)
            XCTAssertEqual(count("2 points beyond ±1e300 not drawn", in: html), 1, target)
        }
        let r = try runWithin(30, ["plots", "show", "-o", "out"])
        XCTAssertEqual(r.code, 0, r.err)
        let html = try XCTUnwrap(text("out/index.html"))
        // `show` draws the work tree: one series per chart, its two huge points left out.
        XCTAssertEqual(count("class=\"dots\"", in: html), 1)
        XCTAssertEqual(count("class=\"line\"", in: html), 1)
        XCTAssertEqual(count("2 points beyond ±1e300 not drawn", in: html), 2)
        // The JSON keeps every point.
        let j = try XCTUnwrap(json(ok("plots", "show", "--json", "s.csv")) as? [String: Any])
        let pts = (((j["plots"] as? [[String: Any]])?.first?["series"] as? [[String: Any]])?.first?["points"] as? [[Any]])
        XCTAssertEqual(pts?.count, 2500)
    }
}
