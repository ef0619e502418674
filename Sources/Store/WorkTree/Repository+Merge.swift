import Support

// `merge`: fast-forward or three-way merge into the work tree and index, the merge state
// files (.mlrepo-format.md §1), `merge --abort`, and picking a side of a conflict.

public struct MergeRequest: Sendable {
    public enum FastForward: String, Sendable { case allow, never, only }
    /// The revision to merge.
    public var rev: String
    /// Its name in conflict markers and file/folder renames (the branch name, or a short id).
    public var label: String
    /// The merge commit's message (`Merge branch 'X'`); a conflict list is appended in MERGE_MSG.
    public var message: String
    public var fastForward: FastForward = .allow
    public var style: TextMergeOptions.Style = .merge
    public var keyColumn: String? = nil
    public init(rev: String, label: String, message: String) { self.rev = rev; self.label = label; self.message = message }
}

public struct MergeReport: Sendable {
    public enum Status: String, Sendable { case upToDate = "up-to-date", fastForward = "fast-forward", merged, conflicts }
    public var status: Status
    /// HEAD before the merge (nil on an unborn branch) and the merged commit.
    public var head: ObjectId?
    public var theirs: ObjectId
    /// The best common ancestors (several: a criss-cross history, merged into a virtual base).
    public var bases: [ObjectId] = []
    public var events: [MergeEvent] = []
    public var written: [String] = []
    public var removed: [String] = []
    public var conflicts: [MergeConflict] { events.compactMap { if case .conflict(let c) = $0 { return c } else { return nil } } }
}

/// What `.mlrepo/MERGE_MODE` records about a merge in progress.
public struct MergeMode: Sendable {
    public var style: TextMergeOptions.Style = .merge
    public var keyColumn: String? = nil
    public var label = "theirs"
    /// The base's label in conflict markers (the base's 7-digit id, or `merged common
    /// ancestors` for a virtual base), for `checkout --conflict`.
    public var baseLabel = "merged common ancestors"
    /// Paths the merge wrote or removed in the work tree (what `merge --abort` restores).
    public var touched: [String] = []

    /// Parses a MERGE_MODE file's text (`path` names the file in errors).
    public static func parse(_ text: String, path: String) throws -> MergeMode { try decode(text, path: path) }

    /// The MERGE_MODE file's text.
    public var text: String { encoded() }

    func encoded() -> String {
        var o: [String: JSON] = ["style": .string(style.rawValue), "label": .string(label), "base_label": .string(baseLabel), "touched": .array(touched.map { .string($0) })]
        o["key"] = keyColumn.map { .string($0) } ?? .null
        return JSON.object(o).encoded() + "\n"
    }

    /// `lenient` (for `merge --abort`): unsafe paths are skipped instead of refused, so one
    /// damaged entry does not hide the others.
    static func decode(_ text: String, path: String, lenient: Bool = false) throws -> MergeMode {
        func bad(_ r: String) -> StoreError { .corruptFile(path, reason: r + "; run 'mlrepo merge --abort'") }
        guard case .object(let o) = try JSON.parse(text) else { throw bad("not a JSON object") }
        var m = MergeMode()
        if let s = o["style"]?.stringValue { guard let v = TextMergeOptions.Style(rawValue: s) else { throw bad("bad style") }; m.style = v }
        m.keyColumn = o["key"]?.stringValue
        if let l = o["label"]?.stringValue { m.label = l }
        if let l = o["base_label"]?.stringValue { m.baseLabel = l }
        for t in o["touched"]?.arrayValue ?? [] {
            guard let p = t.stringValue, StagingIndex.isSafePath(p) else { if lenient { continue }; throw bad("unsafe path") }
            m.touched.append(p)
        }
        return m
    }
}

extension Repository {
    var mergeMsgPath: String { dotDir + "/MERGE_MSG" }
    var mergeModePath: String { dotDir + "/MERGE_MODE" }
    public var origHeadPath: String { dotDir + "/ORIG_HEAD" }

