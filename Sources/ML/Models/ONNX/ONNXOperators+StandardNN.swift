#if canImport(Glibc)
import Glibc
#endif
import Compute
import Support

// ai.onnx operators with inner products and reductions: MatMul and Gemm (2-D float through
// the backend's GEMM; N-D MatMul as a loop of 2-D products), Softmax and LogSoftmax
// (max-subtracted, Float accumulation as onnxruntime), the Reduce* family, ArgMax/ArgMin and
// TopK.

// MARK: Products

/// C (M×N) = alpha · op(A) · op(B) + beta · C for float32 on the backend. `a` holds A as
/// stored (M×K, or K×M when transposed), `b` likewise; `c` is M×N or nil.
/// (Gemm with a row C goes through `backendLinear`, which adds the row on the backend.)
func backendGemm(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int, transA: Bool, transB: Bool,
                 c: [Float]?, alpha: Float, beta: Float, backend: any Backend) -> [Float] {
    if m == 0 || n == 0 { return [] }
    if k == 0 {
        guard let c else { return [Float](repeating: 0, count: m * n) }
        return c.map { beta * $0 }
    }
    let ta = backend.borrow(a, rows: transA ? k : m, cols: transA ? m : k)
    let tb = backend.borrow(b, rows: transB ? n : k, cols: transB ? k : n)
    if !transA && c == nil {
        let tc = backend.uninitializedTensor(rows: m, cols: n)
        backend.linear(ta, tb, transW: transB, bias: nil, alpha: alpha, into: tc)
        return backend.download(taking: tc)
    }
    let tc: Tensor
    if var cc = c { tc = backend.upload(taking: &cc, rows: m, cols: n) } else { tc = backend.uninitializedTensor(rows: m, cols: n) }
    backend.gemm(ta, transA: transA, tb, transB: transB, into: tc, alpha: alpha, beta: c == nil ? 0 : beta)
    return backend.download(taking: tc)
}

/// Gemm's B (n×k when `transW`, else k×n) and its C as a bias row (beta · C broadcast to n
/// values), as the backend's `linear` takes them.
struct LinearOperands: Sendable {
    let w: [Float]
    let transW: Bool
    let bias: [Float]?
}

/// B laid out for `linear`: n×k (each output a dot product of two contiguous rows) when n is
/// under 8, else k×n (rows of B streamed once per input row). `b` is as stored (n×k when
/// `transB`).
func linearWeights(_ b: [Float], k: Int, n: Int, transB: Bool) -> (w: [Float], transW: Bool) {
    let wantTrans = n < 8
    if wantTrans == transB { return (b, transB) }
    // Transpose: b is r×c as stored.
    let r = transB ? n : k, c = transB ? k : n
    var t = [Float](repeating: 0, count: b.count)
    for i in 0..<r { for j in 0..<c { t[j * r + i] = b[i * c + j] } }
    return (t, wantTrans)
}

/// beta · C as one row of n values when C broadcasts to [m, n] along its rows only (shape
/// [], [1], [n], [1, 1] or [1, n]); nil otherwise.
func biasRow(_ c: ONNXArray, n: Int, beta: Float) -> [Float]? {
    guard let v = c.floats, c.rank <= 2, c.shape.dropLast().allSatisfy({ $0 == 1 }) else { return nil }
    if v.count == n { return beta == 1 ? v : v.map { beta * $0 } }
    if v.count == 1 { return [Float](repeating: beta * v[0], count: n) }
    return nil
}

/// Gemm without transA, C nil or a bias row: y = alpha · A · op(B) + bias on the backend.
func backendLinear(_ a: [Float], m: Int, k: Int, n: Int, _ ops: LinearOperands, alpha: Float, backend: any Backend) -> [Float] {
    if m == 0 || n == 0 { return [] }
    let x = backend.borrow(a, rows: m, cols: k)
    let w = backend.borrow(ops.w, rows: ops.transW ? n : k, cols: ops.transW ? k : n)
    let bias = ops.bias.map { backend.borrow($0, rows: 1, cols: n) }
    let y = backend.uninitializedTensor(rows: m, cols: n)
    backend.linear(x, w, transW: ops.transW, bias: bias, alpha: alpha, into: y)
    return backend.download(taking: y)
}

