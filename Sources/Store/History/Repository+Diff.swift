import Support

/// One side of a diff.
public enum DiffSide: Sendable {
    case commit(ObjectId)
    case index
    case workTree
}

public enum DiffStatus: String, Sendable {
    case added, deleted, modified
}

public struct DiffEntry: Equatable, Sendable {
    public var path: String
    public var status: DiffStatus
    public var oldSize: UInt64?
    public var newSize: UInt64?
    public var oldId: ObjectId?
    public var newId: ObjectId?

    public init(path: String, status: DiffStatus, oldSize: UInt64?, newSize: UInt64?, oldId: ObjectId?, newId: ObjectId?) {
        self.path = path; self.status = status; self.oldSize = oldSize; self.newSize = newSize
        self.oldId = oldId; self.newId = newId
    }
}

extension Repository {
    /// The files on one side of a diff.
    public func files(of side: DiffSide, spec: String = "") throws -> [String: TreeFile] {
        switch side {
        case .commit(let id):
            return try flatten(readCommit(id).tree, prefix: spec)
        case .index:
            let idx = try StagingIndex.load(indexPath)
            var out: [String: TreeFile] = [:]
            for (p, e) in idx.entries where pathMatches(p, spec) { out[p] = TreeFile(mode: e.mode, size: e.size, id: e.id) }
            return out
        case .workTree:
            var idx = try StagingIndex.load(indexPath)
            let (cmp, refreshed) = try compareWorkTree(&idx, spec: spec, hashUntracked: false)
            if refreshed { tryRefreshIndex(idx) }
            return cmp.ids
        }
    }

    /// Added, removed and modified paths from `a` to `b`, sorted by path. Content is
    /// compared by id; a mode change alone counts as modified.
    public func diff(_ a: DiffSide, _ b: DiffSide, spec: String = "") throws -> [DiffEntry] {
        let fa = try files(of: a, spec: spec), fb = try files(of: b, spec: spec)
        var out: [DiffEntry] = []
        for (p, x) in fa {
            if let y = fb[p] {
                if x.id != y.id || x.mode != y.mode {
                    out.append(DiffEntry(path: p, status: .modified, oldSize: x.size, newSize: y.size, oldId: x.id, newId: y.id))
                }
            } else {
                out.append(DiffEntry(path: p, status: .deleted, oldSize: x.size, newSize: nil, oldId: x.id, newId: nil))
            }
        }
        for (p, y) in fb where fa[p] == nil {
            out.append(DiffEntry(path: p, status: .added, oldSize: nil, newSize: y.size, oldId: nil, newId: y.id))
        }
        return out.sorted { $0.path < $1.path }
    }

    // MARK: Log

    /// Commits reachable from `start`, newest first (by committer time, then id). With
    /// `path`, only commits that changed something at or under it.
    public func log(from start: ObjectId, limit: Int? = nil, path: String? = nil) throws -> [(id: ObjectId, commit: Commit)] {
        var out: [(ObjectId, Commit)] = []
        try walkLog(from: start) { id, c in
            if let limit, out.count >= limit { return false }
            var include = true
            if let path {
                let mine = try entry(in: c.tree, path: path)
                if let p = c.parents.first {
                    let theirs = try entry(in: try readCommit(p).tree, path: path)
                    include = mine?.id != theirs?.id || mine?.mode != theirs?.mode
                } else { include = mine != nil }
            }
            if include { out.append((id, c)) }
            return limit.map { out.count < $0 } ?? true
        }
        return out
    }

    /// Visits the commits reachable from `start`, newest first (by committer time), until
    /// `body` returns false. Reads only as many commits as it visits (plus their parents).
    public func walkLog(from start: ObjectId, _ body: (ObjectId, Commit) throws -> Bool) throws {
        var seen: Set<ObjectId> = [start]
        var queue: [(ObjectId, Commit)] = [(start, try readCommit(start))]
        while !queue.isEmpty {
            // Pick the newest (histories are mostly linear: the queue stays tiny).
            var best = 0
            for i in 1..<queue.count where queue[i].1.committer.time > queue[best].1.committer.time { best = i }
            let (id, c) = queue.remove(at: best)
            guard try body(id, c) else { return }
            for p in c.parents where seen.insert(p).inserted { queue.append((p, try readCommit(p))) }
        }
    }
}
