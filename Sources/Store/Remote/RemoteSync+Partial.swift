#if canImport(Glibc)
import Glibc
#endif
import Support

/// Partial transfers: single objects read out of remote packs with ranged GETs, lazy
/// (metadata-only) fetches whose file data comes on demand, and shallow (`--depth N`)
/// fetches.
extension RemoteSync {
    /// Where `id` sits on the remote: its pack and index entry (from a full or a metadata
    /// index). An entry's stored bytes are never more than its raw size (zlib is kept only
    /// when it saves 10%), so `offset ..< offset + 44 + size` holds it whole.
    func remoteLocate(_ id: ObjectId) throws -> (pack: String, entry: PackEntry)? {
        for (name, idx) in remoteIndexes { if let i = idx.find(id) { return (name, try idx.entry(at: i)) } }
        for (name, idx) in remoteMetaIndexes { if let i = idx.find(id) { return (name, try idx.entry(at: i)) } }
        return nil
    }

    /// Locates `ids`, loading full indexes of packs known only by their metadata index until
    /// all are found: first the packs that held objects found before (a file's chunks sit
    /// beside its chunk list), then the newest packs. Returns what could not be found.
    func locateAll(_ ids: [ObjectId], into found: inout [ObjectId: (pack: String, entry: PackEntry)]) throws -> [ObjectId] {
        var missing: [ObjectId] = []
        for id in ids {
            if let l = try remoteLocate(id) { found[id] = l } else { missing.append(id) }
        }
        if missing.isEmpty || remoteMetaIndexes.isEmpty { return missing }
        var order = touchedPacks.reversed().filter { remoteMetaIndexes[$0] != nil }
        order += remoteMetaIndexes.keys.filter { !order.contains($0) }
            .sorted { (remotePackModified[$0] ?? 0, $0) > (remotePackModified[$1] ?? 0, $1) }
        for name in order where !missing.isEmpty {
            try loadFullIndex(name)
            let idx = remoteIndexes[name]!
            missing = try missing.filter { id in
                guard let i = idx.find(id) else { return true }
                found[id] = (name, try idx.entry(at: i))
                return false
            }
        }
        return missing
    }

