#if canImport(Glibc)
import Glibc
#endif
import Support

/// Progress of a transfer, for a progress bar.
public struct TransferProgress: Sendable {
    public var phase: String
    public var objects: Int
    public var objectsTotal: Int
    public var bytes: Int64
    public var bytesTotal: Int64
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
    /// Asked between the steps of a partial fetch (`fetchForReading`): true stops it with an
    /// error (a server shutting down does not wait for a long download to end).
    public var shouldStop: (@Sendable () -> Bool)?
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
        transport = try Repository.transport(for: spec, cwd: repo.root, create: create, s3: repo.settings.s3)
        cacheDir = repo.dotDir + "/remotes/" + remote
        try FS.mkdirs(cacheDir + "/idx")
    }

    /// Syncs with the remote `spec` names (its name, for tracking refs and the cache) over a
    /// transport the caller made: another kind of remote, or an in-memory one in tests.
    public init(repo: Repository, spec: RemoteSpec, transport: any RemoteTransport, holdsRepository: Bool = true) throws {
        guard Repository.validRemoteName(spec.name) else {
            throw StoreError.invalid("remote name '\(spec.name)': use lowercase letters, digits, '-' and '_'")
        }
        borrowedRepo = repo
        ownedRepo = holdsRepository ? repo : nil
        self.spec = spec
        self.transport = transport
        cacheDir = repo.dotDir + "/remotes/" + spec.name
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
            let text = String(decoding: data, as: UTF8.self).trimmed(" \n\r\t")
            guard let id = ObjectId(hex: text) else { throw RemoteError(.fetch, remote: transport.display, subject: o.key, "ref \(o.key) is corrupt") }
            out[o.key] = (id, tag)
        }
        return out
    }

    /// Refuses a listing with a key that is not a valid ref name, a branch, tag or alias
    /// this repository could not store, or a name that is also a folder of another
    /// (`refs/heads/a` and `refs/heads/a/b`): a one-line error naming the remote and the key.
    func checkRemoteRefNames(_ keys: [String]) throws {
        func refuse(_ key: String, _ why: String) -> RemoteError {
            RemoteError(.fetch, remote: transport.display, subject: key, "refusing the remote's ref '\(RefName.printable(key))'", cause: why)
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
        let t = String(decoding: d, as: UTF8.self).trimmed(" \n\r\t")
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
            let tmp = local + ".tmp-\(getpid())"  // processes sharing the cache each write their own
            try transport.getFile(key, to: tmp)
            try FS.rename(tmp, local)
        }
        let idx: PackIndex
        do { idx = try PackIndex(path: local, packSize: remotePackSizes[name].map { UInt64($0) }) } catch {
            try? FS.unlink(local)
            throw RemoteError(.fetch, remote: transport.display, subject: key, "pack index \(key) is corrupt", cause: "\(error)")
        }
        guard idx.verifyChecksum() else {
            try? FS.unlink(local)
            throw RemoteError(.fetch, remote: transport.display, subject: key, "pack index \(key) fails its checksum")
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
}
