#if canImport(Glibc)
import Glibc
#endif
import Store
import Support

/// A transfer progress line on a terminal (stderr), at most 10 updates a second.
final class ProgressLine: @unchecked Sendable {
    let enabled: Bool
    let started = Clock.wallSeconds()
    var last = 0.0
    var shown = false
    let lock = Lock()

    init(quiet: Bool) { enabled = !quiet && isatty(2) == 1 }

    func update(_ p: TransferProgress) {
        guard enabled else { return }
        lock.withLock {
            let now = Clock.wallSeconds()
            guard now - last >= 0.1 else { return }
            last = now
            let mib = Double(p.bytes) / 1048576
            let rate = mib / max(now - started, 1e-3)
            var s = "\r\(p.phase): "
            if p.objectsTotal > 0 { s += "\(p.objects)/\(p.objectsTotal) objects, " }
            s += p.bytesTotal > 0 ? String(format1: mib) + " / " + String(format1: Double(p.bytesTotal) / 1048576) + " MiB" : String(format1: mib) + " MiB"
            s += ", " + String(format1: rate) + " MiB/s   "
            writeStderr(s)
            shown = true
        }
    }

    func finish() {
        guard enabled, shown else { return }
        writeStderr("\r\u{1B}[K")
    }
}

/// Unbuffered write to descriptor 2 (progress lines must show at once).
func writeStderr(_ s: String) {
    var t = s
    t.withUTF8 { b in _ = write(2, b.baseAddress, b.count) }
}

extension String {
    init(format1 v: Double) {
        let r = (v * 10).rounded() / 10
        self = String(r)
    }
}

/// Runs a transfer with a progress line on the terminal (unless -q), cleared afterwards.
func withProgress<T>(_ sync: RemoteSync, _ a: Args, _ body: () throws -> T) throws -> T {
    let bar = ProgressLine(quiet: a.has("quiet"))
    sync.progress = { bar.update($0) }
    defer { bar.finish() }
    return try body()
}

func jobsOption(_ a: Args) throws -> Int {
    guard let j = try a.int("jobs") else { return 4 }
    guard j >= 1 && j <= 64 else { throw UsageError(message: "-j takes 1–64") }
    return j
}

let remoteCommand = Command(
    name: "remote", kind: .porcelain, summary: "list, add or remove remotes",
    usage: """
    mlrepo remote [-v]
    mlrepo remote add NAME URL [--endpoint URL] [--region R] [--profile P]
    mlrepo remote remove NAME

    URL: a folder (a path or file://PATH) or s3://BUCKET/PREFIX: AWS itself (https), or an
    S3-compatible server with --endpoint http[s]://HOST:PORT (https trusts the system's CAs,
    or the PEM file in AWS_CA_BUNDLE). Credentials come from AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, else ~/.aws/credentials (--profile, or
    AWS_PROFILE); the region from --region, AWS_REGION or us-east-1. Secrets are never stored.
    """,
    flags: ["verbose": ["-v", "--verbose"]],
    options: ["endpoint": ["--endpoint"], "region": ["--region"], "profile": ["--profile"]]
) { a, ctx in
    let repo = try ctx.repository()
    switch a.positional.first {
    case nil:
        for r in repo.remotes() {
            if a.has("verbose") {
                var extra = r.endpoint.map { " (endpoint \($0))" } ?? ""
                if repo.config.bool("remote.\(r.name).lazy") == true { extra += " (lazy)" }
                ctx.out.line("\(r.name)\t\(r.url)\(extra) (fetch)")
                ctx.out.line("\(r.name)\t\(r.url)\(extra) (push)")
            } else { ctx.out.line(r.name) }
        }
        return 0
    case "add":
        guard a.positional.count == 3 else { throw UsageError(message: "remote add takes NAME URL") }
        try repo.addRemote(RemoteSpec(name: a.positional[1], url: a.positional[2], endpoint: a.value("endpoint"),
                                      region: a.value("region"), profile: a.value("profile")))
        return 0
    case "remove", "rm":
        guard a.positional.count == 2 else { throw UsageError(message: "remote remove takes NAME") }
        try repo.removeRemote(a.positional[1])
        return 0
    default:
        throw UsageError(message: "unknown remote subcommand '\(a.positional[0])' (add, remove, -v)")
    }
}

