import Support

/// How to clone (`Repository.clone`).
public struct CloneOptions: Sendable {
    /// An S3-compatible server for an s3:// URL (else the settings' endpoint or AWS's).
    public var endpoint: String?
    public var region: String?
    /// The branch to check out (and the new repository's first branch); nil: the remote's
    /// default branch, else main, else its first branch.
    public var branch: String?
    /// Fetch history, trees and metadata only; file data comes when a checkout or a read
    /// needs it.
    public var lazy = false
    /// Fetch only this many commits of each branch (a shallow clone).
    public var depth: Int?
    /// Set up the branch but write no files.
    public var noCheckout = false
    /// Parallel transfers.
    public var jobs = 4
    /// Progress of the transfers.
    public var progress: (@Sendable (TransferProgress) -> Void)?

    public init(endpoint: String? = nil, region: String? = nil, branch: String? = nil, lazy: Bool = false, depth: Int? = nil,
                noCheckout: Bool = false, jobs: Int = 4, progress: (@Sendable (TransferProgress) -> Void)? = nil) {
        self.endpoint = endpoint; self.region = region; self.branch = branch; self.lazy = lazy; self.depth = depth
        self.noCheckout = noCheckout; self.jobs = jobs; self.progress = progress
    }
}

/// What a clone did.
public struct CloneReport: @unchecked Sendable {
    public var repository: Repository
    /// Objects and bytes received: the fetch's, plus what a lazy clone's checkout fetched on demand.
    public var objects = 0
    public var bytes: Int64 = 0
    /// The branch checked out (or set up); nil when the remote has none (an empty remote).
    public var branch: String?
}

extension Repository {
    /// Clones `url` (a folder, file://PATH or s3://BUCKET/PREFIX; a relative path is taken
    /// from `cwd`) into `directory`, which must be missing or empty: creates the repository,
    /// adds the remote as "origin", fetches it and checks out its default branch (or
    /// `options.branch`). The URL is checked before anything is created; on any error,
    /// everything the clone put in `directory` is taken away again.
    public static func clone(from url: String, into directory: String, cwd: String, options: CloneOptions = CloneOptions(),
                             settings: StoreSettings = StoreSettings()) throws -> CloneReport {
        let dir = directory.hasPrefix("/") ? directory : Path.join(cwd, directory)
        if FS.exists(dir), (try? FS.list(dir))?.isEmpty == false {
            throw StoreError.invalid("'\(directory)' already exists and is not empty")
        }
        let createdDir = !FS.exists(dir)
        do {
            var spec = RemoteSpec(name: "origin", url: url, endpoint: options.endpoint, region: options.region)
            // Check the URL before creating anything.
            _ = try Repository.transport(for: spec, cwd: cwd, create: false, s3: settings.s3)
            // Objects a lazy clone's checkout fetches on demand count in the clone's report.
            final class Counter: @unchecked Sendable { var objects = 0; var bytes: Int64 = 0; let lock = Lock() }
            let counter = Counter()
            var local = settings
            let outer = settings.lazyFetchObserver
            local.lazyFetchObserver = { remote, objects, bytes in
                counter.lock.withLock { counter.objects += objects; counter.bytes += bytes }
                outer?(remote, objects, bytes)
            }
            let repo = try Repository.create(at: dir, branch: options.branch ?? "main", settings: local)
            if !url.hasPrefix("s3://") && !url.hasPrefix("/") && !url.hasPrefix("file://") { spec.url = Path.join(cwd, url) }
            try repo.addRemote(spec)
            if options.lazy { try repo.markLazy("origin") }
            let sync = try RemoteSync(repo: repo, remote: "origin")
            sync.jobs = options.jobs
            sync.progress = options.progress
            let fetched = try sync.fetch(depth: options.depth)
            var report = CloneReport(repository: repo, objects: fetched.objects, bytes: fetched.bytes)
            let branches = try repo.refs.list("remotes/origin")
            let want = try options.branch ?? sync.remoteHead() ?? (branches.contains { $0.name == "main" } ? "main" : branches.first?.name)
            if let want {
                guard let tip = branches.first(where: { $0.name == want })?.id else {
                    throw StoreError.invalid("the remote has no branch '\(want)'")
                }
                if options.noCheckout {
                    try repo.setUpWithoutCheckout(branch: want, tip: tip, message: "clone: from \(url)")
                } else {
                    let before = counter.lock.withLock { (counter.objects, counter.bytes) }
                    _ = try repo.fastForward(branch: want, to: tip, message: "clone: from \(url)")
                    counter.lock.withLock {
                        report.objects += counter.objects - before.0
                        report.bytes += counter.bytes - before.1
                    }
                }
            }
            report.branch = want
            return report
        } catch {
            // The folder was missing or empty: take away everything this clone put there.
            if createdDir { FS.removeTree(dir) } else { for e in (try? FS.list(dir)) ?? [] { FS.removeTree(dir + "/" + e.name) } }
            throw error
        }
    }
}
