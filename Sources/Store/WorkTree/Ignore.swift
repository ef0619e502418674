import Support

/// gitignore-style rules from `.mlrepoignore` files: globs with `*`, `?`, `[...]`, `**`,
/// `!` to re-include, a leading or inner `/` anchoring to the file's folder, a trailing `/`
/// matching folders only. The last matching rule wins; `.mlrepo` is always ignored.
/// Ignore files arrive with clones, so a line longer than `maxPatternBytes` is refused and
/// matching takes time linear in name × pattern (see `Glob`).
public struct IgnoreRules: Sendable {
    struct Rule: Sendable {
        let base: String          // folder of the .mlrepoignore, "" for the root
        let glob: Glob
        let negate: Bool
        let dirOnly: Bool
        let anchored: Bool
    }

    /// The longest pattern line accepted (git has no limit; ours keeps matching cheap).
    public static let maxPatternBytes = 4096

    var rules: [Rule] = []
    public init() {}

    /// Adds the rules of an ignore file that sits in folder `base` (repo-relative).
    /// Throws (naming the file and line) for a line longer than `maxPatternBytes`.
    public mutating func add(text: String, base: String) throws {
        var lineNo = 0
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNo += 1
            if raw.utf8.count > IgnoreRules.maxPatternBytes {
                let file = base.isEmpty ? ".mlrepoignore" : base + "/.mlrepoignore"
                throw StoreError.invalid("\(file) line \(lineNo): pattern is \(raw.utf8.count) bytes long; ignore patterns are limited to \(IgnoreRules.maxPatternBytes) bytes")
            }
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
            rules.append(Rule(base: base, glob: Glob(Array(line.utf8)), negate: negate, dirOnly: dirOnly, anchored: anchored))
        }
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// Whether repo-relative `path` is ignored (checking only the rules, not its parents).
    public func isIgnored(_ path: String, isDirectory: Bool) -> Bool {
        let bytes = Array(path.utf8)
        let slash = UInt8(ascii: "/")
        let nameStart = (bytes.lastIndex(of: slash) ?? -1) + 1
        var result = false
        // Last match wins: scan from the end and stop at the first rule that matches.
        for r in rules.reversed() {
            if r.dirOnly && !isDirectory { continue }
            var start = 0
            if !r.base.isEmpty {
                let b = r.base.utf8
                guard bytes.count > b.count, bytes[b.count] == slash, bytes.starts(with: b) else { continue }
                start = b.count + 1
            }
            let target = bytes[(r.anchored ? start : max(start, nameStart))...]
            if r.glob.matches(target) { result = !r.negate; break }
        }
        return result
    }
}

/// A compiled glob, matched the way git's wildmatch matches paths (WM_PATHNAME): `*`, `?`
/// and `[...]` never match `/`; `**` spans folders only as a whole component (`**/x`,
/// `a/**/b`, `a/**`, `**`) or right after the literal prefix, elsewhere it is a `*`. A `\` escapes the next byte; an
/// unterminated `[` is a literal. Matching simulates the pattern as an NFA over the name,
/// one pass, so it takes O(name × pattern) time and no recursion, whatever the pattern.
public struct Glob: Sendable {
    enum Token: Sendable, Equatable {
        case byte(UInt8)
        case any                 // ?
        case set(Int)            // index into `sets`
        case star                // [^/]*
        case dirs                // (.*/)?  — "**/" at a component start: may match nothing,
        case dirsLoop            //           then any bytes, left only right after a '/'
        case rest                // .*      — a trailing or lone "**"
    }
    let tokens: [Token]
    let sets: [[UInt64]]         // 256-bit membership tables
    /// The pattern is plain bytes (no wildcard): compare directly.
    let literal: [UInt8]?

