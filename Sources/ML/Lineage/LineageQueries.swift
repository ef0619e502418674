import Store
import Support

/// One commit of an experiment listing: its metadata only, no data reads.
public struct ExperimentRow: Sendable {
    public var id: ObjectId
    public var commit: Commit
    public var meta: CommitMeta?
}

/// A path in a lineage graph.
public struct LineageNode: Sendable {
    public var path: String
    public var id: ObjectId?
    public var kind: PathKind
    /// The run that produced this version; nil for raw inputs (data, code) or when no
    /// record is known.
    public var producedBy: LineageStep?
    /// Why the walk stopped here, when it did for a reason other than reaching a raw input.
    public var note: String?
    /// For a folder input: the outputs of other stages inside it, with their own lineage.
    public var parts: [LineageNode] = []

    /// Bounds on an upstream walk, since records come from clones we do not trust: a chain
    /// of stages deeper than `maxDepth`, or a graph of more than `maxNodes` nodes once
    /// shared inputs are expanded (a diamond chain doubles at each level), stops with a note
    /// instead of recursing or allocating without limit.
    public static let maxDepth = 128
    public static let maxNodes = 2_000
}

/// A run in a lineage graph.
public struct LineageStep: Sendable {
    public var stage: String
    public var action: StageAction
    public var record: ObjectId
    /// The commit that first recorded the run (nil: not committed yet).
    public var recordedIn: ObjectId?
    public var started: Double
    public var duration: Double
    public var params: ValuesByFile
    public var inputs: [LineageNode]
    public var environment: [String: JSON]
}

/// An output derived (directly or through other stages) from a given file version.
public struct DerivedOutput: Sendable {
    public var path: String
    public var id: ObjectId
    public var kind: PathKind
    public var stage: String
    public var record: ObjectId
    /// The upstream version the chain came through: the queried file, or an output
    /// derived from it, with its id.
    public var via: String
    public var viaId: ObjectId
    /// The run's input (as declared) that read `via`: the same path, or a folder holding it.
    public var input: String
    /// 1 for a direct product, 2 for a product of a product, …
    public var depth: Int
    /// Commits that hold this record, ancestors before descendants (then by time).
    public var commits: [ObjectId]
}

extension MLRepo {
    // MARK: Experiments

    /// Commits reachable from `start`, newest first, with their metadata.
    public func experiments(from start: ObjectId, limit: Int?) throws -> [ExperimentRow] {
        try repo.log(from: start, limit: limit).map { ExperimentRow(id: $0.id, commit: $0.commit, meta: try meta(of: $0.commit)) }
    }

    /// Commits reachable from `start` that changed a path of `kind`, with those paths.
    public func commitsChanging(kind: PathKind, from start: ObjectId, limit: Int?) throws -> [(id: ObjectId, commit: Commit, paths: [String])] {
        var out: [(ObjectId, Commit, [String])] = []
        try repo.walkLog(from: start) { id, c in
            if let limit, out.count >= limit { return false }
            let parents = try c.parents.map { try repo.readCommit($0) }
            // Kinds of this commit and of its parents, so a deleted model counts too.
            var kinds: [String: PathKind] = [:]
            for p in parents.reversed() { for (path, k) in try meta(of: p)?.kinds ?? [:] { kinds[path] = k } }
            for (p, k) in try meta(of: c)?.kinds ?? [:] { kinds[p] = k }
            let paths = kinds.filter { $0.value == kind }.map(\.key).sorted()
            if paths.isEmpty { return true }
            var changed: [String] = []
            for p in paths {
                let mine = try repo.entry(in: c.tree, path: p)
                // As `log -- PATH`: a merge changed a path only when it differs from every parent.
                var differs = true
                for parent in parents {
                    let theirs = try repo.entry(in: parent.tree, path: p)
                    if mine?.id == theirs?.id && mine?.mode == theirs?.mode { differs = false; break }
                }
                if parents.isEmpty && mine == nil { differs = false }
                if differs { changed.append(p) }
            }
            if !changed.isEmpty { out.append((id, c, changed)) }
            return true
        }
        return out
    }

