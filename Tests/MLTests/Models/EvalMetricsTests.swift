import Foundation
import ML
import Support
import TestHelpers
import XCTest

final class EvalMetricsTests: XCTestCase {
    // MARK: helpers

    private func num(_ m: [String: JSON], _ key: String, file: StaticString = #filePath, line: UInt = #line) -> Double {
        guard let v = m[key] else { XCTFail("missing key \(key)", file: file, line: line); return .nan }
        guard case .number(let d) = v else { XCTFail("\(key) is \(v), not .number", file: file, line: line); return .nan }
        return d
    }

    private func assertNum(_ m: [String: JSON], _ key: String, _ expected: Double, accuracy: Double = 1e-12,
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(num(m, key, file: file, line: line), expected, accuracy: accuracy, "\(key)", file: file, line: line)
    }

    private func matrix(_ rows: [[Int]]) -> JSON { .array(rows.map { .array($0.map { .int(Int64($0)) }) }) }

    /// Probability rows as the flat Float array the API takes.
    private func flat(_ rows: [[Float]]) -> [Float] { rows.flatMap { $0 } }

    // MARK: classification

    func testClassificationHandComputedThreeClasses() {
        // CM rows = true: [1 1 0] [0 2 0] [1 0 1].
        let m = EvalMetrics.classification(yTrue: [0, 0, 1, 1, 2, 2], yPred: [0, 1, 1, 1, 2, 0], probabilities: nil,
                                           classes: ["a", "b", "c"])
        assertNum(m, "accuracy", 4.0 / 6)
        // P = (1/2, 2/3, 1), R = (1/2, 1, 1/2), F1 = (1/2, 4/5, 2/3).
        assertNum(m, "precision_macro", 13.0 / 18)
        assertNum(m, "recall_macro", 2.0 / 3)
        assertNum(m, "f1_macro", 59.0 / 90)
        XCTAssertEqual(m["confusion_matrix"], matrix([[1, 1, 0], [0, 2, 0], [1, 0, 1]]))
        XCTAssertEqual(m["classes"], .array([.string("a"), .string("b"), .string("c")]))
        XCTAssertEqual(m["n"], .int(6))
        XCTAssertNil(m["log_loss"])
        XCTAssertNil(m["roc_auc"])
        XCTAssertEqual(Set(m.keys), ["accuracy", "precision_macro", "recall_macro", "f1_macro", "confusion_matrix", "classes", "n"])
    }

    func testClassNeverPredictedAndClassAbsent() {
        // Class 2 is true once but never predicted (precision 0/0 → 0, recall 0); class 3
        // occurs nowhere and is left out of the macro mean (scikit-learn's default labels).
        let m = EvalMetrics.classification(yTrue: [0, 1, 2], yPred: [0, 1, 1], probabilities: nil, classes: ["a", "b", "c", "d"])
        assertNum(m, "accuracy", 2.0 / 3)
        assertNum(m, "precision_macro", (1 + 0.5 + 0) / 3)
        assertNum(m, "recall_macro", (1 + 1 + 0) / 3)
        assertNum(m, "f1_macro", (1 + 2.0 / 3 + 0) / 3)
        XCTAssertEqual(m["confusion_matrix"], matrix([[1, 0, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]))
    }

    func testClassPredictedButNeverTrue() {
        // Class 1: no true samples → recall 0 (zero_division=0), precision 0/1.
        let m = EvalMetrics.classification(yTrue: [0, 0], yPred: [0, 1], probabilities: nil, classes: ["a", "b"])
        assertNum(m, "precision_macro", 0.5)
        assertNum(m, "recall_macro", 0.25)
        assertNum(m, "f1_macro", 1.0 / 3)
    }

    func testOneClassPresent() {
        let probs = flat([[0.25, 0.75], [0.5, 0.5], [0, 1]])
        let m = EvalMetrics.classification(yTrue: [1, 1, 1], yPred: [1, 1, 1], probabilities: probs, classes: ["no", "yes"])
        assertNum(m, "accuracy", 1)
        assertNum(m, "precision_macro", 1)
        assertNum(m, "recall_macro", 1)
        assertNum(m, "f1_macro", 1)
        assertNum(m, "log_loss", -(log(0.75) + log(0.5) + log(1 - 1e-15)) / 3)
        // ROC AUC is undefined with one class in y_true: the key is there, null.
        XCTAssertEqual(m["roc_auc"], .null)
        XCTAssertEqual(m["confusion_matrix"], matrix([[0, 0], [0, 3]]))
    }

    func testPerfectPredictions() {
        let probs = flat([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]])
        let m = EvalMetrics.classification(yTrue: [0, 1, 2, 1], yPred: [0, 1, 2, 1], probabilities: probs, classes: ["x", "y", "z"])
        for key in ["accuracy", "precision_macro", "recall_macro", "f1_macro"] { assertNum(m, key, 1) }
        // p = 1 is clipped to 1 − 1e-15.
        XCTAssertEqual(num(m, "log_loss"), -log(1 - 1e-15))
        XCTAssertGreaterThan(num(m, "log_loss"), 0)
        XCTAssertNil(m["roc_auc"], "roc_auc is binary only")
        XCTAssertEqual(m["confusion_matrix"], matrix([[1, 0, 0], [0, 2, 0], [0, 0, 1]]))
    }

