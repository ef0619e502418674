import Support

/// How fast a backend's GEMM runs (`mlrepo doctor --gpu` prints it beside the conformance
/// table, so a device run shows whether the kernel reaches its expected rate).
public enum GEMMRate {
    /// A product C (m×n) = op(A) · op(B) with the inner size k.
    public struct Shape: Sendable {
        public let m: Int, n: Int, k: Int, transA: Bool, transB: Bool
        public init(_ m: Int, _ n: Int, _ k: Int, transA: Bool = false, transB: Bool = false) {
            self.m = m; self.n = n; self.k = k; self.transA = transA; self.transB = transB
        }
        /// "4096×128×100", with " Aᵀ"/" Bᵀ" for a transposed operand.
        public var label: String { "\(m)×\(n)×\(k)" + (transA ? " Aᵀ" : "") + (transB ? " Bᵀ" : "") }
    }

    /// One measured shape.
    public struct Result: Sendable {
        public let shape: Shape
        public var m: Int { shape.m }
        public var n: Int { shape.n }
        public var k: Int { shape.k }
        /// Median seconds of one GEMM (the backend synchronized around each).
        public let seconds: Double
        /// 2·m·n·k / seconds, in GFLOP/s.
        public var gflops: Double { seconds > 0 ? 2 * Double(m) * Double(n) * Double(k) / seconds / 1e9 : 0 }
    }

    /// The shapes measured by default: a large square one (the kernel's peak) and the MLP's
    /// training products (100 features, 128 hidden units) at batch 256 and 4096, each on the
    /// path the trainer takes: forward x·W, the weight gradient xᵀ·δ, backpropagation δ·Wᵀ.
    public static let defaultShapes: [Shape] = [Shape(4096, 4096, 4096)] + [256, 4096].flatMap { b in
        [Shape(b, 128, 100), Shape(100, 128, b, transA: true), Shape(b, 100, 128, transB: true)]
    }

    /// Times `reps` GEMMs per shape after one warm-up; the median of the runs.
    public static func measure(_ backend: any Backend, shapes: [Shape] = defaultShapes, reps: Int = 7) -> [Result] {
        var out: [Result] = []
        for s in shapes {
            var rng = SplitMix64(seed: UInt64(s.m &* 31 &+ s.n &* 7 &+ s.k))
            func values(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Double(rng.next() >> 40) / Double(1 << 24)) - 0.5 } }
            let a = s.transA ? backend.upload(values(s.k * s.m), rows: s.k, cols: s.m) : backend.upload(values(s.m * s.k), rows: s.m, cols: s.k)
            let b = s.transB ? backend.upload(values(s.n * s.k), rows: s.n, cols: s.k) : backend.upload(values(s.k * s.n), rows: s.k, cols: s.n)
            let c = backend.uninitializedTensor(rows: s.m, cols: s.n)
            backend.gemm(a, transA: s.transA, b, transB: s.transB, into: c, alpha: 1, beta: 0)
            backend.synchronize()
            var times: [Double] = []
            for _ in 0..<max(1, reps) {
                let t0 = Clock.monotonic()
                backend.gemm(a, transA: s.transA, b, transB: s.transB, into: c, alpha: 1, beta: 0)
                backend.synchronize()
                times.append(Clock.monotonic() - t0)
            }
            times.sort()
            out.append(Result(shape: s, seconds: times[times.count / 2]))
        }
        return out
    }
}
