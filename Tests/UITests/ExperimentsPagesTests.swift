import Foundation
import XCTest
import ML
import Store
import Support
@testable import UI

/// The Experiments, Charts and Compare pages rendered through `UIApp.render` (no server).
final class ExperimentsPagesTests: XCTestCase {
    var fx: UIFixture!
    override func setUpWithError() throws { fx = try UIFixture("pages") }
    override func tearDown() { fx.cleanup() }

    /// Five commits on main (accuracy 0.5, 0.9, 0.7, 0.8, 0.6; epochs constant), and a
    /// branch `feature` from the second with one commit.
    @discardableResult
    func history() throws -> [ObjectId] {
        var ids: [ObjectId] = []
        for (i, acc) in [0.5, 0.9, 0.7, 0.8, 0.6].enumerated() {
            ids.append(try fx.commit("run \(i)", params: #""lr": \#(Double(i + 1) / 100), "epochs": 3"#, metrics: #""accuracy": \#(acc), "loss": \#(1 - acc)"#))
            if i == 1 {
                try fx.switchTo("feature", creatingAt: ids[1])
                ids.append(try fx.commit("feature run", params: #""lr": 0.5, "epochs": 3"#, metrics: #""accuracy": 0.95, "loss": 0.05"#))
                try fx.switchTo("main")
            }
        }
        return ids
    }

    /// The messages of the table's rows, in order.
    func messages(_ body: String) -> [String] {
        guard let t = body.range(of: "id=\"experiments\"") else { return [] }
        var out: [String] = []
        var rest = body[t.upperBound...]
        while let r = rest.range(of: "<td class=\"msg\" title=\"") {
            let after = rest[r.upperBound...]
            guard let q = after.firstIndex(of: "\"") else { break }
            out.append(String(after[..<q]))
            rest = after[q...]
        }
        return out
    }

    func testTableRowsSortFilterAndPages() throws {
        try history()
        let app = fx.app(pageSize: 2)
        var r = app.get("/experiments")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(count("<input class=\"pick\" type=\"checkbox\"", in: r.body), 2)
        XCTAssertTrue(r.body.contains("1–2 of 5"), r.body)
        XCTAssertEqual(messages(r.body), ["run 4", "run 3"])
        XCTAssertTrue(r.body.contains("<table class=\"sortable\" id=\"experiments\">"))
        XCTAssertTrue(r.body.contains("id=\"compare-link\""))
        // Metrics then params, numbers right-aligned with their value.
        let heads = ["accuracy", "loss", "epochs", "lr"].map { r.body.range(of: "<th class=\"num\" title=\"\(["accuracy", "loss"].contains($0) ? "metric metrics.json" : "param params.json"):\($0)\"")?.lowerBound }
        XCTAssertFalse(heads.contains(nil), r.body)
        XCTAssertEqual(heads.compactMap { $0 }, heads.compactMap { $0 }.sorted())
        XCTAssertTrue(r.body.contains("<td>0.6</td>"), r.body)
        // The next page keeps the query.
        XCTAssertTrue(r.body.contains("href=\"/experiments?order=desc&amp;per=2&amp;page=2\""), r.body)
        r = app.get("/experiments", [("page", "3")])
        XCTAssertTrue(r.body.contains("5–5 of 5"), r.body)
        XCTAssertEqual(messages(r.body), ["run 0"])
        XCTAssertTrue(r.body.contains("rel=\"prev\""))
        XCTAssertFalse(r.body.contains("rel=\"next\""))

        // Sort by a metric, both ways; the sort is over every row, not the page.
        r = app.get("/experiments", [("sort", "accuracy"), ("order", "desc"), ("per", "10")])
        XCTAssertEqual(messages(r.body), ["run 1", "run 3", "run 2", "run 4", "run 0"])
        r = app.get("/experiments", [("sort", "metrics.json:loss"), ("order", "desc"), ("per", "10")])
        XCTAssertEqual(messages(r.body), ["run 0", "run 4", "run 2", "run 3", "run 1"])
        r = app.get("/experiments", [("sort", "message"), ("order", "asc"), ("per", "10")])
        XCTAssertEqual(messages(r.body), ["run 0", "run 1", "run 2", "run 3", "run 4"])

        // Filter.
        r = app.get("/experiments", [("filter", "accuracy>0.65 && lr<0.045"), ("per", "10")])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(messages(r.body), ["run 3", "run 2", "run 1"])
        XCTAssertTrue(r.body.contains("1–3 of 3 (filtered from 5)"), r.body)
        // A bad filter: 400, the reason above the table (escaped), the rows unfiltered.
        r = app.get("/experiments", [("filter", "accuracy > <script>")])
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(r.body.contains("<p class=\"error\" id=\"filter-error\">filter: expected a number or a quoted string after &#39;&gt;&#39; at column 12 (&#39;&lt;script&gt;&#39;)</p>"), r.body)
        XCTAssertFalse(r.body.contains("<script>"))
        XCTAssertTrue(r.body.contains("value=\"accuracy &gt; &lt;script&gt;\""), "the filter is echoed escaped")
        r = app.get("/experiments", [("filter", "acuracy > 1")])
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(r.body.contains("filter: no column &#39;acuracy&#39; (did you mean &#39;accuracy&#39;?) at column 1"), r.body)
        r = app.get("/experiments", [("sort", "nope")])
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(app.get("/experiments", [("order", "sideways")]).status, 400)
        XCTAssertEqual(app.get("/experiments", [("per", "-1")]).status, 400)

        // Chosen columns, and only those that differ.
        r = app.get("/experiments", [("cols", "accuracy"), ("cols", "epochs")])
        XCTAssertTrue(r.body.contains("title=\"metric metrics.json:accuracy\""))
        XCTAssertTrue(r.body.contains("title=\"param params.json:epochs\""))
        XCTAssertFalse(r.body.contains("title=\"param params.json:lr\""))
        r = app.get("/experiments", [("diff", "1")])
        XCTAssertFalse(r.body.contains("title=\"param params.json:epochs\""), "epochs is 3 everywhere")
        XCTAssertTrue(r.body.contains("title=\"param params.json:lr\""))
        XCTAssertTrue(r.body.contains("title=\"metric metrics.json:accuracy\""))

        // The JSON API: the same rows.
        let api = app.render(path: "/api/experiments", query: "sort=accuracy&order=asc&per=3")
        XCTAssertEqual(api.status, 200)
        XCTAssertTrue(api.headers.contains { $0.0 == "X-Total-Count" && $0.1 == "5" })
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(api.body)) as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["message"] as? String }, ["run 0", "run 4", "run 2"])
        XCTAssertEqual(rows[0]["branches"] as? [String], ["feature", "main"])
        XCTAssertEqual((rows[0]["metrics"] as? [String: [String: Double]])?["metrics.json"]?["accuracy"], 0.5)
        let bad = app.render(path: "/api/experiments", query: "filter=%28")
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(String(decoding: bad.body, as: UTF8.self), #"{"error":"filter: the expression ends where a comparison was expected"}"#)
    }

    func testEmptyRepository() throws {
        let app = fx.app()
        var r = app.get("/experiments")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("No commits yet."))
        XCTAssertTrue(r.body.contains("0–0 of 0"))
        r = app.get("/charts")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("No numeric metric recorded."))
        XCTAssertEqual(app.get("/compare", [("c", "HEAD"), ("c", "HEAD")]).status, 404)
        XCTAssertEqual(String(decoding: app.render(path: "/api/experiments", query: "").body, as: UTF8.self), "[]")
    }

