import XCTest
@testable import UI

/// The SVG charts: ticks, number formats, escaping, point counts, NaN, the marker limit,
/// bars, confusion matrices and parallel coordinates.
final class ChartTests: XCTestCase {
    static let hostile = "<img src=x onerror=alert(1)>"
    static let hostile2 = "\"><script>alert(1)</script>"

    func count(_ needle: String, in s: String) -> Int { s.components(separatedBy: needle).count - 1 }

    func assertNoRawHostile(_ svg: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(svg.contains("<img"), "raw <img in output", file: file, line: line)
        XCTAssertFalse(svg.contains("<script"), "raw <script in output", file: file, line: line)
        XCTAssertFalse(svg.contains("onerror=alert(1)>"), "raw hostile attribute", file: file, line: line)
    }

    func series(_ name: String, _ ys: [Double]) -> ChartSeries {
        ChartSeries(name: name, points: ys.enumerated().map { ChartPoint(x: Double($0.offset), y: $0.element) })
    }

    func testNiceTicksAreOneTwoFiveTimesAPowerOfTen() {
        XCTAssertEqual(Ticks.niceStep(0.3), 0.5)
        XCTAssertEqual(Ticks.niceStep(3), 5)
        XCTAssertEqual(Ticks.niceStep(12), 20)
        XCTAssertEqual(Ticks.niceStep(100), 100)
        XCTAssertEqual(Ticks.niceStep(0.0011), 0.002, accuracy: 1e-15)
        var t = Ticks.nice(0, 1, target: 5)
        XCTAssertEqual(t.step, 0.2, accuracy: 1e-12)
        XCTAssertEqual(t.values.count, 6)
        XCTAssertEqual(t.values.first, 0); XCTAssertEqual(t.values.last!, 1, accuracy: 1e-12)
        t = Ticks.nice(0.13, 9.7, target: 5)
        XCTAssertEqual(t.values, [0, 2, 4, 6, 8, 10])
        t = Ticks.nice(-3.2, 7.9, target: 5)
        XCTAssertEqual(t.values, [-5, 0, 5, 10])
        // An empty range grows around the value; a zero range around zero.
        t = Ticks.nice(5, 5, target: 4)
        XCTAssertEqual(t.values, [4.5, 5, 5.5])
        XCTAssertEqual(Ticks.nice(0, 0, target: 4).values, [-1, -0.5, 0, 0.5, 1])
        // Whole-number axes (steps, indexes) never get fractional ticks.
        XCTAssertEqual(Ticks.nice(0, 2, target: 4, integer: true).values, [0, 1, 2])
        // Huge and tiny ranges stay bounded.
        XCTAssertLessThanOrEqual(Ticks.nice(-1e308, 1e308, target: 5).values.count, 101)
        XCTAssertLessThanOrEqual(Ticks.nice(1e-300, 2e-300, target: 5).values.count, 101)
    }

    func testNumberFormats() {
        XCTAssertEqual(ChartFormat.tick(12000, step: 2000), "12k")
        XCTAssertEqual(ChartFormat.tick(1_500_000, step: 500_000), "1.5M")
        XCTAssertEqual(ChartFormat.tick(0.25, step: 0.05), "0.25")
        XCTAssertEqual(ChartFormat.tick(0.2, step: 0.05), "0.2")
        XCTAssertEqual(ChartFormat.tick(-0.0, step: 1), "0")
        XCTAssertEqual(ChartFormat.tick(3e9, step: 1e9), "3G")
        XCTAssertEqual(ChartFormat.short(0.1 + 0.2), "0.3")
        XCTAssertEqual(ChartFormat.short(3), "3")
        XCTAssertEqual(ChartFormat.short(-2.5), "-2.5")
        XCTAssertEqual(ChartFormat.short(123456.789), "123457")
        XCTAssertEqual(ChartFormat.short(0.000123456), "0.000123456")
        XCTAssertEqual(ChartFormat.short(.nan), "NaN")
        XCTAssertEqual(ChartFormat.short(1.3200620530129382e-05), "1.32e-5")
        XCTAssertEqual(ChartFormat.short(-2.5e20), "-2.5e20")
        XCTAssertEqual(ChartFormat.short(9.99999e-7), "1e-6")
        XCTAssertEqual(ChartFormat.tick(3e-10, step: 1e-10), "3e-10")
        XCTAssertEqual(SVGNum.s(-0.04), "0")
        XCTAssertEqual(SVGNum.s(12.345), "12.3")
        XCTAssertEqual(SVGNum.s(-7.25), "-7.3")
    }

