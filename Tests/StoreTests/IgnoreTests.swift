import Foundation
import XCTest
import TestHelpers
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
        // As in git's wildmatch, "**" spans folders only as a whole component.
        XCTAssertFalse(m("a*b**c", "ab/c"), "an inner ** is a single *")
        XCTAssertTrue(m("a*b**c", "axbxxc"))
        XCTAssertTrue(m("a**/b", "ax/y/b"), "as in git, ** right after the literal prefix spans folders")
        XCTAssertFalse(m("a/**", "a"), "a/** matches what is inside a, not a itself")
        XCTAssertTrue(m("**/**/x", "x"))
        XCTAssertTrue(m("a/**/**/b", "a/b"))
        XCTAssertTrue(m("[[:digit:]]x", "7x"))
        XCTAssertFalse(m("[[:digit:]]x", "ax"))
        XCTAssertTrue(m("[a-c]", "b"))
        XCTAssertTrue(m("[!a-c]", "d"))
        XCTAssertFalse(m("[!a-c]", "/"))
    }

    /// The one-word state set of short patterns and the bitmap of long ones agree.
    func testSmallAndLargeStateSetsAgree() {
        var rng = SplitMix(seed: 40)
        let pieces = ["a", "b", "/", "*", "?", "**", "**/", "[ab]", "[!a]"]
        for _ in 0..<2000 {
            let p = (0..<Int.random(in: 1...10, using: &rng)).map { _ in pieces.randomElement(using: &rng) ?? "a" }.joined()
            let n = String((0..<Int.random(in: 0...12, using: &rng)).map { _ in ["a", "b", "/"].randomElement(using: &rng) ?? "a" }.joined())
            let g = Glob(Array(p.utf8))
            XCTAssertEqual(g.matches(Array(n.utf8)[...]), g.matchesLarge(Array(n.utf8)[...]), "pattern '\(p)' name '\(n)'")
        }
    }

    /// Patterns that made the old backtracking matcher exponential (issue 13 #7): each
    /// must now take milliseconds, not minutes, and a very long one must not recurse.
    func testPathologicalPatternsAreLinear() {
        let t0 = Date()
        XCTAssertFalse(m("*a*a*a*a*a*a*a*b", String(repeating: "a", count: 60)))
        XCTAssertFalse(m(String(repeating: "**/a", count: 12) + "/b",
                         Array(repeating: "a", count: 40).joined(separator: "/")))
        XCTAssertFalse(m(String(repeating: "*a", count: 500) + "b", String(repeating: "a", count: 4000)))
        XCTAssertTrue(m(String(repeating: "**/", count: 1000) + "x", "a/b/c/x"))
        XCTAssertTrue(m(String(repeating: "*", count: 4096), "abc"))
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5, "glob matching must be linear in name x pattern")
    }
}

final class IgnoreRulesTests: XCTestCase {
    func rules(_ text: String, base: String = "") throws -> IgnoreRules {
        var r = IgnoreRules()
        try r.add(text: text, base: base)
        return r
    }

