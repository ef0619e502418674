import Foundation
import XCTest

/// Hostile ref names (issue 13 #1) and the smaller store checks of issue 13 #10: fsck on a
/// bad HEAD, planted ref files and reflogs, fsck racing add, config lines that do not parse.
final class CLIRefSafetyTests: CLITestCase {
    /// A repository `a` with one commit pushed to a plain folder remote, and a clone `b`.
    func pushedAndCloned() -> (a: URL, b: URL, remote: URL) {
        let a = dir("a"), remote = base.appendingPathComponent("remote")
        ok("init", in: a)
        try? Data("hello\n".utf8).write(to: a.appendingPathComponent("a.txt"))
        ok("add", ".", in: a)
        ok("commit", "-m", "one", in: a)
        ok("remote", "add", "origin", remote.path, in: a)
        ok("push", in: a)
        ok("clone", remote.path, base.appendingPathComponent("b").path, in: base)
        return (a, base.appendingPathComponent("b"), remote)
    }

    /// Every file and folder under `root` (relative paths), for "nothing was written".
    func snapshot(_ root: URL) -> [String: Data] {
        var out: [String: Data] = [:]
        guard let e = FileManager.default.enumerator(atPath: root.path) else { return out }
        while let p = e.nextObject() as? String {
            out[p] = (try? Data(contentsOf: root.appendingPathComponent(p))) ?? Data()
        }
        return out
    }

