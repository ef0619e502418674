import Foundation
import XCTest
import Support
import TestHelpers

/// The line diff: regions, git's placement of changes, unified hunks (fixtures from git
/// 2.39.5 `git -c diff.indentHeuristic=false diff --no-index -U<n>`), speed on large inputs,
/// and, with git on PATH, random pairs against git.
final class LineDiffTests: XCTestCase {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Applies the regions to `a`: must give `b`; regions must be in order and not touch.
    func assertRegionsTransform<T: Hashable>(_ a: [T], _ b: [T], _ rs: [DiffRegion], file: StaticString = #filePath, line: UInt = #line) {
        var out: [T] = []
        var i = 0, j = 0, first = true
        for r in rs {
            XCTAssertTrue(r.aCount > 0 || r.bCount > 0, "empty region", file: file, line: line)
            XCTAssertGreaterThanOrEqual(r.aStart, i, file: file, line: line)
            XCTAssertEqual(r.aStart - i, r.bStart - j, "unchanged stretch differs in length", file: file, line: line)
            if !first { XCTAssertGreaterThan(r.aStart, i, "regions touch", file: file, line: line) }
            first = false
            while i < r.aStart { XCTAssertEqual(a[i], b[j], "unchanged lines differ", file: file, line: line); out.append(a[i]); i += 1; j += 1 }
            out += b[r.bStart..<(r.bStart + r.bCount)]
            i = r.aStart + r.aCount; j = r.bStart + r.bCount
        }
        out += a[i...]
        XCTAssertEqual(out, b, file: file, line: line)
    }

    func testLines() {
        XCTAssertEqual(LineDiff.lines([]).count, 0)
        XCTAssertEqual(LineDiff.lines(bytes("a\nb")).map { Array($0) }, [bytes("a\n"), bytes("b")])
        XCTAssertEqual(LineDiff.lines(bytes("\n\n")).map { Array($0) }, [bytes("\n"), bytes("\n")])
    }

    func testRegions() {
        XCTAssertEqual(LineDiff.diff([1, 2, 3], [1, 2, 3]), [])
        XCTAssertEqual(LineDiff.diff([Int](), [1]), [DiffRegion(aStart: 0, aCount: 0, bStart: 0, bCount: 1)])
        XCTAssertEqual(LineDiff.diff(["a", "b", "c"], ["a", "B", "c"]), [DiffRegion(aStart: 1, aCount: 1, bStart: 1, bCount: 1)])
        XCTAssertEqual(LineDiff.diff(["a", "b", "c", "d"], ["b", "c", "d", "e"]),
                       [DiffRegion(aStart: 0, aCount: 1, bStart: 0, bCount: 0), DiffRegion(aStart: 4, aCount: 0, bStart: 3, bCount: 1)])
    }

    func testPlacementInRunsOfEqualLines() {
        // A line inserted into a run of equal lines goes after the run, as git places it.
        XCTAssertEqual(LineDiff.diff(["a", "x", "x", "b"], ["a", "x", "x", "x", "b"]), [DiffRegion(aStart: 3, aCount: 0, bStart: 3, bCount: 1)])
        // A removed repeated block slides down as far as it can.
        XCTAssertEqual(LineDiff.diff(["q", "}", "", "}", "", "z"], ["q", "}", "", "z"]), [DiffRegion(aStart: 3, aCount: 2, bStart: 3, bCount: 0)])
        // A deletion next to an insertion that sliding can line up becomes one replacement.
        XCTAssertEqual(LineDiff.diff(["k", "a", "b", "a", "m"], ["k", "a", "c", "m"]).count, 1)
    }

    func testUnifiedFixtures() {
        let fixtures: [(String, String, Int, String)] = [
            ("a\nb\nc\n", "a\nB\nc\n", 3, "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"),
            ("", "x\ny\n", 3, "@@ -0,0 +1,2 @@\n+x\n+y\n"),
            ("x\ny\n", "", 3, "@@ -1,2 +0,0 @@\n-x\n-y\n"),
            ("a\nb", "a\nb\n", 3, "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"),
            ("a\nb\nc\nd\n", "a\nX\nb\nc\nd\n", 0, "@@ -1,0 +2 @@ a\n+X\n"),
            ("int main() {\n  x;\n  y;\n  z;\n  w;\n  v;\n}\n", "int main() {\n  x;\n  y;\n  Z;\n  w;\n  v;\n}\n", 1,
             "@@ -3,3 +3,3 @@ int main() {\n   y;\n-  z;\n+  Z;\n   w;\n"),
            ("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\nX\n3\n4\n5\n6\n7\n8\nY\n10\n", 3,
             "@@ -1,10 +1,10 @@\n 1\n-2\n+X\n 3\n 4\n 5\n 6\n 7\n 8\n-9\n+Y\n 10\n"),
            ("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\nX\n3\n4\n5\n6\n7\n8\nY\n10\n", 2,
             "@@ -1,4 +1,4 @@\n 1\n-2\n+X\n 3\n 4\n@@ -7,4 +7,4 @@\n 7\n 8\n-9\n+Y\n 10\n"),
        ]
        for (a, b, u, expected) in fixtures {
            let got = LineDiff.hunkText(LineDiff.hunks(bytes(a), bytes(b), context: u))
            XCTAssertEqual(String(decoding: got, as: UTF8.self), expected, "\(a.debugDescription) -> \(b.debugDescription) -U\(u)")
        }
        let h = LineDiff.hunks(bytes("a\nb\n"), bytes("a\nc\n"))
        XCTAssertEqual(String(decoding: LineDiff.unified(h, oldLabel: "a/f", newLabel: "b/f"), as: UTF8.self),
                       "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n")
    }

