import ML
import Store
import Support

// Store upkeep: `fsck`, `gc`, `du`.

let fsckCommand = Command(
    name: "fsck", kind: .porcelain, summary: "verify every reachable object",
    usage: "mlrepo fsck [--json]\n\nChecks HEAD, every ref and reflog, and re-hashes every object reachable from branches, tags,\nHEAD, reflogs and the index. Exits 1 naming each problem: a missing or corrupt object, a bad\nHEAD, a ref file with an invalid name or content, a reflog line that does not parse.",
    flags: ["json": ["--json"]]
) { a, ctx in
    let repo = try ctx.repository()
    let t0 = Clock.monotonic()
    let r = try repo.fsck()
    if a.has("json") {
        ctx.out.line(JSON.object([
            "objects": .int(Int64(r.objectsChecked)), "bytes": .int(Int64(r.bytesChecked)),
            "not_fetched": .int(Int64(r.notFetched)),
            "problems": .array(r.problems.map { .object(["id": jsonId($0.id), "context": .string($0.context), "message": .string($0.message)]) }),
        ]).encoded(pretty: true))
    } else {
        for p in r.problems { ctx.err.line("error: " + Quote.controls("\(p)")) }
        let dt = Clock.monotonic() - t0
        let lazy = r.notFetched > 0 ? " (\(r.notFetched) not fetched: on remote '\(repo.lazyRemote ?? "?")')" : ""
        ctx.out.line("checked \(r.objectsChecked) objects, \(formatBytes(r.bytesChecked)) in \(format1(dt)) s\(lazy): " + (r.problems.isEmpty ? "ok" : "\(r.problems.count) problem(s)"))
    }
    return r.problems.isEmpty ? 0 : 1
}

let gcCommand = Command(
    name: "gc", kind: .porcelain, summary: "drop unreachable data and repack",
    usage: """
    mlrepo gc [--dry-run] [--expire-reflogs] [--json]
    mlrepo gc --remote NAME [--dry-run] [--grace SECONDS]

    Keeps everything reachable from branches, tags, HEAD, reflogs and the index; repacks
    into one pack and removes temp files left by killed writers. --expire-reflogs first
    forgets the reflogs, so data only a deleted branch or an old checkout reached goes too.

    --remote NAME removes the remote's packs that none of its refs reach, once they are older
    than --grace seconds (default 3600: a push in flight uploads packs before moving its ref).
    """,
    flags: ["dryRun": ["-n", "--dry-run"], "json": ["--json"], "expireReflogs": ["--expire-reflogs", "--prune-reflogs"]],
    options: ["remote": ["--remote"], "grace": ["--grace"]]
) { a, ctx in
    let repo = try ctx.repository()
    if let name = a.value("remote") {
        var grace = 3600.0
        if let g = a.value("grace") {
            guard let v = Double(g), v >= 0 else { throw UsageError(message: "--grace takes a number of seconds ≥ 0") }
            grace = v
        }
        let sync = try RemoteSync(repo: repo, remote: name)
        let r = try sync.gcRemote(dryRun: a.has("dryRun"), grace: grace)
        let verb = a.has("dryRun") ? "would remove" : "removed"
        ctx.out.line("\(verb) \(r.packsRemoved.count) unreachable pack(s) (\(formatBytes(UInt64(r.bytesRemoved)))) from \(name); kept \(r.packsKept) pack(s)"
                     + (r.packsTooYoung > 0 ? "; \(r.packsTooYoung) unreachable pack(s) younger than the grace period left alone" : "")
                     + (r.unreachableInKeptPacks > 0 ? "; \(r.unreachableInKeptPacks) unreachable object(s) remain inside kept packs" : ""))
        return 0
    }
    let r = try repo.gc(dryRun: a.has("dryRun"), expireReflogs: a.has("expireReflogs"))
    if a.has("json") {
        ctx.out.line(JSON.object([
            "reachable": .int(Int64(r.reachable)), "unreachable": .int(Int64(r.unreachable)),
            "unreachable_bytes": .int(Int64(r.unreachableBytes)), "packs_before": .int(Int64(r.packsBefore)),
            "packs_after": .int(Int64(r.packsAfter)), "bytes_before": .int(Int64(r.bytesBefore)),
            "bytes_after": .int(Int64(r.bytesAfter)), "dry_run": .bool(a.has("dryRun")),
        ]).encoded(pretty: true))
        return 0
    }
    if a.has("dryRun") {
        ctx.out.line("would remove \(r.unreachable) unreachable object(s) (\(formatBytes(r.unreachableBytes))) and \(r.tempFilesRemoved) temp file(s); \(r.packsBefore) pack(s)")
    } else {
        ctx.out.line("removed \(r.unreachable) unreachable object(s) (\(formatBytes(r.unreachableBytes))) and \(r.tempFilesRemoved) temp file(s); packs \(r.packsBefore) -> \(r.packsAfter); store \(formatBytes(r.bytesBefore)) -> \(formatBytes(r.bytesAfter))")
    }
    return 0
}

