import Foundation
import XCTest
import TestHelpers
import Store
import Support

/// Review findings on `merge`: refusals before anything is written, hostile index paths,
/// detached fast-forwards, `--abort` keeping later edits, criss-cross virtual bases against
/// git, ignored conflicted files, same-content add/add, leftovers of file/folder conflicts,
/// and `checkout --conflict` labels.
final class MergeReviewTests: CLITestCase {
    func diverge(base: [String: String], theirs: () -> Void, ours: () -> Void) {
        ok("init")
        for (p, t) in base { write(p, t) }
        ok("add", ".")
        commit("base")
        ok("switch", "-c", "feature")
        theirs()
        ok("add", ".")
        commit("theirs")
        ok("switch", "main")
        ours()
        ok("add", ".")
        commit("ours")
    }

    func snapshot() -> [String: Data] {
        var s = listFiles()
        for f in ["index", "HEAD", "refs/heads/main", "MERGE_HEAD", "MERGE_MSG", "MERGE_MODE"] {
            if let d = try? Data(contentsOf: url(".mlrepo/" + f)) { s[".mlrepo/" + f] = d }
        }
        return s
    }

    // Finding 1: an untracked file inside a folder where the merge writes a file.
    func testUntrackedFolderInTheWayIsRefusedBeforeAnythingIsWritten() throws {
        diverge(base: ["a.txt": "a\n"], theirs: { write("data", "d\n"); write("z.txt", "z\n") }, ours: { write("a.txt", "a ours\n") })
        write("data/notes.txt", "x\n")
        let before = snapshot()
        let r = fails(1, "merge", "feature")
        XCTAssertTrue(r.err.contains("Updating the following directories would lose untracked files in them: data"), r.err)
        XCTAssertFalse(r.err.contains("--force"), "no advice that does not exist: \(r.err)")
        XCTAssertEqual(snapshot(), before, "nothing was written")
        // `commit` then has nothing to conclude: no merge commit without the other side.
        fails(1, "commit", "-m", "x")
        XCTAssertEqual(runResult(["rev-parse", "HEAD^2"]).code == 0, false)
        // Moved away, the merge goes through.
        remove("data")
        ok("merge", "feature")
        XCTAssertEqual(text("data"), "d\n"); XCTAssertEqual(text("z.txt"), "z\n")
        XCTAssertEqual(revParse("HEAD^2"), revParse("feature"))
    }

    // The same in a fast-forward: refused, with advice that exists for merge.
    func testFastForwardRefusalGivesMergeAdvice() throws {
        ok("init")
        write("a.txt", "a\n"); ok("add", "."); commit("one")
        ok("switch", "-c", "f"); write("data", "d\n"); write("z.txt", "z\n"); ok("add", "."); commit("two")
        ok("switch", "main")
        write("data/notes.txt", "x\n")
        let before = snapshot()
        let r = fails(1, "merge", "f")
        XCTAssertTrue(r.err.contains("untracked files would be overwritten by the merge: data"), r.err)
        XCTAssertFalse(r.err.contains("--force"), r.err)
        XCTAssertEqual(snapshot(), before)
    }

    // Finding 1, second way: a file/folder conflict whose `NAME~HEAD` name is too long.
    func testOverlongAsideNameIsRefusedBeforeAnythingIsWritten() throws {
        let n = String(repeating: "n", count: 253)
        diverge(base: ["a.txt": "a\n"], theirs: { write(n + "/x.txt", "x\n") }, ours: { write(n, "a file\n") })
        let before = snapshot()
        let r = fails(1, "merge", "feature")
        XCTAssertTrue(r.err.contains("unsafe or too long") && r.err.contains("(258 bytes)"), r.err)
        XCTAssertEqual(snapshot(), before, "nothing was written")
        XCTAssertEqual(text(n), "a file\n")
        XCTAssertTrue(status().clean)
    }

