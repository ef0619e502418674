#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Support

/// A configured remote (`remote.NAME.url` and friends in `.mlrepo/config`).
public struct RemoteSpec: Sendable, Equatable {
    public var name: String
    public var url: String
    public var endpoint: String?
    public var region: String?
    public var profile: String?

    public init(name: String, url: String, endpoint: String? = nil, region: String? = nil, profile: String? = nil) {
        self.name = name; self.url = url; self.endpoint = endpoint; self.region = region; self.profile = profile
    }
}

/// Progress of a transfer, for a progress bar.
public struct TransferProgress: Sendable {
    public var phase: String
    public var objects: Int
    public var objectsTotal: Int
    public var bytes: Int64
    public var bytesTotal: Int64
}

/// What a push did.
public struct PushReport: Sendable {
    public var updated: [(ref: String, old: ObjectId?, new: ObjectId)] = []
    public var upToDate: [String] = []
    public var objects = 0
    public var bytes: Int64 = 0
    public var packs = 0
}

/// What a fetch did.
public struct FetchReport: Sendable {
    public var refs: [(ref: String, old: ObjectId?, new: ObjectId)] = []
    public var objects = 0
    public var bytes: Int64 = 0
    public var packs = 0
    /// Packs found complete from an interrupted earlier fetch (not downloaded again).
    public var packsResumed = 0
}

extension Repository {
    // MARK: Configuration

    static func validRemoteName(_ n: String) -> Bool {
        !n.isEmpty && n.count <= 64 && n.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }
    }

    public func remotes() -> [RemoteSpec] {
        var names: [String] = []
        for (k, _) in config.values where k.hasPrefix("remote.") && k.hasSuffix(".url") {
            let n = String(k.dropFirst(7).dropLast(4))
            // A hand-edited name like ".." would become paths (.mlrepo/remotes/NAME, refs/remotes/NAME/…).
            if Repository.validRemoteName(n) && !names.contains(n) { names.append(n) }
        }
        return names.sorted().map { n in
            RemoteSpec(name: n, url: config["remote.\(n).url"] ?? "", endpoint: config["remote.\(n).endpoint"],
                       region: config["remote.\(n).region"], profile: config["remote.\(n).profile"])
        }
    }

    public func remote(_ name: String) throws -> RemoteSpec {
        guard let r = remotes().first(where: { $0.name == name }) else {
            let known = remotes().map(\.name)
            throw StoreError.invalid("no remote '\(name)'" + (known.isEmpty ? " (add one with 'mlrepo remote add NAME URL')" : " (remotes: \(known.joined(separator: ", ")))"))
        }
        return r
    }

    public func addRemote(_ spec: RemoteSpec) throws {
        guard Repository.validRemoteName(spec.name) else {
            throw StoreError.invalid("remote name '\(spec.name)': use lowercase letters, digits, '-' and '_'")
        }
        guard !remotes().contains(where: { $0.name == spec.name }) else { throw StoreError.invalid("remote '\(spec.name)' already exists") }
        _ = try Repository.transport(for: spec, cwd: root, create: false, check: false)
        try setConfig("remote.\(spec.name).url", spec.url)
        if let e = spec.endpoint { try setConfig("remote.\(spec.name).endpoint", e) }
        if let r = spec.region { try setConfig("remote.\(spec.name).region", r) }
        if let p = spec.profile { try setConfig("remote.\(spec.name).profile", p) }
    }

    public func removeRemote(_ name: String) throws {
        _ = try remote(name)
        if config.bool("remote.\(name).lazy") == true {
            throw StoreError.invalid("remote '\(name)' holds the file data this lazy clone has not fetched; run 'mlrepo fetch --full \(name)' before removing it")
        }
        for k in ["url", "endpoint", "region", "profile", "lazy"] { try setConfig("remote.\(name).\(k)", nil) }
        for (ref, _) in (try? refs.list("remotes/\(name)")) ?? [] { try? refs.delete("refs/remotes/\(name)/\(ref)") }
        FS.removeTree(dotDir + "/remotes/" + name)
    }

    /// The transport for a remote URL: a folder (path or file://) or s3://.
    public static func transport(for spec: RemoteSpec, cwd: String, create: Bool, check: Bool = true) throws -> any RemoteTransport {
        let url = spec.url
        if url.hasPrefix("s3://") {
            let creds = AWSCredentials.discover(profile: spec.profile)
            return try S3Transport(url: url, endpoint: spec.endpoint ?? Env.get("AWS_ENDPOINT_URL_S3") ?? Env.get("AWS_ENDPOINT_URL"),
                                   region: spec.region, credentials: creds)
        }
        var path = url
        if path.hasPrefix("file://") { path = String(path.dropFirst(7)) }
        guard !path.contains("://") else { throw StoreError.invalid("remote URL '\(url)': use a folder, file://PATH or s3://BUCKET/PREFIX") }
        if !path.hasPrefix("/") { path = Path.join(cwd, path) }
        if !check { return try DirectoryTransport(root: path, create: false, mustExist: false) }
        return try DirectoryTransport(root: path, create: create)
    }
}

