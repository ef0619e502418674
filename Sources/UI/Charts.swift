#if canImport(Glibc)
import Glibc
#endif
import ML
import Support

// Charts drawn as inline SVG by the server (no JavaScript needed to see them). Every mark a
// reader can hover carries a <title> (the browser shows it as a tooltip) and a class the
// tests count: `pt` for a point, `bar` for a bar, `cell` for a confusion-matrix cell,
// `pline` for a parallel-coordinates line. Every string is escaped.
// Output is deterministic (the same input gives the same bytes) and bounded: above
// `markerLimit` points a chart draws lines without per-point markers, and long lines are
// thinned to a few points per pixel column.

/// One mark of a series.
public struct ChartPoint: Sendable, Equatable {
    public var x: Double
    public var y: Double
    /// Tooltip text (escaped when drawn); nil: "x, y".
    public var label: String?
    /// Where clicking the point leads (a page of this app), if anywhere.
    public var href: String?
    public init(x: Double, y: Double, label: String? = nil, href: String? = nil) {
        self.x = x; self.y = y; self.label = label; self.href = href
    }
}

/// A named series of points (one line of a line chart, one colour of a scatter plot).
public struct ChartSeries: Sendable, Equatable {
    public var name: String
    public var points: [ChartPoint]
    public init(name: String, points: [ChartPoint]) { self.name = name; self.points = points }
}

public enum ChartKind: String, Sendable, CaseIterable {
    /// Lines through the points, sorted by x (DVC's `linear`).
    case line
    /// Points only (DVC's `scatter`).
    case scatter
    /// One bar per point; x names a category (`xCategories[Int(x)]`) (DVC's `bar`).
    case bar
}


/// A line, scatter or bar chart with axes, ticks, a legend and hover titles.
public struct Chart: Sendable {
    public var title: String
    public var kind: ChartKind
    public var series: [ChartSeries]
    public var xLabel: String
    public var yLabel: String
    /// A categorical x axis: point x values are indexes into it (commits in order, classes).
    public var xCategories: [String]?
    public var width: Int
    public var height: Int
    /// Logarithmic y axis (used only when every y is positive).
    public var logY: Bool
    /// Above this many points in all, lines are drawn without markers (and a scatter plot
    /// as plain dots without titles), so a chart of 10,000 commits stays small.
    public var markerLimit: Int = 2000
    /// At most this many series are drawn (the legend says how many were left out).
    public static let maxSeries = 64
    /// Values larger than this in magnitude are not drawn (a note counts them), so every span
    /// and scaled coordinate stays finite.
    public static let drawableLimit = 1e300

    public init(title: String, kind: ChartKind, series: [ChartSeries], xLabel: String = "", yLabel: String = "",
                xCategories: [String]? = nil, width: Int = 640, height: Int = 320, logY: Bool = false) {
        self.title = title; self.kind = kind; self.series = series; self.xLabel = xLabel; self.yLabel = yLabel
        self.xCategories = xCategories; self.width = width; self.height = height; self.logY = logY
    }

