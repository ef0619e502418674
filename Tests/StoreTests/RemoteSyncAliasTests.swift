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

    /// With `paths`, only the trees along them come: a folder the model is not in stays on
    /// the remote, and the file is found with `entry(in:path:)` (what a loader needs). (A
    /// large file keeps the pack from being fetched whole.)
    func testFetchForReadingTakesOnlyThePathsTrees() throws {
        let a = try makeRepo("a")
        let remote = MemoryTransport()
        let c = try commit(a, ["models/m.bin": random(5000, seed: 3), "deep/x/y/z.txt": Array("z\n".utf8), "data/big.bin": random(1_000_000, seed: 4)], "one")
        _ = try sync(a, remote).push(["refs/heads/main"], force: false)
        let root = try a.readCommit(c).tree
        let fileId = try a.entry(in: root, path: "models/m.bin")!.id
        let deep = try a.entry(in: root, path: "deep")!.id, models = try a.entry(in: root, path: "models")!.id

        let b = try makeRepo("b")
        let (_, needed) = try sync(b, remote).fetchForReading(commits: [c], paths: ["models/m.bin"], files: [fileId])
        XCTAssertTrue(b.store.contains(models) && b.store.contains(root) && b.store.contains(fileId))
        XCTAssertFalse(b.store.contains(deep), "a tree off the path came")
        XCTAssertFalse(needed.contains(deep))
        XCTAssertEqual(try b.entry(in: root, path: "models/m.bin")?.id, fileId)
        // No paths: the commit and its root tree only.
        let d = try makeRepo("d")
        _ = try sync(d, remote).fetchForReading(commits: [c], paths: [])
        XCTAssertTrue(d.store.contains(root))
        XCTAssertFalse(d.store.contains(models))
    }

    /// Chunk lists must go down one level at a time: a level-2 list whose part is another
    /// level-2 list (a hostile remote chaining lists, a round trip each) is refused at once.
    func testFetchForReadingRefusesChunkListsThatDoNotGoDown() throws {
        let a = try makeRepo("a")
        let remote = MemoryTransport()
        let chunk = Array("a chunk\n".utf8)
        var top = ObjectId.zero, inner = ObjectId.zero
        try a.withLock {
            let blob = try a.store.put(.blob, chunk)
            let l0 = try a.store.put(.chunks, ChunkList(level: 0, parts: [(blob, UInt64(chunk.count))]).encode())
            inner = try a.store.put(.chunks, ChunkList(level: 2, parts: [(l0, UInt64(chunk.count))]).encode())
            top = try a.store.put(.chunks, ChunkList(level: 2, parts: [(inner, UInt64(chunk.count))]).encode())
            try a.store.commitPending()
        }
        // The pack as it is, put on the remote beside what a push would write.
        for f in try FS.list(a.store.directory) where f.name.hasSuffix(".pack") || f.name.hasSuffix(".idx") {
            _ = try remote.put("packs/" + f.name, try FS.readFile(a.store.directory + "/" + f.name), condition: .none)
        }
        let b = try makeRepo("b")
        XCTAssertThrowsError(try sync(b, remote).fetchForReading(commits: [], files: [top])) { e in
            XCTAssertTrue("\(e)".contains("level 2 under a level-2 list"), "\(e)")
        }
        XCTAssertTrue(b.store.contains(top) && b.store.contains(inner))
    }
}
