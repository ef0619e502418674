#if canImport(Glibc)
import Glibc
#endif
import Support

/// What a fetch did.
public struct FetchReport: Sendable {
    public var refs: [(ref: String, old: ObjectId?, new: ObjectId)] = []
    public var objects = 0
    public var bytes: Int64 = 0
    public var packs = 0
    /// Packs found complete from an interrupted earlier fetch (not downloaded again).
    public var packsResumed = 0
}

extension RemoteSync {
    /// Downloads what the remote's refs reach and this repository lacks, verifying every
    /// object against its id before it enters the store, then updates the remote-tracking
    /// refs. `only`: fetch just these refs.
    ///
    /// `lazy` (or `remote.NAME.lazy` in the config) fetches commits, trees and metadata but
    /// no file data: that comes on demand when a checkout or a read needs it. `depth` fetches
    /// only that many commits of each ref's history (a shallow clone); `unshallow` fetches
    /// the rest of the history of a shallow repository.
    ///
    /// `full` turns a lazy clone into a complete one: every object that any ref here or on
    /// the remote reaches is fetched, and the remote is no longer marked lazy.
    public func fetch(only: [String]? = nil, lazy: Bool = false, depth: Int? = nil, unshallow: Bool = false,
                      full: Bool = false) throws -> FetchReport {
        var report = FetchReport()
        let lazy = !full && (lazy || repo.config.bool("remote.\(spec.name).lazy") == true)
        metadataOnly = lazy
        // The refs first, every name checked before anything is downloaded or written (and
        // then the indexes: a push uploads packs before it moves a ref, so every object the
        // refs name is in a pack listed after them).
        let remote = try remoteRefs()
        let wanted = remote.filter { r in
            RemoteSync.fetchedNamespaces.contains { r.key.hasPrefix($0) } && (only.map { $0.contains(r.key) } ?? true)
        }
        for ref in wanted.keys {
            if let why = RefName.fullProblem(trackingRef(ref)) {
                throw RemoteError(.fetch, remote: transport.display, subject: ref, "refusing the remote's ref '\(RefName.printable(ref))'", cause: "as '\(RefName.printable(trackingRef(ref)))', \(why)")
            }
        }
        try refreshIndexes()
        if full {
            var tips = wanted.values.map(\.id)
            for scope in ["heads", "tags", "aliases", "remotes"] { tips += try repo.refs.list(scope).map(\.id) }
            try download(Array(Set(tips)), walkLocal: true, report: &report)
            if repo.config.bool("remote.\(spec.name).lazy") == true {
                try repo.setConfig("remote.\(spec.name).lazy", nil)
                if repo.lazyRemote == nil { repo.store.missingSource = nil }
            }
        } else if lazy || depth != nil {
            try fetchPartial(wanted.values.map(\.id), lazy: lazy, depth: depth, report: &report)
        } else {
            try download(wanted.values.map(\.id), report: &report)
        }
        if unshallow, !repo.shallowCommits.isEmpty {
            let parents = try repo.shallowCommits.flatMap { try repo.readCommit($0, grafted: false).parents }
            if lazy { try fetchPartial(parents, lazy: true, depth: nil, report: &report) } else { try download(parents, report: &report) }
            try repo.setShallowCommits([])
        }
        for (ref, v) in wanted.sorted(by: { $0.key < $1.key }) {
            let local = trackingRef(ref)
            let old = try repo.refs.read(local)
            if old == v.id { continue }
            if ref.hasPrefix("refs/tags/"), old != nil { continue }  // never move an existing local tag
            // A registry alias moves only forward (its history is its first-parent chain).
            if ref.hasPrefix("refs/aliases/"), let old, !(try repo.isAncestor(old, of: v.id)) { continue }
            try repo.refs.update(local, to: v.id, who: repo.signature(), message: "fetch \(spec.name): \(ref)")
            report.refs.append((local, old, v.id))
        }
        return report
    }

