#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Support

/// The stored form of one file.
public struct StoredFile: Sendable {
    public var id: ObjectId
    public var size: UInt64
    /// Bytes that were new to the store (after dedup), before compression.
    public var newBytes: UInt64
}

/// Builds the chunk-list tree of a large file level by level. A list is closed when a
/// part's id has its top 12 bits zero (content-defined, ~4096 parts on average, so an
/// edit only changes nearby lists) or when it reaches 16384 parts.
struct ChunkListBuilder {
    static let maxParts = 16384
    var levels: [[(id: ObjectId, size: UInt64)]] = [[]]
    let put: ([UInt8]) throws -> ObjectId

    static func closes(_ id: ObjectId) -> Bool { id.w0 >> 52 == 0 }

    mutating func add(_ id: ObjectId, size: UInt64, level: Int = 0) throws {
        if levels.count <= level { levels.append([]) }
        levels[level].append((id, size))
        if ChunkListBuilder.closes(id) || levels[level].count >= ChunkListBuilder.maxParts {
            let list = ChunkList(level: UInt8(level), parts: levels[level])
            levels[level].removeAll(keepingCapacity: true)
            let lid = try put(list.encode())
            try add(lid, size: list.totalSize, level: level + 1)
        }
    }

    mutating func finish() throws -> ObjectId {
        var l = 0
        while true {
            let parts = levels[l]
            if l == levels.count - 1 {
                if l > 0 && parts.count == 1 { return parts[0].id }
                return try put(ChunkList(level: UInt8(l), parts: parts).encode())
            }
            if !parts.isEmpty {
                let list = ChunkList(level: UInt8(l), parts: parts)
                levels[l].removeAll()
                levels[l + 1].append((try put(list.encode()), list.totalSize))
            }
            l += 1
        }
    }
}

/// Stores files into an `ObjectStore`: small files as one blob, larger ones chunked with
/// FastCDC. Large files stream through three fixed windows, so memory stays bounded
/// whatever the file size; chunk hashing (and compression) runs on all cores while the
/// next window is read and chunked.
public final class FileWriter {
    public let store: ObjectStore
    public let chunker: Chunker
    static let window = 8 << 20

    /// Computes ids only; nothing is written.
    public let dryRun: Bool

    public init(store: ObjectStore, chunker: Chunker, dryRun: Bool = false) {
        self.store = store
        self.chunker = chunker
        self.dryRun = dryRun
    }

    /// Files up to this size are a single blob.
    public var threshold: Int { chunker.maxSize }

    /// Stores the file at `path` (already opened as `fd`), returning its id and size.
    /// `progress` is called with byte counts as they are processed.
    public func store(path: String, progress: ((Int) -> Void)? = nil) throws -> StoredFile {
        let f = try sys { try FileDescriptor(path: path, flags: O_RDONLY) }
        let st = try sys { try f.stat() }
        if Int(st.size) <= threshold {
            var buf = [UInt8](repeating: 0, count: Int(st.size) + 1)
            let n = try sys { try buf.withUnsafeMutableBytes { try f.readFully(into: $0.baseAddress!, count: $0.count) } }
            if n > threshold {  // grew while we looked: start over, chunked
                try sys { try f.seek(to: 0) }
                return try storeLarge(f, progress: progress)
            }
            let id = try buf.withUnsafeBytes { b -> ObjectId in
                let p = UnsafeRawBufferPointer(rebasing: b[0..<n])
                let id = ObjectHash.id(.blob, p, hasher: SHA256Hasher())
                if !dryRun { try store.put(id: id, kind: .blob, payload: p) }
                return id
            }
            progress?(n)
            return StoredFile(id: id, size: UInt64(n), newBytes: UInt64(n))
        }
        return try storeLarge(f, progress: progress)
    }

    /// One window's worth of chunks waiting for their ids.
    final class Batch: @unchecked Sendable {
        private let owned: UnsafeMutableRawBufferPointer
        /// The window's bytes: the owned buffer, or a range of a mapped file.
        var buffer: UnsafeMutableRawBufferPointer
        var count = 0
        var cuts: [(start: Int, len: Int)] = []
        /// Filled by the hashing tasks, one disjoint range each.
        let ids: UnsafeMutableBufferPointer<ObjectId>
        let packed: UnsafeMutableBufferPointer<[UInt8]?>
        init(size: Int, maxChunks: Int) {
            owned = .allocate(byteCount: size, alignment: 64)
            buffer = owned
            ids = .allocate(capacity: maxChunks)
            ids.initialize(repeating: .zero)
            packed = .allocate(capacity: maxChunks)
            packed.initialize(repeating: nil)
        }
        deinit {
            owned.deallocate()
            ids.deallocate()
            packed.deinitialize()
            packed.deallocate()
        }
    }

