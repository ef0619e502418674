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

    /// .mlrepo-format.md §7: unmerged stages in flag bits 1-2, version 2 only while any exist.
    func testUnmergedStagesSpecExample() throws {
        var rng = SplitMix(seed: 7)
        var idx = StagingIndex()
        let ours = TreeFile(mode: .regular, size: 5, id: rng.id()), theirs = TreeFile(mode: .regular, size: 7, id: rng.id())
        idx.unmerged["t.txt"] = UnmergedPath(path: "t.txt", base: nil, ours: ours, theirs: theirs)
        let bytes = idx.encode()
        // Header: magic, version 2, 2 entries (the two stages of t.txt), a zero tree id.
        XCTAssertEqual(Array(bytes[0..<16]), Array("MLRINDX1".utf8) + [2, 0, 0, 0, 2, 0, 0, 0])
        // Each stage entry: mode 100644, flags = stage << 1 (4: ours, 6: theirs), the size, zero stat data.
        let entry = 4 + 4 + 8 * 5 + 32 + 2 + 5
        XCTAssertEqual(Array(bytes[48..<60]), [0xa4, 0x81, 0, 0, 0x04, 0, 0, 0, 0x05, 0, 0, 0])
        XCTAssertEqual(Array(bytes[(48 + entry)..<(60 + entry)]), [0xa4, 0x81, 0, 0, 0x06, 0, 0, 0, 0x07, 0, 0, 0])
        XCTAssertEqual(Array(bytes[(48 + 48)..<(48 + 82)]), Array(ours.id.bytes) + [5, 0])
        XCTAssertEqual(bytes.count, 48 + 2 * entry + 32)
        let d = try bytes.withUnsafeBytes { try StagingIndex.decode($0, path: "x") }
        XCTAssertEqual(d.unmerged, idx.unmerged)
        XCTAssertTrue(d.entries.isEmpty)

        // With staged files and all three stages: a round trip keeps both apart, sorted by path then stage.
        var full = sampleIndex()
        full.unmerged["m.txt"] = UnmergedPath(path: "m.txt", base: TreeFile(mode: .regular, size: 1, id: rng.id()), ours: ours, theirs: nil)
        full.unmerged["dir/b.bin"] = nil
        let tmp = TempDir(); defer { tmp.cleanup() }
        try full.write(tmp.sub("index"), durable: false)
        let loaded = try StagingIndex.load(tmp.sub("index"))
        XCTAssertEqual(loaded.entries, full.entries)
        XCTAssertEqual(loaded.unmerged, full.unmerged)
        XCTAssertEqual(loaded.sortedUnmerged.map(\.path), ["m.txt"])
        // No stages: version 1, byte for byte what it was before merges existed.
        var plain = full
        plain.unmerged = [:]
        XCTAssertEqual(Array(plain.encode()[8..<12]), [1, 0, 0, 0])
        XCTAssertEqual(plain.encode(), sampleIndex().encode())
        // A path staged again (stage 0) is no longer unmerged.
        var restaged = idx
        restaged.entries["t.txt"] = IndexEntry(path: "t.txt", mode: .regular, size: 5, id: ours.id)
        let r = try restaged.encode().withUnsafeBytes { try StagingIndex.decode($0, path: "x") }
        XCTAssertTrue(r.unmerged.isEmpty); XCTAssertEqual(r.entries.count, 1)
        XCTAssertEqual(Array(restaged.encode()[8..<12]), [1, 0, 0, 0])
    }

    /// Hostile stage entries are refused: stage bits in version 1, a path both merged and
    /// unmerged, a stage twice, an unmerged entry marked not checked out.
    func testBadStagesRefused() throws {
        var rng = SplitMix(seed: 8)
        var idx = StagingIndex()
        idx.unmerged["t.txt"] = UnmergedPath(path: "t.txt", base: nil, ours: TreeFile(mode: .regular, size: 5, id: rng.id()),
                                             theirs: TreeFile(mode: .regular, size: 7, id: rng.id()))
        let good = Array(idx.encode().dropLast(32))
        func decode(_ edit: (inout [UInt8]) -> Void) -> Error? {
            var b = good
            edit(&b)
            b += SHA256Hasher.digest(b)
            do { _ = try b.withUnsafeBytes { try StagingIndex.decode($0, path: "idx") }; return nil } catch { return error }
        }
        XCTAssertNil(decode { _ in })
        let entry = 4 + 4 + 8 * 5 + 32 + 2 + 5
        XCTAssertNotNil(decode { $0[8] = 1 }, "stage bits in a version-1 index")
        XCTAssertNotNil(decode { $0[48 + entry + 4] = 4 }, "stage 2 twice")
        XCTAssertNotNil(decode { $0[48 + entry + 4] = 0 }, "both stage 0 and stage 2")
        XCTAssertNotNil(decode { $0[48 + 4] = 5 }, "unmerged and not checked out")
        XCTAssertNotNil(decode { $0[48 + 4] = 8 }, "an unknown flag bit")
        XCTAssertNotNil(decode { $0[8] = 3 }, "version 3")
    }

    /// Every entry's path (stage 0 and stages 1-3) must be a safe relative path: never
    /// `..`, absolute, empty components or under `.mlrepo` (merge --abort removes paths).
    func testUnsafePathsRefused() throws {
        var rng = SplitMix(seed: 9)
        for bad in ["../victim.xy", ".mlrepo/HEAD", "/etc/passwd1", "a//b.txt", "./a.txt", "a/../b", "d/.mlrepo/x"] {
            for staged in [false, true] {
                var idx = StagingIndex()
                let f = TreeFile(mode: .regular, size: 5, id: rng.id())
                if staged { idx.entries[bad] = IndexEntry(path: bad, mode: .regular, size: 5, id: f.id) }
                else { idx.unmerged[bad] = UnmergedPath(path: bad, base: f, ours: f, theirs: nil) }
                let bytes = idx.encode()
                XCTAssertThrowsError(try bytes.withUnsafeBytes { try StagingIndex.decode($0, path: "idx") }, bad) { e in
                    XCTAssertTrue("\(e)".contains("unsafe path"), "\(e)")
                }
            }
        }
        var ok = StagingIndex()
        ok.unmerged["dir/t~HEAD.txt"] = UnmergedPath(path: "dir/t~HEAD.txt", base: nil, ours: TreeFile(mode: .regular, size: 1, id: rng.id()), theirs: nil)
        XCTAssertNoThrow(try ok.encode().withUnsafeBytes { try StagingIndex.decode($0, path: "idx") })
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
        // Valid checksum but an unknown version (2 is the version with merge stages).
        var v3 = Array(enc.dropLast(32)); v3[8] = 3
        expectCorrupt(v3 + sha(v3), "version 3")
        // Valid checksum but the entry count overstates the entries.
        var count = Array(enc.dropLast(32)); count[12] += 1
        expectCorrupt(count + sha(count), "count too large")
    }
}