    /// The chart as an `<svg>` element. Text is clipped (titles of marks to 300
    /// characters), so a hostile label cannot make the chart large.
    public func svg() -> String {
        let W = Double(min(max(width, 200), 20_000)), H = Double(min(max(height, 140), 20_000))
        let shown = Array(series.prefix(Chart.maxSeries))
        // Finite points only; a categorical x must name a category.
        let cats = xCategories
        // Values beyond ±`drawableLimit` are outside the drawable range (their spans would
        // overflow): they are left out, and the note says how many.
        var outside = 0
        func usable(_ p: ChartPoint) -> Bool {
            guard p.x.isFinite, p.y.isFinite else { return false }
            if let cats { guard p.x == p.x.rounded() && p.x >= 0 && p.x < Double(cats.count) else { return false } }
            else if kind != .bar && abs(p.x) > Chart.drawableLimit { outside += 1; return false }
            if abs(p.y) > Chart.drawableLimit { outside += 1; return false }
            return true
        }
        var pts: [[ChartPoint]] = shown.map { $0.points.filter(usable) }
        var notes: [String] = []
        if outside > 0 { notes.append("\(outside) point\(outside == 1 ? "" : "s") beyond ±1e300 not drawn") }
        // A log axis needs every value positive; bars start at zero, so they never use one.
        let useLog = logY && kind != .bar && pts.contains { !$0.isEmpty } && pts.allSatisfy { $0.allSatisfy { $0.y > 0 } }
        if logY && !useLog && kind != .bar && pts.contains(where: { !$0.isEmpty }) { notes.append("linear scale: some values are not positive") }
        // Bars: one category per distinct x (or per xCategories entry).
        var barCats: [String] = cats ?? []
        var barIndex: [Double: Int] = [:]
        if kind == .bar && cats == nil {
            let xs = Set(pts.flatMap { $0.map(\.x) }).sorted()
            for (i, x) in xs.enumerated() { barIndex[x] = i }
            barCats = xs.map { ChartFormat.short($0) }
        }
        if kind == .bar {
            let k = max(1, pts.filter { !$0.isEmpty }.count)
            let limit = max(1, markerLimit / k)
            if barCats.count > limit {
                notes.append("showing the first \(limit) of \(barCats.count) categories")
                barCats = Array(barCats.prefix(limit))
                pts = pts.map { $0.filter { p in (cats != nil ? ChartInt.clamped(p.x) : barIndex[p.x]!) < limit } }
            }
        }
        let total = pts.reduce(0) { $0 + $1.count }
        let markers = total <= markerLimit
        if !markers && kind != .bar { notes.append("\(total) points: \(kind == .scatter ? "dots" : "lines") only, no markers above \(markerLimit)") }
        if series.count > shown.count { notes.append("\(series.count - shown.count) more series not drawn") }

        // Legend layout (more than one series): rows of swatch + name, at most 3 rows.
        var legendItems: [(x: Double, row: Int, name: String, color: String)] = []
        var legendMore = 0
        if shown.count > 1 {
            var x = 10.0, row = 0
            for (i, s) in shown.enumerated() {
                let name = ChartFormat.clip(s.name, 28)
                let w = 22 + Double(name.count) * 6.6 + 12
                if x + w > W - 8 && x > 10 { row += 1; x = 10 }
                if row >= 3 { legendMore = shown.count - i; break }
                legendItems.append((x, row, name, ChartPalette.color(i)))
                x += w
            }
        }
        let legendRows = legendItems.isEmpty ? 0 : (legendItems.last!.row + 1)
        let categorical = kind == .bar || cats != nil
        let top = 30 + Double(legendRows) * 16 + (legendRows > 0 ? 8 : 0)
        let left = 66.0, right = 16.0
        let nCats = kind == .bar ? barCats.count : (cats?.count ?? 0)
        let plotWGuess = W - left - right
        let rotate = categorical && nCats > 0 && Double(nCats) > plotWGuess / 72
        // A note gets its own line under the x axis label.
        let noteLine = notes.isEmpty ? 0.0 : 14.0
        let bottom = (rotate ? 78.0 : 44.0) + (xLabel.isEmpty ? 0 : 6) + noteLine
        let plotW = W - left - right, plotH = max(40, H - top - bottom)

        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart-svg\" width=\"\(Int(W))\" height=\"\(Int(H))\" viewBox=\"0 0 \(Int(W)) \(Int(H))\" role=\"img\" aria-label=\"\(HTML.attr(ChartFormat.clip(title, 300)))\">"
        out += "<title>\(HTML.text(ChartFormat.clip(title, 300)))</title>"
        out += "<rect x=\"0\" y=\"0\" width=\"\(Int(W))\" height=\"\(Int(H))\" fill=\"#fff\"/>"
        out += "<text x=\"\(SVGNum.s(W / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"600\" fill=\"#1d2330\">\(HTML.text(ChartFormat.clip(title, 90)))</text>"
        for it in legendItems {
            let y = 40 + Double(it.row) * 16
            out += "<g class=\"legend-item\"><rect x=\"\(SVGNum.s(it.x))\" y=\"\(SVGNum.s(y - 9))\" width=\"14\" height=\"10\" fill=\"\(it.color)\"/>"
            out += "<text x=\"\(SVGNum.s(it.x + 18))\" y=\"\(SVGNum.s(y))\" font-size=\"11\" fill=\"#333\">\(HTML.text(it.name))</text></g>"
        }
        if legendMore > 0, let last = legendItems.last {
            out += "<text x=\"\(SVGNum.s(W - 8))\" y=\"\(SVGNum.s(40 + Double(last.row) * 16))\" text-anchor=\"end\" font-size=\"11\" fill=\"#666\">+\(legendMore) more</text>"
        }
        // Frame and axis labels.
        out += "<rect class=\"frame\" x=\"\(SVGNum.s(left))\" y=\"\(SVGNum.s(top))\" width=\"\(SVGNum.s(plotW))\" height=\"\(SVGNum.s(plotH))\" fill=\"none\" stroke=\"#c4c9d2\"/>"
        if !xLabel.isEmpty {
            out += "<text class=\"axis-label\" x=\"\(SVGNum.s(left + plotW / 2))\" y=\"\(SVGNum.s(H - 6 - noteLine))\" text-anchor=\"middle\" font-size=\"12\" fill=\"#333\">\(HTML.text(ChartFormat.clip(xLabel, 80)))</text>"
        }
        if !yLabel.isEmpty {
            let cy = top + plotH / 2
            out += "<text class=\"axis-label\" x=\"14\" y=\"\(SVGNum.s(cy))\" transform=\"rotate(-90 14 \(SVGNum.s(cy)))\" text-anchor=\"middle\" font-size=\"12\" fill=\"#333\">\(HTML.text(ChartFormat.clip(yLabel, 50)))</text>"
        }
        if total == 0 {
            out += "<text class=\"nodata\" x=\"\(SVGNum.s(left + plotW / 2))\" y=\"\(SVGNum.s(top + plotH / 2))\" text-anchor=\"middle\" font-size=\"13\" fill=\"#888\">no data</text>"
            return out + "</svg>"
        }

        // Y scale.
        let ys = pts.flatMap { $0.map(\.y) }
        var yLo = ys.min()!, yHi = ys.max()!
        if kind == .bar { yLo = min(yLo, 0); yHi = max(yHi, 0) }
        let yTicks: [Double], yMin: Double, yMax: Double
        var yTickText: [String] = []
        if useLog {
            let a = log10(yLo), b = log10(yHi)
            var lo = floor(a), hi = ceil(b)
            if hi <= lo { hi = lo + 1 }
            if hi - lo > 60 { lo = hi - 60 }
            let stepE = max(1.0, ((hi - lo) / 6).rounded(.up))
            var t: [Double] = []
            var e = lo
            while e <= hi + 1e-9 { t.append(e); e += stepE }
            yTicks = t; yMin = lo; yMax = t.last! < hi ? hi : t.last!
            yTickText = t.map { ChartFormat.short(pow(10, $0)) }
        } else {
            let nt = Ticks.nice(yLo, yHi, target: max(2, Int(plotH / 45)))
            yTicks = nt.values; yMin = nt.lo; yMax = nt.hi
            yTickText = nt.values.map { ChartFormat.tick($0, step: nt.step) }
        }
        func sy(_ v: Double) -> Double {
            let t = useLog ? log10(v) : v
            return top + plotH - Scale.fraction(t, yMin, yMax) * plotH
        }
        // X scale.
        var xTicks: [(pos: Double, text: String)] = []
        let sx: (Double) -> Double
        if kind == .bar {
            let n = Double(max(1, barCats.count))
            sx = { left + ($0 + 0.5) / n * plotW }
            for (i, c) in barCats.enumerated() { xTicks.append((Double(i), c)) }
        } else if let cats {
            let n = Double(max(1, cats.count))
            sx = { left + ($0 + 0.5) / n * plotW }
            for (i, c) in cats.enumerated() { xTicks.append((Double(i), c)) }
        } else {
            let xs = pts.flatMap { $0.map(\.x) }
            let nt = Ticks.nice(xs.min()!, xs.max()!, target: max(2, Int(plotW / 80)), integer: xs.allSatisfy { $0 == $0.rounded() })
            let lo = nt.lo, hi = nt.hi
            sx = { left + Scale.fraction($0, lo, hi) * plotW }
            xTicks = nt.values.map { ($0, ChartFormat.tick($0, step: nt.step)) }
        }
        // Gridlines and tick labels.
        out += "<g class=\"grid\" stroke=\"#eceef2\" stroke-width=\"1\">"
        for t in yTicks {
            let y = useLog ? top + plotH - Scale.fraction(t, yMin, yMax) * plotH : sy(t)
            out += "<line x1=\"\(SVGNum.s(left))\" x2=\"\(SVGNum.s(left + plotW))\" y1=\"\(SVGNum.s(y))\" y2=\"\(SVGNum.s(y))\"/>"
        }
        if !categorical { for t in xTicks { let x = sx(t.pos); out += "<line x1=\"\(SVGNum.s(x))\" x2=\"\(SVGNum.s(x))\" y1=\"\(SVGNum.s(top))\" y2=\"\(SVGNum.s(top + plotH))\"/>" } }
        out += "</g><g class=\"ticks\" font-size=\"11\" fill=\"#555\">"
        for (i, t) in yTicks.enumerated() {
            let y = useLog ? top + plotH - Scale.fraction(t, yMin, yMax) * plotH : sy(t)
            out += "<text x=\"\(SVGNum.s(left - 6))\" y=\"\(SVGNum.s(y + 4))\" text-anchor=\"end\">\(HTML.text(yTickText[i]))</text>"
        }
        if categorical {
            let room = rotate ? 22.0 : 72.0  // rotated labels 22 px apart: ~14 px between the slanted lines
            let fit = max(1, Int(plotW / room))
            let every = max(1, (xTicks.count + fit - 1) / fit)
            for (i, t) in xTicks.enumerated() where i % every == 0 {
                let x = sx(t.pos), y = top + plotH + 14
                let label = HTML.text(ChartFormat.clip(t.text, rotate ? 14 : 12))
                if rotate {
                    out += "<text x=\"\(SVGNum.s(x))\" y=\"\(SVGNum.s(y))\" text-anchor=\"end\" transform=\"rotate(-40 \(SVGNum.s(x)) \(SVGNum.s(y)))\">\(label)</text>"
                } else {
                    out += "<text x=\"\(SVGNum.s(x))\" y=\"\(SVGNum.s(y + 2))\" text-anchor=\"middle\">\(label)</text>"
                }
            }
        } else {
            for t in xTicks { out += "<text x=\"\(SVGNum.s(sx(t.pos)))\" y=\"\(SVGNum.s(top + plotH + 16))\" text-anchor=\"middle\">\(HTML.text(t.text))</text>" }
        }
        out += "</g>"
        if !notes.isEmpty {
            out += "<text class=\"note\" x=\"\(SVGNum.s(W - 6))\" y=\"\(SVGNum.s(H - 6))\" text-anchor=\"end\" font-size=\"10\" fill=\"#777\">\(HTML.text(notes.joined(separator: "; ")))</text>"
        }
        func xText(_ p: ChartPoint) -> String {
            if kind == .bar { return cats != nil ? cats![ChartInt.clamped(p.x, 0, cats!.count - 1)] : barCats[barIndex[p.x]!] }
            if let cats { return cats[ChartInt.clamped(p.x, 0, cats.count - 1)] }
            return ChartFormat.short(p.x)
        }
        func tip(_ p: ChartPoint, _ s: ChartSeries) -> String {
            ChartFormat.clip(p.label ?? "\(ChartFormat.clip(s.name, 120)): \(ChartFormat.clip(xText(p), 120)), \(ChartFormat.short(p.y))", 300)
        }
        func wrap(_ mark: String, _ p: ChartPoint) -> String {
            guard let h = p.href.flatMap(ChartFormat.safeHref) else { return mark }
            return "<a href=\"\(HTML.attr(h))\">\(mark)</a>"
        }

        // Data.
        if kind == .bar {
            let k = pts.count
            let n = Double(max(1, barCats.count))
            let groupW = plotW / n
            let barW = max(1, groupW * 0.8 / Double(max(1, k)))
            let y0 = sy(0)
            for (si, ps) in pts.enumerated() {
                let color = ChartPalette.color(si)
                for p in ps {
                    let idx = cats != nil ? ChartInt.clamped(p.x) : barIndex[p.x]!
                    let x = left + Double(idx) * groupW + groupW * 0.1 + Double(si) * barW
                    let y = sy(p.y)
                    let mark = "<rect class=\"bar\" data-series=\"\(si)\" x=\"\(SVGNum.s(x))\" y=\"\(SVGNum.s(min(y, y0)))\" width=\"\(SVGNum.s(barW))\" height=\"\(SVGNum.s(max(0.5, abs(y0 - y))))\" fill=\"\(color)\"><title>\(HTML.text(tip(p, shown[si])))</title></rect>"
                    out += wrap(mark, p)
                }
            }
            out += "<line x1=\"\(SVGNum.s(left))\" x2=\"\(SVGNum.s(left + plotW))\" y1=\"\(SVGNum.s(y0))\" y2=\"\(SVGNum.s(y0))\" stroke=\"#888\"/>"
            return out + "</svg>"
        }
        for (si, ps) in pts.enumerated() where !ps.isEmpty {
            let color = ChartPalette.color(si)
            if kind == .line {
                let sorted = ps.enumerated().sorted { $0.element.x != $1.element.x ? $0.element.x < $1.element.x : $0.offset < $1.offset }.map(\.element)
                let coords = Thin.columns(sorted.map { (sx($0.x), sy($0.y)) }, maxPerColumn: 4)
                if coords.isEmpty { continue }
                var d = "M\(SVGNum.s(coords[0].0)) \(SVGNum.s(coords[0].1))"
                if coords.count > 1 {
                    d += "L"
                    for (i, c) in coords.dropFirst().enumerated() { d += (i == 0 ? "" : " ") + SVGNum.s(c.0) + " " + SVGNum.s(c.1) }
                }
                out += "<path class=\"line\" data-series=\"\(si)\" d=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\" stroke-linejoin=\"round\"><title>\(HTML.text(ChartFormat.clip(shown[si].name, 200)))</title></path>"
            }
            if markers {
                let r = total > 500 ? "2.2" : "3.2"
                out += "<g fill=\"\(color)\" stroke=\"#fff\" stroke-width=\"0.6\">"
                for p in ps {
                    let cx = sx(p.x), cy = sy(p.y)
                    guard cx.isFinite, cy.isFinite else { continue }
                    let mark = "<circle class=\"pt\" data-series=\"\(si)\" cx=\"\(SVGNum.s(cx))\" cy=\"\(SVGNum.s(cy))\" r=\"\(r)\"><title>\(HTML.text(tip(p, shown[si])))</title></circle>"
                    out += wrap(mark, p)
                }
                out += "</g>"
            } else if kind == .scatter {
                // Plain dots, one per occupied pixel.
                var seen = Set<SIMD2<Int>>()
                var d = ""
                for p in ps {
                    let x = sx(p.x).rounded(), y = sy(p.y).rounded()
                    // A point whose coordinates are not finite (or far off the canvas) is skipped.
                    guard x.isFinite, y.isFinite, abs(x) <= 1e6, abs(y) <= 1e6 else { continue }
                    let px = ChartInt.clamped(x), py = ChartInt.clamped(y)
                    if seen.insert(SIMD2(px, py)).inserted { d += "M\(px) \(py)h0" }
                }
                out += "<path class=\"dots\" data-series=\"\(si)\" d=\"\(d)\" stroke=\"\(color)\" stroke-width=\"4\" stroke-linecap=\"round\"/>"
            }
        }
        return out + "</svg>"
    }
}

