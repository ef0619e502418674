#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Support

/// Partial transfers: single objects read out of remote packs with ranged GETs, lazy
/// (metadata-only) fetches whose file data comes on demand, and shallow (`--depth N`)
/// fetches.
extension RemoteSync {
    /// Where `id` sits on the remote: its pack, the entry and the stored length.
    func remoteLocate(_ id: ObjectId) throws -> (pack: String, entry: PackEntry, storedLength: Int)? {
        for (name, idx) in remoteIndexes {
            guard let i = idx.find(id) else { continue }
            let e = try idx.entry(at: i)
            if remoteOffsets[name] == nil {
                var offs: [UInt64] = []
                offs.reserveCapacity(idx.count)
                for k in 0..<idx.count { offs.append(try idx.entry(at: k).offset) }
                remoteOffsets[name] = offs.sorted()
            }
            let offs = remoteOffsets[name]!
            // The next entry's offset (binary search), else the end of the pack.
            var lo = 0, hi = offs.count
            while lo < hi { let m = (lo + hi) / 2; if offs[m] <= e.offset { lo = m + 1 } else { hi = m } }
            guard let size = remotePackSizes[name] else { throw RemoteError("\(transport.display): pack \(name) has an index but no pack file") }
            let end = lo < offs.count ? Int(offs[lo]) : size
            let len = end - Int(e.offset) - Pack.entryHeaderSize
            guard len >= 0, end <= size else { throw RemoteError("\(transport.display): pack index \(name) lists an entry outside its pack") }
            return (name, e, len)
        }
        return nil
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
        var byPack: [String: [(id: ObjectId, entry: PackEntry, length: Int)]] = [:]
        var seen = Set<ObjectId>()
        var refreshed = false
        for id in ids where !repo.store.contains(id) && seen.insert(id).inserted {
            var loc = try remoteLocate(id)
            if loc == nil && !refreshed {
                // Pushed since the indexes were loaded?
                try refreshIndexes(); refreshed = true
                loc = try remoteLocate(id)
            }
            guard let (pack, entry, len) = loc else {
                throw RemoteError("object \(id.hex) is neither in this repository nor on remote '\(spec.name)' (\(transport.display))")
            }
            byPack[pack, default: []].append((id, entry, len))
        }
        if byPack.isEmpty { return [] }
        var wholePacks: [String] = []
        struct Span { var pack: String; var start: Int; var end: Int; var objects: [(id: ObjectId, entry: PackEntry, length: Int)] }
        var spans: [Span] = []
        for (pack, objs) in byPack.sorted(by: { $0.key < $1.key }) {
            let wanted = objs.reduce(0) { $0 + $1.length + Pack.entryHeaderSize }
            if wanted * 2 >= remotePackSizes[pack] ?? Int.max { wholePacks.append(pack); continue }
            for o in objs.sorted(by: { $0.entry.offset < $1.entry.offset }) {
                let s = Int(o.entry.offset), e = s + Pack.entryHeaderSize + o.length
                if var last = spans.last, last.pack == pack, s - last.end < 256 << 10, e - last.start <= 16 << 20 {
                    last.end = e; last.objects.append(o); spans[spans.count - 1] = last
                } else {
                    spans.append(Span(pack: pack, start: s, end: e, objects: [o]))
                }
            }
        }
        var fetched: [ObjectId] = []
        if !wholePacks.isEmpty {
            let inDir = cacheDir + "/incoming"
            try FS.mkdirs(inDir)
            try fetchPacks(wholePacks, into: inDir, report: &report)
            FS.removeTree(inDir)
            for p in wholePacks { fetched += byPack[p]!.map(\.id) }
        }
        if spans.isEmpty { return fetched }
        // Ranged reads in parallel; each span is verified and appended to one new pack as it
        // arrives, so memory stays at a few spans whatever the total.
        final class State: @unchecked Sendable {
            var error: Error?; var got: Int64 = 0; var objects = 0; let lock = NSLockLike()
            let writer: PackWriter
            init(_ w: PackWriter) { writer = w }
        }
        let state = State(try PackWriter(directory: repo.store.directory, durable: repo.durable))
        let todo = spans
        let transport = self.transport, progress = self.progress
        let total = Int64(spans.reduce(0) { $0 + $1.end - $1.start })
        let workers = min(max(1, jobs), todo.count)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let h = SHA256Hasher()
            var k = w
            while k < todo.count {
                if state.lock.withLock({ state.error != nil }) { return }
                let span = todo[k]
                do {
                    let bytes = try transport.get("packs/\(span.pack).pack", range: span.start..<span.end)
                    guard bytes.count == span.end - span.start else {
                        throw RemoteError("\(transport.display): short read of \(span.pack).pack (\(bytes.count) of \(span.end - span.start) bytes)")
                    }
                    try bytes.withUnsafeBytes { b in
                        for o in span.objects {
                            let at = Int(o.entry.offset) - span.start
                            let hdr = UnsafeRawBufferPointer(rebasing: b[at..<(at + Pack.entryHeaderSize)])
                            let storedLen = Int(UInt32(littleEndian: hdr.loadUnaligned(fromByteOffset: 40, as: UInt32.self)))
                            let rawLen = UInt32(littleEndian: hdr.loadUnaligned(fromByteOffset: 36, as: UInt32.self))
                            guard ObjectId(hdr, offset: 0) == o.id, hdr[32] == o.entry.kind.rawValue, hdr[33] == o.entry.codec.rawValue,
                                  rawLen == o.entry.size, storedLen == o.length else {
                                throw RemoteError("\(transport.display): the entry of object \(o.id.hex) in \(span.pack).pack disagrees with its index")
                            }
                            let start = at + Pack.entryHeaderSize
                            let stored = UnsafeRawBufferPointer(rebasing: b[start..<(start + storedLen)])
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
                k += workers
            }
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
                    let idx = remoteIndexes[p]!
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
                    for e in try repo.readTree(id).entries { children.append((e.id, !e.mode.isDirectory)) }
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
    private let lock = NSLockLike()

    init(repo: Repository, remote: String) {
        self.repo = repo
        self.remote = remote
    }

    func fetchMissing(_ ids: [ObjectId]) throws {
        try lock.withLock {
            guard let repo else { return }
            if sync == nil { sync = try RemoteSync(repo: repo, remote: remote) }
            var report = FetchReport()
            do {
                try sync!.fetchObjects(ids, report: &report)
            } catch let e as RemoteError {
                throw RemoteError("fetching \(ids.count) missing object\(ids.count == 1 ? "" : "s") from '\(remote)': \(e.message)")
            }
            Repository.lazyFetchObserver?(remote, report.objects, report.bytes)
        }
    }
}

extension Repository {
    /// Called after objects were fetched on demand (remote, objects, bytes), for a CLI to
    /// say so. Libraries never print.
    nonisolated(unsafe) public static var lazyFetchObserver: ((String, Int, Int64) -> Void)?

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
