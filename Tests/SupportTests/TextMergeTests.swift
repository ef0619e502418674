import XCTest
import Support

/// A three-way case with git merge-file's output for each style (made with git 2.39.5,
/// `git merge-file -p -L ours -L base -L theirs [--diff3|--ours|--theirs|--union]`;
/// TextMergeOracleTests checks them against the git on PATH again).
struct MergeFixture {
    struct Result {
        var style: TextMergeOptions.Style
        var favor: TextMergeOptions.Favor
        var expected: String
        var conflicts: Int
    }
    var name: String
    var base: String
    var ours: String
    var theirs: String
    var results: [Result]

    static let all: [MergeFixture] = [
        MergeFixture(name: "distant edits merge cleanly", base: "a\nb\nc\nd\ne\nf\ng\n", ours: "A\nb\nc\nd\ne\nf\ng\n", theirs: "a\nb\nc\nd\ne\nf\nG\n", results: [
            .init(style: .merge, favor: .none, expected: "A\nb\nc\nd\ne\nf\nG\n", conflicts: 0),
            .init(style: .diff3, favor: .none, expected: "A\nb\nc\nd\ne\nf\nG\n", conflicts: 0),
            .init(style: .merge, favor: .ours, expected: "A\nb\nc\nd\ne\nf\nG\n", conflicts: 0),
            .init(style: .merge, favor: .theirs, expected: "A\nb\nc\nd\ne\nf\nG\n", conflicts: 0),
            .init(style: .merge, favor: .union, expected: "A\nb\nc\nd\ne\nf\nG\n", conflicts: 0),
        ]),
        MergeFixture(name: "one line changed both ways", base: "a\nb\nc\n", ours: "a\nB\nc\n", theirs: "a\nBB\nc\n", results: [
            .init(style: .merge, favor: .none, expected: "a\n<<<<<<< ours\nB\n=======\nBB\n>>>>>>> theirs\nc\n", conflicts: 1),
            .init(style: .diff3, favor: .none, expected: "a\n<<<<<<< ours\nB\n||||||| base\nb\n=======\nBB\n>>>>>>> theirs\nc\n", conflicts: 1),
            .init(style: .merge, favor: .ours, expected: "a\nB\nc\n", conflicts: 0),
            .init(style: .merge, favor: .theirs, expected: "a\nBB\nc\n", conflicts: 0),
            .init(style: .merge, favor: .union, expected: "a\nB\nBB\nc\n", conflicts: 0),
        ]),
        MergeFixture(name: "touching changes conflict", base: "a\nb\nc\nd\n", ours: "a\nB\nc\nd\n", theirs: "a\nb\nC\nd\n", results: [
            .init(style: .merge, favor: .none, expected: "a\n<<<<<<< ours\nB\nc\n=======\nb\nC\n>>>>>>> theirs\nd\n", conflicts: 1),
            .init(style: .diff3, favor: .none, expected: "a\n<<<<<<< ours\nB\nc\n||||||| base\nb\nc\n=======\nb\nC\n>>>>>>> theirs\nd\n", conflicts: 1),
            .init(style: .merge, favor: .ours, expected: "a\nB\nc\nd\n", conflicts: 0),
            .init(style: .merge, favor: .theirs, expected: "a\nb\nC\nd\n", conflicts: 0),
            .init(style: .merge, favor: .union, expected: "a\nB\nc\nb\nC\nd\n", conflicts: 0),
        ]),
        MergeFixture(name: "identical changes taken once", base: "a\nb\nc\nd\ne\n", ours: "a\nX\nc\nd\nE\n", theirs: "a\nX\nc\nd\ne\n", results: [
            .init(style: .merge, favor: .none, expected: "a\nX\nc\nd\nE\n", conflicts: 0),
            .init(style: .diff3, favor: .none, expected: "a\nX\nc\nd\nE\n", conflicts: 0),
            .init(style: .merge, favor: .ours, expected: "a\nX\nc\nd\nE\n", conflicts: 0),
            .init(style: .merge, favor: .theirs, expected: "a\nX\nc\nd\nE\n", conflicts: 0),
            .init(style: .merge, favor: .union, expected: "a\nX\nc\nd\nE\n", conflicts: 0),
        ]),
        MergeFixture(name: "common lines leave the conflict", base: "a\nb\nc\n", ours: "a\nx\ny\nz\nc\n", theirs: "a\nx\nY\nz\nc\n", results: [
            .init(style: .merge, favor: .none, expected: "a\nx\n<<<<<<< ours\ny\n=======\nY\n>>>>>>> theirs\nz\nc\n", conflicts: 1),
            .init(style: .diff3, favor: .none, expected: "a\n<<<<<<< ours\nx\ny\nz\n||||||| base\nb\n=======\nx\nY\nz\n>>>>>>> theirs\nc\n", conflicts: 1),
            .init(style: .merge, favor: .ours, expected: "a\nx\ny\nz\nc\n", conflicts: 0),
            .init(style: .merge, favor: .theirs, expected: "a\nx\nY\nz\nc\n", conflicts: 0),
            .init(style: .merge, favor: .union, expected: "a\nx\ny\nY\nz\nc\n", conflicts: 0),
        ]),
        MergeFixture(name: "conflict splits where sides agree", base: "1\n2\n3\n4\n5\n6\n7\n8\n9\n", ours: "1\nA\nsame\nsame2\nsame3\nsame4\nB\n9\n", theirs: "1\nC\nsame\nsame2\nsame3\nsame4\nD\n9\n", results: [
            .init(style: .merge, favor: .none, expected: "1\n<<<<<<< ours\nA\n=======\nC\n>>>>>>> theirs\nsame\nsame2\nsame3\nsame4\n<<<<<<< ours\nB\n=======\nD\n>>>>>>> theirs\n9\n", conflicts: 2),
            .init(style: .diff3, favor: .none, expected: "1\n<<<<<<< ours\nA\nsame\nsame2\nsame3\nsame4\nB\n||||||| base\n2\n3\n4\n5\n6\n7\n8\n=======\nC\nsame\nsame2\nsame3\nsame4\nD\n>>>>>>> theirs\n9\n", conflicts: 1),
            .init(style: .merge, favor: .ours, expected: "1\nA\nsame\nsame2\nsame3\nsame4\nB\n9\n", conflicts: 0),
            .init(style: .merge, favor: .theirs, expected: "1\nC\nsame\nsame2\nsame3\nsame4\nD\n9\n", conflicts: 0),
            .init(style: .merge, favor: .union, expected: "1\nA\nC\nsame\nsame2\nsame3\nsame4\nB\nD\n9\n", conflicts: 0),
        ]),
        MergeFixture(name: "conflicts joined across lines without letters", base: "1\n2\n3\n4\n5\n6\n7\n8\n9\n", ours: "1\nA\n}\n\n}\n{\n)\nB\n9\n", theirs: "1\nC\n}\n\n}\n{\n)\nD\n9\n", results: [
            .init(style: .merge, favor: .none, expected: "1\n<<<<<<< ours\nA\n}\n\n}\n{\n)\nB\n=======\nC\n}\n\n}\n{\n)\nD\n>>>>>>> theirs\n9\n", conflicts: 1),
            .init(style: .diff3, favor: .none, expected: "1\n<<<<<<< ours\nA\n}\n\n}\n{\n)\nB\n||||||| base\n2\n3\n4\n5\n6\n7\n8\n=======\nC\n}\n\n}\n{\n)\nD\n>>>>>>> theirs\n9\n", conflicts: 1),
            .init(style: .merge, favor: .ours, expected: "1\nA\n}\n\n}\n{\n)\nB\n9\n", conflicts: 0),
            .init(style: .merge, favor: .theirs, expected: "1\nC\n}\n\n}\n{\n)\nD\n9\n", conflicts: 0),
            .init(style: .merge, favor: .union, expected: "1\nA\n}\n\n}\n{\n)\nB\nC\n}\n\n}\n{\n)\nD\n9\n", conflicts: 0),
        ]),
        MergeFixture(name: "missing final newline before a marker", base: "a\nb", ours: "a\nB", theirs: "a\nC", results: [
            .init(style: .merge, favor: .none, expected: "a\n<<<<<<< ours\nB\n=======\nC\n>>>>>>> theirs\n", conflicts: 1),
            .init(style: .diff3, favor: .none, expected: "a\n<<<<<<< ours\nB\n||||||| base\nb\n=======\nC\n>>>>>>> theirs\n", conflicts: 1),
            .init(style: .merge, favor: .ours, expected: "a\nB", conflicts: 0),
            .init(style: .merge, favor: .theirs, expected: "a\nC", conflicts: 0),
            .init(style: .merge, favor: .union, expected: "a\nB\nC", conflicts: 0),
        ]),
        MergeFixture(name: "empty base, both add", base: "", ours: "x\ny\n", theirs: "x\nz\n", results: [
            .init(style: .merge, favor: .none, expected: "x\n<<<<<<< ours\ny\n=======\nz\n>>>>>>> theirs\n", conflicts: 1),
            .init(style: .diff3, favor: .none, expected: "<<<<<<< ours\nx\ny\n||||||| base\n=======\nx\nz\n>>>>>>> theirs\n", conflicts: 1),
            .init(style: .merge, favor: .ours, expected: "x\ny\n", conflicts: 0),
            .init(style: .merge, favor: .theirs, expected: "x\nz\n", conflicts: 0),
            .init(style: .merge, favor: .union, expected: "x\ny\nz\n", conflicts: 0),
        ]),
        MergeFixture(name: "delete against modify", base: "a\nb\nc\nd\n", ours: "a\nd\n", theirs: "a\nb\nC\nd\n", results: [
            .init(style: .merge, favor: .none, expected: "a\n<<<<<<< ours\n=======\nb\nC\n>>>>>>> theirs\nd\n", conflicts: 1),
            .init(style: .diff3, favor: .none, expected: "a\n<<<<<<< ours\n||||||| base\nb\nc\n=======\nb\nC\n>>>>>>> theirs\nd\n", conflicts: 1),
            .init(style: .merge, favor: .ours, expected: "a\nd\n", conflicts: 0),
            .init(style: .merge, favor: .theirs, expected: "a\nb\nC\nd\n", conflicts: 0),
            .init(style: .merge, favor: .union, expected: "a\nb\nC\nd\n", conflicts: 0),
        ]),
        MergeFixture(name: "CR LF lines get CR LF markers", base: "a\r\nb\r\nc\r\n", ours: "a\r\nB\r\nc\r\n", theirs: "a\r\nC\r\nc\r\n", results: [
            .init(style: .merge, favor: .none, expected: "a\r\n<<<<<<< ours\r\nB\r\n=======\r\nC\r\n>>>>>>> theirs\r\nc\r\n", conflicts: 1),
            .init(style: .diff3, favor: .none, expected: "a\r\n<<<<<<< ours\r\nB\r\n||||||| base\r\nb\r\n=======\r\nC\r\n>>>>>>> theirs\r\nc\r\n", conflicts: 1),
            .init(style: .merge, favor: .ours, expected: "a\r\nB\r\nc\r\n", conflicts: 0),
            .init(style: .merge, favor: .theirs, expected: "a\r\nC\r\nc\r\n", conflicts: 0),
            .init(style: .merge, favor: .union, expected: "a\r\nB\r\nC\r\nc\r\n", conflicts: 0),
        ]),
        MergeFixture(name: "insertions at the same place", base: "a\nb\n", ours: "a\nX\nb\n", theirs: "a\nY\nb\n", results: [
            .init(style: .merge, favor: .none, expected: "a\n<<<<<<< ours\nX\n=======\nY\n>>>>>>> theirs\nb\n", conflicts: 1),
            .init(style: .diff3, favor: .none, expected: "a\n<<<<<<< ours\nX\n||||||| base\n=======\nY\n>>>>>>> theirs\nb\n", conflicts: 1),
            .init(style: .merge, favor: .ours, expected: "a\nX\nb\n", conflicts: 0),
            .init(style: .merge, favor: .theirs, expected: "a\nY\nb\n", conflicts: 0),
            .init(style: .merge, favor: .union, expected: "a\nX\nY\nb\n", conflicts: 0),
        ]),
    ]
}

