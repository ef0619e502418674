// Micro-benchmarks of the store that need no anchors (run by bench/store_bench.sh):
//   mlrepo-bench lookup N     build a pack of N small objects, time random hits and misses
//   mlrepo-bench chunk MB     FastCDC and SHA-256 throughput on pseudo-random data
//   mlrepo-bench gemm [N...]  GEMM GFLOP/s of the CPU backend (run by bench/gemm.sh)
#if canImport(Glibc)
import Glibc
#endif
import Store
import Support
// The gemm mode needs the Compute module, which this target links only when Package.swift
// lists "Compute" among mlrepo-bench's dependencies; it is compiled in when built with
// -DMLREPO_BENCH_GEMM (bench/gemm.sh does both).
#if MLREPO_BENCH_GEMM
import Compute
#endif

func now() -> Double { Clock.monotonic() }

func lookup(_ n: Int) throws {
    let dir = "/tmp/mlrepo-bench-lookup-\(getpid())"
    try FS.mkdirs(dir)
    defer { _ = system("rm -rf '\(dir)'") }
    let store = try ObjectStore(directory: dir, durable: false)
    var t0 = now()
    var ids: [ObjectId] = []
    ids.reserveCapacity(min(n, 1_000_000))
    var w = try store.beginWrite()
    var payload = [UInt8](repeating: 0, count: 8)
    let h = SHA256Hasher()
    for i in 0..<n {
        withUnsafeBytes(of: UInt64(i).littleEndian) { for k in 0..<8 { payload[k] = $0[k] } }
        let id = payload.withUnsafeBytes { ObjectHash.id(.blob, $0, hasher: h) }
        try payload.withUnsafeBytes { try w.put(id: id, kind: .blob, codec: .raw, rawSize: 8, stored: $0) }
        if i % max(1, n / 1_000_000) == 0 && ids.count < 1_000_000 { ids.append(id) }
        if w.count >= ObjectStore.maxPendingObjects {
            try store.commitPending()
            w = try store.beginWrite()
        }
    }
    try store.commitPending()
    let build = now() - t0
    // Merge into one pack, as gc would.
    t0 = now()
    try store.repack(store.packs, keep: { _ in true })
    let merged = store.packs.count
    let mergeTime = now() - t0
    try store.reload()
    var rng = SystemRandomNumberGenerator()
    let probes = 1_000_000
    t0 = now()
    var found = 0
    for _ in 0..<probes { if store.contains(ids[Int.random(in: 0..<ids.count, using: &rng)]) { found += 1 } }
    let hit = (now() - t0) / Double(probes) * 1e9
    t0 = now()
    var missing = 0
    for i in 0..<probes {
        let id = ObjectHash.id(.blob, Array("missing \(i)".utf8))
        if !store.contains(id) { missing += 1 }
    }
    let missT = (now() - t0) / Double(probes) * 1e9
    t0 = now()
    for i in 0..<probes { _ = ObjectHash.id(.blob, Array("missing \(i)".utf8)) }
    let hashOnly = (now() - t0) / Double(probes) * 1e9
    print("objects: \(n) (\(store.packs.count) pack(s) after merge: \(merged))")
    print("build: \(String(format3(build))) s; merge into one pack: \(format3(mergeTime)) s")
    print("lookup hit:  \(format3(hit)) ns (\(found)/\(probes) found)")
    print("lookup miss: \(format3(missT - hashOnly)) ns (\(missing)/\(probes) absent)")
}

func chunk(_ mb: Int) {
    let n = mb << 20
    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: n, alignment: 64)
    defer { buf.deallocate() }
    var x: UInt64 = 0x9E3779B97F4A7C15
    for i in 0..<(n / 8) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        buf.storeBytes(of: x, toByteOffset: i * 8, as: UInt64.self)
    }
    let c = Chunker.default
    var t0 = now()
    let sizes = c.chunks(UnsafeRawBufferPointer(buf))
    let cdc = now() - t0
    t0 = now()
    let h = SHA256Hasher()
    h.update(UnsafeRawBufferPointer(buf))
    _ = h.finalize()
    let sha = now() - t0
    let mean = Double(n) / Double(sizes.count)
    print("FastCDC: \(format3(Double(n) / cdc / 1e9)) GB/s (\(sizes.count) chunks, mean \(Int(mean)) B)")
    print("SHA-256 (libcrypto, one core): \(format3(Double(n) / sha / 1e9)) GB/s")
}

#if MLREPO_BENCH_GEMM
/// One GEMM shape of `mlrepo-bench gemm`: C (m×n) = op(A) · op(B), op(A) m×k, op(B) k×n.
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

/// mlrepo-bench gemm [N...]: GFLOP/s (median of 5 after a warm-up) of the CPU backend's GEMM
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
#endif

func format3(_ d: Double) -> String { String((d * 1000).rounded() / 1000) }

let args = Array(CommandLine.arguments.dropFirst())
do {
    switch args.first {
    case "lookup": try lookup(args.count > 1 ? Int(args[1]) ?? 1_000_000 : 1_000_000)
    case "chunk": chunk(args.count > 1 ? Int(args[1]) ?? 512 : 512)
    case "gemm":
        #if MLREPO_BENCH_GEMM
        gemmBench(Array(args.dropFirst()))
        #else
        print("mlrepo-bench was built without the Compute module; run bench/gemm.sh")
        exit(2)
        #endif
    default:
        print("usage: mlrepo-bench lookup N | chunk MB | gemm [N...]")
        exit(2)
    }
} catch {
    print("error: \(error)")
    exit(1)
}
