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

final class PathAndFSTests: XCTestCase {
    func testPathHelpers() {
        XCTAssertEqual(Path.dirname("a/b/c"), "a/b")
        XCTAssertEqual(Path.dirname("a"), ".")
        XCTAssertEqual(Path.dirname("/a"), "/")
        XCTAssertEqual(Path.basename("a/b/c"), "c")
        XCTAssertEqual(Path.basename("c"), "c")
        XCTAssertEqual(Path.join("a", "b"), "a/b")
        XCTAssertEqual(Path.join("a/", "b"), "a/b")
        XCTAssertEqual(Path.join(".", "b"), "b")
        XCTAssertEqual(Path.join("a", ""), "a")
        XCTAssertEqual(Path.normalize("a/./b/../c"), "a/c")
        XCTAssertEqual(Path.normalize("/x//y/"), "/x/y")
        XCTAssertEqual(Path.normalize("a/.."), "")
        XCTAssertNil(Path.normalize("../a"))
        XCTAssertNil(Path.normalize("a/../../b"))
    }

    func testAtomicWriteAndReadFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-fs-\(UUID().uuidString)").path
        try FS.mkdirs(dir + "/x/y")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertTrue(FS.isDirectory(dir + "/x/y"))
        let p = dir + "/x/y/f"
        try FS.atomicWrite(p, Array("one".utf8))
        XCTAssertEqual(try FS.readText(p), "one")
        try FS.atomicWrite(p, text: "two", durable: false)
        XCTAssertEqual(try FS.readText(p), "two")
        XCTAssertEqual(try FS.list(dir + "/x/y").map(\.name), ["f"], "no temp files left behind")
        XCTAssertEqual(FS.lstat(p)?.size, 3)
        XCTAssertEqual(FS.lstat(p)?.isRegular, true)
        XCTAssertNil(FS.lstat(dir + "/missing"))
        XCTAssertThrowsError(try FS.readFile(dir + "/missing")) { e in
            XCTAssertTrue("\(e)".contains("missing"), "\(e)")
        }
        try FS.unlink(p)
        try FS.unlink(p)  // ENOENT is not an error
        XCTAssertFalse(FS.exists(p))
    }

    func testFileLockExcludesSecondHolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-lock-\(UUID().uuidString)").path
        try FS.mkdirs(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/lock"
        var first: FileLock? = try FileLock(path: path, timeout: 0)
        XCTAssertNotNil(first)
        let t0 = Date()
        XCTAssertNil(try FileLock(path: path, timeout: 0.2), "flock is per open file: a second open cannot take it")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(t0), 0.15, "waited for the timeout")
        first = nil
        XCTAssertNotNil(try FileLock(path: path, timeout: 0), "released on deinit")
        _ = first
    }
}