/// Push, fetch and clone over a transport. The remote holds packs and their indexes under
/// `packs/`, refs under `refs/`, and `HEAD` (the default branch). Objects are packed
/// children before parents and a pack becomes visible only when its index is uploaded, so
/// an object on the remote always has everything it refers to there too; refs move last,
/// each with a compare-and-swap.
public final class RemoteSync: @unchecked Sendable {
    /// The local repository. Held strongly, except by a lazy clone's own fetcher
    /// (`holdsRepository: false`), which the repository itself owns through its store: a
    /// strong reference there was a retain cycle that leaked every lazy `Repository`
    /// (LeakSanitizer, issue 13).
    public var repo: Repository { borrowedRepo }
    private unowned let borrowedRepo: Repository
    private let ownedRepo: Repository?
    public let spec: RemoteSpec
    public let transport: any RemoteTransport
    /// Parallel transfers.
    public var jobs = 4
    /// Target size of an uploaded pack.
    public var packLimit: Int64 = 256 << 20
    public var progress: (@Sendable (TransferProgress) -> Void)?
    /// Fault injection for tests: stop with an error after this many pack files are
    /// uploaded (push) or downloaded (fetch), as an interrupted transfer would.
    public var stopAfterPacks: Int? = nil
    /// Packs this instance downloaded (for `stopAfterPacks`).
    var packsDownloaded = 0
    let cacheDir: String
    var remoteIndexes: [String: PackIndex] = [:]
    /// Metadata indexes (`.midx`: commits, trees, chunk lists and commit metadata only) of
    /// packs whose full index is not loaded, by pack name.
    var remoteMetaIndexes: [String: PackIndex] = [:]
    /// Load metadata indexes instead of full ones where the remote has them (lazy fetches):
    /// a lazy clone then downloads indexes in proportion to its metadata, not its data.
    public var metadataOnly = false
    /// Sizes and modification times of the remote's pack files (from the last listing).
    var remotePackSizes: [String: Int] = [:]
    var remotePackModified: [String: Double] = [:]
    /// Packs that held objects found so far, most recent last (where to look first).
    var touchedPacks: [String] = []
    var indexesLoaded = false

    public init(repo: Repository, remote: String, create: Bool = false, holdsRepository: Bool = true) throws {
        borrowedRepo = repo
        ownedRepo = holdsRepository ? repo : nil
        spec = try repo.remote(remote)
        transport = try Repository.transport(for: spec, cwd: repo.root, create: create)
        cacheDir = repo.dotDir + "/remotes/" + remote
        try FS.mkdirs(cacheDir + "/idx")
    }

    // MARK: Remote state

    /// The remote's refs: name ("refs/heads/main") → (id, version tag).
    /// Every listed name is checked (git's rules, `RefName`) before any is read: one bad
    /// key refuses the whole listing, so a transfer stops before it writes anything.
    public func remoteRefs() throws -> [String: (id: ObjectId, tag: String)] {
        var out: [String: (id: ObjectId, tag: String)] = [:]
        let listed = try transport.list("refs/")
        try checkRemoteRefNames(listed.map(\.key))
        for o in listed {
            guard let (data, tag) = try transport.get(o.key) else { continue }
            let text = String(decoding: data, as: UTF8.self).remoteTrim(" \n\r\t")
            guard let id = ObjectId(hex: text) else { throw RemoteError("\(transport.display): ref \(o.key) is corrupt") }
            out[o.key] = (id, tag)
        }
        return out
    }

