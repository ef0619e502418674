import XCTest
@testable import ML
import Store
import Support
import Foundation

/// The registry: the worked example of .mlrepo-format.md §12.3 (a promotion record), recomputed,
/// and the metric checks that gate a promotion.
final class RegistryFormatTests: XCTestCase {
    var spec: String { (try? String(contentsOfFile: MLFormatSpecTests.specPath, encoding: .utf8)) ?? "" }

    func testExample9PromotionRecord() {
        let p = Promotion(alias: "production", path: "models/iris.mlmodel",
                          modelId: "be0da5c73e12a348b8bdda485aab62fad5a8a5cf50842910f4155b8561ca33bb",
                          commit: "4913bbcbcaeb3d8d8e0f02c6aa5a85778ac673d2807afde00fb869093291f49c",
                          by: "Ada <ada@example.com>", time: "2026-11-23T06:00:00Z",
                          checks: [.object(["check": .string("accuracy>=0.9"), "passed": .bool(true), "value": .number(0.97)])],
                          note: nil, id: ObjectId(hex: String(repeating: "0", count: 64))!)
        let text = p.json.encoded()
        XCTAssertTrue(spec.contains(text), "the record is not quoted in .mlrepo-format.md:\n\(text)")
        let id = ObjectHash.id(.blob, Array(text.utf8))
        XCTAssertTrue(spec.contains(id.hex), "its id \(id.hex) is not quoted in .mlrepo-format.md")
    }

    static let onnxFixture = URL(fileURLWithPath: MLFormatSpecTests.specPath).deletingLastPathComponent()
        .appendingPathComponent("Tests/Fixtures/onnx/logreg.onnx").path

    /// Example 9b: a promotion of an ONNX model with its format, size, signature (read from
    /// Tests/Fixtures/onnx/logreg.onnx) and a check with the file, key and threshold it read.
    func testExample9bPromotionRecordWithFormatAndSignature() throws {
        let bytes = try FS.readFile(Self.onnxFixture)
        let model = ObjectHash.id(.blob, bytes)
        let sig = ModelSignature(onnx: try ONNXModel.decode(bytes))
        let p = Promotion(alias: "production", path: "models/logreg.onnx", modelId: model.hex,
                          commit: "4913bbcbcaeb3d8d8e0f02c6aa5a85778ac673d2807afde00fb869093291f49c",
                          by: "Ada <ada@example.com>", time: "2026-12-06T12:00:00Z",
                          checks: [.object(["check": .string("accuracy>=0.9"), "file": .string("eval.json"), "key": .string("accuracy"),
                                            "op": .string(">="), "threshold": .number(0.9), "value": .number(0.97), "passed": .bool(true)])],
                          note: nil, id: ObjectId(hex: String(repeating: "0", count: 64))!,
                          format: "onnx", size: UInt64(bytes.count), signature: sig)
        let text = p.json.encoded()
        XCTAssertTrue(spec.contains(text), "the record is not quoted in .mlrepo-format.md:\n\(text)")
        let id = ObjectHash.id(.blob, Array(text.utf8))
        XCTAssertTrue(spec.contains(id.hex), "its id \(id.hex) is not quoted in .mlrepo-format.md")
        // It reads back to the same record, the same bytes.
        let back = try XCTUnwrap(Promotion(json: JSON.parse(text), id: p.id))
        XCTAssertEqual(back.format, "onnx")
        XCTAssertEqual(back.size, 327)
        XCTAssertEqual(back.signature, sig)
        XCTAssertEqual(back.json.encoded(), text)
        XCTAssertEqual(sig.compact(), "in: X float[N,4]  out: Y float[N,3]")
    }

