import Foundation
import XCTest
import TestHelpers

/// Two people, one remote: they take turns committing and pushing; a rejected push is
/// followed by `pull` (fetch + merge) and a push that goes through, with a clean merge and
/// with a conflict resolved by hand. Once on a folder remote, once on S3 (moto).
final class PullMergeTests: CLITestCase {
    var moto: Process?

    override func tearDownWithError() throws {
        if let m = moto, m.isRunning { m.terminate(); m.waitUntilExit() }
        try super.tearDownWithError()
    }

    func file(_ at: URL, _ rel: String, _ text: String) { try! Data(text.utf8).write(to: at.appendingPathComponent(rel)) }
    func content(_ at: URL, _ rel: String) -> String? { try? String(contentsOf: at.appendingPathComponent(rel), encoding: .utf8) }

    /// The whole exchange against `remoteURL` (extra clone arguments and environment for S3).
    func takeTurns(remoteURL: String, cloneArgs: [String] = [], env e: [String: String] = [:]) {
        let a = dir("alice")
        ok("init", in: a)
        file(a, "shared.txt", "one\ntwo\nthree\n")
        file(a, "alice.txt", "a\n")
        file(a, "bob.txt", "b\n")
        ok("add", ".", in: a); ok("commit", "-m", "start", in: a)
        okArgs(["remote", "add", "origin", remoteURL] + cloneArgs, in: a)
        ok("push", in: a, env: e)
        let b = base.appendingPathComponent("bob")
        okArgs(["clone", remoteURL, b.path] + cloneArgs, in: base, env: e)

        // Turn 1: different files. Alice pushes first; Bob's push is refused with a hint
        // that works: pull merges, then push.
        file(a, "alice.txt", "a2\n"); ok("add", ".", in: a); ok("commit", "-m", "alice 2", in: a)
        ok("push", in: a, env: e)
        file(b, "bob.txt", "b2\n"); ok("add", ".", in: b); ok("commit", "-m", "bob 2", in: b)
        let rejected = runResult(["push"], in: b, env: e)
        XCTAssertEqual(rejected.code, 1)
        XCTAssertTrue(rejected.err.contains("'mlrepo pull origin main' merges them in; then push again"), rejected.err)
        let bobTip = head(b)
        let pull = runResult(["pull"], in: b, env: e)
        XCTAssertEqual(pull.code, 0, pull.out + pull.err)
        XCTAssertTrue(pull.out.contains("Merge made by the three-way strategy"), pull.out)
        XCTAssertEqual(revParse2(b, "HEAD^1"), bobTip)
        XCTAssertEqual(revParse2(b, "HEAD^2"), head(a))
        XCTAssertTrue(ok("cat-object", "-p", "HEAD", in: b).contains("Merge branch 'main' of \(remoteURL)"))
        XCTAssertEqual(content(b, "alice.txt"), "a2\n"); XCTAssertEqual(content(b, "bob.txt"), "b2\n")
        ok("push", in: b, env: e)
        // Alice's pull is a fast-forward to Bob's merge.
        let ff = runResult(["pull"], in: a, env: e)
        XCTAssertEqual(ff.code, 0, ff.err)
        XCTAssertTrue(ff.out.contains("Fast-forward"), ff.out)
        XCTAssertEqual(head(a), head(b))
        XCTAssertEqual(content(a, "bob.txt"), "b2\n")

        // Turn 2: the same line. Bob pushes first this time; Alice's pull conflicts.
        file(b, "shared.txt", "one\nTWO (bob)\nthree\n"); ok("add", ".", in: b); ok("commit", "-m", "bob 3", in: b)
        ok("push", in: b, env: e)
        file(a, "shared.txt", "one\nTWO (alice)\nthree\n"); ok("add", ".", in: a); ok("commit", "-m", "alice 3", in: a)
        XCTAssertEqual(runResult(["push"], in: a, env: e).code, 1)
        XCTAssertEqual(runResult(["pull", "--ff-only"], in: a, env: e).code, 1, "not a fast-forward")
        let conflicted = runResult(["pull"], in: a, env: e)
        XCTAssertEqual(conflicted.code, 1)
        XCTAssertTrue(conflicted.out.contains("CONFLICT (content): Merge conflict in shared.txt"), conflicted.out)
        XCTAssertTrue(content(a, "shared.txt")?.contains(">>>>>>> origin/main\n") == true)
        file(a, "shared.txt", "one\nTWO (alice and bob)\nthree\n")
        ok("add", "shared.txt", in: a)
        ok("commit", in: a)
        ok("push", in: a, env: e)
        ok("pull", in: b, env: e)
        XCTAssertEqual(head(a), head(b))
        XCTAssertEqual(content(b, "shared.txt"), "one\nTWO (alice and bob)\nthree\n")
        XCTAssertTrue(ok("status", in: b).contains("nothing to commit, working tree clean"))
        // Nothing left to pull.
        XCTAssertEqual(ok("pull", in: a, env: e), "Already up to date.\n")
    }

