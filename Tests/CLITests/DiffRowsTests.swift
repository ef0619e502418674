import Foundation
import XCTest

/// `diff --rows`: changed rows of tables, their label counts, pagination and JSON.
final class DiffRowsTests: CLITestCase {
    /// 540 rows, labels cat (even ids) and dog (odd ids).
    func table(_ edit: (inout [String]) -> Void = { _ in }) -> String {
        var rows = (1...540).map { "\($0),\(Double($0) / 4),\($0 % 2 == 0 ? "cat" : "dog")" }
        edit(&rows)
        return "id,x,label\n" + rows.joined(separator: "\n") + "\n"
    }

    func commitTwoVersions() {
        ok("init")
        write("data.csv", table())
        write("notes.txt", "one\n")
        ok("add", "data.csv", "notes.txt")
        ok("commit", "-m", "base")
        write("data.csv", table { rows in
            rows[17] = "18,4.5,dog"          // cat -> dog
            rows[39] = "40,10.0,dog"         // cat -> dog
            rows[299] = "300,99.5,cat"       // x changed
            rows += (541...545).map { "\($0),0.0,dog" }
        })
        write("notes.txt", "two\n")
        ok("add", "data.csv", "notes.txt")
        ok("commit", "-m", "relabel")
    }

    func testTextSummaryLabelsAndChangedRows() {
        commitTwoVersions()
        let out = ok("diff", "--rows", "HEAD~1", "HEAD")
        XCTAssertEqual(out, """
        M\tdata.csv\t7295 -> 7355
          rows: 540 -> 545 (+5): 3 modified, 5 added, 0 deleted
          label: {cat: 270 -> 268, dog: 270 -> 277}
          ~ row 18: label: cat -> dog
          ~ row 40: label: cat -> dog
          ~ row 300: x: 75.0 -> 99.5
          + row 541: 541,0.0,dog
          + row 542: 542,0.0,dog
          + row 543: 543,0.0,dog
          + row 544: 544,0.0,dog
          + row 545: 545,0.0,dog
        M\tnotes.txt\t4 -> 4

        """)
        // Paginated, with a hint; a key column shows each row's key.
        let page = ok("diff", "--rows", "--key", "id", "--limit", "2", "--offset", "1", "HEAD~1", "HEAD", "--", "data.csv")
        XCTAssertEqual(page, """
        M\tdata.csv\t7295 -> 7355
          rows: 540 -> 545 (+5): 3 modified, 5 added, 0 deleted
          label: {cat: 270 -> 268, dog: 270 -> 277}
          ~ row 40 [key=40]: label: cat -> dog
          ~ row 300 [key=300]: x: 75.0 -> 99.5
          … 5 more change(s): --offset 3 [--limit N] shows them

        """)
    }

    func testJSONIsComplete() throws {
        commitTwoVersions()
        let all = try XCTUnwrap(json(ok("diff", "--rows", "--json", "HEAD~1", "HEAD")) as? [[String: Any]])
        XCTAssertEqual(all.count, 2)
        let t = all[0]
        XCTAssertEqual(t["path"] as? String, "data.csv")
        XCTAssertEqual(t["status"] as? String, "modified")
        XCTAssertEqual(t["rows"] as? [String: Int], ["old": 540, "new": 545])
        XCTAssertEqual(t["added"] as? Int, 5)
        XCTAssertEqual(t["deleted"] as? Int, 0)
        XCTAssertEqual(t["modified"] as? Int, 3)
        let label = try XCTUnwrap(t["label"] as? [String: Any])
        XCTAssertEqual(label["column"] as? String, "label")
        XCTAssertEqual(label["old"] as? [String: Int], ["cat": 270, "dog": 270])
        XCTAssertEqual(label["new"] as? [String: Int], ["cat": 268, "dog": 277])
        let changes = try XCTUnwrap(t["changes"] as? [[String: Any]])
        XCTAssertEqual(changes.count, 8)
        XCTAssertEqual(changes[0]["kind"] as? String, "modified")
        XCTAssertEqual(changes[0]["old_row"] as? Int, 18)
        XCTAssertEqual(changes[0]["new_row"] as? Int, 18)
        XCTAssertEqual(changes[0]["cells"] as? [[String: String]], [["column": "label", "old": "cat", "new": "dog"]])
        XCTAssertEqual(changes[0]["row"] as? [String], ["18", "4.5", "dog"])
        XCTAssertEqual(changes[3]["kind"] as? String, "added")
        XCTAssertTrue(changes[3]["old_row"] is NSNull)
        XCTAssertEqual(changes[3]["new_row"] as? Int, 541)
        XCTAssertEqual(all[1]["path"] as? String, "notes.txt")
        XCTAssertNil(all[1]["rows"])
    }

    /// The work tree against the index, deleted rows, and the label column from settings.
    func testWorkTreeDeletedRowsAndLabelSetting() {
        ok("init")
        write("t.tsv", "id\tspecies\n1\ta\n2\tb\n3\ta\n4\tb\n")
        ok("add", "t.tsv")
        ok("commit", "-m", "base")
        write("t.tsv", "id\tspecies\n1\ta\n3\tb\n4\tb\n")
        XCTAssertEqual(ok("diff", "--rows", "--key", "id"), """
        M\tt.tsv\t27 -> 23
          rows: 4 -> 3 (-1): 1 modified, 0 added, 1 deleted
          - row 2 [key=2]: 2,b
          ~ row 2 (was 3) [key=3]: species: a -> b

        """)
        ok("config", "table.key", "id")
        XCTAssertEqual(ok("diff", "--rows"), ok("diff", "--rows", "--key", "id"))
        ok("config", "table.label", "species")
        let out = ok("diff", "--rows")
        XCTAssertTrue(out.contains("  species: {a: 2 -> 1, b: 2 -> 2}\n"), out)
    }

