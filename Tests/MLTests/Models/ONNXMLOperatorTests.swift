import Compute
import XCTest
@testable import ML

/// ai.onnx.ml operators on small hand-made graphs, where the reference models do not reach:
/// every expected value below was printed by onnxruntime 1.32 for the same node and input
/// (including its binary-classifier quirks: literal labels 0/1, unscored classes written as 0).
final class ONNXMLOperatorTests: XCTestCase {
    typealias H = ONNXTreeHostileTests

    func run(_ op: String, _ attrs: [ONNXAttribute], _ feeds: [(String, ONNXArray)], outputs: [String] = ["Y"],
             ml: Int64 = 3) throws -> [ONNXValue] {
        var m = ONNXModel()
        m.irVersion = 8
        m.opsets = [("", 17), ("ai.onnx.ml", ml)]
        m.graph.nodes = [ONNXNode(name: "n", opType: op, domain: "ai.onnx.ml", inputs: feeds.map(\.0), outputs: outputs, attributes: attrs)]
        m.graph.inputs = feeds.map { ONNXValueInfo(name: $0.0, kind: .tensor, elementType: nil, shape: nil) }
        m.graph.outputs = outputs.map { ONNXValueInfo(name: $0, kind: .tensor, elementType: nil, shape: nil) }
        let p = try ONNXProgram(m, path: "t.onnx")
        let out = try p.run(Dictionary(uniqueKeysWithValues: feeds.map { ($0.0, ONNXValue.tensor($0.1)) }), backend: CPUBackend(threads: 1))
        return outputs.map { out[$0]! }
    }

