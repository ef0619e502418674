import Support

public enum ChangeKind: String, Sendable {
    case added, modified, deleted
}

public struct PathChange: Equatable, Sendable {
    public var path: String
    public var change: ChangeKind
}

public struct RepoStatus: Sendable {
    public var branch: String?
    public var head: ObjectId?
    public var staged: [PathChange] = []
    public var unstaged: [PathChange] = []
    public var untracked: [String] = []
    public var clean: Bool { staged.isEmpty && unstaged.isEmpty && untracked.isEmpty }
}

extension Repository {
    /// Compares HEAD, the index and the work tree. Files whose stat data matches the index
    /// (and are not racy) are not read. When racy or touched-but-unchanged entries were
    /// re-hashed, their stat data is refreshed in the index if the lock is free.
    public func status() throws -> RepoStatus {
        var st = RepoStatus()
        switch try refs.head() {
        case .branch(let b): st.branch = b
        case .detached: st.branch = nil
        }
        st.head = try refs.headCommit()
        var index = try StagingIndex.load(indexPath)
        let headTree = try st.head.map { try readCommit($0).tree }
        if headTree == nil || index.treeId != headTree {
            let headFiles = try headTree.map { try flatten($0) } ?? [:]
            for (p, e) in index.entries {
                if let h = headFiles[p] {
                    if h.id != e.id || h.mode != e.mode { st.staged.append(PathChange(path: p, change: .modified)) }
                } else { st.staged.append(PathChange(path: p, change: .added)) }
            }
            for p in headFiles.keys where index.entries[p] == nil { st.staged.append(PathChange(path: p, change: .deleted)) }
        }

        let (work, refreshed) = try compareWorkTree(&index, collectIds: false)
        st.unstaged = work.changes
        st.untracked = work.untracked
        if refreshed { tryRefreshIndex(index) }
        st.staged.sort { $0.path < $1.path }
        st.unstaged.sort { $0.path < $1.path }
        return st
    }

    struct WorkComparison {
        var changes: [PathChange] = []
        var untracked: [String] = []
        /// Current ids of work-tree files (index id when unchanged).
        var ids: [String: TreeFile] = [:]
    }

    /// Index vs work tree. Returns the comparison and whether `index` got fresher stat data.
    func compareWorkTree(_ index: inout StagingIndex, spec: String = "", hashUntracked: Bool = false, collectIds: Bool = true) throws -> (WorkComparison, Bool) {
        var out = WorkComparison()
        var scanned = try scan(spec)
        // Tracked files stay tracked even when an ignore rule matches them.
        var seenPaths = Set<String>(minimumCapacity: scanned.files.count)
        for f in scanned.files { seenPaths.insert(f.path) }
        for p in index.entries.keys where pathMatches(p, spec) && !seenPaths.contains(p) {
            if symlinkedParent(p) == nil, let st = FS.lstat(fullPath(p)), st.isRegular { scanned.files.append(WorkFile(path: p, stat: st)) }
        }
        var present = Set<String>(minimumCapacity: scanned.files.count)
        var refreshed = false
        let hasher = FileWriter(store: store, chunker: chunker, dryRun: true)
        for f in scanned.files {
            present.insert(f.path)
            let mode: FileMode = f.stat.isExecutable ? .executable : .regular
            guard let e = index.entries[f.path] else {
                out.untracked.append(f.path)
                if hashUntracked, let s = try? hasher.store(path: fullPath(f.path)) { out.ids[f.path] = TreeFile(mode: mode, size: s.size, id: s.id) }
                continue
            }
            if e.matches(f.stat) && !index.isRacy(e) {
                if collectIds { out.ids[f.path] = TreeFile(mode: e.mode, size: e.size, id: e.id) }
                continue
            }
            // Stat data differs or is not trustworthy: look at the content.
            guard let s = try? hasher.store(path: fullPath(f.path)) else {
                out.changes.append(PathChange(path: f.path, change: .deleted))
                continue
            }
            out.ids[f.path] = TreeFile(mode: mode, size: s.size, id: s.id)
            if s.id != e.id || mode != e.mode {
                out.changes.append(PathChange(path: f.path, change: .modified))
            } else {
                var ne = IndexEntry(path: f.path, mode: mode, stat: f.stat, id: e.id)
                ne.size = s.size
                if ne != e { index.entries[f.path] = ne; refreshed = true }
            }
        }
        for p in index.entries.keys where pathMatches(p, spec) && !present.contains(p) {
            out.changes.append(PathChange(path: p, change: .deleted))
        }
        out.untracked.sort()
        return (out, refreshed)
    }

    /// Writes refreshed stat data back when no other process holds the lock; a busy
    /// repository just means the next status re-hashes again.
    func tryRefreshIndex(_ index: StagingIndex) {
        guard let lock = try? FileLock(path: lockPath, timeout: 0) else { return }
        defer { withExtendedLifetime(lock) {} }
        // Only write if nobody changed the index since we read it.
        guard let cur = try? StagingIndex.load(indexPath), cur.entries.count == index.entries.count,
              cur.entries.allSatisfy({ index.entries[$0.key]?.id == $0.value.id }) else { return }
        try? index.write(indexPath, durable: durable)
    }
}
