import Foundation
import XCTest
import TestHelpers
import Store

/// log, show, diff, rev-parse, branch, tag and the plumbing commands.
final class CLIHistoryTests: CLITestCase {
    var c1 = "", c2 = "", c3 = ""
    var big = Data()

    /// c1: a.txt, p.txt, dir/x.txt, big.bin (3 MB, chunked); c2: p.txt changed;
    /// c3: a.txt changed, dir/x.txt removed, new.txt added.
    func makeHistory() {
        ok("init")
        var rng = SplitMix(seed: 99)
        big = rng.data(3_000_000)
        write("a.txt", "alpha\n")
        write("p.txt", "ppp")
        write("dir/x.txt", "x")
        write("big.bin", big)
        ok("add", ".")
        c1 = commit("first commit")
        write("p.txt", "ppppp")
        ok("add", "p.txt")
        c2 = commit("second")
        write("a.txt", "alpha, again\n")
        remove("dir")
        write("new.txt", "n")
        ok("add", ".")
        c3 = commit("third\n\nwith a body")
    }

    func testLog() {
        makeHistory()
        guard let log = json(ok("log", "--json")) as? [[String: Any]] else { return XCTFail() }
        XCTAssertEqual(log.map { $0["id"] as? String }, [c3, c2, c1])
        XCTAssertEqual(log.map { ($0["parents"] as? [String]) ?? ["?"] }, [[c2], [c1], []])
        for e in log {
            for k in ["id", "parents", "author", "time", "message"] { XCTAssertNotNil(e[k], "log entry has \(k)") }
            XCTAssertEqual(e["author"] as? String, "Test Author <test@example.com>")
            let t = e["time"] as? String ?? ""
            XCTAssertTrue(t.hasSuffix("+00:00") && t.count == 25, "ISO 8601 time: \(t)")
        }
        XCTAssertEqual(log[0]["message"] as? String, "third\n\nwith a body\n")
        XCTAssertEqual(log[2]["message"] as? String, "first commit\n")
        let n1 = json(ok("log", "--json", "-n", "1")) as? [[String: Any]]
        XCTAssertEqual(n1?.map { $0["id"] as? String }, [c3])
        let n2 = json(ok("log", "--json", "-n2")) as? [[String: Any]]
        XCTAssertEqual(n2?.count, 2)
        let fromC2 = json(ok("log", "--json", c2)) as? [[String: Any]]
        XCTAssertEqual(fromC2?.map { $0["id"] as? String }, [c2, c1])
        let pLog = json(ok("log", "--json", "--", "p.txt")) as? [[String: Any]]
        XCTAssertEqual(pLog?.map { $0["id"] as? String }, [c2, c1], "commits that touched p.txt")
        let dirLog = json(ok("log", "--json", "--", "dir")) as? [[String: Any]]
        XCTAssertEqual(dirLog?.map { $0["id"] as? String }, [c3, c1])
        let none = json(ok("log", "--json", "--", "never-existed")) as? [[String: Any]]
        XCTAssertEqual(none?.count, 0)
        let text = ok("log")
        XCTAssertTrue(text.hasPrefix("commit \(c3)\nAuthor: Test Author <test@example.com>\nDate:   "), text)
        XCTAssertTrue(text.contains("\n    third\n    \n    with a body\n"), text)
        XCTAssertEqual(ok("log", "--oneline"), "\(c3.prefix(12)) third\n\(c2.prefix(12)) second\n\(c1.prefix(12)) first commit\n")
        fails(1, "log", "nosuchrev")
        // An unborn branch.
        let empty = base.appendingPathComponent("empty")
        ok("init", empty.path)
        XCTAssertEqual(ok("log", "--json", in: empty), "[]\n")
        fails(1, "log", in: empty)
    }

