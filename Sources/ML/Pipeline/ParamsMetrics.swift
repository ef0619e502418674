import Store
import Support

/// Flattened JSON: nested object keys joined with "." (`{"a": {"b": 1}}` → `a.b`); arrays
/// and scalars are leaves.
public typealias FlatValues = [String: JSON]

public func flatten(_ j: JSON, prefix: String = "") -> FlatValues {
    var out: FlatValues = [:]
    func walk(_ v: JSON, _ p: String) {
        if case .object(let o) = v, !(o.isEmpty && !p.isEmpty) {
            // Sorted, so a clash like {"a.b": 1, "a": {"b": 2}} resolves the same way every time.
            for k in o.keys.sorted() { walk(o[k]!, p.isEmpty ? k : p + "." + k) }
        } else if !p.isEmpty {
            out[p] = v
        }
    }
    walk(j, prefix)
    return out
}

/// Values of params or metrics by file, then flattened key.
public typealias ValuesByFile = [String: FlatValues]

extension JSON {
    /// A short human rendering: numbers rounded to `precision` digits after the point.
    public func display(precision: Int? = nil) -> String {
        switch self {
        case .null: return "null"
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .number(let d):
            guard let precision, d.isFinite else { return JSON.number(d).encoded() }
            return formatFixed(d, precision)
        default: return encoded()
        }
    }
}

/// `d` rounded to `digits` after the point, trailing zeros removed ("0.1235", "3").
public func formatFixed(_ d: Double, _ digits: Int) -> String {
    let m = pow10(digits)
    let r = (d * m).rounded() / m
    if r == r.rounded(), abs(r) < 1e15 { return String(Int64(r)) }
    var s = "\(r)"
    if s.contains("e") { return s }
    if let dot = s.firstIndex(of: ".") {
        let frac = s[s.index(after: dot)...]
        if frac.count > digits { s = String(s[...s.index(dot, offsetBy: digits)]) }
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s
}

func pow10(_ n: Int) -> Double { var x = 1.0; for _ in 0..<max(0, n) { x *= 10 }; return x }

/// Reads param values from params files through `read` (path → text, nil when absent).
/// Missing files or keys are errors naming the stage, file and key.
public func readParams(_ refs: [ParamRef], stage: String?, read: (String) throws -> String?) throws -> ValuesByFile {
    var out: ValuesByFile = [:]
    var cache: [String: FlatValues] = [:]
    for r in refs {
        let flat: FlatValues
        if let c = cache[r.file] { flat = c } else {
            guard let text = try read(r.file) else {
                throw MLError.params(file: r.file, stage: stage, reason: "does not exist")
            }
            let j = try parseJSON(text, file: r.file)
            guard j.objectValue != nil else {
                throw MLError.params(file: r.file, stage: stage, reason: "must hold a JSON object")
            }
            flat = flatten(j)
            cache[r.file] = flat
        }
        var picked = false
        for (k, v) in flat where r.key.isEmpty || k == r.key || k.hasPrefix(r.key + ".") {
            out[r.file, default: [:]][k] = v
            picked = true
        }
        if !picked {
            if r.key.isEmpty { out[r.file] = out[r.file] ?? [:] }
            else { throw MLError.params(file: r.file, stage: stage, reason: "has no key '\(r.key)'") }
        }
    }
    return out
}

/// Reads a metrics file: a JSON object, flattened.
public func readMetrics(_ text: String, file: String) throws -> FlatValues {
    let j: JSON
    do { j = try parseJSON(text, file: file) } catch MLError.json(_, let line, let column, let reason) {
        throw MLError.metrics(file: file, reason: "is not valid JSON: line \(line), column \(column): invalid JSON: \(reason)")
    }
    guard j.objectValue != nil else { throw MLError.metrics(file: file, reason: "must hold a JSON object, like {\"accuracy\": 0.93}") }
    // Metrics are scalars; lists (a confusion matrix, a loss curve) stay in the file but are
    // not compared, as in DVC.
    return flatten(j).filter { if case .array = $0.value { return false }; return true }
}

/// Equal values in canonical form: `1.0` and `1` are the same number (a record stores the
/// canonical text, so a value read back may change representation but not meaning).
public func sameValues(_ a: ValuesByFile, _ b: ValuesByFile) -> Bool {
    JSON.object(a.mapValues { .object($0) }).encoded() == JSON.object(b.mapValues { .object($0) }).encoded()
}

/// One row of a params or metrics comparison.
public struct ValueChange: Equatable, Sendable {
    public var path: String
    public var key: String
    public var old: JSON?
    public var new: JSON?
    /// new − old when both are numbers.
    public var diff: Double? {
        guard let a = old?.doubleValue, let b = new?.doubleValue, old?.isNumber == true, new?.isNumber == true else { return nil }
        return b - a
    }
    public var changed: Bool { old != new && !(old?.doubleValue != nil && old?.doubleValue == new?.doubleValue && old?.isNumber == true && new?.isNumber == true) }
}

extension JSON {
    var isNumber: Bool { switch self { case .int, .number: return true; default: return false } }
}

/// Rows comparing two sets of values, sorted by path then key; unchanged rows only when `all`.
public func compareValues(_ a: ValuesByFile, _ b: ValuesByFile, all: Bool) -> [ValueChange] {
    var rows: [ValueChange] = []
    for path in Set(a.keys).union(b.keys).sorted() {
        let x = a[path] ?? [:], y = b[path] ?? [:]
        for key in Set(x.keys).union(y.keys).sorted() {
            let r = ValueChange(path: path, key: key, old: x[key], new: y[key])
            if all || r.changed { rows.append(r) }
        }
    }
    return rows
}

/// DVC's `--json` shape: `{"path": {"key": {"old": x, "new": y, "diff": d}}}`.
public func changesJSON(_ rows: [ValueChange]) -> JSON {
    var out: [String: JSON] = [:]
    for r in rows {
        var entry: [String: JSON] = ["old": r.old ?? .null, "new": r.new ?? .null]
        entry["diff"] = r.diff.map { JSON.number($0) } ?? .null
        var file = out[r.path]?.objectValue ?? [:]
        file[r.key] = .object(entry)
        out[r.path] = .object(file)
    }
    return .object(out)
}
