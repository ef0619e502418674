import Foundation
import XCTest
import Compute
@testable import ComputeGPU
import Support

/// The GEMM's narrow-output (`mlr_gemm_small_n`, n ≤ 16) and short-sum (`mlr_gemm_small_k`,
/// k ≤ 16) kernels through the emulator: every transpose, bias, ReLU, alpha and beta, at the
/// edges of the choice (n = 1, 2, 3, 5, 16, 17; k = 1, 2, 16, 17), against the CPU within a
/// tolerance, bit for bit between grid limits 1 and 3, and bit for bit against the tiled
/// kernel (all three sum each element from 0 over k in order with one FMA a step).
final class GPUKernelShapeTests: XCTestCase {

    func testTheKernelIsChosenFromTheShapes() {
        XCTAssertEqual(GPUBackend.gemmKernel(m: 1_000_000, n: 2, k: 100), .smallN)   // logits of softmax regression
        XCTAssertEqual(GPUBackend.gemmKernel(m: 4096, n: 2, k: 128), .smallN)        // the MLP's output layer
        XCTAssertEqual(GPUBackend.gemmKernel(m: 4096, n: 128, k: 2), .smallK)        // d1 = d2·W2ᵀ
        XCTAssertEqual(GPUBackend.gemmKernel(m: 4096, n: 128, k: 100), .tiled)
        XCTAssertEqual(GPUBackend.gemmKernel(m: 100, n: 2, k: 1_000_000), .tiled)    // split-K: the gradient xᵀ·d
        XCTAssertEqual(GPUBackend.gemmKernel(m: 33, n: 16, k: 40), .smallN)
        XCTAssertEqual(GPUBackend.gemmKernel(m: 33, n: 17, k: 40), .tiled)
        XCTAssertEqual(GPUBackend.gemmKernel(m: 33, n: 17, k: 16), .smallK)
        XCTAssertEqual(GPUBackend.gemmKernel(m: 33, n: 17, k: 17), .tiled)
    }

    struct Case {
        let m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float, bias: Bool, relu: Bool
        var name: String {
            "\(m)×\(n)×\(k) \(transA ? "t" : "n")\(transB ? "t" : "n") alpha \(alpha) beta \(beta)\(bias ? " bias" : "")\(relu ? " relu" : "")"
        }
    }

