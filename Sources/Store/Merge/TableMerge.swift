import Support

// Row-level three-way merge of tables (CSV/TSV), and row diffs.
//
// STUB (issue 16): the API is final; the bodies are placeholders (whole files in memory,
// merged as text) until the chunk-aligned, bounded-memory implementation replaces them.

public struct TableMergeOptions: Sendable {
    public enum Favor: String, Sendable { case none, ours, theirs }
    /// Rows are matched by this column's value instead of by position.
    public var keyColumn: String? = nil
    /// For rows changed differently on both sides: conflict (none), or take a side.
    public var favor: Favor = .none
    /// Field separator: `,` for CSV, tab for TSV.
    public var delimiter: UInt8 = 0x2C
    public var oursLabel = "ours"
    public var theirsLabel = "theirs"
    public init(keyColumn: String? = nil, favor: Favor = .none, delimiter: UInt8 = 0x2C, oursLabel: String = "ours", theirsLabel: String = "theirs") {
        self.keyColumn = keyColumn; self.favor = favor; self.delimiter = delimiter; self.oursLabel = oursLabel; self.theirsLabel = theirsLabel
    }
}

/// One row changed differently on both sides.
public struct TableConflict: Equatable, Sendable {
    /// 1-based data-row number (the header is row 0) in the merged file's ours side.
    public var row: Int
    /// The key column's value, when merging by key.
    public var key: String?
    /// Each side's row text (without the line feed; nil where that side deleted the row;
    /// cut to 1024 bytes).
    public var base: String?
    public var ours: String?
    public var theirs: String?
    public init(row: Int, key: String?, base: String?, ours: String?, theirs: String?) {
        self.row = row; self.key = key; self.base = base; self.ours = ours; self.theirs = theirs
    }
}

public struct TableMergeResult: Sendable {
    /// The merged file, stored in the object store: with favor none and conflicts, the
    /// conflicting rows are written between git-style conflict markers.
    public var file: StoredFile
    /// The first conflicts (at most 1000), in file order.
    public var conflicts: [TableConflict]
    /// All conflicts.
    public var conflictCount: Int
}

/// Why a file could not be merged as a table (the caller then treats it as text or binary).
public struct NotATable: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension Repository {
    /// Three-way row-level merge of the tables `base` (nil: added on both sides), `ours` and
    /// `theirs`, by id; the result is stored. Throws `NotATable` when a side is not a table
    /// this merge handles.
    public func mergeTable(base: ObjectId?, ours: ObjectId, theirs: ObjectId, options: TableMergeOptions = TableMergeOptions()) throws -> TableMergeResult {
        let reader = FileReader(store: store)
        func load(_ id: ObjectId) throws -> [UInt8] { var b: [UInt8] = []; try reader.read(id) { b += $0 }; return b }
        let favor: TextMergeOptions.Favor = options.favor == .ours ? .ours : options.favor == .theirs ? .theirs : .none
        let r = TextMerge.merge(base: try base.map(load) ?? [], ours: try load(ours), theirs: try load(theirs),
                                options: TextMergeOptions(favor: favor, oursLabel: options.oursLabel, theirsLabel: options.theirsLabel))
        let tmp = FS.tempPath(beside: dotDir + "/merge-table")
        defer { try? FS.unlink(tmp) }
        try sys { try FS.atomicWrite(tmp, r.bytes, durable: false) }
        let stored = try FileWriter(store: store, chunker: chunker).store(path: tmp)
        let c = r.conflicts > 0 ? [TableConflict(row: 1, key: nil, base: nil, ours: nil, theirs: nil)] : []
        return TableMergeResult(file: stored, conflicts: c, conflictCount: r.conflicts)
    }
}
