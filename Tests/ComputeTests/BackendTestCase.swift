import ComputeGPU
import XCTest
@testable import Compute

/// A backend the conformance suites run on: its name in failure messages, the `kind` it
/// reports, and how to make one with a given number of threads.
struct BackendUnderTest: Sendable {
    let name: String
    let kind: String
    let make: @Sendable (_ threads: Int) throws -> any Backend

    /// The backends this machine can run: the CPU backend (with the GEMM kernel it picks),
    /// then the GPU backend where one loads (none in this build; `BackendRegistry.make("gpu")`
    /// says why). A new backend is tested by appearing here, with no change to the suites.
    static var all: [BackendUnderTest] {
        [BackendUnderTest(name: "cpu", kind: "cpu") { CPUBackend(threads: $0) }] + gpu
    }

    /// As `all`, with the CPU backend once per GEMM kernel the CPU has (portable, and AVX2+FMA
    /// where present): for the suites that exercise GEMM itself.
    static var allGEMMKernels: [BackendUnderTest] {
        var cpu = [BackendUnderTest(name: "cpu/portable", kind: "cpu") { CPUBackend(threads: $0, gemmPath: .portable) }]
        if GEMMPath.avx2Supported {
            cpu.append(BackendUnderTest(name: "cpu/avx2", kind: "cpu") { CPUBackend(threads: $0, gemmPath: .avx2) })
        }
        return cpu + gpu
    }

    private static var gpu: [BackendUnderTest] {
        guard (try? BackendRegistry.make("gpu", threads: 1)) != nil else { return [] }
        return [BackendUnderTest(name: "gpu", kind: "gpu") { try BackendRegistry.make("gpu", threads: $0).backend }]
    }
}

/// Base class of the suites that every backend must pass (the `Backend` protocol's contract).
/// A test's body takes the backend as its parameter and runs once per backend in `backends`
/// (`forEachBackend`); `make(threads:)` makes another of the same backend where a test
/// compares thread counts; a failure names the backend it came from.
/// (One class looping over the backends rather than one subclass per backend: test discovery
/// on Linux does not run the test methods a subclass inherits.)
class BackendTestCase: XCTestCase {
    /// The backends the suite runs on (`BackendUnderTest.all` unless a suite says otherwise).
    class var backends: [BackendUnderTest] { BackendUnderTest.all }

    private var current: BackendUnderTest?

    /// Runs `body` with each backend under test, made with 2 threads.
    func forEachBackend(_ body: (_ be: any Backend) throws -> Void) throws {
        defer { current = nil }
        for spec in Self.backends {
            current = spec
            try body(try spec.make(2))
        }
    }

    /// The backend under test (in `forEachBackend`) with `threads` threads.
    func make(threads: Int) throws -> any Backend {
        guard let current else { throw ComputeError("make(threads:) outside forEachBackend") }
        return try current.make(threads)
    }

    /// The `kind` the backend under test reports.
    var expectedKind: String { current?.kind ?? "" }

    /// Failures say which backend they came from.
    override func recordFailure(withDescription description: String, inFile filePath: String, atLine lineNumber: Int, expected: Bool) {
        let prefix = current.map { "[\($0.name)] " } ?? ""
        super.recordFailure(withDescription: prefix + description, inFile: filePath, atLine: lineNumber, expected: expected)
    }
}