    // Finding 1, the rest: a write that fails part-way (a damaged object) puts back what
    // was written and leaves no merge state behind.
    func testFailureMidWriteRollsBack() throws {
        diverge(base: ["a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n"], theirs: {
            write("a.txt", "a theirs\n"); write("b.txt", "UNIQUEMARKER theirs\n")
        }, ours: { write("c.txt", "c ours\n") })
        // Damage b.txt's new content in its (uncompressed) pack.
        let packs = try FileManager.default.contentsOfDirectory(atPath: url(".mlrepo/objects/pack").path).filter { $0.hasSuffix(".pack") }
        var damaged = 0
        for p in packs {
            var d = [UInt8](try Data(contentsOf: url(".mlrepo/objects/pack/" + p)))
            let m = Array("UNIQUEMARKER theirs".utf8)
            guard d.count >= m.count else { continue }
            for i in 0...(d.count - m.count) where Array(d[i..<(i + m.count)]) == m { d[i] = UInt8(ascii: "V"); damaged += 1 }
            try Data(d).write(to: url(".mlrepo/objects/pack/" + p))
        }
        guard damaged > 0 else { throw XCTSkip("the pack is compressed; cannot damage the object in place") }
        let before = snapshot()
        let r = fails(1, "merge", "feature")
        XCTAssertTrue(r.err.contains("corrupt"), r.err)
        XCTAssertEqual(snapshot(), before, "a.txt put back, no MERGE_HEAD/MERGE_MSG/MERGE_MODE, index as it was")
        XCTAssertTrue(status().clean)
        fails(1, "commit", "-m", "x")
    }

    // MERGE_HEAD is written last: a merge stopped before it (killed) is an interrupted
    // merge that status reports, commit and merge refuse, and abort undoes.
    func testInterruptedMergeWithoutMergeHead() throws {
        diverge(base: ["t.txt": "1\n", "u.txt": "u\n"], theirs: { write("t.txt", "1 theirs\n"); write("u.txt", "u theirs\n") },
                ours: { write("t.txt", "1 ours\n") })
        let before = listFiles()
        fails(1, "merge", "feature")
        remove(".mlrepo/MERGE_HEAD")
        let j = json(ok("status", "--json")) as? [String: Any]
        XCTAssertEqual(j?["merge_interrupted"] as? Bool, true)
        XCTAssertTrue(ok("status").contains("A merge was interrupted"))
        write("t.txt", "fixed\n"); ok("add", "t.txt")
        XCTAssertTrue(fails(1, "commit", "-m", "x").err.contains("merge --abort"))
        XCTAssertTrue(fails(1, "merge", "feature").err.contains("merge --abort"))
        ok("merge", "--abort")
        XCTAssertEqual(listFiles(), before)
        XCTAssertTrue(status().clean)
    }

    // An unsafe entry in MERGE_MODE's touched list is skipped by `merge --abort`; the
    // other paths are still put back.
    func testAbortSkipsOnlyTheUnsafeTouchedPaths() throws {
        diverge(base: ["t.txt": "1\n"], theirs: { write("t.txt", "1 theirs\n"); write("z.txt", "z\n") }, ours: { write("t.txt", "1 ours\n") })
        let before = listFiles()
        let index = try XCTUnwrap(read(".mlrepo/index"))
        fails(1, "merge", "feature")
        try index.write(to: url(".mlrepo/index"))  // killed before the index was written
        write(".mlrepo/MERGE_MODE", "{\"touched\": [\"../escape\", \"t.txt\", \"z.txt\"]}")
        ok("merge", "--abort")
        XCTAssertEqual(listFiles(), before)
        XCTAssertTrue(status().clean)
    }

