/// Paths as the CLI shows them, the way git does with `core.quotePath=false`: a name
/// holding a control character, `"` or `\` is C-quoted in double quotes (`\t`, `\n`,
/// `\"`, `\\`, other control bytes as 3-digit octal such as `\033`); any other name is
/// shown as it is. C1 controls (U+0080–U+009F, which some terminals obey like ESC) are
/// quoted too, as the octal of their UTF-8 bytes. File names come from repositories we
/// do not trust, so nothing a name holds can drive the terminal.
public enum Quote {
    /// `p` as is, or C-quoted in double quotes when it must be (see the type's doc).
    public static func path(_ p: String) -> String {
        needsQuoting(p) ? "\"" + escaped(p, quotes: true) + "\"" : p
    }

    /// `s` with its control characters (C0, DEL, C1) C-escaped and nothing else changed:
    /// for free text such as error messages, where the quotes and backslashes are ours.
    public static func controls(_ s: String) -> String {
        hasControl(s) ? escaped(s, quotes: false) : s
    }

    static func needsQuoting(_ s: String) -> Bool {
        s.utf8.contains { $0 == 0x22 || $0 == 0x5C } || hasControl(s)
    }

    static func hasControl(_ s: String) -> Bool {
        var prevC2 = false
        for b in s.utf8 {
            if b < 0x20 || b == 0x7F || (prevC2 && b >= 0x80 && b <= 0x9F) { return true }
            prevC2 = b == 0xC2
        }
        return false
    }

    static func escaped(_ s: String, quotes: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 8)
        func octal(_ b: UInt8) {
            out += [0x5C, 0x30 + (b >> 6), 0x30 + ((b >> 3) & 7), 0x30 + (b & 7)]
        }
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 0xC2 && i + 1 < bytes.count && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x9F {
                octal(b); octal(bytes[i + 1]); i += 2; continue
            }
            switch b {
            case 0x07: out += [0x5C, UInt8(ascii: "a")]
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0B: out += [0x5C, UInt8(ascii: "v")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x22 where quotes: out += [0x5C, 0x22]
            case 0x5C where quotes: out += [0x5C, 0x5C]
            default:
                if b < 0x20 || b == 0x7F { octal(b) } else { out.append(b) }
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