    /// Fetches the closure of `tips`, downloading whole remote packs as needed.
    func download(_ tips: [ObjectId], walkLocal: Bool = false, report: inout FetchReport) throws {
        let repair = try beginFetch() || walkLocal
        var queue = repair ? try missingBelow(tips, lazy: false) : tips.filter { !repo.store.contains($0) }
        var seen = Set<ObjectId>(queue)
        let inDir = cacheDir + "/incoming"
        try FS.mkdirs(inDir)
        while !queue.isEmpty {
            // Which packs hold the objects we still lack?
            var packs: [String] = []
            var later: [ObjectId] = []
            for id in queue where !repo.store.contains(id) {
                guard let p = remotePack(of: id) else {
                    throw RemoteError(.fetch, remote: transport.display, subject: id.hex, "object \(id.hex) is not on the remote (an incomplete push?)")
                }
                if !packs.contains(p) { packs.append(p) }
                later.append(id)
            }
            try fetchPacks(packs, into: inDir, report: &report)
            var next: [ObjectId] = []
            for id in later {
                for c in try children(id) where !seen.contains(c) && !repo.store.contains(c) {
                    seen.insert(c); next.append(c)
                }
            }
            // Children of objects that arrived in the same packs are local now; walk them too.
            var frontier = later
            var visited = Set<ObjectId>()
            while let id = frontier.popLast() {
                guard visited.insert(id).inserted else { continue }
                for c in try children(id) {
                    if repo.store.contains(c) {
                        if !visited.contains(c) && !seen.contains(c) { frontier.append(c) }
                    } else if !seen.contains(c) { seen.insert(c); next.append(c) }
                }
                if visited.count > 1_000_000 { break }
            }
            queue = next
        }
        FS.removeTree(inDir)
        try endFetch()
    }

    /// A fetch installs packs as they arrive, so until it ends an object may be local
    /// without all it refers to. `.mlrepo/FETCH_INCOMPLETE` marks that window; a fetch that
    /// finds it (the last one was interrupted) first walks through local objects too
    /// (`missingBelow`). Returns whether the marker was there.
    func beginFetch() throws -> Bool {
        let marker = repo.dotDir + "/FETCH_INCOMPLETE"
        if FS.exists(marker) { return true }
        try FS.atomicWrite(marker, Array("\(spec.name)\n".utf8), durable: repo.durable)
        return false
    }

    func endFetch() throws {
        let marker = repo.dotDir + "/FETCH_INCOMPLETE"
        if FS.exists(marker) { try FS.unlink(marker) }
    }

    /// The missing objects reachable from `tips`, walking through local ones (file data left
    /// out when `lazy`): where an interrupted fetch has to continue.
    func missingBelow(_ tips: [ObjectId], lazy: Bool) throws -> [ObjectId] {
        var out: [ObjectId] = []
        var seen = Set<ObjectId>()
        var stack = tips
        while let id = stack.popLast() {
            guard seen.insert(id).inserted else { continue }
            guard let info = try repo.store.info(id) else { out.append(id); continue }
            switch info.kind {
            case .commit:
                let c = try repo.readCommit(id)
                stack.append(c.tree)
                stack += c.parents
                for (k, v) in c.extra where Commit.objectHeaders.contains(k) { if let r = ObjectId(hex: v) { stack.append(r) } }
            case .tree:
                for e in try repo.readTree(id).entries where e.mode.isDirectory || !lazy { stack.append(e.id) }
            case .chunks:
                if !lazy { stack += try repo.store.withObject(id) { _, b in try ChunkList.decode(b, id: id) }.parts.map(\.id) }
            case .blob:
                break
            }
        }
        return out
    }

