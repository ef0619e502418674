#if canImport(Glibc)
import Glibc
#endif
import Compute
import Support

/// Compiled kernel images (CUBIN or PTX) kept on disk so that a process compiles the kernel
/// source only the first time on a machine. The cache is a plain folder of files named by the
/// SHA-256 (64 hex digits) of what the image depends on: the source, the architecture, the
/// NVRTC version and the options (`key`). No other part of a path comes from input.
///
/// A cache file is never trusted: it is loaded only if it is a regular file of a sane size, its
/// header carries its own key, and the SHA-256 of its image matches the header; anything else
/// (truncated, corrupt, hostile, another key's file renamed) is ignored and the image is
/// compiled again and rewritten. Files are written atomically (temp file, rename) with mode
/// 0600, the folder created 0700, and a folder that is a symlink, not ours or writable by
/// others is not used. Every check is made on what was opened, not on a path: the folder is
/// opened (O_DIRECTORY | O_NOFOLLOW) and fstat'ed, the file opened relative to it (openat,
/// O_NOFOLLOW | O_NONBLOCK: a FIFO or device swapped in cannot block) and fstat'ed (a regular
/// file of ours, of a bounded size), and a store goes through the same folder descriptor.
///
/// File layout (all integers little-endian):
///
///     offset  size  field
///     0       8     magic "MLRKC01\n"
///     8       8     image length N (UInt64)
///     16      32    the key (SHA-256 bytes of the inputs; the file's name is its hex)
///     48      32    SHA-256 of the image
///     80      N     the image
public struct KernelCache: Sendable {
    public let directory: String

    static let magic: [UInt8] = Array("MLRKC01\n".utf8)
    static let headerSize = 80
    /// The largest image the cache stores or reads (the kernels' CUBIN is well under 1 MiB).
    public static let maxImageBytes = 64 << 20

    public init(directory: String) { self.directory = directory }

    /// The cache key: SHA-256 over the inputs, each length-prefixed so no two different
    /// inputs give the same byte stream.
    public static func key(source: String, arch: String, nvrtcVersion: (major: Int, minor: Int), options: [String]) -> [UInt8] {
        let h = SHA256Hasher()
        func field(_ s: String) {
            var n = UInt64(s.utf8.count).littleEndian
            withUnsafeBytes(of: &n) { h.update($0) }
            h.update(s)
        }
        field("mlrepo kernel cache 1")
        field(source)
        field(arch)
        field("\(nvrtcVersion.major).\(nvrtcVersion.minor)")
        for o in options { field(o) }
        return h.finalize()
    }

    /// The file that holds `key`'s image.
    public func path(for key: [UInt8]) -> String {
        precondition(key.count == 32, "cache key is a SHA-256")
        return directory + "/" + Hex.encode(key) + ".cubin"
    }