    /// Refuses a listing with a key that is not a valid ref name, a branch, tag or alias
    /// this repository could not store, or a name that is also a folder of another
    /// (`refs/heads/a` and `refs/heads/a/b`): a one-line error naming the remote and the key.
    func checkRemoteRefNames(_ keys: [String]) throws {
        func refuse(_ key: String, _ why: String) -> RemoteError {
            RemoteError("\(transport.display): refusing the remote's ref '\(RefName.printable(key))': \(why)")
        }
        let names = Set(keys)
        for key in keys {
            guard key.hasPrefix("refs/") else { throw refuse(key, "it is not under refs/") }
            if let why = RefName.formatProblem(key) { throw refuse(key, why) }
            if RemoteSync.fetchedNamespaces.contains(where: { key.hasPrefix($0) }), let why = RefName.fullProblem(key) {
                throw refuse(key, why)
            }
            var prefix = Substring(key)
            while let slash = prefix.lastIndex(of: "/") {
                prefix = prefix[..<slash]
                if names.contains(String(prefix)) { throw refuse(key, "'\(prefix)' is a ref too (a name cannot be both)") }
            }
        }
    }

    /// The refs a fetch copies; a remote's other refs (a repository folder's own
    /// `refs/remotes/`) are left alone.
    static let fetchedNamespaces = ["refs/heads/", "refs/tags/", "refs/aliases/"]

    /// The local ref a fetched remote ref is stored as: `refs/remotes/NAME/BRANCH` for a
    /// branch, the same name for a tag or an alias.
    func trackingRef(_ ref: String) -> String {
        ref.hasPrefix("refs/heads/") ? "refs/remotes/\(spec.name)/" + ref.dropFirst(11) : ref
    }

    /// The remote's default branch (its HEAD file), nil if unset or not a valid branch name.
    public func remoteHead() throws -> String? {
        guard let (d, _) = try transport.get("HEAD") else { return nil }
        let t = String(decoding: d, as: UTF8.self).remoteTrim(" \n\r\t")
        guard t.hasPrefix("ref: refs/heads/") else { return nil }
        let b = String(t.dropFirst(16))
        return Refs.isValidName(b) ? b : nil
    }

    /// Loads the remote's pack indexes, downloading the ones not cached yet (each checked
    /// against its trailing checksum). With `metadataOnly`, a pack that has a metadata index
    /// (`.midx`) gets that instead; its full index loads when an object must be found there.
    func refreshIndexes() throws {
        let all = try transport.list("packs/")
        var hasMeta = Set<String>()
        remotePackSizes = [:]
        for o in all {
            let base = Path.basename(o.key)
            if base.hasSuffix(".pack") {
                let n = String(base.dropLast(5))
                remotePackSizes[n] = o.size
                remotePackModified[n] = o.modified ?? 0
            } else if base.hasSuffix(".midx") {
                hasMeta.insert(String(base.dropLast(5)))
            }
        }
        indexesLoaded = true
        var names = Set<String>()
        for o in all where o.key.hasSuffix(".idx") {
            let name = String(Path.basename(o.key).dropLast(4))
            names.insert(name)
            if remoteIndexes[name] != nil { continue }
            if metadataOnly && hasMeta.contains(name) {
                if remoteMetaIndexes[name] == nil { remoteMetaIndexes[name] = try loadRemoteIndex(name, ext: "midx") }
                continue
            }
            remoteIndexes[name] = try loadRemoteIndex(name, ext: "idx")
        }
        for n in remoteIndexes.keys where !names.contains(n) { remoteIndexes[n] = nil }
        for n in remoteMetaIndexes.keys where !names.contains(n) || remoteIndexes[n] != nil { remoteMetaIndexes[n] = nil }
    }

    /// A remote pack's index (`ext` "idx") or metadata index ("midx"), from the local cache
    /// or downloaded into it, checksum verified.
    func loadRemoteIndex(_ name: String, ext: String) throws -> PackIndex {
        let key = "packs/\(name).\(ext)"
        let local = cacheDir + "/idx/" + name + "." + ext
        if !FS.exists(local) {
            let tmp = local + ".tmp"
            try transport.getFile(key, to: tmp)
            try FS.rename(tmp, local)
        }
        let idx: PackIndex
        do { idx = try PackIndex(path: local, packSize: remotePackSizes[name].map { UInt64($0) }) } catch {
            try? FS.unlink(local)
            throw RemoteError("\(transport.display): pack index \(key) is corrupt: \(error)")
        }
        guard idx.verifyChecksum() else {
            try? FS.unlink(local)
            throw RemoteError("\(transport.display): pack index \(key) fails its checksum")
        }
        return idx
    }