    func testBadKeyIsReportedPerFile() {
        commitTwoVersions()
        let out = ok("diff", "--rows", "--key", "nope", "HEAD~1", "HEAD", "--", "data.csv")
        XCTAssertEqual(out, "M\tdata.csv\t7295 -> 7355\t(not diffed by rows: no column named 'nope' for the key)\n")
    }

    /// Huge --offset / --limit must not overflow (they used to trap on offset + limit).
    func testHugeOffsetAndLimitDoNotOverflow() {
        commitTwoVersions()
        let big = String(Int.max)
        let out = ok("diff", "--rows", "--offset", big, "--limit", "1", "HEAD~1", "HEAD", "--", "data.csv")
        XCTAssertEqual(out, """
        M\tdata.csv\t7295 -> 7355
          rows: 540 -> 545 (+5): 3 modified, 5 added, 0 deleted
          label: {cat: 270 -> 268, dog: 270 -> 277}

        """)
        let all = ok("diff", "--rows", "--offset", "6", "--limit", big, "HEAD~1", "HEAD", "--", "data.csv")
        XCTAssertTrue(all.hasSuffix("  + row 544: 544,0.0,dog\n  + row 545: 545,0.0,dog\n"), all)
    }

    /// Terminal escapes and other control characters in cells are printed escaped.
    func testControlCharactersInCellsAreEscaped() {
        ok("init")
        write("t.csv", "id,v\n1,a\n")
        ok("add", "t.csv")
        ok("commit", "-m", "base")
        write("t.csv", "id,v\n1,\u{1B}[31mred\u{07}\n2,\"x\ry\"\n")
        let out = ok("diff", "--rows")
        XCTAssertFalse(out.contains("\u{1B}") || out.contains("\u{07}") || out.contains("\r"), out)
        XCTAssertTrue(out.contains("  + row 1: 1,\\033[31mred\\a\n  + row 2: 2,x\\ry\n"), out)
    }

    /// A changed header is reported (old and new columns), in text and JSON.
    func testHeaderChangeIsShown() throws {
        ok("init")
        write("t.csv", "id,label\n1,a\n2,b\n")
        ok("add", "t.csv")
        ok("commit", "-m", "base")
        write("t.csv", "id,class\n1,a\n2,c\n")
        XCTAssertEqual(ok("diff", "--rows"), """
        M\tt.csv\t17 -> 17
          header: id,label -> id,class
          rows: 2 -> 2 (+0): 1 modified, 0 added, 0 deleted
          ~ row 2: class:  -> c

        """)
        let all = try XCTUnwrap(json(ok("diff", "--rows", "--json")) as? [[String: Any]])
        XCTAssertEqual(all[0]["header"] as? [String: [String]], ["old": ["id", "label"], "new": ["id", "class"]])
        // Unchanged header: no "header" member.
        write("t.csv", "id,label\n1,a\n2,c\n")
        let same = try XCTUnwrap(json(ok("diff", "--rows", "--json")) as? [[String: Any]])
        XCTAssertNil(same[0]["header"])
    }

    /// Lines ended by a lone CR would make the file one row: refused with the reason.
    func testCROnlyLineEndsAreRefused() {
        ok("init")
        write("t.csv", "id,v\r1,a\r2,b\r")
        ok("add", "t.csv")
        ok("commit", "-m", "base")
        write("t.csv", "id,v\r1,a\r2,c\r")
        XCTAssertEqual(ok("diff", "--rows"), "M\tt.csv\t13 -> 13\t(not diffed by rows: the old file's lines end in a lone carriage return (CR), not a line feed)\n")
    }

    /// JSON without --limit lists every change (written as they come, one at a time).
    func testJSONStreamsEveryChange() throws {
        ok("init")
        var b = "id,v\n", n = "id,v\n"
        for i in 0..<3000 { b += "\(i),a\n"; n += "\(i),\(i % 3 == 0 ? "b" : "a")\n" }
        write("t.csv", b)
        write("x.txt", "1\n")
        ok("add", "t.csv", "x.txt")
        ok("commit", "-m", "base")
        write("t.csv", n)
        write("x.txt", "2\n")
        let all = try XCTUnwrap(json(ok("diff", "--rows", "--json")) as? [[String: Any]])
        XCTAssertEqual(all.count, 2)
        let changes = try XCTUnwrap(all[0]["changes"] as? [[String: Any]])
        XCTAssertEqual(changes.count, 1000)
        XCTAssertEqual(all[0]["changes_total"] as? Int, 1000)
        XCTAssertEqual(changes.last?["new_row"] as? Int, 2998)
        XCTAssertEqual(all[1]["path"] as? String, "x.txt")
        let page = try XCTUnwrap(json(ok("diff", "--rows", "--json", "--limit", "2", "--offset", "999")) as? [[String: Any]])
        XCTAssertEqual((page[0]["changes"] as? [[String: Any]])?.count, 1)
        XCTAssertEqual(try XCTUnwrap(json(ok("diff", "--rows", "--json", "--", "nothing.csv")) as? [Any]).count, 0)
    }
}
