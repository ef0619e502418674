// A bounded reader of the protobuf wire format (https://protobuf.dev/programming-guides/encoding/),
// enough to decode ONNX files without a protobuf library. It reads from a byte buffer the
// caller owns, never allocates more than the bytes it has verified are there, and reports
// every malformation as a `ProtobufError` naming the offset.

/// A malformed protobuf message: what was wrong and where (byte offset from the start).
public struct ProtobufError: Error, Equatable, Sendable, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public init(offset: Int, _ reason: String) { self.offset = offset; self.reason = reason }
    public var description: String { "\(reason) at byte \(offset)" }
}

/// One field of a message: its number and its value, by wire type.
public enum ProtobufValue: Equatable, Sendable {
    /// Wire type 0: an integer (int32/int64/uint/bool/enum; zigzag for sint).
    case varint(UInt64)
    /// Wire type 1: 8 bytes (double, fixed64).
    case fixed64(UInt64)
    /// Wire type 2: the bytes of a string, bytes, nested message or packed repeated field,
    /// as a range of the reader's buffer.
    case bytes(Range<Int>)
    /// Wire type 5: 4 bytes (float, fixed32).
    case fixed32(UInt32)
}

/// Reads the fields of one message in `buffer[range]`, in order. Groups (wire types 3 and 4,
/// deprecated and never written by ONNX) are refused.
public struct ProtobufReader {
    public let buffer: UnsafeRawBufferPointer
    public private(set) var offset: Int
    public let end: Int

    public init(_ buffer: UnsafeRawBufferPointer, range: Range<Int>? = nil) {
        self.buffer = buffer
        let r = range ?? 0..<buffer.count
        offset = r.lowerBound
        end = r.upperBound
    }

    /// A reader of the nested message held in `range` (a `.bytes` value of this reader).
    public func nested(_ range: Range<Int>) -> ProtobufReader { ProtobufReader(buffer, range: range) }

    public var atEnd: Bool { offset >= end }

    /// The next field, or nil at the end of the message.
    public mutating func next() throws -> (field: Int, value: ProtobufValue)? {
        guard offset < end else { return nil }
        let at = offset
        let key = try varint()
        let field = key >> 3
        guard field >= 1 && field <= (1 << 29) - 1 else { throw ProtobufError(offset: at, "invalid field number \(field)") }
        switch key & 7 {
        case 0: return (Int(field), .varint(try varint()))
        case 1:
            guard end - offset >= 8 else { throw ProtobufError(offset: offset, "truncated 64-bit field \(field)") }
            let v = buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            offset += 8
            return (Int(field), .fixed64(UInt64(littleEndian: v)))
        case 2:
            let lenAt = offset
            let n = try varint()
            guard n <= UInt64(end - offset) else {
                throw ProtobufError(offset: lenAt, "field \(field) claims \(n) bytes, \(end - offset) remain")
            }
            let r = offset..<(offset + Int(n))
            offset += Int(n)
            return (Int(field), .bytes(r))
        case 5:
            guard end - offset >= 4 else { throw ProtobufError(offset: offset, "truncated 32-bit field \(field)") }
            let v = buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            offset += 4
            return (Int(field), .fixed32(UInt32(littleEndian: v)))
        default:
            throw ProtobufError(offset: at, "unsupported wire type \(key & 7) for field \(field)")
        }
    }

    /// A base-128 varint of at most 10 bytes.
    public mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        let start = offset
        while true {
            guard offset < end else { throw ProtobufError(offset: start, "truncated varint") }
            let b = buffer[offset]
            offset += 1
            if shift == 63 && b > 1 { throw ProtobufError(offset: start, "varint overflows 64 bits") }
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
            if shift > 63 { throw ProtobufError(offset: start, "varint longer than 10 bytes") }
        }
    }

    // MARK: Values

    /// The UTF-8 text of a `.bytes` value (invalid sequences replaced).
    public func string(_ r: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: buffer[r]), as: UTF8.self)
    }

    /// The bytes of a `.bytes` value.
    public func bytes(_ r: Range<Int>) -> [UInt8] { Array(buffer[r]) }

    /// A repeated varint field: packed (`.bytes`) or one element (`.varint`), appended to `out`.
    /// At most `limit` elements in all; a packed run holds at most one element per byte, so
    /// nothing is allocated beyond what the bytes can hold.
    public func appendVarints(_ v: ProtobufValue, to out: inout [Int64], limit: Int, field: String) throws {
        switch v {
        case .varint(let x):
            guard out.count < limit else { throw ProtobufError(offset: offset, "\(field): more than \(limit) values") }
            out.append(Int64(bitPattern: x))
        case .bytes(let r):
            var sub = nested(r)
            out.reserveCapacity(min(limit, out.count + r.count))
            while !sub.atEnd {
                guard out.count < limit else { throw ProtobufError(offset: sub.offset, "\(field): more than \(limit) values") }
                out.append(Int64(bitPattern: try sub.varint()))
            }
        default:
            throw ProtobufError(offset: offset, "\(field): expected integers")
        }
    }

    /// A repeated float field: packed (`.bytes`, 4 bytes each) or one element (`.fixed32`).
    public func appendFloats(_ v: ProtobufValue, to out: inout [Float], limit: Int, field: String) throws {
        try appendFixed(v, to: &out, limit: limit, field: field, kind: "floats") { (bits: UInt32) in Float(bitPattern: bits) }
    }

    /// A repeated double field: packed (`.bytes`, 8 bytes each) or one element (`.fixed64`).
    public func appendDoubles(_ v: ProtobufValue, to out: inout [Double], limit: Int, field: String) throws {
        try appendFixed(v, to: &out, limit: limit, field: field, kind: "doubles") { (bits: UInt64) in Double(bitPattern: bits) }
    }

    /// A repeated fixed-width field of `Bits` (UInt32: wire type 5, UInt64: wire type 1),
    /// packed or one element, each converted by `make`.
    func appendFixed<Bits: FixedWidthInteger & UnsignedInteger, T>(_ v: ProtobufValue, to out: inout [T], limit: Int, field: String,
                                                                  kind: String, _ make: (Bits) -> T) throws {
        let size = MemoryLayout<Bits>.size
        if case .bytes(let r) = v {
            guard r.count % size == 0 else { throw ProtobufError(offset: r.lowerBound, "\(field): \(r.count) bytes is not a whole number of \(kind)") }
            guard out.count + r.count / size <= limit else { throw ProtobufError(offset: r.lowerBound, "\(field): more than \(limit) values") }
            out.reserveCapacity(out.count + r.count / size)
            var i = r.lowerBound
            while i < r.upperBound {
                out.append(make(Bits(littleEndian: buffer.loadUnaligned(fromByteOffset: i, as: Bits.self))))
                i += size
            }
            return
        }
        let one: Bits?
        switch v {
        case .fixed32(let x) where size == 4: one = Bits(truncatingIfNeeded: x)
        case .fixed64(let x) where size == 8: one = Bits(truncatingIfNeeded: x)
        default: one = nil
        }
        guard let one else { throw ProtobufError(offset: offset, "\(field): expected \(kind)") }
        guard out.count < limit else { throw ProtobufError(offset: offset, "\(field): more than \(limit) values") }
        out.append(make(one))
    }
}