    public init(_ p: [UInt8]) {
        var toks: [Token] = []
        var sets: [[UInt64]] = []
        let slash = UInt8(ascii: "/"), star = UInt8(ascii: "*"), bs = UInt8(ascii: "\\")
        let firstSpecial = p.firstIndex { $0 == star || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") || $0 == bs } ?? p.count
        var i = 0
        while i < p.count {
            let c = p[i]
            if c == star {
                var j = i
                while j < p.count && p[j] == star { j += 1 }
                // git matches an anchored pattern's literal prefix (up to the first of
                // `*?[\`) separately, so a `**` right after it counts as a component start
                // (`a**/b` matches `a/b` and `ax/y/b`); we follow git.
                let atStart = i == 0 || p[i - 1] == slash || i == firstSpecial
                if j - i >= 2 && atStart {
                    if j == p.count { toks.append(.rest); i = j; continue }
                    if p[j] == slash { toks += [.dirs, .dirsLoop]; i = j + 1; continue }
                    if p[j] == bs && j + 1 < p.count && p[j + 1] == slash { toks += [.dirs, .dirsLoop]; i = j + 2; continue }
                }
                if toks.last != .star { toks.append(.star) }
                i = j
            } else if c == UInt8(ascii: "?") {
                toks.append(.any); i += 1
            } else if c == UInt8(ascii: "[") {
                if let (table, end) = Glob.parseClass(p, i) {
                    sets.append(table); toks.append(.set(sets.count - 1)); i = end
                } else { toks.append(.byte(c)); i += 1 }
            } else if c == bs && i + 1 < p.count {
                toks.append(.byte(p[i + 1])); i += 2
            } else {
                toks.append(.byte(c)); i += 1
            }
        }
        tokens = toks
        self.sets = sets
        var lit: [UInt8] = []
        for t in toks { if case .byte(let b) = t { lit.append(b) } else { lit = []; break } }
        literal = lit.count == toks.count ? lit : nil
    }

    public static func match(_ p: [UInt8], _ s: [UInt8]) -> Bool { Glob(p).matches(s[...]) }

    /// Whether the whole of `s` matches.
    public func matches(_ s: ArraySlice<UInt8>) -> Bool {
        if let literal { return s.elementsEqual(literal) }
        // Patterns of up to 63 tokens keep their states in one word, allocation-free.
        return tokens.count < 64 ? run(s, SmallStates()) : run(s, LargeStates(tokens.count + 1))
    }

    /// `matches`, always with the general state set (for tests of long patterns' path).
    func matchesLarge(_ s: ArraySlice<UInt8>) -> Bool { run(s, LargeStates(tokens.count + 1)) }

    /// Simulates the NFA: state k means "before token k" (k == count: matched so far).
    private func run<S: GlobStates>(_ s: ArraySlice<UInt8>, _ empty: S) -> Bool {
        let m = tokens.count
        let slash = UInt8(ascii: "/")
        var cur = empty, next = empty
        cur.insert(0)
        close(&cur)
        for c in s {
            var live = false
            for k in 0..<m where cur.contains(k) {
                switch tokens[k] {
                case .byte(let b): if c == b { next.insert(k + 1); live = true }
                case .any: if c != slash { next.insert(k + 1); live = true }
                case .set(let t): if c != slash && sets[t][Int(c >> 6)] >> UInt64(c & 63) & 1 == 1 { next.insert(k + 1); live = true }
                case .star: if c != slash { next.insert(k); live = true }
                case .dirs, .dirsLoop:
                    let loop = tokens[k] == .dirs ? k + 1 : k
                    next.insert(loop); live = true
                    if c == slash { next.insert(loop + 1) }
                case .rest: next.insert(k); live = true
                }
            }
            if !live { return false }
            close(&next)
            swap(&cur, &next)
            next.removeAll()
        }
        return cur.contains(m)
    }

    /// Adds the states reachable without reading a byte (`*`, `**/` and `**` may match nothing).
    private func close<S: GlobStates>(_ st: inout S) {
        for k in 0..<tokens.count where st.contains(k) {
            switch tokens[k] {
            case .star, .rest: st.insert(k + 1)
            case .dirs: st.insert(k + 2)
            default: break
            }
        }
    }

    /// Parses a `[...]` class at p[pi] into a 256-bit table; nil if unterminated.
    /// `!` or `^` negates; `]` first is literal; `a-z` ranges; `\` escapes; `[:alpha:]` etc.
    static func parseClass(_ p: [UInt8], _ pi: Int) -> ([UInt64], Int)? {
        var table = [UInt64](repeating: 0, count: 4)
        func set(_ b: UInt8) { table[Int(b >> 6)] |= 1 << UInt64(b & 63) }
        var i = pi + 1
        var negate = false
        if i < p.count && (p[i] == UInt8(ascii: "!") || p[i] == UInt8(ascii: "^")) { negate = true; i += 1 }
        var first = true
        while i < p.count {
            if p[i] == UInt8(ascii: "]") && !first {
                if negate { for w in 0..<4 { table[w] = ~table[w] } }
                return (table, i + 1)
            }
            first = false
            if p[i] == UInt8(ascii: "[") && i + 1 < p.count && p[i + 1] == UInt8(ascii: ":"),
               let (name, end) = className(p, i + 2) {
                for b in 0...255 where posixClass(name, UInt8(b)) { set(UInt8(b)) }
                i = end
                continue
            }
            var lo = p[i]
            if lo == UInt8(ascii: "\\") && i + 1 < p.count { i += 1; lo = p[i] }
            if i + 2 < p.count && p[i + 1] == UInt8(ascii: "-") && p[i + 2] != UInt8(ascii: "]") {
                var hiAt = i + 2
                if p[hiAt] == UInt8(ascii: "\\") && hiAt + 1 < p.count { hiAt += 1 }
                let hi = p[hiAt]
                if lo <= hi { for b in lo...hi { set(b) } }
                i = hiAt + 1
            } else {
                set(lo)
                i += 1
            }
        }
        return nil
    }

    /// `[:name:]` starting after "[:" at `i`: the name and the index after ":]".
    private static func className(_ p: [UInt8], _ i: Int) -> (String, Int)? {
        var j = i
        while j + 1 < p.count {
            if p[j] == UInt8(ascii: ":") && p[j + 1] == UInt8(ascii: "]") {
                let name = String(decoding: p[i..<j], as: UTF8.self)
                return ["alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper", "xdigit"].contains(name) ? (name, j + 2) : nil
            }
            if !(p[j] >= UInt8(ascii: "a") && p[j] <= UInt8(ascii: "z")) { return nil }
            j += 1
        }
        return nil
    }

    private static func posixClass(_ name: String, _ b: UInt8) -> Bool {
        let upper = b >= 65 && b <= 90, lower = b >= 97 && b <= 122, digit = b >= 48 && b <= 57
        switch name {
        case "alnum": return upper || lower || digit
        case "alpha": return upper || lower
        case "blank": return b == 32 || b == 9
        case "cntrl": return b < 32 || b == 127
        case "digit": return digit
        case "graph": return b > 32 && b < 127
        case "lower": return lower
        case "print": return b >= 32 && b < 127
        case "punct": return b > 32 && b < 127 && !(upper || lower || digit)
        case "space": return b == 32 || (b >= 9 && b <= 13)
        case "upper": return upper
        case "xdigit": return digit || (b >= 65 && b <= 70) || (b >= 97 && b <= 102)
        default: return false
        }
    }
}

/// A set of NFA states (small integers).
protocol GlobStates {
    func contains(_ k: Int) -> Bool
    mutating func insert(_ k: Int)
    mutating func removeAll()
}

/// Up to 64 states in one word.
struct SmallStates: GlobStates {
    var bits: UInt64 = 0
    func contains(_ k: Int) -> Bool { bits >> UInt64(k) & 1 == 1 }
    mutating func insert(_ k: Int) { bits |= 1 << UInt64(k) }
    mutating func removeAll() { bits = 0 }
}

/// Any number of states, as a bitmap.
struct LargeStates: GlobStates {
    var words: [UInt64]
    init(_ count: Int) { words = [UInt64](repeating: 0, count: (count + 63) / 64) }
    func contains(_ k: Int) -> Bool { words[k >> 6] >> UInt64(k & 63) & 1 == 1 }
    mutating func insert(_ k: Int) { words[k >> 6] |= 1 << UInt64(k & 63) }
    mutating func removeAll() { for i in words.indices { words[i] = 0 } }
}
