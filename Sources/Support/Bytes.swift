/// Little-endian binary writer into a growable byte array.
public struct ByteWriter {
    public var bytes: [UInt8] = []
    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    public mutating func raw<C: Collection>(_ b: C) where C.Element == UInt8 { bytes.append(contentsOf: b) }
    public mutating func string(_ s: String) { bytes.append(contentsOf: s.utf8) }
}

public struct ByteReaderError: Error, CustomStringConvertible {
    public let offset: Int
    public var description: String { "truncated data at byte \(offset)" }
}

/// Little-endian binary reader over a buffer; throws on reads past the end.
public struct ByteReader {
    public let buffer: UnsafeRawBufferPointer
    public var offset: Int

    public init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    public var remaining: Int { buffer.count - offset }
    public var atEnd: Bool { offset >= buffer.count }

    @inline(__always) private mutating func need(_ n: Int) throws {
        if n < 0 || offset + n > buffer.count { throw ByteReaderError(offset: offset) }
    }

    public mutating func u8() throws -> UInt8 { try need(1); defer { offset += 1 }; return buffer[offset] }
    public mutating func u16() throws -> UInt16 {
        try need(2); defer { offset += 2 }
        return UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    public mutating func u32() throws -> UInt32 {
        try need(4); defer { offset += 4 }
        return UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    public mutating func u64() throws -> UInt64 {
        try need(8); defer { offset += 8 }
        return UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    public mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }
    public mutating func bytes(_ n: Int) throws -> UnsafeRawBufferPointer {
        try need(n); defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + n])
    }
    /// Bytes up to (not including) the next `terminator`; skips the terminator.
    public mutating func until(_ terminator: UInt8) throws -> UnsafeRawBufferPointer {
        var i = offset
        while i < buffer.count && buffer[i] != terminator { i += 1 }
        if i >= buffer.count { throw ByteReaderError(offset: offset) }
        let out = UnsafeRawBufferPointer(rebasing: buffer[offset..<i])
        offset = i + 1
        return out
    }
}
