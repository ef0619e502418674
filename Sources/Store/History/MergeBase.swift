import Support

extension Repository {
    /// The best common ancestors of `a` and `b` (git's `merge-base --all`): commits reachable
    /// from both that are not ancestors of another such commit. Usually one; several after a
    /// criss-cross history; none for unrelated histories. Walks with explicit work lists (no
    /// recursion), each commit read at most once per walk.
    ///
    /// A commit missing from the store (a damaged or partially copied repository) is an
    /// error naming it; in a shallow clone the walk stops at the shallow boundary, so a base
    /// older than the fetched history is not found (the caller says so).
    public func mergeBases(_ a: ObjectId, _ b: ObjectId) throws -> [ObjectId] {
        if a == b { return [a] }
        let fromA = try ancestors(of: [a])
        if fromA.contains(b) { return [b] }
        // Walk from b, stopping at commits that are also ancestors of a (the common ones).
        var common: [ObjectId] = []
        var seen: Set<ObjectId> = [b]
        var queue = [b]
        var i = 0
        while i < queue.count {
            let c = queue[i]; i += 1
            if fromA.contains(c) { common.append(c); continue }
            for p in try parentsForWalk(c) where seen.insert(p).inserted { queue.append(p) }
        }
        if common.count <= 1 { return common }
        // Drop commons reachable from another common commit.
        let commonSet = Set(common)
        var redundant = Set<ObjectId>()
        var visited = Set<ObjectId>()
        var stack: [ObjectId] = []
        for c in common { stack += try parentsForWalk(c) }
        while let c = stack.popLast() {
            guard visited.insert(c).inserted else { continue }
            if commonSet.contains(c) { redundant.insert(c) }
            stack += try parentsForWalk(c)
        }
        var out: [ObjectId] = []
        for c in common where !redundant.contains(c) && !out.contains(c) { out.append(c) }
        return out
    }

    /// Every commit reachable from `starts` (themselves included).
    func ancestors(of starts: [ObjectId]) throws -> Set<ObjectId> {
        var seen = Set(starts)
        var stack = starts
        while let c = stack.popLast() {
            for p in try parentsForWalk(c) where seen.insert(p).inserted { stack.append(p) }
        }
        return seen
    }

    /// A commit's parents, with a missing commit reported clearly.
    func parentsForWalk(_ id: ObjectId) throws -> [ObjectId] {
        do { return try readCommit(id).parents } catch StoreError.objectMissing(let m, _) {
            throw StoreError.objectMissing(m, context: "commit in the history being merged; this repository lacks part of its history (run 'mlrepo fetch --unshallow' or fetch from a complete remote)")
        }
    }

    /// Whether this is a shallow repository (history cut at `.mlrepo/shallow`).
    public var isShallow: Bool { !shallowCache.isEmpty }
}
