#if canImport(Glibc)
import Glibc
#endif
import Support

/// What a push did.
public struct PushReport: Sendable {
    public var updated: [(ref: String, old: ObjectId?, new: ObjectId)] = []
    public var upToDate: [String] = []
    public var objects = 0
    public var bytes: Int64 = 0
    public var packs = 0
}

extension RemoteSync {
    /// Pushes local refs (full names, e.g. "refs/heads/main") to the remote. A ref that the
    /// remote moved to a commit this repository does not contain is refused ("fetch first")
    /// unless `force`.
    public func push(_ refNames: [String], force: Bool) throws -> PushReport {
        var report = PushReport()
        try refreshIndexes()
        let remote = try remoteRefs()
        var plan: [(ref: String, id: ObjectId, old: (id: ObjectId, tag: String)?)] = []
        for ref in refNames {
            guard let id = try repo.refs.read(ref) else { throw StoreError.invalid("no local ref '\(ref)' to push") }
            let old = remote[ref]
            if old?.id == id { report.upToDate.append(ref); continue }
            if let old, !force {
                let known = repo.store.contains(old.id)
                let ok = try (ref.hasPrefix("refs/heads/") || ref.hasPrefix("refs/aliases/")) && known && repo.isAncestor(old.id, of: id)
                if !ok {
                    throw RemoteError(.push, subject: ref, "rejected \(shortName(ref)): the remote has commits this repository does not \(pullHint(ref))")
                }
            }
            plan.append((ref, id, old))
        }
        if plan.isEmpty { return report }
        try prefetchForPush(plan.map(\.id))
        let objects = try missing(from: plan.map(\.id))
        // A shallow clone cannot give a remote history it does not have.
        let shallow = repo.shallowCommits
        if !shallow.isEmpty {
            for id in objects where shallow.contains(id) {
                for p in try repo.readCommit(id, grafted: false).parents where !remoteHas(p) {
                    throw RemoteError(.push, subject: id.hex, "rejected: this is a shallow clone and \(transport.display) lacks the history before commit \(id.short) (run 'mlrepo fetch --unshallow' first)")
                }
            }
        }
        try uploadPacks(objects, report: &report)
        // Refs last, each a compare-and-swap against what we read.
        for p in plan {
            let data = Array((p.id.hex + "\n").utf8)
            let ok = try transport.put(p.ref, data, condition: p.old.map { .tag($0.tag) } ?? .absent)
            guard ok else {
                throw RemoteError(.push, subject: p.ref, "rejected \(shortName(p.ref)): it moved on the remote during this push \(pullHint(p.ref))")
            }
            report.updated.append((p.ref, p.old?.id, p.id))
            try setTracking(p.ref, p.id)
        }
        if try transport.get("HEAD") == nil, case .branch(let b) = try repo.refs.head(), plan.contains(where: { $0.ref == "refs/heads/" + b }) {
            try transport.put("HEAD", Array("ref: refs/heads/\(b)\n".utf8), condition: .absent)
        }
        return report
    }

    func shortName(_ ref: String) -> String {
        ref.hasPrefix("refs/heads/") ? String(ref.dropFirst(11)) : ref.hasPrefix("refs/tags/") ? String(ref.dropFirst(10)) : ref
    }

    /// Remote-tracking ref `refs/remotes/NAME/BRANCH` (or `.../tags/T`).
    func setTracking(_ ref: String, _ id: ObjectId) throws {
        let local: String
        if ref.hasPrefix("refs/heads/") { local = "refs/remotes/\(spec.name)/" + ref.dropFirst(11) }
        else if ref.hasPrefix("refs/tags/") { local = ref }
        else { return }
        if try repo.refs.read(local) == id { return }
        try repo.refs.update(local, to: id, who: repo.signature(), message: "\(spec.name): \(ref)")
    }

