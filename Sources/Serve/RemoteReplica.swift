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
    }
    private let state = Mutex(State())
    /// Receives an event per fetch (`alias_fetched`: objects, bytes, milliseconds), for the log.
    public var onEvent: (@Sendable ([String: JSON]) -> Void)?
    /// The last fetch's event (the one `start` made, before there was a log to write it to).
    public private(set) var lastFetch: [String: JSON]?
    /// The poll interval, the start of the back-off after a failed promotion.
    public var interval = 2.0

    /// Opens the cache (creating it when missing) for `url`'s alias `alias`. `endpoint` and
    /// `region` are an S3 remote's; `settings` are the host's (S3 credentials included).
    public init(url: String, alias: String, cache: String, endpoint: String? = nil, region: String? = nil,
                settings: StoreSettings = StoreSettings()) throws {
        guard Refs.isValidName(alias), !alias.contains("/") else {
            throw ServeError("'\(RefName.printable(alias))' is not a valid alias name")
        }
        self.url = url; self.alias = alias; self.cache = cache
        let spec = RemoteSpec(name: "origin", url: url, endpoint: endpoint, region: region)
        // The remote's URL is checked before the cache is created.
        _ = try Repository.transport(for: spec, cwd: "/", create: false, s3: settings.s3)
        if FS.exists(cache + "/" + Repository.dirName + "/HEAD") {
            repo = try Repository(root: cache, settings: settings)
            guard repo.config.bool("replica.cache") == true else {
                throw ServeError("'\(cache)' is an mlrepo repository, not a replica's cache; choose another --cache folder")
            }
        } else {
            if FS.isDirectory(cache), let entries = try? FS.list(cache), !entries.isEmpty {
                throw ServeError("cache folder '\(cache)' is not empty and holds no replica cache; choose another --cache folder")
            }
            repo = try Repository.create(at: cache, settings: settings)
            try repo.setConfig("replica.cache", "true")
        }
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
    }

    /// The promotion commit served now (after `start`).
    public var served: ObjectId? { state.withLock { $0.served } }
    /// Polls made, and how many found the alias unchanged.
    public var pollCounts: (polls: Int, unchanged: Int) { state.withLock { ($0.polls, $0.unchanged) } }

    /// Reads the alias on the remote, fetches its promotion and loads the model: what the
    /// replica serves first. An alias the remote does not have, or a promotion that cannot
    /// be fetched or loaded, is an error. When the remote cannot be reached at all and the
    /// cache holds the alias from an earlier run, that model is served (`cachedBecause` says why).
    public func start() throws -> (model: ServedModel, cachedBecause: String?) {
        let read: RemoteRefState
        do { read = try sync.readRef(ref, unlessTag: nil) } catch let e as RemoteError where e.operation == .connect {
            guard let id = try repo.refs.read(ref) else { throw e }
            let m = try repo.withLock { try ModelSource(target: alias).load(repo: repo, cwd: repo.root) }
            state.withLock { $0.served = id }
            return (m, "\(e)")
        }
        switch read {
        case .absent, .unchanged:
            // The listing's own error (no such bucket, say) says more than "no alias".
            let known = try sync.transport.list("refs/aliases/").map { String($0.key.dropFirst(13)) }.filter { !$0.contains("/") }
            throw ServeError("\(sync.transport.display) has no alias '\(alias)'"
                             + (known.isEmpty ? " (it has no aliases: promote a model and push)" : " (aliases there: \(known.prefix(10).joined(separator: ", ")))"))
        case .at(let id, let tag):
            let m = try install(id)
            state.withLock { $0.served = id; $0.tag = tag }
            return (m, nil)
        }
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

    /// A follower that polls this replica's alias and hot-swaps `service`'s model.
    public func follower(service: ScoringService, interval: Double) -> ModelFollower {
        self.interval = interval
        return ModelFollower(label: alias, service: service, interval: interval) { [self] in try check() }
    }

    /// Fetches what serving promotion `id` needs, points the cache's alias at it and loads
    /// the model; on any failure the cache's alias goes back to what it was.
    func install(_ id: ObjectId) throws -> ServedModel {
        let started = Clock.wallSeconds()
        // Replicas on one machine may share the cache: one at a time fetches and moves the alias.
        return try repo.withLock {
            var objects = 0
            var bytes: Int64 = 0
            let previous = try repo.refs.read(ref)
            do {
                var (r, needed) = try sync.fetchForReading(commits: [id])
                objects += r.objects; bytes += r.bytes
                if previous != id { try repo.refs.update(ref, to: id, who: repo.signature(), message: "replica: \(alias) from \(url)") }
                guard let promotion = try MLRepo(repo).alias(alias) else { throw ServeError("alias '\(alias)' vanished from the cache") }
                guard let commit = ObjectId(hex: promotion.commit) else {
                    throw ServeError("promotion \(id.short) of '\(alias)' names no valid commit")
                }
                let tree = try repo.readCommit(id).tree
                guard let file = try repo.flatten(tree)[promotion.path] else {
                    throw ServeError("promotion \(id.short) of '\(alias)' names '\(promotion.path)', which its commit does not hold")
                }
                let more: Set<ObjectId>
                (r, more) = try sync.fetchForReading(commits: [commit], files: [file.id])
                objects += r.objects; bytes += r.bytes
                needed.formUnion(more)
                let m = try ModelSource(target: alias).load(repo: repo, cwd: repo.root)
                // What the model being served needs stays; older promotions' objects go.
                try? sync.compactCache(keeping: needed)  // a failure only leaves more packs
                let event: [String: JSON] = ["event": .string("alias_fetched"), "source": .string(alias), "remote": .string(sync.transport.display),
                                             "promotion": .string(id.hex), "objects": .int(Int64(objects)), "bytes": .int(bytes),
                                             "ms": .int(Int64(((Clock.wallSeconds() - started) * 1000).rounded()))]
                lastFetch = event
                onEvent?(event)
                return m
            } catch {
                if let previous { try? repo.refs.update(ref, to: previous, who: repo.signature(), message: "replica: \(alias) back") }
                else { try? repo.refs.delete(ref) }
                throw error
            }
        }
    }
}