/// The remote to use: the one named, else the only one, else "origin".
func chooseRemote(_ repo: Repository, _ name: String?) throws -> String {
    if let name { return name }
    let all = repo.remotes().map(\.name)
    if all.count == 1 { return all[0] }
    if all.contains("origin") { return "origin" }
    throw UserError(message: all.isEmpty ? "no remote configured (mlrepo remote add origin URL)" : "several remotes (\(all.joined(separator: ", "))); name one")
}

let pushCommand = Command(
    name: "push", kind: .porcelain, summary: "send commits and their data to a remote",
    usage: """
    mlrepo push [REMOTE] [BRANCH|TAG|ALIAS...] [--all] [--tags] [-f] [-j N] [--pack-size BYTES] [-q]

    Uploads the objects the remote lacks (as a few large packs), then moves the remote's
    refs with a compare-and-swap: if another push moved a branch first, this one is refused
    with "fetch first". Without BRANCH, pushes the current branch; --all pushes every branch
    and registry alias, --tags every tag. --pack-size sets the size packs are cut at (default
    256 MiB). Re-running an interrupted
    push continues: packs already on the remote are not sent again.
    """,
    flags: ["all": ["--all"], "tags": ["--tags"], "force": ["-f", "--force"], "quiet": ["-q", "--quiet"]],
    options: ["jobs": ["-j", "--jobs"], "pack-size": ["--pack-size"]]
) { a, ctx in
    let repo = try ctx.repository()
    let names = repo.remotes().map(\.name)
    var args = a.positional
    let remoteName = try chooseRemote(repo, args.first.flatMap { names.contains($0) ? $0 : nil })
    if args.first == remoteName { args.removeFirst() }
    var refs: [String] = []
    for n in args {
        if try repo.refs.read("refs/heads/" + n) != nil { refs.append("refs/heads/" + n) }
        else if try repo.refs.read("refs/tags/" + n) != nil { refs.append("refs/tags/" + n) }
        else if try repo.refs.read("refs/aliases/" + n) != nil { refs.append("refs/aliases/" + n) }
        else { throw UserError(message: "no branch, tag or alias '\(n)' to push") }
    }
    if a.has("all") {
        refs += try repo.branches().map { "refs/heads/" + $0.name }
        refs += try repo.refs.list("aliases").map { "refs/aliases/" + $0.name }
    }
    if a.has("tags") { refs += try repo.tags().map { "refs/tags/" + $0.name } }
    if refs.isEmpty {
        guard case .branch(let b) = try repo.refs.head(), try repo.refs.read("refs/heads/" + b) != nil else {
            throw UserError(message: "HEAD is not on a branch with commits; name what to push")
        }
        refs = ["refs/heads/" + b]
    }
    let sync = try RemoteSync(repo: repo, remote: remoteName, create: true)
    sync.jobs = try jobsOption(a)
    if let ps = a.value("pack-size") {
        guard let v = Int64(ps), v >= 1 << 16 else { throw UsageError(message: "--pack-size takes a byte count ≥ 65536") }
        sync.packLimit = v
    }
    let started = Clock.wallSeconds()
    let r = try withProgress(sync, a) { try sync.push(Array(Set(refs)).sorted(), force: a.has("force")) }
    let secs = Clock.wallSeconds() - started
    if !a.has("quiet") {
        if r.objects > 0 {
            ctx.err.line("sent \(r.objects) objects in \(r.packs) pack\(r.packs == 1 ? "" : "s"), \(String(format1: Double(r.bytes) / 1048576)) MiB in \(String(format1: secs)) s")
        }
        for u in r.updated {
            let short = shortRef(u.ref)
            ctx.err.line(u.old.map { " \($0.short)..\(u.new.short)  \(short) -> \(short)" } ?? " * [new] \(short) -> \(short) (\(u.new.short))")
        }
        for u in r.upToDate { ctx.err.line(" = \(shortRef(u)) is up to date") }
    }
    return 0
}

/// --depth N (nil when absent).
func depthOption(_ a: Args) throws -> Int? {
    guard let d = try a.int("depth") else { return nil }
    guard d >= 1 else { throw UsageError(message: "--depth takes a number of commits ≥ 1") }
    return d
}

