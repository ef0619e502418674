import XCTest
import TestHelpers
@testable import Store
@testable import Support

final class ObjectIdTests: XCTestCase {
    func testHexRoundTrip() {
        var rng = SplitMix(seed: 3)
        for _ in 0..<100 {
            let id = rng.id()
            XCTAssertEqual(id.hex.count, 64)
            XCTAssertEqual(ObjectId(hex: id.hex), id)
            XCTAssertEqual(ObjectId(hex: id.hex.uppercased()), id)
            XCTAssertEqual(ObjectId(bytes: id.bytes), id)
            XCTAssertEqual(id.bytes.count, 32)
            XCTAssertEqual(Hex.encode(id.bytes), id.hex)
            XCTAssertEqual(id.short, String(id.hex.prefix(12)))
            XCTAssertEqual(id.description, id.hex)
            XCTAssertEqual(id.firstByte, id.bytes[0])
            var w = ByteWriter()
            id.write(to: &w)
            XCTAssertEqual(w.bytes, id.bytes)
            XCTAssertEqual(w.bytes.withUnsafeBytes { ObjectId($0) }, id)
        }
        let fixed = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
        XCTAssertEqual(ObjectId(hex: fixed)?.hex, fixed)
        XCTAssertEqual(ObjectId(hex: fixed)?.w0, 0x0011223344556677)
        XCTAssertEqual(ObjectId.zero.hex, String(repeating: "0", count: 64))
    }

    func testRejectsBadHex() {
        XCTAssertNil(ObjectId(hex: ""))
        XCTAssertNil(ObjectId(hex: String(repeating: "a", count: 63)))
        XCTAssertNil(ObjectId(hex: String(repeating: "a", count: 65)))
        XCTAssertNil(ObjectId(hex: String(repeating: "g", count: 64)))
        XCTAssertNil(ObjectId(hex: String(repeating: "é", count: 32)))
    }

    func testOrderingMatchesBytesAndHex() {
        var rng = SplitMix(seed: 4)
        var ids = (0..<300).map { _ in rng.id() }
        // Ids that differ only in later words.
        let base = rng.id()
        ids.append(base)
        ids.append(ObjectId(w0: base.w0, w1: base.w1, w2: base.w2, w3: base.w3 &+ 1))
        ids.append(ObjectId(w0: base.w0, w1: base.w1 &+ 1, w2: 0, w3: 0))
        ids.append(ObjectId(w0: base.w0, w1: base.w1, w2: base.w2 &+ 1, w3: 0))
        ids.append(.zero)
        let byOrder = ids.sorted()
        XCTAssertEqual(byOrder.map(\.hex), ids.map(\.hex).sorted())
        XCTAssertEqual(byOrder.map(\.bytes), ids.map(\.bytes).sorted { $0.lexicographicallyPrecedes($1) })
        XCTAssertEqual(byOrder.first, .zero)
        XCTAssertFalse(base < base)
        XCTAssertEqual(Set(ids).count, ids.count)
    }

    func testObjectHashIsSHA256OfHeaderAndPayload() {
        var rng = SplitMix(seed: 5)
        for size in [0, 1, 100, 70_000] {
            let payload = rng.bytes(size)
            let expected = sha(Array("blob \(size)".utf8) + [0] + payload)
            XCTAssertEqual(ObjectHash.id(.blob, payload).bytes, expected)
            let h = SHA256Hasher()
            h.update(Array("blob \(size)\0".utf8))
            h.update(payload)
            XCTAssertEqual(ObjectHash.id(.blob, payload), ObjectId(bytes: h.finalize()))
            // Hasher reuse gives the same answer.
            let hasher = SHA256Hasher()
            hasher.update("junk")
            XCTAssertEqual(payload.withUnsafeBytes { ObjectHash.id(.blob, $0, hasher: hasher) }.bytes, expected)
        }
        // Well-known value: sha256("blob 0\0").
        XCTAssertEqual(ObjectHash.id(.blob, []).hex, Hex.encode(sha(Array("blob 0".utf8) + [0])))
        // The kind is part of the id.
        let p = Array("same".utf8)
        let kinds = ObjectKind.allCases.map { ObjectHash.id($0, p) }
        XCTAssertEqual(Set(kinds).count, ObjectKind.allCases.count)
        XCTAssertEqual(ObjectHash.id(.tree, p).bytes, sha(Array("tree 4".utf8) + [0] + p))
        XCTAssertEqual(ObjectHash.header(.commit, size: 12), Array("commit 12\0".utf8))
        for k in ObjectKind.allCases { XCTAssertEqual(ObjectKind(name: k.name), k) }
        XCTAssertNil(ObjectKind(name: "bogus"))
    }
}