    func testHostileTextIsEscapedEverywhere() {
        let h = Self.hostile, h2 = Self.hostile2
        let pts = [ChartPoint(x: 0, y: 1, label: h), ChartPoint(x: 1, y: 2, label: nil, href: "/x?c=" + h2),
                   ChartPoint(x: 2, y: 3, href: "javascript:alert(1)"), ChartPoint(x: 3, y: 4, href: "//evil.example/")]
        for kind in ChartKind.allCases {
            let c = Chart(title: h, kind: kind, series: [ChartSeries(name: h2, points: pts), ChartSeries(name: h, points: pts)],
                          xLabel: h, yLabel: h2, xCategories: [h, h2, "a", "b"])
            let svg = c.svg()
            assertNoRawHostile(svg)
            XCTAssertTrue(svg.contains("&lt;img src=x onerror=alert(1)&gt;"), "\(kind)")
            XCTAssertFalse(svg.contains("javascript:"), "\(kind)")
            XCTAssertFalse(svg.contains("evil.example"), "\(kind)")
            XCTAssertTrue(svg.contains("<a href=\"/x?c=&quot;&gt;&lt;script&gt;"), "\(kind)")
        }
        let conf = ConfusionChart(title: h, labels: [h, h2], counts: [[1, 2], [3, 4]]).svg()
        assertNoRawHostile(conf)
        XCTAssertTrue(conf.contains("actual &lt;img src=x onerror=alert(1)&gt;, predicted &quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;: 2"))
        let par = ParallelChart(title: h, axes: [h, h2], lines: [.init(name: h2, values: [1, 2], href: "/c?x=" + h)], colorAxis: 1).svg()
        assertNoRawHostile(par)
        XCTAssertTrue(par.contains("<a href=\"/c?x=&lt;img"))
    }

    func testLongLabelsAreClipped() {
        let long = String(repeating: "<x>", count: 100_000)
        let pts = (0..<100).map { ChartPoint(x: Double($0), y: 1, label: long) }
        let svg = Chart(title: long, kind: .line, series: [ChartSeries(name: long, points: pts)], xLabel: long, yLabel: long).svg()
        XCTAssertLessThan(svg.utf8.count, 250_000)
        XCTAssertEqual(count("class=\"pt\"", in: svg), 100)
        assertNoRawHostile(svg)
    }

    func testLineAndScatterPointCounts() {
        let s = [series("a", [1, 2, 3, 4, 5]), series("b", [5, 4, 3, 2, 1])]
        let line = Chart(title: "t", kind: .line, series: s).svg()
        XCTAssertEqual(count("class=\"pt\"", in: line), 10)
        XCTAssertEqual(count("class=\"line\"", in: line), 2)
        XCTAssertEqual(count("data-series=\"1\"", in: line), 6)  // 5 markers and 1 path
        XCTAssertEqual(count("<circle", in: line), 10)
        XCTAssertEqual(count("<title>a: 2, 3</title>", in: line), 1)
        // A legend with both names when there is more than one series.
        XCTAssertEqual(count("class=\"legend-item\"", in: line), 2)
        XCTAssertEqual(count("class=\"legend-item\"", in: Chart(title: "t", kind: .line, series: [s[0]]).svg()), 0)
        let scatter = Chart(title: "t", kind: .scatter, series: s).svg()
        XCTAssertEqual(count("class=\"pt\"", in: scatter), 10)
        XCTAssertEqual(count("class=\"line\"", in: scatter), 0)
        // The same input gives the same bytes.
        XCTAssertEqual(line, Chart(title: "t", kind: .line, series: s).svg())
    }

