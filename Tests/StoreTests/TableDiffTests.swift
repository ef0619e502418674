import Foundation
import XCTest
import TestHelpers
@testable import Store
@testable import Support

final class TableDiffTests: XCTestCase {
    var tmp: TempDir!

    override func setUpWithError() throws { tmp = TempDir("tablediff") }
    override func tearDown() { tmp.cleanup() }

    func store(_ repo: Repository, _ bytes: [UInt8]) throws -> ObjectId {
        let p = tmp.sub("f-\(UUID().uuidString)")
        try FS.atomicWrite(p, bytes, durable: false)
        defer { try? FS.unlink(p) }
        let id = try FileWriter(store: repo.store, chunker: repo.chunker).store(path: p).id
        try repo.store.commitPending()
        return id
    }

    /// Rows' cells, parsed naively (the whole file in memory), header dropped.
    func cells(_ t: TableFixture) -> [[String]] {
        let s = TableRowScanner(delimiter: 0x2C)
        return t.rows.dropFirst().map { s.cells(ArraySlice($0)) }
    }

    /// Random edits: every reported change is true of the two files, the counts add up, and
    /// the label counts equal a naive count of each file; the work-tree form gives the same.
    func testRandomDiffsAgreeWithTheFiles() throws {
        var rng = SplitMix(seed: 5)
        for (avg, n) in [(256, 50), (256, 800), (1024, 5000)] {
            let repo = try Repository.create(at: tmp.sub("r\(avg)-\(n)"), settings: StoreSettings(fsync: false, chunkAverage: String(avg)))
            for round in 0..<8 {
                let old = TableFixture.make(n, rng: &rng, crlf: round % 4 == 1)
                var new = old
                var nextId = n
                // relabel, edit, delete, insert and append at random places
                for _ in 0..<(1 + Int(rng.next() % 12)) {
                    let i = 1 + Int(rng.next() % UInt64(new.rows.count - 1))
                    switch rng.next() % 4 {
                    case 0: new.rows[i] = TableFixture.row(n + 1000 + i, rng: &rng, nl: round % 4 == 1 ? "\r\n" : "\n")
                    case 1: new.rows.remove(at: i)
                    case 2: nextId += 1; new.rows.insert(TableFixture.row(nextId, rng: &rng, nl: "\n"), at: i)
                    default: nextId += 1; new.rows.append(TableFixture.row(nextId, rng: &rng, nl: "\n"))
                    }
                }
                let oid = try store(repo, old.bytes), nid = try store(repo, new.bytes)
                var changes: [TableRowChange] = []
                let s = try repo.diffTable(old: oid, new: .stored(nid)) { changes.append($0) }
                let oc = cells(old), nc = cells(new)
                func counts(_ rows: [[String]]) -> [String: Int] { rows.reduce(into: [:]) { $0[$1[3], default: 0] += 1 } }
                let what = "avg \(avg) n \(n) round \(round)"
                XCTAssertEqual(s.oldRows, oc.count, what)
                XCTAssertEqual(s.newRows, nc.count, what)
                XCTAssertEqual(s.labelColumn, "label")
                XCTAssertEqual(s.oldLabels, counts(oc), what)
                XCTAssertEqual(s.newLabels, counts(nc), what)
                XCTAssertEqual(s.added + s.modified + s.deleted, changes.count, what)
                XCTAssertEqual(s.added - s.deleted, nc.count - oc.count, what)
                XCTAssertEqual(old.bytes == new.bytes, changes.isEmpty, what)
                for c in changes {
                    switch c.kind {
                    case .added: XCTAssertEqual(nc[c.newRow! - 1], c.row, what)
                    case .deleted: XCTAssertEqual(oc[c.oldRow! - 1], c.row, what)
                    case .modified:
                        XCTAssertEqual(nc[c.newRow! - 1], c.row, what)
                        let before = oc[c.oldRow! - 1]
                        XCTAssertFalse(c.cells.isEmpty)
                        for cell in c.cells {
                            let j = ["id", "f1", "note", "label"].firstIndex(of: cell.column)!
                            XCTAssertEqual(before[j], cell.old, what)
                            XCTAssertEqual(c.row[j], cell.new, what)
                        }
                    }
                }
                // The same new side as a file on disk (chunked as add would).
                let p = tmp.sub("work.csv")
                try FS.atomicWrite(p, new.bytes, durable: false)
                var fromFile: [TableRowChange] = []
                let sf = try repo.diffTable(old: oid, new: .file(p)) { fromFile.append($0) }
                XCTAssertEqual(sf, s, what)
                XCTAssertEqual(fromFile, changes, what)
            }
        }
    }

