import Compute
import XCTest
@testable import ML

/// Gemm's paths through the backend's `linear` (constant B laid out at load, C as a bias
/// row, small and large batches, narrow and wide outputs) and its general path (C per
/// element, B fed at run time) against a Double reference.
final class ONNXGemmPathTests: XCTestCase {
    /// A one-node model: inputs fed by the caller, constants as initializers.
    func program(_ op: String, inputs: [String], constants: [String: ONNXTensor] = [:],
                 attributes: [ONNXAttribute] = []) throws -> ONNXProgram {
        var g = ONNXGraph()
        g.name = "g"
        g.nodes = [ONNXNode(name: "n", opType: op, domain: "", inputs: inputs, outputs: ["y"], attributes: attributes)]
        g.initializers = constants.map { k, v in var t = v; t.name = k; return t }
        g.inputs = inputs.filter { !$0.isEmpty && constants[$0] == nil }.map { ONNXValueInfo(name: $0, kind: .tensor, elementType: nil, shape: nil) }
        g.outputs = [ONNXValueInfo(name: "y", kind: .tensor, elementType: nil, shape: nil)]
        var m = ONNXModel()
        m.irVersion = 8
        m.opsets = [("", 17)]
        m.graph = g
        return try ONNXProgram(m, path: "m.onnx")
    }

    func tensor(_ v: [Float], _ dims: [Int]) -> ONNXTensor {
        ONNXTensor(name: "", dataType: 1, dims: dims.map { Int64($0) }, values: .floats(v))
    }

    func values(_ rng: inout UInt64, _ n: Int) -> [Float] {
        (0..<n).map { _ in
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(rng >> 40) % 2001 - 1000) / 500
        }
    }

    func run(_ p: ONNXProgram, _ feeds: [String: ONNXArray], threads: Int) throws -> [Float] {
        let out = try p.run(feeds.mapValues { .tensor($0) }, backend: CPUBackend(threads: threads))
        guard case .tensor(let y)? = out["y"], let f = y.floats else { throw ONNXRunError("no float output") }
        return f
    }

    func testGemmPathsMatchTheReference() throws {
        var rng: UInt64 = 7
        let alpha: Float = 0.5, beta: Float = 2
        let attrs = { (transB: Int64) in
            [ONNXAttribute(name: "alpha", value: .float(alpha)), ONNXAttribute(name: "beta", value: .float(beta)),
             ONNXAttribute(name: "transB", value: .int(transB))]
        }
        for k in [1, 37] {
            for n in [2, 12, 40] {
                for transB in [Int64(0), 1] {
                    let b = values(&rng, k * n)
                    let bDims = transB == 1 ? [n, k] : [k, n]
                    // C: none, a row [n], [1, n], a scalar [1], a column [m, 1] (m = 3), a full [m, n].
                    let cases: [(name: String, dims: [Int]?, m: [Int])] = [
                        ("none", nil, [1, 3, 9, 20]), ("row", [n], [1, 9, 20]), ("1×n", [1, n], [1, 20]),
                        ("scalar", [1], [1, 20]), ("column", [3, 1], [3]), ("full", [3, n], [3]),
                    ]
                    for c in cases {
                        let cv = c.dims.map { values(&rng, $0.reduce(1, *)) }
                        for feedB in [false, true] {
                            var constants = feedB ? [:] : ["b": tensor(b, bDims)]
                            if let cv, let d = c.dims { constants["c"] = tensor(cv, d) }
                            let p = try program("Gemm", inputs: c.dims == nil ? ["x", "b"] : ["x", "b", "c"],
                                                constants: constants, attributes: attrs(transB))
                            for m in c.m {
                                let x = values(&rng, m * k)
                                var feeds = ["x": ONNXArray(floats: x, shape: [m, k])]
                                if feedB { feeds["b"] = ONNXArray(floats: b, shape: bDims) }
                                let got = try run(p, feeds, threads: 1)
                                let label = "k \(k) n \(n) transB \(transB) C \(c.name) m \(m) fed B \(feedB)"
                                XCTAssertEqual(got.map(\.bitPattern), try run(p, feeds, threads: 3).map(\.bitPattern), "\(label): 1 vs 3 threads")
                                XCTAssertEqual(got.count, m * n, label)
                                for i in 0..<m {
                                    for j in 0..<n {
                                        var s = 0.0, mag = 0.0
                                        for q in 0..<k {
                                            let bv = Double(transB == 1 ? b[j * k + q] : b[q * n + j])
                                            s += Double(x[i * k + q]) * bv; mag += abs(Double(x[i * k + q]) * bv)
                                        }
                                        var want = Double(alpha) * s
                                        if let cv, let d = c.dims {
                                            let ci = d.count == 2 ? (d[0] == 1 ? 0 : i) * d[1] + (d[1] == 1 ? 0 : j) : (d[0] == 1 ? 0 : j)
                                            want += Double(beta) * Double(cv[ci])
                                        }
                                        XCTAssertEqual(Double(got[i * n + j]), want, accuracy: 1e-5 * (mag + 1), "\(label) [\(i), \(j)]")
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// A constant B that is shared: running the program does not change the initializer's
    /// values (B is read in place, never written).
    func testConstantWeightsStayUnchanged() throws {
        var rng: UInt64 = 9
        let b = values(&rng, 30 * 16), c = values(&rng, 16)
        let p = try program("Gemm", inputs: ["x", "b", "c"], constants: ["b": tensor(b, [16, 30]), "c": tensor(c, [16])],
                            attributes: [ONNXAttribute(name: "transB", value: .int(1))])
        let x = ONNXArray(floats: values(&rng, 2 * 30), shape: [2, 30])
        let first = try run(p, ["x": x], threads: 1)
        for _ in 0..<3 { XCTAssertEqual(try run(p, ["x": x], threads: 2), first) }
        XCTAssertEqual(p.constants.count, 2)
        for (_, v) in p.constants {
            guard case .tensor(let t) = v, let f = t.floats else { continue }
            XCTAssertTrue(f == b || f == c, "a constant changed")
        }
    }
}
