#if canImport(Glibc)
import Glibc
#endif
import Support

/// Evaluation metrics for `mlrepo eval`. Each function returns the top-level object of the
/// metrics JSON file; its keys are a contract (documented per function). Scores are
/// `.number(Double)`, counts (`n`, `k`, the confusion matrix) are `.int`. A score that is
/// not defined for the input (empty input, R² of fewer than two rows, ROC AUC with one class
/// present, NaN scores) is `.null`, never a made-up number; the key is still present.
///
/// Definitions follow scikit-learn's. All sums are taken in `Double`, in row order (or
/// another fixed order stated below), so the same input always gives the same bytes.
/// Inputs that break the documented shapes (length mismatches, labels out of range) are
/// programmer errors and trap.
public enum EvalMetrics {

    // MARK: classification

    /// yTrue/yPred: class indices 0..<classes.count. probabilities: rows × classes.count
    /// row-major (nil if the model has none).
    ///
    /// Keys:
    /// - `"accuracy"`: correct / n.
    /// - `"precision_macro"`, `"recall_macro"`, `"f1_macro"`: per-class precision
    ///   tp/(tp+fp), recall tp/(tp+fn) and F1 2tp/(2tp+fp+fn), then the unweighted mean over
    ///   the classes that occur in `yTrue` or `yPred` (scikit-learn's default `labels`);
    ///   a 0/0 ratio counts as 0 (`zero_division=0`). Classes absent from both do not
    ///   count: they would add a 0 for a class the data says nothing about.
    /// - `"log_loss"` (only when `probabilities` is given): mean over rows of
    ///   −ln(clip(p[row, yTrue[row]], 1e-15, 1 − 1e-15)). Rows are not renormalised.
    /// - `"roc_auc"` (only when `probabilities` is given and there are exactly two
    ///   classes): the Mann–Whitney U statistic of the class-1 scores divided by
    ///   n₀·n₁, ties getting the average of their ranks; equal to scikit-learn's
    ///   `roc_auc_score`. `.null` when `yTrue` holds only one class or a score is NaN.
    /// - `"confusion_matrix"`: `classes.count` arrays of `classes.count` ints; row = true
    ///   class, column = predicted class, both in class order.
    /// - `"classes"`: the names; `"n"`: rows.
    ///
    /// With no rows, every score is `.null` and the matrix is all zeros.
    public static func classification(yTrue: [Int32], yPred: [Int32], probabilities: [Float]?, classes: [String]) -> [String: JSON] {
        let n = yTrue.count
        let c = classes.count
        precondition(yPred.count == n, "EvalMetrics.classification: yTrue has \(n) rows, yPred \(yPred.count)")
        if let p = probabilities {
            precondition(p.count == n * c, "EvalMetrics.classification: probabilities has \(p.count) values, expected \(n) × \(c)")
        }

        // Confusion matrix, flat c × c.
        var cm = [Int](repeating: 0, count: c * c)
        for i in 0..<n {
            let t = Int(yTrue[i]), p = Int(yPred[i])
            precondition(t >= 0 && t < c && p >= 0 && p < c, "EvalMetrics.classification: label out of range 0..<\(c) in row \(i)")
            cm[t * c + p] += 1
        }

        var out: [String: JSON] = [:]
        out["n"] = .int(Int64(n))
        out["classes"] = .array(classes.map { .string($0) })
        out["confusion_matrix"] = .array((0..<c).map { t in .array((0..<c).map { p in .int(Int64(cm[t * c + p])) }) })

        if n == 0 {
            for key in ["accuracy", "precision_macro", "recall_macro", "f1_macro"] { out[key] = .null }
            if probabilities != nil {
                out["log_loss"] = .null
                if c == 2 { out["roc_auc"] = .null }
            }
            return out
        }

        var correct = 0
        for k in 0..<c { correct += cm[k * c + k] }
        out["accuracy"] = .number(Double(correct) / Double(n))

        // Per-class counts in class order, then a mean over the classes that occur.
        var precisionSum = 0.0, recallSum = 0.0, f1Sum = 0.0
        var present = 0
        for k in 0..<c {
            let tp = cm[k * c + k]
            var predicted = 0, actual = 0
            for j in 0..<c {
                predicted += cm[j * c + k]
                actual += cm[k * c + j]
            }
            if predicted == 0 && actual == 0 { continue }
            present += 1
            let fp = predicted - tp, fn = actual - tp
            precisionSum += ratio(tp, predicted)
            recallSum += ratio(tp, actual)
            f1Sum += ratio(2 * tp, 2 * tp + fp + fn)
        }
        // n > 0, so at least one class occurs.
        out["precision_macro"] = .number(precisionSum / Double(present))
        out["recall_macro"] = .number(recallSum / Double(present))
        out["f1_macro"] = .number(f1Sum / Double(present))

        if let probs = probabilities {
            out["log_loss"] = logLoss(yTrue: yTrue, probabilities: probs, classes: c)
            if c == 2 {
                out["roc_auc"] = rocAUC(yTrue: yTrue, scores: (0..<n).map { probs[$0 * 2 + 1] })
            }
        }
        return out
    }