    /// Example 9c: a promotion of an ONNX model whose run read `data/train.csv` stores the
    /// training statistics as a blob (named by the record's `training_stats` and the commit's
    /// `training-stats` header), computed the way `promote` does (one streaming pass).
    func testExample9cTrainingStatistics() throws {
        let csv = "a,b,label\n1,10,0\n2,20,1\n3,30,0\n4,40,1\n5,50,0\n"
        let data = ObjectHash.id(.blob, Array(csv.utf8))
        let profiler = CSVProfiler(path: "data/train.csv", quantileLevels: MLRepo.decileLevels)
        try Array(csv.utf8).withUnsafeBytes { try profiler.feed($0) }
        let profile = try profiler.finish()
        let td = TrainingData(path: "data/train.csv", id: data, stage: "train", columns: profile.columns.map(\.name), label: "label",
                              columnStats: MLRepo.columnStats(profile, features: ["a", "b"]))
        let statsText = td.json.encoded()
        XCTAssertTrue(spec.contains(statsText), "the statistics are not quoted in .mlrepo-format.md:\n\(statsText)")
        let statsId = ObjectHash.id(.blob, Array(statsText.utf8))
        XCTAssertTrue(spec.contains(statsId.hex), "their id \(statsId.hex) is not quoted in .mlrepo-format.md")
        let bytes = try FS.readFile(Self.onnxFixture)
        var p = Promotion(alias: "production", path: "models/logreg.onnx", modelId: ObjectHash.id(.blob, bytes).hex,
                          commit: "4913bbcbcaeb3d8d8e0f02c6aa5a85778ac673d2807afde00fb869093291f49c",
                          by: "Ada <ada@example.com>", time: "2026-12-06T12:00:00Z", checks: [],
                          note: nil, id: ObjectId(hex: String(repeating: "0", count: 64))!,
                          format: "onnx", size: UInt64(bytes.count), signature: ModelSignature(onnx: try ONNXModel.decode(bytes)))
        p.trainingStats = statsId
        let text = p.json.encoded()
        XCTAssertTrue(spec.contains(text), "the record is not quoted in .mlrepo-format.md:\n\(text)")
        XCTAssertTrue(spec.contains(ObjectHash.id(.blob, Array(text.utf8)).hex), "the record's id \(ObjectHash.id(.blob, Array(text.utf8)).hex) is not quoted")
        let back = try XCTUnwrap(Promotion(json: JSON.parse(text), id: p.id))
        XCTAssertEqual(back.trainingStats, statsId)
        XCTAssertNil(back.trainingStatsOff)
        XCTAssertEqual(back.json.encoded(), text)
        // Without lineage the record says why instead.
        p.trainingStats = nil
        p.trainingStatsOff = "stage 'train', which wrote models/logreg.onnx, read no CSV file"
        let off = try XCTUnwrap(Promotion(json: JSON.parse(p.json.encoded()), id: p.id))
        XCTAssertEqual(off.trainingStatsOff, p.trainingStatsOff)
        XCTAssertNil(off.trainingStats)
    }

