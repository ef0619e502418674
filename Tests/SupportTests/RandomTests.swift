import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import Support

/// The one random generator (Support/Random.swift).
final class RandomTests: XCTestCase {
    func testSplitMix64ReferenceOutputs() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        var r = SplitMix64(seed: 0)
        XCTAssertEqual(r.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(r.next(), 0x6E78_9E6A_A1B9_65F4)
        XCTAssertEqual(r.next(), 0x06C4_5D18_8009_454F)
    }

    func testBoundedDrawsStayInRange() {
        var r = SplitMix64(seed: 3)
        for bound in [1, 2, 3, 10, 1 << 40] as [UInt64] {
            for _ in 0..<1000 { XCTAssertLessThan(r.next(below: bound), bound) }
        }
        for _ in 0..<1000 {
            let d = r.nextDouble()
            XCTAssert(d >= 0 && d < 1)
            XCTAssertLessThan(r.nextModulo(7), 7)
        }
    }
}
