import Foundation
import XCTest
import TestHelpers
import Store
import Support

/// Hostile objects built by hand from the format spec (.mlrepo-format.md §3–§6): each must
/// give a clean one-line error naming what is wrong (never a crash, never unbounded memory),
/// and a failed clone leaves nothing behind (issue 13 #5, #6, #8).
final class CLIHostileObjectTests: CLITestCase {
    /// One object as it goes into a pack.
    struct Raw {
        var id: ObjectId
        var kind: ObjectKind
        var codec: Codec = .raw
        var rawSize: Int
        var stored: [UInt8]
        init(_ kind: ObjectKind, _ payload: [UInt8]) {
            self.kind = kind; id = ObjectHash.id(kind, payload); rawSize = payload.count; stored = payload
        }
        init(id: ObjectId, kind: ObjectKind, codec: Codec, rawSize: Int, stored: [UInt8]) {
            self.id = id; self.kind = kind; self.codec = codec; self.rawSize = rawSize; self.stored = stored
        }
    }

    static func tree(_ entries: [(mode: String, size: UInt64, name: [UInt8], id: ObjectId)]) -> [UInt8] {
        var out: [UInt8] = []
        for e in entries.sorted(by: { $0.name.lexicographicallyPrecedes($1.name) }) {
            out += Array("\(e.mode) \(e.size) ".utf8) + e.name + [0] + e.id.bytes
        }
        return out
    }

    static func commit(tree: ObjectId) -> [UInt8] {
        Array("tree \(tree.hex)\nauthor A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\n\nhostile\n".utf8)
    }

    static func chunkList(level: UInt8, parts: [(ObjectId, UInt64)], total: UInt64? = nil) -> [UInt8] {
        var w = ByteWriter(capacity: 9 + parts.count * 40)
        w.u8(level)
        w.u64(total ?? parts.reduce(0) { $0 &+ $1.1 })
        for (id, size) in parts { id.write(to: &w); w.u64(size) }
        return w.bytes
    }

    /// Writes `objects` as one pack (with its index) into `packDir`.
    func writePack(_ objects: [Raw], into packDir: String) throws {
        try FileManager.default.createDirectory(atPath: packDir, withIntermediateDirectories: true)
        let store = try ObjectStore(directory: packDir, durable: false)
        let w = try store.beginWrite()
        for o in objects {
            try o.stored.withUnsafeBytes { try w.put(id: o.id, kind: o.kind, codec: o.codec, rawSize: o.rawSize, stored: $0) }
        }
        try store.commitPending()
    }

    /// A folder remote whose branch `main` points at `tip`, holding `objects` in one pack.
    func hostileRemote(_ objects: [Raw], tip: ObjectId) throws -> String {
        let remote = base.appendingPathComponent("remote").path
        try writePack(objects, into: remote + "/packs")
        try FileManager.default.createDirectory(atPath: remote + "/refs/heads", withIntermediateDirectories: true)
        try Data("\(tip.hex)\n".utf8).write(to: URL(fileURLWithPath: remote + "/refs/heads/main"))
        try Data("ref: refs/heads/main\n".utf8).write(to: URL(fileURLWithPath: remote + "/HEAD"))
        return remote
    }

    /// A tree holding one file `name` whose object is `file` (a blob or chunk list), with the
    /// commit on top: returns the objects to add and the commit.
    func commitOf(file: ObjectId, size: UInt64, name: String = "f.bin") -> ([Raw], ObjectId) {
        let t = Raw(.tree, Self.tree([("100644", size, Array(name.utf8), file)]))
        let c = Raw(.commit, Self.commit(tree: t.id))
        return ([t, c], c.id)
    }

