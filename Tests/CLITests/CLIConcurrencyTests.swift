import Foundation
import XCTest
import TestHelpers
import Support

/// Two writers at once.
final class CLIConcurrencyTests: CLITestCase {
    func populate(_ dir: String, seed: UInt64) {
        var rng = SplitMix(seed: seed)
        write("\(dir)/big.bin", rng.data(8_000_000))
        for i in 0..<150 { write("\(dir)/f\(i).txt", rng.data(rng.int(10..<3000))) }
    }

    func testTwoAddsAtOnce() throws {
        ok("init")
        for (round, timeout) in ["10", "0"].enumerated() {
            let a = "a\(round)", b = "b\(round)"
            populate(a, seed: UInt64(round * 2 + 1))
            populate(b, seed: UInt64(round * 2 + 2))
            let env = ["MLREPO_LOCK_TIMEOUT": timeout]
            let p1 = try start(["add", a], env: env)
            let p2 = try start(["add", b], env: env)
            let r1 = collect(p1), r2 = collect(p2)
            for (r, d) in [(r1, a), (r2, b)] {
                XCTAssertTrue(r.code == 0 || (r.code == 1 && r.err.contains("lock")), "add \(d) (timeout \(timeout)): \(r.code) \(r.err)")
            }
            if timeout != "0" {
                XCTAssertEqual(r1.code, 0, "with a 10 s timeout the second writer waits")
                XCTAssertEqual(r2.code, 0)
            }
            XCTAssertTrue(r1.code == 0 || r2.code == 0)
            ok("fsck")
            let s = status()
            for (r, d) in [(r1, a), (r2, b)] {
                let staged = s.staged.keys.filter { $0.hasPrefix(d + "/") }.count
                XCTAssertEqual(staged, r.code == 0 ? 151 : 0, "\(d): no staged entry lost to the other writer")
                let untracked = s.untracked.filter { $0.hasPrefix(d + "/") }.count
                XCTAssertEqual(untracked, r.code == 0 ? 0 : 151)
            }
            ok("add", ".")
            commit("round \(round)")
            ok("fsck")
        }
        XCTAssertEqual((json(ok("ls-tree", "-r", "--json", "HEAD")) as? [Any])?.count, 4 * 151)
    }

    func testLockHeldByAnotherProcess() throws {
        ok("init")
        write("a.txt", "a")
        ok("add", ".")
        commit("c1")
        write("b.txt", "b")
        var lock: FileLock? = try FileLock(path: url(".mlrepo/lock").path, timeout: 0)
        XCTAssertNotNil(lock)
        let env = ["MLREPO_LOCK_TIMEOUT": "0.3"]
        let t0 = Date()
        let r = runResult(["add", "b.txt"], env: env)
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("lock"), r.err)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(t0), 0.25, "waited for the timeout")
        for args in [["commit", "--allow-empty", "-m", "x"], ["branch", "x"], ["tag", "t"], ["checkout", "-f", "HEAD"], ["gc"], ["rm", "a.txt"]] {
            let w = runResult(args, env: env)
            XCTAssertEqual(w.code, 1, "\(args) needs the lock")
            XCTAssertTrue(w.err.contains("lock"), "\(args): \(w.err)")
        }
        // Readers do not need it.
        for args in [["status"], ["log"], ["fsck"], ["show", "HEAD:a.txt"], ["diff", "--json"], ["du"]] {
            XCTAssertEqual(runResult(args, env: env).code, 0, "\(args) works while a writer holds the lock")
        }
        XCTAssertTrue(exists("a.txt"))
        // A writer waits for the lock to be released.
        let waiting = try start(["add", "b.txt"], env: ["MLREPO_LOCK_TIMEOUT": "10"])
        usleep(400_000)
        lock = nil
        let w = collect(waiting)
        XCTAssertEqual(w.code, 0, w.err)
        XCTAssertEqual(status().staged, ["b.txt": "added"])
        _ = lock
    }
}
