#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ML
import Store
import Support

/// A serving replica of one registry alias on a remote (`serve --remote URL --alias NAME`),
/// on a machine with no repository: it keeps a minimal repository in a cache folder, with
/// the remote as a lazy `origin`, and fetches into it only what serving the alias needs: the
/// promotion commit and its record, the promoted commit and its metadata (lineage), the
/// trees, and the model file's data. The model is then loaded by the same code as
/// `serve ALIAS` in a repository (`ModelSource`); anything else a loader reads (a parent
/// commit's lineage, training data) comes on demand from the remote, verified.
///
/// A poll is one conditional read of `refs/aliases/NAME` (S3: `If-None-Match` with the
/// ETag, answered 304 with no body while it has not moved); only when it moved are the
/// pack indexes listed and the new objects fetched. Every object is checked against its
/// id; a bad ref, a missing or corrupt object refuses the new promotion and the model
/// being served stays. A promotion that failed is tried again after a back-off (doubling
/// from the poll interval up to a minute), or at once when the alias moves again.
///
/// The promotion record is read before the model: a format mlrepo cannot run (a pickle, a
/// folder) or a model over `maxModelBytes` is refused before its data moves. The cache's
/// alias ref moves only once the model has loaded, so the cache always names a model it
/// can serve offline. Replicas on one machine may share the cache: it is created and
/// opened under a lock file beside it (`CACHE.lock`), objects are fetched without the
/// repository's lock (they are content-addressed), and only the ref's move and the
/// compaction take it.
public final class RemoteReplica: @unchecked Sendable {
    public let url: String
    public let alias: String
    /// The cache folder (a repository marked `replica.cache`).
    public let cache: String
    let repo: Repository
    let sync: RemoteSync
    var ref: String { MLRepo.aliasRef(alias) }

    struct State {
        /// The promotion being served, and the remote ref's version tag when it was read.
        var served: ObjectId?
        var tag: String?
        /// A promotion that failed to load: when to try it again, and how many times it failed.
        var failed: (id: ObjectId, retryAt: Double, count: Int)?
        var polls = 0, unchanged = 0
        /// What serving `served` needs in the cache (nil: served from the cache at start,
        /// not known): what a compaction keeps.
        var needed: Set<ObjectId>?
    }
    private let state = Mutex(State())
    /// Receives an event per fetch (`alias_fetched`: objects, bytes, milliseconds), for the log.
    public var onEvent: (@Sendable ([String: JSON]) -> Void)?
    /// The last fetch's event (the one `start` made, before there was a log to write it to).
    public private(set) var lastFetch: [String: JSON]?
    /// The poll interval, the start of the back-off after a failed promotion.
    public var interval = 2.0
    /// The largest model served: a promotion of a larger one is refused before its data is
    /// fetched (`serve --max-model-bytes`, default 4 GiB).
    public var maxModelBytes: UInt64 = 4 << 30
    /// Set by `cancel` (a server stopping): a fetch in progress stops between its steps.
    let stopping = Atomic<Bool>(false)

