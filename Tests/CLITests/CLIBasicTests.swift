import Foundation
import XCTest

/// init, add, rm, status, commit, help and usage errors.
final class CLIBasicTests: CLITestCase {
    func testInit() {
        let out = ok("init")
        XCTAssertTrue(out.hasPrefix("Initialized empty mlrepo repository in "), out)
        XCTAssertTrue(out.contains(repo.lastPathComponent + "/.mlrepo"), out)
        XCTAssertTrue(exists(".mlrepo/HEAD"))
        XCTAssertEqual(text(".mlrepo/HEAD"), "ref: refs/heads/main\n")
        let again = fails(1, "init")
        XCTAssertTrue(again.err.contains("already exists"), again.err)
        // init DIR, and --branch.
        ok("init", "sub/inner", "--branch", "dev")
        XCTAssertEqual(text("sub/inner/.mlrepo/HEAD"), "ref: refs/heads/dev\n")
        XCTAssertEqual(ok("rev-parse", "--abbrev-ref", "HEAD", in: url("sub/inner")), "dev\n")
        fails(1, "init", "x", "--branch", "bad name")
        fails(2, "init", "a", "b")
        // Commands outside a repository.
        let outside = base.appendingPathComponent("norepo")
        try! FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        let r = fails(1, "status", in: outside)
        XCTAssertTrue(r.err.contains("not an mlrepo repository"), r.err)
        // -C DIR runs elsewhere.
        XCTAssertEqual(ok("-C", repo.path, "rev-parse", "--abbrev-ref", "HEAD", in: outside), "main\n")
        fails(1, "-C", "/nonexistent-dir-xyz", "status")
        // Commands work from a subfolder.
        write("deep/er/f.txt", "x")
        ok("add", "f.txt", in: url("deep/er"))
        XCTAssertEqual(status().staged, ["deep/er/f.txt": "added"])
    }

    func testAddRecursiveAndStatusShape() {
        ok("init")
        var s = status()
        XCTAssertEqual(s.branch, "main")
        XCTAssertNil(s.head)
        XCTAssertTrue(s.clean)
        write("a.txt", "alpha\n")
        write("dir/b.txt", "bravo\n")
        write("dir/sub/c.bin", Data([0, 1, 2, 255]))
        s = status()
        XCTAssertEqual(s.untracked, ["a.txt", "dir/b.txt", "dir/sub/c.bin"])
        XCTAssertEqual(ok("add", "."), "")
        s = status()
        XCTAssertEqual(s.staged, ["a.txt": "added", "dir/b.txt": "added", "dir/sub/c.bin": "added"])
        XCTAssertEqual(s.untracked, [])
        XCTAssertEqual(s.unstaged, [:])
        // Adding again is a no-op.
        ok("add", "dir")
        XCTAssertEqual(status().staged.count, 3)
        // Exact JSON text shape (pretty, sorted keys).
        let raw = ok("status", "--json")
        XCTAssertTrue(raw.hasPrefix("{\n  \"branch\": \"main\",\n  \"head\": null,\n  \"staged\": [\n    {\n      \"path\": \"a.txt\",\n      \"status\": \"added\"\n    },"), raw)
        let id = commit("first")
        s = status()
        XCTAssertEqual(s.head, id)
        XCTAssertTrue(s.clean, "\(s)")
        XCTAssertTrue(ok("status").contains("nothing to commit, working tree clean"))

        // Every kind of change at once.
        write("a.txt", "alpha 2\n")          // unstaged modified
        remove("dir/b.txt")                  // unstaged deleted
        write("new.txt", "new\n")            // staged added
        ok("add", "new.txt")
        write("dir/sub/c.bin", Data([9]))    // staged modified
        ok("add", "dir/sub/c.bin")
        write("untracked.txt", "u")
        s = status()
        XCTAssertEqual(s.staged, ["new.txt": "added", "dir/sub/c.bin": "modified"])
        XCTAssertEqual(s.unstaged, ["a.txt": "modified", "dir/b.txt": "deleted"])
        XCTAssertEqual(s.untracked, ["untracked.txt"])
        let short = ok("status", "-s")
        XCTAssertTrue(short.contains(" M a.txt\n"), short)
        XCTAssertTrue(short.contains(" D dir/b.txt\n"), short)
        XCTAssertTrue(short.contains("A  new.txt\n"), short)
        XCTAssertTrue(short.contains("?? untracked.txt\n"), short)
        // Staging a deletion.
        ok("add", "dir")
        XCTAssertEqual(status().staged["dir/b.txt"], "deleted")
        let text = ok("status")
        XCTAssertTrue(text.contains("Changes to be committed:"), text)
        XCTAssertTrue(text.contains("deleted:    dir/b.txt"), text)
        XCTAssertTrue(text.contains("Untracked files:"), text)
    }

