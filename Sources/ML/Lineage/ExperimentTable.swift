import Store
import Support

/// A column of an experiment table: one metric or param key of one file.
public struct ExperimentColumn: Sendable, Equatable {
    /// The metrics or params file.
    public var file: String
    /// The flattened key inside the file.
    public var key: String
    /// What the column is called: the key, `FILE:KEY` where two files share the key, and
    /// `metric NAME` / `param NAME` where a metrics file and a params file share both.
    public var name: String
    public var metric: Bool

    public init(file: String, key: String, name: String, metric: Bool) {
        self.file = file; self.key = key; self.name = name; self.metric = metric
    }
}

extension ExperimentRow {
    /// The row as `exp show --json` (and the web app's /api/experiments) gives it:
    /// {"id", "time", "timestamp", "message", "params": {FILE: {KEY: v}}, "metrics": {...},
    /// "runs": {STAGE: RECORD}}.
    public var json: [String: JSON] {
        [
            "id": .string(id.hex),
            "time": .string(CommitTime.iso(commit.author.time, tzMinutes: commit.author.tzOffsetMinutes)),
            "timestamp": .int(commit.author.time),
            "message": .string(commit.subject),
            "params": .object((meta?.params ?? [:]).mapValues { .object($0) }),
            "metrics": .object((meta?.metrics ?? [:]).mapValues { .object($0) }),
            "runs": .object((meta?.runs ?? [:]).mapValues { .string($0.hex) }),
        ]
    }

    /// The value of `column` this commit recorded, if any.
    public func value(_ column: ExperimentColumn) -> JSON? {
        meta.flatMap { (column.metric ? $0.metrics : $0.params)[column.file]?[column.key] }
    }
}

/// Experiments side by side (`exp show`): one row per commit, one column per metric or
/// param key any of them recorded. Built from commit metadata only.
public struct ExperimentTable: Sendable {
    public var rows: [ExperimentRow]
    /// Metric columns, then param columns, each sorted by name.
    public let columns: [ExperimentColumn]

    public var metricColumns: [ExperimentColumn] { columns.filter(\.metric) }
    public var paramColumns: [ExperimentColumn] { columns.filter { !$0.metric } }

    /// Columns are named by key unless another column shares it.
    public init(rows: [ExperimentRow]) {
        self.rows = rows
        var pairs: [(String, String, Bool)] = []
        var seenPairs = Set<String>()
        var byKey: [String: Int] = [:]
        for r in rows {
            guard let m = r.meta else { continue }
            for (isMetric, values) in [(true, m.metrics), (false, m.params)] {
                for (f, kv) in values {
                    for k in kv.keys where seenPairs.insert("\(isMetric)\u{0}\(f)\u{0}\(k)").inserted {
                        pairs.append((f, k, isMetric)); byKey[k, default: 0] += 1
                    }
                }
            }
        }
        let all = pairs.map { f, k, m in ExperimentColumn(file: f, key: k, name: byKey[k]! > 1 ? f + ":" + k : k, metric: m) }
        var names: [String: Int] = [:]
        for c in all { names[c.name, default: 0] += 1 }
        // A metrics file and a params file with the same name and key: say which is which.
        columns = all.map { c in
            guard names[c.name]! > 1 else { return c }
            var d = c
            d.name = (c.metric ? "metric " : "param ") + c.name
            return d
        }.sorted { ($0.metric ? 0 : 1, $0.name) < ($1.metric ? 0 : 1, $1.name) }
    }

    /// The column a sort key names: a column name or FILE:KEY, else a bare key, else the
    /// last part of a dotted key. Throws when nothing or several columns match.
    public func column(matching name: String) throws -> ExperimentColumn {
        let exact = columns.filter { $0.name == name || "\($0.file):\($0.key)" == name }
        let byKey = columns.filter { $0.key == name }
        let leaf = columns.filter { $0.key.hasSuffix("." + name) }
        let pick = !exact.isEmpty ? exact : !byKey.isEmpty ? byKey : leaf
        guard let col = pick.first else { throw MLError.notFound(what: "metric or param", name: name, place: "these commits", known: []) }
        if pick.count > 1 {
            throw MLError.ambiguous(name: name, candidates: pick.map { "\($0.file):\($0.key)" })
        }
        return col
    }

    /// Sorts the rows by the column `name` matches: numbers numerically, other values by
    /// their text; rows without a value go last; ties keep history order.
    public mutating func sort(by name: String, descending: Bool) throws {
        let col = try column(matching: name)
        let keyed = rows.enumerated().map { ($0.offset, $0.element, $0.element.value(col)) }
        rows = keyed.sorted { x, y in
            switch (x.2, y.2) {
            case (nil, nil): return x.0 < y.0
            case (nil, _): return false
            case (_, nil): return true
            case (let p?, let q?):
                if let u = p.doubleValue, let v = q.doubleValue, u != v { return descending ? u > v : u < v }
                let ps = p.display(), qs = q.display()
                if ps != qs, p.doubleValue == nil || q.doubleValue == nil { return descending ? ps > qs : ps < qs }
                return x.0 < y.0
            }
        }.map(\.1)
    }
}
