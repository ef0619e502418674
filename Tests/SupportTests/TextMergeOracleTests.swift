import Foundation
import XCTest
import Support
import TestHelpers

/// Runs git as a black-box oracle on files in a temp folder (tests skip when git is absent).
final class GitOracle {
    let dir: URL
    let git: String

    init() throws {
        guard let g = Self.findGit() else { throw XCTSkip("git is not on PATH: the text diff and merge oracle tests need it") }
        git = g
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-text-oracle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    static func findGit() -> String? {
        for d in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(d)/git"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let u = dir.appendingPathComponent(name)
        try Data(bytes).write(to: u)
        return u.path
    }

    /// Runs git with `args`; returns its stdout and exit status.
    func run(_ args: [String]) throws -> (out: [UInt8], code: Int32) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: git)
        p.arguments = args
        p.currentDirectoryURL = dir
        var env = ProcessInfo.processInfo.environment
        env["GIT_CONFIG_NOSYSTEM"] = "1"; env["GIT_CONFIG_GLOBAL"] = "/dev/null"; env["LC_ALL"] = "C"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out; p.standardError = FileHandle.nullDevice
        try p.run()
        let d = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return ([UInt8](d), p.terminationStatus)
    }

    /// `git merge-file -p` with the labels ours/base/theirs and the style's flag.
    func merge(base: [UInt8], ours: [UInt8], theirs: [UInt8], style: TextMergeOptions.Style, favor: TextMergeOptions.Favor) throws -> TextMergeResult {
        let b = try file("base", base), o = try file("ours", ours), t = try file("theirs", theirs)
        var args = ["merge-file", "-p", "-L", "ours", "-L", "base", "-L", "theirs"]
        if style == .diff3 { args.append("--diff3") }
        if favor != .none { args.append("--" + favor.rawValue) }
        let r = try run(args + [o, b, t])
        return TextMergeResult(bytes: r.out, conflicts: Int(r.code))
    }

    /// `git diff --no-index -U<n>` from the first `@@` on (without the indent heuristic).
    func diffHunks(_ a: [UInt8], _ b: [UInt8], context: Int) throws -> [UInt8] {
        let pa = try file("a", a), pb = try file("b", b)
        let r = try run(["-c", "diff.indentHeuristic=false", "diff", "--no-index", "-U\(context)", pa, pb])
        guard let at = r.out.indices.first(where: { r.out[$0] == 0x40 && ($0 == 0 || r.out[$0 - 1] == 0x0A) }) else { return [] }
        return Array(r.out[at...])
    }
}

/// Random text files of the kind that make diffs ambiguous: many repeated lines (blank
/// lines, braces, `return`), unique lines, edits at distant, adjacent, overlapping and
/// identical places, files with and without a final newline, empty files.
struct TextCases {
    var rng: SplitMix
    /// Hard cases: a small vocabulary (lines repeated far more often) and more edits.
    var hard = false
    /// Block cases: 100–1000 lines, a third of them blank, rewritten in blocks of 5–50 lines
    /// (lines common in the other file among lines it lacks: what git leaves out of its search).
    var blocks = false

    static let vocabulary = ["", "}", "{", "    }", "    return x;", "end", "#", "---", "  ", "a", "b", "c", "x = 1", ")", "//"]

    mutating func line() -> String {
        if blocks { return rng.chance(0.35) ? "" : rng.chance(0.2) ? "}" : "u\(rng.next() % 1_000_000_000)" }
        if hard && rng.chance(0.8) { return rng.pick(Array(Self.vocabulary.prefix(5))) }
        if rng.chance(0.55) { return rng.pick(Self.vocabulary) }
        return "u\(rng.int(0..<(rng.chance(0.5) ? 40 : 100_000)))"
    }

    mutating func base(maxLines: Int = 200) -> [String] {
        if blocks { return (0..<rng.pick([100, 300, 1000])).map { _ in line() } }
        let n = rng.chance(0.8) ? min(maxLines, rng.pick([0, 1, 2, 3, 5, 10, 20, 50, 100, 200])) : rng.int(0..<(maxLines + 1))
        return (0..<n).map { _ in line() }
    }

