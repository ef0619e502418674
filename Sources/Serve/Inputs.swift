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

    init(features: [String], label: String?) {
        self.features = features
        self.label = label
        var ix: [String: Int] = [:]
        for (i, f) in features.enumerated() { ix[f] = i }
        index = ix
    }

    /// Column positions for a list of names: `map[k]` is the feature slot of input column k,
    /// or -1 for the ignored label column.
    func columnMap(_ names: [String]) throws -> [Int] {
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
        case .null: throw InputError("row \(row), column '\(column)': missing value (null); every feature needs a number")
        case .string(let s): throw InputError("row \(row), column '\(column)': \"\(s.prefix(40))\" is not a number")
        case .bool: throw InputError("row \(row), column '\(column)': true/false is not a number")
        default: throw InputError("row \(row), column '\(column)': expected a number")
        }
    }

    /// The JSON body: exactly one of dataframe_split, dataframe_records, instances, inputs
    /// (and optionally params, ignored).
    func decodeJSON(_ body: [UInt8]) throws -> (x: [Float], rows: Int) {
        let text = String(decoding: body, as: UTF8.self)
        let doc: JSON
        do { doc = try JSON.parse(text) } catch {
            if text.contains("NaN") || text.contains("Infinity") {
                throw InputError("invalid JSON: NaN and Infinity are not allowed as feature values")
            }
            throw InputError("invalid JSON: \(error)")
        }
        guard let obj = doc.objectValue else {
            throw InputError("the body must be a JSON object with one of dataframe_split, dataframe_records, instances, inputs")
        }
        let keys = ["dataframe_split", "dataframe_records", "instances", "inputs"].filter { obj[$0] != nil }
        let unknown = obj.keys.filter { !["dataframe_split", "dataframe_records", "instances", "inputs", "params"].contains($0) }.sorted()
        if !unknown.isEmpty { throw InputError("unknown field\(unknown.count == 1 ? "" : "s") \(unknown.map { "'\($0)'" }.joined(separator: ", ")); expected one of dataframe_split, dataframe_records, instances, inputs") }
        guard keys.count == 1 else {
            throw InputError(keys.isEmpty ? "the body needs one of dataframe_split, dataframe_records, instances, inputs"
                                          : "the body has \(keys.joined(separator: " and ")); send exactly one")
        }
        let v = obj[keys[0]]!
        switch keys[0] {
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
            return try tensorInput(v, field: keys[0])
        }
    }

    /// Rows given as lists under column names.
    func rowsByName(_ names: [String], _ data: [JSON]) throws -> (x: [Float], rows: Int) {
        let map = try columnMap(names)
        let m = features.count
        var x = [Float](repeating: 0, count: data.count * m)
        for (r, rowValue) in data.enumerated() {
            guard let row = rowValue.arrayValue else { throw InputError("row \(r): expected a list of \(names.count) values") }
            guard row.count == names.count else { throw InputError("row \(r) has \(row.count) values for \(names.count) columns") }
            for (k, cell) in row.enumerated() where map[k] >= 0 {
                x[r * m + map[k]] = try value(cell, row: r, column: names[k])
            }
        }
        return (x, data.count)
    }

    /// Rows given as lists in the model's feature order.
    func positional(_ data: [JSON]) throws -> (x: [Float], rows: Int) {
        let m = features.count
        var x = [Float](repeating: 0, count: data.count * m)
        for (r, rowValue) in data.enumerated() {
            guard let row = rowValue.arrayValue else { throw InputError("row \(r): expected a list of \(m) values") }
            guard row.count == m else {
                throw InputError("row \(r) has \(row.count) values; without column names a row must list the model's \(m) features in order (\(list(features)))")
            }
            for (k, cell) in row.enumerated() { x[r * m + k] = try value(cell, row: r, column: features[k]) }
        }
        return (x, data.count)
    }

    /// Records: [{column: value}].
    func records(_ records: [JSON]) throws -> (x: [Float], rows: Int) {
        let m = features.count
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
            do {
                return try DatasetReader.readCSV(bytes: b, name: "CSV", label: nil, features: features, threads: 1, allowNoRows: true)
            } catch let e as DatasetError {
                guard let line = e.line else { throw InputError("the CSV body \(e.reason)") }
                throw InputError("CSV line \(line)" + (e.column.map { ", column '\($0)'" } ?? "") + ": " + e.reason)
            }
        }
        return (data.features, data.rows)
    }
}
