import XCTest
@testable import Store
import Support

/// Recomputes every worked example of .mlrepo-format.md and checks the quoted ids.
final class FormatSpecTests: XCTestCase {
    static let specPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".mlrepo-format.md").path

    var spec: String { (try? String(contentsOfFile: Self.specPath, encoding: .utf8)) ?? "" }

    func assertQuoted(_ hex: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(spec.contains(hex), "\(hex) is not quoted in .mlrepo-format.md", file: file, line: line)
    }

    func testSpecExists() { XCTAssertFalse(spec.isEmpty) }

    func testExample1Blob() {
        let id = ObjectHash.id(.blob, Array("hello\n".utf8))
        XCTAssertEqual(id.hex, "2cf8d83d9ee29543b34a87727421fdecb7e3f3a183d337639025de576db9ebb4")
        XCTAssertEqual(id.bytes, SHA256Hasher.digest(Array("blob 6\0hello\n".utf8)))
        assertQuoted(id.hex)
    }

    func testGearTable() {
        XCTAssertEqual(Chunker.gear[0], 0x7e60ebc9c55114b8)
        XCTAssertEqual(Chunker.gear[1], 0x2fca168f92586286)
        XCTAssertEqual(Chunker.gear[2], 0xa24654eaf1dfabf8)
        XCTAssertEqual(Chunker.gear[255], 0xba574b24c98c2d95)
        for i in [0, 1, 2, 255] { assertQuoted("0x" + String(Chunker.gear[i], radix: 16)) }
    }

    static func rampFile() -> [UInt8] { (0..<200_000).map { UInt8((7 * $0 + $0 / 1000) % 251) } }

    /// The reference algorithm of §3.1, one byte at a time.
    func referenceCut(_ d: ArraySlice<UInt8>, _ c: Chunker) -> Int {
        let n = min(d.count, c.maxSize)
        if n <= c.minSize { return n }
        var fp: UInt64 = 0
        let base = d.startIndex
        var i = c.minSize
        while i < min(c.avgSize, n) { fp = (fp << 1) &+ Chunker.gear[Int(d[base + i])]; if fp & c.maskS == 0 { return i + 1 }; i += 1 }
        while i < n { fp = (fp << 1) &+ Chunker.gear[Int(d[base + i])]; if fp & c.maskL == 0 { return i + 1 }; i += 1 }
        return n
    }

    func testExample2ChunkList() throws {
        let data = Self.rampFile()
        let c = Chunker.default
        let sizes = data.withUnsafeBytes { c.chunks($0) }
        XCTAssertEqual(sizes, [52059, 24958, 65536, 33466, 23981])
        // The optimized chunker agrees with the reference pseudo-code.
        var off = 0, ref: [Int] = []
        while off < data.count { let l = referenceCut(data[off...], c); ref.append(l); off += l }
        XCTAssertEqual(ref, sizes)
        var parts: [(id: ObjectId, size: UInt64)] = []
        off = 0
        for s in sizes {
            let id = ObjectHash.id(.blob, Array(data[off..<(off + s)]))
            assertQuoted("\(id.hex) \(s)")
            parts.append((id, UInt64(s)))
            off += s
        }
        let list = ChunkList(level: 0, parts: parts)
        XCTAssertEqual(list.encode().count, 209)
        let id = ObjectHash.id(.chunks, list.encode())
        XCTAssertEqual(id.hex, "4913bbcbcaeb3d8d8e0f02c6aa5a85778ac673d2807afde00fb869093291f49c")
        assertQuoted(id.hex)

        // And the file writer produces the same id from a file on disk.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fmt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("ramp.bin")
        try Data(data).write(to: f)
        let store = try ObjectStore(directory: dir.appendingPathComponent("pack").path, durable: false)
        let stored = try FileWriter(store: store, chunker: c, dryRun: true).store(path: f.path)
        XCTAssertEqual(stored.id, id)
        XCTAssertEqual(stored.size, 200_000)
    }

    func testExample3TreeAndExample4Commit() {
        let hello = ObjectId(hex: "2cf8d83d9ee29543b34a87727421fdecb7e3f3a183d337639025de576db9ebb4")!
        let ramp = ObjectId(hex: "4913bbcbcaeb3d8d8e0f02c6aa5a85778ac673d2807afde00fb869093291f49c")!
        let tree = Tree(entries: [
            TreeEntry(name: "ramp.bin", mode: .regular, size: 200_000, id: ramp),
            TreeEntry(name: "hello.txt", mode: .regular, size: 6, id: hello),
        ])
        XCTAssertEqual(tree.encode().count, 106)
        let tid = ObjectHash.id(.tree, tree.encode())
        XCTAssertEqual(tid.hex, "090e3df10108703bf8d958c32138a588fab1c320df63a16c88c25b3e6791632f")
        assertQuoted(tid.hex)

        let who = Signature(name: "Ada Lovelace", email: "ada@example.com", time: 1_700_000_000, tzOffsetMinutes: 0)
        let c = Commit(tree: tid, parents: [], author: who, committer: who, message: "first\n")
        let text = String(decoding: c.encode(), as: UTF8.self)
        XCTAssertTrue(spec.contains(text), "the commit text of Example 4 is not quoted verbatim")
        let cid = ObjectHash.id(.commit, c.encode())
        XCTAssertEqual(cid.hex, "b7ef46f5653645a19c103631c5a1829b383a374bf328941ed288eedf0a38cfa3")
        assertQuoted(cid.hex)
    }

    func testPackAndIndexHeadersMatchSpec() {
        XCTAssertEqual(String(decoding: Pack.magic, as: UTF8.self), "MLRPACK1")
        XCTAssertEqual(Pack.entryHeaderSize, 44)
        XCTAssertEqual(String(decoding: PackIndex.magic, as: UTF8.self), "MLRIDX01")
        XCTAssertEqual(String(decoding: StagingIndex.magic, as: UTF8.self), "MLRINDX1")
        for m in ["MLRPACK1", "MLRIDX01", "MLRINDX1"] { assertQuoted(m) }
    }
}
