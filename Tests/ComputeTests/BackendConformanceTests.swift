import XCTest
@testable import Compute
import Support
import Synchronization

/// The product's conformance suite (`BackendConformance`, what `mlrepo doctor --gpu` runs):
/// the CPU backend passes it at both sizes with both GEMM kernels, it covers every
/// requirement of `Backend`, and it fails backends that are wrong, nondeterministic, report
/// a device error, or return the wrong number of values, naming the element.
final class BackendConformanceTests: XCTestCase {
    /// Runs the suite, prints its size and time, and fails on every failed check with its detail.
    @discardableResult
    func assertPasses(_ be: any Backend, _ size: BackendConformance.Size, only: Set<String>? = nil, label: String,
                      file: StaticString = #filePath, line: UInt = #line) -> [BackendConformance.Result] {
        let t0 = Clock.monotonic()
        let results = BackendConformance.run(be, size: size, only: only)
        let seconds = Clock.monotonic() - t0
        let backendSeconds = results.reduce(0) { $0 + $1.seconds }
        print("conformance \(label) \(size.rawValue): \(results.count) checks, \(results.filter(\.passed).count) passed, "
              + "\(Int(seconds * 1000)) ms (\(Int(backendSeconds * 1000)) ms in the backend)")
        for r in results where !r.passed {
            XCTFail("\(label) \(size.rawValue): \(r.check): \(r.detail)", file: file, line: line)
        }
        return results
    }

    func testCPUPassesSmall() {
        let results = assertPasses(CPUBackend(threads: 2), .small, label: "cpu")
        XCTAssertGreaterThan(results.count, 150)
        XCTAssertEqual(results.last?.check, "checkError (no device error after all checks)")
        // Toleranced checks say their tolerance; exact ones say 0.
        XCTAssertEqual(results.first { $0.check == "gemm nt 33×17×65" }?.tolerance, 1e-6)
        XCTAssertEqual(results.first { $0.check == "relu 17×33" }?.tolerance, 0)
        XCTAssertTrue(results.contains { $0.check == "softmaxRows 17×33" })
        XCTAssertTrue(results.contains { $0.check.hasPrefix("adamStep(params:) 4 tensors") })
    }

    func testCPUPassesFull() {
        let small = BackendConformance.run(CPUBackend(threads: 2), size: .small, only: ["relu"]).count
        let results = assertPasses(CPUBackend(threads: 2), .full, label: "cpu")
        XCTAssertGreaterThan(results.count, 200)
        XCTAssertEqual(BackendConformance.run(CPUBackend(threads: 2), size: .full, only: ["relu"]).count, small + 2, "full adds shapes")
    }

    /// Every GEMM kernel this CPU has (`.full` runs on the automatic one above: the portable
    /// kernel takes most of a minute on its shapes in a debug build).
    func testBothGEMMPaths() {
        for path in gemmPaths {
            let be = CPUBackend(threads: 3, gemmPath: path)
            XCTAssertEqual(be.gemmPath, path)
            assertPasses(be, .small, label: "cpu/\(path.rawValue)")
        }
        // One thread gives the same pass (the suite does not depend on the split).
        assertPasses(CPUBackend(threads: 1), .small, label: "cpu/1 thread")
    }

    /// The requirements of `Backend` (Sources/Compute/Backend.swift), written out by hand:
    /// a new requirement must be added here and get a check.
    static let protocolRequirements = [
        "kind", "deviceName", "threads",
        "tensor", "upload", "upload(taking:)", "upload(into:row:)", "download", "borrow", "uninitializedTensor",
        "download(taking:)", "gatherRows", "synchronize",
        "gemm", "linear", "addRowVector", "relu", "reluBackward", "sigmoid", "softmaxRows", "logSoftmaxRows", "axpy",
        "scale", "sub", "columnSums", "rowArgmax", "squaredDistances", "nearestCenters", "clusterSums", "gram",
        "softmaxLinearGradient", "adamStep", "sgdStep", "sumSquares",
        "uploadIndices", "gatherRows(indices:)", "dense", "outputDelta", "adamStep(params:)",
        "uploadIndices(into:)", "gatherRows(cursor:)", "advance", "adamStep(stepCounter:)", "recordStep", "replay",
        "environment", "checkError",
    ]

    func testOperationsCoverEveryRequirement() {
        let ops = BackendConformance.operations
        XCTAssertEqual(Set(ops).count, ops.count, "no operation twice")
        for name in Self.protocolRequirements {
            XCTAssertTrue(ops.contains(name), "\(name) is not checked")
        }
        // Each operation has a check at both sizes, and every check names known operations.
        for size in [BackendConformance.Size.small, .full] {
            let cases = BackendConformance.cases(size)
            for name in ops {
                XCTAssertTrue(cases.contains { $0.ops.contains(name) }, "\(size): no check of \(name)")
            }
            for c in cases {
                XCTAssertTrue(c.ops.allSatisfy(ops.contains), "\(c.name): unknown operation in \(c.ops)")
            }
            XCTAssertEqual(Set(cases.map(\.name)).count, cases.count, "\(size): check names are unique")
        }
    }

