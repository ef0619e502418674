#if canImport(Glibc)
import Glibc
#endif
import Support

/// A repository: a work tree with a `.mlrepo` store at its root. All porcelain operations
/// are methods on it (one file per concern: Repository+Add.swift, +Checkout, …).
/// The library never prints or exits; it returns results and throws `StoreError`.
public final class Repository: @unchecked Sendable {
    public static let dirName = ".mlrepo"
    public static let formatVersion = 1

    public let root: String
    public let dotDir: String
    public let store: ObjectStore
    public let refs: Refs
    public private(set) var config: Config
    public let chunker: Chunker
    public let durable: Bool
    /// What the host resolved for this process (identity, fsync, lock timeout, hooks…).
    public let settings: StoreSettings
    /// `.mlrepo/shallow`, read once (see `shallowCommits`).
    var shallowCache: Set<ObjectId> = []

    var indexPath: String { dotDir + "/index" }

    /// Large transient structures kept until the process exits
    /// (`StoreSettings.keepTransientsUntilExit`).
    nonisolated(unsafe) static var transients: [Any] = []

    func retire(_ items: Any...) {
        if settings.keepTransientsUntilExit { Repository.transients.append(contentsOf: items) }
    }
    var lockPath: String { dotDir + "/lock" }

    /// Opens the repository whose root is `root` (which must hold `.mlrepo`). A config
    /// line that does not parse is an error naming the file and line, unless
    /// `lenientConfig` (for `config` itself, so that it can repair the file): then such
    /// lines are skipped and listed in `config.problems`.
    public init(root: String, lenientConfig: Bool = false, settings: StoreSettings = StoreSettings()) throws {
        self.root = root
        self.settings = settings
        dotDir = root + "/" + Repository.dirName
        guard FS.isDirectory(dotDir), FS.exists(dotDir + "/HEAD") else { throw StoreError.notARepository(root) }
        do {
            config = lenientConfig ? Config.loadLenient(dotDir + "/config") : try Config.load(dotDir + "/config")
        } catch StoreError.invalid(let m) {
            throw StoreError.invalid(m + " (fix or delete that line; 'mlrepo config --unset KEY' rewrites the file without it)")
        }
        if let v = config["core.formatversion"], let n = Int(v), n > Repository.formatVersion {
            throw StoreError.invalid("repository format version \(n) is newer than this mlrepo understands (\(Repository.formatVersion)); upgrade mlrepo")
        }
        durable = settings.fsync ?? config.bool("core.fsync") ?? true
        let policy = config["core.compression"].flatMap(CompressionPolicy.init(rawValue:)) ?? .none
        store = try ObjectStore(directory: dotDir + "/objects/pack", durable: durable, compression: policy)
        store.mapFiles = settings.mapFiles
        refs = Refs(dir: dotDir, durable: durable)
        var avg = Chunker.default.avgSize
        if let s = settings.chunkAverage ?? config["chunking.avgsize"], let n = Int(s), n >= 256, n <= FormatLimits.maxAverageChunkSize, n & (n - 1) == 0 { avg = n }
        chunker = Chunker(avgSize: avg)
        if let text = try? FS.readText(dotDir + "/shallow") {
            shallowCache = Set(text.split(separator: "\n").compactMap { ObjectId(hex: String($0)) })
        }
        if let lazy = lazyRemote { store.missingSource = LazyRemoteSource(repo: self, remote: lazy) }
    }

    /// Finds the repository containing `start` (or a parent of it).
    public static func discover(from start: String, lenientConfig: Bool = false, settings: StoreSettings = StoreSettings()) throws -> Repository {
        var dir = FS.realpath(start) ?? start
        while true {
            if FS.isDirectory(dir + "/" + dirName) && FS.exists(dir + "/" + dirName + "/HEAD") {
                return try Repository(root: dir, lenientConfig: lenientConfig, settings: settings)
            }
            if dir == "/" || dir.isEmpty { throw StoreError.notARepository(start) }
            dir = Path.dirname(dir)
        }
    }

    /// Creates an empty repository in `dir` (created if missing) on branch `main`.
    @discardableResult
    public static func create(at dir: String, branch: String = "main", settings: StoreSettings = StoreSettings()) throws -> Repository {
        try sys { try FS.mkdirs(dir) }
        let root = FS.realpath(dir) ?? dir
        let dot = root + "/" + dirName
        if FS.exists(dot + "/HEAD") { throw StoreError.alreadyExists(dot) }
        guard Refs.isValidName(branch) else { throw StoreError.badRefName(branch) }
        for d in ["", "/objects/pack", "/refs/heads", "/refs/tags", "/logs"] { try sys { try FS.mkdirs(dot + d) } }
        var c = Config()
        c.set("core.formatversion", String(formatVersion))
        c.set("core.compression", CompressionPolicy.none.rawValue)
        c.set("core.fsync", "true")
        c.set("chunking.avgsize", String(Chunker.default.avgSize))
        try c.write(dot + "/config")
        // HEAD last: its presence marks a complete repository.
        try sys { try FS.atomicWrite(dot + "/HEAD", text: "ref: refs/heads/\(branch)\n") }
        return try Repository(root: root, settings: settings)
    }

