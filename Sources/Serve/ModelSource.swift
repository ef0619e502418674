import Dispatch
import Synchronization
import ML
import Net
import Store
import Support

/// Finds the model a `serve` target names: a model file on disk, `REV:PATH`, or a revision
/// (commit id, branch, tag, HEAD~N, registry alias) whose tree holds one `.mlmodel` or
/// `.onnx` file (or the one `path` names).
public struct ModelSource: Sendable {
    /// The target as given (a revision, REV:PATH, or a file).
    public let target: String
    /// The model's path inside the commit, when the target alone does not say.
    public let path: String?

    /// The promotion the target serves, when a replica loads one (an alias target finds its
    /// own): its stored training statistics come before lineage.
    let promotion: Promotion?

    public init(target: String, path: String? = nil) {
        self.target = target
        self.path = path
        promotion = nil
    }

    init(target: String, promotion: Promotion) {
        self.target = target
        path = nil
        self.promotion = promotion
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
        if let repo, (try? repo.resolveCommit(target)) != nil, !target.hasSuffix(".mlmodel"), !target.hasSuffix(".onnx") { return false }
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
            guard st.isRegular else {
                if st.isDirectory { throw ServeError(ModelNotRunnable(path: target, format: .directory).description) }
                throw ServeError("'\(target)' is not a file")
            }
            if let f = ModelFormat.detect(name: full, head: []), !f.executable {
                throw ServeError(ModelNotRunnable(path: target, format: f).description)
            }
            // Both formats mlrepo runs hold at most 2 GiB in one file: refuse before reading.
            guard st.size <= UInt64(Int32.max) else { throw ServeError("'\(target)' is \(st.size) bytes, over the 2 GiB a model file may have") }
            let bytes: [UInt8]
            do { bytes = try FS.readFile(full) } catch { throw ServeError("cannot read '\(target)': \(error)") }
            let id: String
            if let repo { id = try repo.hashPath(full)?.hex ?? Hex.encode(SHA256Hasher.digest(bytes)) } else {
                id = Hex.encode(SHA256Hasher.digest(bytes))
            }
            // Lineage of a work-tree file: the work tree's view.
            var lineage: (Repository, String, ObjectId?)? = nil
            if let repo {
                let root = repo.root.hasSuffix("/") ? repo.root : repo.root + "/"
                let real = FS.realpath(full) ?? full
                let realRoot = (FS.realpath(repo.root) ?? repo.root) + "/"
                if real.hasPrefix(realRoot) { lineage = (repo, String(real.dropFirst(realRoot.count)), nil) }
                else if full.hasPrefix(root) { lineage = (repo, String(full.dropFirst(root.count)), nil) }
            }
            return try make(bytes, name: full, shownAs: target, id: id, commit: nil, path: target, lineage: lineage)
        }
        let f = try readFromCommit(repo: repo!)
        // An alias's promotion of this very version stores its training statistics.
        let rev = splitRevPath().rev
        var promo = promotion ?? (Refs.isValidName(rev) ? try? MLRepo(repo!).alias(rev) : nil)
        if let p = promo, p.path != f.path || p.commit != f.commit.hex || p.modelId != f.id.hex { promo = nil }
        return try make(f.bytes, name: f.path, shownAs: f.shownAs, id: f.id.hex, commit: f.commit.hex, path: f.path,
                        lineage: (repo!, f.path, f.commit), promotion: promo)
    }

    /// The model file a revision target names, read from its commit: the file `REV:PATH` or
    /// `path` names, else the commit's one `.mlmodel` or `.onnx` file.
    public func readFromCommit(repo: Repository) throws -> (bytes: [UInt8], path: String, shownAs: String, id: ObjectId, commit: ObjectId) {
        let (rev, commit, wanted) = try resolveRevision(repo: repo)
        let chosen: String
        let file: (id: ObjectId, size: UInt64)
        if let wanted {
            // Only the trees along the path are read (a replica's cache holds just those).
            let clean = wanted.hasPrefix("./") ? String(wanted.dropFirst(2)) : wanted
            guard let e = try repo.entry(in: repo.readCommit(commit).tree, path: clean) else {
                throw ServeError("commit \(commit.short) (\(rev)) has no file '\(Quote.path(clean))'")
            }
            guard !e.mode.isDirectory else {
                throw ServeError("'\(Quote.path(clean))' of commit \(commit.short) (\(rev)) is a folder, not a model file")
            }
            chosen = clean
            file = (e.id, e.size)
        } else {
            let files = try repo.files(ofCommit: commit)
            // The one runnable model file (.mlmodel or .onnx); other model formats are
            // refused by name, with the export that makes them runnable.
            let models = files.keys.filter { $0.hasSuffix(".mlmodel") || $0.hasSuffix(".onnx") }.sorted()
            guard !models.isEmpty else {
                let other = files.keys.sorted().compactMap { p -> (String, ModelFormat)? in
                    guard let f = ModelFormat.detect(name: p, head: []), !f.executable else { return nil }
                    return (p, f)
                }
                if other.count == 1 { throw ServeError(ModelNotRunnable(path: "\(rev):\(other[0].0)", format: other[0].1).description) }
                throw ServeError("commit \(commit.short) (\(rev)) has no .mlmodel or .onnx file; name one with --model PATH")
            }
            guard models.count == 1 else {
                throw ServeError("commit \(commit.short) (\(rev)) has \(models.count) model files (\(models.prefix(6).joined(separator: ", "))\(models.count > 6 ? ", …" : "")); choose one with --model PATH or \(rev):PATH")
            }
            chosen = models[0]
            file = (files[chosen]!.id, files[chosen]!.size)
        }
        if let f = ModelFormat.detect(name: chosen, head: []), !f.executable {
            throw ServeError(ModelNotRunnable(path: "\(rev):\(chosen)", format: f).description)
        }
        let reader = FileReader(store: repo.store)
        var bytes: [UInt8] = []
        guard file.size <= UInt64(Int32.max) else { throw ServeError("\(rev):\(chosen) is \(file.size) bytes, over the 2 GiB a model file may have") }
        bytes.reserveCapacity(Int(file.size))
        do { try reader.read(file.id) { bytes.append(contentsOf: $0) } } catch {
            throw ServeError("cannot read '\(chosen)' of commit \(commit.short): \(error)")
        }
        return (bytes, chosen, "\(rev):\(chosen)", file.id, commit)
    }

    /// A served model from its bytes. An ONNX model's feature names (when its metadata has
    /// none) and drift statistics come from its training data, found through `lineage`
    /// (repository, path, commit or nil for the work tree).
    /// `promotion`'s stored statistics, when it has them, come first (serving them reads no
    /// training data).
    func make(_ bytes: [UInt8], name: String, shownAs: String, id: String, commit: String?, path: String,
              lineage: (Repository, String, ObjectId?)?, promotion: Promotion? = nil) throws -> ServedModel {
        let format = ModelFormat.detect(name: name, head: Array(bytes.prefix(64))) ?? .mlmodel
        guard format == .onnx else {
            let loaded: LoadedModel
            do { loaded = try LoadedModel.load(bytes: bytes, name: name, shownAs: shownAs) } catch { throw ServeError("\(error)") }
            return try ServedModel(loaded: loaded, id: id, commit: commit, path: path, source: target)
        }
        do {
            let program = try ONNXProgram(ONNXModel.decode(bytes, path: shownAs), path: shownAs)
            let plain = try ONNXScorer(program)
            var stats: JSON? = nil, off: String? = nil
            var scorer = plain
            if let (repo, rel, at) = lineage {
                let features: @Sendable ([String], String?) -> [String] = { header, label in
                    switch plain.layout {
                    case .columns(let inputs):
                        return inputs.filter { ($0.type == .float || $0.type == .double) && $0.width == 1 }.map(\.name)
                    case .matrix:
                        return plain.namesFrom == "metadata" ? plain.featureNames : header.filter { $0 != label }
                    }
                }
                let ml = MLRepo(repo)
                let found = promotion.flatMap { ml.promotedTrainingData($0) }.map { r in r.map { $0.keeping(features($0.columns, $0.label)) } }
                    ?? ml.trainingData(ofModel: rel, modelId: id, commit: at, features: features)
                switch found {
                case .success(let td):
                    stats = td.columnStats
                    // The header names the features unless the metadata does; the label is known either way.
                    scorer = try ONNXScorer(program, features: td.columns, label: td.label)
                case .failure(let why):
                    off = why.description
                }
            } else {
                off = "\(path) is not in an mlrepo repository, so no lineage names its training data"
            }
            return try ServedModel(loaded: .onnx(scorer), id: id, commit: commit, path: path, source: target,
                                   trainingStats: stats, driftOff: off)
        } catch let e as ServeError { throw e } catch { throw ServeError("\(error)") }
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
