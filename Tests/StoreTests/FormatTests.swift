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

final class ChunkListTests: XCTestCase {
    func testRoundTrip() throws {
        var rng = SplitMix(seed: 21)
        let parts = (0..<50).map { i in (id: rng.id(), size: UInt64(i * 1000 + 1)) }
        for level in [UInt8(0), 1, 3] {
            let l = ChunkList(level: level, parts: parts)
            XCTAssertEqual(l.totalSize, parts.reduce(0) { $0 + $1.size })
            let enc = l.encode()
            XCTAssertEqual(enc.count, 9 + 40 * parts.count)
            XCTAssertEqual(enc[0], level)
            let d = try enc.withUnsafeBytes { try ChunkList.decode($0, id: .zero) }
            XCTAssertEqual(d, l)
            XCTAssertEqual(d.parts.map(\.id), parts.map(\.id))
        }
        let empty = ChunkList(level: 0, parts: [])
        XCTAssertEqual(try empty.encode().withUnsafeBytes { try ChunkList.decode($0, id: .zero) }, empty)
    }

    func testDecodeRejectsBadLengthAndTotals() {
        var rng = SplitMix(seed: 22)
        let l = ChunkList(level: 0, parts: [(rng.id(), 10), (rng.id(), 20)])
        var enc = l.encode()
        let lid = rng.id()
        for bad in [Array(enc.dropLast()), Array(enc[0..<8]), enc + [0]] {
            guard let e = storeError(try bad.withUnsafeBytes { try ChunkList.decode($0, id: lid) }) else { continue }
            guard case .objectCorrupt(lid, "chunk list", _) = e else { XCTFail("\(e)"); continue }
        }
        enc[1] ^= 1  // total size no longer matches the parts
        guard let e = storeError(try enc.withUnsafeBytes { try ChunkList.decode($0, id: lid) }) else { return }
        guard case .objectCorrupt(lid, _, let reason) = e else { return XCTFail("\(e)") }
        XCTAssertTrue(reason.contains("add up"), reason)
    }

    func testBuilderClosesListsOnContentDefinedIds() throws {
        var lists: [ChunkList] = []
        var b = ChunkListBuilder(put: { bytes in
            let l = try bytes.withUnsafeBytes { try ChunkList.decode($0, id: .zero) }
            lists.append(l)
            return ObjectHash.id(.chunks, bytes)
        })
        var rng = SplitMix(seed: 23)
        func plain() -> ObjectId { var id = rng.id(); id.w0 |= 1 << 63; return id }
        func closing() -> ObjectId { var id = rng.id(); id.w0 &= ~(UInt64(0xFFF) << 52); return id }
        XCTAssertTrue(ChunkListBuilder.closes(closing()))
        XCTAssertFalse(ChunkListBuilder.closes(plain()))
        for _ in 0..<5 { try b.add(plain(), size: 10) }
        try b.add(closing(), size: 10)
        for _ in 0..<3 { try b.add(plain(), size: 7) }
        let root = try b.finish()
        // Two level-0 lists (6 and 3 parts) under one level-1 list.
        XCTAssertEqual(lists.count, 3)
        XCTAssertEqual(lists[0].level, 0); XCTAssertEqual(lists[0].parts.count, 6); XCTAssertEqual(lists[0].totalSize, 60)
        XCTAssertEqual(lists[1].level, 0); XCTAssertEqual(lists[1].parts.count, 3)
        XCTAssertEqual(lists[2].level, 1); XCTAssertEqual(lists[2].totalSize, 81)
        XCTAssertEqual(lists[2].parts.map(\.size), [60, 21])
        XCTAssertEqual(root, ObjectHash.id(.chunks, lists[2].encode()))

        // Without a closing id everything stays in one level-0 list.
        lists.removeAll()
        var b2 = ChunkListBuilder(put: { bytes in
            lists.append(try bytes.withUnsafeBytes { try ChunkList.decode($0, id: .zero) })
            return ObjectHash.id(.chunks, bytes)
        })
        for _ in 0..<4 { try b2.add(plain(), size: 1) }
        _ = try b2.finish()
        XCTAssertEqual(lists.count, 1)
        XCTAssertEqual(lists[0].level, 0)
        XCTAssertEqual(lists[0].parts.count, 4)
    }
}

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

final class ConfigTests: XCTestCase {
    func testParse() {
        let c = Config(text: """
        # a comment
        [core]
        \tcompression = auto
        \tFSync = "false"
        [user]
        name = A B
        ; another comment
        [Chunking]
        avgsize=4096
        garbage line without equals

        [core]
        compression = all
        """)
        XCTAssertEqual(c["core.compression"], "all", "the last value wins")
        XCTAssertEqual(c["core.fsync"], "false", "quotes stripped, keys case-insensitive")
        XCTAssertEqual(c["CORE.FSYNC"], "false")
        XCTAssertEqual(c.bool("core.fsync"), false)
        XCTAssertEqual(c["user.name"], "A B")
        XCTAssertEqual(c["chunking.avgsize"], "4096")
        XCTAssertNil(c["user.email"])
        XCTAssertNil(c.bool("user.name"), "not a boolean")
        XCTAssertNil(c.bool("missing.key"))
        XCTAssertEqual(c.problems.map(\.line), [10], "the garbage line is reported, by its line number")
        for (v, b) in [("yes", true), ("On", true), ("1", true), ("TRUE", true), ("no", false), ("off", false), ("0", false)] {
            var c2 = Config(); c2.set("x.y", v)
            XCTAssertEqual(c2.bool("x.y"), b, v)
        }
    }

