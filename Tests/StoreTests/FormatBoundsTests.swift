import XCTest
import TestHelpers
@testable import Store
@testable import Support

/// The bounds the format states (.mlrepo-format.md §3.2, §4.1, §5, §6), enforced on read
/// (issue 13 #5, #6, #8).
final class FormatBoundsTests: XCTestCase {
    func tree(_ name: [UInt8], id: ObjectId) -> [UInt8] {
        var w = ByteWriter()
        w.string("100644 1 "); w.raw(name); w.u8(0); id.write(to: &w)
        return w.bytes
    }

    func testTreeNamesOver255BytesAreRefusedNamingTheTree() throws {
        var rng = SplitMix(seed: 8)
        let treeId = rng.id(), file = rng.id()
        let ok = tree(Array(repeating: UInt8(ascii: "a"), count: 255), id: file)
        XCTAssertEqual(try ok.withUnsafeBytes { try Tree.decode($0, id: treeId) }.entries.first?.name.utf8.count, 255)
        for n in [256, 70_000] {
            let bad = tree(Array(repeating: UInt8(ascii: "a"), count: n), id: file)
            let e = storeError(try bad.withUnsafeBytes { try Tree.decode($0, id: treeId) })
            guard case .objectCorrupt(let id, _, let reason)? = e else { return XCTFail("\(String(describing: e))") }
            XCTAssertEqual(id, treeId)
            XCTAssertTrue(reason.contains("255 bytes"), reason)
            XCTAssertLessThan(e!.description.utf8.count, 300, "the error quotes a short prefix of the name")
        }
        XCTAssertFalse(Tree.isSafeName(String(repeating: "a", count: 256)))
    }

    func chunkList(level: UInt8, parts: [(ObjectId, UInt64)], total: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.u8(level); w.u64(total)
        for (id, s) in parts { id.write(to: &w); w.u64(s) }
        return w.bytes
    }

    func testChunkListBounds() throws {
        var rng = SplitMix(seed: 9)
        let listId = rng.id(), c = rng.id()
        func decode(_ b: [UInt8]) throws -> ChunkList { try b.withUnsafeBytes { try ChunkList.decode($0, id: listId) } }
        // 16384 parts is the limit; one more is corrupt.
        XCTAssertEqual(try decode(chunkList(level: 0, parts: Array(repeating: (c, 1), count: 16384), total: 16384)).parts.count, 16384)
        var e = storeError(try decode(chunkList(level: 0, parts: Array(repeating: (c, 1), count: 16385), total: 16385)))
        XCTAssertTrue(e?.description.contains("16384") == true, "\(String(describing: e))")
        // A chunk (level 0 part) is at most 16 MiB.
        XCTAssertNoThrow(try decode(chunkList(level: 0, parts: [(c, 16 << 20)], total: 16 << 20)))
        e = storeError(try decode(chunkList(level: 0, parts: [(c, 1 << 40)], total: 1 << 40)))
        XCTAssertTrue(e?.description.contains(listId.hex) == true && e?.description.contains("16777216") == true, "\(String(describing: e))")
        // Sizes that overflow 64 bits (and wrap to the recorded total) are refused.
        e = storeError(try decode(chunkList(level: 1, parts: [(c, UInt64.max), (c, 2)], total: 1)))
        XCTAssertTrue(e?.description.contains("overflow") == true, "\(String(describing: e))")
        // A sub-list must be one level lower and hold what its parent declares.
        let sub = try decode(chunkList(level: 0, parts: [(c, 5)], total: 5))
        XCTAssertNoThrow(try sub.checkAsPart(of: 1, declaredSize: 5, id: listId))
        XCTAssertNotNil(storeError(try sub.checkAsPart(of: 2, declaredSize: 5, id: listId)))
        XCTAssertNotNil(storeError(try sub.checkAsPart(of: 0, declaredSize: 5, id: listId)))
        XCTAssertNotNil(storeError(try sub.checkAsPart(of: 1, declaredSize: 6, id: listId)))
    }