    /// MERGE_MODE of the merge in progress (defaults when absent).
    public func mergeMode() throws -> MergeMode {
        guard let text = try? FS.readText(mergeModePath) else { return MergeMode() }
        return try MergeMode.decode(text, path: mergeModePath)
    }

    /// Paths left unmerged in the index, in path order.
    public func unmergedPaths() throws -> [UnmergedPath] { try StagingIndex.load(indexPath).sortedUnmerged }

    /// How each unmerged path conflicts, in path order (a folder of staged files at the
    /// same path: file/folder). The folders are collected once, so this stays linear.
    static func unmergedKinds(_ index: StagingIndex) -> [(path: String, kind: UnmergedKind)] {
        let unmerged = index.sortedUnmerged
        if unmerged.isEmpty { return [] }
        var folders = Set<String>()
        for p in Array(index.entries.keys) + Array(index.unmerged.keys) {
            var d = Path.dirname(p)
            while d != "." && !d.isEmpty && folders.insert(d).inserted { d = Path.dirname(d) }
        }
        return unmerged.map { u in
            if folders.contains(u.path) { return (u.path, .fileFolder) }
            switch (u.base != nil, u.ours != nil, u.theirs != nil) {
            case (false, _, _): return (u.path, .bothAdded)
            case (true, false, _): return (u.path, .deletedByUs)
            case (true, true, false): return (u.path, .deletedByThem)
            default: return (u.path, .bothModified)
            }
        }
    }

