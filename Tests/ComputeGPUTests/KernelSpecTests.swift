import XCTest
@testable import ComputeGPU

final class KernelSpecTests: XCTestCase {
    func testSpecsParseTheSource() {
        let specs = CUDAKernels.specs
        XCTAssertFalse(specs.isEmpty)
        XCTAssertEqual(Set(specs.map(\.name)).count, specs.count, "kernel names are unique")
        for s in specs {
            XCTAssertTrue(s.name.hasPrefix("mlr_"), s.name)
            for p in s.parameters { XCTAssertNotNil(CUDAKernels.argumentKind(p), "\(s.name): parameter type '\(p)'") }
        }
    }

    func testParsing() {
        let src = """
        extern "C" __global__ void mlr_a(const float* __restrict__ x, float *y, long long n, int k, float s, double* d) {
        __device__ float helper(float x) { return x; }
        extern "C" __global__ void mlr_b() {
        """
        let specs = CUDAKernels.parseSpecs(src)
        XCTAssertEqual(specs, [.init(name: "mlr_a", parameters: ["const float*", "float*", "long long", "int", "float", "double*"]),
                               .init(name: "mlr_b", parameters: [])])
        XCTAssertTrue(CUDAKernels.matches(specs[0], [.pointer(.null), .pointer(.null), .int64(1), .int32(2), .float(1), .pointer(.null)]))
        XCTAssertFalse(CUDAKernels.matches(specs[0], [.pointer(.null), .pointer(.null), .int32(1), .int32(2), .float(1), .pointer(.null)]))
        XCTAssertFalse(CUDAKernels.matches(specs[0], []))
    }
}