/// A colour-blind-friendly palette (Okabe & Ito's, with yellow swapped for darker tones
/// that read on white), cycled.
public enum ChartPalette {
    public static let colors = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#882255", "#999933", "#332288", "#555555"]
    public static func color(_ i: Int) -> String { colors[((i % colors.count) + colors.count) % colors.count] }
}

/// "Nice" axis ticks: steps of 1, 2 or 5 × 10^k covering a range.
public enum Ticks {
    /// The step of 1, 2 or 5 × 10^k nearest above `raw`.
    public static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let e = floor(log10(raw))
        let b = pow(10, e)
        let f = raw / b
        let m: Double = f <= 1.000001 ? 1 : f <= 2.000001 ? 2 : f <= 5.000001 ? 5 : 10
        return m * b
    }

    /// Ticks covering [lo, hi] with about `target` intervals; the range grows to whole steps.
    /// An empty range (lo == hi) grows around the value.
    /// `integer`: the values are whole numbers (steps, indexes), so the step is at least 1.
    public static func nice(_ lo: Double, _ hi: Double, target: Int, integer: Bool = false) -> (lo: Double, hi: Double, step: Double, values: [Double]) {
        var lo = lo, hi = hi
        guard lo.isFinite, hi.isFinite else { return (0, 1, 1, [0, 1]) }
        if !(hi > lo) {
            let d = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= d; hi += d
        }
        let span = hi - lo
        guard span.isFinite, span > 0 else { return (lo, hi, 1, [lo, hi]) }
        var step = niceStep(span / Double(max(1, target)))
        if integer && step < 1 { step = 1 }
        let a = floor(lo / step) * step, b = ceil(hi / step) * step
        let q = ((b - a) / step).rounded()
        guard a.isFinite, b.isFinite, b > a, q.isFinite, q >= 1, q <= 100 else { return (lo, hi, span, [lo, hi]) }
        let n = Int(q)
        var vals: [Double] = []
        for i in 0...n {
            var v = a + Double(i) * step
            if abs(v) < step * 1e-9 { v = 0 }
            vals.append(v)
        }
        return (a, b, step, vals)
    }
}