/// The same product on the host, for double and integer elements.
func hostGemm<T>(_ a: [T], _ b: [T], m: Int, k: Int, n: Int, transA: Bool, transB: Bool, zero: T,
                 mul: (T, T) -> T, add: (T, T) -> T) -> [T] {
    var c = [T](repeating: zero, count: m * n)
    for i in 0..<m {
        for p in 0..<k {
            let x = transA ? a[p * m + i] : a[i * k + p]
            for j in 0..<n {
                let y = transB ? b[j * k + p] : b[p * n + j]
                c[i * n + j] = add(c[i * n + j], mul(x, y))
            }
        }
    }
    return c
}

/// One 2-D product of slices of a and b (rows of A at `ao`, of B at `bo`), element type by storage.
private func product(_ a: ONNXArray, _ b: ONNXArray, ao: Int, bo: Int, m: Int, k: Int, n: Int, backend: any Backend) throws -> ONNXArray.Storage {
    switch (a.storage, b.storage) {
    case (.float(let x), .float(let y)):
        let xs = ao == 0 && x.count == m * k ? x : Array(x[ao..<(ao + m * k)])
        let ys = bo == 0 && y.count == k * n ? y : Array(y[bo..<(bo + k * n)])
        return .float(backendGemm(xs, ys, m: m, k: k, n: n, transA: false, transB: false, c: nil, alpha: 1, beta: 0, backend: backend))
    case (.double(let x), .double(let y)):
        return .double(hostGemm(Array(x[ao..<(ao + m * k)]), Array(y[bo..<(bo + k * n)]), m: m, k: k, n: n, transA: false, transB: false, zero: 0, mul: *, add: +))
    case (.int64(let x), .int64(let y)):
        return .int64(hostGemm(Array(x[ao..<(ao + m * k)]), Array(y[bo..<(bo + k * n)]), m: m, k: k, n: n, transA: false, transB: false, zero: 0, mul: (&*), add: (&+)))
    default:
        throw ONNXRunError("MatMul takes numeric inputs of one element type, not \(a.elementType.name) and \(b.elementType.name)")
    }
}

private func concatStorage(_ parts: [ONNXArray.Storage]) -> ONNXArray.Storage {
    var f: [Float] = [], d: [Double] = [], i: [Int64] = []
    for p in parts {
        switch p {
        case .float(let v): f += v
        case .double(let v): d += v
        case .int64(let v): i += v
        default: break
        }
    }
    switch parts.first {
    case .double?: return .double(d)
    case .int64?: return .int64(i)
    default: return .float(f)
    }
}

