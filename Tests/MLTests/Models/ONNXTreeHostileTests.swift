import Compute
import XCTest
@testable import ML

/// Tree ensembles from hostile files: every malformed structure is refused with one line that
/// names the node, at load where the attributes decide it and at run time where the input does.
final class ONNXTreeHostileTests: XCTestCase {
    typealias A = ONNXAttribute

    /// A one-node model: X float[N, width] → op → outputs.
    static func model(_ op: String, _ attrs: [A], outputs: [String] = ["Y"], mlOpset: Int64 = 3) -> ONNXModel {
        var m = ONNXModel()
        m.irVersion = 8
        m.opsets = [("", 17), ("ai.onnx.ml", mlOpset)]
        m.graph.nodes = [ONNXNode(name: "trees", opType: op, domain: "ai.onnx.ml", inputs: ["X"], outputs: outputs, attributes: attrs)]
        m.graph.inputs = [ONNXValueInfo(name: "X", kind: .tensor, elementType: 1, shape: nil)]
        m.graph.outputs = outputs.map { ONNXValueInfo(name: $0, kind: .tensor, elementType: 1, shape: nil) }
        return m
    }

    static func ints(_ n: String, _ v: [Int64]) -> A { A(name: n, value: .ints(v)) }
    static func floats(_ n: String, _ v: [Float]) -> A { A(name: n, value: .floats(v)) }
    static func strings(_ n: String, _ v: [String]) -> A { A(name: n, value: .strings(v.map { Array($0.utf8) })) }
    static func int(_ n: String, _ v: Int64) -> A { A(name: n, value: .int(v)) }
    static func tensor(_ n: String, type: ONNXElementType, _ v: [Float]) -> A {
        let values: ONNXTensor.Values = type == .float ? .floats(v) : .ints(v.map { Int64($0) })
        return A(name: n, value: .tensor(ONNXTensor(name: n, dataType: type.rawValue, dims: [Int64(v.count)], values: values)))
    }

    /// A legacy regressor: nodes given as (id, mode, feature, threshold, true id, false id),
    /// one weight 1.0 per leaf.
    static func regressor(_ nodes: [(Int64, String, Int64, Float, Int64, Int64)], extra: [A] = []) -> ONNXModel {
        let leaves = nodes.filter { $0.1 == "LEAF" }
        return model("TreeEnsembleRegressor", [
            ints("nodes_treeids", nodes.map { _ in 0 }), ints("nodes_nodeids", nodes.map(\.0)),
            strings("nodes_modes", nodes.map(\.1)), ints("nodes_featureids", nodes.map(\.2)),
            floats("nodes_values", nodes.map(\.3)), ints("nodes_truenodeids", nodes.map(\.4)),
            ints("nodes_falsenodeids", nodes.map(\.5)),
            ints("target_treeids", leaves.map { _ in 0 }), ints("target_nodeids", leaves.map(\.0)),
            ints("target_ids", leaves.map { _ in 0 }), floats("target_weights", leaves.map { Float($0.0) }),
        ] + extra)
    }