    /// Packs `objects` (in order) into packs of about `packLimit` bytes, uploads every pack
    /// file (in parallel), then their indexes in order. A pack the remote already lists is
    /// not uploaded again (a re-run after an interruption).
    func uploadPacks(_ objects: [ObjectId], report: inout PushReport) throws {
        if objects.isEmpty { return }
        let outDir = cacheDir + "/outgoing"
        FS.removeTree(outDir)
        try FS.mkdirs(outDir)
        defer { FS.removeTree(outDir) }
        var names: [String] = []
        var writer: PackWriter? = nil
        var size: Int64 = 0
        func close() throws {
            if let w = writer, let n = try w.finish() { names.append(n) }
            writer = nil; size = 0
        }
        var done = 0
        for id in objects {
            if writer == nil { writer = try PackWriter(directory: outDir, durable: false) }
            guard let (pack, i) = repo.store.locate(id) else { throw StoreError.objectMissing(id, context: nil) }
            let (entry, stored, map) = try pack.stored(at: i)
            try withExtendedLifetime(map) {
                try writer!.put(id: id, kind: entry.kind, codec: entry.codec, rawSize: Int(entry.size), stored: stored)
            }
            size += Int64(stored.count + Pack.entryHeaderSize)
            report.objects += 1
            done += 1
            if done % 4096 == 0 { progress?(TransferProgress(phase: "packing", objects: done, objectsTotal: objects.count, bytes: size, bytesTotal: 0)) }
            if size >= packLimit { try close() }
        }
        try close()
        let listing = try transport.list("packs/")
        let already = Set(listing.map(\.key))
        let sizes = Dictionary(listing.map { ($0.key, $0.size) }, uniquingKeysWith: { a, _ in a })
        let total = names.reduce(Int64(0)) { $0 + Int64(FS.stat(outDir + "/" + $1 + ".pack")?.size ?? 0) }
        report.bytes = total
        report.packs = names.count
        // Pack files in parallel.
        final class State: @unchecked Sendable { var sent: Int64 = 0; let lock = Lock() }
        let state = State()
        // A pack already uploaded whole (uploads are atomic: same name, same size) is not
        // sent again; its index may still be missing after an interruption.
        let todo = names.filter { n in
            sizes["packs/\(n).pack"] != Int(FS.stat(outDir + "/" + n + ".pack")?.size ?? 0)
        }
        let transport = self.transport, progress = self.progress
        // Every pack is tried (a failure does not stop the others), so a re-run sends only
        // what could not be sent.
        try Parallel.forEachThrowing(todo.count, threads: max(1, jobs)) { k in
            let n = todo[k]
            try transport.putFile("packs/\(n).pack", path: outDir + "/" + n + ".pack")
            let sz = Int64(FS.stat(outDir + "/" + n + ".pack")?.size ?? 0)
            state.lock.withLock {
                state.sent += sz
                progress?(TransferProgress(phase: "uploading", objects: 0, objectsTotal: 0, bytes: state.sent, bytesTotal: total))
            }
        }
        // Metadata indexes, then the indexes in order: children become visible before their parents.
        var metaBlobs = Set<ObjectId>()
        for id in objects where try repo.store.info(id)?.kind == .commit {
            for (k, v) in try repo.readCommit(id, grafted: false).extra where Commit.objectHeaders.contains(k) {
                if let r = ObjectId(hex: v) { metaBlobs.insert(r) }
            }
        }
        for n in names where !already.contains("packs/\(n).idx") {
            let idx = try PackIndex(path: outDir + "/" + n + ".idx")
            var meta: [(ObjectId, PackEntry)] = []
            for i in 0..<idx.count {
                let e = try idx.entry(at: i), id = idx.id(at: i)
                if e.kind != .blob || metaBlobs.contains(id) { meta.append((id, e)) }
            }
            try FS.atomicWrite(outDir + "/" + n + ".midx", PackIndex.encode(meta), durable: false)
            try transport.putFile("packs/\(n).midx", path: outDir + "/" + n + ".midx")
            try transport.putFile("packs/\(n).idx", path: outDir + "/" + n + ".idx")
            try? copyFile(outDir + "/" + n + ".idx", cacheDir + "/idx/" + n + ".idx")
        }
    }
}

extension RemoteSync {
    /// What to do after a rejected push: for a branch, pull (fetch + merge) it into the
    /// branch of the same name, then push again.
    func pullHint(_ ref: String) -> String {
        guard ref.hasPrefix("refs/heads/") else { return "(fetch first: mlrepo fetch \(spec.name))" }
        let b = String(ref.dropFirst(11))
        return "(fetch first: on branch \(b), 'mlrepo pull \(spec.name) \(b)' merges them in; then push again)"
    }
}