    /// Merges `req.rev` into HEAD: up to date, a fast-forward (unless `.never`), or a
    /// three-way merge written to the work tree and index with MERGE_HEAD, MERGE_MSG,
    /// MERGE_MODE and ORIG_HEAD. A clean three-way merge is left for the caller to commit
    /// (`commit` picks up MERGE_HEAD). Refused, before anything is written, when a merge is
    /// in progress, when anything is staged, or when the merge would overwrite work-tree
    /// changes or untracked files (naming them).
    public func merge(_ req: MergeRequest) throws -> MergeReport {
        try withLock {
            if try mergeHead() != nil {
                throw StoreError.invalid("a merge is in progress; conclude it ('mlrepo commit' or 'mlrepo merge --continue') or 'mlrepo merge --abort' first")
            }
            var index = try StagingIndex.load(indexPath)
            if !index.unmerged.isEmpty {
                throw StoreError.invalid("you need to resolve your current index first: \(StoreError.list(index.sortedUnmerged.map(\.path))) are unmerged")
            }
            let theirs = try resolveCommit(req.rev)
            let head = try refs.headCommit()
            let headState = try refs.head()
            var report = MergeReport(status: .upToDate, head: head, theirs: theirs)
            if let head, try head == theirs || isAncestor(theirs, of: head) { return report }
            let canFF = try head.map { try isAncestor($0, of: theirs) } ?? true
            if canFF && req.fastForward != .never {
                try writeOrigHead(head)
                // A detached HEAD moves with the merge (it names a commit, not a branch).
                let newHead: Head
                if case .branch = headState { newHead = headState } else { newHead = .detached(theirs) }
                let r: CheckoutResult
                do {
                    r = try moveTo(theirs, head: newHead, force: false, message: "merge \(req.rev): Fast-forward")
                } catch StoreError.untrackedWouldBeOverwritten(let paths) {
                    throw StoreError.invalid("untracked files would be overwritten by the merge: \(StoreError.list(paths)) (move them away; nothing was changed)")
                } catch StoreError.uncommittedChanges(let paths) {
                    throw StoreError.invalid("your local changes to these files would be overwritten by the merge: \(StoreError.list(paths)) (commit them first; nothing was changed)")
                }
                if case .branch(let b) = headState {
                    try refs.update("refs/heads/" + b, to: theirs, who: signature(), message: "merge \(req.rev): Fast-forward")
                }
                report.status = .fastForward
                report.written = r.written; report.removed = r.removed
                return report
            }
            if req.fastForward == .only { throw StoreError.invalid("not possible to fast-forward (the histories have diverged); merge without --ff-only") }
            guard let head else { throw StoreError.invalid("nothing to merge into") }
            // Merge base(s).
            let bases = try mergeBases(head, theirs)
            if bases.isEmpty {
                throw StoreError.invalid(isShallow
                    ? "no common ancestor in the fetched history (a shallow clone); run 'mlrepo fetch --unshallow' and merge again"
                    : "refusing to merge unrelated histories: \(head.short) and \(theirs.short) have no common ancestor")
            }
            report.bases = bases
            let baseFiles = bases.count == 1 ? try files(ofCommit: bases[0]) : try virtualBase(bases, depth: 0)
            let ours = try files(ofCommit: head)
            let their = try files(ofCommit: theirs)

            // Local changes: nothing staged; no work-tree change to a path the merge writes.
            let headTree = try readCommit(head).tree
            if index.treeId != headTree {
                var staged: [String] = []
                for p in Set(index.entries.keys).union(ours.keys) where indexFile(index, p) != ours[p] { staged.append(p) }
                if !staged.isEmpty {
                    throw StoreError.invalid("your staged changes would be mixed into the merge: \(StoreError.list(staged.sorted())) (commit them first, or unstage with 'mlrepo reset')")
                }
            }
            let touched = Repository.pathsTouched(base: baseFiles, ours: ours, theirs: their)
            let (work, _) = try compareWorkTree(&index, collectIds: false)
            let dirty = work.changes.map(\.path).filter { touched.contains($0) }.sorted()
            if !dirty.isEmpty {
                throw StoreError.invalid("your local changes to these files would be overwritten by the merge: \(StoreError.list(dirty)) (commit them first; nothing was changed)")
            }

            var opts = TreeMergeOptions(style: req.style, keyColumn: req.keyColumn, oursLabel: "HEAD", theirsLabel: req.label)
            opts.baseLabel = bases.count == 1 ? String(bases[0].hex.prefix(7)) : "merged common ancestors"  // as git labels them
            let result = try mergeTrees(base: baseFiles, ours: ours, theirs: their, options: opts)
            let final = result.workTree
            // Every path whose work-tree file changes.
            let writes = Set(final.keys).union(ours.keys).filter { final[$0] != ours[$0] }
            // Also a file moved aside by a file/folder conflict (not in `touched`).
            let dirtyWrites = work.changes.map(\.path).filter { writes.contains($0) }.sorted()
            if !dirtyWrites.isEmpty {
                throw StoreError.invalid("your local changes to these files would be overwritten by the merge: \(StoreError.list(dirtyWrites)) (commit them first; nothing was changed)")
            }
            let untracked = Set(work.untracked)
            var blocked: [String] = []
            let hasher = FileWriter(store: store, chunker: chunker, dryRun: true)
            for p in writes where ours[p] == nil {
                if untracked.contains(p), let f = final[p] {
                    if (try? hasher.store(path: fullPath(p)))?.id != f.id { blocked.append(p) }
                }
                var d = Path.dirname(p)
                while d != "." && !d.isEmpty {
                    if untracked.contains(d) { blocked.append(d) }
                    d = Path.dirname(d)
                }
            }
            if !blocked.isEmpty {
                throw StoreError.invalid("untracked files would be overwritten by the merge: \(StoreError.list(Array(Set(blocked)).sorted())) (move them away; nothing was changed)")
            }

            // Every path the merge writes must be writable as writeWorkFile will find it
            // (after the merge's own removals), so nothing fails half-way.
            let removals = Set(writes.filter { final[$0] == nil })
            try checkWorkWrites(writes.filter { final[$0] != nil }, removing: removals)

            // Write: objects, the merge state (MERGE_MODE marks a merge under way, so an
            // interrupted one can be aborted), the work tree, the index, and MERGE_HEAD
            // last. Any failure after the first write puts back what was written.
            try store.commitPending()
            try writeOrigHead(head)
            var mode = MergeMode(style: req.style, keyColumn: req.keyColumn, label: req.label, touched: writes.sorted())
            mode.baseLabel = opts.baseLabel
            mode.touched.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            var msg = req.message.hasSuffix("\n") ? req.message : req.message + "\n"
            if !result.unmerged.isEmpty {
                msg += "\n# Conflicts:\n" + result.unmerged.keys.sorted().map { "#\t\($0)\n" }.joined()
            }
            try setPins("merge", result.unmerged.values.flatMap(\.ids) + result.work.values.map(\.id))
            let originalIndex = index
            var changed: [String] = []
            var indexWritten = false
            do {
                try sys { try FS.atomicWrite(mergeModePath, text: mode.encoded(), durable: durable) }
                try sys { try FS.atomicWrite(mergeMsgPath, text: msg, durable: durable) }
                for p in writes.sorted(by: >) where final[p] == nil {
                    if removeWorkFile(p) { report.removed.append(p); changed.append(p) }
                    index.entries[p] = nil
                }
                try store.ensureLocal(files: writes.compactMap { final[$0]?.id })
                let reader = FileReader(store: store)
                for p in writes.sorted() {
                    guard let f = final[p] else { continue }
                    changed.append(p)
                    // A large file (a table) mostly keeps ours' chunks: reuse the work file's data.
                    let reused = try ours[p].flatMap { o in o.mode.isDirectory ? nil : try rewriteReusingOldData(p, old: o.id, new: f, reader: reader) }
                    let st = try reused ?? writeWorkFile(p, f, reader: reader)
                    report.written.append(p)
                    if result.merged[p] != nil { index.entries[p] = IndexEntry(path: p, mode: f.mode, stat: st, id: f.id) }
                    else { index.entries[p] = nil }  // unmerged, or a file moved aside (untracked)
                }
                // Paths unmerged but not rewritten (binary: the work tree keeps ours).
                for (p, u) in result.unmerged {
                    index.entries[p] = nil
                    index.unmerged[p] = u
                }
                // A file/folder conflict also drops the staged file where the folder now is.
                for (p, f) in result.merged where index.entries[p] == nil {
                    index.entries[p] = IndexEntry(path: p, mode: f.mode, size: f.size, id: f.id)
                }
                index.treeId = nil
                if let newest = report.written.compactMap({ index.entries[$0]?.mtimeNs }).max() { waitPastTimestamp(newest) }
                try index.write(indexPath, durable: durable)
                indexWritten = true
                try sys { try FS.atomicWrite(mergeHeadPath, text: theirs.hex + "\n", durable: durable) }
            } catch {
                rollBackMerge(changed, ours: ours, index: indexWritten ? originalIndex : nil)
                if case StoreError.untrackedWouldBeOverwritten(let paths) = error {
                    throw StoreError.invalid("untracked files would be overwritten by the merge: \(StoreError.list(paths)) (move them away; nothing was changed)")
                }
                throw error
            }
            report.events = result.events
            report.status = result.unmerged.isEmpty ? .merged : .conflicts
            return report
        }
    }

