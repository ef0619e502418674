import Foundation
import XCTest

/// `mlrepo model inspect`: an ONNX file written by the `onnx` package
/// (Tests/Fixtures/onnx/make_onnx_fixtures.py) read by mlrepo's own decoder.
final class CLIModelTests: CLITestCase {
    static let fixture = packageRoot.appendingPathComponent("Tests/Fixtures/onnx/logreg.onnx")

    func testInspectPrintsTheGraphsInterface() throws {
        try FileManager.default.copyItem(at: Self.fixture, to: url("m.onnx"))
        let text = ok("model", "inspect", "m.onnx")
        XCTAssertTrue(text.hasPrefix("m.onnx: ONNX IR 8, produced by mlrepo-fixture 1.0\n"), text)
        XCTAssertTrue(text.contains("opsets: ai.onnx 13\n"), text)
        XCTAssertTrue(text.contains("inputs:\n  X  float [N, 4]\noutputs:\n  Y  float [N, 3]\n"), text)
        // Each operator marked supported or not (which depends on the operator tables).
        XCTAssertNotNil(text.range(of: #"operators \(3 nodes\):\n  MatMul  ×1  (supported|NOT SUPPORTED)\n  Add  ×1  (supported|NOT SUPPORTED)\n  Softmax  ×1  (supported|NOT SUPPORTED)\n"#,
                                   options: .regularExpression), text)
        XCTAssertTrue(text.hasSuffix("runnable: yes (mlrepo predict, eval and serve run it)\n") || text.contains("runnable: no: 'm.onnx': invalid ONNX model: node '"), text)
        XCTAssertTrue(text.contains("metadata features: a,b,c,d"), text)

        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(ok("model", "inspect", "m.onnx", "--json").utf8)) as? [String: Any])
        XCTAssertEqual(doc["ir_version"] as? Int, 8)
        XCTAssertEqual(doc["producer"] as? String, "mlrepo-fixture")
        XCTAssertEqual(doc["opsets"] as? [String: Int], ["ai.onnx": 13])
        let inputs = try XCTUnwrap(doc["inputs"] as? [[String: Any]])
        XCTAssertEqual(inputs.count, 1)
        XCTAssertEqual(inputs[0]["name"] as? String, "X")
        XCTAssertEqual(inputs[0]["type"] as? String, "float")
        XCTAssertEqual(inputs[0]["shape"] as? [AnyHashable], ["N", 4])
        let ops = try XCTUnwrap(doc["operators"] as? [[String: Any]]).map { $0["op"] as? String }
        XCTAssertEqual(ops, ["MatMul", "Add", "Softmax"])
        XCTAssertEqual(doc["initializers"] as? Int, 4)
    }

    func testAHostileFileGetsOneLineAndExitCode1() throws {
        let bytes = try Data(contentsOf: Self.fixture)
        try bytes.prefix(100).write(to: url("cut.onnx"))
        var r = run("model", "inspect", "cut.onnx")
        XCTAssertEqual(r.code, 1)
        XCTAssertEqual(r.out, "")
        XCTAssertEqual(r.err, "error: 'cut.onnx': invalid ONNX model: field 7 claims 274 bytes, 74 remain at byte 24\n")
        write("text.onnx", "not a model\n")
        r = run("model", "inspect", "text.onnx")
        XCTAssertEqual(r.code, 1)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
        r = run("model", "inspect", "missing.onnx")
        XCTAssertEqual(r.code, 1)
        XCTAssertEqual(r.err, "error: cannot read 'missing.onnx': No such file or directory\n")
        XCTAssertEqual(run("model", "show", "m.onnx").code, 2)
    }
}
