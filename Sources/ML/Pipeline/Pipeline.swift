import Store
import Support

/// What a pipeline run reports as it goes (the CLI prints these; the library does not).
public enum PipelineEvent: Sendable {
    case upToDate(stage: String)
    /// About to run `stage`; `reason` says why ("never run", "dependency 'x' changed").
    case running(stage: String, action: String, reason: String)
    case finished(stage: String, seconds: Double, record: ObjectId)
    /// `--dry-run`: the stage would run.
    case wouldRun(stage: String, reason: String)
    /// Something worth saying about a run (e.g. which backend `auto` chose).
    case note(stage: String, message: String)
}

public typealias PipelineEvents = (PipelineEvent) -> Void

extension MLRepo {
    /// Runs one stage now, whatever its state, and records the run (pending until commit).
    @discardableResult
    public func run(stage name: String, events: PipelineEvents) throws -> LineageRecord {
        let project = try requireProject()
        guard let stage = project.stages[name] else { _ = try project.closure(of: [name]); fatalError() }
        return try execute(stage, project: project, reason: "requested", events: events)
    }

    /// Runs, in dependency order, every stage (of `targets` and their upstream stages, or
    /// all) whose command, params, inputs or outputs changed since its recorded run.
    /// Returns the stages that ran (or would run, with `dryRun`).
    @discardableResult
    public func repro(targets: [String], force: Bool = false, dryRun: Bool = false, events: PipelineEvents) throws -> [String] {
        let project = try requireProject()
        let stages = try project.closure(of: targets)
        // Every input must exist or be made by a stage, before anything runs.
        for name in stages {
            for d in project.stages[name]!.deps where !FS.exists(repo.fullPath(d.path)) && project.producers(of: d.path).isEmpty {
                throw MLError.stage(name, reason: "dependency '\(d.path)' does not exist and no stage produces it")
            }
        }
        var ran: [String] = []
        var willRun = Set<String>()
        for name in stages {
            let stage = project.stages[name]!
            var reason: String?
            if force { reason = "forced" }
            if reason == nil, dryRun, let up = upstreamHit(stage, project: project, hits: willRun) {
                reason = "upstream stage '\(up)' will run"
            }
            if reason == nil { reason = try staleReason(stage, project: project) }
            guard let reason else { events(.upToDate(stage: name)); continue }
            if dryRun {
                events(.wouldRun(stage: name, reason: reason)); willRun.insert(name); ran.append(name); continue
            }
            try execute(stage, project: project, reason: reason, events: events)
            ran.append(name)
        }
        return ran
    }

    func upstreamHit(_ stage: Stage, project: Project, hits: Set<String>) -> String? {
        for d in stage.deps.map(\.path) + stage.params.map(\.file) {
            for h in hits.sorted() where project.stages[h]!.outputs.contains(where: { pathCovers($0.path, d) || pathCovers(d, $0.path) }) { return h }
        }
        return nil
    }

    /// Why `stage` must run again, or nil when its last recorded run still describes the
    /// work tree (same command, params values, input and output ids).
    public func staleReason(_ stage: Stage, project: Project) throws -> String? {
        guard let candidates = try runCandidates()[stage.name], !candidates.isEmpty else {
            // After a merge commit that dropped the run: say what changed through the merge.
            let params = try stage.paramValues(read: workText)
            let ids = try repo.workTreeIds(of: (stage.deps + stage.outputs).map(\.path))
            if let merged = try mergedAwayReason(stage, params: params, ids: { ids[$0] ?? nil }) { return merged.reason }
            return "never run"
        }
        let params = try stage.paramValues(read: workText)
        let ids = try repo.workTreeIds(of: (stage.deps + stage.outputs).map(\.path))
        var first: String? = nil
        for rid in candidates {
            guard let why = try mismatch(record(rid), stage, params: params, ids: { ids[$0] ?? nil }) else { return nil }
            if first == nil { first = why }
        }
        return first
    }

    /// Removes the stage's output files whose content is in the store, and creates the
    /// outputs' parent folders.
    func clearOutputs(_ stage: Stage) throws {
        for o in stage.outputs {
            let full = repo.fullPath(o.path)
            if let st = FS.lstat(full) {
                let files = st.isDirectory ? try repo.scan(o.path).files.map(\.path) : [o.path]
                let ids = try repo.workTreeIds(of: files)
                for f in files { if let id = ids[f] ?? nil, repo.store.contains(id) { try? FS.unlink(repo.fullPath(f)) } }
                if st.isDirectory { _ = removeEmptyFolders(full) }
            }
            let dir = Path.dirname(o.path)
            if dir != "." && !dir.isEmpty { try? FS.mkdirs(repo.fullPath(dir)) }
        }
    }

