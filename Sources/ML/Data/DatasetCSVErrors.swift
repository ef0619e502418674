import Support

// Errors found while parsing: kept as byte offsets by the chunks, turned into a one-line
// `DatasetError` (with the line counted) when the first one in file order is reported.

/// An error found by a chunk, kept as a byte offset; the line is counted when it is reported.
struct DatasetPendingError {
    var offset: Int
    var column: Int?
    var reason: String
}

extension DatasetCSVReader {
    static func report(_ e: DatasetPendingError, _ layout: DatasetLayout, _ p: UnsafePointer<UInt8>, _ n: Int) -> DatasetError {
        let column = e.column.flatMap { $0 < layout.names.count ? layout.names[$0] : nil }
        return DatasetError(path: layout.path, line: CSVScanner.line(p, at: e.offset, n), column: column, e.reason)
    }
}

/// Why a (trimmed, non-empty) feature cell is not a number.
func datasetNotANumber(_ q: UnsafePointer<UInt8>, _ len: Int) -> String {
    let shown = datasetShow(q, len)
    if let d = Double(String(decoding: UnsafeBufferPointer(start: q, count: len), as: UTF8.self)), !d.isFinite {
        return "'\(shown)' is not a finite number"
    }
    if len <= 4 && profileIsMissing(q, len) { return "missing value ('\(shown)')" }
    return "'\(shown)' is not a number"
}
