import Compute
import Foundation
import XCTest
@testable import ML

/// ai.onnx operators against hostile graphs and inputs: every bad shape, index, axis, size or
/// element type is one error line naming the node, never a crash or a huge allocation.
final class ONNXStandardOperatorTests: XCTestCase {
    let backend = CPUBackend(threads: 1)

    /// A one-node model: inputs fed by the caller, constants as initializers.
    func program(_ op: String, opset: Int64 = 13, inputs: [String] = ["x"], constants: [String: ONNXTensor] = [:],
                 attributes: [ONNXAttribute] = [], outputs: [String] = ["y"]) throws -> ONNXProgram {
        var g = ONNXGraph()
        g.name = "g"
        g.nodes = [ONNXNode(name: "n", opType: op, domain: "", inputs: inputs, outputs: outputs, attributes: attributes)]
        g.initializers = constants.map { k, v in var t = v; t.name = k; return t }
        g.inputs = inputs.filter { !$0.isEmpty && constants[$0] == nil }.map { ONNXValueInfo(name: $0, kind: .tensor, elementType: nil, shape: nil) }
        g.outputs = outputs.map { ONNXValueInfo(name: $0, kind: .tensor, elementType: nil, shape: nil) }
        var m = ONNXModel()
        m.irVersion = 8
        m.opsets = [("", opset)]
        m.graph = g
        return try ONNXProgram(m, path: "m.onnx")
    }

    func ints(_ v: [Int64]) -> ONNXTensor { ONNXTensor(name: "", dataType: ONNXElementType.int64.rawValue, dims: [Int64(v.count)], values: .ints(v)) }
    func floats(_ v: [Float], _ dims: [Int64]) -> ONNXTensor { ONNXTensor(name: "", dataType: 1, dims: dims, values: .floats(v)) }