    func testAllWrong() {
        // Fully confident and fully wrong: p(true) = 0 clipped to 1e-15.
        let probs = flat([[0, 1], [1, 0], [0, 1], [1, 0]])
        let m = EvalMetrics.classification(yTrue: [0, 1, 0, 1], yPred: [1, 0, 1, 0], probabilities: probs, classes: ["n", "p"])
        for key in ["accuracy", "precision_macro", "recall_macro", "f1_macro"] { assertNum(m, key, 0) }
        XCTAssertEqual(num(m, "log_loss"), -log(1e-15))
        XCTAssertEqual(num(m, "log_loss"), 34.538776394910684, accuracy: 1e-12)
        assertNum(m, "roc_auc", 0)
        XCTAssertEqual(m["confusion_matrix"], matrix([[0, 2], [2, 0]]))
    }

    func testLogLossHandComputed() {
        let probs = flat([[0.75, 0.25], [0.5, 0.5], [0.125, 0.875]])
        let m = EvalMetrics.classification(yTrue: [0, 1, 1], yPred: [0, 0, 1], probabilities: probs, classes: ["a", "b"])
        assertNum(m, "log_loss", -(log(0.75) + log(0.5) + log(0.875)) / 3)
        // Scores 0.25, 0.5, 0.875 for labels 0, 1, 1: both positives outrank the negative.
        assertNum(m, "roc_auc", 1)
    }

    func testRocAUCClassicExample() {
        // scikit-learn's roc_auc_score docstring example: 0.75.
        let scores: [Float] = [0.1, 0.4, 0.35, 0.8]
        let probs = scores.flatMap { [1 - $0, $0] }
        let m = EvalMetrics.classification(yTrue: [0, 0, 1, 1], yPred: [0, 0, 0, 1], probabilities: probs, classes: ["0", "1"])
        assertNum(m, "roc_auc", 0.75)
    }

    func testRocAUCTies() {
        // All scores tied: 0.5.
        let allTied = EvalMetrics.classification(yTrue: [0, 1, 0, 1], yPred: [0, 0, 0, 0],
                                                 probabilities: flat(Array(repeating: [0.5, 0.5], count: 4)), classes: ["a", "b"])
        assertNum(allTied, "roc_auc", 0.5)
        // Negatives 0.25, 0.5; positives 0.5, 0.75, 0.25. Pairs won: 1 + ½ | 1 + 1 | ½ + 0 → 4/6.
        let s: [Float] = [0.25, 0.5, 0.5, 0.75, 0.25]
        let m = EvalMetrics.classification(yTrue: [0, 0, 1, 1, 1], yPred: [0, 0, 0, 1, 0],
                                           probabilities: s.flatMap { [1 - $0, $0] }, classes: ["a", "b"])
        assertNum(m, "roc_auc", 4.0 / 6)
        // Reversing row order does not change it.
        let r = EvalMetrics.classification(yTrue: [1, 1, 1, 0, 0], yPred: [0, 1, 0, 0, 0],
                                           probabilities: s.reversed().flatMap { [1 - $0, $0] }, classes: ["a", "b"])
        assertNum(r, "roc_auc", 4.0 / 6)
    }