    /// Removes empty folders bottom-up; true when `dir` itself was removed.
    func removeEmptyFolders(_ dir: String) -> Bool {
        guard let entries = try? FS.list(dir) else { return false }
        var empty = true
        for e in entries { if !(e.type == .directory && removeEmptyFolders(dir + "/" + e.name)) { empty = false } }
        return empty && FS.rmdir(dir)
    }

    /// Runs a stage in the work tree; on success stages its inputs and outputs and writes
    /// its lineage record. On failure nothing is recorded.
    @discardableResult
    func execute(_ stage: Stage, project: Project, reason: String, events: PipelineEvents) throws -> LineageRecord {
        for d in stage.deps where !FS.exists(repo.fullPath(d.path)) {
            throw MLError.stage(stage.name, reason: "dependency '\(d.path)' does not exist"
                          + (project.producers(of: d.path).first.map { " (stage '\($0)' produces it; run 'mlrepo repro \(stage.name)')" } ?? " and no stage produces it"))
        }
        let params = try stage.paramValues(read: workText)
        events(.running(stage: stage.name, action: stage.action.summary, reason: reason))
        let started = Clock.wallSeconds()
        let t0 = Clock.monotonic()
        let status: Int32
        var extraEnvironment: [String: JSON] = [:]
        switch stage.action {
        case .command(let cmd):
            // Outputs are rebuilt from scratch, as DVC does, so a stale file left in an output
            // folder cannot pass as this run's. Only files whose content the store holds are
            // removed (a previous run's or a committed version); anything else is left alone.
            try clearOutputs(stage)
            status = try Subprocess.shell(cmd, cwd: repo.root, env: ["MLREPO_STAGE": stage.name, "MLREPO_ROOT": repo.root])
        case .builtin(let kind, let spec):
            try clearOutputs(stage)
            let outcome = try runBuiltinStage(kind, spec, stage: stage, root: repo.root, options: runOptions)
            extraEnvironment = outcome.environment
            if let note = outcome.note { events(.note(stage: stage.name, message: note)) }
            status = 0
        }
        let duration = Clock.monotonic() - t0
        guard status == 0 else { throw StageFailed(stage: stage.name, status: status) }
        for o in stage.outputs where !FS.exists(repo.fullPath(o.path)) {
            throw MLError.outputMissing(stage: stage.name, output: o.path)
        }
        for m in stage.metrics {
            guard let t = try workText(m.path) else { throw MLError.stage(stage.name, reason: "its metrics output '\(m.path)' is not a regular file") }
            _ = try readMetrics(t, file: m.path)
        }
        // Stage what the run read and wrote, so the next commit holds exactly these versions.
        let paths = stage.deps.map(\.path) + stage.outputs.map(\.path) + Set(stage.params.map(\.file)).sorted()
            + (FS.exists(repo.fullPath(Project.fileName)) ? [Project.fileName] : [])
        var files: [String] = [], dirs: [String] = []
        for p in paths where FS.exists(repo.fullPath(p)) { if FS.isDirectory(repo.fullPath(p)) { dirs.append(p) } else { files.append(p) } }
        if !files.isEmpty { _ = try repo.add(files, force: true) }
        if !dirs.isEmpty { _ = try repo.add(dirs) }
        let kinds = try currentKinds().merging(project.kinds()) { a, _ in a }
        func recorded(_ d: PathDecl, role: PathKind) throws -> RecordedPath {
            guard let id = try repo.indexId(of: d.path, store: true) else {
                throw MLError.stage(stage.name, reason: "'\(d.path)' holds no trackable file (ignored, or only symlinks)")
            }
            return RecordedPath(path: d.path, id: id, kind: d.kind ?? kinds[d.path] ?? role)
        }
        let rec = LineageRecord(
            stage: stage.name, action: stage.action,
            deps: try stage.deps.map { try recorded($0, role: .dataset) }, params: params,
            outs: try stage.outs.map { try recorded($0, role: .model) } + stage.metrics.map { try recorded($0, role: .metrics) }
                + stage.plots.map { try recorded(PathDecl(path: $0.path, kind: nil), role: .other) },
            exitStatus: status, started: (started * 1000).rounded() / 1000, duration: duration,
            environment: machineEnvironment().merging(extraEnvironment) { $1 })
        let rid = try repo.withLock { () -> ObjectId in
            let id = try repo.store.put(.blob, rec.encoded())
            try repo.store.commitPending()
            return id
        }
        try updatePending { $0.runs[stage.name] = rid }
        events(.finished(stage: stage.name, seconds: duration, record: rid))
        return rec
    }
}