    /// Replaces a pack's metadata index by its full index.
    func loadFullIndex(_ name: String) throws {
        remoteIndexes[name] = try loadRemoteIndex(name, ext: "idx")
        remoteMetaIndexes[name] = nil
    }

    func remoteHas(_ id: ObjectId) -> Bool {
        remoteIndexes.values.contains { $0.find(id) != nil } || remoteMetaIndexes.values.contains { $0.find(id) != nil }
    }

    func remotePack(of id: ObjectId) -> String? {
        remoteIndexes.first { $0.value.find(id) != nil }?.key ?? remoteMetaIndexes.first { $0.value.find(id) != nil }?.key
    }

    // MARK: Object graph

    /// Objects `id` refers to: a commit's tree, parents and metadata; a tree's entries; a
    /// chunk list's parts.
    func children(_ id: ObjectId) throws -> [ObjectId] {
        guard let info = try repo.store.infoFetching(id) else { throw StoreError.objectMissing(id, context: nil) }
        switch info.kind {
        case .commit:
            let c = try repo.readCommit(id)
            var out = [c.tree] + c.parents
            for (k, v) in c.extra where Commit.objectHeaders.contains(k) { if let r = ObjectId(hex: v) { out.append(r) } }
            return out
        case .tree:
            return try repo.readTree(id).entries.map(\.id)
        case .chunks:
            return try repo.store.withObject(id) { _, b in try ChunkList.decode(b, id: id) }.parts.map(\.id)
        case .blob:
            return []
        }
    }

    /// Local objects reachable from `tips` that the remote lacks, children before parents.
    /// The walk stops at objects the remote has (their closure is there).
    func missing(from tips: [ObjectId]) throws -> [ObjectId] {
        var order: [ObjectId] = []
        var seen = Set<ObjectId>()
        // Iterative post-order.
        var stack: [(ObjectId, Bool)] = tips.map { ($0, false) }
        while let (id, expanded) = stack.popLast() {
            if expanded { order.append(id); continue }
            if seen.contains(id) || remoteHas(id) { continue }
            seen.insert(id)
            stack.append((id, true))
            for c in try children(id).reversed() where !seen.contains(c) && !remoteHas(c) { stack.append((c, false)) }
        }
        return order
    }

    /// A lazy clone pushing to a remote that lacks data it never fetched: fetch that data
    /// first, level by level in batches, rather than one object at a time during the walk.
    func prefetchForPush(_ tips: [ObjectId]) throws {
        guard repo.store.missingSource != nil else { return }
        var level = tips
        var seen = Set<ObjectId>()
        while !level.isEmpty {
            let fresh = level.filter { seen.insert($0).inserted && !remoteHas($0) }
            try repo.store.fault(fresh)
            var next: [ObjectId] = []
            for id in fresh { next += try children(id) }
            level = next
        }
    }

    // MARK: Push

