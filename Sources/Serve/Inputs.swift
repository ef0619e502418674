import ML
import Support

/// A request body that cannot be scored: 400 with this message.
struct InputError: Error {
    let message: String
    init(_ m: String) { message = m }
}

/// Decodes MLflow scoring inputs into a row-major float32 matrix in the model's feature
/// order. Columns are matched by name (any order); the model's label column, when sent, is
/// ignored; a missing feature or an unknown column is an error naming them.
struct InputDecoder {
    let features: [String]
    let label: String?
    let index: [String: Int]
    /// The model names no features (an ONNX model without names): columns are taken in the
    /// order given, whatever their names, their count checked; records (unordered) are refused.
    let byPosition: Bool
    /// null is a missing value, NaN to the model (ONNX graphs with imputers); else an error.
    let missingAsNaN: Bool

    init(features: [String], label: String?, byPosition: Bool = false, missingAsNaN: Bool = false) {
        self.features = features
        self.label = label
        self.byPosition = byPosition
        self.missingAsNaN = missingAsNaN
        var ix: [String: Int] = [:]
        for (i, f) in features.enumerated() { ix[f] = i }
        index = ix
    }

    /// Column positions for a list of names: `map[k]` is the feature slot of input column k,
    /// or -1 for the ignored label column.
    func columnMap(_ names: [String]) throws -> [Int] {
        if byPosition {
            var map: [Int] = []
            var next = 0
            for n in names {
                if n == label { map.append(-1) } else { map.append(next); next += 1 }
            }
            guard next == features.count else {
                throw InputError("got \(next) feature column\(next == 1 ? "" : "s"); the model takes \(features.count), by position (it names no features)")
            }
            return map
        }
        var map: [Int] = []
        var seen = Set<String>()
        var extra: [String] = []
        for n in names {
            if !seen.insert(n).inserted { throw InputError("column '\(n)' appears twice") }
            if let i = index[n] { map.append(i) } else if n == label { map.append(-1) } else { extra.append(n); map.append(-1) }
        }
        let missing = features.filter { !seen.contains($0) }
        if !missing.isEmpty || !extra.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing column\(missing.count == 1 ? "" : "s"): \(list(missing))") }
            if !extra.isEmpty { parts.append("unexpected column\(extra.count == 1 ? "" : "s"): \(list(extra))") }
            throw InputError(parts.joined(separator: "; ") + " (the model's features: \(list(features)))")
        }
        return map
    }

    func list(_ names: [String]) -> String {
        names.count <= 12 ? names.joined(separator: ", ") : names.prefix(12).joined(separator: ", ") + ", … (\(names.count) in all)"
    }

    /// One cell as float32: a finite JSON number.
    func value(_ v: JSON, row: Int, column: String) throws -> Float {
        switch v {
        case .int(let i): return Float(i)
        case .number(let d):
            let f = Float(d)
            guard f.isFinite else { throw InputError("row \(row), column '\(column)': \(d) is out of float32 range") }
            return f
        case .null:
            if missingAsNaN { return .nan }
            throw InputError("row \(row), column '\(column)': missing value (null); every feature needs a number")
        case .string(let s): throw InputError("row \(row), column '\(column)': \"\(s.prefix(40))\" is not a number")
        case .bool: throw InputError("row \(row), column '\(column)': true/false is not a number")
        default: throw InputError("row \(row), column '\(column)': expected a number")
        }
    }

    /// The JSON body: exactly one of dataframe_split, dataframe_records, instances, inputs
    /// (and optionally params, ignored).
    func decodeJSON(_ body: [UInt8]) throws -> (x: [Float], rows: Int) {
        if let fast = fastRows(body) { return fast }
        let text = String(decoding: body, as: UTF8.self)
        let doc: JSON
        do { doc = try JSON.parse(text) } catch {
            if text.contains("NaN") || text.contains("Infinity") {
                throw InputError("invalid JSON: NaN and Infinity are not allowed as feature values")
            }
            throw InputError("invalid JSON: \(error)")
        }
        let (key, v) = try mlflowField(doc)
        switch key {
        case "dataframe_split":
            guard let split = v.objectValue else { throw InputError("dataframe_split must be an object with columns and data") }
            guard let data = split["data"]?.arrayValue else { throw InputError("dataframe_split needs a data array") }
            if let cols = split["columns"] {
                guard let names = cols.arrayValue?.compactMap(\.stringValue), names.count == cols.arrayValue?.count else {
                    throw InputError("dataframe_split columns must be a list of names")
                }
                return try rowsByName(names, data)
            }
            return try positional(data)
        case "dataframe_records":
            guard let list = v.arrayValue else { throw InputError("dataframe_records must be a list of objects") }
            return try records(list)
        default:
            return try tensorInput(v, field: key)
        }
    }

    /// The common tensor form `{"inputs" or "instances": [[n, …], …]}` (rows of the model's
    /// features, in order, every value a number) read straight into the matrix, without
    /// building a JSON tree. Any other body, or anything unexpected in this one, returns nil
    /// and the general decoder reads it (and names what is wrong). Values are converted as
    /// the general decoder converts them: an integer that fits an Int64 as Float(Int64),
    /// else the correctly rounded Double as Float; a value that is not finite as a float32
    /// goes to the general decoder, which refuses it.
    func fastRows(_ body: [UInt8]) -> (x: [Float], rows: Int)? {
        let m = features.count
        guard m > 0, body.count >= 16 else { return nil }
        return body.withUnsafeBufferPointer { b -> (x: [Float], rows: Int)? in
            guard let p = b.baseAddress else { return nil }
            let n = b.count
            var i = 0
            func ws() { while i < n, p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x0D || p[i] == 0x09 { i += 1 } }
            func eat(_ c: UInt8) -> Bool { ws(); guard i < n, p[i] == c else { return false }; i += 1; return true }
            guard eat(UInt8(ascii: "{")), eat(UInt8(ascii: "\"")) else { return nil }
            let keyStart = i
            while i < n, p[i] != UInt8(ascii: "\"") { if p[i] == UInt8(ascii: "\\") { return nil }; i += 1 }
            guard i < n else { return nil }
            let key = UnsafeBufferPointer(start: p + keyStart, count: i - keyStart)
            guard key.elementsEqual("inputs".utf8) || key.elementsEqual("instances".utf8) else { return nil }
            i += 1
            guard eat(UInt8(ascii: ":")), eat(UInt8(ascii: "[")) else { return nil }
            var x: [Float] = []
            x.reserveCapacity(min(n / 2 + 1, 1 << 22))
            var rows = 0
            while true {
                guard eat(UInt8(ascii: "[")) else { return nil }
                for k in 0..<m {
                    if k > 0 { guard eat(UInt8(ascii: ",")) else { return nil } }
                    ws()
                    // JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
                    let start = i
                    if i < n, p[i] == UInt8(ascii: "-") { i += 1 }
                    let intStart = i
                    while i < n, p[i] >= 48, p[i] <= 57 { i += 1 }
                    guard i > intStart, !(i - intStart > 1 && p[intStart] == 48) else { return nil }
                    var isInt = true
                    if i < n, p[i] == UInt8(ascii: ".") {
                        isInt = false; i += 1
                        let f = i
                        while i < n, p[i] >= 48, p[i] <= 57 { i += 1 }
                        guard i > f else { return nil }
                    }
                    if i < n, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
                        isInt = false; i += 1
                        if i < n, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { i += 1 }
                        let e = i
                        while i < n, p[i] >= 48, p[i] <= 57 { i += 1 }
                        guard i > e else { return nil }
                    }
                    let v: Float
                    if isInt, let iv = DecimalParser.int64(p + start, i - start) { v = Float(iv) }
                    else if let d = DecimalParser.double(p + start, i - start) { v = Float(d) }
                    else { return nil }
                    guard v.isFinite else { return nil }
                    x.append(v)
                }
                guard eat(UInt8(ascii: "]")) else { return nil }
                rows += 1
                ws()
                guard i < n else { return nil }
                if p[i] == UInt8(ascii: ",") { i += 1; continue }
                guard p[i] == UInt8(ascii: "]") else { return nil }
                i += 1
                break
            }
            guard eat(UInt8(ascii: "}")) else { return nil }
            ws()
            return i == n ? (x, rows) : nil
        }
    }

    /// Rows given as lists under column names.
    func rowsByName(_ names: [String], _ data: [JSON]) throws -> (x: [Float], rows: Int) {
        let map = try columnMap(names)
        let m = features.count
        // Every row's shape first, so the matrix is sized by values the body holds.
        for (r, rowValue) in data.enumerated() {
            guard let row = rowValue.arrayValue else { throw InputError("row \(r): expected a list of \(names.count) values") }
            guard row.count == names.count else { throw InputError("row \(r) has \(row.count) values for \(names.count) columns") }
        }
        var x = [Float](repeating: 0, count: data.count * m)
        for (r, rowValue) in data.enumerated() {
            let row = rowValue.arrayValue!
            for (k, cell) in row.enumerated() where map[k] >= 0 {
                x[r * m + map[k]] = try value(cell, row: r, column: names[k])
            }
        }
        return (x, data.count)
    }

    /// Rows given as lists in the model's feature order.
    func positional(_ data: [JSON]) throws -> (x: [Float], rows: Int) {
        let m = features.count
        // Every row's shape first, so the matrix is sized by values the body holds.
        for (r, rowValue) in data.enumerated() {
            guard let row = rowValue.arrayValue else { throw InputError("row \(r): expected a list of \(m) values") }
            guard row.count == m else {
                throw InputError("row \(r) has \(row.count) values; without column names a row must list the model's \(m) features in order (\(list(features)))")
            }
        }
        var x = [Float](repeating: 0, count: data.count * m)
        for (r, rowValue) in data.enumerated() {
            let row = rowValue.arrayValue!
            for (k, cell) in row.enumerated() { x[r * m + k] = try value(cell, row: r, column: features[k]) }
        }
        return (x, data.count)
    }

    /// Records: [{column: value}].
    func records(_ records: [JSON]) throws -> (x: [Float], rows: Int) {
        if byPosition, !records.isEmpty {
            throw InputError("the model names no features, so it takes columns by position: send dataframe_split or a list of rows, not records")
        }
        let m = features.count
        // Every record holds every feature (checked in full below): sized by what the body holds.
        for (r, rec) in records.enumerated() {
            guard let o = rec.objectValue else { throw InputError("record \(r): expected an object of column: value") }
            if o.count < m { _ = try columnMap(o.keys.sorted()) }
        }
        var x = [Float](repeating: 0, count: records.count * m)
        var checkedNames: [String]? = nil
        for (r, rec) in records.enumerated() {
            guard let o = rec.objectValue else { throw InputError("record \(r): expected an object of column: value") }
            let names = o.keys.sorted()
            if names != checkedNames { _ = try columnMap(names); checkedNames = names }
            for (name, cell) in o {
                guard let j = index[name] else { continue }  // the label
                x[r * m + j] = try value(cell, row: r, column: name)
            }
        }
        return (x, records.count)
    }

    /// `instances` / `inputs`: a list of records, a list of rows in feature order, a single
    /// row, or an object of columns (name: list of values).
    func tensorInput(_ v: JSON, field: String) throws -> (x: [Float], rows: Int) {
        let names = features
        if let o = v.objectValue {
            if byPosition { throw InputError("the model names no features, so it takes columns by position: send \(field) as a list of rows") }
            let names = o.keys.sorted()
            _ = try columnMap(names)
            var n: Int? = nil
            for name in names {
                let c = o[name]!.arrayValue?.count ?? 1
                if let n, n != c { throw InputError("\(field): columns have different lengths (\(n) and \(c))") }
                n = c
            }
            let rows = n ?? 0, m = features.count
            var x = [Float](repeating: 0, count: rows * m)
            for (name, col) in o {
                guard let j = index[name] else { continue }
                let cells = col.arrayValue ?? [col]
                for (r, cell) in cells.enumerated() { x[r * m + j] = try value(cell, row: r, column: name) }
            }
            return (x, rows)
        }
        guard let list = v.arrayValue else { throw InputError("\(field) must be a list or an object of columns") }
        if list.isEmpty { return ([], 0) }
        if list[0].objectValue != nil { return try records(list) }
        if list[0].arrayValue != nil { return try positional(list) }
        // A flat list: one row of every feature, or one value per row for a one-feature model.
        if features.count == 1 { return try positional(list.map { .array([$0]) }) }
        guard list.count == features.count else {
            throw InputError("\(field): a flat list must hold the model's \(names.count) features (\(self.list(names))); got \(list.count) values")
        }
        return try positional([.array(list)])
    }

    /// text/csv: a header row of column names, then rows. The columns are checked as for
    /// JSON (by name, any order, the label ignored); the rows are read by ML's CSV data-set
    /// reader, the code behind `mlrepo predict --data`, so a body and a file with the same bytes
    /// give the same matrix: RFC 4180 quotes, LF / CRLF / CR line ends, a UTF-8 BOM, cells
    /// trimmed of spaces and tabs, numbers by `DecimalParser`, blank lines at the end ignored.
    /// A header without rows scores zero rows.
    func decodeCSV(_ body: [UInt8]) throws -> (x: [Float], rows: Int) {
        let data: Dataset = try body.withUnsafeBytes { b in
            guard let base = b.baseAddress?.assumingMemoryBound(to: UInt8.self),
                  CSVScanner.headerStart(base, b.count) < b.count else {
                throw InputError("the CSV body is empty; it needs a header row of column names")
            }
            let names: [String]
            do {
                names = try CSVScanner.record(base, from: CSVScanner.headerStart(base, b.count), b.count).fields.map { $0.trimmed(" \t") }
            } catch {
                throw InputError("the CSV header has an unterminated quoted field")
            }
            _ = try columnMap(names)
            // By position: the body's columns in order, without the label.
            let wanted = byPosition ? names.filter { $0 != label } : features
            do {
                return try DatasetReader.readCSV(bytes: b, name: "CSV", label: nil, features: wanted, threads: 1, allowNoRows: true)
            } catch let e as DatasetError {
                guard let line = e.line else { throw InputError("the CSV body \(e.reason)") }
                throw InputError("CSV line \(line)" + (e.column.map { ", column '\($0)'" } ?? "") + ": " + e.reason)
            }
        }
        return (data.features, data.rows)
    }
}

