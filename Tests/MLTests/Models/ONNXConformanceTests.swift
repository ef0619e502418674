import Compute
import Foundation
import XCTest
@testable import ML

/// ONNX's own backend node test cases (onnx 1.23.2's collect_testcases) for the ai.onnx
/// operators mlrepo claims, written by Tests/Fixtures/onnx/make_conformance.py in ONNX's
/// layout: model.onnx and test_data_set_0/{input,output}_N.pb. Every case must pass with the
/// tolerances ONNX's backend test uses (rtol, atol from the case: 1e-3 and 1e-7 by default;
/// exact for integers, bools and strings). The log gets a table of cases passed per operator
/// (docs/onnx-conformance.md records it).
final class ONNXConformanceTests: XCTestCase {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.lastPathComponent != "Tests" { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Fixtures/onnx/conformance").path
    }()

    struct Case {
        let name: String, op: String, opset: Int, inputs: Int, outputs: Int, rtol: Double, atol: Double
    }

    static func cases() throws -> [Case] {
        let text = try String(contentsOfFile: root + "/cases.tsv", encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let f = line.split(separator: "\t").map(String.init)
            return Case(name: f[0], op: f[1], opset: Int(f[2])!, inputs: Int(f[3])!, outputs: Int(f[4])!,
                        rtol: Double(f[5])!, atol: Double(f[6])!)
        }
    }

    /// A TensorProto file, decoded with the model decoder's own tensor reader.
    static func tensor(_ path: String) throws -> ONNXArray {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let t = try bytes.withUnsafeBytes { buf in try ONNXDecoder(buffer: buf).tensor(ProtobufReader(buf)) }
        return try ONNXArray(t)
    }

    /// Why `got` differs from `want`, or nil when it agrees within rtol/atol.
    static func mismatch(_ got: ONNXArray, _ want: ONNXArray, rtol: Double, atol: Double) -> String? {
        guard got.shape == want.shape else { return "shape \(got.shape), expected \(want.shape)" }
        func close(_ a: [Double], _ b: [Double]) -> String? {
            for (i, (x, y)) in zip(a, b).enumerated() {
                if x.isNaN && y.isNaN { continue }
                if x == y { continue }
                if !(abs(x - y) <= atol + rtol * abs(y)) { return "element \(i): \(x), expected \(y)" }
            }
            return nil
        }
        switch (got.storage, want.storage) {
        case (.float(let a), .float(let b)): return close(a.map(Double.init), b.map(Double.init))
        case (.double(let a), .double(let b)): return close(a, b)
        case (.int64(let a), .int64(let b)):
            if let i = a.indices.first(where: { a[$0] != b[$0] }) { return "element \(i): \(a[i]), expected \(b[i])" }
        case (.bool(let a), .bool(let b)):
            if let i = a.indices.first(where: { a[$0] != b[$0] }) { return "element \(i): \(a[i]), expected \(b[i])" }
        case (.string(let a), .string(let b)):
            if let i = a.indices.first(where: { a[$0] != b[$0] }) { return "element \(i): '\(a[i])', expected '\(b[i])'" }
        default: return "element type \(got.elementType.name), expected \(want.elementType.name)"
        }
        return nil
    }

    /// Runs one case; nil when it passes, else why not.
    static func run(_ c: Case, backend: any Backend) -> String? {
        let dir = root + "/" + c.name
        do {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/model.onnx")))
            let model = try ONNXModel.decode(bytes, path: c.name)
            if let v = model.opsetVersion(""), let r = ONNXOperators.opsetRange[""], v < r.lowerBound {
                // Below the operator sets mlrepo runs (ONNX's Not cases import opset 1): the case
                // passes when the model is refused at load, naming the opset.
                do { _ = try ONNXProgram(model, path: c.name) } catch { return "\(error)".contains("\(v)") ? nil : "\(error)" }
                return "an opset-\(v) model was accepted"
            }
            let program = try ONNXProgram(model, path: c.name)
            guard program.inputs.count == c.inputs, program.outputs.count == c.outputs else {
                return "\(program.inputs.count) inputs and \(program.outputs.count) outputs, expected \(c.inputs) and \(c.outputs)"
            }
            var feeds: [String: ONNXValue] = [:]
            for (i, info) in program.inputs.enumerated() {
                feeds[info.name] = .tensor(try tensor(dir + "/test_data_set_0/input_\(i).pb"))
            }
            let out = try program.run(feeds, backend: backend)
            for (i, info) in program.outputs.enumerated() {
                let want = try tensor(dir + "/test_data_set_0/output_\(i).pb")
                guard let got = out[info.name]?.tensor else { return "output '\(info.name)' missing" }
                if let why = mismatch(got, want, rtol: c.rtol, atol: c.atol) { return "output '\(info.name)': \(why)" }
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    func testEveryWrittenCasePasses() throws {
        let cases = try Self.cases()
        let dirs = try FileManager.default.contentsOfDirectory(atPath: Self.root).filter { $0 != "cases.tsv" }
        XCTAssertEqual(Set(dirs), Set(cases.map(\.name)), "cases.tsv and the case folders differ")
        XCTAssertGreaterThan(cases.count, 700)
        let backend = CPUBackend(threads: 2)
        var perOp: [String: (written: Int, passed: Int)] = [:]
        var failures: [String] = []
        for c in cases {
            let why = Self.run(c, backend: backend)
            perOp[c.op, default: (0, 0)].written += 1
            if let why { failures.append("\(c.name): \(why)") } else { perOp[c.op]!.passed += 1 }
        }
        // The table docs/onnx-conformance.md records.
        // Operators mlrepo does not run appear through their function expansions only (ONNX's
        // test_x_expanded cases: the same model written with the operators mlrepo has).
        var table = "| operator | cases | passed | |\n|---|---:|---:|---|\n"
        for (op, n) in perOp.sorted(by: { $0.key < $1.key }) {
            let note = ONNXOperators.isSupported(domain: "", op: op) ? "" : "expanded form only; not run as one node"
            table += "| \(op) | \(n.written) | \(n.passed) | \(note) |\n"
        }
        table += "| **total** | **\(cases.count)** | **\(cases.count - failures.count)** | |\n"
        print("ONNX conformance: \(cases.count - failures.count) of \(cases.count) cases passed\n" + table)
        for f in failures { print("FAIL " + f) }
        XCTAssertEqual(failures.count, 0, "\(failures.count) conformance cases fail; first: \(failures.prefix(5).joined(separator: "; "))")
    }

    /// The comparison itself fails on a wrong value, shape or type (so a pass means something).
    func testComparisonRejectsDifferences() {
        let a = ONNXArray(floats: [1, 2, 3], shape: [3])
        XCTAssertNil(Self.mismatch(a, ONNXArray(floats: [1, 2, 3.0001], shape: [3]), rtol: 1e-3, atol: 1e-7))
        XCTAssertNotNil(Self.mismatch(a, ONNXArray(floats: [1, 2, 3.1], shape: [3]), rtol: 1e-3, atol: 1e-7))
        XCTAssertNotNil(Self.mismatch(a, ONNXArray(floats: [1, 2, 3], shape: [1, 3]), rtol: 1e-3, atol: 1e-7))
        XCTAssertNotNil(Self.mismatch(a, ONNXArray(int64s: [1, 2, 3], shape: [3]), rtol: 1e-3, atol: 1e-7))
        XCTAssertNotNil(Self.mismatch(ONNXArray(int64s: [1, 2, 3], shape: [3]), ONNXArray(int64s: [1, 2, 4], shape: [3]), rtol: 1, atol: 1))
    }
}
