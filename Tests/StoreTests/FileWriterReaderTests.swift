import XCTest
import TestHelpers
@testable import Store
@testable import Support

final class FileWriterReaderTests: XCTestCase {
    func roundTrip(_ data: [UInt8], chunker: Chunker, store: ObjectStore, dir: String) throws -> StoredFile {
        let p = dir + "/f-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: p, contents: Data(data))
        let dry = try FileWriter(store: store, chunker: chunker, dryRun: true).store(path: p)
        XCTAssertNil(store.pending, "a dry run writes nothing")
        let s = try FileWriter(store: store, chunker: chunker).store(path: p)
        try store.commitPending()
        XCTAssertEqual(dry.id, s.id, "dry run gives the same id")
        XCTAssertEqual(s.size, UInt64(data.count))
        var out: [UInt8] = []
        try FileReader(store: store).read(s.id) { out.append(contentsOf: $0) }
        XCTAssertEqual(out, data)
        XCTAssertEqual(try FileReader(store: store).size(of: s.id), UInt64(data.count))
        var sum: UInt64 = 0
        try FileReader(store: store).forEachChunk(s.id) { _, n in sum += n }
        XCTAssertEqual(sum, UInt64(data.count))
        return s
    }

    func testSmallAndLargeFiles() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        try FS.mkdirs(tmp.sub("objects"))
        let store = try ObjectStore(directory: tmp.sub("objects"), durable: false)
        var rng = SplitMix(seed: 33)
        let c = Chunker(avgSize: 1024)  // max 4 KiB: the threshold between blob and chunks
        let empty = try roundTrip([], chunker: c, store: store, dir: tmp.path)
        XCTAssertEqual(empty.id, ObjectHash.id(.blob, []))
        let atThreshold = rng.bytes(c.maxSize)
        let s1 = try roundTrip(atThreshold, chunker: c, store: store, dir: tmp.path)
        XCTAssertEqual(s1.id, ObjectHash.id(.blob, atThreshold), "a file up to max size is one blob")
        let over = rng.bytes(c.maxSize + 1)
        let s2 = try roundTrip(over, chunker: c, store: store, dir: tmp.path)
        XCTAssertEqual(try store.info(s2.id)?.kind, .chunks)
        // Several MB: spans more than one 8 MiB window and gets multi-level lists.
        let big = rng.bytes(9 << 20 + 12345)
        let s3 = try roundTrip(big, chunker: Chunker(avgSize: 256), store: store, dir: tmp.path)
        XCTAssertEqual(try store.info(s3.id)?.kind, .chunks)
        // An edited copy shares most chunks: few new bytes.
        var edited = big
        edited.insert(contentsOf: [1, 2, 3], at: 1_000_000)
        let p = tmp.sub("edited")
        FileManager.default.createFile(atPath: p, contents: Data(edited))
        let s4 = try FileWriter(store: store, chunker: Chunker(avgSize: 256)).store(path: p)
        try store.commitPending()
        XCTAssertLessThan(s4.newBytes, 64 << 10, "only chunks near the edit are new")
        var out: [UInt8] = []
        try FileReader(store: store).read(s4.id) { out.append(contentsOf: $0) }
        XCTAssertEqual(out, edited)
    }

    func testReaderRejectsCorruptChunk() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        try FS.mkdirs(tmp.sub("objects"))
        let store = try ObjectStore(directory: tmp.sub("objects"), durable: false)
        var rng = SplitMix(seed: 34)
        let data = rng.bytes(200_000)
        let s = try roundTrip(data, chunker: Chunker(avgSize: 4096), store: store, dir: tmp.path)
        var chunk: ObjectId?
        try FileReader(store: store).forEachChunk(s.id) { id, _ in if chunk == nil { chunk = id } }
        let pack = store.packs[0]
        let i = try XCTUnwrap(pack.index.find(chunk!))
        let e = try pack.index.entry(at: i)
        try flipByte(pack.packPath, at: Int(e.offset) + Pack.entryHeaderSize + 10)
        let fresh = try ObjectStore(directory: tmp.sub("objects"), durable: false)
        XCTAssertThrowsError(try FileReader(store: fresh).read(s.id) { _ in }) { err in
            guard case .objectCorrupt(chunk!, _, _)? = err as? StoreError else { return XCTFail("\(err)") }
        }
    }
}
