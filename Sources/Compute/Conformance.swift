#if canImport(Glibc)
import Glibc
#endif
import Support

/// The backend conformance suite, in the product so that `mlrepo doctor --gpu` can run it on
/// a machine with no `swift test`: every `Backend` operation on small random inputs, checked
/// against a reference computed on the host in Double (exact where the operation is one or
/// two float operations per element, within a stated tolerance where it sums or calls
/// exp/log), and run twice to check the results are bit-identical. The CPU backend passes
/// it (a test), the GPU backend passes it through the emulator (a test) and on a GPU
/// (`doctor --gpu`).
///
/// How a check works: its inputs are Floats drawn from `SplitMix64` seeded by the check's
/// name (so a check's inputs do not depend on which other checks run); the operation runs
/// twice, each time on fresh copies of the inputs, and the two runs' outputs must have the
/// same bits; the first run's outputs are compared with a reference computed on the host
/// from the same Floats. Exact comparisons ask for the value of the same Float expression
/// (where a GPU may contract a·b + c into one fused multiply-add, both roundings are
/// accepted); toleranced ones ask |got − want| ≤ tolerance · scale, the scale stated at
/// each check (e.g. GEMM's Σ|a||b|). A NaN or infinity where the reference is finite is a
/// failure. After each check, `checkError()` must not throw; once it has thrown, the checks
/// after it are not run (the backend skips work after an error) and fail saying so. Wrong
/// results never stop the suite: they are reported with the first element that is off.
/// The memory checks use no kernel, except borrow's (a borrowed tensor read by `gemm`).
public enum BackendConformance {
    /// Shapes: `.small` for the emulator (every block's threads are real threads), `.full`
    /// for a real device (shapes large enough to use many blocks and tiles).
    public enum Size: String, Sendable { case small, full }

    /// One check's outcome.
    public struct Result: Sendable {
        /// "gemm nn 33×17×65", "softmaxRows 17×33", "adamStep(params:) 4 tensors …". Each check
        /// also requires its two runs to give the same bits ("not deterministic: …" otherwise).
        public let check: String
        public let passed: Bool
        /// The largest error found, relative to the tolerance's scale (0 for exact checks).
        public let maxError: Double
        /// The tolerance the check allows (0 = exact).
        public let tolerance: Double
        /// Seconds the backend took (both runs).
        public let seconds: Double
        /// Why it failed ("element 12: got 1.5, want 1.25"), empty when it passed.
        public let detail: String
        public init(check: String, passed: Bool, maxError: Double, tolerance: Double, seconds: Double, detail: String) {
            self.check = check; self.passed = passed; self.maxError = maxError; self.tolerance = tolerance
            self.seconds = seconds; self.detail = detail
        }
    }

    /// The names of the operations the suite checks (one or more checks each): every
    /// requirement of `Backend`, by the name `only` selects it with. Overloads are told apart
    /// by their labels ("upload(taking:)", "gatherRows(indices:)", "adamStep(params:)").
    public static let operations: [String] = [
        "kind", "deviceName", "threads", "environment",
        "tensor", "upload", "upload(taking:)", "upload(into:row:)", "download", "borrow",
        "uninitializedTensor", "download(taking:)", "gatherRows", "synchronize",
        "gemm", "linear", "addRowVector", "relu", "reluBackward", "sigmoid", "softmaxRows", "logSoftmaxRows",
        "axpy", "scale", "sub", "columnSums", "rowArgmax", "squaredDistances", "nearestCenters", "clusterSums",
        "gram", "softmaxLinearGradient", "adamStep", "sgdStep", "sumSquares",
        "uploadIndices", "gatherRows(indices:)", "dense", "outputDelta", "adamStep(params:)",
        "uploadIndices(into:)", "gatherRows(cursor:)", "advance", "adamStep(stepCounter:)", "recordStep", "replay",
        "checkError",
    ]

    /// Runs every check (or those whose operation is in `only`) on `backend`. A name in
    /// `only` that is not in `operations` gives one failed result saying so.
    public static func run(_ backend: any Backend, size: Size, only: Set<String>? = nil) -> [Result] {
        var results: [Result] = []
        if let only {
            for name in only.sorted() where !operations.contains(name) {
                results.append(Result(check: "unknown operation \(name)", passed: false, maxError: 0, tolerance: 0,
                                      seconds: 0, detail: "not one of: " + operations.joined(separator: ", ")))
            }
        }
        for c in cases(size) where only.map({ c.ops.contains(where: $0.contains) }) ?? true {
            results.append(execute(c, on: backend))
        }
        return results
    }

