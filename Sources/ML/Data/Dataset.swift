import Support

// The training-data readers behind the built-in trainers: a CSV with a header row
// (DatasetCSVReader.swift and its parts) and NumPy .npy arrays (DatasetNPY.swift), both read
// into one float32 row-major matrix.

/// The label column of a data set.
public enum LabelColumn: Equatable, Sendable {
    /// Every label cell parses as a finite number.
    case numeric([Double])
    /// Text labels: `names` in first-seen order, `codes[row]` indexes `names`.
    case categorical(codes: [Int32], names: [String])
}

/// A feature matrix with an optional label column.
public struct Dataset: Equatable, Sendable {
    public var rows: Int
    /// Feature columns.
    public var cols: Int
    /// rows × cols, row-major.
    public var features: [Float]
    public var featureNames: [String]
    public var labelName: String?
    public var label: LabelColumn?

    public init(rows: Int, cols: Int, features: [Float], featureNames: [String],
                labelName: String? = nil, label: LabelColumn? = nil) {
        self.rows = rows
        self.cols = cols
        self.features = features
        self.featureNames = featureNames
        self.labelName = labelName
        self.label = label
    }
}

/// Why a data file cannot be read: one line naming the file and, where it applies, the line
/// and column, e.g. `'x.csv' line 9, column 'f3': 'abc' is not a number`.
public struct DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    /// 1-based line of the input (CSV only).
    public let line: Int?
    /// The column's header name (CSV only).
    public let column: String?
    /// What is wrong, without the path, line and column (`'abc' is not a number`).
    public let reason: String
    public let description: String

    init(path: String, line: Int? = nil, column: String? = nil, _ reason: String) {
        self.path = path
        self.line = line
        self.column = column
        self.reason = datasetOneLine(reason)
        var s = "'\(path)'"
        if let line {
            s += " line \(line)"
            if let column { s += ", column '\(column)'" }
            s += ": \(reason)"
        } else {
            s += " \(reason)"
        }
        description = datasetOneLine(s)
    }
}

public enum DatasetReader {
    /// Reads a CSV with a header row into a float32 feature matrix.
    ///
    /// - Parameters:
    ///   - label: the label column's name; nil: every column is a feature.
    ///   - features: keep only these feature columns, in this order; nil: every non-label
    ///     column in file order.
    ///   - threads: parse with this many threads (the result does not depend on it).
    /// - Throws: `DatasetError` for an unreadable, empty or malformed file, an unknown column, or
    ///   a feature cell that is missing, not a number or not finite as a float32.
    ///
    /// The file is memory-mapped; CSV rules are those of `CSVProfiler` (RFC 4180 quotes, LF /
    /// CRLF / CR line ends, UTF-8 BOM, header names trimmed and made unique, trailing blank lines
    /// ignored). Cells are trimmed of spaces and tabs. A feature cell becomes
    /// Float(correctly rounded Double), as numpy's float64 parse then `astype(float32)`. The label
    /// column is numeric when every cell is a finite number, else categorical with the cell texts
    /// as class names (first-seen order); an empty label cell is an error.
    ///
    /// Memory: the matrix (allocated once), 8 bytes per row for the label, and the distinct
    /// label texts; the file's pages are released as chunks are done.
    public static func readCSV(path: String, label: String?, features: [String]? = nil,
                               threads: Int = 2) throws -> Dataset {
        try DatasetCSVReader.read(path: path, label: label, features: features, threads: max(1, threads))
    }

    /// `readCSV` over CSV bytes in memory (a request body), by the same rules and code.
    /// - Parameters:
    ///   - name: stands for the file in errors.
    ///   - allowNoRows: a header without data rows is an empty data set, not an error.
    public static func readCSV(bytes: UnsafeRawBufferPointer, name: String, label: String?, features: [String]? = nil,
                               threads: Int = 1, allowNoRows: Bool = false) throws -> Dataset {
        guard let raw = bytes.baseAddress, bytes.count > 0 else { throw DatasetError(path: name, "is empty") }
        return try DatasetCSVReader.read(raw.assumingMemoryBound(to: UInt8.self), bytes.count, path: name, label: label,
                                         features: features, threads: max(1, threads), allowNoRows: allowNoRows, file: nil)
    }

    /// The column names of a CSV file as `readCSV` sees them: the header's fields unquoted,
    /// trimmed, an empty one named `column_N`, a repeated one given a suffix `_2`, `_3`, ….
    /// - Throws: `DatasetError` for an unreadable or empty file or an unterminated quote.
    public static func csvHeader(path: String) throws -> [String] {
        let file = try datasetMap(path)
        return try withExtendedLifetime(file) { () throws -> [String] in
            let bytes = file.bytes
            guard let raw = bytes.baseAddress, bytes.count > 0 else { throw DatasetError(path: path, "is empty") }
            return try DatasetCSVReader.header(raw.assumingMemoryBound(to: UInt8.self), bytes.count, path: path).names
        }
    }

    /// Reads a NumPy .npy array (format 1.0, 2.0 or 3.0; C order; 1-D or 2-D; dtype bool, int8-64,
    /// uint8-64, float16/32/64, either byte order) as float32. A 1-D array of n values is n rows
    /// of one column.
    /// - Throws: `DatasetError` for bad magic, an unsupported version or dtype, Fortran order,
    ///   another number of dimensions, a malformed header, a truncated file, or a value that is not
    ///   finite as a float32.
    public static func readNPY(path: String) throws -> (values: [Float], rows: Int, cols: Int) {
        try DatasetNPYReader.read(path: path)
    }
}

/// Maps a file for the readers, turning system errors into `DatasetError`.
func datasetMap(_ path: String) throws -> MappedFile {
    if let st = FS.stat(path), st.isDirectory { throw DatasetError(path: path, "is a directory") }
    do {
        return try MappedFile(path: path)
    } catch let e as SystemError {
        throw DatasetError(path: path, "could not be read: \(e.message)")
    }
}

/// Cell text for an error message: invalid UTF-8 replaced, line ends as spaces, at most 60
/// characters.
func datasetShow(_ p: UnsafePointer<UInt8>, _ n: Int) -> String {
    let s = String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    let flat = datasetOneLine(s)
    return flat.count > 60 ? String(flat.prefix(57)) + "..." : flat
}

/// Line feeds and carriage returns as spaces (scalar by scalar: "\r\n" is one Character).
func datasetOneLine(_ s: String) -> String {
    var out = String.UnicodeScalarView()
    for u in s.unicodeScalars { out.append(u == "\n" || u == "\r" ? " " : u) }
    return String(out)
}
