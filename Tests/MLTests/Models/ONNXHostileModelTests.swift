import Compute
import Foundation
import XCTest
@testable import ML

/// Small hostile graphs built in Swift (after the crafted models of review 2): every one is
/// refused with one line naming the node, at load or at run time, and none traps or allocates
/// past the executor's element and byte limits.
final class ONNXHostileModelTests: XCTestCase {
    typealias H = ONNXTreeHostileTests

    static func node(_ name: String, _ op: String, _ inputs: [String], _ outputs: [String], _ attrs: [ONNXAttribute] = [],
                     domain: String = "") -> ONNXNode {
        ONNXNode(name: name, opType: op, domain: domain, inputs: inputs, outputs: outputs, attributes: attrs)
    }

    static func ints(_ name: String, _ v: [Int64]) -> ONNXTensor {
        ONNXTensor(name: name, dataType: ONNXElementType.int64.rawValue, dims: [Int64(v.count)], values: .ints(v))
    }

    static func scalar(_ name: String, _ v: Float) -> ONNXTensor {
        ONNXTensor(name: name, dataType: ONNXElementType.float.rawValue, dims: [], values: .floats([v]))
    }

    /// A graph of `nodes` taking float input X (and `inputs`), with `outputs` and constants.
    static func model(_ nodes: [ONNXNode], constants: [ONNXTensor] = [], inputs: [String] = ["X"], outputs: [String] = ["Y"],
                      opset: Int64 = 17) -> ONNXModel {
        var m = ONNXModel()
        m.irVersion = 8
        m.opsets = [("", opset), ("ai.onnx.ml", 3)]
        m.graph.nodes = nodes
        m.graph.initializers = constants
        m.graph.inputs = inputs.map { ONNXValueInfo(name: $0, kind: .tensor, elementType: 1, shape: [.symbol("N"), .size(2)]) }
        m.graph.outputs = outputs.map { ONNXValueInfo(name: $0, kind: .tensor, elementType: nil, shape: nil) }
        return m
    }

    let x = ONNXArray(floats: [0.1, 0.2, 0.9, 0.3], shape: [2, 2])

    /// The run's error text, asserting one line that names `node`.
    func runError(_ m: ONNXModel, node: String, feeds: [String: ONNXValue]? = nil,
                  file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let p = try ONNXProgram(m, path: "hostile.onnx")
        do {
            _ = try p.run(feeds ?? ["X": .tensor(x)], backend: CPUBackend(threads: 1))
            XCTFail("ran", file: file, line: line)
            return ""
        } catch {
            let s = "\(error)"
            XCTAssertFalse(s.contains("\n"), s, file: file, line: line)
            XCTAssertTrue(s.contains("node '\(node)'"), s, file: file, line: line)
            return s
        }
    }

    // 1. A TreeEnsembleClassifier with one class label.

    static func oneClassTrees(_ labels: ONNXAttribute) -> ONNXModel {
        model([node("trees", "TreeEnsembleClassifier", ["X"], ["label", "probs"], [
            H.ints("nodes_treeids", [0, 0, 0]), H.ints("nodes_nodeids", [0, 1, 2]), H.ints("nodes_featureids", [0, 0, 0]),
            H.strings("nodes_modes", ["BRANCH_LEQ", "LEAF", "LEAF"]), H.floats("nodes_values", [0.5, 0, 0]),
            H.ints("nodes_truenodeids", [1, 0, 0]), H.ints("nodes_falsenodeids", [2, 0, 0]),
            H.ints("class_treeids", [0, 0]), H.ints("class_nodeids", [1, 2]), H.ints("class_ids", [0, 0]),
            H.floats("class_weights", [1, 2]), labels,
        ], domain: "ai.onnx.ml")], outputs: ["label", "probs"])
    }

