#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Support

public struct CheckoutResult: Sendable {
    public var written: [String] = []
    public var removed: [String] = []
    public var head: Head
}

extension Repository {
    /// Checks out a whole revision: a branch name makes HEAD follow that branch, anything
    /// else detaches HEAD. Refuses (naming the paths) to overwrite staged or unstaged
    /// changes or untracked files unless `force`.
    public func checkout(_ rev: String, force: Bool = false) throws -> CheckoutResult {
        try withLock {
            let id = try resolveCommit(rev)
            let branchTip = Refs.isValidName(rev) ? try refs.read("refs/heads/" + rev) : nil
            let isBranch = branchTip != nil
            var head: Head = isBranch ? .branch(rev) : .detached(id)
            if rev == "HEAD" || rev == "@" { head = try refs.head() }  // stays on its branch, as in git
            let r = try moveTo(id, head: head, force: force, message: "checkout: moving to \(rev)")
            if force { removeMergeAsides() }
            clearMergeState()  // leaving a merge in progress forgets it, as git does
            return r
        }
    }

    /// `switch BRANCH` / `switch -c BRANCH [START]`.
    public func switchBranch(_ name: String, create: Bool, start: String? = nil, force: Bool = false) throws -> CheckoutResult {
        try withLock {
            guard Refs.isValidName(name) else { throw StoreError.badRefName(name) }
            let ref = "refs/heads/" + name
            if create {
                if try refs.read(ref) != nil { throw StoreError.refExists("branch " + name) }
                let who = signature()
                if let start {
                    let id = try resolveCommit(start)
                    try refs.update(ref, to: id, who: who, message: "branch: created from \(start)")
                    return try moveTo(id, head: .branch(name), force: force, message: "switch: moving to \(name)")
                }
                if let h = try refs.headCommit() {
                    try refs.update(ref, to: h, who: who, message: "branch: created from HEAD")
                }
                try refs.setHead(.branch(name), who: who, message: "switch: moving to \(name)")
                return CheckoutResult(head: .branch(name))
            }
            guard let id = try refs.read(ref) else {
                throw StoreError.badRevision(name, reason: "no such branch (use 'switch -c \(name)' to create it)")
            }
            let r = try moveTo(id, head: .branch(name), force: force, message: "switch: moving to \(name)")
            if force { removeMergeAsides() }
            clearMergeState()
            return r
        }
    }

    /// Moves branch `branch` (the current one) forward to `target`, updating the index and
    /// work tree like a checkout (local changes to other paths are kept; a path changed both
    /// locally and upstream is refused).
    public func fastForward(branch: String, to target: ObjectId, message: String) throws -> CheckoutResult {
        try withLock {
            let r = try moveTo(target, head: .branch(branch), force: false, message: message)
            try refs.update("refs/heads/" + branch, to: target, who: signature(), message: message)
            return r
        }
    }

