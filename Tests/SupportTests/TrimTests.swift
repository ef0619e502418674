import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import Support

/// The one trim (Support/Text/Trim.swift).
final class TrimTests: XCTestCase {
    func testTrimsTheGivenSetAtBothEndsOnly() {
        XCTAssertEqual("  a b \t\n".trimmed(), "a b")
        XCTAssertEqual("x\r\n".trimmed(), "x")              // "\r\n" is one Character
        XCTAssertEqual("\r\n\r\n".trimmed(), "")
        XCTAssertEqual(" \ta\t ".trimmed(" "), "\ta\t")
        XCTAssertEqual("--a-b--".trimmed("-"), "a-b")
        XCTAssertEqual("é ".trimmed(), "é")
        XCTAssertEqual("".trimmed(), "")
        XCTAssertEqual(("  k = v "[...]).trimmed(), "k = v")
    }
}