/// The text merge on hand-written cases whose expected output is git merge-file's (no git
/// needed to run these).
final class TextMergeTests: XCTestCase {
    func merge(_ base: String, _ ours: String, _ theirs: String, _ o: TextMergeOptions = TextMergeOptions()) -> (String, Int) {
        let r = TextMerge.merge(base: Array(base.utf8), ours: Array(ours.utf8), theirs: Array(theirs.utf8), options: o)
        return (String(decoding: r.bytes, as: UTF8.self), r.conflicts)
    }

    func testFixtures() {
        for f in MergeFixture.all {
            for r in f.results {
                let o = TextMergeOptions(style: r.style, favor: r.favor)
                let got = TextMerge.merge(base: Array(f.base.utf8), ours: Array(f.ours.utf8), theirs: Array(f.theirs.utf8), options: o)
                XCTAssertEqual(got.bytes, Array(r.expected.utf8), "\(f.name) [\(r.style) \(r.favor)]: got \(String(decoding: got.bytes, as: UTF8.self).debugDescription)")
                XCTAssertEqual(got.conflicts, r.conflicts, "\(f.name) [\(r.style) \(r.favor)]")
            }
        }
    }

    func testOneSideUnchangedTakesTheOther() {
        XCTAssertEqual(merge("a\nb\n", "a\nb\n", "x\ny").0, "x\ny")
        XCTAssertEqual(merge("a\nb\n", "a\nB\n", "a\nb\n").0, "a\nB\n")
        XCTAssertEqual(merge("", "", "").0, "")
        XCTAssertEqual(merge("a\n", "", "").1, 0, "both deleted everything")
    }

