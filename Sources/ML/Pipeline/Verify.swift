import Store
import Support

/// One output of a verified run.
public struct VerifiedOutput: Sendable {
    public var path: String
    public var kind: PathKind
    public var recorded: ObjectId
    /// nil: the re-run did not write it.
    public var reproduced: ObjectId?
    /// For a metrics file that differs: every metric whose value changed.
    public var metricChanges: [ValueChange]
    /// For a model file that differs: the largest absolute difference between its weights
    /// and the recorded model's (infinity when the tensors' shapes differ).
    public var maxWeightDifference: Double? = nil
    public var identical: Bool { reproduced == recorded }
}

public struct VerifiedStage: Sendable {
    public var stage: String
    /// nil for a stage of the commit's project that has no recorded run.
    public var record: ObjectId?
    public var action: StageAction
    /// nil when the stage did not run (an earlier one failed).
    public var exitStatus: Int32?
    public var error: String?
    public var seconds: Double
    public var outputs: [VerifiedOutput]
}

public struct VerifyReport: Sendable {
    public var commit: ObjectId
    public var stages: [VerifiedStage]
    public var identical: Bool {
        !stages.isEmpty && stages.allSatisfy { $0.error == nil && $0.exitStatus == 0 && $0.outputs.allSatisfy(\.identical) }
    }
}