    func testFolderRemoteWithAnInvalidRefNameRefusesTheWholeFetch() throws {
        let (a, b, remote) = pushedAndCloned()
        // The remote moves on: a fetch that went ahead would move origin/main.
        try Data("two\n".utf8).write(to: a.appendingPathComponent("a.txt"))
        ok("add", ".", in: a)
        ok("commit", "-m", "two", in: a)
        ok("push", in: a)
        let id = head(a)
        // Names a directory can hold but git's rules refuse.
        for bad in ["x.lock", "evil\u{1b}]0;pwned\u{07}", "a b", "-dash", "tail.", "q?"] {
            let planted = remote.appendingPathComponent("refs/heads/" + bad)
            try Data((id + "\n").utf8).write(to: planted)
            defer { try? FileManager.default.removeItem(at: planted) }
            let before = snapshot(b.appendingPathComponent(".mlrepo"))
            let r = runResult(["fetch"], in: b)
            XCTAssertNotEqual(r.code, 0, "fetch with remote ref '\(bad)' must fail: \(r.err)")
            let lines = r.err.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "one line: \(r.err)")
            XCTAssertTrue(r.err.contains(remote.path), "names the remote: \(r.err)")
            XCTAssertTrue(r.err.contains("refs/heads/"), "names the key: \(r.err)")
            XCTAssertFalse(r.err.contains("\u{1b}"), "no raw escape in the message: \(r.err)")
            XCTAssertEqual(snapshot(b.appendingPathComponent(".mlrepo")), before, "nothing written by a refused fetch ('\(bad)')")
        }
        // A clone of that remote fails too and leaves nothing behind.
        try Data((id + "\n").utf8).write(to: remote.appendingPathComponent("refs/heads/x.lock"))
        let r = runResult(["clone", remote.path, base.appendingPathComponent("c").path], in: base)
        XCTAssertNotEqual(r.code, 0, r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: base.appendingPathComponent("c").path))
        // Without it, the fetch works.
        try FileManager.default.removeItem(at: remote.appendingPathComponent("refs/heads/x.lock"))
        ok("fetch", in: b)
        XCTAssertEqual(ok("rev-parse", "origin/main", in: b).trimmingCharacters(in: .whitespacesAndNewlines), id)
    }

    func testPlantedRefFilesAreNotFollowedAndFsckReportsThem() throws {
        ok("init")
        write("a.txt", "a\n")
        ok("add", ".")
        let id = commit("one")
        XCTAssertEqual(ok("fsck").hasSuffix(": ok\n"), true)
        let heads = url(".mlrepo/refs/heads")
        // A name with a terminal escape, and a symlink to a file outside the repository.
        try Data((id + "\n").utf8).write(to: heads.appendingPathComponent("evil\u{1b}[31m"))
        let outside = base.appendingPathComponent("outside")
        try Data((id + "\n").utf8).write(to: outside)
        try FileManager.default.createSymbolicLink(atPath: heads.appendingPathComponent("link").path, withDestinationPath: outside.path)
        let branches = ok("branch")
        XCTAssertFalse(branches.contains("evil"), branches)
        XCTAssertFalse(branches.contains("link"), "a symlinked ref is not followed: \(branches)")
        let r = fails(1, "fsck")
        XCTAssertTrue(r.err.contains("evil\\033[31m"), "the bad name, escaped: \(r.err)")
        XCTAssertTrue(r.err.contains("refs/heads/link"), r.err)
        XCTAssertFalse(r.err.contains("\u{1b}"), r.err)
        XCTAssertNotEqual(runResult(["gc"]).code, 0, "gc refuses a repository with problems")
        // A branch name from the command line never becomes a path outside refs/.
        XCTAssertNotEqual(runResult(["reflog", "../../../../outside"]).code, 0)
        let show = runResult(["registry", "log", "../heads/main"])
        XCTAssertNotEqual(show.code, 0)
        XCTAssertTrue(show.err.contains("refusing the ref name"), show.err)
    }

    func testFsckChecksHead() throws {
        ok("init")
        write("a.txt", "a\n")
        ok("add", ".")
        let id = commit("one")
        for (headText, expect) in [("garbage\n", "HEAD"), ("ref: refs/heads/../../config\n", "HEAD"),
                                   (String(repeating: "ab", count: 32) + "\n", "abababab")] {
            try Data(headText.utf8).write(to: url(".mlrepo/HEAD"))
            let r = fails(1, "fsck")
            XCTAssertTrue(r.err.contains(expect), "HEAD '\(headText)': \(r.err)")
        }
        try Data("ref: refs/heads/main\n".utf8).write(to: url(".mlrepo/HEAD"))
        ok("fsck")
        // A reflog line that does not parse, and a ref file that is not an id.
        let log = url(".mlrepo/logs/refs/heads/main")
        let good = try Data(contentsOf: log)
        try (good + Data("not a reflog line\n".utf8)).write(to: log)
        XCTAssertTrue(fails(1, "fsck").err.contains("logs/refs/heads/main:2"))
        try (good + Data("\(id) \(id) partial".utf8)).write(to: log)
        ok("fsck")  // a last line without its newline is an append in progress
        try good.write(to: log)
        try Data("nonsense\n".utf8).write(to: url(".mlrepo/refs/tags/t"))
        XCTAssertTrue(fails(1, "fsck").err.contains("refs/tags/t"))
    }

    /// fsck opened the repository (and listed its packs) before a concurrent add published
    /// a pack and the index naming it: fsck must not call those objects missing.
    func testConcurrentAddAndFsckReportNoFalseProblems() throws {
        ok("init")
        for i in 0..<20 { write("base/f\(i).txt", "base \(i)\n") }
        ok("add", ".")
        commit("base")
        var falseReports: [String] = []
        let rounds = 150
        for round in 0..<rounds {
            for i in 0..<10 { write("r\(round)/f\(i).txt", "round \(round) file \(i) \(UUID().uuidString)\n") }
            let add = try start(["add", "."])
            usleep(UInt32((round * 7919) % 10_000))
            let f = collect(try start(["fsck"]))
            let ra = collect(add)
            XCTAssertEqual(ra.code, 0, "add: \(ra.err)")
            if f.code != 0 { falseReports.append("round \(round): \(f.out) \(f.err)") }
        }
        XCTAssertEqual(falseReports, [], "fsck reported problems that were not there in \(falseReports.count) of \(rounds) rounds")
        ok("fsck")
    }

    func testConfigLineThatDoesNotParseIsAnErrorNamingFileAndLine() throws {
        ok("init")
        let cfg = url(".mlrepo/config")
        let good = try String(contentsOf: cfg, encoding: .utf8)
        let lines = good.split(separator: "\n", omittingEmptySubsequences: false).count
        try (good + "this is not a setting\n").write(to: cfg, atomically: true, encoding: .utf8)
        for args in [["status"], ["log"], ["config", "user.name"], ["config", "--list"]] {
            let r = runResult(args)
            XCTAssertNotEqual(r.code, 0, "\(args): \(r.err)")
            XCTAssertTrue(r.err.contains(".mlrepo/config:\(lines):"), "\(args) names the file and line \(lines): \(r.err)")
        }
        // Unsetting (or setting) a key repairs the file, saying what it removed.
        let r = runResult(["config", "--unset", "user.name"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains(".mlrepo/config:\(lines):"), r.err)
        ok("status")
        XCTAssertEqual(try String(contentsOf: cfg, encoding: .utf8), good)
        // git's forms parse: a lone key is true, [section "sub"] is section.sub.
        try (good + "[remote \"origin\"]\n\turl = /nowhere\n[x]\n\tflag\n").write(to: cfg, atomically: true, encoding: .utf8)
        XCTAssertEqual(ok("config", "x.flag"), "true\n")
        XCTAssertEqual(ok("config", "remote.origin.url"), "/nowhere\n")
        // A key or value that would not read back is refused.
        XCTAssertNotEqual(runResult(["config", "user.na me", "x"]).code, 0)
        XCTAssertNotEqual(runResult(["config", "user.name", "a\nb"]).code, 0)
        ok("status")
    }
}

