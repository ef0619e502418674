import Foundation
import ML
import Support
import TestHelpers
import XCTest

final class ProfileTests: XCTestCase {
    // MARK: helpers

    private func profile(_ text: String, chunk: Int = .max, path: String = "data.csv") throws -> DataProfile {
        try profile(bytes: Array(text.utf8), chunk: chunk, path: path)
    }

    private func profile(bytes: [UInt8], chunk: Int = .max, path: String = "data.csv") throws -> DataProfile {
        let profiler = CSVProfiler(path: path)
        try bytes.withUnsafeBytes { raw in
            var i = 0
            while i < raw.count {
                let j = i + min(chunk, raw.count - i)
                try profiler.feed(UnsafeRawBufferPointer(rebasing: raw[i..<j]))
                i = j
            }
        }
        return try profiler.finish()
    }

    private func column(_ p: DataProfile, _ name: String, file: StaticString = #filePath, line: UInt = #line) -> ColumnProfile {
        guard let c = p.columns.first(where: { $0.name == name }) else {
            XCTFail("no column \(name)", file: file, line: line)
            return ColumnProfile(name: name, type: "missing")
        }
        return c
    }

    private func assertError(_ text: String, _ message: String, chunk: Int = .max,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try profile(text, chunk: chunk), file: file, line: line) { error in
            XCTAssertTrue(error is ProfileError, file: file, line: line)
            XCTAssertEqual("\(error)", message, file: file, line: line)
        }
    }

    private func quantiles(_ c: ColumnProfile) -> [Double] { c.quantiles.map(\.value) }

    private func assertClose(_ a: [Double], _ b: [Double], _ tolerance: Double = 1e-9,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: tolerance, "\(a) vs \(b)", file: file, line: line) }
    }

    private func topPairs(_ c: ColumnProfile) -> [String] { c.top.map { "\($0.value)=\($0.count)" } }

    static let small = """
    id,score,price,name,flag,note,blank
    1,10,1.5,alice,true,x,
    2,20,2.5e0,bob,false,,
    3,NA,-0.5,alice,TRUE,y, 
    4,40, 3 ,carol,false,NULL,
    5,30,nan,bob,true,z,n/a

    """

    // MARK: exact statistics

    func testExactStatisticsOnSmallFile() throws {
        let p = try profile(Self.small)
        XCTAssertEqual(p.rows, 5)
        XCTAssertEqual(p.bytes, UInt64(Self.small.utf8.count))
        XCTAssertEqual(p.columns.map(\.name), ["id", "score", "price", "name", "flag", "note", "blank"])
        XCTAssertEqual(p.columns.map(\.type), ["integer", "integer", "float", "text", "boolean", "text", "empty"])

        let id = column(p, "id")
        XCTAssertEqual(id.count, 5)
        XCTAssertEqual(id.missing, 0)
        XCTAssertEqual(id.min, 1)
        XCTAssertEqual(id.max, 5)
        XCTAssertEqual(id.mean!, 3, accuracy: 1e-12)
        XCTAssertEqual(id.std!, 2.5.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(id.distinct, 5)
        XCTAssertFalse(id.distinctApproximate)
        XCTAssertEqual(id.quantiles.map(\.q), [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1])
        assertClose(quantiles(id), [1, 1.2, 2, 3, 4, 4.8, 5])
        XCTAssertFalse(id.quantilesApproximate)
        XCTAssertTrue(id.top.isEmpty)

        // 10, 20, NA, 40, 30: sorted 10 20 30 40; deviations from 25: ±15, ±5 → Σ² = 500.
        let score = column(p, "score")
        XCTAssertEqual(score.count, 4)
        XCTAssertEqual(score.missing, 1)
        XCTAssertEqual(score.min, 10)
        XCTAssertEqual(score.max, 40)
        XCTAssertEqual(score.mean!, 25, accuracy: 1e-12)
        XCTAssertEqual(score.std!, (500.0 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(score.distinct, 4)
        // h = 3q: 0.15 → 11.5, 0.75 → 17.5, 1.5 → 25, 2.25 → 32.5, 2.85 → 38.5
        assertClose(quantiles(score), [10, 11.5, 17.5, 25, 32.5, 38.5, 40])

        // 1.5, 2.5, -0.5, 3 (trimmed), nan missing: mean 1.625, Σ(x-mean)² = 7.1875.
        let price = column(p, "price")
        XCTAssertEqual(price.count, 4)
        XCTAssertEqual(price.missing, 1)
        XCTAssertEqual(price.min, -0.5)
        XCTAssertEqual(price.max, 3)
        XCTAssertEqual(price.mean!, 1.625, accuracy: 1e-12)
        XCTAssertEqual(price.std!, (7.1875 / 3).squareRoot(), accuracy: 1e-12)
        // sorted -0.5 1.5 2.5 3: 0.05 → h 0.15 → -0.2; 0.25 → h .75 → 1.0; 0.5 → 2.0; 0.75 → 2.625; 0.95 → 2.925
        assertClose(quantiles(price), [-0.5, -0.2, 1.0, 2.0, 2.625, 2.925, 3])

        let name = column(p, "name")
        XCTAssertEqual(name.count, 5)
        XCTAssertEqual(name.distinct, 3)
        XCTAssertEqual(topPairs(name), ["alice=2", "bob=2", "carol=1"])
        XCTAssertNil(name.mean)
        XCTAssertNil(name.min)
        XCTAssertTrue(name.quantiles.isEmpty)

        let flag = column(p, "flag")
        XCTAssertEqual(flag.distinct, 3)
        XCTAssertEqual(topPairs(flag), ["false=2", "true=2", "TRUE=1"])

        let note = column(p, "note")
        XCTAssertEqual(note.count, 3)
        XCTAssertEqual(note.missing, 2)
        XCTAssertEqual(topPairs(note), ["x=1", "y=1", "z=1"])

        let blank = column(p, "blank")
        XCTAssertEqual(blank.count, 0)
        XCTAssertEqual(blank.missing, 5)
        XCTAssertEqual(blank.distinct, 0)
        XCTAssertNil(blank.mean)
        XCTAssertNil(blank.std)
        XCTAssertTrue(blank.top.isEmpty)
        XCTAssertTrue(blank.quantiles.isEmpty)
    }

    func testSingleValueHasNoStd() throws {
        let c = try profile("x\n7\n").columns[0]
        XCTAssertEqual(c.type, "integer")
        XCTAssertEqual(c.mean, 7)
        XCTAssertNil(c.std)
        assertClose(quantiles(c), [7, 7, 7, 7, 7, 7, 7])
    }

    func testNumbersParseExactlyLikeTheStandardLibrary() throws {
        var cases = ["0.30000000000000004", "714.4285714285714", "9007199254740993", "9007199254740993.0", "1e22", "1e23",
                     "123456789012345678901234", "0.000000000000000000000000123", "5.", ".5", "+7", "-0", "1E+2",
                     "1.7976931348623157e308", "4.9e-324", "2.2250738585072014e-308", "12345678.87654321e-5",
                     "18446744073709551615", "-9223372036854775808", "0000000000000000000000042.5"]
        var rng = SplitMix(seed: 11)
        for _ in 0..<1_500 {
            let digits = String((0..<rng.int(1..<22)).map { _ in Character(String(rng.int(0..<10))) })
            let dot = rng.int(0..<(digits.count + 1))
            var s = (rng.chance(0.3) ? "-" : "") + digits.prefix(dot) + (rng.chance(0.8) ? "." : "") + digits.dropFirst(dot)
            if rng.chance(0.5) { s += "e\(rng.int(-40..<40))" }
            cases.append(s)
        }
        for s in cases {
            guard let expected = Double(s) else { continue }
            let c = try profile("v\n\(s)\n").columns[0]
            XCTAssertEqual(c.min, expected, s)
            XCTAssertTrue(c.type == "integer" || c.type == "float", s)
        }
        // Not numbers: words, hex, overflow, stray characters.
        for s in ["inf", "-Infinity", "0x1p3", "1e400", "1.2.3", "1e", "e5", "--1", "1,5", "12a", "."] {
            XCTAssertEqual(try profile("v\n\"\(s)\"\n").columns[0].type, "text", s)
        }
    }

    func testMissingTokens() throws {
        let p = try profile("v\nNA\nn/a\nNaN\nnull\nNONE\n   \n\"\"\n5\nna\n")
        let c = p.columns[0]
        XCTAssertEqual(p.rows, 9)
        XCTAssertEqual(c.missing, 8)
        XCTAssertEqual(c.count, 1)
        XCTAssertEqual(c.type, "integer")
    }

    // MARK: CSV syntax

    func testQuotedFieldsWithCommasNewlinesAndEscapedQuotes() throws {
        let text = "a,b\n\"hello, world\",\"say \"\"hi\"\"\"\n\"multi\nline\",\"2\"\n\"\",x\n"
        let p = try profile(text)
        XCTAssertEqual(p.rows, 3)
        let a = column(p, "a")
        XCTAssertEqual(a.count, 2)
        XCTAssertEqual(a.missing, 1)
        XCTAssertEqual(topPairs(a), ["hello, world=1", "multi\nline=1"])
        let b = column(p, "b")
        XCTAssertEqual(b.type, "text")
        XCTAssertEqual(Set(b.top.map(\.value)), ["say \"hi\"", "2", "x"])
    }

    func testQuotedNumbersAreNumbers() throws {
        let c = try profile("v\n\"1\"\n\" 2 \"\n").columns[0]
        XCTAssertEqual(c.type, "integer")
        XCTAssertEqual(c.mean, 1.5)
    }

    func testLineNumbersCountNewlinesInsideQuotes() throws {
        assertError("a,b\n\"x\ny\",1\n1,2,3\n", "'data.csv' line 4: 3 fields, header has 2")
    }

    func testCRLFGivesTheSameProfileAsLF() throws {
        let lf = "a,b,c\n1,x,\"q\nr\"\n2,y,z\n"
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        let p1 = try profile(lf), p2 = try profile(crlf)
        XCTAssertEqual(p2.rows, 2)
        XCTAssertEqual(p1.columns[0], p2.columns[0])
        XCTAssertEqual(p1.columns[1], p2.columns[1])
        XCTAssertEqual(column(p2, "c").top.map(\.value), ["q\r\nr", "z"])   // quoted line ends kept as they are
        XCTAssertEqual(column(p2, "b").top.map(\.value), ["x", "y"])
        // A lone CR ends a record too.
        XCTAssertEqual(try profile("a\r1\r2").rows, 2)
    }

    func testBOMIsSkipped() throws {
        let text = "\u{FEFF}name,v\nx,1\n"
        for chunk in [1, 2, 7, Int.max] {
            let p = try profile(text, chunk: chunk)
            XCTAssertEqual(p.columns.map(\.name), ["name", "v"], "chunk \(chunk)")
            XCTAssertEqual(p.bytes, UInt64(text.utf8.count))
        }
        // Short files with no BOM still work.
        XCTAssertEqual(try profile("a").columns.map(\.name), ["a"])
        XCTAssertEqual(try profile("ab\n1", chunk: 1).rows, 1)
    }

    func testFinalLineWithoutNewlineAndTrailingBlankLines() throws {
        XCTAssertEqual(try profile("a,b\n1,2").rows, 1)
        XCTAssertEqual(try profile("a,b\n1,2\n\n\n").rows, 1)
        XCTAssertEqual(try profile("a,b\r\n1,2\r\n\r\n").rows, 1)
        XCTAssertEqual(try profile("a,b\n1,\n").columns[1].missing, 1)
        XCTAssertEqual(try profile("a,b\n1,").columns[1].missing, 1)
        // Header only.
        let h = try profile("a,b\n")
        XCTAssertEqual(h.rows, 0)
        XCTAssertEqual(h.columns.map(\.type), ["empty", "empty"])
        XCTAssertEqual(try profile("a,b").rows, 0)
    }

    func testBlankLinesInsideTheData() throws {
        // One column: a blank line is a missing value.
        let p = try profile("v\n1\n\n2\n\n")
        XCTAssertEqual(p.rows, 3)
        XCTAssertEqual(p.columns[0].missing, 1)
        // Several columns: a blank line is a ragged record.
        assertError("a,b\n1,2\n\n3,4\n", "'data.csv' line 3: 1 field, header has 2")
    }

    func testHeaderNamesAreMadeUnique() throws {
        let p = try profile("a,a,,a_2, b ,a\n1,2,3,4,5,6\n")
        XCTAssertEqual(p.columns.map(\.name), ["a", "a_3", "column_3", "a_2", "b", "a_4"])
    }

    func testInvalidUTF8IsReplaced() throws {
        let bytes: [UInt8] = Array("t\n".utf8) + [0x61, 0xFF, 0x62, 0x0A, 0xC3, 0x0A]
        let p = try profile(bytes: bytes)
        XCTAssertEqual(p.rows, 2)
        XCTAssertEqual(Set(p.columns[0].top.map(\.value)), ["a\u{FFFD}b", "\u{FFFD}"])
    }

    // MARK: chunking

    func testResultDoesNotDependOnChunking() throws {
        let text = "\u{FEFF}id,\"na,me\",v\r\n1,\"a\"\"b\",2.5\r\n2,\"x\r\ny\",NA\r\n3,plain text longer than eight bytes,1e3\r\n"
            + "4,\"\",-7\r\n5,z,123456789.123456789\n6,\"quoted\" tail,  12345678901234567890  \r7,,8"
        let whole = try profile(text)
        XCTAssertEqual(whole.rows, 7)
        XCTAssertEqual(Set(whole.columns[1].top.map(\.value)), ["a\"b", "x\r\ny", "plain text longer than eight bytes", "z", "quoted tail"])
        XCTAssertEqual(whole.columns[2].type, "float")
        for chunk in [1, 2, 3, 7, 64] {
            XCTAssertEqual(try profile(text, chunk: chunk), whole, "chunk \(chunk)")
        }
    }

    func testLargeInputDeterministicAcrossChunkings() throws {
        var text = "u,k,t\n"
        for i in 0..<120_000 { text += "\(i * 7919 % 120_000),\(i % 7),w\(i % 70_001)\n" }
        let bytes = Array(text.utf8)
        let whole = try profile(bytes: bytes)
        XCTAssertTrue(whole.columns[0].quantilesApproximate)
        XCTAssertTrue(whole.columns[2].distinctApproximate)
        XCTAssertEqual(try profile(bytes: bytes, chunk: 7), whole)
        XCTAssertEqual(try profile(bytes: bytes, chunk: 1 << 20), whole)
    }

    // MARK: errors

    func testErrors() throws {
        assertError("", "'data.csv' is empty")
        assertError("\u{FEFF}", "'data.csv' is empty")
        assertError("\n\n", "'data.csv' is empty")
        var ragged = "a,b,c,d\n"
        for i in 2...16 { ragged += "\(i),2,3,4\n" }
        ragged += "1,2,3,4,5\n9,9,9,9\n"
        assertError(ragged, "'data.csv' line 17: 5 fields, header has 4")
        assertError(ragged, "'data.csv' line 17: 5 fields, header has 4", chunk: 1)
        assertError("a,b,c,d\n1,2,3\n", "'data.csv' line 2: 3 fields, header has 4")
        assertError("a,b,c,d\n1,2,3,4\n1,2,3", "'data.csv' line 3: 3 fields, header has 4")
        assertError("a,b\n1,\"abc\n2,3\n", "'data.csv' line 2, column 2: unterminated quoted field")
        assertError("a,b\n1,\"abc\n2,3\n", "'data.csv' line 2, column 2: unterminated quoted field", chunk: 3)

        // The error is one line and names the file; the profiler stays failed.
        let profiler = CSVProfiler(path: "/tmp/x y.csv")
        let bad = Array("a\n\"\n".utf8)
        try bad.withUnsafeBytes { try profiler.feed($0) }
        XCTAssertThrowsError(try profiler.finish()) { e in
            let err = e as! ProfileError
            XCTAssertEqual(err.description, "'/tmp/x y.csv' line 2, column 1: unterminated quoted field")
            XCTAssertEqual(err.line, 2)
            XCTAssertEqual(err.column, 1)
        }
        XCTAssertThrowsError(try profiler.finish())
    }

    // MARK: type inference

    func testTypeInference() throws {
        let p = try profile("""
        i,f,b,late,boolnum,big,infw,exp,neg
        1,1,true,1,true,9223372036854775807,1,1e5,-3
        2,2.5,False,2,false,9223372036854775808,inf,2E-3,+4
        3,3,TRUE,abc,1,1,2,.5,-0

        """)
        XCTAssertEqual(p.columns.map(\.type),
                       ["integer", "float", "boolean", "text", "text", "float", "text", "float", "integer"])
        let late = column(p, "late")
        XCTAssertNil(late.mean)
        XCTAssertTrue(late.quantiles.isEmpty)
        XCTAssertEqual(topPairs(late), ["1=1", "2=1", "abc=1"])
        XCTAssertEqual(column(p, "big").max, 9223372036854775808.0)
        assertClose([column(p, "exp").mean!], [(1e5 + 2e-3 + 0.5) / 3])
    }

    func testLateTextValueAfterManyNumbers() throws {
        var text = "v\n"
        for i in 0..<70_000 { text += "\(i % 50)\n" }
        text += "oops\noops\n"
        let c = try profile(text).columns[0]
        XCTAssertEqual(c.type, "text")
        XCTAssertEqual(c.count, 70_002)
        XCTAssertEqual(c.distinct, 51)
        XCTAssertEqual(c.top.count, 10)
        XCTAssertEqual(c.top[0].value, "0")
        XCTAssertEqual(c.top[0].count, 1_400)
        XCTAssertNil(c.mean)
    }

    // MARK: sketches

    func testManyDistinctValuesAreEstimated() throws {
        var text = "u,k\n"
        let n = 200_001
        for i in 0..<n { text += "\(i),\(i % 7)\n" }
        let p = try profile(text)
        let u = column(p, "u")
        XCTAssertTrue(u.distinctApproximate)
        XCTAssertEqual(Double(u.distinct), Double(n), accuracy: Double(n) * 0.02)
        let k = column(p, "k")
        XCTAssertFalse(k.distinctApproximate)
        XCTAssertEqual(k.distinct, 7)

        // Uniform sequence 0...200000: exact median 100000.
        XCTAssertTrue(u.quantilesApproximate)
        let median = u.quantiles.first { $0.q == 0.5 }!.value
        XCTAssertEqual(median, 100_000, accuracy: 1_000)
        XCTAssertEqual(u.quantiles.first!.value, 0)
        XCTAssertEqual(u.quantiles.last!.value, Double(n - 1))
        XCTAssertEqual(u.mean!, 100_000, accuracy: 1e-4)
        XCTAssertEqual(u.min, 0)
        XCTAssertEqual(u.max, Double(n - 1))
        XCTAssertEqual(u.count, n)
    }

    func testDistinctEstimateJustPastTheExactLimit() throws {
        var text = "v\n"
        for i in 0..<70_000 { text += "id-\(i)\n" }
        let c = try profile(text).columns[0]
        XCTAssertTrue(c.distinctApproximate)
        XCTAssertEqual(Double(c.distinct), 70_000, accuracy: 70_000 * 0.02)
        XCTAssertGreaterThan(c.distinct, 65_536)
    }

    func testHeavyHitterSurvivesTheSummary() throws {
        var text = "t\n"
        let n = 240_000   // 80,000 distinct singletons push the column past the exact limit
        var hot = 0
        for i in 0..<n {
            if i % 3 == 0 { text += "hot\n"; hot += 1 } else if i % 3 == 1 { text += "warm\(i % 5)\n" } else { text += "u\(i)\n" }
        }
        let c = try profile(text).columns[0]
        XCTAssertEqual(c.type, "text")
        XCTAssertTrue(c.distinctApproximate)
        XCTAssertEqual(c.top.first?.value, "hot")
        XCTAssertLessThanOrEqual(c.top[0].count, hot)
        XCTAssertGreaterThanOrEqual(c.top[0].count, hot - n / 1_025)
        XCTAssertEqual(Set(c.top.prefix(6).map(\.value)), ["hot", "warm0", "warm1", "warm2", "warm3", "warm4"])
    }

    // MARK: JSON

    func testJSONShapeAndRoundTrip() throws {
        let p = try profile(Self.small)
        let j = p.json()
        XCTAssertEqual(Set(j.objectValue!.keys), ["rows", "bytes", "columns"])
        let id = j["columns"]!.arrayValue![0]
        XCTAssertEqual(Set(id.objectValue!.keys), ["name", "type", "count", "missing", "min", "max", "mean", "std", "distinct",
                                                   "distinct_approximate", "top", "quantiles", "quantiles_approximate"])
        XCTAssertEqual(Set(id["quantiles"]!.objectValue!.keys), ["0", "0.05", "0.25", "0.5", "0.75", "0.95", "1"])
        XCTAssertEqual(id["top"], .null)
        let name = j["columns"]!.arrayValue![3]
        XCTAssertEqual(name["mean"], .null)
        XCTAssertEqual(name["quantiles"], .null)
        XCTAssertEqual(name["top"]!.arrayValue![0], .object(["value": .string("alice"), "count": .int(2)]))

        XCTAssertEqual(try DataProfile(json: j), p)
        XCTAssertEqual(try DataProfile(json: JSON.parse(j.encoded())), p)
        XCTAssertEqual(try DataProfile(json: JSON.parse(j.encoded(pretty: true))), p)
        XCTAssertEqual(try DataProfile(json: JSON.parse(j.encoded())).json().encoded(), j.encoded())
    }

    func testApproximateProfileRoundTrips() throws {
        var text = "u,t\n"
        for i in 0..<110_000 { text += "\(Double(i) * 0.37),s\(i % 66_000)\n" }
        let p = try profile(text)
        XCTAssertTrue(p.columns[0].quantilesApproximate)
        XCTAssertTrue(p.columns[1].distinctApproximate)
        XCTAssertEqual(try DataProfile(json: JSON.parse(p.json().encoded())), p)
    }

    func testBadJSONShapesThrow() {
        XCTAssertThrowsError(try DataProfile(json: .object([:])))
        XCTAssertThrowsError(try DataProfile(json: .array([])))
        XCTAssertThrowsError(try DataProfile(json: .object(["rows": .int(1), "bytes": .int(1), "columns": .string("x")])))
        XCTAssertThrowsError(try DataProfile(json: .object(["rows": .int(1), "bytes": .int(1), "columns": .array([.object(["name": .string("a")])])])))
        XCTAssertThrowsError(try DataProfile(json: .object(["rows": .string("1"), "bytes": .int(1), "columns": .array([])]))) { e in
            XCTAssertTrue("\(e)".hasPrefix("invalid profile JSON"))
        }
        XCTAssertNoThrow(try DataProfile(json: .object(["rows": .int(0), "bytes": .int(0), "columns": .array([])])))
    }

    // MARK: comparison

    func testCompareProfiles() throws {
        let old = try profile("id,a,b,c\n1,1,x,1\n2,2,y,2\n")
        let new = try profile("id,a,c,d\n1,1,x,1\n2,5,y,2\n3,3,z,3\n")
        let cmp = compareProfiles(old, new)
        XCTAssertFalse(cmp.isEmpty)
        XCTAssertEqual(cmp.addedColumns, ["d"])
        XCTAssertEqual(cmp.removedColumns, ["b"])
        XCTAssertEqual(cmp.retyped.map { "\($0.column):\($0.old)->\($0.new)" }, ["c:integer->text"])
        XCTAssertEqual(cmp.rows.old, 2)
        XCTAssertEqual(cmp.rows.new, 3)
        let a = cmp.changes.filter { $0.column == "a" }
        XCTAssertEqual(a.map(\.stat), ["count", "max", "mean", "std", "distinct"])
        let mean = a.first { $0.stat == "mean" }!
        XCTAssertEqual(mean.old, 1.5)
        XCTAssertEqual(mean.new, 3)
        let cMean = cmp.changes.first { $0.column == "c" && $0.stat == "mean" }!
        XCTAssertEqual(cMean.old, 1.5)
        XCTAssertNil(cMean.new)

        let j = cmp.json()
        XCTAssertEqual(j["rows"], .object(["old": .int(2), "new": .int(3)]))
        XCTAssertEqual(j["columns_added"], .array([.string("d")]))
        XCTAssertEqual(j["columns_removed"], .array([.string("b")]))
        XCTAssertEqual(j["retyped"], .array([.object(["column": .string("c"), "old": .string("integer"), "new": .string("text")])]))
        let change = j["changes"]!.arrayValue!.first { $0["column"] == .string("a") && $0["stat"] == .string("mean") }
        XCTAssertEqual(change, .object(["column": .string("a"), "stat": .string("mean"), "old": .number(1.5), "new": .number(3)]))
        XCTAssertNoThrow(try JSON.parse(j.encoded()))

        let same = compareProfiles(old, try profile("id,a,b,c\n1,1,x,1\n2,2,y,2\n"))
        XCTAssertTrue(same.isEmpty)
        XCTAssertEqual(same.json()["changes"], .array([]))
    }
}
