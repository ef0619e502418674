#if canImport(Glibc)
import Glibc
#endif
import Support

/// What the store knows of an object without reading its payload.
public struct ObjectInfo: Sendable {
    public var kind: ObjectKind
    public var size: Int
}

/// When payloads are zlib-compressed (setting `core.compression`).
public enum CompressionPolicy: String, Sendable, CaseIterable {
    /// Data stays raw; metadata (trees, commits, chunk lists) is compressed.
    case none
    /// Data is compressed when a probe of its first 4 KiB shrinks well (text-like data);
    /// incompressible data (images, archives) costs only the probe.
    case auto
    /// Every object is compressed when that makes it smaller.
    case all
}

/// Where objects a store lacks can be fetched from: a lazy clone's remote. Set on the
/// store by `Repository` when a remote is marked lazy; nil in a complete repository.
public protocol MissingObjectSource: AnyObject, Sendable {
    /// Makes `ids` local (as a new pack in the store's directory). Throws when one of
    /// them cannot be had.
    func fetchMissing(_ ids: [ObjectId]) throws
}

/// The content-addressed object database: a directory of packs with sorted indexes.
/// Reads verify every payload against its id. Safe for concurrent readers; writers go
/// through `PackWriter` under the repository lock.
public final class ObjectStore: @unchecked Sendable {
    public let directory: String
    public let durable: Bool
    public var compression: CompressionPolicy
    private(set) public var packs: [Pack] = []
    private let lock = Lock()
    /// The pack being written by this process, consulted for dedup and reads.
    public var pending: PackWriter?
    /// Fetches what this store lacks (a lazy clone); nil when every object must be local.
    public var missingSource: (any MissingObjectSource)?
    /// Large files are read into the store through a memory map (false: with read(2)).
    public var mapFiles = true

    public init(directory: String, durable: Bool = true, compression: CompressionPolicy = .none) throws {
        self.directory = directory
        self.durable = durable
        self.compression = compression
        try reload()
    }

    /// Re-reads the list of packs (after another process added or removed some).
    public func reload() throws {
        guard FS.isDirectory(directory) else { lock.withLock { packs = [] }; return }
        let names = try sys { try FS.list(directory) }
            .map(\.name)
            .filter { $0.hasPrefix("pack-") && $0.hasSuffix(".idx") }
            .map { String($0.dropLast(4)) }
            .sorted()
        var out: [Pack] = []
        let old = Dictionary(packs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for n in names {
            if let p = old[n] { out.append(p); continue }
            guard FS.exists(directory + "/" + n + ".pack") else { continue }
            do { out.append(try Pack(directory: directory, name: n)) } catch StoreError.system(let e) where e.code == ENOENT {
                continue  // removed by a concurrent gc since we listed it
            }
        }
        lock.withLock { packs = out }
    }

    func locate(_ id: ObjectId) -> (Pack, Int)? {
        let ps = lock.withLock { packs }
        for p in ps.reversed() { if let i = p.index.find(id) { return (p, i) } }
        return nil
    }

    public func contains(_ id: ObjectId) -> Bool {
        if pending?.contains(id) == true { return true }
        if locate(id) != nil { return true }
        return false
    }

    /// In a published pack (not counting this process's pending one). Thread-safe.
    public func containsCommitted(_ id: ObjectId) -> Bool { locate(id) != nil }

    public func info(_ id: ObjectId) throws -> ObjectInfo? {
        if let e = pending?.entry(id) { return ObjectInfo(kind: e.kind, size: Int(e.size)) }
        guard let (p, i) = locate(id) else { return nil }
        let e = try p.index.entry(at: i)
        return ObjectInfo(kind: e.kind, size: Int(e.size))
    }

    /// Fetches missing `ids` from `missingSource` in one batch. False when there is no
    /// source (a complete repository).
    @discardableResult
    public func fault(_ ids: [ObjectId]) throws -> Bool {
        guard let source = missingSource else { return false }
        let want = ids.filter { !contains($0) }
        if want.isEmpty { return true }
        try source.fetchMissing(want)
        try reload()
        return true
    }

    /// `info`, fetching the object first when it is missing and a source is set.
    public func infoFetching(_ id: ObjectId) throws -> ObjectInfo? {
        if let i = try info(id) { return i }
        return try fault([id]) ? try info(id) : nil
    }

    /// Makes the given file objects (blobs or chunk lists) and all their chunks local,
    /// fetching what is missing in batches: one round per chunk-list level. A no-op in a
    /// complete repository.
    public func ensureLocal(files ids: [ObjectId]) throws {
        guard missingSource != nil else { return }
        var level = Array(Set(ids))
        while !level.isEmpty {
            try fault(level)
            var next = Set<ObjectId>()
            for id in level {
                guard let info = try info(id) else { throw StoreError.objectMissing(id, context: nil) }
                guard info.kind == .chunks else { continue }
                let list = try withObject(id) { _, b in try ChunkList.decode(b, id: id) }
                for p in list.parts where list.level > 0 || !contains(p.id) { next.insert(p.id) }
            }
            level = Array(next)
        }
    }

    /// Calls `body` with the verified payload of `id`. Raw payloads are passed straight
    /// from the mapped pack (no copy). Throws `objectMissing` / `objectCorrupt`.
    public func withObject<T>(_ id: ObjectId, hasher: SHA256Hasher? = nil,
                              _ body: (ObjectKind, UnsafeRawBufferPointer) throws -> T) throws -> T {
        let (pack, entry, stored, map) = try locateStored(id)
        defer { pack.noteRead(stored.count) }
        let h = hasher ?? SHA256Hasher()
        let loc = "\(pack.name).pack at offset \(entry.offset)"
        return try withExtendedLifetime(map) {
            switch entry.codec {
            case .raw:
                guard stored.count == Int(entry.size) else {
                    throw StoreError.objectCorrupt(id, location: loc, reason: "stored size differs from the recorded size")
                }
                guard ObjectHash.id(entry.kind, stored, hasher: h) == id else {
                    throw StoreError.objectCorrupt(id, location: loc, reason: "content does not match its id")
                }
                return try body(entry.kind, stored)
            case .zlib:
                // entry.size is within the format's limits (checked by PackIndex.entry).
                let out = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(entry.size), alignment: 16)
                defer { out.deallocate() }
                do { try Zlib.decompress(stored, into: out) } catch {
                    throw StoreError.objectCorrupt(id, location: loc, reason: "\(error)")
                }
                let ro = UnsafeRawBufferPointer(out)
                guard ObjectHash.id(entry.kind, ro, hasher: h) == id else {
                    throw StoreError.objectCorrupt(id, location: loc, reason: "content does not match its id")
                }
                return try body(entry.kind, ro)
            }
        }
    }

