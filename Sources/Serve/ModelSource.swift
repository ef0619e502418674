import Dispatch
import Synchronization
import ML
import Net
import Store
import Support

/// Finds the model a `serve` target names: a model file on disk, `REV:PATH`, or a revision
/// (commit id, branch, tag, HEAD~N) whose tree holds one `.mlmodel` file (or the one `path`
/// names).
public struct ModelSource: Sendable {
    /// The target as given (a revision, REV:PATH, or a file).
    public let target: String
    /// The model's path inside the commit, when the target alone does not say.
    public let path: String?

    public init(target: String, path: String? = nil) {
        self.target = target
        self.path = path
    }

    /// The commit a revision target points at now (nil for a file target); `follow` polls it.
    /// It is the commit `load` reads the model from (for a registry alias, the commit that
    /// was promoted, not the promotion record's commit), so that it equals the loaded
    /// model's `commit` until the target moves.
    public func commitId(repo: Repository) throws -> ObjectId? {
        if isFileTarget(repo: repo, cwd: nil) { return nil }
        return try resolveRevision(repo: repo).commit
    }

    /// The commit a revision target names and the model path it implies: a registry alias
    /// names its model path, and its promoted commit holds the promoted tree.
    func resolveRevision(repo: Repository) throws -> (rev: String, commit: ObjectId, wanted: String?) {
        var (rev, wanted) = splitRevPath()
        var promotedFrom: String? = nil
        if Refs.isValidName(rev), let promo = try? MLRepo(repo).alias(rev) {
            if wanted == nil { wanted = promo.path }
            promotedFrom = promo.commit
        }
        var commit: ObjectId
        do { commit = try repo.resolveCommit(rev) } catch {
            throw ServeError("'\(rev)' is not a model file or a revision: \(error)")
        }
        if let p = promotedFrom, let id = ObjectId(hex: p), repo.store.contains(id) { commit = id }
        return (rev, commit, wanted)
    }

    func splitRevPath() -> (rev: String, path: String?) {
        if let colon = target.firstIndex(of: ":"), !target.hasPrefix("/") {
            return (String(target[..<colon]), String(target[target.index(after: colon)...]))
        }
        return (target, path)
    }

    func isFileTarget(repo: Repository?, cwd: String?) -> Bool {
        if target.contains(":") && !target.hasPrefix("/") { return false }
        let full = target.hasPrefix("/") ? target : Path.join(cwd ?? repo?.root ?? ".", target)
        guard let st = FS.stat(full), st.isRegular else { return false }
        // A name that is both a file and a revision: the file wins only when it is not a ref.
        if let repo, (try? repo.resolveCommit(target)) != nil, !target.hasSuffix(".mlmodel") { return false }
        return true
    }

    /// Loads the model. `cwd` resolves relative file paths.
    public func load(repo: Repository?, cwd: String) throws -> ServedModel {
        if isFileTarget(repo: repo, cwd: cwd) || repo == nil {
            let full = target.hasPrefix("/") ? target : Path.join(cwd, target)
            guard let st = FS.stat(full) else {
                throw ServeError(repo == nil ? "'\(target)' is not a model file (and there is no mlrepo repository here to resolve it as a revision)"
                                             : "'\(target)' is neither a model file nor a revision")
            }
            guard st.isRegular else { throw ServeError("'\(target)' is not a file") }
            let model: ModelFile
            do { model = try ModelFile.read(path: full) } catch { throw ServeError("\(error)") }
            let id: String
            if let repo { id = try repo.hashPath(full)?.hex ?? "" } else {
                id = Hex.encode(SHA256Hasher.digest(try FS.readFile(full)))
            }
            return try ServedModel(model: model, id: id, commit: nil, path: target, source: target)
        }
        let repo = repo!
        let (rev, commit, wanted) = try resolveRevision(repo: repo)
        let files = try repo.files(ofCommit: commit)
        let chosen: String
        if let wanted {
            let clean = wanted.hasPrefix("./") ? String(wanted.dropFirst(2)) : wanted
            guard files[clean] != nil else {
                throw ServeError("commit \(commit.short) (\(rev)) has no file '\(clean)'")
            }
            chosen = clean
        } else {
            let models = files.keys.filter { $0.hasSuffix(".mlmodel") }.sorted()
            guard !models.isEmpty else { throw ServeError("commit \(commit.short) (\(rev)) has no .mlmodel file; name one with --model PATH") }
            guard models.count == 1 else {
                throw ServeError("commit \(commit.short) (\(rev)) has \(models.count) model files (\(models.prefix(6).joined(separator: ", "))\(models.count > 6 ? ", …" : "")); choose one with --model PATH or \(rev):PATH")
            }
            chosen = models[0]
        }
        let file = files[chosen]!
        let reader = FileReader(store: repo.store)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(file.size))
        do { try reader.read(file.id) { bytes.append(contentsOf: $0) } } catch {
            throw ServeError("cannot read '\(chosen)' of commit \(commit.short): \(error)")
        }
        let model: ModelFile
        do { model = try ModelFile.decode(bytes, path: "\(rev):\(chosen)") } catch { throw ServeError("\(error)") }
        return try ServedModel(model: model, id: file.id.hex, commit: commit.hex, path: chosen, source: target)
    }
}

