import XCTest
import TestHelpers
@testable import Support

final class CSVScannerTests: XCTestCase {
    /// Every field of one record at `text`'s start, via `field`/`text`, and where it ended.
    func fields(_ text: String) -> (fields: [String], next: Int)? {
        let b = Array(text.utf8)
        return b.withUnsafeBufferPointer { p in try? CSVScanner.record(p.baseAddress!, from: 0, p.count) }
    }

    func testPlainQuotedAndEscapedFields() {
        XCTAssertEqual(fields("a,b,c\nx")?.fields, ["a", "b", "c"])
        XCTAssertEqual(fields("a,b,c\nx")?.next, 6)
        XCTAssertEqual(fields("a,\"b,c\",d")?.fields, ["a", "b,c", "d"])
        XCTAssertEqual(fields("\"say \"\"hi\"\"\",2\r\n3")?.fields, ["say \"hi\"", "2"])
        XCTAssertEqual(fields("\"say \"\"hi\"\"\",2\r\n3")?.next, 16)
        XCTAssertEqual(fields("\"multi\nline\",x")?.fields, ["multi\nline", "x"])
        XCTAssertEqual(fields("\"a\"b,c")?.fields, ["ab", "c"])             // text after the closing quote stays
        XCTAssertEqual(fields("\"a\"\"\"b,c")?.fields, ["a\"b", "c"])
        XCTAssertEqual(fields("ab\"c,d")?.fields, ["ab\"c", "d"])          // a quote inside an unquoted field
        XCTAssertEqual(fields(" a , \"b\" ,")?.fields, [" a ", " \"b\" ", ""])  // not trimmed here
        XCTAssertEqual(fields("a\rb")?.fields, ["a"])                     // a lone CR ends a record
        XCTAssertEqual(fields("a\rb")?.next, 2)
        XCTAssertEqual(fields(",")?.fields, ["", ""])
    }

    func testUnterminatedQuote() {
        let b = Array("a,\"open\nstill".utf8)
        XCTAssertThrowsError(try b.withUnsafeBufferPointer { try CSVScanner.record($0.baseAddress!, from: 0, $0.count) }) { e in
            XCTAssertEqual(e as? CSVUnterminatedQuote, CSVUnterminatedQuote(offset: 2))
        }
    }

    func testDelimiterScanAgreesWithAByteLoop() {
        var r = SplitMix(seed: 7)
        for _ in 0..<2_000 {
            let n = Int(r.next() % 40)
            let bytes = (0..<n).map { _ -> UInt8 in [0x2C, 0x0A, 0x0D, 0x61, 0x22, 0x30, 0xFF][Int(r.next() % 7)] }
            bytes.withUnsafeBufferPointer { p in
                guard let base = p.baseAddress else { return }
                for start in 0...n {
                    let want = (start..<n).first { [0x2C, 0x0A, 0x0D].contains(bytes[$0]) } ?? n
                    XCTAssertEqual(CSVScanner.delimiter(base, from: start, n), want)
                }
            }
        }
    }

    func testTrimAndLineCounting() {
        let b = Array(" \t x y\t ".utf8)
        b.withUnsafeBufferPointer { p in
            var q = p.baseAddress!, len = p.count
            CSVScanner.trim(&q, &len)
            XCTAssertEqual(String(decoding: UnsafeBufferPointer(start: q, count: len), as: UTF8.self), "x y")
        }
        let text = Array("a\nb\r\nc\rd\r\n\n".utf8) + Array(repeating: UInt8(0x0A), count: 40)
        text.withUnsafeBufferPointer { p in
            let base = p.baseAddress!
            XCTAssertEqual(CSVScanner.lineEnds(base, 0, p.count, p.count), 45)
            XCTAssertEqual(CSVScanner.line(base, at: 0, p.count), 1)
            XCTAssertEqual(CSVScanner.line(base, at: 2, p.count), 2)
            XCTAssertEqual(CSVScanner.line(base, at: 5, p.count), 3)   // after CRLF
            XCTAssertEqual(CSVScanner.line(base, at: 7, p.count), 4)   // after a lone CR
            XCTAssertEqual(CSVScanner.line(base, at: 4, p.count), 2)   // between CR and LF: one line end, not yet seen
        }
        let bom = Array("\u{FEFF}\n\r\nh".utf8)
        bom.withUnsafeBufferPointer { XCTAssertEqual(CSVScanner.headerStart($0.baseAddress!, $0.count), 6) }
    }
}
