import Dispatch
import Support

public struct FsckProblem: Sendable, CustomStringConvertible {
    public var id: ObjectId?
    public var context: String
    public var message: String
    public var description: String { message + (context.isEmpty ? "" : " (\(context))") }
}

public struct FsckReport: Sendable {
    public var objectsChecked = 0
    public var bytesChecked: UInt64 = 0
    /// Objects of a lazy clone that were never fetched (they stay on its remote).
    public var notFetched = 0
    public var problems: [FsckProblem] = []
}

public struct GCReport: Sendable {
    public var reachable = 0
    public var unreachable = 0
    public var unreachableBytes: UInt64 = 0
    public var packsBefore = 0
    public var packsAfter = 0
    public var bytesBefore: UInt64 = 0
    public var bytesAfter: UInt64 = 0
    public var tempFilesRemoved = 0
}

public struct DUReport: Sendable {
    /// The files a checkout of HEAD has, and the sum of their sizes.
    public var headFiles = 0
    public var headBytes: UInt64 = 0
    public var commits = 0
    /// Distinct (path, content) pairs in reachable commits and the index.
    public var fileVersions = 0
    /// Sum of the sizes of those file versions: every version of every path, as if each were
    /// kept as a plain file. HEAD's files are among them, so this is at least `headBytes`.
    public var logicalBytes: UInt64 = 0
    /// The distinct chunks (a small file is one chunk) of everything reachable: the data left
    /// after deduplication, before compression.
    public var uniqueChunks = 0
    public var uniqueChunkBytes: UInt64 = 0
    /// Bytes of packs and indexes on disk: compressed data plus trees, commits and indexes.
    public var storedBytes: UInt64 = 0
    public var objects = 0
    public var packs = 0
    /// Logical bytes over unique chunk bytes: 1 when nothing is shared, never below.
    public var dedupRatio: Double { uniqueChunkBytes == 0 ? 1 : Double(logicalBytes) / Double(uniqueChunkBytes) }
}

extension Repository {
    /// Starting points of reachability: every branch and tag, HEAD, the reflogs and the index.
    func roots() throws -> (commits: [(ObjectId, String)], files: [(ObjectId, String)], problems: [FsckProblem]) {
        var commits: [(ObjectId, String)] = []
        // HEAD, ref files with bad names or contents, symlinks, reflog lines that do not parse.
        var problems = refs.check().map { FsckProblem(id: nil, context: "", message: $0) }
        func list(_ kind: String) -> [(name: String, id: ObjectId)] {
            do { return try refs.list(kind) } catch {
                problems.append(FsckProblem(id: nil, context: "", message: "\(error)"))
                return []
            }
        }
        let heads = list("heads"), aliases = list("aliases")
        for (n, id) in heads { commits.append((id, "branch " + n)) }
        for (n, id) in list("tags") { commits.append((id, "tag " + n)) }
        // Remote-tracking branches and registry aliases keep their commits too.
        for (n, id) in list("remotes") { commits.append((id, "remote-tracking " + n)) }
        for (n, id) in aliases { commits.append((id, "alias " + n)) }
        if let h = try? refs.headCommit() { commits.append((h, "HEAD")) }  // a bad HEAD is in `problems`
        // A merge in progress keeps the commit being merged (its commit becomes the second parent).
        if let m = try? mergeHead() { commits.append((m, "MERGE_HEAD")) }
        var logs = ["HEAD"] + heads.map { "refs/heads/" + $0.name } + aliases.map { "refs/aliases/" + $0.name }
        logs = Array(Set(logs))
        for l in logs {
            for e in (try? refs.log(l)) ?? [] {
                commits.append((e.new, "reflog of \(l)"))
            }
        }
        var files: [(ObjectId, String)] = []
        for (name, ids) in pins() { for id in ids { files.append((id, "pinned by \(name)")) } }
        do {
            for e in try StagingIndex.load(indexPath).entries.values { files.append((e.id, "staged file " + e.path)) }
        } catch {
            problems.append(FsckProblem(id: nil, context: "", message: "\(error)"))
        }
        return (commits, files, problems)
    }