    /// The image cached under `key`, or nil when there is none or the file fails a check.
    public func load(_ key: [UInt8]) -> [UInt8]? {
        guard key.count == 32, let dir = try? openDirectory(create: false) else { return nil }
        let fd = openat(dir.fd, KernelCache.fileName(key), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let f = FileDescriptor(fd: fd, path: path(for: key))
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == getuid(),
              st.st_size >= KernelCache.headerSize, st.st_size <= KernelCache.headerSize + KernelCache.maxImageBytes
        else { return nil }
        let size = Int(st.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        // Read at most the size fstat gave (the file may change under us: the checks below catch it).
        guard let n = try? bytes.withUnsafeMutableBytes({ try f.readFully(into: $0.baseAddress!, count: size) }), n == size else { return nil }
        return KernelCache.decode(bytes, key: key)
    }

    /// "<64 hex digits>.cubin": the file's name in the folder.
    static func fileName(_ key: [UInt8]) -> String { Hex.encode(key) + ".cubin" }

    /// The image in `file` if it is a valid cache file for `key` (public for the fuzz target).
    public static func decode(_ file: [UInt8], key: [UInt8]) -> [UInt8]? {
        guard file.count >= headerSize, Array(file[0..<8]) == magic else { return nil }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(file[8 + i]) << (8 * UInt64(i)) }
        guard length > 0, length <= UInt64(maxImageBytes), UInt64(file.count - headerSize) == length else { return nil }
        guard Array(file[16..<48]) == key else { return nil }
        let image = Array(file[headerSize...])
        guard SHA256Hasher.digest(image) == Array(file[48..<80]) else { return nil }
        return image
    }

    /// The bytes of a cache file holding `image` under `key`.
    public static func encode(_ image: [UInt8], key: [UInt8]) -> [UInt8] {
        var out = magic
        var n = UInt64(image.count)
        for _ in 0..<8 { out.append(UInt8(n & 0xff)); n >>= 8 }
        out += key
        out += SHA256Hasher.digest(image)
        out += image
        return out
    }

    /// Stores `image` under `key` (atomically: a reader sees the old file, the new one, or
    /// none). Throws when the folder cannot be made or written.
    public func store(_ key: [UInt8], image: [UInt8]) throws {
        guard key.count == 32, !image.isEmpty, image.count <= KernelCache.maxImageBytes else {
            throw ComputeError("gpu: kernel cache: refusing an image of \(image.count) bytes")
        }
        let dir = try openDirectory(create: true)
        let name = KernelCache.fileName(key)
        let temp = ".tmp-\(getpid())-\(UInt64(bitPattern: Clock.nowNs()))-\(name.prefix(16))"
        let fd = openat(dir.fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ComputeError("gpu: kernel cache folder \(directory): cannot create a file: \(String(cString: strerror(errno)))") }
        do {
            let f = FileDescriptor(fd: fd, path: directory + "/" + temp)
            try f.write(KernelCache.encode(image, key: key))
        } catch {
            _ = unlinkat(dir.fd, temp, 0)
            throw ComputeError("gpu: kernel cache folder \(directory): cannot write: \(error)")
        }
        guard renameat(dir.fd, temp, dir.fd, name) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = unlinkat(dir.fd, temp, 0)
            throw ComputeError("gpu: kernel cache folder \(directory): cannot rename into place: \(reason)")
        }
    }

    /// Why the folder cannot be used, or nil when it can (or does not exist yet and so would
    /// be created). For `mlrepo doctor`.
    public func problem() -> String? {
        guard FS.lstat(directory) != nil else { return nil }
        do { _ = try openDirectory(create: false); return nil } catch { return (error as? ComputeError)?.message ?? "\(error)" }
    }

    /// The folder, opened (made with 0700, parents too, when `create`): a real folder (not a
    /// symlink) owned by this user and not writable by group or others, checked on the open
    /// descriptor. Throws the reason it cannot be used.
    func openDirectory(create: Bool) throws -> FileDescriptor {
        func unusable(_ why: String) -> ComputeError { ComputeError("gpu: kernel cache folder \(directory) is not usable: \(why)") }
        guard directory.hasPrefix("/") else { throw unusable("not an absolute path") }
        if create && FS.lstat(directory) == nil {
            // Create each missing component 0700 (like `mkdir -p -m 700`).
            var built = ""
            for part in directory.split(separator: "/") {
                built += "/" + part
                if FS.lstat(built) == nil && Glibc.mkdir(built, 0o700) != 0 && errno != EEXIST {
                    throw unusable("cannot create \(built): \(String(cString: strerror(errno)))")
                }
            }
        }
        let fd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw unusable(errno == ELOOP || errno == ENOTDIR ? "a symlink or not a folder" : String(cString: strerror(errno)))
        }
        let f = FileDescriptor(fd: fd, path: directory)
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { throw unusable("not a folder") }
        guard st.st_uid == getuid() else { throw unusable("owned by another user") }
        guard (st.st_mode & 0o022) == 0 else { throw unusable("writable by group or others") }
        return f
    }
}
