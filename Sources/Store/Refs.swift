import Support

/// Where HEAD points.
public enum Head: Equatable, Sendable {
    case branch(String)
    case detached(ObjectId)
}

/// Ref names (.mlrepo-format.md §8): git's `check-ref-format` rules plus length bounds.
/// Every ref name, wherever it comes from (a remote listing, a file under `.mlrepo/refs`,
/// the command line, a registry alias), is checked here before it becomes a path.
public enum RefName {
    /// The longest full ref name, in UTF-8 bytes ("refs/heads/…" included).
    public static let maxBytes = 1024
    /// The longest component (one file name), in UTF-8 bytes.
    public static let maxComponentBytes = 255
    /// The namespaces a repository keeps refs in.
    public static let namespaces = ["heads", "tags", "remotes", "aliases"]

    /// Why `name` breaks git's check-ref-format rules (`git check-ref-format
    /// --allow-onelevel`) or the length bounds; nil when it is a well-formed name. The rules:
    /// not empty and not `@`; no empty component (so no leading or trailing `/` and no
    /// `//`); no component starting with `.` or ending in `.lock`; no `..`, no `@{`; no
    /// control character, space or any of `~^:?*[\`; not ending in `.`.
    public static func formatProblem(_ name: String) -> String? {
        let u = Array(name.utf8)
        if u.isEmpty { return "it is empty" }
        if u.count > maxBytes { return "it is longer than \(maxBytes) bytes" }
        if u == [0x40] { return "it is '@'" }
        var start = 0
        var last: UInt8 = 0
        var i = 0
        while i <= u.count {
            let c: UInt8 = i < u.count ? u[i] : 0x2F
            if c == 0x2F {  // end of a component
                let len = i - start
                if len == 0 { return "it has an empty component (a leading, trailing or double '/')" }
                if len > maxComponentBytes { return "a component is longer than \(maxComponentBytes) bytes" }
                if u[start] == 0x2E { return "a component starts with '.'" }
                if len >= 5 && Array(u[(i - 5)..<i]) == Array(".lock".utf8) { return "a component ends in '.lock'" }
                start = i + 1
                last = 0
                i += 1
                continue
            }
            if c < 0x20 || c == 0x7F { return "it has a control character" }
            switch c {
            case 0x20: return "it has a space"
            case 0x7E, 0x5E, 0x3A, 0x3F, 0x2A, 0x5B, 0x5C: return "it has '\(Character(Unicode.Scalar(c)))'"
            case 0x2E where last == 0x2E: return "it has '..'"
            case 0x7B where last == 0x40: return "it has '@{'"
            default: break
            }
            last = c
            i += 1
        }
        if u[u.count - 1] == 0x2E { return "it ends with '.'" }
        return nil
    }

    /// A branch, tag or alias name as a person types it (the part after `refs/heads/`):
    /// well-formed, not starting with `-` (it would read as an option) and not `HEAD`.
    public static func shortProblem(_ name: String) -> String? {
        if let p = formatProblem(name) { return p }
        if name.hasPrefix("-") { return "it starts with '-'" }
        if name == "HEAD" { return "it is 'HEAD'" }
        return nil
    }

    /// Why `ref` is not a full ref name this repository may store; nil when it is one:
    /// `HEAD`, `refs/heads/<branch>`, `refs/tags/<tag>`, `refs/remotes/<remote>/<branch>`
    /// or `refs/aliases/<alias>` (one component), each part passing `shortProblem`.
    public static func fullProblem(_ ref: String) -> String? {
        if ref == "HEAD" { return nil }
        if let p = formatProblem(ref) { return p }
        let parts = ref.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "refs", namespaces.contains(String(parts[1])) else {
            return "it is not under refs/heads/, refs/tags/, refs/remotes/ or refs/aliases/"
        }
        let rest = String(parts[2])
        switch parts[1] {
        case "remotes":
            guard let slash = rest.firstIndex(of: "/") else { return "a remote-tracking ref needs a remote and a branch" }
            return shortProblem(String(rest[rest.index(after: slash)...]))
        case "aliases":
            if rest.contains("/") { return "an alias name has no '/'" }
            return shortProblem(rest)
        default:
            return shortProblem(rest)
        }
    }

    /// `name` for a one-line message: control characters escaped as the CLI shows paths
    /// (`Quote.controls`), cut at 200 characters.
    public static func printable(_ name: String) -> String {
        name.count > 200 ? Quote.controls(String(name.prefix(200))) + "…" : Quote.controls(name)
    }
}

/// Branches, tags, HEAD and their reflogs (.mlrepo-format.md §Refs). Every update is an
/// atomic file replacement; callers hold the repository lock. Every path is made by
/// `path(_:)` / `logPath(_:)`, which refuse a name `RefName.fullProblem` rejects.
public struct Refs: Sendable {
    public let dir: String
    public let durable: Bool

