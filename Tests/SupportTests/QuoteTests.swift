import XCTest
@testable import Support

/// git's core.quotePath=false style for paths shown on a terminal (issue 13 #10).
final class QuoteTests: XCTestCase {
    func testPlainNamesAreShownAsTheyAre() {
        XCTAssertEqual(Quote.path("data/train.csv"), "data/train.csv")
        XCTAssertEqual(Quote.path("with space.txt"), "with space.txt")
        XCTAssertEqual(Quote.path("naïve/日本.csv"), "naïve/日本.csv", "UTF-8 stays readable")
        XCTAssertEqual(Quote.path(""), "")
    }

    func testControlCharactersQuotesAndBackslashesAreCQuoted() {
        XCTAssertEqual(Quote.path("a\tb"), "\"a\\tb\"")
        XCTAssertEqual(Quote.path("a\nb"), "\"a\\nb\"")
        XCTAssertEqual(Quote.path("evil\u{1B}]0;x\u{07}.csv"), "\"evil\\033]0;x\\a.csv\"")
        XCTAssertEqual(Quote.path("q\"uote"), "\"q\\\"uote\"")
        XCTAssertEqual(Quote.path("back\\slash"), "\"back\\\\slash\"")
        XCTAssertEqual(Quote.path("del\u{7F}"), "\"del\\177\"")
        XCTAssertEqual(Quote.path("\u{08}\u{0B}\u{0C}\r\u{01}"), "\"\\b\\v\\f\\r\\001\"")
        XCTAssertEqual(Quote.path("csi\u{9B}31m"), "\"csi\\302\\23331m\"", "C1 controls are quoted as their UTF-8 bytes")
    }

    func testControlsEscapesOnlyControlCharacters() {
        XCTAssertEqual(Quote.controls("could not open 'a\u{1B}[2Jb': \"x\\y\""), "could not open 'a\\033[2Jb': \"x\\y\"")
        XCTAssertEqual(Quote.controls("plain"), "plain")
        XCTAssertEqual(Quote.controls("two\nlines"), "two\\nlines")
    }

    func testJSONEscapesEveryControlCharacter() throws {
        let s = "a\u{1B}[31m\u{7F}\u{9B}\t\"\\"
        let j = JSON.string(s).encoded()
        XCTAssertEqual(j, "\"a\\u001b[31m\\u007f\\u009b\\t\\\"\\\\\"")
        XCTAssertFalse(j.unicodeScalars.contains { $0.value < 0x20 || ($0.value >= 0x7F && $0.value <= 0x9F) })
        XCTAssertEqual(try JSON.parse(j), .string(s), "round-trips")
    }
}
