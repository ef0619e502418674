import Support

/// A file in a flattened tree.
public struct TreeFile: Equatable, Sendable {
    public var mode: FileMode
    public var size: UInt64
    public var id: ObjectId
}

extension Repository {
    // MARK: Trees

    /// Writes the trees for a set of files (path → file) and returns the root tree id.
    func writeTree(_ files: [String: TreeFile]) throws -> ObjectId {
        try buildTree(files) { try store.put(.tree, $0) }
    }

    /// The id the tree of `files` would have, without storing anything.
    public func treeId(of files: [String: TreeFile]) throws -> ObjectId {
        try buildTree(files) { ObjectHash.id(.tree, $0) }
    }

    func buildTree(_ files: [String: TreeFile], put: ([UInt8]) throws -> ObjectId) throws -> ObjectId {
        // Group paths by folder, deepest first.
        var dirs: [String: [TreeEntry]] = ["": []]
        var children: [String: Set<String>] = [:]
        for (path, f) in files {
            let parent = Path.dirname(path) == "." ? "" : Path.dirname(path)
            dirs[parent, default: []].append(TreeEntry(name: Path.basename(path), mode: f.mode, size: f.size, id: f.id))
            var d = parent
            while !d.isEmpty {
                let up = Path.dirname(d) == "." ? "" : Path.dirname(d)
                children[up, default: []].insert(d)
                if dirs[d] == nil { dirs[d] = [] }
                d = up
            }
        }
        func build(_ dir: String) throws -> (ObjectId, UInt64) {
            var entries = dirs[dir] ?? []
            var total = entries.reduce(UInt64(0)) { $0 + $1.size }
            for sub in children[dir] ?? [] {
                let (id, size) = try build(sub)
                entries.append(TreeEntry(name: Path.basename(sub), mode: .directory, size: size, id: id))
                total += size
            }
            let t = Tree(entries: entries)
            return (try put(t.encode()), total)
        }
        return try build("").0
    }

    public func readTree(_ id: ObjectId) throws -> Tree {
        try store.withObject(id) { kind, b in
            guard kind == .tree else { throw StoreError.wrongKind(id, expected: .tree, found: kind) }
            return try Tree.decode(b, id: id)
        }
    }

    /// A commit. In a shallow clone a commit at the boundary reads as having no parents
    /// (its history was not fetched) unless `grafted` is false.
    public func readCommit(_ id: ObjectId, grafted: Bool = true) throws -> Commit {
        var c = try store.withObject(id) { kind, b in
            guard kind == .commit else { throw StoreError.wrongKind(id, expected: .commit, found: kind) }
            return try Commit.decode(b, id: id)
        }
        if grafted, !shallowCache.isEmpty, shallowCache.contains(id) { c.parents = [] }
        return c
    }

    /// Every file of a tree, by repo-relative path (optionally only under `prefix`).
    public func flatten(_ treeId: ObjectId, prefix: String = "") throws -> [String: TreeFile] {
        var out: [String: TreeFile] = [:]
        try walkTree(treeId, descend: { p, _ in prefix.isEmpty || pathMatches(p, prefix) || pathMatches(prefix, p) }) { p, e in
            if !e.mode.isDirectory, prefix.isEmpty || pathMatches(p, prefix) { out[p] = TreeFile(mode: e.mode, size: e.size, id: e.id) }
        }
        return out
    }

    /// Refuses a path longer than the format allows (4096 bytes, hence at most 2048 levels
    /// of trees), naming the tree that holds its last component.
    static func checkTreePath(_ path: String, tree: ObjectId) throws {
        let n = path.utf8.count
        guard n <= FormatLimits.maxPathBytes else {
            throw StoreError.objectCorrupt(tree, location: "tree", reason: "path '\(FormatLimits.shortName(path.utf8))' is longer than \(FormatLimits.maxPathBytes) bytes (trees nested too deep?)")
        }
    }

