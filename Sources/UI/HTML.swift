import Support

/// Escaping for HTML, attributes, URLs and SVG. Every string that comes from a repository
/// (branch names, messages, params, file names, CSV cells) goes through `HTML.text` or
/// `HTML.attr` before it reaches a page; nothing is ever written raw.
public enum HTML {
    /// `s` as HTML text or attribute value (double- or single-quoted): & < > " ' escaped.
    /// The same escaping is right for SVG text and attributes inside HTML.
    public static func text(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\u{0}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// An attribute value (quote it with double quotes): the same as `text`.
    @inlinable public static func attr(_ s: String) -> String { text(s) }

    /// `s` percent-encoded for one query value or path segment (RFC 3986 unreserved
    /// characters kept, everything else %XX of its UTF-8).
    public static func urlComponent(_ s: String) -> String { Percent.encode(s) }

    /// A link target: `path` with the query pairs encoded (`?a=1&b=2`); pairs with a nil
    /// value are left out. Escape the result with `attr` when writing it into a page.
    public static func url(_ path: String, _ query: [(String, String?)] = []) -> String {
        let parts = query.compactMap { k, v in v.map { urlComponent(k) + "=" + urlComponent($0) } }
        return parts.isEmpty ? path : path + "?" + parts.joined(separator: "&")
    }

    /// Percent-decodes `s` (and `+` as a space when `plusIsSpace`); nil when the result is
    /// not UTF-8 or an escape is malformed.
    public static func percentDecode(_ s: Substring, plusIsSpace: Bool = true) -> String? {
        Percent.decode(s, plusIsSpace: plusIsSpace)
    }
}

/// A page request's query string, decoded: repeated names keep every value, in order.
/// Bounded: at most `maxPairs` pairs are read; a malformed escape is an error naming the
/// parameter.
public struct Query: Sendable {
    public static let maxPairs = 256
    public private(set) var pairs: [(String, String)] = []

    public init(_ raw: String) throws(UIError) {
        for part in raw.split(separator: "&", omittingEmptySubsequences: true) {
            guard pairs.count < Query.maxPairs else { throw UIError(400, "too many query parameters (at most \(Query.maxPairs))") }
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let k = HTML.percentDecode(kv[0]) else { throw UIError(400, "query parameter is not valid percent-encoded UTF-8") }
            guard let v = kv.count > 1 ? HTML.percentDecode(kv[1]) : "" else {
                throw UIError(400, "query parameter '\(k)' is not valid percent-encoded UTF-8")
            }
            pairs.append((k, v))
        }
    }

    public init(pairs: [(String, String)]) { self.pairs = pairs }

    /// The first value of `name` (nil: absent; "" for `?name` or `?name=`).
    public subscript(_ name: String) -> String? { pairs.first { $0.0 == name }?.1 }

    /// Every value of `name`, in order.
    public func all(_ name: String) -> [String] { pairs.filter { $0.0 == name }.map(\.1) }

    /// `name` as a non-negative integer, or `fallback` when absent; a bad value is an error.
    public func int(_ name: String, default fallback: Int, max: Int = Int.max) throws(UIError) -> Int {
        guard let v = self[name], !v.isEmpty else { return fallback }
        guard let n = Int(v), n >= 0 else { throw UIError(400, "'\(name)' takes a non-negative integer, not '\(v)'") }
        return Swift.min(n, max)
    }
}

/// A page that cannot be shown: an HTTP status and one line saying why (shown escaped).
public struct UIError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var message: String
    public init(_ status: Int, _ message: String) { self.status = status; self.message = message }
    public var description: String { message }
}
