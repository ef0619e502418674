import Support

/// gitignore-style rules from `.mlrepoignore` files: globs with `*`, `?`, `[...]`, `**`,
/// `!` to re-include, a leading or inner `/` anchoring to the file's folder, a trailing `/`
/// matching folders only. The last matching rule wins; `.mlrepo` is always ignored.
public struct IgnoreRules: Sendable {
    struct Rule: Sendable {
        let base: String          // folder of the .mlrepoignore, "" for the root
        let pattern: [UInt8]
        let negate: Bool
        let dirOnly: Bool
        let anchored: Bool
    }

    var rules: [Rule] = []
    public init() {}

    /// Adds the rules of an ignore file that sits in folder `base` (repo-relative).
    public mutating func add(text: String, base: String) {
        for raw in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            // Trailing spaces are ignored unless escaped.
            while line.hasSuffix(" ") && !line.hasSuffix("\\ ") { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            var negate = false
            if line.hasPrefix("!") { negate = true; line.removeFirst() }
            else if line.hasPrefix("\\!") || line.hasPrefix("\\#") { line.removeFirst() }
            var dirOnly = false
            if line.hasSuffix("/") { dirOnly = true; line.removeLast() }
            if line.isEmpty { continue }
            let anchored = line.dropLast().contains("/") || line.hasPrefix("/")
            if line.hasPrefix("/") { line.removeFirst() }
            rules.append(Rule(base: base, pattern: Array(line.utf8), negate: negate, dirOnly: dirOnly, anchored: anchored))
        }
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// Whether repo-relative `path` is ignored (checking only the rules, not its parents).
    public func isIgnored(_ path: String, isDirectory: Bool) -> Bool {
        var result = false
        for r in rules {
            if r.dirOnly && !isDirectory { continue }
            var rel = path
            if !r.base.isEmpty {
                guard path.hasPrefix(r.base + "/") else { continue }
                rel = String(path.dropFirst(r.base.count + 1))
            }
            let target: [UInt8] = r.anchored ? Array(rel.utf8) : Array(Path.basename(rel).utf8)
            if Glob.match(r.pattern, target) { result = !r.negate }
        }
        return result
    }
}

/// Glob matching over bytes, with `**` spanning folders and `*`/`?` not crossing `/`.
public enum Glob {
    public static func match(_ p: [UInt8], _ s: [UInt8]) -> Bool { match(p, 0, s, 0) }

    static func match(_ p: [UInt8], _ pi0: Int, _ s: [UInt8], _ si0: Int) -> Bool {
        var pi = pi0, si = si0
        while pi < p.count {
            let c = p[pi]
            if c == UInt8(ascii: "*") {
                if pi + 1 < p.count && p[pi + 1] == UInt8(ascii: "*") {
                    // "**": any run of characters including '/'; "**/" may also match nothing.
                    var next = pi + 2
                    if next < p.count && p[next] == UInt8(ascii: "/") {
                        next += 1
                        if match(p, next, s, si) { return true }
                    }
                    var k = si
                    while k <= s.count {
                        if match(p, next, s, k) { return true }
                        k += 1
                    }
                    return false
                }
                var k = si
                while true {
                    if match(p, pi + 1, s, k) { return true }
                    if k >= s.count || s[k] == UInt8(ascii: "/") { return false }
                    k += 1
                }
            }
            guard si < s.count else { return false }
            if c == UInt8(ascii: "?") {
                if s[si] == UInt8(ascii: "/") { return false }
            } else if c == UInt8(ascii: "[") {
                guard let (ok, end) = matchClass(p, pi, s[si]) else {
                    if s[si] != c { return false }
                    pi += 1; si += 1; continue
                }
                if !ok { return false }
                pi = end; si += 1; continue
            } else if c == UInt8(ascii: "\\") && pi + 1 < p.count {
                pi += 1
                if s[si] != p[pi] { return false }
            } else if s[si] != c { return false }
            pi += 1; si += 1
        }
        return si == s.count
    }

    /// Matches a `[...]` class at p[pi]; returns (matched, index after ']') or nil if unterminated.
    static func matchClass(_ p: [UInt8], _ pi: Int, _ ch: UInt8) -> (Bool, Int)? {
        var i = pi + 1
        var negate = false
        if i < p.count && (p[i] == UInt8(ascii: "!") || p[i] == UInt8(ascii: "^")) { negate = true; i += 1 }
        var matched = false
        var first = true
        while i < p.count {
            if p[i] == UInt8(ascii: "]") && !first { return (matched != negate && ch != UInt8(ascii: "/"), i + 1) }
            first = false
            var lo = p[i]
            if lo == UInt8(ascii: "\\") && i + 1 < p.count { i += 1; lo = p[i] }
            if i + 2 < p.count && p[i + 1] == UInt8(ascii: "-") && p[i + 2] != UInt8(ascii: "]") {
                let hi = p[i + 2]
                if ch >= lo && ch <= hi { matched = true }
                i += 3
            } else {
                if ch == lo { matched = true }
                i += 1
            }
        }
        return nil
    }
}
