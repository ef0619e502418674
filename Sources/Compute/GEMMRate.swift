import Support

/// How fast a backend's GEMM runs (`mlrepo doctor --gpu` prints it beside the conformance
/// table, so a device run shows whether the kernel reaches its expected rate).
public enum GEMMRate {
    /// One measured shape: C (m×n) = A (m×k) · B (k×n).
    public struct Result: Sendable {
        public let m: Int, n: Int, k: Int
        /// Median seconds of one GEMM (the backend synchronized around each).
        public let seconds: Double
        /// 2·m·n·k / seconds, in GFLOP/s.
        public var gflops: Double { seconds > 0 ? 2 * Double(m) * Double(n) * Double(k) / seconds / 1e9 : 0 }
    }

    /// The shapes measured by default: a large square one (the kernel's peak) and the MLP's
    /// training shapes (100 features, 128 hidden units) at batch 256 and 4096.
    public static let defaultShapes: [(m: Int, n: Int, k: Int)] = [(4096, 4096, 4096), (256, 128, 100), (4096, 128, 100), (100, 128, 4096)]

    /// Times `reps` GEMMs per shape after one warm-up; the median of the runs.
    public static func measure(_ backend: any Backend, shapes: [(m: Int, n: Int, k: Int)] = defaultShapes, reps: Int = 7) -> [Result] {
        var out: [Result] = []
        for s in shapes {
            var rng = SplitMix64(seed: UInt64(s.m &* 31 &+ s.n &* 7 &+ s.k))
            func values(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Double(rng.next() >> 40) / Double(1 << 24)) - 0.5 } }
            let a = backend.upload(values(s.m * s.k), rows: s.m, cols: s.k)
            let b = backend.upload(values(s.k * s.n), rows: s.k, cols: s.n)
            let c = backend.uninitializedTensor(rows: s.m, cols: s.n)
            backend.gemm(a, transA: false, b, transB: false, into: c, alpha: 1, beta: 0)
            backend.synchronize()
            var times: [Double] = []
            for _ in 0..<max(1, reps) {
                let t0 = Clock.monotonic()
                backend.gemm(a, transA: false, b, transB: false, into: c, alpha: 1, beta: 0)
                backend.synchronize()
                times.append(Clock.monotonic() - t0)
            }
            times.sort()
            out.append(Result(m: s.m, n: s.n, k: s.k, seconds: times[times.count / 2]))
        }
        return out
    }
}