    func testRocAUCWithNaNScoreIsNull() {
        let m = EvalMetrics.classification(yTrue: [0, 1], yPred: [0, 1], probabilities: [0.5, .nan, 0.5, 0.5], classes: ["a", "b"])
        XCTAssertEqual(m["roc_auc"], .null)
    }

    func testEmptyClassification() {
        let m = EvalMetrics.classification(yTrue: [], yPred: [], probabilities: [], classes: ["a", "b"])
        for key in ["accuracy", "precision_macro", "recall_macro", "f1_macro", "log_loss", "roc_auc"] {
            XCTAssertEqual(m[key], .null, key)
        }
        XCTAssertEqual(m["n"], .int(0))
        XCTAssertEqual(m["confusion_matrix"], matrix([[0, 0], [0, 0]]))
    }

    func testClassificationIsDeterministic() {
        var rng = SplitMix(seed: 5)
        let n = 500, c = 3
        let yTrue = (0..<n).map { _ in Int32(rng.int(0..<c)) }
        let yPred = (0..<n).map { _ in Int32(rng.int(0..<c)) }
        let probs = (0..<(n * c)).map { _ in Float(rng.int(1..<100)) / 100 }
        let a = JSON.object(EvalMetrics.classification(yTrue: yTrue, yPred: yPred, probabilities: probs, classes: ["a", "b", "c"]))
        let b = JSON.object(EvalMetrics.classification(yTrue: yTrue, yPred: yPred, probabilities: probs, classes: ["a", "b", "c"]))
        XCTAssertEqual(a.encoded(), b.encoded())
    }

    // MARK: regression

    func testRegressionHandComputed() {
        // Errors 0, −1, 1, −2: SS_res 6, |e| sum 4; mean 2.5, SS_tot 5.
        let m = EvalMetrics.regression(yTrue: [1, 2, 3, 4], yPred: [1, 3, 2, 6])
        assertNum(m, "rmse", 1.5.squareRoot())
        assertNum(m, "mae", 1)
        assertNum(m, "r2", -0.2)
        XCTAssertEqual(m["n"], .int(4))
        XCTAssertEqual(Set(m.keys), ["rmse", "mae", "r2", "n"])
    }

    func testRegressionPerfect() {
        let m = EvalMetrics.regression(yTrue: [0.5, -2, 7], yPred: [0.5, -2, 7])
        XCTAssertEqual(m["rmse"], .number(0))
        XCTAssertEqual(m["mae"], .number(0))
        XCTAssertEqual(m["r2"], .number(1))
    }

    func testRegressionConstantTarget() {
        // SS_tot = 0: scikit-learn's r2_score gives 1 for perfect predictions, else 0.
        let perfect = EvalMetrics.regression(yTrue: [3, 3, 3], yPred: [3, 3, 3])
        XCTAssertEqual(perfect["r2"], .number(1))
        let off = EvalMetrics.regression(yTrue: [3, 3, 3], yPred: [3, 4, 3])
        XCTAssertEqual(off["r2"], .number(0))
        assertNum(off, "rmse", (1.0 / 3).squareRoot())
        assertNum(off, "mae", 1.0 / 3)
    }

    func testRegressionTinyInputs() {
        let one = EvalMetrics.regression(yTrue: [2], yPred: [5])
        assertNum(one, "rmse", 3)
        assertNum(one, "mae", 3)
        XCTAssertEqual(one["r2"], .null, "R² needs two rows (scikit-learn: NaN)")
        let none = EvalMetrics.regression(yTrue: [], yPred: [])
        XCTAssertEqual(none["rmse"], .null)
        XCTAssertEqual(none["mae"], .null)
        XCTAssertEqual(none["r2"], .null)
        XCTAssertEqual(none["n"], .int(0))
    }

    // MARK: clustering

    func testClusteringHandComputed1D() {
        let m = EvalMetrics.clustering(x: [0, 1, 10, 11], rows: 4, cols: 1, assignments: [0, 0, 1, 1], centers: [0.5, 10.5], k: 2, seed: 1)
        assertNum(m, "inertia", 1)
        // Points 0 and 11: a = 1, b = 10.5; points 1 and 10: a = 1, b = 9.5.
        assertNum(m, "silhouette", (9.5 / 10.5 + 8.5 / 9.5) / 2)
        XCTAssertEqual(m["n"], .int(4))
        XCTAssertEqual(m["k"], .int(2))
        XCTAssertEqual(Set(m.keys), ["inertia", "silhouette", "n", "k"])
    }