    func testLabelsAndMarkerSize() {
        var o = TextMergeOptions(style: .diff3, oursLabel: "HEAD", baseLabel: "", theirsLabel: "feature")
        o.markerSize = 3
        XCTAssertEqual(merge("a\nb\nc\n", "a\nB\nc\n", "a\nC\nc\n", o).0,
                       "a\n<<< HEAD\nB\n|||\nb\n===\nC\n>>> feature\nc\n")
    }

    func testManyConflictsAreCountedOneByOne() {
        // Ten separate one-line conflicts, each far (more than three lettered lines) from the next.
        var base = "", ours = "", theirs = ""
        for i in 0..<10 {
            base += "keep \(i) a\nkeep \(i) b\nkeep \(i) c\nkeep \(i) d\nline \(i)\n"
            ours += "keep \(i) a\nkeep \(i) b\nkeep \(i) c\nkeep \(i) d\nours \(i)\n"
            theirs += "keep \(i) a\nkeep \(i) b\nkeep \(i) c\nkeep \(i) d\ntheirs \(i)\n"
        }
        let (text, n) = merge(base, ours, theirs)
        XCTAssertEqual(n, 10)
        XCTAssertEqual(text.components(separatedBy: "<<<<<<< ours\n").count - 1, 10)
    }
}
