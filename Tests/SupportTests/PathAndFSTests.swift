import XCTest
import TestHelpers
@testable import Support

final class PathAndFSTests: XCTestCase {
    func testPathHelpers() {
        XCTAssertEqual(Path.dirname("a/b/c"), "a/b")
        XCTAssertEqual(Path.dirname("a"), ".")
        XCTAssertEqual(Path.dirname("/a"), "/")
        XCTAssertEqual(Path.basename("a/b/c"), "c")
        XCTAssertEqual(Path.basename("c"), "c")
        XCTAssertEqual(Path.join("a", "b"), "a/b")
        XCTAssertEqual(Path.join("a/", "b"), "a/b")
        XCTAssertEqual(Path.join(".", "b"), "b")
        XCTAssertEqual(Path.join("a", ""), "a")
        XCTAssertEqual(Path.normalize("a/./b/../c"), "a/c")
        XCTAssertEqual(Path.normalize("/x//y/"), "/x/y")
        XCTAssertEqual(Path.normalize("a/.."), "")
        XCTAssertNil(Path.normalize("../a"))
        XCTAssertNil(Path.normalize("a/../../b"))
    }

    func testAtomicWriteAndReadFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-fs-\(UUID().uuidString)").path
        try FS.mkdirs(dir + "/x/y")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertTrue(FS.isDirectory(dir + "/x/y"))
        let p = dir + "/x/y/f"
        try FS.atomicWrite(p, Array("one".utf8))
        XCTAssertEqual(try FS.readText(p), "one")
        try FS.atomicWrite(p, text: "two", durable: false)
        XCTAssertEqual(try FS.readText(p), "two")
        XCTAssertEqual(try FS.list(dir + "/x/y").map(\.name), ["f"], "no temp files left behind")
        XCTAssertEqual(FS.lstat(p)?.size, 3)
        XCTAssertEqual(FS.lstat(p)?.isRegular, true)
        XCTAssertNil(FS.lstat(dir + "/missing"))
        XCTAssertThrowsError(try FS.readFile(dir + "/missing")) { e in
            XCTAssertTrue("\(e)".contains("missing"), "\(e)")
        }
        try FS.unlink(p)
        try FS.unlink(p)  // ENOENT is not an error
        XCTAssertFalse(FS.exists(p))
    }

    func testFileLockExcludesSecondHolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-lock-\(UUID().uuidString)").path
        try FS.mkdirs(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/lock"
        var first: FileLock? = try FileLock(path: path, timeout: 0)
        XCTAssertNotNil(first)
        let t0 = Date()
        XCTAssertNil(try FileLock(path: path, timeout: 0.2), "flock is per open file: a second open cannot take it")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(t0), 0.15, "waited for the timeout")
        first = nil
        XCTAssertNotNil(try FileLock(path: path, timeout: 0), "released on deinit")
        _ = first
    }
}
