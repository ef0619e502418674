import XCTest
@testable import Store
@testable import Support

/// `log` over merge commits at the library level: paths after `--` (the merge rule),
/// `walkTopo`'s order and `LogGraph`'s drawing (the CLI tests compare both with git).
final class LogWalkTests: XCTestCase {
    var tmp: TempDir!
    var repo: Repository!

    override func setUpWithError() throws {
        tmp = TempDir("log")
        repo = try Repository.create(at: tmp.path, settings: StoreSettings(fsync: false, identity: Identity(name: "Lib Test", email: "lib@test")))
    }

    override func tearDown() { tmp.cleanup() }

    func write(_ rel: String, _ text: String) throws {
        let p = repo.root + "/" + rel
        try FS.mkdirs(Path.dirname(p))
        try FS.atomicWrite(p, text: text, durable: false)
    }

    func commit(_ files: [String: String], _ message: String, merging: ObjectId? = nil) throws -> ObjectId {
        for (p, t) in files { try write(p, t) }
        _ = try repo.add([""])
        if let merging { try FS.atomicWrite(repo.mergeHeadPath, text: merging.hex + "\n", durable: false) }
        return try repo.commit(message: message)
    }

    /// base → side (b.txt) and main (a.txt), merged; then a merge that takes its own c.txt.
    func testPathsAndMerges() throws {
        let base = try commit(["a.txt": "a0", "b.txt": "b0", "c.txt": "c0"], "base")
        try repo.refs.update("refs/heads/side", to: base, who: repo.signature(), message: "branch")
        let a1 = try commit(["a.txt": "a1"], "A1")
        _ = try repo.checkout("side")
        let s1 = try commit(["b.txt": "b1"], "S1")
        let s2 = try commit(["c.txt": "c-side"], "S2")
        _ = try repo.checkout("main")
        let m = try commit(["b.txt": "b1", "c.txt": "c-merged"], "M", merging: s2)
        XCTAssertEqual(try repo.readCommit(m).parents, [a1, s2])

        func ids(_ paths: [String]) throws -> Set<ObjectId> { Set(try repo.log(from: m, paths: paths).map(\.id)) }
        XCTAssertEqual(try ids([]), [m, a1, s2, s1, base])
        XCTAssertEqual(try repo.log(from: m, paths: []).count, 5, "each commit once")
        XCTAssertEqual(try ids(["b.txt"]), [s1, base], "the merge took side's b.txt: not shown")
        XCTAssertEqual(try ids(["a.txt"]), [a1, base])
        XCTAssertEqual(try ids(["a.txt", "b.txt"]), [m, a1, s1, base], "the merge matches no parent at both paths")
        XCTAssertEqual(try ids(["c.txt"]), [m, s2, base])
        XCTAssertEqual(try ids(["nope"]), [])
        // (Commits made in the same second: only the newest, the merge, has a fixed place.)
        XCTAssertEqual(try repo.log(from: m, limit: 1, paths: ["c.txt"]).map(\.id), [m])
        XCTAssertEqual(Set(try repo.log(from: m, path: "b.txt").map(\.id)), [s1, base], "the one-path form agrees")

        // Graph order: the second parent's line first, no parent before its children.
        var order: [ObjectId] = []
        try repo.walkTopo(from: m) { id, _ in order.append(id); return true }
        XCTAssertEqual(order, [m, s2, s1, a1, base])
        order = []
        try repo.walkTopo(from: m) { id, _ in order.append(id); return order.count < 2 }
        XCTAssertEqual(order, [m, s2])
    }

    /// Drawing without a repository: the shapes git draws the same way.
    func testGraphDrawing() {
        func draw(_ commits: [(String, [String])], oneline: Bool = true) -> String {
            var g = LogGraph<String>()
            var out = ""
            for (n, ps) in commits {
                let r = g.add(n, parents: ps)
                out += r.commit + n + "\n"
                for a in r.after { out += a + "\n" }
            }
            return out
        }
        // Unrelated histories merged (git merge --allow-unrelated-histories): a root's lane ends.
        XCTAssertEqual(draw([("M", ["A1", "B1"]), ("B1", ["B0"]), ("B0", []), ("A1", ["A0"]), ("A0", [])]),
                       "*   M\n|\\  \n| * B1\n| * B0\n* A1\n* A0\n")
        // A merge beside another open line: lines right of the fork shift with `\`.
        XCTAssertEqual(draw([("X", ["C", "Y"]), ("Y", ["C"]), ("C", [])]), "*   X\n|\\  \n| * Y\n|/  \n* C\n")
        // The lanes state stays as wide as the lines open, not the history.
        var g = LogGraph<Int>()
        for i in 0..<10_000 { _ = g.add(i, parents: [i + 1]) }
        XCTAssertEqual(g.lanes, [10_000])
        // Duplicate parents count once.
        var d = LogGraph<String>()
        XCTAssertEqual(d.add("M", parents: ["P", "P"]).after, [])
        XCTAssertEqual(d.lanes, ["P"])
        // The separator before a merge is as wide as the merge will be.
        var s = LogGraph<String>()
        _ = s.add("T", parents: ["M"])
        XCTAssertEqual(s.separator(before: "M", parents: ["A", "B"]), "|   ")
    }
}
