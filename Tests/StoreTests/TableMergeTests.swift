import Foundation
import XCTest
import TestHelpers
@testable import Store
@testable import Support

/// A table as rows (each with its line end), and edits to it whose merge is known.
struct TableFixture {
    var rows: [[UInt8]]
    var bytes: [UInt8] { rows.flatMap { $0 } }

    /// A header plus `n` rows `id,f1,f2,label`; some rows hold quoted fields with commas,
    /// quotes and line breaks; `crlf` ends lines with CR LF.
    static func make(_ n: Int, rng: inout SplitMix, crlf: Bool = false, quoted: Bool = true) -> TableFixture {
        let nl = crlf ? "\r\n" : "\n"
        var rows: [[UInt8]] = [Array("id,f1,note,label\(nl)".utf8)]
        for i in 1...n { rows.append(row(i, rng: &rng, nl: nl, quoted: quoted)) }
        return TableFixture(rows: rows)
    }

    static func row(_ id: Int, rng: inout SplitMix, nl: String, quoted: Bool = true, label: String? = nil) -> [UInt8] {
        let f1 = Double(rng.next() % 100_000) / 100
        var note = "n\(rng.next() % 1000)"
        if quoted && rng.next() % 5 == 0 {
            switch rng.next() % 3 {
            case 0: note = "\"a, b\(rng.next() % 10)\""
            case 1: note = "\"line1\nline2 \"\"q\"\" \(rng.next() % 10)\""
            default: note = "\"x\r\ny\(rng.next() % 10)\""
            }
        }
        let l = label ?? ["cat", "dog", "bird"][Int(rng.next() % 3)]
        return Array("\(id),\(f1),\(note),\(l)\(nl)".utf8)
    }
}

/// One side's edits of a base table: modified rows, deleted rows, rows inserted before a base
/// row (index `rows.count` appends).
struct TableEdits {
    var modified: [Int: [UInt8]] = [:]
    var deleted: Set<Int> = []
    var inserted: [Int: [[UInt8]]] = [:]
    var touched: Set<Int> { Set(modified.keys).union(deleted).union(inserted.keys) }

    func apply(_ base: TableFixture) -> [UInt8] {
        var out: [UInt8] = []
        for i in 0..<base.rows.count {
            for r in inserted[i] ?? [] { out += r }
            if deleted.contains(i) { continue }
            out += modified[i] ?? base.rows[i]
        }
        for r in inserted[base.rows.count] ?? [] { out += r }
        return out
    }

    /// The merge of two sides' edits that touch different rows (insertions at the end: ours
    /// first).
    static func merged(_ base: TableFixture, _ o: TableEdits, _ t: TableEdits) -> [UInt8] {
        var out: [UInt8] = []
        for i in 0...base.rows.count {
            for r in o.inserted[i] ?? [] { out += r }
            for r in t.inserted[i] ?? [] { out += r }
            if i == base.rows.count { break }
            if o.deleted.contains(i) || t.deleted.contains(i) { continue }
            out += o.modified[i] ?? t.modified[i] ?? base.rows[i]
        }
        return out
    }
}

final class TableMergeTests: XCTestCase {
    var tmp: TempDir!

    override func setUpWithError() throws { tmp = TempDir("table") }
    override func tearDown() { tmp.cleanup() }

    func makeRepo(avg: Int? = nil) throws -> Repository {
        let dir = tmp.sub("r\(UUID().uuidString.prefix(8))")
        return try Repository.create(at: dir, settings: StoreSettings(fsync: false, chunkAverage: avg.map(String.init)))
    }

    /// Stores bytes as `add` would; the file's id.
    func store(_ repo: Repository, _ bytes: [UInt8]) throws -> ObjectId {
        let p = tmp.sub("f-\(UUID().uuidString)")
        try FS.atomicWrite(p, bytes, durable: false)
        defer { try? FS.unlink(p) }
        let id = try FileWriter(store: repo.store, chunker: repo.chunker).store(path: p).id
        try repo.store.commitPending()
        return id
    }

    func read(_ repo: Repository, _ id: ObjectId) throws -> [UInt8] {
        var b: [UInt8] = []
        try FileReader(store: repo.store).read(id) { b += $0 }
        return b
    }

