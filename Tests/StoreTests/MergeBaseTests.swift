import XCTest
import TestHelpers
@testable import Store
@testable import Support

/// Merge bases over hand-built histories (commits without files), including a criss-cross,
/// unrelated roots, a missing ancestor and a history too deep for any recursion.
final class MergeBaseTests: XCTestCase {
    var tmp: TempDir!
    var repo: Repository!
    var emptyTree: ObjectId!
    var counter = 0

    override func setUpWithError() throws {
        tmp = TempDir("mergebase")
        repo = try Repository.create(at: tmp.path, settings: StoreSettings(fsync: false, identity: Identity(name: "T", email: "t@t", time: 1_700_000_000)))
        emptyTree = try repo.withLock { let t = try repo.writeTree([:]); try repo.store.commitPending(); return t }
    }

    override func tearDown() { tmp.cleanup() }

    /// A commit with these parents (message made unique so ids differ).
    func c(_ parents: ObjectId...) throws -> ObjectId {
        counter += 1
        let who = repo.signature()
        let commit = Commit(tree: emptyTree, parents: parents, author: who, committer: who, message: "c\(counter)\n")
        return try repo.withLock { let id = try repo.store.put(.commit, commit.encode()); try repo.store.commitPending(); return id }
    }

    func testLinearForkAndCrissCross() throws {
        let root = try c()
        let a = try c(root), b = try c(a)
        XCTAssertEqual(try repo.mergeBases(a, b), [a])
        XCTAssertEqual(try repo.mergeBases(b, a), [a])
        XCTAssertEqual(try repo.mergeBases(b, b), [b])
        let x = try c(a), y = try c(x)
        XCTAssertEqual(try repo.mergeBases(b, y), [a])
        // Criss-cross: m1 = merge(b, x), m2 = merge(x, b): both b and x are best.
        let m1 = try c(b, x), m2 = try c(x, b)
        XCTAssertEqual(Set(try repo.mergeBases(m1, m2)), [b, x])
        let n1 = try c(m1), n2 = try c(m2)
        XCTAssertEqual(Set(try repo.mergeBases(n1, n2)), [b, x])
        // A common ancestor reachable from another common one is not "best".
        let merged = try c(y, b)
        XCTAssertEqual(try repo.mergeBases(merged, b), [b])
    }

    func testUnrelatedAndMissingHistory() throws {
        let r1 = try c(), r2 = try c()
        XCTAssertEqual(try repo.mergeBases(try c(r1), try c(r2)), [])
        // A parent that is not in the store: a clear error, not a crash or a wrong base.
        var g = SplitMix(seed: 4)
        let ghost = g.id()
        let lost = try c(ghost)
        guard case .objectMissing(let id, let ctx)? = storeError(try repo.mergeBases(lost, try c(r1))) else { return XCTFail() }
        XCTAssertEqual(id, ghost)
        XCTAssertTrue(ctx?.contains("lacks part of its history") == true, ctx ?? "")
    }

    func testDeepHistoryNeedsNoRecursion() throws {
        // 30,000 commits in a line, then two branches: the walk is iterative.
        let who = repo.signature()
        let tip = try repo.withLock { () -> ObjectId in
            var p = try repo.store.put(.commit, Commit(tree: emptyTree, parents: [], author: who, committer: who, message: "0\n").encode())
            for i in 1..<30_000 {
                p = try repo.store.put(.commit, Commit(tree: emptyTree, parents: [p], author: who, committer: who, message: "\(i)\n").encode())
            }
            try repo.store.commitPending()
            return p
        }
        let a = try c(tip), b = try c(tip)
        XCTAssertEqual(try repo.mergeBases(a, b), [tip])
        XCTAssertEqual(try repo.mergeBases(a, tip), [tip])
    }
}
