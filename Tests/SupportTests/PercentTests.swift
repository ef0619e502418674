import XCTest
@testable import Support

final class PercentTests: XCTestCase {
    func testEncodeKeepsOnlyUnreservedCharacters() {
        XCTAssertEqual(Percent.encode("a b/é~-._*"), "a%20b%2F%C3%A9~-._%2A")
        XCTAssertEqual(Percent.encode("dir/file name", keepSlash: true), "dir/file%20name")
    }

    func testDecodeRoundTripsAndRefusesBadEscapes() {
        for s in ["", "a b", "100%", "<é>&+", "\u{0}"] { XCTAssertEqual(Percent.decode(Substring(Percent.encode(s)), plusIsSpace: true), s) }
        XCTAssertEqual(Percent.decode("a+b%2B", plusIsSpace: true), "a b+")
        XCTAssertEqual(Percent.decode("a+b", plusIsSpace: false), "a+b")
        XCTAssertNil(Percent.decode("%4", plusIsSpace: true))
        XCTAssertNil(Percent.decode("%zz", plusIsSpace: true))
        XCTAssertNil(Percent.decode("%C3%28", plusIsSpace: true), "not UTF-8")
    }

    func testByteCounts() {
        XCTAssertEqual(ByteCount.format(0), "0 B")
        XCTAssertEqual(ByteCount.format(1023), "1023 B")
        XCTAssertEqual(ByteCount.format(14_746), "14.4 KiB")
        XCTAssertEqual(ByteCount.format(150_000), "146.5 KiB")
        XCTAssertEqual(ByteCount.format(3 << 30), "3.0 GiB")
        XCTAssertEqual(ByteCount.format(UInt64.max), "16384.0 PiB")
    }
}
