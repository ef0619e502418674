import XCTest
import TestHelpers
@testable import Store
@testable import Support

final class PackStoreTests: XCTestCase {
    /// Writes a mix of objects (raw and zlib-coded) into one pack and returns them.
    func populate(_ store: ObjectStore, seed: UInt64 = 30) throws -> [ObjectId: (ObjectKind, [UInt8])] {
        var rng = SplitMix(seed: seed)
        var objects: [ObjectId: (ObjectKind, [UInt8])] = [:]
        for i in 0..<120 {
            let kind = ObjectKind.allCases[i % 4]
            let payload: [UInt8]
            switch i % 3 {
            case 0: payload = rng.bytes(i * 53)  // random: stored raw
            case 1: payload = Array(String(repeating: "line \(i) of text\n", count: i + 5).utf8)  // compressible
            default: payload = rng.bytes(i % 7)  // tiny
            }
            let id = try store.put(kind, payload)
            XCTAssertEqual(id, ObjectHash.id(kind, payload))
            objects[id] = (kind, payload)
        }
        // Duplicates are skipped.
        let first = objects.first!
        XCTAssertEqual(try store.put(first.value.0, first.value.1), first.key)
        XCTAssertEqual(store.pending?.count, objects.count)
        try store.commitPending()
        XCTAssertNil(store.pending)
        return objects
    }

