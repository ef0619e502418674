import CShims
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What lstat(2) says of a path, reduced to what the store needs.
public struct FileStat: Equatable, Sendable {
    public var mode: UInt32
    public var size: UInt64
    public var mtimeNs: Int64
    public var ctimeNs: Int64
    public var inode: UInt64
    public var device: UInt64
    public var links: UInt64 = 1

    public var isDirectory: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }
    public var isRegular: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFREG) }
    public var isSymlink: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFLNK) }
    public var isExecutable: Bool { mode & 0o100 != 0 }

    init(_ st: stat) {
        mode = UInt32(st.st_mode)
        size = UInt64(st.st_size)
        mtimeNs = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        ctimeNs = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        inode = UInt64(st.st_ino)
        device = UInt64(st.st_dev)
        links = UInt64(st.st_nlink)
    }

    public init(mode: UInt32, size: UInt64, mtimeNs: Int64, ctimeNs: Int64, inode: UInt64, device: UInt64) {
        self.mode = mode; self.size = size; self.mtimeNs = mtimeNs; self.ctimeNs = ctimeNs
        self.inode = inode; self.device = device
    }
}

/// An open file descriptor, closed on deinit. Every call maps errno to `SystemError`.
public final class FileDescriptor {
    public let fd: Int32
    public let path: String

    public init(fd: Int32, path: String) { self.fd = fd; self.path = path }

    /// open(2). `flags` as for open, O_CLOEXEC is added.
    public convenience init(path: String, flags: Int32, mode: mode_t = 0o644) throws {
        let fd = open(path, flags | O_CLOEXEC, mode)
        if fd < 0 { throw SystemError("open", path) }
        self.init(fd: fd, path: path)
    }

    deinit { close(fd) }

    public func stat() throws -> FileStat {
        var st = Glibc.stat()
        if fstat(fd, &st) != 0 { throw SystemError("stat", path) }
        return FileStat(st)
    }

    /// Reads up to `count` bytes at the current offset; returns bytes read (0 at EOF).
    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer, count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw SystemError("read", path)
        }
    }

    /// Fills `count` bytes unless EOF comes first; returns bytes read.
    public func readFully(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        var done = 0
        while done < count {
            let n = try read(into: buffer + done, count: count - done)
            if n == 0 { break }
            done += n
        }
        return done
    }

    public func pread(into buffer: UnsafeMutableRawPointer, count: Int, offset: UInt64) throws -> Int {
        var done = 0
        while done < count {
            let n = Glibc.pread(fd, buffer + done, count - done, off_t(offset) + off_t(done))
            if n < 0 { if errno == EINTR { continue }; throw SystemError("read", path) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        guard var p = buffer.baseAddress else { return }
        var left = buffer.count
        while left > 0 {
            let n = Glibc.write(fd, p, left)
            if n < 0 { if errno == EINTR { continue }; throw SystemError("write", path) }
            p += n
            left -= n
        }
    }

    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    public func sync() throws {
        if fsync(fd) != 0 { throw SystemError("fsync", path) }
    }

    public func seek(to offset: UInt64) throws {
        if lseek(fd, off_t(offset), SEEK_SET) < 0 { throw SystemError("seek", path) }
    }

    public func truncate(to size: UInt64) throws {
        if ftruncate(fd, off_t(size)) != 0 { throw SystemError("truncate", path) }
    }

    /// Writes all of `buffer` at `offset` (pwrite(2)), whatever the current offset.
    public func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws {
        guard let p = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let n = Glibc.pwrite(fd, p + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 { if errno == EINTR { continue }; throw SystemError("write", path) }
            done += n
        }
    }

    /// Makes this (empty) file share all of `source`'s data: a reflink (ioctl FICLONE) on
    /// file systems that have them (btrfs, XFS). Returns false where they do not.
    public func clone(from source: FileDescriptor) -> Bool {
        mlrepo_clone_file(fd, source.fd) == 0
    }

    /// Copies `count` bytes of `source` at `from` into this file at `to`, inside the kernel
    /// (copy_file_range(2), which shares extents where it can), falling back to pread and
    /// pwrite through a 1 MiB buffer where the kernel cannot. Throws if `source` is shorter.
    public func copyRange(from source: FileDescriptor, at from: UInt64, to: UInt64, count: UInt64) throws {
        var done: UInt64 = 0
        var kernel = true
        var buf: [UInt8] = []
        while done < count {
            let want = Int(min(count - done, 1 << 30))
            if kernel {
                let n = mlrepo_copy_range(source.fd, Int64(from + done), fd, Int64(to + done), want)
                if n > 0 { done += UInt64(n); continue }
                if n == 0 { throw SystemError("copy (the file is shorter than expected)", source.path, code: EIO) }
                if errno == EINTR { continue }
                if errno == ENOSPC || errno == EIO || errno == EDQUOT || errno == EBADF { throw SystemError("copy", source.path) }
                kernel = false  // ENOSYS, EXDEV, EINVAL, EOPNOTSUPP...: copy it ourselves
                buf = [UInt8](repeating: 0, count: 1 << 20)
            }
            let chunk = min(want, buf.count)
            let n = try buf.withUnsafeMutableBytes { b -> Int in
                guard let base = b.baseAddress else { return 0 }
                return try source.pread(into: base, count: chunk, offset: from + done)
            }
            if n == 0 { throw SystemError("copy (the file is shorter than expected)", source.path, code: EIO) }
            try buf.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: to + done) }
            done += UInt64(n)
        }
    }
}