    /// Random edits of `base` touching rows not in `avoid` (nor next to them), the header never.
    func edits(_ base: TableFixture, count: Int, avoid: Set<Int>, rng: inout SplitMix, nextId: inout Int, crlf: Bool, append: Int) -> TableEdits {
        var e = TableEdits()
        let n = base.rows.count
        var tries = 0
        while e.touched.count < count && tries < count * 20 {
            tries += 1
            let i = 1 + Int(rng.next() % UInt64(n - 1))
            if (i - 1...i + 1).contains(where: { avoid.contains($0) || e.touched.contains($0) }) { continue }
            switch rng.next() % 4 {
            case 0, 1: e.modified[i] = TableFixture.row(i, rng: &rng, nl: crlf ? "\r\n" : "\n", label: "relabelled\(rng.next() % 100)")
            case 2: e.deleted.insert(i)
            default:
                nextId += 1
                e.inserted[i] = [TableFixture.row(nextId, rng: &rng, nl: crlf ? "\r\n" : "\n")]
            }
        }
        if append > 0 {
            e.inserted[n] = (0..<append).map { _ in nextId += 1; return TableFixture.row(nextId, rng: &rng, nl: crlf ? "\r\n" : "\n") }
        }
        return e
    }

    /// Random tables and random edits on both sides (different rows): the merge equals the
    /// edits applied together, and its id equals a fresh add of those bytes.
    func testRandomMergesMatchOracleAndAddIds() throws {
        var rng = SplitMix(seed: 16)
        for (avg, rows) in [(256, 40), (256, 300), (1024, 2000), (16 * 1024, 30_000)] {
            let repo = try makeRepo(avg: avg)
            for round in 0..<(rows > 5000 ? 3 : 20) {
                let crlf = round % 3 == 2
                let base = TableFixture.make(rows, rng: &rng, crlf: crlf)
                var nextId = rows
                let eo = edits(base, count: 1 + Int(rng.next() % 8), avoid: [], rng: &rng, nextId: &nextId, crlf: crlf, append: Int(rng.next() % 3))
                let et = edits(base, count: 1 + Int(rng.next() % 8), avoid: eo.touched, rng: &rng, nextId: &nextId, crlf: crlf, append: Int(rng.next() % 3))
                let (b, o, t) = (base.bytes, eo.apply(base), et.apply(base))
                let r = try repo.mergeTable(base: try store(repo, b), ours: try store(repo, o), theirs: try store(repo, t))
                let want = TableEdits.merged(base, eo, et)
                XCTAssertEqual(r.conflictCount, 0, "avg \(avg) rows \(rows) round \(round)")
                let got = try read(repo, r.file.id)
                XCTAssertEqual(got, want, "avg \(avg) rows \(rows) round \(round): merged bytes")
                XCTAssertEqual(r.file.id, try store(repo, want), "avg \(avg) rows \(rows) round \(round): id as add gives")
                XCTAssertEqual(r.file.size, UInt64(want.count))
            }
        }
    }

    /// Edits at the start, in the middle, at the end, appended rows, and long inserted rows
    /// that shift chunk boundaries: the merged id is the one add gives.
    func testIdEqualsAddAcrossBoundaryShifts() throws {
        var rng = SplitMix(seed: 7)
        let repo = try makeRepo()   // default 16 KiB chunks
        let base = TableFixture.make(40_000, rng: &rng, quoted: false)
        let n = base.rows.count
        var eo = TableEdits(), et = TableEdits()
        eo.modified[1] = Array("1,0.5,start,dog\n".utf8)
        eo.inserted[n / 2] = [Array("900001,1.0,\(String(repeating: "w", count: 70_000)),cat\n".utf8)]
        eo.inserted[n] = [Array("900002,2.0,end,cat\n".utf8)]
        et.modified[n - 1] = Array("\(n - 1),0.1,last,bird\n".utf8)
        et.deleted.insert(n / 3)
        et.modified[n / 4] = Array("\(n / 4),3.0,\(String(repeating: "z", count: 20_000)),cat\n".utf8)
        et.inserted[n] = [Array("900003,3.0,end2,dog\n".utf8)]
        let r = try repo.mergeTable(base: try store(repo, base.bytes), ours: try store(repo, eo.apply(base)), theirs: try store(repo, et.apply(base)))
        let want = TableEdits.merged(base, eo, et)
        XCTAssertEqual(r.conflictCount, 0)
        XCTAssertEqual(try read(repo, r.file.id), want)
        XCTAssertEqual(r.file.id, try store(repo, want))
        // Only the chunks around the changes were new.
        XCTAssertLessThan(r.file.newBytes, UInt64(want.count / 4))
    }

