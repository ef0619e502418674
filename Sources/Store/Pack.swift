#if canImport(Glibc)
import Glibc
#endif
import Support

/// A pack file (`pack-<name>.pack`) with its index. The pack is mapped on first read.
public final class Pack: @unchecked Sendable {
    public static let magic: [UInt8] = Array("MLRPACK1".utf8)
    public static let entryHeaderSize = 44

    public let name: String
    public let packPath: String
    public let index: PackIndex
    private var mapped: MappedFile?
    private let mapLock = Lock()
    private var touched = 0

    public init(directory: String, name: String) throws {
        self.name = name
        packPath = directory + "/" + name + ".pack"
        index = try PackIndex(path: directory + "/" + name + ".idx", packSize: FS.stat(packPath)?.size)
    }

    func map() throws -> MappedFile {
        mapLock.lock(); defer { mapLock.unlock() }
        if let m = mapped { return m }
        let m = try sys { try MappedFile(path: packPath) }
        guard m.count >= 8, Array(m.bytes[0..<8]) == Pack.magic else {
            throw StoreError.corruptFile(packPath, reason: "not a pack (bad header)")
        }
        mapped = m
        return m
    }

    /// Counts bytes read through the map; past 16 MiB the map's pages are dropped from this
    /// process (they stay in the page cache), so reading a 100 GB pack keeps resident
    /// memory flat. Safe with concurrent readers: packs never change, a dropped page is
    /// simply faulted in again.
    func noteRead(_ n: Int) {
        mapLock.lock(); defer { mapLock.unlock() }
        touched += n
        if touched >= 16 << 20, let m = mapped {
            m.release(0..<m.count)
            touched = 0
        }
    }

    /// The stored bytes of the object at index position `i`, checked against the entry
    /// header (id, kind, lengths). The payload is not yet verified against its id.
    func stored(at i: Int) throws -> (entry: PackEntry, storedBytes: UnsafeRawBufferPointer, map: MappedFile) {
        let id = index.id(at: i)
        let e = try index.entry(at: i)
        let m = try map()
        let b = m.bytes
        let off = Int(e.offset)
        let loc = "\(name).pack at offset \(off)"
        guard off >= 8, off <= b.count - Pack.entryHeaderSize else {
            throw StoreError.objectCorrupt(id, location: loc, reason: "entry lies outside the pack (a bad offset in \(name).idx, or a truncated pack)")
        }
        guard ObjectId(b, offset: off) == id else {
            throw StoreError.objectCorrupt(id, location: loc, reason: "the entry there names another object (\(name).idx or the pack is damaged)")
        }
        let kind = b[off + 32], codec = b[off + 33]
        let raw = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: off + 36, as: UInt32.self))
        let storedLen = Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: off + 40, as: UInt32.self)))
        guard kind == e.kind.rawValue, codec == e.codec.rawValue, raw == e.size else {
            throw StoreError.objectCorrupt(id, location: loc, reason: "entry header disagrees with \(name).idx")
        }
        let start = off + Pack.entryHeaderSize
        guard storedLen <= b.count - start else {
            throw StoreError.objectCorrupt(id, location: loc, reason: "payload runs past the end of the pack (truncated pack?)")
        }
        return (e, UnsafeRawBufferPointer(rebasing: b[start..<(start + storedLen)]), m)
    }
}

/// Writes a new pack: a temp file in the pack directory, made visible only by `finish()`
/// (fsync, rename to `pack-<name>.pack`, then the index written atomically). A writer that
/// is dropped unfinished deletes its temp file; one killed leaves a `tmp-*` file that gc
/// removes. Not thread-safe: callers serialize `put`.
public final class PackWriter {
    public let directory: String
    let durable: Bool
    let tmpPath: String
    let file: FileDescriptor
    private var buffer: [UInt8] = []
    private var offset: UInt64 = 8
    private var synced: UInt64 = 0
    private(set) var entries: [ObjectId: PackEntry] = [:]
    private var finished = false
    public private(set) var bytesWritten: UInt64 = 0

    init(directory: String, durable: Bool) throws {
        self.directory = directory
        self.durable = durable
        let tmp = directory + "/tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pack"
        tmpPath = tmp
        file = try sys { try FileDescriptor(path: tmp, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o444) }
        buffer.reserveCapacity(PackWriter.bufferSize + 65536)
        buffer.append(contentsOf: Pack.magic)
    }

    deinit { if !finished { unlink(tmpPath) } }

    static let bufferSize = 4 << 20

    public var count: Int { entries.count }
    public func contains(_ id: ObjectId) -> Bool { entries[id] != nil }
    public func entry(_ id: ObjectId) -> PackEntry? { entries[id] }

    /// Appends an object whose id the caller computed. `stored` is the payload as stored
    /// (compressed when `codec` is zlib); `rawSize` its size before compression.
    /// An id already in this pack is skipped.
    public func put(id: ObjectId, kind: ObjectKind, codec: Codec, rawSize: Int, stored: UnsafeRawBufferPointer) throws {
        guard let header = register(id: id, kind: kind, codec: codec, rawSize: rawSize, storedSize: stored.count) else { return }
        buffer.append(contentsOf: header)
        if stored.count >= 1 << 20 {
            try flush()
            try sys { try file.write(stored) }
        } else {
            buffer.append(contentsOf: stored)
            if buffer.count >= PackWriter.bufferSize { try flush() }
        }
        bytesWritten = offset
    }