    /// An index whose fan-out table decreases, overshoots the count or disagrees with the
    /// ids is refused on open, naming the file; entries are checked when read.
    func testPackIndexValidatedOnOpen() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        var rng = SplitMix(seed: 10)
        var entries: [(ObjectId, PackEntry)] = []
        for i in 0..<40 { entries.append((rng.id(), PackEntry(offset: UInt64(8 + i * 50), size: 6, kind: .blob, codec: .raw))) }
        let good = PackIndex.encode(entries)
        let path = tmp.sub("pack-t.idx")
        func write(_ b: [UInt8]) throws { try? FS.unlink(path); try FS.atomicWrite(path, b, durable: false) }
        try write(good)
        XCTAssertNoThrow(try PackIndex(path: path, packSize: 8 + 40 * 50))
        func fanoutSet(_ b: inout [UInt8], _ slot: Int, _ v: UInt32) {
            for k in 0..<4 { b[16 + slot * 4 + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) }
        }
        let firstByte = Int(entries.map(\.0).min()!.firstByte)
        var cases: [(String, [UInt8])] = []
        var b = good; fanoutSet(&b, 10, 0xFFFF_FF00); cases.append(("huge entry", b))
        b = good; fanoutSet(&b, 200, 0); cases.append(("decreasing", b))
        // Monotonic, but a range that does not hold its byte's ids.
        b = good; fanoutSet(&b, firstByte, 0); cases.append(("disagrees with ids", b))
        for (what, bytes) in cases {
            try write(bytes)
            let e = storeError(try PackIndex(path: path))
            guard case .corruptFile(let p, _)? = e else { XCTFail("\(what): \(String(describing: e))"); continue }
            XCTAssertEqual(p, path, what)
        }
        // Offsets outside the pack, and sizes over the format's limits.
        try write(PackIndex.encode([(rng.id(), PackEntry(offset: 4000, size: 6, kind: .blob, codec: .raw))]))
        var e = storeError(try PackIndex(path: path, packSize: 100).entry(at: 0))
        XCTAssertTrue(e?.description.contains(path) == true && e?.description.contains("offset 4000") == true, "\(String(describing: e))")
        try write(PackIndex.encode([(rng.id(), PackEntry(offset: 8, size: 1 << 30, kind: .blob, codec: .zlib))]))
        e = storeError(try PackIndex(path: path, packSize: 100).entry(at: 0))
        XCTAssertTrue(e?.description.contains("16777216") == true, "\(String(describing: e))")
    }

    func testOverlongPathsAreNeverWrittenToTheIndex() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        var idx = StagingIndex()
        let p = String(repeating: "d/", count: 2100) + "f"
        idx.entries[p] = IndexEntry(path: p, mode: .regular, size: 1, id: .zero)
        XCTAssertNotNil(storeError(try idx.write(tmp.sub("index"), durable: false)))
        XCTAssertFalse(FS.exists(tmp.sub("index")))
    }

    /// Inflating has a hard output limit, and a stream must end exactly where the stored bytes do.
    func testInflateIsBoundedAndExact() throws {
        let data = [UInt8](repeating: 7, count: 10_000)
        let z = try XCTUnwrap(data.withUnsafeBytes { Zlib.compress($0, level: 6) })
        var out = [UInt8](repeating: 0, count: 10_000)
        XCTAssertNoThrow(try z.withUnsafeBytes { zb in try out.withUnsafeMutableBytes { try Zlib.decompress(zb, into: $0) } })
        var small = [UInt8](repeating: 0, count: 9_999)
        XCTAssertThrowsError(try z.withUnsafeBytes { zb in try small.withUnsafeMutableBytes { try Zlib.decompress(zb, into: $0) } })
        let trailing = z + [0]
        XCTAssertThrowsError(try trailing.withUnsafeBytes { zb in try out.withUnsafeMutableBytes { try Zlib.decompress(zb, into: $0) } })
    }

    /// Piecewise inflation (verification of fetched and stored objects) never holds more
    /// than a piece, stops at the limit, and refuses truncated or trailing bytes.
    func testInflatePieces() throws {
        let data = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 / 7) }
        let z = try XCTUnwrap(data.withUnsafeBytes { Zlib.compress($0, level: 6) })
        var got: [UInt8] = []
        var largest = 0
        let n = try z.withUnsafeBytes { try Zlib.inflatePieces($0, limit: data.count, piece: 4096) { largest = max(largest, $0.count); got += $0 } }
        XCTAssertEqual(n, data.count)
        XCTAssertEqual(got, data)
        XCTAssertLessThanOrEqual(largest, 4096)
        XCTAssertThrowsError(try z.withUnsafeBytes { try Zlib.inflatePieces($0, limit: data.count - 1) { _ in } })
        let truncated = Array(z.dropLast(10)), trailing = z + [1, 2]
        XCTAssertThrowsError(try truncated.withUnsafeBytes { try Zlib.inflatePieces($0, limit: data.count) { _ in } })
        XCTAssertThrowsError(try trailing.withUnsafeBytes { try Zlib.inflatePieces($0, limit: data.count) { _ in } })
    }

    func testWritersRefuseObjectsOverTheLimits() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        let store = try ObjectStore(directory: tmp.sub("pack"), durable: false)
        let big = [UInt8](repeating: 1, count: (16 << 20) + 1)
        XCTAssertNotNil(storeError(try store.put(.blob, big)))
        XCTAssertNotNil(storeError(try store.put(.chunks, [UInt8](repeating: 0, count: 655_369 + 40))))
    }
}