    func testIgnoreFilesAndForce() {
        ok("init")
        write(".mlrepoignore", "*.log\nbuild/\n/root-only.txt\n!keep.log\n")
        write("x.log", "log")
        write("keep.log", "keep")
        write("dir/y.log", "log")
        write("build/out.o", "obj")
        write("root-only.txt", "r")
        write("dir/root-only.txt", "not ignored here")
        write("dir/sub/.mlrepoignore", "*.csv\n")
        write("dir/sub/data.csv", "1,2")
        write("data.csv", "3,4")
        write("keep.txt", "k")
        ok("add", ".")
        let s = status()
        XCTAssertEqual(Set(s.staged.keys), [".mlrepoignore", "keep.log", "dir/root-only.txt", "dir/sub/.mlrepoignore", "data.csv", "keep.txt"])
        XCTAssertEqual(s.untracked, [], "ignored files are not untracked")
        // An ignored file named explicitly needs -f.
        let r = fails(1, "add", "x.log")
        XCTAssertTrue(r.err.contains("ignored"), r.err)
        let r2 = fails(1, "add", "build/out.o")
        XCTAssertTrue(r2.err.contains("ignored"), r2.err)
        fails(1, "add", "dir/sub/data.csv")
        ok("add", "-f", "x.log")
        ok("add", "--force", "build/out.o")
        let s2 = status()
        XCTAssertEqual(s2.staged["x.log"], "added")
        XCTAssertEqual(s2.staged["build/out.o"], "added")
        XCTAssertNil(s2.staged["dir/y.log"])
        // A tracked file stays tracked even if it matches a rule.
        commit("with forced files")
        write("x.log", "changed log")
        XCTAssertEqual(status().unstaged["x.log"], "modified")
        ok("add", "x.log")
        XCTAssertEqual(status().staged["x.log"], "modified")
    }

    func testAddErrorsAndSpecialFiles() {
        ok("init")
        let r = fails(1, "add", "does-not-exist")
        XCTAssertTrue(r.err.contains("did not match"), r.err)
        fails(2, "add")
        fails(1, "add", "../outside")
        fails(1, "add", ".mlrepo/config")
        write("real.txt", "r")
        try! FileManager.default.createSymbolicLink(atPath: url("link").path, withDestinationPath: "real.txt")
        let w = runResult(["add", "."])
        XCTAssertEqual(w.code, 0)
        XCTAssertTrue(w.err.contains("skipped 'link'"), w.err)
        XCTAssertEqual(Set(status().staged.keys), ["real.txt"])
        // A folder that is a symlink to somewhere outside the work tree.
        let outside = base.appendingPathComponent("outside")
        try! FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try! "secret".write(to: outside.appendingPathComponent("f.txt"), atomically: true, encoding: .utf8)
        try! FileManager.default.createSymbolicLink(atPath: url("ldir").path, withDestinationPath: outside.path)
        ok("add", "ldir")
        XCTAssertNil(status().staged["ldir/f.txt"], "the symlinked folder is skipped")
        let through = runResult(["add", "ldir/f.txt"])
        XCTAssertEqual(through.code, 1)
        XCTAssertNil(status().staged["ldir/f.txt"])
        _ = runResult(["rm", "--cached", "ldir/f.txt"])  // undo, whatever add did
        try! FileManager.default.removeItem(at: url("ldir"))
        // -v lists what was staged.
        write("v.txt", "v")
        XCTAssertEqual(ok("add", "-v", "v.txt"), "add 'v.txt'\n")
        // Adding a removed file stages the deletion.
        commit("c")
        remove("v.txt")
        ok("add", "v.txt")
        XCTAssertEqual(status().staged, ["v.txt": "deleted"])
    }