    /// Clean merges equal git merge-file's result (git as a black-box oracle).
    func testCleanMergesMatchGit() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/git") else { throw XCTSkip("git is not installed") }
        var rng = SplitMix(seed: 99)
        let repo = try makeRepo(avg: 256)
        var compared = 0
        for round in 0..<12 {
            let base = TableFixture.make(200, rng: &rng, crlf: round % 4 == 3)
            var nextId = 200
            let eo = edits(base, count: 4, avoid: [], rng: &rng, nextId: &nextId, crlf: round % 4 == 3, append: 0)
            let et = edits(base, count: 4, avoid: eo.touched, rng: &rng, nextId: &nextId, crlf: round % 4 == 3, append: round % 2)
            let (b, o, t) = (base.bytes, eo.apply(base), et.apply(base))
            let dir = tmp.sub("git\(round)")
            try FS.mkdirs(dir)
            try FS.atomicWrite(dir + "/b", b, durable: false)
            try FS.atomicWrite(dir + "/o", o, durable: false)
            try FS.atomicWrite(dir + "/t", t, durable: false)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
            p.arguments = ["merge-file", "-p", dir + "/o", dir + "/b", dir + "/t"]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let gitOut = [UInt8](pipe.fileHandleForReading.readDataToEndOfFile())
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { continue }
            let r = try repo.mergeTable(base: try store(repo, b), ours: try store(repo, o), theirs: try store(repo, t))
            XCTAssertEqual(r.conflictCount, 0)
            XCTAssertEqual(try read(repo, r.file.id), gitOut, "round \(round)")
            compared += 1
        }
        XCTAssertGreaterThan(compared, 6)
    }

    func lines(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testConflictByRowWithMarkersAndFavor() throws {
        let repo = try makeRepo()
        let b = lines("id,label\n1,cat\n2,cat\n3,cat\n4,cat\n5,cat\n")
        let o = lines("id,label\n1,cat\n2,dog\n3,cat\n4,cat\n5,ox\n")
        let t = lines("id,label\n1,cat\n2,bird\n3,cat\n4,cat\n5,cat\n6,new\n")
        let (bi, oi, ti) = (try store(repo, b), try store(repo, o), try store(repo, t))
        let r = try repo.mergeTable(base: bi, ours: oi, theirs: ti)
        XCTAssertEqual(r.conflictCount, 1)
        XCTAssertEqual(r.conflicts, [TableConflict(row: 2, key: nil, base: "2,cat", ours: "2,dog", theirs: "2,bird")])
        XCTAssertEqual(String(decoding: try read(repo, r.file.id), as: UTF8.self),
                       "id,label\n1,cat\n<<<<<<< ours\n2,dog\n=======\n2,bird\n>>>>>>> theirs\n3,cat\n4,cat\n5,ox\n6,new\n")
        let ro = try repo.mergeTable(base: bi, ours: oi, theirs: ti, options: TableMergeOptions(favor: .ours))
        XCTAssertEqual(String(decoding: try read(repo, ro.file.id), as: UTF8.self), "id,label\n1,cat\n2,dog\n3,cat\n4,cat\n5,ox\n6,new\n")
        XCTAssertEqual(ro.conflictCount, 1)
        let rt = try repo.mergeTable(base: bi, ours: oi, theirs: ti, options: TableMergeOptions(favor: .theirs, oursLabel: "HEAD", theirsLabel: "feature"))
        XCTAssertEqual(String(decoding: try read(repo, rt.file.id), as: UTF8.self), "id,label\n1,cat\n2,bird\n3,cat\n4,cat\n5,ox\n6,new\n")
        // Adjacent rows changed on different sides merge row by row (git's line merge would conflict).
        let o2 = lines("id,label\n1,cat\n2,dog\n3,cat\n4,cat\n5,cat\n")
        let t2 = lines("id,label\n1,cat\n2,cat\n3,dog\n4,cat\n5,cat\n")
        let r2 = try repo.mergeTable(base: bi, ours: try store(repo, o2), theirs: try store(repo, t2))
        XCTAssertEqual(r2.conflictCount, 0)
        XCTAssertEqual(String(decoding: try read(repo, r2.file.id), as: UTF8.self), "id,label\n1,cat\n2,dog\n3,dog\n4,cat\n5,cat\n")
    }

    func testConflictsByKeyAndRowsAddedOnBothSides() throws {
        let repo = try makeRepo()
        let b = lines("id,label\n1,cat\n2,cat\n3,cat\n")
        let o = lines("id,label\n1,cat\n2,dog\n3,cat\n10,a\n11,b\n")
        let t = lines("id,label\n1,cat\n2,bird\n3,cat\n12,c\n11,x\n")
        let opts = TableMergeOptions(keyColumn: "id")
        let r = try repo.mergeTable(base: try store(repo, b), ours: try store(repo, o), theirs: try store(repo, t), options: opts)
        XCTAssertEqual(r.conflictCount, 2)
        XCTAssertEqual(r.conflicts.map { $0.key }, ["2", "11"])
        XCTAssertEqual(r.conflicts.map { $0.row }, [2, 5])
        XCTAssertEqual(r.conflicts[1], TableConflict(row: 5, key: "11", base: nil, ours: "11,b", theirs: "11,x"))
        XCTAssertEqual(String(decoding: try read(repo, r.file.id), as: UTF8.self),
                       "id,label\n1,cat\n<<<<<<< ours\n2,dog\n=======\n2,bird\n>>>>>>> theirs\n3,cat\n10,a\n<<<<<<< ours\n11,b\n=======\n11,x\n>>>>>>> theirs\n12,c\n")
        // Without a key, rows appended on both sides are all kept, ours first.
        let r2 = try repo.mergeTable(base: try store(repo, b), ours: try store(repo, lines("id,label\n1,cat\n2,cat\n3,cat\n10,a\n")),
                                     theirs: try store(repo, lines("id,label\n1,cat\n2,cat\n3,cat\n12,c\n")))
        XCTAssertEqual(String(decoding: try read(repo, r2.file.id), as: UTF8.self), "id,label\n1,cat\n2,cat\n3,cat\n10,a\n12,c\n")
        // Both sides added the same key with the same row: once.
        let same = lines("id,label\n1,cat\n2,cat\n3,cat\n10,a\n")
        let r3 = try repo.mergeTable(base: try store(repo, b), ours: try store(repo, same + lines("20,q\n")), theirs: try store(repo, same), options: opts)
        XCTAssertEqual(String(decoding: try read(repo, r3.file.id), as: UTF8.self), "id,label\n1,cat\n2,cat\n3,cat\n10,a\n20,q\n")
    }

    func testConflictListIsCappedButCounted() throws {
        let repo = try makeRepo(avg: 1024)
        var b = "id,label\n", o = "id,label\n", t = "id,label\n"
        for i in 1...1500 { b += "\(i),a\n"; o += "\(i),o\n"; t += "\(i),t\n" }
        let r = try repo.mergeTable(base: try store(repo, lines(b)), ours: try store(repo, lines(o)), theirs: try store(repo, lines(t)),
                                    options: TableMergeOptions(favor: .theirs))
        XCTAssertEqual(r.conflictCount, 1500)
        XCTAssertEqual(r.conflicts.count, 1000)
        XCTAssertEqual(r.conflicts.first?.row, 1)
        XCTAssertEqual(r.conflicts.last?.row, 1000)
        XCTAssertEqual(try read(repo, r.file.id), lines(t))
    }

    func testNotATable() throws {
        let repo = try makeRepo()
        let b = lines("id,label\n1,cat\n2,cat\n3,cat\n")
        func reason(_ o: String, _ t: String, _ opts: TableMergeOptions = TableMergeOptions()) throws -> String? {
            do {
                _ = try repo.mergeTable(base: try store(repo, b), ours: try store(repo, lines(o)), theirs: try store(repo, lines(t)), options: opts)
                return nil
            } catch let e as NotATable { return e.reason }
        }
        XCTAssertEqual(try reason("id,label\n1,\"cat\n2,cat\n3,cat\n", "id,label\n1,cat\n2,cat\n3,dog\n"), "unterminated quoted field at byte 11")
        XCTAssertEqual(try reason("id,class\n1,cat\n2,cat\n3,cat\n", "id,label\n1,cat\n2,dog\n3,cat\n"),
                       "the header row changed on ours while the other side changed rows; the columns no longer line up")
        XCTAssertEqual(try reason("id,label\n1,dog\n2,cat\n3,cat\n", "id,label\n1,cat\n2,dog\n3,cat\n", TableMergeOptions(keyColumn: "nope")),
                       "no column named 'nope' for the key")
        // A header changed the same way on both sides is fine.
        XCTAssertNil(try reason("id,class\n1,dog\n2,cat\n3,cat\n", "id,class\n1,cat\n2,cat\n3,dog\n"))
    }

    /// Tab-separated tables: the delimiter matters for quotes and keys.
    func testTSVByKey() throws {
        let repo = try makeRepo()
        let b = lines("id\tlabel\n1\tcat\n2\tcat\n")
        let o = lines("id\tlabel\n1\tdog\n2\tcat\n")
        let t = lines("id\tlabel\n1\tbird\n2\tcat\n")
        let r = try repo.mergeTable(base: try store(repo, b), ours: try store(repo, o), theirs: try store(repo, t),
                                    options: TableMergeOptions(keyColumn: "id", delimiter: 0x09))
        XCTAssertEqual(r.conflicts, [TableConflict(row: 1, key: "1", base: "1\tcat", ours: "1\tdog", theirs: "1\tbird")])
    }

    /// Ours' last row has no line end and rows follow it in the merge: it gets one (in the
    /// file's style), rows are never glued together.
    func testLastRowWithoutLineEndIsNotGlued() throws {
        let repo = try makeRepo()
        func merged(_ b: String, _ o: String, _ t: String, _ opts: TableMergeOptions = TableMergeOptions()) throws -> String {
            let r = try repo.mergeTable(base: try store(repo, lines(b)), ours: try store(repo, lines(o)), theirs: try store(repo, lines(t)), options: opts)
            return String(decoding: try read(repo, r.file.id), as: UTF8.self)
        }
        XCTAssertEqual(try merged("id,v\n1,a\n2,b\n", "id,v\n2,b\n1,A", "id,v\n1,a\n2,B\n3,c\n", TableMergeOptions(keyColumn: "id")),
                       "id,v\n2,B\n1,A\n3,c\n")
        XCTAssertEqual(try merged("id,v\r\n1,a\r\n2,b\r\n", "id,v\r\n2,b\r\n1,A", "id,v\r\n1,a\r\n2,B\r\n3,c\r\n", TableMergeOptions(keyColumn: "id")),
                       "id,v\r\n2,B\r\n1,A\r\n3,c\r\n")
        // A conflict resolved to ours' last row (no line end), then theirs' added row.
        XCTAssertEqual(try merged("id,v\n1,a\n2,b\n", "id,v\n2,B\n1,A", "id,v\n1,C\n2,B\n3,c\n", TableMergeOptions(keyColumn: "id", favor: .ours)),
                       "id,v\n2,B\n1,A\n3,c\n")
        // Without a key, a conflict at ours' last row: the markers start on lines of their own.
        let conflicted = try merged("id,v\n1,a\n2,b\n", "id,v\n1,a\n2,B", "id,v\n1,a\n2,C\n")
        XCTAssertEqual(conflicted, "id,v\n1,a\n<<<<<<< ours\n2,B\n=======\n2,C\n>>>>>>> theirs\n")
    }

    /// Added on both sides (no base): the same header is kept once, different headers are no table.
    func testAddedOnBothSides() throws {
        let repo = try makeRepo()
        let o = try store(repo, lines("id,v\n1,a\n")), t = try store(repo, lines("id,v\n2,b\n"))
        let r = try repo.mergeTable(base: nil, ours: o, theirs: t)
        XCTAssertEqual(String(decoding: try read(repo, r.file.id), as: UTF8.self), "id,v\n1,a\n2,b\n")
        XCTAssertEqual(r.conflictCount, 0)
        XCTAssertThrowsError(try repo.mergeTable(base: nil, ours: o, theirs: try store(repo, lines("id,w\n2,b\n")))) { e in
            XCTAssertEqual((e as? NotATable)?.reason, "added on both sides with different header rows")
        }
    }

    /// Rows appended on both sides, ours without a final line end: git's `merge-file --union`
    /// result (shared rows once); rows with a quoted line break are kept whole.
    func testUnionWhenOursHasNoFinalLineEnd() throws {
        let repo = try makeRepo()
        func merged(_ b: String, _ o: String, _ t: String) throws -> String {
            let r = try repo.mergeTable(base: try store(repo, lines(b)), ours: try store(repo, lines(o)), theirs: try store(repo, lines(t)))
            return String(decoding: try read(repo, r.file.id), as: UTF8.self)
        }
        // Each expected result is git merge-file -p --union's (git 2.39).
        XCTAssertEqual(try merged("id,v\n", "id,v\n1,a\n4,d", "id,v\n1,a\n2,b\n"), "id,v\n1,a\n4,d\n2,b\n")
        XCTAssertEqual(try merged("id,v\n3,c\n", "id,v\n3,c\n3,c\n3,c", "id,v\n3,c\n3,c\n4,d\n4,d\n1,a\n"),
                       "id,v\n3,c\n3,c\n3,c\n4,d\n4,d\n1,a\n")
        XCTAssertEqual(try merged("id,v\n", "id,v\n\"5\n\",e\n2,b\n", "id,v\n\"5\n\",e\n3,c\n"), "id,v\n\"5\n\",e\n2,b\n3,c\n")
    }
}