    mutating func edit(_ lines: [String], edits: Int) -> [String] {
        var l = lines
        if blocks {
            for _ in 0..<rng.pick([1, 3, 6]) {
                let pos = rng.int(0..<(l.count + 1)), end = min(l.count, pos + rng.pick([5, 20, 50]))
                l.replaceSubrange(pos..<end, with: (0..<rng.pick([5, 20, 50])).map { _ in line() })
            }
            return l
        }
        for _ in 0..<edits {
            let pos = rng.int(0..<(l.count + 1)), k = rng.pick([1, 1, 1, 2, 3, 5])
            let op = rng.nextDouble()
            let end = min(l.count, pos + k)
            if op < 0.35 { l.insert(contentsOf: (0..<k).map { _ in line() }, at: pos) }
            else if op < 0.65 { l.removeSubrange(pos..<end) }
            else { l.replaceSubrange(pos..<end, with: (0..<rng.pick([1, 1, 2, 3])).map { _ in line() }) }
        }
        return l
    }

    mutating func text(_ lines: [String]) -> [UInt8] {
        if lines.isEmpty { return [] }
        return Array((lines.joined(separator: "\n") + (rng.chance(0.85) ? "\n" : "")).utf8)
    }

    /// Base, ours, theirs.
    mutating func threeWay() -> ([UInt8], [UInt8], [UInt8]) {
        let b = base()
        let counts = hard ? [5, 10, 20] : [0, 1, 1, 2, 3, 5]
        let o = edit(b, edits: rng.pick(counts))
        let mode = rng.nextDouble()
        let t: [String]
        if mode < 0.15 { t = o }                                                  // identical edits
        else if mode < 0.35 { t = rng.chance(0.5) ? edit(o, edits: rng.pick([1, 2])) : edit(b, edits: 1) } // shared edits
        else { t = edit(b, edits: rng.pick(counts)) }
        return (text(b), text(o), text(t))
    }
}

/// The text merge against `git merge-file` on seeded random three-way cases, per style.
/// MLREPO_ORACLE_CASES sets the number of cases per style (default 150; a third of them hard).
final class TextMergeOracleTests: XCTestCase {
    static var cases: Int { Int(ProcessInfo.processInfo.environment["MLREPO_ORACLE_CASES"] ?? "") ?? 150 }

    func testFixturesAreGitsOutput() throws {
        let git = try GitOracle()
        for f in MergeFixture.all {
            for r in f.results {
                let g = try git.merge(base: Array(f.base.utf8), ours: Array(f.ours.utf8), theirs: Array(f.theirs.utf8), style: r.style, favor: r.favor)
                XCTAssertEqual(g.bytes, Array(r.expected.utf8), "fixture '\(f.name)' [\(r.style) \(r.favor)] is not what this git prints")
                XCTAssertEqual(g.conflicts, r.conflicts, "fixture '\(f.name)' [\(r.style) \(r.favor)]")
            }
        }
    }

    func check(style: TextMergeOptions.Style, favor: TextMergeOptions.Favor, seed: UInt64) throws {
        let git = try GitOracle()
        var mismatches: [String] = []
        var conflicted = 0
        for i in 0..<Self.cases {
            var gen = TextCases(rng: SplitMix(seed: seed &+ UInt64(i)), hard: i % 3 == 2, blocks: i % 5 == 4)
            let (b, o, t) = gen.threeWay()
            let expected = try git.merge(base: b, ours: o, theirs: t, style: style, favor: favor)
            let got = TextMerge.merge(base: b, ours: o, theirs: t, options: TextMergeOptions(style: style, favor: favor))
            if expected.conflicts > 0 { conflicted += 1 }
            if got != expected && mismatches.count < 3 {
                mismatches.append("case \(i) (seed \(seed &+ UInt64(i))): git \(expected.conflicts) conflicts\n\(String(decoding: expected.bytes, as: UTF8.self))\n--- ours \(got.conflicts)\n\(String(decoding: got.bytes, as: UTF8.self))")
            }
        }
        XCTAssertEqual(mismatches, [], "\(style) \(favor): differs from git merge-file")
        if favor == .none { XCTAssertGreaterThan(conflicted, Self.cases / 5, "the cases must make conflicts") }
    }

    func testMergeStyle() throws { try check(style: .merge, favor: .none, seed: 1_000) }
    func testDiff3Style() throws { try check(style: .diff3, favor: .none, seed: 2_000_000) }
    func testFavorOurs() throws { try check(style: .merge, favor: .ours, seed: 3_000_000) }
    func testFavorTheirs() throws { try check(style: .merge, favor: .theirs, seed: 4_000_000) }
    func testFavorUnion() throws { try check(style: .merge, favor: .union, seed: 5_000_000) }
}