    /// A record written before format, size and signature were recorded (Example 9) reads,
    /// with them nil; malformed optional fields are dropped, not fatal.
    func testOlderAndOddRecordsRead() throws {
        let old = #"{"alias":"production","by":"Ada <ada@example.com>","checks":[{"check":"accuracy>=0.9","passed":true,"value":0.97}],"commit":"4913bbcbcaeb3d8d8e0f02c6aa5a85778ac673d2807afde00fb869093291f49c","model":"be0da5c73e12a348b8bdda485aab62fad5a8a5cf50842910f4155b8561ca33bb","path":"models/iris.mlmodel","time":"2026-11-23T06:00:00Z","type":"promotion"}"#
        XCTAssertTrue(spec.contains(old), "Example 9 is quoted as it was")
        let zero = ObjectId(hex: String(repeating: "0", count: 64))!
        let p = try XCTUnwrap(Promotion(json: JSON.parse(old), id: zero))
        XCTAssertNil(p.format); XCTAssertNil(p.size); XCTAssertNil(p.signature); XCTAssertNil(p.signatureError)
        XCTAssertEqual(p.checks.first?["value"]?.doubleValue, 0.97)
        XCTAssertEqual(p.json.encoded(), old, "re-encoding an old record adds nothing")
        let odd = #"{"type":"promotion","path":"m.onnx","commit":"c","format":7,"size":-1,"signature":{"inputs":"x"},"signature_error":["?"]}"#
        let q = try XCTUnwrap(Promotion(json: JSON.parse(odd), id: zero))
        XCTAssertNil(q.format); XCTAssertNil(q.size); XCTAssertNil(q.signature); XCTAssertNil(q.signatureError)
        XCTAssertNil(p.trainingStats); XCTAssertNil(p.trainingStatsOff)
        XCTAssertNil(try XCTUnwrap(Promotion(json: JSON.parse(#"{"type":"promotion","path":"m.onnx","commit":"c","training_stats":"nothex"}"#), id: zero)).trainingStats)
        XCTAssertNil(Promotion(json: try JSON.parse(#"{"type":"commit","path":"m","commit":"c"}"#), id: zero))
    }

    /// Signatures: an mlrepo model's, and the bound on what one record holds.
    func testSignatures() throws {
        let clf = ModelFile(type: "logistic_regression", header: ["features": .array([.string("a"), .string("b")]), "classes": .array([.string("no"), .string("yes")])], tensors: [])
        let s = ModelSignature(mlmodel: clf)
        XCTAssertEqual(s.compact(), "in: a float[N], b float[N]  out: prediction string[N], probabilities float[N,2]")
        XCTAssertEqual(s.classes, ["no", "yes"])
        XCTAssertEqual(ModelSignature(json: s.json), s)
        let pca = ModelFile(type: "pca", header: ["features": .array([.string("a")])], tensors: [.init(name: "components", rows: 3, cols: 1, values: [1, 2, 3])])
        XCTAssertEqual(ModelSignature(mlmodel: pca).compact(), "in: a float[N]  out: components float[N,3]")
        XCTAssertEqual(ModelSignature(mlmodel: ModelFile(type: "kmeans", header: [:], tensors: [])).outputs.first?.type, "int64")
        // A model with more inputs than a record holds: the first ones and a count.
        let wide = (0..<(ModelSignature.maxEntries + 5)).map { ModelSignature.Value(name: "f\($0)", type: "float", shape: [.string("N")]) }
        let w = ModelSignature(inputs: wide, outputs: [ModelSignature.Value(name: "y", type: nil, shape: nil)])
        XCTAssertEqual(w.inputs.count, ModelSignature.maxEntries)
        XCTAssertEqual(w.inputsOmitted, 5)
        XCTAssertEqual(ModelSignature(json: w.json), w)
        XCTAssertTrue(w.compact(limit: 2).hasPrefix("in: f0 float[N], f1 float[N], … (+\(ModelSignature.maxEntries + 3) more)  out: y ?"), w.compact(limit: 2))
        XCTAssertEqual(ModelSignature.Value(name: "x", type: "float", shape: [.string("N"), .null, .int(3)]).compact, "x float[N,?,3]")
    }

    /// A hostile model's claims cannot make the signature (and so the promotion record) large:
    /// names are cut at 256 bytes, each list at 340 KiB of JSON, and the rest is counted.
    func testSignatureIsBounded() {
        let long = String(repeating: "n", count: 5_000)
        let v = ModelSignature.Value(name: long, type: "float", shape: Array(repeating: .string(long), count: 64))
        let sig = ModelSignature(inputs: Array(repeating: v, count: 2_000), outputs: [v], classes: Array(repeating: long, count: 5_000))
        XCTAssertEqual(sig.inputs.first?.name.utf8.count, 256 + "…".utf8.count)
        XCTAssertEqual(sig.inputs.count + sig.inputsOmitted, 2_000)
        XCTAssertGreaterThan(sig.inputsOmitted, 1_000)
        XCTAssertEqual(sig.classes!.count + sig.classesOmitted, 5_000)
        XCTAssertLessThan(sig.json.encoded().utf8.count, 1_100_000)
    }

    func testMetricCheckParsing() throws {
        XCTAssertEqual(try MetricCheck.parse("accuracy>=0.9"), MetricCheck(key: "accuracy", op: ">=", value: 0.9, text: "accuracy>=0.9"))
        XCTAssertEqual(try MetricCheck.parse("eval.json:rmse < 3").key, "eval.json:rmse")
        XCTAssertTrue(try MetricCheck.parse("loss!=0").holds(1))
        XCTAssertFalse(try MetricCheck.parse("r2>0.5").holds(0.5))
        for bad in ["accuracy", "accuracy=>1", ">=1", "a>=x", "a>=nan"] {
            XCTAssertThrowsError(try MetricCheck.parse(bad), bad)
        }
    }
}