    public init(dir: String, durable: Bool) { self.dir = dir; self.durable = durable }

    /// A valid branch, tag or alias name (`RefName.shortProblem`).
    public static func isValidName(_ n: String) -> Bool { RefName.shortProblem(n) == nil }

    /// The one place a ref name becomes a path: `.mlrepo/<ref>`.
    public func path(_ ref: String) throws -> String {
        if let why = RefName.fullProblem(ref) { throw Refs.invalidName(ref, why) }
        return dir + "/" + ref
    }

    /// The reflog of `ref`: `.mlrepo/logs/<ref>`.
    public func logPath(_ ref: String) throws -> String {
        if let why = RefName.fullProblem(ref) { throw Refs.invalidName(ref, why) }
        return dir + "/logs/" + ref
    }

    static func invalidName(_ ref: String, _ why: String) -> StoreError {
        StoreError.invalid("refusing the ref name '\(RefName.printable(ref))': \(why)")
    }

    public func head() throws -> Head {
        let p = dir + "/HEAD"
        let text = try sys { try FS.readText(p) }.trimmed()
        if text.hasPrefix("ref: refs/heads/") {
            let b = String(text.dropFirst("ref: refs/heads/".count))
            if let why = RefName.shortProblem(b) {
                throw StoreError.corruptFile(p, reason: "it names the branch '\(RefName.printable(b))', which is not a valid name: \(why)")
            }
            return .branch(b)
        }
        guard let id = ObjectId(hex: text) else { throw StoreError.corruptFile(p, reason: "neither a ref nor an id") }
        return .detached(id)
    }

    /// The commit HEAD names, nil on an unborn branch.
    public func headCommit() throws -> ObjectId? {
        switch try head() {
        case .detached(let id): return id
        case .branch(let b): return try read("refs/heads/" + b)
        }
    }

    /// The id `ref` holds; nil when there is no such ref (or the name is a folder or a
    /// symlink there: refs are never followed through links).
    public func read(_ ref: String) throws -> ObjectId? {
        let p = try path(ref)
        guard FS.lstat(p)?.isRegular == true else { return nil }
        let t = try sys { try FS.readText(p) }.trimmed()
        guard let id = ObjectId(hex: t) else { throw StoreError.corruptFile(p, reason: "not an object id") }
        return id
    }

    /// Moves `ref` to `id` and appends to its reflog (and HEAD's, when HEAD is on it).
    public func update(_ ref: String, to id: ObjectId, who: Signature, message: String) throws {
        let p = try path(ref)
        let old = try read(ref)
        try sys { try FS.mkdirs(Path.dirname(p)) }
        try sys { try FS.atomicWrite(p, text: id.hex + "\n", durable: durable) }
        try appendLog(ref, old: old, new: id, who: who, message: message)
        if case .branch(let b) = try head(), "refs/heads/" + b == ref {
            try appendLog("HEAD", old: old, new: id, who: who, message: message)
        }
    }

    public func delete(_ ref: String) throws {
        let p = try path(ref)
        try sys { try FS.unlink(p) }
        try? FS.unlink(try logPath(ref))
        // Remove now-empty parent folders of nested names (a/b/c).
        var d = Path.dirname(p)
        while d.hasPrefix(dir + "/refs/") && d.split(separator: "/").count > (dir + "/refs/heads").split(separator: "/").count {
            if !FS.rmdir(d) { break }
            d = Path.dirname(d)
        }
    }

    public func setHead(_ h: Head, who: Signature, message: String) throws {
        let old = try? headCommit()
        let text: String
        let new: ObjectId?
        switch h {
        case .branch(let b):
            if let why = RefName.shortProblem(b) { throw Refs.invalidName(b, why) }
            text = "ref: refs/heads/\(b)\n"; new = try read("refs/heads/" + b)
        case .detached(let id): text = id.hex + "\n"; new = id
        }
        try sys { try FS.atomicWrite(dir + "/HEAD", text: text, durable: durable) }
        if let new { try appendLog("HEAD", old: old ?? nil, new: new, who: who, message: message) }
    }

