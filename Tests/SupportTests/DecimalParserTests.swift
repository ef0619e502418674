import XCTest
import TestHelpers
@testable import Support

/// DecimalParser against the standard library's correctly rounded `Double(String)`.
final class DecimalParserTests: XCTestCase {
    func number(_ s: String) -> DecimalNumber {
        var b = Array(s.utf8)
        b.append(0)   // a byte past the end: the parser must not read it as part of the number
        return b.withUnsafeBufferPointer { DecimalParser.number($0.baseAddress!, s.utf8.count) }
    }

    func double(_ s: String) -> Double? {
        Array(s.utf8).withUnsafeBufferPointer { b in b.baseAddress.flatMap { DecimalParser.double($0, b.count) } }
    }

    func int64(_ s: String) -> Int64? {
        Array(s.utf8).withUnsafeBufferPointer { b in b.baseAddress.flatMap { DecimalParser.int64($0, b.count) } }
    }

    /// The fast float32 path: nil, or Float(Double(s)) and the whole string consumed.
    func float32(_ s: String, followedBy tail: String = ",") -> (Float, Int)? {
        let b = Array((s + tail).utf8)
        return b.withUnsafeBufferPointer { p in
            DecimalParser.float32Prefix(p.baseAddress!, 0, p.count, .shared).map { ($0.value, $0.next) }
        }
    }

    /// Every check for one string in the decimal syntax.
    func check(_ s: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let want = Double(s) else { return XCTFail("oracle rejects '\(s)'", file: file, line: line) }
        let got = double(s)
        XCTAssertEqual(got?.bitPattern, want.bitPattern, "'\(s)': \(String(describing: got)) != \(want)", file: file, line: line)
        switch number(s) {
        case .notNumber: XCTAssertFalse(want.isFinite, "'\(s)' is a finite number", file: file, line: line)
        case .integer(let v), .float(let v): XCTAssertEqual(v.bitPattern, want.bitPattern, "'\(s)'", file: file, line: line)
        }
        if let (f, next) = float32(s) {
            XCTAssertEqual(f.bitPattern, Float(want).bitPattern, "'\(s)' as float32: \(f) != \(Float(want))", file: file, line: line)
            XCTAssertEqual(next, s.utf8.count, "'\(s)'", file: file, line: line)
        }
        let isIntegerSyntax = !s.contains(".") && !s.lowercased().contains("e")
        if isIntegerSyntax, let i = Int64(s) {
            XCTAssertEqual(int64(s), i, "'\(s)'", file: file, line: line)
            XCTAssertEqual(number(s), .integer(want), "'\(s)'", file: file, line: line)
        } else {
            XCTAssertNil(int64(s), "'\(s)'", file: file, line: line)
            if want.isFinite { XCTAssertEqual(number(s), .float(want), "'\(s)'", file: file, line: line) }
        }
    }

    func testEdgeCasesMatchTheStandardLibrary() {
        let cases = [
            "0", "-0", "+0", "00", "007", "-007.50", "0.0", "-0.0", "1", "-1", "+1", "1.", ".5", "-.5", "+.5", "1.e3", ".5e-3",
            "1e0", "1E5", "1e+5", "1e-5", "2.5E-3", "123456789", "1234567890123456789", "12345678901234567890",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
            "18446744073709551615", "18446744073709551616", "0.1", "0.2", "0.3", "3.14159265358979323846264338327950288",
            "9007199254740993", "9007199254740992", "9007199254740991", "1e22", "1e23", "1e-22", "1e-23", "4.35", "8.589973e9",
            "1.7976931348623157e308", "1.7976931348623159e308", "1.8e308", "1e309", "-1e400", "1e99999999999",
            "2.2250738585072014e-308", "2.2250738585072011e-308", "4.9406564584124654e-324", "2.4703282292062327e-324",
            "2.4703282292062328e-324", "1e-324", "1e-400", "-1e-400", "0e999999", "0.000000000000000000000000001",
            "00000000000000000000000000000001", "0.00000000000000000000000000000000000000000000001e40",
            "1.00000000000000011102230246251565404236316680908203125", "1.00000000000000011102230246251565404236316680908203124",
            "3.4028234663852886e38", "3.4028235677973366e38", "3.4028236e38", "1.17549435e-38", "1.4e-45", "7e-46", "7.1e-46",
            "16777217", "16777216.5", "33554435", "0.1e1", "123.456e-2", "99999999999999999999e-20", "1e19", "1e-19",
            "12345678901234567e-5", "1234567890123456789e3", "36893488147419103232", "36893488147419103232.5",
            "-0000000000000000000000000042", "0000000000000000000000000.5e1", "1234567890123456789e-3", "5e-324", "123456789012345678901234567890e-10",
        ]
        for s in cases { check(s) }
    }

