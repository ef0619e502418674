import Foundation
import XCTest
import TestHelpers
import Support

/// A checkout killed at any moment leaves each work file at its old or its new version,
/// never a mix, and its temp files are neither shown nor staged, and are cleaned up by the
/// next command (issue 13 #9).
final class CLICheckoutKillTests: CLITestCase {
    var rng = SplitMix(seed: 0x5EED_C0DE)

    /// `.mlrepo-tmp-*` files anywhere in the work tree (outside `.mlrepo`).
    func tempFiles() -> [String] {
        listFiles().keys.filter { $0.split(separator: "/").contains { $0.hasPrefix(".mlrepo-tmp-") } }.sorted()
    }

    func testSIGKILLDuringSwitchNeverTearsAFile() {
        // Two versions of a multi-MB file that differ in scattered chunks, so checkout takes
        // the path that rewrites only the changed chunks.
        var v1 = rng.data(24 << 20)
        v1.withUnsafeMutableBytes { b in for i in stride(from: 0, to: b.count, by: 16 << 10) { b[i] = 0x41 } }
        var v2 = v1
        v2.withUnsafeMutableBytes { b in for i in stride(from: 4096, to: b.count, by: 96 << 10) { b[i] ^= 0xFF } }
        let h1 = sha256Hex(v1), h2 = sha256Hex(v2)
        ok("init")
        write("big.bin", v1)
        write("small.txt", "one\n")
        ok("add", ".")
        commit("v1")
        ok("switch", "-c", "v2")
        write("big.bin", v2)
        write("small.txt", "two\n")
        ok("add", ".")
        commit("v2")
        // How long an uninterrupted switch takes here, to spread the kills over it.
        let t0 = Date()
        ok("switch", "main")
        ok("switch", "v2")
        let full = max(0.02, Date().timeIntervalSince(t0) / 2)
        var kills = 0, mixed = 0
        for trial in 0..<20 {
            let (from, to) = trial % 2 == 0 ? ("main", "v2") : ("v2", "main")
            ok("checkout", "-f", from)
            XCTAssertEqual(read("big.bin").map(sha256Hex), from == "main" ? h1 : h2, "trial \(trial): start state")
            guard let s = try? start(["switch", to]) else { XCTFail("spawn"); return }
            let delay = Double(rng.int(0..<1000)) / 1000 * full * 1.2
            usleep(UInt32(delay * 1_000_000))
            kill(s.pid, SIGKILL)
            if collect(s).code == 128 + SIGKILL { kills += 1 }
            let h = read("big.bin").map(sha256Hex)
            if h != h1 && h != h2 { mixed += 1 }
            XCTAssertTrue(h == h1 || h == h2, "trial \(trial): big.bin matches neither version after a kill at \(Int(delay * 1000)) ms")
            // The next command never shows or stages temp files, and removes them.
            if trial % 3 == 0 {
                ok("add", ".")
            }
            let st = ok("status", "--short")
            XCTAssertFalse(st.contains(".mlrepo-tmp"), "trial \(trial): status shows a temp file: \(st)")
            XCTAssertEqual(tempFiles(), [], "trial \(trial): temp files left after the next command")
        }
        XCTAssertEqual(mixed, 0, "\(mixed) of 20 killed switches left big.bin torn")
        XCTAssertGreaterThanOrEqual(kills, 5, "most runs were really killed mid-way")
        ok("checkout", "-f", "v2")
        XCTAssertEqual(read("big.bin").map(sha256Hex), h2)
        ok("fsck")
    }

    func testTempFilesAreNeverShownOrStagedAndStaleOnesAreRemoved() {
        ok("init")
        write("a.txt", "a\n")
        ok("add", ".")
        commit("one")
        // Left by a process that is gone (no such pid) and by one that is alive (this test).
        write(".mlrepo-tmp-999999999-1", "stale")
        write("sub/.mlrepo-tmp-999999998-2", "stale too")
        let live = "sub/.mlrepo-tmp-\(getpid())-3"
        write(live, "in progress")
        write("sub/real.txt", "real\n")
        let st = ok("status", "--short")
        XCTAssertFalse(st.contains(".mlrepo-tmp"), st)
        XCTAssertTrue(st.contains("sub/real.txt"), st)
        XCTAssertEqual(tempFiles(), [live], "stale temp files are removed, a live process's are kept")
        write(".mlrepo-tmp-999999997-4", "stale")
        ok("add", ".")
        let after = ok("status", "--short")
        XCTAssertFalse(after.contains(".mlrepo-tmp"), after)
        XCTAssertTrue(after.contains("A  sub/real.txt"), after)
        XCTAssertEqual(tempFiles(), [live])
        // Naming one explicitly does not stage it either.
        _ = runResult(["add", live])
        XCTAssertFalse(ok("status", "--short").contains(".mlrepo-tmp"))
        commit("two")
        XCTAssertFalse(ok("ls-tree", "-r", "HEAD").contains(".mlrepo-tmp"))
    }
}