    /// Refuses (before anything is written) a merge whose work-tree writes would fail or
    /// lose files: an unsafe or over-long name (a `PATH~BRANCH` name included), a symlinked
    /// folder on the way, an untracked file where a folder must be, or a folder holding
    /// untracked files where a file must be. `removing`: tracked files the merge removes first.
    func checkWorkWrites(_ paths: [String], removing: Set<String>) throws {
        var unsafe: [String] = [], links: [String] = [], files: [String] = [], folders: [String] = []
        for p in paths.sorted() {
            guard StagingIndex.isSafePath(p), p.utf8.count <= FormatLimits.maxPathBytes else {
                unsafe.append(FormatLimits.shortName(p.utf8)); continue
            }
            var d = ""
            for c in p.split(separator: "/").dropLast() {
                d = d.isEmpty ? String(c) : d + "/" + c
                guard let st = FS.lstat(fullPath(d)) else { break }
                if st.isSymlink { links.append(d); break }
                if !st.isDirectory { if !removing.contains(d) { files.append(d) }; break }
            }
            if let st = FS.lstat(fullPath(p)), st.isDirectory, folderHoldsFiles(p, except: removing) { folders.append(p) }
        }
        if !unsafe.isEmpty {
            throw StoreError.invalid("the merge would write a path that is unsafe or too long (a name over \(FormatLimits.maxNameBytes) bytes, or a path over \(FormatLimits.maxPathBytes)): \(StoreError.list(unsafe)) (rename it on one side and merge again; nothing was changed)")
        }
        if !links.isEmpty {
            throw StoreError.invalid("the merge would write through a symbolic link: \(StoreError.list(Array(Set(links)).sorted())) (replace it with a folder; nothing was changed)")
        }
        if !folders.isEmpty {
            throw StoreError.invalid("Updating the following directories would lose untracked files in them: \(StoreError.list(folders)) (move them away; nothing was changed)")
        }
        if !files.isEmpty {
            throw StoreError.invalid("untracked files would be overwritten by the merge: \(StoreError.list(Array(Set(files)).sorted())) (move them away; nothing was changed)")
        }
    }