/// Numbers as short text for ticks and tooltips.
public enum ChartFormat {
    /// A short rendering of any number: integers in full, others with about 6 significant
    /// digits, very large or small ones in exponent form.
    public static func short(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1e15 || a < 1e-4 { return exponent(v) }
        if v == v.rounded() { return String(Int64(v)) }
        let mag = Int(floor(log10(a)))
        return trimZeros(formatFixed(v, max(0, min(12, 5 - mag))))
    }

    /// A tick label for `v` on an axis whose step is `step`: as many decimals as the step
    /// needs; thousands and beyond as 1.5k, 2M, 3G, 4T.
    public static func tick(_ v: Double, step: Double) -> String {
        if v == 0 { return "0" }
        guard v.isFinite else { return short(v) }
        guard step.isFinite, step > 0 else { return short(v) }
        let a = max(abs(v), step)
        if a >= 1e15 || step < 1e-9 { return exponent(v) }
        var scale = 1.0, suffix = ""
        if a >= 1e12 { scale = 1e12; suffix = "T" } else if a >= 1e9 { scale = 1e9; suffix = "G" }
        else if a >= 1e6 { scale = 1e6; suffix = "M" } else if a >= 1e4 { scale = 1e3; suffix = "k" }
        let st = step / scale
        let decimals = st >= 1 ? 0 : min(12, Int(-floor(log10(st) + 1e-9)))
        return trimZeros(formatFixed(v / scale, decimals)) + suffix
    }