    func testClusteringHandComputed2D() {
        // Corners of a 4 × 3 rectangle, split left/right: a = 3, b = (4 + 5) / 2 for every point.
        let x: [Float] = [0, 0, 0, 3, 4, 0, 4, 3]
        let m = EvalMetrics.clustering(x: x, rows: 4, cols: 2, assignments: [0, 0, 1, 1], centers: [0, 1.5, 4, 1.5], k: 2, seed: 1)
        assertNum(m, "inertia", 9)
        assertNum(m, "silhouette", 1.0 / 3)
    }

    func testSingletonClusterScoresZero() {
        let m = EvalMetrics.clustering(x: [0, 1, 5], rows: 3, cols: 1, assignments: [0, 0, 1], centers: [0.5, 5], k: 2, seed: 1)
        assertNum(m, "inertia", 0.5)
        // 0: a = 1, b = 5 → 4/5; 1: a = 1, b = 4 → 3/4; 5 is alone → 0.
        assertNum(m, "silhouette", (0.8 + 0.75 + 0) / 3)
    }

    func testClusteringDegenerateCases() {
        // k = 1 → 0.
        let one = EvalMetrics.clustering(x: [0, 1, 2], rows: 3, cols: 1, assignments: [0, 0, 0], centers: [1], k: 1, seed: 1)
        XCTAssertEqual(one["silhouette"], .number(0))
        assertNum(one, "inertia", 2)
        // k = 3 but only one cluster used → 0.
        let unused = EvalMetrics.clustering(x: [0, 1], rows: 2, cols: 1, assignments: [2, 2], centers: [9, 9, 0.5], k: 3, seed: 1)
        XCTAssertEqual(unused["silhouette"], .number(0))
        assertNum(unused, "inertia", 0.5)
        // Every point alone → 0.
        let alone = EvalMetrics.clustering(x: [0, 1, 2], rows: 3, cols: 1, assignments: [0, 1, 2], centers: [0, 1, 2], k: 3, seed: 1)
        XCTAssertEqual(alone["silhouette"], .number(0))
        XCTAssertEqual(alone["inertia"], .number(0))
        // All points identical, two clusters: max(a, b) = 0 → 0.
        let same = EvalMetrics.clustering(x: [1, 1, 1, 1], rows: 4, cols: 1, assignments: [0, 0, 1, 1], centers: [1, 1], k: 2, seed: 1)
        XCTAssertEqual(same["silhouette"], .number(0))
        // No rows.
        let empty = EvalMetrics.clustering(x: [], rows: 0, cols: 2, assignments: [], centers: [0, 0, 1, 1], k: 2, seed: 1)
        XCTAssertEqual(empty["silhouette"], .number(0))
        XCTAssertEqual(empty["inertia"], .number(0))
        XCTAssertEqual(empty["n"], .int(0))
    }

    func testSampleIndices() {
        // Golden values, from an independent Python implementation of SplitMix64 + Lemire
        // bounded draws + Floyd's algorithm.
        XCTAssertEqual(EvalMetrics.sampleIndices(rows: 10, count: 3, seed: 42), Self.goldenSample10of3seed42)
        XCTAssertEqual(EvalMetrics.sampleIndices(rows: 1000, count: 8, seed: 7), Self.goldenSample1000of8seed7)
        for seed: UInt64 in [0, 1, 99, .max] {
            let s = EvalMetrics.sampleIndices(rows: 500, count: 100, seed: seed)
            XCTAssertEqual(s.count, 100)
            XCTAssertEqual(s, s.sorted())
            XCTAssertEqual(Set(s).count, 100)
            XCTAssertTrue(s.allSatisfy { $0 >= 0 && $0 < 500 })
            XCTAssertEqual(s, EvalMetrics.sampleIndices(rows: 500, count: 100, seed: seed))
        }
        XCTAssertNotEqual(EvalMetrics.sampleIndices(rows: 500, count: 100, seed: 1), EvalMetrics.sampleIndices(rows: 500, count: 100, seed: 2))
        XCTAssertEqual(EvalMetrics.sampleIndices(rows: 5, count: 5, seed: 3), [0, 1, 2, 3, 4])
        XCTAssertEqual(EvalMetrics.sampleIndices(rows: 5, count: 9, seed: 3), [0, 1, 2, 3, 4])
        XCTAssertEqual(EvalMetrics.sampleIndices(rows: 5, count: 0, seed: 3), [])
        XCTAssertEqual(EvalMetrics.sampleIndices(rows: 5, count: 4, seed: 3).count, 4)
    }