    /// Walks everything reachable. `verify` re-hashes every object (chunks on all cores);
    /// otherwise only metadata objects are read. Problems are collected, not thrown.
    func walkReachable(verify: Bool, onFile: ((ObjectId, UInt64) -> Void)? = nil,
                       onChunk: ((ObjectId, UInt64) -> Void)? = nil, onCommit: ((ObjectId) -> Void)? = nil) throws
        -> (reachable: ReachabilityMarks, report: FsckReport) {
        var report = FsckReport()
        let (commitRoots, fileRoots, rootProblems) = try roots()
        // The pack list after the roots: writers publish a pack before the index or ref that
        // names its objects, so the packs listed now hold everything the roots reach (a
        // concurrent add may have published one since this repository was opened).
        try store.reload()
        let seen = ReachabilityMarks(packs: store.packs)
        report.problems += rootProblems
        var pendingChunks: [(ObjectId, UInt64, String)] = []
        // A lazy clone lacks file data by design: count it, do not fetch it or call it a problem.
        let lazy = store.missingSource != nil

        /// `store.info`, looking again after re-reading the pack list before calling an object
        /// missing (a concurrent repack may have replaced its pack since the list was read).
        func info(_ id: ObjectId) throws -> ObjectInfo? {
            if let i = try store.info(id) { return i }
            if lazy { return nil }
            try store.reload()
            return try store.info(id)
        }
        func problem(_ id: ObjectId?, _ ctx: String, _ e: Error) {
            report.problems.append(FsckProblem(id: id, context: ctx, message: "\(e)"))
        }
        func flushChunks() {
            guard verify, !pendingChunks.isEmpty else { pendingChunks.removeAll(); return }
            let batch = pendingChunks
            pendingChunks.removeAll(keepingCapacity: true)
            final class Errs: @unchecked Sendable { var list: [(Int, Error)] = []; let lock = Lock() }
            let errs = Errs()
            let store = self.store
            let workers = CPU.count
            let hashers = (0..<min(workers, batch.count)).map { _ in SHA256Hasher() }
            Parallel.forEachWorker(batch.count, threads: workers) { i, w in
                let h = hashers[w]
                do {
                    do {
                        // Hashed as it inflates: 64 KiB per worker, whatever the chunk size.
                        let info = try store.verify(batch[i].0, hasher: h)
                        guard info.kind == .blob else { throw StoreError.wrongKind(batch[i].0, expected: .blob, found: info.kind) }
                        guard info.size == Int(batch[i].1) else {
                            throw StoreError.objectCorrupt(batch[i].0, location: "chunk list", reason: "size \(info.size) differs from the listed \(batch[i].1)")
                        }
                    } catch { errs.lock.withLock { errs.list.append((i, error)) } }
                }
            }
            for (i, e) in errs.list.sorted(by: { $0.0 < $1.0 }) { problem(batch[i].0, batch[i].2, e) }
            report.objectsChecked += batch.count
            report.bytesChecked += batch.reduce(0) { $0 + $1.1 }
        }
        func visitFile(_ id: ObjectId, _ size: UInt64?, _ ctx: String) {
            guard seen.insert(id) else { return }
            do {
                guard let info = try info(id) else {
                    if lazy { report.notFetched += 1; return }
                    throw StoreError.objectMissing(id, context: nil)
                }
                switch info.kind {
                case .blob:
                    if let size, UInt64(info.size) != size {
                        throw StoreError.objectCorrupt(id, location: ctx, reason: "size \(info.size) differs from the tree's \(size)")
                    }
                    onFile?(id, UInt64(info.size))
                    onChunk?(id, UInt64(info.size))
                    pendingChunks.append((id, UInt64(info.size), ctx))
                case .chunks:
                    let list = try store.withObject(id) { _, b in try ChunkList.decode(b, id: id) }
                    report.objectsChecked += 1
                    if let size, list.totalSize != size {
                        throw StoreError.objectCorrupt(id, location: ctx, reason: "size \(list.totalSize) differs from the tree's \(size)")
                    }
                    onFile?(id, list.totalSize)
                    visitList(list, ctx)
                default: throw StoreError.wrongKind(id, expected: .blob, found: info.kind)
                }
            } catch { problem(id, ctx, error) }
            if pendingChunks.count >= 2048 { flushChunks() }
        }
        func visitList(_ list: ChunkList, _ ctx: String) {
            for p in list.parts {
                if list.level == 0 {
                    guard seen.insert(p.id) else { continue }
                    do {
                        guard let info = try info(p.id) else {
                            if lazy { report.notFetched += 1; continue }
                            throw StoreError.objectMissing(p.id, context: nil)
                        }
                        guard info.kind == .blob else { throw StoreError.wrongKind(p.id, expected: .blob, found: info.kind) }
                        onChunk?(p.id, p.size)
                        pendingChunks.append((p.id, p.size, ctx))
                    } catch { problem(p.id, ctx, error) }
                    if pendingChunks.count >= 2048 { flushChunks() }
                } else {
                    guard seen.insert(p.id) else { continue }
                    if lazy && !store.contains(p.id) { report.notFetched += 1; continue }
                    do {
                        let sub = try store.withObject(p.id) { _, b in try ChunkList.decode(b, id: p.id) }
                        try sub.checkAsPart(of: list.level, declaredSize: p.size, id: p.id)  // levels decrease: bounded recursion
                        report.objectsChecked += 1
                        visitList(sub, ctx)
                    } catch { problem(p.id, ctx, error) }
                }
            }
        }
        // Iterative, and no deeper than the format allows (a path of at most 4096 bytes).
        func visitTree(_ root: ObjectId, _ ctx: String) {
            var stack: [(id: ObjectId, base: String)] = [(root, "")]
            while let (id, base) = stack.popLast() {
                guard seen.insert(id) else { continue }
                do {
                    let t = try readTree(id)
                    report.objectsChecked += 1
                    var dirs: [(id: ObjectId, base: String)] = []
                    for e in t.entries {
                        let p = base.isEmpty ? e.name : base + "/" + e.name
                        try Repository.checkTreePath(p, tree: id)
                        if e.mode.isDirectory { dirs.append((e.id, p)) } else { visitFile(e.id, e.size, "\(p) in \(ctx)") }
                    }
                    stack += dirs.reversed()
                } catch { problem(id, "tree \(base.isEmpty ? "/" : base) in \(ctx)", error) }
            }
        }
        var stack = commitRoots
        while let (id, ctx) = stack.popLast() {
            guard seen.insert(id) else { continue }
            do {
                let c = try readCommit(id)
                report.objectsChecked += 1
                onCommit?(id)
                visitTree(c.tree, "commit \(id.short)")
                // `meta` and `record` headers name metadata blobs the commit keeps alive.
                for (k, v) in c.extra where Commit.objectHeaders.contains(k) {
                    guard let ref = ObjectId(hex: v) else {
                        problem(id, ctx, StoreError.objectCorrupt(id, location: "commit", reason: "bad \(k) id '\(v)'")); continue
                    }
                    visitFile(ref, nil, "\(k) of commit \(id.short)")
                }
                for p in c.parents { stack.append((p, "parent of \(id.short)")) }
            } catch { problem(id, ctx, error) }
        }
        for (id, ctx) in fileRoots { visitFile(id, nil, ctx) }
        flushChunks()
        return (seen, report)
    }