    func testWriteAndReadBack() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        let store = try ObjectStore(directory: tmp.path, durable: false)
        let objects = try populate(store)
        XCTAssertEqual(store.packs.count, 1)
        let files = try FileManager.default.contentsOfDirectory(atPath: tmp.path).sorted()
        XCTAssertEqual(files.count, 2, "one pack + one index, no temp files: \(files)")
        XCTAssertTrue(files.allSatisfy { $0.hasPrefix("pack-") })
        // A fresh store (another process) sees everything.
        let again = try ObjectStore(directory: tmp.path, durable: false)
        for (id, (kind, payload)) in objects {
            let (k, d) = try again.read(id)
            XCTAssertEqual(k, kind)
            XCTAssertEqual(d, payload)
            XCTAssertEqual(try again.read(id, as: kind), payload)
            let info = try XCTUnwrap(try again.info(id))
            XCTAssertEqual(info.kind, kind)
            XCTAssertEqual(info.size, payload.count)
            XCTAssertTrue(again.contains(id))
            XCTAssertTrue(again.containsCommitted(id))
        }
        XCTAssertEqual(Set(again.allIds()), Set(objects.keys))
        // Some objects are compressed, some are not.
        let pack = again.packs[0]
        var codecs = Set<UInt8>()
        for i in 0..<pack.index.count { codecs.insert(try pack.index.entry(at: i).codec.rawValue) }
        XCTAssertEqual(codecs, [Codec.raw.rawValue, Codec.zlib.rawValue])
        XCTAssertTrue(pack.index.verifyChecksum())
        // Wrong kind.
        let (blobId, _) = objects.first { $0.value.0 == .blob }!
        XCTAssertEqual(storeError(try again.read(blobId, as: .tree)), .wrongKind(blobId, expected: .tree, found: .blob))
    }

    func testIdsWithHexPrefix() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        let store = try ObjectStore(directory: tmp.path, durable: false)
        let objects = try populate(store)
        let all = Array(objects.keys)
        for id in all.prefix(20) {
            for n in [1, 2, 3, 4, 5, 7, 64] {
                let prefix = String(id.hex.prefix(n))
                let expected = all.filter { $0.hex.hasPrefix(prefix) }.sorted()
                XCTAssertEqual(store.ids(withHexPrefix: prefix, limit: 1000), expected, "prefix \(prefix)")
                XCTAssertEqual(store.ids(withHexPrefix: prefix.uppercased(), limit: 1000), expected)
            }
        }
        XCTAssertEqual(store.ids(withHexPrefix: "", limit: 10), [])
        XCTAssertEqual(store.ids(withHexPrefix: "xyz", limit: 10), [])
        // A prefix that matches nothing.
        var missing = "0"
        while all.contains(where: { $0.hex.hasPrefix(missing) }) { missing += "0" }
        XCTAssertEqual(store.ids(withHexPrefix: missing), [])
        // The limit applies.
        let common = all.map { String($0.hex.prefix(1)) }
        let mostCommon = Dictionary(grouping: common, by: { $0 }).max { $0.value.count < $1.value.count }!.key
        XCTAssertEqual(store.ids(withHexPrefix: mostCommon, limit: 2).count, 2)
    }

    func testMissingObject() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        let store = try ObjectStore(directory: tmp.path, durable: false)
        var rng = SplitMix(seed: 31)
        let ghost = rng.id()
        XCTAssertEqual(storeError(try store.read(ghost)), .objectMissing(ghost, context: nil))
        _ = try populate(store)
        XCTAssertEqual(storeError(try store.read(ghost)), .objectMissing(ghost, context: nil))
        XCTAssertNil(try store.info(ghost))
        XCTAssertFalse(store.contains(ghost))
    }

    func testPendingObjectsAreVisibleForDedupAndInfo() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        let store = try ObjectStore(directory: tmp.path, durable: false)
        let id = try store.put(.blob, Array("pending".utf8))
        XCTAssertTrue(store.contains(id))
        XCTAssertFalse(store.containsCommitted(id))
        XCTAssertEqual(try store.info(id)?.size, 7)
        // Not published: another store does not see it, and an aborted pack leaves nothing.
        XCTAssertFalse(try ObjectStore(directory: tmp.path, durable: false).contains(id))
        store.abortPending()
        XCTAssertFalse(store.contains(id))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), [], "temp pack deleted")
        // A pack with nothing in it is not published.
        _ = try store.beginWrite()
        try store.commitPending()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), [])
    }

    func testSeveralPacksAndReload() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        let a = try ObjectStore(directory: tmp.path, durable: false)
        let b = try ObjectStore(directory: tmp.path, durable: false)
        let one = try populate(a, seed: 40)
        let two = try populate(b, seed: 41)
        // `a` has not listed b's pack yet but finds its objects by reloading on a miss.
        let (id2, (k2, p2)) = two.first!
        XCTAssertEqual(try a.read(id2).data, p2)
        XCTAssertEqual(try a.read(id2).kind, k2)
        try a.reload()
        XCTAssertEqual(a.packs.count, 2)
        XCTAssertEqual(Set(a.allIds()), Set(one.keys).union(two.keys))
        // Storing known objects again writes nothing.
        for (id, (k, p)) in one { XCTAssertEqual(try a.put(k, p), id) }
        XCTAssertNil(a.pending)
    }

    func testPackIndexEncodeFind() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        var rng = SplitMix(seed: 32)
        var entries: [(ObjectId, PackEntry)] = []
        for i in 0..<500 {
            entries.append((rng.id(), PackEntry(offset: UInt64(8 + i * 100), size: UInt32(i), kind: .blob, codec: i % 2 == 0 ? .raw : .zlib)))
        }
        entries.append((.zero, PackEntry(offset: 8, size: 1, kind: .tree, codec: .raw)))
        let path = tmp.sub("pack-x.idx")
        try FS.atomicWrite(path, PackIndex.encode(entries), durable: false)
        let idx = try PackIndex(path: path)
        XCTAssertEqual(idx.count, entries.count)
        XCTAssertTrue(idx.verifyChecksum())
        for (id, e) in entries {
            let i = try XCTUnwrap(idx.find(id))
            XCTAssertEqual(idx.id(at: i), id)
            let got = try idx.entry(at: i)
            XCTAssertEqual(got.offset, e.offset)
            XCTAssertEqual(got.size, e.size)
            XCTAssertEqual(got.kind, e.kind)
            XCTAssertEqual(got.codec, e.codec)
        }
        XCTAssertNil(idx.find(rng.id()))
        let sorted = (0..<idx.count).map { idx.id(at: $0) }
        XCTAssertEqual(sorted, sorted.sorted())
        // Damaged or truncated indexes are refused.
        var bytes = PackIndex.encode(entries)
        bytes.removeLast(7)
        try FS.atomicWrite(path, bytes, durable: false)
        guard case .corruptFile(path, _)? = storeError(try PackIndex(path: path)) else { return XCTFail() }
        try FS.atomicWrite(path, Array("MLRIDX0".utf8), durable: false)
        guard case .corruptFile? = storeError(try PackIndex(path: path)) else { return XCTFail() }
        var flipped = PackIndex.encode(entries)
        flipped[flipped.count - 40] ^= 1  // inside the entry table: only the checksum notices
        try FS.atomicWrite(path, flipped, durable: false)
        XCTAssertFalse(try PackIndex(path: path).verifyChecksum())
    }

    /// Location of an object's payload in its pack.
    func payloadOffset(_ store: ObjectStore, _ id: ObjectId) throws -> (path: String, offset: Int, stored: Int) {
        for p in store.packs {
            if let i = p.index.find(id) {
                let e = try p.index.entry(at: i)
                let (_, stored, _) = try p.stored(at: i)
                return (p.packPath, Int(e.offset) + Pack.entryHeaderSize, stored.count)
            }
        }
        throw StoreError.objectMissing(id, context: nil)
    }

    func testCorruptPayloadIsDetected() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        let store = try ObjectStore(directory: tmp.path, durable: false)
        let objects = try populate(store)
        let raw = objects.first { $0.value.0 == .blob && $0.value.1.count > 1000 }!.key
        let compressed = objects.first { $0.value.0 == .tree && $0.value.1.first == UInt8(ascii: "l") }!.key
        let untouched = objects.first { $0.key != raw && $0.key != compressed && $0.value.1.count > 0 }!.key
        for victim in [raw, compressed] {
            let loc = try payloadOffset(store, victim)
            try flipByte(loc.path, at: loc.offset + loc.stored / 2)
        }
        let fresh = try ObjectStore(directory: tmp.path, durable: false)
        for victim in [raw, compressed] {
            guard let e = storeError(try fresh.read(victim)) else { continue }
            guard case .objectCorrupt(victim, let where_, _) = e else { XCTFail("\(e)"); continue }
            XCTAssertTrue(where_.contains(".pack"), where_)
            XCTAssertTrue("\(e)".contains("corrupt"))
        }
        XCTAssertEqual(try fresh.read(untouched).data, objects[untouched]!.1, "other objects still read")
    }

    func testCorruptEntryHeaderAndTruncatedPack() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        let store = try ObjectStore(directory: tmp.path, durable: false)
        let objects = try populate(store)
        let ids = objects.keys.sorted()
        let a = ids[0]
        let locA = try payloadOffset(store, a)
        let last = try objects.keys.max { try payloadOffset(store, $0).offset < payloadOffset(store, $1).offset }!
        let locL = try payloadOffset(store, last)
        // Flip a byte of the id in the entry header.
        try flipByte(locA.path, at: locA.offset - Pack.entryHeaderSize + 3)
        let fresh = try ObjectStore(directory: tmp.path, durable: false)
        guard case .objectCorrupt(a, _, let reason)? = storeError(try fresh.read(a)) else { return XCTFail() }
        XCTAssertTrue(reason.contains("another object"), reason)
        // Truncate the pack: the last object's payload now runs past the end.
        XCTAssertEqual(truncate(locL.path, off_t(locL.offset + max(0, locL.stored - 1))), 0)
        let fresh2 = try ObjectStore(directory: tmp.path, durable: false)
        if locL.stored > 0 {
            guard case .objectCorrupt(last, _, _)? = storeError(try fresh2.read(last)) else { return XCTFail() }
        }
        // Bad pack magic.
        try flipByte(locL.path, at: 0)
        let fresh3 = try ObjectStore(directory: tmp.path, durable: false)
        guard case .corruptFile? = storeError(try fresh3.read(ids[1])) else { return XCTFail() }
    }

    func testPackWriterNamesPackByContent() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        try FS.mkdirs(tmp.sub("a")); try FS.mkdirs(tmp.sub("b"))
        let s1 = try ObjectStore(directory: tmp.sub("a"), durable: false)
        let s2 = try ObjectStore(directory: tmp.sub("b"), durable: true)
        // Same objects in another order: same pack name.
        let payloads = (0..<10).map { Array("object \($0)".utf8) }
        for p in payloads { try s1.put(.blob, p) }
        for p in payloads.reversed() { try s2.put(.blob, p) }
        try s1.commitPending(); try s2.commitPending()
        XCTAssertEqual(s1.packs.map(\.name), s2.packs.map(\.name))
        XCTAssertTrue(s1.packs[0].name.hasPrefix("pack-"))
        XCTAssertEqual(s1.packs[0].name.count, 5 + 64)
    }
}

