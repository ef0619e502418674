import Support

extension Repository {
    // MARK: rm

    /// Unstages paths and (unless `cached`) deletes them from the work tree. Refuses to
    /// delete files with unstaged changes unless `force`.
    public func remove(_ specs: [String], cached: Bool, force: Bool = false, recursive: Bool = true) throws -> [String] {
        try withLock {
            var index = try StagingIndex.load(indexPath)
            var targets: [String] = []
            for s in specs {
                // Unmerged paths (a merge's conflicts) are resolved as deleted.
                // Naming the file of a file/folder conflict resolves just that file.
                let exact = index.unmerged[s] != nil
                let u = exact ? [s] : index.unmerged.keys.filter { pathMatches($0, s) }
                for p in u { index.unmerged[p] = nil }
                let m = (exact ? [] : index.entries.keys.filter { pathMatches($0, s) }) + u
                if m.isEmpty { throw StoreError.badPath(s.isEmpty ? "." : s, reason: "did not match any tracked file") }
                targets += m
            }
            targets = Array(Set(targets)).sorted()
            if !cached && !force {
                var dirty: [String] = []
                for s in specs {
                    let (w, _) = try compareWorkTree(&index, spec: s)
                    dirty += w.changes.filter { $0.change == .modified }.map(\.path)
                }
                if !dirty.isEmpty {
                    throw StoreError.invalid("these files have unstaged changes: \(StoreError.list(dirty.sorted())) (use --cached to keep them, or --force to delete them)")
                }
            }
            index.treeId = nil
            for p in targets {
                index.entries[p] = nil
                if !cached { removeWorkFile(p) }
            }
            try index.write(indexPath, durable: durable)
            return targets
        }
    }

    public enum ResetMode: String, Sendable { case soft, mixed, hard }

    /// Moves the current branch (or detached HEAD) to `rev`. `soft` keeps index and work
    /// tree; `mixed` also rebuilds the index from `rev` (the way to recover a damaged
    /// index); `hard` also makes the work tree match, discarding local changes.
    public func reset(to rev: String?, mode: ResetMode) throws -> ObjectId? {
        try withLock {
            let target = try rev.map { try resolveCommit($0) } ?? refs.headCommit()
            // A reset ends a merge in progress (git's rule); a soft one would keep its
            // half-merged index as if it were staged work, so it is refused.
            if mode == .soft, try mergeHead() != nil {
                throw StoreError.invalid("cannot do a soft reset in the middle of a merge ('mlrepo merge --abort', or reset --mixed/--hard)")
            }
            guard let target else {
                if mode == .soft { return nil }
                try resetIndex(to: nil)
                clearMergeState()
                return nil
            }
            if mode == .hard {
                // A damaged index cannot say what is tracked: rebuild it from HEAD first.
                if (try? StagingIndex.load(indexPath)) == nil { try resetIndex(to: try refs.headCommit()) }
                _ = try moveTo(target, head: try refs.head(), force: true, message: "reset: moving to \(rev ?? "HEAD")")
                removeMergeAsides()
            }
            let who = signature()
            switch try refs.head() {
            case .branch(let b):
                if try refs.read("refs/heads/" + b) != target {
                    try refs.update("refs/heads/" + b, to: target, who: who, message: "reset: moving to \(rev ?? "HEAD")")
                }
            case .detached(let cur):
                if cur != target { try refs.setHead(.detached(target), who: who, message: "reset: moving to \(rev ?? "HEAD")") }
            }
            if mode == .mixed { try resetIndex(to: target) }
            if mode != .soft { clearMergeState() }
            return target
        }
    }

    /// Rebuilds the index from a commit without reading the old index (so it also
    /// recovers a damaged one); the work tree is untouched. Entries get no trusted stat
    /// data, so the next status re-hashes them once.
    public func resetIndex(to commit: ObjectId?) throws {
        try withLock {
            var index = StagingIndex()
            for (p, f) in try files(ofCommit: commit) {
                var e = IndexEntry(path: p, mode: f.mode, size: f.size, id: f.id)
                if let st = FS.lstat(fullPath(p)), st.isRegular, st.size == f.size {
                    // Stat data is filled in but the entry is racy-checked: mtime left at 0
                    // forces a re-hash on the next status.
                    e.inode = st.inode; e.device = st.device
                }
                index.entries[p] = e
            }
            index.treeId = try commit.map { try readCommit($0).tree }
            try index.write(indexPath, durable: durable)
        }
    }

    // MARK: Branches and tags

    public func branches() throws -> [(name: String, id: ObjectId)] { try refs.list("heads") }
    public func tags() throws -> [(name: String, id: ObjectId)] { try refs.list("tags") }

    /// Creates branch `name` at `rev` (default HEAD). With `force`, an existing branch is
    /// moved there instead (git's `branch -f`), except the checked-out one.
    public func createBranch(_ name: String, at rev: String?, force: Bool = false) throws -> ObjectId {
        try withLock {
            guard Refs.isValidName(name) else { throw StoreError.badRefName(name) }
            let existing = try refs.read("refs/heads/" + name)
            if existing != nil && !force { throw StoreError.refExists("branch " + name) }
            if existing != nil, case .branch(let cur) = try refs.head(), cur == name {
                throw StoreError.invalid("cannot force-update branch '\(name)': it is checked out (use reset)")
            }
            let id = try resolveCommit(rev ?? "HEAD")
            try refs.update("refs/heads/" + name, to: id, who: signature(),
                            message: existing == nil ? "branch: created from \(rev ?? "HEAD")" : "branch: reset to \(rev ?? "HEAD")")
            return id
        }
    }

    /// Deletes a branch. Without `force`, refuses one whose commits are not reachable
    /// from HEAD (they would be lost), and always refuses the current branch.
    public func deleteBranch(_ name: String, force: Bool) throws -> ObjectId {
        try withLock {
            guard let id = try refs.read("refs/heads/" + name) else { throw StoreError.badRevision(name, reason: "no such branch") }
            if case .branch(let cur) = try refs.head(), cur == name {
                throw StoreError.invalid("cannot delete branch '\(name)': it is checked out (switch to another branch first)")
            }
            if !force {
                let head = try refs.headCommit()
                let merged = try head.map { try isAncestor(id, of: $0) } ?? false
                if !merged {
                    throw StoreError.invalid("branch '\(name)' is not merged into HEAD; use -D to delete it anyway")
                }
            }
            try refs.delete("refs/heads/" + name)
            return id
        }
    }

    public func createTag(_ name: String, at rev: String?, force: Bool = false) throws -> ObjectId {
        try withLock {
            guard Refs.isValidName(name) else { throw StoreError.badRefName(name) }
            if !force, try refs.read("refs/tags/" + name) != nil { throw StoreError.refExists("tag " + name) }
            let id = try resolveCommit(rev ?? "HEAD")
            try refs.update("refs/tags/" + name, to: id, who: signature(), message: "tag: \(name)")
            return id
        }
    }

    public func deleteTag(_ name: String) throws -> ObjectId {
        try withLock {
            guard let id = try refs.read("refs/tags/" + name) else { throw StoreError.badRevision(name, reason: "no such tag") }
            try refs.delete("refs/tags/" + name)
            return id
        }
    }

    public func isAncestor(_ a: ObjectId, of b: ObjectId) throws -> Bool {
        var stack = [b]
        var seen = Set<ObjectId>()
        while let c = stack.popLast() {
            if c == a { return true }
            if !seen.insert(c).inserted { continue }
            stack += try readCommit(c).parents
        }
        return false
    }
}
