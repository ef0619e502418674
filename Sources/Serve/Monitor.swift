import ML
import Support

/// The training-data side of drift: per feature, the mean, standard deviation and the
/// decile edges stored in the model file, turned into bins with expected shares.
struct TrainingProfile: Sendable {
    struct Feature: Sendable {
        var name: String
        var mean: Double?
        var std: Double?
        /// Distinct bin upper edges, ascending: bin b holds x ≤ edges[b] (and > edges[b−1]);
        /// the last bin holds x > edges.last.
        var edges: [Float]
        /// Expected share of each bin (edges.count + 1 values, summing to 1).
        var expected: [Double]
    }
    var features: [Feature]

    /// From the model header's `column_stats` (absent or malformed: no drift figures).
    init(model: ModelFile) {
        self.init(features: model.featureNames, columnStats: model.header["column_stats"])
    }

    /// From `column_stats` (a list of {name, mean, std, min, max, deciles}) for `names`, in
    /// that order: the features of the float matrix `LiveStats.observe` sees.
    init(features names: [String], columnStats: JSON?) {
        var stats: [String: JSON] = [:]
        for c in columnStats?.arrayValue ?? [] { if let n = c["name"]?.stringValue { stats[n] = c } }
        features = names.map { name in
            let s = stats[name]
            let deciles = (s?["deciles"]?.arrayValue ?? []).compactMap(\.doubleValue)
            var edges: [Float] = [], cumulative: [Double] = []
            if deciles.count == 9 {
                // P(X ≤ d_q) ≈ q/10; with ties the largest q of an edge value counts.
                for (q, d) in deciles.enumerated() {
                    let e = Float(d)
                    if let last = edges.last, last == e { cumulative[cumulative.count - 1] = Double(q + 1) / 10 }
                    else { edges.append(e); cumulative.append(Double(q + 1) / 10) }
                }
            }
            // When the training maximum is the top edge, nothing lies above it: the top
            // edge's bin takes the rest (a binary feature is 0/1, not 0/1/above).
            if let mx = s?["max"]?.doubleValue, let last = edges.last, mx <= Double(last), !cumulative.isEmpty {
                cumulative[cumulative.count - 1] = 1
            }
            var expected: [Double] = []
            var prev = 0.0
            for c in cumulative { expected.append(c - prev); prev = c }
            expected.append(1 - prev)
            return Feature(name: name, mean: s?["mean"]?.doubleValue, std: s?["std"]?.doubleValue, edges: edges, expected: expected)
        }
    }

    @inline(__always)
    static func bin(_ x: Float, _ edges: [Float]) -> Int {
        var lo = 0, hi = edges.count
        while lo < hi { let mid = (lo + hi) >> 1; if x <= edges[mid] { hi = mid } else { lo = mid + 1 } }
        return lo
    }
}

/// Live statistics of what one model scored, kept per worker and merged on read.
struct LiveStats {
    var requests: [Int: Int] = [:]
    /// Latency histogram: counts per `latencyBuckets` upper bound, then the +Inf bucket.
    var latency = [Int](repeating: 0, count: latencyBuckets.count + 1)
    var latencySum = 0.0
    var rows = 0
    /// Per feature: bin counts, Σx, Σx².
    var binCounts: [[Int]] = []
    var sums: [Double] = []
    var squares: [Double] = []

    init(profile: TrainingProfile?) {
        if let p = profile {
            binCounts = p.features.map { [Int](repeating: 0, count: $0.edges.count + 1) }
            sums = [Double](repeating: 0, count: p.features.count)
            squares = sums
        }
    }

    mutating func observe(rows x: [Float], count n: Int, profile: TrainingProfile) {
        let m = profile.features.count
        guard m > 0, x.count == n * m, binCounts.count == m else { return }
        for j in 0..<m {
            let edges = profile.features[j].edges
            var s = 0.0, q = 0.0
            for i in 0..<n {
                let v = x[i * m + j]
                binCounts[j][TrainingProfile.bin(v, edges)] += 1
                let d = Double(v)
                s += d; q += d * d
            }
            sums[j] += s; squares[j] += q
        }
        rows += n
    }

    mutating func merge(_ o: LiveStats) {
        for (k, v) in o.requests { requests[k, default: 0] += v }
        for i in latency.indices { latency[i] += o.latency[i] }
        latencySum += o.latencySum
        rows += o.rows
        if binCounts.count == o.binCounts.count {
            for j in binCounts.indices {
                for b in binCounts[j].indices where b < o.binCounts[j].count { binCounts[j][b] += o.binCounts[j][b] }
                sums[j] += o.sums[j]; squares[j] += o.squares[j]
            }
        }
    }
}

/// Upper bounds (seconds) of the request latency histogram.
let latencyBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/// Drift of one feature: population stability index over the training bins and the mean
/// shift in training standard deviations.
struct FeatureDrift {
    var name: String
    var rows: Int
    var psi: Double?
    var meanShift: Double?
    var liveMean: Double?
    var trainMean: Double?
    var trainStd: Double?

    /// Below this many scored rows the PSI is mostly noise: no verdict.
    static let minimumRows = 100

    /// PSI thresholds by convention: below 0.1 stable, 0.1–0.25 a moderate shift, above
    /// 0.25 a significant one.
    var status: String {
        if rows < FeatureDrift.minimumRows { return rows == 0 ? "no data" : "too few rows" }
        guard let psi else { return "unknown" }
        return psi >= 0.25 ? "drift" : psi >= 0.1 ? "warn" : "ok"
    }
}

func drift(_ live: LiveStats, _ profile: TrainingProfile) -> [FeatureDrift] {
    profile.features.enumerated().map { j, f in
        let n = live.rows
        var d = FeatureDrift(name: f.name, rows: n, trainMean: f.mean, trainStd: f.std)
        guard n > 0, j < live.binCounts.count else { return d }
        let mean = live.sums[j] / Double(n)
        d.liveMean = mean
        if let tm = f.mean, let ts = f.std, ts > 0 { d.meanShift = (mean - tm) / ts }
        if f.edges.count > 0 {
            d.psi = Drift.psi(expected: f.expected, actual: f.expected.indices.map { Double(live.binCounts[j][$0]) / Double(n) })
        }
        return d
    }
}

#if canImport(Glibc)
import Glibc
#endif