    static let goldenSample10of3seed42 = [1, 2, 5]
    static let goldenSample1000of8seed7 = [16, 248, 328, 387, 451, 467, 580, 896]

    /// Random blobs for the sampling tests.
    private func blobs(rows: Int, cols: Int, k: Int, seed: UInt64) -> (x: [Float], assignments: [Int32], centers: [Float]) {
        var rng = SplitMix(seed: seed)
        let centers = (0..<(k * cols)).map { _ in Float(rng.int(-50..<50)) }
        var x: [Float] = [], a: [Int32] = []
        for _ in 0..<rows {
            let c = rng.int(0..<k)
            a.append(Int32(c))
            for j in 0..<cols { x.append(centers[c * cols + j] + Float(rng.int(-1000..<1000)) / 100) }
        }
        return (x, a, centers)
    }

    func testSampledSilhouetteIsSilhouetteOfTheSample() {
        let rows = 900, cols = 3, k = 4
        let (x, a, centers) = blobs(rows: rows, cols: cols, k: k, seed: 17)
        let m = EvalMetrics.clustering(x: x, rows: rows, cols: cols, assignments: a, centers: centers, k: k, sampleSize: 200, seed: 123)
        let again = EvalMetrics.clustering(x: x, rows: rows, cols: cols, assignments: a, centers: centers, k: k, sampleSize: 200, seed: 123)
        XCTAssertEqual(JSON.object(m).encoded(), JSON.object(again).encoded())

        let idx = EvalMetrics.sampleIndices(rows: rows, count: 200, seed: 123)
        let sx = idx.flatMap { x[($0 * cols)..<(($0 + 1) * cols)] }
        let sa = idx.map { a[$0] }
        let sub = EvalMetrics.clustering(x: sx, rows: 200, cols: cols, assignments: sa, centers: centers, k: k, sampleSize: 200, seed: 999)
        XCTAssertEqual(m["silhouette"], sub["silhouette"])
        assertNum(m, "silhouette", referenceSilhouette(x: sx, cols: cols, labels: sa), accuracy: 1e-12)

        // Inertia always covers every row.
        let full = EvalMetrics.clustering(x: x, rows: rows, cols: cols, assignments: a, centers: centers, k: k, sampleSize: 5000, seed: 0)
        XCTAssertEqual(m["inertia"], full["inertia"])
        assertNum(full, "silhouette", referenceSilhouette(x: x, cols: cols, labels: a), accuracy: 1e-12)
        let other = EvalMetrics.clustering(x: x, rows: rows, cols: cols, assignments: a, centers: centers, k: k, sampleSize: 200, seed: 124)
        XCTAssertNotEqual(m["silhouette"], other["silhouette"])
    }

    /// Many clusters (m × clusters over the pair-table limit) take the row-at-a-time path;
    /// it must agree with the definition.
    func testManyClustersPath() {
        let pairs = 1500, rows = 2 * pairs
        var x: [Float] = [], a: [Int32] = [], centers: [Float] = []
        var rng = SplitMix(seed: 3)
        for p in 0..<pairs {
            let base = Float(p) * 10
            let u = base + Float(rng.int(0..<300)) / 100, v = base + Float(rng.int(0..<300)) / 100
            x += [u, v]; a += [Int32(p), Int32(p)]; centers.append((u + v) / 2)
        }
        let m = EvalMetrics.clustering(x: x, rows: rows, cols: 1, assignments: a, centers: centers, k: pairs, sampleSize: rows, seed: 0)
        // Pair p lies in [10p, 10p + 3], so the nearest other cluster of a point is pair p − 1
        // or p + 1: the definition in O(rows).
        var total = 0.0
        for p in 0..<pairs {
            let u = Double(x[2 * p]), v = Double(x[2 * p + 1])
            for (me, mate) in [(u, v), (v, u)] {
                let a = abs(me - mate)
                var b = Double.infinity
                for q in [p - 1, p + 1] where q >= 0 && q < pairs {
                    b = min(b, (abs(me - Double(x[2 * q])) + abs(me - Double(x[2 * q + 1]))) / 2)
                }
                let den = max(a, b)
                total += den > 0 ? (b - a) / den : 0
            }
        }
        assertNum(m, "silhouette", total / Double(rows), accuracy: 1e-9)
    }

