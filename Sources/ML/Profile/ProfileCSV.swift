import Support

// The streaming CSV reader behind `mlrepo profile`.

/// Profiles a CSV file in one pass, fed in chunks of any size (the result does not depend on
/// how the input is cut).
///
/// CSV rules (RFC 4180 plus the usual):
/// - The first record is the header; the separator is a comma. Header names are trimmed; an
///   empty name becomes `column_N` (N = 1-based position); a repeated name gets the first free
///   suffix `_2`, `_3`, ….
/// - A field that starts with `"` is quoted: it may contain commas, CR and LF, and `""` stands
///   for one quote. Text after the closing quote is kept as part of the field (lenient). A `"`
///   inside an unquoted field is an ordinary character.
/// - Records end with LF, CRLF or a lone CR. A last record without a line end counts. A UTF-8
///   BOM at the start is skipped. Invalid UTF-8 is replaced (U+FFFD) where text is reported.
/// - A blank line (no characters at all) is a record of one empty field: a missing value in a
///   one-column file, a ragged row otherwise — except that blank lines at the very end (and
///   before the header) are ignored.
/// - Errors (`ProfileError`): no header (`'data.csv' is empty`); a record with a different
///   number of fields than the header (`'data.csv' line 17: 5 fields, header has 4`, the line
///   where the record starts); a quoted field still open at the end
///   (`'data.csv' line 3, column 2: unterminated quoted field`). After an error, `feed` and
///   `finish` throw it again.
///
/// Memory is bounded per column whatever the file size (see `ColumnProfile`), plus the longest
/// single field.
public final class CSVProfiler {
    private var core: CSVProfilerCore
    private var failure: ProfileError?
    private var result: DataProfile?

    /// `path` is only used in error messages. `quantileLevels` are the levels numeric
    /// columns report (`ColumnProfile.quantileLevels` unless told; training statistics ask
    /// for deciles), computed from the same bounded sample.
    public init(path: String, quantileLevels: [Double] = ColumnProfile.quantileLevels) {
        core = CSVProfilerCore(path: path, quantileLevels: quantileLevels)
    }

    /// Parses the next piece of the input.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws {
        if let failure { throw failure }
        if result != nil {
            throw remember(ProfileError(path: core.path, "was fed more data after the profile was finished"))
        }
        do {
            try core.feed(bytes)
        } catch let e as ProfileError {
            throw remember(e)
        }
    }

    /// Ends the input and returns the profile (the same profile on later calls).
    public func finish() throws -> DataProfile {
        if let failure { throw failure }
        if let result { return result }
        do {
            let r = try core.finish()
            result = r
            core = CSVProfilerCore(path: core.path, quantileLevels: core.quantileLevels)   // release the column state
            return r
        } catch let e as ProfileError {
            throw remember(e)
        }
    }

    private func remember(_ e: ProfileError) -> ProfileError {
        failure = e
        return e
    }
}

private let quoteByte: UInt8 = 0x22
private let commaByte: UInt8 = 0x2C
private let lfByte: UInt8 = 0x0A
private let crByte: UInt8 = 0x0D

/// The parser state as a value type, so the hot loop runs without dynamic exclusivity checks.
struct CSVProfilerCore {
    enum State { case fieldStart, unquoted, quoted, quoteInQuoted, afterCR }

    let path: String
    let quantileLevels: [Double]
    var state = State.fieldStart
    var field: [UInt8] = []         // the current field when it is quoted or crosses a chunk
    var fieldQuoted = false
    var fieldIndex = 0              // fields completed in the current record
    var line = 1                    // current physical line (LF, CRLF or CR ends one)
    var recordLine = 1              // line where the current record starts
    var quoteLine = 1, quoteColumn = 1
    var headerDone = false
    var headerFields: [String] = []
    var names: [String] = []
    var columns: [ColumnState] = []
    var rows = 0
    var pendingBlank = 0, pendingBlankLine = 0
    var bytes: UInt64 = 0
    var bomChecked = false
    var prefix: [UInt8] = []
    let decimals = DecimalTables.shared

    init(path: String, quantileLevels: [Double] = ColumnProfile.quantileLevels) {
        self.path = path
        self.quantileLevels = quantileLevels
    }

    mutating func feed(_ buffer: UnsafeRawBufferPointer) throws {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        bytes &+= UInt64(buffer.count)
        var p = base.assumingMemoryBound(to: UInt8.self)
        var n = buffer.count
        if !bomChecked {
            while prefix.count < 3 && n > 0 { prefix.append(p[0]); p += 1; n -= 1 }
            if prefix.count < 3 { return }
            try flushPrefix()
        }
        try parse(p, n)
    }

    private mutating func flushPrefix() throws {
        bomChecked = true
        let pre = prefix
        prefix = []
        if pre == [0xEF, 0xBB, 0xBF] { return }
        try pre.withUnsafeBufferPointer { b in
            if let base = b.baseAddress { try parse(base, b.count) }
        }
    }

