import Support

/// Builds a stored file from parts that are already stored chunks (by id and size) and new
/// bytes, without re-reading the stored chunks where it can: the result has exactly the id
/// `FileWriter.store` would give the same bytes.
///
/// A chunk's end depends only on the bytes from its start up to its end (FastCDC examines
/// nothing past the cut; a forced cut at the maximum size examines nothing either), so a
/// stored chunk that starts at a chunk boundary of the new file, and was not the last chunk of
/// the file it came from, is cut the same way again. New bytes are cut with the chunker; after
/// them, stored chunks are read and re-cut until a cut lands on the start of one of them: from
/// there on the boundaries are in step again and the remaining stored chunks are reused as
/// they are. The chunk lists are built by `ChunkListBuilder`, as `FileWriter` builds them.
final class ChunkedFileBuilder {
    let store: ObjectStore
    let chunker: Chunker
    let dryRun: Bool
    private var builder: ChunkListBuilder
    /// Bytes not yet cut; they start at a chunk boundary of the new file.
    private var pending: [UInt8] = []
    private var head = 0
    /// Stored chunks whose bytes are in `pending`: offset in `pending`, id, size, reusable.
    private var marks: [(offset: Int, id: ObjectId, size: Int, reusable: Bool)] = []
    private var markHead = 0
    /// Whether a chunk has been emitted (the file is then chunked, not a single blob).
    private var emitted = false
    private(set) var total: UInt64 = 0
    private(set) var newBytes: UInt64 = 0
    private let hasher = SHA256Hasher()

    init(store: ObjectStore, chunker: Chunker, dryRun: Bool = false) {
        self.store = store
        self.chunker = chunker
        self.dryRun = dryRun
        builder = ChunkListBuilder(put: { [store] bytes in dryRun ? ObjectHash.id(.chunks, bytes) : try store.put(.chunks, bytes) })
    }

    /// Appends a stored chunk. `reusable`: it was not the last chunk of its file. `bytes`
    /// reads it (called only when the chunk cannot be reused as it is).
    func append(chunk id: ObjectId, size: Int, reusable: Bool, bytes: () throws -> [UInt8]) throws {
        if emitted && head == pending.count && reusable {
            try builder.add(id, size: UInt64(size))
            total += UInt64(size)
            return
        }
        let b = try bytes()
        precondition(b.count == size)
        marks.append((pending.count, id, size, reusable))
        pending += b
        try cut(final: false)
    }

    /// Appends new bytes.
    func append<C: Collection>(bytes: C) throws where C.Element == UInt8 {
        pending += bytes
        if pending.count - head > 4 * chunker.maxSize { try cut(final: false) }
    }

    private func emitNew(_ r: Range<Int>) throws {
        let id = pending.withUnsafeBytes { b -> ObjectId in ObjectHash.id(.blob, UnsafeRawBufferPointer(rebasing: b[r]), hasher: hasher) }
        if !dryRun && !store.contains(id) {
            try pending.withUnsafeBytes { b in try store.put(id: id, kind: .blob, payload: UnsafeRawBufferPointer(rebasing: b[r])) }
            newBytes += UInt64(r.count)
            try store.rollIfLarge()
        }
        try builder.add(id, size: UInt64(r.count))
        total += UInt64(r.count)
        emitted = true
    }

    private func cut(final: Bool) throws {
        while head < pending.count {
            while markHead < marks.count && marks[markHead].offset < head { markHead += 1 }
            if emitted, markHead < marks.count, marks[markHead].offset == head, marks[markHead].reusable {
                let m = marks[markHead]
                try builder.add(m.id, size: UInt64(m.size))
                total += UInt64(m.size)
                head += m.size
                markHead += 1
                continue
            }
            let avail = pending.count - head
            if !final && avail <= chunker.maxSize { break }
            let len = pending.withUnsafeBytes { chunker.cut(UnsafeRawBufferPointer(rebasing: $0[head..<pending.count])) }
            try emitNew(head..<(head + len))
            head += len
        }
        if head > 0 && (head == pending.count || head > 1 << 20) {
            pending.removeFirst(head)
            marks.removeFirst(markHead)
            for i in marks.indices { marks[i].offset -= head }
            markHead = 0
            head = 0
        }
    }

    /// Stores what is left and the chunk lists; the file's id and size.
    func finish() throws -> StoredFile {
        if !emitted && pending.count - head <= chunker.maxSize {
            let id = pending.withUnsafeBytes { b -> ObjectId in ObjectHash.id(.blob, UnsafeRawBufferPointer(rebasing: b[head...]), hasher: hasher) }
            let n = pending.count - head
            if !dryRun && !store.contains(id) {
                try pending.withUnsafeBytes { b in try store.put(id: id, kind: .blob, payload: UnsafeRawBufferPointer(rebasing: b[head...])) }
                newBytes += UInt64(n)
            }
            return StoredFile(id: id, size: UInt64(n), newBytes: newBytes)
        }
        try cut(final: true)
        let id = try builder.finish()
        return StoredFile(id: id, size: total, newBytes: newBytes)
    }
}