    // MARK: Settings

    /// Sets (or with nil removes) `key` in `.mlrepo/config`. A line of the file that does
    /// not parse is an error, unless `dropUnparseable`: then the file is rewritten without
    /// such lines (the way to repair it), and they are returned as "PATH:LINE: why".
    @discardableResult
    public func setConfig(_ key: String, _ value: String?, dropUnparseable: Bool = false) throws -> [String] {
        guard Config.isValidKey(key) else {
            throw StoreError.invalid("config key '\(RefName.printable(key))': use section.name (letters, digits, '.', '-', '_')")
        }
        if let value, !Config.isValidValue(value) {
            throw StoreError.invalid("config value for \(key): no line breaks, no spaces at either end, not in quotes")
        }
        return try withLock {
            let path = dotDir + "/config"
            var c = dropUnparseable ? Config.loadLenient(path) : try Config.load(path)
            let dropped = c.problems.map { "\(path):\($0.line): \($0.reason)" }
            c.set(key, value)
            try c.write(path)
            config = Config(text: c.text)
            return dropped
        }
    }

    // MARK: Locking

    /// Seconds a writer waits for another to finish (`StoreSettings.lockTimeout`, default 10).
    var lockTimeout: Double { settings.lockTimeout }

    private var lockDepth = 0
    private var heldLock: FileLock?

    /// Runs `body` holding the repository's write lock (flock on .mlrepo/lock, released
    /// even on kill -9). Re-entrant within the process.
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        if lockDepth == 0 {
            guard let l = try sys({ try FileLock(path: lockPath, timeout: lockTimeout) }) else {
                throw StoreError.locked(lockPath)
            }
            heldLock = l
            // Another writer may have changed packs while we waited.
            try store.reload()
        }
        lockDepth += 1
        defer {
            lockDepth -= 1
            if lockDepth == 0 { store.abortPending(); heldLock = nil }
        }
        return try body()
    }

    // MARK: Identity

    /// The author (`settings.identity`): its name and email overrides, then `user.name` and
    /// `user.email` from the repo config, then the user's own, then the login (and
    /// LOGIN@HOST). The identity's fixed time, if any, replaces the clock.
    public func signature() -> Signature {
        let id = settings.identity
        let name = id.name ?? config["user.name"] ?? id.userName ?? id.login
        let email = id.email ?? config["user.email"] ?? id.userEmail ?? "\(id.login)@\(id.host)"
        let now = id.time ?? Int64(time(nil))
        var tm = tm()
        var t = time_t(now)
        localtime_r(&t, &tm)
        return Signature(name: name.replacingAngles(), email: email.replacingAngles(), time: now, tzOffsetMinutes: Int(tm.tm_gmtoff / 60))
    }

    // MARK: Paths

    /// Turns a user path (relative to `cwd`) into a repo-relative path ("" for the root).
    public func relativePath(_ userPath: String, cwd: String) throws -> String {
        let abs = userPath.hasPrefix("/") ? userPath : Path.join(cwd, userPath)
        guard let norm = Path.normalize(abs) else { throw StoreError.badPath(userPath, reason: "path is outside the repository") }
        var rootN = Path.normalize(root) ?? root
        var n = norm
        // Compare real paths so symlinked temp dirs (/tmp -> /private/tmp) still match.
        if !n.hasPrefix(rootN), let r = FS.realpath(Path.dirname(norm)) {
            n = Path.join(r, Path.basename(norm))
            rootN = FS.realpath(root) ?? rootN
        }
        if n == rootN { return "" }
        guard n.hasPrefix(rootN + "/") else { throw StoreError.badPath(userPath, reason: "path is outside the repository at \(root)") }
        let rel = String(n.dropFirst(rootN.count + 1))
        if rel == Repository.dirName || rel.hasPrefix(Repository.dirName + "/") {
            throw StoreError.badPath(userPath, reason: "paths inside .mlrepo cannot be tracked")
        }
        return rel
    }

    public func fullPath(_ rel: String) -> String { rel.isEmpty ? root : root + "/" + rel }
}

extension String {
    func replacingAngles() -> String { String(self.filter { $0 != "<" && $0 != ">" && $0 != "\n" }) }
}

/// True when `path` is `spec` or lies below it ("" matches everything).
@inline(__always)
func pathMatches(_ path: String, _ spec: String) -> Bool {
    spec.isEmpty || path == spec || (path.hasPrefix(spec) && path.utf8.count > spec.utf8.count
        && path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: spec.utf8.count)] == 0x2F)
}