let duCommand = Command(
    name: "du", kind: .porcelain, summary: "logical size, stored size and dedup ratio",
    usage: """
    mlrepo du [--json]

    How much data the repository holds and what it costs on disk. Everything reachable
    counts: branches, tags, remote-tracking branches, registry aliases, reflogs and the index.

      HEAD           the files a checkout of HEAD has, and the sum of their sizes
      logical size   every version of every path, as if each were kept as a plain file: the
                     sizes of the distinct (path, content) pairs of all reachable commits
                     and the index. HEAD's files are among them, so it is never below HEAD.
      unique chunks  the data left after deduplication (identical files and identical
                     chunks of large files stored once), before compression
      stored size    bytes of packs and their indexes on disk: the unique chunks
                     (compressed as core.compression says) plus trees, commits and indexes
      dedup ratio    logical size / unique chunks: 1.00x when nothing is shared, higher the
                     more versions, copies and branches share data

    A repository of one file in one commit: HEAD = logical = unique chunks, dedup ratio
    1.00x; stored size is the file's size plus a little metadata, or less when it is
    compressed (mlrepo config core.compression auto).

    --json prints {"head_files", "head_bytes", "commits", "file_versions", "logical_bytes",
    "unique_chunks", "unique_chunk_bytes", "stored_bytes", "objects", "packs",
    "dedup_ratio"} (bytes as integers, the ratio rounded to 2 digits).

    Examples:
      mlrepo du
      mlrepo du --json | jq .dedup_ratio
    """,
    flags: ["json": ["--json"]]
) { a, ctx in
    let repo = try ctx.repository()
    let r = try repo.du()
    let ratio = (r.dedupRatio * 100).rounded() / 100
    if a.has("json") {
        ctx.out.line(JSON.object([
            "head_files": .int(Int64(r.headFiles)), "head_bytes": .int(Int64(r.headBytes)),
            "commits": .int(Int64(r.commits)), "file_versions": .int(Int64(r.fileVersions)),
            "logical_bytes": .int(Int64(r.logicalBytes)), "unique_chunks": .int(Int64(r.uniqueChunks)),
            "unique_chunk_bytes": .int(Int64(r.uniqueChunkBytes)), "stored_bytes": .int(Int64(r.storedBytes)),
            "objects": .int(Int64(r.objects)), "packs": .int(Int64(r.packs)), "dedup_ratio": .number(ratio),
        ]).encoded(pretty: true))
        return 0
    }
    ctx.out.line("HEAD:            \(r.headFiles) files, \(formatBytes(r.headBytes))")
    ctx.out.line("logical size:    \(formatBytes(r.logicalBytes)) (\(r.fileVersions) file versions in \(r.commits) commits and the index)")
    ctx.out.line("unique chunks:   \(formatBytes(r.uniqueChunkBytes)) (\(r.uniqueChunks) chunks, after deduplication)")
    ctx.out.line("stored size:     \(formatBytes(r.storedBytes)) (\(r.objects) objects in \(r.packs) packs, with indexes)")
    let hundredths = Int((r.dedupRatio * 100).rounded())
    ctx.out.line("dedup ratio:     \(hundredths / 100).\(format2(hundredths % 100))x (logical size / unique chunks)")
    return 0
}
