import XCTest
import Compute
@testable import ComputeGPU

/// The product's conformance suite (`BackendConformance`, what `mlrepo doctor --gpu` runs on
/// a GPU) run on the GPU backend through the emulator: the kernel source compiled as host C++,
/// the same GPUBackend code that drives a real device. Small shapes: every block's threads are
/// real threads here.
final class EmulatedConformanceTests: XCTestCase {
    func testTheGPUBackendPassesTheConformanceSuiteOnTheEmulator() throws {
        if let why = EmulatedDevice.unavailableReason { throw XCTSkip(why) }
        let device = try EmulatedDevice()
        var failures: [String] = []
        var checks = 0
        // One backend per operation: a device error is sticky, and one failing operation must
        // not hide the others.
        for op in BackendConformance.operations {
            let be = GPUBackend(device: device, maxGridBlocks: 3)
            for r in BackendConformance.run(be, size: .small, only: [op]) {
                checks += 1
                if !r.passed { failures.append("\(r.check): \(r.detail)") }
            }
        }
        XCTAssertGreaterThan(checks, 100)
        XCTAssertEqual(failures, [], failures.joined(separator: "\n"))
        // Every kernel in the source ran at least once, but the split-K reduction: GEMM splits k
        // only past 512, beyond the small shapes (GPUBackendEmulatedTests runs it).
        let launched = device.launched
        let never = CUDAKernels.specs.map(\.name).filter { launched[$0, default: 0] == 0 && $0 != "mlr_gemm_reduce" }
        XCTAssertEqual(never, [], "kernels the suite never launched: \(never)")
    }

    /// A wrong kernel in the source makes the suite fail (the harness can fail).
    func testASubtlyWrongKernelFails() throws {
        if let why = EmulatedDevice.unavailableReason { throw XCTSkip(why) }
        let src = CUDAKernels.source
        // The ReLU kernel's comparison, made to let small negatives through.
        guard let range = src.range(of: "x[i] = v < 0.0f ? 0.0f : v;") else { return XCTFail("the ReLU kernel changed; update this mutation") }
        let wrong = src.replacingCharacters(in: range, with: "x[i] = v < -1e-2f ? 0.0f : v;")
        let be = GPUBackend(device: try EmulatedDevice(source: wrong), maxGridBlocks: 2)
        let results = BackendConformance.run(be, size: .small, only: ["relu"])
        XCTAssertFalse(results.isEmpty)
        XCTAssertTrue(results.contains { !$0.passed }, "a ReLU that lets -1e-3 through must fail")
    }
}