    /// Pushes local refs (full names, e.g. "refs/heads/main") to the remote. A ref that the
    /// remote moved to a commit this repository does not contain is refused ("fetch first")
    /// unless `force`.
    public func push(_ refNames: [String], force: Bool) throws -> PushReport {
        var report = PushReport()
        try refreshIndexes()
        let remote = try remoteRefs()
        var plan: [(ref: String, id: ObjectId, old: (id: ObjectId, tag: String)?)] = []
        for ref in refNames {
            guard let id = try repo.refs.read(ref) else { throw StoreError.invalid("no local ref '\(ref)' to push") }
            let old = remote[ref]
            if old?.id == id { report.upToDate.append(ref); continue }
            if let old, !force {
                let known = repo.store.contains(old.id)
                let ok = try (ref.hasPrefix("refs/heads/") || ref.hasPrefix("refs/aliases/")) && known && repo.isAncestor(old.id, of: id)
                if !ok {
                    throw RemoteError("rejected \(shortName(ref)): the remote has commits this repository does not (fetch first: mlrepo pull \(spec.name))")
                }
            }
            plan.append((ref, id, old))
        }
        if plan.isEmpty { return report }
        try prefetchForPush(plan.map(\.id))
        let objects = try missing(from: plan.map(\.id))
        // A shallow clone cannot give a remote history it does not have.
        let shallow = repo.shallowCommits
        if !shallow.isEmpty {
            for id in objects where shallow.contains(id) {
                for p in try repo.readCommit(id, grafted: false).parents where !remoteHas(p) {
                    throw RemoteError("rejected: this is a shallow clone and \(transport.display) lacks the history before commit \(id.short) (run 'mlrepo fetch --unshallow' first)")
                }
            }
        }
        try uploadPacks(objects, report: &report)
        // Refs last, each a compare-and-swap against what we read.
        for p in plan {
            let data = Array((p.id.hex + "\n").utf8)
            let ok = try transport.put(p.ref, data, condition: p.old.map { .tag($0.tag) } ?? .absent)
            guard ok else {
                throw RemoteError("rejected \(shortName(p.ref)): it moved on the remote during this push (fetch first: mlrepo pull \(spec.name))")
            }
            report.updated.append((p.ref, p.old?.id, p.id))
            try setTracking(p.ref, p.id)
        }
        if try transport.get("HEAD") == nil, case .branch(let b) = try repo.refs.head(), plan.contains(where: { $0.ref == "refs/heads/" + b }) {
            try transport.put("HEAD", Array("ref: refs/heads/\(b)\n".utf8), condition: .absent)
        }
        return report
    }

    func shortName(_ ref: String) -> String {
        ref.hasPrefix("refs/heads/") ? String(ref.dropFirst(11)) : ref.hasPrefix("refs/tags/") ? String(ref.dropFirst(10)) : ref
    }

    /// Remote-tracking ref `refs/remotes/NAME/BRANCH` (or `.../tags/T`).
    func setTracking(_ ref: String, _ id: ObjectId) throws {
        let local: String
        if ref.hasPrefix("refs/heads/") { local = "refs/remotes/\(spec.name)/" + ref.dropFirst(11) }
        else if ref.hasPrefix("refs/tags/") { local = ref }
        else { return }
        if try repo.refs.read(local) == id { return }
        try repo.refs.update(local, to: id, who: repo.signature(), message: "\(spec.name): \(ref)")
    }