    func testCRLFText() {
        let c = Config(text: "[user]\r\n\tname = W\r\n")
        XCTAssertEqual(c["user.name"], "W")
        let lf = Config(text: "[user]\n\tname = W\n")
        XCTAssertEqual(lf["user.name"], "W")
    }

    func testSetAndTextRoundTrip() throws {
        var c = Config(text: "[core]\n\tcompression = none\n[user]\n\tname = X\n")
        c.set("user.email", "x@example.com")
        c.set("Core.Compression", "auto")
        c.set("user.name", nil)
        XCTAssertEqual(c["core.compression"], "auto")
        XCTAssertNil(c["user.name"])
        XCTAssertEqual(c["user.email"], "x@example.com")
        let again = Config(text: c.text)
        XCTAssertEqual(again.values.map(\.key), c.values.map(\.key))
        XCTAssertEqual(again.values.map(\.value), c.values.map(\.value))
        XCTAssertEqual(again.text, c.text, "text is stable")
        XCTAssertTrue(c.text.contains("[user]\n\temail = x@example.com\n"), c.text)
        // Through a file.
        let tmp = TempDir(); defer { tmp.cleanup() }
        try c.write(tmp.sub("config"))
        let loaded = try Config.load(tmp.sub("config"))
        XCTAssertEqual(loaded["user.email"], "x@example.com")
        XCTAssertEqual(loaded["core.compression"], "auto")
        XCTAssertTrue(try Config.load(tmp.sub("missing")).values.isEmpty)
    }
}

final class RefsTests: XCTestCase {
    func testIsValidName() {
        for ok in ["main", "feature/x", "v1.0", "a-b_c", "release/2024/q1", "UPPER", "x@y", "ü"] {
            XCTAssertTrue(Refs.isValidName(ok), ok)
        }
        for bad in ["", "-x", "/a", "a/", "a.", "x.lock", "a..b", "a//b", "a@{1}", "@", "HEAD",
                    "a b", "a\tb", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", ".hidden", "a/.b", "a\u{7f}"] {
            XCTAssertFalse(Refs.isValidName(bad), "'\(bad)' should be invalid")
        }
    }

    func testUpdateReadListDeleteAndLog() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        let refs = Refs(dir: tmp.path, durable: false)
        try FS.atomicWrite(tmp.sub("HEAD"), text: "ref: refs/heads/main\n")
        XCTAssertEqual(try refs.head(), .branch("main"))
        XCTAssertNil(try refs.headCommit(), "unborn branch")
        var rng = SplitMix(seed: 26)
        let a = rng.id(), b = rng.id(), c = rng.id()
        let who = Signature(name: "T", email: "t@x", time: 1, tzOffsetMinutes: 0)
        try refs.update("refs/heads/main", to: a, who: who, message: "first")
        try refs.update("refs/heads/main", to: b, who: who, message: "second\nline")
        try refs.update("refs/heads/feature/x", to: c, who: who, message: "branch")
        XCTAssertEqual(try refs.read("refs/heads/main"), b)
        XCTAssertEqual(try refs.headCommit(), b)
        XCTAssertEqual(try refs.list("heads").map(\.name), ["feature/x", "main"])
        XCTAssertEqual(try refs.list("heads").map(\.id), [c, b])
        XCTAssertEqual(try refs.list("tags").count, 0)
        let log = try refs.log("refs/heads/main")
        XCTAssertEqual(log.map(\.new), [b, a], "newest first")
        XCTAssertEqual(log.map(\.old), [a, nil])
        XCTAssertEqual(log[0].message, "second line", "newlines flattened")
        XCTAssertEqual(try refs.log("HEAD").map(\.new), [b, a], "HEAD's log follows its branch")
        try refs.delete("refs/heads/feature/x")
        XCTAssertNil(try refs.read("refs/heads/feature/x"))
        XCTAssertFalse(FS.exists(tmp.sub("refs/heads/feature")), "empty parent folder removed")
        XCTAssertTrue(FS.exists(tmp.sub("refs/heads")))
        try refs.setHead(.detached(a), who: who, message: "detach")
        XCTAssertEqual(try refs.head(), .detached(a))
        XCTAssertEqual(try refs.headCommit(), a)
        // A damaged ref is reported, not misread.
        try FS.atomicWrite(tmp.sub("refs/heads/main"), text: "not an id\n")
        guard case .corruptFile? = storeError(try refs.read("refs/heads/main")) else { return XCTFail() }
        try FS.atomicWrite(tmp.sub("HEAD"), text: "garbage\n")
        guard case .corruptFile? = storeError(try refs.head()) else { return XCTFail() }
    }
}