    /// Verifies `id` against its content without holding its payload: a compressed one is
    /// inflated and hashed 64 KiB at a time. Returns its kind and size.
    @discardableResult
    public func verify(_ id: ObjectId, hasher: SHA256Hasher? = nil) throws -> ObjectInfo {
        let (pack, entry, stored, map) = try locateStored(id)
        defer { pack.noteRead(stored.count) }
        let h = hasher ?? SHA256Hasher()
        let loc = "\(pack.name).pack at offset \(entry.offset)"
        return try withExtendedLifetime(map) {
            let size = Int(entry.size)
            switch entry.codec {
            case .raw:
                guard stored.count == size else {
                    throw StoreError.objectCorrupt(id, location: loc, reason: "stored size differs from the recorded size")
                }
                guard ObjectHash.id(entry.kind, stored, hasher: h) == id else {
                    throw StoreError.objectCorrupt(id, location: loc, reason: "content does not match its id")
                }
            case .zlib:
                h.reset()
                h.update(ObjectHash.header(entry.kind, size: size))
                let n: Int
                do { n = try Zlib.inflatePieces(stored, limit: size) { h.update($0) } } catch {
                    throw StoreError.objectCorrupt(id, location: loc, reason: "\(error)")
                }
                guard n == size else {
                    throw StoreError.objectCorrupt(id, location: loc, reason: "inflates to \(n) bytes, the index says \(size)")
                }
                guard ObjectId(bytes: h.finalize()) == id else {
                    throw StoreError.objectCorrupt(id, location: loc, reason: "content does not match its id")
                }
            }
            return ObjectInfo(kind: entry.kind, size: size)
        }
    }