    /// Visits every entry below `root` depth-first in path order (a folder before what is in
    /// it), without recursion: memory grows with the entries waiting, not the stack. A folder
    /// is entered when `descend` says so. Paths longer than 4096 bytes (trees nested more
    /// than 2048 deep) are refused, naming the tree.
    public func walkTree(_ root: ObjectId, base: String = "", descend: (String, TreeEntry) throws -> Bool = { _, _ in true },
                         _ visit: (String, TreeEntry) throws -> Void) throws {
        var stack: [(path: String, entry: TreeEntry?, tree: ObjectId, depth: Int)] = [(base, nil, root, 0)]
        while let (path, entry, tree, depth) = stack.popLast() {
            if let entry {
                try visit(path, entry)
                guard entry.mode.isDirectory, try descend(path, entry) else { continue }
            }
            guard depth < FormatLimits.maxTreeDepth else {
                throw StoreError.objectCorrupt(tree, location: "tree", reason: "trees nest more than \(FormatLimits.maxTreeDepth) levels deep (the format's limit)")
            }
            let id = entry?.id ?? tree
            let entries = try readTree(id).entries
            for e in entries.reversed() {
                let p = path.isEmpty ? e.name : path + "/" + e.name
                try Repository.checkTreePath(p, tree: id)
                stack.append((p, e, id, depth + 1))
            }
        }
    }

    /// The files of a commit (empty for nil, an unborn branch).
    public func files(ofCommit id: ObjectId?) throws -> [String: TreeFile] {
        guard let id else { return [:] }
        return try flatten(readCommit(id).tree)
    }

    /// The entry at `path` in a tree (file or folder), nil when absent.
    public func entry(in treeId: ObjectId, path: String) throws -> TreeEntry? {
        if path.isEmpty { return TreeEntry(name: "", mode: .directory, size: 0, id: treeId) }
        var cur = treeId
        let comps = path.split(separator: "/").map(String.init)
        for (i, c) in comps.enumerated() {
            guard let e = try readTree(cur).entries.first(where: { $0.name == c }) else { return nil }
            if i == comps.count - 1 { return e }
            guard e.mode.isDirectory else { return nil }
            cur = e.id
        }
        return nil
    }

    // MARK: Commit

    /// Computes extension headers for a new commit from its files (path → file) and parents
    /// (none for a root commit, two for a merge; the first is HEAD), under the repository
    /// lock. The ML layer uses it for `meta` and `record` headers.
    public typealias CommitHeaders = (_ files: [String: TreeFile], _ parents: [ObjectId]) throws -> [(key: String, value: String)]

    /// Records the index as a new commit on the current branch (or detached HEAD) and
    /// returns its id. The commit is visible only once the ref has moved. `headers` adds
    /// extension headers; a commit whose tree and headers equal its parent's is refused as
    /// "nothing to commit" unless `allowEmpty`.
    public func commit(message: String, allowEmpty: Bool = false, headers: CommitHeaders? = nil) throws -> ObjectId {
        guard !message.trimmed().isEmpty else { throw StoreError.invalid("empty commit message (use -m MSG)") }
        return try withLock {
            let index = try StagingIndex.load(indexPath)
            if !index.unmerged.isEmpty {
                throw StoreError.invalid("cannot commit: unmerged paths: \(StoreError.list(index.sortedUnmerged.map(\.path))) (fix them, then 'mlrepo add PATH', or 'mlrepo rm PATH' to resolve as deleted)")
            }
            var files: [String: TreeFile] = [:]
            // A lazy clone lacks the data of files it never fetched; their ids came from the remote's trees.
            let lazy = store.missingSource != nil
            for e in index.entries.values {
                guard store.contains(e.id) || lazy else {
                    throw StoreError.objectMissing(e.id, context: "staged file '\(e.path)'; run 'mlrepo add \(e.path)' again")
                }
                files[e.path] = TreeFile(mode: e.mode, size: e.size, id: e.id)
            }
            let tree = try writeTree(files)
            let parent = try refs.headCommit()
            var parents = parent.map { [$0] } ?? []
            // Concluding a merge (`.mlrepo/MERGE_HEAD`, .mlrepo-format.md §1): the merged commit is the second parent.
            let merging = try mergeHead()
            if let merging { parents.append(merging) }
            let extra = try headers?(files, parents) ?? []
            if let parent, !allowEmpty, merging == nil {
                let pc = try readCommit(parent)
                if pc.tree == tree && pc.extra.map(\.key) == extra.map(\.key) && pc.extra.map(\.value) == extra.map(\.value) {
                    throw StoreError.nothingToCommit
                }
            }
            if parent == nil && files.isEmpty && !allowEmpty { throw StoreError.nothingToCommit }
            let who = signature()
            let c = Commit(tree: tree, parents: parents, author: who, committer: who, extra: extra,
                           message: message.hasSuffix("\n") ? message : message + "\n")
            let id = try store.put(.commit, c.encode())
            try store.commitPending()
            if index.treeId != tree {
                // Remember the tree so status can skip comparing against HEAD.
                var updated = index
                updated.treeId = tree
                try updated.write(indexPath, durable: durable)
            }
            let reflogMsg = (parent == nil ? "commit (initial): " : "commit: ") + c.subject
            switch try refs.head() {
            case .branch(let b): try refs.update("refs/heads/" + b, to: id, who: who, message: reflogMsg)
            case .detached: try refs.setHead(.detached(id), who: who, message: reflogMsg)
            }
            if merging != nil { clearMergeState() }
            // The commit is recorded; tidying packs must not turn it into a failure.
            try? autoRepack()
            return id
        }
    }

