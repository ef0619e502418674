import Support

/// File modes recorded in trees.
public enum FileMode: UInt32, Sendable {
    case directory = 0o040000
    case regular = 0o100644
    case executable = 0o100755

    public var octal: String { String(rawValue, radix: 8) }
    public var isDirectory: Bool { self == .directory }
}

/// One entry of a tree: a file (blob or chunks object) or a subtree.
public struct TreeEntry: Equatable, Sendable {
    public var name: String
    public var mode: FileMode
    public var size: UInt64
    public var id: ObjectId

    public init(name: String, mode: FileMode, size: UInt64, id: ObjectId) {
        self.name = name; self.mode = mode; self.size = size; self.id = id
    }
}

/// A directory listing. Payload (.mlrepo-format.md §Tree): entries sorted by name bytes,
/// each `"<mode octal> <size decimal> <name>\0"` followed by the 32-byte id.
public struct Tree: Equatable, Sendable {
    public var entries: [TreeEntry]

    public init(entries: [TreeEntry]) {
        self.entries = entries.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// Names a tree may never hold: they would escape or shadow the work tree.
    public static func isSafeName(_ name: String) -> Bool {
        if name.isEmpty || name == "." || name == ".." || name == ".mlrepo" { return false }
        if name.utf8.count > FormatLimits.maxNameBytes { return false }
        if name.utf8.contains(0x2F) || name.utf8.contains(0) { return false }
        return true
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: entries.count * 64)
        for e in entries {
            w.string("\(e.mode.octal) \(e.size) \(e.name)")
            w.u8(0)
            e.id.write(to: &w)
        }
        return w.bytes
    }

    /// Parses and validates a tree payload; `id` names it in errors.
    public static func decode(_ b: UnsafeRawBufferPointer, id: ObjectId) throws -> Tree {
        var r = ByteReader(b)
        var out: [TreeEntry] = []
        var prev: [UInt8]? = nil
        func bad(_ why: String) -> StoreError { .objectCorrupt(id, location: "tree", reason: why) }
        while !r.atEnd {
            guard let line = try? r.until(0), let idb = try? r.bytes(32) else { throw bad("truncated entry") }
            let parts = line.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3,
                  let modeV = UInt32(String(decoding: parts[0], as: UTF8.self), radix: 8),
                  let mode = FileMode(rawValue: modeV),
                  let size = UInt64(String(decoding: parts[1], as: UTF8.self)) else { throw bad("malformed entry") }
            guard parts[2].count <= FormatLimits.maxNameBytes else {
                throw bad("entry name '\(FormatLimits.shortName(parts[2]))' is longer than \(FormatLimits.maxNameBytes) bytes")
            }
            let nameBytes = Array(parts[2])
            guard let name = String(validating: nameBytes, as: UTF8.self) else { throw bad("entry name is not UTF-8") }
            guard isSafeName(name) else { throw StoreError.unsafeTree(id, name: name) }
            if let p = prev, !p.lexicographicallyPrecedes(nameBytes) { throw bad("entries not sorted or duplicated at '\(name)'") }
            prev = nameBytes
            out.append(TreeEntry(name: name, mode: mode, size: size, id: ObjectId(idb)))
        }
        var t = Tree(entries: [])
        t.entries = out
        return t
    }
}

/// The chunk list of a large file. Payload (.mlrepo-format.md §Chunks): u8 level,
/// u64 total size, then (32-byte id, u64 size) per part. Level 0 parts are blobs (chunks);
/// level n parts are chunk lists of level n-1, so a list never grows past a bounded size
/// however large the file.
public struct ChunkList: Equatable, Sendable {
    public var level: UInt8
    public var totalSize: UInt64
    public var parts: [(id: ObjectId, size: UInt64)]

    public static func == (a: ChunkList, b: ChunkList) -> Bool {
        a.level == b.level && a.totalSize == b.totalSize && a.parts.count == b.parts.count
            && zip(a.parts, b.parts).allSatisfy { $0.id == $1.id && $0.size == $1.size }
    }

    public init(level: UInt8, parts: [(id: ObjectId, size: UInt64)]) {
        self.level = level
        self.parts = parts
        totalSize = parts.reduce(0) { $0 + $1.size }
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 9 + parts.count * 40)
        w.u8(level)
        w.u64(totalSize)
        for p in parts { p.id.write(to: &w); w.u64(p.size) }
        return w.bytes
    }

    /// Checks this list, read as a part of a level-`parentLevel` list that declared
    /// `declaredSize` bytes for it: it must be one level lower and hold exactly that much.
    /// Levels thus strictly decrease, so nesting is at most 256 deep.
    public func checkAsPart(of parentLevel: UInt8, declaredSize: UInt64, id: ObjectId) throws {
        guard parentLevel > 0, level == parentLevel - 1 else {
            throw StoreError.objectCorrupt(id, location: "chunk list", reason: "level \(level) under a level-\(parentLevel) list")
        }
        guard totalSize == declaredSize else {
            throw StoreError.objectCorrupt(id, location: "chunk list", reason: "holds \(totalSize) bytes; its parent list says \(declaredSize)")
        }
    }

    public static func decode(_ b: UnsafeRawBufferPointer, id: ObjectId) throws -> ChunkList {
        func bad(_ why: String) -> StoreError { .objectCorrupt(id, location: "chunk list", reason: why) }
        guard b.count >= 9, (b.count - 9) % 40 == 0 else { throw bad("bad length \(b.count)") }
        let n = (b.count - 9) / 40
        guard n <= FormatLimits.maxChunkListParts else {
            throw bad("\(n) parts, over the format's limit of \(FormatLimits.maxChunkListParts)")
        }
        var r = ByteReader(b)
        let level = try r.u8()
        let total = try r.u64()
        var parts: [(id: ObjectId, size: UInt64)] = []
        parts.reserveCapacity(n)
        var sum: UInt64 = 0
        while !r.atEnd {
            let idb = try r.bytes(32)
            let size = try r.u64()
            // A chunk is a blob, so it is bounded; a sub-list is checked against the list it
            // names when that is read (FileReader, fsck).
            if level == 0, size > UInt64(FormatLimits.maxBlobSize) {
                throw bad("part \(parts.count) declares \(size) bytes; a chunk holds at most \(FormatLimits.maxBlobSize)")
            }
            let (s, overflow) = sum.addingReportingOverflow(size)
            guard !overflow else { throw bad("part sizes overflow 64 bits") }
            sum = s
            parts.append((ObjectId(idb), size))
        }
        guard sum == total else { throw bad("sizes do not add up to the recorded total") }
        var c = ChunkList(level: level, parts: [])
        c.parts = parts
        c.totalSize = total
        return c
    }
}
