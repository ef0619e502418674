import XCTest
import TestHelpers
@testable import Support

final class SHA256Tests: XCTestCase {
    func hex(_ s: String) -> String { Hex.encode(SHA256Hasher.digest(Array(s.utf8))) }

    func testKnownVectors() {
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testMillionA() {
        let h = SHA256Hasher()
        let block = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { h.update(block) }
        XCTAssertEqual(Hex.encode(h.finalize()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testStreamingEqualsOneShotAndFinalizeResets() {
        var rng = SplitMix(seed: 7)
        let data = (0..<10_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let oneShot = SHA256Hasher.digest(data)
        let h = SHA256Hasher()
        var i = 0
        var step = 1
        while i < data.count {
            let end = min(data.count, i + step)
            h.update(Array(data[i..<end]))
            i = end
            step = step * 3 + 1
        }
        XCTAssertEqual(h.finalize(), oneShot)
        // finalize() resets: the next digest starts from scratch.
        h.update("abc")
        XCTAssertEqual(Hex.encode(h.finalize()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // reset() discards what was fed.
        h.update("garbage")
        h.reset()
        XCTAssertEqual(Hex.encode(h.finalize()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // Empty updates change nothing.
        h.update([UInt8]())
        h.update("abc")
        h.update(UnsafeRawBufferPointer(start: nil, count: 0))
        XCTAssertEqual(Hex.encode(h.finalize()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testHMACRFC4231() {
        // RFC 4231 test case 2.
        let mac = hmacSHA256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        XCTAssertEqual(Hex.encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // Test case 1: key = 20 x 0x0b, data "Hi There".
        let mac1 = hmacSHA256(key: [UInt8](repeating: 0x0b, count: 20), data: Array("Hi There".utf8))
        XCTAssertEqual(Hex.encode(mac1), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }
}