/// Polls a revision and hot-swaps the service's primary model when it moves (`serve --follow`).
/// A reload that fails keeps the current model and logs the reason. What a poll looks at is
/// a `Check`: a local revision (`init(source:…)`), or a remote alias (`RemoteReplica`).
public final class ModelFollower: @unchecked Sendable {
    /// One poll: the version the target names now (a commit id; nil for a file) and how to
    /// load it. The loop loads only a version other than the last one loaded.
    public typealias Check = @Sendable () throws -> (version: String?, load: () throws -> ServedModel)
    /// The target, as events name it.
    let label: String
    let check: Check
    let service: ScoringService
    let interval: Double
    private var thread: ThreadHandle? = nil
    /// Set, and its eventfd signalled, by `stop`; the poll loop sleeps on the eventfd.
    private let stopping = Atomic<Bool>(false)
    private let wake: EventFD?

    /// Follows a revision of the repository at `repoRoot`, opened afresh with `settings`
    /// (the host's) at each poll: refs and packs may have changed on disk.
    public convenience init(source: ModelSource, repoRoot: String, cwd: String, service: ScoringService, interval: Double,
                            settings: StoreSettings = StoreSettings()) {
        self.init(label: source.target, service: service, interval: interval) {
            let repo = try Repository(root: repoRoot, settings: settings)
            return (try source.commitId(repo: repo)?.hex, { try source.load(repo: repo, cwd: cwd) })
        }
    }

    public init(label: String, service: ScoringService, interval: Double, check: @escaping Check) {
        self.label = label; self.service = service; self.interval = interval; self.check = check
        wake = try? EventFD()
    }

    /// Called by `stop` before it waits (a replica cancels its fetch in progress).
    public var onStop: (@Sendable () -> Void)?
    /// Signalled when the poll loop returns.
    private let ended = DispatchSemaphore(value: 0)

    public func start(current: String?) {
        thread = Sys.spawnThread { [self] in loop(last: current); ended.signal() }
    }

    /// Stops polling and waits up to `timeout` seconds for a poll in progress to end.
    /// Returns false when it did not (a request to a remote that does not answer): the
    /// thread is left to end on its own, and the caller exits without it.
    @discardableResult
    public func stop(timeout: Double = .infinity) -> Bool {
        stopping.store(true, ordering: .sequentiallyConsistent)
        onStop?()
        wake?.signal()
        guard let t = thread else { return true }
        let deadline: DispatchTime = timeout.isFinite ? .now() + max(0, timeout) : .distantFuture
        guard ended.wait(timeout: deadline) == .success else { return false }
        t.join()
        thread = nil
        return true
    }

    deinit { wake?.close() }

    func loop(last: String?) {
        // Sleeps `interval` seconds between polls, or until `stop` signals the eventfd. Without
        // an eventfd or epoll set (out of descriptors), it sleeps in 50 ms steps instead and
        // checks `stopping` between them: following never silently stops.
        let poller: Poller? = wake.flatMap { w in
            guard let p = try? Poller() else { return nil }
            p.add(w.fd, events: Poller.readable, tag: 0)
            return p
        }
        defer { poller?.close() }
        var tags: [UInt64] = [0], events: [UInt32] = [0]
        let sleepMs = Int32(min(max(interval * 1000, 1), Double(Int32.max)))
        var last = last
        var lastError: String? = nil
        while true {
            if !stopping.load(ordering: .sequentiallyConsistent) {
                if let poller {
                    _ = poller.wait(tags: &tags, events: &events, timeoutMs: sleepMs)
                } else {
                    var slept: Int32 = 0
                    while slept < sleepMs && !stopping.load(ordering: .sequentiallyConsistent) {
                        let step = min(50, sleepMs - slept)
                        Sys.sleep(milliseconds: step)
                        slept += step
                    }
                }
            }
            if stopping.load(ordering: .sequentiallyConsistent) { return }
            do {
                let (now, load) = try check()
                if now != last {
                    let m = try load()
                    let old = service.models.primary
                    // A commit that moved to the same model (or a first poll that finds what
                    // is served) swaps nothing and logs nothing.
                    if m.id != old?.id {
                        service.swap(primary: m)
                        service.event(["event": .string("model_swapped"), "source": .string(label), "commit": now.map { .string($0) } ?? .null,
                                       "model": .string(m.id), "previous_model": old.map { .string($0.id) } ?? .null])
                    }
                    last = now
                    lastError = nil
                }
            } catch {
                let msg = "\(error)"
                if msg != lastError {
                    service.event(["event": .string("reload_failed"), "source": .string(label), "message": .string(msg)])
                    lastError = msg
                }
            }
        }
    }
}
