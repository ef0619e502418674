import XCTest
@testable import Store
@testable import Support

/// Library-level smoke tests of Repository (the CLI tests cover the commands end to end).
final class RepositoryTests: XCTestCase {
    var tmp: TempDir!
    var repo: Repository!

    override func setUpWithError() throws {
        tmp = TempDir("repo")
        repo = try Repository.create(at: tmp.path, settings: StoreSettings(fsync: false, identity: Identity(name: "Lib Test", email: "lib@test")))
    }

    override func tearDown() { tmp.cleanup() }

    func write(_ rel: String, _ text: String) throws {
        let p = repo.root + "/" + rel
        try FS.mkdirs(Path.dirname(p))
        try FS.atomicWrite(p, text: text, durable: false)
    }

    func testCreateDiscoverAndRelativePaths() throws {
        XCTAssertEqual(storeError(try Repository.create(at: tmp.path)), .alreadyExists(repo.dotDir))
        XCTAssertEqual(try repo.refs.head(), .branch("main"))
        try FS.mkdirs(repo.root + "/a/b")
        XCTAssertEqual(try Repository.discover(from: repo.root + "/a/b").root, repo.root)
        XCTAssertEqual(try repo.relativePath("x/../y", cwd: repo.root + "/a"), "a/y")
        XCTAssertEqual(try repo.relativePath(".", cwd: repo.root), "")
        XCTAssertEqual(try repo.relativePath(repo.root + "/a/b", cwd: "/"), "a/b")
        guard case .badPath? = storeError(try repo.relativePath(".mlrepo/config", cwd: repo.root)) else { return XCTFail() }
        guard case .badPath? = storeError(try repo.relativePath("../elsewhere", cwd: repo.root)) else { return XCTFail() }
        guard case .badPath? = storeError(try repo.relativePath("/etc/passwd", cwd: repo.root)) else { return XCTFail() }
        let other = TempDir("norepo"); defer { other.cleanup() }
        guard case .notARepository? = storeError(try Repository.discover(from: other.path)) else { return XCTFail() }
        guard case .badRefName? = storeError(try Repository.create(at: other.path + "/x", branch: "bad name")) else { return XCTFail() }
    }

    func testAddCommitResolveCheckout() throws {
        try write("a.txt", "one")
        try write("d/b.txt", "two")
        let r = try repo.add([""])
        XCTAssertEqual(r.staged.sorted(), ["a.txt", "d/b.txt"])
        let c1 = try repo.commit(message: "first")
        XCTAssertEqual(try repo.resolve("HEAD"), c1)
        XCTAssertEqual(try repo.resolve("main"), c1)
        XCTAssertEqual(try repo.resolve(String(c1.hex.prefix(10))), c1)
        XCTAssertEqual(storeError(try repo.commit(message: "again")), .nothingToCommit)
        guard case .invalid? = storeError(try repo.commit(message: "  ")) else { return XCTFail("empty message") }
        XCTAssertTrue(try repo.status().clean)

        try write("a.txt", "one, changed")
        _ = try repo.add(["a.txt"])
        let c2 = try repo.commit(message: "second\n\nbody")
        XCTAssertEqual(try repo.resolve("HEAD~1"), c1)
        XCTAssertEqual(try repo.resolve("HEAD^"), c1)
        XCTAssertEqual(try repo.resolve("main~0"), c2)
        guard case .badRevision? = storeError(try repo.resolve("HEAD~2")) else { return XCTFail() }
        guard case .badRevision? = storeError(try repo.resolve("nope")) else { return XCTFail() }
        XCTAssertEqual(try repo.readCommit(c2).parents, [c1])
        XCTAssertEqual(try repo.log(from: c2).map(\.id), [c2, c1])
        XCTAssertEqual(try repo.log(from: c2, path: "d").map(\.id), [c1])
        XCTAssertEqual(try repo.log(from: c2, limit: 1).map(\.id), [c2])

        let d = try repo.diff(.commit(c1), .commit(c2))
        XCTAssertEqual(d.map(\.path), ["a.txt"])
        XCTAssertEqual(d.first?.status, .modified)
        XCTAssertEqual(d.first?.oldSize, 3)
        XCTAssertEqual(d.first?.newSize, 12)

        let co = try repo.checkout(c1.hex)
        XCTAssertEqual(co.head, .detached(c1))
        XCTAssertEqual(try FS.readText(repo.root + "/a.txt"), "one")
        XCTAssertTrue(try repo.status().clean)
        _ = try repo.checkout("main")
        XCTAssertEqual(try FS.readText(repo.root + "/a.txt"), "one, changed")
        XCTAssertEqual(try repo.refs.head(), .branch("main"))

        // Trees store sizes and modes.
        let files = try repo.files(ofCommit: c2)
        XCTAssertEqual(files["a.txt"]?.size, 12)
        XCTAssertEqual(files["d/b.txt"]?.mode, .regular)
        let fsck = try repo.fsck()
        XCTAssertTrue(fsck.problems.isEmpty, "\(fsck.problems)")
        XCTAssertGreaterThan(fsck.objectsChecked, 5)
    }

    func testLocking() throws {
        repo = try Repository(root: repo.root, settings: StoreSettings(fsync: false, lockTimeout: 0.1))
        let held = try FileLock(path: repo.dotDir + "/lock", timeout: 0)
        XCTAssertNotNil(held)
        try write("x", "x")
        guard case .locked? = storeError(try repo.add(["x"])) else { return XCTFail() }
        _ = held
        withExtendedLifetime(held) {}
    }
}