    func testRandomRegionsTransform() {
        var rng = SplitMix(seed: 7)
        for round in 0..<300 {
            var gen = TextCases(rng: rng, hard: round % 2 == 0)
            let a = gen.base()
            let b = gen.edit(a, edits: gen.rng.pick([1, 3, 10, 30]))
            rng = gen.rng
            assertRegionsTransform(a, b, LineDiff.diff(a, b))
        }
    }

    /// Two 200k-line files with 1% of lines changed; and inputs with no structure at all,
    /// which must stay bounded (the cost cap) and still give a correct diff.
    func testLargeInputs() {
        var rng = SplitMix(seed: 11)
        let a = (0..<200_000).map { i in rng.chance(0.7) ? "line \(i)" : rng.pick(["", "}", "    return;"]) }
        var b = a
        for _ in 0..<2_000 {
            let p = rng.int(0..<b.count)
            switch rng.int(0..<3) {
            case 0: b[p] = "changed \(rng.next())"
            case 1: b.remove(at: p)
            default: b.insert("new \(rng.next())", at: p)
            }
        }
        var t = Clock.monotonic()
        let rs = LineDiff.diff(a, b)
        let large = Clock.monotonic() - t
        assertRegionsTransform(a, b, rs)
        XCTAssertGreaterThan(rs.count, 1_000)
        let p = (0..<20_000).map { _ in rng.int(0..<2) }, q = (0..<20_000).map { _ in rng.int(0..<2) }
        t = Clock.monotonic()
        let prs = LineDiff.diff(p, q)
        let pathological = Clock.monotonic() - t
        assertRegionsTransform(p, q, prs)
        // Generous bounds: debug builds on a shared machine (release: about 0.2 s and 0.1 s).
        XCTAssertLessThan(large, 20, "200k lines, 1% changed")
        XCTAssertLessThan(pathological, 20, "20k lines of two symbols")
    }

    /// Random pairs against `git diff --no-index` (needs git).
    func testUnifiedMatchesGit() throws {
        let git = try GitOracle()
        var mismatches: [String] = []
        let n = max(100, TextMergeOracleTests.cases)
        for i in 0..<n {
            var gen = TextCases(rng: SplitMix(seed: 90_000 &+ UInt64(i)), hard: i % 3 == 2, blocks: i % 5 == 4)
            let a = gen.base()
            let b = gen.edit(a, edits: gen.rng.pick(gen.hard ? [10, 30, 100] : [1, 2, 3, 5, 8]))
            let ta = gen.text(a), tb = gen.text(b)
            let u = [0, 1, 3, 5][i % 4]
            let expected = try git.diffHunks(ta, tb, context: u)
            let got = LineDiff.hunkText(LineDiff.hunks(ta, tb, context: u))
            if got != expected && mismatches.count < 3 {
                mismatches.append("case \(i) -U\(u):\n\(String(decoding: expected, as: UTF8.self))--- ours\n\(String(decoding: got, as: UTF8.self))")
            }
        }
        XCTAssertEqual(mismatches, [])
    }

    /// A context of Int.max (`diff -U 9223372036854775807`) means "everything", without overflow.
    func testHugeContextDoesNotOverflow() {
        let h = LineDiff.hunks(bytes("a\nb\nc\nd\n"), bytes("a\nB\nc\nD\n"), context: Int.max)
        XCTAssertEqual(LineDiff.hunkText(h), LineDiff.hunkText(LineDiff.hunks(bytes("a\nb\nc\nd\n"), bytes("a\nB\nc\nD\n"), context: 4)))
        XCTAssertEqual(h.count, 1)
    }
}
