import Foundation
import XCTest
import TestHelpers

/// `log --graph` and `log -- PATH...` against git as the oracle: the same history (same
/// files, same merges) is built in an mlrepo repository and a git repository, and the
/// drawings (ids and dates masked) must be identical. Merge commits are made as `mlrepo
/// merge` concludes one: merged files staged, `.mlrepo/MERGE_HEAD`, `commit`.
final class LogGraphTests: CLITestCase {
    var gitDir: URL!
    /// Each commit a minute after the last, the same on both sides, so date order is exact.
    var clock = 1_800_000_000

    func tick() {
        clock += 60
        env["MLREPO_AUTHOR_DATE"] = String(clock)
    }

    var gitEnv: [String: String] {
        ["PATH": "/usr/bin:/bin", "HOME": base.path, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
         "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1",
         "GIT_AUTHOR_DATE": "@\(clock) +0000", "GIT_COMMITTER_DATE": "@\(clock) +0000"]
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/git") else {
            throw XCTSkip("git is not installed at /usr/bin/git: it is the oracle for log --graph")
        }
        gitDir = base.appendingPathComponent("git")
        try FileManager.default.createDirectory(at: gitDir, withIntermediateDirectories: true)
        git("init", "-q", "-b", "main", ".")
        ok("init")
    }

    @discardableResult
    func git(_ args: String..., file: StaticString = #filePath, line: UInt = #line) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = args
        p.currentDirectoryURL = gitDir
        p.environment = gitEnv
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { XCTFail("git: \(error)", file: file, line: line); return "" }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "git \(args.joined(separator: " "))", file: file, line: line)
        return String(decoding: data, as: UTF8.self)
    }

    /// A commit named `name` on both sides: a new file `f_NAME` (or `files` as given).
    func c(_ name: String, files: [String: String]? = nil) {
        tick()
        for (p, t) in files ?? ["f_" + name: name + "\n"] {
            write(p, t)
            let g = gitDir.appendingPathComponent(p)
            try? FileManager.default.createDirectory(at: g.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? Data(t.utf8).write(to: g)
        }
        git("add", "-A"); git("commit", "-q", "-m", name)
        ok("add", "."); commit(name)
    }

    func branch(_ name: String) { git("checkout", "-q", "-b", name); ok("branch", name); ok("checkout", name) }
    func checkout(_ name: String) { git("checkout", "-q", name); ok("checkout", name) }

    /// Merges `rev` into the current branch on both sides with git's result (conflicts
    /// resolved by `resolve`, path → text, before committing).
    func merge(_ rev: String, _ message: String, resolve: [String: String] = [:]) {
        tick()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = ["merge", "-q", "--no-ff", "-m", message, rev]
        p.currentDirectoryURL = gitDir
        p.environment = gitEnv
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try? p.run()
        p.waitUntilExit()
        if p.terminationStatus != 0 {  // a conflict: resolve and conclude
            XCTAssertFalse(resolve.isEmpty, "git merge \(rev) conflicted")
            for (path, t) in resolve { try? Data(t.utf8).write(to: gitDir.appendingPathComponent(path)) }
            git("add", "-A"); git("commit", "-q", "-m", message)
        }
        // mlrepo: the work tree becomes git's merged tree.
        for f in (try? FileManager.default.contentsOfDirectory(atPath: gitDir.path)) ?? [] where f != ".git" {
            try? FileManager.default.removeItem(at: url(f))
            try? FileManager.default.copyItem(at: gitDir.appendingPathComponent(f), to: url(f))
        }
        ok("add", ".")
        let theirs = ok("rev-parse", rev).trimmingCharacters(in: .whitespacesAndNewlines)
        write(".mlrepo/MERGE_HEAD", theirs + "\n")
        commit(message)
    }

    /// Ids (7 to 64 hex digits) and author/date values masked.
    func masked(_ s: String) -> String {
        var out: [String] = []
        for l in s.split(separator: "\n", omittingEmptySubsequences: false) {
            var t = String(l).replacingOccurrences(of: "[0-9a-f]{7,64}", with: "ID", options: .regularExpression)
            t = t.replacingOccurrences(of: "(Author|Date):.*$", with: "$1:", options: .regularExpression)
            out.append(t)
        }
        return out.joined(separator: "\n")
    }

    func assertSameGraph(_ extra: [String] = [], file: StaticString = #filePath, line: UInt = #line) {
        for oneline in [true, false] {
            let args = ["log", "--graph"] + (oneline ? ["--oneline"] : []) + extra
            let ours = runResult(args)
            XCTAssertEqual(ours.code, 0, ours.err, file: file, line: line)
            let theirs = git(args.first!, Array(args.dropFirst()))
            XCTAssertEqual(masked(ours.out), masked(theirs), "mlrepo \(args.joined(separator: " ")) differs from git's", file: file, line: line)
        }
    }

    func git(_ first: String, _ rest: [String]) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = [first] + rest
        p.currentDirectoryURL = gitDir
        p.environment = gitEnv
        let out = Pipe()
        p.standardOutput = out
        try? p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: Graphs

    func testSimpleMergeDrawsAsGitDoes() {
        c("base"); branch("b"); c("B1"); c("B2"); checkout("main"); c("A1"); c("A2"); merge("b", "M")
        XCTAssertEqual(masked(ok("log", "--graph", "--oneline")), """
        *   ID M
        |\\  
        | * ID B2
        | * ID B1
        * | ID A2
        * | ID A1
        |/  
        * ID base

        """)
        assertSameGraph()
        assertSameGraph(["-n", "5"])
        // -n keeps the topological order's first commits.
        XCTAssertEqual(masked(ok("log", "--graph", "--oneline", "-n", "2")), "*   ID M\n|\\  \n| * ID B2\n")
        // A merge carries git's Merge: line.
        XCTAssertTrue(ok("log", "-n", "1").contains("\nMerge: " + ok("rev-parse", "HEAD^1").prefix(12) + " " + ok("rev-parse", "HEAD^2").prefix(12) + "\n"))
    }

    func testCrissCrossDrawsAsGitDoes() {
        c("base"); branch("b"); c("B1"); checkout("main"); c("A1")
        merge("b", "A2")
        checkout("b"); merge("main~1", "B2")
        checkout("main"); merge("b", "M")
        XCTAssertEqual(masked(ok("log", "--graph", "--oneline")), """
        *   ID M
        |\\  
        | *   ID B2
        | |\\  
        * | | ID A2
        |\\| | 
        | |/  
        |/|   
        | * ID B1
        * | ID A1
        |/  
        * ID base

        """)
        assertSameGraph()
        // Every commit once, and the log walks both parents.
        XCTAssertEqual(ok("log", "--oneline").split(separator: "\n").count, 6)
    }

    func testBranchesOfBranchesAndRepeatedMergesDrawAsGitDoes() {
        c("base"); branch("b"); c("B1"); branch("d"); c("D1"); checkout("b"); c("B2")
        checkout("main"); c("A1"); merge("d", "M1"); merge("b", "M2")
        checkout("b"); c("B3"); checkout("main"); c("A2"); merge("b", "M3")
        assertSameGraph()
        assertSameGraph(["b"])
    }

    func testGraphRefusesPathsAndKind() {
        c("base")
        XCTAssertTrue(fails(2, "log", "--graph", "--", "f_base").err.contains("--graph"))
    }

    // MARK: Path filters

    func testSeveralPathsAndMergesFollowGitsRule() {
        c("base", files: ["a.txt": "a0\n", "b.txt": "b0\n", "c.txt": "c0\n"])
        branch("side")
        c("S1", files: ["b.txt": "b1\n"])
        c("S2", files: ["c.txt": "c-side\n"])
        checkout("main")
        c("A1", files: ["a.txt": "a1\n"])
        c("A2", files: ["c.txt": "c-main\n"])
        // c.txt conflicts and is resolved to new content: the merge differs from both parents.
        merge("side", "M", resolve: ["c.txt": "c-merged\n"])
        func subjects(_ args: String...) -> [String] {
            runResult(["log", "--oneline"] + args).out.split(separator: "\n").map { String($0.split(separator: " ", maxSplits: 1)[1]) }
        }
        func gitSubjects(_ args: String...) -> [String] {
            git("log", ["--format=%s"] + args).split(separator: "\n").map(String.init)
        }
        // b.txt: the merge took side's version unchanged, so it is not shown.
        XCTAssertEqual(subjects("--", "b.txt"), ["S1", "base"])
        XCTAssertEqual(subjects("--", "b.txt"), gitSubjects("--", "b.txt"))
        // a.txt and b.txt: a commit that changed either; the merge matches neither parent at
        // both paths (ours has another b.txt, theirs another a.txt), so it is shown.
        XCTAssertEqual(subjects("--", "a.txt", "b.txt"), ["M", "A1", "S1", "base"])
        XCTAssertEqual(subjects("--", "a.txt", "b.txt"), gitSubjects("--", "a.txt", "b.txt"))
        // c.txt: the merge differs from both parents at it.
        XCTAssertEqual(subjects("--", "c.txt"), ["M", "A2", "S2", "base"])
        XCTAssertEqual(subjects("--", "c.txt"), gitSubjects("--", "c.txt"))
        XCTAssertEqual(subjects(), gitSubjects())
        // --json carries both parents.
        let j = try? JSONSerialization.jsonObject(with: Data(ok("log", "--json", "-n", "1", "--", "c.txt").utf8)) as? [[String: Any]]
        XCTAssertEqual((j?.first?["parents"] as? [String])?.count, 2)
        // A path no commit has: nothing.
        XCTAssertEqual(ok("log", "--oneline", "--", "nope.txt"), "")
    }
}