extension CLIRemoteTests {
    /// An S3 key can hold `..`: `PREFIX/refs/heads/../../…/EVIL` must not make clone or fetch
    /// write outside the repository; they fail, naming the remote and the key, and write nothing.
    func testS3RefKeyWithDotDotIsRefused() throws {
        guard try startMoto() else { throw XCTSkip("moto[server] and boto3 are not installed (pip install 'moto[server]' boto3)") }
        let endpoint = "http://127.0.0.1:\(motoPort)"
        XCTAssertEqual(python("import boto3; boto3.client('s3', endpoint_url='\(endpoint)').create_bucket(Bucket='ml-team')").code, 0)
        let a = dir("a")
        ok("init", in: a)
        try Data("hi\n".utf8).write(to: a.appendingPathComponent("a.txt"))
        ok("add", ".", in: a)
        ok("commit", "-m", "one", in: a)
        ok("remote", "add", "origin", "s3://ml-team/demo", "--endpoint", endpoint, in: a)
        XCTAssertEqual(runResult(["push"], in: a, env: s3Env).code, 0)
        ok("clone", "s3://ml-team/demo", base.appendingPathComponent("b").path, "--endpoint", endpoint, in: base, env: s3Env)
        let b = base.appendingPathComponent("b")
        let target = dir("target")
        let evilKey = "refs/heads/" + String(repeating: "../", count: 24) + String(target.path.dropFirst()) + "/EVIL"
        let put = python("""
        import boto3
        s = boto3.client('s3', endpoint_url='\(endpoint)')
        s.put_object(Bucket='ml-team', Key='demo/\(evilKey)', Body=b'\(head(a))\\n')
        """)
        XCTAssertEqual(put.code, 0, put.out)
        var r = runResult(["clone", "s3://ml-team/demo", base.appendingPathComponent("c").path, "--endpoint", endpoint], in: base, env: s3Env)
        XCTAssertNotEqual(r.code, 0, r.err)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
        XCTAssertTrue(r.err.contains("s3://ml-team/demo") && r.err.contains(evilKey), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: target.appendingPathComponent("EVIL").path), "wrote outside the repository")
        r = runResult(["fetch"], in: b, env: s3Env)
        XCTAssertNotEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains(evilKey), r.err)
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: target.path)) ?? ["?"], [], "wrote outside the repository")
    }
}
