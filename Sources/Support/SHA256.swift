import CCrypto

/// Streaming SHA-256 through OpenSSL's libcrypto (EVP interface, which uses the CPU's SHA
/// extensions when present). Not thread-safe; use one hasher per thread.
/// The SHA-256 implementation, fetched once (an implicit fetch on every init costs a
/// provider lookup under a lock in OpenSSL 3).
nonisolated(unsafe) private let sha256MD: OpaquePointer? = EVP_MD_fetch(nil, "SHA256", nil) ?? EVP_sha256()

public final class SHA256Hasher {
    private let ctx: OpaquePointer

    public init() {
        // EVP_MD_CTX_new only fails on allocation failure; treat that like Swift does.
        guard let c = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        ctx = c
        EVP_DigestInit_ex(ctx, sha256MD, nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    /// Starts a new digest, discarding anything fed so far.
    public func reset() { EVP_DigestInit_ex(ctx, sha256MD, nil) }

    public func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        EVP_DigestUpdate(ctx, base, buffer.count)
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public func update(_ string: String) {
        var s = string
        s.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// Returns the 32-byte digest and resets the hasher for reuse.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        out.withUnsafeMutableBufferPointer { p in
            _ = EVP_DigestFinal_ex(ctx, p.baseAddress, &len)
        }
        reset()
        return out
    }

    /// One-shot digest of a buffer.
    public static func digest(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        let h = SHA256Hasher()
        h.update(buffer)
        return h.finalize()
    }

    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { digest($0) }
    }
}

/// HMAC-SHA256 (libcrypto), used for request signing by remotes.
public func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 32)
    var len: UInt32 = 32
    key.withUnsafeBytes { k in
        data.withUnsafeBytes { d in
            out.withUnsafeMutableBufferPointer { o in
                _ = HMAC(EVP_sha256(), k.baseAddress, Int32(key.count),
                         d.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
                         o.baseAddress, &len)
            }
        }
    }
    return out
}

public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes an even-length hex string; nil when it is not hex.
    public static func decode(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let hi = value(u[i]), let lo = value(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    @inline(__always) public static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}