    /// The textbook definition, written independently (per point, per cluster).
    private func referenceSilhouette(x: [Float], cols: Int, labels: [Int32]) -> Double {
        let m = labels.count
        var members: [Int32: [Int]] = [:]
        for (i, l) in labels.enumerated() { members[l, default: []].append(i) }
        if members.count < 2 { return 0 }
        func d(_ i: Int, _ j: Int) -> Double {
            var s = 0.0
            for c in 0..<cols { let t = Double(x[i * cols + c]) - Double(x[j * cols + c]); s += t * t }
            return s.squareRoot()
        }
        var total = 0.0
        for i in 0..<m {
            let own = members[labels[i]]!
            if own.count == 1 { continue }
            var a = 0.0
            for j in own where j != i { a += d(i, j) }
            a /= Double(own.count - 1)
            var b = Double.infinity
            for (l, ms) in members where l != labels[i] {
                var s = 0.0
                for j in ms { s += d(i, j) }
                b = min(b, s / Double(ms.count))
            }
            let den = max(a, b)
            if den > 0 { total += (b - a) / den }
        }
        return total / Double(m)
    }

    // MARK: cross-check against scikit-learn

    /// Runs `script` with python3 (one start: scikit-learn alone takes seconds to import);
    /// nil when python3 or scikit-learn is missing.
    private func python(_ script: String) throws -> String? {
        func run(_ args: [String]) throws -> (Int32, String, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = args
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            // Read before waiting so a large output cannot fill the pipe and stall.
            let o = out.fileHandleForReading.readDataToEndOfFile()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/env") else { return nil }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("evalmetrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("check.py").path
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let (status, out, err) = try run(["python3", path])
        // 127: env found no python3; 3: the script could not import numpy or scikit-learn.
        if status == 127 || status == 3 { return nil }
        XCTAssertEqual(status, 0, "python failed: \(err)")
        return out
    }

    private func py(_ a: [Double]) -> String { "[" + a.map { "\($0)" }.joined(separator: ",") + "]" }
    private func py(_ a: [Int32]) -> String { "[" + a.map { "\($0)" }.joined(separator: ",") + "]" }

    func testCrossCheckWithScikitLearn() throws {
        var rng = SplitMix(seed: 2024)
        var script = """
        import json, sys, warnings
        try:
            import numpy as np
            from sklearn import metrics as M
        except ImportError:
            sys.exit(3)
        warnings.simplefilter("ignore")
        out = []
        def cls(yt, yp, P, c):
            yt = np.array(yt); yp = np.array(yp); P = np.array(P, dtype=np.float64).reshape(len(yt), c)
            r = {"accuracy": M.accuracy_score(yt, yp),
                 "precision_macro": M.precision_score(yt, yp, average="macro", zero_division=0),
                 "recall_macro": M.recall_score(yt, yp, average="macro", zero_division=0),
                 "f1_macro": M.f1_score(yt, yp, average="macro", zero_division=0),
                 "log_loss": M.log_loss(yt, P, labels=list(range(c))),
                 "confusion_matrix": M.confusion_matrix(yt, yp, labels=list(range(c))).tolist()}
            if c == 2: r["roc_auc"] = M.roc_auc_score(yt, P[:, 1])
            out.append(r)
        def reg(yt, yp):
            out.append({"rmse": float(np.sqrt(M.mean_squared_error(yt, yp))), "mae": M.mean_absolute_error(yt, yp),
                        "r2": M.r2_score(yt, yp)})
        def clu(x, cols, labels):
            out.append({"silhouette": float(M.silhouette_score(np.array(x, dtype=np.float64).reshape(-1, cols), np.array(labels)))})

        """
        var expected: [[String: JSON]] = []

        // Classification: (classes, classes used by yTrue, classes used by yPred, rows).
        // Probabilities are multiples of 1/64 (exact in Float, rows sum to exactly 1, many
        // ties), never 0, so clipping does not matter.
        for (c, trueRange, predRange, n) in [(2, 2, 2, 300), (2, 2, 2, 40), (4, 4, 4, 250), (5, 3, 4, 120), (3, 3, 3, 60)] {
            let yTrue = (0..<n).map { _ in Int32(rng.int(0..<trueRange)) }
            var yPred: [Int32] = [], probs: [Float] = []
            for i in 0..<n {
                var w = [Int](repeating: 1, count: c)
                for _ in 0..<(64 - c) {
                    // Lean toward the true class so the scores mean something.
                    let j = rng.chance(0.3) ? Int(yTrue[i]) : rng.int(0..<c)
                    w[j] += 1
                }
                probs += w.map { Float($0) / 64 }
                yPred.append(rng.chance(0.6) ? Int32(w.indices.max { w[$0] < w[$1] }!) : Int32(rng.int(0..<predRange)))
            }
            expected.append(EvalMetrics.classification(yTrue: yTrue, yPred: yPred, probabilities: probs, classes: (0..<c).map { "c\($0)" }))
            script += "cls(\(py(yTrue)), \(py(yPred)), \(py(probs.map { Double($0) })), \(c))\n"
        }

        // Regression.
        for n in [50, 400] {
            let yTrue = (0..<n).map { _ in Double(rng.int(-100_000..<100_000)) / 997 }
            let yPred = yTrue.map { $0 + Double(rng.int(-5000..<5000)) / 1009 }
            expected.append(EvalMetrics.regression(yTrue: yTrue, yPred: yPred))
            script += "reg(\(py(yTrue)), \(py(yPred)))\n"
        }
        expected.append(EvalMetrics.regression(yTrue: [4, 4, 4, 4], yPred: [4, 4, 4, 4]))
        script += "reg([4.0,4.0,4.0,4.0], [4.0,4.0,4.0,4.0])\n"
        expected.append(EvalMetrics.regression(yTrue: [4, 4, 4, 4], yPred: [4, 5, 4, 4]))
        script += "reg([4.0,4.0,4.0,4.0], [4.0,5.0,4.0,4.0])\n"

        // Clustering: full silhouette, and a sampled one against scikit-learn on our sample.
        for (rows, cols, k, sample) in [(150, 3, 3, 2000), (60, 2, 5, 2000), (700, 4, 3, 250)] {
            let (x, a, centers) = blobs(rows: rows, cols: cols, k: k, seed: UInt64(rows))
            expected.append(EvalMetrics.clustering(x: x, rows: rows, cols: cols, assignments: a, centers: centers, k: k,
                                                   sampleSize: sample, seed: 77))
            let idx = EvalMetrics.sampleIndices(rows: rows, count: sample, seed: 77)
            let sx = idx.flatMap { x[($0 * cols)..<(($0 + 1) * cols)] }.map { Double($0) }
            script += "clu(\(py(sx)), \(cols), \(py(idx.map { a[$0] })))\n"
        }
        script += "print(json.dumps(out))\n"

        guard let text = try python(script) else { throw XCTSkip("python3 with scikit-learn is not available") }
        let got = try XCTUnwrap(JSON.parse(text.trimmingCharacters(in: .whitespacesAndNewlines)).arrayValue)
        XCTAssertEqual(got.count, expected.count)
        for (i, (mine, theirs)) in zip(expected, got).enumerated() {
            for (key, value) in try XCTUnwrap(theirs.objectValue) {
                if key == "confusion_matrix" {
                    XCTAssertEqual(mine[key], value, "case \(i) \(key)")
                    continue
                }
                let want = try XCTUnwrap(value.doubleValue, "case \(i) \(key)")
                let have = num(mine, key)
                XCTAssertEqual(have, want, accuracy: 1e-9 * max(1, abs(want)), "case \(i) \(key)")
            }
        }
    }
}
