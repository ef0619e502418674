import ML
import Store
import Support

// SCAFFOLD (helper A builds it): plots declared by stages (DVC's fields: a CSV/TSV/JSON
// file, x, y, template linear|scatter|confusion|bar) and the per-step series found in
// metrics files (the training curves the built-in trainers record, e.g. loss_curve), read
// at revisions or in the work tree; drawn by `plots show/diff` and the Charts/Compare pages.

/// Where a plot's data was read: a commit, or the work tree.
public struct PlotRevision: Sendable, Equatable {
    /// What the user wrote (`HEAD~1`, a branch) or "workspace".
    public var name: String
    /// nil: the work tree.
    public var commit: ObjectId?
    public init(name: String, commit: ObjectId?) { self.name = name; self.commit = commit }
}

/// One plot (a declared plot file, or one curve of a metrics file) at each revision.
public struct PlotGroup: Sendable {
    /// Stable id: the file path, or FILE:KEY for a curve in a metrics file.
    public var id: String
    public var title: String
    /// linear, scatter, confusion or bar.
    public var template: String
    public var xLabel: String
    public var yLabel: String
    /// One series per (revision, y field), named "REV" or "REV: FIELD".
    public var series: [ChartSeries]
    /// For `confusion`: per revision, the class labels and counts[actual][predicted].
    public var confusion: [(revision: String, labels: [String], counts: [[Int]])]
    /// Why a revision has no data for it (missing file, bad row), per revision name.
    public var problems: [String: String]

    public init(id: String, title: String, template: String, xLabel: String, yLabel: String, series: [ChartSeries],
                confusion: [(revision: String, labels: [String], counts: [[Int]])] = [], problems: [String: String] = [:]) {
        self.id = id; self.title = title; self.template = template; self.xLabel = xLabel; self.yLabel = yLabel
        self.series = series; self.confusion = confusion; self.problems = problems
    }

    /// The chart(s) as inline SVG.
    public func svg() -> String {
        Chart(title: title, kind: template == "scatter" ? .scatter : template == "bar" ? .bar : .line, series: series,
              xLabel: xLabel, yLabel: yLabel).svg()
    }

    /// `{"id", "title", "template", "x_label", "y_label", "series": [{"name", "points": [[x, y], ...]}], ...}`.
    public var json: JSON {
        .object(["id": .string(id), "title": .string(title), "template": .string(template),
                 "x_label": .string(xLabel), "y_label": .string(yLabel),
                 "series": .array(series.map { s in .object(["name": .string(s.name), "points": .array(s.points.map { .array([.number($0.x), .number($0.y)]) })]) })])
    }
}

/// Reads plots at revisions.
public struct PlotCollector {
    public let ml: MLRepo
    public init(ml: MLRepo) { self.ml = ml }

    /// Every plot (declared by a stage, or a curve in a metrics file) at each revision,
    /// limited to `targets` (plot files or metrics files; empty: all), grouped by plot.
    public func collect(_ revisions: [PlotRevision], targets: [String]) throws -> [PlotGroup] { [] }
}

/// The static report of `plots show/diff`.
public enum PlotReport {
    /// A self-contained HTML page (inline SVG and style, no script).
    public static func html(title: String, revisions: [PlotRevision], groups: [PlotGroup]) -> String {
        Layout.standalone(title: title, body: "<h1>\(HTML.text(title))</h1>" + groups.map { "<div class=\"chart\">\($0.svg())</div>" }.joined())
    }
}
