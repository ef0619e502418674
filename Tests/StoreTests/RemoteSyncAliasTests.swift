import Foundation
import XCTest
import TestHelpers
@testable import Store
@testable import Support

/// What a serving replica asks of a remote (`RemoteSync+Alias.swift`): conditional reads of
/// one ref, and the partial fetch of what reading one file of a commit needs.
extension RemoteSyncTests {
    func testReadRefOnAFolderIsConditionalAndChecked() throws {
        let a = try makeRepo("a")
        let root = tmp.sub("remote")
        let t = try DirectoryTransport(root: root, create: true)
        let s = try RemoteSync(repo: a, spec: RemoteSpec(name: "origin", url: root), transport: t)
        let ref = "refs/aliases/production"
        XCTAssertEqual(try s.readRef(ref, unlessTag: nil), .absent)
        var g = SplitMix(seed: 7)
        let x = g.id(), y = g.id()
        try FS.mkdirs(root + "/refs/aliases")
        try FS.atomicWrite(root + "/" + ref, Array((x.hex + "\n").utf8), durable: false)
        guard case .at(let first, let tag) = try s.readRef(ref, unlessTag: nil) else { return XCTFail("expected the ref") }
        XCTAssertEqual(first, x)
        XCTAssertEqual(try s.readRef(ref, unlessTag: tag), .unchanged)
        // Written again with the same id (a new file): the content decides.
        try FS.atomicWrite(root + "/" + ref, Array((x.hex + "\n").utf8), durable: false)
        XCTAssertEqual(try s.readRef(ref, unlessTag: tag), .unchanged)
        // Moved, with the same size.
        try FS.atomicWrite(root + "/" + ref, Array((y.hex + "\n").utf8), durable: false)
        guard case .at(let second, _) = try s.readRef(ref, unlessTag: tag) else { return XCTFail("expected the moved ref") }
        XCTAssertEqual(second, y)
        // What a ref may not be: not an id, too large, a bad name.
        try FS.atomicWrite(root + "/" + ref, Array("not an id\n".utf8), durable: false)
        XCTAssertTrue(remoteError { _ = try s.readRef(ref, unlessTag: tag) }?.message.contains("ref refs/aliases/production is corrupt") == true)
        try FS.atomicWrite(root + "/" + ref, [UInt8](repeating: 48, count: 5000), durable: false)
        XCTAssertTrue(remoteError { _ = try s.readRef(ref, unlessTag: nil) }?.message.contains("is corrupt") == true)
        XCTAssertNotNil(remoteError { _ = try s.readRef("refs/aliases/../../etc", unlessTag: nil) })
    }

    /// A transport without conditional reads reads the ref whole and compares its tag.
    func testReadRefWithoutConditionalReadsComparesTags() throws {
        let a = try makeRepo("a")
        let remote = MemoryTransport()
        let s = try sync(a, remote)
        var g = SplitMix(seed: 8)
        let x = g.id()
        remote.setRef("refs/aliases/production", x)
        guard case .at(let id, let tag) = try s.readRef("refs/aliases/production", unlessTag: nil) else { return XCTFail("expected the ref") }
        XCTAssertEqual(id, x)
        XCTAssertEqual(try s.readRef("refs/aliases/production", unlessTag: tag), .unchanged)
        remote.setRef("refs/aliases/production", g.id())
        guard case .at = try s.readRef("refs/aliases/production", unlessTag: tag) else { return XCTFail("expected the moved ref") }
    }

    /// Only the commit, its trees and the one file's chunks come (ranged reads, not the
    /// pack); a remote whose bytes were damaged is refused, nothing unverified stored.
    func testFetchForReadingTakesOneFileOfACommit() throws {
        let a = try makeRepo("a")
        let remote = MemoryTransport()
        let model = random(300_000, seed: 1), big = random(1_000_000, seed: 2)
        let c = try commit(a, ["models/m.bin": model, "data/big.bin": big, "deep/x/y/z.txt": Array("z\n".utf8)], "one")
        _ = try sync(a, remote).push(["refs/heads/main"], force: false)
        let files = try a.files(ofCommit: c)
        let fileId = files["models/m.bin"]!.id, bigId = files["data/big.bin"]!.id

        let b = try makeRepo("b")
        let (report, needed) = try sync(b, remote).fetchForReading(commits: [c], files: [fileId])
        XCTAssertEqual(try b.files(ofCommit: c).keys.sorted(), ["data/big.bin", "deep/x/y/z.txt", "models/m.bin"])
        var bytes: [UInt8] = []
        try FileReader(store: b.store).read(fileId) { bytes.append(contentsOf: $0) }
        XCTAssertEqual(bytes, model)
        XCTAssertFalse(b.store.contains(bigId))
        XCTAssertLessThan(report.bytes, 600_000, "the other file's data came too")
        XCTAssertTrue(needed.contains(fileId) && needed.contains(c))
        XCTAssertFalse(needed.contains(bigId))

        // Damaged bytes on the remote: refused, the file not stored.
        for key in remote.keys where key.hasSuffix(".pack") {
            var d = remote.data(key)!
            for i in 64..<(d.count - 64) { d[i] ^= 0x5a }
            try remote.put(key, d, condition: .none)
        }
        let fresh = try makeRepo("c")
        XCTAssertNotNil(remoteError { _ = try self.sync(fresh, remote).fetchForReading(commits: [c], files: [fileId]) })
        XCTAssertFalse(fresh.store.contains(fileId))
        XCTAssertFalse(fresh.store.contains(c))
    }
}
