import Support

/// One staged file with the stat data it had when it was hashed.
public struct IndexEntry: Equatable, Sendable {
    public var path: String
    public var mode: FileMode
    public var size: UInt64
    public var mtimeNs: Int64
    public var ctimeNs: Int64
    public var inode: UInt64
    public var device: UInt64
    public var id: ObjectId
    /// Tracked but deliberately not in the work tree (flag bit 0): `clone --no-checkout` and
    /// branch switches keep such paths out of the work tree; status, add and commit treat
    /// them as unchanged. Writing the path (`checkout REV -- PATH`, `add`) clears it.
    public var notCheckedOut = false

    public init(path: String, mode: FileMode, stat: FileStat, id: ObjectId) {
        self.path = path; self.mode = mode; self.size = stat.size; self.mtimeNs = stat.mtimeNs
        self.ctimeNs = stat.ctimeNs; self.inode = stat.inode; self.device = stat.device; self.id = id
    }

    public init(path: String, mode: FileMode, size: UInt64, id: ObjectId) {
        self.path = path; self.mode = mode; self.size = size; self.mtimeNs = 0
        self.ctimeNs = 0; self.inode = 0; self.device = 0; self.id = id
    }

    /// True when the file's stat data is what it was when hashed (content then assumed
    /// unchanged, unless the entry is racy).
    public func matches(_ st: FileStat) -> Bool {
        st.size == size && st.mtimeNs == mtimeNs && st.ctimeNs == ctimeNs && st.inode == inode
            && (st.isExecutable ? FileMode.executable : .regular) == mode
    }
}

/// A path left unmerged by a merge: the versions of the merge base (stage 1), ours (stage 2)
/// and theirs (stage 3), each nil where that side has no file (.mlrepo-format.md §7).
public struct UnmergedPath: Equatable, Sendable {
    public var path: String
    public var base: TreeFile?
    public var ours: TreeFile?
    public var theirs: TreeFile?
    public init(path: String, base: TreeFile?, ours: TreeFile?, theirs: TreeFile?) {
        self.path = path; self.base = base; self.ours = ours; self.theirs = theirs
    }
    /// The stages present, 1 to 3.
    public var stages: [(stage: UInt32, file: TreeFile)] {
        [(1, base), (2, ours), (3, theirs)].compactMap { s, f in f.map { (UInt32(s), $0) } }
    }
    public var ids: [ObjectId] { stages.map(\.file.id) }
}

/// The staging area (`.mlrepo/index`, .mlrepo-format.md §Index): the next commit's files,
/// each with its id and stat data, so that `status` re-hashes nothing that did not change.
///
/// Racy entries: a file changed within the same timestamp tick as the index was written
/// could keep its stat data; entries whose mtime is not older than the index file's own
/// mtime are therefore re-hashed instead of trusted (git's rule).
public struct StagingIndex: Sendable {
    public static let magic: [UInt8] = Array("MLRINDX1".utf8)
    public var entries: [String: IndexEntry] = [:]
    /// The index file's mtime when loaded (0 for a new index).
    public var fileMtimeNs: Int64 = 0
    /// The tree these entries form, when known (recorded by commit, checkout and reset;
    /// cleared by any change of an entry's id or mode). Lets `status` skip reading HEAD's
    /// trees when nothing is staged.
    public var treeId: ObjectId? = nil
    /// Paths a merge left in conflict (stages 1–3). Kept apart from `entries` (stage 0), so
    /// code that reads or edits staged files is unaffected; every writer that loads the
    /// index and writes it back keeps them. A path is never in both.
    public var unmerged: [String: UnmergedPath] = [:]

    public init() {}

    /// Unmerged paths in path order.
    public var sortedUnmerged: [UnmergedPath] {
        unmerged.values.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
    }

