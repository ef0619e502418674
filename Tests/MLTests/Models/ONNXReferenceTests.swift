import Compute
import Foundation
import Support
import XCTest
@testable import ML

/// Reference models against onnxruntime (issue 15): scikit-learn, LightGBM, XGBoost and
/// PyTorch models exported to ONNX, with 1,000 rows of inputs and onnxruntime's outputs,
/// written by Tests/Fixtures/onnx/make_reference.py (pinned versions). Every output must agree:
/// labels exactly (a row whose two best expected scores are within the tolerance is a tie and
/// may go either way), scores within 1e-5 relative with an absolute floor of 1e-6.
final class ONNXReferenceTests: XCTestCase {
    static let dir: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.lastPathComponent != "Tests" { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Fixtures/onnx/reference").path
    }()

    static let relative: Float = 1e-5
    static let absolute: Float = 1e-6

    struct Outcome {
        var maxError: Float = 0      // largest |ours - expected| / max(|expected| * relative / absolute, …) in units of the tolerance
        var maxRelative: Float = 0   // largest |ours - expected| / max(|expected|, absolute / relative)
        var ties = 0
        var failures: [String] = []
    }

    // MARK: - Fixture reading

    static func manifest(_ name: String) throws -> JSON {
        let text = try String(contentsOfFile: dir + "/" + name + ".json", encoding: .utf8)
        return try JSON.parse(text)
    }

    static func ints(_ j: JSON?) -> [Int] {
        (j?.arrayValue ?? []).compactMap { $0.doubleValue.map { Int($0) } }
    }

