#if canImport(Glibc)
import Glibc
#endif
import Support

/// What a conditional read of a remote ref found.
public enum RemoteRefState: Sendable, Equatable {
    /// The ref's version tag is still the one given: nothing was transferred but the answer.
    case unchanged
    /// The remote has no such ref.
    case absent
    /// The ref names `id`; `tag` is its version tag, for the next conditional read.
    case at(ObjectId, tag: String)
}

/// The largest ref object read (a ref is 64 hex digits and a newline).
let maxRefBytes = 4096

/// Transports that can read a key only when it changed: S3 sends `If-None-Match: ETAG` and
/// a 304 answer carries no body; a folder compares the file's stat data first and its
/// content after.
protocol ConditionalReading {
    /// `key`'s bytes and version tag, unless its tag is still `tag` (`.unchanged`). Not
    /// `patient`: one try with a short timeout (a poll, which the next poll retries).
    func conditionalGet(_ key: String, unlessTag tag: String?, patient: Bool) throws -> ConditionalGet
}

enum ConditionalGet {
    case unchanged, absent
    case found([UInt8], tag: String)
}

extension S3Transport: ConditionalReading {
    func conditionalGet(_ key: String, unlessTag tag: String?, patient: Bool) throws -> ConditionalGet {
        // A ref is one line; anything much longer is not one, and is not held. A poll is
        // tried once, with a 10-second timeout: the next poll is the retry, and a server
        // that stops is not kept waiting by a remote that does not answer.
        let r = try request("GET", key: key, headers: tag.map { ["if-none-match": $0] } ?? [:], maxBody: 1 << 16,
                            timeout: patient ? 120 : 10, attempts: patient ? 4 : 1)
        if r.status == 304 { return .unchanged }
        if r.status == 404 { return .absent }
        guard r.status == 200 else { throw fail("reading '\(key)'", r) }
        return .found(r.body, tag: r.headers["etag"] ?? "")
    }
}

extension DirectoryTransport: ConditionalReading {
    /// The tag is the file's stat data (inode, size, mtime, ctime), the time it was read,
    /// and the SHA-256 of its content. The same stat data skips the read only when the
    /// file had not been modified for a second before the last read (a write in the same
    /// timestamp tick could otherwise go unseen, git's "racy" case); otherwise the file is
    /// read and its content decides.
    func conditionalGet(_ key: String, unlessTag tag: String?, patient: Bool) throws -> ConditionalGet {
        let path = full(key)
        guard let st = FS.lstat(path) else { return .absent }
        guard st.isRegular else { throw RemoteError(.read, remote: display, subject: key, "'\(key)' is not a regular file") }
        let stamp = "\(st.inode)-\(st.size)-\(st.mtimeNs)-\(st.ctimeNs)"
        if let tag, tag.hasPrefix(stamp + "@") {
            let parts = tag.split(separator: "@")
            if parts.count == 3, let readAt = Int64(parts[1]), st.mtimeNs < readAt - 1_000_000_000 { return .unchanged }
        }
        guard st.size <= UInt64(maxRefBytes) else {
            throw RemoteError(.fetch, remote: display, subject: key, "ref \(key) is corrupt", cause: "\(st.size) bytes")
        }
        let readAt = Int64(Clock.wallSeconds() * 1e9)
        let data = try FS.readFile(path)
        let hash = contentTag(data)
        if let tag, tag.hasSuffix("@" + hash) { return .unchanged }
        return .found(data, tag: "\(stamp)@\(readAt)@\(hash)")
    }
}

/// Following one ref of a remote: a replica's conditional polls and the partial fetch of
/// what reading one file of a commit needs.
extension RemoteSync {
    /// Reads the remote ref `ref` (e.g. `refs/aliases/production`) with one conditional
    /// request: a transport that can (S3, folders) transfers nothing when its version tag
    /// is still `tag`; another reads it whole and compares. The name is checked before
    /// anything is read, and what the remote holds must be one object id. A `patient` read
    /// retries transient failures; a poll (the default) makes one short try.
    public func readRef(_ ref: String, unlessTag tag: String?, patient: Bool = false) throws -> RemoteRefState {
        if let why = RefName.formatProblem(ref) ?? RefName.fullProblem(ref) {
            throw RemoteError(.fetch, remote: transport.display, subject: ref, "'\(RefName.printable(ref))' is not a valid ref name", cause: why)
        }
        let data: [UInt8], newTag: String
        if let t = transport as? any ConditionalReading {
            switch try t.conditionalGet(ref, unlessTag: tag, patient: patient) {
            case .unchanged: return .unchanged
            case .absent: return .absent
            case .found(let d, let t): (data, newTag) = (d, t)
            }
        } else {
            guard let (d, t) = try transport.get(ref) else { return .absent }
            if let tag, t == tag { return .unchanged }
            (data, newTag) = (d, t)
        }
        guard data.count <= maxRefBytes, let id = ObjectId(hex: String(decoding: data, as: UTF8.self).trimmed(" \n\r\t")) else {
            throw RemoteError(.fetch, remote: transport.display, subject: ref, "ref \(ref) is corrupt", cause: "it does not hold one object id")
        }
        return .at(id, tag: newTag)
    }

