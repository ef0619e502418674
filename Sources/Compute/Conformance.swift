/// The backend conformance suite, in the product so that `mlrepo doctor --gpu` can run it on
/// a machine with no `swift test`: every `Backend` operation on small random inputs, checked
/// against a reference computed on the host in Double (exact where the operation is one or
/// two float operations per element, within a stated tolerance where it sums or calls
/// exp/log), and run twice to check the results are bit-identical. The CPU backend passes
/// it (a test), the GPU backend passes it through the emulator (a test) and on a GPU
/// (`doctor --gpu`).
public enum BackendConformance {
    /// Shapes: `.small` for the emulator (every block's threads are real threads), `.full`
    /// for a real device (shapes large enough to use many blocks and tiles).
    public enum Size: String, Sendable { case small, full }

    /// One check's outcome.
    public struct Result: Sendable {
        /// "gemm nn 33×17×65", "softmaxRows 17×33", "determinism adamStep", …
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

    /// The names of the operations the suite checks (one or more checks each).
    public static let operations: [String] = []

    /// Runs every check (or those whose operation is in `only`) on `backend`.
    public static func run(_ backend: any Backend, size: Size, only: Set<String>? = nil) -> [Result] {
        []
    }
}
