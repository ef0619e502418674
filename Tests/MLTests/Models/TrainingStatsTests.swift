import XCTest
@testable import ML
import Store
import Support

/// Training statistics for drift monitoring (`MLRepo.trainingProfile` / `columnStats`):
/// computed in one streaming pass with bounded memory, they agree with the in-memory
/// computation (the dataset reader plus `columnStats`, which `.mlmodel` headers use).
final class TrainingStatsTests: XCTestCase {
    /// A CSV of `n` rows: x uniform in [-1, 1) with 6 decimals, y an integer 0…999, label.
    func csv(_ n: Int, seed: UInt64) -> (text: String, x: [Double], y: [Double]) {
        var rng = SplitMix64(seed: seed)
        var s = "x,y,label\n", xs: [Double] = [], ys: [Double] = []
        for i in 0..<n {
            let x = Double(Int(rng.next() % 2_000_000) - 1_000_000) / 1_000_000, y = Double(rng.next() % 1000)
            s += "\(x),\(Int(y)),\(i % 2)\n"
            xs.append(x); ys.append(y)
        }
        return (s, xs, ys)
    }

    /// Streams `text` into the profiler in `piece`-byte pieces.
    func streamed(_ text: String, piece: Int) throws -> JSON {
        let profiler = CSVProfiler(path: "train.csv", quantileLevels: MLRepo.decileLevels)
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + piece)
            try bytes[i..<end].withUnsafeBytes { try profiler.feed($0) }
            i = end
        }
        return MLRepo.columnStats(try profiler.finish(), features: ["x", "y"])
    }

    func inMemory(_ text: String) throws -> JSON {
        let bytes = Array(text.utf8)
        let d = try bytes.withUnsafeBytes { try DatasetReader.readCSV(bytes: $0, name: "train.csv", label: nil, features: ["x", "y"], threads: 2) }
        return columnStats(d, columnMoments(d, threads: 2), threads: 2)
    }

    func assertSameMoments(_ a: JSON, _ b: JSON, file: StaticString = #filePath, line: UInt = #line) {
        let a = a.arrayValue ?? [], b = b.arrayValue ?? []
        XCTAssertEqual(a.map { $0["name"]?.stringValue }, ["x", "y"], file: file, line: line)
        XCTAssertEqual(a.map { $0["name"]?.stringValue }, b.map { $0["name"]?.stringValue }, file: file, line: line)
        for (s, m) in zip(a, b) {
            for k in ["mean", "std", "min", "max"] {
                let x = s[k]?.doubleValue ?? .nan, y = m[k]?.doubleValue ?? .nan
                // The in-memory reader holds Float values: agreement to Float precision.
                XCTAssertEqual(x, y, accuracy: 1e-6 * max(1, abs(y)), "\(s["name"]?.stringValue ?? "?").\(k)", file: file, line: line)
            }
            XCTAssertEqual(s["deciles"]?.arrayValue?.count, 9, file: file, line: line)
        }
    }

    /// The share of `sorted` at or below `v`.
    func rank(_ sorted: [Double], _ v: Double) -> Double {
        var lo = 0, hi = sorted.count
        while lo < hi { let mid = (lo + hi) / 2; if sorted[mid] <= v { lo = mid + 1 } else { hi = mid } }
        return Double(lo) / Double(sorted.count)
    }

    /// Under 100,000 values, deciles are exact (numpy's linear interpolation) and the
    /// moments are the in-memory ones, however the input is cut (pieces of 4 KiB and 7 bytes,
    /// the file ~100 KiB).
    func testStreamedStatisticsMatchInMemory() throws {
        let (text, xs, ys) = csv(5000, seed: 11)
        XCTAssertGreaterThan(text.utf8.count, 64 * 1024, "larger than a store chunk")
        let s = try streamed(text, piece: 4096)
        XCTAssertEqual(try streamed(text, piece: 7).encoded(), s.encoded(), "the result does not depend on how the input is cut")
        assertSameMoments(s, try inMemory(text))
        for (j, values) in [xs, ys].enumerated() {
            let sorted = values.sorted()
            let d = s.arrayValue?[j]["deciles"]?.arrayValue?.compactMap(\.doubleValue) ?? []
            XCTAssertEqual(d, MLRepo.decileLevels.map { profileQuantile(sorted: sorted, $0) })
        }
    }

    /// Over 100,000 values, deciles come from the 100,000-value reservoir: each lies within
    /// ±0.5 % of rank of the exact decile (the stated bound), and the moments stay exact.
    func testDecilesOfALargeColumnWithinTheStatedBound() throws {
        let (text, xs, ys) = csv(150_000, seed: 12)
        let s = try streamed(text, piece: 1 << 16)
        let m = try inMemory(text)
        assertSameMoments(s, m)
        for (j, values) in [xs, ys].enumerated() {
            let sorted = values.sorted()
            let d = s.arrayValue?[j]["deciles"]?.arrayValue?.compactMap(\.doubleValue) ?? []
            for (q, v) in zip(MLRepo.decileLevels, d) {
                // y has ties (1,000 values): the decile's value spans a range of ranks.
                let below = rank(sorted, v.nextDown), atOrBelow = rank(sorted, v)
                XCTAssertTrue(below - 0.005 <= q && q <= atOrBelow + 0.005, "column \(j) decile \(q): \(v) has rank \(below)…\(atOrBelow)")
            }
        }
        XCTAssertEqual(try streamed(text, piece: 1 << 16).encoded(), s.encoded(), "deterministic")
    }

    /// The object a promotion stores reads back; a malformed one does not.
    func testTrainingDataJSONRoundTrip() throws {
        let td = TrainingData(path: "data/train.csv", id: ObjectHash.id(.blob, Array("x".utf8)), stage: "train",
                              columns: ["x", "y", "label"], label: "label", columnStats: try streamed("x,y,label\n1,2,0\n3,4,1\n", piece: 5))
        let back = try XCTUnwrap(TrainingData(json: JSON.parse(td.json.encoded())))
        XCTAssertEqual(back.json.encoded(), td.json.encoded())
        XCTAssertEqual(back.keeping(["y"]).columnStats.arrayValue?.compactMap { $0["name"]?.stringValue }, ["y"])
        XCTAssertNil(TrainingData(json: try JSON.parse(#"{"version":1,"data":"d","data_id":"zz","columns":[],"column_stats":[]}"#)))
        XCTAssertNil(TrainingData(json: try JSON.parse(#"{"version":2}"#)))
    }
}