    /// The load error's text, asserting it is one line naming the node.
    func loadError(_ m: ONNXModel, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try ONNXProgram(m, path: "hostile.onnx")
            XCTFail("loaded", file: file, line: line)
            return ""
        } catch {
            let s = "\(error)"
            XCTAssertFalse(s.contains("\n"), s, file: file, line: line)
            XCTAssertTrue(s.contains("node 'trees'"), s, file: file, line: line)
            return s
        }
    }

    func run(_ m: ONNXModel, _ x: [Float], width: Int) throws -> [String: ONNXValue] {
        let p = try ONNXProgram(m, path: "t.onnx")
        return try p.run(["X": .tensor(ONNXArray(floats: x, shape: [x.count / width, width]))], backend: CPUBackend(threads: 1))
    }

    func testAWellFormedTreeRuns() throws {
        // x0 <= 0.5 ? leaf 1 (weight 1) : (x1 < 2 ? leaf 3 : leaf 4); NaN in x0 goes false.
        let m = Self.regressor([(0, "BRANCH_LEQ", 0, 0.5, 1, 2), (1, "LEAF", 0, 0, 0, 0), (2, "BRANCH_LT", 1, 2, 3, 4),
                                (3, "LEAF", 0, 0, 0, 0), (4, "LEAF", 0, 0, 0, 0)])
        let y = try run(m, [0, 9, 1, 1, 1, 3, .nan, 5], width: 2)["Y"]?.tensor
        XCTAssertEqual(y?.floats, [1, 3, 4, 4])
        XCTAssertEqual(y?.shape, [4, 1])
        // With missing values tracking true, NaN takes the true branch.
        let m2 = Self.regressor([(0, "BRANCH_LEQ", 0, 0.5, 1, 2), (1, "LEAF", 0, 0, 0, 0), (2, "BRANCH_LT", 1, 2, 3, 4),
                                 (3, "LEAF", 0, 0, 0, 0), (4, "LEAF", 0, 0, 0, 0)],
                                extra: [Self.ints("nodes_missing_value_tracks_true", [1, 0, 0, 0, 0])])
        XCTAssertEqual(try run(m2, [.nan, 5], width: 2)["Y"]?.tensor?.floats, [1])
    }

    func testACyclicTreeIsRefused() {
        // 0 → 1 → 2 → 1: the root exists, but node 1 is reached again.
        let e = loadError(Self.regressor([(0, "BRANCH_LEQ", 0, 0, 1, 3), (1, "BRANCH_LEQ", 0, 0, 2, 3), (2, "BRANCH_LEQ", 0, 0, 1, 3),
                                          (3, "LEAF", 0, 0, 0, 0)]))
        XCTAssertTrue(e.contains("reached twice"), e)
        // 0 ↔ 1: no node is a root.
        let e2 = loadError(Self.regressor([(0, "BRANCH_LEQ", 0, 0, 1, 2), (1, "BRANCH_LEQ", 0, 0, 0, 2), (2, "LEAF", 0, 0, 0, 0)]))
        XCTAssertTrue(e2.contains("has no root"), e2)
        // A node that is its own child.
        let e3 = loadError(Self.regressor([(0, "BRANCH_LEQ", 0, 0, 1, 2), (1, "BRANCH_LEQ", 0, 0, 1, 2), (2, "LEAF", 0, 0, 0, 0)]))
        XCTAssertTrue(e3.contains("reached twice"), e3)
    }

    func testAChildOutOfRangeIsRefused() {
        let e = loadError(Self.regressor([(0, "BRANCH_LEQ", 0, 0, 1, 99), (1, "LEAF", 0, 0, 0, 0)]))
        XCTAssertTrue(e.contains("child 99 that does not exist"), e)
        let e2 = loadError(Self.regressor([(0, "BRANCH_LEQ", -3, 0, 1, 1), (1, "LEAF", 0, 0, 0, 0)]))
        XCTAssertTrue(e2.contains("feature -3"), e2)
        let e3 = loadError(Self.regressor([(0, "BRANCH_SOMETIMES", 0, 0, 1, 1), (1, "LEAF", 0, 0, 0, 0)]))
        XCTAssertTrue(e3.contains("BRANCH_SOMETIMES"), e3)
        let e4 = loadError(Self.regressor([(0, "BRANCH_LEQ", 0, 0, 1, 1), (1, "LEAF", 0, 0, 0, 0)],
                                          extra: [Self.ints("nodes_missing_value_tracks_true", [1])]))
        XCTAssertTrue(e4.contains("nodes_missing_value_tracks_true"), e4)
    }

    func testAFeatureBeyondTheInputWidthIsRefusedAtRunTime() throws {
        let m = Self.regressor([(0, "BRANCH_LEQ", 50, 0, 1, 2), (1, "LEAF", 0, 0, 0, 0), (2, "LEAF", 0, 0, 0, 0)])
        XCTAssertThrowsError(try run(m, [1, 2, 3], width: 3)) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("node 'trees'") && s.contains("feature 50") && s.contains("3 columns"), s)
            XCTAssertFalse(s.contains("\n"))
        }
    }

    func testHugeClassAndTargetCountsAreRefused() {
        let nodes: [(Int64, String, Int64, Float, Int64, Int64)] = [(0, "BRANCH_LEQ", 0, 0, 1, 2), (1, "LEAF", 0, 0, 0, 0), (2, "LEAF", 0, 0, 0, 0)]
        var e = loadError(Self.regressor(nodes, extra: [Self.int("n_targets", 1 << 40)]))
        XCTAssertTrue(e.contains("n_targets"), e)
        // A weight for a target beyond n_targets.
        var m = Self.regressor(nodes)
        m.graph.nodes[0].attributes.removeAll { $0.name == "target_ids" }
        m.graph.nodes[0].attributes.append(Self.ints("target_ids", [0, 7]))
        e = loadError(m)
        XCTAssertTrue(e.contains("target or class 7"), e)
        // A classifier whose weights name class 5 of 2.
        let clf = Self.model("TreeEnsembleClassifier", [
            Self.ints("nodes_treeids", [0, 0, 0]), Self.ints("nodes_nodeids", [0, 1, 2]),
            Self.strings("nodes_modes", ["BRANCH_LEQ", "LEAF", "LEAF"]), Self.ints("nodes_featureids", [0, 0, 0]),
            Self.floats("nodes_values", [0, 0, 0]), Self.ints("nodes_truenodeids", [1, 0, 0]), Self.ints("nodes_falsenodeids", [2, 0, 0]),
            Self.ints("class_treeids", [0, 0]), Self.ints("class_nodeids", [1, 2]), Self.ints("class_ids", [0, 5]),
            Self.floats("class_weights", [1, 1]), Self.ints("classlabels_int64s", [0, 1]),
        ], outputs: ["label", "scores"])
        e = loadError(clf)
        XCTAssertTrue(e.contains("class 5"), e)
        // TreeEnsemble (ai.onnx.ml 5) claiming 2^40 targets.
        e = loadError(Self.treeEnsemble(nTargets: 1 << 40))
        XCTAssertTrue(e.contains("n_targets"), e)
    }

    /// A one-branch TreeEnsemble: x0 <= 0 ? leaf 0 : leaf 1, with the given children.
    static func treeEnsemble(nTargets: Int64 = 1, trueId: Int64 = 0, trueLeaf: Int64 = 1, root: Int64 = 0,
                             mode: Float = 0, members: [Float]? = nil) -> ONNXModel {
        var attrs: [A] = [
            ints("tree_roots", [root]), ints("nodes_featureids", [0]), tensor("nodes_modes", type: .uint8, [mode]),
            tensor("nodes_splits", type: .float, [0]), ints("nodes_truenodeids", [trueId]), ints("nodes_trueleafs", [trueLeaf]),
            ints("nodes_falsenodeids", [1]), ints("nodes_falseleafs", [1]), ints("leaf_targetids", [0, 0]),
            tensor("leaf_weights", type: .float, [10, 20]), int("n_targets", nTargets),
        ]
        if let members { attrs.append(tensor("membership_values", type: .float, members)) }
        return model("TreeEnsemble", attrs, mlOpset: 5)
    }

    func testTreeEnsembleStructureIsChecked() throws {
        XCTAssertEqual(try run(Self.treeEnsemble(), [-1, 1, .nan], width: 1)["Y"]?.tensor?.floats, [10, 20, 20])
        var e = loadError(Self.treeEnsemble(trueId: 5))
        XCTAssertTrue(e.contains("leaf child 5 that does not exist"), e)
        e = loadError(Self.treeEnsemble(trueId: 0, trueLeaf: 0))   // the node is its own true child
        XCTAssertTrue(e.contains("reached twice"), e)
        e = loadError(Self.treeEnsemble(root: 3))
        XCTAssertTrue(e.contains("root refers to node 3"), e)
        e = loadError(Self.treeEnsemble(mode: 9))
        XCTAssertTrue(e.contains("mode 9"), e)
        e = loadError(Self.treeEnsemble(mode: 6))
        XCTAssertTrue(e.contains("BRANCH_MEMBER"), e)
        // Membership: x0 in {2, 4}.
        XCTAssertEqual(try run(Self.treeEnsemble(mode: 6, members: [2, 4, .nan]), [2, 3, 4, .nan], width: 1)["Y"]?.tensor?.floats, [10, 20, 10, 20])
    }
}