    func floats(_ v: ONNXValue, file: StaticString = #filePath, line: UInt = #line) -> [Float] { v.tensor?.asFloats ?? [] }

    func assertClose(_ a: [Float], _ b: [Float], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-6 + 1e-5 * abs(y), "\(a) vs \(b)", file: file, line: line) }
    }

    let x = ONNXArray(floats: [1, -2, 4, 0, 0, 0, -1, -3, -2], shape: [3, 3])

    func testNormalizer() throws {
        assertClose(floats(try run("Normalizer", [ONNXAttribute(name: "norm", value: .string(Array("MAX".utf8)))], [("X", x)])[0]),
                    [0.25, -0.5, 1, 0, 0, 0, 1, 3, 2])
        assertClose(floats(try run("Normalizer", [ONNXAttribute(name: "norm", value: .string(Array("L1".utf8)))], [("X", x)])[0]),
                    [0.14285715, -0.2857143, 0.5714286, 0, 0, 0, -0.16666667, -0.5, -0.33333334])
        assertClose(floats(try run("Normalizer", [ONNXAttribute(name: "norm", value: .string(Array("L2".utf8)))], [("X", x)])[0]),
                    [0.21821789, -0.43643579, 0.87287158, 0, 0, 0, -0.26726124, -0.80178374, -0.53452247])
    }

    func testBinarizerFeatureVectorizerCategoryMapper() throws {
        XCTAssertEqual(floats(try run("Binarizer", [ONNXAttribute(name: "threshold", value: .float(0.5))], [("X", x)])[0]),
                       [1, 0, 1, 0, 0, 0, 0, 0, 0])
        let fv = try run("FeatureVectorizer", [H.ints("inputdimensions", [2, 3])],
                         [("A", ONNXArray(floats: [1, 2, 3, 4], shape: [2, 2])), ("B", ONNXArray(floats: [5, 6, 8, 9], shape: [2, 2]))])[0]
        XCTAssertEqual(fv.tensor?.floats, [1, 2, 5, 6, 0, 3, 4, 8, 9, 0])
        XCTAssertEqual(fv.tensor?.shape, [2, 5])
        let s = ONNXArray(strings: ["a", "c", "zz"], shape: [3])
        let cm = try run("CategoryMapper", [H.strings("cats_strings", ["a", "c"]), H.ints("cats_int64s", [1, 3]), H.int("default_int64", -9)],
                         [("X", s)], ml: 1)[0]
        XCTAssertEqual(cm.tensor?.int64s, [1, 3, -9])
    }

    func testLabelEncoderVersions() throws {
        let s = ONNXArray(strings: ["a", "c", "zz"], shape: [3])
        let v2 = try run("LabelEncoder", [H.strings("keys_strings", ["a", "b", "c"]), H.ints("values_int64s", [7, 8, 9]), H.int("default_int64", -5)],
                         [("X", s)], ml: 2)[0]
        XCTAssertEqual(v2.tensor?.int64s, [7, 9, -5])
        func t(_ n: String, _ type: ONNXElementType, _ v: ONNXTensor.Values, _ count: Int) -> ONNXAttribute {
            ONNXAttribute(name: n, value: .tensor(ONNXTensor(name: n, dataType: type.rawValue, dims: [Int64(count)], values: v)))
        }
        let v4 = try run("LabelEncoder", [t("keys_tensor", .string, .strings([Array("a".utf8), Array("c".utf8)]), 2),
                                          t("values_tensor", .int64, .ints([10, 30]), 2), t("default_tensor", .int64, .ints([-1]), 1)],
                         [("X", s)], ml: 4)[0]
        XCTAssertEqual(v4.tensor?.int64s, [10, 30, -1])
        // Float keys: NaN matches NaN; the default float is -0.
        let f = try run("LabelEncoder", [H.floats("keys_floats", [1, .nan]), H.floats("values_floats", [10, 20])],
                        [("X", ONNXArray(floats: [1, .nan, 3], shape: [3]))], ml: 4)[0]
        XCTAssertEqual(f.tensor?.floats, [10, 20, -0.0])
    }

    /// Two trees over two targets: x0 <= 0 ? (t0 0.2) : (t1 0.7); x1 != 1 ? (t0 0.4) : (t1 0).
    func treeEnsemble(aggregate: Int64, post: Int64) throws -> [Float] {
        let attrs = [
            H.ints("tree_roots", [0, 1]), H.ints("nodes_featureids", [0, 1]), H.tensor("nodes_modes", type: .uint8, [0, 5]),
            H.tensor("nodes_splits", type: .float, [0, 1]), H.ints("nodes_truenodeids", [0, 2]), H.ints("nodes_trueleafs", [1, 1]),
            H.ints("nodes_falsenodeids", [1, 3]), H.ints("nodes_falseleafs", [1, 1]), H.ints("leaf_targetids", [0, 1, 0, 1]),
            H.tensor("leaf_weights", type: .float, [0.2, 0.7, 0.4, 0]), H.int("n_targets", 2),
            H.int("aggregate_function", aggregate), H.int("post_transform", post),
        ]
        return floats(try run("TreeEnsemble", attrs, [("X", ONNXArray(floats: [-1, 1, 1, 5, .nan, .nan], shape: [3, 2]))], ml: 5)[0])
    }

    func testTreeEnsembleAggregatesAndPostTransforms() throws {
        assertClose(try treeEnsemble(aggregate: 1, post: 0), [0.2, 0, 0.4, 0.7, 0.4, 0.7])           // SUM
        assertClose(try treeEnsemble(aggregate: 0, post: 0), [0.1, 0, 0.2, 0.35, 0.2, 0.35])         // AVERAGE
        assertClose(try treeEnsemble(aggregate: 2, post: 0), [0.2, 0, 0.4, 0.7, 0.4, 0.7])           // MIN
        assertClose(try treeEnsemble(aggregate: 0, post: 3), [1, 0, 0.46257016, 0.5374298, 0.46257016, 0.5374298])  // SOFTMAX_ZERO
        assertClose(try treeEnsemble(aggregate: 1, post: 3), [1, 0, 0.4255575, 0.5744425, 0.4255575, 0.5744425])
    }

    /// One tree: x0 <= 0 ? leaf 1 : leaf 2, with weights (for `ids`) on the two leaves.
    func classifier(_ weights: [Float], post: String, base: [Float]? = nil, labels: [Int64] = [0, 1], ids: [Int64] = [1, 1]) throws -> ([Int64], [Float]) {
        var attrs = [
            H.ints("nodes_treeids", [0, 0, 0]), H.ints("nodes_nodeids", [0, 1, 2]), H.strings("nodes_modes", ["BRANCH_LEQ", "LEAF", "LEAF"]),
            H.ints("nodes_featureids", [0, 0, 0]), H.floats("nodes_values", [0, 0, 0]), H.ints("nodes_truenodeids", [1, 0, 0]),
            H.ints("nodes_falsenodeids", [2, 0, 0]), H.ints("class_treeids", [0, 0]), H.ints("class_nodeids", [1, 2]),
            H.ints("class_ids", ids), H.floats("class_weights", weights), H.ints("classlabels_int64s", labels),
            ONNXAttribute(name: "post_transform", value: .string(Array(post.utf8))),
        ]
        if let base { attrs.append(H.floats("base_values", base)) }
        let out = try run("TreeEnsembleClassifier", attrs, [("X", ONNXArray(floats: [-1, 1], shape: [2, 1]))], outputs: ["L", "P"])
        return (out[0].tensor?.int64s ?? [], floats(out[1]))
    }

    /// LinearClassifier with one intercept and two labels: LOGISTIC maps the score through the
    /// sigmoid before writing [1 - p, p]; NONE and SOFTMAX write [1 - s, s] from the raw score
    /// (onnxruntime 1.32, /tmp/rv2/mk6.py's lc_* models; inputs (0.1, 0.2), (0.9, 0.3), (-3, 0.5)).
    func testBinaryLinearClassifierPostTransformsFollowOnnxruntime() throws {
        let x = ONNXArray(floats: [0.1, 0.2, 0.9, 0.3, -3, 0.5], shape: [3, 2])
        func lc(_ post: String) throws -> (labels: [Int64], probs: [Float]) {
            let out = try run("LinearClassifier", [H.floats("coefficients", [1, 2]), H.floats("intercepts", [0.5]),
                                                   H.ints("classlabels_ints", [0, 1]),
                                                   ONNXAttribute(name: "post_transform", value: .string(Array(post.utf8)))],
                              [("X", x)], outputs: ["label", "probs"])
            return (out[0].tensor?.int64s ?? [], floats(out[1]))
        }
        let logistic = try lc("LOGISTIC")
        XCTAssertEqual(logistic.labels, [1, 1, 0])
        assertClose(logistic.probs, [0.26894140243530273, 0.7310585975646973, 0.11920297145843506, 0.8807970285415649,
                                     0.8175744414329529, 0.18242555856704712])
        for post in ["NONE", "SOFTMAX", "SOFTMAX_ZERO"] {
            let r = try lc(post)
            XCTAssertEqual(r.labels, [1, 1, 0], post)
            assertClose(r.probs, [0, 1, -1, 2, 2.5, -1.5])
        }
    }

    func testBinaryClassifiersFollowOnnxruntime() throws {
        var (l, p) = try classifier([0.3, 0.8], post: "NONE")              // all positive: threshold 0.5
        XCTAssertEqual(l, [0, 1]); assertClose(p, [0, 0.3, 0, 0.8])
        (l, p) = try classifier([-0.5, 2], post: "LOGISTIC")               // mixed signs: threshold 0
        XCTAssertEqual(l, [0, 1]); assertClose(p, [0.5, 0.37754065, 0.5, 0.88079703])
        (l, p) = try classifier([-0.5, 2], post: "NONE")
        XCTAssertEqual(l, [0, 1]); assertClose(p, [0, -0.5, 0, 2])
        (l, p) = try classifier([-0.5, 2], post: "LOGISTIC", base: [0.1, 0.3])  // two base values: class 1 = base1 + score0
        XCTAssertEqual(l, [1, 1]); assertClose(p, [0.5, 0.5744425, 0.5, 0.5744425])
        (l, p) = try classifier([-0.5, 2], post: "NONE", labels: [4, 9], ids: [0, 1])  // both classes weighted: literal labels 0 and 1
        XCTAssertEqual(l, [0, 1]); assertClose(p, [0.5, -0.5, 0, 2])
        (l, p) = try classifier([-0.5, 2], post: "SOFTMAX", labels: [4, 9, 11], ids: [0, 2])
        XCTAssertEqual(l, [4, 11]); assertClose(p, [0.23269653, 0.38365173, 0.38365173, 0.10650698, 0.10650698, 0.78698605])
    }

    func testRegressorTargetsWithoutWeightsAreZero() throws {
        func reg(_ agg: String, _ base: [Float]?, post: String = "NONE", targets: Int64 = 3) throws -> [Float] {
            var attrs = [
                H.ints("nodes_treeids", [0, 0, 0]), H.ints("nodes_nodeids", [0, 1, 2]), H.strings("nodes_modes", ["BRANCH_LEQ", "LEAF", "LEAF"]),
                H.ints("nodes_featureids", [0, 0, 0]), H.floats("nodes_values", [0, 0, 0]), H.ints("nodes_truenodeids", [1, 0, 0]),
                H.ints("nodes_falsenodeids", [2, 0, 0]), H.ints("target_treeids", [0, 0]), H.ints("target_nodeids", [1, 2]),
                H.ints("target_ids", [0, 0]), H.floats("target_weights", [-0.5, 2]), H.int("n_targets", targets),
                ONNXAttribute(name: "aggregate_function", value: .string(Array(agg.utf8))),
                ONNXAttribute(name: "post_transform", value: .string(Array(post.utf8))),
            ]
            if let base { attrs.append(H.floats("base_values", base)) }
            return floats(try run("TreeEnsembleRegressor", attrs, [("X", ONNXArray(floats: [-1, 1], shape: [2, 1]))])[0])
        }
        for agg in ["SUM", "AVERAGE", "MIN", "MAX"] {
            assertClose(try reg(agg, [1, 2, 3]), [0.5, 0, 0, 3, 0, 0])
            assertClose(try reg(agg, nil), [-0.5, 0, 0, 2, 0, 0])
            assertClose(try reg(agg, [1, 2, 3], post: "SOFTMAX"), [0.45186275, 0.27406862, 0.27406862, 0.90944302, 0.04527850, 0.04527850])
            assertClose(try reg(agg, [1.5], targets: 1), [1, 3.5])
        }
        // One target: onnxruntime applies only PROBIT, so LOGISTIC leaves the sum as it is.
        assertClose(try reg("SUM", [1.5], post: "LOGISTIC", targets: 1), [1, 3.5])
    }

    /// Version 3's *_as_tensor attributes (double tensors) stand for the float lists.
    func testAsTensorAttributes() throws {
        func dt(_ n: String, _ v: [Double]) -> ONNXAttribute {
            ONNXAttribute(name: n, value: .tensor(ONNXTensor(name: n, dataType: ONNXElementType.double.rawValue, dims: [Int64(v.count)], values: .doubles(v))))
        }
        let attrs = [
            H.ints("nodes_treeids", [0, 0, 0]), H.ints("nodes_nodeids", [0, 1, 2]), H.strings("nodes_modes", ["BRANCH_LT", "LEAF", "LEAF"]),
            H.ints("nodes_featureids", [1, 0, 0]), dt("nodes_values_as_tensor", [2.5, 0, 0]), H.ints("nodes_truenodeids", [1, 0, 0]),
            H.ints("nodes_falsenodeids", [2, 0, 0]), H.ints("target_treeids", [0, 0]), H.ints("target_nodeids", [1, 2]),
            H.ints("target_ids", [0, 0]), dt("target_weights_as_tensor", [-1.25, 4]), dt("base_values_as_tensor", [10]),
        ]
        let y = try run("TreeEnsembleRegressor", attrs, [("X", ONNXArray(floats: [0, 1, 0, 2.5, 0, 3], shape: [3, 2]))])[0]
        XCTAssertEqual(y.tensor?.floats, [8.75, 14, 14])
    }

    /// A tree that is one leaf (legacy: a lone LEAF node; TreeEnsemble: a root whose children are the same leaf).
    func testSingleLeafTrees() throws {
        let legacy = [
            H.ints("nodes_treeids", [0, 0, 0, 1]), H.ints("nodes_nodeids", [0, 1, 2, 0]),
            H.strings("nodes_modes", ["BRANCH_LEQ", "LEAF", "LEAF", "LEAF"]), H.ints("nodes_featureids", [0, 0, 0, 0]),
            H.floats("nodes_values", [0, 0, 0, 0]), H.ints("nodes_truenodeids", [1, 0, 0, 0]), H.ints("nodes_falsenodeids", [2, 0, 0, 0]),
            H.ints("target_treeids", [0, 0, 1]), H.ints("target_nodeids", [1, 2, 0]), H.ints("target_ids", [0, 0, 0]),
            H.floats("target_weights", [1, 2, 100]),
        ]
        XCTAssertEqual(floats(try run("TreeEnsembleRegressor", legacy, [("X", ONNXArray(floats: [-1, 1], shape: [2, 1]))])[0]), [101, 102])
        let v5 = [
            H.ints("tree_roots", [0]), H.ints("nodes_featureids", [0]), H.tensor("nodes_modes", type: .uint8, [0]),
            H.tensor("nodes_splits", type: .float, [0]), H.ints("nodes_truenodeids", [0]), H.ints("nodes_trueleafs", [1]),
            H.ints("nodes_falsenodeids", [0]), H.ints("nodes_falseleafs", [1]), H.ints("leaf_targetids", [0]),
            H.tensor("leaf_weights", type: .float, [7]), H.int("n_targets", 1),
        ]
        XCTAssertEqual(floats(try run("TreeEnsemble", v5, [("X", ONNXArray(floats: [-1, 1], shape: [2, 1]))], ml: 5)[0]), [7, 7])
    }
}