    func testShow() {
        makeHistory()
        let s = ok("show", c2)
        XCTAssertTrue(s.hasPrefix("commit \(c2)\nParent: \(c1)\nAuthor: Test Author <test@example.com>\n"), s)
        XCTAssertTrue(s.contains("    second\n"), s)
        XCTAssertTrue(s.contains(" p.txt") && s.contains("| modified 3 B -> 5 B (+2 B)\n"), s)
        XCTAssertTrue(s.contains("\n p.txt | modified 3 B -> 5 B (+2 B)\n"), s)
        XCTAssertTrue(s.contains("1 path(s) changed: 0 added, 0 removed, 1 modified"), s)
        let first = ok("show", c1)
        XCTAssertTrue(first.contains("4 path(s) changed: 4 added"), first)
        // Exact bytes of files, including the chunked 3 MB one.
        XCTAssertEqual(runResult(["show", "\(c1):big.bin"]).outData, big)
        XCTAssertEqual(runResult(["show", "HEAD:big.bin"]).outData, big)
        XCTAssertEqual(ok("show", "\(c1):p.txt"), "ppp")
        XCTAssertEqual(ok("show", "\(c2):p.txt"), "ppppp")
        XCTAssertEqual(ok("show", "HEAD~2:a.txt"), "alpha\n")
        XCTAssertEqual(ok("show", "main:new.txt"), "n")
        XCTAssertEqual(ok("show", ":new.txt"), "n", "empty REV means HEAD")
        XCTAssertEqual(ok("show", "\(c1):dir"), "x.txt\n", "a folder lists its entries")
        XCTAssertEqual(ok("show", "\(c1):"), "a.txt\nbig.bin\ndir/\np.txt\n")
        let missing = fails(1, "show", "HEAD:dir/x.txt")
        XCTAssertTrue(missing.err.contains("does not exist"), missing.err)
        fails(1, "show", "nosuch:a.txt")
        fails(1, "show", "nosuchrev")
        fails(1, "show", "HEAD:../../etc/passwd")
    }

    func testDiff() {
        makeHistory()
        // Two revisions.
        guard let d = json(ok("diff", c1, c3, "--json")) as? [[String: Any]] else { return XCTFail() }
        XCTAssertEqual(d.map { $0["path"] as? String }, ["a.txt", "dir/x.txt", "new.txt", "p.txt"])
        XCTAssertEqual(d.map { $0["status"] as? String }, ["modified", "deleted", "added", "modified"])
        XCTAssertEqual(d.map { $0["old_size"] as? Int }, [6, 1, nil, 3])
        XCTAssertEqual(d.map { $0["new_size"] as? Int }, [13, nil, 1, 5])
        for e in d {
            XCTAssertTrue(Set(e.keys).isSuperset(of: ["path", "status", "old_size", "new_size"]), "\(e.keys)")
            if e["old_size"] == nil { XCTFail("old_size key present (null when absent)") }
        }
        XCTAssertTrue(d[2]["old_size"] is NSNull)
        XCTAssertEqual(ok("diff", "--name-status", c1, c3), "M\ta.txt\nD\tdir/x.txt\nA\tnew.txt\nM\tp.txt\n")
        // Text files show their lines (big.bin is unchanged); more in DiffContentTests.
        XCTAssertEqual(ok("diff", c1, c3), """
            diff --mlrepo a/a.txt b/a.txt
            --- a/a.txt
            +++ b/a.txt
            @@ -1 +1 @@
            -alpha
            +alpha, again
            diff --mlrepo a/dir/x.txt b/dir/x.txt
            deleted file mode 100644
            --- a/dir/x.txt
            +++ /dev/null
            @@ -1 +0,0 @@
            -x
            \\ No newline at end of file
            diff --mlrepo a/new.txt b/new.txt
            new file mode 100644
            --- /dev/null
            +++ b/new.txt
            @@ -0,0 +1 @@
            +n
            \\ No newline at end of file
            diff --mlrepo a/p.txt b/p.txt
            --- a/p.txt
            +++ b/p.txt
            @@ -1 +1 @@
            -ppp
            \\ No newline at end of file
            +ppppp
            \\ No newline at end of file

            """)
        XCTAssertEqual(ok("diff", "--stat", c1, c3), """
             a.txt     | 2 +-
             dir/x.txt | 1 -
             new.txt   | 1 +
             p.txt     | 2 +-
             4 files changed, 3 insertions(+), 3 deletions(-)

            """)
        XCTAssertEqual(ok("diff", "--name-only", c1, c2), "p.txt\n")
        XCTAssertEqual(ok("diff", c3, c3, "--json"), "[]\n")
        let rev = json(ok("diff", c3, c1, "--json")) as? [[String: Any]]
        XCTAssertEqual(rev?.map { $0["status"] as? String }, ["modified", "added", "deleted", "modified"])
        // Limited to a path.
        let onlyP = json(ok("diff", c1, c3, "--json", "--", "p.txt")) as? [[String: Any]]
        XCTAssertEqual(onlyP?.map { $0["path"] as? String }, ["p.txt"])
        // No revision: the work tree against the index.
        XCTAssertEqual(ok("diff", "--json"), "[]\n")
        write("p.txt", "changed in the work tree")
        remove("new.txt")
        let w = json(ok("diff", "--json")) as? [[String: Any]]
        XCTAssertEqual(w?.map { $0["path"] as? String }, ["new.txt", "p.txt"])
        XCTAssertEqual(w?.map { $0["status"] as? String }, ["deleted", "modified"])
        XCTAssertEqual(w?.last?["new_size"] as? Int, 24)
        // One revision: the work tree against it; --cached: the index against it.
        let one = json(ok("diff", c2, "--json")) as? [[String: Any]]
        XCTAssertEqual(one?.map { $0["path"] as? String }, ["a.txt", "dir/x.txt", "p.txt"])
        XCTAssertEqual(one?.map { $0["status"] as? String }, ["modified", "deleted", "modified"])
        ok("add", "p.txt")
        let cached = json(ok("diff", "--cached", "--json")) as? [[String: Any]]
        XCTAssertEqual(cached?.map { $0["path"] as? String }, ["p.txt"])
        let cachedRev = json(ok("diff", "--cached", c1, "--json")) as? [[String: Any]]
        XCTAssertEqual(cachedRev?.map { $0["path"] as? String }, ["a.txt", "dir/x.txt", "new.txt", "p.txt"])
        fails(1, "diff", "nosuchrev")
    }