    func testLinePathsFollowXOrder() {
        let pts = [ChartPoint(x: 2, y: 1), ChartPoint(x: 0, y: 1), ChartPoint(x: 1, y: 1)]
        let svg = Chart(title: "t", kind: .line, series: [ChartSeries(name: "s", points: pts)], width: 400, height: 200).svg()
        // x increases along the path: read its coordinates back.
        let d = svg.components(separatedBy: "class=\"line\" data-series=\"0\" d=\"")[1].components(separatedBy: "\"")[0]
        let nums = d.replacingOccurrences(of: "M", with: "").replacingOccurrences(of: "L", with: " ").split(separator: " ").compactMap { Double($0) }
        let xs = stride(from: 0, to: nums.count, by: 2).map { nums[$0] }
        XCTAssertEqual(xs.count, 3)
        XCTAssertEqual(xs, xs.sorted())
    }

    func testNaNInfinityEmptySinglePointAndFlatSeries() {
        let bad = ChartSeries(name: "s", points: [ChartPoint(x: 0, y: .nan), ChartPoint(x: 1, y: 2), ChartPoint(x: .infinity, y: 1),
                                                  ChartPoint(x: 2, y: -.infinity), ChartPoint(x: 3, y: 4)])
        let svg = Chart(title: "t", kind: .line, series: [bad]).svg()
        XCTAssertEqual(count("class=\"pt\"", in: svg), 2)
        XCTAssertFalse(svg.lowercased().contains("nan"))
        XCTAssertFalse(svg.contains("inf"))
        let empty = Chart(title: "t", kind: .line, series: [ChartSeries(name: "e", points: [])]).svg()
        XCTAssertTrue(empty.contains(">no data</text>"))
        XCTAssertEqual(count("class=\"pt\"", in: empty), 0)
        XCTAssertTrue(Chart(title: "t", kind: .line, series: []).svg().contains("no data"))
        let one = Chart(title: "t", kind: .line, series: [series("one", [7])]).svg()
        XCTAssertEqual(count("class=\"pt\"", in: one), 1)
        XCTAssertFalse(one.lowercased().contains("nan"))
        let flat = Chart(title: "t", kind: .line, series: [series("flat", [3, 3, 3])]).svg()
        XCTAssertEqual(count("class=\"pt\"", in: flat), 3)
        XCTAssertFalse(flat.lowercased().contains("nan"))
        XCTAssertTrue(flat.contains(">3</text>"))   // a tick at the value
        let neg = Chart(title: "t", kind: .line, series: [series("n", [-40, -10, 5])]).svg()
        XCTAssertTrue(neg.contains(">-40</text>"))
    }

    func testLogScaleOnlyWhenEveryValueIsPositive() {
        let pos = Chart(title: "t", kind: .line, series: [series("p", [1, 10, 1000])], logY: true).svg()
        for t in [">1</text>", ">10</text>", ">100</text>", ">1000</text>"] { XCTAssertTrue(pos.contains(t), t) }
        let mixed = Chart(title: "t", kind: .line, series: [series("m", [0, 10, 1000])], logY: true).svg()
        XCTAssertTrue(mixed.contains("linear scale"))
        XCTAssertTrue(mixed.contains(">0</text>"))
        let bars = Chart(title: "t", kind: .bar, series: [series("b", [1, 10, 1000])], logY: true).svg()
        XCTAssertEqual(count("class=\"bar\"", in: bars), 3)
        XCTAssertFalse(bars.contains("height=\"0\""))
    }

