#if canImport(Glibc)
import Glibc
#endif

/// Drift statistics between a reference distribution and a new one over the same bins:
/// the one population stability index of the code base (the serving monitor's per-feature
/// drift and the web app's drift between two dataset versions both use it).
public enum Drift {
    /// Proportions below this are raised to it, so an empty bin on either side counts as
    /// rare rather than making the index infinite.
    public static let floor = 1e-4

    /// PSI = Σ (actual − expected) × ln(actual / expected) over the bins, both given as
    /// proportions (each floored at `floor`). Below 0.1 is usually read as stable, above
    /// 0.25 as a real shift.
    public static func psi(expected: [Double], actual: [Double]) -> Double {
        var psi = 0.0
        for i in 0..<min(expected.count, actual.count) {
            let a = max(actual[i], floor), e = max(expected[i], floor)
            psi += (a - e) * log(a / e)
        }
        return psi
    }

    /// PSI and the largest gap between the two cumulative distributions (a KS distance
    /// over the bins) of two histograms of counts over the same bins; nil when either is
    /// empty or they differ in length.
    public static func psiAndKS(reference a: [Int], new b: [Int]) -> (psi: Double, ks: Double)? {
        let na = a.reduce(0, +), nb = b.reduce(0, +)
        guard na > 0, nb > 0, a.count == b.count else { return nil }
        let pa = a.map { Double($0) / Double(na) }, pb = b.map { Double($0) / Double(nb) }
        var ks = 0.0, ca = 0.0, cb = 0.0
        for i in pa.indices {
            ca += pa[i]; cb += pb[i]
            ks = max(ks, abs(ca - cb))
        }
        return (psi(expected: pa, actual: pb), ks)
    }
}
