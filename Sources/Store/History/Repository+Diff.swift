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
    /// The file modes (nil on the side without the file).
    public var oldMode: FileMode?
    public var newMode: FileMode?

    public init(path: String, status: DiffStatus, oldSize: UInt64?, newSize: UInt64?, oldId: ObjectId?, newId: ObjectId?,
                oldMode: FileMode? = nil, newMode: FileMode? = nil) {
        self.path = path; self.status = status; self.oldSize = oldSize; self.newSize = newSize
        self.oldId = oldId; self.newId = newId; self.oldMode = oldMode; self.newMode = newMode
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
                    out.append(DiffEntry(path: p, status: .modified, oldSize: x.size, newSize: y.size, oldId: x.id, newId: y.id, oldMode: x.mode, newMode: y.mode))
                }
            } else {
                out.append(DiffEntry(path: p, status: .deleted, oldSize: x.size, newSize: nil, oldId: x.id, newId: nil, oldMode: x.mode))
            }
        }
        for (p, y) in fb where fa[p] == nil {
            out.append(DiffEntry(path: p, status: .added, oldSize: nil, newSize: y.size, oldId: nil, newId: y.id, newMode: y.mode))
        }
        return out.sorted { $0.path < $1.path }
    }

    // MARK: Log

    /// Commits reachable from `start`, newest first (by committer time, then id). With
    /// `path`, only commits that changed something at or under it.
    public func log(from start: ObjectId, limit: Int? = nil, path: String? = nil) throws -> [(id: ObjectId, commit: Commit)] {
        try log(from: start, limit: limit, paths: path.map { [$0] } ?? [])
    }

    /// Commits reachable from `start` (through every parent), newest first. With `paths`,
    /// only the commits that changed something at or under any of them (docs/merge-history.md):
    /// a commit with one parent when one of the paths differs from its parent's, a root
    /// commit when it holds one of them, and a merge only when it differs from *every*
    /// parent there (a merge that took one side's version unchanged is not shown; the side's
    /// own commits are). All parents are walked: unlike git, history is not pruned to the
    /// parent a merge took its version from.
    public func log(from start: ObjectId, limit: Int? = nil, paths: [String]) throws -> [(id: ObjectId, commit: Commit)] {
        var out: [(ObjectId, Commit)] = []
        if let limit, limit <= 0 { return [] }
        try walkLog(from: start) { id, c in
            if try paths.isEmpty || changes(c, paths: paths) { out.append((id, c)) }
            return limit.map { out.count < $0 } ?? true
        }
        return out
    }

    /// Whether commit `c` changed any of `paths` (the rule of `log -- PATH...`).
    public func changes(_ c: Commit, paths: [String]) throws -> Bool {
        let mine = try paths.map { try entry(in: c.tree, path: $0) }
        guard !c.parents.isEmpty else { return mine.contains { $0 != nil } }
        for p in c.parents {
            let tree = try readCommit(p).tree
            var same = true
            for (i, path) in paths.enumerated() {
                let theirs = try entry(in: tree, path: path)
                if mine[i]?.id != theirs?.id || mine[i]?.mode != theirs?.mode { same = false; break }
            }
            // Identical to one parent at these paths: the change (if any) came from that side.
            if same { return false }
        }
        return true
    }

    /// The commits reachable from `start` in graph order, as `log --graph` draws them
    /// (newest first, a parent never before any of its children, each side of a merge shown
    /// as one run where possible): Kahn's algorithm over the reachable commits with a
    /// last-in-first-out stack, parents pushed in order, so a merge's second parent's line
    /// comes first (as git's `--topo-order` does). Memory: the parents of every reachable
    /// commit (ids only); `body` gets each commit's id and parents and returns false to stop.
    public func walkTopo(from start: ObjectId, _ body: (ObjectId, [ObjectId]) throws -> Bool) throws {
        var parents: [ObjectId: [ObjectId]] = [:]
        var children: [ObjectId: Int] = [:]
        var todo = [start]
        while let id = todo.popLast() {
            guard parents[id] == nil else { continue }
            let ps = try readCommit(id).parents
            parents[id] = ps
            var distinct = Set<ObjectId>()
            for p in ps where distinct.insert(p).inserted {
                children[p, default: 0] += 1
                if parents[p] == nil { todo.append(p) }
            }
        }
        var stack = [start]
        while let id = stack.popLast() {
            let ps = parents[id] ?? []
            guard try body(id, ps) else { return }
            var distinct = Set<ObjectId>()
            for p in ps where distinct.insert(p).inserted {
                children[p]! -= 1
                if children[p]! == 0 { stack.append(p) }
            }
            parents[id] = nil
        }
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