    /// Opens the cache (creating it when missing) for `url`'s alias `alias`. `endpoint` and
    /// `region` are an S3 remote's; `settings` are the host's (S3 credentials included).
    /// Creating, checking and setting up the cache happen under `CACHE.lock`: a new cache is
    /// made in `CACHE.tmp-PID` and renamed into place whole, so a crash never leaves a
    /// half-made one; what a killed process left (that folder, temp packs and downloads of
    /// processes that are gone) is removed.
    public init(url: String, alias: String, cache: String, endpoint: String? = nil, region: String? = nil,
                settings: StoreSettings = StoreSettings()) throws {
        guard Refs.isValidName(alias), !alias.contains("/") else {
            throw ServeError("'\(RefName.printable(alias))' is not a valid alias name")
        }
        var cache = cache
        while cache.count > 1 && cache.hasSuffix("/") { cache.removeLast() }
        self.url = url; self.alias = alias; self.cache = cache
        let spec = RemoteSpec(name: "origin", url: url, endpoint: endpoint, region: region)
        // The remote's URL is checked before the cache is created.
        _ = try Repository.transport(for: spec, cwd: "/", create: false, s3: settings.s3)
        let parent = Path.dirname(cache), base = Path.basename(cache)
        do { try FS.mkdirs(parent) } catch { throw ServeError("cannot create cache folder '\(Quote.path(parent))': \(error)") }
        guard let lock = try FileLock(path: cache + ".lock", timeout: 120) else {
            throw ServeError("cache folder '\(Quote.path(cache))' is held by another replica (\(Quote.path(cache + ".lock")) locked for 2 minutes)")
        }
        defer { withExtendedLifetime(lock) {} }
        // Only a process holding the lock makes CACHE.tmp-PID: one there now is a crash's.
        for e in (try? FS.list(parent)) ?? [] where e.name.hasPrefix(base + ".tmp-") { FS.removeTree(parent + "/" + e.name) }
        if FS.exists(cache + "/" + Repository.dirName + "/HEAD") {
            repo = try Repository(root: cache, settings: settings)
            guard repo.config.bool("replica.cache") == true else {
                throw ServeError("'\(Quote.path(cache))' is an mlrepo repository, not a replica's cache; choose another --cache folder")
            }
        } else {
            if FS.isDirectory(cache), let entries = try? FS.list(cache), !entries.isEmpty {
                throw ServeError("cache folder '\(Quote.path(cache))' is not empty and holds no replica cache; choose another --cache folder")
            }
            let tmp = cache + ".tmp-\(getpid())"
            let made = try Repository.create(at: tmp, settings: settings)
            try made.setConfig("replica.cache", "true")
            // rename(2) replaces an empty folder (a --cache DIR made beforehand).
            try FS.rename(tmp, cache)
            repo = try Repository(root: cache, settings: settings)
        }
        RemoteReplica.removeStaleTemps(repo)
        if let have = repo.remotes().first(where: { $0.name == "origin" }) {
            if have != spec {
                // Another remote behind the same cache: forget what was cached about the old one.
                for (k, v) in [("url", url), ("endpoint", endpoint), ("region", region), ("profile", nil)] { try repo.setConfig("remote.origin.\(k)", v) }
                FS.removeTree(repo.dotDir + "/remotes/origin")
            }
        } else {
            try repo.addRemote(spec)
        }
        if repo.config.bool("remote.origin.lazy") != true || repo.store.missingSource == nil { try repo.markLazy("origin") }
        sync = try RemoteSync(repo: repo, remote: "origin")
        sync.metadataOnly = true
        sync.shouldStop = { [weak self] in self?.stopping.load(ordering: .relaxed) ?? true }
    }

    /// Removes what a killed fetch left in the cache: temp packs (`tmp-PID-…`), index
    /// downloads (`….tmp-PID`) and whole-pack downloads (`incoming-PID`) of processes that
    /// are gone. Another replica's work in progress (a live PID) stays.
    static func removeStaleTemps(_ repo: Repository) {
        func gone(_ digits: Substring) -> Bool {
            guard let pid = Int32(digits.prefix(while: \.isNumber)), pid > 0 else { return false }
            return pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
        }
        let packs = repo.store.directory
        for e in (try? FS.list(packs)) ?? [] where e.name.hasPrefix("tmp-") && gone(e.name.dropFirst(4)) { try? FS.unlink(packs + "/" + e.name) }
        let remote = repo.dotDir + "/remotes/origin"
        for e in (try? FS.list(remote)) ?? [] where e.name.hasPrefix("incoming-") && gone(e.name.dropFirst(9)) { FS.removeTree(remote + "/" + e.name) }
        for e in (try? FS.list(remote + "/idx")) ?? [] {
            guard let dash = e.name.lastIndex(of: "-"), e.name[..<dash].hasSuffix(".tmp"), gone(e.name[e.name.index(after: dash)...]) else { continue }
            try? FS.unlink(remote + "/idx/" + e.name)
        }
    }

    /// The promotion commit served now (after `start`).
    public var served: ObjectId? { state.withLock { $0.served } }
    /// Polls made, and how many found the alias unchanged.
    public var pollCounts: (polls: Int, unchanged: Int) { state.withLock { ($0.polls, $0.unchanged) } }

