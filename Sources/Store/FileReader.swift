import Dispatch
import Support

/// Streams a stored file (blob or chunk list) out in order, verifying every chunk against
/// its id. Chunks are verified on all cores in windows of bounded size while the previous
/// window is handed to the sink, so memory stays bounded for files of any size.
public struct FileReader {
    public let store: ObjectStore
    static let windowBytes = 8 << 20

    public init(store: ObjectStore) { self.store = store }

    /// The logical size of a file object.
    public func size(of id: ObjectId) throws -> UInt64 {
        guard let info = try store.info(id) else { throw StoreError.objectMissing(id, context: nil) }
        switch info.kind {
        case .blob: return UInt64(info.size)
        case .chunks: return try store.withObject(id) { _, b in try ChunkList.decode(b, id: id).totalSize }
        default: throw StoreError.wrongKind(id, expected: .blob, found: info.kind)
        }
    }

    /// Visits the chunk ids of a file in order (blob: itself), with their sizes.
    public func forEachChunk(_ id: ObjectId, _ body: (ObjectId, UInt64) throws -> Void) throws {
        guard let info = try store.info(id) else { throw StoreError.objectMissing(id, context: nil) }
        switch info.kind {
        case .blob: try body(id, UInt64(info.size))
        case .chunks:
            let list = try store.withObject(id) { _, b in try ChunkList.decode(b, id: id) }
            for p in list.parts {
                if list.level == 0 { try body(p.id, p.size) } else { try forEachChunk(p.id, body) }
            }
        default: throw StoreError.wrongKind(id, expected: .blob, found: info.kind)
        }
    }

    /// Verifies every chunk of the file and passes its bytes, in order, to `sink`.
    public func read(_ id: ObjectId, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var window: [(ObjectId, UInt64)] = []
        var windowSize: UInt64 = 0
        var pending: (Window, DispatchGroup)? = nil
        var spare: [Window] = []

        func launch() throws {
            let w = spare.popLast() ?? Window()
            w.prepare(window)
            let g = DispatchGroup()
            let store = self.store
            let parts = min(ProcessInfoLite.activeProcessorCount, max(1, window.count))
            for p in 0..<parts {
                DispatchQueue.global(qos: .userInitiated).async(group: g) {
                    w.fill(part: p, of: parts, store: store)
                }
            }
            if let (pw, pg) = pending { try finish(pw, pg) }
            pending = (w, g)
            window.removeAll(keepingCapacity: true)
            windowSize = 0
        }
        func finish(_ w: Window, _ g: DispatchGroup) throws {
            g.wait()
            if let e = w.error { throw e }
            try sink(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(w.buffer)[0..<w.total]))
            spare.append(w)
        }

        try forEachChunk(id) { cid, size in
            window.append((cid, size))
            windowSize += size
            if windowSize >= UInt64(FileReader.windowBytes) { try launch() }
        }
        if !window.isEmpty { try launch() }
        if let (pw, pg) = pending { try finish(pw, pg) }
    }

    /// A window of chunks verified into one buffer by several tasks.
    final class Window: @unchecked Sendable {
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 64)
        var chunks: [(ObjectId, UInt64)] = []
        var offsets: [Int] = []
        var total = 0
        var error: Error?
        let lock = NSLockLike()

        func prepare(_ c: [(ObjectId, UInt64)]) {
            chunks = c
            offsets = []
            offsets.reserveCapacity(c.count)
            total = 0
            for (_, s) in c { offsets.append(total); total += Int(s) }
            if buffer.count < total {
                buffer.deallocate()
                buffer = .allocate(byteCount: max(total, FileReader.windowBytes + (1 << 20)), alignment: 64)
            }
            error = nil
        }

        func fill(part: Int, of parts: Int, store: ObjectStore) {
            let h = SHA256Hasher()
            var i = part * chunks.count / parts
            let end = (part + 1) * chunks.count / parts
            while i < end {
                let (id, size) = chunks[i]
                let dst = UnsafeMutableRawBufferPointer(rebasing: buffer[offsets[i]..<(offsets[i] + Int(size))])
                do {
                    try store.withObject(id, hasher: h) { kind, bytes in
                        guard kind == .blob else { throw StoreError.wrongKind(id, expected: .blob, found: kind) }
                        guard bytes.count == Int(size) else {
                            throw StoreError.objectCorrupt(id, location: "chunk list", reason: "chunk size \(bytes.count) differs from the listed \(size)")
                        }
                        dst.copyMemory(from: bytes)
                    }
                } catch {
                    lock.withLock { if self.error == nil { self.error = error } }
                    return
                }
                i += 1
            }
        }

        deinit { buffer.deallocate() }
    }
}