let fetchCommand = Command(
    name: "fetch", kind: .porcelain, summary: "download a remote's commits and data",
    usage: """
    mlrepo fetch [REMOTE] [-j N] [--lazy | --full] [--depth N | --unshallow] [-q]

    Downloads what the remote's branches and tags reach and this repository lacks; every
    object is checked against its id before it is stored. Updates refs/remotes/REMOTE/*.
    --lazy fetches commits, trees and metadata but no file data: a later checkout (or any
    read) fetches just the files it needs, and the remote is marked lazy so later fetches
    stay lazy; --full fetches all the data a lazy clone skipped and makes it complete.
    --depth N fetches only the last N commits of each branch (a shallow repository);
    --unshallow fetches the rest of the history.
    """,
    flags: ["quiet": ["-q", "--quiet"], "lazy": ["--lazy"], "full": ["--full"], "unshallow": ["--unshallow"]],
    options: ["jobs": ["-j", "--jobs"], "depth": ["--depth"]]
) { a, ctx in
    let repo = try ctx.repository()
    let remote = try chooseRemote(repo, a.positional.first)
    let depth = try depthOption(a)
    if depth != nil && a.has("unshallow") { throw UsageError(message: "--depth and --unshallow do not go together") }
    if a.has("lazy") && a.has("full") { throw UsageError(message: "--lazy and --full do not go together") }
    if a.has("lazy") { try repo.markLazy(remote) }
    let sync = try RemoteSync(repo: repo, remote: remote)
    sync.jobs = try jobsOption(a)
    let r = try withProgress(sync, a) { try sync.fetch(depth: depth, unshallow: a.has("unshallow"), full: a.has("full")) }
    if !a.has("quiet") {
        let resumed = r.packsResumed > 0 ? " (\(r.packsResumed) already downloaded by an interrupted fetch)" : ""
        // Whole packs, or single objects read out of remote packs (lazy and shallow fetches).
        let packs = r.packs > 0 ? " in \(r.packs) pack\(r.packs == 1 ? "" : "s")" : ""
        if r.objects > 0 { ctx.err.line("received \(r.objects) objects\(packs), \(String(format1: Double(r.bytes) / 1048576)) MiB\(resumed)") }
        for u in r.refs { ctx.err.line(u.old.map { " \($0.short)..\(u.new.short)  \(u.ref)" } ?? " * [new] \(u.ref) (\(u.new.short))") }
    }
    return 0
}

let pullCommand = Command(
    name: "pull", kind: .porcelain, summary: "fetch, then merge the remote's branch into the current one",
    usage: """
    mlrepo pull [REMOTE] [BRANCH] [--ff-only | --no-ff] [--no-commit] [--conflict=merge|diff3] [--key COL] [-j N] [--lazy] [-q]

    Fetches, then merges REMOTE/BRANCH (default: the current branch's name) into the
    current branch, as 'mlrepo merge' does: a fast-forward when possible, else a three-way
    merge committed with two parents, or conflicts to resolve (exit 1; see 'mlrepo merge').
    --ff-only refuses anything but a fast-forward. With --lazy (or a lazy remote) only the
    files the new work tree needs are downloaded.
    """,
    flags: ["quiet": ["-q", "--quiet"], "lazy": ["--lazy"], "noFF": ["--no-ff"], "ffOnly": ["--ff-only"], "noCommit": ["--no-commit"]],
    options: ["jobs": ["-j", "--jobs"], "conflict": ["--conflict"], "key": ["--key"]]
) { a, ctx in
    let repo = try ctx.repository()
    guard a.positional.count <= 2 else { throw UsageError(message: "pull takes at most REMOTE and BRANCH") }
    let remote = try chooseRemote(repo, a.positional.first)
    if try repo.mergeHead() != nil {
        throw UserError(message: "a merge is in progress; conclude it ('mlrepo commit') or 'mlrepo merge --abort' before pulling")
    }
    if a.has("lazy") { try repo.markLazy(remote) }
    let sync = try RemoteSync(repo: repo, remote: remote)
    sync.jobs = try jobsOption(a)
    _ = try withProgress(sync, a) { try sync.fetch() }
    guard case .branch(let cur) = try repo.refs.head() else { throw UserError(message: "HEAD is detached; check out a branch to pull into") }
    let branch = a.positional.count > 1 ? a.positional[1] : cur
    guard Refs.isValidName(branch), try repo.refs.read("refs/remotes/\(remote)/\(branch)") != nil else {
        throw UserError(message: "the remote '\(remote)' has no branch '\(branch)'")
    }
    let url = repo.remotes().first { $0.name == remote }?.url ?? remote
    var msg = "Merge branch '\(branch)' of \(url)"
    if cur != "main" && cur != "master" { msg += " into \(cur)" }
    var req = MergeRequest(rev: "refs/remotes/\(remote)/\(branch)", label: "\(remote)/\(branch)", message: msg)
    try applyMergeFlags(&req, a, repo)
    return try performMerge(ctx, repo, req, noCommit: a.has("noCommit"), json: false, quiet: a.has("quiet"))
}

