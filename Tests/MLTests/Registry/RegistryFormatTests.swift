import XCTest
@testable import ML
import Store
import Support

/// The registry: the worked example of .mlrepo-format.md §12.3 (a promotion record), recomputed,
/// and the metric checks that gate a promotion.
final class RegistryFormatTests: XCTestCase {
    var spec: String { (try? String(contentsOfFile: MLFormatSpecTests.specPath, encoding: .utf8)) ?? "" }

    func testExample9PromotionRecord() {
        let p = Promotion(alias: "production", path: "models/iris.mlmodel",
                          modelId: "be0da5c73e12a348b8bdda485aab62fad5a8a5cf50842910f4155b8561ca33bb",
                          commit: "4913bbcbcaeb3d8d8e0f02c6aa5a85778ac673d2807afde00fb869093291f49c",
                          by: "Ada <ada@example.com>", time: "2026-11-23T06:00:00Z",
                          checks: [.object(["check": .string("accuracy>=0.9"), "passed": .bool(true), "value": .number(0.97)])],
                          note: nil, id: ObjectId(hex: String(repeating: "0", count: 64))!)
        let text = p.json.encoded()
        XCTAssertTrue(spec.contains(text), "the record is not quoted in .mlrepo-format.md:\n\(text)")
        let id = ObjectHash.id(.blob, Array(text.utf8))
        XCTAssertTrue(spec.contains(id.hex), "its id \(id.hex) is not quoted in .mlrepo-format.md")
    }

    func testMetricCheckParsing() throws {
        XCTAssertEqual(try MetricCheck.parse("accuracy>=0.9"), MetricCheck(key: "accuracy", op: ">=", value: 0.9, text: "accuracy>=0.9"))
        XCTAssertEqual(try MetricCheck.parse("eval.json:rmse < 3").key, "eval.json:rmse")
        XCTAssertTrue(try MetricCheck.parse("loss!=0").holds(1))
        XCTAssertFalse(try MetricCheck.parse("r2>0.5").holds(0.5))
        for bad in ["accuracy", "accuracy=>1", ">=1", "a>=x", "a>=nan"] {
            XCTAssertThrowsError(try MetricCheck.parse(bad), bad)
        }
    }
}
