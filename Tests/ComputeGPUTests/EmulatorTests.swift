import XCTest
import Compute
@testable import ComputeGPU

/// The emulator itself: barriers, shuffles, shared memory across blocks, threads that
/// return early, graph capture, and the memory checks. Its own kernels, so a fault here is
/// the harness's and not the backend's.
final class EmulatorTests: XCTestCase {
    static let source = #"""
extern "C" __global__ void mlr_blocksum(const float* x, float* out, int n) {
    __shared__ float s[256];
    int t = threadIdx.x;
    float v = 0.0f;
    for (int i = blockIdx.x * 256 + t; i < n; i += gridDim.x * 256) v += x[i];
    s[t] = v;
    __syncthreads();
    for (int w = 128; w > 0; w >>= 1) {
        if (t < w) s[t] += s[t + w];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}
extern "C" __global__ void mlr_warpsum(const float* x, float* out) {
    float v = x[blockIdx.x * blockDim.x + threadIdx.x];
    for (int d = 16; d > 0; d >>= 1) v += __shfl_down_sync(0xffffffffu, v, d);
    if ((threadIdx.x & 31) == 0) out[(blockIdx.x * blockDim.x + threadIdx.x) / 32] = v;
}
extern "C" __global__ void mlr_xormax(const float* x, float* out) {
    float v = x[threadIdx.x];
    for (int d = 16; d > 0; d >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, d));
    out[threadIdx.x] = v;
}
extern "C" __global__ void mlr_early(float* out, int live) {
    __shared__ float s[64];
    if ((int)threadIdx.x >= live) return;
    s[threadIdx.x] = (float)threadIdx.x;
    __syncthreads();
    out[threadIdx.x] = s[(threadIdx.x + 1) % live];
}
extern "C" __global__ void mlr_index(float* out, long long n) {
    long long i = ((long long)blockIdx.y * gridDim.x + blockIdx.x) * (blockDim.x * blockDim.y) + threadIdx.y * blockDim.x + threadIdx.x;
    if (i < n) out[i] = (float)i;
}
"""#

    var device: EmulatedDevice!

    override func setUpWithError() throws {
        if let why = EmulatedDevice.unavailableReason { throw XCTSkip(why) }
        device = try EmulatedDevice(source: Self.source)
    }

    func upload(_ v: [Float]) throws -> DevicePointer {
        let p = try device.allocate(max(4, v.count * 4))
        try v.withUnsafeBytes { try device.copy(toDevice: p, from: $0) }
        return p
    }
    func download(_ p: DevicePointer, _ n: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: n)
        try out.withUnsafeMutableBytes { try device.copy(toHost: $0, from: p) }
        return out
    }

    func testBarrierReductionAcrossBlocks() throws {
        let n = 3000
        let x = (0..<n).map { Float($0 % 7) }
        let px = try upload(x), out = try device.allocate(3 * 4)
        try device.launch("mlr_blocksum", grid: Dim3(3), block: Dim3(256), [.pointer(px), .pointer(out), .int32(Int32(n))])
        let got = try download(out, 3)
        // Block b sums elements b*256 + t + k*768: every block's shared array is reset by its own threads.
        var want = [Float](repeating: 0, count: 3)
        for i in 0..<n { want[(i / 256) % 3] += x[i] }
        XCTAssertEqual(got, want)
        XCTAssertEqual(device.launched["mlr_blocksum"], 1)
    }

    func testWarpShuffles() throws {
        let x = (0..<128).map { Float($0) }
        let px = try upload(x), out = try device.allocate(4 * 4)
        try device.launch("mlr_warpsum", grid: Dim3(2), block: Dim3(64), [.pointer(px), .pointer(out)])
        XCTAssertEqual(try download(out, 4), (0..<4).map { w in Float((0..<32).map { w * 32 + $0 }.reduce(0, +)) })

        let y = (0..<32).map { Float(($0 * 13) % 32) }
        let py = try upload(y), o2 = try device.allocate(32 * 4)
        try device.launch("mlr_xormax", grid: Dim3(1), block: Dim3(32), [.pointer(py), .pointer(o2)])
        XCTAssertEqual(try download(o2, 32), [Float](repeating: 31, count: 32))
    }

    func testThreadsThatReturnBeforeABarrierDoNotHang() throws {
        let out = try device.allocate(64 * 4)
        try device.zero(out, bytes: 64 * 4)
        try device.launch("mlr_early", grid: Dim3(2), block: Dim3(64), [.pointer(out), .int32(40)])
        let got = try download(out, 64)
        XCTAssertEqual(Array(got[0..<40]), (0..<40).map { Float(($0 + 1) % 40) })
        XCTAssertTrue(got[40...].allSatisfy { $0 == 0 })
    }

    func testTwoDimensionalIndices() throws {
        let n = 2 * 3 * 8 * 4 - 5
        let out = try device.allocate(n * 4)
        try device.launch("mlr_index", grid: Dim3(2, 3), block: Dim3(8, 4), [.pointer(out), .int64(Int64(n))])
        XCTAssertEqual(try download(out, n), (0..<n).map(Float.init))
    }

    func testLaunchChecks() throws {
        let out = try device.allocate(16)
        XCTAssertThrowsError(try device.launch("mlr_nope", grid: Dim3(1), block: Dim3(32), []))
        XCTAssertThrowsError(try device.launch("mlr_index", grid: Dim3(1), block: Dim3(32), [.pointer(out), .int32(1)]), "int where long long is declared")
        XCTAssertThrowsError(try device.launch("mlr_index", grid: Dim3(1), block: Dim3(2048), [.pointer(out), .int64(1)]), "block too large")
        XCTAssertThrowsError(try device.launch("mlr_index", grid: Dim3(0), block: Dim3(32), [.pointer(out), .int64(1)]), "empty grid")
        XCTAssertThrowsError(try device.launch("mlr_index", grid: Dim3(1), block: Dim3(32), [.pointer(DevicePointer(8)), .int64(1)]), "pointer outside memory")
        var host = [Float](repeating: 0, count: 5)
        XCTAssertThrowsError(try host.withUnsafeMutableBytes { try device.copy(toHost: $0, from: out) }, "copy past the allocation")
        XCTAssertThrowsError(try host.withUnsafeBytes { try device.copy(toDevice: out.advanced(by: 4), from: $0) })
    }

    func testGraphCaptureReplays() throws {
        let out = try device.allocate(64 * 4)
        XCTAssertTrue(try device.beginCapture())
        try device.zero(out, bytes: 64 * 4)
        try device.launch("mlr_index", grid: Dim3(1), block: Dim3(32), [.pointer(out), .int64(32)])
        let host = [Float](repeating: 0, count: 4)
        XCTAssertThrowsError(try host.withUnsafeBytes { try device.copy(toDevice: out, from: $0) }, "host copies are not captured")
        let g = try device.endCapture()
        XCTAssertNil(device.launched["mlr_index"], "captured, not run")
        try device.launch(graph: g)
        try device.launch(graph: g)
        XCTAssertEqual(device.launched["mlr_index"], 2)
        let got = try download(out, 64)
        XCTAssertEqual(Array(got[0..<32]), (0..<32).map(Float.init))
        XCTAssertTrue(got[32...].allSatisfy { $0 == 0 })
        _ = host
    }

    func testCompileErrorsAreReported() {
        XCTAssertThrowsError(try EmulatedDevice(source: "extern \"C\" __global__ void mlr_bad(float* x) { x[0] = undefined_name; }\n")) { e in
            XCTAssertTrue("\(e)".contains("undefined_name"), "\(e)")
        }
    }

    /// The GPU backend's own code on the emulator, end to end for the one kernel the
    /// scaffold has: memory, upload, a launch, download.
    func testGPUBackendOnTheEmulator() throws {
        let be = GPUBackend(device: try EmulatedDevice(), maxGridBlocks: 2)
        let x: [Float] = (0..<1000).map { Float($0 % 9) - 4 }
        let t = be.upload(x, rows: 10, cols: 100)
        be.relu(t)
        XCTAssertEqual(be.download(t), x.map { max($0, 0) })
        XCTAssertEqual(be.download(be.tensor(rows: 3, cols: 5)), [Float](repeating: 0, count: 15))
        try be.checkError()
        XCTAssertEqual(be.kind, "gpu")
    }
}
