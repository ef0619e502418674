import Foundation
import XCTest
import TestHelpers
import Store
import Support

/// `merge` end to end: fast-forwards, three-way merges, conflicts in the index and their
/// resolution, refusals that change nothing, `--abort`, criss-cross histories.
final class MergeTests: CLITestCase {
    /// base commit on main; `theirs` applied on branch feature; `ours` applied on main.
    /// Each closure edits the work tree; everything is then added and committed.
    func diverge(base: [String: String], theirs: () -> Void, ours: () -> Void) -> (base: String, theirs: String, ours: String) {
        ok("init")
        for (p, t) in base { write(p, t) }
        ok("add", ".")
        let b = commit("base")
        ok("switch", "-c", "feature")
        theirs()
        ok("add", ".")
        let t = commit("theirs")
        ok("switch", "main")
        ours()
        ok("add", ".")
        let o = commit("ours")
        return (b, t, o)
    }

    /// A snapshot of the work tree and of the repository's state files.
    func snapshot() -> [String: Data] {
        var s = listFiles()
        for f in ["index", "HEAD", "refs/heads/main", "MERGE_HEAD", "MERGE_MSG", "MERGE_MODE"] {
            if let d = try? Data(contentsOf: url(".mlrepo/" + f)) { s[".mlrepo/" + f] = d }
        }
        return s
    }

    /// The files of a commit (`ls-tree -r`, last column).
    func treePaths(_ rev: String) -> [String] {
        ok("ls-tree", "-r", rev).split(separator: "\n").filter { $0.hasPrefix("100") }.compactMap { $0.split(separator: "\t").last.map(String.init) }
    }

    func statusJSON() -> [String: Any] { json(ok("status", "--json")) as? [String: Any] ?? [:] }