    /// Writes a commit object with the given tree, parents, extension headers and message
    /// and moves `ref` to it (with a reflog entry), under the lock: for records that live
    /// beside the branches, such as registry promotions. `expected`: the ref must still
    /// point there (nil: must not exist yet), else the update is refused.
    public func commitObject(tree: ObjectId, parents: [ObjectId], headers: [(key: String, value: String)], message: String,
                             ref: String, expected: ObjectId?) throws -> ObjectId {
        try withLock {
            guard try refs.read(ref) == expected else { throw StoreError.invalid("\(ref) moved while updating it; try again") }
            let who = signature()
            let c = Commit(tree: tree, parents: parents, author: who, committer: who, extra: headers,
                           message: message.hasSuffix("\n") ? message : message + "\n")
            let id = try store.put(.commit, c.encode())
            try store.commitPending()
            try refs.update(ref, to: id, who: who, message: c.subject)
            return id
        }
    }

    // MARK: Merge state

    /// `.mlrepo/MERGE_HEAD`: the commit being merged, while a merge waits to be committed.
    public var mergeHeadPath: String { dotDir + "/MERGE_HEAD" }

    /// The commit being merged into HEAD, if a merge is in progress.
    /// Throws when a merge was interrupted before it finished (MERGE_MODE without MERGE_HEAD).
    public func mergeHead() throws -> ObjectId? {
        guard FS.exists(mergeHeadPath) else {
            if mergeInterrupted { throw StoreError.invalid("a merge was interrupted before it finished (.mlrepo/MERGE_MODE without MERGE_HEAD); run 'mlrepo merge --abort'") }
            return nil
        }
        let text = try sys { try FS.readText(mergeHeadPath) }
        guard let id = ObjectId(hex: text.trimmed()) else {
            throw StoreError.corruptFile(mergeHeadPath, reason: "not a commit id; run 'mlrepo merge --abort'")
        }
        return id
    }

    /// True when a merge stopped after writing MERGE_MODE but before MERGE_HEAD (killed,
    /// or it failed and could not roll back): only `merge --abort` (or reset --hard) ends it.
    public var mergeInterrupted: Bool { !FS.exists(mergeHeadPath) && FS.exists(dotDir + "/MERGE_MODE") }

    /// Forgets a merge in progress (after its commit, or when it is aborted), and the pins
    /// that kept its conflict stages from gc.
    public func clearMergeState() {
        for f in ["MERGE_HEAD", "MERGE_MSG", "MERGE_MODE"] { try? FS.unlink(dotDir + "/" + f) }
        try? setPins("merge", [])
    }