    /// Stops a fetch in progress (between its steps) and every later one.
    public func cancel() { stopping.store(true, ordering: .relaxed) }

    /// Reads the alias on the remote, fetches its promotion and loads the model: what the
    /// replica serves first. An alias the remote does not have, or a promotion that cannot
    /// be served, is an error. When the remote cannot be read (unreachable, refusing, an
    /// error after retries) and the cache holds the alias from an earlier run, that model is
    /// served (`cachedBecause` says why).
    public func start() throws -> (model: ServedModel, cachedBecause: String?) {
        let read: RemoteRefState
        do { read = try sync.readRef(ref, unlessTag: nil, patient: true) } catch let e as RemoteError {
            return try serveCached(because: e)
        }
        switch read {
        case .absent, .unchanged:
            // The listing's own error (no such bucket, say) says more than "no alias".
            let known = try sync.transport.list("refs/aliases/").map { String($0.key.dropFirst(13)) }.filter { !$0.contains("/") }
            throw ServeError("\(sync.transport.display) has no alias '\(alias)'"
                             + (known.isEmpty ? " (it has no aliases: promote a model and push)"
                                : " (aliases there: \(known.prefix(10).map { RefName.printable($0) }.joined(separator: ", ")))"))
        case .at(let id, let tag):
            let m: ServedModel
            do { m = try install(id) } catch let e as RemoteError { return try serveCached(because: e) }
            state.withLock { $0.served = id; $0.tag = tag }
            return (m, nil)
        }
    }

    /// The model the cache's alias names (from an earlier run), when the remote cannot be
    /// read; without one, the remote's error.
    func serveCached(because e: RemoteError) throws -> (model: ServedModel, cachedBecause: String?) {
        guard let id = try? repo.refs.read(ref) else { throw e }
        let m: ServedModel
        do { m = try load(promotion: MLRepo(repo).promotion(id)) } catch {
            throw ServeError("\(e) (and the cached promotion \(id.short) cannot be loaded: \(error))")
        }
        state.withLock { $0.served = id }
        return (m, "\(e)")
    }

    /// Loads the model promotion `p` names: `COMMIT:PATH`, not the alias (which may have
    /// moved on, in the cache or elsewhere).
    func load(promotion p: Promotion) throws -> ServedModel {
        guard let commit = ObjectId(hex: p.commit) else {
            throw ServeError("promotion \(p.id.short) of '\(alias)' names no valid commit")
        }
        return try ModelSource(target: commit.hex + ":" + p.path, promotion: p).load(repo: repo, cwd: repo.root)
    }

    /// One poll, for `ModelFollower`: the promotion the alias names now, and how to load it.
    public func check() throws -> (version: String?, load: () throws -> ServedModel) {
        let (served, tag) = state.withLock { s -> (ObjectId?, String?) in s.polls += 1; return (s.served, s.tag) }
        let keep: (String?, () throws -> ServedModel) = (served?.hex, { throw ServeError("nothing to load") })
        switch try sync.readRef(ref, unlessTag: tag) {
        case .unchanged:
            state.withLock { $0.unchanged += 1 }
            return keep
        case .absent:
            throw ServeError("\(sync.transport.display) no longer has alias '\(alias)'; still serving promotion \(served?.short ?? "-")")
        case .at(let id, let newTag):
            if id == served { state.withLock { $0.tag = newTag }; return keep }
            let now = Clock.wallSeconds()
            if let f = state.withLock({ $0.failed }), f.id == id, now < f.retryAt { return keep }
            return (id.hex, { [self] in
                do {
                    let m = try install(id)
                    state.withLock { $0.served = id; $0.tag = newTag; $0.failed = nil }
                    return m
                } catch {
                    state.withLock { s in
                        let count = s.failed?.id == id ? s.failed!.count + 1 : 1
                        s.failed = (id, Clock.wallSeconds() + min(60, max(interval, 0.1) * Double(1 << min(count, 10))), count)
                    }
                    throw error
                }
            })
        }
    }

    /// A follower that polls this replica's alias and hot-swaps `service`'s model; stopping
    /// it cancels a fetch in progress.
    public func follower(service: ScoringService, interval: Double) -> ModelFollower {
        self.interval = interval
        let f = ModelFollower(label: alias, service: service, interval: interval) { [self] in try check() }
        f.onStop = { [self] in cancel() }
        return f
    }

