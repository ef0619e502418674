/// The one pseudo-random generator of the code base: SplitMix64 (Steele, Lea, Flood 2014).
/// Self-contained, so every seeded result (training's shuffles and initial weights, metric
/// samples, reservoir sampling, benchmark data) depends only on the seed, never on the
/// standard library's generators.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 random bits.
    @inlinable
    public mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Uniform in 0..<bound (bound > 0) without modulo bias (Lemire's multiply-shift with
    /// rejection).
    @inlinable
    public mutating func next(below bound: UInt64) -> UInt64 {
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }

    /// `next() % n`: fast and slightly biased for huge n; kept because training's recorded
    /// shuffles depend on it (changing it would change every trained model).
    @inlinable
    public mutating func nextModulo(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
