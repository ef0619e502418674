import Dispatch
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
    /// Tracked paths deliberately absent from the work tree (`clone --no-checkout`).
    public var notCheckedOut = 0
    /// Paths a merge left in conflict, with how they conflict.
    public var unmerged: [(path: String, kind: UnmergedKind)] = []
    /// The commit being merged, while a merge is in progress (`.mlrepo/MERGE_HEAD`).
    public var merging: ObjectId?
    /// A merge stopped before it finished (see `Repository.mergeInterrupted`).
    public var mergeInterrupted = false
    public var clean: Bool { staged.isEmpty && unstaged.isEmpty && untracked.isEmpty && unmerged.isEmpty }
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
        // Read the index on another core while this one starts walking the work tree.
        final class Loaded: @unchecked Sendable { var result: Result<StagingIndex, Error> = .failure(StoreError.invalid("index not loaded")) }
        let loaded = Loaded()
        let group = DispatchGroup()
        let path = indexPath
        DispatchQueue.global(qos: .userInitiated).async(group: group) {
            loaded.result = Result { try StagingIndex.load(path) }
        }
        let scanned = try scan("")
        group.wait()
        var index = try loaded.result.get()
        let headTree = try st.head.map { try readCommit($0).tree }
        if headTree == nil || index.treeId != headTree {
            let headFiles = try headTree.map { try flatten($0) } ?? [:]
            for (p, e) in index.entries {
                if let h = headFiles[p] {
                    if h.id != e.id || h.mode != e.mode { st.staged.append(PathChange(path: p, change: .modified)) }
                } else { st.staged.append(PathChange(path: p, change: .added)) }
            }
            for p in headFiles.keys where index.entries[p] == nil && index.unmerged[p] == nil { st.staged.append(PathChange(path: p, change: .deleted)) }
        }
        st.mergeInterrupted = mergeInterrupted
        st.merging = try? mergeHead()  // a damaged MERGE_HEAD is reported by commit, which suggests merge --abort
        st.unmerged = Repository.unmergedKinds(index)

        let (work, refreshed) = try compareWorkTree(&index, collectIds: false, prescanned: scanned)
        st.unstaged = work.changes
        st.untracked = index.unmerged.isEmpty ? work.untracked : work.untracked.filter { index.unmerged[$0] == nil }
        st.notCheckedOut = index.entries.values.reduce(0) { $0 + ($1.notCheckedOut ? 1 : 0) }
        if refreshed { tryRefreshIndex(index) }
        retire(index, scanned, work)
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
    func compareWorkTree(_ index: inout StagingIndex, spec: String = "", hashUntracked: Bool = false, collectIds: Bool = true,
                         prescanned: ScanResult? = nil) throws -> (WorkComparison, Bool) {
        var out = WorkComparison()
        let scanned = try prescanned ?? scan(spec)
        var refreshed = false
        let hasher = FileWriter(store: store, chunker: chunker, dryRun: true)
        let reader = FileReader(store: store)
        var trackedSeen = 0

        func compare(_ f: WorkFile, _ e: IndexEntry) {
            let mode: FileMode = f.stat.isExecutable ? .executable : .regular
            if e.matches(f.stat) && !index.isRacy(e) {
                if collectIds { out.ids[f.path] = TreeFile(mode: e.mode, size: e.size, id: e.id) }
                return
            }
            // Stat data differs or is not trustworthy: look at the content. A different size
            // settles it; otherwise hash the file along the stored chunk boundaries.
            let same = f.stat.size == e.size
                && ((try? reader.fileMatches(path: fullPath(f.path), id: e.id, size: e.size)) ?? false)
            if same {
                if collectIds { out.ids[f.path] = TreeFile(mode: mode, size: e.size, id: e.id) }
                if mode != e.mode {
                    out.changes.append(PathChange(path: f.path, change: .modified))
                } else {
                    let ne = IndexEntry(path: f.path, mode: mode, stat: f.stat, id: e.id)
                    if ne != e { index.entries[f.path] = ne; refreshed = true }
                }
                return
            }
            if collectIds {
                guard let s = try? hasher.store(path: fullPath(f.path)) else {
                    out.changes.append(PathChange(path: f.path, change: .deleted))
                    return
                }
                out.ids[f.path] = TreeFile(mode: mode, size: s.size, id: s.id)
            }
            out.changes.append(PathChange(path: f.path, change: .modified))
        }

        for f in scanned.files {
            if let e = index.entries[f.path] {
                trackedSeen += 1
                compare(f, e)
            } else {
                out.untracked.append(f.path)
                if hashUntracked, let s = try? hasher.store(path: fullPath(f.path)) {
                    out.ids[f.path] = TreeFile(mode: f.stat.isExecutable ? .executable : .regular, size: s.size, id: s.id)
                }
            }
        }
        // Tracked paths the scan did not report: deleted, or matched by an ignore rule
        // (tracked files stay tracked). Counting first: usually there are none.
        let trackedHere = spec.isEmpty ? index.entries.count : index.entries.keys.reduce(0) { $0 + (pathMatches($1, spec) ? 1 : 0) }
        if trackedSeen != trackedHere {
            let seen = Set(scanned.files.map(\.path))
            for (p, e) in index.entries where pathMatches(p, spec) && !seen.contains(p) {
                if symlinkedParent(p) == nil, let st = FS.lstat(fullPath(p)), st.isRegular {
                    compare(WorkFile(path: p, stat: st), e)
                } else if e.notCheckedOut {
                    if collectIds { out.ids[p] = TreeFile(mode: e.mode, size: e.size, id: e.id) }  // absent on purpose
                } else {
                    out.changes.append(PathChange(path: p, change: .deleted))
                }
            }
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
        guard let cur = try? StagingIndex.load(indexPath), cur.entries.count == index.entries.count, cur.unmerged == index.unmerged,
              cur.entries.allSatisfy({ index.entries[$0.key]?.id == $0.value.id }) else { return }
        try? index.write(indexPath, durable: durable)
    }
}