    /// Downloads exactly `ids` (not what they refer to) and adds them to the store. Per
    /// remote pack: when the wanted objects make up most of it, the whole pack comes (and
    /// is verified whole); otherwise only their byte ranges, neighbours merged into one
    /// ranged GET (gaps under 256 KiB read through, at most 16 MiB a request), several
    /// requests in parallel. Every object is checked against its id before it is written
    /// into one new local pack. Returns the ids it fetched.
    @discardableResult
    func fetchObjects(_ ids: [ObjectId], report: inout FetchReport) throws -> [ObjectId] {
        if !indexesLoaded { try refreshIndexes() }
        var wanted: [ObjectId] = []
        var seen = Set<ObjectId>()
        for id in ids where !repo.store.contains(id) && seen.insert(id).inserted { wanted.append(id) }
        var found: [ObjectId: (pack: String, entry: PackEntry)] = [:]
        var missing = try locateAll(wanted, into: &found)
        if !missing.isEmpty {
            // Pushed since the indexes were loaded?
            try refreshIndexes()
            missing = try locateAll(missing, into: &found)
        }
        if let id = missing.first {
            throw RemoteError(.fetch, subject: id.hex, "object \(id.hex) is neither in this repository nor on remote '\(spec.name)' (\(transport.display))")
        }
        var byPack: [String: [(id: ObjectId, entry: PackEntry)]] = [:]
        for id in wanted {
            let (pack, entry) = found[id]!
            byPack[pack, default: []].append((id, entry))
        }
        for p in byPack.keys where !touchedPacks.contains(p) { touchedPacks.append(p) }
        if byPack.isEmpty { return [] }
        var wholePacks: [String] = []
        struct Span { var pack: String; var start: Int; var end: Int; var objects: [(id: ObjectId, entry: PackEntry)] }
        var spans: [Span] = []
        for (pack, objs) in byPack.sorted(by: { $0.key < $1.key }) {
            let packSize = remotePackSizes[pack] ?? Int.max
            let bytes = objs.reduce(0) { $0 + Int($1.entry.size) + Pack.entryHeaderSize }
            if bytes * 2 >= packSize { wholePacks.append(pack); continue }
            for o in objs.sorted(by: { $0.entry.offset < $1.entry.offset }) {
                let s = Int(o.entry.offset), e = min(s + Pack.entryHeaderSize + Int(o.entry.size), packSize)
                if var last = spans.last, last.pack == pack, s - last.end < 256 << 10, e - last.start <= 16 << 20 {
                    last.end = max(last.end, e); last.objects.append(o); spans[spans.count - 1] = last
                } else {
                    spans.append(Span(pack: pack, start: s, end: e, objects: [o]))
                }
            }
        }
        var fetched: [ObjectId] = []
        if !wholePacks.isEmpty {
            // Per process: replicas sharing a cache fetch without the repository's lock.
            let inDir = cacheDir + "/incoming-\(getpid())"
            try FS.mkdirs(inDir)
            try fetchPacks(wholePacks, into: inDir, report: &report)
            FS.removeTree(inDir)
            // Everything a whole pack brought is new here (the caller walks it).
            for p in wholePacks {
                let idx = try PackIndex(path: repo.store.directory + "/" + p + ".idx")
                for i in 0..<idx.count { fetched.append(idx.id(at: i)) }
            }
        }
        if spans.isEmpty { return fetched }
        // Ranged reads in parallel; each span is verified and appended to one new pack as it
        // arrives, so memory stays at a few spans whatever the total.
        final class State: @unchecked Sendable {
            var error: Error?; var got: Int64 = 0; var objects = 0; let lock = Lock()
            let writer: PackWriter
            init(_ w: PackWriter) { writer = w }
        }
        let state = State(try PackWriter(directory: repo.store.directory, durable: repo.durable))
        let todo = spans
        let transport = self.transport, progress = self.progress
        let total = Int64(spans.reduce(0) { $0 + $1.end - $1.start })
        let workers = min(max(1, jobs), todo.count)
        let hashers = (0..<workers).map { _ in SHA256Hasher() }
        Parallel.forEachWorker(todo.count, threads: workers) { k, w in
            if state.lock.withLock({ state.error != nil }) { return }  // stop at the first failure
            let h = hashers[w]
            let span = todo[k]
            do {
                let key = "packs/\(span.pack).pack"
                let bytes = try transport.get(key, range: span.start..<span.end)
                guard bytes.count == span.end - span.start else {
                    throw RemoteError(.fetch, remote: transport.display, subject: "packs/\(span.pack).pack", "short read of \(span.pack).pack (\(bytes.count) of \(span.end - span.start) bytes)")
                }
                for o in span.objects {
                    let at = Int(o.entry.offset) - span.start
                    let disagrees = RemoteError(.fetch, remote: transport.display, subject: o.id.hex, "the entry of object \(o.id.hex) in \(span.pack).pack disagrees with its index")
                    guard at + Pack.entryHeaderSize <= bytes.count else { throw disagrees }
                    let (hdrOK, storedLen) = bytes.withUnsafeBytes { b -> (Bool, Int) in
                        let hdr = UnsafeRawBufferPointer(rebasing: b[at..<(at + Pack.entryHeaderSize)])
                        let storedLen = Int(UInt32(littleEndian: hdr.loadUnaligned(fromByteOffset: 40, as: UInt32.self)))
                        let rawLen = UInt32(littleEndian: hdr.loadUnaligned(fromByteOffset: 36, as: UInt32.self))
                        return (ObjectId(hdr, offset: 0) == o.id && hdr[32] == o.entry.kind.rawValue && hdr[33] == o.entry.codec.rawValue
                                && rawLen == o.entry.size, storedLen)
                    }
                    // A stored length past what zlib could ever need for the raw size is a lie.
                    guard hdrOK, storedLen <= Int(o.entry.size) + Int(o.entry.size) / 100 + 1024 else { throw disagrees }
                    let start = at + Pack.entryHeaderSize
                    // Stored bytes larger than the raw size (not written by mlrepo, but legal): read them.
                    let payload = start + storedLen <= bytes.count ? Array(bytes[start..<(start + storedLen)])
                        : try transport.get(key, range: (span.start + start)..<(span.start + start + storedLen))
                    guard payload.count == storedLen else { throw disagrees }
                    try payload.withUnsafeBytes { stored in
                        try self.verifyStored(o.id, o.entry, stored, hasher: h, where: "in \(span.pack).pack", consequence: "it was not stored")
                        try state.lock.withLock {
                            try state.writer.put(id: o.id, kind: o.entry.kind, codec: o.entry.codec, rawSize: Int(o.entry.size), stored: stored)
                            state.objects += 1
                        }
                    }
                }
                state.lock.withLock {
                    state.got += Int64(bytes.count)
                    progress?(TransferProgress(phase: "downloading", objects: state.objects, objectsTotal: 0, bytes: state.got, bytesTotal: total))
                }
            } catch { state.lock.withLock { if state.error == nil { state.error = error } } }
        }
        if let e = state.error { throw e }
        try state.writer.finish()
        try repo.store.reload()
        report.objects += state.objects
        report.bytes += state.got
        for s in spans { fetched += s.objects.map { $0.id } }
        return fetched
    }

