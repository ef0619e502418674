import Support

/// The id of a path in the work tree, in the index or in a commit: a file's blob or chunk
/// list id, or a folder's tree id. Pipelines compare these with the ids a run recorded.
extension Repository {
    /// The id `path` (repo-relative, file or folder) has on disk now, without storing
    /// anything; nil when nothing is there. Files whose stat data matches the index (and is
    /// not racy) take the staged id; the rest are hashed. Folders follow the ignore rules.
    public func workTreeId(of path: String) throws -> ObjectId? {
        try workTreeIds(of: [path])[path] ?? nil
    }

    /// `workTreeId` for several paths, reading the index once.
    public func workTreeIds(of paths: [String]) throws -> [String: ObjectId?] {
        let index = try StagingIndex.load(indexPath)
        defer { retire(index) }
        func fileId(_ rel: String, _ st: FileStat) throws -> TreeFile {
            let mode: FileMode = st.isExecutable ? .executable : .regular
            if let e = index.entries[rel], e.matches(st), !index.isRacy(e) {
                return TreeFile(mode: e.mode, size: e.size, id: e.id)
            }
            let s = try hashFile(fullPath(rel), write: false)
            return TreeFile(mode: mode, size: s.size, id: s.id)
        }
        var out: [String: ObjectId?] = [:]
        for path in paths {
            guard let st = FS.lstat(fullPath(path)) else { out[path] = .some(nil); continue }
            if st.isRegular { out[path] = try fileId(path, st).id; continue }
            guard st.isDirectory else { out[path] = .some(nil); continue }
            let scanned = try scan(path)
            var files: [String: TreeFile] = [:]
            let prefix = path.isEmpty ? 0 : path.count + 1
            for f in scanned.files { files[String(f.path.dropFirst(prefix))] = try fileId(f.path, f.stat) }
            // Tracked files stay part of the folder even when an ignore rule matches them
            // (as `add` keeps them staged).
            for (p, _) in index.entries where pathMatches(p, path) && files[String(p.dropFirst(prefix))] == nil {
                if let st = FS.lstat(fullPath(p)), st.isRegular, symlinkedParent(p) == nil {
                    files[String(p.dropFirst(prefix))] = try fileId(p, st)
                }
            }
            out[path] = try treeId(of: files)
        }
        return out
    }

    /// The id of a file or folder anywhere on disk (a scratch copy of a commit), hashing
    /// everything and storing nothing; nil when nothing is there. Folders include every
    /// regular file below them (no ignore rules); symlinks are skipped.
    public func hashPath(_ absolute: String) throws -> ObjectId? {
        guard let st = FS.lstat(absolute) else { return nil }
        if st.isRegular { return try hashFile(absolute, write: false).id }
        guard st.isDirectory else { return nil }
        var files: [String: TreeFile] = [:]
        func walk(_ dir: String, _ rel: String) throws {
            for e in try sys({ try FS.listWithStat(dir) }) {
                let r = rel.isEmpty ? e.name : rel + "/" + e.name
                switch e.type {
                case .directory: try walk(dir + "/" + e.name, r)
                case .file:
                    guard let st = e.stat else { continue }
                    let h = try hashFile(dir + "/" + e.name, write: false)
                    files[r] = TreeFile(mode: st.isExecutable ? .executable : .regular, size: h.size, id: h.id)
                default: continue
                }
            }
        }
        try walk(absolute, "")
        return try treeId(of: files)
    }

    /// The staged id of `path` (file or folder), nil when nothing under it is staged.
    /// `store`: also write a folder's tree objects, so the folder can be looked into later.
    public func indexId(of path: String, store: Bool = false) throws -> ObjectId? {
        let index = try StagingIndex.load(indexPath)
        defer { retire(index) }
        if let e = index.entries[path] { return e.id }
        var files: [String: TreeFile] = [:]
        let prefix = path.isEmpty ? 0 : path.count + 1
        for (p, e) in index.entries where pathMatches(p, path) {
            files[String(p.dropFirst(prefix))] = TreeFile(mode: e.mode, size: e.size, id: e.id)
        }
        if files.isEmpty { return nil }
        guard store else { return try treeId(of: files) }
        return try withLock {
            let id = try writeTree(files)
            try self.store.commitPending()
            return id
        }
    }

    /// The id of `path` in a set of flattened files (a commit's or the index's).
    public func id(of path: String, in files: [String: TreeFile]) throws -> ObjectId? {
        if let f = files[path] { return f.id }
        var sub: [String: TreeFile] = [:]
        let prefix = path.isEmpty ? 0 : path.count + 1
        for (p, f) in files where pathMatches(p, path) { sub[String(p.dropFirst(prefix))] = f }
        return sub.isEmpty ? nil : try treeId(of: sub)
    }

    // MARK: Pins

    var pinsDir: String { dotDir + "/pins" }

    /// Objects kept alive outside any commit, by name (`.mlrepo/pins/NAME`, one hex id per
    /// line): gc keeps them and fsck checks them. The ML layer pins its uncommitted runs.
    public func pins() -> [(name: String, ids: [ObjectId])] {
        guard let names = try? FS.list(pinsDir) else { return [] }
        var out: [(String, [ObjectId])] = []
        for (n, t) in names.sorted(by: { $0.name < $1.name }) where t == .file && !n.hasPrefix(".") {
            let text = (try? FS.readText(pinsDir + "/" + n)) ?? ""
            out.append((n, text.split(separator: "\n").compactMap { ObjectId(hex: String($0)) }))
        }
        return out
    }

    /// Replaces the pin list `name` (an empty list removes it).
    public func setPins(_ name: String, _ ids: [ObjectId]) throws {
        guard Refs.isValidName(name), !name.contains("/") else { throw StoreError.invalid("bad pin name '\(name)'") }
        if ids.isEmpty { try? FS.unlink(pinsDir + "/" + name); return }
        try sys { try FS.mkdirs(pinsDir) }
        try sys { try FS.atomicWrite(pinsDir + "/" + name, text: ids.map { $0.hex + "\n" }.joined(), durable: durable) }
    }
}