    func testUnusualFileNames() {
        ok("init")
        let names = ["sp ace.txt", "ü-ñ-日本.txt", "new\nline.txt", "quo\"te.txt", "back\\slash", "-dash.txt", "tab\tname", "#hash", "!bang", ".hidden", "...dots"]
        for (i, n) in names.enumerated() { write("dir/" + n, "content \(i)") }
        write("-top.txt", "t")
        ok("add", "--", "-top.txt")
        ok("add", ".")
        let s = status()
        XCTAssertEqual(Set(s.staged.keys), Set(names.map { "dir/" + $0 } + ["-top.txt"]))
        commit("odd names")
        let rows = (json(ok("ls-tree", "-r", "--json", "HEAD")) as? [[String: Any]])?.compactMap { $0["path"] as? String } ?? []
        XCTAssertEqual(Set(rows), Set(names.map { "dir/" + $0 } + ["-top.txt"]))
        for (i, n) in names.enumerated() {
            XCTAssertEqual(ok("show", "HEAD:dir/" + n), "content \(i)", n)
        }
        remove("dir")
        ok("checkout", "-f", "main")
        for (i, n) in names.enumerated() { XCTAssertEqual(text("dir/" + n), "content \(i)", n) }
        XCTAssertTrue(status().clean)
    }

    func testRm() {
        ok("init")
        write("a.txt", "a")
        write("dir/b.txt", "b")
        write("dir/c.txt", "c")
        write("d.txt", "d")
        ok("add", ".")
        commit("c1")
        XCTAssertEqual(ok("rm", "a.txt"), "rm 'a.txt'\n")
        XCTAssertFalse(exists("a.txt"))
        ok("rm", "--cached", "dir/b.txt")
        XCTAssertTrue(exists("dir/b.txt"), "--cached keeps the file")
        var s = status()
        XCTAssertEqual(s.staged, ["a.txt": "deleted", "dir/b.txt": "deleted"])
        XCTAssertEqual(s.untracked, ["dir/b.txt"])
        // Unstaged changes are protected.
        write("dir/c.txt", "changed")
        let r = fails(1, "rm", "dir/c.txt")
        XCTAssertTrue(r.err.contains("unstaged changes"), r.err)
        XCTAssertEqual(text("dir/c.txt"), "changed")
        ok("rm", "-f", "dir/c.txt")
        XCTAssertFalse(exists("dir/c.txt"))
        // Untracked or unknown paths.
        fails(1, "rm", "dir/b.txt")
        fails(1, "rm", "nope")
        fails(2, "rm")
        // A folder: everything under it.
        write("f/1", "1"); write("f/2", "2")
        ok("add", "f")
        XCTAssertEqual(ok("rm", "f"), "rm 'f/1'\nrm 'f/2'\n")
        XCTAssertFalse(exists("f"), "emptied folders are removed")
        s = status()
        XCTAssertEqual(s.staged["dir/c.txt"], "deleted")
        XCTAssertNil(s.staged["f/1"])
    }

