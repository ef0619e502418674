import XCTest
@testable import Compute

final class GEMMRateTests: XCTestCase {
    func testMeasuresEveryShapeWithAPositiveRate() {
        let shapes = [GEMMRate.Shape(64, 32, 16), GEMMRate.Shape(1, 1, 1, transA: true), GEMMRate.Shape(100, 3, 200, transB: true)]
        let r = GEMMRate.measure(CPUBackend(threads: 1), shapes: shapes, reps: 3)
        XCTAssertEqual(r.map(\.m), [64, 1, 100])
        XCTAssertEqual(r.map(\.k), [16, 1, 200])
        XCTAssertEqual(r.map(\.shape.label), ["64×32×16", "1×1×1 Aᵀ", "100×3×200 Bᵀ"])
        XCTAssertEqual(GEMMRate.defaultShapes.count, 7)
        for x in r {
            XCTAssertGreaterThan(x.seconds, 0)
            XCTAssertEqual(x.gflops, 2 * Double(x.m * x.n * x.k) / x.seconds / 1e9, accuracy: 1e-9 * x.gflops)
        }
    }
}
