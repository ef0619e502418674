#if canImport(Glibc)
import Glibc
#endif
import Support

// Shared pieces of the ai.onnx kernels: checked sizes and axes, numpy-style multidirectional
// broadcasting (written once here; every elementwise operator goes through it), the
// outer × axis × inner layout reductions and softmax use, and transposition. Every size a
// kernel allocates is checked against `ONNXModel.maxTensorElements` first.

enum ONNXK {
    static var maxElements: Int { ONNXModel.maxTensorElements }

    /// The element count of `shape`, refused when a dimension is negative or over
    /// `ONNXModel.maxTensorElements`, when the product of the non-zero dimensions overflows or
    /// exceeds that limit (checked even when a dimension is 0, so later products cannot trap),
    /// or when `count × width` bytes exceed `ONNXModel.maxTensorBytes`. `width` is the element
    /// width in bytes (8, the widest numeric, where a caller does not know the type).
    /// `what` is only formed for an error (callers pass interpolated strings on every run).
    static func count(_ shape: [Int], _ what: @autoclosure () -> String = "output", width: Int = 8) throws -> Int {
        guard shape.count <= ONNXModel.maxRank else { throw ONNXRunError("\(what()) has \(shape.count) dimensions, more than \(ONNXModel.maxRank)") }
        var n = 1, zero = false
        for d in shape {
            guard d >= 0 else { throw ONNXRunError("\(what()) has a negative dimension \(d) in \(shape)") }
            if d == 0 { zero = true; continue }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o, p <= maxElements else { throw ONNXRunError("\(what()) of shape \(shape) is over \(maxElements) elements") }
            n = p
        }
        if zero { return 0 }
        try bytes(n, width: width, shape, what())
        return n
    }

    /// Refuses `n` elements of `width` bytes over `ONNXModel.maxTensorBytes`.
    static func bytes(_ n: Int, width: Int, _ shape: [Int], _ what: @autoclosure () -> String) throws {
        let (b, o) = n.multipliedReportingOverflow(by: max(width, 1))
        guard !o, b <= ONNXModel.maxTensorBytes else {
            throw ONNXRunError("\(what()) of shape \(shape) (\(width)-byte elements) would take \(o ? "over \(Int.max)" : "\(b)") bytes, over the \(ONNXModel.maxTensorBytes >> 30) GiB limit")
        }
    }

    /// A shape given as int64 values (from a tensor or an attribute), each dimension checked
    /// against the element limit; callers then `count` it (the product, zero dimensions
    /// included, and the bytes) before allocating.
    static func shape(_ v: [Int64], _ what: String) throws -> [Int] {
        guard v.count <= ONNXModel.maxRank else { throw ONNXRunError("\(what) has \(v.count) dimensions, more than \(ONNXModel.maxRank)") }
        return try v.map { d in
            guard d >= 0, d <= Int64(maxElements) else { throw ONNXRunError("\(what) has a bad dimension \(d)") }
            return Int(d)
        }
    }

    /// `axis` in [-rank, rank) made non-negative.
    static func axis(_ a: Int64, rank: Int, _ what: String = "axis") throws -> Int {
        guard a >= -Int64(rank), a < Int64(max(rank, 0)) else { throw ONNXRunError("\(what) \(a) is out of range for rank \(rank)") }
        return Int(a < 0 ? a + Int64(rank) : a)
    }

    /// Distinct axes, each normalized.
    static func axes(_ v: [Int64], rank: Int, _ what: String = "axes") throws -> [Int] {
        var seen = Set<Int>()
        return try v.map { a in
            let x = try axis(a, rank: rank, what)
            guard seen.insert(x).inserted else { throw ONNXRunError("\(what) repeats axis \(a)") }
            return x
        }
    }

    /// Row-major strides.
    static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    /// The product of `s`, never trapping: 0 when a dimension is 0, Int.max on overflow
    /// (callers use it on shapes `count` already checked).
    static func product(_ s: ArraySlice<Int>) -> Int {
        if s.contains(0) { return 0 }
        var n = 1
        for d in s {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            if o { return Int.max }
            n = p
        }
        return n
    }

    // MARK: Broadcasting

