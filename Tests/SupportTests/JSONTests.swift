import XCTest
import TestHelpers
@testable import Support

final class JSONTests: XCTestCase {
    func testCanonicalEncodingSortsKeysByUTF8() {
        let j: JSON = .object(["b": .int(1), "a": .int(2), "B": .int(3), "é": .int(4), "aa": .int(5), "": .null])
        XCTAssertEqual(j.encoded(), #"{"":null,"B":3,"a":2,"aa":5,"b":1,"é":4}"#)
        // The order the dictionary was built in does not matter.
        var d: [String: JSON] = [:]
        for k in ["z", "y", "x", "w"] { d[k] = .bool(k == "x") }
        XCTAssertEqual(JSON.object(d).encoded(), #"{"w":false,"x":true,"y":false,"z":false}"#)
    }

    func testEncodeScalarsAndNesting() {
        XCTAssertEqual(JSON.null.encoded(), "null")
        XCTAssertEqual(JSON.bool(true).encoded(), "true")
        XCTAssertEqual(JSON.int(-42).encoded(), "-42")
        XCTAssertEqual(JSON.int(Int64.max).encoded(), "9223372036854775807")
        XCTAssertEqual(JSON.number(2.0).encoded(), "2")
        XCTAssertEqual(JSON.number(-0.5).encoded(), "-0.5")
        XCTAssertEqual(JSON.number(1.25).encoded(), "1.25")
        XCTAssertEqual(JSON.number(.nan).encoded(), "null")
        XCTAssertEqual(JSON.number(.infinity).encoded(), "null")
        XCTAssertEqual(JSON.array([]).encoded(), "[]")
        XCTAssertEqual(JSON.object([:]).encoded(), "{}")
        let nested: JSON = .object(["a": .array([.int(1), .object(["c": .string("x")]), .array([])])])
        XCTAssertEqual(nested.encoded(), #"{"a":[1,{"c":"x"},[]]}"#)
        XCTAssertEqual(nested.encoded(pretty: true), """
        {
          "a": [
            1,
            {
              "c": "x"
            },
            []
          ]
        }
        """)
    }

    func testStringEscapes() {
        XCTAssertEqual(JSON.string("a\"b\\c\nd\re\tf").encoded(), #""a\"b\\c\nd\re\tf""#)
        XCTAssertEqual(JSON.string("\u{01}\u{1F}").encoded(), #""\u0001\u001f""#)
        XCTAssertEqual(JSON.string("/").encoded(), #""/""#)
        // Non-ASCII stays as UTF-8.
        XCTAssertEqual(JSON.string("é😀").encoded(), "\"é😀\"")
    }

    func testParse() throws {
        XCTAssertEqual(try JSON.parse("null"), .null)
        XCTAssertEqual(try JSON.parse(" true "), .bool(true))
        XCTAssertEqual(try JSON.parse("false"), .bool(false))
        XCTAssertEqual(try JSON.parse("12"), .int(12))
        XCTAssertEqual(try JSON.parse("-7"), .int(-7))
        XCTAssertEqual(try JSON.parse("1.5"), .number(1.5))
        XCTAssertEqual(try JSON.parse("-2.5e2"), .number(-250))
        XCTAssertEqual(try JSON.parse("1E3"), .number(1000))
        XCTAssertEqual(try JSON.parse("99999999999999999999"), .number(1e20), "too big for Int64: a double")
        XCTAssertEqual(try JSON.parse("[]"), .array([]))
        XCTAssertEqual(try JSON.parse("{}"), .object([:]))
        XCTAssertEqual(try JSON.parse("\n[ 1 ,\t{ \"a\" : [ ] } ]\r\n"), .array([.int(1), .object(["a": .array([])])]))
        let o = try JSON.parse(#"{"k": "v", "n": 3, "k": "last"}"#)
        XCTAssertEqual(o["k"]?.stringValue, "last", "duplicate keys: the last wins")
        XCTAssertEqual(o["n"]?.doubleValue, 3)
        XCTAssertNil(o["missing"])
        XCTAssertNil(JSON.int(1)["k"])
    }

    func testParseEscapesAndUnicode() throws {
        XCTAssertEqual(try JSON.parse(#""a\"b\\c\/d\b\f\n\r\t""#), .string("a\"b\\c/d\u{08}\u{0C}\n\r\t"))
        XCTAssertEqual(try JSON.parse(#""\u00e9\u00E9""#), .string("éé"))
        XCTAssertEqual(try JSON.parse(#""\ud83d\ude00""#), .string("😀"), "surrogate pair")
        XCTAssertEqual(try JSON.parse("\"é😀\""), .string("é😀"), "raw UTF-8")
        XCTAssertEqual(try JSON.parse(#""\u0000""#), .string("\u{0}"))
    }

    func testRoundTrip() throws {
        let v: JSON = .object([
            "s": .string("quote\" back\\ nl\n tab\t ctrl\u{02} é 😀"),
            "i": .int(-123456789012),
            "d": .number(3.25),
            "a": .array([.null, .bool(false), .bool(true), .array([.object([:])])]),
            "o": .object(["nested": .object(["deep": .string("")])]),
        ])
        XCTAssertEqual(try JSON.parse(v.encoded()), v)
        XCTAssertEqual(try JSON.parse(v.encoded(pretty: true)), v)
        XCTAssertEqual(try JSON.parse(v.encoded()).encoded(), v.encoded(), "canonical form is stable")
    }

    func parseError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSON.ParseError? {
        do {
            let v = try JSON.parse(text)
            XCTFail("parsed '\(text)' as \(v)", file: file, line: line)
            return nil
        } catch let e as JSON.ParseError {
            return e
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
            return nil
        }
    }

    func testErrorsCarryOffsets() {
        XCTAssertEqual(parseError("")?.offset, 0)
        XCTAssertEqual(parseError("[1,2")?.offset, 4)
        XCTAssertEqual(parseError(#"{"a" 1}"#)?.offset, 5)
        XCTAssertEqual(parseError("tru")?.offset, 0)
        XCTAssertEqual(parseError("[1] x")?.offset, 4)
        XCTAssertEqual(parseError("\"abc")?.offset, 4)
        XCTAssertEqual(parseError("{1:2}")?.offset, 1)
        XCTAssertEqual(parseError("[1 2]")?.offset, 3)
        XCTAssertNotNil(parseError("-"))
        XCTAssertNotNil(parseError("1.2.3"))
        XCTAssertNotNil(parseError("[,]"))
        XCTAssertNotNil(parseError("{\"a\":1,}"))
        XCTAssertNotNil(parseError("\"bad \\x escape\""))
        XCTAssertNotNil(parseError("\"\\u12\""))
        XCTAssertNotNil(parseError("\"raw \n newline\""), "control characters must be escaped")
        XCTAssertNotNil(parseError(#""\ud83d""#), "lone high surrogate")
        XCTAssertNotNil(parseError(#""\udc00""#), "lone low surrogate")
        XCTAssertNotNil(parseError(#""\ud83d\u0041""#), "high surrogate + non-surrogate")
        XCTAssertNotNil(parseError(#""\ud83d\ue000""#), "high surrogate + non-surrogate")
        XCTAssertNotNil(parseError("nul"))
        XCTAssertNotNil(parseError("@"))
        let e = parseError("[1,2")
        XCTAssertTrue(e?.description.contains("byte 4") ?? false, e?.description ?? "")
    }

    /// Numbers parse to exactly the Double the standard library gives for the same text
    /// (the fast path must round the same way), integers that fit stay integers, and the
    /// RFC 8259 grammar is enforced.
    func testNumbersMatchTheStandardLibraryBitForBit() throws {
        func parsed(_ t: String) throws -> JSON { try JSON.parse(t) }
        var rng = SplitMix(seed: 42)
        var texts = ["0", "-0", "0.0", "-0.0", "1", "-1", "0.1", "0.2", "0.3", "1e22", "1e23", "1e-22", "1e-23",
                     "9007199254740991", "9007199254740993", "9007199254740993.0", "123456789012345678", "1234567890123456789",
                     "12345678901234567890", "0.000001234", "5e-324", "2.2250738585072014e-308", "1.7976931348623157e308",
                     "3.141592653589793", "2.718281828459045", "1E5", "1e+5", "-4.5E-3", "100000000000000000000000.5",
                     "0.30000000000000004", "123.456e-10", "7e22", "9.999999999999999e22"]
        for _ in 0..<20_000 {
            let m = UInt64.random(in: 0...(UInt64(1) << 60), using: &rng)
            let digits = String(m)
            let cut = Int.random(in: 0...digits.count, using: &rng)
            var t = cut == digits.count ? digits : String(digits.prefix(cut == 0 ? 1 : cut)) + "." + String(digits.dropFirst(cut == 0 ? 1 : cut))
            if t.hasSuffix(".") { t += "0" }
            if Bool.random(using: &rng) { t += "e" + String(Int.random(in: -30...30, using: &rng)) }
            if Bool.random(using: &rng) { t = "-" + t }
            texts.append(t)
        }
        for t in texts {
            let j = try parsed(t)
            switch j {
            case .int(let v): XCTAssertEqual(Int64(t), v, t)
            case .number(let d):
                XCTAssertNil(Int64(t).map { _ in () }, "\(t) fits an Int64 but parsed as a number")
                XCTAssertEqual(d.bitPattern, Double(t)!.bitPattern, t)
            default: XCTFail(t)
            }
        }
        for bad in ["01", "-01", "1.", ".5", "1e", "1e+", "+1", "-", "1.e5", "--1", "0x10", "1.5e3.2"] {
            XCTAssertThrowsError(try parsed(bad), bad)
        }
    }

    func testNestingLimit() {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        XCTAssertNotNil(parseError(deep), "nesting deeper than 512 is refused, not a stack overflow")
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        XCTAssertNoThrow(try JSON.parse(ok))
    }
}