    func testFastForwardNoFFAndFFOnly() throws {
        ok("init")
        write("a.txt", "1\n")
        ok("add", "."); let c1 = commit("one")
        ok("switch", "-c", "f1")
        write("a.txt", "2\n"); write("new/b.txt", "b\n")
        ok("add", "."); let c2 = commit("two")
        ok("switch", "main")
        // --ff-only fast-forwards.
        var r = runResult(["merge", "--ff-only", "f1"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("Updating \(c1.prefix(12))..\(c2.prefix(12))\nFast-forward"), r.out)
        XCTAssertEqual(revParse("HEAD"), c2)
        XCTAssertEqual(text("a.txt"), "2\n"); XCTAssertEqual(text("new/b.txt"), "b\n")
        XCTAssertTrue(status().clean)
        XCTAssertEqual(text(".mlrepo/ORIG_HEAD"), c1 + "\n")
        // Already merged.
        XCTAssertEqual(ok("merge", "f1"), "Already up to date.\n")
        // --no-ff makes a merge commit even when a fast-forward is possible.
        ok("switch", "-c", "f2")
        write("c.txt", "c\n"); ok("add", "."); let c3 = commit("three")
        ok("switch", "main")
        r = runResult(["merge", "--no-ff", "f2"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("Merge made by the three-way strategy"), r.out)
        XCTAssertEqual(revParse("HEAD^1"), c2)
        XCTAssertEqual(revParse("HEAD^2"), c3)
        XCTAssertEqual(ok("cat-object", "-p", "HEAD").contains("Merge branch 'f2'"), true)
        XCTAssertEqual(text("c.txt"), "c\n")
        XCTAssertTrue(status().clean)
        // Diverged: --ff-only refuses and changes nothing.
        ok("switch", "-c", "f3", "HEAD~1")
        write("d.txt", "d\n"); ok("add", "."); commit("four")
        ok("switch", "main")
        let before = snapshot()
        r = fails(1, "merge", "--ff-only", "f3")
        XCTAssertTrue(r.err.contains("not possible to fast-forward"), r.err)
        XCTAssertEqual(snapshot(), before)
        fails(2, "merge", "--ff-only", "--no-ff", "f3")
    }

    func testCleanMergeOfDifferentFilesCommitsWithTwoParents() throws {
        let h = diverge(base: ["a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n", "run.sh": "echo 1\n"], theirs: {
            write("b.txt", "b theirs\n"); remove("c.txt"); write("d/new.txt", "new\n")
            chmod(url("run.sh").path, 0o755)
        }, ours: {
            write("a.txt", "a ours\n"); write("run.sh", "echo 2\n")
        })
        let r = runResult(["merge", "feature"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("Merge made by the three-way strategy"), r.out)
        XCTAssertEqual(revParse("HEAD^1"), h.ours)
        XCTAssertEqual(revParse("HEAD^2"), h.theirs)
        XCTAssertEqual(text("a.txt"), "a ours\n"); XCTAssertEqual(text("b.txt"), "b theirs\n")
        XCTAssertFalse(exists("c.txt")); XCTAssertEqual(text("d/new.txt"), "new\n")
        // The executable bit from theirs, the content from ours.
        XCTAssertEqual(text("run.sh"), "echo 2\n")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: url("run.sh").path))
        XCTAssertTrue(status().clean)
        XCTAssertFalse(exists(".mlrepo/MERGE_HEAD"))
        XCTAssertTrue(ok("cat-object", "-p", "HEAD").contains("\n\nMerge branch 'feature'\n"))
        // --json of an up-to-date merge.
        let j = json(ok("merge", "--json", "feature")) as? [String: Any]
        XCTAssertEqual(j?["status"] as? String, "up-to-date")
    }

    func testCleanLineMerge() throws {
        let base = (1...30).map { "line \($0)\n" }.joined()
        let h = diverge(base: ["t.txt": base], theirs: {
            write("t.txt", base.replacingOccurrences(of: "line 25\n", with: "line 25 theirs\n"))
        }, ours: {
            write("t.txt", base.replacingOccurrences(of: "line 3\n", with: "line 3 ours\n"))
        })
        let r = runResult(["merge", "feature", "--no-commit"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("Auto-merging t.txt\n"), r.out)
        XCTAssertEqual(text("t.txt"), base.replacingOccurrences(of: "line 3\n", with: "line 3 ours\n").replacingOccurrences(of: "line 25\n", with: "line 25 theirs\n"))
        // --no-commit: staged, MERGE_HEAD waits; commit concludes with the prepared message.
        XCTAssertEqual(text(".mlrepo/MERGE_HEAD"), h.theirs + "\n")
        XCTAssertEqual((statusJSON()["staged"] as? [[String: String]]) ?? [], [["path": "t.txt", "status": "modified"]])
        let id = ok("merge", "--continue").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(revParse("HEAD"), id)
        XCTAssertEqual(revParse("HEAD^2"), h.theirs)
    }

    func testTextConflictStatusSidesAndCommit() throws {
        let h = diverge(base: ["t.txt": "one\ntwo\nthree\n", "other.txt": "o\n"], theirs: {
            write("t.txt", "one\nTWO theirs\nthree\n"); write("other.txt", "o theirs\n")
        }, ours: {
            write("t.txt", "one\nTWO ours\nthree\n")
        })
        let r = fails(1, "merge", "feature")
        XCTAssertEqual(r.out, "Auto-merging t.txt\nCONFLICT (content): Merge conflict in t.txt\nAutomatic merge failed; fix conflicts and then commit the result.\n")
        let t = text("t.txt") ?? ""
        XCTAssertTrue(t.contains("<<<<<<< HEAD\n") && t.contains("=======\n") && t.contains(">>>>>>> feature\n"), t)
        XCTAssertTrue(t.contains("TWO ours") && t.contains("TWO theirs"), t)
        XCTAssertEqual(text("other.txt"), "o theirs\n", "the clean part is merged")
        // status: the unmerged path with its kind, the merge in progress, the clean path staged.
        let s = statusJSON()
        XCTAssertEqual(s["merging"] as? String, h.theirs)
        XCTAssertEqual((s["unmerged"] as? [[String: String]]) ?? [], [["path": "t.txt", "kind": "both modified"]])
        XCTAssertEqual((s["staged"] as? [[String: String]]) ?? [], [["path": "other.txt", "status": "modified"]])
        XCTAssertEqual((s["untracked"] as? [String]) ?? ["?"], [])
        let human = ok("status")
        XCTAssertTrue(human.contains("You have unmerged paths.") && human.contains("both modified:   t.txt"), human)
        XCTAssertTrue(ok("status", "-s").contains("UU t.txt"))
        // The index holds the three stages (format version 2).
        let idx = try XCTUnwrap(read(".mlrepo/index"))
        XCTAssertEqual(Array(idx[8..<12]), [2, 0, 0, 0])
        // commit refuses while unmerged, naming the path.
        let c = fails(1, "commit", "-m", "x")
        XCTAssertTrue(c.err.contains("unmerged") && c.err.contains("t.txt"), c.err)
        // Sides.
        ok("checkout", "--ours", "t.txt")
        XCTAssertEqual(text("t.txt"), "one\nTWO ours\nthree\n")
        ok("checkout", "--theirs", "--", "t.txt")
        XCTAssertEqual(text("t.txt"), "one\nTWO theirs\nthree\n")
        XCTAssertEqual((statusJSON()["unmerged"] as? [Any])?.count, 1, "still unmerged until added")
        ok("checkout", "--conflict=diff3", "t.txt")
        XCTAssertTrue(text("t.txt")?.contains("||||||| ") == true)
        fails(1, "checkout", "--ours", "other.txt")  // not unmerged
        // Resolve by hand and conclude with the prepared message.
        write("t.txt", "one\nTWO both\nthree\n")
        ok("add", "t.txt")
        let s2 = statusJSON()
        XCTAssertNil(s2["unmerged"]); XCTAssertEqual(s2["merging"] as? String, h.theirs)
        XCTAssertEqual(Array(try XCTUnwrap(read(".mlrepo/index"))[8..<12]), [1, 0, 0, 0], "no stages left: version 1")
        let id = ok("commit").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(isHexId(id))
        XCTAssertEqual(revParse("HEAD^1"), h.ours)
        XCTAssertEqual(revParse("HEAD^2"), h.theirs)
        let msg = ok("cat-object", "-p", "HEAD")
        XCTAssertTrue(msg.hasSuffix("\n\nMerge branch 'feature'\n"), msg)
        XCTAssertTrue(status().clean)
        XCTAssertFalse(exists(".mlrepo/MERGE_HEAD") || exists(".mlrepo/MERGE_MSG") || exists(".mlrepo/MERGE_MODE"))
        XCTAssertEqual(text("t.txt"), "one\nTWO both\nthree\n")
    }

    func testDiff3StyleAndJSON() throws {
        let h = diverge(base: ["t.txt": "a\nbase\nz\n"], theirs: { write("t.txt", "a\ntheirs\nz\n") }, ours: { write("t.txt", "a\nours\nz\n") })
        let r = fails(1, "merge", "--conflict=diff3", "--json", "feature")
        let j = json(r.out) as? [String: Any]
        XCTAssertEqual(j?["status"] as? String, "conflicts")
        XCTAssertEqual(j?["base"] as? String, h.base)
        XCTAssertTrue(j?["commit"] is NSNull)
        let cs = j?["conflicts"] as? [[String: Any]]
        XCTAssertEqual(cs?.count, 1)
        XCTAssertEqual(cs?.first?["path"] as? String, "t.txt")
        XCTAssertEqual(cs?.first?["kind"] as? String, "both modified")
        let t = text("t.txt") ?? ""
        XCTAssertTrue(t.contains("<<<<<<< HEAD\n") && t.contains("||||||| ") && t.contains("base\n") && t.contains(">>>>>>> feature\n"), t)
        // A second merge is refused while this one is in progress.
        let again = fails(1, "merge", "feature")
        XCTAssertTrue(again.err.contains("merge is in progress"), again.err)
    }

    func testModifyDeleteBothWays() throws {
        _ = diverge(base: ["m.txt": "m\n", "n.txt": "n\n"], theirs: {
            remove("m.txt"); write("n.txt", "n theirs\n")
        }, ours: {
            write("m.txt", "m ours\n"); remove("n.txt")
        })
        let r = fails(1, "merge", "feature")
        XCTAssertTrue(r.out.contains("CONFLICT (modify/delete): m.txt deleted in feature and modified in HEAD. Version HEAD of m.txt left in tree."), r.out)
        XCTAssertTrue(r.out.contains("CONFLICT (modify/delete): n.txt deleted in HEAD and modified in feature. Version feature of n.txt left in tree."), r.out)
        XCTAssertEqual(text("m.txt"), "m ours\n")
        XCTAssertEqual(text("n.txt"), "n theirs\n")
        let kinds = Dictionary(uniqueKeysWithValues: ((statusJSON()["unmerged"] as? [[String: String]]) ?? []).map { ($0["path"]!, $0["kind"]!) })
        XCTAssertEqual(kinds, ["m.txt": "deleted by them", "n.txt": "deleted by us"])
        fails(1, "checkout", "--theirs", "m.txt")  // theirs deleted it
        ok("rm", "m.txt")  // resolved as deleted
        ok("add", "n.txt")  // resolved as kept
        ok("commit", "-m", "resolved")
        XCTAssertFalse(exists("m.txt")); XCTAssertEqual(text("n.txt"), "n theirs\n")
        XCTAssertEqual(treePaths("HEAD"), ["n.txt"])
        XCTAssertTrue(status().clean)
    }

    func testBothAddedAndBinaryConflictKeepsOurs() throws {
        var g = SplitMix(seed: 16)
        var ours = g.data(3000), theirs = g.data(3000)
        ours[10] = 0; theirs[10] = 0
        _ = diverge(base: ["keep.txt": "k\n"], theirs: {
            write("new.txt", "new theirs\n"); write("model.bin", theirs)
        }, ours: {
            write("new.txt", "new ours\n"); write("model.bin", ours)
        })
        let r = fails(1, "merge", "feature")
        XCTAssertTrue(r.out.contains("CONFLICT (add/add): Merge conflict in new.txt"), r.out)
        XCTAssertTrue(r.out.contains("warning: Cannot merge binary files: model.bin (HEAD vs. feature)"), r.out)
        XCTAssertEqual(read("model.bin"), ours, "the work tree keeps ours")
        let t = text("new.txt") ?? ""
        XCTAssertTrue(t.contains("<<<<<<< HEAD\nnew ours\n=======\nnew theirs\n>>>>>>> feature\n"), t)
        let kinds = Dictionary(uniqueKeysWithValues: ((statusJSON()["unmerged"] as? [[String: String]]) ?? []).map { ($0["path"]!, $0["kind"]!) })
        XCTAssertEqual(kinds, ["new.txt": "both added", "model.bin": "both added"])
        // gc during the merge keeps every stage (pinned), and fsck finds nothing wrong.
        ok("gc")
        ok("fsck")
        ok("checkout", "--theirs", "model.bin")
        XCTAssertEqual(read("model.bin"), theirs)
        ok("checkout", "--ours", "new.txt")
        ok("add", "model.bin", "new.txt")
        ok("commit")
        XCTAssertEqual(read("model.bin"), theirs); XCTAssertEqual(text("new.txt"), "new ours\n")
    }

    func testTableConflictReportedByRowAndResolvedPerSide() throws {
        let header = "id,x,label\n"
        let rows = (1...10).map { "\($0),\($0 * 10),a\n" }
        func table(_ edit: (inout [String]) -> Void) -> String { var r = rows; edit(&r); return header + r.joined() }
        _ = diverge(base: ["t.csv": table { _ in }], theirs: {
            write("t.csv", table { $0[1] = "2,20,theirs\n"; $0[4] = "5,50,theirs\n" })
        }, ours: {
            write("t.csv", table { $0[1] = "2,20,ours\n"; $0[7] = "8,80,ours\n" })
        })
        let r = fails(1, "merge", "feature")
        let line = r.out.split(separator: "\n").first { $0.hasPrefix("CONFLICT") }.map(String.init) ?? ""
        XCTAssertTrue(line.hasPrefix("CONFLICT (rows): ") && line.contains(" of t.csv changed on both sides: rows "), r.out)
        XCTAssertEqual((statusJSON()["unmerged"] as? [[String: String]]) ?? [], [["path": "t.csv", "kind": "both modified"]])
        ok("checkout", "--theirs", "t.csv")
        let theirsPick = text("t.csv")
        ok("checkout", "--ours", "t.csv")
        let oursPick = text("t.csv")
        XCTAssertTrue(line.contains("1 row of t.csv changed on both sides: rows 2"), line)
        // Each conflicting row from the chosen side, every other change merged.
        XCTAssertEqual(theirsPick, table { $0[1] = "2,20,theirs\n"; $0[4] = "5,50,theirs\n"; $0[7] = "8,80,ours\n" })
        XCTAssertEqual(oursPick, table { $0[1] = "2,20,ours\n"; $0[4] = "5,50,theirs\n"; $0[7] = "8,80,ours\n" })
        ok("add", "t.csv"); ok("commit")
        XCTAssertEqual(text("t.csv"), oursPick)
    }

    func testCleanTableMerge() throws {
        let header = "id,x,label\n"
        let rows = (1...50).map { "\($0),\($0 * 10),a\n" }
        _ = diverge(base: ["t.csv": header + rows.joined()], theirs: {
            var r = rows; r[40] = "41,410,b\n"; r.append("51,510,new\n"); write("t.csv", header + r.joined())
        }, ours: {
            var r = rows; r[2] = "3,30,b\n"; write("t.csv", header + r.joined())
        })
        let r = runResult(["merge", "feature"])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        var want = rows; want[2] = "3,30,b\n"; want[40] = "41,410,b\n"; want.append("51,510,new\n")
        XCTAssertEqual(text("t.csv"), header + want.joined())
        XCTAssertEqual(revParse("HEAD^2"), revParse("feature"))
    }

    func testRefusalWithLocalChangesChangesNothing() throws {
        _ = diverge(base: ["t.txt": "t\n", "u.txt": "u\n", "free.txt": "f\n"], theirs: {
            write("t.txt", "t theirs\n"); write("added.txt", "added theirs\n")
        }, ours: {
            write("u.txt", "u ours\n")
        })
        // An unstaged change to a path the merge writes.
        write("t.txt", "t local\n")
        var before = snapshot()
        var r = fails(1, "merge", "feature")
        XCTAssertTrue(r.err.contains("would be overwritten by the merge: t.txt"), r.err)
        XCTAssertEqual(snapshot(), before)
        ok("checkout", "-f", "HEAD", "--", "t.txt")
        // A staged change anywhere.
        write("free.txt", "f staged\n"); ok("add", "free.txt")
        before = snapshot()
        r = fails(1, "merge", "feature")
        XCTAssertTrue(r.err.contains("staged changes") && r.err.contains("free.txt"), r.err)
        XCTAssertEqual(snapshot(), before)
        ok("reset", "--hard")
        // An untracked file where the merge adds one.
        write("added.txt", "mine\n")
        before = snapshot()
        r = fails(1, "merge", "feature")
        XCTAssertTrue(r.err.contains("untracked") && r.err.contains("added.txt"), r.err)
        XCTAssertEqual(snapshot(), before)
        remove("added.txt")
        // A local change to a path the merge does not touch is kept.
        write("free.txt", "f local\n")
        XCTAssertEqual(runResult(["merge", "feature"]).code, 0)
        XCTAssertEqual(text("free.txt"), "f local\n")
        XCTAssertEqual(text("t.txt"), "t theirs\n")
        XCTAssertEqual(status().unstaged, ["free.txt": "modified"])
    }

    func testAbortRestoresExactly() throws {
        _ = diverge(base: ["t.txt": "1\n", "gone.txt": "g\n", "same.txt": "s\n"], theirs: {
            write("t.txt", "1 theirs\n"); remove("gone.txt"); write("dir/new.txt", "n\n")
        }, ours: {
            write("t.txt", "1 ours\n")
        })
        write("local.txt", "untracked, kept\n")
        write("same.txt", "local edit, kept\n")
        let before = listFiles()
        let st = ok("status", "--json")
        fails(1, "merge", "feature")
        XCTAssertNotEqual(listFiles(), before)
        let r = runResult(["merge", "--abort"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(listFiles(), before)
        XCTAssertEqual(ok("status", "--json"), st)
        XCTAssertFalse(exists(".mlrepo/MERGE_HEAD") || exists(".mlrepo/MERGE_MSG") || exists(".mlrepo/MERGE_MODE"))
        XCTAssertFalse(exists("dir"), "the folder the merge created is gone")
        XCTAssertTrue(fails(1, "merge", "--abort").err.contains("no merge to abort"))
    }

    func testFileFolderConflict() throws {
        _ = diverge(base: ["a.txt": "a\n"], theirs: { write("p/x.txt", "x\n") }, ours: { write("p", "a file\n") })
        let r = fails(1, "merge", "feature")
        XCTAssertTrue(r.out.contains("CONFLICT (file/directory): directory in the way of p from HEAD; moving it to p~HEAD instead."), r.out)
        XCTAssertEqual(text("p/x.txt"), "x\n")
        XCTAssertEqual(text("p~HEAD"), "a file\n")
        XCTAssertEqual((statusJSON()["unmerged"] as? [[String: String]]) ?? [], [["path": "p", "kind": "file/folder"]])
        // Keep the folder: `rm` of the file's path resolves just that file.
        ok("rm", "--cached", "p")
        XCTAssertNil(statusJSON()["unmerged"])
        ok("commit", "-m", "keep the folder")
        XCTAssertEqual(treePaths("HEAD"), ["a.txt", "p/x.txt"])
        XCTAssertEqual(text("p~HEAD"), "a file\n", "the moved file stays, untracked")
    }

    func testCrissCrossMergeUsesAVirtualBase() throws {
        ok("init")
        write("f1", "1\n"); write("f2", "2\n"); write("f3", "3\n")
        ok("add", "."); commit("base")
        ok("switch", "-c", "b")
        write("f2", "2b\n"); ok("add", "."); let b1 = commit("b1")
        ok("switch", "main")
        write("f1", "1a\n"); ok("add", "."); let a1 = commit("a1")
        // Criss-cross: each side merges the other's first commit.
        ok("merge", b1)
        ok("switch", "b")
        ok("merge", a1)
        write("f1", "1ab\n"); ok("add", "."); commit("b3")
        ok("switch", "main")
        write("f3", "3a\n"); ok("add", "."); commit("a3")
        let r = runResult(["merge", "--json", "b"])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        let j = json(r.out) as? [String: Any]
        XCTAssertEqual(Set((j?["bases"] as? [String]) ?? []), [a1, b1], "two best common ancestors")
        XCTAssertEqual(j?["status"] as? String, "merged")
        // Against either base alone f1 would conflict or lose a change; the virtual base
        // (a1 and b1 merged) has f1 = 1a, so b's 1ab wins cleanly.
        XCTAssertEqual(text("f1"), "1ab\n"); XCTAssertEqual(text("f2"), "2b\n"); XCTAssertEqual(text("f3"), "3a\n")
        XCTAssertTrue(status().clean)
    }

    func testInterruptedMergeCanBeAbortedOrConcluded() throws {
        _ = diverge(base: ["t.txt": "1\n", "u.txt": "u\n"], theirs: { write("t.txt", "1 theirs\n"); write("u.txt", "u theirs\n") },
                    ours: { write("t.txt", "1 ours\n") })
        let before = listFiles()
        let index = try XCTUnwrap(read(".mlrepo/index"))
        fails(1, "merge", "feature")
        // As if killed after the merge state and work files were written but before the
        // index: the old index comes back.
        try index.write(to: url(".mlrepo/index"))
        let s = statusJSON()
        XCTAssertNotNil(s["merging"], "the merge in progress is still known")
        XCTAssertTrue(fails(1, "merge", "feature").err.contains("merge is in progress"))
        ok("merge", "--abort")
        XCTAssertEqual(listFiles(), before)
        XCTAssertTrue(status().clean)
        // The merge runs again from scratch and concludes.
        fails(1, "merge", "feature")
        write("t.txt", "1 both\n"); ok("add", "t.txt")
        ok("merge", "--continue")
        XCTAssertEqual(text("u.txt"), "u theirs\n")
        XCTAssertEqual(revParse("HEAD^2"), revParse("feature"))
        // reset --hard also ends a merge (and drops its conflicts).
        ok("switch", "-c", "g", "HEAD~1")
        write("t.txt", "1 g\n"); ok("add", "."); commit("g")
        ok("switch", "main")
        fails(1, "merge", "g")
        // A damaged MERGE_HEAD: status still works, commit says what to do, abort recovers.
        write(".mlrepo/MERGE_HEAD", "not an id\n")
        write(".mlrepo/MERGE_MODE", "{\"touched\": [\"../escape\"]}")
        ok("status")
        write("t.txt", "fixed\n"); ok("add", "t.txt")
        let bad = fails(1, "commit", "-m", "x")
        XCTAssertTrue(bad.err.contains("MERGE_HEAD") && bad.err.contains("merge --abort"), bad.err)
        ok("merge", "--abort")
        XCTAssertTrue(status().clean)
        XCTAssertFalse(exists("../escape"))
        fails(1, "merge", "g")
        ok("reset", "--hard")
        XCTAssertFalse(exists(".mlrepo/MERGE_HEAD"))
        XCTAssertTrue(status().clean)
    }

    /// A key column the table lacks is named, and the table is merged by lines instead.
    func testUnknownKeyColumnIsNamedAndTheTableMergedByLines() throws {
        _ = diverge(base: ["t.csv": "id,v\n1,a\n2,b\n3,c\n"],
                    theirs: { write("t.csv", "id,v\n1,a\n2,b\n3,C\n") },
                    ours: { write("t.csv", "id,v\n1,A\n2,b\n3,c\n") })
        let out = ok("merge", "feature", "--key", "nope")
        XCTAssertTrue(out.contains("note: t.csv not merged by rows (no column named 'nope' for the key); merged by lines"), out)
        XCTAssertEqual(read("t.csv").map { String(decoding: $0, as: UTF8.self) }, "id,v\n1,A\n2,b\n3,C\n")
        XCTAssertEqual(ok("rev-parse", "HEAD^2").trimmingCharacters(in: .whitespacesAndNewlines).count, 64)
    }
}

/// `mlrepo merge` against `git merge` on the same random histories: the same paths
/// conflict and every file of the work tree ends up byte-identical (git is the oracle).
final class MergeGitOracleTests: CLITestCase {
    func git(_ args: [String], in dir: URL) -> (code: Int32, out: String) {
        tool(["git", "-C", dir.path, "-c", "user.name=T", "-c", "user.email=t@t", "-c", "merge.conflictstyle=merge"] + args)
    }

    func testRandomHistoriesMatchGitMerge() throws {
        guard tool(["git", "--version"]).code == 0 else { throw XCTSkip("git is not installed (the oracle)") }
        var g = SplitMix(seed: 1616)
        var conflicted = 0, clean = 0
        for round in 0..<10 {
            let m = dir("m\(round)"), gd = dir("g\(round)")
            ok("init", in: m)
            XCTAssertEqual(git(["init", "-q", "-b", "main"], in: gd).code, 0)
            func both(_ rel: String, _ text: String?) {
                for d in [m, gd] {
                    let u = d.appendingPathComponent(rel)
                    if let text { try! Data(text.utf8).write(to: u) } else { try? FileManager.default.removeItem(at: u) }
                }
            }
            func commitBoth(_ msg: String) {
                ok("add", ".", in: m); ok("commit", "-q", "-m", msg, in: m)
                XCTAssertEqual(git(["add", "-A"], in: gd).code, 0); XCTAssertEqual(git(["commit", "-qm", msg], in: gd).code, 0)
            }
            var files: [String: [String]] = [:]
            for i in 0..<5 { files["f\(i).txt"] = (0..<20).map { "line \($0) of f\(i)" } }
            for (p, l) in files { both(p, l.map { $0 + "\n" }.joined()) }
            commitBoth("base")
            func edit(_ tag: String) {
                var mine = files
                // Tree-only rounds keep each side to its own files (no content merge needed).
                let names = mine.keys.sorted()
                for p in names where g.next() % 3 != 0 {
                    var lines = mine[p]!
                    for _ in 0..<(1 + Int(g.next() % 3)) {
                        let k = Int(g.next() % UInt64(lines.count))
                        switch g.next() % 3 {
                        case 0: lines[k] = "\(tag) changed \(k)"
                        case 1: lines.insert("\(tag) inserted", at: k)
                        default: if lines.count > 2 { lines.remove(at: k) }
                        }
                    }
                    mine[p] = lines
                }
                if g.next() % 2 == 0, let victim = names.last { mine[victim] = nil }
                if g.next() % 2 == 0 { mine["new-x.txt"] = ["\(tag) new"] }
                for p in Set(files.keys).union(mine.keys) { both(p, mine[p].map { $0.map { $0 + "\n" }.joined() }) }
            }
            ok("switch", "-c", "feature", in: m); XCTAssertEqual(git(["checkout", "-qb", "feature"], in: gd).code, 0)
            edit("theirs"); commitBoth("theirs")
            ok("switch", "main", in: m); XCTAssertEqual(git(["checkout", "-q", "main"], in: gd).code, 0)
            for (p, l) in files { both(p, l.map { $0 + "\n" }.joined()) }
            for p in ["new-x.txt", "new-theirs.txt"] { both(p, nil) }
            edit("ours"); commitBoth("ours")
            let mr = runResult(["merge", "feature"], in: m)
            let gr = git(["merge", "--no-edit", "feature"], in: gd)
            XCTAssertEqual(mr.code == 0, gr.code == 0, "round \(round): \(mr.out) / \(gr.out)")
            let gitConflicts = Set(git(["diff", "--name-only", "--diff-filter=U"], in: gd).out.split(separator: "\n").map(String.init))
            let st = json(ok("status", "--json", in: m)) as? [String: Any]
            let ours = Set(((st?["unmerged"] as? [[String: String]]) ?? []).compactMap { $0["path"] })
            XCTAssertEqual(ours, gitConflicts, "round \(round)")
            if gitConflicts.isEmpty { clean += 1 } else { conflicted += 1 }
            XCTAssertEqual(listFiles(m), listFiles(gd).filter { !$0.key.hasPrefix(".git/") }, "round \(round): work trees differ")
        }
        // The rounds cover both outcomes.
        XCTAssertGreaterThan(clean, 0)
        XCTAssertGreaterThan(conflicted, 0)
    }
}

/// A merge killed at any moment leaves a repository that `status` reads and that either
/// shows no merge (nothing was changed) or a merge in progress that `merge --abort` undoes
/// exactly; the merge then runs again to the same conflict.
final class MergeKillTests: CLITestCase {
    func testSIGKILLDuringMergeThenAbortRestores() throws {
        var rng = SplitMix(seed: 0x4D45_5247)
        let v1 = rng.data(16 << 20)
        var v2 = v1
        v2.withUnsafeMutableBytes { b in for i in stride(from: 4096, to: b.count, by: 64 << 10) { b[i] ^= 0xFF } }
        ok("init")
        write("big.bin", v1)
        write("conflict.txt", "base\n")
        for i in 0..<40 { write("small/\(i).txt", "\(i)\n") }
        ok("add", "."); commit("base")
        ok("switch", "-c", "feature")
        write("big.bin", v2)
        write("conflict.txt", "theirs\n")
        for i in 0..<40 { write("small/\(i).txt", "\(i) theirs\n") }
        remove("small/0.txt")
        write("added/new.txt", "new\n")
        ok("add", "."); commit("theirs")
        ok("switch", "main")
        write("conflict.txt", "ours\n"); ok("add", "."); commit("ours")
        let before = listFiles()
        let t0 = Date()
        fails(1, "merge", "feature")
        let full = max(0.02, Date().timeIntervalSince(t0))
        ok("merge", "--abort")
        XCTAssertEqual(listFiles(), before)
        var kills = 0
        for trial in 0..<12 {
            let s = try start(["merge", "feature"])
            let delay = Double(rng.int(0..<1000)) / 1000 * full * 1.1
            usleep(UInt32(delay * 1_000_000))
            kill(s.pid, SIGKILL)
            if collect(s).code == 128 + SIGKILL { kills += 1 }
            let st = json(ok("status", "--json")) as? [String: Any]
            if st?["merging"] != nil || st?["merge_interrupted"] != nil {
                ok("merge", "--abort")
            } else {
                XCTAssertNil(st?["unmerged"], "trial \(trial): conflicts without a merge in progress")
            }
            XCTAssertEqual(listFiles().keys.sorted(), before.keys.sorted(), "trial \(trial) (killed at \(Int(delay * 1000)) ms)")
            XCTAssertTrue(listFiles() == before, "trial \(trial): the work tree is back to its state before the merge")
            XCTAssertTrue(status().clean, "trial \(trial)")
        }
        XCTAssertGreaterThanOrEqual(kills, 3, "some merges were really killed mid-way")
        fails(1, "merge", "feature")
        XCTAssertEqual(read("big.bin"), v2)
        ok("fsck")
    }
}
