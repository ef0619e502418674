import XCTest
import ML
import Store
import Support

/// The model file format (.mlrepo-format.md §11): the worked example, round trips and
/// every way a file can be bad.
final class ModelFileTests: XCTestCase {
    static var specPath: String { MLFormatSpecTests.specPath }

    static var example: ModelFile {
        ModelFile(type: "ridge", header: [
            "task": .string("regression"), "features": .array([.string("x1"), .string("x2")]), "label": .string("y"),
        ], tensors: [
            .init(name: "weights", rows: 2, cols: 1, values: [0.5, -2]),
            .init(name: "bias", rows: 1, cols: 1, values: [1]),
        ])
    }

    func testExample8ModelFile() throws {
        let spec = (try? String(contentsOfFile: Self.specPath, encoding: .utf8)) ?? ""
        let bytes = Self.example.encode()
        let header = #"{"features":["x1","x2"],"format":1,"label":"y","task":"regression","tensor_bytes":12,"tensors":[{"cols":1,"name":"weights","rows":2},{"cols":1,"name":"bias","rows":1}],"type":"ridge"}"#
        XCTAssertTrue(spec.contains(header), "the header of Example 8 is not quoted verbatim")
        XCTAssertEqual(Array(bytes[0..<8]), Array("MLRMODL1".utf8))
        XCTAssertEqual(Int(bytes[8]) | Int(bytes[9]) << 8, header.utf8.count)
        XCTAssertEqual(Array(bytes[(12 + header.utf8.count)...]),
                       [0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x80, 0x3f])
        XCTAssertEqual(bytes.count, 12 + header.utf8.count + 12)
        let id = ObjectHash.id(.blob, bytes)
        XCTAssertEqual(id.hex, "be0da5c73e12a348b8bdda485aab62fad5a8a5cf50842910f4155b8561ca33bb")
        XCTAssertTrue(spec.contains(id.hex))
        XCTAssertEqual(try ModelFile.decode(bytes, path: "m"), Self.example)
    }

    func testBadFilesAreOneLineErrors() {
        let good = Self.example.encode()
        func err(_ b: [UInt8]) -> String {
            do { _ = try ModelFile.decode(b, path: "m.mlmodel"); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(err([]).contains("no MLRMODL1 header"))
        XCTAssertTrue(err(Array("PK\u{3}\u{4}zipfile".utf8)).contains("no MLRMODL1 header"))
        XCTAssertTrue(err(Array(good.dropLast(3))).contains("truncated"))
        XCTAssertTrue(err(Array(good.prefix(20))).contains("truncated header"))
        XCTAssertTrue(err(good + [0]).contains("trailing"))
        for e in [err([]), err(Array(good.dropLast(3)))] {
            XCTAssertTrue(e.hasPrefix("'m.mlmodel' is not a valid mlrepo model"), e)
            XCTAssertFalse(e.contains("\n"))
        }
    }
}
