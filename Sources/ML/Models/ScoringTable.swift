import Support

/// One cell of a table to score, as a request or a CSV gave it: a number, a text, a list (an
/// input of several columns fed from one request column), or missing.
public enum ScoringCell: Sendable, Equatable {
    case number(Double)
    case string(String)
    case list([ScoringCell])
    case missing
}

/// Columns to score by name, for models whose inputs are not one float matrix (ONNX models
/// with several inputs, string inputs): what `predict` reads from a CSV and `serve` from a
/// request body. Cells keep their text until an input says which type it needs.
public struct ScoringTable: Sendable, Equatable {
    public var rows: Int
    public var names: [String]
    /// Column-major: `columns[k][row]`.
    public var columns: [[ScoringCell]]

    public init(rows: Int, names: [String], columns: [[ScoringCell]]) {
        self.rows = rows; self.names = names; self.columns = columns
    }

    public func column(_ name: String) -> [ScoringCell]? {
        names.firstIndex(of: name).map { columns[$0] }
    }

    /// A CSV with a header row: cells as text (trimmed of spaces and tabs), CSV rules of
    /// `CSVScanner` (RFC 4180 quotes, LF / CRLF / CR line ends, a UTF-8 BOM, blank lines at
    /// the end ignored). Errors name `name` and the line.
    public static func csv(_ b: UnsafeRawBufferPointer, name: String) throws -> ScoringTable {
        func fail(_ line: Int?, _ why: String) -> MLError {
            .data(DatasetError(path: name, line: line, why))
        }
        guard let p = b.baseAddress?.assumingMemoryBound(to: UInt8.self) else { throw fail(nil, "is empty; it needs a header row of column names") }
        let n = b.count
        var i = CSVScanner.headerStart(p, n)
        guard i < n else { throw fail(nil, "is empty; it needs a header row of column names") }
        var line = 1
        let names: [String]
        do {
            let r = try CSVScanner.record(p, from: i, n)
            names = r.fields.map { $0.trimmed(" \t") }
            i = r.next
        } catch { throw fail(1, "the header has an unterminated quoted field") }
        var seen = Set<String>()
        for c in names where !seen.insert(c).inserted { throw fail(1, "column '\(c)' appears twice in the header") }
        var columns = [[ScoringCell]](repeating: [], count: names.count)
        var rows = 0
        while i < n {
            line += 1
            // A blank line: skipped (only blank lines may follow at the end).
            if p[i] == 0x0A || p[i] == 0x0D {
                i += (p[i] == 0x0D && i + 1 < n && p[i + 1] == 0x0A) ? 2 : 1
                continue
            }
            let r: (fields: [String], next: Int)
            do { r = try CSVScanner.record(p, from: i, n) } catch { throw fail(line, "unterminated quoted field") }
            i = r.next
            guard r.fields.count == names.count else {
                throw fail(line, "has \(r.fields.count) cells for \(names.count) columns")
            }
            for (k, f) in r.fields.enumerated() {
                let t = f.trimmed(" \t")
                columns[k].append(t.isEmpty ? .missing : .string(t))
            }
            rows += 1
        }
        return ScoringTable(rows: rows, names: names, columns: columns)
    }

    /// One cell as a number: a number, or a text that parses as one (`DecimalParser`).
    public static func number(_ c: ScoringCell) -> Double? {
        switch c {
        case .number(let d): return d
        case .string(let s):
            var t = s
            return t.withUTF8 { u in u.baseAddress.flatMap { DecimalParser.double($0, u.count) } }
        default: return nil
        }
    }

    /// One cell as a float feature of an ONNX model: a number, or NaN for a missing value (an
    /// empty cell, JSON null, or the text nan / NaN), which imputers in the graph replace.
    public static func feature(_ c: ScoringCell) -> Double? {
        switch c {
        case .missing: return .nan
        case .string(let s) where s == "nan" || s == "NaN" || s == "NAN": return .nan
        default: return number(c)
        }
    }

    /// One cell as a text: a text, or a number written as JSON would (2, not 2.0).
    public static func text(_ c: ScoringCell) -> String? {
        switch c {
        case .string(let s): return s
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
            return String(d)
        default: return nil
        }
    }
}