    // MARK: Upstream lineage

    /// What produced `path`: the run that wrote it, that run's inputs, the runs that wrote
    /// those, back to raw data and code. `commit` nil means the work tree's view (HEAD's
    /// records plus uncommitted runs).
    public func upstream(path: String, commit: ObjectId?) throws -> LineageNode {
        // Runs in order of preference: a commit's own, or (work tree) uncommitted then HEAD's.
        var runList: [ObjectId] = []
        var kinds: [String: PathKind] = [:]
        var pathId: ObjectId?
        if let commit {
            let c = try repo.readCommit(commit)
            let m = try meta(of: c)
            runList = (m?.runs ?? [:]).sorted { $0.key < $1.key }.map(\.value)
            kinds = m?.kinds ?? [:]
            guard let e = try repo.entry(in: c.tree, path: path) else {
                throw MLError.pathNotFound(path, revision: commit.short)
            }
            pathId = e.id
        } else {
            runList = try runCandidates().sorted { $0.key < $1.key }.flatMap(\.value)
            kinds = try currentKinds()
            pathId = try repo.workTreeId(of: path) ?? repo.indexId(of: path)
            if pathId == nil { throw MLError.pathNotFound(path, revision: nil) }
        }
        let records = try runList.map { ($0, try record($0)) }
        var recordedIn: [ObjectId: ObjectId?] = [:]
        func firstCommit(_ rid: ObjectId, stage: String) throws -> ObjectId? {
            if let c = recordedIn[rid] { return c }
            var found: ObjectId? = nil
            // The work tree's view: HEAD's runs, or (a merge in progress) the merged commit's.
            let starts = try commit.map { [$0] } ?? [repo.refs.headCommit(), repo.mergeHead()].compactMap { $0 }
            for start in starts where found == nil {
                // Back through the commits that hold the run (a merge may have it from either
                // side); commits cannot form a cycle, so this ends.
                var cur: ObjectId? = start
                while let c = cur, repo.store.contains(c) {
                    let cm = try repo.readCommit(c)
                    guard try meta(of: cm)?.runs[stage] == rid else { break }
                    found = c
                    cur = nil
                    for p in cm.parents where try meta(of: p)?.runs[stage] == rid { cur = p; break }
                }
            }
            recordedIn[rid] = found
            return found
        }
        func kindOf(_ p: String, _ fallback: PathKind) -> PathKind {
            if let k = kinds[p] { return k }
            return kinds.filter { pathWithin(p, $0.key) }.max { $0.key.count < $1.key.count }?.value ?? fallback
        }
        /// The id of `p` inside folder version `dir` (nil when unknown).
        func idInside(_ dir: RecordedPath, _ p: String) -> ObjectId? {
            (try? repo.entry(in: dir.id, path: String(p.dropFirst(dir.path.count + 1))))??.id
        }
        var visiting = Set<ObjectId>()
        var made = 0
        func node(_ p: String, _ id: ObjectId?, fallback: PathKind, depth: Int = 0) throws -> LineageNode {
            var n = LineageNode(path: p, id: id, kind: kindOf(p, fallback), producedBy: nil, note: nil)
            made += 1
            if depth >= LineageNode.maxDepth || made > LineageNode.maxNodes {
                n.note = depth >= LineageNode.maxDepth
                    ? "lineage deeper than \(LineageNode.maxDepth) stages: not followed further"
                    : "lineage larger than \(LineageNode.maxNodes) nodes: not followed further"
                return n
            }
            let covering = records.filter { $0.1.outs.contains { pathCovers($0.path, p) } }
            // Prefer the run that wrote exactly this version.
            let match = covering.first { r in
                r.1.outs.contains { o in o.path == p ? o.id == id : (pathWithin(p, o.path) && id != nil && idInside(o, p) == id) }
            } ?? covering.first
            guard let (rid, rec) = match else {
                // A folder input holding other stages' outputs: show those outputs as parts.
                for (_, rec) in records {
                    for o in rec.outs where pathWithin(o.path, p) && !n.parts.contains(where: { $0.path == o.path }) {
                        let inner = id.flatMap { try? repo.entry(in: $0, path: String(o.path.dropFirst(p.count + 1)))?.id } ?? o.id
                        n.parts.append(try node(o.path, inner, fallback: o.kind, depth: depth + 1))
                    }
                }
                return n
            }
            let out = rec.outs.first { pathCovers($0.path, p) }!
            if out.path == p { n.kind = kinds[p] ?? out.kind }
            if let id {
                let written = out.path == p ? out.id : idInside(out, p)
                if let written, written != id {
                    n.note = "this version was not written by the recorded run of stage '\(rec.stage)' (it wrote \(written.short))"
                    return n
                }
            }
            guard visiting.insert(rid).inserted else { return n }
            defer { visiting.remove(rid) }
            let inputs = try rec.deps.map { try node($0.path, $0.id, fallback: $0.kind, depth: depth + 1) }
            n.producedBy = LineageStep(stage: rec.stage, action: rec.action, record: rid,
                                       recordedIn: try firstCommit(rid, stage: rec.stage), started: rec.started,
                                       duration: rec.duration, params: rec.params, inputs: inputs, environment: rec.environment)
            return n
        }
        var root = try node(path, pathId, fallback: .other)
        if root.producedBy == nil && root.note == nil && root.parts.isEmpty {
            let readers = records.filter { $0.1.deps.contains { pathCovers($0.path, path) || pathWithin(path, $0.path) } }.map(\.1.stage)
            let paramReaders = records.filter { $0.1.params[path] != nil }.map(\.1.stage)
            if !paramReaders.isEmpty {
                root.kind = kinds[path] ?? .params
                root.note = "params file; values read by stage(s) " + Array(Set(paramReaders)).sorted().joined(separator: ", ")
            } else if !readers.isEmpty {
                root.note = "raw input, read by stage(s) " + Array(Set(readers)).sorted().joined(separator: ", ")
            } else {
                root.note = "no recorded run wrote or read '\(path)'"
            }
        }
        return root
    }