    /// Moves HEAD to `target`, updating the index and work tree for every path whose
    /// content differs between the current HEAD and `target` (local changes elsewhere are
    /// carried over, as git does). With `force`, index and work tree are reset to `target`.
    func moveTo(_ target: ObjectId, head newHead: Head, force: Bool, message: String) throws -> CheckoutResult {
        let headId = try refs.headCommit()
        let headFiles = try files(ofCommit: headId)
        let targetFiles = try files(ofCommit: target)
        var index = try StagingIndex.load(indexPath)
        // Conflicts of a merge: refused, or (forced) discarded with their work files.
        let unmerged = Set(index.unmerged.keys)
        if !unmerged.isEmpty && !force {
            throw StoreError.invalid("you need to resolve your current index first: \(StoreError.list(unmerged.sorted())) unmerged (finish the merge, or 'mlrepo merge --abort')")
        }
        index.unmerged = [:]
        let (work, _) = try compareWorkTree(&index, hashUntracked: false)
        // Edited files hold work that checkout must not destroy; deleted ones do not (their
        // content is in the store), so checkout may recreate or remove them freely.
        let workChanged = Set(work.changes.filter { $0.change == .modified }.map(\.path))
        let workDeleted = Set(work.changes.filter { $0.change == .deleted }.map(\.path))
        let untracked = Set(work.untracked)

        var toChange = Set<String>()
        for p in Set(headFiles.keys).union(targetFiles.keys) where headFiles[p] != targetFiles[p] { toChange.insert(p) }
        if force {
            toChange.formUnion(unmerged)
            for p in Set(index.entries.keys).union(targetFiles.keys) where indexFile(index, p) != targetFiles[p] || index.entries[p]?.notCheckedOut == true {
                toChange.insert(p)
            }
            toChange.formUnion(workChanged.union(workDeleted).filter { targetFiles[$0] != nil || index.entries[$0] != nil })
        } else {
            var dirty: [String] = []
            var blocked: [String] = []
            for p in toChange.sorted() {
                let idx = indexFile(index, p)
                if idx == targetFiles[p] && !workChanged.contains(p) { continue }
                if idx != headFiles[p] { dirty.append(p); continue }
                if workChanged.contains(p) { dirty.append(p); continue }
                if idx == nil, targetFiles[p] != nil, untracked.contains(p) {
                    let s = try? FileWriter(store: store, chunker: chunker, dryRun: true).store(path: fullPath(p))
                    if s?.id != targetFiles[p]?.id { blocked.append(p) }
                }
            }
            // An untracked file where the target needs a folder.
            for p in toChange where targetFiles[p] != nil {
                var d = Path.dirname(p)
                while d != "." && !d.isEmpty {
                    if untracked.contains(d) { blocked.append(d) }
                    d = Path.dirname(d)
                }
            }
            if !dirty.isEmpty { throw StoreError.uncommittedChanges(dirty) }
            if !blocked.isEmpty { throw StoreError.untrackedWouldBeOverwritten(Array(Set(blocked)).sorted()) }
        }

        var result = CheckoutResult(head: newHead)
        // Paths left out of the work tree on purpose stay out (unless forced): their entries
        // follow the target, no file is written and no data fetched.
        let notCheckedOut = force ? [] : Set(toChange.filter { index.entries[$0]?.notCheckedOut == true && FS.lstat(fullPath($0)) == nil })
        // Removals first, so a file can make way for a folder of the same name.
        for p in toChange.sorted(by: >) where targetFiles[p] == nil {
            if !notCheckedOut.contains(p), removeWorkFile(p) { result.removed.append(p) }
            index.entries[p] = nil
        }
        // A lazy clone fetches the data of every file it is about to write in one batch.
        try store.ensureLocal(files: toChange.filter { !notCheckedOut.contains($0) }.compactMap { targetFiles[$0]?.id })
        let reader = FileReader(store: store)
        for p in toChange.sorted() {
            guard let t = targetFiles[p] else { continue }
            if notCheckedOut.contains(p) {
                var e = IndexEntry(path: p, mode: t.mode, size: t.size, id: t.id)
                e.notCheckedOut = true
                index.entries[p] = e
                continue
            }
            let cur = index.entries[p]
            let unchangedOnDisk = cur != nil && cur!.id == t.id && cur!.mode == t.mode && !cur!.notCheckedOut
                && !workChanged.contains(p) && !workDeleted.contains(p)
            if unchangedOnDisk { continue }
            var st: FileStat? = nil
            if let cur, !workChanged.contains(p) { st = try rewriteReusingOldData(p, old: cur.id, new: t, reader: reader) }
            if st == nil { st = try writeWorkFile(p, t, reader: reader) }
            result.written.append(p)
            index.entries[p] = IndexEntry(path: p, mode: t.mode, stat: st!, id: t.id)
        }
        if force {
            for p in Array(index.entries.keys) where targetFiles[p] == nil { index.entries[p] = nil }
        }
        // Files we just wrote would look racy to the next status (same timestamp tick as the
        // index) and be re-hashed; their content is known, so let the tick pass first.
        let newest = result.written.compactMap { index.entries[$0]?.mtimeNs }.max()
        if let newest { waitPastTimestamp(newest) }
        // Record the tree when the index now holds exactly the target's files.
        let same = index.entries.count == targetFiles.count && index.entries.allSatisfy { p, e in
            targetFiles[p].map { $0.id == e.id && $0.mode == e.mode } ?? false
        }
        index.treeId = same ? try readCommit(target).tree : nil
        try index.write(indexPath, durable: durable)
        let who = signature()
        try refs.setHead(newHead, who: who, message: message)
        return result
    }

    /// Points `branch` and HEAD at `tip` without writing any file (`clone --no-checkout`):
    /// every path of `tip` is tracked but not checked out, so status shows a clean tree and
    /// a commit keeps those files. `checkout BRANCH -- PATH` then writes the paths wanted.
    public func setUpWithoutCheckout(branch: String, tip: ObjectId, message: String) throws {
        try withLock {
            let who = signature()
            try refs.update("refs/heads/" + branch, to: tip, who: who, message: message)
            var index = StagingIndex()
            for (p, f) in try files(ofCommit: tip) {
                var e = IndexEntry(path: p, mode: f.mode, size: f.size, id: f.id)
                e.notCheckedOut = true
                index.entries[p] = e
            }
            index.treeId = try readCommit(tip).tree
            try index.write(indexPath, durable: durable)
            try refs.setHead(.branch(branch), who: who, message: message)
        }
    }