    func testMarkerLimitKeepsLargeChartsSmall() {
        let big = series("big", (0..<10_000).map { Double(($0 * 7919) % 1000) })
        var c = Chart(title: "t", kind: .line, series: [big])
        let svg = c.svg()
        XCTAssertEqual(count("class=\"pt\"", in: svg), 0)
        XCTAssertEqual(count("class=\"line\"", in: svg), 1)
        XCTAssertTrue(svg.contains("no markers above 2000"))
        XCTAssertLessThan(svg.utf8.count, 80_000)
        c.markerLimit = 20_000
        XCTAssertEqual(count("class=\"pt\"", in: c.svg()), 10_000)
        let scatter = Chart(title: "t", kind: .scatter, series: [big]).svg()
        XCTAssertEqual(count("class=\"pt\"", in: scatter), 0)
        XCTAssertEqual(count("class=\"dots\"", in: scatter), 1)
        XCTAssertLessThan(scatter.utf8.count, 200_000)
        // Exactly at the limit markers stay.
        XCTAssertEqual(count("class=\"pt\"", in: Chart(title: "t", kind: .line, series: [series("s", (0..<2000).map(Double.init))]).svg()), 2000)
    }

    func testBarsAndCategoricalAxes() {
        let s = [ChartSeries(name: "a", points: [ChartPoint(x: 0, y: 1), ChartPoint(x: 1, y: -2), ChartPoint(x: 2, y: 3)]),
                 ChartSeries(name: "b", points: [ChartPoint(x: 0, y: 2), ChartPoint(x: 1, y: 2), ChartPoint(x: 2, y: 1)])]
        let bar = Chart(title: "t", kind: .bar, series: s, xCategories: ["cat", "dog", "eel"]).svg()
        XCTAssertEqual(count("class=\"bar\"", in: bar), 6)
        for c in ["cat", "dog", "eel"] { XCTAssertTrue(bar.contains(">\(c)</text>"), c) }
        XCTAssertTrue(bar.contains("<title>a: dog, -2</title>"))
        // Numeric x without categories: one category per distinct x.
        XCTAssertEqual(count("class=\"bar\"", in: Chart(title: "t", kind: .bar, series: [series("z", [4, 5])]).svg()), 2)
        // 500 commits on a categorical axis: every point drawn, labels thinned to fit.
        let cats = (0..<500).map { "c\($0)" }
        let line = Chart(title: "t", kind: .line, series: [series("m", (0..<500).map(Double.init))], xCategories: cats).svg()
        XCTAssertEqual(count("class=\"pt\"", in: line), 500)
        let labels = cats.filter { line.contains(">\($0)</text>") }.count
        XCTAssertGreaterThan(labels, 5)
        XCTAssertLessThan(labels, 60)
        XCTAssertTrue(line.contains(">c0</text>"))
        // A point whose x is not a category is skipped.
        let off = Chart(title: "t", kind: .line, series: [series("m", [1, 2, 3])], xCategories: ["only"]).svg()
        XCTAssertEqual(count("class=\"pt\"", in: off), 1)
    }

    func testConfusionCells() {
        let svg = ConfusionChart(title: "c", labels: ["a", "b", "c"], counts: [[5, 1, 0], [2, 7, 0], [0, 0, 9]]).svg()
        XCTAssertEqual(count("class=\"cell\"", in: svg), 9)
        XCTAssertTrue(svg.contains("<title>actual b, predicted a: 2</title>"))
        XCTAssertTrue(svg.contains("<title>actual c, predicted c: 9</title>"))
        XCTAssertTrue(svg.contains(">predicted</text>") && svg.contains(">actual</text>"))
        // The darkest cell is the largest count.
        XCTAssertEqual(ConfusionChart.shade(1), "#084594")
        XCTAssertEqual(ConfusionChart.shade(0), "#f7fbff")
        // Ragged counts read as zeros; no classes: no data.
        XCTAssertEqual(count("class=\"cell\"", in: ConfusionChart(title: "c", labels: ["a", "b"], counts: [[1]]).svg()), 4)
        XCTAssertTrue(ConfusionChart(title: "c", labels: [], counts: []).svg().contains("no data"))
    }