/// numpy's matmul: 1-D operands promoted and their axis dropped, batch dimensions broadcast.
func onnxMatMul(_ a: ONNXArray, _ b: ONNXArray, backend: any Backend) throws -> ONNXArray {
    guard a.elementType == b.elementType else {
        throw ONNXRunError("MatMul takes inputs of one element type, not \(a.elementType.name) and \(b.elementType.name)")
    }
    guard a.rank >= 1, b.rank >= 1 else { throw ONNXRunError("MatMul of a scalar") }
    let sa = a.rank == 1 ? [1, a.shape[0]] : a.shape, sb = b.rank == 1 ? [b.shape[0], 1] : b.shape
    let m = sa[sa.count - 2], k = sa[sa.count - 1], n = sb[sb.count - 1]
    guard sb[sb.count - 2] == k else { throw ONNXRunError("MatMul of shapes \(a.shape) and \(b.shape): inner dimensions differ") }
    let ba = Array(sa.dropLast(2)), bb = Array(sb.dropLast(2))
    let batch = try ONNXK.broadcastShape(ba, bb)
    var out = batch + [m, n]
    let total = try ONNXK.count(out)
    if b.rank == 1 { out.removeLast() }
    if a.rank == 1 { out.remove(at: out.count - (b.rank == 1 ? 1 : 2)) }
    if total == 0 { return ONNXArray(shape: out, storage: a.storage.emptyLike) }
    let s: ONNXArray.Storage
    if bb.isEmpty || bb.allSatisfy({ $0 == 1 }) && ba == batch {
        // B is one matrix: every batch of A stacks into one product.
        s = try product(a, b, ao: 0, bo: 0, m: ONNXK.product(ba[...]) * m, k: k, n: n, backend: backend)
    } else {
        let nb = ONNXK.product(batch[...])
        let ia = try ONNXK.expand(Array(0..<ONNXK.product(ba[...])), ba, to: batch)
        let ib = try ONNXK.expand(Array(0..<ONNXK.product(bb[...])), bb, to: batch)
        var parts: [ONNXArray.Storage] = []
        for i in 0..<nb {
            parts.append(try product(a, b, ao: ia[i] * m * k, bo: ib[i] * k * n, m: m, k: k, n: n, backend: backend))
        }
        s = nb == 0 ? a.storage.emptyLike : concatStorage(parts)
    }
    return ONNXArray(shape: out, storage: s)
}

// MARK: Softmax

private func softmaxCore<T: BinaryFloatingPoint>(_ v: [T], outer: Int, n: Int, inner: Int, log: Bool,
                                                  exp: (T) -> T, ln: (T) -> T) -> [T] {
    var r = v
    var e = [T](repeating: 0, count: n)
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * n * inner + i
            var mx = -T.infinity
            for j in 0..<n { mx = Swift.max(mx, v[base + j * inner]) }
            var sum: T = 0
            for j in 0..<n { let x = exp(v[base + j * inner] - mx); e[j] = x; sum += x }
            if log {
                let l = ln(sum)
                for j in 0..<n { r[base + j * inner] = v[base + j * inner] - mx - l }
            } else {
                let s = 1 / sum
                for j in 0..<n { r[base + j * inner] = e[j] * s }
            }
        }
    }
    return r
}

private func softmax(_ op: String, log: Bool) -> ONNXOperatorFactory {
    { ctx in
        // Before opset 13 the input is coerced to 2-D at `axis` (default 1); from 13 the
        // softmax runs along `axis` alone (default -1).
        let perAxis = ctx.opset >= 13
        let axis = try ctx.int("axis", perAxis ? -1 : 1)
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let shape = x.rank == 0 ? [1] : x.shape
            let outer: Int, n: Int, inner: Int
            if perAxis {
                (outer, n, inner) = ONNXK.around(shape, try ONNXK.axis(axis, rank: shape.count))
            } else {
                guard axis >= -Int64(shape.count), axis <= Int64(shape.count) else { throw ONNXRunError("\(op)'s axis \(axis) is out of range for rank \(x.rank)") }
                let a = Int(axis < 0 ? axis + Int64(shape.count) : axis)
                (outer, n, inner) = (ONNXK.product(shape[..<a]), ONNXK.product(shape[a...]), 1)
            }
            switch x.storage {
            case .float(let v):
                return [.tensor(ONNXArray(shape: x.shape, storage: .float(softmaxCore(v, outer: outer, n: n, inner: inner, log: log, exp: { Glibc.exp($0) }, ln: { Glibc.log($0) }))))]
            case .double(let v):
                return [.tensor(ONNXArray(shape: x.shape, storage: .double(softmaxCore(v, outer: outer, n: n, inner: inner, log: log, exp: { Glibc.exp($0) }, ln: { Glibc.log($0) }))))]
            default:
                throw ONNXRunError("\(op) takes float or double input, not \(x.elementType.name)")
            }
        }
    }
}

// MARK: Reductions

private enum Reduction: Sendable { case sum, mean, max, min, prod, sumSquare, l1, l2, logSum, logSumExp }

