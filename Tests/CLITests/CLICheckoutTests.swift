import Foundation
import XCTest
import TestHelpers
import Store
import Support

/// checkout, switch, refusal to lose local changes, and work-tree safety.
final class CLICheckoutTests: CLITestCase {
    func testCheckoutRevisionAndBranch() {
        ok("init")
        write("a.txt", "a1")
        write("keep.txt", "same everywhere")
        write("dir/b.txt", "b1")
        ok("add", ".")
        let c1 = commit("c1")
        write("a.txt", "a2")
        remove("dir")
        write("new/deep/n.txt", "n")
        write("dir", "now a file where a folder was")
        ok("add", ".")
        let c2 = commit("c2")
        let atC2 = listFiles()

        let r = runResult(["checkout", c1])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("HEAD is now at \(c1.prefix(12)) (detached"), r.err)
        XCTAssertEqual(listFiles(), ["a.txt": Data("a1".utf8), "keep.txt": Data("same everywhere".utf8), "dir/b.txt": Data("b1".utf8)])
        XCTAssertFalse(exists("new"), "emptied folders are removed")
        var s = status()
        XCTAssertNil(s.branch)
        XCTAssertEqual(s.head, c1)
        XCTAssertTrue(s.clean, "\(s)")
        XCTAssertEqual(ok("rev-parse", "--abbrev-ref", "HEAD"), "HEAD\n")
        XCTAssertTrue(ok("status").hasPrefix("HEAD detached at \(c1.prefix(12))"))

