import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `serve --remote URL --alias NAME`: replicas with no repository that follow a registry
/// alias on S3 (moto) or in a folder, swap models without a failed request, keep serving
/// when a promotion is corrupt, and refuse an unknown alias at start.
final class CLIServeReplicaTests: CLITestCase {
    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures/datasets")
    static let body = #"{"instances": [[5.1, 3.5, 1.4, 0.2]]}"#

    var servers: [Spawned] = []
    var moto: Process?
    var motoPort = 0
    var motoLog: URL!

    override func tearDownWithError() throws {
        for s in servers { kill(s.pid, SIGKILL); var st: Int32 = 0; waitpid(s.pid, &st, 0) }
        servers = []
        if let m = moto, m.isRunning { m.terminate(); m.waitUntilExit() }
        try super.tearDownWithError()
    }

    // MARK: Helpers

    /// The work repository (`repo`): an iris model trained, committed and promoted to
    /// production. Returns the model's id.
    func makeWorkRepo() throws -> String {
        ok("init")
        for part in ["train", "test"] {
            try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("iris_\(part).csv"), to: url("iris_\(part).csv"))
        }
        write("mlrepo.json", """
        {"stages": {"train": {"train": {"model": "logistic_regression", "data": "iris_train.csv", "label": "species"},
                              "outs": ["models/iris.mlmodel"], "metrics": ["train.json"]}}}
        """)
        ok("train", "--commit", "-m", "iris model")
        ok("promote", "models/iris.mlmodel", "--to", "production")
        return modelId()
    }

    func modelId() -> String { ok("rev-parse", "HEAD:models/iris.mlmodel").trimmingCharacters(in: .whitespacesAndNewlines) }

    /// Trains another model (an MLP trained `epochs` epochs), commits it and promotes it to
    /// production (not pushed). Returns its id.
    func promoteNewModel(epochs: Int) -> String {
        write("mlrepo.json", """
        {"stages": {"train": {"train": {"model": "mlp_classifier", "data": "iris_train.csv", "label": "species", "params": {"hidden_layers": [8], "epochs": \(epochs)}},
                              "outs": ["models/iris.mlmodel"], "metrics": ["train.json"]}}}
        """)
        ok("train", "--commit", "-m", "mlp \(epochs)")
        ok("promote", "models/iris.mlmodel", "--to", "production")
        return modelId()
    }

    /// moto in server mode on a free port, its request log in `motoLog`; skips without moto.
    func startMoto() throws {
        guard tool(["python3", "-c", "import moto.server, boto3"]).code == 0 else {
            throw XCTSkip("moto[server] and boto3 are not installed (pip install 'moto[server]' boto3)")
        }
        motoPort = freeLoopbackPort()
        motoLog = base.appendingPathComponent("moto.log")
        FileManager.default.createFile(atPath: motoLog.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(motoPort)]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: motoLog)
        try p.run()
        moto = p
        for _ in 0..<100 {
            if tool(["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:\(motoPort)/')"]).code == 0 { return }
            usleep(100_000)
        }
        throw XCTSkip("moto did not start")
    }

    /// Starts `mlrepo serve --port 0 ARGS` (run in `base`, outside any repository) and
    /// returns it and its port once it listens.
    func startReplica(_ args: [String], env extra: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> (Spawned, Int) {
        let s = try start(["serve", "--port", "0", "--workers", "2"] + args, in: base, env: extra)
        servers.append(s)
        return (s, try listening(s, file: file, line: line))
    }

    /// The id of the model a server says it serves (GET /version).
    func served(_ port: Int) -> String {
        let fd = openSocket(port)
        defer { close(fd) }
        sendAll(fd, Array("GET /version HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        return (readReply(fd)?.json as? [String: Any]).flatMap { ($0["model"] as? [String: Any])?["id"] as? String } ?? ""
    }

    /// One scoring request on a kept-alive connection; nil when it failed (connection lost).
    func score(_ fd: Int32) -> Reply? {
        let req = "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(Self.body.utf8.count)\r\n\r\n\(Self.body)"
        sendAll(fd, Array(req.utf8))
        return readReply(fd)
    }

    /// The JSON event lines of a --log file with this `event`.
    func events(_ log: URL, _ kind: String) -> [[String: Any]] {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            .filter { $0["event"] as? String == kind }
    }

    // MARK: S3

    /// Three replicas on loopback follow one alias on moto while a client scores on all
    /// three without pause; a new promotion is pushed from a work repository; every replica
    /// serves it within one poll interval (plus slack for a loaded machine) and no request
    /// fails. Idle polls are conditional GETs of the alias ref answered 304, never listings.
    func testThreeReplicasFollowAnAliasOnS3() throws {
        try startMoto()
        let endpoint = "http://127.0.0.1:\(motoPort)"
        XCTAssertEqual(tool(["python3", "-c", "import boto3; boto3.client('s3', endpoint_url='\(endpoint)').create_bucket(Bucket='ml-team')"], env: s3Env).code, 0)
        let first = try makeWorkRepo()
        ok("remote", "add", "origin", "s3://ml-team/demo", "--endpoint", endpoint)
        XCTAssertEqual(runResult(["push", "origin", "main", "production"], env: s3Env).code, 0)
        let poll = 0.5
        var ports: [Int] = []
        for k in 0..<3 {
            let (_, port) = try startReplica(["--remote", "s3://ml-team/demo", "--endpoint", endpoint, "--alias", "production",
                                              "--poll", String(poll), "--cache", base.appendingPathComponent("cache\(k)").path,
                                              "--log", base.appendingPathComponent("events\(k).log").path], env: s3Env)
            ports.append(port)
        }
        for p in ports { XCTAssertEqual(served(p), first) }
        // No repository on the replicas' side: the cache holds only what serving needs.
        XCTAssertFalse(FileManager.default.fileExists(atPath: base.appendingPathComponent("cache0/iris_train.csv").path))

        // Idle: each poll is one GET of the alias ref, answered 304 (no body), no listing.
        let mark = (try? Data(contentsOf: motoLog).count) ?? 0
        usleep(2_000_000)
        var lines = String(decoding: (try Data(contentsOf: motoLog)).dropFirst(mark), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if mark > 0, (try Data(contentsOf: motoLog))[mark - 1] != 10 { lines.removeFirst() }  // the end of a line begun before the mark
        let idle = lines.filter { $0.contains("\" ") && $0.contains("HTTP/1.1") }
        XCTAssertGreaterThanOrEqual(idle.count, 6, "3 replicas polling every \(poll) s for 2 s")
        for l in idle { XCTAssertTrue(l.contains("\"GET /ml-team/demo/refs/aliases/production HTTP/1.1\" 304"), String(l)) }
        print("idle polls in 2 s by 3 replicas at \(poll) s: \(idle.count) requests, all 304")

        let second = promoteNewModel(epochs: 40)
        XCTAssertNotEqual(first, second)
        let push = try start(["push", "origin", "main", "production"], env: s3Env)
        var fds = ports.map { openSocket($0) }
        defer { for fd in fds { close(fd) } }
        var failures: [String] = []
        var requests = 0
        var pushedAt: Date? = nil
        var switchedAt: [Date?] = [nil, nil, nil]
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && switchedAt.contains(where: { $0 == nil }) {
            for k in 0..<3 {
                requests += 1
                guard let r = score(fds[k]) else {
                    failures.append("replica \(k): connection lost")
                    close(fds[k]); fds[k] = openSocket(ports[k])
                    continue
                }
                if r.status != 200 { failures.append("replica \(k): HTTP \(r.status) \(r.body)") }
                let id = r.headers["x-mlrepo-model"] ?? ""
                if id == second {
                    if switchedAt[k] == nil { switchedAt[k] = Date() }
                } else if id != first {
                    failures.append("replica \(k): unknown model '\(id)'")
                } else if switchedAt[k] != nil {
                    failures.append("replica \(k): the old model answered after the new one")
                }
            }
            if pushedAt == nil {
                var st: Int32 = 0
                if waitpid(push.pid, &st, WNOHANG) == push.pid {
                    pushedAt = Date()
                    XCTAssertEqual(st, 0, "push failed: \((try? String(contentsOf: push.errURL, encoding: .utf8)) ?? "")")
                }
            }
        }
        if pushedAt == nil { _ = collect(push); pushedAt = Date() }
        XCTAssertEqual(failures, [], "\(failures.count) of \(requests) requests failed")
        let delays = switchedAt.map { $0.map { max(0, $0.timeIntervalSince(pushedAt!)) } ?? .infinity }
        print("swap delay after push: \(delays.map { String(format: "%.3f s", $0) }.joined(separator: ", ")) (poll \(poll) s); \(requests) requests, \(failures.count) failed")
        for (k, d) in delays.enumerated() {
            XCTAssertLessThanOrEqual(d, poll + 1.5, "replica \(k) served the new model \(d) s after the push")
        }
        for p in ports { XCTAssertEqual(served(p), second) }
        for k in 0..<3 {
            let log = base.appendingPathComponent("events\(k).log")
            XCTAssertEqual(events(log, "model_swapped").count, 1)
            XCTAssertEqual(events(log, "model_swapped").first?["model"] as? String, second)
            let fetched = events(log, "alias_fetched")
            XCTAssertEqual(fetched.count, 2, "the first model's fetch and the new one's")
            XCTAssertGreaterThan(fetched.last?["bytes"] as? Int ?? 0, 0)
            print("replica \(k) fetched \(fetched.last?["objects"] ?? "?") objects, \(fetched.last?["bytes"] ?? "?") bytes in \(fetched.last?["ms"] ?? "?") ms")
        }

        // The remote unreachable: a replica restarted on a cache serves what the cache holds,
        // and says so.
        moto?.terminate(); moto?.waitUntilExit()
        let (s, port) = try startReplica(["--remote", "s3://ml-team/demo", "--endpoint", endpoint, "--alias", "production",
                                          "--poll", String(poll), "--cache", base.appendingPathComponent("cache0").path], env: s3Env)
        XCTAssertEqual(served(port), second)
        let err = (try? String(contentsOf: s.errURL, encoding: .utf8)) ?? ""
        XCTAssertTrue(err.contains("the remote's alias cannot be read"), err)
    }

    // MARK: Folder remotes

    /// A folder remote: the replica follows promotions pushed there; a promotion whose pack
    /// is corrupt, then an alias ref that holds no object id, are refused with a
    /// reload_failed event while the model being served keeps answering. The cache defaults
    /// to $XDG_CACHE_HOME/mlrepo/serve/HASH.
    func testFolderRemoteFollowsAndKeepsServingThroughCorruptPromotions() throws {
        let first = try makeWorkRepo()
        let remote = base.appendingPathComponent("remote")
        ok("remote", "add", "origin", remote.path)
        ok("push", "origin", "main", "production")
        let log = base.appendingPathComponent("events.log")
        let xdg = base.appendingPathComponent("xdg")
        let (_, port) = try startReplica(["--remote", "remote", "--alias", "production", "--poll", "0.2", "--log", log.path],
                                         env: ["XDG_CACHE_HOME": xdg.path])
        XCTAssertEqual(served(port), first)
        let caches = ((try? FileManager.default.contentsOfDirectory(atPath: xdg.appendingPathComponent("mlrepo/serve").path)) ?? []).filter { !$0.hasSuffix(".lock") }
        XCTAssertEqual(caches.count, 1)
        XCTAssertEqual(caches.first?.count, 16)

        // A good promotion is followed.
        let second = promoteNewModel(epochs: 30)
        ok("push", "origin", "main", "production")
        var deadline = Date().addingTimeInterval(10)
        while Date() < deadline && served(port) != second { usleep(50_000) }
        XCTAssertEqual(served(port), second)

        // A corrupt promotion: pushed to a copy of the remote, its new packs damaged, then
        // put beside the real remote's packs and the alias moved to it.
        let copy = base.appendingPathComponent("remote-copy")
        try FileManager.default.copyItem(at: remote, to: copy)
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: copy.appendingPathComponent("packs").path))
        let third = promoteNewModel(epochs: 20)
        XCTAssertNotEqual(third, second)
        ok("remote", "add", "copy", copy.path)
        ok("push", "copy", "main", "production")
        let added = try FileManager.default.contentsOfDirectory(atPath: copy.appendingPathComponent("packs").path).filter { !before.contains($0) }
        XCTAssertFalse(added.filter { $0.hasSuffix(".pack") }.isEmpty)
        for name in added {
            var d = try Data(contentsOf: copy.appendingPathComponent("packs/" + name))
            if name.hasSuffix(".pack") { for i in stride(from: 80, to: d.count - 40, by: 1) { d[i] ^= 0x5a } }
            try d.write(to: remote.appendingPathComponent("packs/" + name))
        }
        try FileManager.default.removeItem(at: remote.appendingPathComponent("refs/aliases/production"))
        try FileManager.default.copyItem(at: copy.appendingPathComponent("refs/aliases/production"), to: remote.appendingPathComponent("refs/aliases/production"))
        deadline = Date().addingTimeInterval(10)
        while Date() < deadline && events(log, "reload_failed").isEmpty {
            let fd = openSocket(port)
            XCTAssertEqual(score(fd)?.status, 200)
            close(fd)
            usleep(50_000)
        }
        let failed = events(log, "reload_failed")
        XCTAssertEqual(failed.count, 1, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        XCTAssertEqual(failed.first?["source"] as? String, "production")
        print("corrupt promotion refused: \(failed.first?["message"] ?? "")")
        usleep(600_000)  // more polls: the refusal is not logged again, the model stays
        XCTAssertEqual(events(log, "reload_failed").count, 1)
        XCTAssertEqual(served(port), second)
        let fd = openSocket(port)
        XCTAssertEqual(score(fd)?.headers["x-mlrepo-model"], second)
        close(fd)

        // An alias ref that holds no object id.
        try Data("not an object id\n".utf8).write(to: remote.appendingPathComponent("refs/aliases/production"))
        deadline = Date().addingTimeInterval(10)
        while Date() < deadline && events(log, "reload_failed").count < 2 { usleep(50_000) }
        let bad = events(log, "reload_failed").dropFirst().first?["message"] as? String ?? ""
        XCTAssertTrue(bad.contains("refs/aliases/production is corrupt"), bad)
        XCTAssertEqual(served(port), second)
        XCTAssertEqual(events(log, "model_swapped").count, 1)
    }

    // MARK: Refusals

    /// An alias the remote does not have: one line naming the remote and the aliases it has,
    /// non-zero exit, no server. Misused flags and a cache folder that is a repository are
    /// refused too.
    func testUnknownAliasAndMisuseFailAtStart() throws {
        _ = try makeWorkRepo()
        let remote = base.appendingPathComponent("remote")
        ok("remote", "add", "origin", remote.path)
        ok("push", "origin", "main", "production")
        var r = runResult(["serve", "--port", "0", "--remote", remote.path, "--alias", "staging", "--cache", base.appendingPathComponent("c").path], in: base)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertEqual(r.err, "error: \(remote.path) has no alias 'staging' (aliases there: production)\n")
        r = runResult(["serve", "--port", "0", "--remote", base.appendingPathComponent("nowhere").path, "--alias", "production",
                       "--cache", base.appendingPathComponent("c2").path], in: base)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
        XCTAssertTrue(r.err.contains("nowhere"), r.err)
        r = runResult(["serve", "--port", "0", "--alias", "production"], in: base)
        XCTAssertEqual(r.code, 2, r.err)
        XCTAssertTrue(r.err.contains("--alias goes with --remote URL"), r.err)
        r = runResult(["serve", "--port", "0", "--remote", remote.path], in: base)
        XCTAssertEqual(r.code, 2, r.err)
        XCTAssertTrue(r.err.contains("--remote needs --alias NAME"), r.err)
        r = runResult(["serve", "--port", "0", "--remote", remote.path, "--alias", "production", "--cache", repo.path], in: base)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("is an mlrepo repository, not a replica's cache"), r.err)
        XCTAssertEqual(runResult(["remote"]).out.contains("origin"), true)  // the work repository was left alone
        XCTAssertNil(text(".mlrepo/config").flatMap { $0.contains("replica") ? $0 : nil })
    }

    // MARK: Shared caches

    /// Three replicas of one alias started at once on a fresh default cache (they share
    /// it: one folder per URL, endpoint, region and alias) all come up and serve: the cache
    /// is made once, under its lock file, and nothing else is left beside it.
    func testThreeReplicasStartedAtOnceShareOneFreshCache() throws {
        let first = try makeWorkRepo()
        let remote = base.appendingPathComponent("remote")
        ok("remote", "add", "origin", remote.path)
        ok("push", "origin", "main", "production")
        let xdg = base.appendingPathComponent("xdg")
        var spawned: [Spawned] = []
        for k in 0..<3 {
            let s = try start(["serve", "--port", "0", "--workers", "1", "--remote", "remote", "--alias", "production", "--poll", "0.3",
                               "--log", base.appendingPathComponent("events\(k).log").path], in: base, env: ["XDG_CACHE_HOME": xdg.path])
            servers.append(s)
            spawned.append(s)
        }
        let ports = try spawned.map { try listening($0) }
        for p in ports { XCTAssertEqual(served(p), first) }
        let dir = xdg.appendingPathComponent("mlrepo/serve").path
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(names.count, 2, "\(names)")
        XCTAssertTrue(names.contains { $0.hasSuffix(".lock") }, "\(names)")
        let cache = dir + "/" + names.first { !$0.hasSuffix(".lock") }!
        XCTAssertTrue(((try? String(contentsOfFile: cache + "/.mlrepo/config", encoding: .utf8)) ?? "").contains("cache = true"))
        // And all three follow a new promotion.
        let second = promoteNewModel(epochs: 30)
        ok("push", "origin", "main", "production")
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && ports.contains(where: { served($0) != second }) { usleep(50_000) }
        for p in ports { XCTAssertEqual(served(p), second) }
    }

    // MARK: Formats mlrepo does not run

    /// A promoted pickle: refused from its promotion record, before its 3 MiB are fetched,
    /// at start (one line naming the format and the export, non-zero exit) and when the
    /// alias moves to it (reload_failed; the model being served stays). A model over
    /// --max-model-bytes is refused the same way.
    func testPromotedPickleIsRefusedBeforeItsDataMoves() throws {
        let first = try makeWorkRepo()
        let remote = base.appendingPathComponent("remote")
        ok("remote", "add", "origin", remote.path)
        // A stage writes it (a promotion needs a recorded run): a pickle header, 3 MiB, ".".
        write("mlrepo.json", #"""
        {"stages": {"train": {"train": {"model": "logistic_regression", "data": "iris_train.csv", "label": "species"},
                              "outs": ["models/iris.mlmodel"], "metrics": ["train.json"]},
                    "pickle": {"cmd": "printf '\\200\\004\\225' > models/big.pkl && head -c 3145728 /dev/urandom >> models/big.pkl && printf . >> models/big.pkl",
                               "deps": ["iris_train.csv"], "outs": ["models/big.pkl"]}}}
        """#)
        ok("repro", "pickle")
        XCTAssertEqual(read("models/big.pkl").map { Array($0.prefix(3)) }, [0x80, 0x04, 0x95])
        ok("add", ".")
        ok("commit", "-m", "a pickle")
        ok("promote", "models/big.pkl", "--to", "staging")
        ok("push", "origin", "main", "production", "staging")
        func bytes(_ dir: URL) -> Int {
            let e = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.fileSizeKey])
            var n = 0
            while let u = e?.nextObject() as? URL { n += (try? u.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0) ?? 0 }
            return n
        }

        let c1 = base.appendingPathComponent("c1")
        var r = runResult(["serve", "--port", "0", "--remote", remote.path, "--alias", "staging", "--cache", c1.path], in: base)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
        XCTAssertTrue(r.err.contains("(models/big.pkl) is a Python pickle, which mlrepo cannot serve: export it to ONNX with skl2onnx"), r.err)
        XCTAssertLessThan(bytes(c1), 1 << 20, "the pickle's data was fetched")
        r = runResult(["serve", "--port", "0", "--remote", remote.path, "--alias", "production", "--max-model-bytes", "100",
                       "--cache", base.appendingPathComponent("c2").path], in: base)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("(models/iris.mlmodel) is ") && r.err.contains(" bytes, over --max-model-bytes 100"), r.err)

        let log = base.appendingPathComponent("events.log")
        let c3 = base.appendingPathComponent("c3")
        let (_, port) = try startReplica(["--remote", remote.path, "--alias", "production", "--poll", "0.2", "--log", log.path, "--cache", c3.path])
        XCTAssertEqual(served(port), first)
        ok("promote", "models/big.pkl", "--to", "production")
        ok("push", "origin", "main", "production")
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && events(log, "reload_failed").isEmpty { usleep(50_000) }
        let msg = events(log, "reload_failed").first?["message"] as? String ?? ""
        XCTAssertTrue(msg.contains("is a Python pickle, which mlrepo cannot serve"), msg)
        XCTAssertEqual(served(port), first)
        XCTAssertLessThan(bytes(c3), 1 << 20, "the pickle's data was fetched")
    }

    // MARK: Remote errors and stopping

    /// An S3 endpoint that answers 403 at start: the replica serves its cached promotion (any
    /// transport error, not only a refused connection) and says why; what killed processes
    /// left in the cache is removed. Then the endpoint stops
    /// answering while a poll waits on it: SIGTERM still exits within --shutdown-timeout
    /// (plus slack), not after the request's timeout and retries.
    func testCachedModelOnARefusingRemoteAndBoundedStop() throws {
        let first = try makeWorkRepo()
        let remote = base.appendingPathComponent("remote")
        ok("remote", "add", "origin", remote.path)
        ok("push", "origin", "main", "production")
        let cache = base.appendingPathComponent("c")
        let (s0, p0) = try startReplica(["--remote", remote.path, "--alias", "production", "--cache", cache.path])
        XCTAssertEqual(served(p0), first)
        kill(s0.pid, SIGTERM); _ = collect(s0); servers.removeAll { $0.pid == s0.pid }
        // What killed processes leave: a temp pack and a half-made cache of gone PIDs (go at
        // the next start), and a temp pack of a live one (another replica's download: stays).
        let packs = cache.appendingPathComponent(".mlrepo/objects/pack")
        let dead = packs.appendingPathComponent("tmp-999999999-1.pack"), live = packs.appendingPathComponent("tmp-\(getpid())-1.pack")
        for f in [dead, live] { try Data("partial".utf8).write(to: f) }
        let halfMade = base.appendingPathComponent("c.tmp-999999999")
        try FileManager.default.createDirectory(at: halfMade.appendingPathComponent(".mlrepo"), withIntermediateDirectories: true)

        // A listener that answers 403 while `refusing`, then accepts and never answers.
        final class Endpoint: @unchecked Sendable {
            let lock = NSLock(); var refusing = true; var held: [Int32] = []
        }
        let ep = Endpoint()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in(); addr.sin_family = sa_family_t(AF_INET); addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        XCTAssertEqual(bound, 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        listen(fd, 64)
        defer { shutdown(fd, Int32(SHUT_RDWR)); close(fd); ep.lock.lock(); for c in ep.held { close(c) }; ep.lock.unlock() }
        Thread.detachNewThread {
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { return }
                ep.lock.lock(); let refusing = ep.refusing; ep.lock.unlock()
                if refusing {
                    var buf = [UInt8](repeating: 0, count: 8192)
                    _ = Glibc.read(c, &buf, buf.count)
                    let body = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                    let reply = "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
                    _ = reply.withCString { Glibc.write(c, $0, strlen($0)) }
                    close(c)
                } else {
                    ep.lock.lock(); ep.held.append(c); ep.lock.unlock()
                }
            }
        }
        let log = base.appendingPathComponent("events.log")
        let (s, port1) = try startReplica(["--remote", "s3://ml-team/demo", "--endpoint", "http://127.0.0.1:\(port)", "--alias", "production",
                                           "--cache", cache.path, "--poll", "0.2", "--shutdown-timeout", "1", "--log", log.path], env: s3Env)
        XCTAssertEqual(served(port1), first)
        let err = (try? String(contentsOf: s.errURL, encoding: .utf8)) ?? ""
        XCTAssertTrue(err.contains("the remote's alias cannot be read") && err.contains("AccessDenied"), err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: halfMade.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: live.path))

        ep.lock.lock(); ep.refusing = false; ep.lock.unlock()
        var deadline = Date().addingTimeInterval(5)
        while Date() < deadline && ep.lock.withLock({ ep.held.isEmpty }) { usleep(20_000) }
        XCTAssertFalse(ep.lock.withLock { ep.held.isEmpty }, "no poll reached the silent endpoint")
        usleep(300_000)
        let t0 = Date()
        kill(s.pid, SIGTERM)
        var st: Int32 = 0
        deadline = Date().addingTimeInterval(20)
        while Date() < deadline && waitpid(s.pid, &st, WNOHANG) != s.pid { usleep(20_000) }
        let took = Date().timeIntervalSince(t0)
        servers.removeAll { $0.pid == s.pid && took < 20 }
        XCTAssertLessThan(took, 4, "SIGTERM waited for a poll that does not end")
        print("SIGTERM during a poll to a silent endpoint: exited after \(String(format: "%.2f", took)) s (--shutdown-timeout 1)")
    }
}
