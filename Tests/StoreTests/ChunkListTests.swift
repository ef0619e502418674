import XCTest
import TestHelpers
@testable import Store
@testable import Support

final class ChunkListTests: XCTestCase {
    func testRoundTrip() throws {
        var rng = SplitMix(seed: 21)
        let parts = (0..<50).map { i in (id: rng.id(), size: UInt64(i * 1000 + 1)) }
        for level in [UInt8(0), 1, 3] {
            let l = ChunkList(level: level, parts: parts)
            XCTAssertEqual(l.totalSize, parts.reduce(0) { $0 + $1.size })
            let enc = l.encode()
            XCTAssertEqual(enc.count, 9 + 40 * parts.count)
            XCTAssertEqual(enc[0], level)
            let d = try enc.withUnsafeBytes { try ChunkList.decode($0, id: .zero) }
            XCTAssertEqual(d, l)
            XCTAssertEqual(d.parts.map(\.id), parts.map(\.id))
        }
        let empty = ChunkList(level: 0, parts: [])
        XCTAssertEqual(try empty.encode().withUnsafeBytes { try ChunkList.decode($0, id: .zero) }, empty)
    }

    func testDecodeRejectsBadLengthAndTotals() {
        var rng = SplitMix(seed: 22)
        let l = ChunkList(level: 0, parts: [(rng.id(), 10), (rng.id(), 20)])
        var enc = l.encode()
        let lid = rng.id()
        for bad in [Array(enc.dropLast()), Array(enc[0..<8]), enc + [0]] {
            guard let e = storeError(try bad.withUnsafeBytes { try ChunkList.decode($0, id: lid) }) else { continue }
            guard case .objectCorrupt(lid, "chunk list", _) = e else { XCTFail("\(e)"); continue }
        }
        enc[1] ^= 1  // total size no longer matches the parts
        guard let e = storeError(try enc.withUnsafeBytes { try ChunkList.decode($0, id: lid) }) else { return }
        guard case .objectCorrupt(lid, _, let reason) = e else { return XCTFail("\(e)") }
        XCTAssertTrue(reason.contains("add up"), reason)
    }

    func testBuilderClosesListsOnContentDefinedIds() throws {
        var lists: [ChunkList] = []
        var b = ChunkListBuilder(put: { bytes in
            let l = try bytes.withUnsafeBytes { try ChunkList.decode($0, id: .zero) }
            lists.append(l)
            return ObjectHash.id(.chunks, bytes)
        })
        var rng = SplitMix(seed: 23)
        func plain() -> ObjectId { var id = rng.id(); id.w0 |= 1 << 63; return id }
        func closing() -> ObjectId { var id = rng.id(); id.w0 &= ~(UInt64(0xFFF) << 52); return id }
        XCTAssertTrue(ChunkListBuilder.closes(closing()))
        XCTAssertFalse(ChunkListBuilder.closes(plain()))
        for _ in 0..<5 { try b.add(plain(), size: 10) }
        try b.add(closing(), size: 10)
        for _ in 0..<3 { try b.add(plain(), size: 7) }
        let root = try b.finish()
        // Two level-0 lists (6 and 3 parts) under one level-1 list.
        XCTAssertEqual(lists.count, 3)
        XCTAssertEqual(lists[0].level, 0); XCTAssertEqual(lists[0].parts.count, 6); XCTAssertEqual(lists[0].totalSize, 60)
        XCTAssertEqual(lists[1].level, 0); XCTAssertEqual(lists[1].parts.count, 3)
        XCTAssertEqual(lists[2].level, 1); XCTAssertEqual(lists[2].totalSize, 81)
        XCTAssertEqual(lists[2].parts.map(\.size), [60, 21])
        XCTAssertEqual(root, ObjectHash.id(.chunks, lists[2].encode()))

        // Without a closing id everything stays in one level-0 list.
        lists.removeAll()
        var b2 = ChunkListBuilder(put: { bytes in
            lists.append(try bytes.withUnsafeBytes { try ChunkList.decode($0, id: .zero) })
            return ObjectHash.id(.chunks, bytes)
        })
        for _ in 0..<4 { try b2.add(plain(), size: 1) }
        _ = try b2.finish()
        XCTAssertEqual(lists.count, 1)
        XCTAssertEqual(lists[0].level, 0)
        XCTAssertEqual(lists[0].parts.count, 4)
    }
}
