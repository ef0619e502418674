import XCTest
import TestHelpers
@testable import Store
@testable import Support

final class ConfigTests: XCTestCase {
    func testParse() {
        let c = Config(text: """
        # a comment
        [core]
        \tcompression = auto
        \tFSync = "false"
        [user]
        name = A B
        ; another comment
        [Chunking]
        avgsize=4096
        garbage line without equals

        [core]
        compression = all
        """)
        XCTAssertEqual(c["core.compression"], "all", "the last value wins")
        XCTAssertEqual(c["core.fsync"], "false", "quotes stripped, keys case-insensitive")
        XCTAssertEqual(c["CORE.FSYNC"], "false")
        XCTAssertEqual(c.bool("core.fsync"), false)
        XCTAssertEqual(c["user.name"], "A B")
        XCTAssertEqual(c["chunking.avgsize"], "4096")
        XCTAssertNil(c["user.email"])
        XCTAssertNil(c.bool("user.name"), "not a boolean")
        XCTAssertNil(c.bool("missing.key"))
        XCTAssertEqual(c.problems.map(\.line), [10], "the garbage line is reported, by its line number")
        for (v, b) in [("yes", true), ("On", true), ("1", true), ("TRUE", true), ("no", false), ("off", false), ("0", false)] {
            var c2 = Config(); c2.set("x.y", v)
            XCTAssertEqual(c2.bool("x.y"), b, v)
        }
    }

    func testCRLFText() {
        let c = Config(text: "[user]\r\n\tname = W\r\n")
        XCTAssertEqual(c["user.name"], "W")
        let lf = Config(text: "[user]\n\tname = W\n")
        XCTAssertEqual(lf["user.name"], "W")
    }

    func testSetAndTextRoundTrip() throws {
        var c = Config(text: "[core]\n\tcompression = none\n[user]\n\tname = X\n")
        c.set("user.email", "x@example.com")
        c.set("Core.Compression", "auto")
        c.set("user.name", nil)
        XCTAssertEqual(c["core.compression"], "auto")
        XCTAssertNil(c["user.name"])
        XCTAssertEqual(c["user.email"], "x@example.com")
        let again = Config(text: c.text)
        XCTAssertEqual(again.values.map(\.key), c.values.map(\.key))
        XCTAssertEqual(again.values.map(\.value), c.values.map(\.value))
        XCTAssertEqual(again.text, c.text, "text is stable")
        XCTAssertTrue(c.text.contains("[user]\n\temail = x@example.com\n"), c.text)
        // Through a file.
        let tmp = TempDir(); defer { tmp.cleanup() }
        try c.write(tmp.sub("config"))
        let loaded = try Config.load(tmp.sub("config"))
        XCTAssertEqual(loaded["user.email"], "x@example.com")
        XCTAssertEqual(loaded["core.compression"], "auto")
        XCTAssertTrue(try Config.load(tmp.sub("missing")).values.isEmpty)
    }
}
