import XCTest
import Compute
import ComputeGPU
import ML
import Net
import Support
import Synchronization
@testable import Serve

/// A device error while scoring (out of memory on a GPU) answers 500 for that request, and the
/// worker starts over on a new backend: the next request is scored.
final class WorkerRecoveryTests: XCTestCase {
    /// A device whose every allocation fails (as a GPU out of memory).
    final class FullDevice: KernelDevice, @unchecked Sendable {
        let info = GPUDeviceInfo(name: "full", computeCapability: (9, 0), driverVersion: 13000, nvrtcVersion: (13, 0),
                                 multiprocessors: 1, totalMemory: 0)
        func allocate(_ bytes: Int) throws -> DevicePointer { throw ComputeError("gpu: cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY") }
        func free(_ p: DevicePointer) {}
        func copy(toDevice dst: DevicePointer, from src: UnsafeRawBufferPointer) throws {}
        func copy(toHost dst: UnsafeMutableRawBufferPointer, from src: DevicePointer) throws {}
        func copy(_ dst: DevicePointer, from src: DevicePointer, bytes: Int) throws {}
        func zero(_ p: DevicePointer, bytes: Int) throws {}
        func launch(_ kernel: String, grid: Dim3, block: Dim3, _ args: [KernelArgument]) throws {}
        func synchronize() throws {}
    }

    func testADeviceErrorFailsOneRequestAndTheWorkerRecovers() throws {
        // A tiny logistic model: 2 features, 2 classes.
        var d = Dataset(rows: 6, cols: 2, features: [0, 0, 0, 1, 1, 0, 5, 5, 5, 6, 6, 5], featureNames: ["a", "b"],
                        labelName: "y", label: .categorical(codes: [0, 0, 0, 1, 1, 1], names: ["no", "yes"]))
        let model = try trainModel(.logisticRegression, data: &d, params: [:], seed: 1, backend: CPUBackend(threads: 1)).model
        let served = try ServedModel(model: model, id: "m1", commit: nil, path: "m.mlmodel", source: "test")
        let made = Mutex<Int>(0)
        var options = ServiceOptions()
        options.logFD = -1
        options.makeBackend = {
            // The first backend is a GPU out of memory; the ones after it work.
            let n = made.withLock { $0 += 1; return $0 }
            return n == 1 ? GPUBackend(device: FullDevice()) : CPUBackend(threads: 1)
        }
        let service = ScoringService(primary: served, workers: 1, options: options)
        let body = Array(#"{"dataframe_split": {"columns": ["a", "b"], "data": [[0, 0], [6, 6]]}}"#.utf8)
        let request = HTTPRequest(method: "POST", path: "/invocations", query: "", headers: [("content-type", "application/json")],
                                  body: body, http11: true)
        let first = service.invocations(request, worker: 0)
        XCTAssertEqual(first.status, 500, String(decoding: first.body, as: UTF8.self))
        XCTAssertTrue(String(decoding: first.body, as: UTF8.self).contains("CUDA_ERROR_OUT_OF_MEMORY"))
        let second = service.invocations(request, worker: 0)
        XCTAssertEqual(second.status, 200, String(decoding: second.body, as: UTF8.self))
        XCTAssertEqual(String(decoding: second.body, as: UTF8.self), #"{"predictions":["no","yes"]}"#)
        XCTAssertEqual(made.withLock { $0 }, 2, "one new backend for the worker")
    }
}
