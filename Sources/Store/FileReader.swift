#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Support
import Synchronization

/// Streams a stored file (blob or chunk list) out in order, verifying every chunk against
/// its id. Chunks are verified on all cores in windows of bounded size while the previous
/// window is handed to the sink, so memory stays bounded for files of any size.
public struct FileReader {
    public let store: ObjectStore
    static let windowBytes = 8 << 20

    public init(store: ObjectStore) { self.store = store }

    /// The logical size of a file object.
    public func size(of id: ObjectId) throws -> UInt64 {
        guard let info = try store.infoFetching(id) else { throw StoreError.objectMissing(id, context: nil) }
        switch info.kind {
        case .blob: return UInt64(info.size)
        case .chunks: return try store.withObject(id) { _, b in try ChunkList.decode(b, id: id).totalSize }
        default: throw StoreError.wrongKind(id, expected: .blob, found: info.kind)
        }
    }

    /// Visits the chunk ids of a file in order (blob: itself), with their sizes.
    /// Every list's parts are checked against the list that names it (level one lower,
    /// size as declared), so the recursion is at most 256 levels deep.
    public func forEachChunk(_ id: ObjectId, _ body: (ObjectId, UInt64) throws -> Void) throws {
        guard let info = try store.infoFetching(id) else { throw StoreError.objectMissing(id, context: nil) }
        switch info.kind {
        case .blob: try body(id, UInt64(info.size))
        case .chunks:
            let list = try store.withObject(id) { _, b in try ChunkList.decode(b, id: id) }
            try forEachChunk(of: list, body)
        default: throw StoreError.wrongKind(id, expected: .blob, found: info.kind)
        }
    }

    private func forEachChunk(of list: ChunkList, _ body: (ObjectId, UInt64) throws -> Void) throws {
        for p in list.parts {
            if list.level == 0 { try body(p.id, p.size); continue }
            let sub = try store.withObject(p.id) { kind, b -> ChunkList in
                guard kind == .chunks else { throw StoreError.wrongKind(p.id, expected: .chunks, found: kind) }
                return try ChunkList.decode(b, id: p.id)
            }
            try sub.checkAsPart(of: list.level, declaredSize: p.size, id: p.id)
            try forEachChunk(of: sub, body)
        }
    }

    /// Verifies every chunk of the file and passes its bytes, in order, to `sink`.
    public func read(_ id: ObjectId, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        // A lazy clone fetches the file's missing chunks in one batch, not one by one.
        try store.ensureLocal(files: [id])
        var window: [(ObjectId, UInt64)] = []
        var windowSize: UInt64 = 0
        var pending: (Window, DispatchGroup)? = nil
        var spare: [Window] = []

        func launch() throws {
            let w = spare.popLast() ?? Window()
            w.prepare(window)
            let g = DispatchGroup()
            let store = self.store
            let parts = min(CPU.count, max(1, window.count))
            // One background job fills the window with a parallel loop (it is one of the
            // loop's workers) while this thread hands the previous window to the sink.
            DispatchQueue.global(qos: .userInitiated).async(group: g) {
                w.fill(threads: parts, store: store)
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

    /// Whether the file at `path` holds exactly the content of stored file `id`. Reads the
    /// file once and hashes it along the stored chunk boundaries on all cores (no chunking
    /// needed), stopping at the first difference. Used to confirm racy or touched files.
    public func fileMatches(path: String, id: ObjectId, size: UInt64) throws -> Bool {
        let f = try sys { try FileDescriptor(path: path, flags: O_RDONLY) }
        guard try sys({ try f.stat() }).size == size else { return false }
        var window: [(ObjectId, UInt64)] = []
        var windowBytes = 0
        var offset: UInt64 = 0
        var same = true
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FileReader.windowBytes + (1 << 20), alignment: 64)
        defer { buffer.deallocate() }
        func check() throws {
            guard same, !window.isEmpty else { return }
            let n = try sys { try f.pread(into: buffer.baseAddress!, count: windowBytes, offset: offset) }
            guard n == windowBytes else { same = false; return }
            let chunks = window
            // Set by any worker, read by all to stop early: atomic (ThreadSanitizer found
            // the plain Bool this was a data race).
            final class Flag: @unchecked Sendable {
                let mismatchFlag = Atomic<Bool>(false)
                var mismatch: Bool { mismatchFlag.load(ordering: .relaxed) }
                func set() { mismatchFlag.store(true, ordering: .relaxed) }
                let buf: UnsafeRawBufferPointer
                init(_ b: UnsafeRawBufferPointer) { buf = b }
            }
            let flag = Flag(UnsafeRawBufferPointer(buffer))
            var startList: [Int] = []
            var acc = 0
            for (_, s) in chunks { startList.append(acc); acc += Int(s) }
            let starts = startList
            let parts = min(CPU.count, chunks.count)
            let hashers = (0..<parts).map { _ in SHA256Hasher() }
            Parallel.forEachWorker(chunks.count, threads: parts) { i, w in
                if flag.mismatch { return }
                let r = UnsafeRawBufferPointer(rebasing: flag.buf[starts[i]..<(starts[i] + Int(chunks[i].1))])
                if ObjectHash.id(.blob, r, hasher: hashers[w]) != chunks[i].0 { flag.set() }
            }
            if flag.mismatch { same = false }
            offset += UInt64(windowBytes)
            window.removeAll(keepingCapacity: true)
            windowBytes = 0
        }
        try forEachChunk(id) { cid, csize in
            guard same else { return }
            window.append((cid, csize))
            windowBytes += Int(csize)
            if windowBytes >= FileReader.windowBytes { try check() }
        }
        try check()
        return same && offset == size
    }

    /// A window of chunks verified into one buffer by several tasks.
    final class Window: @unchecked Sendable {
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 64)
        var chunks: [(ObjectId, UInt64)] = []
        var offsets: [Int] = []
        var total = 0
        var error: Error?
        var hashers: [SHA256Hasher] = []
        let lock = Lock()

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

        /// Reads every chunk of the window into its place, chunks handed out one at a time
        /// to up to `threads` workers (one hasher each); the first error stops the rest.
        func fill(threads: Int, store: ObjectStore) {
            while hashers.count < min(threads, chunks.count) { hashers.append(SHA256Hasher()) }
            let hashers = self.hashers
            Parallel.forEachWorker(chunks.count, threads: threads) { i, w in
                if lock.withLock({ self.error != nil }) { return }
                let (id, size) = chunks[i]
                let dst = UnsafeMutableRawBufferPointer(rebasing: buffer[offsets[i]..<(offsets[i] + Int(size))])
                do {
                    // Inflated and verified in place: no buffer beyond the window.
                    try store.readBlob(id, into: dst, hasher: hashers[w])
                } catch {
                    lock.withLock { if self.error == nil { self.error = error } }
                }
            }
        }

        deinit { buffer.deallocate() }
    }
}
