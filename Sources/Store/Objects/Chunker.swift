import Support

/// Content-defined chunking with FastCDC (Xia et al., 2016/2020): a gear rolling hash,
/// the first `min` bytes of a chunk skipped, and normalized chunking (a stricter mask
/// before the target size, a looser one after it) so chunk sizes cluster near `avg`.
///
/// The gear table and masks are part of the on-disk format (.mlrepo-format.md §Chunking):
/// the same bytes always give the same boundaries.
public struct Chunker: Sendable {
    public let minSize: Int
    public let avgSize: Int
    public let maxSize: Int
    let maskS: UInt64
    let maskL: UInt64

    /// Default parameters, chosen by measurement (docs/benchmarks.md): 16 KiB average.
    public static let `default` = Chunker(avgSize: 16 * 1024)

    /// `avgSize` must be a power of two ≥ 256; min is avg/4 and max avg*4.
    public init(avgSize: Int) {
        precondition(avgSize >= 256 && avgSize & (avgSize - 1) == 0, "average chunk size must be a power of two")
        self.avgSize = avgSize
        self.minSize = avgSize / 4
        self.maxSize = avgSize * 4
        let bits = avgSize.trailingZeroBitCount
        maskS = Chunker.topMask(bits + 2)
        maskL = Chunker.topMask(bits - 2)
    }

    /// A mask of `n` ones in the top bits: with a left-shifting gear hash the top bits
    /// depend on the last 64 bytes, the low bits only on the last few.
    static func topMask(_ n: Int) -> UInt64 { n <= 0 ? 0 : ~UInt64(0) << UInt64(64 - n) }

    /// gear[i] = first 8 bytes, big-endian, of SHA-256("mlrepo gear " + decimal i).
    public static let gear: [UInt64] = (0..<256).map { i in
        let d = SHA256Hasher.digest(Array("mlrepo gear \(i)".utf8))
        return d[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// Length of the next chunk at the start of `data` (`data.count` if it ends there).
    /// `data` should hold at least `maxSize` bytes unless it is the end of the input.
    @inline(__always)
    public func cut(_ data: UnsafeRawBufferPointer) -> Int {
        let n = Swift.min(data.count, maxSize)
        if n <= minSize { return n }
        let p = data.baseAddress!.assumingMemoryBound(to: UInt8.self)
        return Chunker.gear.withUnsafeBufferPointer { g -> Int in
            let gp = g.baseAddress!
            var fp: UInt64 = 0
            var i = minSize
            // Two bytes per step with the same result as one at a time: f2 is computed
            // from fp directly, which halves the loop-carried dependency chain.
            // Wrapping index arithmetic (&+): i < end <= maxSize, so it cannot overflow, and
            // the module is built with overflow checks on (-O), which cost 20% here.
            func scan(_ end: Int, _ mask: UInt64) -> Int? {
                while i &+ 1 < end {
                    let g1 = gp[Int(p[i])], g2 = gp[Int(p[i &+ 1])]
                    let f1 = (fp << 1) &+ g1
                    let f2 = (fp << 2) &+ ((g1 << 1) &+ g2)
                    if f1 & mask == 0 { return i &+ 1 }
                    if f2 & mask == 0 { return i &+ 2 }
                    fp = f2
                    i = i &+ 2
                }
                if i < end {
                    fp = (fp << 1) &+ gp[Int(p[i])]
                    i = i &+ 1
                    if fp & mask == 0 { return i }
                }
                return nil
            }
            if let c = scan(Swift.min(avgSize, n), maskS) { return c }
            if let c = scan(n, maskL) { return c }
            return n
        }
    }

    /// All chunk lengths of a whole buffer.
    public func chunks(_ data: UnsafeRawBufferPointer) -> [Int] {
        var out: [Int] = []
        var off = 0
        while off < data.count {
            let len = cut(UnsafeRawBufferPointer(rebasing: data[off...]))
            out.append(len)
            off += len
        }
        return out
    }
}