    /// `v` as a mantissa of at most 4 significant digits and a power of ten: `1.32e-5`.
    public static func exponent(_ v: Double) -> String {
        guard v.isFinite, v != 0 else { return short(v) }
        var e = ChartInt.clamped(floor(log10(abs(v))), -400, 400)
        // Subnormals: 10^e underflows to 0 below 1e-308, so scale in two steps.
        var m = e < -300 ? (v * 1e300) / pow(10, Double(e + 300)) : v / pow(10, Double(e))
        if abs((m * 1000).rounded() / 1000) >= 10 { m /= 10; e += 1 }
        return trimZeros(formatFixed(m, 3)) + "e" + String(e)
    }

    static func trimZeros(_ s: String) -> String {
        guard s.contains(".") else { return s == "-0" ? "0" : s }
        var t = Substring(s)
        while t.hasSuffix("0") { t = t.dropLast() }
        if t.hasSuffix(".") { t = t.dropLast() }
        return t == "-0" ? "0" : String(t)
    }

    /// `s` shortened to `n` characters with an ellipsis.
    public static func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(max(1, n - 1))) + "…" }

    /// A link target a chart may use: a path of this app (`/…`, not `//…`), a query or a
    /// fragment. Anything else (a `javascript:` URL, another host) is dropped.
    /// A backslash anywhere (browsers read `/\` as `//`) and control characters (browsers
    /// drop tabs and newlines, so `/\t/` would become `//`) are refused too.
    public static func safeHref(_ h: String) -> String? {
        if h.hasPrefix("//") { return nil }
        if h.unicodeScalars.contains(where: { $0 == "\\" || $0.value < 0x20 || $0.value == 0x7F }) { return nil }
        if h.hasPrefix("/") || h.hasPrefix("?") || h.hasPrefix("#") { return h }
        return nil
    }
}

/// SVG coordinates with one decimal.
enum SVGNum {
    static func s(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        // Far off any canvas: clamped, so the conversions below cannot overflow.
        let r = (max(-1e9, min(1e9, v)) * 10).rounded() / 10
        if r == r.rounded() { return String(Int64(r)) }
        let i = Int64((abs(r) * 10).rounded())
        return (r < 0 ? "-" : "") + "\(i / 10).\(i % 10)"
    }
}

