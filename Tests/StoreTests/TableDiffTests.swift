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