/// Lanes of a reduction: the values of `shape` along `axes` (sorted, distinct) for each kept
/// position. Returns the values laid out as outer × n (reduced axes last).
private func reductionLayout(_ shape: [Int], _ axes: [Int]) -> (perm: [Int]?, outer: Int, n: Int, inner: Int) {
    guard let lo = axes.first, let hi = axes.last else { return (nil, ONNXK.product(shape[...]), 1, 1) }
    if hi - lo + 1 == axes.count {
        return (nil, ONNXK.product(shape[..<lo]), ONNXK.product(shape[lo...hi]), ONNXK.product(shape[(hi + 1)...]))
    }
    let kept = (0..<shape.count).filter { !axes.contains($0) }
    return (kept + axes, ONNXK.product(kept.map { shape[$0] }[...]), ONNXK.product(axes.map { shape[$0] }[...]), 1)
}

private func reduceFloating<T: BinaryFloatingPoint>(_ v: [T], outer: Int, n: Int, inner: Int, _ kind: Reduction,
                                                    exp: (T) -> T, ln: (T) -> T, sqrt: (T) -> T) -> [T] {
    var r = [T](repeating: 0, count: outer * inner)
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * n * inner + i
            var acc: T
            switch kind {
            case .sum, .mean, .logSum:
                acc = 0; for j in 0..<n { acc += v[base + j * inner] }
                if kind == .mean { acc /= T(n) } else if kind == .logSum { acc = ln(acc) }
            case .sumSquare, .l2:
                acc = 0; for j in 0..<n { let x = v[base + j * inner]; acc += x * x }
                if kind == .l2 { acc = sqrt(acc) }
            case .l1: acc = 0; for j in 0..<n { acc += abs(v[base + j * inner]) }
            case .prod: acc = 1; for j in 0..<n { acc *= v[base + j * inner] }
            case .max:
                acc = -.infinity
                for j in 0..<n { let x = v[base + j * inner]; if x > acc || x.isNaN { acc = x; if x.isNaN { break } } }
            case .min:
                acc = .infinity
                for j in 0..<n { let x = v[base + j * inner]; if x < acc || x.isNaN { acc = x; if x.isNaN { break } } }
            case .logSumExp:
                var mx = -T.infinity
                for j in 0..<n { mx = Swift.max(mx, v[base + j * inner]) }
                if mx.isInfinite { acc = n == 0 ? -.infinity : mx } else {
                    var s: T = 0
                    for j in 0..<n { s += exp(v[base + j * inner] - mx) }
                    acc = mx + ln(s)
                }
            }
            r[o * inner + i] = acc
        }
    }
    return r
}

private func reduceInt(_ v: [Int64], outer: Int, n: Int, inner: Int, _ kind: Reduction, _ op: String) throws -> [Int64] {
    var r = [Int64](repeating: 0, count: outer * inner)
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * n * inner + i
            var acc: Int64
            switch kind {
            case .sum, .mean:
                acc = 0; for j in 0..<n { acc = acc &+ v[base + j * inner] }
                if kind == .mean { acc = n == 0 ? 0 : acc / Int64(n) }
            case .sumSquare: acc = 0; for j in 0..<n { let x = v[base + j * inner]; acc = acc &+ x &* x }
            case .l1: acc = 0; for j in 0..<n { acc = acc &+ (v[base + j * inner] == .min ? .min : abs(v[base + j * inner])) }
            case .prod: acc = 1; for j in 0..<n { acc = acc &* v[base + j * inner] }
            case .max: acc = .min; for j in 0..<n { acc = Swift.max(acc, v[base + j * inner]) }
            case .min: acc = .max; for j in 0..<n { acc = Swift.min(acc, v[base + j * inner]) }
            case .l2, .logSum, .logSumExp: throw ONNXRunError("\(op) takes float or double input, not int64")
            }
            r[o * inner + i] = acc
        }
    }
    return r
}