    func testParallelLinesBreakAtMissingValues() {
        let lines: [ParallelChart.Line] = [.init(name: "c1", values: [1, 2, 3], href: "/compare?c=c1"),
                                          .init(name: "c2", values: [2, nil, 1]),
                                          .init(name: "c3", values: [3, 1, .nan])]
        let svg = ParallelChart(title: "p", axes: ["lr", "depth", "acc"], lines: lines, colorAxis: 2).svg()
        XCTAssertEqual(count("class=\"pline\"", in: svg), 3)
        XCTAssertEqual(count("class=\"axis\"", in: svg), 3)
        let d2 = svg.components(separatedBy: "<title>c2</title>")[0].components(separatedBy: "d=\"").last!
        XCTAssertEqual(count("M", in: d2.components(separatedBy: "\"")[0]), 2)
        XCTAssertEqual(count("<a href=\"/compare?c=c1\">", in: svg), 1)
        XCTAssertTrue(svg.contains("colour: acc"))
        XCTAssertFalse(svg.lowercased().contains("nan"))
        XCTAssertTrue(ParallelChart(title: "p", axes: [], lines: []).svg().contains("no data"))
    }

    // MARK: regressions (issue 17 review)

    /// More than `markerLimit` points whose y spans ±1e308: the dots path used to compute
    /// Int(NaN) and trap. Values beyond ±1e300 are left out with a note; the rest is drawn.
    func testHugeYRangeAboveMarkerLimitDoesNotTrap() {
        var ys = (0..<2500).map(Double.init)
        ys[0] = -1e308; ys[1] = 1e308
        for kind in [ChartKind.scatter, .line] {
            let svg = Chart(title: "t", kind: kind, series: [series("s", ys)]).svg()
            XCTAssertTrue(svg.contains("2 points beyond ±1e300 not drawn"), "\(kind)")
            XCTAssertFalse(svg.contains("NaN") || svg.contains("inf"), "\(kind)")
            XCTAssertEqual(count(kind == .scatter ? "class=\"dots\"" : "class=\"line\"", in: svg), 1, "\(kind)")
        }
        // Within the drawable range, the widest span is drawn, markers and all.
        let wide = Chart(title: "t", kind: .scatter, series: [series("s", [-1e300, 0, 1e300])]).svg()
        XCTAssertEqual(count("class=\"pt\"", in: wide), 3)
        XCTAssertFalse(wide.contains("not drawn"))
    }

    /// A long line whose x spans ±1e308: the thinning used to loop forever on NaN columns.
    func testHugeXRangeLongLineEnds() {
        var pts = (0..<2500).map { ChartPoint(x: Double($0), y: Double($0)) }
        pts[0].x = -1e308; pts[2499].x = 1e308
        let svg = Chart(title: "t", kind: .line, series: [ChartSeries(name: "s", points: pts)]).svg()
        XCTAssertEqual(count("class=\"line\"", in: svg), 1)
        XCTAssertTrue(svg.contains("2 points beyond ±1e300 not drawn"))
    }

    /// Thinning drops points that are not finite and always advances (a NaN first point used
    /// to read pts[-1]; a NaN later one never advanced).
    func testThinDropsNonFiniteAndAlwaysAdvances() {
        var pts = (0..<3000).map { (Double($0) / 10, Double($0 % 7)) }
        pts[0].0 = .nan; pts[1500].0 = .nan; pts[2000].1 = .infinity
        let out = Thin.columns(pts, maxPerColumn: 4)
        XCTAssertTrue(out.allSatisfy { $0.0.isFinite && $0.1.isFinite })
        XCTAssertLessThanOrEqual(out.count, 300 * 4)
        XCTAssertEqual(out.last?.0, 299.9)
    }

