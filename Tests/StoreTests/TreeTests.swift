import XCTest
import TestHelpers
@testable import Store
@testable import Support

final class TreeTests: XCTestCase {
    func decode(_ bytes: [UInt8], id: ObjectId = .zero) throws -> Tree {
        try bytes.withUnsafeBytes { try Tree.decode($0, id: id) }
    }

    /// A tree payload written by hand (the encoder does not validate names).
    func rawTree(_ entries: [(mode: String, size: String, name: [UInt8], id: ObjectId)]) -> [UInt8] {
        var w = ByteWriter()
        for e in entries {
            w.string("\(e.mode) \(e.size) ")
            w.raw(e.name)
            w.u8(0)
            e.id.write(to: &w)
        }
        return w.bytes
    }

    func testRoundTrip() throws {
        var rng = SplitMix(seed: 20)
        let t = Tree(entries: [
            TreeEntry(name: "zeta.bin", mode: .regular, size: 123_456_789_012, id: rng.id()),
            TreeEntry(name: "Alpha", mode: .directory, size: 5, id: rng.id()),
            TreeEntry(name: "run.sh", mode: .executable, size: 0, id: rng.id()),
            TreeEntry(name: "é 😀 with spaces", mode: .regular, size: 1, id: rng.id()),
            TreeEntry(name: "a", mode: .regular, size: 2, id: rng.id()),
        ])
        XCTAssertEqual(t.entries.map(\.name), ["Alpha", "a", "run.sh", "zeta.bin", "é 😀 with spaces"], "sorted by bytes")
        let enc = t.encode()
        let d = try decode(enc)
        XCTAssertEqual(d, t)
        XCTAssertEqual(d.encode(), enc)
        XCTAssertEqual(try decode([]), Tree(entries: []))
        // Format: "<octal mode> <size> <name>\0" + 32-byte id.
        let one = Tree(entries: [TreeEntry(name: "f", mode: .regular, size: 3, id: .zero)]).encode()
        XCTAssertEqual(one, Array("100644 3 f\0".utf8) + [UInt8](repeating: 0, count: 32))
        XCTAssertEqual(FileMode.directory.octal, "40000")
        XCTAssertEqual(FileMode.executable.octal, "100755")
    }

    func testDecodeRejectsUnsafeNames() {
        let tid = ObjectId(w0: 1, w1: 2, w2: 3, w3: 4)
        for bad in ["..", ".", "", ".mlrepo", "a/b", "/abs", "../x", "x/"] {
            let payload = rawTree([("100644", "1", Array(bad.utf8), .zero)])
            guard let e = storeError(try decode(payload, id: tid)) else { continue }
            XCTAssertEqual(e, .unsafeTree(tid, name: bad), "name '\(bad)'")
            XCTAssertTrue("\(e)".contains(tid.hex))
        }
        // A directory entry named ".." is refused the same way.
        let dir = rawTree([("40000", "0", Array("..".utf8), .zero)])
        XCTAssertEqual(storeError(try decode(dir, id: tid)), .unsafeTree(tid, name: ".."))
        // An unsafe name after safe ones.
        let later = rawTree([("100644", "1", Array("a".utf8), .zero), ("100644", "1", Array(".mlrepo".utf8), .zero)])
        XCTAssertEqual(storeError(try decode(later, id: tid)), .unsafeTree(tid, name: ".mlrepo"))
        XCTAssertFalse(Tree.isSafeName("a\0b"))
        XCTAssertTrue(Tree.isSafeName(".mlrepoignore"))
        XCTAssertTrue(Tree.isSafeName("..."))
        XCTAssertTrue(Tree.isSafeName(".hidden"))
    }

    func testDecodeRejectsMalformed() {
        let tid = ObjectId(w0: 9, w1: 9, w2: 9, w3: 9)
        func corrupt(_ b: [UInt8], _ why: String, line: UInt = #line) {
            guard let e = storeError(try decode(b, id: tid), line: line) else { return }
            guard case .objectCorrupt(let id, let loc, _) = e else { return XCTFail("\(why): got \(e)", line: line) }
            XCTAssertEqual(id, tid, line: line)
            XCTAssertEqual(loc, "tree", line: line)
        }
        let good = rawTree([("100644", "1", Array("a".utf8), .zero), ("100644", "1", Array("b".utf8), .zero)])
        corrupt(Array(good.dropLast()), "truncated id")
        corrupt(Array(good[0..<5]), "no NUL")
        corrupt(rawTree([("100645", "1", Array("a".utf8), .zero)]), "unknown mode")
        corrupt(rawTree([("100644", "x", Array("a".utf8), .zero)]), "bad size")
        corrupt(rawTree([("100644", "-1", Array("a".utf8), .zero)]), "negative size")
        corrupt(rawTree([("100644", "1", Array("b".utf8), .zero), ("100644", "1", Array("a".utf8), .zero)]), "unsorted")
        corrupt(rawTree([("100644", "1", Array("a".utf8), .zero), ("100644", "1", Array("a".utf8), .zero)]), "duplicate")
        corrupt(rawTree([("100644", "1", [0xff, 0xfe], .zero)]), "not UTF-8")
        corrupt(Array("100644 1\0".utf8) + [UInt8](repeating: 0, count: 32), "two fields")
    }
}