private func reduce(_ op: String, _ kind: Reduction) -> ONNXOperatorFactory {
    { ctx in
        // Axes: an attribute until ReduceSum 13 and the others 18, then an optional input.
        let fromInput = ctx.opset >= (op == "ReduceSum" ? 13 : 18)
        let attrAxes = fromInput ? nil : try ctx.ints("axes")
        let keep = try ctx.int("keepdims", 1) != 0
        let noop = try ctx.int("noop_with_empty_axes", 0) != 0
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let given = fromInput ? try optionalInput(inputs, 1).map { try int64Input([.tensor($0)], 0, "\(op)'s axes") } : attrAxes
            if (given ?? []).isEmpty && noop { return [.tensor(x)] }
            let axes = try (given ?? []).isEmpty ? Array(0..<x.rank) : ONNXK.axes(given!, rank: x.rank).sorted()
            let out = keep ? x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
                           : x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
            var (perm, outer, n, inner) = reductionLayout(x.shape, axes)
            var src = x
            if let p = perm { src = try x.moved(p.map { x.shape[$0] }, TransposeMover(shape: x.shape, perm: p)) }
            if x.count == 0 && outer * inner > 0 { n = 0 }
            switch src.storage {
            case .float(let v):
                return [.tensor(ONNXArray(shape: out, storage: .float(reduceFloating(v, outer: outer, n: n, inner: inner, kind,
                    exp: { Glibc.exp($0) }, ln: { Glibc.log($0) }, sqrt: { $0.squareRoot() }))))]
            case .double(let v):
                return [.tensor(ONNXArray(shape: out, storage: .double(reduceFloating(v, outer: outer, n: n, inner: inner, kind,
                    exp: { Glibc.exp($0) }, ln: { Glibc.log($0) }, sqrt: { $0.squareRoot() }))))]
            case .int64(let v):
                return [.tensor(ONNXArray(shape: out, storage: .int64(try reduceInt(v, outer: outer, n: n, inner: inner, kind, op))))]
            case .bool(let v) where kind == .max || kind == .min:
                let r = try reduceInt(v.map { $0 ? 1 : 0 }, outer: outer, n: n, inner: inner, kind, op)
                // An empty max is false (Int64.min), an empty min true (Int64.max).
                return [.tensor(ONNXArray(shape: out, storage: .bool(r.map { $0 > 0 })))]
            default:
                throw ONNXRunError("\(op) takes numeric input, not \(x.elementType.name)")
            }
        }
    }
}

// MARK: ArgMax, ArgMin, TopK

/// The index of the largest (or smallest) value along each lane; ties go to the first index,
/// or the last with `last`.
private func argLanes<T: Comparable>(_ v: [T], outer: Int, n: Int, inner: Int, max: Bool, last: Bool) -> [Int64] {
    var r = [Int64](repeating: 0, count: outer * inner)
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * n * inner + i
            var best = 0, bv = v[base]
            for j in 1..<n {
                let c = v[base + j * inner]
                if max ? (last ? c >= bv : c > bv) : (last ? c <= bv : c < bv) { best = j; bv = c }
            }
            r[o * inner + i] = Int64(best)
        }
    }
    return r
}

private func argExtreme(_ op: String, max: Bool) -> ONNXOperatorFactory {
    { ctx in
        let axis = try ctx.int("axis", 0)
        let keep = try ctx.int("keepdims", 1) != 0
        let last = try ctx.int("select_last_index", 0) != 0
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let a = try ONNXK.axis(axis, rank: x.rank)
            let (outer, n, inner) = ONNXK.around(x.shape, a)
            guard n > 0 else { throw ONNXRunError("\(op) along an empty axis") }
            var out = x.shape
            if keep { out[a] = 1 } else { out.remove(at: a) }
            let r: [Int64]
            switch x.storage {
            case .float(let v): r = argLanes(v, outer: outer, n: n, inner: inner, max: max, last: last)
            case .double(let v): r = argLanes(v, outer: outer, n: n, inner: inner, max: max, last: last)
            case .int64(let v): r = argLanes(v, outer: outer, n: n, inner: inner, max: max, last: last)
            default: throw ONNXRunError("\(op) takes numeric input, not \(x.elementType.name)")
            }
            return [.tensor(ONNXArray(int64s: r, shape: out))]
        }
    }
}

