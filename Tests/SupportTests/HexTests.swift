import XCTest
import TestHelpers
@testable import Support

final class HexTests: XCTestCase {
    func testEncode() {
        XCTAssertEqual(Hex.encode([UInt8]()), "")
        XCTAssertEqual(Hex.encode([0x00, 0x01, 0x7f, 0x80, 0xab, 0xff]), "00017f80abff")
    }

    func testRoundTrip() {
        var rng = SplitMix(seed: 42)
        for n in [0, 1, 2, 31, 32, 33, 257] {
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let h = Hex.encode(bytes)
            XCTAssertEqual(h.count, n * 2)
            XCTAssertEqual(Hex.decode(h), bytes)
            XCTAssertEqual(Hex.decode(h.uppercased()), bytes, "upper-case hex decodes too")
        }
        let all = (0...255).map { UInt8($0) }
        XCTAssertEqual(Hex.decode(Hex.encode(all)), all)
    }

    func testDecodeRejects() {
        XCTAssertNil(Hex.decode("abc"), "odd length")
        XCTAssertNil(Hex.decode("zz"))
        XCTAssertNil(Hex.decode("0g"))
        XCTAssertNil(Hex.decode("-1"))
        XCTAssertNil(Hex.decode("é1"))
        XCTAssertEqual(Hex.decode(""), [])
        XCTAssertEqual(Hex.value(UInt8(ascii: "F")), 15)
        XCTAssertNil(Hex.value(UInt8(ascii: "G")))
    }
}
