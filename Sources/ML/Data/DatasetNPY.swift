// NumPy .npy arrays for `DatasetReader.readNPY`.
//
// Format (numpy.lib.format): the magic `\x93NUMPY`, a major and minor version byte, the header
// length (uint16 little-endian for 1.0, uint32 for 2.0 and 3.0), then the header: a Python dict
// literal `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and a
// newline; then the data, C order.

enum DatasetNPYReader {
    /// A Python literal as it appears in .npy headers.
    indirect enum Literal {
        case string(String)
        case bool(Bool)
        case int(Int)
        case none
        case tuple([Literal])
        case list([Literal])
        case dict([(String, Literal)])
    }

    struct DType {
        enum Kind { case bool, int, uint, float }
        let kind: Kind
        let size: Int
        let bigEndian: Bool
    }

    static func read(path: String) throws -> (values: [Float], rows: Int, cols: Int) {
        let file = try datasetMap(path)
        return try withExtendedLifetime(file) { () throws -> (values: [Float], rows: Int, cols: Int) in
            let b = file.bytes
            let n = b.count
            func fail(_ reason: String) -> DatasetError { DatasetError(path: path, reason) }
            guard n > 0, let base = b.baseAddress else { throw fail("is empty") }
            let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]   // \x93NUMPY
            for k in 0..<min(6, n) where b[k] != magic[k] { throw fail("is not a .npy file (bad magic)") }
            guard n >= 8 else { throw fail("is truncated (in the header)") }
            let major = b[6], minor = b[7]
            guard (1...3).contains(major) && minor == 0 else {
                throw fail("uses .npy format version \(major).\(minor), which is not supported (1.0, 2.0 and 3.0 are)")
            }
            let lengthBytes = major == 1 ? 2 : 4
            guard n >= 8 + lengthBytes else { throw fail("is truncated (in the header)") }
            var headerLength = 0
            for k in 0..<lengthBytes { headerLength |= Int(b[8 + k]) << (8 * k) }
            let headerStart = 8 + lengthBytes
            let dataStart = headerStart + headerLength
            guard dataStart <= n else { throw fail("is truncated (in the header)") }

            let (dtype, fortran, shape) = try header(Array(b[headerStart..<dataStart]), path: path)
            if fortran {
                throw fail("is in Fortran order, which is not supported (save a C-order array, e.g. numpy.ascontiguousarray)")
            }
            guard shape.count == 1 || shape.count == 2 else {
                let dims = "(" + shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? ",)" : ")")
                throw fail("has \(shape.count) dimensions (shape \(dims)); only 1-D and 2-D arrays are supported")
            }
            let rows = shape[0], cols = shape.count == 2 ? shape[1] : 1
            let (count, o1) = rows.multipliedReportingOverflow(by: cols)
            let (bytes, o2) = count.multipliedReportingOverflow(by: dtype.size)
            guard !o1 && !o2 && bytes <= n - dataStart else {
                throw fail("is truncated: the header promises \(o1 || o2 ? "more than \(Int.max)" : String(bytes)) bytes of data, the file holds \(n - dataStart)")
            }
            var bad: (index: Int, text: String, range: Bool)? = nil
            let values = [Float](unsafeUninitializedCapacity: count) { out, initialized in
                guard let dst = out.baseAddress else { initialized = 0; return }
                bad = convert(UnsafeRawPointer(base) + dataStart, dtype, count, into: dst)
                initialized = count
            }
            if let bad {
                let at = shape.count == 2 ? "[\(bad.index / max(cols, 1)), \(bad.index % max(cols, 1))]" : "[\(bad.index)]"
                throw fail(bad.range ? "has a value out of float32 range at \(at) (\(bad.text))"
                                     : "has a non-finite value at \(at) (\(bad.text))")
            }
            return (values, rows, cols)
        }
    }

    /// Converts `count` elements; returns the first value that is not finite as a float32.
    private static func convert(_ src: UnsafeRawPointer, _ t: DType, _ count: Int,
                                into out: UnsafeMutablePointer<Float>) -> (index: Int, text: String, range: Bool)? {
        switch (t.kind, t.size) {
        case (.bool, _):
            for k in 0..<count { out[k] = src.load(fromByteOffset: k, as: UInt8.self) != 0 ? 1 : 0 }
        case (.int, 1): ints(Int8.self, src, count, t.bigEndian, out)
        case (.int, 2): ints(Int16.self, src, count, t.bigEndian, out)
        case (.int, 4): ints(Int32.self, src, count, t.bigEndian, out)
        case (.int, 8): ints(Int64.self, src, count, t.bigEndian, out)
        case (.uint, 1): ints(UInt8.self, src, count, t.bigEndian, out)
        case (.uint, 2): ints(UInt16.self, src, count, t.bigEndian, out)
        case (.uint, 4): ints(UInt32.self, src, count, t.bigEndian, out)
        case (.uint, 8): ints(UInt64.self, src, count, t.bigEndian, out)
        case (.float, 2):
            for k in 0..<count {
                let raw = src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)
                let v = halfToFloat(t.bigEndian ? UInt16(bigEndian: raw) : UInt16(littleEndian: raw))
                if !v.isFinite { return (k, "\(v)", false) }
                out[k] = v
            }
        case (.float, 4):
            for k in 0..<count {
                let raw = src.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)
                let v = Float(bitPattern: t.bigEndian ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw))
                if !v.isFinite { return (k, "\(v)", false) }
                out[k] = v
            }
        default:    // float64
            for k in 0..<count {
                let raw = src.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self)
                let d = Double(bitPattern: t.bigEndian ? UInt64(bigEndian: raw) : UInt64(littleEndian: raw))
                let v = Float(d)
                if !v.isFinite { return (k, "\(d)", d.isFinite) }
                out[k] = v
            }
        }
        return nil
    }

    @inline(__always)
    private static func ints<T: FixedWidthInteger>(_: T.Type, _ src: UnsafeRawPointer, _ count: Int, _ big: Bool,
                                                   _ out: UnsafeMutablePointer<Float>) {
        let size = MemoryLayout<T>.size
        if big {
            for k in 0..<count { out[k] = Float(T(bigEndian: src.loadUnaligned(fromByteOffset: size * k, as: T.self))) }
        } else {
            for k in 0..<count { out[k] = Float(T(littleEndian: src.loadUnaligned(fromByteOffset: size * k, as: T.self))) }
        }
    }

    /// IEEE 754 binary16 to binary32 (exact).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign: Float = h & 0x8000 != 0 ? -1 : 1
        let exponent = Int((h >> 10) & 0x1F), mantissa = Int(h & 0x3FF)
        if exponent == 0 { return sign * Float(mantissa) * 0x1p-24 }
        if exponent == 31 { return mantissa == 0 ? sign * .infinity : .nan }
        return sign * Float(sign: .plus, exponent: exponent - 15, significand: 1 + Float(mantissa) / 1024)
    }

    // MARK: Header

    static func header(_ text: [UInt8], path: String) throws -> (DType, Bool, [Int]) {
        func fail(_ reason: String) -> DatasetError { DatasetError(path: path, reason) }
        var parser = LiteralParser(text: text)
        let literal: Literal
        do {
            literal = try parser.parse()
        } catch let e as LiteralParser.Failure {
            throw fail("has a malformed header (\(e.reason))")
        }
        guard case .dict(let entries) = literal else { throw fail("has a malformed header (not a dict)") }
        func value(_ key: String) throws -> Literal {
            guard let v = entries.first(where: { $0.0 == key })?.1 else { throw fail("has a malformed header (no '\(key)')") }
            return v
        }
        let descr: String
        switch try value("descr") {
        case .string(let s): descr = s
        case .list: throw fail("has a structured dtype, which is not supported")
        default: throw fail("has a malformed header ('descr' is not a string)")
        }
        guard case .bool(let fortran) = try value("fortran_order") else {
            throw fail("has a malformed header ('fortran_order' is not True or False)")
        }
        guard case .tuple(let dims) = try value("shape") else { throw fail("has a malformed header ('shape' is not a tuple)") }
        var shape: [Int] = []
        for d in dims {
            guard case .int(let k) = d, k >= 0 else { throw fail("has a malformed header ('shape' holds a non-size)") }
            shape.append(k)
        }
        guard let dtype = parseDType(descr) else {
            throw fail("has dtype '\(descr)', which is not supported (bool, int8-64, uint8-64 and float16/32/64 are)")
        }
        return (dtype, fortran, shape)
    }

    /// `<f4`, `|u1`, `>i8`, `=f8`, …
    static func parseDType(_ s: String) -> DType? {
        var chars = Array(s.utf8)
        var big = false
        if let first = chars.first, first == 0x3C || first == 0x3E || first == 0x7C || first == 0x3D {   // < > | =
            big = first == 0x3E
            chars.removeFirst()
        }
        guard chars.count >= 2, let size = Int(String(decoding: chars[1...], as: UTF8.self)) else { return nil }
        let kind: DType.Kind
        switch (chars[0], size) {
        case (0x62, 1): kind = .bool                                  // b1
        case (0x69, 1), (0x69, 2), (0x69, 4), (0x69, 8): kind = .int  // i
        case (0x75, 1), (0x75, 2), (0x75, 4), (0x75, 8): kind = .uint // u
        case (0x66, 2), (0x66, 4), (0x66, 8): kind = .float           // f
        default: return nil
        }
        return DType(kind: kind, size: size, bigEndian: big)
    }

    /// Recursive descent over the Python literal subset that numpy writes.
    struct LiteralParser {
        struct Failure: Error { let reason: String }
        let text: [UInt8]
        var i = 0

        init(text: [UInt8]) { self.text = text }

        mutating func parse() throws -> Literal {
            let v = try value(depth: 0)
            skipSpace()
            guard i == text.count else { throw Failure(reason: "unexpected text after the dict") }
            return v
        }

        private mutating func skipSpace() {
            while i < text.count && (text[i] == 0x20 || text[i] == 0x0A || text[i] == 0x0D || text[i] == 0x09) { i += 1 }
        }

        private mutating func expect(_ c: UInt8) throws {
            skipSpace()
            guard i < text.count && text[i] == c else { throw Failure(reason: "expected '\(Character(Unicode.Scalar(c)))'") }
            i += 1
        }

        /// Items up to `close`, separated by commas, a trailing comma allowed.
        private mutating func items(_ close: UInt8, _ item: (inout LiteralParser) throws -> Void) throws -> Bool {
            var sawComma = false
            while true {
                skipSpace()
                guard i < text.count else { throw Failure(reason: "unterminated bracket") }
                if text[i] == close { i += 1; return sawComma }
                try item(&self)
                skipSpace()
                guard i < text.count else { throw Failure(reason: "unterminated bracket") }
                if text[i] == 0x2C { i += 1; sawComma = true; continue }
                guard text[i] == close else { throw Failure(reason: "expected ',' or '\(Character(Unicode.Scalar(close)))'") }
                i += 1
                return sawComma
            }
        }

        private mutating func value(depth: Int) throws -> Literal {
            guard depth < 32 else { throw Failure(reason: "nested too deeply") }
            skipSpace()
            guard i < text.count else { throw Failure(reason: "unexpected end") }
            let c = text[i]
            switch c {
            case 0x7B:  // {
                i += 1
                var entries: [(String, Literal)] = []
                _ = try items(0x7D) { p in
                    guard case .string(let key) = try p.value(depth: depth + 1) else { throw Failure(reason: "a key is not a string") }
                    try p.expect(0x3A)
                    entries.append((key, try p.value(depth: depth + 1)))
                }
                return .dict(entries)
            case 0x28:  // (
                i += 1
                var elements: [Literal] = []
                let comma = try items(0x29) { p in elements.append(try p.value(depth: depth + 1)) }
                // `(3)` is just 3 in Python; numpy always writes `(3,)`.
                if elements.count == 1 && !comma { return elements[0] }
                return .tuple(elements)
            case 0x5B:  // [
                i += 1
                var elements: [Literal] = []
                _ = try items(0x5D) { p in elements.append(try p.value(depth: depth + 1)) }
                return .list(elements)
            case 0x27, 0x22:  // ' "
                i += 1
                var s: [UInt8] = []
                while i < text.count && text[i] != c {
                    if text[i] == 0x5C && i + 1 < text.count { i += 1 }
                    s.append(text[i])
                    i += 1
                }
                guard i < text.count else { throw Failure(reason: "unterminated string") }
                i += 1
                return .string(String(decoding: s, as: UTF8.self))
            default:
                let start = i
                while i < text.count, case let d = text[i],
                      d == 0x2D || d == 0x2B || d == 0x5F || (d | 0x20 >= 0x61 && d | 0x20 <= 0x7A) || (d >= 0x30 && d <= 0x39) {
                    i += 1
                }
                let word = String(decoding: text[start..<i], as: UTF8.self)
                switch word {
                case "True": return .bool(true)
                case "False": return .bool(false)
                case "None": return .none
                default:
                    let digits = word.hasSuffix("L") ? String(word.dropLast()) : word   // Python 2 longs
                    guard let k = Int(digits) else {
                        throw Failure(reason: word.isEmpty ? "unexpected '\(Character(Unicode.Scalar(c)))'" : "unexpected '\(word)'")
                    }
                    return .int(k)
                }
            }
        }
    }
}