    /// Downloads packs (in parallel), verifies every object, then moves them into the store.
    /// A pack is downloaded under a temp name and renamed when complete, so a fetch that was
    /// interrupted finds its complete downloads in `dir` and does not fetch them again.
    func fetchPacks(_ names: [String], into dir: String, report: inout FetchReport) throws {
        if names.isEmpty { return }
        final class State: @unchecked Sendable { var got: Int64 = 0; var reused = 0; let lock = Lock() }
        let state = State()
        let transport = self.transport, progress = self.progress
        let sizes = remotePackSizes
        let total = names.reduce(Int64(0)) { $0 + Int64(sizes[$1] ?? 0) }
        // Every pack is tried (a failure does not stop the others), so a re-run finds every
        // download that could complete.
        let failure: Error?
        do {
            try Parallel.forEachThrowing(names.count, threads: max(1, jobs)) { k in
                let n = names[k]
                let pack = dir + "/" + n + ".pack", idx = dir + "/" + n + ".idx"
                let have = FS.exists(idx) && sizes[n] != nil && FS.stat(pack).map { Int($0.size) } == sizes[n]
                if have {
                    state.lock.withLock { state.reused += 1 }
                } else {
                    try transport.getFile("packs/\(n).idx", to: idx + ".part")
                    try transport.getFile("packs/\(n).pack", to: pack + ".part")
                    try FS.rename(pack + ".part", pack)
                    try FS.rename(idx + ".part", idx)
                }
                let sz = Int64(FS.stat(pack)?.size ?? 0)
                state.lock.withLock {
                    state.got += sz
                    progress?(TransferProgress(phase: "downloading", objects: 0, objectsTotal: 0, bytes: state.got, bytesTotal: total))
                }
            }
            failure = nil
        } catch { failure = error }
        report.packsResumed += state.reused
        if let failure { throw failure }
        for n in names {
            let pack: Pack
            do { pack = try Pack(directory: dir, name: n) } catch {
                throw RemoteError(.fetch, remote: transport.display, subject: "packs/\(n).pack", "downloaded pack \(n) is unreadable", cause: "\(error)")
            }
            guard pack.index.verifyChecksum() else { throw RemoteError(.fetch, remote: transport.display, subject: "packs/\(n).idx", "pack index \(n) fails its checksum") }
            try verify(pack)
            report.objects += pack.index.count
            report.bytes += Int64(FS.stat(dir + "/" + n + ".pack")?.size ?? 0)
            report.packs += 1
            let packDir = repo.store.directory
            if !FS.exists(packDir + "/" + n + ".pack") {
                try FS.rename(dir + "/" + n + ".pack", packDir + "/" + n + ".pack")
                try FS.rename(dir + "/" + n + ".idx", packDir + "/" + n + ".idx")
            }
        }
        try repo.store.reload()
    }

    /// Re-hashes every object of a downloaded pack; any mismatch refuses the whole pack.
    func verify(_ pack: Pack) throws {
        let h = SHA256Hasher()
        for i in 0..<pack.index.count {
            let id = pack.index.id(at: i)
            let (entry, stored, map) = try pack.stored(at: i)
            try withExtendedLifetime(map) {
                try verifyStored(id, entry, stored, hasher: h, where: "in \(pack.name)", consequence: "nothing was taken from that pack")
            }
            pack.noteRead(stored.count)  // keeps resident memory flat for a pack of any size
        }
    }

    /// Checks stored bytes (raw or zlib) against the object's id.
    func verifyStored(_ id: ObjectId, _ entry: PackEntry, _ stored: UnsafeRawBufferPointer, hasher h: SHA256Hasher,
                      where location: String, consequence: String) throws {
        let ok: Bool
        switch entry.codec {
        case .raw: ok = stored.count == Int(entry.size) && ObjectHash.id(entry.kind, stored, hasher: h) == id
        case .zlib:
            // Hashed as it inflates (64 KiB at a time), never more than the declared size.
            h.reset()
            h.update(ObjectHash.header(entry.kind, size: Int(entry.size)))
            let n: Int
            do { n = try Zlib.inflatePieces(stored, limit: Int(entry.size)) { h.update($0) } } catch {
                throw RemoteError(.fetch, remote: transport.display, subject: id.hex, "object \(id.hex) \(location) is corrupt; \(consequence)", cause: "\(error)")
            }
            ok = n == Int(entry.size) && ObjectId(bytes: h.finalize()) == id
        }
        guard ok else {
            throw RemoteError(.fetch, remote: transport.display, subject: id.hex, "object \(id.hex) \(location) does not match its id; \(consequence)")
        }
    }
}
