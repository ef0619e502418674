import XCTest
@testable import ML

final class DriftTests: XCTestCase {
    func testPSIAndKSOfKnownHistograms() throws {
        // (0.25 − 0.5)·ln(0.5) + (0.75 − 0.5)·ln(1.5)
        let expected = -0.25 * log(0.5) + 0.25 * log(1.5)
        XCTAssertEqual(Drift.psi(expected: [0.5, 0.5], actual: [0.25, 0.75]), expected, accuracy: 1e-12)
        let r = try XCTUnwrap(Drift.psiAndKS(reference: [2, 2], new: [1, 3]))
        XCTAssertEqual(r.psi, expected, accuracy: 1e-12)
        XCTAssertEqual(r.ks, 0.25, accuracy: 1e-12)
        XCTAssertEqual(Drift.psi(expected: [0.3, 0.7], actual: [0.3, 0.7]), 0)
        // An empty bin is floored, not infinite.
        XCTAssertTrue(Drift.psi(expected: [1, 0], actual: [0, 1]).isFinite)
        XCTAssertNil(Drift.psiAndKS(reference: [0, 0], new: [1, 1]))
        XCTAssertNil(Drift.psiAndKS(reference: [1], new: [1, 1]))
    }
}
