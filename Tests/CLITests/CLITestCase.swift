import Foundation
import XCTest
import TestHelpers
import Support

/// Result of one run of the mlrepo binary.
struct RunResult {
    let outData: Data
    let err: String
    let code: Int32
    var out: String { String(decoding: outData, as: UTF8.self) }
    /// stdout without the trailing newline.
    var line: String { out.hasSuffix("\n") ? String(out.dropLast()) : out }
}

extension SplitMix {
    mutating func data(_ n: Int) -> Data { Data(bytes(n)) }
}

/// Base class: a fresh temp folder per test with the work tree in `repo`, and helpers to run
/// the built binary (`<package>/.build/debug/mlrepo`, or $MLREPO_BIN).
class CLITestCase: XCTestCase {
    /// Temp root (HOME for the runs); holds `repo/` and captured output.
    var base: URL!
    /// The work tree most commands run in.
    var repo: URL!
    /// Extra environment for every run of this test.
    var env: [String: String] = [:]
    /// Bytes read past the end of an HTTP response, per socket (pipelined answers; see
    /// CLITestCase+HTTP.swift).
    var leftovers: [Int32: [UInt8]] = [:]

    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let binary: String = {
        if let b = ProcessInfo.processInfo.environment["MLREPO_BIN"], !b.isEmpty { return b }
        return packageRoot.appendingPathComponent(".build/debug/mlrepo").path
    }()

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            XCTFail("mlrepo binary not found at \(Self.binary); run 'swift build --build-tests' first or set MLREPO_BIN")
            throw XCTSkip("no binary")
        }
        base = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-cli-\(UUID().uuidString)")
        repo = base.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: base.appendingPathComponent(".io"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let base { try? FileManager.default.removeItem(at: base) }
        try super.tearDownWithError()
    }

    /// The environment of a run: explicit, so nothing leaks in from the test process.
    func environment(_ extra: [String: String]) -> [String: String] {
        var e: [String: String] = [
            "PATH": "/usr/bin:/bin",
            "HOME": base.path,
            "TZ": "UTC",
            "LANG": "C.UTF-8",
            "MLREPO_AUTHOR_NAME": "Test Author",
            "MLREPO_AUTHOR_EMAIL": "test@example.com",
            "MLREPO_NO_PROGRESS": "1",
        ]
        for (k, v) in env { e[k] = v }
        for (k, v) in extra { e[k] = v }
        return e
    }

    private var ioCounter = 0

    /// A started run of the binary.
    struct Spawned {
        let pid: pid_t
        let outURL: URL
        let errURL: URL
    }

    /// Starts the binary without waiting; stdout/stderr go to files (no pipe deadlocks).
    /// posix_spawn + waitpid rather than Foundation's Process, whose waitUntilExit adds
    /// ~45 ms per run on Linux.
    func start(_ args: [String], in dir: URL? = nil, env extra: [String: String] = [:]) throws -> Spawned {
        ioCounter += 1
        let outURL = base.appendingPathComponent(".io/\(ioCounter).out")
        let errURL = base.appendingPathComponent(".io/\(ioCounter).err")
        let cwd = (dir ?? repo).path
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, outURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&fa, 2, errURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var argv: [String]
        if let chdir = Self.addChdir {
            guard chdir(&fa, cwd) == 0 else { throw NSError(domain: "spawn", code: 1) }
            argv = [Self.binary] + args
        } else {
            argv = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", cwd, Self.binary] + args
        }
        let envList = environment(extra).map { "\($0.key)=\($0.value)" }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = envList.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &fa, nil, cArgs, cEnv)
        guard rc == 0 else { throw NSError(domain: "spawn", code: Int(rc)) }
        return Spawned(pid: pid, outURL: outURL, errURL: errURL)
    }

    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    static let addChdir: AddChdir? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(sym, to: AddChdir.self)
    }()

    /// Waits for a started run and collects its output; a signal shows as 128 + signal.
    func collect(_ s: Spawned) -> RunResult {
        var status: Int32 = 0
        while waitpid(s.pid, &status, 0) < 0 && errno == EINTR {}
        let out = (try? Data(contentsOf: s.outURL)) ?? Data()
        let err = String(decoding: (try? Data(contentsOf: s.errURL)) ?? Data(), as: UTF8.self)
        try? FileManager.default.removeItem(at: s.outURL)
        try? FileManager.default.removeItem(at: s.errURL)
        let sig = status & 0x7f
        let code: Int32 = sig == 0 ? (status >> 8) & 0xff : 128 + sig
        return RunResult(outData: out, err: err, code: code)
    }

    /// Runs `mlrepo ARGS` in `dir` (default: the repo) and returns its output and exit code.
    @discardableResult
    func run(_ args: String..., in dir: URL? = nil, env extra: [String: String] = [:]) -> (out: String, err: String, code: Int32) {
        let r = runResult(args, in: dir, env: extra)
        return (r.out, r.err, r.code)
    }

    /// Seconds spent per command name (printed by tests that care about speed).
    var timings: [String: (count: Int, seconds: Double)] = [:]

    func runResult(_ args: [String], in dir: URL? = nil, env extra: [String: String] = [:]) -> RunResult {
        do {
            let t0 = Date()
            let r = collect(try start(args, in: dir, env: extra))
            let key = args.first ?? ""
            timings[key, default: (0, 0)].count += 1
            timings[key, default: (0, 0)].seconds += Date().timeIntervalSince(t0)
            return r
        } catch {
            XCTFail("could not start mlrepo: \(error)")
            return RunResult(outData: Data(), err: "\(error)", code: -1)
        }
    }

    /// Runs and asserts exit 0; returns stdout.
    @discardableResult
    func ok(_ args: String..., in dir: URL? = nil, env extra: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) -> String {
        let r = runResult(args, in: dir, env: extra)
        XCTAssertEqual(r.code, 0, "mlrepo \(args.joined(separator: " ")) failed: \(r.err)", file: file, line: line)
        return r.out
    }

    /// Runs and asserts the exit code; returns the result.
    @discardableResult
    func fails(_ code: Int32, _ args: String..., in dir: URL? = nil, env extra: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) -> RunResult {
        let r = runResult(args, in: dir, env: extra)
        XCTAssertEqual(r.code, code, "mlrepo \(args.joined(separator: " ")): expected exit \(code); out: \(r.out) err: \(r.err)", file: file, line: line)
        return r
    }

    /// `commit -m MSG`, asserting it printed a 64-hex id; returns the id.
    @discardableResult
    func commit(_ msg: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        let out = ok("commit", "-m", msg, file: file, line: line).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(isHexId(out), "commit printed '\(out)'", file: file, line: line)
        return out
    }

    func isHexId(_ s: String) -> Bool { s.utf8.count == 64 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }

    // MARK: Files

    func url(_ rel: String) -> URL { repo.appendingPathComponent(rel) }

    func write(_ rel: String, _ text: String) { write(rel, Data(text.utf8)) }

    func write(_ rel: String, _ data: Data) {
        let u = url(rel)
        try! FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! data.write(to: u)
    }

    func read(_ rel: String) -> Data? { try? Data(contentsOf: url(rel)) }
    func text(_ rel: String) -> String? { read(rel).map { String(decoding: $0, as: UTF8.self) } }
    func exists(_ rel: String) -> Bool { FileManager.default.fileExists(atPath: url(rel).path) }
    func remove(_ rel: String) { try? FileManager.default.removeItem(at: url(rel)) }

    /// Every regular file under `root` (relative paths), skipping `.mlrepo`.
    func listFiles(_ root: URL? = nil) -> [String: Data] {
        let r = (root ?? repo).standardizedFileURL.resolvingSymlinksInPath()
        var out: [String: Data] = [:]
        guard let en = FileManager.default.enumerator(at: r, includingPropertiesForKeys: [.isRegularFileKey, .isSymbolicLinkKey]) else { return out }
        let prefix = r.path.hasSuffix("/") ? r.path : r.path + "/"
        for case let u as URL in en {
            let rel = String(u.standardizedFileURL.resolvingSymlinksInPath().path.dropFirst(prefix.count))
            if rel == ".mlrepo" || rel.hasPrefix(".mlrepo/") { en.skipDescendants(); continue }
            let vals = try? u.resourceValues(forKeys: [.isRegularFileKey, .isSymbolicLinkKey])
            if vals?.isRegularFile == true, vals?.isSymbolicLink != true { out[rel] = try? Data(contentsOf: u) }
        }
        return out
    }

    // MARK: JSON

    func json(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> Any? {
        do { return try JSONSerialization.jsonObject(with: Data(s.utf8), options: [.fragmentsAllowed]) } catch {
            XCTFail("not JSON: \(error)\n\(s)", file: file, line: line)
            return nil
        }
    }

    /// `status --json`, parsed and checked for its exact shape.
    func status(file: StaticString = #filePath, line: UInt = #line) -> Status {
        let out = ok("status", "--json", file: file, line: line)
        guard let o = json(out, file: file, line: line) as? [String: Any] else { return Status() }
        XCTAssertEqual(Set(o.keys), ["branch", "head", "staged", "unstaged", "untracked"], file: file, line: line)
        var s = Status()
        s.branch = o["branch"] as? String
        XCTAssertTrue(o["branch"] is String || o["branch"] is NSNull, file: file, line: line)
        XCTAssertTrue(o["head"] is String || o["head"] is NSNull, file: file, line: line)
        s.head = o["head"] as? String
        func changes(_ key: String) -> [String: String] {
            guard let a = o[key] as? [[String: Any]] else { XCTFail("\(key) is not an array of objects", file: file, line: line); return [:] }
            var m: [String: String] = [:]
            for e in a {
                XCTAssertEqual(Set(e.keys), ["path", "status"], file: file, line: line)
                let st = e["status"] as? String ?? "?"
                XCTAssertTrue(["added", "modified", "deleted"].contains(st), "status \(st)", file: file, line: line)
                m[e["path"] as? String ?? "?"] = st
            }
            return m
        }
        s.staged = changes("staged")
        s.unstaged = changes("unstaged")
        s.untracked = (o["untracked"] as? [String]) ?? { XCTFail("untracked is not [String]", file: file, line: line); return [] }()
        return s
    }

    struct Status: Equatable {
        var branch: String?
        var head: String?
        var staged: [String: String] = [:]
        var unstaged: [String: String] = [:]
        var untracked: [String] = []
        var clean: Bool { staged.isEmpty && unstaged.isEmpty && untracked.isEmpty }
    }

    /// A new repository holding the iris fixtures and a project with a built-in train stage
    /// (logistic regression → models/iris.mlmodel, train.json) and an eval stage (eval.json);
    /// nothing run or committed yet.
    func initIrisProject() throws {
        ok("init")
        let fixtures = CLITestCase.packageRoot.appendingPathComponent("Tests/Fixtures/datasets")
        for part in ["train", "test"] {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent("iris_\(part).csv"), to: url("iris_\(part).csv"))
        }
        write("mlrepo.json", """
        {"stages": {"train": {"train": {"model": "logistic_regression", "data": "iris_train.csv", "label": "species"}, "outs": ["models/iris.mlmodel"], "metrics": ["train.json"]},
                    "eval": {"eval": {"model": "models/iris.mlmodel", "data": "iris_test.csv"}, "metrics": ["eval.json"]}}}
        """)
    }

    func revParse(_ rev: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        ok("rev-parse", rev, file: file, line: line).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

func sha256Hex(_ d: Data) -> String {
    Hex.encode(d.withUnsafeBytes { SHA256Hasher.digest($0) })
}

/// Helpers of the remote tests (folder, S3 and https remotes).
extension CLITestCase {
    /// A folder under the test's base, created.
    func dir(_ name: String) -> URL {
        let u = base.appendingPathComponent(name)
        try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    /// The commit HEAD names in the repository at `at`.
    func head(_ at: URL) -> String { ok("rev-parse", "HEAD", in: at).trimmingCharacters(in: .whitespacesAndNewlines) }

    /// Credentials for moto (any are accepted; the secret must never show in output).
    var s3Env: [String: String] { ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1"] }

    /// Runs a program found on PATH (not the mlrepo binary); its stdout, stderr dropped.
    @discardableResult
    func tool(_ args: [String], env extra: [String: String] = [:]) -> (code: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        var e = ProcessInfo.processInfo.environment
        for (k, v) in extra { e[k] = v }
        p.environment = e
        let out = Pipe()
        p.standardOutput = out; p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return (-1, "") }
        let d = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: d, as: UTF8.self))
    }

    /// A free TCP port on 127.0.0.1: bind port 0, read which one it got, close.
    func freeLoopbackPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in(); addr.sin_family = sa_family_t(AF_INET); addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
