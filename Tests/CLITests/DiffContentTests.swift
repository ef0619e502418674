import Foundation
import XCTest
import Support
import TestHelpers

/// `diff` showing content (unified hunks as git diff prints them, --stat, --name-status,
/// --json hunks, binaries and tables) and the `merge-file` plumbing command, through the binary.
final class DiffContentTests: CLITestCase {
    var hasGit: Bool { tool(["git", "--version"]).code == 0 }

    /// Lines with many repeats, so that the placement of changes is ambiguous.
    func randomLines(_ rng: inout SplitMix, _ n: Int) -> [String] {
        (0..<n).map { _ in rng.chance(0.5) ? rng.pick(["", "}", "{", "    return x;", "end"]) : "line \(rng.int(0..<60))" }
    }

    func edited(_ rng: inout SplitMix, _ lines: [String]) -> [String] {
        var l = lines
        for _ in 0..<rng.int(1..<8) {
            let p = rng.int(0..<(l.count + 1))
            switch rng.int(0..<3) {
            case 0: l.insert(contentsOf: randomLines(&rng, rng.int(1..<4)), at: p)
            case 1: l.removeSubrange(p..<min(l.count, p + rng.int(1..<4)))
            default: l.replaceSubrange(p..<min(l.count, p + 1), with: randomLines(&rng, rng.int(1..<3)))
            }
        }
        return l
    }

    /// What git diff --no-index prints from the first `@@` on, for the two texts.
    func gitHunks(_ old: String, _ new: String, context: Int) -> String {
        let a = base.appendingPathComponent("old"), b = base.appendingPathComponent("new")
        try? Data(old.utf8).write(to: a); try? Data(new.utf8).write(to: b)
        let out = tool(["git", "-c", "diff.indentHeuristic=false", "diff", "--no-index", "-U\(context)", a.path, b.path]).out
        guard let r = out.range(of: "\n@@") else { return "" }
        return String(out[out.index(after: r.lowerBound)...])
    }

    /// The part of one path's mlrepo diff from its first `@@` on.
    func hunksOf(_ diff: String, header: String) -> String {
        XCTAssertTrue(diff.hasPrefix(header), diff)
        return String(diff.dropFirst(header.count))
    }