    func testCommit() {
        ok("init")
        let r = fails(1, "commit", "-m", "empty")
        XCTAssertTrue(r.err.contains("nothing to commit"), r.err)
        write("a", "a")
        ok("add", "a")
        fails(2, "commit")
        fails(2, "commit", "-m")
        fails(2, "commit", "-m", "x", "extra-arg")
        let id = commit("first")
        XCTAssertEqual(revParse("HEAD"), id)
        let again = fails(1, "commit", "-m", "again")
        XCTAssertTrue(again.err.contains("nothing to commit"), again.err)
        let empty = ok("commit", "--allow-empty", "-m", "empty one").trimmingCharacters(in: .newlines)
        XCTAssertTrue(isHexId(empty))
        XCTAssertEqual(revParse("HEAD~1"), id)
        fails(1, "commit", "-m", "   ")
        // Several -m become paragraphs.
        write("b", "b"); ok("add", "b")
        ok("commit", "-m", "subject", "-m", "body")
        let log = json(ok("log", "--json", "-n", "1")) as? [[String: Any]]
        XCTAssertEqual(log?.first?["message"] as? String, "subject\n\nbody\n")
        // Author from the environment; HOME config as fallback.
        XCTAssertEqual(log?.first?["author"] as? String, "Test Author <test@example.com>")
        try! "[user]\n\tname = Home Person\n\temail = home@example.com\n".write(to: base.appendingPathComponent(".mlrepoconfig"), atomically: true, encoding: .utf8)
        write("c", "c"); ok("add", "c")
        ok("commit", "-m", "from home config", env: ["MLREPO_AUTHOR_NAME": "", "MLREPO_AUTHOR_EMAIL": ""])
        let log2 = json(ok("log", "--json", "-n", "1")) as? [[String: Any]]
        XCTAssertEqual(log2?.first?["author"] as? String, "Home Person <home@example.com>")
    }

    func testHelpAndUsageErrors() {
        let commands = ["init", "add", "rm", "status", "commit", "log", "show", "diff", "checkout", "switch", "branch",
                        "tag", "fsck", "gc", "du", "config", "reflog", "reset", "rev-parse", "hash-object", "cat-object", "ls-tree"]
        let main = ok("--help")
        for c in commands {
            XCTAssertTrue(main.contains("  \(c) "), "main help lists \(c)")
            let h = runResult([c, "--help"], in: base)  // outside a repository is fine
            XCTAssertEqual(h.code, 0, "\(c) --help")
            XCTAssertTrue(h.out.contains("usage: mlrepo \(c)"), "\(c) --help: \(h.out)")
            XCTAssertEqual(runResult(["help", c]).out, h.out)
        }
        XCTAssertEqual(ok("help"), main)
        XCTAssertEqual(ok("-h"), main)
        XCTAssertTrue(ok("--version").hasPrefix("mlrepo "))
        XCTAssertEqual(run().code, 2, "no command")
        let u = fails(2, "frobnicate")
        XCTAssertTrue(u.err.contains("not an mlrepo command"), u.err)
        ok("init")
        let o = fails(2, "status", "--bogus")
        XCTAssertTrue(o.err.contains("unknown option '--bogus'"), o.err)
        XCTAssertTrue(o.err.contains("usage:"), o.err)
        fails(2, "log", "-n", "abc")
        fails(2, "log", "-n")
        fails(2, "commit", "--allow-empty=yes", "-m", "x")
        fails(2, "checkout")
        fails(2, "show")
        fails(2, "diff", "a", "b", "c")
        fails(2, "rev-parse")
        fails(2, "cat-object")
        fails(2, "ls-tree")
        fails(2, "hash-object")
        fails(2, "switch")
        fails(2, "branch", "a", "b", "c")
        fails(2, "tag", "a", "b", "c")
        fails(2, "config")
        fails(2, "config", "nodot")
    }