    func testOnlySelectsAndUnknownNamesFail() {
        let be = CPUBackend(threads: 2)
        let results = BackendConformance.run(be, size: .small, only: ["relu", "gatherRows(indices:)"])
        XCTAssertEqual(results.count, 9)   // 5 shapes of relu, 4 windows of held indices
        XCTAssertTrue(results.allSatisfy { $0.passed && ($0.check.hasPrefix("relu ") || $0.check.hasPrefix("uploadIndices")) })
        let bad = BackendConformance.run(be, size: .small, only: ["relu", "softmax"])
        XCTAssertEqual(bad.first?.check, "unknown operation softmax")
        XCTAssertEqual(bad.first?.passed, false)
        XCTAssertEqual(bad.dropFirst().count, 5)
    }

    func testShortNumbers() {
        let cases: [(Double, String)] = [(1e-6, "1e-6"), (9.928405443565213e-08, "9.93e-8"), (0.25, "0.25"), (1234.5, "1230"),
                                         (15_000, "1.5e+4"), (-0.00123, "-0.00123"), (0, "0.0"), (1, "1"), (9.999, "10")]
        for (x, want) in cases { XCTAssertEqual(BackendConformance.short(x), want) }
    }

    // MARK: The suite can fail

    /// softmaxRows adds 1e-3 to element 12: each shape with that element fails, naming it.
    func testWrongResultFailsNamingTheElement() {
        let be = FaultyBackend(.softmaxOff)
        let results = BackendConformance.run(be, size: .small, only: ["softmaxRows", "relu"])
        let soft = results.filter { $0.check.hasPrefix("softmaxRows") }
        XCTAssertEqual(soft.count, 5)
        for r in soft {   // the shapes with an element 12 fail
            XCTAssertEqual(r.passed, r.check.hasSuffix(" 1×1") || r.check.hasSuffix(" 0×5"), r.check)
        }
        let r = results.first { $0.check == "softmaxRows 17×33" }
        XCTAssertEqual(r?.passed, false)
        XCTAssertTrue(r?.detail.hasPrefix("element 12 (row 0, col 12): got ") ?? false, r?.detail ?? "")
        XCTAssertTrue(r?.detail.contains("(tol 1e-6)") ?? false, r?.detail ?? "")
        XCTAssertGreaterThan(r?.maxError ?? 0, 1e-4)
        XCTAssertTrue(results.filter { $0.check.hasPrefix("relu") }.allSatisfy(\.passed), "other operations still pass")
    }

    /// An exact operation off by one ulp fails.
    func testOneUlpOffFailsAnExactCheck() {
        let results = BackendConformance.run(FaultyBackend(.subUlp), size: .small, only: ["sub"])
        let r = results.first { $0.check.hasPrefix("sub 3×7") }
        XCTAssertEqual(r?.passed, false)
        XCTAssertTrue(r?.detail.contains("c element 0 (row 0, col 0): got") ?? false, r?.detail ?? "")
        XCTAssertTrue(r?.detail.contains("(exact)") ?? false, r?.detail ?? "")
    }

    /// A NaN where a finite value is expected fails even where the tolerance is loose.
    func testNaNFails() {
        let results = BackendConformance.run(FaultyBackend(.gemmNaN), size: .small, only: ["gemm"])
        let r = results.first { $0.check == "gemm nn 64×64×64" }
        XCTAssertEqual(r?.passed, false)
        XCTAssertTrue(r?.detail.contains("element 5 (row 0, col 5): got nan") ?? false, r?.detail ?? "")
    }

    /// scale perturbs every other call: the two runs differ.
    func testNondeterminismFails() {
        let results = BackendConformance.run(FaultyBackend(.scaleFlaky), size: .small, only: ["scale"])
        XCTAssertEqual(results.count, 5)
        for r in results where !r.check.hasSuffix("0×5") {
            XCTAssertFalse(r.passed, r.check)
            XCTAssertTrue(r.detail.hasPrefix("not deterministic: element 0 (row 0, col 0) is "), r.detail)
        }
        XCTAssertTrue(results.first { $0.check.hasSuffix("0×5") }?.passed ?? false, "nothing to differ in an empty tensor")
    }