    func testBranchSelection() throws {
        let ids = try history()
        let app = fx.app()
        var r = app.get("/experiments")
        XCTAssertEqual(messages(r.body).count, 5, "the current branch by default")
        r = app.get("/experiments", [("branch", "feature")])
        XCTAssertEqual(messages(r.body), ["feature run", "run 1", "run 0"])
        XCTAssertTrue(r.body.contains("<span class=\"tag tip\" title=\"tip of feature\">feature</span>"))
        r = app.get("/experiments", [("branch", "all")])
        XCTAssertEqual(messages(r.body).count, 6)
        r = app.get("/experiments", [("branch", "feature"), ("branch", "main")])
        XCTAssertEqual(messages(r.body).count, 6)
        r = app.get("/experiments", [("branch", "featur")])
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(r.body.contains("no branch &#39;featur&#39; (did you mean &#39;feature&#39;?)"), r.body)
        // A new commit shows on the next request (the index refreshed).
        try fx.commit("later", params: #""lr": 0.9, "epochs": 3"#, metrics: #""accuracy": 0.1, "loss": 0.9"#)
        r = app.get("/experiments")
        XCTAssertEqual(messages(r.body).first, "later")
        XCTAssertEqual(app.index.commitsRead, ids.count + 1)
    }

    func testHostileNamesAreEscapedEverywhere() throws {
        let h1 = UIFixture.hostile, h2 = UIFixture.hostile2
        try fx.write("mlrepo.json", #"{"stages": {"train": {"cmd": "true", "params": ["params.json:"], "metrics": ["metrics.json"]}}}"#)
        let a = try fx.commit(h2, params: #""\#(h1)": 1, "name": "\#(h2.replacingOccurrences(of: "\"", with: "\\\""))""#,
                              metrics: #""accuracy": 0.5, "\#(h1.replacingOccurrences(of: " ", with: "_"))": 2"#)
        let evilBranch = "x\"><img_src=x_onerror=alert(1)>"
        try fx.repo.refs.update("refs/heads/" + evilBranch, to: a, who: fx.repo.signature(), message: "evil")
        _ = try fx.commit("second", params: #""\#(h1)": 2, "name": "ok""#, metrics: #""accuracy": 0.7"#)
        let app = fx.app()
        let pages: [(String, [(String, String?)])] = [
            ("/experiments", [("branch", "all")]),
            ("/experiments", [("branch", evilBranch), ("filter", h2)]),
            ("/experiments", [("sort", h1)]),
            ("/charts", [("branch", "all"), ("x", h1), ("y", "accuracy"), ("parallel", "1"), ("c", h2)]),
            ("/charts", [("metric", h2)]),
            ("/compare", [("c", "HEAD~1"), ("c", "HEAD")]),
            ("/compare", [("c", a.hex)]),
            ("/compare", [("c", h2), ("c", "HEAD")]),
        ]
        for (path, q) in pages {
            let r = app.get(path, q)
            XCTAssertLessThan(r.status, 500, path)
            for raw in ["<img src", "<img_src", "<script>", "onerror=alert(1)>"] {
                XCTAssertFalse(r.body.contains(raw), "\(path) \(q): '\(raw)' appears raw")
            }
        }
        let r = app.get("/experiments", [("branch", "all")])
        XCTAssertTrue(r.body.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), "the message, escaped")
        XCTAssertTrue(r.body.contains("&lt;img src=x onerror=alert(1)&gt;"), "the param name, escaped")
        XCTAssertTrue(r.body.contains("x&quot;&gt;&lt;img_src=x_onerror=alert(1)&gt;"), "the branch, escaped")
        // The JSON API carries the values as JSON strings.
        let api = app.render(path: "/api/experiments", query: "branch=all")
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(api.body)) as? [[String: Any]])
        XCTAssertEqual(rows.last?["message"] as? String, h2)
    }

    func testCompareDeltasFilesAndLabels() throws {
        _ = try fx.repo.setConfig("table.label", "label")
        let a = try fx.commit("base", params: #""lr": 0.1, "epochs": 3"#, metrics: #""accuracy": 0.5, "loss": 1.0"#,
                              files: ["data/train.csv": "x,label\n1,a\n2,b\n3,a\n"])
        let b = try fx.commit("better", params: #""lr": 0.01, "epochs": 3"#, metrics: #""accuracy": 0.7, "loss": 0.5"#,
                              files: ["data/train.csv": "x,label\n1,a\n2,a\n3,a\n4,b\n", "notes.txt": "hi\n"])
        let app = fx.app()
        let before = UIApp.compareSummaries.computed
        var r = app.get("/compare", [("c", a.short), ("c", "main")])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(UIApp.compareSummaries.computed, before + 1, "one table summarised")
        // Params: lr differs (marked), epochs does not.
        XCTAssertTrue(r.body.contains("<tr class=\"changed\"><td title=\"params.json:lr\">lr</td>"), r.body)
        XCTAssertTrue(r.body.contains("<tr><td title=\"params.json:epochs\">epochs</td>"), r.body)
        // Metrics: deltas against the first, absolute and relative, coloured.
        XCTAssertTrue(r.body.contains("0.7 <span class=\"up delta\">▲ +0.2 +40%</span>"), r.body)
        // loss fell: the arrow points down, coloured good (lower is better for a loss).
        XCTAssertTrue(r.body.contains("0.5 <span class=\"up delta\">▼ -0.5 -50%</span>"), r.body)
        // Files: the table's rows and labels; the other file listed.
        XCTAssertTrue(r.body.contains("3 → 4 rows (+1): 1 changed, 1 added, 0 removed"), r.body)
        XCTAssertTrue(r.body.contains("label: a <span class=\"up\">2 → 3</span>, b <span class=\"muted\">1 → 1</span>"), r.body)
        // Column statistics that changed (mlrepo diff's profile comparison), old → new.
        XCTAssertTrue(r.body.contains("<li><span class=\"mono\">x</span>: mean <span class=\"muted\">2 → 2.5</span>, std "), r.body)
        XCTAssertTrue(r.body.contains("max <span class=\"muted\">3 → 4</span></li>"), r.body)
        XCTAssertFalse(r.body.contains("min <span"), "min did not change")
        XCTAssertTrue(r.body.contains(">notes.txt</a>"))
        // A reload of the same comparison reads no table: the summary is cached.
        let computed = UIApp.compareSummaries.computed
        XCTAssertEqual(app.get("/compare", [("c", a.short), ("c", "main")]).body, r.body)
        XCTAssertEqual(UIApp.compareSummaries.computed, computed)
        XCTAssertTrue(r.body.contains("href=\"/lineage?rev=\(b.hex)\""))
        XCTAssertTrue(r.body.contains("href=\"/files?rev=\(a.hex)\""))
        // One commit: against its parent.
        r = app.get("/compare", [("c", b.hex)])
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("<h1>Compare 2 commits</h1>"))
        // Bounds and bad revisions.
        XCTAssertEqual(app.get("/compare", [("c", "HEAD"), ("c", "")]).status, 200)
        XCTAssertEqual(app.get("/compare", Array(repeating: ("c", "HEAD"), count: 9)).status, 400)
        XCTAssertEqual(app.get("/compare", [("c", "HEAD"), ("c", "no-such-rev")]).status, 404)
    }