/// Thinning of a long polyline: per pixel column, its first, lowest, highest and last point.
/// Points with a coordinate that is not finite are dropped first.
enum Thin {
    static func columns(_ pts: [(Double, Double)], maxPerColumn: Int) -> [(Double, Double)] {
        let pts = pts.allSatisfy({ $0.0.isFinite && $0.1.isFinite }) ? pts : pts.filter { $0.0.isFinite && $0.1.isFinite }
        guard pts.count > 2000 else { return pts }
        var out: [(Double, Double)] = []
        out.reserveCapacity(4096)
        var i = 0
        while i < pts.count {
            let col = pts[i].0.rounded(.down)
            var j = i
            var lo = i, hi = i
            while j < pts.count && pts[j].0.rounded(.down) == col {
                if pts[j].1 < pts[lo].1 { lo = j }
                if pts[j].1 > pts[hi].1 { hi = j }
                j += 1
            }
            if j == i { j = i + 1 }  // always advance
            for k in Set([i, lo, hi, j - 1]).sorted() { out.append(pts[k]) }
            i = j
        }
        return out
    }
}

/// A confusion matrix as a heat map (DVC's `confusion` template): rows are actual classes,
/// columns predicted ones.
public struct ConfusionChart: Sendable {
    public var title: String
    public var labels: [String]
    /// counts[actual][predicted]
    public var counts: [[Int]]
    public var width: Int
    /// At most this many classes are drawn.
    public static let maxClasses = 100
    public init(title: String, labels: [String], counts: [[Int]], width: Int = 420) {
        self.title = title; self.labels = labels; self.counts = counts; self.width = width
    }

    /// The colour of a cell holding `t` (0…1) of the largest count: white to dark blue.
    static func shade(_ t: Double) -> String {
        let t = t.isFinite ? max(0, min(1, t)) : 0
        let r = Int((247 - t * (247 - 8)).rounded()), g = Int((251 - t * (251 - 69)).rounded()), b = Int((255 - t * (255 - 148)).rounded())
        let hex = Array("0123456789abcdef")
        return "#" + [r, g, b].map { String(hex[$0 >> 4]) + String(hex[$0 & 15]) }.joined()
    }

    public func svg() -> String {
        let n = min(labels.count, ConfusionChart.maxClasses)
        let W = Double(min(max(width, 200), 20_000))
        let left = 96.0, top = 34.0, right = 56.0
        let cell = max(2, (W - left - right) / Double(max(1, n)))
        let gridH = cell * Double(max(1, n))
        let H = top + gridH + 66
        func count(_ a: Int, _ p: Int) -> Int { a < counts.count && p < counts[a].count ? max(0, counts[a][p]) : 0 }
        var maxCount = 0
        for a in 0..<n { for p in 0..<n { maxCount = max(maxCount, count(a, p)) } }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart-svg\" width=\"\(Int(W))\" height=\"\(Int(H))\" viewBox=\"0 0 \(Int(W)) \(Int(H))\" role=\"img\" aria-label=\"\(HTML.attr(ChartFormat.clip(title, 300)))\">"
        out += "<title>\(HTML.text(ChartFormat.clip(title, 300)))</title><rect x=\"0\" y=\"0\" width=\"\(Int(W))\" height=\"\(Int(H))\" fill=\"#fff\"/>"
        out += "<text x=\"\(SVGNum.s(W / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"600\" fill=\"#1d2330\">\(HTML.text(ChartFormat.clip(title, 60)))</text>"
        if n == 0 {
            out += "<text class=\"nodata\" x=\"\(SVGNum.s(W / 2))\" y=\"\(SVGNum.s(top + 40))\" text-anchor=\"middle\" font-size=\"13\" fill=\"#888\">no data</text>"
            return out + "</svg>"
        }
        let showCounts = cell >= 18
        let every = max(1, Int((12 / cell).rounded(.up)))
        for a in 0..<n {
            for p in 0..<n {
                let c = count(a, p)
                let t = maxCount > 0 ? Double(c) / Double(maxCount) : 0
                let x = left + Double(p) * cell, y = top + Double(a) * cell
                out += "<g><rect class=\"cell\" x=\"\(SVGNum.s(x))\" y=\"\(SVGNum.s(y))\" width=\"\(SVGNum.s(cell))\" height=\"\(SVGNum.s(cell))\" fill=\"\(ConfusionChart.shade(t))\" stroke=\"#fff\" stroke-width=\"0.5\">"
                out += "<title>\(HTML.text("actual \(ChartFormat.clip(labels[a], 100)), predicted \(ChartFormat.clip(labels[p], 100)): \(c)"))</title></rect>"
                if showCounts {
                    out += "<text x=\"\(SVGNum.s(x + cell / 2))\" y=\"\(SVGNum.s(y + cell / 2 + 4))\" text-anchor=\"middle\" font-size=\"\(cell >= 30 ? 12 : 9)\" fill=\"\(t > 0.55 ? "#fff" : "#1d2330")\">\(c)</text>"
                }
                out += "</g>"
            }
        }
        out += "<g font-size=\"11\" fill=\"#444\">"
        for i in stride(from: 0, to: n, by: every) {
            let l = HTML.text(ChartFormat.clip(labels[i], 12))
            let cy = top + (Double(i) + 0.5) * cell
            out += "<text x=\"\(SVGNum.s(left - 5))\" y=\"\(SVGNum.s(cy + 4))\" text-anchor=\"end\">\(l)</text>"
            let cx = left + (Double(i) + 0.5) * cell, by = top + gridH + 12
            out += "<text x=\"\(SVGNum.s(cx))\" y=\"\(SVGNum.s(by))\" text-anchor=\"end\" transform=\"rotate(-40 \(SVGNum.s(cx)) \(SVGNum.s(by)))\">\(l)</text>"
        }
        out += "</g>"
        out += "<text class=\"axis-label\" x=\"\(SVGNum.s(left + gridH / 2))\" y=\"\(SVGNum.s(H - 6))\" text-anchor=\"middle\" font-size=\"12\" fill=\"#333\">predicted</text>"
        let cy = top + gridH / 2
        out += "<text class=\"axis-label\" x=\"12\" y=\"\(SVGNum.s(cy))\" transform=\"rotate(-90 12 \(SVGNum.s(cy)))\" text-anchor=\"middle\" font-size=\"12\" fill=\"#333\">actual</text>"
        // Colour scale: five swatches from 0 to the largest count.
        let sx = W - right + 14
        for i in 0..<5 {
            let t = Double(4 - i) / 4
            out += "<rect class=\"scale\" x=\"\(SVGNum.s(sx))\" y=\"\(SVGNum.s(top + Double(i) * 16))\" width=\"12\" height=\"16\" fill=\"\(ConfusionChart.shade(t))\" stroke=\"#ccc\" stroke-width=\"0.5\"/>"
        }
        out += "<text x=\"\(SVGNum.s(sx + 6))\" y=\"\(SVGNum.s(top - 4))\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555\">\(maxCount)</text>"
        out += "<text x=\"\(SVGNum.s(sx + 6))\" y=\"\(SVGNum.s(top + 92))\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555\">0</text>"
        if labels.count > n {
            out += "<text class=\"note\" x=\"\(SVGNum.s(W - 6))\" y=\"\(SVGNum.s(H - 6))\" text-anchor=\"end\" font-size=\"10\" fill=\"#777\">first \(n) of \(labels.count) classes</text>"
        }
        return out + "</svg>"
    }
}