/// Decodes MLflow scoring inputs into columns by name, for ONNX models that take one input
/// per column (or per group) rather than one float matrix: string inputs take text cells,
/// numeric inputs numbers. The JSON forms are those `InputDecoder` accepts (dataframe_split
/// with columns, dataframe_records, instances/inputs as records or as an object of
/// columns); text/csv is read by `ScoringTable.csv`. The label column is ignored; a missing
/// input or an unknown column is an error naming them.
struct TableDecoder {
    let inputs: [String]
    let label: String?

    func check(_ names: [String]) throws {
        var seen = Set<String>()
        for n in names where !seen.insert(n).inserted { throw InputError("column '\(n)' appears twice") }
        let missing = inputs.filter { !seen.contains($0) }
        let extra = names.filter { !inputs.contains($0) && $0 != label }
        if !missing.isEmpty || !extra.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing column\(missing.count == 1 ? "" : "s"): \(missing.joined(separator: ", "))") }
            if !extra.isEmpty { parts.append("unexpected column\(extra.count == 1 ? "" : "s"): \(extra.prefix(12).joined(separator: ", "))") }
            throw InputError(parts.joined(separator: "; ") + " (the model's inputs: \(inputs.joined(separator: ", ")))")
        }
    }

    func cell(_ v: JSON, row: Int, column: String) throws -> ScoringCell {
        switch v {
        case .int(let i): return .number(Double(i))
        case .number(let d): return .number(d)
        case .string(let s): return .string(s)
        case .bool(let b): return .number(b ? 1 : 0)
        case .null: return .missing
        case .array(let a):
            return .list(try a.map { x in
                if case .array = x { throw InputError("row \(row), column '\(column)': nested lists are not accepted") }
                return try cell(x, row: row, column: column)
            })
        default: throw InputError("row \(row), column '\(column)': expected a number or a text")
        }
    }

    func decodeJSON(_ body: [UInt8]) throws -> ScoringTable {
        let text = String(decoding: body, as: UTF8.self)
        let doc: JSON
        do { doc = try JSON.parse(text) } catch { throw InputError("invalid JSON: \(error)") }
        let (key, v) = try mlflowField(doc)
        switch key {
        case "dataframe_split":
            guard let split = v.objectValue, let data = split["data"]?.arrayValue else {
                throw InputError("dataframe_split must be an object with columns and data")
            }
            guard let names = split["columns"]?.arrayValue?.compactMap(\.stringValue), names.count == split["columns"]?.arrayValue?.count else {
                throw InputError("dataframe_split needs columns (the model takes its inputs by name: \(inputs.joined(separator: ", ")))")
            }
            try check(names)
            var cols = [[ScoringCell]](repeating: [], count: names.count)
            for (r, rowValue) in data.enumerated() {
                guard let row = rowValue.arrayValue, row.count == names.count else {
                    throw InputError("row \(r): expected a list of \(names.count) values")
                }
                for (k, c) in row.enumerated() { cols[k].append(try cell(c, row: r, column: names[k])) }
            }
            return ScoringTable(rows: data.count, names: names, columns: cols)
        case "dataframe_records":
            guard let list = v.arrayValue else { throw InputError("dataframe_records must be a list of objects") }
            return try records(list)
        default:
            if let o = v.objectValue {
                // An object of columns: name → list of values (or one value: one row).
                let names = o.keys.sorted()
                try check(names)
                var n: Int? = nil
                var cols: [[ScoringCell]] = []
                for name in names {
                    let col = o[name]!.arrayValue ?? [o[name]!]
                    if let n, n != col.count { throw InputError("\(key): columns have different lengths (\(n) and \(col.count))") }
                    n = col.count
                    cols.append(try col.enumerated().map { try cell($1, row: $0, column: name) })
                }
                return ScoringTable(rows: n ?? 0, names: names, columns: cols)
            }
            guard let list = v.arrayValue else { throw InputError("\(key) must be a list of records or an object of columns") }
            return try records(list)
        }
    }

    func records(_ list: [JSON]) throws -> ScoringTable {
        var cols = [[ScoringCell]](repeating: [], count: inputs.count)
        var checked: [String]? = nil
        for (r, rec) in list.enumerated() {
            guard let o = rec.objectValue else { throw InputError("record \(r): expected an object of column: value (the model takes its inputs by name)") }
            let names = o.keys.sorted()
            if names != checked { try check(names); checked = names }
            for (k, name) in inputs.enumerated() { cols[k].append(try cell(o[name]!, row: r, column: name)) }
        }
        return ScoringTable(rows: list.count, names: inputs, columns: cols)
    }

    func decodeCSV(_ body: [UInt8]) throws -> ScoringTable {
        let t: ScoringTable
        do { t = try body.withUnsafeBytes { try ScoringTable.csv($0, name: "CSV body") } } catch let e as MLError {
            if case .data(let d) = e { throw InputError(d.line.map { "CSV line \($0): \(d.reason)" } ?? "the CSV body \(d.reason)") }
            throw InputError("\(e)")
        }
        try check(t.names)
        return t
    }
}

/// The one MLflow scoring field of a JSON body (dataframe_split, dataframe_records,
/// instances or inputs; "params" is allowed beside it) and its value; anything else is one
/// line naming what is wrong.
func mlflowField(_ doc: JSON) throws -> (key: String, value: JSON) {
    guard let obj = doc.objectValue else {
        throw InputError("the body must be a JSON object with one of dataframe_split, dataframe_records, instances, inputs")
    }
    let fields = ["dataframe_split", "dataframe_records", "instances", "inputs"]
    let keys = fields.filter { obj[$0] != nil }
    let unknown = obj.keys.filter { !fields.contains($0) && $0 != "params" }.sorted()
    if !unknown.isEmpty { throw InputError("unknown field\(unknown.count == 1 ? "" : "s") \(unknown.map { "'\($0)'" }.joined(separator: ", ")); expected one of dataframe_split, dataframe_records, instances, inputs") }
    guard keys.count == 1 else {
        throw InputError(keys.isEmpty ? "the body needs one of dataframe_split, dataframe_records, instances, inputs"
                                      : "the body has \(keys.joined(separator: " and ")); send exactly one")
    }
    return (keys[0], obj[keys[0]]!)
}