        let back = runResult(["checkout", "main"])
        XCTAssertEqual(back.code, 0, back.err)
        XCTAssertTrue(back.err.contains("Switched to branch 'main'"), back.err)
        XCTAssertEqual(listFiles(), atC2)
        s = status()
        XCTAssertEqual(s.branch, "main")
        XCTAssertEqual(s.head, c2)
        XCTAssertTrue(s.clean, "\(s)")
        // A commit on a detached HEAD, then back.
        ok("checkout", String(c1.prefix(8)))
        write("detached.txt", "d")
        ok("add", "detached.txt")
        let c3 = commit("on detached head")
        XCTAssertEqual(status().head, c3)
        XCTAssertNil(status().branch)
        XCTAssertEqual(revParse("main"), c2, "the branch did not move")
        ok("checkout", "main")
        XCTAssertFalse(exists("detached.txt"))
        ok("checkout", c3)
        XCTAssertEqual(text("detached.txt"), "d")
        fails(1, "checkout", "nosuchrev")
        ok("checkout", "main")
        ok("fsck")
    }

    func testRefusesToOverwriteLocalChanges() {
        ok("init")
        write("a.txt", "v1")
        write("other.txt", "o")
        ok("add", ".")
        let c1 = commit("c1")
        write("a.txt", "v2")
        ok("add", ".")
        commit("c2")
        // Unstaged change to a file that differs between HEAD and the target.
        write("a.txt", "local edit")
        let r = fails(1, "checkout", c1)
        XCTAssertTrue(r.err.contains("a.txt"), r.err)
        XCTAssertTrue(r.err.contains("--force"), r.err)
        XCTAssertEqual(text("a.txt"), "local edit", "file untouched")
        XCTAssertEqual(status().branch, "main", "HEAD did not move")
        // Staged change: same.
        ok("add", "a.txt")
        fails(1, "checkout", c1)
        XCTAssertEqual(text("a.txt"), "local edit")
        // Local changes to files the checkout does not touch are carried over.
        ok("checkout", "-f", "main")
        XCTAssertEqual(text("a.txt"), "v2")
        write("other.txt", "edited, not in conflict")
        ok("checkout", c1)
        XCTAssertEqual(text("a.txt"), "v1")
        XCTAssertEqual(text("other.txt"), "edited, not in conflict")
        XCTAssertEqual(status().unstaged, ["other.txt": "modified"])
        // --force discards them.
        write("a.txt", "again local")
        fails(1, "checkout", "main")
        XCTAssertEqual(text("a.txt"), "again local")
        ok("checkout", "--force", "main")
        XCTAssertEqual(text("a.txt"), "v2")
        XCTAssertEqual(text("other.txt"), "o")
        XCTAssertTrue(status().clean)
        // An untracked file where the target has a file.
        ok("checkout", c1)
        ok("rm", "other.txt")
        commit("drop other on detached head")
        write("other.txt", "untracked content")
        let u = fails(1, "checkout", "main")
        XCTAssertTrue(u.err.contains("untracked"), u.err)
        XCTAssertEqual(text("other.txt"), "untracked content")
        ok("checkout", "-f", "main")
        XCTAssertEqual(text("other.txt"), "o")
        // A deleted tracked file holds no work to lose: as in git, checkout recreates it.
        ok("checkout", c1)
        remove("a.txt")
        ok("checkout", "main")
        XCTAssertEqual(text("a.txt"), "v2")
        XCTAssertTrue(status().clean)
        // And `checkout -- PATH` restores a deleted file from the index.
        remove("a.txt")
        ok("checkout", "--", "a.txt")
        XCTAssertEqual(text("a.txt"), "v2")
    }

    func testCheckoutPaths() {
        ok("init")
        write("a.txt", "a1"); write("d/x", "x1"); write("d/y", "y1")
        ok("add", "."); let c1 = commit("c1")
        write("a.txt", "a2"); write("d/x", "x2"); remove("d/y")
        ok("add", "."); commit("c2")
        // REV -- PATH restores from REV and stages it; HEAD does not move.
        let r = runResult(["checkout", c1, "--", "a.txt"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("Updated 1 path(s)"), r.err)
        XCTAssertEqual(text("a.txt"), "a1")
        XCTAssertEqual(text("d/x"), "x2")
        var s = status()
        XCTAssertEqual(s.branch, "main")
        XCTAssertEqual(s.staged, ["a.txt": "modified"])
        XCTAssertTrue(s.unstaged.isEmpty)
        // A folder.
        ok("checkout", c1, "--", "d")
        XCTAssertEqual(text("d/x"), "x1")
        XCTAssertEqual(text("d/y"), "y1")
        s = status()
        XCTAssertEqual(s.staged, ["a.txt": "modified", "d/x": "modified", "d/y": "added"])
        fails(1, "checkout", c1, "--", "nope")
        fails(2, "checkout", c1, "--")
        // Without REV: from the index; unstaged edits need -f.
        write("d/x", "scribble")
        let refused = fails(1, "checkout", "--", "d/x")
        XCTAssertTrue(refused.err.contains("d/x"), refused.err)
        XCTAssertEqual(text("d/x"), "scribble")
        ok("checkout", "-f", "--", "d/x")
        XCTAssertEqual(text("d/x"), "x1")
        remove("a.txt")
        ok("checkout", "-f", "--", "a.txt")
        XCTAssertEqual(text("a.txt"), "a1")
        XCTAssertTrue(status().unstaged.isEmpty)
    }

    func testReset() {
        ok("init")
        fails(1, "reset", "HEAD~1")
        write("a.txt", "a1"); write("b.txt", "b1")
        ok("add", "."); let c1 = commit("c1")
        write("a.txt", "a2"); write("c.txt", "c2")
        ok("add", "."); let c2 = commit("c2")
        // --soft: only the branch moves.
        ok("reset", "--soft", c1)
        XCTAssertEqual(revParse("main"), c1)
        var s = status()
        XCTAssertEqual(s.branch, "main")
        XCTAssertEqual(s.staged, ["a.txt": "modified", "c.txt": "added"])
        XCTAssertTrue(s.unstaged.isEmpty)
        XCTAssertEqual(text("a.txt"), "a2")
        // Back, then --mixed (the default): the index follows, the work tree stays.
        ok("reset", "--soft", c2)
        XCTAssertTrue(status().clean)
        ok("reset", "HEAD~1")
        XCTAssertEqual(revParse("HEAD"), c1)
        s = status()
        XCTAssertTrue(s.staged.isEmpty, "\(s)")
        XCTAssertEqual(s.unstaged, ["a.txt": "modified"])
        XCTAssertEqual(s.untracked, ["c.txt"])
        XCTAssertEqual(text("a.txt"), "a2")
        // --hard: the work tree follows too (untracked files stay).
        ok("reset", "--soft", c2)
        ok("reset", "--mixed")
        XCTAssertTrue(status().clean)
        write("a.txt", "scribble"); write("untracked.txt", "u")
        ok("reset", "--hard", c1)
        XCTAssertEqual(revParse("main"), c1)
        XCTAssertEqual(text("a.txt"), "a1")
        XCTAssertFalse(exists("c.txt"))
        XCTAssertEqual(text("untracked.txt"), "u")
        s = status()
        XCTAssertTrue(s.staged.isEmpty && s.unstaged.isEmpty, "\(s)")
        XCTAssertEqual(s.untracked, ["untracked.txt"])
        ok("reset", "--hard", c2)
        XCTAssertEqual(text("c.txt"), "c2")
        // On a detached HEAD, HEAD moves and branches do not.
        ok("checkout", c2)
        ok("reset", "--hard", c1)
        XCTAssertEqual(revParse("HEAD"), c1)
        XCTAssertEqual(revParse("main"), c2)
        XCTAssertEqual(ok("rev-parse", "--abbrev-ref", "HEAD"), "HEAD\n")
        fails(2, "reset", "--soft", "--hard")
        fails(2, "reset", "a", "b")
        fails(1, "reset", "nosuchrev")
        XCTAssertTrue(ok("reflog").contains("reset: moving to"))
        ok("fsck")
    }

    func testSwitch() {
        ok("init")
        write("f", "main 1"); ok("add", "."); let m1 = commit("m1")
        let r = runResult(["switch", "-c", "feat"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("Switched to a new branch 'feat'"), r.err)
        XCTAssertEqual(status().branch, "feat")
        XCTAssertEqual(revParse("feat"), m1)
        write("f", "feat 1"); write("only-feat", "x"); ok("add", "."); let f1 = commit("f1")
        XCTAssertEqual(revParse("main"), m1)
        ok("switch", "main")
        XCTAssertEqual(text("f"), "main 1")
        XCTAssertFalse(exists("only-feat"))
        XCTAssertEqual(status().branch, "main")
        ok("switch", "feat")
        XCTAssertEqual(text("f"), "feat 1")
        XCTAssertEqual(status().head, f1)
        fails(1, "switch", "nosuch")
        let dup = fails(1, "switch", "-c", "main")
        XCTAssertTrue(dup.err.contains("already exists"), dup.err)
        fails(1, "switch", "-c", "bad name")
        ok("switch", "-c", "from-m1", m1)
        XCTAssertEqual(status().head, m1)
        XCTAssertEqual(text("f"), "main 1")
        // Refuses to lose changes; --discard-changes forces.
        write("f", "dirty")
        fails(1, "switch", "feat")
        XCTAssertEqual(text("f"), "dirty")
        ok("switch", "--discard-changes", "feat")
        XCTAssertEqual(text("f"), "feat 1")
        // On an unborn branch, switch -c just renames where HEAD points.
        let fresh = base.appendingPathComponent("fresh")
        ok("init", fresh.path)
        ok("switch", "-c", "other", in: fresh)
        XCTAssertEqual(ok("rev-parse", "--abbrev-ref", "HEAD", in: fresh), "other\n")
    }

    /// A checkout that needs a file where only empty folders are left.
    func testCheckoutOverLeftoverEmptyFolders() {
        ok("init")
        write("d", "d is a file")
        ok("add", ".")
        let c1 = commit("c1")
        remove("d")
        write("d/e/f.txt", "now a folder")
        ok("add", ".")
        commit("c2")
        remove("d/e/f.txt")  // leaves the empty folders d/e
        let r = runResult(["checkout", "-f", c1])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(text("d"), "d is a file")
        XCTAssertTrue(status().clean)
        // A folder that really holds an untracked file is protected, with or without --force.
        ok("checkout", "-f", "main")
        write("d/e/untracked.txt", "keep me")
        let u = fails(1, "checkout", "-f", c1)
        XCTAssertTrue(u.err.contains("untracked"), u.err)
        XCTAssertEqual(text("d/e/untracked.txt"), "keep me")
    }

    /// A tracked folder replaced by a symlink to a folder outside the work tree: no checkout
    /// form may write or delete through it.
    func testCheckoutDoesNotWriteThroughSymlinkedFolder() throws {
        ok("init")
        write("root.txt", "r")
        ok("add", ".")
        let c0 = commit("c0")
        var rng = SplitMix(seed: 7)
        var bigV1 = rng.data(1_500_000)
        write("d/f.txt", "v1")
        write("d/big.bin", bigV1)
        write("a/a/f.txt", "nested v1")
        write("a/a/big.bin", bigV1)
        ok("add", ".")
        let c1 = commit("c1")
        write("d/f.txt", "v2")
        bigV1.append(rng.data(1000))  // an append: in-place patching would be tempting
        write("d/big.bin", bigV1)
        write("a/a/f.txt", "nested v2")
        write("a/a/big.bin", bigV1)
        write("d/new.txt", "new in c2")
        ok("add", ".")
        let c2 = commit("c2")

        // Replace d and a/a with symlinks to copies outside the work tree.
        let outside = base.appendingPathComponent("outside")
        let outside2 = base.appendingPathComponent("outside2")
        let fm = FileManager.default
        try fm.copyItem(at: url("d"), to: outside)
        try fm.copyItem(at: url("a/a"), to: outside2)
        try fm.removeItem(at: url("d"))
        try fm.removeItem(at: url("a/a"))
        try fm.createSymbolicLink(at: url("d"), withDestinationURL: outside)
        try fm.createSymbolicLink(at: url("a/a"), withDestinationURL: outside2)
        let before = listFiles(outside), before2 = listFiles(outside2)
        XCTAssertEqual(before.count, 3)

        for args in [["checkout", c1], ["checkout", "-f", c1], ["checkout", c0], ["checkout", "-f", c0],
                     ["checkout", "-f", c1, "--", "d/f.txt"], ["checkout", "-f", c1, "--", "a"],
                     ["checkout", "-f", "--", "d"], ["switch", "-f", "main"], ["checkout", "-f", c2]] {
            _ = runResult(args)
            XCTAssertEqual(listFiles(outside), before, "after \(args): nothing written or deleted outside")
            XCTAssertEqual(listFiles(outside2), before2, "after \(args): nothing written or deleted outside (nested)")
        }
        XCTAssertNotEqual(revParse("HEAD"), "", "repository still usable")
        ok("fsck")
    }

    /// A hand-made repository whose trees hold unsafe names (`..`, `.mlrepo`): checkout, show
    /// and fsck must refuse them and nothing may be written outside the work tree.
    func testHandMadeUnsafeTrees() throws {
        ok("init")
        write("ok.txt", "fine")
        ok("add", ".")
        commit("base")
        let r = try Repository(root: repo.path)
        let evil = try r.store.put(.blob, Array("pwned".utf8))
        let good = try r.store.put(.blob, Array("fine".utf8))
        let inner = Tree(entries: [TreeEntry(name: "evil.txt", mode: .regular, size: 5, id: evil)])
        let innerId = try r.store.put(.tree, inner.encode())
        let headFile = Tree(entries: [TreeEntry(name: "HEAD", mode: .regular, size: 5, id: evil)])
        let headTree = try r.store.put(.tree, headFile.encode())
        func makeCommit(_ entries: [TreeEntry], _ branch: String) throws {
            let tree = try r.store.put(.tree, Tree(entries: entries).encode())
            let who = Signature(name: "Evil", email: "e@x", time: 1_700_000_000)
            let c = try r.store.put(.commit, Commit(tree: tree, parents: [], author: who, committer: who, message: "evil\n").encode())
            try r.store.commitPending()
            try r.refs.update("refs/heads/" + branch, to: c, who: who, message: "hand-made")
        }
        try makeCommit([TreeEntry(name: "..", mode: .directory, size: 5, id: innerId),
                        TreeEntry(name: "ok.txt", mode: .regular, size: 4, id: good)], "dotdot")
        try makeCommit([TreeEntry(name: ".mlrepo", mode: .directory, size: 5, id: headTree)], "dotmlrepo")
        try makeCommit([TreeEntry(name: "a/../../evil.txt", mode: .regular, size: 5, id: evil)], "slash")

        let headBefore = text(".mlrepo/HEAD")
        for branch in ["dotdot", "dotmlrepo", "slash"] {
            for args in [["checkout", branch], ["checkout", "-f", branch], ["switch", "-f", branch],
                         ["checkout", "-f", branch, "--", "ok.txt"]] {
                let res = runResult(args)
                XCTAssertEqual(res.code, 1, "\(args) must fail: \(res.err)")
                XCTAssertTrue(res.err.contains("unsafe"), "\(args): \(res.err)")
            }
            let show = runResult(["show", "\(branch):ok.txt"])
            XCTAssertEqual(show.code, 1)
            XCTAssertTrue(show.err.contains("unsafe"), show.err)
            XCTAssertEqual(runResult(["ls-tree", "-r", branch]).code, 1)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: base.appendingPathComponent("evil.txt").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: base.appendingPathComponent("repo/evil.txt").path))
        XCTAssertEqual(text(".mlrepo/HEAD"), headBefore)
        XCTAssertEqual(listFiles(), ["ok.txt": Data("fine".utf8)])
        XCTAssertEqual(status().branch, "main")
        let f = fails(1, "fsck")
        XCTAssertTrue(f.err.contains("unsafe"), f.err)
    }
}
