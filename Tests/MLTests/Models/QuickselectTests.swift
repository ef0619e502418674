import XCTest
@testable import ML
import TestHelpers

/// `select` (Models/Models.swift): the quickselect behind the training deciles a model stores
/// for the drift monitor.
final class QuickselectTests: XCTestCase {
    func testSelectionGivesTheSortedOrderStatistics() {
        var g = SplitMix(seed: 43)
        for n in [1, 2, 3, 10, 1000, 100_001] {
            for dup in [false, true] {
                let base = (0..<n).map { _ in dup ? Float(Int.random(in: 0...5, using: &g)) : Float.random(in: -1...1, using: &g) }
                let sorted = base.sorted()
                var a = base
                var lo = 0
                for q in 1..<10 {
                    let pos = min(n - 1, Int(Double(q) / 10 * Double(n)))
                    if pos >= lo { select(&a, pos, from: lo); lo = pos + 1 }
                    XCTAssertEqual(a[pos], sorted[pos], "n \(n) q \(q)")
                }
            }
        }
    }
}
