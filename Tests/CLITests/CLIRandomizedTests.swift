import Foundation
import XCTest
import TestHelpers

/// A seeded random walk over add/modify/delete, `add .`, commit, checkout of earlier commits
/// and branch switches, checking the work tree against a model after every checkout.
final class CLIRandomizedTests: CLITestCase {
    enum HeadState: Equatable { case branch(String), detached(String) }

    var rng = SplitMix(seed: 0x5EED_2024)
    /// Model of the work tree and of the index (path → bytes).
    var work: [String: Data] = [:]
    var index: [String: Data] = [:]
    var snapshots: [String: [String: Data]] = [:]
    var commitIds: [String] = []
    var branches: [String: String] = [:]
    var head: HeadState = .branch("main")
    var checks = 0

    var headId: String? {
        switch head {
        case .branch(let b): return branches[b]
        case .detached(let id): return id
        }
    }
    var headSnapshot: [String: Data] { headId.flatMap { snapshots[$0] } ?? [:] }

    // MARK: Work-tree edits (model and disk together)

    let names = ["a", "b", "c.txt", "d.bin", "e"]

    func randomPath() -> String {
        (0..<rng.int(1..<4)).map { _ in rng.pick(names) }.joined(separator: "/")
    }

    func writeFile(_ path: String, _ data: Data) {
        // Make room: a file where a folder is needed, or a folder where the file goes.
        let comps = path.split(separator: "/").map(String.init)
        for i in 1..<comps.count {
            let prefix = comps[0..<i].joined(separator: "/")
            if work[prefix] != nil { work[prefix] = nil; remove(prefix) }
        }
        for k in work.keys where k.hasPrefix(path + "/") { work[k] = nil }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url(path).path, isDirectory: &isDir), isDir.boolValue { remove(path) }
        work[path] = data
        write(path, data)
    }

    func deleteFile(_ path: String) {
        work[path] = nil
        remove(path)
    }

    func smallData() -> Data {
        rng.chance(0.5) ? Data("text \(rng.next())\n".utf8) : rng.data(rng.int(0..<3000))
    }

    func largeData() -> Data {
        rng.chance(0.1) ? rng.data(rng.int(1_100_000..<1_400_000)) : rng.data(rng.int(100_000..<250_000))
    }

    /// A same-length edit or an append to a large file (chunks before the edit stay put).
    func editLarge(_ path: String) {
        var d = work[path]!
        if rng.chance(0.5) {
            let off = rng.int(0..<d.count - 100)
            d.replaceSubrange(off..<(off + 100), with: rng.data(100))
        } else {
            d.append(rng.data(rng.int(1..<50_000)))
        }
        work[path] = d
        write(path, d)
    }

    // MARK: Commands

    func addAll() {
        ok("add", ".")
        index = work
    }

    func commitStep(_ n: Int) {
        addAll()
        let r = runResult(["commit", "-m", "step \(n)"])
        if index == headSnapshot && (headId != nil || index.isEmpty) {
            XCTAssertEqual(r.code, 1, "step \(n): nothing to commit expected; \(r.out) \(r.err)")
            XCTAssertTrue(r.err.contains("nothing to commit"), r.err)
            return
        }
        XCTAssertEqual(r.code, 0, "step \(n): commit failed: \(r.err)")
        let id = r.out.trimmingCharacters(in: .newlines)
        XCTAssertTrue(isHexId(id), "step \(n): commit printed '\(r.out)'")
        if snapshots[id] == nil { commitIds.append(id) }
        snapshots[id] = index
        switch head {
        case .branch(let b): branches[b] = id
        case .detached: head = .detached(id)
        }
    }

    var untracked: Set<String> { Set(work.keys).subtracting(index.keys) }
    var dirty: Bool { work != headSnapshot || index != headSnapshot }

    /// Makes a checkout possible: commit pending work, or plan a forced checkout.
    func prepareForMove(_ n: Int) -> Bool {
        guard dirty else { return false }
        if untracked.isEmpty && rng.chance(0.4) { return true }  // force, discarding changes
        commitStep(n)
        return false
    }

    func moved(to id: String, head newHead: HeadState, step n: Int, args: [String]) {
        work = snapshots[id]!
        index = work
        head = newHead
        verifyWorkTree("step \(n): after \(args.joined(separator: " "))")
    }

    func checkoutStep(_ n: Int) {
        guard !commitIds.isEmpty else { return }
        let force = prepareForMove(n)
        let target = rng.pick(commitIds)
        let rev = rng.chance(0.3) ? String(target.prefix(12)) : target
        let args = ["checkout"] + (force ? ["-f"] : []) + [rev]
        let r = runResult(args)
        XCTAssertEqual(r.code, 0, "step \(n): \(args): \(r.err)")
        moved(to: target, head: .detached(target), step: n, args: args)
    }

    func switchStep(_ n: Int) {
        guard let cur = headId else { return }
        if rng.chance(0.4) || branches.count < 2 {
            let name = "b\(n)"
            ok("switch", "-c", name)
            branches[name] = cur
            head = .branch(name)
            return
        }
        let force = prepareForMove(n)
        let name = rng.pick(branches.keys.sorted())
        guard let tip = branches[name] else { return }
        let viaCheckout = rng.chance(0.5)
        let args = (viaCheckout ? ["checkout"] : ["switch"]) + (force ? ["-f"] : []) + [name]
        let r = runResult(args)
        XCTAssertEqual(r.code, 0, "step \(n): \(args): \(r.err)")
        moved(to: tip, head: .branch(name), step: n, args: args)
    }

    /// Work tree on disk == model, with no extra files.
    func verifyWorkTree(_ context: String) {
        checks += 1
        let disk = listFiles()
        if disk == work { return }
        let extra = Set(disk.keys).subtracting(work.keys).sorted()
        let missing = Set(work.keys).subtracting(disk.keys).sorted()
        let differ = Set(disk.keys).intersection(work.keys).filter { disk[$0] != work[$0] }.sorted()
        XCTFail("\(context): work tree differs: extra \(extra), missing \(missing), different \(differ)")
    }

    /// status --json == what the model says.
    func verifyStatus(_ n: Int) {
        let s = status()
        var staged: [String: String] = [:], unstaged: [String: String] = [:]
        let h = headSnapshot
        for (p, d) in index { if let o = h[p] { if o != d { staged[p] = "modified" } } else { staged[p] = "added" } }
        for p in h.keys where index[p] == nil { staged[p] = "deleted" }
        for (p, d) in index { if let w = work[p] { if w != d { unstaged[p] = "modified" } } else { unstaged[p] = "deleted" } }
        XCTAssertEqual(s.staged, staged, "step \(n): staged")
        XCTAssertEqual(s.unstaged, unstaged, "step \(n): unstaged")
        XCTAssertEqual(s.untracked, untracked.sorted(), "step \(n): untracked")
        XCTAssertEqual(s.head, headId, "step \(n): head")
        switch head {
        case .branch(let b): XCTAssertEqual(s.branch, b, "step \(n): branch")
        case .detached: XCTAssertNil(s.branch, "step \(n): detached")
        }
    }

    func testRandomWalk() throws {
        env["MLREPO_FSYNC"] = "0"       // durability is the crash test's business
        env["MLREPO_CHUNK_AVG"] = "8192" // smaller chunks: files over 32 KiB are chunked
        ok("init")
        let steps = Int(ProcessInfo.processInfo.environment["MLREPO_RANDOM_STEPS"] ?? "") ?? 2000
        let t0 = Date()
        for n in 0..<steps {
            let roll = rng.int(0..<100)
            switch roll {
            case 0..<32: writeFile(randomPath(), smallData())
            case 32..<36: writeFile(randomPath(), largeData())
            case 36..<44:
                let large = work.filter { $0.value.count > 100_000 }.keys.sorted()
                if !large.isEmpty { editLarge(rng.pick(large)) }
            case 44..<56:
                if !work.isEmpty { deleteFile(rng.pick(work.keys.sorted())) }
            case 56..<58:
                let top = rng.pick(names)
                for k in work.keys where k == top || k.hasPrefix(top + "/") { work[k] = nil }
                remove(top)
            case 58..<70: commitStep(n)
            case 70..<82: checkoutStep(n)
            case 82..<89: switchStep(n)
            case 89..<92: addAll()
            case 92..<96: verifyStatus(n)
            default:
                // Stage a single path (file, deletion, or folder).
                let p = rng.pick(names)
                let r = runResult(["add", p])
                let under = { (k: String) in k == p || k.hasPrefix(p + "/") }
                let known = work.keys.contains(where: under) || index.keys.contains(where: under) || exists(p)
                if known {
                    XCTAssertEqual(r.code, 0, "step \(n): add \(p): \(r.err)")
                    // Entries under the path become what the work tree holds there.
                    for k in index.keys where under(k) { index[k] = nil }
                    for (k, v) in work where under(k) { index[k] = v }
                } else {
                    XCTAssertEqual(r.code, 1, "step \(n): add \(p) of nothing")
                }
            }
            if testRun?.failureCount ?? 0 > 5 { break }
        }
        // Every commit still checks out exactly.
        addAll()
        if dirty { commitStep(steps) }
        ok("fsck")
        for id in commitIds.shuffled(using: &rng).prefix(15) {
            let r = runResult(["checkout", id])
            XCTAssertEqual(r.code, 0, r.err)
            moved(to: id, head: .detached(id), step: steps, args: ["final checkout", id])
        }
        for (k, v) in timings.sorted(by: { $0.value.seconds > $1.value.seconds }) {
            print(String(format: "  %@: %d runs, %.1f s", k, v.count, v.seconds))
        }
        print("random walk: \(steps) steps, \(commitIds.count) commits, \(branches.count) branches, \(checks) work-tree checks in \(Int(Date().timeIntervalSince(t0))) s")
        XCTAssertGreaterThan(commitIds.count, 50)
        XCTAssertGreaterThan(checks, 100)
    }
}
