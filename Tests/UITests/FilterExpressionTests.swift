import XCTest
import Support
@testable import UI

final class FilterExpressionTests: XCTestCase {
    let row: [String: JSON] = ["accuracy": .number(0.93), "train.lr": .number(0.005), "model": .string("mlp"),
                               "metrics.json:loss": .int(2), "flag": .bool(true), "odd name": .number(1)]

    func m(_ e: String) throws -> Bool { try FilterExpression(e).matches { row[$0] } }

    func error(_ e: String) -> String {
        do { _ = try FilterExpression(e); return "no error" } catch { return error.message }
    }

    func testComparisonsAndLogic() throws {
        XCTAssertTrue(try m("accuracy>0.9 && train.lr<0.01"))
        XCTAssertFalse(try m("accuracy>0.95 && train.lr<0.01"))
        XCTAssertTrue(try m("accuracy>0.95 || train.lr<=0.005"))
        XCTAssertTrue(try m("accuracy >= 0.93 && accuracy <= 0.93 && accuracy == 0.93 && accuracy != 1"))
        XCTAssertTrue(try m(#"model == "mlp" && model != 'logreg'"#))
        XCTAssertTrue(try m(#"flag == "true""#))
        XCTAssertTrue(try m("metrics.json:loss == 2 && metrics.json:loss > -1e3 && metrics.json:loss < 1e+1"))
        XCTAssertTrue(try m(#""odd name" == 1"#))
        // Precedence: ! binds tighter than &&, && tighter than ||.
        XCTAssertTrue(try m("accuracy < 0 && accuracy < 0 || accuracy > 0"))
        XCTAssertFalse(try m("accuracy < 0 && (accuracy < 0 || accuracy > 0)"))
        XCTAssertFalse(try m("!accuracy > 0"))
        XCTAssertTrue(try m("!(accuracy < 0) && !!(accuracy > 0)"))
        XCTAssertTrue(try m("!(accuracy < 0 || model == 'x')"))
        // A missing value matches no comparison, != included; a number against text neither.
        XCTAssertFalse(try m("missing != 1"))
        XCTAssertTrue(try m("!(missing == 1)"))
        XCTAssertFalse(try m("model > 1"))
        // Blank: everything.
        XCTAssertTrue(try FilterExpression("  ").isEmpty)
        XCTAssertTrue(try m(""))
        XCTAssertEqual(try FilterExpression("a>1 && b<2 || a<0").names, ["a", "b"])
    }

    func testErrorsSayWhereAndWhat() {
        XCTAssertEqual(error("accuracy>0.9 && lr<"), "filter: expected a number or a quoted string after '<' at the end")
        XCTAssertEqual(error("accuracy>0.9 && lr<x1"), "filter: expected a number after '<' at column 20 (write \"x1\" in quotes to compare text)")
        XCTAssertEqual(error("accuracy>"), "filter: expected a number or a quoted string after '>' at the end")
        XCTAssertEqual(error("accuracy=1"), "filter: use '==' to compare, not '=', at column 9")
        XCTAssertEqual(error("accuracy 1"), "filter: expected a comparison (> >= < <= == !=) after 'accuracy' at column 10 ('1')")
        XCTAssertEqual(error("a>1 & b<2"), "filter: use '&&' or '||' at column 5 ('& b<2')")
        XCTAssertEqual(error("(a>1"), "filter: the '(' at column 1 is not closed")
        XCTAssertEqual(error("a>1)"), "filter: ')' at column 4 has no matching '('")
        XCTAssertEqual(error("a>1 &&"), "filter: the expression ends where a comparison was expected")
        XCTAssertEqual(error("()"), "filter: expected a comparison before ')' at column 2")
        XCTAssertEqual(error("a>'x"), "filter: the quote at column 3 is not closed")
        XCTAssertEqual(error("a>1 b<2"), "filter: expected '&&', '||' or ')' at column 5 ('b<2')")
        XCTAssertEqual(error("&& a>1"), "filter: expected a column name, '(' or '!' at column 1 ('&& a>1')")
        XCTAssertEqual(error("a>1e999"), "filter: expected a number after '>' at column 3 (write \"1e999\" in quotes to compare text)")
    }

    func testHostileInputIsBoundedAndNeedsNoRecursion() {
        // Nesting past the limit: an error, not a crash.
        let deep = String(repeating: "(", count: 5000) + "a>1" + String(repeating: ")", count: 5000)
        XCTAssertTrue(error(deep).contains("longer than 4096 bytes"), error(deep))
        let nested = String(repeating: "(", count: 65) + "a>1" + String(repeating: ")", count: 65)
        XCTAssertEqual(error(nested), "filter: parentheses nest deeper than 64 at column 65")
        let ok = String(repeating: "(", count: 64) + "a>1" + String(repeating: ")", count: 64)
        XCTAssertEqual(error(ok), "no error")
        // Many negations and a long chain: iterative parse and evaluation.
        XCTAssertTrue(try m(String(repeating: "!", count: 2000) + "accuracy>0"))
        let chain = Array(repeating: "accuracy>0", count: 250).joined(separator: " && ")
        XCTAssertTrue(try m(chain))
        // Control characters and odd bytes are quoted in messages.
        let e = error("a>1 \u{1}")
        XCTAssertTrue(e.hasPrefix("filter: expected '&&', '||' or ')' at column 5"), e)
        XCTAssertFalse(e.contains("\u{1}"), e)
    }
}
