import Store
import Support

/// The ML view of a repository: its project file, the runs not yet committed, commit
/// metadata and lineage records. All ML commands go through it.
public final class MLRepo: @unchecked Sendable {
    public let repo: Repository
    /// Overrides for built-in stages (backend, threads, seed), set by `mlrepo train`.
    public var runOptions = RunOptions()

    public init(_ repo: Repository) { self.repo = repo }

    var mlDir: String { repo.dotDir + "/ml" }
    var pendingPath: String { mlDir + "/pending.json" }
    static let pinName = "ml-pending"
    /// Params, metrics and project files larger than this are refused (they are read whole).
    static let maxSmallFile = 16 << 20

    // MARK: Pending state

    /// Runs and hand-set kinds waiting for the next commit (`.mlrepo/ml/pending.json`); the
    /// run records are pinned so gc keeps them.
    struct Pending: Equatable {
        var runs: [String: ObjectId] = [:]
        var kinds: [String: PathKind] = [:]

        var json: JSON {
            .object(["runs": .object(runs.mapValues { .string($0.hex) }), "kinds": .object(kinds.mapValues { .string($0.rawValue) })])
        }
    }

    func loadPending() throws -> Pending {
        guard FS.exists(pendingPath) else { return Pending() }
        let text = try FS.readText(pendingPath)
        var p = Pending()
        guard let j = try? JSON.parse(text) else {
            throw MLError.corrupt(what: pendingPath, reason: "not valid JSON; delete it to forget the uncommitted runs")
        }
        for (s, v) in j["runs"]?.objectValue ?? [:] { if let h = v.stringValue, let id = ObjectId(hex: h) { p.runs[s] = id } }
        for (s, v) in j["kinds"]?.objectValue ?? [:] { if let k = v.stringValue.flatMap(PathKind.init(rawValue:)) { p.kinds[s] = k } }
        return p
    }

    func savePending(_ p: Pending) throws {
        try FS.mkdirs(mlDir)
        try FS.atomicWrite(pendingPath, text: p.json.encoded(pretty: true) + "\n", durable: repo.durable)
        try repo.setPins(MLRepo.pinName, p.runs.values.sorted())
    }

    func updatePending(_ body: (inout Pending) throws -> Void) throws {
        try repo.withLock {
            var p = try loadPending()
            try body(&p)
            try savePending(p)
        }
    }

    // MARK: Reading

