import Foundation
import XCTest
import TestHelpers
import Support

/// SIGKILL in the middle of writes: what a killed command leaves behind.
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