/// Temp files mlrepo writes inside a work tree, named `.mlrepo-tmp-<pid>-<random>`: scans
/// never show or stage them, and a later command removes the ones whose process is gone
/// (a killed checkout leaves them behind).
public enum WorkTemp {
    public static let prefix = ".mlrepo-tmp-"

    /// A fresh temp path in `dir` (same folder as the target, so rename is atomic).
    public static func path(in dir: String) -> String {
        let name = prefix + "\(getpid())-\(UInt64.random(in: 0...UInt64.max) & 0xffffffffffff)"
        return dir.isEmpty ? name : dir + "/" + name
    }

    public static func isTemp(_ name: String) -> Bool { name.hasPrefix(prefix) }

    /// Whether `name` is our temp file and the process that wrote it no longer exists.
    public static func isStale(_ name: String) -> Bool {
        guard isTemp(name) else { return false }
        let rest = name.dropFirst(prefix.count)
        guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]), pid > 0 else { return true }
        if pid == getpid() { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}

/// A read-only memory map of a whole file (empty files map to an empty buffer).
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    private let base: UnsafeMutableRawPointer?

    public convenience init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SystemError("open", path) }
        defer { close(fd) }
        try self.init(fd: fd, path: path)
    }

    /// Maps an already open file (the descriptor stays the caller's).
    public init(fd: Int32, path: String) throws {
        self.path = path
        var st = Glibc.stat()
        if fstat(fd, &st) != 0 { throw SystemError("stat", path) }
        count = Int(st.st_size)
        if count == 0 { base = nil; return }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED || p == nil { throw SystemError("mmap", path) }
        base = p
    }

    deinit { if let base { munmap(base, count) } }

    /// Drops the pages of `range` (page-aligned start) from this process's memory; the
    /// file's pages stay in the page cache and are faulted back in if touched again.
    public func release(_ range: Range<Int>) {
        guard let base, range.lowerBound < count else { return }
        let end = min(range.upperBound, count)
        madvise(base + range.lowerBound, end - range.lowerBound, MADV_DONTNEED)
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Tells the kernel the map will be read sequentially (readahead).
    public func adviseSequential() { if let base { madvise(base, count, MADV_SEQUENTIAL) } }
}

/// Thin, typed wrappers over path syscalls.
@inline(__always) private func sysStat(_ path: String, _ st: inout stat) -> Int32 { stat(path, &st) }

public enum FS {
    public static func lstat(_ path: String) -> FileStat? {
        var st = Glibc.stat()
        return Glibc.lstat(path, &st) == 0 ? FileStat(st) : nil
    }

    public static func stat(_ path: String) -> FileStat? {
        var st = Glibc.stat()
        return sysStat(path, &st) == 0 ? FileStat(st) : nil
    }

    public static func exists(_ path: String) -> Bool { lstat(path) != nil }
    public static func isDirectory(_ path: String) -> Bool { stat(path)?.isDirectory ?? false }

    public static func mkdir(_ path: String, mode: mode_t = 0o755) throws {
        if Glibc.mkdir(path, mode) != 0 && errno != EEXIST { throw SystemError("create directory", path) }
    }

    /// mkdir -p.
    public static func mkdirs(_ path: String) throws {
        if isDirectory(path) { return }
        let parent = Path.dirname(path)
        if parent != path && !parent.isEmpty { try mkdirs(parent) }
        try mkdir(path)
    }

