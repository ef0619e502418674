import Support

/// An INI-style config file (`[section]` then `key = value`), as git writes it. Keys are
/// addressed as `section.key`. Unknown keys are kept.
public struct Config: Sendable {
    public private(set) var values: [(key: String, value: String)] = []

    public init() {}

    public init(text: String) {
        var section = ""
        for raw in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
            let line = raw.trimmingSpaceSub()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmingSpace().lowercased()
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let k = line[..<eq].trimmingSpaceSub().lowercased()
            var v = line[line.index(after: eq)...].trimmingSpaceSub()
            if v.count >= 2 && v.hasPrefix("\"") && v.hasSuffix("\"") { v = String(v.dropFirst().dropLast()) }
            values.append((section + "." + k, v))
        }
    }

    public static func load(_ path: String) -> Config {
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
            for (k, v) in sections[s]! { out += "\t\(k) = \(v)\n" }
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

extension Substring {
    func trimmingSpaceSub() -> String { String(self).trimmingSpace() }
}
