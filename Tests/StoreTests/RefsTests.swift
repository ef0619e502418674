import XCTest
import TestHelpers
@testable import Store
@testable import Support

final class RefsTests: XCTestCase {
    func testIsValidName() {
        for ok in ["main", "feature/x", "v1.0", "a-b_c", "release/2024/q1", "UPPER", "x@y", "ü"] {
            XCTAssertTrue(Refs.isValidName(ok), ok)
        }
        for bad in ["", "-x", "/a", "a/", "a.", "x.lock", "a..b", "a//b", "a@{1}", "@", "HEAD",
                    "a b", "a\tb", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", ".hidden", "a/.b", "a\u{7f}"] {
            XCTAssertFalse(Refs.isValidName(bad), "'\(bad)' should be invalid")
        }
    }

    func testUpdateReadListDeleteAndLog() throws {
        let tmp = TempDir(); defer { tmp.cleanup() }
        let refs = Refs(dir: tmp.path, durable: false)
        try FS.atomicWrite(tmp.sub("HEAD"), text: "ref: refs/heads/main\n")
        XCTAssertEqual(try refs.head(), .branch("main"))
        XCTAssertNil(try refs.headCommit(), "unborn branch")
        var rng = SplitMix(seed: 26)
        let a = rng.id(), b = rng.id(), c = rng.id()
        let who = Signature(name: "T", email: "t@x", time: 1, tzOffsetMinutes: 0)
        try refs.update("refs/heads/main", to: a, who: who, message: "first")
        try refs.update("refs/heads/main", to: b, who: who, message: "second\nline")
        try refs.update("refs/heads/feature/x", to: c, who: who, message: "branch")
        XCTAssertEqual(try refs.read("refs/heads/main"), b)
        XCTAssertEqual(try refs.headCommit(), b)
        XCTAssertEqual(try refs.list("heads").map(\.name), ["feature/x", "main"])
        XCTAssertEqual(try refs.list("heads").map(\.id), [c, b])
        XCTAssertEqual(try refs.list("tags").count, 0)
        let log = try refs.log("refs/heads/main")
        XCTAssertEqual(log.map(\.new), [b, a], "newest first")
        XCTAssertEqual(log.map(\.old), [a, nil])
        XCTAssertEqual(log[0].message, "second line", "newlines flattened")
        XCTAssertEqual(try refs.log("HEAD").map(\.new), [b, a], "HEAD's log follows its branch")
        try refs.delete("refs/heads/feature/x")
        XCTAssertNil(try refs.read("refs/heads/feature/x"))
        XCTAssertFalse(FS.exists(tmp.sub("refs/heads/feature")), "empty parent folder removed")
        XCTAssertTrue(FS.exists(tmp.sub("refs/heads")))
        try refs.setHead(.detached(a), who: who, message: "detach")
        XCTAssertEqual(try refs.head(), .detached(a))
        XCTAssertEqual(try refs.headCommit(), a)
        // A damaged ref is reported, not misread.
        try FS.atomicWrite(tmp.sub("refs/heads/main"), text: "not an id\n")
        guard case .corruptFile? = storeError(try refs.read("refs/heads/main")) else { return XCTFail() }
        try FS.atomicWrite(tmp.sub("HEAD"), text: "garbage\n")
        guard case .corruptFile? = storeError(try refs.head()) else { return XCTFail() }
    }
}