    /// True when the folder `dir` (relative) holds anything but folders and the files in
    /// `except`. Walks without recursion and without following symlinks.
    func folderHoldsFiles(_ dir: String, except: Set<String>) -> Bool {
        var stack = [dir]
        while let d = stack.popLast() {
            guard let entries = try? FS.list(fullPath(d)) else { return true }
            for e in entries {
                let p = d + "/" + e.name
                if e.type == .directory { stack.append(p) } else if !except.contains(p) { return true }
            }
        }
        return false
    }

    /// Puts back the work files a failed merge changed (as `ours` has them) and the index
    /// (when it was already written), and forgets the merge state.
    func rollBackMerge(_ changed: [String], ours: [String: TreeFile], index: StagingIndex?) {
        let reader = FileReader(store: store)
        for p in changed.sorted(by: >) where ours[p] == nil { removeWorkFile(p) }
        for p in changed.sorted() { if let f = ours[p] { _ = try? writeWorkFile(p, f, reader: reader) } }
        if let index { try? index.write(indexPath, durable: durable) }
        clearMergeState()
    }

    func writeOrigHead(_ head: ObjectId?) throws {
        guard let head else { return }
        try sys { try FS.atomicWrite(origHeadPath, text: head.hex + "\n", durable: durable) }
    }

    /// The merge of several merge bases (criss-cross history), as git's recursive strategy
    /// builds it: bases merged pairwise, conflicts kept in the content. Nested criss-crosses
    /// recurse at most 4 levels, then use the first base.
    func virtualBase(_ bases: [ObjectId], depth: Int) throws -> [String: TreeFile] {
        var files = try self.files(ofCommit: bases[0])
        for b in bases.dropFirst() {
            let inner = try mergeBases(bases[0], b)
            let innerFiles: [String: TreeFile]
            if inner.isEmpty { innerFiles = [:] }
            else if inner.count == 1 || depth >= 4 { innerFiles = try self.files(ofCommit: inner[0]) }
            else { innerFiles = try virtualBase(inner, depth: depth + 1) }
            var o = TreeMergeOptions(style: .merge, oursLabel: "Temporary merge branch 1", theirsLabel: "Temporary merge branch 2")
            o.virtualBase = true
            files = try mergeTrees(base: innerFiles, ours: files, theirs: try self.files(ofCommit: b), options: o).merged
        }
        return files
    }