    /// Rewrites every occurrence of `from` (a path in the index) to `to` (same length) and
    /// fixes the SHA-256 trailer.
    func rewriteIndexPath(_ from: String, _ to: String) throws {
        precondition(from.utf8.count == to.utf8.count)
        var b = [UInt8](try XCTUnwrap(read(".mlrepo/index"))).dropLast(32).map { $0 }
        let f = Array(from.utf8), t = Array(to.utf8)
        var i = 0, n = 0
        while i + f.count <= b.count {
            if Array(b[i..<(i + f.count)]) == f { b.replaceSubrange(i..<(i + f.count), with: t); n += 1; i += f.count } else { i += 1 }
        }
        XCTAssertGreaterThan(n, 0)
        b += SHA256Hasher.digest(b)
        try Data(b).write(to: url(".mlrepo/index"))
    }

    // Finding 2: index paths are validated; `merge --abort` deletes nothing outside.
    func testHostileIndexPathsAreRefused() throws {
        for (name, evil) in [("abcdefghijkl", "../victim.xy"), ("abcdefghijkl", ".mlrepo/HEAD")] {
            try? FileManager.default.removeItem(at: repo); try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
            diverge(base: [name: "1\n"], theirs: { write(name, "1 theirs\n") }, ours: { write(name, "1 ours\n") })
            fails(1, "merge", "feature")
            let victim = base.appendingPathComponent("victim.xy")
            try Data("precious\n".utf8).write(to: victim)
            let head = try XCTUnwrap(read(".mlrepo/HEAD"))
            try rewriteIndexPath(name, evil)
            let r = fails(1, "merge", "--abort")
            XCTAssertTrue(r.err.contains("index is corrupt") && r.err.contains("unsafe path"), r.err)
            XCTAssertTrue(FileManager.default.fileExists(atPath: victim.path), "nothing outside the work tree is deleted")
            XCTAssertEqual(read(".mlrepo/HEAD"), head)
            XCTAssertTrue(fails(1, "status").err.contains("unsafe path"))
        }
    }