    static var cases: [Case] {
        var out: [Case] = []
        for n in [1, 2, 3, 5, 16, 17] {  // the narrow kernel at widths 2, 4, 8, 16; the tiled one
            for (m, k) in [(37, 20), (300, 40), (5, 0)] {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    out.append(Case(m: m, n: n, k: k, transA: ta, transB: tb, alpha: 0.5, beta: 0, bias: false, relu: false))
                }
                out.append(Case(m: m, n: n, k: k, transA: false, transB: false, alpha: 1, beta: 0.75, bias: false, relu: false))
                out.append(Case(m: m, n: n, k: k, transA: false, transB: true, alpha: 1.5, beta: 0, bias: true, relu: true))
            }
        }
        for k in [1, 2, 16, 17] {
            for (m, n) in [(33, 20), (9, 70)] {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    out.append(Case(m: m, n: n, k: k, transA: ta, transB: tb, alpha: -2, beta: 0, bias: false, relu: false))
                }
                out.append(Case(m: m, n: n, k: k, transA: true, transB: false, alpha: 1, beta: -0.5, bias: true, relu: false))
                out.append(Case(m: m, n: n, k: k, transA: false, transB: false, alpha: 1, beta: 0, bias: true, relu: true))
            }
        }
        return out
    }

    /// c for each case (NaN in c where beta is 0: never read). Bias and ReLU through `dense`
    /// or `linear` where they take the case, else the GEMM kernels directly.
    static func run(_ be: any Backend, _ c: Case, kernel: GPUBackend.GEMMKernel? = nil) -> [Float] {
        let r = { (n: Int, seed: UInt64, _: Float) in GPUBackendEmulatedTests.random(n, seed: seed) }
        let a = c.transA ? be.upload(r(c.k * c.m, 11, 1), rows: c.k, cols: c.m) : be.upload(r(c.m * c.k, 11, 1), rows: c.m, cols: c.k)
        let b = c.transB ? be.upload(r(c.n * c.k, 12, 1), rows: c.n, cols: c.k) : be.upload(r(c.k * c.n, 12, 1), rows: c.k, cols: c.n)
        let y = be.upload(c.beta == 0 ? [Float](repeating: .nan, count: c.m * c.n) : r(c.m * c.n, 13, 1), rows: c.m, cols: c.n)
        let bias = be.upload(r(c.n, 14, 1), rows: 1, cols: c.n)
        if let g = be as? GPUBackend {
            g.opLock.withLock {
                g.run {
                    try g.gemmLocked(a: g.ptr(a), lda: a.cols, transA: c.transA, b: g.ptr(b), ldb: b.cols, transB: c.transB,
                                     c: g.ptr(y), m: c.m, n: c.n, k: c.k, alpha: c.alpha, beta: c.beta,
                                     bias: c.bias ? g.ptr(bias) : nil, relu: c.relu, kernel: kernel)
                }
            }
        } else if c.bias || c.relu {
            // The CPU: the GEMM, then the bias and ReLU (its dense/linear compute the same).
            be.gemm(a, transA: c.transA, b, transB: c.transB, into: y, alpha: c.alpha, beta: c.beta)
            if c.bias { be.addRowVector(y, bias) }
            if c.relu { be.relu(y) }
        } else {
            be.gemm(a, transA: c.transA, b, transB: c.transB, into: y, alpha: c.alpha, beta: c.beta)
        }
        return be.download(y)
    }

    func testNarrowAndShortGEMMsAgreeWithTheCPUTheTiledKernelAndThemselves() throws {
        let dev = try emulator()
        let cpu = CPUBackend(threads: 2)
        let g1 = GPUBackend(device: dev, maxGridBlocks: 1), g3 = GPUBackend(device: dev, maxGridBlocks: 3)
        let before = dev.launched
        var chosen: [GPUBackend.GEMMKernel: Int] = [:]
        for c in Self.cases {
            let kernel = GPUBackend.gemmKernel(m: c.m, n: c.n, k: c.k)
            chosen[kernel, default: 0] += 1
            let want = Self.run(cpu, c), got3 = Self.run(g3, c), got1 = Self.run(g1, c)
            let tiled = Self.run(g3, c, kernel: .tiled)
            XCTAssertEqual(got3.map(\.bitPattern), got1.map(\.bitPattern), "\(c.name): maxGridBlocks 3 vs 1")
            XCTAssertEqual(got3.map(\.bitPattern), tiled.map(\.bitPattern), "\(c.name): \(kernel) vs the tiled kernel")
            XCTAssertEqual(want.count, got3.count)
            for i in 0..<min(want.count, got3.count) {
                XCTAssertLessThanOrEqual(abs(got3[i] - want[i]), 1e-5 * max(1, abs(want[i])), "\(c.name)[\(i)]: gpu \(got3[i]), cpu \(want[i])")
            }
        }
        XCTAssertGreaterThan(chosen[.smallN] ?? 0, 20)
        XCTAssertGreaterThan(chosen[.smallK] ?? 0, 20)
        XCTAssertGreaterThan(chosen[.tiled] ?? 0, 10)
        let after = dev.launched
        for name in ["mlr_gemm_small_n", "mlr_gemm_small_k", "mlr_gemm"] {
            XCTAssertGreaterThan(after[name] ?? 0, before[name] ?? 0, "\(name) ran")
        }
        try g1.checkError(); try g3.checkError()
    }

    /// The public operations take the narrow kernel too: dense with bias and ReLU, linear
    /// with a transposed weight (the shapes of a 2-class output layer).
    func testDenseAndLinearOnTwoClasses() throws {
        let dev = try emulator()
        let cpu = CPUBackend(threads: 2)
        func outputs(_ be: any Backend) -> [[Float]] {
            let r = { (n: Int, seed: UInt64, _: Float) in GPUBackendEmulatedTests.random(n, seed: seed) }
            let x = be.upload(r(270 * 12, 21, 1), rows: 270, cols: 12)
            let w = be.upload(r(12 * 2, 22, 1), rows: 12, cols: 2), wt = be.upload(r(2 * 12, 23, 1), rows: 2, cols: 12)
            let b = be.upload(r(2, 24, 1), rows: 1, cols: 2)
            let y1 = be.tensor(rows: 270, cols: 2), y2 = be.tensor(rows: 270, cols: 2)
            be.dense(x, w, bias: b, relu: true, into: y1)
            be.linear(x, wt, transW: true, bias: b, alpha: 0.25, into: y2)
            // d·Wᵀ with k = 2 (the MLP's hidden delta): the short-sum kernel.
            let d = be.upload(r(270 * 2, 25, 1), rows: 270, cols: 2), w2 = be.upload(r(20 * 2, 26, 1), rows: 20, cols: 2)
            let h = be.tensor(rows: 270, cols: 20)
            be.gemm(d, transA: false, w2, transB: true, into: h, alpha: 1, beta: 0)
            return [be.download(y1), be.download(y2), be.download(h)]
        }
        let want = outputs(cpu)
        let a = outputs(GPUBackend(device: dev, maxGridBlocks: 1)), b = outputs(GPUBackend(device: dev, maxGridBlocks: 3))
        XCTAssertEqual(a.map { $0.map(\.bitPattern) }, b.map { $0.map(\.bitPattern) })
        for (p, q) in zip(a, want) {
            XCTAssertEqual(p.count, q.count)
            for (x, y) in zip(p, q) { XCTAssertEqual(x, y, accuracy: 1e-5 * max(1, abs(y))) }
        }
        XCTAssertTrue(want[0].contains(0) && want[0].contains { $0 > 0 }, "ReLU clipped some and kept some")
    }
}

