import Support

// Three-way merge of two trees against a base, path by path (flat path maps), with a
// content merge by kind where both sides changed a file: tables row by row
// (`mergeTable`), text line by line (`TextMerge`), anything else is a binary conflict.

public struct TreeMergeOptions: Sendable {
    public var style: TextMergeOptions.Style = .merge
    /// Tables are matched on this column instead of by row position.
    public var keyColumn: String? = nil
    /// Conflict-marker labels, as git writes them: `HEAD` and the merged branch's name.
    public var oursLabel = "HEAD"
    public var theirsLabel = "theirs"
    public var baseLabel = "merged common ancestors"
    /// Merging merge bases into a virtual base (criss-cross histories): conflicts stay in
    /// the content (markers in text; the base's version for binary files and
    /// modify/delete, as git does), and nothing is left unmerged.
    public var virtualBase = false
    public init(style: TextMergeOptions.Style = .merge, keyColumn: String? = nil, oursLabel: String = "HEAD", theirsLabel: String = "theirs") {
        self.style = style; self.keyColumn = keyColumn; self.oursLabel = oursLabel; self.theirsLabel = theirsLabel
    }
}

/// How a path is unmerged, in `status`'s words.
public enum UnmergedKind: String, Sendable {
    case bothModified = "both modified"
    case bothAdded = "both added"
    case deletedByUs = "deleted by us"
    case deletedByThem = "deleted by them"
    case fileFolder = "file/folder"
}

/// One conflict of a merge.
public struct MergeConflict: Sendable {
    public enum Reason: String, Sendable {
        case content, binary, rows, modifyDelete = "modify/delete", addAdd = "add/add", fileFolder = "file/folder"
    }
    public var path: String
    public var kind: UnmergedKind
    public var reason: Reason
    /// Tables: the first conflicting rows (1-based data rows), their keys when merging by key,
    /// and how many rows conflict in all.
    public var rows: [Int] = []
    public var keys: [String] = []
    public var rowCount = 0
    /// modify/delete: which side deleted; file/folder: where the file went.
    public var detail = ""
}

public enum MergeEvent: Sendable {
    /// Both sides changed the file and its contents were merged (cleanly or not).
    case autoMerging(String)
    case conflict(MergeConflict)
    /// A table that could not be merged by rows (the reason), so it was merged by lines.
    case notMergedByRows(String, reason: String)
}

public struct TreeMergeResult: Sendable {
    /// Merged files (stage 0 of the index).
    public var merged: [String: TreeFile] = [:]
    /// Conflicted paths with their stages.
    public var unmerged: [String: UnmergedPath] = [:]
    /// What the work tree holds for each conflicted path (merged text with markers, or the
    /// side kept), and for files moved aside by a file/folder conflict (`PATH~BRANCH`).
    public var work: [String: TreeFile] = [:]
    public var events: [MergeEvent] = []
    public var conflicts: [MergeConflict] { events.compactMap { if case .conflict(let c) = $0 { return c } else { return nil } } }
    /// The work tree after the merge: merged files plus the conflict files.
    public var workTree: [String: TreeFile] { merged.merging(work) { _, w in w } }
}

/// Limits of the line merge: bigger files, or files with a NUL byte in their first 8000
/// bytes (git's test), are merged as binary.
public enum MergeLimits {
    public static let maxTextBytes: UInt64 = 64 << 20
    public static let binaryProbeBytes = 8000
}

extension Repository {
    /// Paths a merge changes relative to `ours` (those whose result may differ from it):
    /// where theirs differs both from ours and from the base. Known from ids alone, so a
    /// merge can check for local changes before merging any content.
    public static func pathsTouched(base: [String: TreeFile], ours: [String: TreeFile], theirs: [String: TreeFile]) -> Set<String> {
        var out = Set<String>()
        for p in Set(theirs.keys).union(ours.keys).union(base.keys) where theirs[p] != ours[p] && theirs[p] != base[p] { out.insert(p) }
        return out
    }

