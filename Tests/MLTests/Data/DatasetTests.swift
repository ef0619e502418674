import Foundation
import ML
import Support
import TestHelpers
import XCTest

final class DatasetTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("dataset-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    // MARK: helpers

    @discardableResult
    private func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @discardableResult
    private func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }

    private func csv(_ text: String, label: String? = nil, features: [String]? = nil, threads: Int = 2) throws -> Dataset {
        let path = try write("data.csv", text)
        return try DatasetReader.readCSV(path: path, label: label, features: features, threads: threads)
    }

    /// `message` with `P` standing for the file's quoted path.
    private func assertCSVError(_ text: String, label: String? = nil, features: [String]? = nil, threads: Int = 2,
                                _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let path = try write("bad.csv", text)
            XCTAssertThrowsError(try DatasetReader.readCSV(path: path, label: label, features: features, threads: threads),
                                 file: file, line: line) { error in
                XCTAssertTrue(error is DatasetError, "\(error)", file: file, line: line)
                XCTAssertEqual("\(error)", message.replacingOccurrences(of: "P", with: "'\(path)'"), file: file, line: line)
            }
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }

    // MARK: small exact cases

    func testNumericLabelLast() throws {
        let d = try csv("a,b,y\n1,2.5,10\n-3,4e2,20.5\n0.125,-0,10\n", label: "y")
        XCTAssertEqual(d.rows, 3)
        XCTAssertEqual(d.cols, 2)
        XCTAssertEqual(d.featureNames, ["a", "b"])
        XCTAssertEqual(d.labelName, "y")
        XCTAssertEqual(d.features, [1, 2.5, -3, 400, 0.125, 0])
        XCTAssertEqual(d.label, .numeric([10, 20.5, 10]))
    }

    func testTextLabelsInFirstSeenOrder() throws {
        let d = try csv("x,species\n1,setosa\n2,virginica\n3,setosa\n4,versicolor\n5,virginica\n", label: "species")
        XCTAssertEqual(d.features, [1, 2, 3, 4, 5])
        XCTAssertEqual(d.label, .categorical(codes: [0, 1, 0, 2, 1], names: ["setosa", "virginica", "versicolor"]))
    }

    func testNumericLookingLabelsBecomeClassNamesWhenAnyIsText() throws {
        let d = try csv("x,y\n1,1\n2,2.0\n3,other\n4,1\n", label: "y")
        XCTAssertEqual(d.label, .categorical(codes: [0, 1, 2, 0], names: ["1", "2.0", "other"]))
        // Non-finite words are text, not numbers.
        XCTAssertEqual(try csv("x,y\n1,1\n2,nan\n", label: "y").label, .categorical(codes: [0, 1], names: ["1", "nan"]))
    }

    func testLabelInTheMiddle() throws {
        let d = try csv("f1,target,f2,f3\n1,a,2,3\n4,b,5,6\n", label: "target")
        XCTAssertEqual(d.featureNames, ["f1", "f2", "f3"])
        XCTAssertEqual(d.features, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(d.label, .categorical(codes: [0, 1], names: ["a", "b"]))
    }

    func testNoLabelMeansEveryColumnIsAFeature() throws {
        let d = try csv("a,b\n1,2\n3,4\n")
        XCTAssertNil(d.labelName)
        XCTAssertNil(d.label)
        XCTAssertEqual(d.featureNames, ["a", "b"])
        XCTAssertEqual(d.features, [1, 2, 3, 4])
    }

    func testFeatureSelectionAndOrder() throws {
        let text = "a,b,c,d,y\n1,2,3,4,0\n5,6,7,8,1\n"
        let d = try csv(text, label: "y", features: ["c", "a"])
        XCTAssertEqual(d.featureNames, ["c", "a"])
        XCTAssertEqual(d.cols, 2)
        XCTAssertEqual(d.features, [3, 1, 7, 5])
        XCTAssertEqual(d.label, .numeric([0, 1]))
        // Unselected columns may hold anything, even text.
        let e = try csv("id,x,note\n7,1.5,hello\n8,2.5,\"a, b\"\n", features: ["x"])
        XCTAssertEqual(e.features, [1.5, 2.5])
        // A label-only read.
        let f = try csv("a,y\n1,p\n2,q\n", label: "y", features: [])
        XCTAssertEqual(f.cols, 0)
        XCTAssertEqual(f.rows, 2)
        XCTAssertEqual(f.features, [])
        XCTAssertEqual(f.label, .categorical(codes: [0, 1], names: ["p", "q"]))
    }

    func testCRLFBOMQuotesAndNoTrailingNewline() throws {
        let text = "\u{FEFF}\"first, name\",\"b\"\"q\", y \r\n\"1.5\", 2 ,\"say \"\"hi\"\"\"\r\n3,\"4\",\"multi\r\nline\"\r\n5,6,plain"
        let d = try csv(text, label: "y")
        XCTAssertEqual(d.featureNames, ["first, name", "b\"q"])
        XCTAssertEqual(d.labelName, "y")
        XCTAssertEqual(d.features, [1.5, 2, 3, 4, 5, 6])
        XCTAssertEqual(d.label, .categorical(codes: [0, 1, 2], names: ["say \"hi\"", "multi\r\nline", "plain"]))
    }

    func testLoneCRLineEndsAndTrailingBlankLines() throws {
        let d = try csv("a,b\r1,2\r3,4\r\r\r", label: nil)
        XCTAssertEqual(d.features, [1, 2, 3, 4])
        let e = try csv("\n\na,b\n1,2\n\n\n\n")
        XCTAssertEqual(e.rows, 1)
        XCTAssertEqual(e.features, [1, 2])
    }

    func testHeaderNamesAreTrimmedAndMadeUnique() throws {
        let d = try csv(" a ,a,,b\n1,2,3,4\n")
        XCTAssertEqual(d.featureNames, ["a", "a_2", "column_3", "b"])
    }

    func testNumberForms() throws {
        let cells = ["0", "-0.0", "+7", ".5", "5.", "1e3", "1E-3", "-2.5e+2", "0.000001", "123456789012345678",
                     "3.14159265358979323846264338327950288", "0.1000000000000000055511151231257827",
                     "3.4028234e38", "4.9e-324", "0.00012345678901234567", "  12  ", "\t-4\t"]
        let text = "x\n" + cells.joined(separator: "\n") + "\n"
        let d = try csv(text)
        let expected = cells.map { Float(Double($0.trimmingCharacters(in: .whitespaces))!) }
        XCTAssertEqual(d.features.count, cells.count, "\(d.features)")
        for (k, (got, want)) in zip(d.features, expected).enumerated() where want.isFinite {
            XCTAssertEqual(got.bitPattern, want.bitPattern, "\(cells[k]): \(got) vs \(want)")
        }
    }

    /// Every cell becomes Float(correctly rounded Double), like numpy's float64 parse then
    /// astype(float32), including Doubles on or next to a Float rounding boundary.
    func testNumbersRoundLikeParsingDoubleThenFloat() throws {
        var rng = SplitMix(seed: 3)
        var cells: [String] = []
        for _ in 0..<20_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x7F7F_FFFF)   // finite, positive
            guard f.isNormal, f < Float.greatestFiniteMagnitude else { continue }
            let mid = (Double(f) + Double(f.nextUp)) / 2
            for d in [mid, mid.nextUp, mid.nextDown, Double(f)] { cells.append(rng.chance(0.5) ? "\(d)" : "-\(d)") }
            // Fixed-point forms of random magnitudes, 1 to 19 digits.
            let digits = rng.int(1..<20)
            var text = String(rng.next() % 10_000_000_000_000_000_000)
            text = String(text.prefix(digits))
            let point = rng.int(0..<(text.count + 1))
            text.insert(".", at: text.index(text.startIndex, offsetBy: point))
            if text.hasPrefix(".") { text = "0" + text }
            if rng.chance(0.3) { text += "e\(rng.int(-45..<(30 - point)))" }   // < 1e30
            cells.append(text)
        }
        let d = try csv("x\n" + cells.joined(separator: "\n") + "\n", threads: 2)
        XCTAssertEqual(d.rows, cells.count)
        var mismatches = 0
        for (k, cell) in cells.enumerated() {
            let want = Float(Double(cell)!)
            if d.features[k].bitPattern != want.bitPattern {
                mismatches += 1
                if mismatches < 10 { XCTFail("\(cell): \(d.features[k]) vs \(want)") }
            }
        }
        XCTAssertEqual(mismatches, 0)
    }

    // MARK: errors

    func testErrorsAreOneClearLine() throws {
        assertCSVError("", "P is empty")
        assertCSVError("\u{FEFF}\n\r\n", "P is empty")
        assertCSVError("a,b\n", "P has no data rows")
        assertCSVError("a,b\r\n\r\n\n", "P has no data rows")
        assertCSVError("a,b,c,d\n1,2,3,4\n1,2,3,4,5\n", "P line 3: 5 fields, header has 4")
        assertCSVError("a,b,c,d\n1,2,3,4\n1,2,3\n", "P line 3: 3 fields, header has 4")
        assertCSVError("a,b\n1,2\n\n3,4\n", "P line 3: 1 field, header has 2")
        assertCSVError("a\n1\n\n3\n", "P line 3, column 'a': missing value")
        assertCSVError("a,y\n1,p\n2,\n", label: "y", "P line 3, column 'y': missing label")
        assertCSVError("a,y\n1,p\n2,\"  \"\n", label: "y", "P line 3, column 'y': missing label")
        assertCSVError("y\np\n\nq\n", label: "y", "P line 3, column 'y': missing label")
        assertCSVError("f1,f2,f3\n1,2,3\n1,2,abc\n", "P line 3, column 'f3': 'abc' is not a number")
        assertCSVError("f1,f2,f3\n1,2,3\n1,,3\n", "P line 3, column 'f2': missing value")
        assertCSVError("f1,f2\n1,2\n1,2,\n", "P line 3: 3 fields, header has 2")
        assertCSVError("f1,f2\n1,\n", "P line 2, column 'f2': missing value")
        assertCSVError("f1,f2\n1,\"\"\n", "P line 2, column 'f2': missing value")
        assertCSVError("f1,f2\n1,NA\n", "P line 2, column 'f2': missing value ('NA')")
        assertCSVError("f1,f2\n1,nan\n", "P line 2, column 'f2': 'nan' is not a finite number")
        assertCSVError("f1,f2\n1,-Infinity\n", "P line 2, column 'f2': '-Infinity' is not a finite number")
        assertCSVError("f1,f2\n1,1e400\n", "P line 2, column 'f2': '1e400' is not a finite number")
        assertCSVError("f1,f2\n1,1e39\n", "P line 2, column 'f2': '1e39' is out of float32 range")
        assertCSVError("f1,f2\n1,2\n\"3\n", "P line 3, column 'f1': unterminated quoted field")
        assertCSVError("f1,\"f2\n", "P line 1: unterminated quoted field in the header")
        assertCSVError("a,b,c\n1,2,3\n", label: "label", "P has no column 'label' (columns: a, b, c)")
        assertCSVError("a,b,c\n1,2,3\n", label: "c", features: ["a", "zz"], "P has no column 'zz' (columns: a, b, c)")
        assertCSVError("a,b,c\n1,2,3\n", label: "c", features: ["a", "c"], "P column 'c' is the label; it cannot also be a feature")
        assertCSVError("a,b,c\n1,2,3\n", features: ["a", "b", "a"], "P column 'a' is selected twice as a feature")
        assertCSVError("a,b,c\n1,2,3\n", features: [], "P has no columns selected (no feature columns and no label)")
        // A ragged row is reported before a bad cell in it.
        assertCSVError("a,b\n1,2\nabc,1,2\n", "P line 3: 3 fields, header has 2")
        // Line numbers count physical lines: CRLF, lone CR, and line feeds inside quotes.
        assertCSVError("a,b,c\r\n1,2,\"x\r\ny\"\r\n2,3,q\r\n4,zz,q\r\n", features: ["a", "b"],
                       "P line 5, column 'b': 'zz' is not a number")
        assertCSVError("a,b,y\r1,2,\"p\nq\"\r3,4,5\r6,x,7\r", label: "y", "P line 5, column 'b': 'x' is not a number")
        // Long or multi-line cells are shown on one line, cut short.
        assertCSVError("a\n\"x\r\ny\nz\"\n", "P line 2, column 'a': 'x  y z' is not a number")
        let long = String(repeating: "w", count: 100)
        assertCSVError("a\n\(long)\n", "P line 2, column 'a': '\(String(repeating: "w", count: 57))...' is not a number")
    }

    func testUnreadableFiles() throws {
        let missing = dir + "/nope.csv"
        XCTAssertThrowsError(try DatasetReader.readCSV(path: missing, label: nil)) { e in
            XCTAssertEqual("\(e)", "'\(missing)' could not be read: No such file or directory")
        }
        XCTAssertThrowsError(try DatasetReader.readCSV(path: dir, label: nil)) { e in
            XCTAssertEqual("\(e)", "'\(dir)' is a directory")
        }
    }

    func testErrorCarriesLineAndColumn() throws {
        let path = try write("e.csv", "a,b\n1,2\n3,x\n")
        XCTAssertThrowsError(try DatasetReader.readCSV(path: path, label: nil)) { e in
            guard let e = e as? DatasetError else { return XCTFail("\(e)") }
            XCTAssertEqual(e.path, path)
            XCTAssertEqual(e.line, 3)
            XCTAssertEqual(e.column, "b")
        }
    }

    // MARK: parallel parse

    /// 100k rows with quoted fields, spaces, exponents and full-precision doubles; the expected
    /// matrix is built alongside.
    private func generated(rows: Int, seed: UInt64, crlf: Bool = false, multiline: Bool = false)
        -> (text: String, features: [Float], codes: [Int32], names: [String]) {
        var rng = SplitMix(seed: seed)
        var out = "id,x1,\"x 2\",species,x3\n"
        var features: [Float] = []
        features.reserveCapacity(rows * 4)
        var codes: [Int32] = []
        var names: [String] = []
        var index: [String: Int32] = [:]
        let eol = crlf ? "\r\n" : "\n"
        let species = ["cat", "dog", "bird, small", "eel \"x\""]
        for r in 0..<rows {
            let a = Double(rng.int(-1_000_000..<1_000_000)) / 1000
            let b = Double(bitPattern: rng.next() >> 2) .truncatingRemainder(dividingBy: 1e6)
            let c = Double(rng.int(0..<1000)) * 1e-7
            var name = species[rng.int(0..<species.count)]
            if multiline && rng.chance(0.5) {
                name += "\n" + String(repeating: "line\n", count: rng.int(1..<40))
            }
            let code = index[name] ?? {
                let k = Int32(names.count)
                index[name] = k
                names.append(name)
                return k
            }()
            codes.append(code)
            features += [Float(r), Float(a), Float(b), Float(c)]
            let quotedName = name.contains(",") || name.contains("\"") || name.contains("\n") || rng.chance(0.01)
                ? "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : name
            let aText = rng.chance(0.01) ? "\"\(a)\"" : rng.chance(0.01) ? " \(a) " : "\(a)"
            out += "\(r),\(aText),\(b),\(quotedName),\(c)\(eol)"
        }
        return (out, features, codes, names)
    }

    func testParallelParseEqualsSequential() throws {
        let g = generated(rows: 100_000, seed: 7)
        let path = try write("big.csv", g.text)
        let one = try DatasetReader.readCSV(path: path, label: "species", threads: 1)
        XCTAssertEqual(one.rows, 100_000)
        XCTAssertEqual(one.featureNames, ["id", "x1", "x 2", "x3"])
        XCTAssertEqual(one.features, g.features)
        XCTAssertEqual(one.label, .categorical(codes: g.codes, names: g.names))
        for threads in [2, 3, 4, 8] {
            let d = try DatasetReader.readCSV(path: path, label: "species", threads: threads)
            XCTAssertEqual(d, one, "threads \(threads)")
        }
        let selected = try DatasetReader.readCSV(path: path, label: "x3", features: ["x 2", "id"], threads: 4)
        XCTAssertEqual(selected.rows, 100_000)
        XCTAssertEqual(selected.features[0..<4], [g.features[2], g.features[0], g.features[6], g.features[4]])
        guard case .numeric(let y) = selected.label else { return XCTFail("x3 should be numeric") }
        XCTAssertEqual(y.count, 100_000)
        XCTAssertEqual(Float(y[99_999]), g.features[99_999 * 4 + 3])
    }

    func testParallelParseWithLineFeedsInsideQuotesAndCRLF() throws {
        // Half the bytes are inside multi-line quoted labels, so chunk cuts land inside quotes.
        let g = generated(rows: 20_000, seed: 11, crlf: true, multiline: true)
        let path = try write("multi.csv", g.text)
        let one = try DatasetReader.readCSV(path: path, label: "species", threads: 1)
        XCTAssertEqual(one.features, g.features)
        XCTAssertEqual(one.label, .categorical(codes: g.codes, names: g.names))
        for threads in [2, 4, 7] {
            XCTAssertEqual(try DatasetReader.readCSV(path: path, label: "species", threads: threads), one, "threads \(threads)")
        }
    }

    func testParallelParseReportsTheFirstErrorInFileOrder() throws {
        var lines = ["a,b"]
        for r in 0..<100_000 { lines.append("\(r),\(r % 7)") }
        lines[60_001] = "1,oops"
        lines[90_001] = "1,2,3"
        let path = try write("err.csv", lines.joined(separator: "\n") + "\n")
        for threads in [1, 2, 4] {
            XCTAssertThrowsError(try DatasetReader.readCSV(path: path, label: nil, threads: threads)) { e in
                XCTAssertEqual("\(e)", "'\(path)' line 60002, column 'b': 'oops' is not a number", "threads \(threads)")
            }
        }
        // A blank line in the middle, far from the end.
        var blank = ["a,b"]
        for r in 0..<100_000 { blank.append("\(r),1") }
        blank[70_000] = ""
        let bpath = try write("blank.csv", blank.joined(separator: "\n") + "\n\n\n")
        for threads in [1, 4] {
            XCTAssertThrowsError(try DatasetReader.readCSV(path: bpath, label: nil, threads: threads)) { e in
                XCTAssertEqual("\(e)", "'\(bpath)' line 70001: 1 field, header has 2", "threads \(threads)")
            }
        }
    }

    func testNumericLabelsWithManyDistinctValues() throws {
        var text = "x,y\n"
        var want: [Double] = []
        for r in 0..<30_000 {
            let y = Double(r) * 0.25 - 100
            want.append(y)
            text += "\(r),\(y)\n"
        }
        let path = try write("reg.csv", text)
        for threads in [1, 4] {
            XCTAssertEqual(try DatasetReader.readCSV(path: path, label: "y", threads: threads).label, .numeric(want))
        }
    }

    func testTextLabelAfterManyDistinctNumbers() throws {
        // More distinct numeric labels than a chunk interns, then text: parsed again as classes.
        var text = "x,y\n"
        for r in 0..<10_000 { text += "\(r),\(r)\n" }
        text += "1,unknown\n2,5\n"
        let path = try write("mixed.csv", text)
        for threads in [1, 2, 4] {
            let d = try DatasetReader.readCSV(path: path, label: "y", threads: threads)
            guard case .categorical(let codes, let names) = d.label else { return XCTFail("expected classes") }
            XCTAssertEqual(names.count, 10_001)
            XCTAssertEqual(names[0], "0")
            XCTAssertEqual(names[10_000], "unknown")
            XCTAssertEqual(codes.count, 10_002)
            XCTAssertEqual(codes[10_000], 10_000)
            XCTAssertEqual(codes[10_001], 5)
            XCTAssertEqual(d.features.count, 10_002)
        }
    }

    // MARK: npy

    /// A .npy file: header dict padded so the data starts at a multiple of 64.
    private func npy(_ descr: String, _ shape: [Int], _ data: [UInt8], fortran: Bool = false, version: UInt8 = 1,
                     headerText: String? = nil) -> [UInt8] {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var h = headerText ?? "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(dims), }"
        let prefix = version == 1 ? 10 : 12
        while (prefix + h.utf8.count + 1) % 64 != 0 { h += " " }
        h += "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        let len = h.utf8.count
        if version == 1 {
            out += [UInt8(len & 0xFF), UInt8(len >> 8)]
        } else {
            out += [UInt8(len & 0xFF), UInt8((len >> 8) & 0xFF), UInt8((len >> 16) & 0xFF), UInt8(len >> 24)]
        }
        return out + Array(h.utf8) + data
    }

    private func le<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    }

    private func be<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in (0..<MemoryLayout<T>.size).reversed().map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    }

    private func readNPY(_ bytes: [UInt8]) throws -> (values: [Float], rows: Int, cols: Int) {
        try DatasetReader.readNPY(path: try write("a.npy", bytes))
    }

    private func assertNPY(_ bytes: [UInt8], _ values: [Float], _ rows: Int, _ cols: Int,
                           file: StaticString = #filePath, line: UInt = #line) {
        do {
            let r = try readNPY(bytes)
            XCTAssertEqual(r.values, values, file: file, line: line)
            XCTAssertEqual(r.rows, rows, file: file, line: line)
            XCTAssertEqual(r.cols, cols, file: file, line: line)
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }

    func testNPYEveryDType() throws {
        let f: [Float] = [1.5, -2, 0, 3.25, 1e-3, 65504]
        assertNPY(npy("<f4", [2, 3], le(f.map(\.bitPattern))), f, 2, 3)
        assertNPY(npy(">f4", [3, 2], be(f.map(\.bitPattern))), f, 3, 2)
        let d: [Double] = [0.1, -1e30, 2.5, 1e-40]
        assertNPY(npy("<f8", [2, 2], le(d.map(\.bitPattern))), d.map { Float($0) }, 2, 2)
        let half: [UInt16] = [0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000]   // 1, -2, 0.5, 65504, 2^-24, -0
        assertNPY(npy("<f2", [6], le(half)), [1, -2, 0.5, 65504, 0x1p-24, -0.0], 6, 1)
        assertNPY(npy("<i4", [2, 2], le([Int32(1), -2, Int32.max, Int32.min])), [1, -2, Float(Int32.max), Float(Int32.min)], 2, 2)
        assertNPY(npy("<i8", [1, 3], le([Int64(7), -8, 1 << 40])), [7, -8, Float(1 << 40)], 1, 3)
        assertNPY(npy("<i2", [2], le([Int16(-300), 300])), [-300, 300], 2, 1)
        assertNPY(npy(">i2", [2], be([Int16(-300), 300])), [-300, 300], 2, 1)
        assertNPY(npy("|i1", [3], [0x80, 0xFF, 0x7F]), [-128, -1, 127], 3, 1)
        assertNPY(npy("|u1", [2, 2], [0, 1, 128, 255]), [0, 1, 128, 255], 2, 2)
        assertNPY(npy("<u2", [2], le([UInt16(65535), 1])), [65535, 1], 2, 1)
        assertNPY(npy("<u4", [3], le([UInt32(0), 1, UInt32.max])), [0, 1, Float(UInt32.max)], 3, 1)
        assertNPY(npy("<u8", [1], le([UInt64.max])), [Float(UInt64.max)], 1, 1)
        assertNPY(npy("|b1", [2, 2], [0, 1, 1, 0]), [0, 1, 1, 0], 2, 2)
        assertNPY(npy("<f4", [0, 3], []), [], 0, 3)
        // Versions 2.0 and 3.0 have a 4-byte header length; extra bytes after the data are ignored.
        assertNPY(npy("<f4", [1, 2], le(f[0..<2].map(\.bitPattern)), version: 2), [1.5, -2], 1, 2)
        assertNPY(npy("<f4", [1, 2], le(f[0..<2].map(\.bitPattern)) + [9, 9], version: 3), [1.5, -2], 1, 2)
        // Key order, double quotes and no trailing comma do not matter.
        assertNPY(npy("", [], [1, 2], headerText: "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"|u1\"}"), [1, 2], 2, 1)
    }

    func testNPYErrors() throws {
        func assertError(_ bytes: [UInt8], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
            do {
                let path = try write("bad.npy", bytes)
                XCTAssertThrowsError(try DatasetReader.readNPY(path: path), file: file, line: line) { e in
                    XCTAssertTrue(e is DatasetError, file: file, line: line)
                    XCTAssertEqual("\(e)", message.replacingOccurrences(of: "P", with: "'\(path)'"), file: file, line: line)
                }
            } catch {
                XCTFail("\(error)", file: file, line: line)
            }
        }
        let six = le([Float](repeating: 1, count: 6).map(\.bitPattern))
        assertError([], "P is empty")
        assertError(Array("a,b\n1,2\n".utf8), "P is not a .npy file (bad magic)")
        assertError([0x93, 0x4E, 0x55], "P is truncated (in the header)")
        assertError(Array(npy("<f4", [2, 3], six).prefix(40)), "P is truncated (in the header)")
        assertError(npy("<f4", [2, 3], Array(six.prefix(20))), "P is truncated: the header promises 24 bytes of data, the file holds 20")
        assertError(npy("<f4", [2, 3], six, fortran: true),
                    "P is in Fortran order, which is not supported (save a C-order array, e.g. numpy.ascontiguousarray)")
        assertError(npy("<c8", [3], six), "P has dtype '<c8', which is not supported (bool, int8-64, uint8-64 and float16/32/64 are)")
        assertError(npy("<U3", [2], six), "P has dtype '<U3', which is not supported (bool, int8-64, uint8-64 and float16/32/64 are)")
        assertError(npy("|O", [2], six), "P has dtype '|O', which is not supported (bool, int8-64, uint8-64 and float16/32/64 are)")
        assertError(npy("", [], six, headerText: "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }"),
                    "P has a structured dtype, which is not supported")
        assertError(npy("<f4", [1, 2, 3], six), "P has 3 dimensions (shape (1, 2, 3)); only 1-D and 2-D arrays are supported")
        assertError(npy("<f4", [], six, headerText: "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"),
                    "P has 0 dimensions (shape ()); only 1-D and 2-D arrays are supported")
        var v4 = npy("<f4", [2, 3], six)
        v4[6] = 4
        assertError(v4, "P uses .npy format version 4.0, which is not supported (1.0, 2.0 and 3.0 are)")
        assertError(npy("", [], six, headerText: "{'descr': '<f4', 'fortran_order': False}"), "P has a malformed header (no 'shape')")
        assertError(npy("", [], six, headerText: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3}"),
                    "P has a malformed header (expected ',' or ')')")
        assertError(npy("", [], six, headerText: "{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}"),
                    "P has a malformed header ('fortran_order' is not True or False)")
        assertError(npy("<f4", [3], le([Float(1), .nan, 2].map(\.bitPattern))), "P has a non-finite value at [1] (nan)")
        assertError(npy("<f4", [1, 2], le([Float(1), -.infinity].map(\.bitPattern))), "P has a non-finite value at [0, 1] (-inf)")
        assertError(npy("<f8", [2, 2], le([0, 0, 0, 1e300].map(\.bitPattern))), "P has a value out of float32 range at [1, 1] (1e+300)")
    }

    /// Cross-check against numpy's own writer, where numpy is installed.
    func testNPYWrittenByNumpy() throws {
        let script = """
        import sys, numpy as np
        d = sys.argv[1]
        base = np.array([[1.5, -2.0, 3.0], [0.25, 100.0, -7.0]])
        for name, dt in [('f4', '<f4'), ('f8', '<f8'), ('f2', '<f2'), ('i4', '<i4'), ('i8', '<i8'), ('u1', '|u1'),
                         ('i1', '|i1'), ('u4', '<u4'), ('i2', '<i2'), ('u2', '<u2'), ('u8', '<u8'), ('b1', '|b1'),
                         ('bf8', '>f8'), ('bi4', '>i4')]:
            a = np.abs(base) if dt[1] in 'ub' else base
            a = a.astype(dt)
            np.save(f'{d}/{name}.npy', a)
            a.astype(np.float32).tofile(f'{d}/{name}.f32')
        v = np.arange(5, dtype=np.float64) / 3
        np.save(f'{d}/vec.npy', v)
        v.astype(np.float32).tofile(f'{d}/vec.f32')
        np.save(f'{d}/fortran.npy', np.asfortranarray(base))
        np.lib.format.write_array(open(f'{d}/v2.npy', 'wb'), base.astype('<f4'), version=(2, 0))
        base.astype(np.float32).tofile(f'{d}/v2.f32')
        """
        let scriptPath = try write("gen.py", script)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", scriptPath, dir]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw XCTSkip("python3 is not available") }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw XCTSkip("numpy is not available") }
        for name in ["f4", "f8", "f2", "i4", "i8", "u1", "i1", "u4", "i2", "u2", "u8", "b1", "bf8", "bi4", "vec", "v2"] {
            let r = try DatasetReader.readNPY(path: dir + "/\(name).npy")
            let raw = try Data(contentsOf: URL(fileURLWithPath: dir + "/\(name).f32"))
            let want = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            XCTAssertEqual(r.values, want, name)
            XCTAssertEqual(r.rows * r.cols, want.count, name)
            XCTAssertEqual(r.cols, name == "vec" ? 1 : 3, name)
        }
        XCTAssertThrowsError(try DatasetReader.readNPY(path: dir + "/fortran.npy"))
    }
}