    /// The multidirectional (numpy) broadcast of shapes.
    static func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let x = i < r - a.count ? 1 : a[i - (r - a.count)]
            let y = i < r - b.count ? 1 : b[i - (r - b.count)]
            if x == y || y == 1 { out[i] = x } else if x == 1 { out[i] = y } else {
                throw ONNXRunError("shapes \(a) and \(b) do not broadcast")
            }
        }
        return out
    }

    /// `shape` with leading 1s up to `rank` dimensions.
    static func padded(_ shape: [Int], _ rank: Int) -> [Int] { [Int](repeating: 1, count: max(0, rank - shape.count)) + shape }

    /// The values of a tensor of `shape` broadcast to `out` (which `shape` broadcasts to).
    static func expand<T>(_ v: [T], _ shape: [Int], to out: [Int]) throws -> [T] {
        if shape == out { return v }
        let n = try count(out)
        if v.count == 1 { return [T](repeating: v[0], count: n) }
        if n == 0 { return [] }
        let r = out.count
        let padded = [Int](repeating: 1, count: r - shape.count) + shape
        let src = strides(padded)
        var st = [Int](repeating: 0, count: r)
        for i in 0..<r where padded[i] != 1 { st[i] = src[i] }
        let inner = out[r - 1], innerStride = st[r - 1]
        var result = [T]()
        result.reserveCapacity(n)
        var idx = [Int](repeating: 0, count: r)
        var base = 0
        while result.count < n {
            if innerStride == 0 {
                result.append(contentsOf: repeatElement(v[base], count: inner))
            } else {
                result.append(contentsOf: v[base..<(base + inner)])
            }
            // Advance the outer odometer.
            var k = r - 2
            while k >= 0 {
                idx[k] += 1; base += st[k]
                if idx[k] < out[k] { break }
                base -= st[k] * idx[k]; idx[k] = 0; k -= 1
            }
            if k < 0 { break }
        }
        return result
    }

    /// `f` over every element, in a loop the optimizer can vectorize once `f` is inlined
    /// (callers pass closure literals).
    @inline(__always)
    static func map<T, R>(_ v: [T], _ f: (T) -> R) -> [R] {
        let n = v.count
        return [R](unsafeUninitializedCapacity: n) { out, done in
            v.withUnsafeBufferPointer { p in
                guard let src = p.baseAddress, let dst = out.baseAddress else { return }
                for i in 0..<n { (dst + i).initialize(to: f(src[i])) }
            }
            done = n
        }
    }

    /// Elementwise `f` over two broadcast tensors. Fast paths: same shape, a scalar on either
    /// side, a row vector broadcast over the last axis, and a column (a last axis of 1)
    /// broadcast along it; anything else expands both sides first. Inlined, so each caller's
    /// closure literal becomes a tight loop.
    @inline(__always)
    static func binary<A, B, R>(_ a: [A], _ sa: [Int], _ b: [B], _ sb: [Int], _ f: (A, B) -> R) throws -> ([R], [Int]) {
        /// Runs `f` over n outputs, `ia`/`ib` giving each output's element of a and b.
        @inline(__always)
        func fill(_ a: [A], _ b: [B], _ n: Int, _ body: (UnsafePointer<A>, UnsafePointer<B>, UnsafeMutablePointer<R>) -> Void) -> [R] {
            [R](unsafeUninitializedCapacity: n) { out, done in
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        if let x = pa.baseAddress, let y = pb.baseAddress, let z = out.baseAddress { body(x, y, z) }
                    }
                }
                done = n
            }
        }
        if sa == sb {
            let n = a.count
            return (fill(a, b, n) { x, y, z in for i in 0..<n { (z + i).initialize(to: f(x[i], y[i])) } }, sa)
        }
        let out = try broadcastShape(sa, sb)
        let n = try count(out)
        if n == 0 { return ([], out) }
        if b.count == 1 && a.count == n {
            return (fill(a, b, n) { x, y, z in let c = y[0]; for i in 0..<n { (z + i).initialize(to: f(x[i], c)) } }, out)
        }
        if a.count == 1 && b.count == n {
            return (fill(a, b, n) { x, y, z in let c = x[0]; for i in 0..<n { (z + i).initialize(to: f(c, y[i])) } }, out)
        }
        if let last = out.last, last > 0 {
            let rows = n / last
            if a.count == n, b.count == last, sb.last == last {
                return (fill(a, b, n) { x, y, z in
                    for r in 0..<rows { let o = r * last; for j in 0..<last { (z + o + j).initialize(to: f(x[o + j], y[j])) } }
                }, out)
            }
            if b.count == n, a.count == last, sa.last == last {
                return (fill(a, b, n) { x, y, z in
                    for r in 0..<rows { let o = r * last; for j in 0..<last { (z + o + j).initialize(to: f(x[j], y[o + j])) } }
                }, out)
            }
            // A column ([N, 1] against [N, C]: a row's sum dividing the row).
            let lead = Array(out.dropLast())
            if a.count == n, b.count == rows, sb.last == 1, lead.elementsEqual(padded(sb, out.count).dropLast()) {
                return (fill(a, b, n) { x, y, z in
                    for r in 0..<rows { let o = r * last, c = y[r]; for j in 0..<last { (z + o + j).initialize(to: f(x[o + j], c)) } }
                }, out)
            }
            if b.count == n, a.count == rows, sa.last == 1, lead.elementsEqual(padded(sa, out.count).dropLast()) {
                return (fill(a, b, n) { x, y, z in
                    for r in 0..<rows { let o = r * last, c = x[r]; for j in 0..<last { (z + o + j).initialize(to: f(c, y[o + j])) } }
                }, out)
            }
        }
        let x = try expand(a, sa, to: out), y = try expand(b, sb, to: out)
        return (fill(x, y, n) { x, y, z in for i in 0..<n { (z + i).initialize(to: f(x[i], y[i])) } }, out)
    }

    // MARK: Layout

    /// Splits `shape` around `axis`: elements before it, along it, after it.
    static func around(_ shape: [Int], _ axis: Int) -> (outer: Int, n: Int, inner: Int) {
        (product(shape[..<axis]), shape[axis], product(shape[(axis + 1)...]))
    }

    /// The values of a tensor permuted by `perm` (a checked permutation).
    static func transpose<T>(_ v: [T], _ shape: [Int], _ perm: [Int]) -> ([T], [Int]) {
        let out = perm.map { shape[$0] }
        let n = v.count
        if n <= 1 || perm == Array(0..<perm.count) { return (v, out) }
        let st = strides(shape)
        let pst = perm.map { st[$0] }
        let r = out.count
        var result = [T]()
        result.reserveCapacity(n)
        var idx = [Int](repeating: 0, count: r)
        var src = 0
        let innerN = out[r - 1], innerS = pst[r - 1]
        while true {
            var s = src
            for _ in 0..<innerN { result.append(v[s]); s += innerS }
            var k = r - 2
            while k >= 0 {
                idx[k] += 1; src += pst[k]
                if idx[k] < out[k] { break }
                src -= pst[k] * idx[k]; idx[k] = 0; k -= 1
            }
            if k < 0 { break }
        }
        return (result, out)
    }
}