    func testConfigAndReflog() {
        ok("init")
        fails(1, "config", "user.name")
        ok("config", "user.name", "Someone")
        XCTAssertEqual(ok("config", "user.name"), "Someone\n")
        XCTAssertTrue(ok("config", "--list").contains("user.name=Someone\n"))
        ok("config", "--unset", "user.name")
        fails(1, "config", "user.name")
        fails(1, "config", "core.compression", "bogus")
        fails(1, "config", "chunking.avgsize", "1000")
        ok("config", "core.compression", "auto")
        XCTAssertEqual(ok("config", "core.compression"), "auto\n")
        write("t.txt", String(repeating: "compressible text ", count: 1000))
        ok("add", ".")
        let c1 = commit("one")
        write("t.txt", "other"); ok("add", "."); let c2 = commit("two")
        let log = ok("reflog")
        let lines = log.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, log)
        XCTAssertTrue(lines[0].hasPrefix(String(c2.prefix(12)) + " HEAD@{0}: commit: two"), log)
        XCTAssertTrue(lines[1].hasPrefix(String(c1.prefix(12)) + " HEAD@{1}: commit (initial): one"), log)
        XCTAssertEqual(ok("reflog", "main", "-n", "1").split(separator: "\n").count, 1)
        // Names: a branch by its short name (also when given in full), other refs in full.
        XCTAssertTrue(ok("reflog", "refs/heads/main", "-n", "1").hasPrefix(String(c2.prefix(12)) + " main@{0}: "))
        XCTAssertTrue(ok("reflog", "main", "-n", "1").hasPrefix(String(c2.prefix(12)) + " main@{0}: "))
        ok("tag", "v1")
        XCTAssertTrue(ok("reflog", "refs/tags/v1").hasPrefix(String(c2.prefix(12)) + " refs/tags/v1@{0}: "))
        XCTAssertEqual(ok("show", "\(c1):t.txt"), String(repeating: "compressible text ", count: 1000))
        ok("fsck")
    }

    /// git's `branch -r` and `branch -a`: remote-tracking branches recorded by push and fetch.
    func testBranchListsRemoteTrackingBranches() throws {
        let a = dir("a"), b = dir("b"), remote = base.appendingPathComponent("remote").path
        ok("init", in: a)
        try Data("x\n".utf8).write(to: a.appendingPathComponent("x.txt"))
        ok("add", ".", in: a)
        ok("commit", "-m", "one", in: a)
        ok("branch", "feature", in: a)
        XCTAssertEqual(ok("branch", "-r", in: a), "", "no remote yet")
        ok("remote", "add", "origin", remote, in: a)
        ok("push", "origin", "main", in: a)
        XCTAssertEqual(ok("branch", "-r", in: a), "  origin/main\n")
        XCTAssertEqual(ok("branch", "-a", in: a), "  feature\n* main\n  remotes/origin/main\n")
        XCTAssertEqual(ok("branch", "--all", in: a), ok("branch", "-a", in: a))
        XCTAssertEqual(ok("branch", in: a), "  feature\n* main\n", "without -a: local branches only")

        // A fetch in another repository records the remote's branches there.
        ok("init", in: b)
        ok("remote", "add", "origin", remote, in: b)
        ok("fetch", in: b)
        XCTAssertEqual(ok("branch", "-r", in: b), "  origin/main\n")
        let id = head(a)
        XCTAssertEqual(ok("branch", "-rv", in: b), "  origin/main \(id.prefix(12)) one\n")
        let j = json(ok("branch", "-a", "--json", in: b)) as? [[String: Any]] ?? []
        XCTAssertEqual(j.count, 1)
        XCTAssertEqual(j.first?["name"] as? String, "origin/main")
        XCTAssertEqual(j.first?["id"] as? String, id)
        XCTAssertEqual(j.first?["remote"] as? Bool, true)
        XCTAssertEqual(j.first?["current"] as? Bool, false)
        XCTAssertNil((json(ok("branch", "--json", in: a)) as? [[String: Any]])?.first?["remote"], "plain --json keeps its shape")
        XCTAssertEqual(fails(2, "branch", "-r", "new", in: a).err.contains("take no NAME"), true)
        let help = ok("branch", "--help")
        XCTAssertTrue(help.contains("-r/--remotes") && help.contains("remotes/origin/main"), help)
    }
}
