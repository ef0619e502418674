import Support

/// The tests' generator is the code base's one generator, Support's `SplitMix64`, so seeded
/// tests replay the same steps everywhere. The helpers below are what tests draw with.
public typealias SplitMix = SplitMix64

extension SplitMix64 {
    /// `n` pseudo-random bytes.
    public mutating func bytes(_ n: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        var i = 0
        while i < n {
            var v = next()
            for _ in 0..<8 where i < n { out[i] = UInt8(truncatingIfNeeded: v); v >>= 8; i += 1 }
        }
        return out
    }

    public mutating func int(_ r: Range<Int>) -> Int { Int.random(in: r, using: &self) }
    public mutating func chance(_ p: Double) -> Bool { nextDouble() < p }
    public mutating func pick<T>(_ a: [T]) -> T { a[int(0..<a.count)] }
}