    /// Reads blob `id` straight into `dst` (which must be its size) and verifies it there:
    /// no buffer of its own, so a file's chunks cost only the caller's window.
    public func readBlob(_ id: ObjectId, into dst: UnsafeMutableRawBufferPointer, hasher: SHA256Hasher? = nil) throws {
        let (pack, entry, stored, map) = try locateStored(id)
        defer { pack.noteRead(stored.count) }
        guard entry.kind == .blob else { throw StoreError.wrongKind(id, expected: .blob, found: entry.kind) }
        let loc = "\(pack.name).pack at offset \(entry.offset)"
        guard Int(entry.size) == dst.count else {
            throw StoreError.objectCorrupt(id, location: "chunk list", reason: "chunk size \(entry.size) differs from the listed \(dst.count)")
        }
        try withExtendedLifetime(map) {
            switch entry.codec {
            case .raw:
                guard stored.count == dst.count else {
                    throw StoreError.objectCorrupt(id, location: loc, reason: "stored size differs from the recorded size")
                }
                if dst.count > 0 { dst.copyMemory(from: stored) }
            case .zlib:
                do { try Zlib.decompress(stored, into: dst) } catch {
                    throw StoreError.objectCorrupt(id, location: loc, reason: "\(error)")
                }
            }
        }
        guard ObjectHash.id(.blob, UnsafeRawBufferPointer(dst), hasher: hasher ?? SHA256Hasher()) == id else {
            throw StoreError.objectCorrupt(id, location: loc, reason: "content does not match its id")
        }
    }

    /// Finds `id` (re-reading the pack list, then fetching from a lazy clone's remote when
    /// it is missing) and returns its stored bytes, checked against the entry header.
    private func locateStored(_ id: ObjectId) throws -> (pack: Pack, entry: PackEntry, stored: UnsafeRawBufferPointer, map: MappedFile) {
        var found = locate(id)
        if found == nil {
            // Another process may have written a pack since we looked (or gc replaced one).
            try reload()
            found = locate(id)
        }
        if found == nil, try fault([id]) { found = locate(id) }
        guard var (pack, i) = found else { throw StoreError.objectMissing(id, context: nil) }
        let located: (entry: PackEntry, storedBytes: UnsafeRawBufferPointer, map: MappedFile)
        do { located = try pack.stored(at: i) } catch StoreError.system(let e) where e.code == ENOENT {
            // gc replaced the pack after we listed it: look again.
            try reload()
            guard let again = locate(id) else { throw StoreError.objectMissing(id, context: nil) }
            (pack, i) = again
            located = try pack.stored(at: i)
        }
        return (pack, located.entry, located.storedBytes, located.map)
    }

    /// The verified payload as an array.
    public func read(_ id: ObjectId) throws -> (kind: ObjectKind, data: [UInt8]) {
        try withObject(id) { k, b in (k, Array(b)) }
    }

    /// Reads an object that must be of `kind`.
    public func read(_ id: ObjectId, as kind: ObjectKind) throws -> [UInt8] {
        let (k, d) = try read(id)
        guard k == kind else { throw StoreError.wrongKind(id, expected: kind, found: k) }
        return d
    }

    /// Every id with the given hex prefix (at most `limit`).
    public func ids(withHexPrefix hex: String, limit: Int = 16) -> [ObjectId] {
        let u = Array(hex.lowercased().utf8)
        guard u.allSatisfy({ Hex.value($0) != nil }) else { return [] }
        let even = u.count / 2 * 2
        guard let bytes = Hex.decode(String(decoding: u[0..<even], as: UTF8.self)) else { return [] }
        let odd: UInt8? = u.count % 2 == 1 ? Hex.value(u[u.count - 1]) : nil
        var seen = Set<ObjectId>()
        for p in lock.withLock({ packs }) {
            for id in p.index.ids(withPrefix: bytes, oddNibble: odd, limit: limit) { seen.insert(id) }
        }
        return seen.sorted()
    }

    /// Starts a pack for this process's writes; `commitPending()` makes it visible.
    public func beginWrite() throws -> PackWriter {
        if let p = pending { return p }
        try sys { try FS.mkdirs(directory) }
        let w = try PackWriter(directory: directory, durable: durable)
        pending = w
        return w
    }

    /// Finishes the pending pack (fsync + rename + index) and adds it to the store.
    public func commitPending() throws {
        guard let w = pending else { return }
        pending = nil
        if try w.finish() != nil { try reload() }
    }

    /// Objects per pack before a writer publishes it and starts another, so that the
    /// writer's table (and memory) stays bounded however much is added at once.
    public static let maxPendingObjects = 262_144

    /// Publishes the pending pack if it has grown past `maxPendingObjects`.
    public func rollIfLarge() throws {
        if let w = pending, w.count >= ObjectStore.maxPendingObjects { try commitPending() }
    }

    /// Drops the pending pack without publishing it.
    public func abortPending() { pending = nil }