    /// `merge --abort`: puts every path the merge touched (and every unmerged or staged
    /// path) back as HEAD has it, in the index and the work tree, and forgets the merge.
    /// Local changes to other paths are kept, as git's `reset --merge` keeps them.
    public func abortMerge() throws -> CheckoutResult {
        try withLock {
            var index = try StagingIndex.load(indexPath)
            // A damaged MERGE_HEAD or MERGE_MODE must not stand in the way of aborting.
            guard FS.exists(mergeHeadPath) || FS.exists(mergeModePath) || !index.unmerged.isEmpty else {
                throw StoreError.invalid("there is no merge to abort (MERGE_HEAD missing)")
            }
            let head = try refs.headCommit()
            let headFiles = try files(ofCommit: head)
            let touched = (try? FS.readText(mergeModePath)).flatMap { try? MergeMode.decode($0, path: mergeModePath, lenient: true) }?.touched
            var paths = Set(touched ?? []).union(index.unmerged.keys)
            for p in Set(index.entries.keys).union(headFiles.keys) where indexFile(index, p) != headFiles[p] { paths.insert(p) }
            // Edits made since the merge to merged files would be lost: refused, as git's
            // `reset --merge` refuses ("Entry 'X' not uptodate"). Unmerged paths are overwritten.
            let check = FileReader(store: store)
            var lost: [String] = []
            for p in paths.sorted() {
                guard let e = index.entries[p], e.id != headFiles[p]?.id || e.mode != headFiles[p]?.mode else { continue }
                if !workFileMatches(p, e, index: index, reader: check) { lost.append(p) }
            }
            if !lost.isEmpty {
                throw StoreError.invalid("Entry '\(lost[0])' not uptodate. Cannot abort the merge: it would lose your changes made since the merge to \(StoreError.list(lost)) (commit them, or discard them with 'mlrepo reset --hard'; nothing was changed)")
            }
            var result = CheckoutResult(head: try refs.head())
            for p in paths.sorted(by: >) where headFiles[p] == nil {
                if removeWorkFile(p) { result.removed.append(p) }
                index.entries[p] = nil
            }
            try store.ensureLocal(files: paths.compactMap { headFiles[$0]?.id })
            let reader = FileReader(store: store)
            for p in paths.sorted() {
                guard let f = headFiles[p] else { continue }
                if let e = index.entries[p], e.id == f.id, e.mode == f.mode, let st = FS.lstat(fullPath(p)), st.isRegular,
                   (try? reader.fileMatches(path: fullPath(p), id: f.id, size: f.size)) == true { continue }
                let st = try writeWorkFile(p, f, reader: reader)
                index.entries[p] = IndexEntry(path: p, mode: f.mode, stat: st, id: f.id)
                result.written.append(p)
            }
            index.unmerged = [:]
            let same = index.entries.count == headFiles.count && index.entries.allSatisfy { p, e in
                guard let f = headFiles[p] else { return false }
                return f.id == e.id && f.mode == e.mode
            }
            index.treeId = same ? try head.map { try readCommit($0).tree } : nil
            if let newest = result.written.compactMap({ index.entries[$0]?.mtimeNs }).max() { waitPastTimestamp(newest) }
            try index.write(indexPath, durable: durable)
            clearMergeState()
            return result
        }
    }

    /// True when the work file at `p` is what the index entry `e` records (stat data when
    /// trustworthy, else its content).
    func workFileMatches(_ p: String, _ e: IndexEntry, index: StagingIndex, reader: FileReader) -> Bool {
        guard let st = FS.lstat(fullPath(p)), st.isRegular, (st.isExecutable ? FileMode.executable : .regular) == e.mode else { return false }
        if e.matches(st) && !index.isRacy(e) { return true }
        return (try? reader.fileMatches(path: fullPath(p), id: e.id, size: e.size)) == true
    }

    /// Ending a merge with `reset --hard` or a forced checkout: removes the `PATH~BRANCH`
    /// files its file/folder conflicts moved aside (untracked, recorded in MERGE_MODE).
    func removeMergeAsides() {
        guard let mode = try? mergeMode(), !mode.touched.isEmpty, let index = try? StagingIndex.load(indexPath) else { return }
        for p in mode.touched where index.entries[p] == nil && index.unmerged[p] == nil && p.split(separator: "/").last?.contains("~") == true {
            removeWorkFile(p)
        }
    }