    private func storeLarge(_ f: FileDescriptor, progress: ((Int) -> Void)?) throws -> StoredFile {
        let window = FileWriter.window
        let cap = window + chunker.maxSize
        let maxChunks = cap / max(1, chunker.minSize) + 2
        var free = [Batch(size: cap, maxChunks: maxChunks), Batch(size: cap, maxChunks: maxChunks), Batch(size: cap, maxChunks: maxChunks)]
        let dry = dryRun
        var builder = ChunkListBuilder(put: { [store] bytes in dry ? ObjectHash.id(.chunks, bytes) : try store.put(.chunks, bytes) })
        var total: UInt64 = 0
        var newBytes: UInt64 = 0
        var carry: (Batch, Int, Int)? = nil  // bytes of an unfinished chunk to move forward
        var inflight: (Batch, DispatchGroup)? = nil
        let policy = store.compression
        let queue = DispatchQueue.global(qos: .userInitiated)
        let workers = max(1, min(CPU.count, 8))

        func drain(_ b: Batch, _ g: DispatchGroup) throws {
            g.wait()
            var batch: [PackWriter.Borrowed] = []
            var keep: [[UInt8]] = []  // compressed payloads, alive until written
            var inBatch = Set<ObjectId>()
            let raw = UnsafeRawBufferPointer(b.buffer)
            for (i, c) in b.cuts.enumerated() {
                let id = b.ids[i]
                let z = b.packed[i]
                b.packed[i] = nil
                total += UInt64(c.len)
                if !dryRun && !store.contains(id) && inBatch.insert(id).inserted {
                    newBytes += UInt64(c.len)
                    if let z {
                        keep.append(z)
                        batch.append(.init(id: id, kind: .blob, codec: .zlib, rawSize: c.len, stored: z.withUnsafeBytes { $0 }))
                    } else {
                        batch.append(.init(id: id, kind: .blob, codec: .raw, rawSize: c.len,
                                           stored: UnsafeRawBufferPointer(rebasing: raw[c.start..<(c.start + c.len)])))
                    }
                }
                try builder.add(id, size: UInt64(c.len))
            }
            if !batch.isEmpty { try withExtendedLifetime(keep) { try store.beginWrite().putMany(batch) } }
            progress?(b.cuts.reduce(0) { $0 + $1.len })
            free.append(b)
            if !dryRun { try store.rollIfLarge() }
        }

        // Large files are read through a memory map (no copy into our buffers); the pages
        // of each finished window are released so resident memory stays bounded. A store
        // with `mapFiles` off (the CLI: MLREPO_NO_MMAP=1) reads with read(2) instead.
        let mapped: MappedFile? = store.mapFiles ? (try? MappedFile(fd: f.fd, path: f.path)) : nil
        var mapPos = 0
        var released = 0
        mapped?.adviseSequential()
        var eof = false
        while !eof {
            let b = free.removeLast()
            var filled = 0
            if let m = mapped {
                let end = min(m.count, mapPos + cap)
                b.buffer = UnsafeMutableRawBufferPointer(mutating: UnsafeRawBufferPointer(rebasing: m.bytes[mapPos..<end]))
                filled = end - mapPos
                eof = end == m.count
            } else if let (cb, start, len) = carry {
                UnsafeMutableRawBufferPointer(rebasing: b.buffer[0..<len])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(cb.buffer)[start..<(start + len)]))
                filled = len
                carry = nil
            }
            if mapped == nil {
                let want = cap - filled
                let n = try sys { try f.readFully(into: b.buffer.baseAddress! + filled, count: want) }
                filled += n
                eof = n < want
            }
            b.count = filled
            // Cut chunks; keep the tail (which may be cut differently once more data
            // arrives) unless this is the end of the file.
            b.cuts.removeAll(keepingCapacity: true)
            var off = 0
            let all = UnsafeRawBufferPointer(b.buffer)
            while off < filled {
                if !eof && filled - off < chunker.maxSize { break }
                let len = chunker.cut(UnsafeRawBufferPointer(rebasing: all[off..<filled]))
                b.cuts.append((off, len))
                off += len
            }
            let windowStart = mapPos
            if mapped != nil { mapPos += off } else if off < filled { carry = (b, off, filled - off) }
            // Hash (and compress) this window's chunks on all cores.
            let cuts = b.cuts
            let g = DispatchGroup()
            let parts = min(workers, max(1, cuts.count))
            for p in 0..<parts {
                queue.async(group: g) {
                    let h = SHA256Hasher()
                    var i = p * cuts.count / parts
                    let end = (p + 1) * cuts.count / parts
                    var verdict: Bool? = nil
                    var sinceProbe = 0
                    while i < end {
                        let c = cuts[i]
                        let chunk = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(b.buffer)[c.start..<(c.start + c.len)])
                        b.ids[i] = ObjectHash.id(.blob, chunk, hasher: h)
                        switch policy {
                        case .none: break
                        case .all: b.packed[i] = ObjectStore.encode(kind: .blob, chunk, policy: policy)
                        case .auto:
                            if sinceProbe == 16 { verdict = nil; sinceProbe = 0 }
                            b.packed[i] = ObjectStore.autoCompress(chunk, verdict: &verdict)
                            sinceProbe += 1
                        }
                        i += 1
                    }
                }
            }
            // While those run, write out the previous window (its buffer may hold our carry,
            // which was copied above already).
            if let (pb, pg) = inflight { try drain(pb, pg) }
            inflight = (b, g)
            // Everything before this window has been hashed and written: release its pages.
            if let m = mapped {
                let upTo = (windowStart / 4096) * 4096
                if upTo > released { m.release(released..<upTo); released = upTo }
            }
        }
        if let (pb, pg) = inflight { try drain(pb, pg) }
        let id = try builder.finish()
        return StoredFile(id: id, size: total, newBytes: newBytes)
    }
}