    /// A tensor from the manifest entry (binary file or listed strings).
    static func tensor(_ e: JSON) throws -> ONNXArray {
        let shape = ints(e["shape"])
        let type = e["type"]?.stringValue ?? ""
        if type == "string" {
            return ONNXArray(strings: (e["values"]?.arrayValue ?? []).map { $0.stringValue ?? "" }, shape: shape)
        }
        guard let file = e["file"]?.stringValue else { throw ONNXRunError("manifest entry without file") }
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + file))
        let bytes = [UInt8](data)
        switch type {
        case "float32":
            let n = bytes.count / 4
            let v = (0..<n).map { i in
                Float(bitPattern: UInt32(bytes[4 * i]) | UInt32(bytes[4 * i + 1]) << 8 | UInt32(bytes[4 * i + 2]) << 16 | UInt32(bytes[4 * i + 3]) << 24)
            }
            return ONNXArray(floats: v, shape: shape)
        case "int64":
            let n = bytes.count / 8
            let v = (0..<n).map { i in
                var x: UInt64 = 0
                for k in 0..<8 { x |= UInt64(bytes[8 * i + k]) << (8 * k) }
                return Int64(bitPattern: x)
            }
            return ONNXArray(int64s: v, shape: shape)
        default:
            throw ONNXRunError("manifest type \(type)")
        }
    }

    // MARK: - Comparison

    static func close(_ a: Float, _ e: Float) -> Bool {
        if a.isNaN || e.isNaN { return a.isNaN && e.isNaN }
        if a == e { return true }
        return abs(a - e) <= max(relative * abs(e), absolute)
    }

    /// Whether row `r` of `scores` has its best two values (largest or smallest) within the
    /// tolerance of each other: a tie for the label.
    static func isTie(_ scores: ONNXArray?, row r: Int) -> Bool {
        guard let s = scores, let f = s.asFloats, s.rank == 2 else { return false }
        let c = s.shape[1]
        let v = f[(r * c)..<((r + 1) * c)].sorted()
        guard v.count >= 2 else { return false }
        return close(v[v.count - 1], v[v.count - 2]) || close(v[0], v[1])
    }

    static func compareFloats(_ got: [Float], _ want: [Float], _ what: String, into o: inout Outcome) {
        guard got.count == want.count else {
            o.failures.append("\(what): \(got.count) values, expected \(want.count)"); return
        }
        var bad = 0
        for (i, (a, e)) in zip(got, want).enumerated() {
            let err = abs(a - e)
            if !(a.isNaN && e.isNaN) {
                o.maxRelative = max(o.maxRelative, err / max(abs(e), absolute / relative))
            }
            if !close(a, e) {
                bad += 1
                if bad <= 3 { o.failures.append("\(what)[\(i)] = \(a), onnxruntime \(e)") }
            }
        }
        if bad > 3 { o.failures.append("\(what): \(bad) values differ in all") }
    }

    /// Runs model `name` over its rows and compares every output.
    static func check(_ name: String) throws -> Outcome {
        let m = try manifest(name)
        let program = try ONNXProgram(path: dir + "/" + (m["model"]?.stringValue ?? ""))
        var feeds: [String: ONNXValue] = [:]
        for e in m["inputs"]?.arrayValue ?? [] { feeds[e["name"]?.stringValue ?? ""] = .tensor(try tensor(e)) }
        let got = try program.run(feeds, backend: CPUBackend(threads: 2))
        var o = Outcome()
        let outputs = m["outputs"]?.arrayValue ?? []
        // The score output that decides ties: the first 2-D float tensor (or map sequence).
        var tieScores: ONNXArray?
        for e in outputs where tieScores == nil {
            if e["kind"]?.stringValue == "mapSequence" || (e["type"]?.stringValue == "float32" && ints(e["shape"]).count == 2) {
                tieScores = try tensor(e)
            }
        }
        for e in outputs {
            let name = e["name"]?.stringValue ?? ""
            guard let value = got[name] else { o.failures.append("output \(name) missing"); continue }
            let want = try tensor(e)
            if e["kind"]?.stringValue == "mapSequence" {
                guard case .mapSequence(let keys, let rows) = value else { o.failures.append("\(name) is not a sequence of maps"); continue }
                let wantKeys: [String] = (e["keys"]?.arrayValue ?? []).map { $0.stringValue ?? "\(Int64($0.doubleValue ?? 0))" }
                let gotKeys: [String] = keys.strings ?? (keys.int64s ?? []).map { "\($0)" }
                if gotKeys != wantKeys { o.failures.append("\(name) keys \(gotKeys), expected \(wantKeys)") }
                compareFloats(rows.flatMap { $0 }, want.floats ?? [], name, into: &o)
                continue
            }
            guard let t = value.tensor else { o.failures.append("\(name) is not a tensor"); continue }
            let wantShape = ints(e["shape"])
            if t.shape != wantShape { o.failures.append("\(name) has shape \(t.shape), expected \(wantShape)") }
            switch want.storage {
            case .float(let w):
                guard let f = t.asFloats, t.elementType == .float || t.elementType == .double else {
                    o.failures.append("\(name) is \(t.elementType.name), expected float"); continue
                }
                compareFloats(f, w, name, into: &o)
            case .int64(let w):
                guard let g = t.int64s, g.count == w.count else { o.failures.append("\(name): not \(w.count) int64 values"); continue }
                let rowsPer = max(1, w.count / max(1, wantShape.first ?? 1))
                for i in 0..<w.count where g[i] != w[i] {
                    if isTie(tieScores, row: i / rowsPer) { o.ties += 1 } else if o.failures.count < 8 {
                        o.failures.append("\(name)[\(i)] = \(g[i]), onnxruntime \(w[i])")
                    }
                }
            case .string(let w):
                guard let g = t.strings, g.count == w.count else { o.failures.append("\(name): not \(w.count) strings"); continue }
                for i in 0..<w.count where g[i] != w[i] {
                    if isTie(tieScores, row: i) { o.ties += 1 } else if o.failures.count < 8 {
                        o.failures.append("\(name)[\(i)] = \(g[i]), onnxruntime \(w[i])")
                    }
                }
            default:
                o.failures.append("\(name): unexpected expected type")
            }
        }
        return o
    }

    /// The standard (ai.onnx) operator a model needs and mlrepo does not have yet, if that is
    /// why it was refused.
    static func missingStandardOperator(_ error: Error) -> String? {
        let text = "\(error)"
        guard text.contains("is not supported by mlrepo"), !text.contains("operator ai.onnx.ml.") else { return nil }
        return text
    }

    func run(_ name: String) throws {
        let o: Outcome
        do { o = try Self.check(name) } catch {
            if let why = Self.missingStandardOperator(error) { throw XCTSkip("\(name): needs a standard operator mlrepo lacks: \(why)") }
            throw error
        }
        print("reference \(name): max relative error \(o.maxRelative), ties \(o.ties)")
        XCTAssert(o.failures.isEmpty, "\(name): " + o.failures.joined(separator: "; "))
    }

    func testLogisticRegression() throws { try run("logreg") }
    func testLinearRegression() throws { try run("linreg") }
    func testRidge() throws { try run("ridge") }
    func testLasso() throws { try run("lasso") }
    func testSGDClassifier() throws { try run("sgd") }
    func testLinearSVC() throws { try run("linearsvc") }
    func testScalerPipeline() throws { try run("scalers") }
    func testSimpleImputerWithNaNs() throws { try run("imputer") }
    func testColumnTransformerWithStringCategories() throws { try run("columns") }
    func testDecisionTree() throws { try run("dtree") }
    func testRandomForest() throws { try run("forest") }
    func testExtraTrees() throws { try run("extratrees") }
    func testGradientBoosting300Trees() throws { try run("gb300") }
    func testHistGradientBoostingRegressorWithNaNs() throws { try run("hgb") }
    func testHistGradientBoostingClassifier() throws { try run("hgbc") }
    func testKMeans() throws { try run("kmeans") }
    func testMLPClassifier() throws { try run("mlp") }
    func testLightGBMClassifier() throws { try run("lgbm_clf") }
    func testLightGBMRegressorWithNaNs() throws { try run("lgbm_reg") }
    func testXGBoostClassifier() throws { try run("xgb") }
    func testPyTorchMLP() throws { try run("torch_mlp") }
    func testTreeEnsembleOpset5() throws { try run("tree5") }
    func testTreeEnsembleOpset5MembershipAndMissingValues() throws { try run("tree5_members") }

    /// Tree models fed one row and three rows at a time (the few-rows path walks four trees
    /// together) give the same bits as the 1,000-row batch, which matched onnxruntime above.
    func testTreeModelsRowByRowMatchTheBatch() throws {
        for name in ["gb300", "lgbm_clf", "lgbm_reg", "xgb", "hgb", "forest", "extratrees", "tree5", "tree5_members", "dtree"] {
            let m = try Self.manifest(name)
            let program = try ONNXProgram(path: Self.dir + "/" + (m["model"]?.stringValue ?? ""))
            let input = try Self.tensor(m["inputs"]!.arrayValue![0])
            let inputName = m["inputs"]!.arrayValue![0]["name"]!.stringValue!
            let width = input.shape[1]
            let all = input.floats!
            let backend = CPUBackend(threads: 1)
            let batch = try program.run([inputName: .tensor(input)], backend: backend)
            for (start, rows) in [(0, 1), (1, 1), (7, 1), (20, 3), (500, 2), (997, 3)] {
                let slice = ONNXArray(floats: Array(all[(start * width)..<((start + rows) * width)]), shape: [rows, width])
                let got = try program.run([inputName: .tensor(slice)], backend: backend)
                for (key, value) in batch {
                    switch (value, got[key]) {
                    case (.tensor(let b), .tensor(let g)?):
                        let per = b.count / b.shape[0]
                        let range = (start * per)..<((start + rows) * per)
                        if let bf = b.floats { XCTAssertEqual(Array(bf[range]), g.floats, "\(name) \(key) rows \(start)+\(rows)") }
                        if let bi = b.int64s { XCTAssertEqual(Array(bi[range]), g.int64s, "\(name) \(key) rows \(start)+\(rows)") }
                    case (.mapSequence(_, let b), .mapSequence(_, let g)?):
                        XCTAssertEqual(Array(b[start..<(start + rows)]), g, "\(name) \(key) rows \(start)+\(rows)")
                    default:
                        XCTFail("\(name) \(key): output missing or of another kind")
                    }
                }
            }
        }
    }

    /// Every manifest in the folder has a test above, and at least 15 models with 1,000 rows.
    func testEveryFixtureIsCovered() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.dir).filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }
        let covered: Set<String> = ["logreg", "linreg", "ridge", "lasso", "sgd", "linearsvc", "scalers", "imputer", "columns", "dtree",
                                    "forest", "extratrees", "gb300", "hgb", "hgbc", "kmeans", "mlp", "lgbm_clf", "lgbm_reg", "xgb",
                                    "torch_mlp", "tree5", "tree5_members"]
        XCTAssertEqual(Set(names), covered)
        for n in names { XCTAssertGreaterThanOrEqual(Int(try Self.manifest(n)["rows"]?.doubleValue ?? 0), 1000, n) }
    }
}