    /// The message prepared for the merge in progress (`.mlrepo/MERGE_MSG`), without its
    /// `#` comment lines; nil when there is none.
    public func mergeMessage() -> String? {
        guard let text = try? FS.readText(dotDir + "/MERGE_MSG") else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }
        let msg = lines.joined(separator: "\n").trimmed()
        return msg.isEmpty ? nil : msg + "\n"
    }

    // MARK: Revisions

    /// Resolves a revision: a full id or unique prefix (≥ 4 hex digits), HEAD or @, a
    /// branch, a tag, refs/…, followed by any of `~N`, `^`, `^N`.
    public func resolve(_ rev: String) throws -> ObjectId {
        var base = rev
        var ops: [(Character, Int)] = []
        // Split suffix operators from the end.
        while let i = base.lastIndex(where: { $0 == "~" || $0 == "^" }) {
            let op = base[i]
            let numStr = base[base.index(after: i)...]
            guard numStr.allSatisfy(\.isNumber) else { throw StoreError.badRevision(rev, reason: "bad suffix '\(base[i...])'") }
            let n = numStr.isEmpty ? 1 : Int(numStr) ?? -1
            guard n >= 0 else { throw StoreError.badRevision(rev, reason: "bad number") }
            ops.insert((op, n), at: 0)
            base = String(base[..<i])
        }
        var id = try resolveBase(base, original: rev)
        for (op, n) in ops {
            if op == "~" {
                for k in 0..<n {
                    guard let p = try readCommit(id).parents.first else {
                        throw StoreError.badRevision(rev, reason: "commit \(id.short) has no parent (went back \(k) of \(n))")
                    }
                    id = p
                }
            } else if n > 0 {
                let ps = try readCommit(id).parents
                guard n <= ps.count else { throw StoreError.badRevision(rev, reason: "commit \(id.short) has no parent \(n)") }
                id = ps[n - 1]
            }
        }
        return id
    }

    /// Like `resolve` but the result must be a commit.
    public func resolveCommit(_ rev: String) throws -> ObjectId {
        let id = try resolve(rev)
        guard let info = try store.info(id) else { throw StoreError.badRevision(rev, reason: "object \(id.hex) is not in the store") }
        guard info.kind == .commit else { throw StoreError.badRevision(rev, reason: "\(id.short) is a \(info.kind.name), not a commit") }
        return id
    }

    func resolveBase(_ s: String, original: String) throws -> ObjectId {
        if s.isEmpty { throw StoreError.badRevision(original, reason: "empty revision") }
        if s == "HEAD" || s == "@" {
            guard let h = try refs.headCommit() else { throw StoreError.badRevision(original, reason: "HEAD has no commits yet") }
            return h
        }
        let refNames = s.hasPrefix("refs/") ? [s] : Refs.isValidName(s) ? ["refs/heads/" + s, "refs/tags/" + s, "refs/remotes/" + s, "refs/aliases/" + s] : []
        for ref in refNames where RefName.fullProblem(ref) == nil {
            if let id = try refs.read(ref) { return id }
        }
        let lower = s.lowercased()
        if lower.utf8.count >= 4 && lower.utf8.count <= 64 && lower.utf8.allSatisfy({ Hex.value($0) != nil }) {
            if lower.utf8.count == 64, let id = ObjectId(hex: lower) {
                if store.contains(id) { return id }
                throw StoreError.badRevision(original, reason: "no object \(id.hex) in the store")
            }
            let m = store.ids(withHexPrefix: lower, limit: 2)
            if m.count == 1 { return m[0] }
            if m.count > 1 { throw StoreError.ambiguousRevision(original, candidates: store.ids(withHexPrefix: lower, limit: 100).count) }
        }
        throw StoreError.badRevision(original, reason: "not a commit id, branch or tag")
    }

    /// Parses `REV:PATH` into a commit and a repo-relative path.
    public func resolvePathSpec(_ s: String) throws -> (commit: ObjectId, path: String) {
        guard let colon = s.firstIndex(of: ":") else { throw StoreError.badRevision(s, reason: "expected REV:PATH") }
        let rev = String(s[..<colon])
        var path = String(s[s.index(after: colon)...])
        while path.hasPrefix("/") { path.removeFirst() }
        while path.hasSuffix("/") { path.removeLast() }
        guard let norm = Path.normalize(path) else { throw StoreError.badPath(path, reason: "path leaves the repository") }
        return (try resolveCommit(rev.isEmpty ? "HEAD" : rev), norm)
    }
}
