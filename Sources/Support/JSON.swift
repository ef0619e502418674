/// A JSON value with a canonical encoder (sorted keys, no insignificant whitespace) and
/// a strict parser. Foundation-free so every layer can use it.
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case int(Int64)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    public subscript(key: String) -> JSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [String: JSON]? { if case .object(let o) = self { return o }; return nil }
    public var doubleValue: Double? {
        switch self { case .number(let d): return d; case .int(let i): return Double(i); default: return nil }
    }

    /// Canonical text: keys sorted by UTF-8 bytes; `pretty` indents by two spaces.
    public func encoded(pretty: Bool = false) -> String {
        var out = ""
        write(&out, pretty: pretty, indent: 0)
        return out
    }

    private func write(_ out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .number(let d):
            if d.isNaN || d.isInfinite { out += "null" }
            else if d == d.rounded(), abs(d) < 1e15 { out += String(Int64(d)) }
            else { out += "\(d)" }
        case .string(let s): JSON.quote(s, into: &out)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: " ", count: indent + 2) }
                v.write(&out, pretty: pretty, indent: indent + 2)
            }
            if pretty { out += "\n" + String(repeating: " ", count: indent) }
            out += "]"
        case .object(let o):
            if o.isEmpty { out += "{}"; return }
            out += "{"
            let keys = o.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, k) in keys.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: " ", count: indent + 2) }
                JSON.quote(k, into: &out)
                out += pretty ? ": " : ":"
                o[k]!.write(&out, pretty: pretty, indent: indent + 2)
            }
            if pretty { out += "\n" + String(repeating: " ", count: indent) }
            out += "}"
        }
    }

    public static func quote(_ s: String, into out: inout String) {
        out += "\""
        // Runs of bytes that need no escape are copied whole (appending scalar by scalar cost
        // more than the rest of an access-log line); a run stops at an ASCII byte to escape
        // or at the lead byte 0xC2 of a C1 control, so every cut is on a scalar boundary.
        let utf8 = s.utf8
        var run = utf8.startIndex, i = run
        while i != utf8.endIndex {
            let b = utf8[i]
            var v = UInt32(b)
            if b >= 0x20 && b != 0x22 && b != 0x5C && b != 0x7F {
                guard b == 0xC2 else { utf8.formIndex(after: &i); continue }
                let next = utf8.index(after: i)
                guard next != utf8.endIndex, utf8[next] >= 0x80 && utf8[next] <= 0x9F else { utf8.formIndex(after: &i); continue }
                v = UInt32(utf8[next])  // U+0080...U+009F
            }
            if run != i { out += Substring(utf8[run..<i]) }
            switch v {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            default:  // C0, DEL, C1: never raw to a terminal
                let h = String(v, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            }
            utf8.formIndex(after: &i)
            if v >= 0x80 { utf8.formIndex(after: &i) }
            run = i
        }
        if run != utf8.endIndex { out += Substring(utf8[run...]) }
        out += "\""
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    public static func parse(_ text: String) throws -> JSON {
        var p = Parser(bytes: Array(text.utf8))
        p.skip()
        let v = try p.value(depth: 0)
        p.skip()
        if p.i != p.bytes.count { throw ParseError(offset: p.i, reason: "trailing characters") }
        return v
    }

    struct Parser {
        let bytes: [UInt8]
        var i = 0
        let decimals = DecimalTables.shared

        mutating func skip() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        func fail(_ r: String) -> ParseError { ParseError(offset: i, reason: r) }

        mutating func literal(_ s: String, _ v: JSON) throws -> JSON {
            let u = Array(s.utf8)
            guard i + u.count <= bytes.count, Array(bytes[i..<(i + u.count)]) == u else { throw fail("unexpected token") }
            i += u.count
            return v
        }

        mutating func value(depth: Int) throws -> JSON {
            guard depth < 512 else { throw fail("nesting too deep") }
            guard i < bytes.count else { throw fail("unexpected end") }
            switch bytes[i] {
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "["):
                i += 1; skip()
                var a: [JSON] = []
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                while true {
                    skip(); a.append(try value(depth: depth + 1)); skip()
                    guard i < bytes.count else { throw fail("unterminated array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                    throw fail("expected , or ]")
                }
            case UInt8(ascii: "{"):
                i += 1; skip()
                var o: [String: JSON] = [:]
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                while true {
                    skip()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    let k = try string(); skip()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected :") }
                    i += 1; skip()
                    o[k] = try value(depth: depth + 1); skip()
                    guard i < bytes.count else { throw fail("unterminated object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                    throw fail("expected , or }")
                }
            default: return try number()
            }
        }

        /// A JSON number (RFC 8259 grammar, checked here). Integers that fit an Int64 become
        /// `.int`; the rest is converted by `DecimalParser`: correctly rounded, as
        /// `Double(String)` gives (±infinity past the Double range).
        mutating func number() throws -> JSON {
            // One pass checks JSON's number grammar and gathers up to 19 significant digits;
            // DecimalParser converts them (correctly rounded), and takes the whole text where
            // digits were dropped.
            let start = i
            let n = bytes.count
            var negative = false
            if i < n, bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            var mantissa: UInt64 = 0
            var digits = 0          // significant digits taken into `mantissa`
            var dropped = false     // a nonzero digit did not fit
            var exp10 = 0
            let intStart = i
            while i < n, bytes[i] >= 48, bytes[i] <= 57 {
                let d = UInt64(bytes[i] - 48)
                if digits < 19 { if mantissa != 0 || d != 0 { mantissa = mantissa * 10 + d; digits += 1 } }
                else { exp10 += 1; if d != 0 { dropped = true } }
                i += 1
            }
            let intDigits = i - intStart
            guard intDigits > 0 else { throw fail(i == start ? "unexpected character" : "bad number") }
            if intDigits > 1 && bytes[intStart] == 48 { throw fail("bad number (leading zero)") }
            var isInt = true
            if i < n, bytes[i] == UInt8(ascii: ".") {
                isInt = false
                i += 1
                let fracStart = i
                while i < n, bytes[i] >= 48, bytes[i] <= 57 {
                    let d = UInt64(bytes[i] - 48)
                    if digits < 19 {
                        if mantissa != 0 || d != 0 { mantissa = mantissa * 10 + d; digits += 1 }
                        exp10 -= 1
                    } else if d != 0 { dropped = true }
                    i += 1
                }
                guard i > fracStart else { throw fail("bad number (no digits after '.')") }
            }
            if i < n, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                isInt = false
                i += 1
                var expNegative = false
                if i < n, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { expNegative = bytes[i] == UInt8(ascii: "-"); i += 1 }
                let expStart = i
                var e = 0
                while i < n, bytes[i] >= 48, bytes[i] <= 57 { if e < 100_000 { e = e * 10 + Int(bytes[i] - 48) }; i += 1 }
                guard i > expStart else { throw fail("bad number (no digits in the exponent)") }
                exp10 += expNegative ? -e : e
            }
            if !dropped {
                if isInt && digits <= 18 { return .int(negative ? -Int64(mantissa) : Int64(mantissa)) }
                if mantissa == 0 { return isInt ? .int(0) : .number(negative ? -0.0 : 0.0) }
                if !isInt, let v = DecimalParser.exactDouble(mantissa, exp10, decimals) { return .number(negative ? -v : v) }
            }
            let end = i, t = decimals
            let value: JSON? = bytes.withUnsafeBufferPointer { b in
                guard let base = b.baseAddress else { return nil }
                if isInt, let v = DecimalParser.int64(base + start, end - start, t) { return .int(v) }
                return DecimalParser.double(base + start, end - start, t).map { .number($0) }
            }
            guard let value else { throw fail("bad number '\(String(decoding: bytes[start..<end], as: UTF8.self))'") }
            return value
        }

        mutating func string() throws -> String {
            i += 1
            var out = [UInt8]()
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let c = bytes[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c < 0x20 { throw fail("control character in string") }
                if c == UInt8(ascii: "\\") {
                    i += 1
                    guard i < bytes.count else { throw fail("bad escape") }
                    let e = bytes[i]; i += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(8)
                    case UInt8(ascii: "f"): out.append(12)
                    case UInt8(ascii: "n"): out.append(10)
                    case UInt8(ascii: "r"): out.append(13)
                    case UInt8(ascii: "t"): out.append(9)
                    case UInt8(ascii: "u"):
                        var cp = try hex4()
                        if cp >= 0xD800 && cp < 0xDC00 {
                            guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else { throw fail("lone surrogate") }
                            i += 2
                            let lo = try hex4()
                            guard lo >= 0xDC00 && lo < 0xE000 else { throw fail("high surrogate not followed by a low surrogate") }
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                        }
                        if cp >= 0xDC00 && cp < 0xE000 { throw fail("lone low surrogate") }
                        guard let sc = Unicode.Scalar(cp) else { throw fail("bad code point") }
                        out.append(contentsOf: Array(String(Character(sc)).utf8))
                    default: throw fail("bad escape")
                    }
                } else { out.append(c); i += 1 }
            }
            return String(decoding: out, as: UTF8.self)
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count else { throw fail("bad \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let h = Hex.value(bytes[i]) else { throw fail("bad \\u escape") }
                v = v << 4 | UInt32(h); i += 1
            }
            return v
        }
    }
}