    /// Fetches the history and trees the remote's `tips` reach, without file data when
    /// `lazy` (it comes on demand later), and only `depth` commits deep when given (the
    /// commits at the boundary are recorded as shallow). Without `lazy`, the file data of
    /// the fetched commits follows, by ranged reads or whole packs.
    func fetchPartial(_ tips: [ObjectId], lazy: Bool, depth: Int?, report: inout FetchReport) throws {
        if !indexesLoaded { try refreshIndexes() }
        var depthOf: [ObjectId: Int] = [:]
        for t in tips { depthOf[t] = 1 }
        var treeDepth: [ObjectId: Int] = [:]  // below the root tree, for the format's depth limit
        let repair = try beginFetch()
        var frontier = repair ? try missingBelow(tips, lazy: lazy) : tips.filter { !repo.store.contains($0) }
        var seen = Set(frontier)
        var shallow = repo.shallowCommits
        var files: [ObjectId] = []
        while !frontier.isEmpty {
            var want = frontier
            if depth == nil {
                // Commits and trees pushed together sit in the same packs: take every commit
                // and tree of the packs we touch in this round, saving a round trip per level.
                var packs = Set<String>()
                for id in frontier { if let p = remotePack(of: id) { packs.insert(p) } }
                for p in packs {
                    guard let idx = remoteIndexes[p] ?? remoteMetaIndexes[p] else { continue }
                    for i in 0..<idx.count {
                        let k = try idx.entry(at: i).kind
                        if k == .commit || k == .tree { want.append(idx.id(at: i)) }
                    }
                }
            }
            let got = try fetchObjects(want, report: &report)
            // Walk what arrived in this fetch (what was local before has its closure here).
            var fresh = Set(got)
            fresh.formUnion(frontier)
            var next: [ObjectId] = []
            var stack = frontier
            var walked = Set<ObjectId>()
            while let id = stack.popLast() {
                guard walked.insert(id).inserted else { continue }
                guard let info = try repo.store.info(id) else { throw StoreError.objectMissing(id, context: nil) }
                var children: [(ObjectId, Bool)] = []  // (id, is it file data)
                switch info.kind {
                case .commit:
                    let c = try repo.readCommit(id, grafted: false)
                    let d = depthOf[id] ?? 1
                    children.append((c.tree, false))
                    for (k, v) in c.extra where Commit.objectHeaders.contains(k) { if let r = ObjectId(hex: v) { children.append((r, false)) } }
                    if let depth, d >= depth, !c.parents.isEmpty {
                        shallow.insert(id)
                    } else {
                        shallow.remove(id)
                        for p in c.parents {
                            depthOf[p] = min(depthOf[p] ?? Int.max, d + 1)
                            children.append((p, false))
                        }
                    }
                case .tree:
                    // Trees nest at most 2048 deep (.mlrepo-format.md §4.1): refuse deeper ones here
                    // rather than fetch them level by level.
                    let d = treeDepth[id] ?? 0
                    for e in try repo.readTree(id).entries {
                        children.append((e.id, !e.mode.isDirectory))
                        guard e.mode.isDirectory else { continue }
                        guard d < FormatLimits.maxTreeDepth else {
                            throw StoreError.objectCorrupt(id, location: "tree", reason: "trees nest more than \(FormatLimits.maxTreeDepth) levels deep (the format's limit)")
                        }
                        treeDepth[e.id] = max(treeDepth[e.id] ?? 0, d + 1)
                    }
                case .chunks, .blob:
                    break
                }
                for (c, isData) in children {
                    if isData { if !lazy { files.append(c) }; continue }
                    if repo.store.contains(c) {
                        // Arrived with this batch (or, after an interruption, may lack what it refers to): walk it too.
                        if fresh.contains(c) || repair { stack.append(c) }
                    } else if seen.insert(c).inserted { next.append(c) }
                }
            }
            frontier = next
        }
        if !lazy {
            // File data of the fetched trees: file objects, then their chunks.
            var level = Array(Set(files))
            while !level.isEmpty {
                try fetchObjects(level, report: &report)
                var more = Set<ObjectId>()
                for id in level where try repo.store.info(id)?.kind == .chunks {
                    let list = try repo.store.withObject(id) { _, b in try ChunkList.decode(b, id: id) }
                    for p in list.parts where list.level > 0 || !repo.store.contains(p.id) { more.insert(p.id) }
                }
                level = Array(more)
            }
        }
        if shallow != repo.shallowCommits { try repo.setShallowCommits(shallow) }
        try endFetch()
    }
}

