import Foundation
import XCTest
import TestHelpers
@testable import Store
@testable import Support

final class ConfigErrorTests: XCTestCase {
    func testLinesThatDoNotParseAreNamedByFileAndLine() throws {
        let tmp = TempDir("config"); defer { tmp.cleanup() }
        let p = tmp.sub("config")
        try FS.atomicWrite(p, text: "[core]\n\tfsync = false\n\n[user\n\tname = X\n")
        XCTAssertThrowsError(try Config.load(p)) { e in
            XCTAssertEqual("\(e)", "\(p):4: not a section header (use [section] or [section \"sub\"])")
        }
        for (text, line) in [("x = 1\n", 1), ("[a]\nkey with spaces = 1\n", 2), ("[a]\n= 1\n", 2), ("[a b c]\n", 1),
                             ("[a \"b\n", 1), ("[a]\r\nb = 1\r\n!\r\n", 3)] {
            let c = Config(text: text)
            XCTAssertEqual(c.problems.map(\.line), [line], text)
        }
        let g = Config(text: "[remote \"origin\"]\n\turl = /x\n[core]\n\tbare\n; c\n# c\n[a.b]\n\tc = \"q\"\n")
        XCTAssertEqual(g.problems.count, 0)
        XCTAssertEqual(g["remote.origin.url"], "/x")
        XCTAssertEqual(g["core.bare"], "true")
        XCTAssertEqual(g["a.b.c"], "q")
        XCTAssertTrue(try Config.load(tmp.sub("missing")).values.isEmpty)
        XCTAssertEqual(Config.loadLenient(p)["core.fsync"], "false")
        for k in ["user.name", "remote.origin.url", "a.b-c_d"] { XCTAssertTrue(Config.isValidKey(k), k) }
        for k in ["user", ".x", "x.", "a b.c", "a.b c", "a.b\n", ""] { XCTAssertFalse(Config.isValidKey(k), k) }
        for v in ["a\nb", " x", "x ", "\"q\"", "a\rb"] { XCTAssertFalse(Config.isValidValue(v), v) }
    }
}