    /// The checks in the order they run (the device-error check last).
    static func cases(_ size: Size) -> [Case] {
        var all: [Case] = []
        all += memoryCases(size)
        all += gemmCases(size)
        all += elementwiseCases(size)
        all += reductionCases(size)
        all += optimizerCases(size)
        all += fusedCases(size)
        all += stepCases(size)
        all.append(Case(["checkError"], "checkError (no device error after all checks)") { ck in
            _ = ck.twice { be in be.synchronize(); return [] }
        })
        return all
    }

    static func execute(_ c: Case, on backend: any Backend) -> Result {
        let ck = Check(backend: backend, name: c.name)
        // A device error is sticky: after one, the backend skips its work, so a check would
        // only compare zeros. It is not run, and fails naming the error.
        do { try backend.checkError() } catch {
            return Result(check: c.name, passed: false, maxError: 0, tolerance: 0, seconds: 0,
                          detail: "not run: device error from an earlier check: \(error)")
        }
        c.body(ck)
        do { try backend.checkError() } catch {
            // The cause first: the values after it are what a failed device left.
            ck.passed = false
            ck.details.insert("device error: \(error)", at: 0)
        }
        return Result(check: c.name, passed: ck.passed, maxError: ck.maxError, tolerance: ck.tolerance,
                      seconds: ck.seconds, detail: ck.passed ? "" : ck.details.joined(separator: "; "))
    }
}

// MARK: - The harness

extension BackendConformance {
    /// One check: the operations it covers (for `only`), its name, and its body.
    struct Case {
        let ops: [String]
        let name: String
        let body: (Check) -> Void
        init(_ ops: [String], _ name: String, _ body: @escaping (Check) -> Void) {
            self.ops = ops; self.name = name; self.body = body
        }
    }

    /// One output of an operation, as Doubles (exact for Floats and Int32s) and as bits.
    struct Output {
        enum Kind { case float, double, int }
        let label: String
        let values: [Double]
        let bits: [UInt64]
        /// Columns, to name an element by row and column (0: a flat list).
        let cols: Int
        let kind: Kind

        static func f(_ label: String, _ v: [Float], cols: Int) -> Output {
            Output(label: label, values: v.map(Double.init), bits: v.map { UInt64($0.bitPattern) }, cols: cols, kind: .float)
        }
        static func d(_ label: String, _ v: [Double], cols: Int = 0) -> Output {
            Output(label: label, values: v, bits: v.map(\.bitPattern), cols: cols, kind: .double)
        }
        static func i(_ label: String, _ v: [Int32], cols: Int = 0) -> Output {
            Output(label: label, values: v.map(Double.init), bits: v.map { UInt64(UInt32(bitPattern: $0)) }, cols: cols, kind: .int)
        }

        func show(_ x: Double) -> String {
            switch kind {
            case .float: return "\(Float(x))"
            case .double: return "\(x)"
            case .int: return x.isFinite ? "\(Int(x))" : "\(x)"
            }
        }

        /// "z element 12 (row 0, col 12)".
        func place(_ i: Int) -> String {
            let at = cols > 0 ? "element \(i) (row \(i / cols), col \(i % cols))" : "element \(i)"
            return label.isEmpty ? at : "\(label) \(at)"
        }
    }

    /// The state of one running check: the backend, its timing, and what failed.
    final class Check {
        let backend: any Backend
        let name: String
        var seconds = 0.0
        var passed = true
        var maxError = 0.0
        var tolerance = 0.0
        private var worstRatio = 0.0
        var details: [String] = []

        init(backend: any Backend, name: String) { self.backend = backend; self.name = name }

        /// Inputs seeded by the check's name (FNV-1a).
        func inputs() -> Inputs {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
            return Inputs(rng: SplitMix64(seed: h))
        }

        func fail(_ s: String) {
            passed = false
            if details.count < 4 && !details.contains(s) { details.append(s) }
        }