    func testATreeClassifierWithOneStringLabelIsRefusedAtLoad() {
        XCTAssertThrowsError(try ONNXProgram(Self.oneClassTrees(H.strings("classlabels_strings", ["only"])), path: "t.onnx")) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("node 'trees'") && s.contains("one string class label"), s)
        }
    }

    func testATreeClassifierWithOneIntegerLabelNeverTraps() throws {
        // onnxruntime's binary rule answers the literal labels 0 and 1 here; every label
        // written is one of those or the declared class.
        let p = try ONNXProgram(Self.oneClassTrees(H.ints("classlabels_int64s", [7])), path: "t.onnx")
        do {
            let out = try p.run(["X": .tensor(x)], backend: CPUBackend(threads: 1))
            for l in out["label"]?.tensor?.int64s ?? [] { XCTAssertTrue([0, 1, 7].contains(l), "\(l)") }
        } catch {
            XCTAssertTrue("\(error)".contains("node 'trees'"), "\(error)")
        }
    }

    // 2. ArrayFeatureExtractor's output size.

    func testArrayFeatureExtractorOutputIsCheckedBeforeAllocating() throws {
        // 100 000 rows × 30 000 picks: 3·10⁹ elements, refused before anything is reserved.
        let m = Self.model([
            Self.node("big", "Expand", ["zero", "n"], ["idx"]),
            Self.node("afe", "ArrayFeatureExtractor", ["X", "idx"], ["Y"], domain: "ai.onnx.ml"),
        ], constants: [Self.ints("zero", [0]), Self.ints("n", [30000])])
        let rows = ONNXArray(floats: [Float](repeating: 1, count: 100_000), shape: [100_000, 1])
        let e = try runError(m, node: "afe", feeds: ["X": .tensor(rows)])
        XCTAssertTrue(e.contains("ArrayFeatureExtractor's output"), e)
    }

    // 3. Zero dimensions do not skip the overflow check.

    func testAZeroDimensionDoesNotHideAnOverflowingShape() throws {
        let b: Int64 = 1 << 31
        let m = Self.model([
            Self.node("cos", "ConstantOfShape", ["s"], ["Z"]), Self.node("size", "Size", ["Z"], ["n"]),
            Self.node("cast", "Cast", ["n"], ["Y"], [H.int("to", 1)]),
        ], constants: [Self.ints("s", [b, b, b, 0])])
        let e = try runError(m, node: "cos")
        XCTAssertTrue(e.contains("over"), e)
        XCTAssertThrowsError(try ONNXK.count([1 << 40, 1 << 40, 0]))
        XCTAssertThrowsError(try ONNXK.count([(1 << 31) + 1, 0]))
        XCTAssertEqual(try ONNXK.count([5, 0, 7]), 0)
        // Shapes made by hand never trap when counted.
        XCTAssertEqual(ONNXArray(shape: [1 << 40, 1 << 40, 0], storage: .float([])).count, 0)
        XCTAssertEqual(ONNXArray(shape: [1 << 40, 1 << 40], storage: .float([])).count, Int.max)
        XCTAssertEqual(ONNXK.product([1 << 40, 1 << 40][...]), Int.max)
    }

    func testAReshapeToZeroRowsOfAHugeRowIsRefused() throws {
        let b: Int64 = 1 << 31
        let m = Self.model([
            Self.node("slice", "Slice", ["X", "s", "e"], ["E"]), Self.node("reshape", "Reshape", ["E", "shp"], ["R"]),
            Self.node("lin", "LinearRegressor", ["R"], ["Y"], [H.floats("coefficients", [1, 2])], domain: "ai.onnx.ml"),
        ], constants: [Self.ints("s", [0, 0]), Self.ints("e", [0, 2]), Self.ints("shp", [0, b, b, b])])
        _ = try runError(m, node: "reshape")
    }

    // 4. The byte budget.

    func testTensorsOverTheByteBudgetAreRefused() throws {
        // Range of 4·10⁸ floats: 1.6 GB, under the element limit but over 1 GiB.
        let range = Self.model([
            Self.node("range", "Range", ["a", "b", "c"], ["R"]), Self.node("max", "ReduceMax", ["R"], ["M"], [H.int("keepdims", 0)]),
            Self.node("add", "Add", ["X", "M"], ["Y"]),
        ], constants: [Self.scalar("a", 0), Self.scalar("b", 4e8), Self.scalar("c", 1)])
        let e = try runError(range, node: "range")
        XCTAssertTrue(e.contains("would take 1600000000 bytes, over the 1 GiB limit"), e)
        // ConstantOfShape of 2·10⁸ doubles (1.6 GB); the same count of bools (200 MB) is fine to check.
        let cos = Self.model([Self.node("cos", "ConstantOfShape", ["s"], ["Y"],
                                         [ONNXAttribute(name: "value", value: .tensor(ONNXTensor(name: "v", dataType: ONNXElementType.double.rawValue, dims: [1], values: .doubles([1]))))])],
                             constants: [Self.ints("s", [200_000_000])])
        XCTAssertTrue(try runError(cos, node: "cos").contains("1 GiB"))
        XCTAssertEqual(try ONNXK.count([200_000_000], width: 1), 200_000_000)
        XCTAssertThrowsError(try ONNXK.count([200_000_000], width: 8))
        XCTAssertEqual(ONNXModel.maxTensorBytes, 1 << 30)
        XCTAssertEqual(ONNXModel.maxRunBytes, 1 << 32)
    }

    func testOneHotAndTileOutputsAreBudgeted() throws {
        // Tile of a 2×2 float input to 20 000 × 20 000 copies: 1.6 GB.
        let tile = Self.model([Self.node("tile", "Tile", ["X", "r"], ["Y"])], constants: [Self.ints("r", [20000, 20000])])
        XCTAssertTrue(try runError(tile, node: "tile").contains("1 GiB"))
        // 300 000 keys × 1000 categories of float: 1.2 GB.
        let ohe = Self.model([Self.node("ohe", "OneHotEncoder", ["X"], ["Y"], [H.ints("cats_int64s", (0..<1000).map { Int64($0) })],
                                        domain: "ai.onnx.ml")])
        let keys = ONNXArray(floats: [Float](repeating: 1, count: 300_000), shape: [300_000, 1])
        XCTAssertTrue(try runError(ohe, node: "ohe", feeds: ["X": .tensor(keys)]).contains("1 GiB"))
    }

    // 6. Operator sets.

    func testOpsetsBelow7AreRefused() throws {
        // Add-6 with the legacy broadcast/axis attributes would be computed numpy-style.
        let legacy = Self.model([Self.node("add", "Add", ["X", "b"], ["Y"], [H.int("broadcast", 1), H.int("axis", 0)])],
                                constants: [ONNXTensor(name: "b", dataType: 1, dims: [2], values: .floats([10, 20]))], opset: 6)
        XCTAssertThrowsError(try ONNXProgram(legacy, path: "op6.onnx")) { e in
            XCTAssertTrue("\(e)".contains("version 6 is outside the versions mlrepo runs (7 to 25)"), "\(e)")
        }
        let seven = Self.model([Self.node("add", "Add", ["X", "b"], ["Y"])],
                               constants: [ONNXTensor(name: "b", dataType: 1, dims: [2], values: .floats([10, 20]))], opset: 7)
        let y = try ONNXProgram(seven, path: "op7.onnx").run(["X": .tensor(x)], backend: CPUBackend(threads: 1))["Y"]?.tensor
        XCTAssertEqual(y?.floats, [10.1, 20.2, 10.9, 20.3])
    }

    // 7. model inspect's operator list.

    func testOperatorListIsLinearInDistinctOperators() throws {
        // 50 000 distinct custom operators (quadratic: ~10⁹ comparisons), then repeats.
        let n = 50_000
        var nodes = (0..<n).map { Self.node("n\($0)", "Op\($0)", ["X"], ["Y\($0)"], domain: "x") }
        nodes.append(Self.node("again", "Op7", ["X"], ["Z"], domain: "x"))
        nodes.append(Self.node("add", "Add", ["X", "X"], ["W"], domain: "ai.onnx"))
        nodes.append(Self.node("add2", "Add", ["X", "X"], ["V"]))
        let m = Self.model(nodes, outputs: ["Y0"])
        let start = Date()
        let ops = ONNXProgram.operators(of: m)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        XCTAssertEqual(ops.count, n + 1)
        XCTAssertEqual(ops[0].op, "Op0")
        XCTAssertEqual(ops[7].nodes, 2)
        XCTAssertEqual(ops[n].op, "Add")
        XCTAssertEqual(ops[n].domain, "")
        XCTAssertEqual(ops[n].nodes, 2)
        XCTAssertTrue(ops[n].supported)
        XCTAssertFalse(ops[0].supported)
    }

    // 9. Output problems after a successful load are run errors.

    func testAnEmptyZipMapIsRefusedAtLoad() throws {
        // onnxruntime refuses a ZipMap without class labels when it loads the model.
        let m = Self.model([Self.node("zip", "ZipMap", ["X"], ["Z"], [ONNXAttribute(name: "classlabels_int64s", value: .ints([]))],
                                      domain: "ai.onnx.ml")], outputs: ["Z"])
        XCTAssertThrowsError(try ONNXProgram(m, path: "zipempty.onnx")) { e in
            XCTAssertTrue("\(e)".contains("node 'zip'") && "\(e)".contains("class label list is empty"), "\(e)")
        }
    }

    func testAnOutputOfTheWrongRowCountIsARunError() throws {
        // The model loads; its output holding 0 rows for 2 is about the run, not the file.
        let m = Self.model([Self.node("slice", "Slice", ["X", "s", "e", "ax"], ["Y"])],
                           constants: [Self.ints("s", [0]), Self.ints("e", [0]), Self.ints("ax", [0])])
        let scorer = try ONNXScorer(try ONNXProgram(m, path: "rows.onnx"))
        var feed = x.floats!
        XCTAssertThrowsError(try scorer.score(taking: &feed, rows: 2, backend: CPUBackend(threads: 1))) { e in
            guard case MLError.onnxRun(_, let why)? = e as? MLError else { return XCTFail("\(e)") }
            XCTAssertTrue(why.contains("'Y'"), why)
            XCTAssertFalse("\(e)".contains("invalid"), "\(e)")
        }
    }

    // 10. The columns layout refuses numbers out of float range.

    func testColumnsLayoutRefusesNumbersOutOfFloatRange() throws {
        var m = Self.model([Self.node("add", "Add", ["a", "b"], ["Y"])], inputs: ["a", "b"])
        m.graph.inputs = ["a", "b"].map { ONNXValueInfo(name: $0, kind: .tensor, elementType: 1, shape: [.symbol("N"), .size(1)]) }
        let scorer = try ONNXScorer(try ONNXProgram(m, path: "cols.onnx"))
        let ok = ScoringTable(rows: 2, names: ["a", "b"], columns: [[.number(1), .number(2)], [.number(3), .missing]])
        XCTAssertEqual(try scorer.score(ok, backend: CPUBackend(threads: 1)).values?.first, 4)
        let big = ScoringTable(rows: 2, names: ["a", "b"], columns: [[.number(1), .number(1e300)], [.number(3), .number(4)]])
        XCTAssertThrowsError(try scorer.score(big, backend: CPUBackend(threads: 1))) { e in
            XCTAssertTrue("\(e)".contains("is not a number"), "\(e)")
        }
    }
}