    /// Smallest probability `log_loss` takes the log of (and 1 − this the largest), as
    /// scikit-learn's historical default `eps=1e-15`.
    public static let logLossEpsilon = 1e-15

    static func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }

    static func logLoss(yTrue: [Int32], probabilities: [Float], classes c: Int) -> JSON {
        let n = yTrue.count
        guard n > 0 else { return .null }
        var sum = 0.0
        for i in 0..<n {
            let p = Double(probabilities[i * c + Int(yTrue[i])])
            // min/max would drop NaN silently; keep it so the result says "undefined".
            let clipped = p.isNaN ? p : Swift.min(Swift.max(p, logLossEpsilon), 1 - logLossEpsilon)
            sum -= log(clipped)
        }
        let v = sum / Double(n)
        return v.isNaN ? .null : .number(v)
    }

    /// AUC = (R₁ − n₁(n₁+1)/2) / (n₀·n₁), R₁ the sum of the positives' ranks (1-based,
    /// ties averaged). Label 1 is the positive class.
    static func rocAUC(yTrue: [Int32], scores: [Float]) -> JSON {
        let n = yTrue.count
        var nPos = 0
        for t in yTrue where t == 1 { nPos += 1 }
        let nNeg = n - nPos
        guard nPos > 0, nNeg > 0, !scores.contains(where: { $0.isNaN }) else { return .null }
        // Ties are averaged, so the order inside a run of equal scores does not matter;
        // the index tie-break only makes the sort itself deterministic.
        let order = (0..<n).sorted { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        var rankSumPos = 0.0
        var start = 0
        while start < n {
            var end = start + 1
            while end < n, scores[order[end]] == scores[order[start]] { end += 1 }
            // Ranks start+1 ... end, average (start + 1 + end) / 2.
            let avg = Double(start + 1 + end) / 2
            for j in start..<end where yTrue[order[j]] == 1 { rankSumPos += avg }
            start = end
        }
        let u = rankSumPos - Double(nPos) * Double(nPos + 1) / 2
        return .number(u / (Double(nPos) * Double(nNeg)))
    }

    // MARK: regression

    /// Keys: `"rmse"` √(mean (y − ŷ)²), `"mae"` mean |y − ŷ|, `"r2"` 1 − SS_res/SS_tot
    /// with SS_tot = Σ(y − ȳ)² around the mean ȳ, and `"n"`.
    ///
    /// R² edge cases follow scikit-learn's `r2_score` (force_finite=True): when SS_tot is 0
    /// (constant `yTrue`), R² is 1 if the predictions are perfect (SS_res = 0) and 0
    /// otherwise. With fewer than two rows R² is undefined (scikit-learn returns NaN):
    /// `.null`. With no rows rmse and mae are `.null` too.
    public static func regression(yTrue: [Double], yPred: [Double]) -> [String: JSON] {
        let n = yTrue.count
        precondition(yPred.count == n, "EvalMetrics.regression: yTrue has \(n) rows, yPred \(yPred.count)")
        var out: [String: JSON] = ["n": .int(Int64(n))]
        guard n > 0 else {
            out["rmse"] = .null; out["mae"] = .null; out["r2"] = .null
            return out
        }
        var ssRes = 0.0, absSum = 0.0, ySum = 0.0
        for i in 0..<n {
            let e = yTrue[i] - yPred[i]
            ssRes += e * e
            absSum += abs(e)
            ySum += yTrue[i]
        }
        let mean = ySum / Double(n)
        var ssTot = 0.0
        for i in 0..<n {
            let d = yTrue[i] - mean
            ssTot += d * d
        }
        out["rmse"] = number((ssRes / Double(n)).squareRoot())
        out["mae"] = number(absSum / Double(n))
        if n < 2 {
            out["r2"] = .null
        } else if ssTot == 0 {
            out["r2"] = ssRes.isNaN ? .null : .number(ssRes == 0 ? 1 : 0)
        } else {
            out["r2"] = number(1 - ssRes / ssTot)
        }
        return out
    }

    static func number(_ v: Double) -> JSON { v.isNaN ? .null : .number(v) }

    // MARK: clustering

    /// x: rows × cols row-major; assignments: rows cluster indices in 0..<k; centers:
    /// k × cols row-major.
    ///
    /// Keys:
    /// - `"inertia"`: Σ over rows (in row order) of the squared Euclidean distance to the
    ///   assigned center.
    /// - `"silhouette"`: scikit-learn's `silhouette_score` (Euclidean) over a sample: all
    ///   rows when rows ≤ `sampleSize`, else `sampleSize` distinct rows chosen by
    ///   `sampleIndices(rows:count:seed:)`. Distances and clusters are those within the
    ///   sample. For a point i: a = mean distance to the other points of its cluster,
    ///   b = smallest mean distance to the points of another cluster,
    ///   s = (b − a) / max(a, b) (0 when max(a, b) = 0); a point alone in its cluster
    ///   scores 0; the score is the mean of s. It is 0 when k < 2, and also (where
    ///   scikit-learn would raise instead) when the sample holds fewer than two clusters or
    ///   no rows. Cost O(m² · cols) for m sampled rows.
    /// - `"n"`: rows; `"k"`: k.
    public static func clustering(x: [Float], rows: Int, cols: Int, assignments: [Int32], centers: [Float], k: Int,
                                  sampleSize: Int = 2000, seed: UInt64) -> [String: JSON] {
        precondition(rows >= 0 && cols >= 0 && k >= 0, "EvalMetrics.clustering: negative shape")
        precondition(x.count == rows * cols, "EvalMetrics.clustering: x has \(x.count) values, expected \(rows) × \(cols)")
        precondition(assignments.count == rows, "EvalMetrics.clustering: \(assignments.count) assignments for \(rows) rows")
        precondition(centers.count == k * cols, "EvalMetrics.clustering: centers has \(centers.count) values, expected \(k) × \(cols)")
        precondition(sampleSize > 0, "EvalMetrics.clustering: sampleSize must be positive")

        var inertia = 0.0
        for i in 0..<rows {
            let a = Int(assignments[i])
            precondition(a >= 0 && a < k, "EvalMetrics.clustering: assignment \(a) out of range 0..<\(k) in row \(i)")
            var d2 = 0.0
            for j in 0..<cols {
                let d = Double(x[i * cols + j]) - Double(centers[a * cols + j])
                d2 += d * d
            }
            inertia += d2
        }

        var out: [String: JSON] = [:]
        out["n"] = .int(Int64(rows))
        out["k"] = .int(Int64(k))
        out["inertia"] = number(inertia)
        if k < 2 {
            out["silhouette"] = .number(0)
        } else {
            let sample = rows <= sampleSize ? Array(0..<rows) : sampleIndices(rows: rows, count: sampleSize, seed: seed)
            out["silhouette"] = number(silhouette(x: x, cols: cols, assignments: assignments, sample: sample))
        }
        return out
    }

    /// `count` distinct row indices out of 0..<rows, ascending, drawn with SplitMix64
    /// seeded by `seed` (Floyd's algorithm: O(count) time and memory). The same arguments
    /// always give the same indices. count ≥ rows gives every row.
    public static func sampleIndices(rows: Int, count: Int, seed: UInt64) -> [Int] {
        guard count < rows else { return Array(0..<max(rows, 0)) }
        guard count > 0 else { return [] }
        var rng = SplitMix64(seed: seed)
        var chosen = Set<Int>(minimumCapacity: count)
        for j in (rows - count)..<rows {
            let t = Int(rng.next(below: UInt64(j + 1)))
            if !chosen.insert(t).inserted { chosen.insert(j) }
        }
        return chosen.sorted()
    }

    /// Mean silhouette of the rows in `sample` (ascending indices), clusters and distances
    /// restricted to the sample.
    static func silhouette(x: [Float], cols: Int, assignments: [Int32], sample: [Int]) -> Double {
        let m = sample.count
        guard m > 1 else { return 0 }
        // Compact cluster ids in order of first appearance in the sample.
        var compact: [Int32: Int] = [:]
        var label = [Int](repeating: 0, count: m)
        var size: [Int] = []
        for (s, row) in sample.enumerated() {
            let a = assignments[row]
            if let id = compact[a] { label[s] = id; size[id] += 1 } else {
                label[s] = size.count; compact[a] = size.count; size.append(1)
            }
        }
        let kp = size.count
        guard kp >= 2 else { return 0 }

        // The sampled rows as Double, contiguous.
        var pts = [Double](repeating: 0, count: m * cols)
        for (s, row) in sample.enumerated() {
            for j in 0..<cols { pts[s * cols + j] = Double(x[row * cols + j]) }
        }

        @inline(__always) func dist(_ a: Int, _ b: Int) -> Double {
            var d2 = 0.0
            let oa = a * cols, ob = b * cols
            for j in 0..<cols {
                let d = pts[oa + j] - pts[ob + j]
                d2 += d * d
            }
            return d2.squareRoot()
        }

        // Score of point s from its per-cluster distance sums.
        @inline(__always) func score(_ s: Int, _ sums: ArraySlice<Double>) -> Double {
            let own = label[s]
            guard size[own] > 1 else { return 0 }
            let base = sums.startIndex
            let a = sums[base + own] / Double(size[own] - 1)
            var b = Double.infinity
            for c in 0..<kp where c != own { b = Swift.min(b, sums[base + c] / Double(size[c])) }
            let denom = Swift.max(a, b)
            return denom > 0 ? (b - a) / denom : 0
        }

        var total = 0.0
        // Each sum for point s adds distances to the other points in ascending sample
        // order in both strategies, so they give identical bits.
        if m * kp <= 1 << 22 {
            // Every pair once: m × kp sums.
            var sums = [Double](repeating: 0, count: m * kp)
            for s in 0..<m {
                for t in (s + 1)..<m {
                    let d = dist(s, t)
                    sums[s * kp + label[t]] += d
                    sums[t * kp + label[s]] += d
                }
            }
            for s in 0..<m { total += score(s, sums[(s * kp)..<((s + 1) * kp)]) }
        } else {
            // Too many clusters for the table: one row of sums at a time, each pair twice.
            var sums = [Double](repeating: 0, count: kp)
            for s in 0..<m {
                for c in 0..<kp { sums[c] = 0 }
                for t in 0..<m where t != s { sums[label[t]] += dist(s, t) }
                total += score(s, sums[...])
            }
        }
        return total / Double(m)
    }
}
