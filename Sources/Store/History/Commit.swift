import Support

/// A person and a moment: `Name <email> <unix seconds> <+hhmm>`.
public struct Signature: Equatable, Sendable {
    public var name: String
    public var email: String
    public var time: Int64
    public var tzOffsetMinutes: Int

    public init(name: String, email: String, time: Int64, tzOffsetMinutes: Int = 0) {
        self.name = name; self.email = email; self.time = time; self.tzOffsetMinutes = tzOffsetMinutes
    }

    public var tz: String {
        let s = tzOffsetMinutes < 0 ? "-" : "+"
        let m = abs(tzOffsetMinutes)
        let hh = m / 60, mm = m % 60
        return s + (hh < 10 ? "0" : "") + "\(hh)" + (mm < 10 ? "0" : "") + "\(mm)"
    }

    public var encoded: String { "\(name) <\(email)> \(time) \(tz)" }
    public var person: String { "\(name) <\(email)>" }

    public static func parse(_ s: Substring) -> Signature? {
        guard let lt = s.firstIndex(of: "<"), let gt = s.lastIndex(of: ">"), lt < gt else { return nil }
        let name = s[..<lt].trimmed(" ")
        let email = String(s[s.index(after: lt)..<gt])
        let rest = s[s.index(after: gt)...].split(separator: " ")
        guard rest.count == 2, let t = Int64(rest[0]) else { return nil }
        let tzs = rest[1]
        guard tzs.count == 5, let v = Int(tzs.dropFirst()) else { return nil }
        let mins = (v / 100) * 60 + v % 100
        return Signature(name: name, email: email, time: t, tzOffsetMinutes: tzs.first == "-" ? -mins : mins)
    }
}


/// A commit. Payload (.mlrepo-format.md §Commit), UTF-8 text:
/// `tree <hex>\n`, `parent <hex>\n` per parent, `author <sig>\n`, `committer <sig>\n`,
/// optional `<key> <value>\n` extension headers, a blank line, then the message.
public struct Commit: Equatable, Sendable {
    public var tree: ObjectId
    public var parents: [ObjectId]
    public var author: Signature
    public var committer: Signature
    /// Extra headers (e.g. `meta <id>` of later format versions), kept in order.
    public var extra: [(key: String, value: String)]
    public var message: String

    public static func == (a: Commit, b: Commit) -> Bool {
        a.tree == b.tree && a.parents == b.parents && a.author == b.author && a.committer == b.committer
            && a.message == b.message && a.extra.map(\.key) == b.extra.map(\.key) && a.extra.map(\.value) == b.extra.map(\.value)
    }

    public init(tree: ObjectId, parents: [ObjectId], author: Signature, committer: Signature,
                extra: [(key: String, value: String)] = [], message: String) {
        self.tree = tree; self.parents = parents; self.author = author; self.committer = committer
        self.extra = extra; self.message = message
    }

    public func encode() -> [UInt8] {
        var s = "tree \(tree.hex)\n"
        for p in parents { s += "parent \(p.hex)\n" }
        s += "author \(author.encoded)\ncommitter \(committer.encoded)\n"
        for (k, v) in extra { s += "\(k) \(v)\n" }
        s += "\n" + message
        return Array(s.utf8)
    }

    public static func decode(_ b: UnsafeRawBufferPointer, id: ObjectId) throws -> Commit {
        func bad(_ why: String) -> StoreError { .objectCorrupt(id, location: "commit", reason: why) }
        guard let text = String(validating: Array(b), as: UTF8.self) else { throw bad("not UTF-8") }
        guard let split = text.range(of: "\n\n") else { throw bad("no blank line after the headers") }
        let head = text[..<split.lowerBound]
        let message = String(text[split.upperBound...])
        var tree: ObjectId?
        var parents: [ObjectId] = []
        var author: Signature?, committer: Signature?
        var extra: [(String, String)] = []
        for line in head.split(separator: "\n") {
            guard let sp = line.firstIndex(of: " ") else { throw bad("malformed header line") }
            let key = line[..<sp], value = line[line.index(after: sp)...]
            switch key {
            case "tree": tree = ObjectId(hex: String(value))
                if tree == nil { throw bad("bad tree id") }
            case "parent":
                guard let p = ObjectId(hex: String(value)) else { throw bad("bad parent id") }
                parents.append(p)
            case "author": author = Signature.parse(value)
                if author == nil { throw bad("bad author") }
            case "committer": committer = Signature.parse(value)
                if committer == nil { throw bad("bad committer") }
            default: extra.append((String(key), String(value)))
            }
        }
        guard let tree, let author, let committer else { throw bad("missing tree, author or committer") }
        return Commit(tree: tree, parents: parents, author: author, committer: committer, extra: extra, message: message)
    }

    /// Extension headers whose value is the id of an object the commit references (kept by
    /// gc, checked by fsck, moved by push and fetch): `meta` (the commit's ML metadata),
    /// `record` (a lineage record) and `training-stats` (a promotion's training statistics).
    public static let objectHeaders: Set<String> = ["meta", "record", "training-stats"]

    /// Values of the extension headers named `key`, in order.
    public func headers(_ key: String) -> [String] { extra.filter { $0.key == key }.map(\.value) }

    /// The first line of the message.
    public var subject: String { String(message.split(separator: "\n", omittingEmptySubsequences: false).first ?? "") }
}

extension String {
    /// The first occurrence of `needle`, scanning the UTF-8 bytes without allocating.
    func range(of needle: String) -> Range<String.Index>? {
        let n = Array(needle.utf8)
        guard !n.isEmpty else { return nil }
        func find(_ h: UnsafeBufferPointer<UInt8>) -> Int? {
            guard n.count <= h.count else { return nil }
            var i = 0
            outer: while i + n.count <= h.count {
                if h[i] == n[0] {
                    var j = 1
                    while j < n.count { if h[i + j] != n[j] { i += 1; continue outer }; j += 1 }
                    return i
                }
                i += 1
            }
            return nil
        }
        var copy = self
        let at: Int? = copy.withUTF8 { find($0) }
        guard let at else { return nil }
        let lo = utf8.index(startIndex, offsetBy: at)
        return lo..<utf8.index(lo, offsetBy: n.count)
    }
}