    /// Makes local what reading `files` of `commits` needs, and nothing more: the commits
    /// themselves (not their parents), the objects their metadata headers name (records,
    /// lineage), their root trees and the trees along `paths` (every tree below the roots
    /// when `paths` is nil; none but the roots when it is empty), and the file objects and
    /// chunks of `files`. Fetched level by level (one batch of ranged reads per level),
    /// every object checked against its id before it is stored; chunk lists must go down
    /// one level at a time (a list of level n names lists of level n-1), so a hostile remote
    /// cannot chain lists into endless round trips. A remote that lacks one of them is an
    /// error naming it; `shouldStop` is asked between levels. Returns what was transferred
    /// and every object that reading needs (local before or fetched now).
    @discardableResult
    public func fetchForReading(commits: [ObjectId], paths: [String]? = nil, files: [ObjectId] = []) throws -> (report: FetchReport, needed: Set<ObjectId>) {
        var report = FetchReport()
        metadataOnly = true  // full indexes only of the packs the objects are in
        try checkStop()
        try fetchObjects(commits, report: &report)
        var needed = Set(commits)
        var roots: [ObjectId] = [], headers: [ObjectId] = []
        for id in commits {
            let c = try repo.readCommit(id, grafted: false)
            roots.append(c.tree)
            for (k, v) in c.extra where Commit.objectHeaders.contains(k) { if let r = ObjectId(hex: v) { headers.append(r) } }
        }
        try checkStop()
        try fetchObjects(headers + roots, report: &report)
        needed.formUnion(headers + roots)
        if let paths {
            // The folders along each path, one level of trees per round.
            var frontier: [(tree: ObjectId, rest: ArraySlice<Substring>)] = []
            for p in paths {
                guard p.utf8.count <= FormatLimits.maxPathBytes else {
                    throw StoreError.invalid("path '\(FormatLimits.shortName(p.utf8))' is longer than \(FormatLimits.maxPathBytes) bytes")
                }
                let folders = p.split(separator: "/").dropLast()
                if !folders.isEmpty { for r in roots { frontier.append((r, folders[...])) } }
            }
            while !frontier.isEmpty {
                var next: [(tree: ObjectId, rest: ArraySlice<Substring>)] = []
                for (t, rest) in frontier {
                    guard let name = rest.first, let e = try repo.readTree(t).entries.first(where: { $0.name[...] == name }), e.mode.isDirectory else { continue }
                    next.append((e.id, rest.dropFirst()))
                }
                try checkStop()
                try fetchObjects(next.map(\.tree), report: &report)
                needed.formUnion(next.map(\.tree))
                frontier = next.filter { !$0.rest.isEmpty }
            }
        } else {
            // Every tree, level by level; `depth` bounds the walk as the format does.
            var level = roots
            var seen = Set<ObjectId>()
            var depth = 0
            while !level.isEmpty {
                level = level.filter { seen.insert($0).inserted }
                try checkStop()
                try fetchObjects(level, report: &report)
                needed.formUnion(level)
                var next: [ObjectId] = []
                for id in level {
                    guard let info = try repo.store.info(id) else { throw StoreError.objectMissing(id, context: nil) }
                    guard info.kind == .tree else { continue }
                    for e in try repo.readTree(id).entries where e.mode.isDirectory { next.append(e.id) }
                }
                depth += 1
                if !next.isEmpty, depth > FormatLimits.maxTreeDepth {
                    throw StoreError.objectCorrupt(next[0], location: "tree", reason: "trees nest more than \(FormatLimits.maxTreeDepth) levels deep (the format's limit)")
                }
                level = next
            }
        }
        // File data: file objects, then their chunks, one level of chunk lists at a time.
        // Each part of a level-n list must be a level n-1 list holding the size the parent
        // declares (a level-0 list's parts are chunks), so there are at most 257 rounds.
        var data: [ObjectId: (parent: UInt8, size: UInt64)?] = [:]
        for f in files { data[f] = .some(nil) }
        var rounds = 0
        while !data.isEmpty {
            rounds += 1
            guard rounds <= 257 else {
                throw StoreError.objectCorrupt(data.keys.first!, location: "chunk list", reason: "chunk lists nest deeper than 256 levels")
            }
            try checkStop()
            let ids = Array(data.keys)
            try fetchObjects(ids, report: &report)
            needed.formUnion(ids)
            var more: [ObjectId: (parent: UInt8, size: UInt64)?] = [:]
            for (id, under) in data {
                let kind = try repo.store.info(id)?.kind
                if let under {
                    // A level-0 list names chunks; a higher one names lists.
                    guard kind == (under.parent == 0 ? .blob : .chunks) else {
                        throw StoreError.objectCorrupt(id, location: "chunk list", reason: "a \(kind?.name ?? "missing") object under a level-\(under.parent) list")
                    }
                    if under.parent == 0 { continue }
                } else if kind != .chunks { continue }
                let list = try repo.store.withObject(id) { _, b in try ChunkList.decode(b, id: id) }
                if let under { try list.checkAsPart(of: under.parent, declaredSize: under.size, id: id) }
                for p in list.parts where list.level > 0 || !repo.store.contains(p.id) { more[p.id] = .some((list.level, p.size)) }
            }
            data = more
        }
        return (report, needed)
    }

    func checkStop() throws {
        if shouldStop?() == true { throw RemoteError(.fetch, remote: transport.display, "stopped") }
    }

    /// Keeps only `needed` in the local store once it has more than `maxPacks` packs (each
    /// partial fetch writes one): a cache that follows an alias for months stays one pack
    /// of the model it serves. The caller holds the repository's lock.
    public func compactCache(keeping needed: Set<ObjectId>, maxPacks: Int = 16) throws {
        let packs = repo.store.packs
        guard packs.count > maxPacks else { return }
        try repo.store.repack(packs, keep: { needed.contains($0) })
    }
}
