import XCTest
@testable import Serve
import ML
import Support

final class DriftTests: XCTestCase {
    func model(deciles: [Double], max: Double = 10) -> ModelFile {
        ModelFile(type: "linear_regression", header: [
            "features": .array([.string("a")]),
            "column_stats": .array([.object(["name": .string("a"), "mean": .number(4.5), "std": .number(2.0), "max": .number(max),
                                             "deciles": .array(deciles.map { .number($0) })])]),
        ], tensors: [])
    }

    func testPSIIsZeroForTheTrainingDistributionAndLargeForAShift() {
        let p = TrainingProfile(model: model(deciles: [1, 2, 3, 4, 5, 6, 7, 8, 9].map(Double.init)))
        XCTAssertEqual(p.features[0].edges, [1, 2, 3, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(p.features[0].expected.reduce(0, +), 1, accuracy: 1e-12)
        var live = LiveStats(profile: p)
        // Uniform over the ten bins: values 0.5, 1.5, ..., 9.5, ten times each.
        let x = (0..<100).map { Float($0 % 10) + 0.5 }
        live.observe(rows: x, count: 100, profile: p)
        let d = drift(live, p)[0]
        XCTAssertEqual(d.psi ?? -1, 0, accuracy: 1e-9)
        XCTAssertEqual(d.meanShift ?? -1, 0.25, accuracy: 1e-9)  // (5.0 − 4.5) / 2
        XCTAssertEqual(d.status, "ok")
        var shifted = LiveStats(profile: p)
        shifted.observe(rows: [Float](repeating: 20, count: 100), count: 100, profile: p)
        let s = drift(shifted, p)[0]
        // All mass in the top bin: (1 − 0.1)·ln(10) + 9·(1e-4 − 0.1)·ln(1e-3).
        XCTAssertEqual(s.psi!, 0.9 * log(10) + 9 * (1e-4 - 0.1) * log(1e-3), accuracy: 1e-9)
        XCTAssertEqual(s.status, "drift")
    }

    func testTiedDecilesMergeBins() {
        // A binary feature: 60% zeros, 40% ones.
        let p = TrainingProfile(model: model(deciles: [0, 0, 0, 0, 0, 0, 1, 1, 1], max: 1))
        XCTAssertEqual(p.features[0].edges, [0, 1])
        XCTAssertEqual(p.features[0].expected.map { ($0 * 10).rounded() / 10 }, [0.6, 0.4, 0])
        var live = LiveStats(profile: p)
        live.observe(rows: (0..<100).map { $0 < 60 ? 0 : 1 }, count: 100, profile: p)
        XCTAssertEqual(drift(live, p)[0].psi ?? -1, 0, accuracy: 1e-3)
        // A value above the training maximum lands in a bin training never filled.
        live.observe(rows: [Float](repeating: 2, count: 50), count: 50, profile: p)
        XCTAssertGreaterThan(drift(live, p)[0].psi ?? 0, 0.25)
    }
}
