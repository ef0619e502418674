import Foundation
import XCTest
import TestHelpers
import Support

/// File names holding terminal escape sequences are shown C-quoted, as git does, by every
/// command that prints paths; --json output escapes them (issue 13 #10).
final class CLIQuotingTests: CLITestCase {
    let evil = "evil\u{1B}]0;pwned\u{07}\u{1B}[2J.csv"
    let quotedEvil = "\"evil\\033]0;pwned\\a\\033[2J.csv\""

    func assertNoRawControls(_ s: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let bad = s.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || ($0.value >= 0x7F && $0.value <= 0x9F) }
        XCTAssertTrue(bad.isEmpty, "\(what) printed raw control characters: \(s.debugDescription)", file: file, line: line)
    }

    func testPathsWithControlCharactersAreQuotedEverywhere() throws {
        ok("init")
        write(evil, "a,b\n1,2\n")
        write("tab\there.txt", "x\n")
        write("plain.txt", "p\n")
        var st = ok("status", "--short")
        XCTAssertTrue(st.contains("?? " + quotedEvil), st)
        XCTAssertTrue(st.contains("?? \"tab\\there.txt\""), st)
        XCTAssertTrue(st.contains("?? plain.txt"), st)
        assertNoRawControls(st, "status --short")
        st = ok("status")
        XCTAssertTrue(st.contains("\t" + quotedEvil), st)
        assertNoRawControls(st, "status")
        let added = ok("add", "-v", ".")
        assertNoRawControls(added, "add -v")
        st = ok("status")
        XCTAssertTrue(st.contains("new file:   " + quotedEvil), st)
        assertNoRawControls(st, "status (staged)")
        commit("one")
        let ls = ok("ls-tree", "-r", "HEAD")
        XCTAssertTrue(ls.contains("\t" + quotedEvil + "\n"), ls)
        assertNoRawControls(ls, "ls-tree")
        let show = ok("show", "HEAD")
        XCTAssertTrue(show.contains(quotedEvil), show)
        assertNoRawControls(show, "show")
        // The work tree changes: diff in all its forms.
        write(evil, "a,b\n1,2\n3,4\n")
        var d = ok("diff")
        XCTAssertTrue(d.contains("M\t" + quotedEvil + "\t"), d)
        assertNoRawControls(d, "diff")
        d = ok("diff", "--name-only")
        XCTAssertEqual(d, quotedEvil + "\n")
        d = ok("diff", "--stat")
        XCTAssertTrue(d.contains(" " + quotedEvil + " "), d)
        assertNoRawControls(d, "diff --stat")
        // JSON keeps the real name, escaped.
        let j = ok("status", "--json")
        assertNoRawControls(j, "status --json")
        let parsed = try JSON.parse(j)
        XCTAssertEqual(parsed["unstaged"]?.arrayValue?.first?["path"], .string(evil))
        assertNoRawControls(ok("ls-tree", "-r", "--json", "HEAD"), "ls-tree --json")
        assertNoRawControls(ok("diff", "--json"), "diff --json")
        // Error messages naming such a path.
        let e = runResult(["show", "HEAD:missing\u{1B}[31m"])
        XCTAssertNotEqual(e.code, 0)
        XCTAssertTrue(e.err.contains("missing\\033[31m"), e.err)
        assertNoRawControls(e.err, "error message")
    }
}