    func okArgs(_ args: [String], in dir: URL, env e: [String: String] = [:], line: UInt = #line) {
        let r = runResult(args, in: dir, env: e)
        XCTAssertEqual(r.code, 0, "mlrepo \(args.joined(separator: " ")): \(r.err)", line: line)
    }

    func revParse2(_ at: URL, _ rev: String) -> String { ok("rev-parse", rev, in: at).trimmingCharacters(in: .whitespacesAndNewlines) }

    func testFolderRemoteTakingTurns() throws {
        takeTurns(remoteURL: base.appendingPathComponent("remote").path)
    }

    /// A shallow clone whose merge base lies beyond its history: a clear refusal naming the
    /// way out, and after `fetch --unshallow` the same pull merges.
    func testShallowCloneMissingTheBase() throws {
        let a = dir("a"), remote = base.appendingPathComponent("remote").path
        ok("init", in: a)
        file(a, "f", "1\n"); ok("add", ".", in: a); ok("commit", "-m", "A", in: a)
        file(a, "f", "2\n"); ok("add", ".", in: a); ok("commit", "-m", "B", in: a)
        ok("branch", "other", in: a)
        file(a, "f", "3\n"); ok("add", ".", in: a); ok("commit", "-m", "C", in: a)
        ok("remote", "add", "origin", remote, in: a)
        ok("push", "--all", in: a)
        let b = base.appendingPathComponent("b")
        ok("clone", "--depth", "1", remote, b.path, in: base)
        ok("switch", "other", in: a)
        file(a, "g", "o\n"); ok("add", ".", in: a); ok("commit", "-m", "O", in: a)
        ok("push", "origin", "other", in: a)
        file(b, "e", "e\n"); ok("add", ".", in: b); ok("commit", "-m", "E", in: b)
        let before = listFiles(b)
        let r = runResult(["pull", "origin", "other"], in: b)
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("no common ancestor in the fetched history") && r.err.contains("fetch --unshallow"), r.err)
        XCTAssertEqual(listFiles(b), before)
        ok("fetch", "--unshallow", in: b)
        ok("pull", "origin", "other", in: b)
        XCTAssertEqual(content(b, "f"), "3\n"); XCTAssertEqual(content(b, "g"), "o\n"); XCTAssertEqual(content(b, "e"), "e\n")
        XCTAssertEqual(revParse2(b, "HEAD^2"), head(a))
    }

    /// gc during a conflicted pull keeps the commit being merged (MERGE_HEAD), even when no
    /// ref reaches it any more; the merge can still be committed with it as second parent.
    func testGCDuringAConflictedPullKeepsMergeHead() throws {
        let a = dir("a"), remote = base.appendingPathComponent("remote").path
        ok("init", in: a)
        file(a, "f", "1\n"); ok("add", ".", in: a); ok("commit", "-m", "A", in: a)
        ok("remote", "add", "origin", remote, in: a)
        ok("push", "origin", "main", in: a)
        let b = base.appendingPathComponent("b")
        ok("clone", remote, b.path, in: base)
        file(b, "f", "theirs\n"); ok("add", ".", in: b); ok("commit", "-m", "B", in: b); ok("push", in: b)
        file(a, "f", "ours\n"); ok("add", ".", in: a); ok("commit", "-m", "C", in: a)
        XCTAssertEqual(runResult(["pull", "origin", "main"], in: a).code, 1)
        let theirs = head(b)
        ok("remote", "remove", "origin", in: a)
        ok("gc", in: a)
        file(a, "f", "both\n"); ok("add", "f", in: a)
        ok("commit", "-m", "merged", in: a)
        XCTAssertEqual(revParse2(a, "HEAD^2"), theirs)
        ok("fsck", in: a)
    }

    func testS3RemoteTakingTurns() throws {
        let check = tool(["python3", "-c", "import moto.server, boto3"])
        guard check.code == 0 else { throw XCTSkip("moto[server] and boto3 are not installed (pip install 'moto[server]' boto3)") }
        let port = freeLoopbackPort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        moto = p
        let endpoint = "http://127.0.0.1:\(port)"
        var up = false
        for _ in 0..<100 {
            let r = tool(["python3", "-c", "import boto3; boto3.client('s3', endpoint_url='\(endpoint)').create_bucket(Bucket='team')"], env: s3Env)
            if r.code == 0 { up = true; break }
            usleep(100_000)
        }
        XCTAssertTrue(up, "moto did not start")
        guard up else { return }
        takeTurns(remoteURL: "s3://team/project", cloneArgs: ["--endpoint", endpoint], env: s3Env)
    }
}
