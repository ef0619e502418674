#if canImport(Glibc)
import Glibc
#endif
import Support

/// A failure talking to a remote, one line naming the remote and what failed. Never carries
/// a secret. Like `StoreError`, it carries what a person (or a caller) needs to act: the
/// operation, the remote, the key, path, ref or object it was on, and the cause.
/// The message reads "REMOTE: REASON: CAUSE" (each part when present).
public struct RemoteError: Error, CustomStringConvertible, Equatable {
    /// What was being done.
    public enum Operation: String, Sendable, Equatable {
        /// Opening a remote: its URL, folder, endpoint or region.
        case open
        /// A network connection or an HTTP exchange.
        case connect
        case list, read, write, delete
        /// A push refused by the remote's state (fetch first, shallow history, checked-out branch).
        case push
        /// A fetch: refs, indexes, packs and objects checked as they arrive.
        case fetch
        /// Anything not described by the others (e.g. messages from the HTTP client).
        case other
    }

    public var operation: Operation
    /// The remote, as shown to people (a folder, s3://BUCKET/PREFIX or HOST), when known.
    public var remote: String?
    /// The key, local path, ref or object id the operation was on, when there is one.
    public var subject: String?
    /// What went wrong, one line (naming the subject as a person reads it).
    public var reason: String
    /// The underlying error, when another one caused this.
    public var cause: String?

    public init(_ operation: Operation, remote: String? = nil, subject: String? = nil, _ reason: String, cause: String? = nil) {
        self.operation = operation; self.remote = remote; self.subject = subject; self.reason = reason; self.cause = cause
    }

    /// A message without structure (kept for the HTTP client's own errors).
    public init(_ message: String) { self.init(.other, message) }

    public var message: String { description }
    public var description: String {
        (remote.map { $0 + ": " } ?? "") + reason + (cause.map { ": " + $0 } ?? "")
    }
}

/// An object listed on a remote.
public struct RemoteObject: Sendable, Equatable {
    public var key: String
    public var size: Int
    /// An opaque version tag (S3's ETag, a file's size+mtime) for compare-and-swap.
    public var tag: String
    /// Last modification, Unix seconds (nil when unknown).
    public var modified: Double? = nil
}

/// What a conditional write requires.
public enum WriteCondition: Sendable, Equatable {
    case none
    /// The key must not exist (create only).
    case absent
    /// The key must hold this version tag.
    case tag(String)
}

/// Key-value access to a remote: a folder, or an S3 bucket and prefix. Keys are relative
/// paths like "packs/pack-<hex>.pack".
public protocol RemoteTransport: Sendable {
    /// A description for messages (no secrets).
    var display: String { get }
    /// Keys under `prefix`, sorted.
    func list(_ prefix: String) throws -> [RemoteObject]
    /// The bytes and version tag of `key`, nil when absent.
    func get(_ key: String) throws -> (data: [UInt8], tag: String)?
    /// Bytes `range` of `key`.
    func get(_ key: String, range: Range<Int>) throws -> [UInt8]
    /// Writes `key` (atomically: readers see the old or the new bytes). False when the
    /// condition does not hold (nothing written).
    @discardableResult
    func put(_ key: String, _ data: [UInt8], condition: WriteCondition) throws -> Bool
    /// Uploads a local file to `key` (large objects; streamed where the transport can).
    func putFile(_ key: String, path: String) throws
    /// Downloads `key` to a local file.
    func getFile(_ key: String, to path: String) throws
    func delete(_ key: String) throws
}

/// A remote in a local folder (a path or file:// URL): the same layout as on S3. Conditional
/// writes are made atomic with an flock on `<root>/.lock`.
public struct DirectoryTransport: RemoteTransport {
    public let root: String
    /// The folder is another repository (it has `.mlrepo/HEAD`): keys map into its store
    /// (`packs/` → `.mlrepo/objects/pack/`, `refs/` → `.mlrepo/refs/`).
    public let isRepository: Bool
    public var display: String { root }

    public init(root: String, create: Bool, mustExist: Bool = true) throws {
        self.root = root
        if create && !FS.exists(root + "/.mlrepo/HEAD") { try FS.mkdirs(root) }
        if mustExist, !FS.isDirectory(root) { throw RemoteError(.open, subject: root, "remote folder '\(root)' does not exist") }
        isRepository = FS.exists(root + "/.mlrepo/HEAD")
    }

    func full(_ key: String) -> String {
        guard isRepository else { return root + "/" + key }
        if key == "packs" { return root + "/.mlrepo/objects/pack" }
        if key.hasPrefix("packs/") { return root + "/.mlrepo/objects/pack/" + key.dropFirst(6) }
        if key == "HEAD" { return root + "/.mlrepo/HEAD" }
        return root + "/.mlrepo/" + key
    }