private let topK: ONNXOperatorFactory = { ctx in
    let axis = try ctx.int("axis", -1)
    let largest = try ctx.int("largest", 1) != 0
    let attrK = ctx.opset < 10 ? try ctx.int("k", -1) : nil
    return { inputs, _ in
        let x = try tensorInput(inputs, 0)
        let kk: Int64
        if let attrK { kk = attrK } else {
            let kv = try int64Input(inputs, 1, "TopK's K")
            guard kv.count == 1 else { throw ONNXRunError("TopK's K must hold one value") }
            kk = kv[0]
        }
        let a = try ONNXK.axis(axis, rank: x.rank)
        let (outer, n, inner) = ONNXK.around(x.shape, a)
        guard kk >= 0, kk <= Int64(n) else { throw ONNXRunError("TopK's K \(kk) is out of range for dimension \(n)") }
        let k = Int(kk)
        var out = x.shape
        out[a] = k
        let v: [Double]
        switch x.storage {
        case .float(let f): v = f.map(Double.init)
        case .double(let d): v = d
        case .int64(let i): v = i.map(Double.init)
        default: throw ONNXRunError("TopK takes numeric input, not \(x.elementType.name)")
        }
        var picks = [Int](repeating: 0, count: outer * k * inner)
        var idx = [Int64](repeating: 0, count: outer * k * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                // Larger (or smaller) first; equal values keep the lower index first.
                let order = (0..<n).sorted { p, q in
                    let x = v[base + p * inner], y = v[base + q * inner]
                    if x == y { return p < q }
                    return largest ? x > y : x < y
                }
                for j in 0..<k {
                    picks[(o * k + j) * inner + i] = base + order[j] * inner
                    idx[(o * k + j) * inner + i] = Int64(order[j])
                }
            }
        }
        return [.tensor(try x.picking(picks, shape: out)), .tensor(ONNXArray(int64s: idx, shape: out))]
    }
}

