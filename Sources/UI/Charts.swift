import Support

// Charts drawn as inline SVG by the server (no JavaScript needed to see them). Every mark a
// reader can hover carries a <title> (the browser shows it as a tooltip) and a class the
// tests count: `pt` for a point, `bar` for a bar, `cell` for a confusion-matrix cell,
// `pline` for a parallel-coordinates line. Every string is escaped.
//
// SCAFFOLD: the API is fixed; the drawing is a placeholder (helper A replaces it).

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

    public init(title: String, kind: ChartKind, series: [ChartSeries], xLabel: String = "", yLabel: String = "",
                xCategories: [String]? = nil, width: Int = 640, height: Int = 320, logY: Bool = false) {
        self.title = title; self.kind = kind; self.series = series; self.xLabel = xLabel; self.yLabel = yLabel
        self.xCategories = xCategories; self.width = width; self.height = height; self.logY = logY
    }

    /// The chart as an `<svg>` element.
    public func svg() -> String {
        // Placeholder: points only, no axes.
        let all = series.flatMap(\.points)
        let xs = all.map(\.x), ys = all.map(\.y)
        let x0 = xs.min() ?? 0, x1 = xs.max() ?? 1, y0 = ys.min() ?? 0, y1 = ys.max() ?? 1
        func sx(_ v: Double) -> Double { 40 + (x1 > x0 ? (v - x0) / (x1 - x0) : 0.5) * Double(width - 60) }
        func sy(_ v: Double) -> Double { Double(height - 30) - (y1 > y0 ? (v - y0) / (y1 - y0) : 0.5) * Double(height - 50) }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\"><title>\(HTML.text(title))</title>"
        for s in series {
            for p in s.points {
                out += "<circle class=\"pt\" cx=\"\(sx(p.x))\" cy=\"\(sy(p.y))\" r=\"3\"><title>\(HTML.text(p.label ?? "\(s.name): \(p.x), \(p.y)"))</title></circle>"
            }
        }
        return out + "</svg>"
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
    public init(title: String, labels: [String], counts: [[Int]], width: Int = 420) {
        self.title = title; self.labels = labels; self.counts = counts; self.width = width
    }

    public func svg() -> String {
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(width)\" role=\"img\"><title>\(HTML.text(title))</title>"
        let n = max(1, labels.count), cell = Double(width - 100) / Double(n)
        for (i, row) in counts.enumerated() {
            for (j, c) in row.enumerated() {
                out += "<rect class=\"cell\" x=\"\(80 + Double(j) * cell)\" y=\"\(20 + Double(i) * cell)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"#ccd\"><title>\(c)</title></rect>"
            }
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
    public init(title: String, axes: [String], lines: [Line], colorAxis: Int? = nil, width: Int = 900, height: Int = 360) {
        self.title = title; self.axes = axes; self.lines = lines; self.colorAxis = colorAxis; self.width = width; self.height = height
    }

    public func svg() -> String {
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\"><title>\(HTML.text(title))</title>"
        for l in lines { out += "<path class=\"pline\" d=\"M0 0\"><title>\(HTML.text(l.name))</title></path>" }
        return out + "</svg>"
    }
}