    // MARK: Downstream lineage

    /// Every output, in every commit any branch or tag reaches, that was derived from
    /// version `id` of `path`, directly or through further stages.
    public func downstream(path: String, id: ObjectId) throws -> [DerivedOutput] {
        // Index every record by the commits that hold it.
        var starts: [ObjectId] = []
        for (_, c) in try repo.branches() { starts.append(c) }
        for (_, c) in try repo.tags() { starts.append(c) }
        if let h = try repo.refs.headCommit() { starts.append(h) }
        // Generation numbers (1 + the deepest parent's) order commits by ancestry, so a
        // parent always comes before its child, whatever their timestamps.
        var commits: [ObjectId: Commit] = [:]
        var stack = starts
        while let c = stack.popLast() {
            guard commits[c] == nil else { continue }
            let cm = try repo.readCommit(c)
            commits[c] = cm
            stack.append(contentsOf: cm.parents)
        }
        var generation: [ObjectId: Int] = [:]
        for c in commits.keys where generation[c] == nil {
            var work: [(ObjectId, Bool)] = [(c, false)]
            while let (id, expanded) = work.popLast() {
                if generation[id] != nil { continue }
                let ps = commits[id]?.parents ?? []
                if expanded || ps.allSatisfy({ generation[$0] != nil }) {
                    generation[id] = 1 + (ps.compactMap { generation[$0] }.max() ?? 0)
                } else {
                    work.append((id, true))
                    for p in ps where generation[p] == nil { work.append((p, false)) }
                }
            }
        }
        var holders: [ObjectId: [(ObjectId, Int, Int64)]] = [:]
        for (c, cm) in commits {
            for h in cm.headers("record") {
                if let rid = ObjectId(hex: h) { holders[rid, default: []].append((c, generation[c] ?? 0, cm.committer.time)) }
            }
        }
        for (_, rid) in try loadPending().runs where holders[rid] == nil { holders[rid] = [] }
        let records = try holders.keys.sorted().map { ($0, try record($0)) }

        // Does input `d` of a run read version `qid` of `qpath`? (A folder whose tree is not in
        // the store — an uncommitted run's, after gc — cannot be looked into: no match.)
        func reads(_ d: RecordedPath, _ qpath: String, _ qid: ObjectId) -> Bool {
            if d.path == qpath { return d.id == qid }
            if pathWithin(qpath, d.path) {  // the query lies inside a folder input
                return (try? repo.entry(in: d.id, path: String(qpath.dropFirst(d.path.count + 1))))??.id == qid
            }
            if pathWithin(d.path, qpath) {  // the query is a folder holding the input
                return (try? repo.entry(in: qid, path: String(d.path.dropFirst(qpath.count + 1))))??.id == d.id
            }
            return false
        }
        // A params file is read as values: a run read this version when every value it
        // recorded from the file equals this version's.
        var queriedParams: FlatValues? = nil
        if records.contains(where: { $0.1.params[path] != nil }) {
            let text = repo.store.contains(id) ? try? self.text(of: id, path: path) : try? workText(path)
            if let text, let j = try? JSON.parse(text) {
                queriedParams = flatten(j)
                // The project file: its built-in stages' hyperparameters, as they are recorded.
                if path == Project.fileName, let p = try? Project.parse(text) {
                    for s in p.stages.values { for (k, v) in s.builtinParams[path] ?? [:] { queriedParams?[k] = v } }
                }
            }
        }
        func readsParams(_ rec: LineageRecord, _ qpath: String) -> Bool {
            guard qpath == path, let have = queriedParams, let used = rec.params[qpath] else { return false }
            return used.allSatisfy { k, v in have[k].map { JSON.array([$0]).encoded() } == JSON.array([v]).encoded() }
        }
        // Records by the paths they read, so each step looks only at the runs that could
        // have read it (not at every record again).
        var byDep: [String: [Int]] = [:]
        var byParamsFile: [String: [Int]] = [:]
        for (i, (_, rec)) in records.enumerated() {
            for d in Set(rec.deps.map(\.path)) { byDep[d, default: []].append(i) }
            for f in rec.params.keys { byParamsFile[f, default: []].append(i) }
        }
        func candidates(_ qp: String) -> [Int] {
            var hits = byDep[qp] ?? []
            var dir = Path.dirname(qp)
            while dir != "." && !dir.isEmpty {  // folders holding the query
                hits += byDep[dir] ?? []
                dir = Path.dirname(dir)
            }
            for (d, idx) in byDep where pathWithin(d, qp) { hits += idx }  // inputs inside a queried folder
            if qp == path { hits += byParamsFile[qp] ?? [] }
            return Array(Set(hits)).sorted()
        }
        var out: [DerivedOutput] = []
        var done = Set<String>()
        var frontier: [(String, ObjectId, Int)] = [(path, id, 0)]
        var head = 0
        var sortedCommits: [ObjectId: [ObjectId]] = [:]
        while head < frontier.count {
            let (qp, qid, depth) = frontier[head]
            head += 1
            for i in candidates(qp) {
                let rid = records[i].0
                let rec = records[i].1
                guard let input = rec.deps.first(where: { reads($0, qp, qid) })?.path ?? (readsParams(rec, qp) ? qp : nil) else { continue }
                for o in rec.outs {
                    let key = "\(o.path)\u{0}\(o.id.hex)\u{0}\(rid.hex)"
                    guard done.insert(key).inserted else { continue }
                    if sortedCommits[rid] == nil {
                        sortedCommits[rid] = (holders[rid] ?? []).sorted {
                            ($0.1, $0.2) != ($1.1, $1.2) ? ($0.1, $0.2) < ($1.1, $1.2) : $0.0 < $1.0
                        }.map(\.0)
                    }
                    out.append(DerivedOutput(path: o.path, id: o.id, kind: o.kind, stage: rec.stage, record: rid,
                                             via: qp, viaId: qid, input: input, depth: depth + 1, commits: sortedCommits[rid]!))
                    frontier.append((o.path, o.id, depth + 1))
                }
            }
        }
        return out
    }
}