/// A rearrangement of elements that does not look at their values (transpose, slice, gather,
/// concatenation, tiling), applied to whatever element type a tensor holds.
protocol ElementMover {
    func move<T>(_ v: [T]) throws -> [T]
}

/// Broadcasts a tensor of shape `from` to `to`.
struct ExpandMover: ElementMover {
    let from: [Int], to: [Int]
    func move<T>(_ v: [T]) throws -> [T] { try ONNXK.expand(v, from, to: to) }
}

/// Permutes the axes of a tensor of `shape`.
struct TransposeMover: ElementMover {
    let shape: [Int], perm: [Int]
    func move<T>(_ v: [T]) throws -> [T] { ONNXK.transpose(v, shape, perm).0 }
}

/// Picks the elements at precomputed (checked) positions.
struct PickMover: ElementMover {
    let indices: [Int]
    func move<T>(_ v: [T]) throws -> [T] { indices.map { v[$0] } }
}

extension ONNXArray {
    /// Applies a generic element mover; the result has `shape`.
    func moved(_ shape: [Int], _ m: some ElementMover) throws -> ONNXArray {
        let s: Storage
        switch storage {
        case .float(let v): s = .float(try m.move(v))
        case .double(let v): s = .double(try m.move(v))
        case .int64(let v): s = .int64(try m.move(v))
        case .bool(let v): s = .bool(try m.move(v))
        case .string(let v): s = .string(try m.move(v))
        }
        return ONNXArray(shape: shape, storage: s)
    }

    /// The elements at `indices` (checked by the caller), as a tensor of `shape`.
    func picking(_ indices: [Int], shape: [Int]) throws -> ONNXArray { try moved(shape, PickMover(indices: indices)) }

    /// The number of elements the storage holds.
    var storedCount: Int {
        switch storage {
        case .float(let v): v.count
        case .double(let v): v.count
        case .int64(let v): v.count
        case .bool(let v): v.count
        case .string(let v): v.count
        }
    }

    /// An empty tensor of the same element type and the given (zero-element) shape.
    func emptied(_ shape: [Int]) -> ONNXArray { ONNXArray(shape: shape, storage: storage.emptyLike) }

    /// The same elements under another shape of the same count.
    func reshaped(_ shape: [Int]) -> ONNXArray { ONNXArray(shape: shape, storage: storage) }
}

extension ONNXArray.Storage {
    var emptyLike: ONNXArray.Storage {
        switch self {
        case .float: .float([])
        case .double: .double([])
        case .int64: .int64([])
        case .bool: .bool([])
        case .string: .string([])
        }
    }
}