/// Parallel coordinates: one vertical axis per param or metric, one line per commit.
public struct ParallelChart: Sendable {
    public struct Line: Sendable {
        public var name: String
        /// One value per axis (nil: the commit has none; the line skips that axis).
        public var values: [Double?]
        public var href: String?
        public init(name: String, values: [Double?], href: String? = nil) { self.name = name; self.values = values; self.href = href }
    }
    public var title: String
    public var axes: [String]
    public var lines: [Line]
    /// The axis whose value colours the lines (usually the chosen metric), if any.
    public var colorAxis: Int?
    public var width: Int
    public var height: Int
    /// At most this many lines are drawn (the note says how many were left out).
    public var lineLimit: Int = 2000
    public init(title: String, axes: [String], lines: [Line], colorAxis: Int? = nil, width: Int = 900, height: Int = 360) {
        self.title = title; self.axes = axes; self.lines = lines; self.colorAxis = colorAxis; self.width = width; self.height = height
    }

    /// A colour for `t` in 0…1 along a colour-blind-safe ramp (dark blue → teal → orange).
    static func ramp(_ t: Double) -> String {
        let stops: [(Double, Double, Double)] = [(49, 54, 149), (33, 145, 140), (230, 159, 0)]
        let t = max(0, min(1, t.isFinite ? t : 0))
        let f = t * 2, i = min(1, Int(f)), u = f - Double(i)
        let a = stops[i], b = stops[i + 1]
        let c = [a.0 + (b.0 - a.0) * u, a.1 + (b.1 - a.1) * u, a.2 + (b.2 - a.2) * u].map { Int($0.rounded()) }
        let hex = Array("0123456789abcdef")
        return "#" + c.map { String(hex[$0 >> 4]) + String(hex[$0 & 15]) }.joined()
    }