    /// Packs `objects` (in order) into packs of about `packLimit` bytes, uploads every pack
    /// file (in parallel), then their indexes in order. A pack the remote already lists is
    /// not uploaded again (a re-run after an interruption).
    func uploadPacks(_ objects: [ObjectId], report: inout PushReport) throws {
        if objects.isEmpty { return }
        let outDir = cacheDir + "/outgoing"
        FS.removeTree(outDir)
        try FS.mkdirs(outDir)
        defer { FS.removeTree(outDir) }
        var names: [String] = []
        var writer: PackWriter? = nil
        var size: Int64 = 0
        func close() throws {
            if let w = writer, let n = try w.finish() { names.append(n) }
            writer = nil; size = 0
        }
        var done = 0
        for id in objects {
            if writer == nil { writer = try PackWriter(directory: outDir, durable: false) }
            guard let (pack, i) = repo.store.locate(id) else { throw StoreError.objectMissing(id, context: nil) }
            let (entry, stored, map) = try pack.stored(at: i)
            try withExtendedLifetime(map) {
                try writer!.put(id: id, kind: entry.kind, codec: entry.codec, rawSize: Int(entry.size), stored: stored)
            }
            size += Int64(stored.count + Pack.entryHeaderSize)
            report.objects += 1
            done += 1
            if done % 4096 == 0 { progress?(TransferProgress(phase: "packing", objects: done, objectsTotal: objects.count, bytes: size, bytesTotal: 0)) }
            if size >= packLimit { try close() }
        }
        try close()
        let listing = try transport.list("packs/")
        let already = Set(listing.map(\.key))
        let sizes = Dictionary(listing.map { ($0.key, $0.size) }, uniquingKeysWith: { a, _ in a })
        let total = names.reduce(Int64(0)) { $0 + Int64(FS.stat(outDir + "/" + $1 + ".pack")?.size ?? 0) }
        report.bytes = total
        report.packs = names.count
        // Pack files in parallel.
        final class State: @unchecked Sendable { var error: Error?; var sent: Int64 = 0; let lock = NSLockLike() }
        let state = State()
        // A pack already uploaded whole (uploads are atomic: same name, same size) is not
        // sent again; its index may still be missing after an interruption.
        let todo = names.filter { n in
            sizes["packs/\(n).pack"] != Int(FS.stat(outDir + "/" + n + ".pack")?.size ?? 0)
        }
        let transport = self.transport, progress = self.progress
        let jobs = stopAfterPacks != nil ? 1 : min(max(1, self.jobs), max(1, todo.count))
        let stopAfter = stopAfterPacks
        DispatchQueue.concurrentPerform(iterations: jobs) { w in
            var k = w
            while k < todo.count {
                let n = todo[k]
                do {
                    if let stopAfter, k >= stopAfter { throw RemoteError("push interrupted after \(stopAfter) pack(s) (test fault injection)") }
                    try transport.putFile("packs/\(n).pack", path: outDir + "/" + n + ".pack")
                    let sz = Int64(FS.stat(outDir + "/" + n + ".pack")?.size ?? 0)
                    state.lock.withLock {
                        state.sent += sz
                        progress?(TransferProgress(phase: "uploading", objects: 0, objectsTotal: 0, bytes: state.sent, bytesTotal: total))
                    }
                } catch { state.lock.withLock { if state.error == nil { state.error = error } } }
                k += jobs
            }
        }
        if let e = state.error { throw e }
        // Metadata indexes, then the indexes in order: children become visible before their parents.
        var metaBlobs = Set<ObjectId>()
        for id in objects where try repo.store.info(id)?.kind == .commit {
            for (k, v) in try repo.readCommit(id, grafted: false).extra where Commit.objectHeaders.contains(k) {
                if let r = ObjectId(hex: v) { metaBlobs.insert(r) }
            }
        }
        for n in names where !already.contains("packs/\(n).idx") {
            let idx = try PackIndex(path: outDir + "/" + n + ".idx")
            var meta: [(ObjectId, PackEntry)] = []
            for i in 0..<idx.count {
                let e = try idx.entry(at: i), id = idx.id(at: i)
                if e.kind != .blob || metaBlobs.contains(id) { meta.append((id, e)) }
            }
            try FS.atomicWrite(outDir + "/" + n + ".midx", PackIndex.encode(meta), durable: false)
            try transport.putFile("packs/\(n).midx", path: outDir + "/" + n + ".midx")
            try transport.putFile("packs/\(n).idx", path: outDir + "/" + n + ".idx")
            try? copyFile(outDir + "/" + n + ".idx", cacheDir + "/idx/" + n + ".idx")
        }
    }

    // MARK: Remote gc

    /// What `gc --remote` found or did.
    public struct RemoteGCReport: Sendable {
        public var packsRemoved: [String] = []
        public var bytesRemoved: Int64 = 0
        public var packsKept = 0
        /// Unreachable packs younger than the grace period (a push may still reference them).
        public var packsTooYoung = 0
        /// Unreachable objects left inside packs that also hold reachable ones.
        public var unreachableInKeptPacks = 0
    }

