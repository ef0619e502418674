import XCTest
import ML
import Support

/// A stage's `plots`: parsing, validation, and plot files as outputs of the stage.
final class ProjectPlotsTests: XCTestCase {
    func assertError(_ text: String, contains part: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Project.parse(text), file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains(part), "'\(e)' does not mention '\(part)'", file: file, line: line)
            XCTAssertFalse("\(e)".contains("\n"), "error is not one line: \(e)", file: file, line: line)
        }
    }

    func testPlotsParseInBothForms() throws {
        let p = try Project.parse("""
        {"stages": {"ev": {"cmd": "x", "outs": ["m.bin"], "metrics": ["m.json"], "plots": [
          "./eval/roc.csv",
          {"eval/loss.csv": {"x": "step", "y": ["loss", "val_loss"], "title": "Loss", "x_label": "epoch", "y_label": "nll"}},
          {"eval/conf.json": {"template": "confusion", "x": "actual", "y": "predicted"}}
        ]}, "use": {"cmd": "y", "deps": ["eval/roc.csv"], "outs": ["r.txt"]}}}
        """)
        let st = p.stages["ev"]!
        XCTAssertEqual(st.plots, [
            PlotDecl(path: "eval/roc.csv"),
            PlotDecl(path: "eval/loss.csv", x: "step", y: ["loss", "val_loss"], title: "Loss", xLabel: "epoch", yLabel: "nll"),
            PlotDecl(path: "eval/conf.json", x: "actual", y: ["predicted"], template: "confusion"),
        ])
        // Plot files are outputs: after outs and metrics, recorded with kind other, and a
        // stage reading one runs after the stage that writes it.
        XCTAssertEqual(st.outputs.map(\.path), ["m.bin", "m.json", "eval/roc.csv", "eval/loss.csv", "eval/conf.json"])
        XCTAssertEqual(p.kinds()["eval/loss.csv"], .other)
        XCTAssertEqual(p.producer(of: "eval/roc.csv"), "ev")
        XCTAssertEqual(p.order, ["ev", "use"])
        // A stage without plots has none.
        XCTAssertEqual(p.stages["use"]!.plots, [])
    }

    func testBadPlotsAreOneLineNamingTheStageAndField() {
        assertError(#"{"stages": {"ev": {"cmd": "x", "plots": "a.csv"}}}"#, contains: "stage 'ev': \"plots\" must be a list")
        assertError(#"{"stages": {"ev": {"cmd": "x", "plots": [3]}}}"#, contains: "stage 'ev': each \"plots\" entry must be a path")
        assertError(#"{"stages": {"ev": {"cmd": "x", "plots": [{"a.csv": {}, "b.csv": {}}]}}}"#, contains: "with one path")
        assertError(#"{"stages": {"ev": {"cmd": "x", "plots": [{"a.csv": {"colour": "red"}}]}}}"#,
                    contains: "stage 'ev': unknown field 'colour' in plots entry 'a.csv'")
        assertError(#"{"stages": {"ev": {"cmd": "x", "plots": [{"a.csv": {"template": "pie"}}]}}}"#,
                    contains: "plots entry 'a.csv': unknown template 'pie' (one of linear, scatter, confusion, bar)")
        assertError(#"{"stages": {"ev": {"cmd": "x", "plots": [{"a.csv": {"y": []}}]}}}"#, contains: "\"y\" must be a column name")
        assertError(#"{"stages": {"ev": {"cmd": "x", "plots": [{"a.csv": {"y": [1]}}]}}}"#, contains: "\"y\" must be a column name")
        assertError(#"{"stages": {"ev": {"cmd": "x", "plots": [{"a.csv": {"x": 2}}]}}}"#, contains: "\"x\" must be a non-empty string")
        assertError(#"{"stages": {"ev": {"cmd": "x", "plots": [{"a.csv": "step"}]}}}"#, contains: "must map to an object")
        assertError(#"{"stages": {"ev": {"cmd": "x", "plots": [{"a.csv": {"template": "confusion", "y": ["p", "q"]}}]}}}"#, contains: "takes one \"y\"")
        assertError(#"{"stages": {"ev": {"cmd": "x", "plots": ["../a.csv"]}}}"#, contains: "'../a.csv' is not a path inside the repository")
        assertError(#"{"stages": {"ev": {"cmd": "x", "outs": ["a.csv"], "plots": ["a.csv"]}}}"#, contains: "declares output 'a.csv' twice")
        assertError(#"{"stages": {"ev": {"cmd": "x", "plots": ["a.csv"]}, "o": {"cmd": "y", "outs": ["a.csv"]}}}"#,
                    contains: "output 'a.csv' is declared by two stages")
    }
}