    func testKeyMatchesRowsAndReportsKeys() throws {
        let repo = try Repository.create(at: tmp.sub("k"), settings: StoreSettings(fsync: false))
        let old = try store(repo, Array("id,target\n1,a\n2,b\n3,c\n".utf8))
        let new = try store(repo, Array("id,target\n3,c\n1,z\n4,d\n".utf8))
        var changes: [TableRowChange] = []
        let s = try repo.diffTable(old: old, new: .stored(new), options: TableDiffOptions(keyColumn: "id")) { changes.append($0) }
        XCTAssertEqual(s.labelColumn, "target")
        XCTAssertEqual(s.oldLabels, ["a": 1, "b": 1, "c": 1])
        XCTAssertEqual(s.newLabels, ["c": 1, "z": 1, "d": 1])
        XCTAssertEqual(Set(changes.map { "\($0.kind.rawValue) \($0.key ?? "-")" }), ["deleted 2", "modified 1", "added 4"])
        let m = try XCTUnwrap(changes.first { $0.kind == .modified })
        XCTAssertEqual(m.cells, [TableCellChange(column: "target", old: "a", new: "z")])
        XCTAssertEqual(m.oldRow, 1)
        XCTAssertEqual(m.newRow, 2)
        // A missing key or label column is an error naming it.
        XCTAssertThrowsError(try repo.diffTable(old: old, new: .stored(new), options: TableDiffOptions(keyColumn: "nope")) { _ in }) {
            XCTAssertEqual(($0 as? NotATable)?.reason, "no column named 'nope' for the key")
        }
        XCTAssertThrowsError(try repo.diffTable(old: old, new: .stored(new), options: TableDiffOptions(labelColumn: "cls")) { _ in })
    }

    func testUnterminatedQuoteIsNotATable() throws {
        let repo = try Repository.create(at: tmp.sub("q"), settings: StoreSettings(fsync: false))
        let old = try store(repo, Array("id,label\n1,a\n2,b\n".utf8))
        let new = try store(repo, Array("id,label\n1,a\n2,\"b\n".utf8))
        XCTAssertThrowsError(try repo.diffTable(old: old, new: .stored(new)) { _ in }) {
            XCTAssertEqual(($0 as? NotATable)?.reason, "unterminated quoted field at byte 15")
        }
    }
}

final class TableScanTests: XCTestCase {
    /// Rows, labels and rows-before-offset answers do not depend on where windows split the
    /// file (rows, quoted line breaks and CRLF across window ends).
    func testWindowsSplitAnywhere() throws {
        var rng = SplitMix(seed: 3)
        for round in 0..<40 {
            let t = TableFixture.make(60, rng: &rng, crlf: round % 2 == 1)
            var bytes = t.bytes
            if round % 3 == 0 { bytes.removeLast(round % 2 == 1 ? 2 : 1) }   // no line end at the end
            var starts: [Int] = []
            var off = 0
            for r in t.rows { starts.append(off); off += r.count }
            let queries = starts.enumerated().filter { $0.offset % 7 == 3 }.map { $0.element }
            func scan(_ cuts: [Int]) throws -> (Int, [String: Int], [Int]) {
                var s = TableScan(delimiter: 0x2C, labelIndex: 3)
                var q = 0, out: [Int] = []
                var prev = 0
                for c in cuts + [bytes.count] where c > prev {
                    try bytes[prev..<c].withUnsafeBytes { try s.window($0, at: prev, offsets: queries, q: &q, out: &out) }
                    prev = c
                }
                s.finish(at: bytes.count, offsets: queries, q: &q, out: &out)
                return (s.rows, s.labels, out)
            }
            let whole = try scan([])
            XCTAssertEqual(whole.0, t.rows.count)
            XCTAssertEqual(whole.2, queries.map { starts.firstIndex(of: $0)! })
            let labels = t.rows.dropFirst().map { TableRowScanner(delimiter: 0x2C).cells(ArraySlice($0))[3] }
            XCTAssertEqual(whole.1.filter { $0.key != "label" }, labels.reduce(into: [:]) { $0[$1, default: 0] += 1 })
            let cuts = (0..<(1 + Int(rng.next() % 20))).map { _ in Int(rng.next() % UInt64(bytes.count)) }.sorted()
            let split = try scan(cuts)
            XCTAssertEqual(split.0, whole.0, "round \(round) cuts \(cuts)")
            XCTAssertEqual(split.1, whole.1, "round \(round) cuts \(cuts)")
            XCTAssertEqual(split.2, whole.2, "round \(round) cuts \(cuts)")
        }
    }

    /// Long rows with a quote near their end are scanned in linear time (each byte searched
    /// once); byte by byte with a fresh line-feed search per byte this took minutes.
    func testLongRowsWithALateQuoteScanLinearly() throws {
        let long = [UInt8](repeating: UInt8(ascii: "a"), count: 2 << 20)
        var bytes = Array("id,label\n".utf8)
        for _ in 0..<3 { bytes += long + Array(",\"x\"\n".utf8) }
        var s = TableScan(delimiter: 0x2C, labelIndex: 1)
        var q = 0, out: [Int] = []
        let start = Date()
        try bytes.withUnsafeBytes { try s.window($0, at: 0, offsets: [], q: &q, out: &out) }
        s.finish(at: bytes.count, offsets: [], q: &q, out: &out)
        XCTAssertEqual(s.rows, 4)
        XCTAssertEqual(s.labels, ["label": 1, "x": 3])
        XCTAssertLessThan(Date().timeIntervalSince(start), 20, "quadratic scan")
    }
}