    public func list(_ prefix: String) throws -> [RemoteObject] {
        var out: [RemoteObject] = []
        let dir = prefix.hasSuffix("/") ? String(prefix.dropLast()) : Path.dirname(prefix)
        func walk(_ rel: String) throws {
            let path = rel.isEmpty ? root : full(rel)
            guard FS.isDirectory(path) else { return }
            for e in try FS.listWithStat(path) {
                let r = rel.isEmpty ? e.name : rel + "/" + e.name
                if e.name.hasPrefix(".") || e.name.hasPrefix("tmp-") { continue }
                if e.type == .directory { try walk(r); continue }
                guard r.hasPrefix(prefix), let st = e.stat else { continue }
                out.append(RemoteObject(key: r, size: Int(st.size), tag: "\(st.size)-\(st.mtimeNs)", modified: Double(st.mtimeNs) / 1e9))
            }
        }
        try walk(dir == "." ? "" : dir)
        return out.sorted { $0.key < $1.key }
    }

    public func get(_ key: String) throws -> (data: [UInt8], tag: String)? {
        // lstat: a symlink the remote's owner planted is not followed (the listing skips them too).
        guard let st = FS.lstat(full(key)), st.isRegular else { return nil }
        let data = try FS.readFile(full(key))
        return (data, contentTag(data))
    }

    public func get(_ key: String, range: Range<Int>) throws -> [UInt8] {
        let fd = open(full(key), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RemoteError(.read, remote: display, subject: key, "cannot read '\(key)'", cause: String(cString: strerror(errno))) }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: range.count)
        var done = 0
        while done < range.count {
            let r = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, range.count - done, off_t(range.lowerBound + done)) }
            guard r > 0 else { throw RemoteError(.read, remote: display, subject: key, "'\(key)' is shorter than expected") }
            done += r
        }
        return out
    }

    /// Runs `body` holding the remote's lock (conditional writes and ref updates).
    func locked<T>(_ body: () throws -> T) throws -> T {
        let fd = open(root + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RemoteError(.write, remote: display, subject: ".lock", "cannot open its lock", cause: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw RemoteError(.write, remote: display, subject: ".lock", "cannot lock", cause: String(cString: strerror(errno))) }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    @discardableResult
    public func put(_ key: String, _ data: [UInt8], condition: WriteCondition) throws -> Bool {
        if isRepository {
            if key == "HEAD" { return true }  // its HEAD is its own
            if let head = try? FS.readText(root + "/.mlrepo/HEAD"), head.trimmed(" \n") == "ref: " + key {
                throw RemoteError(.push, remote: display, subject: key, "refusing to update \(key), the branch checked out there (its work tree would go stale); push to another branch")
            }
        }
        try FS.mkdirs(Path.dirname(full(key)))
        if condition == .none {
            try FS.atomicWrite(full(key), data, durable: true)
            return true
        }
        return try locked {
            let st = FS.stat(full(key))
            switch condition {
            case .absent: if st != nil { return false }
            case .tag(let t):
                guard st != nil, let cur = try? FS.readFile(full(key)), contentTag(cur) == t else { return false }
            case .none: break
            }
            try FS.atomicWrite(full(key), data, durable: true)
            return true
        }
    }

    public func putFile(_ key: String, path: String) throws {
        try FS.mkdirs(Path.dirname(full(key)))
        let tmp = Path.dirname(full(key)) + "/tmp-" + Path.basename(key) + "-\(getpid())"
        try copyFile(path, tmp)
        try FS.rename(tmp, full(key))
    }

    public func getFile(_ key: String, to path: String) throws {
        guard FS.stat(full(key))?.isRegular == true else { throw RemoteError(.read, remote: display, subject: key, "'\(key)' is missing") }
        try copyFile(full(key), path)
    }

    public func delete(_ key: String) throws {
        if FS.exists(full(key)) { try FS.unlink(full(key)) }
    }
}

/// A folder remote's version tag: the SHA-256 of the content (refs are small).
func contentTag(_ data: [UInt8]) -> String { Hex.encode(SHA256Hasher.digest(data)) }

/// Copies a file in 1 MiB blocks, fsyncs the copy.
func copyFile(_ from: String, _ to: String) throws {
    let src = open(from, O_RDONLY | O_CLOEXEC)
    guard src >= 0 else { throw RemoteError(.read, subject: from, "cannot read '\(from)'", cause: String(cString: strerror(errno))) }
    defer { close(src) }
    let dst = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard dst >= 0 else { throw RemoteError(.write, subject: to, "cannot write '\(to)'", cause: String(cString: strerror(errno))) }
    defer { close(dst) }
    var buf = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let r = buf.withUnsafeMutableBytes { read(src, $0.baseAddress, $0.count) }
        if r < 0 { if errno == EINTR { continue }; throw RemoteError(.read, subject: from, "reading '\(from)' failed", cause: String(cString: strerror(errno))) }
        if r == 0 { break }
        var off = 0
        while off < r {
            let w = buf.withUnsafeBytes { write(dst, $0.baseAddress! + off, r - off) }
            if w < 0 { if errno == EINTR { continue }; throw RemoteError(.write, subject: to, "writing '\(to)' failed", cause: String(cString: strerror(errno))) }
            off += w
        }
    }
    fsync(dst)
}