    /// Merges `ours` and `theirs` (flat path → file maps) against `base`. Merged contents
    /// are written to the object store (pending until the caller commits the store's
    /// writes); nothing else is touched.
    public func mergeTrees(base: [String: TreeFile], ours: [String: TreeFile], theirs: [String: TreeFile],
                           options: TreeMergeOptions) throws -> TreeMergeResult {
        var r = TreeMergeResult()
        let paths = Set(base.keys).union(ours.keys).union(theirs.keys)
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for p in paths {
            let b = base[p], o = ours[p], t = theirs[p]
            if o == t { if let o { r.merged[p] = o }; continue }
            if o == b { if let t { r.merged[p] = t }; continue }
            if t == b { if let o { r.merged[p] = o }; continue }
            // Changed on both sides, differently.
            guard let o, let t else {
                // Modified on one side, deleted on the other.
                let kept = (o ?? t)!
                // A virtual base keeps the base's version (git's recursive strategy), so the
                // final merge still sees both sides' changes.
                if options.virtualBase { if let b { r.merged[p] = b }; continue }
                let deletedBy = o == nil ? options.oursLabel : options.theirsLabel
                let keptBy = o == nil ? options.theirsLabel : options.oursLabel
                r.unmerged[p] = UnmergedPath(path: p, base: b, ours: o, theirs: t)
                r.work[p] = kept
                r.events.append(.conflict(MergeConflict(path: p, kind: o == nil ? .deletedByUs : .deletedByThem, reason: .modifyDelete,
                                                        detail: "\(p) deleted in \(deletedBy) and modified in \(keptBy). Version \(keptBy) of \(p) left in tree.")))
                continue
            }
            // Both present. The mode: a side that changed it wins (ours when both did).
            let mode: FileMode = (b != nil && o.mode == b!.mode) ? t.mode : o.mode
            if o.id == t.id {
                if b == nil && o.mode != t.mode && !options.virtualBase {
                    // Added on both sides with the same content but different modes: git
                    // reports an add/add conflict; the work tree keeps ours.
                    r.unmerged[p] = UnmergedPath(path: p, base: nil, ours: o, theirs: t)
                    r.work[p] = o
                    r.events.append(.conflict(MergeConflict(path: p, kind: .bothAdded, reason: .addAdd)))
                    continue
                }
                r.merged[p] = TreeFile(mode: mode, size: o.size, id: o.id)
                continue
            }
            let kind: UnmergedKind = b == nil ? .bothAdded : .bothModified
            let baseSame = b.map { $0.id == o.id || $0.id == t.id } ?? false
            if let b, baseSame {
                // Only the mode differs on one side and the content on the other.
                r.merged[p] = TreeFile(mode: mode, size: (b.id == o.id ? t : o).size, id: (b.id == o.id ? t : o).id)
                continue
            }
            r.events.append(.autoMerging(p))
            let stages = UnmergedPath(path: p, base: b, ours: o, theirs: t)
            // Tables first; a file that is not a table this merge handles falls back.
            if Repository.isTablePath(p) {
                do {
                    var to = TableMergeOptions(keyColumn: options.keyColumn, delimiter: Repository.tableDelimiter(p) ?? 0x2C,
                                               oursLabel: options.oursLabel, theirsLabel: options.theirsLabel)
                    to.favor = .none
                    let m = try mergeTable(base: b?.id, ours: o.id, theirs: t.id, options: to)
                    let file = TreeFile(mode: mode, size: m.file.size, id: m.file.id)
                    if m.conflictCount == 0 || options.virtualBase { r.merged[p] = file; continue }
                    r.unmerged[p] = stages
                    r.work[p] = file
                    var c = MergeConflict(path: p, kind: kind, reason: .rows)
                    c.rows = m.conflicts.map(\.row); c.keys = m.conflicts.compactMap(\.key); c.rowCount = m.conflictCount
                    r.events.append(.conflict(c))
                    continue
                } catch let e as NotATable {
                    if !options.virtualBase { r.events.append(.notMergedByRows(p, reason: e.reason)) }
                }
            }
            if let texts = try readTexts([b, o, t]) {
                var to = TextMergeOptions(style: options.style, oursLabel: options.oursLabel, baseLabel: options.baseLabel, theirsLabel: options.theirsLabel)
                to.favor = .none
                let m = TextMerge.merge(base: texts[0] ?? [], ours: texts[1]!, theirs: texts[2]!, options: to)
                let s = try storeBytes(m.bytes)
                let file = TreeFile(mode: mode, size: s.size, id: s.id)
                if m.conflicts == 0 || options.virtualBase { r.merged[p] = file; continue }
                r.unmerged[p] = stages
                r.work[p] = file
                r.events.append(.conflict(MergeConflict(path: p, kind: kind, reason: b == nil ? .addAdd : .content)))
                continue
            }
            // Binary: the work tree keeps ours; a virtual base keeps the base's version
            // (none when both added it), as git's recursive strategy does.
            if options.virtualBase { if let b { r.merged[p] = b }; continue }
            r.unmerged[p] = stages
            r.work[p] = o
            r.events.append(.conflict(MergeConflict(path: p, kind: kind, reason: .binary)))
        }
        try resolveFileFolder(&r, ours: ours, options: options)
        return r
    }