    public static func unlink(_ path: String) throws {
        if Glibc.unlink(path) != 0 && errno != ENOENT { throw SystemError("remove", path) }
    }

    public static func rmdir(_ path: String) -> Bool { Glibc.rmdir(path) == 0 }

    /// Swaps the files at `a` and `b` atomically (renameat2 RENAME_EXCHANGE); false where
    /// the kernel or file system cannot (the caller then renames).
    public static func exchange(_ a: String, _ b: String) -> Bool { mlrepo_rename_exchange(a, b) == 0 }

    public static func rename(_ from: String, _ to: String) throws {
        if Glibc.rename(from, to) != 0 { throw SystemError("rename to '\(to)'", from) }
    }

    /// fsync on a directory, so that renames inside it are durable.
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    public static func readFile(_ path: String) throws -> [UInt8] {
        let f = try FileDescriptor(path: path, flags: O_RDONLY)
        let size = Int(try f.stat().size)
        var out = [UInt8](repeating: 0, count: size)
        let n = try out.withUnsafeMutableBytes { try f.readFully(into: $0.baseAddress!, count: size) }
        if n < size { out.removeSubrange(n...) }
        // The file may have grown since fstat; read the rest.
        var tmp = [UInt8](repeating: 0, count: 65536)
        while true {
            let m = try tmp.withUnsafeMutableBytes { try f.read(into: $0.baseAddress!, count: 65536) }
            if m == 0 { break }
            out.append(contentsOf: tmp[0..<m])
        }
        return out
    }

    public static func readText(_ path: String) throws -> String {
        String(decoding: try readFile(path), as: UTF8.self)
    }

    /// A unique temp path beside `path` (same directory, so rename is atomic).
    public static func tempPath(beside path: String) -> String {
        let dir = Path.dirname(path)
        let name = ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max) & 0xffffffffffff)"
        return dir.isEmpty ? name : dir + "/" + name
    }

    /// Writes `bytes` crash-safely: temp file in the same directory, fsync, rename, fsync dir.
    /// `inWorkTree`: the temp file gets `WorkTemp`'s name, so scans never stage it.
    public static func atomicWrite(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, durable: Bool = true, inWorkTree: Bool = false) throws {
        let tmp = inWorkTree ? WorkTemp.path(in: Path.dirname(path)) : tempPath(beside: path)
        do {
            let f = try FileDescriptor(path: tmp, flags: O_WRONLY | O_CREAT | O_EXCL, mode: mode)
            try f.write(bytes)
            if durable { try f.sync() }
        } catch {
            try? unlink(tmp)
            throw error
        }
        do { try rename(tmp, path) } catch { try? unlink(tmp); throw error }
        if durable { syncDirectory(Path.dirname(path)) }
    }

    public static func atomicWrite(_ path: String, text: String, durable: Bool = true, inWorkTree: Bool = false) throws {
        try atomicWrite(path, Array(text.utf8), durable: durable, inWorkTree: inWorkTree)
    }

    public enum EntryType: Sendable { case file, directory, symlink, other }

    /// Lists a directory (without "." and ".."), using readdir's d_type where the
    /// file system gives it and lstat otherwise.
    public static func list(_ path: String) throws -> [(name: String, type: EntryType)] {
        guard let dir = opendir(path) else { throw SystemError("read directory", path) }
        defer { closedir(dir) }
        var out: [(String, EntryType)] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw -> String in
                let p = raw.bindMemory(to: CChar.self)
                return String(cString: p.baseAddress!)
            }
            if name == "." || name == ".." { continue }
            var t: EntryType
            switch Int32(ent.pointee.d_type) {
            case Int32(DT_REG): t = .file
            case Int32(DT_DIR): t = .directory
            case Int32(DT_LNK): t = .symlink
            case Int32(DT_UNKNOWN):
                if let st = lstat(path + "/" + name) {
                    t = st.isRegular ? .file : st.isDirectory ? .directory : st.isSymlink ? .symlink : .other
                } else { continue }
            default: t = .other
            }
            out.append((name, t))
        }
        return out
    }

    /// Lists a directory and lstat()s its regular files relative to the open directory
    /// (fstatat with AT_SYMLINK_NOFOLLOW), which spares the kernel a full path walk per
    /// file. `stat` is nil for folders, symlinks and entries that vanished meanwhile.
    public static func listWithStat(_ path: String) throws -> [(name: String, type: EntryType, stat: FileStat?)] {
        guard let dir = opendir(path) else { throw SystemError("read directory", path) }
        defer { closedir(dir) }
        let dfd = dirfd(dir)
        var out: [(name: String, type: EntryType, stat: FileStat?)] = []
        var st = Glibc.stat()
        while let ent = readdir(dir) {
            var t: EntryType
            var fs: FileStat? = nil
            let isDot = withUnsafeBytes(of: ent.pointee.d_name) { raw -> Bool in
                raw[0] == 0x2E && (raw[1] == 0 || (raw[1] == 0x2E && raw[2] == 0))
            }
            if isDot { continue }
            let dtype = Int32(ent.pointee.d_type)
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw -> String in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if dtype == Int32(DT_REG) || dtype == Int32(DT_UNKNOWN) {
                let ok = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                    fstatat(dfd, raw.bindMemory(to: CChar.self).baseAddress!, &st, AT_SYMLINK_NOFOLLOW) == 0
                }
                if !ok { continue }
                let s = FileStat(st)
                t = s.isRegular ? .file : s.isDirectory ? .directory : s.isSymlink ? .symlink : .other
                if s.isRegular { fs = s }
            } else if dtype == Int32(DT_DIR) { t = .directory }
            else if dtype == Int32(DT_LNK) { t = .symlink }
            else { t = .other }
            out.append((name: name, type: t, stat: fs))
        }
        return out
    }

    public static func currentDirectory() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return "." }
        return String(cString: buf)
    }

    public static func realpath(_ path: String) -> String? {
        guard let p = Glibc.realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    public static func readlink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = Glibc.readlink(path, &buf, 4096)
        if n < 0 { return nil }
        buf[n] = 0
        return String(cString: buf)
    }

    public static func chmod(_ path: String, _ mode: mode_t) {
        _ = Glibc.chmod(path, mode)
    }
}