    func testRevParse() {
        makeHistory()
        XCTAssertEqual(revParse(c1), c1)
        XCTAssertEqual(revParse(c1.uppercased()), c1)
        XCTAssertEqual(revParse(String(c1.prefix(4))), c1, "4-digit unique prefix")
        XCTAssertEqual(revParse(String(c2.prefix(7))), c2)
        XCTAssertEqual(revParse("HEAD"), c3)
        XCTAssertEqual(revParse("@"), c3)
        XCTAssertEqual(revParse("HEAD~1"), c2)
        XCTAssertEqual(revParse("HEAD~2"), c1)
        XCTAssertEqual(revParse("main^"), c2)
        XCTAssertEqual(revParse("main^^"), c1)
        XCTAssertEqual(revParse("main~1^"), c1)
        XCTAssertEqual(revParse("HEAD~0"), c3)
        XCTAssertEqual(revParse("refs/heads/main"), c3)
        ok("tag", "v1", c1)
        XCTAssertEqual(revParse("v1"), c1)
        XCTAssertEqual(revParse("refs/tags/v1"), c1)
        XCTAssertEqual(revParse("v1~0"), c1)
        XCTAssertEqual(ok("rev-parse", "--short", "HEAD"), String(c3.prefix(12)) + "\n")
        XCTAssertEqual(ok("rev-parse", "HEAD", c1), "\(c3)\n\(c1)\n")
        XCTAssertEqual(ok("rev-parse", "--abbrev-ref", "HEAD"), "main\n")
        for bad in ["nosuch", "HEAD~3", "v1^", "HEAD^2", "abc", "zzzz", String(repeating: "0", count: 64), "HEAD~x", "", "main@{1}"] {
            let r = runResult(["rev-parse", bad])
            XCTAssertEqual(r.code, 1, "rev-parse '\(bad)': \(r.out) \(r.err)")
            XCTAssertTrue(r.err.hasPrefix("error: "), r.err)
        }
        // An ambiguous prefix is refused, naming the problem.
        let r = try! Repository(root: repo.path)
        for i in 0..<3000 { _ = try! r.store.put(.blob, Array("filler \(i)".utf8)) }
        try! r.store.commitPending()
        let byPrefix = Dictionary(grouping: r.store.allIds().map(\.hex), by: { String($0.prefix(4)) })
        let shared = byPrefix.first { $0.value.count > 1 }!.key
        let amb = fails(1, "rev-parse", shared)
        XCTAssertTrue(amb.err.contains("ambiguous"), amb.err)
        fails(1, "cat-object", "-t", shared)
        let unique = byPrefix.first { $0.value.count == 1 && $0.value[0] != c1 }!.value[0]
        XCTAssertEqual(revParse(String(unique.prefix(4))), unique)
        // Object ids of other kinds resolve too.
        let tree = (json(ok("log", "--json", "-n", "1")) as? [[String: Any]])?.first?["tree"] as? String ?? ""
        XCTAssertEqual(revParse(tree), tree)
        XCTAssertEqual(revParse(String(tree.prefix(10))), tree)
    }

    func lsTree(_ args: String...) -> [[String: Any]] {
        (json(ok(["ls-tree"] + args)) as? [[String: Any]]) ?? []
    }

    func ok(_ args: [String], file: StaticString = #filePath, line: UInt = #line) -> String {
        let r = runResult(args)
        XCTAssertEqual(r.code, 0, "\(args): \(r.err)", file: file, line: line)
        return r.out
    }

