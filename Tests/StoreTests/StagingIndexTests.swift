import XCTest
import TestHelpers
@testable import Store
@testable import Support

final class StagingIndexTests: XCTestCase {
    func sampleIndex() -> StagingIndex {
        var rng = SplitMix(seed: 25)
        var idx = StagingIndex()
        for (i, p) in ["a.txt", "dir/b.bin", "dir/sub/é.dat", "z"].enumerated() {
            let st = FileStat(mode: 0o100644, size: UInt64(i * 1000), mtimeNs: 1_700_000_000_123_456_789 + Int64(i),
                              ctimeNs: 1_700_000_001_000_000_000, inode: UInt64(1000 + i), device: 42)
            idx.entries[p] = IndexEntry(path: p, mode: i == 3 ? .executable : .regular, stat: st, id: rng.id())
        }
        return idx
    }

    func testEncodeDecodeRoundTrip() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        let idx = sampleIndex()
        let path = tmp.sub("index")
        try idx.write(path, durable: false)
        let loaded = try StagingIndex.load(path)
        XCTAssertEqual(loaded.entries, idx.entries)
        XCTAssertEqual(loaded.sortedEntries.map(\.path), ["a.txt", "dir/b.bin", "dir/sub/é.dat", "z"])
        XCTAssertEqual(loaded.fileMtimeNs, FS.lstat(path)!.mtimeNs)
        // In-memory decode too.
        let d = try idx.encode().withUnsafeBytes { try StagingIndex.decode($0, path: "x") }
        XCTAssertEqual(d.entries, idx.entries)
        XCTAssertEqual(Array(idx.encode().prefix(8)), Array("MLRINDX1".utf8))
        // A missing index is an empty one.
        XCTAssertTrue(try StagingIndex.load(tmp.sub("none")).entries.isEmpty)
        XCTAssertEqual(try StagingIndex.load(tmp.sub("none")).fileMtimeNs, 0)
        // Empty index round trip.
        try StagingIndex().write(tmp.sub("empty"), durable: true)
        XCTAssertTrue(try StagingIndex.load(tmp.sub("empty")).entries.isEmpty)
    }

    func testNotCheckedOutFlag() throws {
        var idx = StagingIndex()
        var rng = SplitMix(seed: 3)
        var e = IndexEntry(path: "data.csv", mode: .regular, size: 300_000, id: rng.id())
        e.notCheckedOut = true
        idx.entries[e.path] = e
        let bytes = idx.encode()
        // Header: magic 8, version 4, count 4, tree 32; then the entry (.mlrepo-format.md §7).
        XCTAssertEqual(Array(bytes[48..<64]), [0xa4, 0x81, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0, 0x93, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00])
        let d = try bytes.withUnsafeBytes { try StagingIndex.decode($0, path: "x") }
        XCTAssertEqual(d.entries["data.csv"]?.notCheckedOut, true)
        XCTAssertEqual(d.entries, idx.entries)
        // Unknown flag bits are refused (a newer writer), after fixing the checksum.
        var bad = Array(bytes.dropLast(32))
        bad[52] = 2
        bad += SHA256Hasher.digest(bad)
        XCTAssertThrowsError(try bad.withUnsafeBytes { try StagingIndex.decode($0, path: "x") })
    }

    func testRacyAndMatches() {
        var idx = sampleIndex()
        let e = idx.entries["a.txt"]!
        XCTAssertTrue(idx.isRacy(e), "a new index trusts nothing")
        idx.fileMtimeNs = e.mtimeNs + 1
        XCTAssertFalse(idx.isRacy(e))
        idx.fileMtimeNs = e.mtimeNs
        XCTAssertTrue(idx.isRacy(e), "same tick as the index write")
        let st = FileStat(mode: 0o100644, size: e.size, mtimeNs: e.mtimeNs, ctimeNs: e.ctimeNs, inode: e.inode, device: e.device)
        XCTAssertTrue(e.matches(st))
        var st2 = st; st2.size += 1
        XCTAssertFalse(e.matches(st2))
        var st3 = st; st3.mtimeNs += 1
        XCTAssertFalse(e.matches(st3))
        var st4 = st; st4.mode = 0o100755
        XCTAssertFalse(e.matches(st4), "mode change")
        var st5 = st; st5.inode += 1
        XCTAssertFalse(e.matches(st5))
    }

    func testCorruptIndexFiles() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        let enc = sampleIndex().encode()
        func expectCorrupt(_ bytes: [UInt8], _ why: String, line: UInt = #line) {
            let p = tmp.sub("index-\(UUID().uuidString)")
            FileManager.default.createFile(atPath: p, contents: Data(bytes))
            guard let e = storeError(try StagingIndex.load(p), line: line) else { return }
            guard case .corruptFile(let path, let reason) = e else { return XCTFail("\(why): \(e)", line: line) }
            XCTAssertEqual(path, p, why, line: line)
            XCTAssertTrue(reason.contains("reset"), "suggests a fix: \(reason)", line: line)
        }
        expectCorrupt(Array(enc.prefix(enc.count / 2)), "truncated")
        expectCorrupt(Array(enc.dropLast()), "last byte missing")
        expectCorrupt(Array(enc.prefix(20)), "shorter than a header")
        expectCorrupt([], "empty file")
        var flipped = enc; flipped[60] ^= 1
        expectCorrupt(flipped, "bit flip")
        var badMagic = enc; badMagic[0] = UInt8(ascii: "X")
        expectCorrupt(badMagic, "bad magic")
        // Valid checksum but a wrong version.
        var v2 = Array(enc.dropLast(32)); v2[8] = 2
        expectCorrupt(v2 + sha(v2), "version 2")
        // Valid checksum but the entry count overstates the entries.
        var count = Array(enc.dropLast(32)); count[12] += 1
        expectCorrupt(count + sha(count), "count too large")
    }
}