        /// Runs `body` twice (it must make its tensors afresh from host arrays each time),
        /// times both runs, requires the two runs' outputs to have the same bits, and returns
        /// the first run's outputs.
        func twice(_ body: (any Backend) -> [Output]) -> [Output] {
            let t0 = Clock.monotonic()
            let first = body(backend)
            let second = body(backend)
            seconds += Clock.monotonic() - t0
            if first.count != second.count {
                fail("not deterministic: run 1 gave \(first.count) outputs, run 2 \(second.count)")
                return first
            }
            for (a, b) in zip(first, second) {
                if a.bits.count != b.bits.count {
                    fail("not deterministic: \(a.label.isEmpty ? "output" : a.label) has \(a.bits.count) values in run 1, \(b.bits.count) in run 2")
                    continue
                }
                var differ = 0, firstAt = -1
                for i in 0..<a.bits.count where a.bits[i] != b.bits[i] {
                    differ += 1
                    if firstAt < 0 { firstAt = i }
                }
                if firstAt >= 0 {
                    fail("not deterministic: \(a.place(firstAt)) is \(a.show(a.values[firstAt])) in run 1, "
                         + "\(b.show(b.values[firstAt])) in run 2 (\(differ) of \(a.bits.count) values differ)")
                }
            }
            return first
        }

        /// Outputs `count` values? Otherwise a failure.
        func counts(_ o: Output, _ count: Int) -> Bool {
            if o.values.count == count { return true }
            fail("\(o.label.isEmpty ? "output" : o.label): got \(o.values.count) values, want \(count)")
            return false
        }

        /// Exactly the Float values `want` (or, element by element, `alt`: the fused
        /// multiply-add form of the same expression). NaN matches NaN.
        func exact(_ o: Output, _ want: [Float], or alt: [Float]? = nil) {
            guard counts(o, want.count) else { return }
            var bad = 0, first = -1
            for i in 0..<want.count {
                let g = o.values[i], w = Double(want[i])
                var ok = g == w || (g.isNaN && w.isNaN)
                if !ok, let alt, i < alt.count { ok = g == Double(alt[i]) }
                if !ok { bad += 1; if first < 0 { first = i } }
            }
            if first >= 0 {
                var s = "\(o.place(first)): got \(o.show(o.values[first])), want \(o.show(Double(want[first])))"
                if let alt, first < alt.count, alt[first] != want[first] { s += " or \(o.show(Double(alt[first]))) (fused)" }
                s += " (exact)"
                if bad > 1 { s += "; \(bad) of \(want.count) values off" }
                fail(s)
            }
        }

        /// Exactly the integers `want`.
        func exact(_ o: Output, ints want: [Int32]) {
            exact(o, want.map { Float($0) })
        }

        /// The same bits as `want` (round trips: NaN payloads, −0, subnormals kept).
        func sameBits(_ o: Output, _ want: [Float]) {
            guard counts(o, want.count) else { return }
            var bad = 0, first = -1
            for i in 0..<want.count where o.bits[i] != UInt64(want[i].bitPattern) {
                bad += 1
                if first < 0 { first = i }
            }
            if first >= 0 {
                let g = UInt32(truncatingIfNeeded: o.bits[first]), w = want[first].bitPattern
                fail("\(o.place(first)): got bits 0x\(String(g, radix: 16)) (\(Float(bitPattern: g))), "
                     + "want 0x\(String(w, radix: 16)) (\(want[first]))" + (bad > 1 ? "; \(bad) of \(want.count) values off" : ""))
            }
        }

        /// |got − want| ≤ tolerance · scale(i) for every element; a NaN or infinity fails.
        func close(_ o: Output, _ want: [Double], tolerance tol: Double, scale: (Int) -> Double) {
            guard counts(o, want.count) else { return }
            if tolerance == 0 { tolerance = tol }
            var bad = 0, first = -1, firstAllowed = 0.0
            for i in 0..<want.count {
                let s = scale(i), allowed = tol * s
                let err = abs(o.values[i] - want[i])
                if !(err <= allowed) {
                    bad += 1
                    if first < 0 { first = i; firstAllowed = allowed }
                }
                let ratio = err.isNaN ? Double.infinity : (allowed > 0 ? err / allowed : (err == 0 ? 0 : .infinity))
                if ratio > worstRatio {
                    worstRatio = ratio
                    maxError = s > 0 && err.isFinite ? err / s : .infinity
                    tolerance = tol
                }
            }
            if first >= 0 {
                fail("\(o.place(first)): got \(o.show(o.values[first])), want \(want[first]) (tol \(short(firstAllowed)))"
                     + (bad > 1 ? "; \(bad) of \(want.count) values off" : ""))
            }
        }

