// GEMM throughput of the CPU backend (run by bench/gemm.sh, which sets it beside numpy):
//   mlrepo-gemm-bench [N...]   GFLOP/s for square N (default 256 512 1024 2048) and the
//                              shapes training uses, 1 and 2 threads, portable and AVX2 kernels
import Compute
import Support

func now() -> Double { Clock.monotonic() }

/// One GEMM shape: C (m×n) = op(A) · op(B), op(A) m×k, op(B) k×n.
/// Labelled "AxB*CxD" with "^T" after a stored-transposed operand; `block` > 0 runs the product
/// in row blocks of that many rows (as prediction over a large table does), labelled "/block".
struct GEMMShape {
    let m: Int, k: Int, n: Int
    var transA = false
    var transB = false
    var block = 0
    var label: String {
        let a = transA ? "\(k)x\(m)^T" : "\(m)x\(k)"
        let b = transB ? "\(n)x\(k)^T" : "\(k)x\(n)"
        return "\(a)*\(b)" + (block > 0 ? "/\(block)" : "")
    }
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
}

/// mlrepo-gemm-bench [N...]: GFLOP/s (median of 5 after a warm-up) of the CPU backend's GEMM
/// for square N (default 256 512 1024 2048) and the shapes training uses, with 1 and 2 threads,
/// on the portable and the AVX2 kernels.
func gemmBench(_ args: [String]) {
    var shapes: [GEMMShape] = []
    let sizes = args.compactMap { Int($0) }.filter { $0 > 0 }
    for s in sizes.isEmpty ? [256, 512, 1024, 2048] : sizes { shapes.append(GEMMShape(m: s, k: s, n: s)) }
    if sizes.isEmpty {
        shapes.append(GEMMShape(m: 256, k: 100, n: 128))                   // MLP layer, batch 256: X·W
        shapes.append(GEMMShape(m: 100, k: 256, n: 128, transA: true))     // its weight gradient Xᵀ·G
        shapes.append(GEMMShape(m: 256, k: 128, n: 100, transB: true))     // its input gradient G·Wᵀ
        shapes.append(GEMMShape(m: 4096, k: 128, n: 100))
        shapes.append(GEMMShape(m: 100, k: 65536, n: 100, transA: true))   // Gram matrix XᵀX (ridge, PCA)
        shapes.append(GEMMShape(m: 1_000_000, k: 100, n: 10, block: 65536)) // scoring 1M rows
    }
    let paths: [GEMMPath] = GEMMPath.avx2Supported ? [.portable, .avx2] : [.portable]
    let threadCounts = [1, 2]
    let probe = CPUBackend(threads: 1)
    print("GEMM float32, GFLOP/s, median of 5 (\(probe.deviceName); AVX2+FMA: \(GEMMPath.avx2Supported ? "yes" : "no"))")
    var header = "shape".padding(30)
    for p in paths { for t in threadCounts { header += "\(p.rawValue)/\(t)".padding(13, left: true) } }
    print(header)
    var rng: UInt64 = 0x9E3779B97F4A7C15
    func rand() -> Float {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
        return Float(Int64(bitPattern: rng >> 11) % 2_000_001 - 1_000_000) / 1_000_000
    }
    for s in shapes {
        let aCount = s.m * s.k, bCount = s.k * s.n, cCount = s.m * s.n
        let a = UnsafeMutablePointer<Float>.allocate(capacity: aCount)
        let b = UnsafeMutablePointer<Float>.allocate(capacity: bCount)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: cCount)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        for i in 0..<aCount { a[i] = rand() }
        for i in 0..<bCount { b[i] = rand() }
        c.initialize(repeating: 0, count: cCount)
        let lda = s.transA ? s.m : s.k, ldb = s.transB ? s.k : s.n
        var line = s.label.padding(30)
        for p in paths {
            for t in threadCounts {
                let be = CPUBackend(threads: t, gemmPath: p)
                func once() {
                    let blk = s.block > 0 ? s.block : s.m
                    var r = 0
                    while r < s.m {   // row blocks (only for row-major A)
                        let rows = min(blk, s.m - r)
                        be.gemm(m: rows, n: s.n, k: s.k, alpha: 1, a: s.transA ? a + r : a + r * lda, lda: lda,
                                transA: s.transA, b: b, ldb: ldb, transB: s.transB, beta: 0, c: c + r * s.n, ldc: s.n)
                        r += rows
                    }
                }
                once()
                // Small shapes: time a batch of calls so that one sample is at least ~20 ms.
                let t0 = now(); once(); let single = max(now() - t0, 1e-7)
                let inner = max(1, Int(0.02 / single))
                var times: [Double] = []
                for _ in 0..<5 {
                    let t1 = now()
                    for _ in 0..<inner { once() }
                    times.append((now() - t1) / Double(inner))
                }
                times.sort()
                line += format1(s.flops / times[2] / 1e9).padding(13, left: true)
            }
        }
        print(line)
    }
}

func format1(_ d: Double) -> String { String((d * 10).rounded() / 10) }

extension String {
    func padding(_ w: Int, left: Bool = false) -> String {
        let pad = String(repeating: " ", count: max(0, w - count))
        return left ? pad + self : self + pad
    }
}

gemmBench(Array(CommandLine.arguments.dropFirst()))
