#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Support

/// Progress of a long operation: bytes done of a known total.
public typealias ProgressHandler = @Sendable (_ done: UInt64, _ total: UInt64) -> Void

public struct AddResult: Sendable {
    /// Paths whose content was (re)hashed and staged.
    public var staged: [String] = []
    /// Paths removed from the index because they are gone from disk.
    public var removed: [String] = []
    /// Symlinks and special files that were not added.
    public var skipped: [String] = []
    public var bytesHashed: UInt64 = 0
    public var bytesNew: UInt64 = 0
}

/// Counts bytes from several threads for a progress callback.
final class ProgressCounter: @unchecked Sendable {
    let lock = Lock()
    var done: UInt64 = 0
    let total: UInt64
    let handler: ProgressHandler?
    init(total: UInt64, handler: ProgressHandler?) { self.total = total; self.handler = handler }
    func add(_ n: Int) {
        guard let handler else { return }
        let d = lock.withLock { done += UInt64(n); return done }
        handler(d, total)
    }
}

extension Repository {
    /// Stages the files under each repo-relative spec: new and changed files are hashed and
    /// stored, unchanged ones (same stat data, not racy) are skipped, files gone from disk
    /// are unstaged. Throws for a spec that matches nothing on disk or in the index, and
    /// for an explicitly named ignored file unless `force`.
    public func add(_ specs: [String], force: Bool = false, progress: ProgressHandler? = nil) throws -> AddResult {
        try withLock {
            var index = try StagingIndex.load(indexPath)
            var result = AddResult()
            var work: [WorkFile] = []
            var seen = Set<String>()
            for spec in specs {
                if let link = symlinkedParent(spec) {
                    throw StoreError.badPath(spec, reason: "is beyond a symbolic link at '\(link)'; symlinked folders are not followed")
                }
                let full = fullPath(spec)
                let st = FS.lstat(full)
                if let st, st.isRegular, !force, try isIgnored(spec, isDirectory: false), index.entries[spec] == nil, index.unmerged[spec] == nil {
                    throw StoreError.badPath(spec, reason: "is ignored by .mlrepoignore (use --force to add it anyway)")
                }
                let s = try scan(spec, includeIgnored: force)
                result.skipped += s.skipped
                // Adding an unmerged path marks it resolved: its file (if any) is staged
                // below as stage 0 (tracked, so even when ignored); a path gone from disk is
                // resolved as deleted.
                let unmerged = index.unmerged.keys.filter { pathMatches($0, spec) }
                let tracked = index.entries.keys.filter { pathMatches($0, spec) } + unmerged
                for p in unmerged {
                    index.unmerged[p] = nil
                    index.treeId = nil
                }
                if s.files.isEmpty && tracked.isEmpty && s.skipped.isEmpty && unmerged.isEmpty {
                    if st == nil { throw StoreError.badPath(spec.isEmpty ? "." : spec, reason: "did not match any file") }
                }
                for f in s.files where seen.insert(f.path).inserted { work.append(f) }
                // Tracked files that are gone from disk: stage their removal.
                for p in tracked where !seen.contains(p) {
                    if symlinkedParent(p) == nil, let pst = FS.lstat(fullPath(p)), pst.isRegular {
                        // Tracked but matched by an ignore rule: still tracked, so still staged.
                        seen.insert(p)
                        work.append(WorkFile(path: p, stat: pst))
                        continue
                    }
                    if index.entries[p]?.notCheckedOut == true { continue }  // absent on purpose, not deleted
                    index.entries[p] = nil
                    index.treeId = nil
                    result.removed.append(p)
                }
            }
            // Only files whose stat data changed (or that are racy) are hashed.
            let toHash = work.filter { f in
                guard let e = index.entries[f.path] else { return true }
                return !e.matches(f.stat) || index.isRacy(e) || !store.contains(e.id)
            }
            try checkPathConflicts(toHash.map(\.path), index: &index)
            let stored = try storeFiles(toHash, progress: progress)
            for (f, s) in zip(toHash, stored) {
                let mode: FileMode = f.stat.isExecutable ? .executable : .regular
                if let old = index.entries[f.path], old.id == s.id, old.mode == mode {
                    // Same content: refresh stat data only.
                } else {
                    result.staged.append(f.path)
                }
                var st = f.stat
                st.size = s.size
                index.entries[f.path] = IndexEntry(path: f.path, mode: mode, stat: st, id: s.id)
                result.bytesHashed += s.size
                result.bytesNew += s.newBytes
            }
            if !result.staged.isEmpty || !result.removed.isEmpty { index.treeId = nil }
            try store.commitPending()
            try index.write(indexPath, durable: durable)
            try? autoRepack()
            return result
        }
    }

