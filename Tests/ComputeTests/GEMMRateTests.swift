import XCTest
@testable import Compute

final class GEMMRateTests: XCTestCase {
    func testMeasuresEveryShapeWithAPositiveRate() {
        let shapes = [(m: 64, n: 32, k: 16), (m: 1, n: 1, k: 1), (m: 100, n: 3, k: 200)]
        let r = GEMMRate.measure(CPUBackend(threads: 1), shapes: shapes, reps: 3)
        XCTAssertEqual(r.map(\.m), [64, 1, 100])
        XCTAssertEqual(r.map(\.k), [16, 1, 200])
        for x in r {
            XCTAssertGreaterThan(x.seconds, 0)
            XCTAssertEqual(x.gflops, 2 * Double(x.m * x.n * x.k) / x.seconds / 1e9, accuracy: 1e-9 * x.gflops)
        }
    }
}