    func testLsTreeHashObjectCatObject() throws {
        makeHistory()
        write("tool.sh", "#!/bin/sh\necho hi\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url("tool.sh").path)
        write("deep/er/f.txt", "deep")
        ok("add", ".")
        let c4 = commit("fourth")
        let rows = lsTree("-r", "--json", c4)
        XCTAssertEqual(rows.map { $0["path"] as? String }, ["a.txt", "big.bin", "deep/er/f.txt", "new.txt", "p.txt", "tool.sh"])
        for r in rows {
            XCTAssertTrue(Set(r.keys).isSuperset(of: ["path", "id", "size", "mode"]), "\(r.keys)")
            XCTAssertTrue(isHexId(r["id"] as? String ?? ""))
        }
        func row(_ p: String) -> [String: Any] { rows.first { $0["path"] as? String == p } ?? [:] }
        XCTAssertEqual(row("big.bin")["size"] as? Int, 3_000_000)
        XCTAssertEqual(row("a.txt")["mode"] as? String, "100644")
        XCTAssertEqual(row("tool.sh")["mode"] as? String, "100755")
        XCTAssertEqual(row("deep/er/f.txt")["size"] as? Int, 4)
        // Not recursive: folders are entries.
        let top = lsTree("--json", "HEAD")
        XCTAssertEqual(top.map { $0["path"] as? String }, ["a.txt", "big.bin", "deep", "new.txt", "p.txt", "tool.sh"])
        let deep = top.first { $0["path"] as? String == "deep" } ?? [:]
        XCTAssertEqual(deep["mode"] as? String, "040000")
        XCTAssertEqual(deep["size"] as? Int, 4, "a folder's size is the sum of its files")
        XCTAssertEqual(lsTree("--json", "HEAD", "deep").map { $0["path"] as? String }, ["deep/er"])
        XCTAssertEqual(lsTree("-r", "--json", "HEAD", "deep/").map { $0["path"] as? String }, ["deep/er/f.txt"])
        XCTAssertEqual(lsTree("--json", "HEAD", "a.txt").map { $0["path"] as? String }, ["a.txt"])
        fails(1, "ls-tree", "HEAD", "nope")
        let textRows = ok("ls-tree", "HEAD").split(separator: "\n")
        XCTAssertTrue(textRows.contains { $0.hasPrefix("040000 tree ") && $0.hasSuffix("\tdeep") }, "\(textRows)")

        // hash-object gives the id ls-tree reports, for small and chunked files, in and out of the repo.
        for p in ["a.txt", "big.bin", "tool.sh", "deep/er/f.txt"] {
            let h = ok("hash-object", p).trimmingCharacters(in: .newlines)
            XCTAssertEqual(h, row(p)["id"] as? String, p)
            let outside = ok("hash-object", url(p).path, in: base).trimmingCharacters(in: .newlines)
            XCTAssertEqual(outside, h, "outside a repository: default chunk size")
        }
        XCTAssertEqual(ok("hash-object", "a.txt", "p.txt").split(separator: "\n").count, 2)
        fails(1, "hash-object", "missing.txt")
        fails(1, "hash-object", "deep")
        // -w stores it.
        write("loose.txt", "stored by hash-object -w")
        let lid = ok("hash-object", "loose.txt").trimmingCharacters(in: .newlines)
        fails(1, "cat-object", "-t", lid)
        XCTAssertEqual(ok("hash-object", "-w", "loose.txt").trimmingCharacters(in: .newlines), lid)
        XCTAssertEqual(ok("cat-object", "-t", lid), "blob\n")
        XCTAssertEqual(ok("cat-object", lid), "stored by hash-object -w")
        fails(1, "hash-object", "-w", url("a.txt").path, in: base)

        // cat-object.
        XCTAssertEqual(ok("cat-object", "-t", "HEAD"), "commit\n")
        let aId = row("a.txt")["id"] as! String
        XCTAssertEqual(ok("cat-object", "-t", aId), "blob\n")
        XCTAssertEqual(ok("cat-object", "-s", aId), "13\n")
        XCTAssertEqual(ok("cat-object", aId), "alpha, again\n")
        XCTAssertEqual(ok("cat-object", "-p", aId), "alpha, again\n")
        XCTAssertEqual(ok("cat-object", String(aId.prefix(8))), "alpha, again\n")
        let bigId = row("big.bin")["id"] as! String
        XCTAssertEqual(ok("cat-object", "-t", bigId), "chunks\n")
        let list = ok("cat-object", "-p", bigId)
        XCTAssertTrue(list.hasPrefix("level "), list)
        XCTAssertTrue(list.split(separator: "\n")[0].contains("size 3000000"), list)
        let commitText = ok("cat-object", "-p", c4)
        let treeId = (json(ok("log", "--json", "-n", "1")) as? [[String: Any]])?.first?["tree"] as? String ?? "?"
        XCTAssertTrue(commitText.hasPrefix("tree \(treeId)\nparent \(c3)\nauthor Test Author <test@example.com> "), commitText)
        XCTAssertTrue(commitText.hasSuffix("\n\nfourth\n"), commitText)
        XCTAssertEqual(ok("cat-object", "-t", treeId), "tree\n")
        let treeText = ok("cat-object", "-p", treeId)
        XCTAssertTrue(treeText.contains("100644 13 \(aId)\ta.txt\n"), treeText)
        XCTAssertTrue(treeText.contains("100755 "), treeText)
        XCTAssertEqual(ok("cat-object", "-s", treeId), "\(runResult(["cat-object", treeId]).outData.count)\n")
        fails(1, "cat-object", "nosuch")
        fails(1, "cat-object", String(repeating: "ab", count: 32))
    }

    func testBranchAndTag() {
        makeHistory()
        XCTAssertEqual(ok("branch"), "* main\n")
        let created = runResult(["branch", "b1"])
        XCTAssertEqual(created.code, 0)
        XCTAssertTrue(created.err.contains("Created branch b1 at \(c3.prefix(12))"), created.err)
        ok("branch", "old", c1)
        ok("branch", "feature/x", "HEAD~1")
        XCTAssertEqual(ok("branch"), "  b1\n  feature/x\n* main\n  old\n")
        XCTAssertEqual(revParse("old"), c1)
        XCTAssertEqual(revParse("feature/x"), c2)
        let bj = json(ok("branch", "--json")) as? [[String: Any]]
        XCTAssertEqual(bj?.map { $0["name"] as? String }, ["b1", "feature/x", "main", "old"])
        XCTAssertEqual(bj?.map { $0["current"] as? Bool }, [false, false, true, false])
        XCTAssertEqual(bj?.map { $0["id"] as? String }, [c3, c2, c3, c1])
        XCTAssertTrue(ok("branch", "-v").contains("* main \(c3.prefix(12)) third"))
        fails(1, "branch", "b1")
        fails(1, "branch", "bad..name")
        fails(1, "branch", "x", "nosuchrev")
        // -d: merged branches only; -D: any; never the current one.
        XCTAssertTrue(ok("branch", "-d", "old").hasPrefix("Deleted branch old (was \(c1.prefix(12)))."))
        ok("switch", "-c", "side")
        write("side.txt", "side"); ok("add", "."); commit("on side")
        ok("switch", "main")
        let r = fails(1, "branch", "-d", "side")
        XCTAssertTrue(r.err.contains("not merged"), r.err)
        fails(1, "branch", "-d", "main")
        fails(1, "branch", "-D", "main")
        ok("branch", "-D", "side")
        fails(1, "branch", "-d", "side")
        ok("branch", "-d", "feature/x")
        XCTAssertFalse(FileManager.default.fileExists(atPath: url(".mlrepo/refs/heads/feature").path))
        XCTAssertEqual(ok("branch"), "  b1\n* main\n")

        // Tags.
        XCTAssertEqual(ok("tag"), "")
        ok("tag", "v1")
        ok("tag", "v0", c1)
        XCTAssertEqual(ok("tag"), "v0\nv1\n")
        XCTAssertEqual(revParse("v1"), c3)
        let dup = fails(1, "tag", "v1")
        XCTAssertTrue(dup.err.contains("already exists"), dup.err)
        ok("tag", "-f", "v1", c2)
        XCTAssertEqual(revParse("v1"), c2)
        let tj = json(ok("tag", "--json")) as? [[String: Any]]
        XCTAssertEqual(tj?.map { $0["name"] as? String }, ["v0", "v1"])
        XCTAssertEqual(tj?.map { $0["id"] as? String }, [c1, c2])
        XCTAssertTrue(ok("tag", "-d", "v0").contains("Deleted tag 'v0'"))
        XCTAssertEqual(ok("tag"), "v1\n")
        fails(1, "tag", "-d", "v0")
        fails(1, "tag", "bad name")
        fails(1, "tag", "t", "nosuchrev")
        // A tag can be checked out (detached).
        ok("checkout", "v1")
        XCTAssertEqual(ok("rev-parse", "--abbrev-ref", "HEAD"), "HEAD\n")
        XCTAssertEqual(text("p.txt"), "ppppp")
    }
}
