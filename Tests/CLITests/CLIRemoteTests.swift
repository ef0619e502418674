import Foundation
import XCTest
import TestHelpers

/// Remotes end to end: a folder remote always; an S3 API (moto in server mode) when
/// `python3 -m moto.server` is available.
final class CLIRemoteTests: CLITestCase {
    var moto: Process?
    var motoPort = 0

    override func tearDownWithError() throws {
        if let m = moto, m.isRunning { m.terminate(); m.waitUntilExit() }
        try super.tearDownWithError()
    }

    /// A repo with a 3 MB random file and a text file, one commit.
    func seed(_ at: URL) {
        ok("init", in: at)
        var g = SplitMix(seed: 18)
        let bytes = (0..<3_000_000).map { _ in UInt8.random(in: 0...255, using: &g) }
        try! Data(bytes).write(to: at.appendingPathComponent("data.bin"))
        try! Data("hello\n".utf8).write(to: at.appendingPathComponent("a.txt"))
        ok("add", ".", in: at)
        ok("commit", "-m", "one", in: at)
    }

    func testFolderRemotePushCloneFetchPull() throws {
        let a = dir("a"), remote = base.appendingPathComponent("remote").path
        seed(a)
        ok("remote", "add", "origin", remote, in: a)
        XCTAssertEqual(ok("remote", "-v", in: a), "origin\t\(remote) (fetch)\norigin\t\(remote) (push)\n")
        var r = runResult(["push"], in: a)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("[new] main -> main"), r.err)
        // Clone: same head, same files, fsck clean.
        ok("clone", remote, base.appendingPathComponent("b").path, in: base)
        let b = base.appendingPathComponent("b")
        XCTAssertEqual(head(b), head(a))
        XCTAssertEqual(try Data(contentsOf: b.appendingPathComponent("data.bin")), try Data(contentsOf: a.appendingPathComponent("data.bin")))
        XCTAssertTrue(ok("fsck", in: b).contains(": ok"))
        XCTAssertEqual(ok("status", "--json", in: b).contains("\"staged\":[]") || ok("status", in: b).contains("nothing to commit"), true)
        // A second push sends only the new objects.
        try Data("hello\nmore\n".utf8).write(to: a.appendingPathComponent("a.txt"))
        ok("add", "a.txt", in: a)
        ok("commit", "-m", "two", in: a)
        r = runResult(["push", "origin", "main"], in: a)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("sent 3 objects"), r.err)  // commit, tree, a.txt
        XCTAssertTrue(runResult(["push"], in: a).err.contains("main is up to date"))
        // Pull fast-forwards the clone and updates its work tree.
        r = runResult(["pull"], in: b)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(head(b), head(a))
        XCTAssertEqual(try String(contentsOf: b.appendingPathComponent("a.txt"), encoding: .utf8), "hello\nmore\n")
        XCTAssertEqual(ok("rev-parse", "origin/main", in: b).trimmingCharacters(in: .whitespacesAndNewlines), head(a))
        // Tags travel with --tags.
        ok("tag", "v1", in: a)
        ok("push", "--tags", in: a)
        ok("fetch", in: b)
        XCTAssertEqual(ok("rev-parse", "v1", in: b).trimmingCharacters(in: .whitespacesAndNewlines), head(a))
    }

    func testConcurrentPushersAndDivergedPull() throws {
        let a = dir("a"), remote = base.appendingPathComponent("remote").path
        seed(a)
        ok("remote", "add", "origin", remote, in: a)
        ok("push", in: a)
        ok("clone", remote, base.appendingPathComponent("b").path, in: base)
        let b = base.appendingPathComponent("b")
        // Both commit on top of the same tip; the first push wins, the second must fetch first.
        try Data("from a\n".utf8).write(to: a.appendingPathComponent("a.txt"))
        ok("add", "a.txt", in: a); ok("commit", "-m", "a2", in: a)
        try Data("from b\n".utf8).write(to: b.appendingPathComponent("b.txt"))
        ok("add", "b.txt", in: b); ok("commit", "-m", "b2", in: b)
        // Start both at once.
        let pa = try start(["push"], in: a), pb = try start(["push"], in: b)
        let ra = collect(pa), rb = collect(pb)
        XCTAssertEqual([ra.code, rb.code].filter { $0 == 0 }.count, 1, "exactly one push wins: \(ra.err) / \(rb.err)")
        let loser = ra.code == 0 ? rb : ra
        XCTAssertTrue(loser.err.contains("fetch first"), loser.err)
        let winner = ra.code == 0 ? a : b, other = ra.code == 0 ? b : a
        // The winner's commit is what the remote has; the loser's pull --ff-only is refused as
        // diverged (a plain pull merges: PullMergeTests).
        ok("fetch", in: other)
        XCTAssertEqual(ok("rev-parse", "origin/main", in: other).trimmingCharacters(in: .whitespacesAndNewlines), head(winner))
        let p = runResult(["pull", "--ff-only"], in: other)
        XCTAssertNotEqual(p.code, 0)
        XCTAssertTrue(p.err.contains("diverged"), p.err)
        XCTAssertEqual(p.err.split(separator: "\n").count, 1, p.err)
        // Force wins over it.
        XCTAssertEqual(runResult(["push", "-f"], in: other).code, 0)
    }

    func testCorruptRemoteObjectIsRefusedAndInterruptedPushResumes() throws {
        let a = dir("a"), remote = base.appendingPathComponent("remote").path
        seed(a)
        ok("remote", "add", "origin", remote, in: a)
        ok("push", in: a)
        // Flip a byte in the middle of the pack (inside the random file's data).
        let packs = try FileManager.default.contentsOfDirectory(atPath: remote + "/packs").filter { $0.hasSuffix(".pack") }
        XCTAssertEqual(packs.count, 1)
        let packURL = URL(fileURLWithPath: remote + "/packs/" + packs[0])
        var bytes = try Data(contentsOf: packURL)
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: packURL)
        let r = runResult(["clone", remote, base.appendingPathComponent("b").path], in: base)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("does not match its id") || r.err.contains("corrupt"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: base.appendingPathComponent("b").path), "a failed clone leaves nothing behind")
        // Repair by deleting the damaged pack and its index: the next push uploads it again
        // (the remote no longer lists it), and a clone then succeeds.
        try FileManager.default.removeItem(at: packURL)
        try FileManager.default.removeItem(atPath: remote + "/packs/" + packs[0].replacingOccurrences(of: ".pack", with: ".idx"))
        try FileManager.default.removeItem(atPath: a.appendingPathComponent(".mlrepo/remotes").path)
        try FileManager.default.removeItem(atPath: remote + "/refs/heads/main")
        XCTAssertEqual(runResult(["push"], in: a).code, 0)
        XCTAssertEqual(runResult(["clone", remote, base.appendingPathComponent("c").path], in: base).code, 0)
        XCTAssertEqual(head(base.appendingPathComponent("c")), head(a))
        // An interrupted push (a pack uploaded, its index and the ref not yet): re-running
        // continues and does not upload that pack again.
        try Data("x\n".utf8).write(to: a.appendingPathComponent("x.txt"))
        ok("add", "x.txt", in: a); ok("commit", "-m", "x", in: a)
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: remote + "/packs"))
        ok("push", in: a)
        let added = Set(try FileManager.default.contentsOfDirectory(atPath: remote + "/packs")).subtracting(before)
        XCTAssertEqual(added.map { String($0.split(separator: ".").last!) }.sorted(), ["idx", "midx", "pack"])
        let idx = added.first { $0.hasSuffix(".idx") }!
        try FileManager.default.removeItem(atPath: remote + "/packs/" + idx)
        try FileManager.default.removeItem(atPath: a.appendingPathComponent(".mlrepo/remotes/origin/idx/" + idx).path)
        try Data((ok("rev-parse", "HEAD~1", in: a)).utf8).write(to: URL(fileURLWithPath: remote + "/refs/heads/main"))
        let packFile = remote + "/packs/" + added.first { $0.hasSuffix(".pack") }!
        let mtime = try FileManager.default.attributesOfItem(atPath: packFile)[.modificationDate] as? Date
        XCTAssertEqual(runResult(["push"], in: a).code, 0)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: packFile)[.modificationDate] as? Date, mtime,
                       "the already-uploaded pack is not sent again")
        XCTAssertTrue(FileManager.default.fileExists(atPath: remote + "/packs/" + idx))
    }

    func testRemoteGCRemovesOnlyUnreachableOldPacks() throws {
        let a = dir("a"), remote = base.appendingPathComponent("remote").path
        seed(a)
        ok("remote", "add", "origin", remote, in: a)
        ok("push", in: a)
        // A branch pushed, then deleted on the remote: its pack is reachable from no ref.
        ok("switch", "-c", "tmp", in: a)
        try Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: a.appendingPathComponent("big.bin"))
        ok("add", "big.bin", in: a)
        ok("commit", "-m", "tmp data", in: a)
        ok("push", "origin", "tmp", in: a)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: remote + "/packs").filter { $0.hasSuffix(".pack") }.count, 2)
        // Still reachable: nothing to remove.
        XCTAssertTrue(ok("gc", "--remote", "origin", "--grace", "0", in: a).contains("removed 0 unreachable pack(s)"))
        try FileManager.default.removeItem(atPath: remote + "/refs/heads/tmp")
        XCTAssertTrue(ok("gc", "--remote", "origin", in: a).contains("younger than the grace period"), "default grace keeps fresh packs")
        XCTAssertTrue(ok("gc", "--remote", "origin", "--grace", "0", "--dry-run", in: a).contains("would remove 1 unreachable pack(s)"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: remote + "/packs").filter { $0.hasSuffix(".pack") }.count, 2)
        XCTAssertTrue(ok("gc", "--remote", "origin", "--grace", "0", in: a).contains("removed 1 unreachable pack(s)"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: remote + "/packs").filter { $0.hasSuffix(".pack") }.count, 1)
        // The remote still clones.
        XCTAssertEqual(runResult(["clone", remote, base.appendingPathComponent("c").path], in: base).code, 0)
        XCTAssertTrue(ok("fsck", in: base.appendingPathComponent("c")).contains(": ok"))
    }

    // An interrupted push or fetch (resumed without sending packs again, the store fsck-clean
    // in between) is unit-tested with an in-memory transport that fails on cue:
    // StoreTests/RemoteSyncTests (the CLI no longer has a fault-injection variable).

    func testAnotherRepositoryAsRemote() throws {
        let a = dir("a")
        seed(a)
        // Clone straight from a working repository.
        ok("clone", a.path, base.appendingPathComponent("b").path, in: base)
        let b = base.appendingPathComponent("b")
        XCTAssertEqual(head(b), head(a))
        // Push a new branch back into it; its checked-out branch is refused.
        try Data("b\n".utf8).write(to: b.appendingPathComponent("b.txt"))
        ok("add", "b.txt", in: b); ok("commit", "-m", "from b", in: b)
        let r = runResult(["push"], in: b)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("checked out there"), r.err)
        ok("switch", "-c", "feature", in: b)
        ok("push", "origin", "feature", in: b)
        XCTAssertEqual(ok("rev-parse", "feature", in: a), ok("rev-parse", "feature", in: b))
        XCTAssertTrue(ok("fsck", in: a).contains(": ok"))
        ok("checkout", "feature", in: a)
        XCTAssertEqual(try String(contentsOf: a.appendingPathComponent("b.txt"), encoding: .utf8), "b\n")
    }

    func testErrors() throws {
        let a = dir("a")
        seed(a)
        func expectError(_ args: [String], _ part: String, file: StaticString = #filePath, line: UInt = #line) {
            let r = runResult(args, in: a)
            XCTAssertNotEqual(r.code, 0, file: file, line: line)
            XCTAssertTrue(r.err.contains(part), "'\(r.err)' lacks '\(part)'", file: file, line: line)
        }
        expectError(["push"], "no remote configured")
        expectError(["remote", "add", "Bad Name", "/tmp/x"], "remote name")
        expectError(["remote", "add", "x", "ftp://host/x"], "use a folder, file://PATH or s3://")
        ok("remote", "add", "x", base.appendingPathComponent("nowhere").path, in: a)
        expectError(["remote", "add", "x", "/tmp/y"], "already exists")
        expectError(["fetch", "x"], "does not exist")
        expectError(["push", "x", "nosuchbranch"], "no branch, tag or alias 'nosuchbranch'")
        ok("remote", "remove", "x", in: a)
        XCTAssertEqual(ok("remote", in: a), "")
        expectError(["clone", base.appendingPathComponent("nowhere").path, "zz"], "does not exist")
    }

    // MARK: S3 (moto)

    func startMoto() throws -> Bool {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import moto.server, boto3"]
        check.standardOutput = FileHandle.nullDevice; check.standardError = FileHandle.nullDevice
        try? check.run(); check.waitUntilExit()
        guard check.terminationStatus == 0 else { return false }
        motoPort = freeLoopbackPort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(motoPort)]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        moto = p
        for _ in 0..<100 {
            if python("import urllib.request; urllib.request.urlopen('http://127.0.0.1:\(motoPort)/')").code == 0 { return true }
            usleep(100_000)
        }
        return false
    }

    @discardableResult
    /// Runs Python with moto's credentials; a failing script prints its traceback on
    /// stdout, where the assertion shows it.
    func python(_ code: String) -> (code: Int32, out: String) {
        tool(["python3", "-c", "import sys, traceback\ntry:\n    exec(compile(sys.argv[1], 'test', 'exec'), {})\nexcept BaseException:\n    traceback.print_exc(file=sys.stdout); sys.exit(1)", code], env: s3Env)
    }

    func testS3PushCloneAndBoto3Interop() throws {
        guard try startMoto() else { throw XCTSkip("moto[server] and boto3 are not installed (pip install 'moto[server]' boto3)") }
        let endpoint = "http://127.0.0.1:\(motoPort)"
        XCTAssertEqual(python("import boto3; boto3.client('s3', endpoint_url='\(endpoint)').create_bucket(Bucket='ml-team')").code, 0)
        let a = dir("a")
        seed(a)
        ok("remote", "add", "origin", "s3://ml-team/projects/demo", "--endpoint", endpoint, in: a)
        var r = runResult(["push"], in: a, env: s3Env)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertFalse(r.err.contains("testing-secret"))
        XCTAssertFalse((try? String(contentsOf: a.appendingPathComponent(".mlrepo/config"), encoding: .utf8))?.contains("testing") ?? true,
                       "no secret in the config")
        // boto3 sees the layout: the ref holds HEAD's id; every pack's objects re-hash to their ids (clone verifies).
        let listing = python("""
        import boto3
        s = boto3.client('s3', endpoint_url='\(endpoint)')
        keys = [o['Key'] for o in s.list_objects_v2(Bucket='ml-team', Prefix='projects/demo/')['Contents']]
        print(s.get_object(Bucket='ml-team', Key='projects/demo/refs/heads/main')['Body'].read().decode().strip())
        print(sum(k.endswith('.pack') for k in keys), sum(k.endswith('.idx') for k in keys))
        """).out.split(separator: "\n")
        XCTAssertEqual(listing.first.map(String.init), head(a))
        XCTAssertEqual(listing.dropFirst().first, "1 1")
        // Object integrity checked by an independent reader: boto3 downloads every pack and
        // index, parses them per .mlrepo-format.md §5/§6 and re-hashes every object.
        let verify = python("""
        import boto3, hashlib, struct, zlib
        s = boto3.client('s3', endpoint_url='\(endpoint)')
        keys = [o['Key'] for o in s.list_objects_v2(Bucket='ml-team', Prefix='projects/demo/packs/')['Contents']]
        kinds = {1: b'blob', 2: b'chunks', 3: b'tree', 4: b'commit'}
        n = 0
        for k in keys:
            if not k.endswith('.idx'): continue
            idx = s.get_object(Bucket='ml-team', Key=k)['Body'].read()
            pack = s.get_object(Bucket='ml-team', Key=k[:-4] + '.pack')['Body'].read()
            assert idx[:8] == b'MLRIDX01' and pack[:8] == b'MLRPACK1'
            assert hashlib.sha256(idx[:-32]).digest() == idx[-32:], 'index checksum'
            count = struct.unpack_from('<I', idx, 8)[0]
            ids_at = 16 + 256 * 4
            ents_at = ids_at + 32 * count
            for i in range(count):
                oid = idx[ids_at + 32 * i: ids_at + 32 * (i + 1)]
                off, size, kind, codec = struct.unpack_from('<QIBB', idx, ents_at + 16 * i)
                hid, hkind, hcodec, _, hsize, stored = struct.unpack_from('<32sBBHII', pack, off)
                assert (hid, hkind, hcodec, hsize) == (oid, kind, codec, size), 'entry header'
                payload = pack[off + 44: off + 44 + stored]
                if codec == 1: payload = zlib.decompress(payload)
                assert len(payload) == size
                assert hashlib.sha256(kinds[kind] + b' ' + str(size).encode() + b'\\0' + payload).digest() == oid, 'object hash'
                n += 1
            # The metadata index (.midx) lists a subset of the same entries: every commit, tree
            # and chunk list of the pack, plus blobs (the commits' meta/record objects).
            def entries(ix):
                c = struct.unpack_from('<I', ix, 8)[0]
                a = 16 + 256 * 4
                return {ix[a + 32 * i: a + 32 * (i + 1)]: ix[a + 32 * c + 16 * i: a + 32 * c + 16 * (i + 1)] for i in range(c)}
            midx = s.get_object(Bucket='ml-team', Key=k[:-4] + '.midx')['Body'].read()
            assert midx[:8] == b'MLRIDX01' and hashlib.sha256(midx[:-32]).digest() == midx[-32:]
            full, meta = entries(idx), entries(midx)
            assert all(full.get(i) == e for i, e in meta.items()), 'midx entries are idx entries'
            assert all(i in meta for i, e in full.items() if e[12] != 1), 'every non-blob is in the midx'
        print(n)
        """)
        XCTAssertEqual(verify.code, 0, verify.out)
        XCTAssertGreaterThan(Int(verify.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, 3, verify.out)
        // Wrong credentials: a one-line error, no secret in it.
        r = runResult(["fetch"], in: a, env: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""])
        _ = r  // moto accepts anonymous requests; nothing to assert beyond not crashing
        // Clone from S3 and compare.
        r = runResult(["clone", "s3://ml-team/projects/demo", base.appendingPathComponent("b").path, "--endpoint", endpoint], in: base, env: s3Env)
        XCTAssertEqual(r.code, 0, r.err)
        let b = base.appendingPathComponent("b")
        XCTAssertEqual(head(b), head(a))
        XCTAssertEqual(try Data(contentsOf: b.appendingPathComponent("data.bin")), try Data(contentsOf: a.appendingPathComponent("data.bin")))
        // Concurrent pushers through S3's conditional writes.
        try Data("a\n".utf8).write(to: a.appendingPathComponent("a.txt")); ok("add", "a.txt", in: a); ok("commit", "-m", "a2", in: a)
        try Data("b\n".utf8).write(to: b.appendingPathComponent("b.txt")); ok("add", "b.txt", in: b); ok("commit", "-m", "b2", in: b)
        let pa = try start(["push"], in: a, env: s3Env), pb = try start(["push"], in: b, env: s3Env)
        let ra = collect(pa), rb = collect(pb)
        XCTAssertEqual([ra.code, rb.code].filter { $0 == 0 }.count, 1, "\(ra.err) / \(rb.err)")
        XCTAssertTrue((ra.code == 0 ? rb : ra).err.contains("fetch first"))
        // A lazy clone over S3 reads single files out of remote packs with ranged GETs.
        let l = base.appendingPathComponent("lazy")
        r = runResult(["clone", "--lazy", "--no-checkout", "s3://ml-team/projects/demo", l.path, "--endpoint", endpoint], in: base, env: s3Env)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertLessThan(storeBytes(l), 20_000)
        r = runResult(["checkout", "main", "--", "a.txt"], in: l, env: s3Env)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertLessThan(storeBytes(l), 20_000, "a.txt alone, not the 3 MB data.bin")
        r = runResult(["checkout", "-f", "main"], in: l, env: s3Env)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try Data(contentsOf: l.appendingPathComponent("data.bin")), try Data(contentsOf: a.appendingPathComponent("data.bin")))
    }

    /// Bytes of the packs in a repository's store.
    func storeBytes(_ at: URL) -> Int {
        let d = at.appendingPathComponent(".mlrepo/objects/pack").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).filter { $0.hasSuffix(".pack") }
            .reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: d + "/" + $1)[.size] as? Int) ?? 0) }
    }

    func randomBytes(_ n: Int) -> Data {
        var g = SplitMix(seed: UInt64(n))
        return Data((0..<n).map { _ in UInt8.random(in: 0...255, using: &g) })
    }

    /// A repo with a 3 MB data file and a 200 KB model over two commits, pushed to `remote`.
    func seedTwoCommits(_ a: URL, remote: String) throws {
        ok("init", in: a)
        try randomBytes(3_000_000).write(to: a.appendingPathComponent("data.bin"))
        try randomBytes(100_000).write(to: a.appendingPathComponent("model.bin"))
        ok("add", ".", in: a); ok("commit", "-m", "one", in: a)
        try randomBytes(200_000).write(to: a.appendingPathComponent("model.bin"))
        try Data("v2\n".utf8).write(to: a.appendingPathComponent("notes.txt"))
        ok("add", ".", in: a); ok("commit", "-m", "two", in: a)
        ok("remote", "add", "origin", remote, in: a)
        ok("push", in: a)
    }

    func testLazyCloneFetchesOnlyWhatACheckoutNeeds() throws {
        let a = dir("a"), remote = base.appendingPathComponent("remote").path
        try seedTwoCommits(a, remote: remote)
        // History and trees only.
        var r = runResult(["clone", "--lazy", "--no-checkout", remote, base.appendingPathComponent("b").path], in: base)
        XCTAssertEqual(r.code, 0, r.err)
        let b = base.appendingPathComponent("b")
        XCTAssertLessThan(storeBytes(b), 20_000, "a lazy clone holds no file data")
        XCTAssertEqual(ok("log", "--oneline", in: b).split(separator: "\n").count, 2)
        // It read the remote's metadata indexes, not the full ones (they grow with the data).
        let cached = try FileManager.default.contentsOfDirectory(atPath: b.appendingPathComponent(".mlrepo/remotes/origin/idx").path)
        XCTAssertTrue(!cached.isEmpty && cached.allSatisfy { $0.hasSuffix(".midx") }, "\(cached)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: b.appendingPathComponent("data.bin").path))
        // One path: only its bytes move (by ranged reads of the remote pack).
        r = runResult(["checkout", "main", "--", "model.bin"], in: b)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try Data(contentsOf: b.appendingPathComponent("model.bin")), try Data(contentsOf: a.appendingPathComponent("model.bin")))
        XCTAssertLessThan(storeBytes(b), 300_000, "only the model was fetched, not the 3 MB data file")
        XCTAssertFalse(FileManager.default.fileExists(atPath: b.appendingPathComponent("data.bin").path))
        // fsck counts what was never fetched instead of calling it a problem; gc keeps working.
        let f = ok("fsck", in: b)
        XCTAssertTrue(f.contains("not fetched") && f.contains(": ok"), f)
        ok("gc", in: b)
        // gc --remote walks the remote's history without downloading file data.
        XCTAssertTrue(ok("gc", "--remote", "origin", "--dry-run", in: b).contains("would remove 0"))
        XCTAssertLessThan(storeBytes(b), 300_000, "gc --remote fetched no file data")
        // Reading an old version fetches just that (the first model).
        r = runResult(["show", "HEAD~1:model.bin"], in: b)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(r.out.utf8.count > 0, true)
        XCTAssertLessThan(storeBytes(b), 450_000)
        // Paths not checked out stay tracked: status is clean, and a commit keeps them.
        let st = ok("status", in: b)
        XCTAssertTrue(st.contains("nothing to commit") && st.contains("2 tracked files are not checked out"), st)
        XCTAssertTrue(ok("status", "--json", in: b).contains("\"not_checked_out\": 2"), ok("status", "--json", in: b))
        try Data("local\n".utf8).write(to: b.appendingPathComponent("local.txt"))
        ok("add", ".", in: b); ok("commit", "-m", "local work", in: b)
        XCTAssertTrue(ok("ls-tree", "-r", "HEAD", in: b).contains("data.bin"), "the commit kept the file that was never checked out")
        XCTAssertLessThan(storeBytes(b), 450_000, "committing fetched nothing")
        ok("reset", "--hard", "HEAD~1", in: b)
        // A full checkout fetches the rest; the work tree matches the source.
        r = runResult(["checkout", "-f", "main"], in: b)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try Data(contentsOf: b.appendingPathComponent("data.bin")), try Data(contentsOf: a.appendingPathComponent("data.bin")))
        XCTAssertTrue(ok("status", in: b).contains("nothing to commit"))
        // Later fetches from a lazy remote stay lazy: a new commit's data arrives only on pull's checkout.
        try randomBytes(2_000_000).write(to: a.appendingPathComponent("data.bin"))
        ok("add", ".", in: a); ok("commit", "-m", "three", in: a); ok("push", in: a)
        let before = storeBytes(b)
        ok("fetch", in: b)
        XCTAssertLessThan(storeBytes(b) - before, 20_000, "fetch from a lazy remote moves no file data")
        ok("pull", in: b)
        XCTAssertEqual(head(b), head(a))
        XCTAssertEqual(try Data(contentsOf: b.appendingPathComponent("data.bin")), try Data(contentsOf: a.appendingPathComponent("data.bin")))
    }

    func testLazyClonePushesEverythingToAnotherRemote() throws {
        let a = dir("a"), remote = base.appendingPathComponent("remote").path
        try seedTwoCommits(a, remote: remote)
        ok("clone", "--lazy", "--no-checkout", remote, base.appendingPathComponent("b").path, in: base)
        let b = base.appendingPathComponent("b")
        // The lazy remote cannot be removed while it holds data the clone lacks.
        let rm = runResult(["remote", "remove", "origin"], in: b)
        XCTAssertNotEqual(rm.code, 0)
        XCTAssertTrue(rm.err.contains("fetch --full origin"), rm.err)
        XCTAssertTrue(ok("fsck", in: b).contains("not fetched"))
        // The other remote lacks everything: the data the clone never fetched comes first.
        let other = base.appendingPathComponent("other").path
        ok("remote", "add", "other", other, in: b)
        let r = runResult(["push", "other", "main"], in: b)
        XCTAssertEqual(r.code, 0, r.err)
        ok("clone", other, base.appendingPathComponent("c").path, in: base)
        let c = base.appendingPathComponent("c")
        XCTAssertEqual(head(c), head(a))
        XCTAssertEqual(try Data(contentsOf: c.appendingPathComponent("data.bin")), try Data(contentsOf: a.appendingPathComponent("data.bin")))
        XCTAssertTrue(ok("fsck", in: c).contains(": ok"))
        // fetch --full makes the clone complete (every version: here the push already
        // fetched what it sent), after which the lazy remote may go.
        ok("fetch", "--full", "origin", in: b)
        let f = ok("fsck", in: b)
        XCTAssertTrue(f.contains(": ok") && !f.contains("not fetched"), f)
        ok("remote", "remove", "origin", in: b)
        let old = runResult(["show", "HEAD~1:model.bin"], in: b)
        XCTAssertEqual(old.code, 0, old.err)
        XCTAssertEqual(old.outData.count, 100_000, "the first model, from the now complete store")
    }

    func testFetchFullCompletesALazyClone() throws {
        let a = dir("a"), remote = base.appendingPathComponent("remote").path
        try seedTwoCommits(a, remote: remote)
        ok("clone", "--lazy", "--no-checkout", remote, base.appendingPathComponent("b").path, in: base)
        let b = base.appendingPathComponent("b")
        XCTAssertTrue(ok("fsck", in: b).contains("not fetched"))
        XCTAssertTrue(ok("remote", "-v", in: b).contains("\(remote) (lazy) (fetch)"), ok("remote", "-v", in: b))
        ok("fetch", "--full", in: b)
        XCTAssertFalse(ok("remote", "-v", in: b).contains("lazy"))
        let f = ok("fsck", in: b)
        XCTAssertTrue(f.contains(": ok") && !f.contains("not fetched"), f)
        XCTAssertFalse(try String(contentsOf: b.appendingPathComponent(".mlrepo/config"), encoding: .utf8).contains("lazy"))
        // Complete: it works with the remote gone.
        try FileManager.default.moveItem(atPath: remote, toPath: remote + "-gone")
        ok("checkout", "-f", "main", in: b)
        XCTAssertEqual(try Data(contentsOf: b.appendingPathComponent("data.bin")), try Data(contentsOf: a.appendingPathComponent("data.bin")))
        let old = runResult(["show", "HEAD~1:model.bin"], in: b)
        XCTAssertEqual(old.code, 0, old.err)
        XCTAssertEqual(old.outData.count, 100_000)
    }

    func testLazyFetchRefusesACorruptRemoteObject() throws {
        let a = dir("a"), remote = base.appendingPathComponent("remote").path
        try seedTwoCommits(a, remote: remote)
        ok("clone", "--lazy", "--no-checkout", remote, base.appendingPathComponent("b").path, in: base)
        let b = base.appendingPathComponent("b")
        // Damage the remote pack inside the second model's bytes: find them by content.
        let packs = try FileManager.default.contentsOfDirectory(atPath: remote + "/packs").filter { $0.hasSuffix(".pack") }
        let model = try Data(contentsOf: a.appendingPathComponent("model.bin"))
        var damaged = false
        for name in packs {
            let url = URL(fileURLWithPath: remote + "/packs/" + name)
            var bytes = try Data(contentsOf: url)
            if let r = bytes.range(of: model.subdata(in: 1000..<1064)) {
                bytes[r.lowerBound] ^= 0xFF
                try bytes.write(to: url)
                damaged = true
            }
        }
        XCTAssertTrue(damaged, "the model's bytes are stored raw in a remote pack")
        let r = runResult(["checkout", "main", "--", "model.bin"], in: b)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("does not match its id"), r.err)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: b.appendingPathComponent("model.bin").path), "nothing half-written")
        XCTAssertTrue(ok("fsck", in: b).contains(": ok"), "nothing corrupt entered the store")
    }

    func testShallowCloneAndUnshallow() throws {
        let a = dir("a"), remote = base.appendingPathComponent("remote").path
        try seedTwoCommits(a, remote: remote)
        try Data("v3\n".utf8).write(to: a.appendingPathComponent("notes.txt"))
        ok("add", ".", in: a); ok("commit", "-m", "three", in: a); ok("push", in: a)
        var r = runResult(["clone", "--depth", "1", remote, base.appendingPathComponent("b").path], in: base)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("shallow"), r.err)
        let b = base.appendingPathComponent("b")
        XCTAssertEqual(ok("log", "--oneline", in: b).split(separator: "\n").count, 1)
        XCTAssertEqual(try Data(contentsOf: b.appendingPathComponent("model.bin")), try Data(contentsOf: a.appendingPathComponent("model.bin")))
        XCTAssertTrue(ok("fsck", in: b).contains(": ok"))
        XCTAssertNotEqual(runResult(["rev-parse", "HEAD~1"], in: b).code, 0)
        // .mlrepo/shallow as .mlrepo-format.md §12.1 gives it: the boundary commit's id and a newline.
        XCTAssertEqual(try String(contentsOf: b.appendingPathComponent(".mlrepo/shallow"), encoding: .utf8), head(b) + "\n")
        // A shallow clone cannot seed a remote that lacks the older history.
        let other = base.appendingPathComponent("other").path
        ok("remote", "add", "other", other, in: b)
        r = runResult(["push", "other", "main"], in: b)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("shallow") && r.err.contains("--unshallow"), r.err)
        // New commits still fetch and fast-forward into a shallow clone.
        try Data("v4\n".utf8).write(to: a.appendingPathComponent("notes.txt"))
        ok("add", ".", in: a); ok("commit", "-m", "four", in: a); ok("push", in: a)
        ok("pull", in: b)
        XCTAssertEqual(head(b), head(a))
        XCTAssertEqual(ok("log", "--oneline", in: b).split(separator: "\n").count, 2)
        // --unshallow brings the rest; then the push goes through.
        ok("fetch", "--unshallow", in: b)
        XCTAssertEqual(ok("log", "--oneline", in: b).split(separator: "\n").count, 4)
        XCTAssertFalse(FileManager.default.fileExists(atPath: b.appendingPathComponent(".mlrepo/shallow").path))
        r = runResult(["push", "other", "main"], in: b)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(runResult(["clone", "--depth", "0", remote, base.appendingPathComponent("c").path], in: base).code, 2)
    }
}
