import Support

// Data profiles: what `mlrepo profile PATH` shows and what `mlrepo diff` compares. The
// profile is computed in one streaming pass over a CSV file by `CSVProfiler`
// (ProfileCSV.swift) with bounded memory (ProfileSketches.swift).

/// Statistics of one CSV column.
///
/// - `type`: `"integer"` (every non-missing value parses as Int64), `"float"` (every value is a
///   decimal number, exponents allowed; `inf`/`nan` words are not numbers), `"boolean"` (every
///   value is `true`/`false`, any case), `"text"`, or `"empty"` (no non-missing value).
/// - `missing`: cells that are empty after trimming spaces/tabs, or one of `NA`, `N/A`, `NaN`,
///   `null`, `None` (ASCII case-insensitive). `count` is every other cell.
/// - Values are trimmed of surrounding spaces and tabs before anything else; `distinct` and
///   `top` count the trimmed texts byte for byte (so `1` and `1.0` are two distinct values).
/// - `min`, `max`, `mean` (Welford), `std` (sample standard deviation, n − 1; nil below two
///   values; mean/std nil if they overflow a Double) and
///   `quantiles` only for integer and float columns; `top` only for text and boolean columns.
/// - `distinct` is exact up to 65,536 distinct values (or 16 MiB of distinct text) per column,
///   then a HyperLogLog estimate (precision 14, 64-bit hash, ≈ 0.8 % standard error, seeded
///   with the exact set) and `distinctApproximate` is set. `top` (up to 10 values, highest count
///   first, ties by value bytes) counts are exact until then; afterwards they come from a
///   1,024-counter Misra–Gries summary seeded with the highest exact counts, and are lower
///   bounds (each at most about n / 1025 below the true count). Values are counted for every column
///   from the first row, so a numeric column that turns text late still reports its top values.
/// - `quantiles` at q = 0, 0.05, 0.25, 0.5, 0.75, 0.95, 1, by linear interpolation between the
///   closest ranks (numpy's default): h = (n − 1)·q, x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]).
///   Exact for up to 100,000 values; beyond that they are computed from a uniform reservoir
///   sample of 100,000 values drawn with a fixed-seed PRNG (deterministic for the same input),
///   `quantilesApproximate` is set, and q = 0 / q = 1 stay the exact min / max.
public struct ColumnProfile: Equatable, Sendable {
    public var name: String
    public var type: String
    public var count: Int
    public var missing: Int
    public var min: Double?
    public var max: Double?
    public var mean: Double?
    public var std: Double?
    public var distinct: Int
    public var distinctApproximate: Bool
    public var top: [(value: String, count: Int)]
    public var quantiles: [(q: Double, value: Double)]
    public var quantilesApproximate: Bool

    /// The quantile levels a numeric column reports.
    public static let quantileLevels: [Double] = [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1]

    public init(name: String, type: String, count: Int = 0, missing: Int = 0,
                min: Double? = nil, max: Double? = nil, mean: Double? = nil, std: Double? = nil,
                distinct: Int = 0, distinctApproximate: Bool = false,
                top: [(value: String, count: Int)] = [],
                quantiles: [(q: Double, value: Double)] = [], quantilesApproximate: Bool = false) {
        self.name = name
        self.type = type
        self.count = count
        self.missing = missing
        self.min = min
        self.max = max
        self.mean = mean
        self.std = std
        self.distinct = distinct
        self.distinctApproximate = distinctApproximate
        self.top = top
        self.quantiles = quantiles
        self.quantilesApproximate = quantilesApproximate
    }

    public static func == (a: ColumnProfile, b: ColumnProfile) -> Bool {
        a.name == b.name && a.type == b.type && a.count == b.count && a.missing == b.missing
            && a.min == b.min && a.max == b.max && a.mean == b.mean && a.std == b.std
            && a.distinct == b.distinct && a.distinctApproximate == b.distinctApproximate
            && a.quantilesApproximate == b.quantilesApproximate
            && a.top.count == b.top.count
            && zip(a.top, b.top).allSatisfy { $0.value == $1.value && $0.count == $1.count }
            && a.quantiles.count == b.quantiles.count
            && zip(a.quantiles, b.quantiles).allSatisfy { $0.q == $1.q && $0.value == $1.value }
    }

    /// `{"name", "type", "count", "missing", "min", "max", "mean", "std", "distinct",
    /// "distinct_approximate", "top": [{"value", "count"}] | null,
    /// "quantiles": {"0": v, "0.05": v, ..., "1": v} | null, "quantiles_approximate"}`;
    /// statistics that do not apply are null (`top`/`quantiles` are null when empty).
    public func json() -> JSON {
        func num(_ d: Double?) -> JSON { d.map { JSON.number($0) } ?? .null }
        var quantileObject: [String: JSON] = [:]
        for (q, v) in quantiles { quantileObject[ColumnProfile.quantileKey(q)] = .number(v) }
        return .object([
            "name": .string(name),
            "type": .string(type),
            "count": .int(Int64(count)),
            "missing": .int(Int64(missing)),
            "min": num(min),
            "max": num(max),
            "mean": num(mean),
            "std": num(std),
            "distinct": .int(Int64(distinct)),
            "distinct_approximate": .bool(distinctApproximate),
            "top": top.isEmpty ? .null : .array(top.map { .object(["value": .string($0.value), "count": .int(Int64($0.count))]) }),
            "quantiles": quantiles.isEmpty ? .null : .object(quantileObject),
            "quantiles_approximate": .bool(quantilesApproximate),
        ])
    }