    /// Text of a small blob or chunked file in the store.
    public func text(of id: ObjectId, path: String) throws -> String {
        let reader = FileReader(store: repo.store)
        guard try reader.size(of: id) <= UInt64(MLRepo.maxSmallFile) else { throw MLError.tooLarge(path: path, limit: MLRepo.maxSmallFile) }
        var bytes: [UInt8] = []
        try reader.read(id) { bytes.append(contentsOf: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Text of a work-tree file, nil when absent.
    public func workText(_ path: String) throws -> String? {
        let full = repo.fullPath(path)
        guard let st = FS.stat(full), st.isRegular else { return nil }
        guard st.size <= UInt64(MLRepo.maxSmallFile) else { throw MLError.tooLarge(path: path, limit: MLRepo.maxSmallFile) }
        return try FS.readText(full)
    }

    /// The project file in the work tree, nil when there is none.
    public func workProject() throws -> Project? {
        guard let t = try workText(Project.fileName) else { return nil }
        return try Project.parse(t)
    }

    public func requireProject() throws -> Project {
        guard let p = try workProject() else {
            throw MLError.noProject(root: repo.root)
        }
        return p
    }

    /// The project file of a set of committed or staged files.
    public func project(in files: [String: TreeFile], label: String) throws -> Project? {
        guard let f = files[Project.fileName] else { return nil }
        return try Project.parse(text(of: f.id, path: Project.fileName), file: "\(Project.fileName) in \(label)")
    }

    /// The ML metadata a commit names in its `meta` header (nil for a plain commit).
    public func meta(of commit: ObjectId) throws -> CommitMeta? {
        try meta(of: repo.readCommit(commit))
    }

    public func meta(of c: Commit) throws -> CommitMeta? {
        guard let h = c.headers("meta").first else { return nil }
        guard let id = ObjectId(hex: h) else { throw MLError.corrupt(what: "a commit's meta header", reason: "'\(h)' is not an object id") }
        if let m = metaCache[id] { return m }
        let bytes = try repo.store.read(id, as: .blob)
        let m: CommitMeta
        do { m = try CommitMeta(json: JSON.parse(String(decoding: bytes, as: UTF8.self))) }
        catch MLError.corrupt(_, let reason) { throw MLError.corrupt(what: "commit metadata \(id.hex)", reason: reason) }
        catch let e as JSON.ParseError { throw MLError.corrupt(what: "commit metadata \(id.hex)", reason: "\(e)") }
        metaCache[id] = m
        return m
    }

    private var metaCache: [ObjectId: CommitMeta] = [:]

    private var recordCache: [ObjectId: LineageRecord] = [:]

    public func record(_ id: ObjectId) throws -> LineageRecord {
        if let r = recordCache[id] { return r }
        let bytes = try repo.store.read(id, as: .blob)
        let r: LineageRecord
        do { r = try LineageRecord(json: JSON.parse(String(decoding: bytes, as: UTF8.self))) }
        catch MLError.corrupt(_, let reason) { throw MLError.corrupt(what: "lineage record \(id.hex)", reason: reason) }
        catch { throw MLError.corrupt(what: "lineage record \(id.hex)", reason: "\(error)") }
        recordCache[id] = r
        return r
    }

    /// The recorded runs that may describe the work tree, by stage: the uncommitted run
    /// first, then HEAD's, then (while a merge waits to be committed) the merged commit's.
    /// Callers take the first that matches the files.
    public func runCandidates() throws -> [String: [ObjectId]] {
        var out: [String: [ObjectId]] = [:]
        func add(_ runs: [String: ObjectId]?) {
            for (s, id) in runs ?? [:] where out[s]?.contains(id) != true { out[s, default: []].append(id) }
        }
        add(try loadPending().runs)
        add(try repo.refs.headCommit().flatMap({ try meta(of: $0) })?.runs)
        if let merging = try repo.mergeHead(), repo.store.contains(merging) { add(try meta(of: merging)?.runs) }
        return out
    }

    /// When HEAD is a merge commit that recorded no run of `stage` although a side of the
    /// merge did: `nil` reason when that side's run still describes the work tree (nothing
    /// to re-run), else why it no longer does (its inputs changed through the merge). Nil
    /// when HEAD is not such a merge.
    public func mergedAwayReason(_ stage: Stage, params: ValuesByFile?, ids: (String) throws -> ObjectId?) throws -> MergedAway? {
        guard let head = try repo.refs.headCommit() else { return nil }
        let c = try repo.readCommit(head)
        guard c.parents.count > 1, try meta(of: c)?.runs[stage.name] == nil else { return nil }
        var first: String? = nil
        var found = false
        for p in c.parents {
            guard let rid = try meta(of: p)?.runs[stage.name] else { continue }
            found = true
            guard let why = try mismatch(record(rid), stage, params: params, ids: ids) else { return MergedAway(reason: nil) }
            if first == nil { first = "not recorded by merge commit \(head.short): \(why) through the merge" }
        }
        return found ? MergedAway(reason: first) : nil
    }

    /// A stage's run that a merge commit did not carry (see `mergedAwayReason`).
    public struct MergedAway: Sendable {
        /// Why the run no longer describes the work tree; nil when it still does.
        public var reason: String?
    }

    /// Why `rec` does not describe `stage` run with `params` over files with these ids
    /// (`ids(path)`: the id now, nil when absent); nil when it does.
    func mismatch(_ rec: LineageRecord, _ stage: Stage, params: ValuesByFile?, ids: (String) throws -> ObjectId?) rethrows -> String? {
        if !rec.action.withoutHyperparameters.sameAs(stage.action.withoutHyperparameters) { return "its command changed" }
        if rec.deps.map(\.path) != stage.deps.map(\.path) { return "its list of dependencies changed" }
        if rec.outs.map(\.path) != stage.outputs.map(\.path) { return "its list of outputs changed" }
        guard let params else { return "its params cannot be read" }
        if !sameValues(params, rec.params) {
            let keys = compareValues(rec.params, params, all: false).filter { r in
                r.old.map { JSON.object(["v": $0]).encoded() } != r.new.map { JSON.object(["v": $0]).encoded() }
            }.map(\.key)
            return "params changed: " + keys.prefix(3).joined(separator: ", ")
        }
        for d in rec.deps {
            guard let now = try ids(d.path) else { return "dependency '\(d.path)' is missing" }
            if now != d.id { return "dependency '\(d.path)' changed" }
        }
        for o in rec.outs {
            guard let now = try ids(o.path) else { return "output '\(o.path)' is missing" }
            if now != o.id { return "output '\(o.path)' was modified" }
        }
        return nil
    }

    // MARK: Kinds

    /// Sets the kind of paths by hand (`mlrepo add --kind`); recorded by the next commit
    /// and carried by later ones.
    public func setKind(_ kind: PathKind, for paths: [String]) throws {
        try updatePending { p in for path in paths { p.kinds[path] = kind } }
    }

    /// Every known kind for the work tree: HEAD's, the project's, then hand-set ones.
    public func currentKinds() throws -> [String: PathKind] {
        let head = try repo.refs.headCommit().flatMap { try meta(of: $0) }
        var k = head?.kinds ?? [:]
        if let p = try? workProject() { for (a, b) in p.kinds() { k[a] = b } }
        for (a, b) in head?.manualKinds ?? [:] { k[a] = b }
        for (a, b) in try loadPending().kinds { k[a] = b }
        return k
    }

    // MARK: Commit

    /// A run that was not recorded in a commit because the commit's files no longer match it.
    public struct StaleRun: Sendable {
        public var stage: String
        public var reason: String
        /// The stage is gone from the project (renamed or deleted): nothing to re-run.
        public var removed: Bool = false
    }

    public struct CommitOutcome: Sendable {
        public var id: ObjectId
        public var recorded: [String]
        public var stale: [StaleRun]
    }

    /// Commits the index with its ML metadata: the lineage records whose inputs and outputs
    /// all match the committed files, kinds, params and metrics values. Concluding a merge
    /// (two parents), the runs and hand-set kinds of both sides are candidates; a stage no
    /// side's run describes any more is reported stale.
    public func commit(message: String, allowEmpty: Bool = false) throws -> CommitOutcome {
        var recorded: [String] = []
        var stale: [StaleRun] = []
        var usedPending = Pending()
        var committedRuns: [String: ObjectId] = [:]
        let id = try repo.commit(message: message, allowEmpty: allowEmpty) { files, parents in
            recorded = []; stale = []
            let pending = try self.loadPending()
            usedPending = pending
            // A merge has two parents (docs/merge-history.md): the runs of both sides are
            // candidates, the first parent's (ours) before the second's (theirs).
            let parentMetas = try parents.map { try self.meta(of: $0) }
            let parentMeta = parentMetas.first ?? nil
            let project = try self.project(in: files, label: "the index")
            var meta = CommitMeta()
            // Per stage of the committed project: the uncommitted run, else a parent's,
            // whichever still describes the committed files, command and params.
            var stages = Set(pending.runs.keys)
            for m in parentMetas { stages.formUnion(m?.runs.keys ?? [:].keys) }
            if let project { stages.formUnion(project.stages.keys) }
            let read: (String) throws -> String? = { p in try files[p].map { try self.text(of: $0.id, path: p) } }
            for stage in stages.sorted() {
                var candidates: [ObjectId] = []
                for c in [pending.runs[stage]] + parentMetas.map({ $0?.runs[stage] }) {
                    if let c, !candidates.contains(c) { candidates.append(c) }
                }
                if candidates.isEmpty { continue }
                guard let project, let st = project.stages[stage] else {
                    stale.append(StaleRun(stage: stage, reason: "the stage is no longer in \(Project.fileName)", removed: true)); continue
                }
                let params = try? st.paramValues(read: read)
                var firstReason: String? = nil
                var chosen: ObjectId? = nil
                for rid in candidates {
                    let why = try self.mismatch(self.record(rid), st, params: params) { try self.repo.id(of: $0, in: files) }
                    if why == nil { chosen = rid; break }
                    if firstReason == nil { firstReason = why }
                }
                if let chosen {
                    meta.runs[stage] = chosen
                    if parentMeta?.runs[stage] != chosen { recorded.append(stage) }
                } else {
                    stale.append(StaleRun(stage: stage, reason: firstReason ?? "no matching run"))
                }
            }
            func present(_ p: String) -> Bool { files[p] != nil || files.keys.contains { pathWithin($0, p) } }
            // Hand-set kinds of every parent; on a clash the first parent's (ours) wins, and
            // the uncommitted ones win over both.
            var manual: [String: PathKind] = [:]
            for m in parentMetas.reversed() { for (p, k) in m?.manualKinds ?? [:] { manual[p] = k } }
            for (p, k) in pending.kinds { manual[p] = k }
            meta.manualKinds = manual.filter { present($0.key) }
            var kinds = project?.kinds() ?? [:]
            for (p, k) in meta.manualKinds { kinds[p] = k }
            meta.kinds = kinds.filter { present($0.key) }
            if let project {
                for name in project.order {
                    let s = project.stages[name]!
                    for r in s.params {
                        if let v = try? readParams([r], stage: name, read: { p in try files[p].map { try self.text(of: $0.id, path: p) } }) {
                            for (f, kv) in v { meta.params[f, default: [:]].merge(kv) { $1 } }
                        }
                    }
                    for (f, kv) in s.builtinParams { meta.params[f, default: [:]].merge(kv) { $1 } }
                    for m in s.metrics {
                        guard let f = files[m.path] else { continue }
                        meta.metrics[m.path] = try readMetrics(self.text(of: f.id, path: m.path), file: m.path)
                    }
                }
            }
            committedRuns = meta.runs
            if meta.isEmpty { return [] }
            let metaId = try self.repo.store.put(.blob, meta.encoded())
            return [("meta", metaId.hex)] + meta.runs.sorted { $0.key < $1.key }.map { ("record", $0.value.hex) }
        }
        // Forget the runs of stages the commit recorded (or that are gone); keep a run that
        // matched nothing, in case its files are staged next.
        try updatePending { p in
            for (s, rid) in usedPending.runs where p.runs[s] == rid {
                if committedRuns[s] != nil || stale.contains(where: { $0.stage == s && $0.removed }) { p.runs[s] = nil }
            }
            for (path, k) in usedPending.kinds where p.kinds[path] == k { p.kinds[path] = nil }
        }
        return CommitOutcome(id: id, recorded: recorded, stale: stale)
    }
}