    /// Verifies every reachable object (re-hashing it) and every pack index checksum.
    public func fsck() throws -> FsckReport {
        // Indexes first: a damaged one explains the object errors the walk then reports.
        var bad: [FsckProblem] = []
        for p in store.packs where !p.index.verifyChecksum() {
            bad.append(FsckProblem(id: nil, context: "", message: "pack index \(p.name).idx is corrupt: checksum mismatch"))
        }
        var (_, report) = try walkReachable(verify: true)
        report.problems = bad + report.problems
        return report
    }

    /// Drops unreachable objects by repacking everything reachable into one pack, and
    /// removes temp files left by killed writers. Holds the write lock; concurrent readers
    /// keep working (old packs stay mapped; a miss re-reads the pack list).
    public func gc(dryRun: Bool, expireReflogs: Bool = false) throws -> GCReport {
        try withLock {
            if expireReflogs && !dryRun {
                // Forget where refs have been, so only what refs, HEAD and the index reach stays.
                var logs = ["HEAD"] + (try refs.list("heads")).map { "refs/heads/" + $0.name } + (try refs.list("aliases")).map { "refs/aliases/" + $0.name }
                logs += (try refs.list("tags")).map { "refs/tags/" + $0.name }
                for l in logs { try? FS.unlink(try refs.logPath(l)) }
            }
            var r = GCReport()
            let (reachable, walk) = try walkReachable(verify: false)
            if let p = walk.problems.first {
                throw StoreError.invalid("refusing to gc a repository with problems (run 'mlrepo fsck'): \(p)")
            }
            let packs = store.packs
            r.packsBefore = packs.count
            let dir = store.directory
            let tmps = (try sys { try FS.list(dir) }).map(\.name).filter { $0.hasPrefix("tmp-") || $0.hasPrefix(".tmp-") }
            r.tempFilesRemoved = tmps.count
            let present = ReachabilityMarks(packs: packs)
            var distinct = 0
            for p in packs {
                r.bytesBefore += (FS.lstat(p.packPath)?.size ?? 0) + (FS.lstat(p.index.path)?.size ?? 0)
                for i in 0..<p.index.count {
                    let id = p.index.id(at: i)
                    guard present.insert(id) else { continue }
                    distinct += 1
                    if !reachable.contains(id) {
                        r.unreachable += 1
                        r.unreachableBytes += UInt64(try p.index.entry(at: i).size)
                    }
                }
            }
            r.reachable = distinct - r.unreachable
            if dryRun || (r.unreachable == 0 && packs.count <= 1) {
                r.packsAfter = packs.count
                r.bytesAfter = r.bytesBefore
                if !dryRun { for t in tmps { try? FS.unlink(dir + "/" + t) } }
                return r
            }
            try store.repack(packs, keep: { reachable.contains($0) })
            for t in tmps { try? FS.unlink(dir + "/" + t) }
            FS.syncDirectory(dir)
            r.packsAfter = store.packs.count
            for p in store.packs {
                r.bytesAfter += (FS.lstat(p.packPath)?.size ?? 0) + (FS.lstat(p.index.path)?.size ?? 0)
            }
            return r
        }
    }

