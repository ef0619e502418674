import Dispatch
import Support

/// A file found in the work tree.
public struct WorkFile: Sendable {
    public var path: String
    public var stat: FileStat
}

/// What a scan found besides files.
public struct ScanResult: Sendable {
    public var files: [WorkFile] = []
    /// Symlinks and special files, which are not tracked.
    public var skipped: [String] = []
}

extension Repository {
    /// Loads ignore rules from `.mlrepoignore` files in `dir` and its parents.
    func ignoreRules(upTo dir: String) throws -> IgnoreRules {
        var rules = IgnoreRules()
        var chain = [""]
        var acc = ""
        for comp in dir.split(separator: "/") {
            acc = acc.isEmpty ? String(comp) : acc + "/" + comp
            chain.append(acc)
        }
        for d in chain {
            if let t = try? FS.readText(fullPath(d.isEmpty ? ".mlrepoignore" : d + "/.mlrepoignore")) {
                try rules.add(text: t, base: d)
            }
        }
        return rules
    }

    /// The first folder on the way to repo-relative `path` that is a symlink, if any.
    public func symlinkedParent(_ path: String) -> String? {
        var acc = ""
        for c in path.split(separator: "/").dropLast() {
            acc = acc.isEmpty ? String(c) : acc + "/" + c
            if FS.lstat(fullPath(acc))?.isSymlink == true { return acc }
        }
        return nil
    }

    /// Whether repo-relative `path` is ignored by any `.mlrepoignore` (itself or a parent folder).
    public func isIgnored(_ path: String, isDirectory: Bool) throws -> Bool {
        let rules = try ignoreRules(upTo: Path.dirname(path) == "." ? "" : Path.dirname(path))
        var acc = ""
        let comps = path.split(separator: "/")
        for (i, c) in comps.enumerated() {
            acc = acc.isEmpty ? String(c) : acc + "/" + c
            let last = i == comps.count - 1
            if rules.isIgnored(acc, isDirectory: last ? isDirectory : true) { return true }
        }
        return false
    }

    /// Lists the files under repo-relative `spec` ("" = all), honouring `.mlrepoignore`.
    /// A spec naming a single file returns it even if ignored when `includeIgnored`.
    /// mlrepo's own temp files (`WorkTemp`) are never listed; stale ones are removed.
    public func scan(_ spec: String = "", includeIgnored: Bool = false) throws -> ScanResult {
        var out = ScanResult()
        let full = fullPath(spec)
        guard let st = FS.lstat(full) else { return out }
        if !st.isDirectory {
            if WorkTemp.isTemp(Path.basename(spec)) { return out }  // mlrepo's own, never staged
            if st.isRegular {
                if try includeIgnored || !isIgnored(spec, isDirectory: false) { out.files.append(WorkFile(path: spec, stat: st)) }
            } else { out.skipped.append(spec) }
            return out
        }
        if try !spec.isEmpty && !includeIgnored && isIgnored(spec, isDirectory: true) { return out }
        let base = try ignoreRules(upTo: spec)
        try walk(spec, rules: base, into: &out, parallelDepth: 1, rulesLoaded: true)
        return out
    }

    /// Walks the given subfolders on all cores (lstat dominates a scan of many files).
    private func walkParallel(_ dirs: [String], rules: IgnoreRules, into out: inout ScanResult) throws {
        final class Parts: @unchecked Sendable {
            var results: [ScanResult]
            var error: Error?
            let lock = Lock()
            init(_ n: Int) { results = Array(repeating: ScanResult(), count: n) }
        }
        let parts = Parts(dirs.count)
        Parallel.forEach(dirs.count, threads: CPU.count) { i in
            var r = ScanResult()
            do { try self.walk(dirs[i], rules: rules, into: &r, parallelDepth: 0) } catch {
                parts.lock.withLock { if parts.error == nil { parts.error = error } }
            }
            parts.lock.withLock { parts.results[i] = r }
        }
        if let e = parts.error { throw e }
        for r in parts.results { out.files += r.files; out.skipped += r.skipped }
    }

    /// `rulesLoaded`: `rules` already hold this folder's own .mlrepoignore (the scan root's
    /// come from `ignoreRules(upTo:)`).
    private func walk(_ dir: String, rules: IgnoreRules, into out: inout ScanResult, parallelDepth: Int, rulesLoaded: Bool = false) throws {
        let full = fullPath(dir)
        let entries = try sys { try FS.listWithStat(full) }
        var rules = rules
        if !rulesLoaded, entries.contains(where: { $0.name == ".mlrepoignore" }),
           let t = try? FS.readText(full + "/.mlrepoignore") {
            try rules.add(text: t, base: dir)
        }
        var subdirs: [String] = []
        for e in entries {
            if e.name == Repository.dirName { continue }
            let rel = dir.isEmpty ? e.name : dir + "/" + e.name
            // Temp files of a checkout (or train) in progress are never shown or staged;
            // those left by a killed process are removed here, by the next command.
            if e.type != .directory && WorkTemp.isTemp(e.name) {
                if WorkTemp.isStale(e.name) { try? FS.unlink(full + "/" + e.name) }
                continue
            }
            switch e.type {
            case .directory:
                if rules.isIgnored(rel, isDirectory: true) { continue }
                subdirs.append(rel)
            case .file:
                if !rules.isEmpty && rules.isIgnored(rel, isDirectory: false) { continue }
                guard let st = e.stat else { continue }  // vanished
                out.files.append(WorkFile(path: rel, stat: st))
            case .symlink, .other:
                if rules.isIgnored(rel, isDirectory: false) { continue }
                out.skipped.append(rel)
            }
        }
        if parallelDepth > 0 && subdirs.count >= 2 && CPU.count > 1 {
            try walkParallel(subdirs, rules: rules, into: &out)
        } else {
            for d in subdirs { try walk(d, rules: rules, into: &out, parallelDepth: subdirs.count == 1 ? parallelDepth : 0) }
        }
    }
}