extension GPUKernelShapeTests {
    /// The kernels that walk a matrix's elements grid-stride by (row, column) without a
    /// division a step: shapes larger than the grid, whose stride is not a multiple of the
    /// column count (so the column carries into the next row), at grid limits 1 and 3.
    func testRowColumnWalksPastTheGrid() throws {
        let dev = try emulator()
        func outputs(_ be: any Backend) -> [(String, [Float], Float)] {
            let r = { (n: Int, seed: UInt64) in GPUBackendEmulatedTests.random(n, seed: seed) }
            var out: [(String, [Float], Float)] = []
            let x = be.upload(r(300 * 7, 31), rows: 300, cols: 7)
            be.addRowVector(x, be.upload(r(7, 32), rows: 1, cols: 7))
            out.append(("addRowVector", be.download(x), 0))
            let src = be.upload(r(50 * 7, 33), rows: 50, cols: 7), g = be.tensor(rows: 300, cols: 7)
            be.gatherRows(src, (0..<300).map { Int32(($0 * 37) % 50) }, into: g)
            out.append(("gatherRows", be.download(g), 0))
            let idx = be.uploadIndices((0..<300).map { Int32(($0 * 11) % 50) }), g2 = be.tensor(rows: 290, cols: 7)
            be.gatherRows(src, indices: idx, offset: 10, count: 290, into: g2)
            out.append(("gatherRows device indices", be.download(g2), 0))
            let c = be.upload(r(5 * 7, 34), rows: 5, cols: 7), d = be.tensor(rows: 300, cols: 5)
            be.squaredDistances(x, c, into: d)
            out.append(("squaredDistances", be.download(d), 1e-5))
            let cs = be.tensor(rows: 1, cols: 300)
            be.columnSums(be.upload(r(1500 * 300, 35), rows: 1500, cols: 300), into: cs)
            out.append(("columnSums 1500×300", be.download(cs), 2e-4))  // 1500 terms in another order
            return out
        }
        let want = outputs(CPUBackend(threads: 2))
        let a = outputs(GPUBackend(device: dev, maxGridBlocks: 1)), b = outputs(GPUBackend(device: dev, maxGridBlocks: 3))
        for ((w, x), y) in zip(zip(want, a), b) {
            XCTAssertEqual(x.1.map(\.bitPattern), y.1.map(\.bitPattern), "\(w.0): maxGridBlocks 1 vs 3")
            XCTAssertEqual(w.1.count, x.1.count, w.0)
            for (p, q) in zip(x.1, w.1) {
                if w.2 == 0 { XCTAssertEqual(p.bitPattern, q.bitPattern, w.0) } else { XCTAssertEqual(p, q, accuracy: w.2 * max(1, abs(q)), w.0) }
            }
        }
    }
}

/// A device that runs nothing: allocations are numbers, launches are counted and their
/// arguments checked against the kernel's spec (as CUDADevice does), copies do nothing.
final class NullDevice: KernelDevice, @unchecked Sendable {
    let info = GPUDeviceInfo(name: "null", computeCapability: (9, 0), driverVersion: 0, nvrtcVersion: (0, 0),
                             multiprocessors: 1, totalMemory: 1 << 40)
    private let lock = Lock()
    private var next: UInt64 = 0x1000
    private(set) var live: [UInt64: Int] = [:]
    private(set) var launches = 0
    let specs = Dictionary(uniqueKeysWithValues: CUDAKernels.specs.map { ($0.name, $0) })

    func allocate(_ bytes: Int) throws -> DevicePointer {
        lock.withLock {
            let p = next
            next += UInt64(bytes + 256)
            live[p] = bytes
            return DevicePointer(p)
        }
    }
    func free(_ p: DevicePointer) { lock.withLock { _ = live.removeValue(forKey: p.address) } }
    func copy(toDevice dst: DevicePointer, from src: UnsafeRawBufferPointer) throws {}
    func copy(toHost dst: UnsafeMutableRawBufferPointer, from src: DevicePointer) throws {}
    func copy(_ dst: DevicePointer, from src: DevicePointer, bytes: Int) throws {}
    func zero(_ p: DevicePointer, bytes: Int) throws {}
    func launch(_ kernel: String, grid: Dim3, block: Dim3, _ args: [KernelArgument]) throws {
        guard let s = specs[kernel], CUDAKernels.matches(s, args) else { throw ComputeError("null device: bad launch of \(kernel)") }
        lock.withLock { launches += 1 }
    }
    func synchronize() throws {}
}