    /// Records a new entry at the current end of the pack and advances it; returns the
    /// 44-byte entry header, or nil when this pack already holds `id`.
    private func register(id: ObjectId, kind: ObjectKind, codec: Codec, rawSize: Int, storedSize: Int) -> [UInt8]? {
        if entries[id] != nil { return nil }
        precondition(rawSize <= Int(UInt32.max) && storedSize <= Int(UInt32.max), "object too large for a pack entry")
        entries[id] = PackEntry(offset: offset, size: UInt32(rawSize), kind: kind, codec: codec)
        offset += UInt64(Pack.entryHeaderSize + storedSize)
        var h = ByteWriter(capacity: Pack.entryHeaderSize)
        id.write(to: &h)
        h.u8(kind.rawValue); h.u8(codec.rawValue); h.u16(0)
        h.u32(UInt32(rawSize)); h.u32(UInt32(storedSize))
        return h.bytes
    }

    /// One object for `putMany`: its payload is read from caller memory during the call.
    public struct Borrowed {
        public var id: ObjectId
        public var kind: ObjectKind
        public var codec: Codec
        public var rawSize: Int
        public var stored: UnsafeRawBufferPointer
        public init(id: ObjectId, kind: ObjectKind, codec: Codec, rawSize: Int, stored: UnsafeRawBufferPointer) {
            self.id = id; self.kind = kind; self.codec = codec; self.rawSize = rawSize; self.stored = stored
        }
    }

    /// Appends many objects with one writev per 512 of them, straight from the callers'
    /// buffers (no copy into the pack buffer). Ids already in this pack are skipped.
    public func putMany(_ objects: [Borrowed]) throws {
        try flush()
        var headers = [UInt8](repeating: 0, count: objects.count * Pack.entryHeaderSize)
        var iov: [iovec] = []
        iov.reserveCapacity(1024)
        var pendingBytes = 0
        try headers.withUnsafeMutableBytes { hb in
            var k = 0
            for o in objects {
                guard let header = register(id: o.id, kind: o.kind, codec: o.codec, rawSize: o.rawSize, storedSize: o.stored.count) else { continue }
                let dst = UnsafeMutableRawBufferPointer(rebasing: hb[(k * Pack.entryHeaderSize)..<((k + 1) * Pack.entryHeaderSize)])
                header.withUnsafeBytes { dst.copyMemory(from: $0) }
                iov.append(iovec(iov_base: dst.baseAddress, iov_len: Pack.entryHeaderSize))
                if o.stored.count > 0 { iov.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: o.stored.baseAddress), iov_len: o.stored.count)) }
                pendingBytes += Pack.entryHeaderSize + o.stored.count
                k += 1
                if iov.count >= 1000 { try writeAll(&iov, pendingBytes); pendingBytes = 0 }
            }
            if !iov.isEmpty { try writeAll(&iov, pendingBytes) }
        }
        bytesWritten = offset
        startWritebackIfDue()
    }

    /// writev until every byte of `iov` is written; empties it.
    private func writeAll(_ iov: inout [iovec], _ total: Int) throws {
        var left = total
        var start = 0
        while left > 0 {
            let n = iov.withUnsafeMutableBufferPointer { p in
                writev(file.fd, p.baseAddress! + start, Int32(min(p.count - start, 1024)))
            }
            if n < 0 { if errno == EINTR { continue }; throw StoreError.system(SystemError("write", tmpPath)) }
            left -= n
            var m = n
            while m > 0 && start < iov.count {
                if m >= iov[start].iov_len { m -= iov[start].iov_len; start += 1 }
                else {
                    iov[start].iov_base = iov[start].iov_base! + m
                    iov[start].iov_len -= m
                    m = 0
                }
            }
        }
        iov.removeAll(keepingCapacity: true)
    }

    private func startWritebackIfDue() {
        if durable && offset - synced >= 64 << 20 {
            startWriteback(fd: file.fd, offset: synced, length: offset - synced)
            synced = offset
        }
    }

    private func flush() throws {
        if buffer.isEmpty { return }
        try sys { try file.write(buffer.withUnsafeBytes { $0 }) }
        buffer.removeAll(keepingCapacity: true)
        // Start write-back early so that the final fsync has little left to do.
        startWritebackIfDue()
    }

    /// Makes the pack visible. Returns its name, or nil when nothing was written.
    @discardableResult
    public func finish() throws -> String? {
        precondition(!finished)
        finished = true
        if entries.isEmpty { unlink(tmpPath); return nil }
        try flush()
        if durable { try sys { try file.sync() } }
        let list = entries.map { ($0.key, $0.value) }
        let h = SHA256Hasher()
        for id in entries.keys.sorted() { h.update(id.bytes) }
        let name = "pack-" + Hex.encode(h.finalize())
        let packPath = directory + "/" + name + ".pack"
        if FS.exists(packPath) {
            // The same set of objects is already packed (e.g. a re-run after a crash).
            unlink(tmpPath)
        } else {
            try sys { try FS.rename(tmpPath, packPath) }
        }
        try sys { try FS.atomicWrite(directory + "/" + name + ".idx", PackIndex.encode(list), mode: 0o444, durable: durable) }
        return name
    }
}

