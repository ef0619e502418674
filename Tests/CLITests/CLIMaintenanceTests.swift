import Foundation
import XCTest
import TestHelpers
import Store
import Support

/// fsck, gc, du, and what happens when the store is damaged.
final class CLIMaintenanceTests: CLITestCase {
    func packFiles(_ ext: String) -> [URL] {
        let dir = url(".mlrepo/objects/pack")
        return ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.lastPathComponent.hasPrefix("pack-") && $0.pathExtension == ext }
            .sorted { $0.path < $1.path }
    }

    /// Flips the byte at `needle`'s position + `offset` in the pack that holds `needle`
    /// (payloads are stored raw: blob compression is off by default).
    @discardableResult
    func corrupt(containing needles: [Data], at offset: Int, file: StaticString = #filePath, line: UInt = #line) throws -> URL? {
        for needle in needles {
            for p in packFiles("pack") {
                var d = try Data(contentsOf: p)
                if let r = d.range(of: needle) {
                    d[r.lowerBound + offset] ^= 0x20
                    chmod(p.path, 0o644)
                    try d.write(to: p)
                    return p
                }
            }
        }
        XCTFail("payload not found in any pack", file: file, line: line)
        return nil
    }

    func testFsckGcDu() {
        ok("init")
        ok("fsck")
        var rng = SplitMix(seed: 5)
        write("a.txt", "a")
        write("data/big.bin", rng.data(500_000))
        ok("add", ".")
        commit("c1")
        let out = ok("fsck")
        XCTAssertTrue(out.hasPrefix("checked "), out)
        XCTAssertTrue(out.hasSuffix(": ok\n"), out)
        let fj = json(ok("fsck", "--json")) as? [String: Any]
        XCTAssertEqual((fj?["problems"] as? [Any])?.count, 0)
        XCTAssertGreaterThan(fj?["objects"] as? Int ?? 0, 5)
        XCTAssertGreaterThanOrEqual(fj?["bytes"] as? Int ?? 0, 500_001)

        // du.
        guard let du = json(ok("du", "--json")) as? [String: Any] else { return XCTFail() }
        for k in ["head_files", "head_bytes", "commits", "file_versions", "logical_bytes", "unique_chunks",
                  "unique_chunk_bytes", "stored_bytes", "objects", "packs", "dedup_ratio"] {
            XCTAssertNotNil(du[k], "du --json has \(k)")
        }
        XCTAssertEqual(du["head_files"] as? Int, 2)
        XCTAssertEqual(du["head_bytes"] as? Int, 500_001)
        XCTAssertEqual(du["commits"] as? Int, 1)
        XCTAssertEqual(du["logical_bytes"] as? Int, 500_001)
        XCTAssertGreaterThan(du["stored_bytes"] as? Int ?? 0, 500_000)
        let duText = ok("du")
        XCTAssertTrue(duText.contains("HEAD:            2 files"), duText)
        XCTAssertTrue(duText.contains("dedup ratio:"), duText)

        // A second version of the big file shares most chunks.
        var v2 = read("data/big.bin")!
        v2.replaceSubrange(1000..<1010, with: Data(repeating: 7, count: 10))
        write("data/big.bin", v2)
        ok("add", ".")
        commit("c2")
        let du2 = json(ok("du", "--json")) as? [String: Any]
        XCTAssertEqual(du2?["logical_bytes"] as? Int, 1_000_001)
        XCTAssertLessThan(du2?["unique_chunk_bytes"] as? Int ?? .max, 600_000, "dedup across versions")

        // gc with nothing unreachable keeps everything (and packs into one).
        let dry = json(ok("gc", "--dry-run", "--json")) as? [String: Any]
        XCTAssertEqual(dry?["unreachable"] as? Int, 0)
        XCTAssertEqual(dry?["dry_run"] as? Bool, true)
        XCTAssertGreaterThan(packFiles("pack").count, 1)
        ok("gc")
        XCTAssertEqual(packFiles("pack").count, 1)
        XCTAssertEqual(packFiles("idx").count, 1)
        ok("fsck")
    }

    func testGcRemovesUnreachableData() {
        ok("init")
        var rng = SplitMix(seed: 6)
        write("keep.bin", rng.data(200_000))
        ok("add", ".")
        let c1 = commit("c1")
        // A branch with unique data, then deleted.
        ok("switch", "-c", "doomed")
        let doomed = rng.data(300_000)
        write("doomed.bin", doomed)
        ok("add", ".")
        let d1 = commit("doomed data")
        let doomedId = ok("hash-object", "doomed.bin").trimmingCharacters(in: .newlines)
        ok("switch", "main")
        ok("branch", "-D", "doomed")
        // Staged-then-unstaged data is unreachable too.
        write("staged-only.bin", rng.data(100_000))
        ok("add", "staged-only.bin")
        let stagedId = ok("hash-object", "staged-only.bin").trimmingCharacters(in: .newlines)
        ok("rm", "--cached", "staged-only.bin")
        remove("staged-only.bin")

        let dry = json(ok("gc", "--dry-run", "--json")) as? [String: Any]
        XCTAssertGreaterThan(dry?["unreachable"] as? Int ?? 0, 0)
        XCTAssertEqual(ok("cat-object", "-t", stagedId), "chunks\n", "--dry-run removes nothing")
        XCTAssertTrue(ok("gc", "--dry-run").hasPrefix("would remove "))
        // The HEAD reflog still references the deleted branch's commit: it is kept (as git does).
        ok("gc")
        fails(1, "cat-object", "-t", stagedId)
        XCTAssertEqual(ok("cat-object", "-t", d1), "commit\n", "kept by the HEAD reflog")
        ok("fsck")
        // Once the reflogs are expired, the branch's data goes too.
        let g = json(ok("gc", "--expire-reflogs", "--json")) as? [String: Any]
        XCTAssertGreaterThan(g?["unreachable"] as? Int ?? 0, 0)
        XCTAssertGreaterThanOrEqual(g?["unreachable_bytes"] as? Int ?? 0, 300_000)
        XCTAssertLessThan(g?["bytes_after"] as? Int ?? .max, g?["bytes_before"] as? Int ?? 0)
        fails(1, "cat-object", "-t", d1)
        fails(1, "cat-object", "-t", doomedId)
        XCTAssertEqual(ok("cat-object", "-t", c1), "commit\n")
        ok("fsck")
        XCTAssertEqual(listFiles().keys.sorted(), ["keep.bin"])
        remove("keep.bin")
        ok("checkout", "-f", "main")
        XCTAssertEqual(read("keep.bin")?.count, 200_000)
        // gc again: nothing to do.
        let g2 = json(ok("gc", "--json")) as? [String: Any]
        XCTAssertEqual(g2?["unreachable"] as? Int, 0)
        XCTAssertEqual(g2?["packs_after"] as? Int, 1)
    }

    func testGcRemovesTempFilesOfKilledWriters() {
        ok("init")
        write("a", "a"); ok("add", "."); commit("c")
        let dir = url(".mlrepo/objects/pack")
        FileManager.default.createFile(atPath: dir.appendingPathComponent("tmp-1-2.pack").path, contents: Data("junk".utf8))
        ok("fsck")
        XCTAssertTrue(ok("gc", "--dry-run").contains("and 1 temp file(s)"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("tmp-1-2.pack").path))
        ok("gc")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("tmp-1-2.pack").path))
        ok("fsck")
    }

    func testFlippedBlobByteIsDetected() throws {
        ok("init")
        let payload = Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
        write("victim.bin", payload)
        write("other.txt", "unharmed")
        ok("add", ".")
        commit("c1")
        let victimId = ok("hash-object", "victim.bin").trimmingCharacters(in: .newlines)
        try corrupt(containing: [payload], at: 2500)
        let f = fails(1, "fsck")
        XCTAssertTrue(f.err.contains(victimId), "fsck names the object: \(f.err)")
        XCTAssertTrue(f.err.contains("corrupt"), f.err)
        XCTAssertTrue(f.out.contains("1 problem(s)"), f.out)
        let fj = json(runResult(["fsck", "--json"]).out) as? [String: Any]
        XCTAssertEqual((fj?["problems"] as? [[String: Any]])?.first?["id"] as? String, victimId)
        let s = fails(1, "show", "HEAD:victim.bin")
        XCTAssertTrue(s.err.contains("corrupt"), s.err)
        XCTAssertEqual(ok("show", "HEAD:other.txt"), "unharmed")
        // checkout of the damaged file fails and leaves no partial file behind.
        remove("victim.bin")
        let c = fails(1, "checkout", "-f", "HEAD", "--", "victim.bin")
        XCTAssertTrue(c.err.contains("corrupt"), c.err)
        XCTAssertFalse(exists("victim.bin"))
        let c2 = fails(1, "checkout", "-f", "main")
        XCTAssertTrue(c2.err.contains("corrupt"), c2.err)
        XCTAssertEqual(listFiles().keys.sorted(), ["other.txt"], "no temp files left")
        fails(1, "cat-object", victimId)
        // gc verifies what it copies: it fails rather than carry damaged data forward.
        XCTAssertNotEqual(runResult(["gc"]).code, 0)
    }

    func testFlippedChunkByteIsDetected() throws {
        ok("init")
        var rng = SplitMix(seed: 8)
        let big = rng.data(400_000)
        write("big.bin", big)
        write("dir/small.txt", "small")
        ok("add", ".")
        commit("c1")
        // A chunk in the middle of the big file.
        // (A needle may straddle two chunks, which are stored apart: try several.)
        let needles = stride(from: 200_000, to: 300_000, by: 7_000).map { big.subdata(in: $0..<($0 + 32)) }
        try corrupt(containing: needles, at: 10)
        let f = fails(1, "fsck")
        XCTAssertTrue(f.err.contains("corrupt"), f.err)
        XCTAssertTrue(f.err.contains("big.bin"), "fsck says which file is hit: \(f.err)")
        let s = fails(1, "show", "HEAD:big.bin")
        XCTAssertTrue(s.err.contains("corrupt"), s.err)
        XCTAssertEqual(ok("show", "HEAD:dir/small.txt"), "small")
    }

    func testTruncatedIndex() throws {
        ok("init")
        write("a.txt", "a"); write("b.txt", "b")
        ok("add", ".")
        commit("c1")
        let idx = url(".mlrepo/index")
        let d = try Data(contentsOf: idx)
        try d.prefix(d.count / 2).write(to: idx)
        let s = fails(1, "status")
        XCTAssertTrue(s.err.contains(".mlrepo/index"), s.err)
        XCTAssertTrue(s.err.contains("corrupt"), s.err)
        fails(1, "add", ".")
        fails(1, "commit", "-m", "x")
        let f = fails(1, "fsck")
        XCTAssertTrue(f.err.contains("index"), f.err)
        // Committed data is unaffected.
        XCTAssertEqual(ok("show", "HEAD:a.txt"), "a")
        // An empty index file.
        try Data().write(to: idx)
        XCTAssertTrue(fails(1, "status").err.contains(".mlrepo/index"))
        // `reset` rebuilds it from HEAD, leaving the work tree alone.
        write("b.txt", "b, edited")
        ok("reset")
        let s2 = status()
        XCTAssertTrue(s2.staged.isEmpty, "\(s2)")
        XCTAssertEqual(s2.unstaged, ["b.txt": "modified"])
        XCTAssertEqual(text("b.txt"), "b, edited")
        ok("fsck")
    }

    func testDeletedPackReportsMissingObjects() throws {
        ok("init")
        write("first.txt", "first version data")
        ok("add", ".")
        commit("c1")
        write("second.txt", "second")
        ok("add", ".")
        commit("c2")
        let blob = ok("hash-object", "first.txt").trimmingCharacters(in: .newlines)
        // The pack that holds first.txt's blob.
        let r = try Repository(root: repo.path)
        let victim = try XCTUnwrap(r.store.packs.first { $0.index.find(ObjectId(hex: blob)!) != nil })
        try FileManager.default.removeItem(atPath: victim.packPath)
        try FileManager.default.removeItem(atPath: victim.index.path)
        let f = fails(1, "fsck")
        XCTAssertTrue(f.err.contains("missing"), f.err)
        XCTAssertTrue(f.err.contains(blob), f.err)
        let s = fails(1, "show", "HEAD:first.txt")
        XCTAssertTrue(s.err.contains("missing"), s.err)
        XCTAssertEqual(ok("show", "HEAD:second.txt"), "second")
        // A pack without its index is invisible; an index without its pack is skipped.
        XCTAssertNotEqual(runResult(["gc"]).code, 0, "gc refuses a store with missing objects")
        ok("rev-parse", "HEAD")
    }

    func testDamagedPackIndexIsReported() throws {
        ok("init")
        write("a.txt", "a")
        ok("add", ".")
        commit("c1")
        let idx = try XCTUnwrap(packFiles("idx").first)
        var d = try Data(contentsOf: idx)
        d[d.count - 40] ^= 0x01   // inside the entry table; only the checksum notices
        chmod(idx.path, 0o644)
        try d.write(to: idx)
        let f = fails(1, "fsck")
        XCTAssertTrue(f.err.contains(idx.deletingPathExtension().lastPathComponent), f.err)
        // A truncated index makes the store unreadable with a clear error.
        try d.prefix(100).write(to: idx)
        let s = fails(1, "status")
        XCTAssertTrue(s.err.contains(".idx"), s.err)
    }

    /// du's figures on a plain repository agree with their definitions in `du --help`.
    func testDuFiguresAreConsistentOnAPlainRepository() {
        ok("init")
        var rng = SplitMix(seed: 11)
        write("data.bin", rng.data(300_000))
        ok("add", ".")
        commit("one file")
        var du = json(ok("du", "--json")) as? [String: Any] ?? [:]
        XCTAssertEqual(du["head_bytes"] as? Int, 300_000)
        XCTAssertEqual(du["logical_bytes"] as? Int, 300_000)
        XCTAssertEqual(du["unique_chunk_bytes"] as? Int, 300_000)
        XCTAssertEqual(du["file_versions"] as? Int, 1)
        XCTAssertEqual(du["dedup_ratio"] as? Double, 1, "nothing shared: 1.00x, never below")
        // Random bytes do not compress: stored is the data plus packs' headers and indexes.
        XCTAssertGreaterThanOrEqual(du["stored_bytes"] as? Int ?? 0, 300_000)
        XCTAssertLessThan(du["stored_bytes"] as? Int ?? .max, 330_000)
        XCTAssertTrue(ok("du").contains("dedup ratio:     1.00x (logical size / unique chunks)"))

        // Two copies of a file and an empty file: HEAD counts each, and so does logical;
        // the data is stored once.
        write("copy.bin", read("data.bin")!)
        write("empty.txt", "")
        ok("add", ".")
        commit("copies")
        du = json(ok("du", "--json")) as? [String: Any] ?? [:]
        XCTAssertEqual(du["head_files"] as? Int, 3)
        XCTAssertEqual(du["head_bytes"] as? Int, 600_000)
        XCTAssertEqual(du["logical_bytes"] as? Int, 600_000)
        XCTAssertLessThanOrEqual(du["head_bytes"] as? Int ?? .max, du["logical_bytes"] as? Int ?? 0)
        XCTAssertEqual(du["unique_chunk_bytes"] as? Int, 300_000)
        XCTAssertEqual(du["dedup_ratio"] as? Double, 2)
        XCTAssertLessThan(du["stored_bytes"] as? Int ?? .max, 340_000, "the copy costs no data")

        // Compressed data: stored is well under logical, the dedup ratio still 1.00x.
        let text = dir("text")
        ok("init", in: text)
        ok("config", "core.compression", "all", in: text)
        try? Data(String(repeating: "the same line of text\n", count: 20_000).utf8).write(to: text.appendingPathComponent("a.txt"))
        ok("add", ".", in: text)
        ok("commit", "-m", "text", in: text)
        du = json(ok("du", "--json", in: text)) as? [String: Any] ?? [:]
        XCTAssertEqual(du["dedup_ratio"] as? Double, 1)
        XCTAssertLessThan(du["stored_bytes"] as? Int ?? .max, (du["logical_bytes"] as? Int ?? 0) / 4)
    }

    /// du and registry explain themselves like the other commands.
    func testDuAndRegistryHelp() {
        let du = ok("du", "--help")
        for part in ["HEAD", "logical size", "unique chunks", "stored size", "dedup ratio", "--json", "Examples:"] {
            XCTAssertTrue(du.contains(part), "du --help lacks '\(part)':\n\(du)")
        }
        let reg = ok("registry", "--help")
        for part in ["registry log ALIAS", "promote", "refs/aliases/", "--json", "Examples:"] {
            XCTAssertTrue(reg.contains(part), "registry --help lacks '\(part)':\n\(reg)")
        }
        XCTAssertEqual(ok("help", "du"), du)
    }
}