extension GPUKernelShapeTests {
    func testOversizedScratchBuffersShrinkUnlessRecorded() throws {
        let dev = NullDevice()
        let be = GPUBackend(device: dev, maxGridBlocks: 4)
        try be.opLock.withLock {
            let big = try be.scratch(.distances, bytes: 40 << 20)
            XCTAssertEqual(dev.live[big.address], 50 << 20)
            // A quarter or more of it: kept.
            XCTAssertEqual(try be.scratch(.distances, bytes: 13 << 20), big)  // the buffer is 50 MiB
            // While a step records, the buffer stays (and is kept by the recording).
            be.recordingBuffers = []
            XCTAssertEqual(try be.scratch(.distances, bytes: 1 << 20), big)
            let kept = be.recordingBuffers!
            be.recordingBuffers = nil
            XCTAssertEqual(kept.map(\.pointer), [big])
            // Not recording: less than a quarter makes a smaller one; the recorded one lives on.
            let small = try be.scratch(.distances, bytes: 1 << 20)
            XCTAssertNotEqual(small, big)
            XCTAssertEqual(dev.live[small.address], (1 << 20) + (1 << 18))
            XCTAssertNotNil(dev.live[big.address], "a recorded buffer stays allocated")
            withExtendedLifetime(kept) {}
        }
        // The recording gone, the big buffer is freed.
        XCTAssertEqual(dev.live.count, 1)
        // Small buffers never shrink.
        try be.opLock.withLock {
            let s = try be.scratch(.rowInts, bytes: 1 << 20)
            XCTAssertEqual(try be.scratch(.rowInts, bytes: 4), s)
        }
    }

    func testTheAdamTableIsReusedForTheSameTensors() throws {
        let be = GPUBackend(device: NullDevice(), maxGridBlocks: 4)
        let ps = [be.tensor(rows: 3, cols: 4), be.tensor(rows: 1, cols: 4)]
        let gs = ps.map { be.tensor(rows: $0.rows, cols: $0.cols) }, ms = ps.map { be.tensor(rows: $0.rows, cols: $0.cols) }
        let vs = ps.map { be.tensor(rows: $0.rows, cols: $0.cols) }
        let first = be.opLock.withLock { be.cachedAdamTable(params: ps, grads: gs, m: ms, v: vs, weightDecay: [0, 0.1]) }
        XCTAssertEqual(first.0, be.adamTable(params: ps, grads: gs, m: ms, v: vs, weightDecay: [0, 0.1]).0)
        XCTAssertEqual(first.1, 12)
        let again = be.opLock.withLock { be.cachedAdamTable(params: ps, grads: gs, m: ms, v: vs, weightDecay: [0, 0.1]) }
        XCTAssertTrue(first.0.withUnsafeBufferPointer { a in again.0.withUnsafeBufferPointer { $0.baseAddress == a.baseAddress } },
                      "the same table, not a new one")
        // Another weight decay, or another tensor: built again.
        let wd = be.opLock.withLock { be.cachedAdamTable(params: ps, grads: gs, m: ms, v: vs, weightDecay: [0, 0.2]) }
        XCTAssertEqual(wd.0[22], Float(0.2).bitPattern)
        let g2 = [gs[0], be.tensor(rows: 1, cols: 4)]
        let other = be.opLock.withLock { be.cachedAdamTable(params: ps, grads: g2, m: ms, v: vs, weightDecay: [0, 0.2]) }
        XCTAssertEqual(other.0, be.adamTable(params: ps, grads: g2, m: ms, v: vs, weightDecay: [0, 0.2]).0)
        XCTAssertNotEqual(other.0, wd.0)
    }

    /// What a launch costs the host through a device that runs nothing (the backend's
    /// argument list and the spec check a CUDADevice does). Printed, not asserted: a debug
    /// build's figure (see the report for release figures).
    func testPrintsTheHostCostOfALaunch() throws {
        let dev = NullDevice()
        let be = GPUBackend(device: dev, maxGridBlocks: 65_535)
        let x = be.tensor(rows: 256, cols: 100), w = be.tensor(rows: 100, cols: 128), b = be.tensor(rows: 1, cols: 128)
        let y = be.tensor(rows: 256, cols: 128)
        let n = 2000
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<n { be.dense(x, w, bias: b, relu: true, into: y) }
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(n)
        try be.checkError()
        XCTAssertEqual(dev.launches, n)
        print("host cost of dense (one mlr_gemm launch) through a null device: \(Int(dt)) ns (debug build)")
    }
}