    func testGitignoreSemantics() throws {
        let r = try rules("""
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
        XCTAssertTrue(try rules("# only comments\n\n").isEmpty)
    }

    func testLastMatchWins() throws {
        let r = try rules("!important.log\n*.log\n")
        XCTAssertTrue(r.isIgnored("important.log", isDirectory: false), "a later rule overrides an earlier negation")
        let r2 = try rules("data/*\n!data/keep.csv\n")
        XCTAssertTrue(r2.isIgnored("data/x.csv", isDirectory: false))
        XCTAssertFalse(r2.isIgnored("data/keep.csv", isDirectory: false))
        XCTAssertFalse(r2.isIgnored("other/data/x.csv", isDirectory: false))
    }

    func testRulesInASubfolder() throws {
        var r = try rules("*.tmp\n")
        try r.add(text: "*.bin\n/local\n", base: "sub")
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

    func testOverlongLinesAreRefusedNamingFileAndLine() throws {
        var r = IgnoreRules()
        let long = String(repeating: "**", count: 1_000_000)
        XCTAssertThrowsError(try r.add(text: "*.log\n" + long + "\n", base: "sub/dir")) { e in
            XCTAssertEqual("\(e)", "sub/dir/.mlrepoignore line 2: pattern is 2000000 bytes long; ignore patterns are limited to 4096 bytes")
        }
        XCTAssertNoThrow(try r.add(text: String(repeating: "a", count: 4096), base: ""))
    }

    /// Our rules agree with `git check-ignore` on random patterns and names (git as the oracle).
    func testAgreesWithGitCheckIgnore() throws {
        guard let git = ["/usr/bin/git", "/usr/local/bin/git", "/bin/git"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("git is not installed")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-ignore-oracle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func runGit(_ args: [String], stdin: String = "") throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: git)
            p.arguments = args
            p.currentDirectoryURL = dir
            p.environment = ["PATH": "/usr/bin:/bin", "HOME": dir.path, "GIT_CONFIG_NOSYSTEM": "1"]
            let inPipe = Pipe(), outPipe = Pipe()
            p.standardInput = inPipe
            p.standardOutput = outPipe
            p.standardError = FileHandle.nullDevice
            try p.run()
            inPipe.fileHandleForWriting.write(Data(stdin.utf8))
            try inPipe.fileHandleForWriting.close()
            let out = outPipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: out, as: UTF8.self)
        }
        _ = try runGit(["init", "-q"])
        var rng = SplitMix(seed: 41)
        let pieces = ["a", "b", "a", "b", ".", "*", "*", "?", "**", "[ab]", "[!a]", "[a-b]", "/", "/"]
        let nameChars: [Character] = ["a", "b", "a", "b", "."]
        var checked = 0, mismatches: [String] = []
        for _ in 0..<120 {
            var pat = ""
            for _ in 0..<Int.random(in: 1...7, using: &rng) {
                let piece = pieces.randomElement(using: &rng) ?? "a"
                if piece == "/" && (pat.isEmpty || pat.hasSuffix("/")) { continue }
                pat += piece
            }
            if pat.isEmpty || pat == "/" { continue }
            var names: Set<String> = []
            for _ in 0..<40 {
                let comps = (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                    String((0..<Int.random(in: 1...4, using: &rng)).map { _ in nameChars.randomElement(using: &rng) ?? "a" })
                }
                let n = comps.joined(separator: "/")
                if comps.contains(".") || comps.contains("..") { continue }
                names.insert(n)
            }
            try Data((pat + "\n").utf8).write(to: dir.appendingPathComponent(".gitignore"))
            let list = names.sorted()
            let out = try runGit(["check-ignore", "--no-index", "--stdin"], stdin: list.joined(separator: "\n") + "\n")
            let gitIgnored = Set(out.split(separator: "\n").map(String.init))
            let r = try rules(pat)
            for n in list {
                // As Repository.isIgnored: a path is ignored when it or a parent folder is.
                let comps = n.split(separator: "/").map(String.init)
                var ours = false
                for i in 1...comps.count where !ours {
                    ours = r.isIgnored(comps[0..<i].joined(separator: "/"), isDirectory: i < comps.count)
                }
                checked += 1
                if ours != gitIgnored.contains(n) { mismatches.append("pattern '\(pat)' name '\(n)': git \(!ours), mlrepo \(ours)") }
            }
        }
        XCTAssertGreaterThan(checked, 1000)
        XCTAssertEqual(mismatches, [], "\(mismatches.prefix(20))")
    }

    func testCRLFLines() throws {
        let r = try rules("*.log\r\nbuild/\r\n")
        XCTAssertTrue(r.isIgnored("a.log", isDirectory: false))
        XCTAssertTrue(r.isIgnored("build", isDirectory: true))
        // A CR-terminated last line (no LF after it) is handled.
        let r2 = try rules("x.tmp\r")
        XCTAssertTrue(r2.isIgnored("x.tmp", isDirectory: false))
    }
}
