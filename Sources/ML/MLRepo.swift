import Store
import Support

/// The ML view of a repository: its project file, the runs not yet committed, commit
/// metadata and lineage records. All ML commands go through it.
public final class MLRepo: @unchecked Sendable {
    public let repo: Repository

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
            throw MLError("\(pendingPath) is corrupt; delete it to forget the uncommitted runs")
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
        guard try reader.size(of: id) <= UInt64(MLRepo.maxSmallFile) else { throw MLError("'\(path)' is too large to read as JSON") }
        var bytes: [UInt8] = []
        try reader.read(id) { bytes.append(contentsOf: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Text of a work-tree file, nil when absent.
    public func workText(_ path: String) throws -> String? {
        let full = repo.fullPath(path)
        guard let st = FS.stat(full), st.isRegular else { return nil }
        guard st.size <= UInt64(MLRepo.maxSmallFile) else { throw MLError("'\(path)' is too large to read as JSON") }
        return try FS.readText(full)
    }

    /// The project file in the work tree, nil when there is none.
    public func workProject() throws -> Project? {
        guard let t = try workText(Project.fileName) else { return nil }
        return try Project.parse(t)
    }

    public func requireProject() throws -> Project {
        guard let p = try workProject() else {
            throw MLError("no \(Project.fileName) at the repository root \(repo.root); declare stages there (see docs/pipelines.md)")
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
        guard let id = ObjectId(hex: h) else { throw MLError("commit has a bad meta id '\(h)'") }
        let bytes = try repo.store.read(id, as: .blob)
        return try CommitMeta(json: JSON.parse(String(decoding: bytes, as: UTF8.self)))
    }

    private var recordCache: [ObjectId: LineageRecord] = [:]

    public func record(_ id: ObjectId) throws -> LineageRecord {
        if let r = recordCache[id] { return r }
        let bytes = try repo.store.read(id, as: .blob)
        let r: LineageRecord
        do { r = try LineageRecord(json: JSON.parse(String(decoding: bytes, as: UTF8.self))) } catch {
            throw MLError("object \(id.hex) is not a lineage record: \(error)")
        }
        recordCache[id] = r
        return r
    }

    /// The runs that describe the work tree: HEAD's records overlaid with uncommitted runs.
    public func currentRuns() throws -> [String: ObjectId] {
        var runs = try repo.refs.headCommit().flatMap { try meta(of: $0) }?.runs ?? [:]
        for (s, id) in try loadPending().runs { runs[s] = id }
        return runs
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
    /// all match the committed files, kinds, params and metrics values.
    public func commit(message: String, allowEmpty: Bool = false) throws -> CommitOutcome {
        var recorded: [String] = []
        var stale: [StaleRun] = []
        var usedPending = Pending()
        let id = try repo.commit(message: message, allowEmpty: allowEmpty) { files, parent in
            recorded = []; stale = []
            let pending = try self.loadPending()
            usedPending = pending
            let parentMeta = try parent.flatMap { try self.meta(of: $0) }
            let project = try self.project(in: files, label: "the index")
            var meta = CommitMeta()
            var candidates = parentMeta?.runs ?? [:]
            for (s, id) in pending.runs { candidates[s] = id }
            for (stage, rid) in candidates.sorted(by: { $0.key < $1.key }) {
                guard let project, project.stages[stage] != nil else {
                    stale.append(StaleRun(stage: stage, reason: "the stage is no longer in \(Project.fileName)", removed: true)); continue
                }
                let rec = try self.record(rid)
                var why: String? = nil
                for p in rec.deps + rec.outs {
                    let now = try self.repo.id(of: p.path, in: files)
                    if now != p.id { why = now == nil ? "'\(p.path)' is not staged" : "'\(p.path)' changed since the run"; break }
                }
                if let why { stale.append(StaleRun(stage: stage, reason: why)); continue }
                meta.runs[stage] = rid
                if parentMeta?.runs[stage] != rid { recorded.append(stage) }
            }
            func present(_ p: String) -> Bool { files[p] != nil || files.keys.contains { pathWithin($0, p) } }
            var manual = parentMeta?.manualKinds ?? [:]
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
                    for m in s.metrics {
                        guard let f = files[m.path] else { continue }
                        meta.metrics[m.path] = try readMetrics(self.text(of: f.id, path: m.path), file: m.path)
                    }
                }
            }
            if meta.isEmpty { return [] }
            let metaId = try self.repo.store.put(.blob, meta.encoded())
            return [("meta", metaId.hex)] + meta.runs.sorted { $0.key < $1.key }.map { ("record", $0.value.hex) }
        }
        // Forget what the commit took; keep runs and kinds it could not use.
        try updatePending { p in
            for (s, rid) in usedPending.runs where p.runs[s] == rid && !stale.contains(where: { $0.stage == s }) { p.runs[s] = nil }
            for (s, rid) in usedPending.runs where p.runs[s] == rid && stale.contains(where: { $0.stage == s && $0.removed }) { p.runs[s] = nil }
            for (path, k) in usedPending.kinds where p.kinds[path] == k { p.kinds[path] = nil }
        }
        return CommitOutcome(id: id, recorded: recorded, stale: stale)
    }
}