    /// Merges small packs once there are many of them (each add and commit writes one),
    /// so lookups do not slow down with the number of commits. Caller holds the lock.
    func autoRepack(threshold: Int = 24) throws {
        let small = store.packs.filter { (FS.lstat($0.packPath)?.size ?? 0) < 64 << 20 }
        guard small.count >= threshold else { return }
        let sizes = small.map { FS.lstat($0.packPath)?.size ?? 0 }
        let chosen = Repository.geometricRepackSet(sizes)
        guard chosen.count >= 2 else { return }
        try store.repack(chosen.map { small[$0] }, keep: { _ in true })
    }

    /// Which packs (indices into `sizes`) to merge, git's `--geometric=2` rule: sorted by size,
    /// the large packs that each hold at least twice all smaller packs together stay as they
    /// are; the rest are merged. A big pack is therefore rewritten only after the small ones
    /// have grown to its size, so the total repacking work stays O(n log n) in the data
    /// written, not O(n²) as when every repack folds in the largest pack.
    static func geometricRepackSet(_ sizes: [UInt64]) -> [Int] {
        let order = sizes.indices.sorted { sizes[$0] < sizes[$1] }
        var prefix: [UInt64] = [0]
        for i in order { prefix.append(prefix.last! + sizes[i]) }
        var split = order.count  // packs order[0..<split] are merged
        while split > 0 {
            let i = split - 1
            if sizes[order[i]] >= 2 * prefix[i] { split -= 1 } else { break }
        }
        // `split` packs from the smallest up fail the rule; merge them (at least the two smallest).
        return Array(order.prefix(max(split, min(2, order.count))))
    }

    /// Sizes: logical (every distinct file version), unique chunks, and bytes on disk.
    public func du() throws -> DUReport {
        var r = DUReport()
        if let h = try refs.headCommit() {
            let f = try files(ofCommit: h)
            r.headFiles = f.count
            r.headBytes = f.values.reduce(0) { $0 + $1.size }
        }
        var chunks = 0
        var chunkBytes: UInt64 = 0
        var commitIds: [ObjectId] = []
        _ = try walkReachable(verify: false,
                              onChunk: { _, s in chunks += 1; chunkBytes += s },
                              onCommit: { commitIds.append($0) })
        r.uniqueChunks = chunks; r.uniqueChunkBytes = chunkBytes
        r.commits = commitIds.count
        // Every (path, file id) pair once; a folder version at a path is listed once.
        var versions = Set<String>()
        var folders = Set<String>()
        func count(_ path: String, _ id: ObjectId, _ size: UInt64) {
            if versions.insert(id.hex + path).inserted { r.fileVersions += 1; r.logicalBytes += size }
        }
        for c in commitIds {
            guard let root = try? readCommit(c).tree else { continue }
            var stack: [(id: ObjectId, base: String)] = [(root, "")]
            while let (id, base) = stack.popLast() {
                guard folders.insert(id.hex + base).inserted, let t = try? readTree(id) else { continue }
                for e in t.entries {
                    let p = base.isEmpty ? e.name : base + "/" + e.name
                    if e.mode.isDirectory { stack.append((e.id, p)) } else { count(p, e.id, e.size) }
                }
            }
        }
        for e in (try? StagingIndex.load(indexPath).entries.values).map(Array.init) ?? [] { count(e.path, e.id, e.size) }
        r.packs = store.packs.count
        for p in store.packs {
            r.storedBytes += (FS.lstat(p.packPath)?.size ?? 0) + (FS.lstat(p.index.path)?.size ?? 0)
            r.objects += p.index.count
        }
        return r
    }
}
