import Support

/// Where an object sits in a pack, as its index records it.
public struct PackEntry: Sendable {
    public var offset: UInt64
    public var size: UInt32
    public var kind: ObjectKind
    public var codec: Codec
}

/// How a payload is stored in a pack.
public enum Codec: UInt8, Sendable {
    case raw = 0
    case zlib = 1
}

/// A read-only, memory-mapped pack index (`pack-<name>.idx`, .mlrepo-format.md §Pack index):
/// a 256-entry fan-out table over sorted ids, so a lookup is one table read plus a binary
/// search over the ids that share the first byte.
public final class PackIndex: @unchecked Sendable {
    public static let magic: [UInt8] = Array("MLRIDX01".utf8)
    static let headerSize = 16
    static let fanoutSize = 256 * 4
    static let entrySize = 16

    public let path: String
    public let count: Int
    /// The size of the pack this index describes, when known: every entry's offset is
    /// checked against it before use.
    public let packSize: UInt64?
    let map: MappedFile
    let idsOffset: Int
    let entriesOffset: Int

    /// Maps and validates an index: header, size against the count, and a fan-out table that
    /// never decreases, ends at the count and agrees with the first byte of the ids it
    /// brackets (so a lookup never leaves the id table). Entries are checked as they are
    /// read (`entry(at:)`): offset inside the pack, payload size within the format's bounds.
    public init(path: String, packSize: UInt64? = nil) throws {
        self.path = path
        self.packSize = packSize
        map = try sys { try MappedFile(path: path) }
        let b = map.bytes
        guard b.count >= PackIndex.headerSize + PackIndex.fanoutSize + 32,
              Array(b[0..<8]) == PackIndex.magic else {
            throw StoreError.corruptFile(path, reason: "not a pack index (bad header)")
        }
        count = Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        idsOffset = PackIndex.headerSize + PackIndex.fanoutSize
        entriesOffset = idsOffset + count * 32
        let expected = entriesOffset + count * PackIndex.entrySize + 32
        guard b.count == expected else {
            throw StoreError.corruptFile(path, reason: "size \(b.count) does not match \(count) entries (expected \(expected) bytes)")
        }
        guard fanout(255) == count else {
            throw StoreError.corruptFile(path, reason: "fan-out table does not add up to the entry count")
        }
        var prev = 0
        for b in 0..<256 {
            let f = fanout(b)
            guard f >= prev, f <= count else {
                throw StoreError.corruptFile(path, reason: "fan-out table is not monotonic at byte \(b) (\(prev) then \(f) of \(count) entries)")
            }
            // The ids in prev..<f must all start with byte b: check the first and the last.
            if f > prev, Int(id(at: prev).firstByte) != b || Int(id(at: f - 1).firstByte) != b {
                throw StoreError.corruptFile(path, reason: "fan-out table disagrees with the ids at byte \(b)")
            }
            prev = f
        }
    }

    // Wrapping arithmetic (&+, &*) in these lookups: `i` is below 256 or below `count`, and
    // init checked that the file holds `count` entries, so the offsets cannot overflow; the
    // overflow checks of the -O build cost a quarter of a lookup's time.
    @inline(__always) func fanout(_ i: Int) -> Int {
        Int(UInt32(littleEndian: map.bytes.loadUnaligned(fromByteOffset: PackIndex.headerSize &+ i &* 4, as: UInt32.self)))
    }

    @inline(__always) public func id(at i: Int) -> ObjectId { ObjectId(map.bytes, offset: idsOffset &+ i &* 32) }

    public func entry(at i: Int) throws -> PackEntry {
        let o = entriesOffset + i * PackIndex.entrySize
        let b = map.bytes
        let offset = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt64.self))
        let size = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o + 8, as: UInt32.self))
        guard let kind = ObjectKind(rawValue: b[o + 12]), let codec = Codec(rawValue: b[o + 13]) else {
            throw StoreError.corruptFile(path, reason: "entry \(i) has an unknown kind or codec")
        }
        let limit = packSize ?? UInt64(Int32.max) << 16
        guard offset >= 8, offset <= limit, limit - offset >= UInt64(Pack.entryHeaderSize) else {
            throw StoreError.corruptFile(path, reason: "entry \(i) (object \(id(at: i).hex)) gives offset \(offset), outside its pack"
                                         + (packSize.map { " of \($0) bytes" } ?? ""))
        }
        if let why = FormatLimits.sizeProblem(kind, Int(size)) {
            throw StoreError.objectCorrupt(id(at: i), location: path, reason: "the index declares " + why)
        }
        return PackEntry(offset: offset, size: size, kind: kind, codec: codec)
    }

    /// Position of `id` in the sorted table, or nil.
    public func find(_ id: ObjectId) -> Int? {
        let fb = Int(id.firstByte)
        var lo = fb == 0 ? 0 : fanout(fb - 1)
        var hi = fanout(fb)
        let bytes = map.bytes, base = idsOffset
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            let m = ObjectId(bytes, offset: base &+ mid &* 32)
            if m == id { return mid }
            if m < id { lo = mid &+ 1 } else { hi = mid }
        }
        return nil
    }

    /// Ids that start with the given hex prefix (at most `limit`).
    public func ids(withPrefix prefix: [UInt8], oddNibble: UInt8?, limit: Int) -> [ObjectId] {
        guard !prefix.isEmpty || oddNibble != nil else { return [] }
        let fb = prefix.first.map(Int.init)
        var lo = 0, hi = count
        if let fb { lo = fb == 0 ? 0 : fanout(fb - 1); hi = fanout(fb) }
        var out: [ObjectId] = []
        var i = lo
        while i < hi && out.count < limit {
            let idBytes = UnsafeRawBufferPointer(rebasing: map.bytes[(idsOffset + i * 32)..<(idsOffset + i * 32 + 32)])
            var match = true
            for (k, p) in prefix.enumerated() where idBytes[k] != p { match = false; break }
            if match, let nib = oddNibble, idBytes[prefix.count] >> 4 != nib { match = false }
            if match { out.append(id(at: i)) }
            i += 1
        }
        return out
    }

    /// Checks the trailing SHA-256 over the whole index (used by fsck).
    public func verifyChecksum() -> Bool {
        let b = map.bytes
        let body = UnsafeRawBufferPointer(rebasing: b[0..<(b.count - 32)])
        return SHA256Hasher.digest(body) == Array(b[(b.count - 32)...])
    }

    /// Serializes an index for `entries` (need not be sorted).
    public static func encode(_ entries: [(ObjectId, PackEntry)]) -> [UInt8] {
        let sorted = entries.sorted { $0.0 < $1.0 }
        var w = ByteWriter(capacity: headerSize + fanoutSize + sorted.count * 48 + 32)
        w.raw(magic)
        w.u32(UInt32(sorted.count))
        w.u32(0)
        var counts = [Int](repeating: 0, count: 256)
        for (id, _) in sorted { counts[Int(id.firstByte)] += 1 }
        var acc = 0
        for c in counts { acc += c; w.u32(UInt32(acc)) }
        for (id, _) in sorted { id.write(to: &w) }
        for (_, e) in sorted {
            w.u64(e.offset); w.u32(e.size); w.u8(e.kind.rawValue); w.u8(e.codec.rawValue); w.u16(0)
        }
        let sum = SHA256Hasher.digest(w.bytes)
        w.raw(sum)
        return w.bytes
    }
}
