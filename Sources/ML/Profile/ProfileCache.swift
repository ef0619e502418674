#if canImport(Glibc)
import Glibc
#endif
import Store
import Support

/// Data profiles of file versions, computed in one streaming pass and cached by the
/// file's id in `.mlrepo/cache/profiles/` (.mlrepo-format.md §10.5), so asking twice
/// is instant and a version that several commits share is profiled once.
extension MLRepo {
    static let profileCacheVersion = 1

    var profileCacheDir: String { repo.dotDir + "/cache/profiles" }

    func cachedProfile(_ id: ObjectId) -> DataProfile? {
        let path = profileCacheDir + "/" + id.hex + ".json"
        guard let text = try? FS.readText(path), let j = try? JSON.parse(text),
              j["version"]?.doubleValue == Double(MLRepo.profileCacheVersion), let p = j["profile"] else { return nil }
        return try? DataProfile(json: p)
    }

    func storeProfile(_ p: DataProfile, id: ObjectId) {
        // A cache: losing it costs a recomputation, so no fsync and no error.
        try? FS.mkdirs(profileCacheDir)
        let j = JSON.object(["version": .int(Int64(MLRepo.profileCacheVersion)), "id": .string(id.hex), "profile": p.json()])
        try? FS.atomicWrite(profileCacheDir + "/" + id.hex + ".json", text: j.encoded() + "\n", durable: false)
    }

    /// Whether a path looks like a CSV file (by extension).
    public static func isCSV(_ path: String) -> Bool {
        let l = path.lowercased()
        return l.hasSuffix(".csv") || l.hasSuffix(".csv.txt")
    }

    /// The profile of a stored file version.
    public func profile(id: ObjectId, path: String) throws -> (profile: DataProfile, cached: Bool) {
        if let p = cachedProfile(id) { return (p, true) }
        let profiler = CSVProfiler(path: path)
        try FileReader(store: repo.store).read(id) { try profiler.feed($0) }
        let p = try profiler.finish()
        storeProfile(p, id: id)
        return (p, false)
    }

    /// The profile of a work-tree file (repo-relative `path`), with its id.
    public func profileWorkFile(_ path: String) throws -> (id: ObjectId, profile: DataProfile, cached: Bool) {
        let full = repo.fullPath(path)
        guard let st = FS.stat(full), st.isRegular else { throw MLError.notAFile(path) }
        guard let id = try repo.workTreeId(of: path) else { throw MLError.notAFile(path) }
        if let p = cachedProfile(id) { return (id, p, true) }
        let p = try profileFile(full, label: path)
        storeProfile(p, id: id)
        return (id, p, false)
    }

    /// Profiles a file on disk, reading it once in 1 MiB blocks.
    public func profileFile(_ full: String, label: String) throws -> DataProfile {
        let fd = open(full, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", full) }
        let file = FileDescriptor(fd: fd, path: full)
        let profiler = CSVProfiler(path: label)
        let size = 1 << 20
        let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer { buf.deallocate() }
        while true {
            let n = try file.read(into: buf, count: size)
            if n == 0 { break }
            try profiler.feed(UnsafeRawBufferPointer(start: buf, count: n))
        }
        return try profiler.finish()
    }
}
