#if canImport(Glibc)
import Glibc
#endif
import Support

extension RemoteSync {
    /// What `gc --remote` found or did.
    public struct RemoteGCReport: Sendable {
        public var packsRemoved: [String] = []
        public var bytesRemoved: Int64 = 0
        public var packsKept = 0
        /// Unreachable packs younger than the grace period (a push may still reference them).
        public var packsTooYoung = 0
        /// Unreachable objects left inside packs that also hold reachable ones.
        public var unreachableInKeptPacks = 0
    }

    /// Removes remote packs none of whose objects any remote ref reaches, when they are
    /// older than `grace` seconds (a push uploads its packs before it moves a ref; the grace
    /// period covers pushes in flight). Fetches first, so the walk runs on local copies.
    public func gcRemote(dryRun: Bool, grace: Double) throws -> RemoteGCReport {
        var report = RemoteGCReport()
        _ = try fetch()
        let remote = try remoteRefs()
        // Level by level, so that a lazy clone fetches the chunk lists it lacks in one batch
        // per level (never the chunks themselves: a blob has no children).
        var reachable = Set<ObjectId>()
        var level = Array(Set(remote.values.map(\.id)))
        var report0 = FetchReport()
        while !level.isEmpty {
            let fresh = level.filter { reachable.insert($0).inserted }
            let isBlob = { (id: ObjectId) -> Bool in !self.repo.store.contains(id) && (try? self.remoteLocate(id))??.entry.kind == .blob }
            let lacking = fresh.filter { !repo.store.contains($0) && !isBlob($0) }
            if !lacking.isEmpty { try fetchObjects(lacking, report: &report0) }
            var next = Set<ObjectId>()
            for id in fresh where !isBlob(id) { next.formUnion(try children(id)) }
            level = Array(next)
        }
        metadataOnly = false
        try refreshIndexes()
        let listing = try transport.list("packs/")
        let now = Clock.wallSeconds()
        for (name, idx) in remoteIndexes.sorted(by: { $0.key < $1.key }) {
            var live = 0
            for i in 0..<idx.count where reachable.contains(idx.id(at: i)) { live += 1 }
            if live > 0 { report.packsKept += 1; report.unreachableInKeptPacks += idx.count - live; continue }
            let pack = listing.first { $0.key == "packs/\(name).pack" }
            let idxObj = listing.first { $0.key == "packs/\(name).idx" }
            let modified = max(pack?.modified ?? now, idxObj?.modified ?? now)
            if now - modified < grace { report.packsTooYoung += 1; continue }
            report.packsRemoved.append(name)
            report.bytesRemoved += Int64(pack?.size ?? 0) + Int64(idxObj?.size ?? 0)
            if !dryRun {
                // The index first: the pack becomes invisible, then goes.
                try transport.delete("packs/\(name).idx")
                try transport.delete("packs/\(name).midx")
                try transport.delete("packs/\(name).pack")
                try? FS.unlink(cacheDir + "/idx/" + name + ".idx")
                try? FS.unlink(cacheDir + "/idx/" + name + ".midx")
            }
        }
        return report
    }
}