    func testUnifiedHunksMatchGitDiff() throws {
        guard hasGit else { throw XCTSkip("git is not on PATH: needed as the oracle for unified hunks") }
        ok("init")
        var rng = SplitMix(seed: 16)
        let header = "diff --mlrepo a/src/code.py b/src/code.py\n--- a/src/code.py\n+++ b/src/code.py\n"
        for round in 0..<6 {
            let old = randomLines(&rng, rng.int(20..<120)).joined(separator: "\n") + "\n"
            let newLines = edited(&rng, old.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init))
            let new = newLines.joined(separator: "\n") + (round % 3 == 2 ? "" : "\n")
            write("src/code.py", old)
            ok("add", "src/code.py")
            let c1 = commit("round \(round)")
            write("src/code.py", new)
            guard old != new else { continue }
            for u in [3, 0, 1] {
                // Work tree against the index (file read from disk, other side from the store).
                let args = u == 3 ? ["diff"] : ["diff", "-U", "\(u)"]
                XCTAssertEqual(hunksOf(runResult(args).out, header: header), gitHunks(old, new, context: u), "round \(round) -U\(u)")
            }
            ok("add", "src/code.py")
            let c2 = commit("round \(round) changed")
            // Two commits, both sides from the store.
            XCTAssertEqual(hunksOf(ok("diff", c1, c2, "--unified=5"), header: header), gitHunks(old, new, context: 5), "round \(round) commits")
        }
    }

    func makeChanges() {
        ok("init")
        write("t.txt", "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\n")
        write("old.txt", "gone\n")
        write("d.csv", "a,b\n1,2\n3,4\n")
        write("bin.dat", Data([0x78, 0x00, 0x79]))
        ok("add", ".")
        commit("c1")
        write("t.txt", "one\nTWO\nthree\nfour\nfive\nsix\nseven\neight\nnine\n")
        remove("old.txt")
        write("d.csv", "a,b\n1,2\n3,5\n")
        write("bin.dat", Data([0x78, 0x00, 0x79, 0x7A]))
        write("n.txt", "new\n")
        ok("add", ".")
    }

    func testDefaultStatNameStatusAndJSON() throws {
        makeChanges()
        XCTAssertEqual(ok("diff", "--cached", "--name-status"), "M\tbin.dat\nM\td.csv\nA\tn.txt\nD\told.txt\nM\tt.txt\n")
        XCTAssertEqual(ok("diff", "--cached", "--name-only"), "bin.dat\nd.csv\nn.txt\nold.txt\nt.txt\n")
        let text = ok("diff", "--cached")
        XCTAssertTrue(text.hasPrefix("M\tbin.dat\t3 -> 4\nM\td.csv\t12 -> 12\n\trows: 2 -> 2 (+0)\n"), text)
        XCTAssertTrue(text.contains("diff --mlrepo a/n.txt b/n.txt\nnew file mode 100644\n--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1 @@\n+new\n"), text)
        XCTAssertTrue(text.contains("diff --mlrepo a/old.txt b/old.txt\ndeleted file mode 100644\n--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone\n"), text)
        XCTAssertTrue(text.hasSuffix("""
            diff --mlrepo a/t.txt b/t.txt
            --- a/t.txt
            +++ b/t.txt
            @@ -1,8 +1,9 @@
             one
            -two
            +TWO
             three
             four
             five
             six
             seven
             eight
            +nine

            """), text)
        XCTAssertEqual(ok("diff", "--cached", "--stat"), """
             bin.dat | Bin 3 -> 4 bytes
             d.csv   | 12 -> 12 bytes
             n.txt   |   1 +
             old.txt |   1 -
             t.txt   |   3 ++-
             5 files changed, 3 insertions(+), 2 deletions(-)

            """)
        let j = try XCTUnwrap(json(ok("diff", "--cached", "--json", "-U", "0")) as? [[String: Any]])
        let byPath = Dictionary(uniqueKeysWithValues: j.map { ($0["path"] as! String, $0) })
        XCTAssertEqual(byPath["bin.dat"]?["binary"] as? Bool, true)
        XCTAssertNil(byPath["bin.dat"]?["hunks"])
        XCTAssertNotNil(byPath["d.csv"]?["profile"], "tables keep their profile")
        XCTAssertNil(byPath["d.csv"]?["hunks"])
        let t = try XCTUnwrap(byPath["t.txt"])
        XCTAssertEqual(t["added_lines"] as? Int, 2)
        XCTAssertEqual(t["removed_lines"] as? Int, 1)
        let hunks = try XCTUnwrap(t["hunks"] as? [[String: Any]])
        XCTAssertEqual(hunks.count, 2)
        XCTAssertEqual(hunks[0]["old_start"] as? Int, 2); XCTAssertEqual(hunks[0]["old_count"] as? Int, 1)
        XCTAssertEqual(hunks[0]["new_start"] as? Int, 2); XCTAssertEqual(hunks[0]["new_count"] as? Int, 1)
        XCTAssertEqual(hunks[0]["lines"] as? [String], ["-two", "+TWO"])
        XCTAssertEqual(hunks[1]["old_start"] as? Int, 8); XCTAssertEqual(hunks[1]["old_count"] as? Int, 0)
        XCTAssertEqual(hunks[1]["lines"] as? [String], ["+nine"])
        XCTAssertEqual(byPath["n.txt"]?["added_lines"] as? Int, 1)
        XCTAssertEqual(byPath["old.txt"]?["removed_lines"] as? Int, 1)
        fails(2, "diff", "-U", "-1")
    }

    /// A context of Int.max shows the whole file as one hunk (it used to overflow).
    /// git's extended header lines for added, deleted and mode-only changes; overlapping
    /// paths listed once; lines that are not UTF-8 flagged in --json.
    func testExtendedHeadersOverlappingPathsAndLossyLines() throws {
        ok("init")
        write("empty.txt", ""); write("gone.txt", "bye\n"); write("x.txt", "caf\u{e9}\n")
        try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: url("x.txt"))
        ok("add", "."); _ = commit("one")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url("empty.txt").path)
        write("new.txt", "")
        try FileManager.default.removeItem(at: url("gone.txt"))
        try Data([0x63, 0x61, 0x66, 0xE8, 0x0A]).write(to: url("x.txt"))
        ok("add", ".")
        let d = ok("diff", "--cached")
        XCTAssertTrue(d.contains("diff --mlrepo a/empty.txt b/empty.txt\nold mode 100644\nnew mode 100755\n"), d)
        XCTAssertTrue(d.contains("diff --mlrepo a/new.txt b/new.txt\nnew file mode 100644\n"), d)
        XCTAssertTrue(d.contains("diff --mlrepo a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n"), d)
        XCTAssertEqual(ok("diff", "--cached", "--name-status", "--", "x.txt", "x.txt", "."), "M\tempty.txt\nD\tgone.txt\nA\tnew.txt\nM\tx.txt\n")
        let j = json(ok("diff", "--cached", "--json", "--", "x.txt")) as? [[String: Any]] ?? []
        XCTAssertEqual(j.count, 1)
        XCTAssertEqual(j.first?["lossy"] as? Bool, true)
    }

    func testHugeContext() {
        ok("init")
        write("a.txt", "1\n2\n3\n4\n5\n")
        ok("add", "a.txt")
        commit("one")
        write("a.txt", "1\n2\nthree\n4\n5\n")
        let out = ok("diff", "-U", "9223372036854775807")
        XCTAssertTrue(out.hasSuffix("@@ -1,5 +1,5 @@\n 1\n 2\n-3\n+three\n 4\n 5\n"), out)
    }

    func testLargeTextCountsAsBinary() {
        ok("init")
        let line = String(repeating: "x", count: 99) + "\n"
        let big = String(repeating: line, count: (16 << 20) / 100 + 10) // just over 16 MiB
        write("big.txt", big)
        ok("add", "big.txt")
        commit("big")
        write("big.txt", big + "more\n")
        let out = ok("diff")
        XCTAssertEqual(out, "M\tbig.txt\t\(big.utf8.count) -> \(big.utf8.count + 5)\n")
        XCTAssertEqual(ok("diff", "--stat"), " big.txt | Bin \(big.utf8.count) -> \(big.utf8.count + 5) bytes\n 1 file changed, 0 insertions(+), 0 deletions(-)\n")
    }

    // MARK: - merge-file

    func testMergeFileWritesOursAndCountsConflicts() {
        write("base", "a\nb\nc\nd\ne\nf\ng\nh\n")
        write("mine", "a\nB\nc\nd\ne\nf\ng\nH\n")
        write("theirs", "a\nb2\nc\nd\ne\nF\ng\nh\n")
        let r = runResult(["merge-file", "mine", "base", "theirs"], in: repo)
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertEqual(r.out, "")
        XCTAssertEqual(text("mine"), "a\n<<<<<<< mine\nB\n=======\nb2\n>>>>>>> theirs\nc\nd\ne\nF\ng\nH\n")
        // -p prints and leaves the file; labels; diff3.
        write("mine", "a\nB\nc\nd\ne\nf\ng\nH\n")
        let p = runResult(["merge-file", "-p", "--diff3", "-L", "HEAD", "-L", "anc", "-L", "feature", "mine", "base", "theirs"], in: repo)
        XCTAssertEqual(p.code, 1)
        XCTAssertEqual(p.out, "a\n<<<<<<< HEAD\nB\n||||||| anc\nb\n=======\nb2\n>>>>>>> feature\nc\nd\ne\nF\ng\nH\n")
        XCTAssertEqual(text("mine"), "a\nB\nc\nd\ne\nf\ng\nH\n")
        let u = runResult(["merge-file", "-p", "--union", "mine", "base", "theirs"], in: repo)
        XCTAssertEqual(u.code, 0)
        XCTAssertEqual(u.out, "a\nB\nb2\nc\nd\ne\nF\ng\nH\n")
    }

    func testMergeFileExitStatusIsCappedAt127() {
        var b = "", o = "", t = ""
        for i in 0..<200 { b += "keep \(i) a\nkeep \(i) b\nkeep \(i) c\nkeep \(i) d\nx \(i)\n"; o += "keep \(i) a\nkeep \(i) b\nkeep \(i) c\nkeep \(i) d\no \(i)\n"; t += "keep \(i) a\nkeep \(i) b\nkeep \(i) c\nkeep \(i) d\nt \(i)\n" }
        write("b", b); write("o", o); write("t", t)
        let r = runResult(["merge-file", "-p", "o", "b", "t"], in: repo)
        XCTAssertEqual(r.code, 127)
        XCTAssertEqual(r.out.components(separatedBy: "<<<<<<< o\n").count - 1, 200)
    }

    func testMergeFileErrors() throws {
        write("b", "a\n"); write("o", "b\n")
        let missing = runResult(["merge-file", "o", "b", "nosuch"], in: repo)
        XCTAssertEqual(missing.code, 255)
        XCTAssertEqual(missing.err, "error: nosuch: no such file\n")
        write("bin", Data([0x61, 0x00, 0x62]))
        let bin = runResult(["merge-file", "o", "b", "bin"], in: repo)
        XCTAssertEqual(bin.code, 255)
        XCTAssertTrue(bin.err.contains("bin"), bin.err)
        // Over 256 MiB (sparse, so the test does not write it).
        let huge = url("huge")
        FileManager.default.createFile(atPath: huge.path, contents: nil)
        let h = try FileHandle(forWritingTo: huge)
        try h.truncate(atOffset: (256 << 20) + 1)
        try h.close()
        let big = runResult(["merge-file", "huge", "b", "o"], in: repo)
        XCTAssertEqual(big.code, 255)
        XCTAssertEqual(big.err, "error: huge: larger than 256 MiB, the most merge-file reads\n")
        XCTAssertEqual(runResult(["merge-file", "o", "b"], in: repo).code, 255)
        XCTAssertEqual(text("o"), "b\n", "nothing written on errors")
    }

    /// /dev/null (any readable non-regular file) is an input read to its end, as in git.
    func testMergeFileReadsDevNull() {
        write("o", "a\n"); write("t", "b\n")
        let r = runResult(["merge-file", "-p", "o", "/dev/null", "t"], in: repo)
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertEqual(r.out, "<<<<<<< o\na\n=======\nb\n>>>>>>> t\n")
        let d = runResult(["merge-file", "-p", "o", "/dev/null", "/dev/null"], in: repo)
        XCTAssertEqual(d.code, 0, d.err)
        XCTAssertEqual(d.out, "a\n")
        try? FileManager.default.createDirectory(at: url("dir"), withIntermediateDirectories: true)
        XCTAssertEqual(runResult(["merge-file", "-p", "o", "dir", "t"], in: repo).err, "error: dir: is a directory\n")
    }

    /// OURS a symbolic link: the merge is written to its target, the link stays a link.
    func testMergeFileWritesThroughASymlink() throws {
        write("real", "a\nb\n"); write("b", "a\n"); write("t", "z\na\n")
        try FileManager.default.createSymbolicLink(atPath: url("lnk").path, withDestinationPath: "real")
        let r = runResult(["merge-file", "lnk", "b", "t"], in: repo)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(text("real"), "z\na\nb\n")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: url("lnk").path), "real")
    }

    func testMergeFileMatchesGit() throws {
        guard hasGit else { throw XCTSkip("git is not on PATH: needed as the merge-file oracle") }
        var rng = SplitMix(seed: 1616)
        for round in 0..<12 {
            let b = randomLines(&rng, rng.int(0..<60))
            let o = edited(&rng, b), t = edited(&rng, b)
            write("base", b.joined(separator: "\n") + "\n")
            write("ours", o.joined(separator: "\n") + (round % 4 == 3 ? "" : "\n"))
            write("theirs", t.joined(separator: "\n") + "\n")
            for flags in [[], ["--diff3"], ["--union"]] {
                let mine = runResult(["merge-file", "-p"] + flags + ["ours", "base", "theirs"], in: repo)
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                p.arguments = ["git", "merge-file", "-p"] + flags + ["ours", "base", "theirs"]
                p.currentDirectoryURL = repo
                let pipe = Pipe(); p.standardOutput = pipe; p.standardError = FileHandle.nullDevice
                try p.run()
                let g = pipe.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                XCTAssertEqual(mine.outData, g, "round \(round) \(flags)")
                XCTAssertEqual(mine.code, p.terminationStatus, "round \(round) \(flags)")
            }
        }
    }
}