    /// Why promotion `p` cannot be served, judged from its record before any of its data
    /// moves: a format mlrepo does not run, a folder, or a model over `maxModelBytes`.
    func refusal(_ p: Promotion) -> String? {
        let what = "promotion \(p.id.short) of '\(alias)' (\(Quote.path(p.path)))"
        if let f = p.format.flatMap(ModelFormat.init(rawValue:)), !f.executable {
            return "\(what) is a \(f.displayName), which mlrepo cannot serve: \(f.exportHint ?? "export it to ONNX: see docs/onnx.md"), commit and promote the export"
        }
        if let size = p.size, size > maxModelBytes { return "\(what) is \(size) bytes, over --max-model-bytes \(maxModelBytes)" }
        return nil
    }

    /// Fetches what serving promotion `id` needs, loads the model, and only then points the
    /// cache's alias at it (a kill before leaves the cache naming the model it had). The
    /// fetch runs without the repository's lock; the ref's move and the compaction (which
    /// keeps what the served model needs, after a failure too) take it.
    func install(_ id: ObjectId) throws -> ServedModel {
        let started = Clock.wallSeconds()
        var objects = 0
        var bytes: Int64 = 0
        do {
            // The promotion commit and its record (no trees).
            var (r, needed) = try sync.fetchForReading(commits: [id], paths: [])
            objects += r.objects; bytes += r.bytes
            let promotion: Promotion
            do { promotion = try MLRepo(repo).promotion(id) } catch {
                throw ServeError("promotion \(id.short) of '\(alias)' cannot be read: \(error)")
            }
            if let why = refusal(promotion) { throw ServeError(why) }
            guard let commit = ObjectId(hex: promotion.commit) else {
                throw ServeError("promotion \(id.short) of '\(alias)' names no valid commit")
            }
            let shown = Quote.path(promotion.path)
            // The promoted commit, its metadata (lineage) and the trees along the path.
            var more: Set<ObjectId>
            (r, more) = try sync.fetchForReading(commits: [commit], paths: [promotion.path])
            objects += r.objects; bytes += r.bytes
            needed.formUnion(more)
            guard let entry = try repo.entry(in: repo.readCommit(commit).tree, path: promotion.path) else {
                throw ServeError("promotion \(id.short) of '\(alias)' names \(shown), which commit \(commit.short) does not hold")
            }
            if entry.mode.isDirectory {
                throw ServeError("promotion \(id.short) of '\(alias)' (\(shown)) is a \(ModelFormat.directory.displayName), which mlrepo cannot serve: \(ModelFormat.directory.exportHint!), commit and promote the export")
            }
            guard entry.size <= maxModelBytes else {
                throw ServeError("promotion \(id.short) of '\(alias)' (\(shown)) is \(entry.size) bytes, over --max-model-bytes \(maxModelBytes)")
            }
            (r, more) = try sync.fetchForReading(commits: [], files: [entry.id])
            objects += r.objects; bytes += r.bytes
            needed.formUnion(more)
            let m = try load(promotion: promotion)
            try repo.withLock {
                if try repo.refs.read(ref) != id { try repo.refs.update(ref, to: id, who: repo.signature(), message: "replica: \(alias) from \(url)") }
                // What the model being served needs stays; older promotions' objects go.
                try? sync.compactCache(keeping: needed)  // a failure only leaves more packs
            }
            state.withLock { $0.needed = needed }
            let event: [String: JSON] = ["event": .string("alias_fetched"), "source": .string(alias), "remote": .string(sync.transport.display),
                                         "promotion": .string(id.hex), "objects": .int(Int64(objects)), "bytes": .int(bytes),
                                         "ms": .int(Int64(((Clock.wallSeconds() - started) * 1000).rounded()))]
            lastFetch = event
            onEvent?(event)
            return m
        } catch {
            // What a failed promotion brought goes too, once there are enough packs.
            if let keep = state.withLock({ $0.needed }) { _ = try? repo.withLock { try sync.compactCache(keeping: keep) } }
            throw error
        }
    }
}