    func indexFile(_ index: StagingIndex, _ p: String) -> TreeFile? {
        index.entries[p].map { TreeFile(mode: $0.mode, size: $0.size, id: $0.id) }
    }

    /// `checkout [REV] -- PATH...`: restores paths from a revision (also staging them) or,
    /// without one, from the index. Refuses to overwrite unstaged changes unless `force`.
    public func checkoutPaths(_ specs: [String], rev: String?, force: Bool = false) throws -> CheckoutResult {
        try withLock {
            var index = try StagingIndex.load(indexPath)
            var source: [String: TreeFile] = [:]
            var fromCommit: ObjectId? = nil
            if let rev {
                let id = try resolveCommit(rev)
                fromCommit = id
                let all = try files(ofCommit: id)
                for s in specs {
                    let m = all.filter { pathMatches($0.key, s) }
                    if m.isEmpty { throw StoreError.badPath(s.isEmpty ? "." : s, reason: "did not match any file in \(rev)") }
                    source.merge(m) { a, _ in a }
                }
            } else {
                for s in specs {
                    let m = index.entries.filter { pathMatches($0.key, s) }
                    if m.isEmpty { throw StoreError.badPath(s.isEmpty ? "." : s, reason: "did not match any staged file") }
                    for (p, e) in m { source[p] = TreeFile(mode: e.mode, size: e.size, id: e.id) }
                }
            }
            var changed: Set<String> = []
            for s in specs {
                let (w, _) = try compareWorkTree(&index, spec: s)
                changed.formUnion(w.changes.filter { $0.change == .modified }.map(\.path))
                if !force, fromCommit != nil {
                    let blocked = w.untracked.filter { source[$0] != nil && index.unmerged[$0] == nil }
                    if !blocked.isEmpty { throw StoreError.untrackedWouldBeOverwritten(blocked) }
                }
            }
            if !force {
                let dirty = source.keys.filter { changed.contains($0) }.sorted()
                if !dirty.isEmpty { throw StoreError.uncommittedChanges(dirty) }
            }
            var result = CheckoutResult(head: try refs.head())
            try store.ensureLocal(files: source.values.map(\.id))
            let reader = FileReader(store: store)
            for p in source.keys.sorted() {
                let t = source[p]!
                if let e = index.entries[p], e.id == t.id, e.mode == t.mode, !changed.contains(p), FS.lstat(fullPath(p))?.isRegular == true { continue }
                let st = try writeWorkFile(p, t, reader: reader)
                result.written.append(p)
                index.entries[p] = IndexEntry(path: p, mode: t.mode, stat: st, id: t.id)
                index.unmerged[p] = nil  // a side checked out from a commit resolves the conflict
                if fromCommit != nil { index.treeId = nil }
            }
            if let newest = result.written.compactMap({ index.entries[$0]?.mtimeNs }).max() { waitPastTimestamp(newest) }
            try index.write(indexPath, durable: durable)
            return result
        }
    }

    // MARK: Export

    /// Writes every file of a tree into `dir` (created if missing; it should be empty),
    /// verifying each file against its id. Used to rebuild a commit in a scratch folder.
    public func export(tree: ObjectId, to dir: String) throws {
        try sys { try FS.mkdirs(dir) }
        let files = try flatten(tree)
        try store.ensureLocal(files: files.values.map(\.id))
        let reader = FileReader(store: store)
        for (path, f) in files.sorted(by: { $0.key < $1.key }) {
            _ = try writeWorkFile(path, f, reader: reader, base: dir)
        }
    }

    // MARK: Safe file writes

