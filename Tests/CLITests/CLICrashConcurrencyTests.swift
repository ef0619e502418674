import Foundation
import XCTest
import TestHelpers
import Support

/// SIGKILL in the middle of writes, and two writers at once.
final class CLICrashTests: CLITestCase {
    struct Recorded {
        let id: String
        let bigHash: String
        let samples: [String: Data]
    }

    var rng = SplitMix(seed: 0xC0FFEE)
    var big = Data()
    var small: [String: Data] = [:]
    var recorded: [Recorded] = []

    func record(_ id: String, _ why: String) {
        XCTAssertTrue(isHexId(id), "\(why): '\(id)'")
        let keys = small.keys.sorted()
        var samples: [String: Data] = [:]
        for _ in 0..<5 { let k = rng.pick(keys); samples[k] = small[k] }
        recorded.append(Recorded(id: id, bigHash: sha256Hex(big), samples: samples))
    }

    /// Every recorded commit resolves and has its files; the big file is checked for the
    /// newest commit and one other (all of them when `all`).
    func verifyRecorded(_ context: String, all: Bool = false) {
        for (i, r) in recorded.enumerated() {
            XCTAssertEqual(revParse(r.id), r.id, "\(context): commit \(r.id) resolves")
            for (p, d) in r.samples {
                XCTAssertEqual(runResult(["show", "\(r.id):\(p)"]).outData, d, "\(context): \(r.id):\(p)")
            }
            if all || i == recorded.count - 1 || i == rng.int(0..<recorded.count) {
                let out = runResult(["show", "\(r.id):big.bin"])
                XCTAssertEqual(out.code, 0, "\(context): show \(r.id):big.bin: \(out.err)")
                XCTAssertEqual(sha256Hex(out.outData), r.bigHash, "\(context): \(r.id):big.bin intact")
            }
        }
    }

    func fsckOK(_ context: String) {
        let r = runResult(["fsck"])
        XCTAssertEqual(r.code, 0, "\(context): fsck: \(r.out) \(r.err)")
    }

    func mutate() {
        // Rewrite a 2 MB region of the big file, or append to it.
        if rng.chance(0.7) {
            let off = rng.int(0..<(big.count - 2_000_000))
            big.replaceSubrange(off..<(off + 2_000_000), with: rng.data(2_000_000))
        } else {
            big.append(rng.data(1_000_000))
        }
        write("big.bin", big)
        let keys = small.keys.sorted()
        for _ in 0..<30 { let k = rng.pick(keys); small[k] = rng.data(rng.int(10..<4000)); write(k, small[k]!) }
        for _ in 0..<10 {
            let k = "small/new\(rng.int(0..<5))/n\(rng.next() % 100_000).dat"
            small[k] = rng.data(rng.int(10..<4000)); write(k, small[k]!)
        }
    }

    /// Starts `args` and SIGKILLs it after `delay` seconds (if it is still running).
    func killed(_ args: [String], after delay: Double) -> RunResult {
        guard let s = try? start(args) else { XCTFail("spawn"); return RunResult(outData: Data(), err: "", code: -1) }
        usleep(UInt32(delay * 1_000_000))
        kill(s.pid, SIGKILL)
        return collect(s)
    }

    func testSIGKILLDuringAddAndCommit() {
        ok("init")
        big = rng.data(30_000_000)
        write("big.bin", big)
        for i in 0..<400 {
            let k = "small/d\(i % 12)/f\(i).txt"
            small[k] = Data("small file \(i) \(rng.next())\n".utf8)
            write(k, small[k]!)
        }
        let t0 = Date()
        ok("add", ".")
        let addTime = Date().timeIntervalSince(t0)
        record(commit("base"), "base commit")
        var kills = 0
        for round in 0..<5 {
            mutate()
            // Kill `add .` somewhere between its start and a bit after its usual duration.
            let d = Double(rng.int(0..<1000)) / 1000 * addTime * 1.2
            let r = killed(["add", "."], after: d)
            if r.code == 128 + SIGKILL { kills += 1 }
            XCTAssertTrue(r.code == 0 || r.code == 128 + SIGKILL, "round \(round): add exit \(r.code): \(r.err)")
            fsckOK("round \(round) after killed add (\(d) s)")
            XCTAssertEqual(runResult(["diff", "--cached", "--json"]).code, 0, "round \(round): index still readable")
            verifyRecorded("round \(round) after killed add")

            ok("add", ".")
            // Kill `commit` too, at random.
            let cd = Double(rng.int(0..<40)) / 1000
            let c = killed(["commit", "-m", "round \(round)"], after: cd)
            if c.code == 128 + SIGKILL { kills += 1 }
            if c.code == 0 { record(c.line, "round \(round): commit completed before the kill") }
            fsckOK("round \(round) after killed commit (\(cd) s)")
            let again = runResult(["commit", "-m", "round \(round) again"])
            if again.code == 0 {
                record(again.line, "round \(round): commit")
            } else {
                // The killed commit had moved the branch: it holds exactly this state.
                XCTAssertTrue(again.err.contains("nothing to commit"), "round \(round): \(again.err)")
                if c.code != 0 { record(revParse("HEAD"), "round \(round): commit finished before the kill") }
            }
            verifyRecorded("round \(round) after commit")
            XCTAssertTrue(status().clean, "round \(round): clean after commit")
        }
        XCTAssertGreaterThanOrEqual(kills, 3, "most runs were really killed")
        // Leftover temp packs are removed by gc; everything survives it.
        ok("gc")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: url(".mlrepo/objects/pack").path))?.filter { !$0.hasPrefix("pack-") } ?? []
        XCTAssertEqual(leftovers, [], "gc removed temp files")
        fsckOK("after gc")
        verifyRecorded("after gc", all: true)
        // And the work tree can be restored from the last commit after a kill during checkout.
        let first = recorded[0].id
        _ = killed(["checkout", "-f", first], after: 0.05)
        fsckOK("after killed checkout")
        ok("checkout", "-f", "main")
        XCTAssertEqual(sha256Hex(read("big.bin") ?? Data()), recorded.last!.bigHash)
        for (k, v) in timings.sorted(by: { $0.value.seconds > $1.value.seconds }) {
            print(String(format: "  %@: %d runs, %.1f s", k, v.count, v.seconds))
        }
    }
}

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