/// Fetches a lazy clone's missing objects from its remote on demand: a checkout, `cat`,
/// `train` or `diff` asks for what it reads, and only that moves.
final class LazyRemoteSource: MissingObjectSource, @unchecked Sendable {
    weak var repo: Repository?
    let remote: String
    private var sync: RemoteSync?
    private let lock = Lock()

    init(repo: Repository, remote: String) {
        self.repo = repo
        self.remote = remote
    }

    func fetchMissing(_ ids: [ObjectId]) throws {
        try lock.withLock {
            guard let repo else { return }
            if sync == nil {
                // Not held: this source belongs to `repo` (store.missingSource), and `repo`
                // is checked alive above before every use.
                sync = try RemoteSync(repo: repo, remote: remote, holdsRepository: false)
                sync!.metadataOnly = true  // full indexes only of the packs it reads from
                sync!.progress = repo.settings.lazyFetchProgress
            }
            var report = FetchReport()
            do {
                try sync!.fetchObjects(ids, report: &report)
            } catch let e as RemoteError {
                throw RemoteError(.fetch, subject: remote, "fetching \(ids.count) missing object\(ids.count == 1 ? "" : "s") from '\(remote)'", cause: e.message)
            }
            repo.settings.lazyFetchObserver?(remote, report.objects, report.bytes)
        }
    }
}

extension Repository {
    /// The remote marked lazy (`remote.NAME.lazy = true`), whose objects this repository may
    /// lack and fetches on demand.
    public var lazyRemote: String? {
        remotes().first { config.bool("remote.\($0.name).lazy") == true }?.name
    }

    /// Commits whose parents were not fetched (`clone --depth`): `.mlrepo/shallow`, one id
    /// per line. Their history ends there.
    public var shallowCommits: Set<ObjectId> { shallowCache }

    /// Marks `remote` lazy: this repository may lack objects that remote holds and fetches
    /// them when they are read.
    public func markLazy(_ remote: String) throws {
        _ = try self.remote(remote)
        try setConfig("remote.\(remote).lazy", "true")
        store.missingSource = LazyRemoteSource(repo: self, remote: remote)
    }

    func setShallowCommits(_ ids: Set<ObjectId>) throws {
        if ids.isEmpty { if FS.exists(dotDir + "/shallow") { try FS.unlink(dotDir + "/shallow") }; shallowCache = []; return }
        let text = ids.map(\.hex).sorted().joined(separator: "\n") + "\n"
        try FS.atomicWrite(dotDir + "/shallow", Array(text.utf8), durable: durable)
        shallowCache = ids
    }
}