    /// A device error during a check fails that check, and the ones after it say it came earlier.
    func testDeviceErrorFails() {
        let results = BackendConformance.run(FaultyBackend(.sigmoidError), size: .small, only: ["relu", "sigmoid", "checkError"])
        // relu 1×1, sigmoid 1×1, relu 3×7, sigmoid 3×7, …
        XCTAssertEqual(results.first?.check, "relu 1×1")
        XCTAssertEqual(results.first?.passed, true)
        let sig = results.first { $0.check.hasPrefix("sigmoid") }
        XCTAssertEqual(sig?.passed, false)
        XCTAssertEqual(sig?.detail, "device error: launch failed: mlr_sigmoid")
        // Where the values are wrong too, the error comes first.
        let both = BackendConformance.run(FaultyBackend(.subErrorAndUlp), size: .small, only: ["sub"]).first
        XCTAssertTrue(both?.detail.hasPrefix("device error: launch failed: mlr_sub; c element 0 (row 0, col 0): got ") ?? false,
                      both?.detail ?? "")
        XCTAssertEqual(results.filter(\.passed).count, 1, "every check after the error fails")
        let last = results.last
        XCTAssertEqual(last?.check, "checkError (no device error after all checks)")
        XCTAssertEqual(last?.detail, "not run: device error from an earlier check: launch failed: mlr_sigmoid")
    }

    /// The wrong number of values is reported, not a crash.
    func testWrongCountsDoNotCrash() {
        let results = BackendConformance.run(FaultyBackend(.shortArgmax), size: .small, only: ["rowArgmax", "nearestCenters"])
        let r = results.first { $0.check.hasPrefix("rowArgmax 17×33") }
        XCTAssertEqual(r?.passed, false)
        XCTAssertEqual(r?.detail, "output: got 16 values, want 17")
        let bad = BackendConformance.run(FaultyBackend(.labelOutOfRange), size: .small, only: ["nearestCenters"])
        XCTAssertTrue(bad.contains { !$0.passed && $0.detail.hasPrefix("labels element 0: got 99, want 0") },
                      bad.map(\.detail).joined(separator: "\n"))
    }
}

/// The CPU backend with one fault, for the tests that prove the suite can fail.
final class FaultyBackend: Backend, @unchecked Sendable {
    enum Fault { case softmaxOff, subUlp, subErrorAndUlp, gemmNaN, scaleFlaky, sigmoidError, shortArgmax, labelOutOfRange }
    let inner = CPUBackend(threads: 2)
    let fault: Fault
    let calls = Mutex(0)
    let error = Mutex<ComputeError?>(nil)
    init(_ fault: Fault) { self.fault = fault }

    /// Adds `delta` to element `i` of `t`, if it has one.
    func perturb(_ t: Tensor, _ i: Int, _ f: (Float) -> Float) {
        var h = inner.download(t)
        guard i < h.count, t.cols > 0 else { return }
        h[i] = f(h[i])
        let row = i / t.cols
        Array(h[(row * t.cols)..<((row + 1) * t.cols)]).withUnsafeBufferPointer { inner.upload($0, into: t, row: row) }
    }

    var kind: String { inner.kind }
    var deviceName: String { inner.deviceName }
    var threads: Int { inner.threads }
    var environment: [String: String] { inner.environment }
    func checkError() throws { if let e = error.withLock({ $0 }) { throw e } }

    func tensor(rows: Int, cols: Int) -> Tensor { inner.tensor(rows: rows, cols: cols) }
    func upload(_ host: [Float], rows: Int, cols: Int) -> Tensor { inner.upload(host, rows: rows, cols: cols) }
    func upload(taking host: inout [Float], rows: Int, cols: Int) -> Tensor { inner.upload(taking: &host, rows: rows, cols: cols) }
    func upload(_ host: UnsafeBufferPointer<Float>, into t: Tensor, row: Int) { inner.upload(host, into: t, row: row) }
    func download(_ t: Tensor) -> [Float] { inner.download(t) }
    func borrow(_ host: [Float], rows: Int, cols: Int) -> Tensor { inner.borrow(host, rows: rows, cols: cols) }
    func uninitializedTensor(rows: Int, cols: Int) -> Tensor { inner.uninitializedTensor(rows: rows, cols: cols) }
    func download(taking t: Tensor) -> [Float] { inner.download(taking: t) }
    func gatherRows(_ src: Tensor, _ indices: [Int32], into dst: Tensor) { inner.gatherRows(src, indices, into: dst) }
    func synchronize() { inner.synchronize() }

