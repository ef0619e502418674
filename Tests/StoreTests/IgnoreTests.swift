import XCTest
@testable import Store
@testable import Support

final class GlobTests: XCTestCase {
    func m(_ p: String, _ s: String) -> Bool { Glob.match(Array(p.utf8), Array(s.utf8)) }

    func testStarAndQuestion() {
        XCTAssertTrue(m("*.log", "a.log"))
        XCTAssertTrue(m("*.log", ".log"))
        XCTAssertFalse(m("*.log", "a.log.txt"))
        XCTAssertFalse(m("*.log", "dir/a.log"), "* does not cross /")
        XCTAssertTrue(m("a*b*c", "aXXbYYc"))
        XCTAssertFalse(m("a*b*c", "aXXbYY"))
        XCTAssertTrue(m("?.txt", "a.txt"))
        XCTAssertFalse(m("?.txt", "ab.txt"))
        XCTAssertFalse(m("a?b", "a/b"), "? does not match /")
        XCTAssertTrue(m("*", ""))
        XCTAssertTrue(m("", ""))
        XCTAssertFalse(m("", "a"))
        XCTAssertTrue(m("exact", "exact"))
        XCTAssertFalse(m("exact", "exactly"))
    }

    func testClassesAndEscapes() {
        XCTAssertTrue(m("[abc].txt", "b.txt"))
        XCTAssertFalse(m("[abc].txt", "d.txt"))
        XCTAssertTrue(m("file[0-9]", "file7"))
        XCTAssertFalse(m("file[0-9]", "filex"))
        XCTAssertTrue(m("[!a]x", "bx"))
        XCTAssertFalse(m("[!a]x", "ax"))
        XCTAssertTrue(m("[^a]x", "bx"))
        XCTAssertFalse(m("a[/]b", "a/b"), "a class never matches /")
        XCTAssertTrue(m("[]]", "]"), "] first in a class is literal")
        XCTAssertTrue(m("\\*", "*"))
        XCTAssertFalse(m("\\*", "a"))
        XCTAssertTrue(m("a\\?", "a?"))
        XCTAssertTrue(m("[", "["), "an unterminated class is a literal [")
    }

    func testDoubleStar() {
        XCTAssertTrue(m("**", "a/b/c"))
        XCTAssertTrue(m("**/tmp", "tmp"))
        XCTAssertTrue(m("**/tmp", "a/b/tmp"))
        XCTAssertFalse(m("**/tmp", "a/b/tmpx"))
        XCTAssertTrue(m("a/**/b", "a/b"))
        XCTAssertTrue(m("a/**/b", "a/x/b"))
        XCTAssertTrue(m("a/**/b", "a/x/y/z/b"))
        XCTAssertFalse(m("a/**/b", "c/a/b"))
        XCTAssertFalse(m("a/**/b", "a/x/bc"))
        XCTAssertTrue(m("a/**", "a/x/y"))
        XCTAssertTrue(m("**/*.log", "x/y/z.log"))
        XCTAssertTrue(m("**/*.log", "z.log"))
    }
}

final class IgnoreRulesTests: XCTestCase {
    func rules(_ text: String, base: String = "") -> IgnoreRules {
        var r = IgnoreRules()
        r.add(text: text, base: base)
        return r
    }

    func testGitignoreSemantics() {
        let r = rules("""
        # comment
        *.log
        build/
        /root-only
        !keep.log
        **/tmp
        a/**/b

        trailing-space.txt\u{20}\u{20}
        \\#hash
        \\!bang
        """)
        XCTAssertTrue(r.isIgnored("x.log", isDirectory: false))
        XCTAssertTrue(r.isIgnored("deep/dir/x.log", isDirectory: false), "unanchored patterns match the basename")
        XCTAssertFalse(r.isIgnored("keep.log", isDirectory: false), "! re-includes")
        XCTAssertFalse(r.isIgnored("sub/keep.log", isDirectory: false))
        XCTAssertTrue(r.isIgnored("build", isDirectory: true))
        XCTAssertTrue(r.isIgnored("src/build", isDirectory: true))
        XCTAssertFalse(r.isIgnored("build", isDirectory: false), "trailing / matches folders only")
        XCTAssertTrue(r.isIgnored("root-only", isDirectory: false))
        XCTAssertTrue(r.isIgnored("root-only", isDirectory: true))
        XCTAssertFalse(r.isIgnored("sub/root-only", isDirectory: false), "leading / anchors to the root")
        XCTAssertTrue(r.isIgnored("tmp", isDirectory: true))
        XCTAssertTrue(r.isIgnored("x/y/tmp", isDirectory: true))
        XCTAssertTrue(r.isIgnored("a/b", isDirectory: false))
        XCTAssertTrue(r.isIgnored("a/q/r/b", isDirectory: false))
        XCTAssertFalse(r.isIgnored("z/a/q/b", isDirectory: false), "an inner / anchors")
        XCTAssertTrue(r.isIgnored("trailing-space.txt", isDirectory: false), "trailing spaces are dropped")
        XCTAssertTrue(r.isIgnored("#hash", isDirectory: false))
        XCTAssertTrue(r.isIgnored("!bang", isDirectory: false))
        XCTAssertFalse(r.isIgnored("# comment", isDirectory: false))
        XCTAssertFalse(r.isIgnored("readme.md", isDirectory: false))
        XCTAssertFalse(r.isEmpty)
        XCTAssertTrue(rules("# only comments\n\n").isEmpty)
    }

    func testLastMatchWins() {
        let r = rules("!important.log\n*.log\n")
        XCTAssertTrue(r.isIgnored("important.log", isDirectory: false), "a later rule overrides an earlier negation")
        let r2 = rules("data/*\n!data/keep.csv\n")
        XCTAssertTrue(r2.isIgnored("data/x.csv", isDirectory: false))
        XCTAssertFalse(r2.isIgnored("data/keep.csv", isDirectory: false))
        XCTAssertFalse(r2.isIgnored("other/data/x.csv", isDirectory: false))
    }

    func testRulesInASubfolder() {
        var r = rules("*.tmp\n")
        r.add(text: "*.bin\n/local\n", base: "sub")
        XCTAssertTrue(r.isIgnored("sub/x.bin", isDirectory: false))
        XCTAssertTrue(r.isIgnored("sub/deeper/x.bin", isDirectory: false))
        XCTAssertFalse(r.isIgnored("x.bin", isDirectory: false), "sub's rules apply only below sub")
        XCTAssertFalse(r.isIgnored("other/x.bin", isDirectory: false))
        XCTAssertTrue(r.isIgnored("sub/local", isDirectory: false))
        XCTAssertFalse(r.isIgnored("sub/deeper/local", isDirectory: false), "anchored to sub")
        XCTAssertFalse(r.isIgnored("local", isDirectory: false))
        XCTAssertTrue(r.isIgnored("sub/a.tmp", isDirectory: false), "root rules still apply")
        XCTAssertFalse(r.isIgnored("subx/y.bin", isDirectory: false))
    }

    func testCRLFLines() {
        let r = rules("*.log\r\nbuild/\r\n")
        XCTAssertTrue(r.isIgnored("a.log", isDirectory: false))
        XCTAssertTrue(r.isIgnored("build", isDirectory: true))
        // A CR-terminated last line (no LF after it) is handled.
        let r2 = rules("x.tmp\r")
        XCTAssertTrue(r2.isIgnored("x.tmp", isDirectory: false))
    }
}