    /// A new file `a/b` replaces a tracked file `a`, and a new file `a` replaces tracked `a/…`.
    func checkPathConflicts(_ paths: [String], index: inout StagingIndex) throws {
        for p in paths {
            var d = Path.dirname(p)
            while d != "." && !d.isEmpty {
                index.entries[d] = nil
                d = Path.dirname(d)
            }
        }
        let set = Set(paths)
        if set.isEmpty { return }
        for k in index.entries.keys {
            var d = Path.dirname(k)
            while d != "." && !d.isEmpty {
                if set.contains(d) { index.entries[k] = nil; break }
                d = Path.dirname(d)
            }
        }
    }

    /// Stores files: small ones hashed in parallel on all cores, large ones one at a time
    /// (each is itself chunked and hashed in parallel). Results are in input order.
    func storeFiles(_ files: [WorkFile], progress: ProgressHandler?) throws -> [StoredFile] {
        let writer = FileWriter(store: store, chunker: chunker)
        let total = files.reduce(UInt64(0)) { $0 + $1.stat.size }
        let counter = ProgressCounter(total: total, handler: progress)
        var results = [StoredFile?](repeating: nil, count: files.count)
        let smallIdx = files.indices.filter { Int(files[$0].stat.size) <= writer.threshold }
        let largeIdx = files.indices.filter { Int(files[$0].stat.size) > writer.threshold }
        if !smallIdx.isEmpty {
            let small = try storeSmall(smallIdx.map { files[$0] }, counter: counter)
            for (k, i) in smallIdx.enumerated() { results[i] = small[k] }
        }
        for i in largeIdx {
            results[i] = try writer.store(path: fullPath(files[i].path), progress: { counter.add($0) })
        }
        return results.map { $0! }
    }

    private func storeSmall(_ files: [WorkFile], counter: ProgressCounter) throws -> [StoredFile] {
        final class Shared: @unchecked Sendable {
            var results: [StoredFile?]
            var error: Error?
            let lock = Lock()
            init(_ n: Int) { results = [StoredFile?](repeating: nil, count: n) }
        }
        let shared = Shared(files.count)
        let store = self.store
        let policy = store.compression
        _ = try store.beginWrite()
        let workers = min(CPU.count, max(1, files.count / 16))
        let root = self.root
        let maxSize = FileWriter(store: store, chunker: chunker).threshold
        // One hasher and one read buffer per worker; files are handed out one at a time.
        let hashers = (0..<workers).map { _ in SHA256Hasher() }
        let buffers = (0..<workers).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: maxSize + 1, alignment: 64) }
        defer { for b in buffers { b.deallocate() } }
        Parallel.forEachWorker(files.count, threads: workers) { i, w in
            let h = hashers[w], buf = buffers[w]
            do {
                if shared.lock.withLock({ shared.error != nil }) { return }
                let f = files[i]
                do {
                    let fd = try FileDescriptor(path: root + "/" + f.path, flags: O_RDONLY)
                    let n = try fd.readFully(into: buf.baseAddress!, count: buf.count)
                    if n > maxSize { throw StoreError.invalid("\(f.path) grew while being added; add it again") }
                    let stored = try { () throws -> StoredFile in
                        let p = UnsafeRawBufferPointer(rebasing: buf[0..<n])
                        let id = ObjectHash.id(.blob, p, hasher: h)
                        if store.containsCommitted(id) { return StoredFile(id: id, size: UInt64(n), newBytes: 0) }
                        let z = ObjectStore.encode(kind: .blob, p, policy: policy)
                        let isNew = try shared.lock.withLock { () -> Bool in
                            let w = try store.beginWrite()
                            if w.contains(id) { return false }
                            if let z {
                                try z.withUnsafeBytes { try w.put(id: id, kind: .blob, codec: .zlib, rawSize: n, stored: $0) }
                            } else {
                                try w.put(id: id, kind: .blob, codec: .raw, rawSize: n, stored: p)
                            }
                            try store.rollIfLarge()
                            return true
                        }
                        return StoredFile(id: id, size: UInt64(n), newBytes: isNew ? UInt64(n) : 0)
                    }()
                    shared.lock.withLock { shared.results[i] = stored }
                    counter.add(n)
                } catch let e as SystemError {
                    shared.lock.withLock { if shared.error == nil { shared.error = StoreError.system(e) } }
                } catch {
                    shared.lock.withLock { if shared.error == nil { shared.error = error } }
                }
            }
        }
        if let e = shared.error { throw e }
        return shared.results.map { $0! }
    }

    /// Computes the id a file would get, without storing anything.
    public func hashFile(_ path: String, write: Bool) throws -> StoredFile {
        if write {
            return try withLock {
                let s = try FileWriter(store: store, chunker: chunker).store(path: path)
                try store.commitPending()
                return s
            }
        }
        return try FileWriter(store: store, chunker: chunker, dryRun: true).store(path: path)
    }
}
