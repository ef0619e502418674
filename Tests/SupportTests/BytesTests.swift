import XCTest
import TestHelpers
@testable import Support

final class BytesTests: XCTestCase {
    func testWriterReaderRoundTrip() throws {
        var w = ByteWriter()
        w.u8(0xAB); w.u16(0x1234); w.u32(0xDEADBEEF); w.u64(0x0102030405060708); w.i64(-5)
        w.string("hi"); w.u8(0); w.raw([9, 8, 7])
        XCTAssertEqual(Array(w.bytes[1..<3]), [0x34, 0x12], "little-endian")
        try w.bytes.withUnsafeBytes { b in
            var r = ByteReader(b)
            XCTAssertEqual(try r.u8(), 0xAB)
            XCTAssertEqual(try r.u16(), 0x1234)
            XCTAssertEqual(try r.u32(), 0xDEADBEEF)
            XCTAssertEqual(try r.u64(), 0x0102030405060708)
            XCTAssertEqual(try r.i64(), -5)
            XCTAssertEqual(Array(try r.until(0)), Array("hi".utf8))
            XCTAssertEqual(r.remaining, 3)
            XCTAssertEqual(Array(try r.bytes(3)), [9, 8, 7])
            XCTAssertTrue(r.atEnd)
            XCTAssertThrowsError(try r.u8())
        }
    }

    func testReaderThrowsOnTruncation() throws {
        let b: [UInt8] = [1, 2, 3]
        try b.withUnsafeBytes { buf in
            var r = ByteReader(buf)
            XCTAssertThrowsError(try r.u32()) { e in XCTAssertEqual((e as? ByteReaderError)?.offset, 0) }
            XCTAssertEqual(r.offset, 0, "a failed read does not advance")
            XCTAssertThrowsError(try r.bytes(4))
            XCTAssertThrowsError(try r.bytes(-1))
            XCTAssertThrowsError(try r.until(0), "no terminator")
            _ = try? r.u16()
            XCTAssertThrowsError(try r.u16()) { e in XCTAssertEqual((e as? ByteReaderError)?.offset, 2) }
        }
    }
}
