// Micro-benchmarks of the store that need no anchors (run by bench/store_bench.sh):
//   mlrepo-bench lookup N     build a pack of N small objects, time random hits and misses
//   mlrepo-bench chunk MB     FastCDC and SHA-256 throughput on pseudo-random data
//   mlrepo-bench onnx MODEL.onnx DATA.f32 COLS [BATCH] [THREADS] [SECONDS]
//                             ONNX model execution alone (bench/onnx_serve.sh): DATA.f32 is
//                             row-major little-endian float32 rows of COLS features, fed to the
//                             model's one float input BATCH rows at a time for about SECONDS;
//                             prints one JSON line (rows/s, µs per batch, µs per row).
// (GEMM throughput is mlrepo-gemm-bench, run by bench/gemm.sh.)
#if canImport(Glibc)
import Glibc
#endif
import Compute
import ML
import Store
import Support

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

func onnx(_ a: [String]) throws {
    guard a.count >= 3, let cols = Int(a[2]), cols > 0 else {
        print("usage: mlrepo-bench onnx MODEL.onnx DATA.f32 COLS [BATCH] [THREADS] [SECONDS]"); exit(2)
    }
    let batch = a.count > 3 ? max(1, Int(a[3]) ?? 1) : 1
    let threads = a.count > 4 ? max(1, Int(a[4]) ?? 1) : 1
    let seconds = a.count > 5 ? max(0.1, Double(a[5]) ?? 3) : 3
    let program = try ONNXProgram(path: a[0])
    guard let input = program.inputs.first else { print("error: the model has no input"); exit(1) }
    let bytes = try FS.readFile(a[1])
    let total = bytes.count / 4 / cols
    guard total >= batch else { print("error: \(a[1]) holds \(total) rows, fewer than the batch \(batch)"); exit(1) }
    var data = [Float](repeating: 0, count: total * cols)
    data.withUnsafeMutableBytes { d in bytes.withUnsafeBytes { d.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<(total * cols * 4)])) } }
    let backend = CPUBackend(threads: threads)
    // Batches cycle through the file; each batch's feed is built before the clock starts.
    let batches = min(total / batch, 64)
    let feeds: [[String: ONNXValue]] = (0..<batches).map { b in
        let slice = Array(data[(b * batch * cols)..<((b + 1) * batch * cols)])
        return [input.name: .tensor(ONNXArray(floats: slice, shape: [batch, cols]))]
    }
    // Warm up, then run for about `seconds`.
    for f in feeds.prefix(4) { _ = try program.run(f, backend: backend) }
    var runs = 0
    let t0 = now()
    var t = t0
    while t - t0 < seconds {
        for _ in 0..<max(1, min(1000, 20_000 / batch)) {
            _ = try program.run(feeds[runs % batches], backend: backend)
            runs += 1
        }
        t = now()
    }
    let elapsed = t - t0
    let rows = Double(runs * batch)
    print("{\"model\":\"\(Path.basename(a[0]))\",\"batch\":\(batch),\"threads\":\(threads),\"runs\":\(runs),\"seconds\":\(format3(elapsed)),\"rows_per_s\":\(Int(rows / elapsed)),\"us_per_batch\":\(format3(elapsed / Double(runs) * 1e6)),\"us_per_row\":\(format3(elapsed / rows * 1e6))}")
}

func format3(_ d: Double) -> String { String((d * 1000).rounded() / 1000) }

let args = Array(CommandLine.arguments.dropFirst())
do {
    switch args.first {
    case "lookup": try lookup(args.count > 1 ? Int(args[1]) ?? 1_000_000 : 1_000_000)
    case "chunk": chunk(args.count > 1 ? Int(args[1]) ?? 512 : 512)
    case "onnx": try onnx(Array(args.dropFirst()))
    case "gemm":
        print("the GEMM benchmark is mlrepo-gemm-bench; run bench/gemm.sh")
        exit(2)
    default:
        print("usage: mlrepo-bench lookup N | chunk MB | onnx MODEL.onnx DATA.f32 COLS [BATCH] [THREADS] [SECONDS]")
        exit(2)
    }
} catch {
    print("error: \(error)")
    exit(1)
}