/// The automatic repack merges small packs geometrically and leaves the big pack alone.
final class GeometricRepackTests: XCTestCase {
    func testBigPackStaysWhenSmallOnesAreMerged() {
        let sizes: [UInt64] = [50 << 20] + Array(repeating: 5_000, count: 24)
        let chosen = Repository.geometricRepackSet(sizes)
        XCTAssertEqual(chosen.count, 24)
        XCTAssertFalse(chosen.contains(0), "the 50 MiB pack is not rewritten")
    }

    func testMergedPackJoinsWhenSmallerOnesCatchUp() {
        // 120 KB is less than twice the 23 × 5 KB below it: it is merged with them.
        let sizes: [UInt64] = [50 << 20, 120_000] + Array(repeating: 5_000, count: 23)
        let chosen = Set(Repository.geometricRepackSet(sizes))
        XCTAssertTrue(chosen.contains(1))
        XCTAssertFalse(chosen.contains(0))
        XCTAssertEqual(chosen.count, 24)
    }

    func testEqualPacksAreAllMerged() {
        XCTAssertEqual(Set(Repository.geometricRepackSet(Array(repeating: 1_000, count: 24))), Set(0..<24))
    }

    func testGeometricSeriesStillMergesTheTwoSmallest() {
        var sizes: [UInt64] = [1]
        for _ in 1..<24 { sizes.append(sizes.last! * 3) }  // each more than twice all below it
        XCTAssertEqual(Set(Repository.geometricRepackSet(sizes)), [0, 1])
    }
}