    private mutating func parse(_ p: UnsafePointer<UInt8>, _ n: Int) throws {
        var i = 0
        while i < n {
            switch state {
            case .fieldStart:
                if p[i] == quoteByte {
                    state = .quoted
                    fieldQuoted = true
                    quoteLine = line
                    quoteColumn = fieldIndex + 1
                    i &+= 1
                } else {
                    state = .unquoted
                }
            case .unquoted:
                let start = i
                i = CSVScanner.delimiter(p, from: i, n)
                if i == n {
                    field.append(contentsOf: UnsafeBufferPointer(start: p + start, count: i - start))
                    return
                }
                let c = p[i]
                let atRecordEnd = c != commaByte
                if field.isEmpty {
                    try fieldDone(p + start, i - start, atRecordEnd)
                } else {
                    field.append(contentsOf: UnsafeBufferPointer(start: p + start, count: i - start))
                    try bufferedFieldDone(atRecordEnd)
                }
                i &+= 1
                if atRecordEnd {
                    line &+= 1
                    recordLine = line
                    state = c == crByte ? .afterCR : .fieldStart
                } else {
                    state = .fieldStart
                }
            case .quoted:
                let start = i
                var newlines = 0
                while i < n {
                    let c = p[i]
                    if c == quoteByte { break }
                    if c == lfByte { newlines &+= 1 }
                    i &+= 1
                }
                line &+= newlines
                field.append(contentsOf: UnsafeBufferPointer(start: p + start, count: i - start))
                if i == n { return }
                i &+= 1
                state = .quoteInQuoted
            case .quoteInQuoted:
                if p[i] == quoteByte {
                    field.append(quoteByte)
                    i &+= 1
                    state = .quoted
                } else {
                    state = .unquoted   // closed; a separator normally follows
                }
            case .afterCR:
                if p[i] == lfByte { i &+= 1 }
                state = .fieldStart
            }
        }
    }

    @inline(__always)
    private mutating func bufferedFieldDone(_ atRecordEnd: Bool) throws {
        var f: [UInt8] = []
        swap(&f, &field)   // keeps the buffer unique, so its capacity is reused
        defer {
            f.removeAll(keepingCapacity: true)
            swap(&f, &field)
        }
        try f.withUnsafeBufferPointer { try fieldDone($0.baseAddress, $0.count, atRecordEnd) }
    }

    @inline(__always)
    private mutating func fieldDone(_ p: UnsafePointer<UInt8>?, _ n: Int, _ atRecordEnd: Bool) throws {
        if atRecordEnd && fieldIndex == 0 && n == 0 && !fieldQuoted {
            if headerDone {
                if pendingBlank == 0 { pendingBlankLine = recordLine }
                pendingBlank &+= 1
            }
            return
        }
        fieldQuoted = false
        if headerDone {
            if fieldIndex == 0 && pendingBlank > 0 { try flushBlankLines() }
            if fieldIndex < columns.count { columns[fieldIndex].add(p, n, decimals) }
        } else {
            let text = p.map { String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self) } ?? ""
            headerFields.append(text)
        }
        fieldIndex &+= 1
        if atRecordEnd { try endRecord() }
    }

    private mutating func endRecord() throws {
        defer { fieldIndex = 0 }
        if !headerDone {
            names = CSVProfilerCore.uniqueNames(headerFields)
            headerFields = []
            columns = (0..<names.count).map { ColumnState(index: $0) }
            headerDone = true
            return
        }
        if fieldIndex != columns.count { throw ragged(line: recordLine, fields: fieldIndex) }
        rows &+= 1
    }

    /// Blank lines followed by more data are records of one empty field.
    @inline(never)
    private mutating func flushBlankLines() throws {
        if columns.count != 1 { throw ragged(line: pendingBlankLine, fields: 1) }
        for _ in 0..<pendingBlank { columns[0].add(nil, 0, decimals) }
        rows &+= pendingBlank
        pendingBlank = 0
    }

    private func ragged(line: Int, fields: Int) -> ProfileError {
        ProfileError(path: path, line: line,
                     "\(fields) field\(fields == 1 ? "" : "s"), header has \(columns.count)")
    }

    mutating func finish() throws -> DataProfile {
        if !bomChecked { try flushPrefix() }
        switch state {
        case .quoted:
            throw ProfileError(path: path, line: quoteLine, column: quoteColumn, "unterminated quoted field")
        case .unquoted, .quoteInQuoted:
            try bufferedFieldDone(true)
        case .fieldStart:
            if fieldIndex > 0 { try fieldDone(nil, 0, true) }   // the last record ended with a comma
        case .afterCR:
            break
        }
        state = .fieldStart
        guard headerDone else { throw ProfileError(path: path, "is empty") }
        // Blank lines still pending are at the very end: ignored.
        return DataProfile(rows: rows, bytes: bytes,
                           columns: zip(names, columns).map { $1.profile(name: $0, levels: quantileLevels) })
    }

    /// Trimmed header names; empty ones become `column_N`, repeats get the first free `_2`, `_3`….
    static func uniqueNames(_ raw: [String]) -> [String] {
        let trimmed = raw.enumerated().map { i, s -> String in
            let t = s.trimmed(" \t")
            return t.isEmpty ? "column_\(i + 1)" : t
        }
        let given = Set(trimmed)
        var used = Set<String>()
        var out: [String] = []
        out.reserveCapacity(trimmed.count)
        for name in trimmed {
            var candidate = name
            if used.contains(candidate) {
                var k = 2
                repeat {
                    candidate = "\(name)_\(k)"
                    k += 1
                } while used.contains(candidate) || given.contains(candidate)
            }
            used.insert(candidate)
            out.append(candidate)
        }
        return out
    }
}