    /// `0` → "0", `0.05` → "0.05", `1` → "1".
    static func quantileKey(_ q: Double) -> String {
        q == q.rounded() && abs(q) < 1e15 ? String(Int64(q)) : "\(q)"
    }

    /// Inverse of `json()`.
    public init(json: JSON) throws {
        let d = try ProfileJSONReader(json, "column")
        name = try d.string("name")
        type = try d.string("type")
        count = try d.int("count")
        missing = try d.int("missing")
        min = try d.optionalDouble("min")
        max = try d.optionalDouble("max")
        mean = try d.optionalDouble("mean")
        std = try d.optionalDouble("std")
        distinct = try d.int("distinct")
        distinctApproximate = try d.bool("distinct_approximate")
        quantilesApproximate = try d.bool("quantiles_approximate")
        top = []
        switch try d.field("top") {
        case .null: break
        case .array(let items):
            for (i, item) in items.enumerated() {
                let t = try ProfileJSONReader(item, "column '\(name)' top[\(i)]")
                top.append((try t.string("value"), try t.int("count")))
            }
        default: throw ProfileError(invalidJSON: "column '\(name)' top is not an array or null")
        }
        quantiles = []
        switch try d.field("quantiles") {
        case .null: break
        case .object(let o):
            for (k, v) in o {
                guard let q = Double(k), q.isFinite, let value = v.doubleValue else {
                    throw ProfileError(invalidJSON: "column '\(name)' quantile '\(k)' is not a number")
                }
                quantiles.append((q, value))
            }
            quantiles.sort { $0.q < $1.q }
        default: throw ProfileError(invalidJSON: "column '\(name)' quantiles is not an object or null")
        }
    }
}

/// The profile of one CSV file.
public struct DataProfile: Equatable, Sendable {
    /// Data rows (the header and trailing blank lines are not rows).
    public var rows: Int
    /// Bytes read, BOM included.
    public var bytes: UInt64
    public var columns: [ColumnProfile]

    public init(rows: Int, bytes: UInt64, columns: [ColumnProfile]) {
        self.rows = rows
        self.bytes = bytes
        self.columns = columns
    }

    /// `{"rows": N, "bytes": N, "columns": [column, ...]}` with each column as in
    /// `ColumnProfile.json()`. Encode with `encoded()` for the canonical (sorted-key) text.
    public func json() -> JSON {
        .object([
            "rows": .int(Int64(rows)),
            "bytes": .int(Int64(clamping: bytes)),
            "columns": .array(columns.map { $0.json() }),
        ])
    }

    /// Inverse of `json()` (reads the profile cache); throws `ProfileError` on a bad shape.
    public init(json: JSON) throws {
        let d = try ProfileJSONReader(json, "profile")
        rows = try d.int("rows")
        let b = try d.int("bytes")
        guard b >= 0 else { throw ProfileError(invalidJSON: "profile bytes is negative") }
        bytes = UInt64(b)
        guard case .array(let cols) = try d.field("columns") else {
            throw ProfileError(invalidJSON: "profile columns is not an array")
        }
        columns = try cols.map { try ColumnProfile(json: $0) }
    }
}

/// Strict reader for the profile JSON shapes.
struct ProfileJSONReader {
    let object: [String: JSON]
    let what: String

    init(_ json: JSON, _ what: String) throws {
        guard case .object(let o) = json else { throw ProfileError(invalidJSON: "\(what) is not an object") }
        object = o
        self.what = what
    }

    func field(_ key: String) throws -> JSON {
        guard let v = object[key] else { throw ProfileError(invalidJSON: "\(what) has no '\(key)'") }
        return v
    }

    func string(_ key: String) throws -> String {
        guard case .string(let s) = try field(key) else { throw ProfileError(invalidJSON: "\(what) '\(key)' is not a string") }
        return s
    }

    func bool(_ key: String) throws -> Bool {
        guard case .bool(let b) = try field(key) else { throw ProfileError(invalidJSON: "\(what) '\(key)' is not a boolean") }
        return b
    }

    func int(_ key: String) throws -> Int {
        switch try field(key) {
        case .int(let i): return Int(i)
        case .number(let d) where d == d.rounded() && abs(d) < 9e18: return Int(d)
        default: throw ProfileError(invalidJSON: "\(what) '\(key)' is not an integer")
        }
    }

    func optionalDouble(_ key: String) throws -> Double? {
        let v = try field(key)
        if case .null = v { return nil }
        guard let d = v.doubleValue else { throw ProfileError(invalidJSON: "\(what) '\(key)' is not a number or null") }
        return d
    }
}

