import CZlib

public enum ZlibError: Error, CustomStringConvertible {
    case failed(String, Int32)
    public var description: String {
        switch self { case let .failed(op, code): return "zlib \(op) failed (code \(code))" }
    }
}

/// zlib (RFC 1950) compression of whole buffers.
public enum Zlib {
    /// Compresses `input` at `level` (1 fastest … 9 smallest). Returns nil when the result
    /// would not be smaller than `limit` bytes (so callers can keep the raw bytes).
    public static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = 1, limit: Int? = nil) -> [UInt8]? {
        let bound = Int(compressBound(uLong(input.count)))
        var out = [UInt8](repeating: 0, count: bound)
        var destLen = uLongf(bound)
        let rc = out.withUnsafeMutableBufferPointer { o in
            compress2(o.baseAddress, &destLen,
                      input.baseAddress?.assumingMemoryBound(to: Bytef.self) ?? UnsafePointer(bitPattern: 1),
                      uLong(input.count), level)
        }
        guard rc == Z_OK else { return nil }
        if let limit, Int(destLen) >= limit { return nil }
        out.removeSubrange(Int(destLen)...)
        return out
    }

    /// `input` as one gzip member (RFC 1952: what HTTP's `Content-Encoding: gzip` carries),
    /// at `level`; nil if zlib fails.
    public static func gzip(_ input: UnsafeRawBufferPointer, level: Int32 = 1) -> [UInt8]? {
        guard input.count <= Int(UInt32.max) else { return nil }
        var s = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        guard deflateInit2_(&s, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { deflateEnd(&s) }
        let bound = Int(deflateBound(&s, uLong(input.count))) + 32
        var out = [UInt8](repeating: 0, count: bound)
        let rc = out.withUnsafeMutableBufferPointer { o -> Int32 in
            s.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            s.avail_in = uInt(input.count)
            s.next_out = o.baseAddress
            s.avail_out = uInt(o.count)
            return deflate(&s, Z_FINISH)
        }
        guard rc == Z_STREAM_END else { return nil }
        out.removeSubrange(Int(s.total_out)...)
        return out
    }

    /// Inflates `input`, which must be one zlib stream expanding to exactly `output.count`
    /// bytes, into `output`. The output size is a hard limit: zlib never writes past it, and a
    /// stream that would expand further (or leaves bytes after its end) is an error. Callers
    /// size `output` from a declared size already checked against the format's bounds.
    public static func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        var destLen = uLongf(output.count)
        var srcLen = uLong(input.count)
        guard let ob = output.baseAddress else {
            if output.count == 0 { return }
            throw ZlibError.failed("inflate", Z_BUF_ERROR)
        }
        let rc = uncompress2(ob.assumingMemoryBound(to: Bytef.self), &destLen,
                             input.baseAddress?.assumingMemoryBound(to: Bytef.self), &srcLen)
        guard rc == Z_OK else { throw ZlibError.failed("inflate", rc) }
        guard Int(destLen) == output.count else { throw ZlibError.failed("inflate (size mismatch)", Z_DATA_ERROR) }
        guard Int(srcLen) == input.count else { throw ZlibError.failed("inflate (bytes after the end of the stream)", Z_DATA_ERROR) }
    }

    /// Inflates `input` (one zlib stream) piece by piece, handing each piece of at most
    /// `piece` bytes to `sink`, so memory stays at one piece whatever the stream expands to.
    /// Fails once the output passes `limit` bytes, when the stream is damaged or truncated,
    /// or when bytes follow its end. Returns the number of bytes produced.
    @discardableResult
    public static func inflatePieces(_ input: UnsafeRawBufferPointer, limit: Int, piece: Int = 1 << 16,
                                     _ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        var s = z_stream()
        guard inflateInit_(&s, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ZlibError.failed("inflateInit", Z_MEM_ERROR)
        }
        defer { inflateEnd(&s) }
        guard input.count <= Int(UInt32.max) else { throw ZlibError.failed("inflate (input too large)", Z_BUF_ERROR) }
        s.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        s.avail_in = uInt(input.count)
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: piece, alignment: 16)
        defer { out.deallocate() }
        var total = 0
        while true {
            s.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
            s.avail_out = uInt(piece)
            let rc = CZlib.inflate(&s, Z_NO_FLUSH)
            let produced = piece - Int(s.avail_out)
            if produced > 0 {
                total += produced
                guard total <= limit else { throw ZlibError.failed("inflate (more than \(limit) bytes)", Z_DATA_ERROR) }
                try sink(UnsafeRawBufferPointer(rebasing: out[0..<produced]))
            }
            if rc == Z_STREAM_END { break }
            if rc == Z_BUF_ERROR && s.avail_in == 0 { throw ZlibError.failed("inflate (truncated stream)", rc) }
            guard rc == Z_OK else { throw ZlibError.failed("inflate", rc) }
        }
        guard s.avail_in == 0 else { throw ZlibError.failed("inflate (bytes after the end of the stream)", Z_DATA_ERROR) }
        return total
    }
}