    func gemm(_ a: Tensor, transA: Bool, _ b: Tensor, transB: Bool, into c: Tensor, alpha: Float, beta: Float) {
        inner.gemm(a, transA: transA, b, transB: transB, into: c, alpha: alpha, beta: beta)
        if fault == .gemmNaN && c.rows == 64 { perturb(c, 5) { _ in .nan } }
    }
    func linear(_ x: Tensor, _ w: Tensor, transW: Bool, bias: Tensor?, alpha: Float, into y: Tensor) {
        inner.linear(x, w, transW: transW, bias: bias, alpha: alpha, into: y)
    }
    func addRowVector(_ x: Tensor, _ v: Tensor) { inner.addRowVector(x, v) }
    func relu(_ x: Tensor) { inner.relu(x) }
    func reluBackward(_ grad: Tensor, activation: Tensor) { inner.reluBackward(grad, activation: activation) }
    func sigmoid(_ x: Tensor) {
        inner.sigmoid(x)
        if fault == .sigmoidError { error.withLock { if $0 == nil { $0 = ComputeError("launch failed: mlr_sigmoid") } } }
    }
    func softmaxRows(_ x: Tensor) {
        inner.softmaxRows(x)
        if fault == .softmaxOff { perturb(x, 12) { $0 + 1e-3 } }
    }
    func logSoftmaxRows(_ x: Tensor) { inner.logSoftmaxRows(x) }
    func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) { inner.axpy(alpha, x, y) }
    func scale(_ x: Tensor, _ alpha: Float) {
        inner.scale(x, alpha)
        if fault == .scaleFlaky && calls.withLock({ $0 += 1; return $0 % 2 == 0 }) { perturb(x, 0) { $0.nextUp } }
    }
    func sub(_ a: Tensor, _ b: Tensor, into c: Tensor) {
        inner.sub(a, b, into: c)
        if fault == .subUlp || fault == .subErrorAndUlp { perturb(c, 0) { $0.nextUp } }
        if fault == .subErrorAndUlp { error.withLock { if $0 == nil { $0 = ComputeError("launch failed: mlr_sub") } } }
    }
    func columnSums(_ x: Tensor, into out: Tensor) { inner.columnSums(x, into: out) }
    func rowArgmax(_ x: Tensor) -> [Int32] {
        let r = inner.rowArgmax(x)
        return fault == .shortArgmax ? Array(r.dropLast()) : r
    }
    func squaredDistances(_ x: Tensor, _ centers: Tensor, into d: Tensor) { inner.squaredDistances(x, centers, into: d) }
    func nearestCenters(_ x: Tensor, _ centers: Tensor) -> (labels: [Int32], distances: [Float]) {
        var r = inner.nearestCenters(x, centers)
        if fault == .labelOutOfRange && !r.labels.isEmpty { r.labels[0] = 99 }
        return r
    }
    func clusterSums(_ x: Tensor, labels: [Int32], k: Int) -> (sums: [Double], counts: [Int]) { inner.clusterSums(x, labels: labels, k: k) }
    func gram(_ x: Tensor, into g: Tensor, alpha: Float) { inner.gram(x, into: g, alpha: alpha) }
    func softmaxLinearGradient(_ x: Tensor, weights: [Float], bias: [Float], classes k: Int,
                               labels: [Int32]) -> (loss: Double, gradW: [Double], gradB: [Double]) {
        inner.softmaxLinearGradient(x, weights: weights, bias: bias, classes: k, labels: labels)
    }
    func adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, lr: Float, beta1: Float, beta2: Float,
                  eps: Float, step: Int, weightDecay: Float) {
        inner.adamStep(param: param, grad: grad, m: m, v: v, lr: lr, beta1: beta1, beta2: beta2, eps: eps, step: step,
                       weightDecay: weightDecay)
    }
    func sgdStep(param: Tensor, grad: Tensor, velocity: Tensor, lr: Float, momentum: Float, weightDecay: Float) {
        inner.sgdStep(param: param, grad: grad, velocity: velocity, lr: lr, momentum: momentum, weightDecay: weightDecay)
    }
    func sumSquares(_ x: Tensor) -> Double { inner.sumSquares(x) }
    func uploadIndices(_ indices: [Int32]) -> Tensor { inner.uploadIndices(indices) }
    func gatherRows(_ src: Tensor, indices: Tensor, offset: Int, count: Int, into dst: Tensor) {
        inner.gatherRows(src, indices: indices, offset: offset, count: count, into: dst)
    }
    func dense(_ x: Tensor, _ w: Tensor, bias: Tensor?, relu: Bool, into y: Tensor) { inner.dense(x, w, bias: bias, relu: relu, into: y) }
    func outputDelta(_ z: Tensor, softmax: Bool, targets y: Tensor, scale: Float, into delta: Tensor) {
        inner.outputDelta(z, softmax: softmax, targets: y, scale: scale, into: delta)
    }
    func adamStep(params: [Tensor], grads: [Tensor], m: [Tensor], v: [Tensor], lr: Float, beta1: Float,
                  beta2: Float, eps: Float, step: Int, weightDecay: [Float]) {
        inner.adamStep(params: params, grads: grads, m: m, v: v, lr: lr, beta1: beta1, beta2: beta2, eps: eps, step: step,
                       weightDecay: weightDecay)
    }
}