extension MLRepo {
    /// Re-runs the recorded stages of `commit` in a scratch folder holding that commit's
    /// files, in dependency order, and compares every output with the recorded id.
    /// `only`: verify just the stages whose action it accepts (`train --verify`: built-in trainers).
    public func verify(commit: ObjectId, only: ((StageAction) -> Bool)? = nil, events: PipelineEvents) throws -> VerifyReport {
        let c = try repo.readCommit(commit)
        guard let meta = try meta(of: c), !meta.runs.isEmpty else {
            throw MLError.revision(commit.short, reason: "records no stage runs; run stages with 'mlrepo run' or 'mlrepo repro' and commit them")
        }
        var records = try meta.runs.sorted { $0.key < $1.key }.map { ($0.value, try record($0.value)) }
        if let only { records = records.filter { only($0.1.action) } }
        if records.isEmpty { throw MLError.revision(commit.short, reason: "records no run of the stages to verify") }
        // Producers first: a run goes after every run whose output it reads.
        var ordered: [(ObjectId, LineageRecord)] = []
        while !records.isEmpty {
            let i = records.firstIndex { (_, r) in
                !records.contains { (_, other) in
                    other.stage != r.stage && other.outs.contains { o in r.deps.contains { pathCovers(o.path, $0.path) || pathCovers($0.path, o.path) } }
                }
            } ?? 0
            ordered.append(records.remove(at: i))
        }
        let scratch = try FS.makeTempDirectory(prefix: "mlrepo-verify-")
        defer { FS.removeTree(scratch) }
        let work = scratch + "/work"
        try repo.export(tree: c.tree, to: work)
        // A throwaway repository over the copy (same settings, so the same chunking) hashes
        // outputs by the same rules as the original: ignore files apply to output folders.
        _ = try Repository.create(at: work)
        if let cfg = try? FS.readFile(repo.dotDir + "/config") { try FS.atomicWrite(work + "/" + Repository.dirName + "/config", cfg, durable: false) }
        let copy = try Repository(root: work, settings: repo.settings)
        var report = VerifyReport(commit: commit, stages: [])
        var failed = false
        for (rid, rec) in ordered {
            var vs = VerifiedStage(stage: rec.stage, record: rid, action: rec.action, exitStatus: nil, error: nil, seconds: 0, outputs: [])
            defer { report.stages.append(vs) }
            func outputsUnverified() {
                vs.outputs = rec.outs.map { VerifiedOutput(path: $0.path, kind: $0.kind, recorded: $0.id, reproduced: nil, metricChanges: []) }
            }
            if failed { vs.error = "not run: an earlier stage failed"; outputsUnverified(); continue }

            // Outputs are rebuilt, not reused from the commit.
            for o in rec.outs { FS.removeTree(work + "/" + o.path) }
            for o in rec.outs {
                let d = Path.dirname(o.path)
                if d != "." && !d.isEmpty { try? FS.mkdirs(work + "/" + d) }
            }
            events(.running(stage: rec.stage, action: rec.action.summary, reason: "verify \(commit.short)"))
            let t0 = Clock.monotonic()
            let status: Int32
            switch rec.action {
            case .command(let cmd):
                status = try Subprocess.shell(cmd, cwd: work, env: ["MLREPO_STAGE": rec.stage, "MLREPO_ROOT": work, "MLREPO_VERIFY": "1"])
            case .builtin(let kind, let spec):
                let stage = Stage(name: rec.stage, action: rec.action, deps: rec.deps.map { PathDecl(path: $0.path, kind: $0.kind) }, params: [],
                                  outs: rec.outs.filter { $0.kind != .metrics }.map { PathDecl(path: $0.path, kind: $0.kind) },
                                  metrics: rec.outs.filter { $0.kind == .metrics }.map { PathDecl(path: $0.path, kind: $0.kind) })
                var opts = runOptions
                if opts.seed == nil, case .int(let s)? = rec.environment["seed"] { opts.seed = UInt64(bitPattern: s) }
                // The backend it ran on (after `auto` chose), unless the command line says: a
                // CPU-trained commit is re-trained on the CPU on a GPU machine, and a GPU-trained
                // one fails with the reason on a machine without a GPU (`--backend cpu` to try).
                if opts.backend == nil, case .string(let b)? = rec.environment["backend"], ["cpu", "gpu"].contains(b) { opts.backend = b }
                do { _ = try runBuiltinStage(kind, spec, stage: stage, root: work, options: opts); status = 0 }
                catch { vs.error = "\(error)"; status = 1 }
            }
            vs.seconds = Clock.monotonic() - t0
            vs.exitStatus = status
            if status != 0 { if vs.error == nil { vs.error = "exit status \(status)" }; failed = true; outputsUnverified(); continue }
            for o in rec.outs {
                let now = try copy.workTreeId(of: o.path)
                var v = VerifiedOutput(path: o.path, kind: o.kind, recorded: o.id, reproduced: now, metricChanges: [])
                if now != o.id, FS.lstat(work + "/" + o.path)?.isRegular == true,
                   let old = try? ModelFile.decode(FileReaderBytes(repo, o.id), path: o.path),
                   let new = try? ModelFile.read(path: work + "/" + o.path) {
                    v.maxWeightDifference = maxAbsDifference(old, new)
                }
                if now != o.id, o.kind == .metrics, FS.lstat(work + "/" + o.path)?.isRegular == true {
                    let old = try? readMetrics(text(of: o.id, path: o.path), file: o.path)
                    let new = try? readMetrics(FS.readText(work + "/" + o.path), file: o.path)
                    if let old, let new { v.metricChanges = compareValues([o.path: old], [o.path: new], all: false) }
                }
                vs.outputs.append(v)
            }
        }
        // Stages the commit declares but holds no run for: their outputs are unproven.
        if let project = try? project(in: repo.flatten(c.tree), label: commit.short) {
            for name in project.order where meta.runs[name] == nil && (only?(project.stages[name]!.action) ?? true) {
                let st = project.stages[name]!
                report.stages.append(VerifiedStage(
                    stage: name, record: nil, action: st.action, exitStatus: nil,
                    error: "no recorded run in this commit (its outputs changed after the run, or it never ran)", seconds: 0,
                    outputs: st.outputs.map { VerifiedOutput(path: $0.path, kind: $0.kind ?? .other, recorded: ObjectId.zero, reproduced: nil, metricChanges: []) }))
            }
        }
        return report
    }
}

/// The bytes of a stored file.
func FileReaderBytes(_ repo: Repository, _ id: ObjectId) throws -> [UInt8] {
    var out: [UInt8] = []
    try FileReader(store: repo.store).read(id) { out.append(contentsOf: $0) }
    return out
}

/// Largest |a − b| over the tensors two models share by name (∞ when shapes differ).
func maxAbsDifference(_ a: ModelFile, _ b: ModelFile) -> Double {
    var worst = 0.0
    for t in a.tensors {
        guard let u = b.tensor(t.name), u.rows == t.rows, u.cols == t.cols else { return .infinity }
        for i in t.values.indices { worst = max(worst, abs(Double(t.values[i]) - Double(u.values[i]))) }
    }
    return a.tensors.count == b.tensors.count ? worst : .infinity
}