    /// Removes remote packs none of whose objects any remote ref reaches, when they are
    /// older than `grace` seconds (a push uploads its packs before it moves a ref; the grace
    /// period covers pushes in flight). Fetches first, so the walk runs on local copies.
    public func gcRemote(dryRun: Bool, grace: Double) throws -> RemoteGCReport {
        var report = RemoteGCReport()
        _ = try fetch()
        let remote = try remoteRefs()
        // Level by level, so that a lazy clone fetches the chunk lists it lacks in one batch
        // per level (never the chunks themselves: a blob has no children).
        var reachable = Set<ObjectId>()
        var level = Array(Set(remote.values.map(\.id)))
        var report0 = FetchReport()
        while !level.isEmpty {
            let fresh = level.filter { reachable.insert($0).inserted }
            let isBlob = { (id: ObjectId) -> Bool in !self.repo.store.contains(id) && (try? self.remoteLocate(id))??.entry.kind == .blob }
            let lacking = fresh.filter { !repo.store.contains($0) && !isBlob($0) }
            if !lacking.isEmpty { try fetchObjects(lacking, report: &report0) }
            var next = Set<ObjectId>()
            for id in fresh where !isBlob(id) { next.formUnion(try children(id)) }
            level = Array(next)
        }
        metadataOnly = false
        try refreshIndexes()
        let listing = try transport.list("packs/")
        let now = Clock.wallSeconds()
        for (name, idx) in remoteIndexes.sorted(by: { $0.key < $1.key }) {
            var live = 0
            for i in 0..<idx.count where reachable.contains(idx.id(at: i)) { live += 1 }
            if live > 0 { report.packsKept += 1; report.unreachableInKeptPacks += idx.count - live; continue }
            let pack = listing.first { $0.key == "packs/\(name).pack" }
            let idxObj = listing.first { $0.key == "packs/\(name).idx" }
            let modified = max(pack?.modified ?? now, idxObj?.modified ?? now)
            if now - modified < grace { report.packsTooYoung += 1; continue }
            report.packsRemoved.append(name)
            report.bytesRemoved += Int64(pack?.size ?? 0) + Int64(idxObj?.size ?? 0)
            if !dryRun {
                // The index first: the pack becomes invisible, then goes.
                try transport.delete("packs/\(name).idx")
                try transport.delete("packs/\(name).midx")
                try transport.delete("packs/\(name).pack")
                try? FS.unlink(cacheDir + "/idx/" + name + ".idx")
                try? FS.unlink(cacheDir + "/idx/" + name + ".midx")
            }
        }
        return report
    }

    // MARK: Fetch

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
                throw RemoteError("\(transport.display): refusing the remote's ref '\(RefName.printable(ref))': as '\(RefName.printable(trackingRef(ref)))', \(why)")
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
                    throw RemoteError("\(transport.display): object \(id.hex) is not on the remote (an incomplete push?)")
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
        final class State: @unchecked Sendable { var error: Error?; var got: Int64 = 0; var reused = 0; var done = 0; let lock = NSLockLike() }
        let state = State()
        let transport = self.transport, progress = self.progress
        let sizes = remotePackSizes
        let total = names.reduce(Int64(0)) { $0 + Int64(sizes[$1] ?? 0) }
        let workers = stopAfterPacks != nil ? 1 : min(max(1, jobs), names.count)
        let stopAfter = stopAfterPacks.map { $0 - packsDownloaded }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var k = w
            while k < names.count {
                let n = names[k]
                do {
                    let pack = dir + "/" + n + ".pack", idx = dir + "/" + n + ".idx"
                    let have = FS.exists(idx) && sizes[n] != nil && FS.stat(pack).map { Int($0.size) } == sizes[n]
                    if have {
                        state.lock.withLock { state.reused += 1 }
                    } else {
                        if let stopAfter, state.lock.withLock({ state.done - state.reused }) >= stopAfter {
                            throw RemoteError("fetch interrupted (test fault injection)")
                        }
                        try transport.getFile("packs/\(n).idx", to: idx + ".part")
                        try transport.getFile("packs/\(n).pack", to: pack + ".part")
                        try FS.rename(pack + ".part", pack)
                        try FS.rename(idx + ".part", idx)
                    }
                    let sz = Int64(FS.stat(pack)?.size ?? 0)
                    state.lock.withLock {
                        state.got += sz
                        state.done += 1
                        progress?(TransferProgress(phase: "downloading", objects: 0, objectsTotal: 0, bytes: state.got, bytesTotal: total))
                    }
                } catch { state.lock.withLock { if state.error == nil { state.error = error } } }
                k += workers
            }
        }
        report.packsResumed += state.reused
        packsDownloaded += state.done - state.reused
        if let e = state.error { throw e }
        for n in names {
            let pack: Pack
            do { pack = try Pack(directory: dir, name: n) } catch {
                throw RemoteError("\(transport.display): downloaded pack \(n) is unreadable: \(error)")
            }
            guard pack.index.verifyChecksum() else { throw RemoteError("\(transport.display): pack index \(n) fails its checksum") }
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
                throw RemoteError("\(transport.display): object \(id.hex) \(location) is corrupt (\(error)); \(consequence)")
            }
            ok = n == Int(entry.size) && ObjectId(bytes: h.finalize()) == id
        }
        guard ok else {
            throw RemoteError("\(transport.display): object \(id.hex) \(location) does not match its id; \(consequence)")
        }
    }
}
