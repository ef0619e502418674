import Support

/// Where HEAD points.
public enum Head: Equatable, Sendable {
    case branch(String)
    case detached(ObjectId)
}

/// Branches, tags, HEAD and their reflogs (.mlrepo-format.md §Refs). Every update is an
/// atomic file replacement; callers hold the repository lock.
public struct Refs: Sendable {
    public let dir: String
    public let durable: Bool

    public init(dir: String, durable: Bool) { self.dir = dir; self.durable = durable }

    /// git's check-ref-format rules, simplified.
    public static func isValidName(_ n: String) -> Bool {
        if n.isEmpty || n.hasPrefix("-") || n.hasPrefix("/") || n.hasSuffix("/") || n.hasSuffix(".") || n.hasSuffix(".lock") { return false }
        if n.contains("..") || n.contains("//") || n.contains("@{") || n == "@" || n == "HEAD" { return false }
        for c in n.unicodeScalars {
            if c.value < 0x21 || c.value == 0x7F { return false }
            if "~^:?*[\\".unicodeScalars.contains(c) { return false }
        }
        for comp in n.split(separator: "/") where comp.hasPrefix(".") { return false }
        return true
    }

    public func head() throws -> Head {
        let text = try sys { try FS.readText(dir + "/HEAD") }.trimmingSpace()
        if text.hasPrefix("ref: refs/heads/") { return .branch(String(text.dropFirst("ref: refs/heads/".count))) }
        guard let id = ObjectId(hex: text) else { throw StoreError.corruptFile(dir + "/HEAD", reason: "neither a ref nor an id") }
        return .detached(id)
    }

    /// The commit HEAD names, nil on an unborn branch.
    public func headCommit() throws -> ObjectId? {
        switch try head() {
        case .detached(let id): return id
        case .branch(let b): return try read("refs/heads/" + b)
        }
    }

    public func read(_ ref: String) throws -> ObjectId? {
        let p = dir + "/" + ref
        guard FS.lstat(p)?.isRegular == true else { return nil }
        let t = try sys { try FS.readText(p) }.trimmingSpace()
        guard let id = ObjectId(hex: t) else { throw StoreError.corruptFile(p, reason: "not an object id") }
        return id
    }

    /// Moves `ref` to `id` and appends to its reflog (and HEAD's, when HEAD is on it).
    public func update(_ ref: String, to id: ObjectId, who: Signature, message: String) throws {
        let old = try read(ref)
        let p = dir + "/" + ref
        try sys { try FS.mkdirs(Path.dirname(p)) }
        try sys { try FS.atomicWrite(p, text: id.hex + "\n", durable: durable) }
        try appendLog(ref, old: old, new: id, who: who, message: message)
        if case .branch(let b) = try head(), "refs/heads/" + b == ref {
            try appendLog("HEAD", old: old, new: id, who: who, message: message)
        }
    }

    public func delete(_ ref: String) throws {
        try sys { try FS.unlink(dir + "/" + ref) }
        try? FS.unlink(dir + "/logs/" + ref)
        // Remove now-empty parent folders of nested names (a/b/c).
        var d = Path.dirname(dir + "/" + ref)
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
        case .branch(let b): text = "ref: refs/heads/\(b)\n"; new = try read("refs/heads/" + b)
        case .detached(let id): text = id.hex + "\n"; new = id
        }
        try sys { try FS.atomicWrite(dir + "/HEAD", text: text, durable: durable) }
        if let new { try appendLog("HEAD", old: old ?? nil, new: new, who: who, message: message) }
    }

    /// Names under `refs/<kind>/` (e.g. "heads", "tags"), with their ids, sorted.
    public func list(_ kind: String) throws -> [(name: String, id: ObjectId)] {
        var out: [(String, ObjectId)] = []
        func walk(_ rel: String) throws {
            let full = dir + "/refs/" + kind + (rel.isEmpty ? "" : "/" + rel)
            guard FS.isDirectory(full) else { return }
            for e in try sys({ try FS.list(full) }) {
                if e.name.hasPrefix(".tmp-") { continue }
                let r = rel.isEmpty ? e.name : rel + "/" + e.name
                if e.type == .directory { try walk(r) }
                else if let id = try read("refs/\(kind)/\(r)") { out.append((r, id)) }
            }
        }
        try walk("")
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
        let p = dir + "/logs/" + ref
        try sys { try FS.mkdirs(Path.dirname(p)) }
        let line = "\((old ?? .zero).hex) \(new.hex) \(who.encoded)\t\(message.replacingNewlines())\n"
        let f = try sys { try FileDescriptor(path: p, flags: O_WRONLY | O_CREAT | O_APPEND) }
        try sys { try f.write(Array(line.utf8)) }
        if durable { try sys { try f.sync() } }
    }

    /// The reflog of `ref` ("HEAD" or "refs/heads/x"), newest first.
    public func log(_ ref: String) throws -> [LogEntry] {
        let p = dir + "/logs/" + ref
        guard FS.exists(p) else { return [] }
        var out: [LogEntry] = []
        for line in try sys({ try FS.readText(p) }).split(separator: "\n") {
            guard let tab = line.firstIndex(of: "\t") else { continue }
            let head = line[..<tab].split(separator: " ", maxSplits: 2)
            guard head.count == 3, let o = ObjectId(hex: String(head[0])), let n = ObjectId(hex: String(head[1])),
                  let who = Signature.parse(head[2]) else { continue }
            out.append(LogEntry(old: o == .zero ? nil : o, new: n, who: who, message: String(line[line.index(after: tab)...])))
        }
        return out.reversed()
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension String {
    func trimmingSpace() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\n" || c == "\t" || c == "\r" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\n" || c == "\t" || c == "\r" { s.removeLast() }
        return String(s)
    }

    func replacingNewlines() -> String {
        String(self.map { $0 == "\n" || $0 == "\t" ? " " : $0 })
    }
}