    /// Names under `refs/<kind>/` (e.g. "heads", "tags", "remotes/origin"), with their
    /// ids, sorted. Entries whose full name is not a valid ref name, symlinks and other
    /// non-files are skipped, never followed (`check()` reports them).
    public func list(_ kind: String) throws -> [(name: String, id: ObjectId)] {
        var out: [(String, ObjectId)] = []
        let top = dir + "/refs/" + kind
        guard FS.lstat(top)?.isDirectory == true else { return [] }
        var folders = [""]  // relative to `top`; a stack, not recursion
        while let rel = folders.popLast() {
            for e in try sys({ try FS.list(rel.isEmpty ? top : top + "/" + rel) }) {
                let r = rel.isEmpty ? e.name : rel + "/" + e.name
                let full = "refs/\(kind)/\(r)"
                if e.type == .directory {
                    // A folder can hold valid names only if "<full>/x" can be one.
                    if RefName.formatProblem(full + "/x") == nil { folders.append(r) }
                } else if e.type == .file, RefName.fullProblem(full) == nil, let id = try read(full) {
                    out.append((r, id))
                }
            }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// One reflog line.
    public struct LogEntry: Sendable {
        public var old: ObjectId?
        public var new: ObjectId
        public var who: Signature
        public var message: String
    }

    func appendLog(_ ref: String, old: ObjectId?, new: ObjectId, who: Signature, message: String) throws {
        let p = try logPath(ref)
        try sys { try FS.mkdirs(Path.dirname(p)) }
        let line = "\((old ?? .zero).hex) \(new.hex) \(who.encoded)\t\(message.replacingNewlines())\n"
        let f = try sys { try FileDescriptor(path: p, flags: O_WRONLY | O_CREAT | O_APPEND) }
        try sys { try f.write(Array(line.utf8)) }
        if durable { try sys { try f.sync() } }
    }

    /// The reflog of `ref` ("HEAD" or "refs/heads/x"), newest first. Lines that do not
    /// parse are skipped (`check()` reports them).
    public func log(_ ref: String) throws -> [LogEntry] {
        let p = try logPath(ref)
        guard FS.lstat(p)?.isRegular == true else { return [] }
        var out: [LogEntry] = []
        for line in try sys({ try FS.readText(p) }).split(separator: "\n") {
            if let e = Refs.parseLogLine(line) { out.append(e) }
        }
        return out.reversed()
    }

    static func parseLogLine(_ line: Substring) -> LogEntry? {
        guard let tab = line.firstIndex(of: "\t") else { return nil }
        let head = line[..<tab].split(separator: " ", maxSplits: 2)
        guard head.count == 3, let o = ObjectId(hex: String(head[0])), let n = ObjectId(hex: String(head[1])),
              let who = Signature.parse(head[2]) else { return nil }
        return LogEntry(old: o == .zero ? nil : o, new: n, who: who, message: String(line[line.index(after: tab)...]))
    }

    /// Everything wrong with HEAD, the files under `refs/` and `logs/` (for fsck): names
    /// that are not valid ref names, symlinks and other non-files, files that do not hold
    /// an id, reflog lines that do not parse. A reflog's last line without its newline is
    /// not a problem (an append in progress). Reads only; follows no link.
    public func check() -> [String] {
        var problems: [String] = []
        do {
            _ = try head()
        } catch {
            problems.append("\(error)")
        }
        for (area, prefix) in [("refs", "refs"), ("logs", "logs")] {
            let top = dir + "/" + area
            guard let st = FS.lstat(top) else { continue }
            guard st.isDirectory else { problems.append("\(top) is not a folder"); continue }
            var folders = [""]
            while let rel = folders.popLast() {
                let here = rel.isEmpty ? top : top + "/" + rel
                let entries: [(name: String, type: FS.EntryType)]
                do { entries = try FS.list(here) } catch { problems.append("\(error)"); continue }
                for e in entries.sorted(by: { $0.name < $1.name }) {
                    let r = rel.isEmpty ? e.name : rel + "/" + e.name
                    let p = top + "/" + r
                    // The ref this file stands for: refs/<r>, or for a reflog the <r> of logs/<r>.
                    let ref = prefix == "refs" ? "refs/" + r : r
                    if e.name.hasPrefix(".tmp-") { continue }  // a write in progress, or left by a kill
                    switch e.type {
                    case .directory:
                        if RefName.formatProblem(ref + "/x") == nil { folders.append(r) }
                        else { problems.append("\(RefName.printable(p)): not a valid ref folder name") }
                    case .file:
                        if let why = RefName.fullProblem(ref) {
                            problems.append("\(RefName.printable(p)): not a valid ref name: \(why)")
                            continue
                        }
                        if prefix == "refs" {
                            do { _ = try read(ref) } catch { problems.append("\(error)") }
                        } else {
                            problems += checkLog(p)
                        }
                    default:
                        problems.append("\(RefName.printable(p)): a \(e.type == .symlink ? "symlink" : "special file") where a ref belongs (not followed)")
                    }
                }
            }
        }
        return problems
    }

    func checkLog(_ p: String) -> [String] {
        let text: String
        do { text = try sys { try FS.readText(p) } } catch { return ["\(error)"] }
        var out: [String] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (i, line) in lines.enumerated() {
            let last = i == lines.count - 1
            if line.isEmpty && last { continue }
            if last { continue }  // no newline yet: an append in progress (or cut by a kill)
            if Refs.parseLogLine(line) == nil {
                out.append("\(p):\(i + 1): not a reflog line")
                if out.count >= 5 { break }
            }
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension String {
    func replacingNewlines() -> String {
        String(self.map { $0 == "\n" || $0 == "\t" ? " " : $0 })
    }
}