    // Finding 3: a fast-forward on a detached HEAD moves HEAD.
    func testFastForwardOnDetachedHeadMovesHead() throws {
        ok("init")
        write("a.txt", "1\n"); ok("add", "."); let c1 = commit("one")
        ok("switch", "-c", "f")
        write("a.txt", "2\n"); ok("add", "."); let c2 = commit("two")
        ok("checkout", c1)
        let r = runResult(["merge", "f"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("Fast-forward"), r.out)
        XCTAssertEqual(revParse("HEAD"), c2)
        XCTAssertEqual(text("a.txt"), "2\n")
        XCTAssertTrue(status().clean)
        XCTAssertEqual(revParse("main"), c1, "no branch moved")
    }

    // Finding 4: `merge --abort` refuses to throw away edits made after the merge.
    func testAbortKeepsEditsToMergedFiles() throws {
        diverge(base: ["a.txt": "a\n", "b.txt": "b\n"], theirs: { write("a.txt", "a theirs\n") }, ours: { write("b.txt", "b ours\n") })
        ok("merge", "--no-commit", "feature")
        write("a.txt", "a theirs\nedit\n")
        let before = snapshot()
        let r = fails(1, "merge", "--abort")
        XCTAssertTrue(r.err.contains("Entry 'a.txt' not uptodate"), r.err)
        XCTAssertEqual(snapshot(), before, "nothing was changed")
        // Put back as merged, the abort goes through.
        write("a.txt", "a theirs\n")
        ok("merge", "--abort")
        XCTAssertEqual(text("a.txt"), "a\n")
        XCTAssertTrue(status().clean)
    }

    // Finding 5: criss-cross histories; the virtual base keeps the base version of a binary
    // conflict and of a modify/delete, as git does (the final merge conflicts).
    func testCrissCrossBinaryAndModifyDeleteMatchGit() throws {
        guard tool(["git", "--version"]).code == 0 else { throw XCTSkip("git is not installed") }
        let g = dir("git")
        func git(_ a: String...) -> String {
            let r = tool(["git", "-C", g.path, "-c", "user.name=T", "-c", "user.email=t@t"] + a)
            return r.out
        }
        func both(_ p: String, _ d: Data?) {
            if let d { write(p, d); try! d.write(to: g.appendingPathComponent(p)) } else { remove(p); try? FileManager.default.removeItem(at: g.appendingPathComponent(p)) }
        }
        func bin(_ s: String) -> Data { Data([0, 1, 2]) + Data(s.utf8) }
        _ = git("init", "-q", "-b", "main")
        ok("init")
        both("bin", bin("B0")); both("f.txt", Data("f0\n".utf8))
        ok("add", "."); commit("base"); _ = git("add", "."); _ = git("commit", "-qm", "base")
        ok("switch", "-c", "b"); _ = git("checkout", "-qb", "b")
        both("bin", bin("B2")); both("f.txt", nil)
        ok("add", "."); commit("b1"); _ = git("add", "-A"); _ = git("commit", "-qm", "b1")
        ok("switch", "main"); _ = git("checkout", "-q", "main")
        both("bin", bin("B1")); both("f.txt", Data("f1\n".utf8))
        ok("add", "."); commit("a1"); _ = git("add", "-A"); _ = git("commit", "-qm", "a1")
        let a1 = revParse("main"), b1 = revParse("b")
        let ga1 = git("rev-parse", "main").trimmingCharacters(in: .whitespacesAndNewlines)
        let gb1 = git("rev-parse", "b").trimmingCharacters(in: .whitespacesAndNewlines)
        // main merges b1 keeping its own bin and f.txt.
        fails(1, "merge", b1); _ = git("merge", "-q", gb1)
        ok("add", "bin", "f.txt"); commit("m1"); _ = git("add", "bin", "f.txt"); _ = git("commit", "-qm", "m1")
        // b merges a1 keeping its own bin and no f.txt.
        ok("switch", "b"); _ = git("checkout", "-q", "b")
        fails(1, "merge", a1); _ = git("merge", "-q", ga1)
        ok("add", "bin"); ok("rm", "f.txt"); commit("m2")
        _ = git("add", "bin"); _ = git("rm", "-q", "f.txt"); _ = git("commit", "-qm", "m2")
        ok("switch", "main"); _ = git("checkout", "-q", "main")
        fails(1, "merge", "b"); _ = git("merge", "-q", "b")
        let gitStatus = git("status", "--porcelain").split(separator: "\n").map(String.init).sorted()
        let ours = ok("status", "--short").split(separator: "\n").map(String.init).sorted()
        XCTAssertEqual(gitStatus, ["UD f.txt", "UU bin"], "git's view")
        XCTAssertEqual(ours, gitStatus)
    }

    // Finding 6: `add .` stages a conflicted tracked-but-ignored file, not its deletion.
    func testAddResolvesIgnoredConflictedFile() throws {
        ok("init")
        write(".mlrepoignore", "*.log\n"); write("w.log", "w\n")
        ok("add", "."); ok("add", "--force", "w.log"); commit("base")
        ok("switch", "-c", "feature"); write("w.log", "w theirs\n"); ok("add", "w.log"); commit("theirs")
        ok("switch", "main"); write("w.log", "w ours\n"); ok("add", "w.log"); commit("ours")
        ok("switch", "-c", "g"); ok("switch", "main")
        fails(1, "merge", "feature")
        write("w.log", "resolved\n")
        ok("add", ".")
        XCTAssertEqual(stagedW(), "modified")
        ok("commit", "-m", "merged")
        XCTAssertTrue(ok("ls-tree", "-r", "HEAD").contains("w.log"))
        XCTAssertTrue(status().clean)
        // The explicit form is not "ignored" either.
        ok("switch", "g"); write("w.log", "g\n"); ok("add", "w.log"); commit("g")
        ok("switch", "main"); fails(1, "merge", "g")
        write("w.log", "again\n")
        let r = runResult(["add", "w.log"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertFalse(r.err.contains("ignored"), r.err)
        XCTAssertEqual(stagedW(), "modified")
    }

    func stagedW() -> String? {
        let j = json(ok("status", "--json")) as? [String: Any]
        let staged = j?["staged"] as? [[String: String]] ?? []
        return staged.first { $0["path"] == "w.log" }?["status"]
    }

    // Finding 7: add/add with the same content but different modes conflicts, as in git.
    func testAddAddSameContentDifferentModesConflicts() throws {
        diverge(base: ["a.txt": "a\n"], theirs: {
            write("run.sh", "echo\n")
            try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url("run.sh").path)
        }, ours: { write("run.sh", "echo\n") })
        let r = fails(1, "merge", "feature")
        XCTAssertTrue(r.out.contains("CONFLICT (add/add): Merge conflict in run.sh"), r.out)
        XCTAssertEqual(ok("status", "--short"), "AA run.sh\n")
    }

    // Finding 9: reset --hard and checkout -f remove the file a file/folder conflict moved aside.
    func testResetHardAndForcedCheckoutRemoveAsideFiles() throws {
        diverge(base: ["a.txt": "a\n"], theirs: { write("p/x.txt", "x\n") }, ours: { write("p", "a file\n") })
        for end in [["reset", "--hard"], ["checkout", "-f", "main"]] {
            fails(1, "merge", "feature")
            XCTAssertEqual(text("p~HEAD"), "a file\n")
            ok(end)
            XCTAssertFalse(exists("p~HEAD"), "\(end)")
            XCTAssertEqual(text("p"), "a file\n")
            XCTAssertTrue(status().clean, "\(end)")
        }
    }

    // Finding 10: `checkout --conflict=diff3` labels the base as the merge did.
    func testCheckoutConflictUsesTheMergesBaseLabel() throws {
        diverge(base: ["t.txt": "1\n"], theirs: { write("t.txt", "1 theirs\n") }, ours: { write("t.txt", "1 ours\n") })
        let b = String(revParse("main~1").prefix(7))
        fails(1, "merge", "--conflict=diff3", "feature")
        let merged = text("t.txt")
        XCTAssertTrue(merged?.contains("||||||| \(b)\n") == true, merged ?? "")
        // MERGE_MODE records the label (.mlrepo-format.md §1).
        let mode = json(text(".mlrepo/MERGE_MODE") ?? "") as? [String: Any]
        XCTAssertEqual(mode?["base_label"] as? String, b)
        XCTAssertEqual(mode?["label"] as? String, "feature")
        XCTAssertEqual(mode?["touched"] as? [String], ["t.txt"])
        write("t.txt", "scratch\n")
        ok("checkout", "--conflict=diff3", "t.txt")
        XCTAssertEqual(text("t.txt"), merged)
    }

    // Finding 10: `checkout --conflict` re-merges a table row by row (mergeTable), as the
    // merge did.
    func testCheckoutConflictRemergesTablesByRow() throws {
        diverge(base: ["t.csv": "id,v\n1,a\n2,b\n3,c\n"], theirs: { write("t.csv", "id,v\n1,a\n2,THEIRS\n3,c\n4,d\n") },
                ours: { write("t.csv", "id,v\n0,z\n1,a\n2,OURS\n3,c\n") })
        let r = fails(1, "merge", "feature")
        XCTAssertTrue(r.out.contains("CONFLICT (rows)"), r.out)
        let merged = text("t.csv")
        write("t.csv", "scratch\n")
        // The table merge is redone (its markers are the merge's), not a diff3 of the
        // whole file's lines.
        ok("checkout", "--conflict=diff3", "t.csv")
        XCTAssertEqual(text("t.csv"), merged)
    }
}

extension MergeReviewTests {
    func ok(_ args: [String], file: StaticString = #filePath, line: UInt = #line) {
        let r = runResult(args)
        XCTAssertEqual(r.code, 0, "\(args): \(r.err)", file: file, line: line)
    }
}