    /// The one-line error running `p` on `feeds` gives.
    func failure(_ p: ONNXProgram, _ feeds: [String: ONNXArray]) -> String {
        do {
            _ = try p.run(feeds.mapValues { .tensor($0) }, backend: backend)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testBadReshapeIsOneLine() throws {
        let p = try program("Reshape", inputs: ["x", "shape"], constants: ["shape": ints([4, -1])])
        let x = ONNXArray(floats: [Float](repeating: 1, count: 6), shape: [2, 3])
        XCTAssertEqual(failure(p, ["x": x]), "'m.onnx' cannot run on this input: node 'n' (Reshape): cannot reshape [2, 3] (6 elements) to [4, -1]")
        let q = try program("Reshape", inputs: ["x", "shape"], constants: ["shape": ints([-1, -1])])
        XCTAssertEqual(failure(q, ["x": x]), "'m.onnx' cannot run on this input: node 'n' (Reshape): Reshape's shape [-1, -1] has more than one -1")
        let r = try program("Reshape", inputs: ["x", "shape"], constants: ["shape": ints([2, -7])])
        XCTAssertEqual(failure(r, ["x": x]), "'m.onnx' cannot run on this input: node 'n' (Reshape): Reshape's shape [2, -7] has a bad dimension -7")
        // A shape whose product overflows is refused, not wrapped.
        let s = try program("Reshape", inputs: ["x", "shape"], constants: ["shape": ints([1 << 40, 1 << 40, 0])])
        XCTAssertTrue(failure(s, ["x": x]).contains("has a bad dimension 1099511627776"), failure(s, ["x": x]))
    }

    func testOutOfRangeGatherIndexIsOneLine() throws {
        let p = try program("Gather", inputs: ["x", "i"], constants: ["i": ints([0, 5])])
        let x = ONNXArray(floats: [1, 2, 3, 4, 5, 6], shape: [3, 2])
        XCTAssertEqual(failure(p, ["x": x]), "'m.onnx' cannot run on this input: node 'n' (Gather): Gather index 5 is out of range for dimension 3 of axis 0")
        let q = try program("Gather", inputs: ["x", "i"], constants: ["i": ints([-4])])
        XCTAssertEqual(failure(q, ["x": x]), "'m.onnx' cannot run on this input: node 'n' (Gather): Gather index -4 is out of range for dimension 3 of axis 0")
        // Negative indices count from the end.
        let ok = try program("Gather", inputs: ["x", "i"], constants: ["i": ints([-1])])
        XCTAssertEqual(try ok.run(["x": .tensor(x)], backend: backend)["y"], .tensor(ONNXArray(floats: [5, 6], shape: [1, 2])))
    }

    func testHugeOutputsAreRefusedBeforeAllocating() throws {
        let big = ints([1 << 20, 1 << 20, 1 << 20])
        let c = try program("ConstantOfShape", inputs: ["s"], constants: ["s": big])
        XCTAssertEqual(failure(c, [:]), "'m.onnx' cannot run on this input: node 'n' (ConstantOfShape): output of shape [1048576, 1048576, 1048576] is over 2147483648 elements")
        let e = try program("Expand", inputs: ["x", "s"], constants: ["s": big])
        XCTAssertEqual(failure(e, ["x": ONNXArray(floats: [1], shape: [1])]),
                       "'m.onnx' cannot run on this input: node 'n' (Expand): output of shape [1048576, 1048576, 1048576] is over 2147483648 elements")
        let t = try program("Tile", inputs: ["x", "r"], constants: ["r": ints([1 << 31, 1 << 31])])
        XCTAssertEqual(failure(t, ["x": ONNXArray(floats: [1, 2, 3, 4], shape: [2, 2])]),
                       "'m.onnx' cannot run on this input: node 'n' (Tile): output of shape [4294967296, 4294967296] is over 2147483648 elements")
        let r = try program("Range", inputs: ["a", "b", "d"], constants: ["a": floats([0], []), "b": floats([1e30], []), "d": floats([1e-30], [])])
        XCTAssertEqual(failure(r, [:]), "'m.onnx' cannot run on this input: node 'n' (Range): Range would make more than 2147483648 elements")
        let z = try program("Range", inputs: ["a", "b", "d"], constants: ["a": floats([0], []), "b": floats([1], []), "d": floats([0], [])])
        XCTAssertEqual(failure(z, [:]), "'m.onnx' cannot run on this input: node 'n' (Range): Range with delta 0")
        // A negative dimension is refused.
        let n = try program("ConstantOfShape", inputs: ["s"], constants: ["s": ints([2, -3])])
        XCTAssertEqual(failure(n, [:]), "'m.onnx' cannot run on this input: node 'n' (ConstantOfShape): ConstantOfShape's shape has a bad dimension -3")
    }

    /// Zero-element tensors with large other dimensions stay cheap: no per-dimension index
    /// lists are built for outputs that hold nothing. A zero dimension does not hide the
    /// others, though: a dimension over 2^31, or non-zero dimensions whose product is, are
    /// refused as for any tensor (so no later product of them can overflow).
    func testEmptyTensorsWithHugeDimensionsAllocateNothing() throws {
        let empty = ONNXArray(floats: [], shape: [0, 1 << 31])
        let sl = try program("Slice", inputs: ["x", "s", "e", "a"], constants: ["s": ints([1]), "e": ints([1 << 40]), "a": ints([1])])
        XCTAssertEqual(try sl.run(["x": .tensor(empty)], backend: backend)["y"], .tensor(ONNXArray(floats: [], shape: [0, (1 << 31) - 1])))
        let t = try program("Tile", inputs: ["x", "r"], constants: ["r": ints([1, 1 << 28])])
        XCTAssertEqual(try t.run(["x": .tensor(ONNXArray(floats: [], shape: [0, 4]))], backend: backend)["y"],
                       .tensor(ONNXArray(floats: [], shape: [0, 1 << 30])))
        let t2 = try program("Tile", inputs: ["x", "r"], constants: ["r": ints([1, 1 << 30])])
        XCTAssertEqual(failure(t2, ["x": ONNXArray(floats: [], shape: [0, 4])]),
                       "'m.onnx' cannot run on this input: node 'n' (Tile): output of shape [0, 4294967296] is over 2147483648 elements")
        let m = try program("MatMul", inputs: ["x", "w"])
        XCTAssertEqual(try m.run(["x": .tensor(ONNXArray(floats: [], shape: [1 << 15, 1 << 15, 0, 2])), "w": .tensor(ONNXArray(floats: [1, 2], shape: [2, 1]))],
                                 backend: backend)["y"], .tensor(ONNXArray(floats: [], shape: [1 << 15, 1 << 15, 0, 1])))
        XCTAssertEqual(failure(m, ["x": ONNXArray(floats: [], shape: [1 << 30, 1 << 30, 0, 2]), "w": ONNXArray(floats: [1, 2], shape: [2, 1])]),
                       "'m.onnx' cannot run on this input: node 'n' (MatMul): input 0 of shape [1073741824, 1073741824, 0, 2] is over 2147483648 elements")
        // Extreme steps take one element.
        let x = ONNXArray(floats: [1, 2, 3], shape: [3])
        let st = try program("Slice", inputs: ["x", "s", "e", "a", "st"], constants: ["s": ints([-1]), "e": ints([.min]), "a": ints([0]), "st": ints([.min])])
        XCTAssertEqual(try st.run(["x": .tensor(x)], backend: backend)["y"], .tensor(ONNXArray(floats: [3], shape: [1])))
        let st2 = try program("Slice", inputs: ["x", "s", "e", "a", "st"], constants: ["s": ints([.min]), "e": ints([.max]), "a": ints([0]), "st": ints([.max])])
        XCTAssertEqual(try st2.run(["x": .tensor(x)], backend: backend)["y"], .tensor(ONNXArray(floats: [1], shape: [1])))
        // A value whose shape does not describe its elements is refused, not indexed.
        let r = try program("Relu")
        XCTAssertEqual(failure(r, ["x": ONNXArray(floats: [1, 2], shape: [3])]), "'m.onnx' cannot run on this input: node 'n' (Relu): input 0 has 2 values for shape [3]")
        let u = try program("Unsqueeze", inputs: ["x", "a"], constants: ["a": ints(Array(0..<70))])
        XCTAssertEqual(failure(u, ["x": ONNXArray(floats: [1], shape: [1])]), "'m.onnx' cannot run on this input: node 'n' (Unsqueeze): Unsqueeze to 71 dimensions, more than 64")
    }

    /// Every broadcasting path (same shape, scalar, row, column, general) agrees with an
    /// element-by-element reading of numpy's rule.
    func testBroadcastingPathsAgreeWithTheRule() throws {
        func naive(_ sa: [Int], _ sb: [Int]) throws -> [Float] {
            let out = try ONNXK.broadcastShape(sa, sb)
            let pa = ONNXK.padded(sa, out.count), pb = ONNXK.padded(sb, out.count)
            let n = out.reduce(1, *)
            return (0..<n).map { flat in
                var rem = flat, ia = 0, ib = 0, ma = 1, mb = 1
                for d in stride(from: out.count - 1, through: 0, by: -1) {
                    let i = rem % out[d]; rem /= out[d]
                    ia += (pa[d] == 1 ? 0 : i) * ma; ma *= pa[d]
                    ib += (pb[d] == 1 ? 0 : i) * mb; mb *= pb[d]
                }
                return Float(ia) * 1000 + Float(ib)
            }
        }
        let pairs: [([Int], [Int])] = [([2, 3], [2, 3]), ([2, 3], []), ([], [2, 3]), ([2, 3], [3]), ([3], [2, 3]),
                                       ([2, 3], [2, 1]), ([2, 1], [2, 3]), ([4, 1, 3], [1, 5, 1]), ([2, 4, 3], [4, 1]),
                                       ([1, 3], [2, 1]), ([2, 0, 3], [3]), ([5, 1], [1]), ([1], [5, 1]), ([2, 3, 1], [2, 1, 4])]
        for (sa, sb) in pairs {
            let a = (0..<sa.reduce(1, *)).map(Float.init), b = (0..<sb.reduce(1, *)).map(Float.init)
            let (got, shape) = try ONNXK.binary(a, sa, b, sb) { $0 * 1000 + $1 }
            XCTAssertEqual(shape, try ONNXK.broadcastShape(sa, sb), "\(sa) \(sb)")
            XCTAssertEqual(got, try naive(sa, sb), "\(sa) \(sb)")
        }
    }

    func testWrongElementTypeNamesIt() throws {
        let p = try program("Exp")
        XCTAssertEqual(failure(p, ["x": ONNXArray(int64s: [1, 2], shape: [2])]),
                       "'m.onnx' cannot run on this input: node 'n' (Exp): Exp takes float or double input, not int64")
        let a = try program("Add", inputs: ["x", "z"])
        XCTAssertEqual(failure(a, ["x": ONNXArray(floats: [1], shape: [1]), "z": ONNXArray(int64s: [1], shape: [1])]),
                       "'m.onnx' cannot run on this input: node 'n' (Add): Add takes inputs of one element type, not float and int64")
        let s = try program("Softmax")
        XCTAssertEqual(failure(s, ["x": ONNXArray(strings: ["a"], shape: [1])]),
                       "'m.onnx' cannot run on this input: node 'n' (Softmax): Softmax takes float or double input, not string")
        let g = try program("Gather", inputs: ["x", "i"])
        XCTAssertEqual(failure(g, ["x": ONNXArray(floats: [1], shape: [1]), "i": ONNXArray(floats: [0], shape: [1])]),
                       "'m.onnx' cannot run on this input: node 'n' (Gather): Gather's indices must be integers, not float")
    }

    func testShapeAndAxisErrors() throws {
        let x = ONNXArray(floats: [1, 2, 3, 4, 5, 6], shape: [2, 3])
        let m = try program("MatMul", inputs: ["x", "w"], constants: ["w": floats([1, 2], [2, 1])])
        XCTAssertEqual(failure(m, ["x": x]), "'m.onnx' cannot run on this input: node 'n' (MatMul): MatMul of shapes [2, 3] and [2, 1]: inner dimensions differ")
        let b = try program("Add", inputs: ["x", "z"])
        XCTAssertEqual(failure(b, ["x": x, "z": ONNXArray(floats: [1, 2], shape: [2])]),
                       "'m.onnx' cannot run on this input: node 'n' (Add): shapes [2, 3] and [2] do not broadcast")
        let s = try program("Softmax", attributes: [ONNXAttribute(name: "axis", value: .int(5))])
        XCTAssertEqual(failure(s, ["x": x]), "'m.onnx' cannot run on this input: node 'n' (Softmax): axis 5 is out of range for rank 2")
        let q = try program("Squeeze", inputs: ["x", "a"], constants: ["a": ints([1])])
        XCTAssertEqual(failure(q, ["x": x]), "'m.onnx' cannot run on this input: node 'n' (Squeeze): Squeeze of axis 1 of shape [2, 3], which is not 1")
        let sl = try program("Slice", inputs: ["x", "s", "e", "a", "st"],
                             constants: ["s": ints([0]), "e": ints([2]), "a": ints([1]), "st": ints([0])])
        XCTAssertEqual(failure(sl, ["x": x]), "'m.onnx' cannot run on this input: node 'n' (Slice): Slice step 0 on axis 1")
        let c = try program("Concat", inputs: ["x", "z"], attributes: [ONNXAttribute(name: "axis", value: .int(0))])
        XCTAssertEqual(failure(c, ["x": x, "z": ONNXArray(floats: [1, 2], shape: [1, 2])]),
                       "'m.onnx' cannot run on this input: node 'n' (Concat): Concat of shapes [2, 3] and [1, 2] along axis 0")
        let t = try program("Transpose", attributes: [ONNXAttribute(name: "perm", value: .ints([0, 0]))])
        XCTAssertEqual(failure(t, ["x": x]), "'m.onnx' cannot run on this input: node 'n' (Transpose): Transpose's perm [0, 0] is not a permutation of the 2 axes")
        let k = try program("TopK", inputs: ["x", "k"], constants: ["k": ints([9])], outputs: ["v", "i"])
        XCTAssertEqual(failure(k, ["x": x]), "'m.onnx' cannot run on this input: node 'n' (TopK): TopK's K 9 is out of range for dimension 3")
        // Integer division by zero is an error, not a trap.
        let d = try program("Div", inputs: ["x", "z"])
        XCTAssertEqual(failure(d, ["x": ONNXArray(int64s: [1], shape: [1]), "z": ONNXArray(int64s: [0], shape: [1])]),
                       "'m.onnx' cannot run on this input: node 'n' (Div): Div: integer division by zero")
    }

    func testAttributeErrorsAreRefusedAtLoad() throws {
        XCTAssertThrowsError(try program("Concat", inputs: ["x", "z"])) { e in
            XCTAssertEqual("\(e)", "'m.onnx': invalid ONNX model: node 'n' (Concat): attribute 'axis' is required")
        }
        XCTAssertThrowsError(try program("Cast", attributes: [ONNXAttribute(name: "to", value: .int(17))])) { e in
            XCTAssertEqual("\(e)", "'m.onnx': invalid ONNX model: node 'n' (Cast): Cast to element type 17, which mlrepo does not run")
        }
        XCTAssertThrowsError(try program("Gelu", opset: 20, attributes: [ONNXAttribute(name: "approximate", value: .string(Array("fast".utf8)))])) { e in
            XCTAssertEqual("\(e)", "'m.onnx': invalid ONNX model: node 'n' (Gelu): attribute 'approximate' must be none or tanh, not 'fast'")
        }
        XCTAssertThrowsError(try program("Einsum")) { e in
            XCTAssertEqual("\(e)", "'m.onnx': invalid ONNX model: node 'n' (Einsum): operator Einsum is not supported by mlrepo")
        }
    }

    /// The decoder's fixture (MatMul, Add, Softmax written by the onnx package) runs, and agrees
    /// with the same arithmetic done here in Double.
    func testTheLogisticRegressionFixtureRuns() throws {
        let p = try ONNXProgram(path: ONNXDecoderTests.fixtures + "/logreg.onnx")
        let rows: [[Float]] = [[1, 2, 3, 4], [-1, 0.5, 0, 2], [0, 0, 0, 0]]
        let out = try p.run(["X": .tensor(ONNXArray(floats: rows.flatMap { $0 }, shape: [3, 4]))], backend: backend)
        let y = try XCTUnwrap(out["Y"]?.tensor)
        XCTAssertEqual(y.shape, [3, 3])
        let w = (0..<12).map { Double($0) / 8 }, b = [0.5, -0.25, 1.0]
        for (i, r) in rows.enumerated() {
            let z = (0..<3).map { j in (0..<4).reduce(b[j]) { $0 + Double(r[$1]) * w[$1 * 3 + j] } }
            let e = z.map { exp($0 - z.max()!) }
            for j in 0..<3 { XCTAssertEqual(Double(y.floats![i * 3 + j]), e[j] / e.reduce(0, +), accuracy: 1e-6) }
        }
    }

    /// Versioned semantics: Softmax coerces to 2-D before opset 13 and runs on one axis from 13.
    func testSoftmaxAxisSemanticsFollowTheOpset() throws {
        let x = ONNXArray(floats: [0, 0, 0, 0], shape: [1, 2, 2])
        let old = try program("Softmax", opset: 11).run(["x": .tensor(x)], backend: backend)["y"]?.tensor
        let new = try program("Softmax", opset: 13, attributes: [ONNXAttribute(name: "axis", value: .int(1))])
            .run(["x": .tensor(x)], backend: backend)["y"]?.tensor
        XCTAssertEqual(old?.floats, [0.25, 0.25, 0.25, 0.25])
        XCTAssertEqual(new?.floats, [0.5, 0.5, 0.5, 0.5])
    }
}