    public func svg() -> String {
        let W = Double(min(max(width, 200), 20_000)), H = Double(min(max(height, 160), 20_000))
        let top = 52.0, bottom = 34.0, left = 50.0, right = 50.0
        let m = axes.count
        let plotH = H - top - bottom
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart-svg\" width=\"\(Int(W))\" height=\"\(Int(H))\" viewBox=\"0 0 \(Int(W)) \(Int(H))\" role=\"img\" aria-label=\"\(HTML.attr(ChartFormat.clip(title, 300)))\">"
        out += "<title>\(HTML.text(ChartFormat.clip(title, 300)))</title><rect x=\"0\" y=\"0\" width=\"\(Int(W))\" height=\"\(Int(H))\" fill=\"#fff\"/>"
        out += "<text x=\"\(SVGNum.s(W / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"600\" fill=\"#1d2330\">\(HTML.text(ChartFormat.clip(title, 90)))</text>"
        let drawn = Array(lines.prefix(lineLimit))
        if m == 0 || drawn.isEmpty {
            out += "<text class=\"nodata\" x=\"\(SVGNum.s(W / 2))\" y=\"\(SVGNum.s(H / 2))\" text-anchor=\"middle\" font-size=\"13\" fill=\"#888\">no data</text>"
            return out + "</svg>"
        }
        // Range per axis over finite values.
        var lo = [Double](repeating: .infinity, count: m), hi = [Double](repeating: -.infinity, count: m)
        for l in drawn {
            for (i, v) in l.values.prefix(m).enumerated() { if let v, v.isFinite { lo[i] = min(lo[i], v); hi[i] = max(hi[i], v) } }
        }
        func ax(_ i: Int) -> Double { m == 1 ? left + (W - left - right) / 2 : left + Double(i) / Double(m - 1) * (W - left - right) }
        func ay(_ i: Int, _ v: Double) -> Double {
            guard lo[i].isFinite else { return top + plotH / 2 }
            return hi[i] > lo[i] ? top + plotH - Scale.fraction(v, lo[i], hi[i]) * plotH : top + plotH / 2
        }
        let colorAxis = colorAxis.flatMap { $0 >= 0 && $0 < m ? $0 : nil }
        out += "<g fill=\"none\" stroke-width=\"1.4\" stroke-opacity=\"0.75\">"
        for l in drawn {
            var d = "", pen = false
            for i in 0..<m {
                guard i < l.values.count, let v = l.values[i], v.isFinite else { pen = false; continue }
                d += (pen ? "L" : "M") + SVGNum.s(ax(i)) + " " + SVGNum.s(ay(i, v))
                pen = true
            }
            if d.isEmpty { continue }
            var color = "#9aa3b2"
            if let c = colorAxis, c < l.values.count, let v = l.values[c], v.isFinite, lo[c].isFinite {
                color = ParallelChart.ramp(hi[c] > lo[c] ? Scale.fraction(v, lo[c], hi[c]) : 0.5)
            }
            let mark = "<path class=\"pline\" d=\"\(d)\" stroke=\"\(color)\"><title>\(HTML.text(ChartFormat.clip(l.name, 200)))</title></path>"
            if let h = l.href.flatMap(ChartFormat.safeHref) { out += "<a href=\"\(HTML.attr(h))\">\(mark)</a>" } else { out += mark }
        }
        out += "</g><g font-size=\"11\" fill=\"#333\">"
        for i in 0..<m {
            let x = ax(i)
            out += "<line class=\"axis\" x1=\"\(SVGNum.s(x))\" x2=\"\(SVGNum.s(x))\" y1=\"\(SVGNum.s(top))\" y2=\"\(SVGNum.s(top + plotH))\" stroke=\"#666\"/>"
            out += "<text x=\"\(SVGNum.s(x))\" y=\"\(SVGNum.s(top - 20))\" text-anchor=\"middle\" font-weight=\"600\">\(HTML.text(ChartFormat.clip(axes[i], 18)))<title>\(HTML.text(ChartFormat.clip(axes[i], 200)))</title></text>"
            let maxText = lo[i].isFinite ? ChartFormat.short(hi[i]) : "–", minText = lo[i].isFinite ? ChartFormat.short(lo[i]) : "–"
            out += "<text x=\"\(SVGNum.s(x))\" y=\"\(SVGNum.s(top - 6))\" text-anchor=\"middle\" fill=\"#666\">\(HTML.text(maxText))</text>"
            out += "<text x=\"\(SVGNum.s(x))\" y=\"\(SVGNum.s(top + plotH + 14))\" text-anchor=\"middle\" fill=\"#666\">\(HTML.text(minText))</text>"
        }
        out += "</g>"
        var notes: [String] = []
        if let c = colorAxis { notes.append("colour: \(axes[c]) (low blue, high orange)") }
        if lines.count > drawn.count { notes.append("first \(drawn.count) of \(lines.count) lines") }
        if !notes.isEmpty {
            out += "<text class=\"note\" x=\"\(SVGNum.s(W - 6))\" y=\"\(SVGNum.s(H - 6))\" text-anchor=\"end\" font-size=\"10\" fill=\"#777\">\(HTML.text(notes.joined(separator: "; ")))</text>"
        }
        return out + "</svg>"
    }
}

/// Overflow-safe linear scaling: where `v` lies between `lo` and `hi` (0 at lo, 1 at hi),
/// computed on halves so a span like 1e308 − (−1e308) does not overflow to infinity.
enum Scale {
    static func fraction(_ v: Double, _ lo: Double, _ hi: Double) -> Double {
        let span = hi / 2 - lo / 2
        guard span.isFinite, span > 0 else { return 0.5 }
        return (v / 2 - lo / 2) / span
    }
}

/// Conversion of a Double to Int that never traps: NaN gives `lo` clamped to 0…, infinities
/// and out-of-range values the nearest bound.
enum ChartInt {
    static func clamped(_ v: Double, _ lo: Int = -(1 << 52), _ hi: Int = 1 << 52) -> Int {
        guard !v.isNaN else { return max(lo, min(hi, 0)) }
        if v <= Double(lo) { return lo }
        if v >= Double(hi) { return hi }
        return Int(v)
    }
}