    /// A path the index may hold: relative, normalized, each component a safe tree name
    /// (so never `..`, never under `.mlrepo`), valid UTF-8.
    public static func isSafePath(_ p: String) -> Bool {
        !p.isEmpty && p.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { Tree.isSafeName(String($0)) }
    }

    public func isRacy(_ e: IndexEntry) -> Bool { fileMtimeNs == 0 || e.mtimeNs >= fileMtimeNs }

    public var sortedEntries: [IndexEntry] {
        entries.values.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
    }

    public static func load(_ path: String) throws -> StagingIndex {
        guard let st = FS.lstat(path) else { return StagingIndex() }
        let bytes = try sys { try FS.readFile(path) }
        var idx = try bytes.withUnsafeBytes { try decode($0, path: path) }
        idx.fileMtimeNs = st.mtimeNs
        return idx
    }

    /// Decodes an index file's bytes (`path` names the file in errors), checksum included.
    public static func decode(bytes: [UInt8], path: String) throws -> StagingIndex {
        try bytes.withUnsafeBytes { try decode($0, path: path) }
    }

    static func decode(_ b: UnsafeRawBufferPointer, path: String) throws -> StagingIndex {
        func bad(_ r: String) -> StoreError { .corruptFile(path, reason: r + "; run 'mlrepo reset' to rebuild it from HEAD") }
        guard b.count >= 80, Array(b[0..<8]) == magic else { throw bad("bad header") }
        let body = UnsafeRawBufferPointer(rebasing: b[0..<(b.count - 32)])
        guard SHA256Hasher.digest(body) == Array(b[(b.count - 32)...]) else { throw bad("checksum mismatch (truncated or damaged)") }
        var r = ByteReader(body, offset: 8)
        do {
            let version = try r.u32()
            // Version 2 (written only while a merge has unmerged paths) allows stage bits.
            guard version == 1 || version == 2 else { throw bad("unsupported version \(version)") }
            let allowed: UInt32 = version == 2 ? 0b111 : 0b1
            let count = Int(try r.u32())
            var idx = StagingIndex()
            let tree = ObjectId(try r.bytes(32))
            idx.treeId = tree == .zero ? nil : tree
            idx.entries.reserveCapacity(min(count, body.count / 82))  // a hostile count must not allocate
            // Fixed part of an entry: mode, flags, size, mtime, ctime, inode, device, id, path length.
            let fixed = 4 + 4 + 8 * 5 + 32 + 2
            for _ in 0..<count {
                guard r.remaining >= fixed else { throw bad("truncated entry") }
                let o = r.offset
                @inline(__always) func u64(_ k: Int) -> UInt64 { UInt64(littleEndian: body.loadUnaligned(fromByteOffset: o + k, as: UInt64.self)) }
                guard let mode = FileMode(rawValue: UInt32(littleEndian: body.loadUnaligned(fromByteOffset: o, as: UInt32.self))) else { throw bad("bad mode") }
                let flags = UInt32(littleEndian: body.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self))
                guard flags & ~allowed == 0 else { throw bad("unknown entry flags \(flags) (written by a newer mlrepo?)") }
                let stage = (flags >> 1) & 3
                guard stage == 0 || flags & 1 == 0 else { throw bad("an unmerged entry marked not checked out") }
                let size = u64(8), mt = Int64(bitPattern: u64(16)), ct = Int64(bitPattern: u64(24)), ino = u64(32), dev = u64(40)
                let id = ObjectId(body, offset: o + 48)
                let n = Int(UInt16(littleEndian: body.loadUnaligned(fromByteOffset: o + 80, as: UInt16.self)))
                r.offset = o + fixed
                guard n <= FormatLimits.maxPathBytes else { throw bad("a path of \(n) bytes (the limit is \(FormatLimits.maxPathBytes))") }
                let pb = try r.bytes(n)
                let p = String(decoding: pb, as: UTF8.self)
                guard StagingIndex.isSafePath(p) else { throw bad("unsafe path '\(FormatLimits.shortName(p.utf8))'") }
                if stage != 0 {
                    guard idx.entries[p] == nil else { throw bad("'\(p)' is both merged and unmerged") }
                    guard !mode.isDirectory else { throw bad("unmerged '\(p)' has a folder mode") }
                    var u = idx.unmerged[p] ?? UnmergedPath(path: p, base: nil, ours: nil, theirs: nil)
                    let f = TreeFile(mode: mode, size: size, id: id)
                    switch stage {
                    case 1: guard u.base == nil else { throw bad("stage 1 of '\(p)' twice") }; u.base = f
                    case 2: guard u.ours == nil else { throw bad("stage 2 of '\(p)' twice") }; u.ours = f
                    default: guard u.theirs == nil else { throw bad("stage 3 of '\(p)' twice") }; u.theirs = f
                    }
                    idx.unmerged[p] = u
                    continue
                }
                guard idx.unmerged[p] == nil else { throw bad("'\(p)' is both merged and unmerged") }
                var e = IndexEntry(path: p, mode: mode, size: size, id: id)
                e.mtimeNs = mt; e.ctimeNs = ct; e.inode = ino; e.device = dev
                e.notCheckedOut = flags & 1 != 0
                idx.entries[p] = e
            }
            guard r.atEnd else { throw bad("trailing bytes") }
            return idx
        } catch let e as ByteReaderError { throw bad("\(e)") }
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 16 + entries.count * 100)
        w.raw(StagingIndex.magic)
        // Version 1 unless there are unmerged stages, so indexes without a merge stay as they were.
        let stageCount = unmerged.values.reduce(0) { $0 + (entries[$1.path] == nil ? $1.stages.count : 0) }
        w.u32(stageCount == 0 ? 1 : 2)
        w.u32(UInt32(entries.count + stageCount))
        (treeId ?? .zero).write(to: &w)
        func put(_ path: String, _ mode: FileMode, _ flags: UInt32, _ size: UInt64, _ mt: Int64, _ ct: Int64, _ ino: UInt64, _ dev: UInt64, _ id: ObjectId) {
            w.u32(mode.rawValue); w.u32(flags)
            w.u64(size); w.i64(mt); w.i64(ct); w.u64(ino); w.u64(dev)
            id.write(to: &w)
            let p = Array(path.utf8)
            w.u16(UInt16(truncatingIfNeeded: p.count)); w.raw(p)  // write() refuses paths over 4096 bytes
        }
        // Entries sorted by path bytes, then stage.
        var all: [(path: String, stage: UInt32, entry: IndexEntry?, file: TreeFile?)] = entries.values.map { ($0.path, 0, $0, nil) }
        // A path staged again (stage 0) is no longer unmerged.
        for u in unmerged.values where entries[u.path] == nil { for (s, f) in u.stages { all.append((u.path, s, nil, f)) } }
        all.sort { $0.path == $1.path ? $0.stage < $1.stage : $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        for x in all {
            if let e = x.entry {
                put(e.path, e.mode, e.notCheckedOut ? 1 : 0, e.size, e.mtimeNs, e.ctimeNs, e.inode, e.device, e.id)
            } else if let f = x.file {
                put(x.path, f.mode, x.stage << 1, f.size, 0, 0, 0, 0, f.id)
            }
        }
        w.raw(SHA256Hasher.digest(w.bytes))
        return w.bytes
    }

    public func write(_ path: String, durable: Bool) throws {
        // The format's path bound (4096 bytes) also keeps every length within its u16.
        for p in Array(entries.keys) + Array(unmerged.keys) where p.utf8.count > FormatLimits.maxPathBytes {
            throw StoreError.badPath(FormatLimits.shortName(p.utf8), reason: "path longer than \(FormatLimits.maxPathBytes) bytes; not staged")
        }
        try sys { try FS.atomicWrite(path, encode(), durable: durable) }
    }
}