    /// Ticks, coordinates and conversions near the ends of Double never trap.
    func testConversionsNearTheEndsOfDouble() {
        let t = Ticks.nice(1e308, 1.79e308, target: 5)  // rounding hi up to a step overflows
        XCTAssertTrue(t.lo.isFinite && t.hi.isFinite && t.hi > t.lo)
        XCTAssertEqual(Ticks.nice(-.infinity, .nan, target: 5).values, [0, 1])
        XCTAssertEqual(SVGNum.s(1e300), "1000000000")
        XCTAssertEqual(SVGNum.s(-1e300), "-1000000000")
        XCTAssertEqual(ChartInt.clamped(.nan), 0)
        XCTAssertEqual(ChartInt.clamped(.infinity, 0, 9), 9)
        XCTAssertEqual(ChartInt.clamped(-1e308, 0, 9), 0)
        XCTAssertEqual(ChartInt.clamped(4.7, 0, 9), 4)
        XCTAssertEqual(ChartFormat.tick(5, step: .nan), "5")
        XCTAssertEqual(Scale.fraction(0, -1e308, 1e308), 0.5)
        var c = Chart(title: "t", kind: .line, series: [series("s", [1, 2])])
        c.width = Int.max; c.height = Int.max
        XCTAssertTrue(c.svg().contains("width=\"20000\""))
        XCTAssertTrue(ConfusionChart(title: "c", labels: ["a"], counts: [[1]], width: Int.max).svg().contains("class=\"cell\""))
        let p = ParallelChart(title: "p", axes: ["a", "b"], lines: [.init(name: "x", values: [-1e308, 1]), .init(name: "y", values: [1e308, 2])], colorAxis: 0)
        let psvg = p.svg()
        XCTAssertEqual(count("class=\"pline\"", in: psvg), 2)
        XCTAssertTrue(psvg.contains("stroke=\"#313695\"") && psvg.contains("stroke=\"#e69f00\""), psvg)
    }

    func testExponentOfSubnormals() {
        XCTAssertEqual(ChartFormat.exponent(5e-324), "4.941e-324")
        XCTAssertEqual(ChartFormat.short(-5e-324), "-4.941e-324")
        XCTAssertEqual(ChartFormat.exponent(2.5e-310), "2.5e-310")
        XCTAssertEqual(ChartFormat.exponent(1.7976931348623157e308), "1.798e308")
    }

    /// `/\evil.com` is `//evil.com` to a browser, and so is `/<tab>/evil.com`.
    func testSafeHrefRefusesBackslashesAndControls() {
        for bad in ["/\\evil.com", "/a\\b", "\\\\evil.com", "//evil.com", "/\t/evil.com", "/\n/evil.com", "javascript:alert(1)", "https://evil.com"] {
            XCTAssertNil(ChartFormat.safeHref(bad), bad)
        }
        for good in ["/compare?c=a&c=b", "?x=1", "#top", "/files?path=a%5Cb"] { XCTAssertEqual(ChartFormat.safeHref(good), good) }
        let svg = Chart(title: "t", kind: .scatter, series: [ChartSeries(name: "s", points: [ChartPoint(x: 1, y: 1, href: "/\\evil.com")])]).svg()
        XCTAssertFalse(svg.contains("<a "))
    }

    /// Compare colours a fall as good for losses, errors and times; the arrow keeps the direction.
    func testLowerIsBetterMetricNames() {
        for k in ["loss", "val_loss", "eval.loss", "train/RMSE", "MAE", "log_loss", "error_rate", "perplexity", "latency_ms", "fit_time", "duration"] {
            XCTAssertTrue(UIApp.lowerIsBetter(k), k)
        }
        for k in ["accuracy", "f1", "auc", "loss.accuracy", "precision"] { XCTAssertFalse(UIApp.lowerIsBetter(k), k) }
    }
}