    /// A path that is a file in the result and also a folder (a file on one side, files
    /// under it on the other): the folder stays, the file is moved aside to `PATH~LABEL`
    /// (LABEL: the side that has the file, `/` replaced by `_`), as git does, and the path
    /// is left unmerged with that side's stage.
    private func resolveFileFolder(_ r: inout TreeMergeResult, ours: [String: TreeFile], options: TreeMergeOptions) throws {
        let tree = r.workTree
        var folders = Set<String>()
        for p in tree.keys {
            var d = Path.dirname(p)
            while d != "." && !d.isEmpty && folders.insert(d).inserted { d = Path.dirname(d) }
        }
        for p in tree.keys.sorted() where folders.contains(p) {
            guard let f = tree[p] else { continue }
            let fromOurs = ours[p] != nil && ours[p]?.id == f.id
            let label = String((fromOurs ? options.oursLabel : options.theirsLabel).map { $0 == "/" ? "_" : $0 })
            var aside = p + "~" + label
            var n = 0
            while tree[aside] != nil || folders.contains(aside) { n += 1; aside = p + "~" + label + "_\(n)" }
            if options.virtualBase {
                r.merged[p] = nil
                r.merged[aside] = f
                continue
            }
            let had = r.unmerged[p]
            r.merged[p] = nil
            r.work[p] = nil
            r.work[aside] = f
            r.unmerged[p] = had ?? UnmergedPath(path: p, base: nil, ours: fromOurs ? f : nil, theirs: fromOurs ? nil : f)
            var c = MergeConflict(path: p, kind: .fileFolder, reason: .fileFolder)
            c.detail = "directory in the way of \(p) from \(fromOurs ? options.oursLabel : options.theirsLabel); moving it to \(aside) instead."
            r.events.removeAll { if case .conflict(let x) = $0 { return x.path == p } else { return false } }
            r.events.append(.conflict(c))
        }
    }

    /// Paths merged as tables (then as text if `mergeTable` declines).
    public static func isTablePath(_ p: String) -> Bool { tableDelimiter(p) != nil }

    /// The field separator of a table path: `,` for `.csv`, tab for `.tsv`; nil for other paths.
    public static func tableDelimiter(_ p: String) -> UInt8? {
        let l = p.lowercased()
        if l.hasSuffix(".csv") { return 0x2C }
        if l.hasSuffix(".tsv") { return 0x09 }
        return nil
    }

    /// The contents of the files for a line merge; nil when any is too large or binary.
    func readTexts(_ files: [TreeFile?]) throws -> [[UInt8]?]? {
        for f in files.compactMap({ $0 }) where f.size > MergeLimits.maxTextBytes { return nil }
        try store.ensureLocal(files: files.compactMap { $0?.id })
        let reader = FileReader(store: store)
        var out: [[UInt8]?] = []
        for f in files {
            guard let f else { out.append(nil); continue }
            var b: [UInt8] = []
            b.reserveCapacity(Int(f.size))
            try reader.read(f.id) { chunk in
                guard b.count + chunk.count <= Int(MergeLimits.maxTextBytes) else {
                    throw StoreError.objectCorrupt(f.id, location: "file", reason: "longer than its recorded size")
                }
                b += chunk
            }
            if b.prefix(MergeLimits.binaryProbeBytes).contains(0) { return nil }
            out.append(b)
        }
        return out
    }

    /// Stores bytes as a file object (one blob, or chunked when large) and returns its id.
    public func storeBytes(_ bytes: [UInt8]) throws -> StoredFile {
        let writer = FileWriter(store: store, chunker: chunker)
        if bytes.count <= writer.threshold {
            let id = try store.put(.blob, bytes)
            return StoredFile(id: id, size: UInt64(bytes.count), newBytes: UInt64(bytes.count))
        }
        let tmp = FS.tempPath(beside: dotDir + "/merge-file")
        defer { try? FS.unlink(tmp) }
        try sys { try FS.atomicWrite(tmp, bytes, durable: false) }
        return try writer.store(path: tmp)
    }
}
