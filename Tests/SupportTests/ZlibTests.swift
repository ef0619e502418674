import XCTest
import TestHelpers
@testable import Support

final class ZlibTests: XCTestCase {
    func roundTrip(_ input: [UInt8], level: Int32, file: StaticString = #filePath, line: UInt = #line) {
        guard let z = input.withUnsafeBytes({ Zlib.compress($0, level: level) }) else {
            return XCTFail("compress failed", file: file, line: line)
        }
        var out = [UInt8](repeating: 0xAA, count: input.count)
        XCTAssertNoThrow(try z.withUnsafeBytes { zb in try out.withUnsafeMutableBytes { try Zlib.decompress(zb, into: $0) } },
                         file: file, line: line)
        XCTAssertEqual(out, input, file: file, line: line)
    }

    func testRoundTrip() {
        var rng = SplitMix(seed: 1)
        roundTrip(Array("hello hello hello hello".utf8), level: 1)
        roundTrip([UInt8](repeating: 7, count: 100_000), level: 9)
        roundTrip(rng.bytes(50_000), level: 6)
        roundTrip([], level: 1)
        // Text-like data shrinks.
        let text = Array(String(repeating: "the quick brown fox jumps over the lazy dog\n", count: 500).utf8)
        let z = text.withUnsafeBytes { Zlib.compress($0, level: 1) }!
        XCTAssertLessThan(z.count, text.count / 10)
        XCTAssertEqual(Array(z.prefix(1)), [0x78], "zlib (RFC 1950) header")
    }

    func testReturnsNilWhenNotSmallerThanLimit() {
        var rng = SplitMix(seed: 2)
        let random = rng.bytes(4096)
        XCTAssertNil(random.withUnsafeBytes { Zlib.compress($0, level: 1, limit: random.count) },
                     "random data does not compress below its own size")
        let zeros = [UInt8](repeating: 0, count: 4096)
        let z = zeros.withUnsafeBytes { Zlib.compress($0, level: 1) }!
        // Exactly at the limit is "not smaller": nil. One more byte allowed: result.
        XCTAssertNil(zeros.withUnsafeBytes { Zlib.compress($0, level: 1, limit: z.count) })
        XCTAssertEqual(zeros.withUnsafeBytes { Zlib.compress($0, level: 1, limit: z.count + 1) }, z)
        XCTAssertNotNil(zeros.withUnsafeBytes { Zlib.compress($0, level: 1, limit: zeros.count) })
    }

    func testDecompressRejectsWrongSizeAndGarbage() {
        let input = Array(String(repeating: "abcdef", count: 100).utf8)
        let z = input.withUnsafeBytes { Zlib.compress($0, level: 6) }!
        var small = [UInt8](repeating: 0, count: input.count - 1)
        XCTAssertThrowsError(try z.withUnsafeBytes { zb in try small.withUnsafeMutableBytes { try Zlib.decompress(zb, into: $0) } })
        var big = [UInt8](repeating: 0, count: input.count + 1)
        XCTAssertThrowsError(try z.withUnsafeBytes { zb in try big.withUnsafeMutableBytes { try Zlib.decompress(zb, into: $0) } })
        var damaged = z
        damaged[damaged.count / 2] ^= 0xFF
        var out = [UInt8](repeating: 0, count: input.count)
        XCTAssertThrowsError(try damaged.withUnsafeBytes { zb in try out.withUnsafeMutableBytes { try Zlib.decompress(zb, into: $0) } })
        let garbage: [UInt8] = [1, 2, 3, 4, 5]
        XCTAssertThrowsError(try garbage.withUnsafeBytes { zb in try out.withUnsafeMutableBytes { try Zlib.decompress(zb, into: $0) } })
    }
}
