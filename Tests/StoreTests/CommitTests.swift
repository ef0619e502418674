import XCTest
import TestHelpers
@testable import Store
@testable import Support

final class CommitTests: XCTestCase {
    func testRoundTrip() throws {
        var rng = SplitMix(seed: 24)
        let author = Signature(name: "Ada Lovelace", email: "ada@example.com", time: 1_700_000_000, tzOffsetMinutes: 330)
        let committer = Signature(name: "Bob", email: "b@x", time: 1_700_000_100, tzOffsetMinutes: -480)
        XCTAssertEqual(author.tz, "+0530")
        XCTAssertEqual(committer.tz, "-0800")
        XCTAssertEqual(Signature(name: "n", email: "e", time: 0).tz, "+0000")
        let c = Commit(tree: rng.id(), parents: [rng.id(), rng.id()], author: author, committer: committer,
                       extra: [("meta", rng.id().hex), ("x-key", "a value")],
                       message: "Subject line\n\nBody with a blank line above.\n\nAnd another paragraph.\n")
        let enc = c.encode()
        let text = String(decoding: enc, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("tree \(c.tree.hex)\nparent \(c.parents[0].hex)\nparent \(c.parents[1].hex)\n"))
        XCTAssertTrue(text.contains("\nauthor Ada Lovelace <ada@example.com> 1700000000 +0530\n"))
        XCTAssertTrue(text.contains("\ncommitter Bob <b@x> 1700000100 -0800\n"))
        let d = try enc.withUnsafeBytes { try Commit.decode($0, id: .zero) }
        XCTAssertEqual(d, c)
        XCTAssertEqual(d.message, c.message)
        XCTAssertEqual(d.extra.map(\.key), ["meta", "x-key"])
        XCTAssertEqual(d.subject, "Subject line")
        XCTAssertEqual(d.author.tzOffsetMinutes, 330)
        XCTAssertEqual(d.committer.tzOffsetMinutes, -480)
        // Root commit, empty message.
        let root = Commit(tree: rng.id(), parents: [], author: author, committer: author, message: "")
        XCTAssertEqual(try root.encode().withUnsafeBytes { try Commit.decode($0, id: .zero) }, root)
    }

    func testDecodeRejectsMalformed() {
        let cid = ObjectId(w0: 7, w1: 0, w2: 0, w3: 1)
        let tree = String(repeating: "ab", count: 32)
        let sig = "A <a@b> 1 +0000"
        for (text, why) in [
            ("tree \(tree)\nauthor \(sig)\ncommitter \(sig)\nmessage without blank line", "no blank line"),
            ("tree nothex\nauthor \(sig)\ncommitter \(sig)\n\nm", "bad tree"),
            ("tree \(tree)\nparent 1234\nauthor \(sig)\ncommitter \(sig)\n\nm", "bad parent"),
            ("tree \(tree)\ncommitter \(sig)\n\nm", "no author"),
            ("tree \(tree)\nauthor A a@b 1 +0000\ncommitter \(sig)\n\nm", "bad signature"),
            ("tree \(tree)\nauthor A <a@b> 1 0000\ncommitter \(sig)\n\nm", "bad tz"),
            ("author \(sig)\ncommitter \(sig)\n\nm", "no tree"),
            ("tree \(tree)\nnospace\nauthor \(sig)\ncommitter \(sig)\n\nm", "header without value"),
        ] {
            let b = Array(text.utf8)
            guard let e = storeError(try b.withUnsafeBytes { try Commit.decode($0, id: cid) }) else { continue }
            guard case .objectCorrupt(cid, "commit", _) = e else { XCTFail("\(why): \(e)"); continue }
        }
        let notUTF8: [UInt8] = Array("tree ".utf8) + [0xff, 0xfe]
        XCTAssertNotNil(storeError(try notUTF8.withUnsafeBytes { try Commit.decode($0, id: cid) }))
    }

    func testSignatureParse() {
        let s = Signature.parse("Jane Q. Doe <jane@example.org> 1234567890 -0130")
        XCTAssertEqual(s, Signature(name: "Jane Q. Doe", email: "jane@example.org", time: 1234567890, tzOffsetMinutes: -90))
        XCTAssertNil(Signature.parse("no email 1 +0000"))
        XCTAssertNil(Signature.parse("A <a> notanumber +0000"))
        XCTAssertNil(Signature.parse("A <a> 1"))
        XCTAssertEqual(Signature.parse(Substring(s!.encoded)), s)
    }
}
