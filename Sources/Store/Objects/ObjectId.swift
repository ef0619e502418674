import Support

/// A SHA-256 object id. Stored as four big-endian words so that comparison is fast and
/// matches the byte order of the hex form.
public struct ObjectId: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    public static let byteCount = 32
    public static let zero = ObjectId(w0: 0, w1: 0, w2: 0, w3: 0)

    public init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0; self.w1 = w1; self.w2 = w2; self.w3 = w3
    }

    /// From 32 raw bytes at `buffer[offset...]`.
    @inline(__always)
    public init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        w0 = UInt64(bigEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        // loadUnaligned checks the range; &+ cannot overflow for an offset inside a buffer.
        w1 = UInt64(bigEndian: buffer.loadUnaligned(fromByteOffset: offset &+ 8, as: UInt64.self))
        w2 = UInt64(bigEndian: buffer.loadUnaligned(fromByteOffset: offset &+ 16, as: UInt64.self))
        w3 = UInt64(bigEndian: buffer.loadUnaligned(fromByteOffset: offset &+ 24, as: UInt64.self))
    }

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "an object id has 32 bytes")
        self = bytes.withUnsafeBytes { ObjectId($0) }
    }

    /// Parses exactly 64 hex digits.
    public init?(hex: String) {
        guard hex.utf8.count == 64, let b = Hex.decode(hex) else { return nil }
        self.init(bytes: b)
    }

    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32)
        for w in [w0, w1, w2, w3] { withUnsafeBytes(of: w.bigEndian) { out.append(contentsOf: $0) } }
        return out
    }

    public var hex: String { Hex.encode(bytes) }
    public var short: String { String(hex.prefix(12)) }
    public var description: String { hex }
    public var firstByte: UInt8 { UInt8(w0 >> 56) }

    public static func < (a: ObjectId, b: ObjectId) -> Bool {
        if a.w0 != b.w0 { return a.w0 < b.w0 }
        if a.w1 != b.w1 { return a.w1 < b.w1 }
        if a.w2 != b.w2 { return a.w2 < b.w2 }
        return a.w3 < b.w3
    }

    public func write(to w: inout ByteWriter) {
        for v in [w0, w1, w2, w3] { withUnsafeBytes(of: v.bigEndian) { w.raw($0) } }
    }
}

/// The kinds of stored objects. The name goes into the hashed header.
public enum ObjectKind: UInt8, Sendable, CaseIterable {
    case blob = 1
    case chunks = 2
    case tree = 3
    case commit = 4

    public var name: String {
        switch self {
        case .blob: return "blob"
        case .chunks: return "chunks"
        case .tree: return "tree"
        case .commit: return "commit"
        }
    }

    public init?(name: String) {
        guard let k = ObjectKind.allCases.first(where: { $0.name == name }) else { return nil }
        self = k
    }
}

/// Computes object ids: SHA-256 over `"<kind> <size>\0"` followed by the payload.
public enum ObjectHash {
    public static func header(_ kind: ObjectKind, size: Int) -> [UInt8] {
        Array("\(kind.name) \(size)".utf8) + [0]
    }

    public static func id(_ kind: ObjectKind, _ payload: UnsafeRawBufferPointer, hasher: SHA256Hasher) -> ObjectId {
        hasher.reset()
        hasher.update(header(kind, size: payload.count))
        hasher.update(payload)
        return ObjectId(bytes: hasher.finalize())
    }

    public static func id(_ kind: ObjectKind, _ payload: [UInt8]) -> ObjectId {
        payload.withUnsafeBytes { id(kind, $0, hasher: SHA256Hasher()) }
    }
}
