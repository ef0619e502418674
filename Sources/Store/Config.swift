import Support

/// An INI-style config file (`[section]` then `key = value`), as git writes it. Keys are
/// addressed as `section.key`. Unknown keys are kept. A line that does not parse is an
/// error naming the file and the line (`load`); `loadLenient` skips such lines and lists
/// them in `problems` (to repair the file, or to read git's own ~/.gitconfig).
public struct Config: Sendable {
    public private(set) var values: [(key: String, value: String)] = []
    /// The lines that did not parse: 1-based line number and why.
    public private(set) var problems: [(line: Int, reason: String)] = []

    public init() {}

    /// Parses `text`. Accepted lines: blank; comments (`#`, `;`); `[section]`,
    /// `[section.sub]` or git's `[section "sub"]`; `key = value` (the value may be in
    /// double quotes); a lone `key` (git's way of writing `key = true`). Names are letters,
    /// digits, `.`, `-` and `_`; a key needs a section above it.
    public init(text: String) {
        var section = ""
        for (n, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).enumerated() {
            let line = raw.trimmed()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), let s = Config.sectionName(line.dropFirst().dropLast()) else {
                    problems.append((n + 1, "not a section header (use [section] or [section \"sub\"])"))
                    continue
                }
                section = s
                continue
            }
            let k: String
            var v: String
            if let eq = line.firstIndex(of: "=") {
                k = line[..<eq].trimmed().lowercased()
                v = line[line.index(after: eq)...].trimmed()
                if v.count >= 2 && v.hasPrefix("\"") && v.hasSuffix("\"") { v = String(v.dropFirst().dropLast()) }
            } else {
                k = line.lowercased()
                v = "true"
            }
            guard Config.isName(k) else {
                problems.append((n + 1, "not 'key = value' (a key is letters, digits, '.', '-' and '_')"))
                continue
            }
            guard !section.isEmpty else {
                problems.append((n + 1, "the key '\(k)' is not in a [section]"))
                continue
            }
            values.append((section + "." + k, v))
        }
    }

    /// Letters, digits, `.`, `-`, `_`; not empty.
    static func isName<S: StringProtocol>(_ s: S) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2D || $0 == 0x5F }
    }

    /// `section`, `section.sub` or `section "sub"` (inside the brackets) as "section" or
    /// "section.sub", lowercased; nil when it is none of those.
    static func sectionName(_ inner: Substring) -> String? {
        let t = inner.trimmed()
        if let q = t.firstIndex(of: "\"") {
            let name = t[..<q].trimmed()
            let sub = t[t.index(after: q)...]
            guard isName(name), sub.hasSuffix("\""), sub.count >= 2 else { return nil }
            let s = sub.dropLast()
            guard isName(s) else { return nil }
            return (name + "." + s).lowercased()
        }
        return isName(t) ? t.lowercased() : nil
    }

    /// A key `set` can write so that it reads back: `section.name`, each part a name.
    public static func isValidKey(_ key: String) -> Bool {
        guard let dot = key.firstIndex(of: "."), isName(key[..<dot]) else { return false }
        let rest = key[key.index(after: dot)...]
        return isName(rest) && !rest.hasPrefix(".") && !rest.hasSuffix(".")
    }

    /// A value `set` can write so that it reads back the same (no line breaks or NULs, no
    /// spaces around it, not wrapped in quotes).
    public static func isValidValue(_ value: String) -> Bool {
        !value.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\0" }) && value.trimmed() == value
            && !(value.count >= 2 && value.hasPrefix("\"") && value.hasSuffix("\""))
    }

    /// The config at `path` (empty when there is no file). Throws "PATH:LINE: why" for the
    /// first line that does not parse.
    public static func load(_ path: String) throws -> Config {
        let c = loadLenient(path)
        if let p = c.problems.first { throw StoreError.invalid("\(path):\(p.line): \(p.reason)") }
        return c
    }

    /// The config at `path` with the lines that do not parse skipped (see `problems`).
    public static func loadLenient(_ path: String) -> Config {
        guard let t = try? FS.readText(path) else { return Config() }
        return Config(text: t)
    }

    public subscript(key: String) -> String? {
        values.last(where: { $0.key == key.lowercased() })?.value
    }

    public mutating func set(_ key: String, _ value: String?) {
        let k = key.lowercased()
        values.removeAll { $0.key == k }
        if let value { values.append((k, value)) }
    }

    public var text: String {
        var sections: [String: [(String, String)]] = [:]
        var order: [String] = []
        for (k, v) in values {
            let parts = k.split(separator: ".", maxSplits: 1)
            let s = parts.count == 2 ? String(parts[0]) : ""
            let key = parts.count == 2 ? String(parts[1]) : k
            if sections[s] == nil { order.append(s) }
            sections[s, default: []].append((key, v))
        }
        var out = ""
        for s in order {
            out += "[\(s)]\n"
            for (k, v) in sections[s] ?? [] { out += "\t\(k) = \(v)\n" }
        }
        return out
    }

    public func write(_ path: String) throws {
        try sys { try FS.atomicWrite(path, text: text) }
    }

    public func bool(_ key: String) -> Bool? {
        guard let v = self[key]?.lowercased() else { return nil }
        switch v {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: return nil
        }
    }
}