        /// A shape or property that must hold.
        func expect(_ ok: Bool, _ what: @autoclosure () -> String) {
            if !ok { fail(what()) }
        }
    }

    /// Seeded inputs.
    struct Inputs {
        var rng: SplitMix64
        /// Uniform in [−1, 1), 24 random bits.
        mutating func float() -> Float { Float(Double(rng.next() >> 40) / 16_777_216) * 2 - 1 }
        mutating func floats(_ n: Int, scale: Float = 1) -> [Float] {
            var out = [Float](repeating: 0, count: n)
            for i in 0..<n { out[i] = float() * scale }
            return out
        }
        /// Uniform in 0..<bound (bound > 0).
        mutating func int(_ bound: Int) -> Int { Int(rng.next(below: UInt64(max(bound, 1)))) }
    }

    /// `x` to 3 significant digits: "1e-6", "9.93e-8", "0.25", "1230", "1.5e+4".
    static func short(_ x: Double) -> String {
        if x == 0 || !x.isFinite { return "\(x)" }
        var e = Int(floor(log10(abs(x))))
        var m = (x / pow(10, Double(e)) * 100).rounded() / 100
        if abs(m) >= 10 { m /= 10; e += 1 }
        let ms = m == m.rounded() ? "\(Int(m))" : "\(m)"
        if e >= -3 && e <= 3 {
            let v = e <= 2 ? (x * pow(10, Double(2 - e))).rounded() / pow(10, Double(2 - e))
                           : (x / pow(10, Double(e - 2))).rounded() * pow(10, Double(e - 2))
            return v == v.rounded() ? "\(Int(v))" : "\(v)"
        }
        return ms + (e < 0 ? "e\(e)" : "e+\(e)")
    }

    /// "17×33".
    static func dims(_ a: Int, _ b: Int) -> String { "\(a)×\(b)" }
    static func dims(_ a: Int, _ b: Int, _ c: Int) -> String { "\(a)×\(b)×\(c)" }
}

// MARK: - References

extension BackendConformance {
    /// alpha · op(A) · op(B) + beta · C in Double (beta 0: C ignored), and the magnitude
    /// |alpha| · Σ|a||b| + |beta · c| of each element (the scale of its error bound).
    static func gemmReference(_ a: [Float], _ aRows: Int, _ aCols: Int, transA: Bool,
                              _ b: [Float], _ bRows: Int, _ bCols: Int, transB: Bool,
                              c: [Float], alpha: Float, beta: Float) -> (value: [Double], scale: [Double]) {
        let m = transA ? aCols : aRows, k = transA ? aRows : aCols
        let n = transB ? bRows : bCols
        precondition(a.count == aRows * aCols && b.count == bRows * bCols && (transB ? bCols : bRows) == k
                     && (beta == 0 || c.count == m * n), "gemmReference: shapes")
        // op(A) as m×k and op(B)ᵀ as n×k, row-major, so each element is one contiguous dot.
        var oa = [Double](repeating: 0, count: m * k), ob = [Double](repeating: 0, count: n * k)
        for i in 0..<m { for p in 0..<k { oa[i * k + p] = Double(transA ? a[p * aCols + i] : a[i * aCols + p]) } }
        for j in 0..<n { for p in 0..<k { ob[j * k + p] = Double(transB ? b[j * bCols + p] : b[p * bCols + j]) } }
        var value = [Double](repeating: 0, count: m * n), scale = value
        oa.withUnsafeBufferPointer { pa in
            ob.withUnsafeBufferPointer { pb in
                for i in 0..<m {
                    for j in 0..<n {
                        var s = 0.0, sa = 0.0
                        for p in 0..<k {
                            let x = pa[i * k + p] * pb[j * k + p]
                            s += x; sa += abs(x)
                        }
                        let old = beta == 0 ? 0 : Double(beta) * Double(c[i * n + j])
                        value[i * n + j] = Double(alpha) * s + old
                        scale[i * n + j] = abs(Double(alpha)) * sa + abs(old)
                    }
                }
            }
        }
        return (value, scale)
    }

    /// The error bound of a sum of n float terms whatever the order, as a multiple of
    /// Σ|terms| · 1e-6 (≈ 17 float ulps a term): n + 2 terms' worth, capped at 4096 + 2 (a
    /// long sum must be done in blocks, as the CPU does, to stay within it).
    static func sumBound(_ n: Int) -> Double { Double(min(n, 4096) + 2) }
}