    /// Stores a payload (computing its id); returns the id. Deduplicates against the
    /// whole store.
    @discardableResult
    public func put(_ kind: ObjectKind, _ payload: UnsafeRawBufferPointer, hasher: SHA256Hasher? = nil) throws -> ObjectId {
        let id = ObjectHash.id(kind, payload, hasher: hasher ?? SHA256Hasher())
        try put(id: id, kind: kind, payload: payload)
        return id
    }

    @discardableResult
    public func put(_ kind: ObjectKind, _ payload: [UInt8]) throws -> ObjectId {
        try payload.withUnsafeBytes { try put(kind, $0) }
    }

    /// Stores a payload whose id is known, choosing the codec by policy.
    public func put(id: ObjectId, kind: ObjectKind, payload: UnsafeRawBufferPointer) throws {
        if let why = FormatLimits.sizeProblem(kind, payload.count) {
            throw StoreError.invalid("cannot store object \(id.hex): \(why)")
        }
        if contains(id) { return }
        let w = try beginWrite()
        if let z = ObjectStore.encode(kind: kind, payload, policy: compression) {
            try z.withUnsafeBytes { try w.put(id: id, kind: kind, codec: .zlib, rawSize: payload.count, stored: $0) }
        } else {
            try w.put(id: id, kind: kind, codec: .raw, rawSize: payload.count, stored: payload)
        }
    }

    /// The compressed payload when the policy says to compress it and it pays
    /// (≤ 90% of the raw size); nil to store raw. Thread-safe.
    public static func encode(kind: ObjectKind, _ payload: UnsafeRawBufferPointer, policy: CompressionPolicy) -> [UInt8]? {
        if payload.count < 64 { return nil }
        let limit = payload.count * 9 / 10
        if kind != .blob { return Zlib.compress(payload, level: 6, limit: limit) }
        switch policy {
        case .none: return nil
        case .all: return Zlib.compress(payload, level: 1, limit: limit)
        case .auto:
            var verdict: Bool? = nil
            return autoCompress(payload, verdict: &verdict)
        }
    }

    /// The `auto` policy: compress when the data looks text-like. `verdict` carries the
    /// answer of the last probe (zlib level 1 on the first 1 KiB must reach 75%); nil
    /// probes again. Chunks of one file share a verdict for 16 chunks at a time, so
    /// incompressible data pays a probe on ~0.4% of its bytes.
    public static func autoCompress(_ payload: UnsafeRawBufferPointer, verdict: inout Bool?) -> [UInt8]? {
        if payload.count < 64 { return nil }
        if verdict == nil {
            let probe = UnsafeRawBufferPointer(rebasing: payload[0..<min(payload.count, 1024)])
            verdict = Zlib.compress(probe, level: 1, limit: probe.count * 3 / 4) != nil
        }
        guard verdict == true else { return nil }
        return Zlib.compress(payload, level: 1, limit: payload.count * 9 / 10)
    }

    /// Copies the objects of `packs` that `keep` selects into one new pack (verifying each,
    /// copying stored bytes without recompression), then deletes the old packs. The new
    /// pack is durable before any old one is removed. Callers hold the repository lock.
    public func repack(_ packs: [Pack], keep: (ObjectId) -> Bool) throws {
        var w = try PackWriter(directory: directory, durable: durable)
        var written: [String] = []
        let copied = ReachabilityMarks(packs: packs)
        let h = SHA256Hasher()
        for p in packs {
            for i in 0..<p.index.count {
                let id = p.index.id(at: i)
                guard keep(id), copied.insert(id) else { continue }
                let e = try p.index.entry(at: i)
                let (_, stored, map) = try p.stored(at: i)
                try withExtendedLifetime(map) {
                    // Verify, then copy as stored.
                    try withObject(id, hasher: h) { _, _ in }
                    try w.put(id: id, kind: e.kind, codec: e.codec, rawSize: Int(e.size), stored: stored)
                }
                if w.count >= ObjectStore.maxPendingObjects {
                    if let n = try w.finish() { written.append(n) }
                    w = try PackWriter(directory: directory, durable: durable)
                }
            }
        }
        if let n = try w.finish() { written.append(n) }
        for p in packs where !written.contains(p.name) {
            try? FS.unlink(p.index.path)
            try? FS.unlink(p.packPath)
        }
        FS.syncDirectory(directory)
        try reload()
    }

    /// Every id in every pack (for fsck and gc).
    public func allIds() -> [ObjectId] {
        var out: [ObjectId] = []
        for p in lock.withLock({ packs }) {
            for i in 0..<p.index.count { out.append(p.index.id(at: i)) }
        }
        return out
    }
}