let cloneCommand = Command(
    name: "clone", kind: .porcelain, summary: "copy a remote repository",
    usage: """
    mlrepo clone URL [DIR] [--endpoint URL] [--region R] [--branch B] [-j N]
                 [--lazy] [--depth N] [--no-checkout] [-q]

    Creates DIR (default: the URL's last component), adds the remote as "origin", fetches
    it and checks out its default branch (or --branch).
      --lazy         fetch history, trees and metadata only; file data is downloaded when
                     a checkout or a read needs it (just those files, by ranged reads)
      --depth N      fetch only the last N commits (a shallow clone; see fetch --unshallow)
      --no-checkout  set up the branch but write no files: every path is tracked but not
                     checked out (status is clean, commits keep them); then
                     checkout BRANCH -- PATH writes the paths you want
    """,
    flags: ["quiet": ["-q", "--quiet"], "lazy": ["--lazy"], "no-checkout": ["-n", "--no-checkout"]],
    options: ["endpoint": ["--endpoint"], "region": ["--region"], "branch": ["-b", "--branch"], "jobs": ["-j", "--jobs"],
              "depth": ["--depth"]]
) { a, ctx in
    guard a.positional.count >= 1 && a.positional.count <= 2 else { throw UsageError(message: "clone takes URL [DIR]") }
    let depth = try depthOption(a)
    let url = a.positional[0]
    var name = url
    while name.hasSuffix("/") { name.removeLast() }
    name = Path.basename(name)
    let dirArg = a.positional.count > 1 ? a.positional[1] : name
    let bar = ProgressLine(quiet: a.has("quiet"))
    let options = CloneOptions(endpoint: a.value("endpoint"), region: a.value("region"), branch: a.value("branch"), lazy: a.has("lazy"),
                               depth: depth, noCheckout: a.has("no-checkout"), jobs: try jobsOption(a), progress: { bar.update($0) })
    let r = try { defer { bar.finish() }; return try Repository.clone(from: url, into: dirArg, cwd: ctx.cwd, options: options, settings: Settings.store) }()
    if r.branch != nil && !a.has("no-checkout") { lazyFetched.objects = 0 }  // counted in the clone's own summary
    if !a.has("quiet") {
        let kind = a.has("lazy") ? " (lazy)" : depth.map { " (shallow, depth \($0))" } ?? ""
        ctx.err.line("Cloned into '\(dirArg)'\(kind): \(r.objects) objects, \(String(format1: Double(r.bytes) / 1048576)) MiB" + (r.branch.map { "; on branch \($0)" } ?? " (empty remote)"))
    }
    return 0
}

/// Objects and bytes fetched on demand by this process (a lazy clone's reads).
nonisolated(unsafe) var lazyFetched: (remote: String, objects: Int, bytes: Int64) = ("", 0, 0)

/// Counts on-demand fetches and, on a terminal, says so on stderr.
func observeLazyFetches() {
    let bar = ProgressLine(quiet: Env.get("MLREPO_NO_PROGRESS") != nil)
    Settings.store.lazyFetchProgress = { bar.update($0) }
    Settings.store.lazyFetchObserver = { remote, objects, bytes in
        bar.finish()
        lazyFetched.remote = remote
        lazyFetched.objects += objects
        lazyFetched.bytes += bytes
    }
}

/// On a terminal, one line saying what this command fetched on demand (a lazy clone).
func reportLazyFetches() {
    guard lazyFetched.objects > 0, isatty(2) == 1 else { return }
    let n = lazyFetched.objects
    writeStderr("fetched \(n) object\(n == 1 ? "" : "s") (\(String(format1: Double(lazyFetched.bytes) / 1048576)) MiB) from '\(lazyFetched.remote)' on demand\n")
}

/// "main" for refs/heads/main, "v1" for refs/tags/v1, "alias production" for refs/aliases/production.
func shortRef(_ ref: String) -> String {
    if ref.hasPrefix("refs/heads/") { return String(ref.dropFirst(11)) }
    if ref.hasPrefix("refs/tags/") { return String(ref.dropFirst(10)) }
    if ref.hasPrefix("refs/aliases/") { return "alias " + ref.dropFirst(13) }
    return ref
}