    /// Clones `remote` and asserts a clean failure: exit 1, one line on stderr containing
    /// every string of `mentions`, no folder left behind, and (measured by /usr/bin/time when
    /// present) a peak resident memory under 100 MB.
    @discardableResult
    func cloneFails(_ remote: String, mentions: [String], options: [String] = [], file: StaticString = #filePath, line: UInt = #line) -> RunResult {
        let dest = base.appendingPathComponent("clone")
        let args = ["clone"] + options + [remote, dest.path]
        if let (kib, code) = peakRSS(args, in: base) {
            print("peak RSS of mlrepo \(args.dropLast(2).joined(separator: " ")) (\(name)): \(kib) KiB, exit \(code)")
            XCTAssertLessThan(kib, 100 << 10, "memory under 100 MB for any remote input", file: file, line: line)
            FS.removeTree(dest.path)
        }
        let r = runResult(args, in: base)
        XCTAssertEqual(r.code, 1, "clone must fail cleanly (not crash); err: \(r.err.prefix(500))", file: file, line: line)
        let lines = r.err.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line: \(r.err.prefix(500))", file: file, line: line)
        for m in mentions { XCTAssertTrue(r.err.contains(m), "'\(m)' in: \(r.err.prefix(500))", file: file, line: line) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest.path), "a failed clone removes what it created", file: file, line: line)
        return r
    }

    /// Peak resident memory (KiB) of `mlrepo ARGS`, measured by /usr/bin/time; nil without it.
    func peakRSS(_ args: [String], in dir: URL) -> (kib: Int, code: Int32)? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/time") else { return nil }
        let out = base.appendingPathComponent(".io/time.txt")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/time")
        p.arguments = ["-f", "%M", "-o", out.path, Self.binary] + args
        p.environment = environment([:])
        p.currentDirectoryURL = dir
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        p.waitUntilExit()
        let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        guard let kib = text.split(separator: "\n").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) else { return nil }
        return (kib, p.terminationStatus)
    }

    // MARK: #5 chunk lists and blobs

    /// A chunk list declaring a 1 TiB part used to abort clone (allocation failure) and leave
    /// the half-made clone behind.
    func testChunkListDeclaringAHugePartIsRefused() throws {
        let blob = Raw(.blob, Array("x".utf8))
        let tib: UInt64 = 1 << 40
        let list = Raw(.chunks, Self.chunkList(level: 0, parts: [(blob.id, tib)]))
        let (rest, tip) = commitOf(file: list.id, size: tib)
        let remote = try hostileRemote([blob, list] + rest, tip: tip)
        cloneFails(remote, mentions: [list.id.hex, "16777216"])
    }

    /// More parts than the format allows (16384) in one list, and part sizes that overflow.
    func testChunkListsBreakingTheFormatsBoundsAreRefused() throws {
        let blob = Raw(.blob, Array("x".utf8))
        let many = Raw(.chunks, Self.chunkList(level: 0, parts: Array(repeating: (blob.id, 1), count: 16385)))
        var (rest, tip) = commitOf(file: many.id, size: 16385)
        var remote = try hostileRemote([blob, many] + rest, tip: tip)
        cloneFails(remote, mentions: [many.id.hex, "655369"])

        // A level-1 list whose part claims a size its sub-list does not hold.
        try FileManager.default.removeItem(atPath: remote)
        let sub = Raw(.chunks, Self.chunkList(level: 0, parts: [(blob.id, 1)]))
        let top = Raw(.chunks, Self.chunkList(level: 1, parts: [(sub.id, 2)]))
        (rest, tip) = commitOf(file: top.id, size: 2)
        remote = try hostileRemote([blob, sub, top] + rest, tip: tip)
        cloneFails(remote, mentions: [sub.id.hex, "parent list says 2"])
    }

    /// A 1 GiB all-zero blob (about 6 MB as a fixed-Huffman zlib stream) used to make clone
    /// inflate it whole (2 GB resident). The declared size is over the format's blob limit
    /// (16 MiB), so it is refused before any allocation, in little memory.
    func testGiantZeroBlobIsRefusedInBoundedMemory() throws {
        let n = 1 << 30
        let h = SHA256Hasher()
        h.update(ObjectHash.header(.blob, size: n))
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        for _ in 0..<(n >> 20) { h.update(zeros) }
        let id = ObjectId(bytes: h.finalize())
        let blob = Raw(id: id, kind: .blob, codec: .zlib, rawSize: n, stored: Self.zlibZeros(n))
        let (rest, tip) = commitOf(file: id, size: UInt64(n))
        let remote = try hostileRemote([blob] + rest, tip: tip)
        cloneFails(remote, mentions: [id.hex, "16777216"])
    }

    /// A chunk list of 3 million parts (120 MB; it used to cost 357 MB to read) is refused
    /// by its declared size, in little memory.
    func testChunkListOfMillionsOfPartsIsRefusedInBoundedMemory() throws {
        let blob = Raw(.blob, Array("x".utf8))
        let n = 3_000_000
        var payload = [UInt8](repeating: 0, count: 9 + n * 40)
        let record = blob.id.bytes + [1, 0, 0, 0, 0, 0, 0, 0]  // (id, size 1)
        payload.withUnsafeMutableBytes { p in
            p.storeBytes(of: UInt64(n).littleEndian, toByteOffset: 1, as: UInt64.self)
            record.withUnsafeBytes { r in
                for i in 0..<n { (p.baseAddress! + 9 + i * 40).copyMemory(from: r.baseAddress!, byteCount: 40) }
            }
        }
        let id = ObjectHash.id(.chunks, payload)
        let z = try XCTUnwrap(payload.withUnsafeBytes { Zlib.compress($0, level: 6) })
        let list = Raw(id: id, kind: .chunks, codec: .zlib, rawSize: payload.count, stored: z)
        payload = []
        let (rest, tip) = commitOf(file: id, size: UInt64(n))
        let remote = try hostileRemote([blob, list] + rest, tip: tip)
        cloneFails(remote, mentions: [id.hex, "655369"])
    }

    /// The largest legal objects still check out in bounded memory: a 128 MiB file of eight
    /// 16 MiB chunks, each a zlib stream a few KB long.
    func testLargestLegalChunksCloneInBoundedMemory() throws {
        let n = 16 << 20
        let h = SHA256Hasher()
        var objects: [Raw] = []
        var parts: [(ObjectId, UInt64)] = []
        for k in 0..<8 {
            let size = n - k  // eight distinct chunks: n - k zero bytes
            h.reset()
            h.update(ObjectHash.header(.blob, size: size))
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            var left = size
            while left > 0 { let m = min(left, zeros.count); h.update(Array(zeros[0..<m])); left -= m }
            let id = ObjectId(bytes: h.finalize())
            objects.append(Raw(id: id, kind: .blob, codec: .zlib, rawSize: size, stored: Self.zlibZeros(size)))
            parts.append((id, UInt64(size)))
        }
        let total = parts.reduce(0) { $0 + $1.1 }
        let list = Raw(.chunks, Self.chunkList(level: 0, parts: parts))
        let (rest, tip) = commitOf(file: list.id, size: total)
        let remote = try hostileRemote(objects + [list] + rest, tip: tip)
        let dest = base.appendingPathComponent("measured")
        if let (kib, code) = peakRSS(["clone", remote, dest.path], in: base) {
            print("peak RSS of cloning a 128 MiB file of 16 MiB chunks: \(kib) KiB (exit \(code))")
            XCTAssertEqual(code, 0)
            XCTAssertLessThan(kib, 100 << 10)
            XCTAssertEqual(FS.stat(dest.path + "/f.bin")?.size, total)
            if let (fk, fcode) = peakRSS(["fsck"], in: dest) {
                print("peak RSS of fsck over them: \(fk) KiB (exit \(fcode))")
                XCTAssertEqual(fcode, 0)
                XCTAssertLessThan(fk, 100 << 10)
            }
        }
    }

    /// zlib stream (RFC 1950) of `n` zero bytes: one fixed-Huffman block of literals then
    /// length-258 / distance-1 matches, and the Adler-32 (a = 1, b = n mod 65521).
    static func zlibZeros(_ n: Int) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var acc: UInt64 = 0, bits = 0
        func put(_ v: UInt64, _ count: Int) {  // LSB-first
            acc |= v << UInt64(bits); bits += count
            while bits >= 8 { out.append(UInt8(acc & 0xFF)); acc >>= 8; bits -= 8 }
        }
        func huff(_ code: UInt64, _ len: Int) {  // Huffman codes go MSB-first
            var r: UInt64 = 0
            for i in 0..<len { r |= ((code >> UInt64(i)) & 1) << UInt64(len - 1 - i) }
            put(r, len)
        }
        put(1, 1); put(1, 2)  // BFINAL, BTYPE = fixed
        var literals = n % 258
        if literals == 0 { literals = 258 }
        for _ in 0..<literals { huff(0x30, 8) }  // literal 0
        for _ in 0..<((n - literals) / 258) { huff(0xC5, 8); huff(0, 5) }  // length 258 (code 285), distance 1
        huff(0, 7)  // end of block
        if bits > 0 { put(0, 8 - bits) }
        let b = UInt32(n % 65521)
        for v in [UInt8(b >> 8), UInt8(b & 0xFF), 0, 1] { out.append(v) }  // Adler-32 big-endian: b then a
        return out
    }

    func testZlibZerosHelperInflates() throws {
        let z = Self.zlibZeros(100_000)
        var out = [UInt8](repeating: 1, count: 100_000)
        try z.withUnsafeBytes { zi in try out.withUnsafeMutableBytes { try Zlib.decompress(zi, into: $0) } }
        XCTAssertTrue(out.allSatisfy { $0 == 0 })
    }

    // MARK: #5 deep trees

    /// `depth` trees nested in a chain (`d/d/d/…/f`), with a commit on top.
    func deepChain(_ depth: Int) -> ([Raw], ObjectId) {
        let blob = Raw(.blob, Array("deep\n".utf8))
        var objects = [blob]
        var cur = Raw(.tree, Self.tree([("100644", 5, Array("f".utf8), blob.id)]))
        objects.append(cur)
        for _ in 1..<depth {
            cur = Raw(.tree, Self.tree([("40000", 5, Array("d".utf8), cur.id)]))
            objects.append(cur)
        }
        let c = Raw(.commit, Self.commit(tree: cur.id))
        objects.append(c)
        return (objects, c.id)
    }

    /// 40,000 nested trees used to overflow clone's stack (a segfault).
    func testDeeplyNestedTreesGiveOneLineErrorsOnClone() throws {
        let (objects, tip) = deepChain(40_000)
        let remote = try hostileRemote(objects, tip: tip)
        cloneFails(remote, mentions: ["2048"])
        cloneFails(remote, mentions: ["2048"], options: ["--lazy"])
    }

    /// 20,000 nested trees used to overflow fsck's stack; status, ls-tree -r and fsck now say
    /// which tree breaks the path limit.
    func testDeeplyNestedTreesGiveOneLineErrorsLocally() throws {
        ok("init")
        let (objects, tip) = deepChain(20_000)
        try writePack(objects, into: url(".mlrepo/objects/pack").path)
        try Data("\(tip.hex)\n".utf8).write(to: url(".mlrepo/refs/heads/main"))
        let f = runResult(["fsck"])
        XCTAssertEqual(f.code, 1, "fsck: \(f.out.prefix(300)) \(f.err.prefix(300))")
        XCTAssertTrue((f.out + f.err).contains("4096"), f.out + f.err)
        for args in [["ls-tree", "-r", "HEAD"], ["status"], ["checkout", "-f", "main"]] {
            let r = runResult(args)
            XCTAssertEqual(r.code, 1, "\(args): \(r.err.prefix(300))")
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, "\(args): \(r.err.prefix(300))")
            XCTAssertTrue(r.err.contains("2048"), "\(args): \(r.err.prefix(300))")
        }
    }

    // MARK: #6 corrupt pack index

    /// Flipping bytes of an index's fan-out table used to make fsck and show read outside the
    /// index (a segfault). Every flip of the fan-out entries around the ids and of the entry
    /// offsets now fails cleanly, naming the .idx file.
    func testFlippedPackIndexBytesFailCleanlyNamingTheIndex() throws {
        ok("init")
        write("a.txt", "alpha\n")
        write("b/c.txt", "gamma\n")
        ok("add", ".")
        commit("one")
        let packDir = url(".mlrepo/objects/pack").path
        // The index of the pack holding the commit and its trees (the largest).
        let idxPath = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: packDir).filter { $0.hasSuffix(".idx") }
            .map { packDir + "/" + $0 }.max { (FS.stat($0)?.size ?? 0) < (FS.stat($1)?.size ?? 0) })
        let original = try Data(contentsOf: URL(fileURLWithPath: idxPath))
        let count = Int(original[8]) | Int(original[9]) << 8
        XCTAssertGreaterThanOrEqual(count, 3)  // commit and 2 trees at least
        let idsAt = 16 + 1024, entriesAt = idsAt + count * 32
        var fanoutSlots = Set([0, 1, 127, 254, 255])
        for i in 0..<count {
            let fb = Int(original[idsAt + i * 32])
            fanoutSlots.formUnion([max(0, fb - 1), fb, min(255, fb + 1)])
        }
        var offsets: [Int] = []
        for s in fanoutSlots.sorted() { offsets += [16 + s * 4, 16 + s * 4 + 3] }  // low and high byte
        for i in 0..<count { offsets += (0..<8).map { entriesAt + i * 16 + $0 } }  // the u64 offset
        for off in offsets {
            chmod(idxPath, 0o644)
            var d = original
            d[off] ^= 0x5A
            try d.write(to: URL(fileURLWithPath: idxPath))
            let f = runResult(["fsck"])
            XCTAssertEqual(f.code, 1, "fsck after flipping index byte \(off): \(f.out) \(f.err)")
            XCTAssertTrue((f.out + f.err).contains(".idx"), "fsck names the index (byte \(off)): \(f.out) \(f.err)")
            let s = runResult(["show", "HEAD"])
            XCTAssertLessThan(s.code, 2, "show must not crash (byte \(off)): \(s.err)")
            if s.code != 0 { XCTAssertTrue(s.err.contains(".idx"), "show names the index (byte \(off)): \(s.err)") }
        }
    }

    // MARK: #8 long names

    /// A 70,000-byte name used to be written into the clone's index, after which every
    /// command called the index corrupt. Trees with names over 255 bytes are refused on read.
    func testTreeWithAHugeNameIsRefused() throws {
        let blob = Raw(.blob, Array("x".utf8))
        let name = String(repeating: "n", count: 70_000)
        let (rest, tip) = commitOf(file: blob.id, size: 1, name: name)
        let remote = try hostileRemote([blob] + rest, tip: tip)
        cloneFails(remote, mentions: [rest[0].id.hex, "255 bytes"])
        // --no-checkout writes only the index: that is where the name used to land.
        cloneFails(remote, mentions: [rest[0].id.hex, "255 bytes"], options: ["--no-checkout"])
    }

    /// `reset` (mixed or hard) rebuilds an index file that is damaged beyond reading.
    func testResetRebuildsACorruptIndex() throws {
        ok("init")
        write("a.txt", "alpha\n")
        write("d/b.txt", "beta\n")
        ok("add", ".")
        commit("one")
        for mode in ["--hard", "--mixed"] {
            try Data("garbage, not an index".utf8).write(to: url(".mlrepo/index"))
            let s = runResult(["status"])
            XCTAssertEqual(s.code, 1)
            XCTAssertTrue(s.err.contains("index"), s.err)
            ok("reset", mode)
            XCTAssertTrue(status().clean, "clean after reset \(mode)")
        }
    }
}