    public enum ConflictSide: Sendable { case ours, theirs, merge(TextMergeOptions.Style) }

    /// `checkout --ours/--theirs PATH` and `checkout --conflict=STYLE PATH`: writes one side
    /// of each unmerged path under the specs (a table: the merged table with each conflicting
    /// row taken from that side; text and binary: that side's file), or re-creates the
    /// conflicted merge in the given style. The paths stay unmerged until `add`.
    public func checkoutConflicts(_ specs: [String], side: ConflictSide) throws -> [String] {
        try withLock {
            let index = try StagingIndex.load(indexPath)
            var chosen: [UnmergedPath] = []
            for s in specs {
                let m = index.sortedUnmerged.filter { pathMatches($0.path, s) }
                if m.isEmpty { throw StoreError.badPath(s.isEmpty ? "." : s, reason: "is not an unmerged path") }
                chosen += m.filter { c in !chosen.contains { $0.path == c.path } }
            }
            let mode = try mergeMode()
            var targets: [(String, TreeFile)] = []
            for u in chosen {
                switch side {
                case .ours, .theirs:
                    let isOurs: Bool = { if case .ours = side { return true } else { return false } }()
                    guard let f = isOurs ? u.ours : u.theirs else {
                        throw StoreError.badPath(u.path, reason: "does not have \(isOurs ? "our" : "their") version (it was deleted on that side; use 'mlrepo rm' to resolve it as deleted)")
                    }
                    var file = f
                    if Repository.isTablePath(u.path), let o = u.ours, let t = u.theirs {
                        let to = TableMergeOptions(keyColumn: mode.keyColumn, favor: isOurs ? .ours : .theirs,
                                                   delimiter: Repository.tableDelimiter(u.path) ?? 0x2C,
                                                   oursLabel: "HEAD", theirsLabel: mode.label)
                        if let m = try? mergeTable(base: u.base?.id, ours: o.id, theirs: t.id, options: to) {
                            file = TreeFile(mode: f.mode, size: m.file.size, id: m.file.id)
                        }
                    }
                    targets.append((u.path, file))
                case .merge(let style):
                    if Repository.isTablePath(u.path), let o = u.ours, let t = u.theirs {
                        // A table is re-merged row by row, as the merge did.
                        var to = TableMergeOptions(keyColumn: mode.keyColumn, delimiter: Repository.tableDelimiter(u.path) ?? 0x2C,
                                                   oursLabel: "HEAD", theirsLabel: mode.label)
                        to.favor = .none
                        if let m = try? mergeTable(base: u.base?.id, ours: o.id, theirs: t.id, options: to) {
                            targets.append((u.path, TreeFile(mode: o.mode, size: m.file.size, id: m.file.id)))
                            continue
                        }
                    }
                    guard let o = u.ours, let t = u.theirs, let texts = try readTexts([u.base, o, t]) else {
                        throw StoreError.badPath(u.path, reason: "has no text conflict to re-create (binary, or deleted on one side)")
                    }
                    let to = TextMergeOptions(style: style, oursLabel: "HEAD", baseLabel: mode.baseLabel, theirsLabel: mode.label)
                    let m = TextMerge.merge(base: texts[0] ?? [], ours: texts[1]!, theirs: texts[2]!, options: to)
                    let s = try storeBytes(m.bytes)
                    targets.append((u.path, TreeFile(mode: o.mode, size: s.size, id: s.id)))
                }
            }
            try store.commitPending()
            try store.ensureLocal(files: targets.map(\.1.id))
            let reader = FileReader(store: store)
            for (p, f) in targets { _ = try writeWorkFile(p, f, reader: reader) }
            return targets.map(\.0)
        }
    }
}