    /// Writes a file of the work tree from the store: parent folders are created as needed
    /// and never followed through a symlink; the content goes to a temp file beside the
    /// target and is renamed over it, so a reader never sees half a file.
    func writeWorkFile(_ path: String, _ f: TreeFile, reader: FileReader, base: String? = nil) throws -> FileStat {
        for c in path.split(separator: "/") where !Tree.isSafeName(String(c)) {
            throw StoreError.badPath(path, reason: "unsafe path; refusing to write it")
        }
        let root = base ?? self.root
        var dir = root
        let comps = path.split(separator: "/").map(String.init)
        for c in comps.dropLast() {
            dir += "/" + c
            if let st = FS.lstat(dir) {
                if st.isSymlink { throw StoreError.badPath(path, reason: "'\(dir)' is a symlink; refusing to write through it") }
                if !st.isDirectory { throw StoreError.untrackedWouldBeOverwritten([String(dir.dropFirst(root.count + 1))]) }
            } else {
                try sys { try FS.mkdir(dir) }
            }
        }
        let full = root + "/" + path
        if let st = FS.lstat(full), st.isDirectory {
            // Empty folders (left by deleted files) may give way; anything with files may not.
            if !removeEmptyFolders(full) { throw StoreError.untrackedWouldBeOverwritten([path + "/"]) }
        }
        let tmp = WorkTemp.path(in: dir)
        do {
            let fd = try sys { try FileDescriptor(path: tmp, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: f.mode == .executable ? 0o755 : 0o644) }
            var written: UInt64 = 0
            try reader.read(f.id) { bytes in
                try sys { try fd.write(bytes) }
                written += UInt64(bytes.count)
            }
            guard written == f.size else {
                throw StoreError.objectCorrupt(f.id, location: "tree entry '\(path)'", reason: "content has \(written) bytes, the tree says \(f.size)")
            }
            if f.mode == .executable { fchmod(fd.fd, 0o755) }
            try sys { try FS.rename(tmp, full) }
        } catch {
            try? FS.unlink(tmp)
            throw error
        }
        guard let st = FS.lstat(full) else { throw StoreError.system(SystemError("stat", full)) }
        return st
    }

    /// Writes a new version of a large tracked file whose chunks mostly sit at the same
    /// offsets as in the old version (appends, same-length edits) without rewriting it all:
    /// a temp file beside it gets the old file's data by reflink (FICLONE) or, where the file
    /// system cannot, the unchanged ranges copied inside the kernel (copy_file_range); only
    /// the changed chunks are written from the store; then the temp is swapped in. A reader
    /// or a kill at any moment sees the old version or the new one, never a mix. Returns nil (the caller rewrites the whole file) when that would not save much
    /// or when the file is too large to compare cheaply (> 16 GiB).
    func rewriteReusingOldData(_ path: String, old: ObjectId, new f: TreeFile, reader: FileReader) throws -> FileStat? {
        let full = fullPath(path)
        guard f.size >= 1 << 20, f.size <= 16 << 30,
              let st = FS.lstat(full), st.isRegular, st.size >= 1 << 20 else { return nil }
        guard let oldKind = try store.info(old)?.kind, oldKind == .chunks,
              let newKind = try store.info(f.id)?.kind, newKind == .chunks else { return nil }
        if symlinkedParent(path) != nil { return nil }
        var oldLayout: [(UInt64, ObjectId)] = []
        var off: UInt64 = 0
        try reader.forEachChunk(old) { id, size in oldLayout.append((off, id)); off += size }
        guard off == st.size else { return nil }
        var changed: [(offset: UInt64, id: ObjectId, size: UInt64)] = []
        // Runs of chunks the old file already holds: at the same offset (edits that keep
        // lengths, appends), or shifted (rows inserted or relabelled with another length).
        var kept: [(src: UInt64, dst: UInt64, size: UInt64)] = []
        var oldAt: [ObjectId: UInt64] = [:]
        oldAt.reserveCapacity(oldLayout.count)
        for (o, id) in oldLayout where oldAt[id] == nil { oldAt[id] = o }
        var reused: UInt64 = 0
        var k = 0
        off = 0
        try reader.forEachChunk(f.id) { id, size in
            while k < oldLayout.count && oldLayout[k].0 < off { k += 1 }
            let src: UInt64? = k < oldLayout.count && oldLayout[k].0 == off && oldLayout[k].1 == id ? off : oldAt[id]
            if let src {
                reused += size
                if let last = kept.last, last.src + last.size == src, last.dst + last.size == off { kept[kept.count - 1].size += size }
                else { kept.append((src, off, size)) }
            } else { changed.append((off, id, size)) }
            off += size
        }
        guard off == f.size, reused * 2 >= f.size else { return nil }
        let src = try sys { try FileDescriptor(path: full, flags: O_RDONLY | O_NOFOLLOW) }
        guard let sst = try? src.stat(), sst.inode == st.inode, sst.size == st.size else { return nil }
        let tmp = WorkTemp.path(in: Path.dirname(full))
        do {
            let fd = try sys { try FileDescriptor(path: tmp, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: f.mode == .executable ? 0o755 : 0o644) }
            // The unchanged ranges: shared by reflink, else copied in the kernel on another
            // thread while this one reads, verifies and writes the changed chunks (two
            // copying threads gained nothing: writes to one file share its inode lock).
            let copy = RangeCopy(src: src, dst: fd)
            let g = DispatchGroup()
            if kept.allSatisfy({ $0.src == $0.dst }), fd.clone(from: src) {
                if f.size < st.size { try sys { try fd.truncate(to: f.size) } }
            } else {
                try sys { try fd.truncate(to: f.size) }
                let ranges = kept
                DispatchQueue.global(qos: .userInitiated).async(group: g) { copy.run(ranges) }
            }
            let h = SHA256Hasher()
            do {
                for c in changed {
                    try store.withObject(c.id, hasher: h) { kind, bytes in
                        guard kind == .blob, bytes.count == Int(c.size) else {
                            throw StoreError.objectCorrupt(c.id, location: "chunk of '\(path)'", reason: "not a chunk of the listed size")
                        }
                        try sys { try fd.write(bytes, at: c.offset) }
                    }
                }
            } catch { g.wait(); throw error }
            g.wait()
            if let e = copy.error { throw StoreError.system(e) }
            try sys { try fd.truncate(to: f.size) }
            fchmod(fd.fd, f.mode == .executable ? 0o755 : 0o644)
            // Swap the new file in and delete the old one, rather than rename over it: on
            // ext4, a rename that replaces a file first starts writeback of all the new
            // data (auto_da_alloc), which cost as much as the copy. A kill between the two
            // steps leaves the old data under the temp name, which the next command removes.
            if FS.exchange(tmp, full) { try? FS.unlink(tmp) } else { try sys { try FS.rename(tmp, full) } }
        } catch {
            try? FS.unlink(tmp)
            throw error
        }
        guard let nst = FS.lstat(full) else { throw StoreError.system(SystemError("stat", full)) }
        return nst
    }