let standardNNOperators: [String: ONNXOperatorFactory] = [
    "MatMul": { _ in
        { inputs, backend in [.tensor(try onnxMatMul(try tensorInput(inputs, 0), try tensorInput(inputs, 1), backend: backend))] }
    },
    "Gemm": { ctx in
        let alpha = try ctx.float("alpha", 1), beta = try ctx.float("beta", 1)
        let transA = try ctx.int("transA", 0) != 0, transB = try ctx.int("transB", 0) != 0
        // A constant float B (and C, when it is a bias row) is laid out for the backend's
        // `linear` once, here; every run, on any thread, reads the same host arrays.
        var prepared: LinearOperands? = nil
        if !transA, let b = ctx.constants[1], b.rank == 2, let bv = b.floats {
            let n = transB ? b.shape[0] : b.shape[1], k = transB ? b.shape[1] : b.shape[0]
            var bias: [Float]? = nil
            var ok = true
            if ctx.node.inputs.count > 2 && !ctx.node.inputs[2].isEmpty {
                if let c = ctx.constants[2], let row = biasRow(c, n: n, beta: beta) { bias = row } else { ok = false }
            }
            if ok {
                let (w, transW) = linearWeights(bv, k: k, n: n, transB: transB)
                prepared = LinearOperands(w: w, transW: transW, bias: bias)
            }
        }
        return { [prepared] inputs, backend in
            let a = try tensorInput(inputs, 0), b = try tensorInput(inputs, 1)
            let c = try optionalInput(inputs, 2)
            guard a.rank == 2, b.rank == 2 else { throw ONNXRunError("Gemm takes 2-D A and B, not \(a.shape) and \(b.shape)") }
            let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
            let n = transB ? b.shape[0] : b.shape[1], k2 = transB ? b.shape[1] : b.shape[0]
            guard k == k2 else { throw ONNXRunError("Gemm of shapes \(a.shape) and \(b.shape): inner dimensions differ") }
            guard a.elementType == b.elementType, c == nil || c!.elementType == a.elementType else {
                throw ONNXRunError("Gemm takes A, B and C of one element type")
            }
            // (A prepared C is a row, which broadcasts to [m, n] for any m.)
            if let c, prepared == nil, try ONNXK.broadcastShape(c.shape, [m, n]) != [m, n] {
                throw ONNXRunError("Gemm's C of shape \(c.shape) does not broadcast to \([m, n])")
            }
            _ = try ONNXK.count([m, n])
            switch (a.storage, b.storage) {
            case (.float(let x), .float(let y)):
                if let prepared {
                    return [.tensor(ONNXArray(floats: backendLinear(x, m: m, k: k, n: n, prepared, alpha: alpha, backend: backend), shape: [m, n]))]
                }
                if !transA, c == nil || biasRow(c!, n: n, beta: beta) != nil {
                    let ops = LinearOperands(w: y, transW: transB, bias: c.flatMap { biasRow($0, n: n, beta: beta) })
                    return [.tensor(ONNXArray(floats: backendLinear(x, m: m, k: k, n: n, ops, alpha: alpha, backend: backend), shape: [m, n]))]
                }
                let cc = try c.map { try ONNXK.expand($0.floats!, $0.shape, to: [m, n]) }
                return [.tensor(ONNXArray(floats: backendGemm(x, y, m: m, k: k, n: n, transA: transA, transB: transB, c: cc,
                                                              alpha: alpha, beta: beta, backend: backend), shape: [m, n]))]
            case (.double(let x), .double(let y)):
                var r = hostGemm(x, y, m: m, k: k, n: n, transA: transA, transB: transB, zero: 0, mul: *, add: +)
                let cc = try c.map { try ONNXK.expand($0.doubles!, $0.shape, to: [m, n]) }
                for i in 0..<r.count { r[i] = Double(alpha) * r[i] + (cc.map { Double(beta) * $0[i] } ?? 0) }
                return [.tensor(ONNXArray(shape: [m, n], storage: .double(r)))]
            case (.int64(let x), .int64(let y)):
                var r = hostGemm(x, y, m: m, k: k, n: n, transA: transA, transB: transB, zero: 0, mul: (&*), add: (&+))
                let cc = try c.map { try ONNXK.expand($0.int64s!, $0.shape, to: [m, n]) }
                let ai = onnxInt64(Double(alpha)), bi = onnxInt64(Double(beta))
                for i in 0..<r.count { r[i] = ai &* r[i] &+ (cc.map { bi &* $0[i] } ?? 0) }
                return [.tensor(ONNXArray(int64s: r, shape: [m, n]))]
            default:
                throw ONNXRunError("Gemm takes numeric inputs, not \(a.elementType.name)")
            }
        }
    },
    "Softmax": softmax("Softmax", log: false),
    "LogSoftmax": softmax("LogSoftmax", log: true),

    "ReduceSum": reduce("ReduceSum", .sum),
    "ReduceMean": reduce("ReduceMean", .mean),
    "ReduceMax": reduce("ReduceMax", .max),
    "ReduceMin": reduce("ReduceMin", .min),
    "ReduceProd": reduce("ReduceProd", .prod),
    "ReduceSumSquare": reduce("ReduceSumSquare", .sumSquare),
    "ReduceL1": reduce("ReduceL1", .l1),
    "ReduceL2": reduce("ReduceL2", .l2),
    "ReduceLogSum": reduce("ReduceLogSum", .logSum),
    "ReduceLogSumExp": reduce("ReduceLogSumExp", .logSumExp),

    "ArgMax": argExtreme("ArgMax", max: true),
    "ArgMin": argExtreme("ArgMin", max: false),
    "TopK": topK,
]
