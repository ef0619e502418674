import ComputeGPU
import XCTest
@testable import Compute

final class BackendRegistryTests: XCTestCase {
    func testCPU() throws {
        let (b, note) = try BackendRegistry.make("cpu", threads: 3)
        XCTAssertNil(note)
        XCTAssertEqual(b.kind, "cpu")
        XCTAssertEqual(b.threads, 3)
        XCTAssertTrue(b is CPUBackend)
    }

    func testThreadsDefaultToOnlineCPUs() throws {
        let (b, _) = try BackendRegistry.make("cpu", threads: nil)
        XCTAssertEqual(b.threads, CPUBackend.onlineCPUs)
        XCTAssertEqual(CPUBackend().threads, CPUBackend.onlineCPUs)
        XCTAssertThrowsError(try BackendRegistry.make("cpu", threads: 0))
    }

    func testAutoFallsBackToCPUWithNote() throws {
        let (b, note) = try BackendRegistry.make("auto", threads: 1)
        XCTAssertEqual(b.kind, "cpu")
        XCTAssertEqual(note, "auto: no GPU backend in this build; using cpu")
    }

    func testGPUThrows() {
        XCTAssertThrowsError(try BackendRegistry.make("gpu", threads: nil)) { e in
            let msg = (e as? ComputeError)?.message ?? ""
            XCTAssertTrue(msg.hasPrefix("no GPU backend is available: "), msg)
        }
    }

    func testUnknownName() {
        XCTAssertThrowsError(try BackendRegistry.make("tpu", threads: nil)) { e in
            XCTAssertEqual((e as? ComputeError)?.message, "unknown backend 'tpu' (expected cpu, gpu or auto)")
        }
    }

    func testDeviceName() {
        let b = CPUBackend(threads: 1)
        XCTAssertEqual(b.kind, "cpu")
        XCTAssertFalse(b.deviceName.isEmpty)
        let cores = CPUBackend.onlineCPUs
        XCTAssertTrue(b.deviceName.hasSuffix("(\(cores) core\(cores == 1 ? "" : "s"))"), b.deviceName)
    }
}