    /// Waits (a few ms at most) until the file system's clock, read from a probe file's
    /// mtime, is past `ns`, so an index written next is newer than the files checkout wrote.
    func waitPastTimestamp(_ ns: Int64) {
        let probe = dotDir + "/.tick"
        defer { unlink(probe) }
        for _ in 0..<400 {
            let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            if fd < 0 { return }
            var st = stat()
            _ = Glibc.write(fd, "t", 1)
            let ok = fstat(fd, &st) == 0
            close(fd)
            if !ok { return }
            if Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec) > ns { return }
            usleep(500)
        }
    }

    /// Removes `dir` if it holds nothing but (nested) empty folders. Never follows symlinks.
    func removeEmptyFolders(_ dir: String) -> Bool {
        guard let entries = try? FS.list(dir) else { return false }
        for e in entries {
            guard e.type == .directory, removeEmptyFolders(dir + "/" + e.name) else { return false }
        }
        return FS.rmdir(dir)
    }

    /// Removes a tracked file and the folders it leaves empty. Never follows symlinks.
    @discardableResult
    func removeWorkFile(_ path: String) -> Bool {
        // Never a path that leaves the work tree or reaches into .mlrepo.
        guard StagingIndex.isSafePath(path) else { return false }
        let full = fullPath(path)
        guard let st = FS.lstat(full), !st.isDirectory else { return false }
        // Do not delete through a symlinked parent.
        var d = Path.dirname(path)
        while d != "." && !d.isEmpty {
            if FS.lstat(fullPath(d))?.isSymlink == true { return false }
            d = Path.dirname(d)
        }
        guard (try? FS.unlink(full)) != nil else { return false }
        d = Path.dirname(path)
        while d != "." && !d.isEmpty {
            if !FS.rmdir(fullPath(d)) { break }
            d = Path.dirname(d)
        }
        return true
    }
}

/// Copies byte ranges from one open file to another at the same offsets, on any thread;
/// the first error is kept.
final class RangeCopy: @unchecked Sendable {
    let src: FileDescriptor
    let dst: FileDescriptor
    private let lock = Lock()
    private var firstError: SystemError?
    init(src: FileDescriptor, dst: FileDescriptor) { self.src = src; self.dst = dst }

    var error: SystemError? { lock.withLock { firstError } }

    func run(_ ranges: [(src: UInt64, dst: UInt64, size: UInt64)]) {
        for r in ranges {
            if error != nil { return }
            do { try dst.copyRange(from: src, at: r.src, to: r.dst, count: r.size) } catch {
                let e = error as? SystemError ?? SystemError("copy", src.path, code: EIO)
                lock.withLock { if firstError == nil { firstError = e } }
                return
            }
        }
    }
}
