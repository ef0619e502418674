import ComputeGPU
import Foundation
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

    /// Skips where a driver loads with `settings` (the ones the test then uses: a GPU
    /// machine): these tests are about its absence.
    func requireNoDriver(_ settings: GPUSettings = GPUSettings()) throws {
        if case .success(let h) = CUDALibraries.load(.driver, settings: settings) {
            throw XCTSkip("this machine has an NVIDIA driver (\(h.path))")
        }
    }

    func testAutoFallsBackToCPUWithNote() throws {
        try requireNoDriver()
        let (b, note) = try BackendRegistry.make("auto", threads: 1)
        XCTAssertEqual(b.kind, "cpu")
        XCTAssertTrue(b is CPUBackend)
        XCTAssertEqual(note, "auto: no NVIDIA driver: libcuda.so.1 not found; using cpu")
    }

    func testGPUThrows() throws {
        try requireNoDriver()
        XCTAssertThrowsError(try BackendRegistry.make("gpu", threads: nil)) { e in
            XCTAssertEqual((e as? ComputeError)?.message, "no GPU backend is available: no NVIDIA driver: libcuda.so.1 not found")
        }
    }

    func testGPUWithABrokenDriverSaysWhy() throws {
        try requireNoDriver()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-fakecuda-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("not an ELF file".utf8).write(to: URL(fileURLWithPath: dir + "/libcuda.so.1"))
        let settings = GPUSettings(libraryDirectories: [dir])
        try requireNoDriver(settings)
        XCTAssertThrowsError(try BackendRegistry.make("gpu", threads: nil, gpu: settings)) { e in
            let m = (e as? ComputeError)?.message ?? ""
            XCTAssertTrue(m.hasPrefix("no GPU backend is available: NVIDIA driver library found but not loadable: \(dir)/libcuda.so.1: "), m)
        }
        let (b, note) = try BackendRegistry.make("auto", threads: 1, gpu: settings)
        XCTAssertEqual(b.kind, "cpu")
        XCTAssertTrue(note?.hasPrefix("auto: NVIDIA driver library found but not loadable: ") ?? false, note ?? "")
        XCTAssertTrue(note?.hasSuffix("; using cpu") ?? false, note ?? "")
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