    func testRandomDecimalsMatchTheStandardLibrary() {
        var r = SplitMix(seed: 14)
        func digits(_ n: Int) -> String { String((0..<n).map { _ in Character(String(r.int(0..<10))) }) }
        for _ in 0..<60_000 {
            var s = r.pick(["", "", "-", "+"])
            let intLen = r.int(0..<(r.chance(0.2) ? 30 : 12))
            let fracLen = r.int(0..<(r.chance(0.2) ? 30 : 10))
            if r.chance(0.1) { s += String(repeating: "0", count: r.int(1..<25)) }
            s += digits(intLen)
            if r.chance(0.7) || (intLen == 0) {
                s += "."
                if r.chance(0.2) { s += String(repeating: "0", count: r.int(1..<40)) }
                s += digits(fracLen)
            }
            if !s.contains(where: \.isNumber) { s += "7" }
            if r.chance(0.5) {
                s += r.pick(["e", "E"]) + r.pick(["", "-", "+"])
                s += r.chance(0.8) ? String(r.int(0..<40)) : String(r.int(0..<400))
            }
            check(s)
        }
    }

    func testRandomFloat32BoundaryValues() {
        // Doubles at and next to float32 rounding boundaries, and in float32's subnormal range:
        // the cases the fast path must compute exactly.
        var r = SplitMix(seed: 32)
        for _ in 0..<20_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: r.next()) & 0x7F7F_FFFF)
            let mid = (Double(f) + Double(f.nextUp)) / 2
            let d = r.chance(0.5) ? mid : Double(sign: .plus, exponent: -r.int(126..<150), significand: 1 + Double(r.int(0..<1000)) / 1000)
            for v in [d, d.nextUp, d.nextDown] { check("\(v)") }
        }
    }

    func testWhatIsNotANumber() {
        for s in ["", "+", "-", ".", "+.", "-.", "e5", ".e5", "1e", "1e+", "1e-", "1.2.3", "1e5e5", "--1", "+-1", "1-",
                  " 1", "1 ", "1,5", "0x10", "0x1p3", "inf", "-inf", "Infinity", "nan", "NaN", "1_000", "١", "1e5.5",
                  "1d5", "1f", "true", "1e999", "-1e400", "1.8e308"] {
            XCTAssertEqual(number(s), .notNumber, "'\(s)'")
        }
        XCTAssertNil(double(" 1"))
        XCTAssertNil(double("inf"))
        XCTAssertEqual(double("1e400"), .infinity)
        XCTAssertEqual(double("-1e400"), -.infinity)
        XCTAssertEqual(number("-0"), .integer(-0.0))
        XCTAssertEqual(number("-0").value?.sign, .minus)
        XCTAssertEqual(number("1e-400"), .float(0))
        XCTAssertEqual(int64("-0"), 0)
        XCTAssertNil(int64("1.0"))
        XCTAssertNil(int64(""))
    }

    func testFloat32PrefixStopsAtTheFirstByteThatEndsTheNumber() {
        XCTAssertEqual(float32("1.5", followedBy: ",2")?.1, 3)
        XCTAssertEqual(float32("-2.5e3", followedBy: "\r\n")?.0, -2500)
        XCTAssertEqual(float32("7", followedBy: "")?.1, 1)
        XCTAssertEqual(float32("12abc", followedBy: "")?.1, 2)   // the caller checks what follows
        XCTAssertNil(float32("", followedBy: ""))
        XCTAssertNil(float32("1e", followedBy: ""))
        XCTAssertNil(float32("12345678901234567890"))          // 20 significant digits: the general path
        XCTAssertNil(float32("1e23"))                            // |exponent| > 22
        XCTAssertEqual(float32("0.000000000000000000001")?.0, 1e-21)
        XCTAssertNil(float32("0.00000000000000000000000000001"))  // 10^-29: the general path
        // 20 digits whose value wraps a 64-bit mantissa to 0 (2^64, 2^65) are not 0.
        XCTAssertNil(float32("18446744073709551616"))
        XCTAssertNil(float32("36893488147419103232.5"))
    }
}
