import XCTest
import Compute
import ML
import Support
@testable import ComputeGPU

/// The built-in models trained on the GPU backend (on the emulator) against the CPU backend:
/// the same seed gives the same model within the tolerance stated per model, and two GPU
/// runs give bit-identical model files.
final class GPUModelTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/datasets")

    var device: EmulatedDevice!

    override func setUpWithError() throws {
        if let why = EmulatedDevice.unavailableReason { throw XCTSkip(why) }
        device = try EmulatedDevice()
    }

    /// The iris fixture: species as the label, or (`regression`) sepal length from the other
    /// three measurements.
    var regression = false
    func iris(_ part: String = "train") throws -> Dataset {
        let path = Self.fixtures.appendingPathComponent("iris_\(part).csv").path
        if regression {
            return try DatasetReader.readCSV(path: path, label: "sepal_length", features: ["sepal_width", "petal_length", "petal_width"], threads: 1)
        }
        return try DatasetReader.readCSV(path: path, label: "species", threads: 1)
    }

    /// Trains `type` with `params` on the CPU and twice on the emulated GPU; returns the
    /// largest difference between the CPU's and the GPU's predicted probabilities/values on
    /// the test rows, after checking the two GPU runs are bit-identical.
    func compare(_ type: ModelType, _ params: [String: JSON], label: Bool = true) throws -> (maxDiff: Double, cpuAccuracy: Double, gpuAccuracy: Double) {
        func train(_ be: any Backend) throws -> ModelFile {
            var d = try iris()
            if !label { d.label = nil; d.labelName = nil }
            let r = try trainModel(type, data: &d, params: params, seed: 7, backend: be)
            try be.checkError()
            return r.model
        }
        let cpu = try train(CPUBackend(threads: 1))
        let gpu1 = try train(GPUBackend(device: device, maxGridBlocks: 3))
        let gpu2 = try train(GPUBackend(device: device, maxGridBlocks: 1))
        XCTAssertEqual(gpu1.encode(), gpu2.encode(), "\(type.rawValue): two GPU runs (grid limits 3 and 1) give bit-identical model files")
        let test = try iris("test")
        let scorer = CPUBackend(threads: 1)
        let pc = try predict(cpu, features: test.features, rows: test.rows, backend: scorer)
        let pg = try predict(gpu1, features: test.features, rows: test.rows, backend: scorer)
        // The GPU backend scores too: the same predictions as the CPU scoring the same model.
        let pgOnGPU = try predict(gpu1, features: test.features, rows: test.rows, backend: GPUBackend(device: device, maxGridBlocks: 2))
        let a = pc.probabilities ?? pc.values.map { $0.map(Float.init) } ?? pc.components ?? []
        let b = pg.probabilities ?? pg.values.map { $0.map(Float.init) } ?? pg.components ?? []
        let c = pgOnGPU.probabilities ?? pgOnGPU.values.map { $0.map(Float.init) } ?? pgOnGPU.components ?? []
        XCTAssertEqual(a.count, b.count)
        XCTAssertEqual(b.count, c.count)
        var diff = 0.0
        if type == .kmeans, let la = pc.labels, let lb = pg.labels {
            diff = Double(zip(la, lb).filter { $0 != $1 }.count)
        }
        for i in 0..<min(a.count, b.count) { diff = max(diff, abs(Double(a[i]) - Double(b[i]))) }
        for i in 0..<min(b.count, c.count) {
            XCTAssertEqual(Double(b[i]), Double(c[i]), accuracy: 1e-5 * max(1, abs(Double(b[i]))), "\(type.rawValue): GPU scoring of row value \(i)")
        }
        if pg.labels != nil { XCTAssertEqual(pg.labels, pgOnGPU.labels, "\(type.rawValue): labels scored on the GPU") }
        func accuracy(_ p: Prediction) -> Double {
            guard let l = p.labels, let truth = test.label else { return 0 }
            let names = cpu.classes ?? []
            var right = 0
            guard case .categorical(let codes, let truthNames) = truth else { return 0 }
            for i in 0..<test.rows where Int(l[i]) < names.count && names[Int(l[i])] == truthNames[Int(codes[i])] { right += 1 }
            return Double(right) / Double(test.rows)
        }
        return (diff, accuracy(pc), accuracy(pg))
    }

    func testLogisticRegressionAdam() throws {
        let r = try compare(.logisticRegression, ["optimizer": .string("adam"), "epochs": .int(5), "batch_size": .int(32), "learning_rate": .number(0.1)])
        XCTAssertLessThan(r.maxDiff, 1e-4, "probabilities within 1e-4")
        XCTAssertEqual(r.gpuAccuracy, r.cpuAccuracy)
    }

    func testLogisticRegressionLBFGS() throws {
        let r = try compare(.logisticRegression, [:])
        XCTAssertLessThan(r.maxDiff, 1e-3, "probabilities within 1e-3 (L-BFGS amplifies rounding over its iterations)")
        XCTAssertEqual(r.gpuAccuracy, r.cpuAccuracy)
    }

    func testMLPClassifier() throws {
        let r = try compare(.mlpClassifier, ["hidden_layers": .array([.int(16)]), "epochs": .int(4), "batch_size": .int(32),
                                             "early_stopping": .bool(false), "learning_rate": .number(0.01)])
        XCTAssertLessThan(r.maxDiff, 1e-3, "probabilities within 1e-3")
        XCTAssertEqual(r.gpuAccuracy, r.cpuAccuracy)
    }

    func testMLPWithSGD() throws {
        let r = try compare(.mlpClassifier, ["hidden_layers": .array([.int(8), .int(8)]), "epochs": .int(3), "batch_size": .int(50),
                                             "optimizer": .string("sgd"), "early_stopping": .bool(false)])
        XCTAssertLessThan(r.maxDiff, 1e-3)
    }

    func testLinearRidgeAndMLPRegressor() throws {
        regression = true
        let lin = try compare(.linearRegression, [:])
        XCTAssertLessThan(lin.maxDiff, 1e-4, "predictions within 1e-4 (normal equations: the Gram matrix on the backend)")
        let ridge = try compare(.ridge, ["alpha": .number(1)])
        XCTAssertLessThan(ridge.maxDiff, 1e-4)
        let mlp = try compare(.mlpRegressor, ["hidden_layers": .array([.int(8)]), "epochs": .int(3), "batch_size": .int(32),
                                              "early_stopping": .bool(false), "learning_rate": .number(0.01)])
        XCTAssertLessThan(mlp.maxDiff, 1e-3, "predictions within 1e-3")
    }

    func testKMeansAndPCA() throws {
        let k = try compare(.kmeans, ["k": .int(3)], label: false)
        XCTAssertEqual(k.maxDiff, 0, "k-means labels agree on every test row")
        let p = try compare(.pca, ["n_components": .int(2)], label: false)
        XCTAssertLessThan(p.maxDiff, 1e-3, "PCA components within 1e-3 (sign fixed by the trainer)")
    }
}