/// A profiling failure, described on one line naming the file and, where it applies, the
/// line (and column) of the input: `'data.csv' is empty`,
/// `'data.csv' line 17: 5 fields, header has 4`,
/// `'data.csv' line 3, column 2: unterminated quoted field`.
public struct ProfileError: Error, CustomStringConvertible, Sendable {
    /// The file, when the error is about one.
    public let path: String?
    /// 1-based line of the input where the offending record (or quoted field) starts.
    public let line: Int?
    /// 1-based field position within the record.
    public let column: Int?
    public let description: String

    init(path: String, line: Int? = nil, column: Int? = nil, _ reason: String) {
        self.path = path
        self.line = line
        self.column = column
        var s = "'\(path)'"
        if let line {
            s += " line \(line)"
            if let column { s += ", column \(column)" }
            s += ": \(reason)"
        } else {
            s += " \(reason)"
        }
        description = ProfileError.oneLine(s)
    }

    init(invalidJSON reason: String) {
        path = nil
        line = nil
        column = nil
        description = ProfileError.oneLine("invalid profile JSON: \(reason)")
    }

    private static func oneLine(_ s: String) -> String {
        String(s.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}

// MARK: - Comparison

/// What changed between two profiles of (presumably) the same data set. Columns are matched by
/// name; statistics are compared only for columns in both.
public struct ProfileComparison: Sendable {
    /// In the new profile's column order.
    public var addedColumns: [String]
    /// In the old profile's column order.
    public var removedColumns: [String]
    /// Columns in both whose type changed, in the new profile's column order.
    public var retyped: [(column: String, old: String, new: String)]
    public var rows: (old: Int, new: Int)
    /// Changed statistics among count, missing, min, max, mean, std, distinct (in that order per
    /// column, columns in the new profile's order); nil where a statistic does not apply.
    public var changes: [(column: String, stat: String, old: Double?, new: Double?)]

    public init(addedColumns: [String] = [], removedColumns: [String] = [],
                retyped: [(column: String, old: String, new: String)] = [],
                rows: (old: Int, new: Int) = (0, 0),
                changes: [(column: String, stat: String, old: Double?, new: Double?)] = []) {
        self.addedColumns = addedColumns
        self.removedColumns = removedColumns
        self.retyped = retyped
        self.rows = rows
        self.changes = changes
    }

    /// No schema change, the same number of rows and no statistic change.
    public var isEmpty: Bool {
        addedColumns.isEmpty && removedColumns.isEmpty && retyped.isEmpty && rows.old == rows.new && changes.isEmpty
    }

    /// `{"rows": {"old", "new"}, "columns_added": [...], "columns_removed": [...],
    /// "retyped": [{"column", "old", "new"}], "changes": [{"column", "stat", "old", "new"}]}`
    /// (`old`/`new` of a change are null where the statistic does not apply).
    public func json() -> JSON {
        func num(_ d: Double?) -> JSON { d.map { JSON.number($0) } ?? .null }
        return .object([
            "rows": .object(["old": .int(Int64(rows.old)), "new": .int(Int64(rows.new))]),
            "columns_added": .array(addedColumns.map { .string($0) }),
            "columns_removed": .array(removedColumns.map { .string($0) }),
            "retyped": .array(retyped.map { .object(["column": .string($0.column), "old": .string($0.old), "new": .string($0.new)]) }),
            "changes": .array(changes.map {
                .object(["column": .string($0.column), "stat": .string($0.stat), "old": num($0.old), "new": num($0.new)])
            }),
        ])
    }
}

/// Compares two profiles: added / removed / retyped columns, row counts, and every changed
/// statistic among count, missing, min, max, mean, std, distinct for columns in both (values
/// compared exactly; profiles of identical data are identical).
public func compareProfiles(_ old: DataProfile, _ new: DataProfile) -> ProfileComparison {
    var oldByName: [String: ColumnProfile] = [:]
    for c in old.columns where oldByName[c.name] == nil { oldByName[c.name] = c }
    let newNames = Set(new.columns.map(\.name))
    var result = ProfileComparison(rows: (old.rows, new.rows))
    result.removedColumns = old.columns.map(\.name).filter { !newNames.contains($0) }
    for c in new.columns {
        guard let o = oldByName[c.name] else {
            result.addedColumns.append(c.name)
            continue
        }
        if o.type != c.type { result.retyped.append((c.name, o.type, c.type)) }
        let stats: [(String, Double?, Double?)] = [
            ("count", Double(o.count), Double(c.count)),
            ("missing", Double(o.missing), Double(c.missing)),
            ("min", o.min, c.min),
            ("max", o.max, c.max),
            ("mean", o.mean, c.mean),
            ("std", o.std, c.std),
            ("distinct", Double(o.distinct), Double(c.distinct)),
        ]
        for (stat, a, b) in stats where a != b {
            result.changes.append((c.name, stat, a, b))
        }
    }
    return result
}