    /// Params whose values are lists or objects are text columns (their compact JSON):
    /// shown, sorted and filtered with == / !=, and compared; metric lists stay curves.
    func testListParamsAreTextColumnsAndCompared() throws {
        let a = try fx.commit("small", params: #""lr": 0.1, "train": {"hidden_layers": [8]}, "opt": {"betas": {"b1": 0.9}}"#,
                              metrics: #""accuracy": 0.5, "loss_curve": [3, 2, 1]"#)
        let b = try fx.commit("large", params: #""lr": 0.1, "train": {"hidden_layers": [16, 8]}, "opt": {"betas": {"b1": 0.8}}"#,
                              metrics: #""accuracy": 0.7, "loss_curve": [2, 1]"#)
        _ = try fx.commit("hostile", params: #""lr": 0.1, "train": {"hidden_layers": ["<img src=x onerror=alert(1)>"]}"#,
                          metrics: #""accuracy": 0.6"#)
        let app = fx.app()
        var r = app.get("/experiments")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("title=\"param params.json:train.hidden_layers\""), r.body)
        XCTAssertTrue(r.body.contains("<td class=\"t\">[16,8]</td>") && r.body.contains("<td class=\"t\">[8]</td>"), r.body)
        XCTAssertFalse(r.body.contains("title=\"metric metrics.json:loss_curve\""), "a metric list is a curve, not a column")
        XCTAssertFalse(r.body.contains("<img src"))
        XCTAssertTrue(r.body.contains(HTML.text(#"["<img src=x onerror=alert(1)>"]"#)), r.body)
        r = app.get("/experiments", [("filter", #"hidden_layers == "[8]""#)])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(messages(r.body), ["small"])
        r = app.get("/experiments", [("filter", #"hidden_layers != "[8]""#)])
        XCTAssertEqual(messages(r.body), ["hostile", "large"])
        r = app.get("/experiments", [("sort", "train.hidden_layers"), ("order", "asc")])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(messages(r.body), ["hostile", "large", "small"])
        r = app.get("/experiments", [("sort", "hidden_layers"), ("order", "desc")])
        XCTAssertEqual(messages(r.body), ["small", "large", "hostile"])
        // Compare: the list param is a changed row; the curve is not a metric row.
        r = app.get("/compare", [("c", a.hex), ("c", b.hex)])
        XCTAssertEqual(r.status, 200)
        let params = section(r.body, "compare-params")
        XCTAssertTrue(params.contains("<tr class=\"changed\"><td title=\"params.json:train.hidden_layers\">train.hidden_layers</td>"), params)
        XCTAssertTrue(params.contains(">[16,8]</td>"), params)
        XCTAssertTrue(params.contains("<td title=\"params.json:opt.betas.b1\">"), params)
        XCTAssertFalse(section(r.body, "compare-metrics").contains("loss_curve"))
    }

    /// The Compare tab (no commit named): a page that says how to compare, with a form for
    /// two revisions and links comparing HEAD and the branch tips with their parents.
    func testCompareTabExplainsAndOffersAForm() throws {
        var r = fx.app().get("/compare")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertTrue(r.body.contains("No commits yet."), r.body)
        let ids = try history()
        let app = fx.app()
        r = app.get("/compare")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertTrue(r.body.contains("<a href=\"/experiments\">Experiments</a>"), r.body)
        XCTAssertTrue(r.body.contains("<form class=\"controls\" id=\"compare-form\" method=\"get\" action=\"/compare\">"), r.body)
        XCTAssertTrue(r.body.contains("<input type=\"text\" name=\"c\" value=\"HEAD~1\">") && r.body.contains("<input type=\"text\" name=\"c\" value=\"HEAD\">"), r.body)
        // HEAD (run 4) with its parent (run 3); the feature branch's tip with its parent (run 1).
        XCTAssertTrue(r.body.contains("href=\"\(HTML.attr(HTML.url("/compare", [("c", ids[4].hex), ("c", ids[5].hex)])))\">HEAD ("), r.body)
        XCTAssertTrue(r.body.contains("href=\"\(HTML.attr(HTML.url("/compare", [("c", ids[1].hex), ("c", ids[2].hex)])))\">feature ("), r.body)
        XCTAssertEqual(app.get("/compare", [("c", "")]).status, 200)
        // The form's values work: HEAD~1 against HEAD.
        r = app.get("/compare", [("c", "HEAD~1"), ("c", "HEAD")])
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("<h1>Compare 2 commits</h1>"))
        // A hostile branch tip's name and message are escaped.
        let evil = "x\"><img_src=x_onerror=alert(1)>"
        try fx.switchTo(evil, creatingAt: ids[0])
        try fx.commit(UIFixture.hostile, params: #""lr": 1"#, metrics: #""accuracy": 0"#)
        try fx.switchTo("main")
        r = fx.app().get("/compare")
        XCTAssertFalse(r.body.contains("<img src") || r.body.contains("<img_src") || r.body.contains("<script>"), r.body)
        XCTAssertTrue(r.body.contains(HTML.text(evil) + " (") && r.body.contains(HTML.text(UIFixture.hostile)), r.body)
    }

    /// `table.label` is used only for tables that have the column (others are still
    /// diffed by rows); unset, the label a built-in train stage declares is used.
    func testCompareLabelOnlyWhereTheTableHasIt() throws {
        _ = try fx.repo.setConfig("table.label", "species")
        let a = try fx.commit("base", params: #""lr": 0.1"#, metrics: #""accuracy": 0.5"#,
                              files: ["data/iris.csv": "x,species\n1,setosa\n2,virginica\n", "eval/loss.csv": "step,loss\n1,0.9\n2,0.5\n"])
        let b = try fx.commit("more", params: #""lr": 0.1"#, metrics: #""accuracy": 0.6"#,
                              files: ["data/iris.csv": "x,species\n1,setosa\n2,virginica\n3,setosa\n", "eval/loss.csv": "step,loss\n1,0.9\n2,0.5\n3,0.25\n"])
        var r = fx.app().get("/compare", [("c", a.hex), ("c", b.hex)])
        XCTAssertEqual(r.status, 200)
        XCTAssertFalse(r.body.contains("no column named"), r.body)
        XCTAssertTrue(r.body.contains("species: setosa <span class=\"up\">1 → 2</span>, virginica <span class=\"muted\">1 → 1</span>"), r.body)
        XCTAssertEqual(count("2 → 3 rows (+1): 0 changed, 1 added, 0 removed", in: r.body), 2, r.body)
        // Column names in the statistics are escaped.
        let evil = try fx.commit("evil", params: #""lr": 0.1"#, metrics: #""accuracy": 0.6"#,
                                 files: ["eval/loss.csv": "step,\(UIFixture.hostile)\n1,0.9\n2,0.5\n3,0.125\n"])
        r = fx.app().get("/compare", [("c", b.hex), ("c", evil.hex)])
        XCTAssertFalse(r.body.contains("<img src"), r.body)
        XCTAssertTrue(r.body.contains(HTML.text(UIFixture.hostile)), r.body)
        // table.label unset: the label of the built-in train stage in mlrepo.json.
        _ = try fx.repo.setConfig("table.label", nil)
        try fx.write("mlrepo.json", #"{"stages": {"train": {"cmd": "true", "params": ["params.json:"], "metrics": ["metrics.json"]}, "fit": {"train": {"model": "logistic_regression", "data": "data/iris.csv", "label": "species"}, "outs": ["models/iris.mlmodel"]}}}"#)
        let c = try fx.commit("declared", params: #""lr": 0.1"#, metrics: #""accuracy": 0.6"#,
                              files: ["data/iris.csv": "x,species\n1,setosa\n2,virginica\n3,setosa\n4,virginica\n"])
        r = fx.app().get("/compare", [("c", b.hex), ("c", c.hex)])
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("species: setosa <span class=\"muted\">2 → 2</span>, virginica <span class=\"up\">1 → 2</span>"), r.body)
    }

    /// The part of `body` from the element with `id` to the next `<h2>`.
    func section(_ body: String, _ id: String) -> String {
        guard let s = body.range(of: "id=\"\(id)\"") else { return "" }
        let rest = body[s.lowerBound...]
        return String(rest[..<(rest.range(of: "<h2>")?.lowerBound ?? rest.endIndex)])
    }

    func testTrainingCurvesOverlaidOnChartsAndCompare() throws {
        let a = try fx.commit("first", params: #""lr": 0.1"#, metrics: #""accuracy": 0.5, "loss_curve": [3, 2, 1]"#)
        let b = try fx.commit("second", params: #""lr": 0.01"#, metrics: #""accuracy": 0.7, "loss_curve": [2, 1, 0.5, 0.25]"#)
        let app = fx.app()
        var r = app.get("/charts", [("c", a.short), ("c", b.short)])
        XCTAssertEqual(r.status, 200)
        let plots = section(r.body, "plots")
        XCTAssertTrue(plots.contains("data-plot=\"metrics.json:loss_curve\""), plots)
        XCTAssertEqual(count("class=\"pt\"", in: plots), 7, plots)
        r = app.get("/compare", [("c", a.hex), ("c", b.hex)])
        XCTAssertTrue(r.body.contains("data-plot=\"metrics.json:loss_curve\""), r.body)
        XCTAssertEqual(count("class=\"pt\"", in: r.body), 7)
    }

    func testChartsHoldOnePointPerCommitAndBranch() throws {
        try history()
        let app = fx.app()
        var r = app.get("/charts", [("metric", "accuracy")])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(count("class=\"pt\"", in: section(r.body, "metric-charts")), 5)
        XCTAssertTrue(r.body.contains("data-metric=\"accuracy\""))
        // All branches: one series per branch (main 5 commits, feature 3).
        r = app.get("/charts", [("metric", "accuracy"), ("metric", "loss"), ("branch", "all")])
        XCTAssertEqual(count("class=\"pt\"", in: section(r.body, "metric-charts")), 2 * (5 + 3))
        // Default metrics: every numeric one (up to 4).
        r = app.get("/charts")
        XCTAssertEqual(count("<div class=\"chart\" data-metric=", in: r.body), 2)
        // Scatter of a param against a metric, parallel coordinates.
        r = app.get("/charts", [("x", "lr"), ("y", "accuracy"), ("branch", "all"), ("parallel", "1")])
        XCTAssertEqual(count("class=\"pt\"", in: section(r.body, "scatter")), 6)
        XCTAssertEqual(count("class=\"pline\"", in: section(r.body, "parallel")), 6)
        XCTAssertEqual(app.get("/charts", [("x", "nope"), ("y", "accuracy")]).status, 400)
        // Too many commits to overlay: the first 8, said on the page (not a failed page).
        let many = app.get("/charts", Array(repeating: ("c", "HEAD"), count: 9))
        XCTAssertEqual(many.status, 200)
        XCTAssertTrue(many.body.contains("first 8 of the 9 commits"), many.body)
        // Long series are thinned to every n-th commit and the newest, within the limit.
        XCTAssertEqual(UIApp.thin(Array(0..<10), limit: 4).kept, [0, 4, 8, 9])
        XCTAssertEqual(UIApp.thin(Array(0..<10), limit: 10).kept, Array(0..<10))
        for n in [2, 3, 1999, 2000, 2001, 10_000, 10_001] {
            let t = UIApp.thin(Array(0..<n), limit: UIApp.chartsMaxPoints)
            XCTAssertLessThanOrEqual(t.kept.count, UIApp.chartsMaxPoints)
            XCTAssertEqual(t.kept.first, 0); XCTAssertEqual(t.kept.last, n - 1)
        }
        // Metric series keep each run's lowest and highest value: a spike survives.
        var values = (0..<10_000).map { Double($0 % 7) / 10 }
        values[4321] = 99; values[8765] = -5
        let mm = UIApp.thinMinMax(values, limit: UIApp.chartsMaxPoints)
        XCTAssertLessThanOrEqual(mm.kept.count, UIApp.chartsMaxPoints + 1)
        XCTAssertTrue(mm.kept.contains(4321) && mm.kept.contains(8765))
        XCTAssertEqual(mm.kept, mm.kept.sorted())
        XCTAssertEqual(mm.kept.last, 9999)
        XCTAssertEqual(UIApp.thinMinMax([3, 1, 2], limit: 5).kept, [0, 1, 2])
        XCTAssertEqual(UIApp.thinMinMax([5, 1, 2, 9, 4, 4], limit: 2).kept, [1, 3, 5])
        // Curves at commits: the section is there (the plots come from PlotCollector).
        r = app.get("/charts", [("c", "HEAD"), ("c", "feature")])
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("<h2>Training curves and plots</h2>"))
    }
}