/// String path helpers (POSIX, '/'-separated).
public enum Path {
    public static func dirname(_ p: String) -> String {
        guard let i = p.lastIndex(of: "/") else { return "." }
        if i == p.startIndex { return "/" }
        return String(p[..<i])
    }

    public static func basename(_ p: String) -> String {
        guard let i = p.lastIndex(of: "/") else { return p }
        return String(p[p.index(after: i)...])
    }

    public static func join(_ a: String, _ b: String) -> String {
        if a.isEmpty || a == "." { return b }
        if b.isEmpty { return a }
        return a.hasSuffix("/") ? a + b : a + "/" + b
    }

    /// Resolves "." and ".." lexically; never goes above the root of a relative path
    /// (returns nil if it would).
    public static func normalize(_ p: String) -> String? {
        var parts: [Substring] = []
        for c in p.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." {
                if parts.isEmpty { return nil }
                parts.removeLast()
            } else { parts.append(c) }
        }
        let joined = parts.joined(separator: "/")
        return p.hasPrefix("/") ? "/" + joined : joined
    }
}

/// An advisory exclusive lock (flock(2)) on a file; released on deinit or process death,
/// so a `kill -9` never leaves a stale lock behind.
public final class FileLock {
    private let fd: Int32
    public let path: String

    /// Takes the lock, waiting up to `timeout` seconds. Returns nil when another process
    /// still holds it after that.
    public init?(path: String, timeout: Double) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw SystemError("open lock", path) }
        self.fd = fd
        var waited = 0.0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno != EWOULDBLOCK && errno != EINTR { close(fd); throw SystemError("lock", path) }
            if waited >= timeout { close(fd); return nil }
            usleep(20_000)
            waited += 0.02
        }
    }

    deinit { flock(fd, LOCK_UN); close(fd) }
}

public enum Clock {
    /// Wall-clock time in nanoseconds since the epoch.
    public static func nowNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Wall-clock seconds since the epoch.
    public static func wallSeconds() -> Double { Double(nowNs()) / 1e9 }

    /// Monotonic seconds, for measuring durations.
    public static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Starts write-back of a file range without waiting, so that a later fsync is short.
public func startWriteback(fd: Int32, offset: UInt64, length: UInt64) {
    _ = mlrepo_start_writeback(fd, Int64(offset), Int64(length))
}

/// See mlrepo_install_sigbus_handler in CShims: a truncated mapped input ends the process
/// with a one-line explanation instead of a crash report.
public func installSigbusHandler() { mlrepo_install_sigbus_handler() }

/// The process environment: for hosts (the CLI resolves settings from it and passes them to
/// the libraries) and for child processes. Store reads none of it.
public enum Env {
    public static func get(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        return String(cString: v)
    }

    /// The whole environment.
    public static func all() -> [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }
}
