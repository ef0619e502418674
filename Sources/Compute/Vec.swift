/// Vectorized loops over contiguous floats (Swift SIMD, 8 lanes, scalar tail). Each output
/// element depends only on its inputs, except for the reductions, whose order is fixed by
/// the code (not by the caller's split).
enum Vec {
    typealias V = SIMD8<Float>

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }
    @inline(__always) static func store(_ p: UnsafeMutablePointer<Float>, _ v: V) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    /// x += v
    static func add(_ x: UnsafeMutablePointer<Float>, _ v: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n { store(x + i, load(x + i) + load(v + i)); i += 8 }
        while i < n { x[i] += v[i]; i += 1 }
    }

    /// x = (x − a) − b
    static func subTwo(_ x: UnsafeMutablePointer<Float>, _ a: Float, _ b: Float, _ n: Int) {
        let av = V(repeating: a), bv = V(repeating: b)
        var i = 0
        while i + 8 <= n { store(x + i, (load(x + i) - av) - bv); i += 8 }
        while i < n { x[i] = (x[i] - a) - b; i += 1 }
    }

    /// x = max(x, 0) (NaN stays NaN)
    static func relu(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        let zero = V()
        var i = 0
        while i + 8 <= n {
            let v = load(x + i)
            store(x + i, v.replacing(with: zero, where: v .< zero))
            i += 8
        }
        while i < n { if x[i] < 0 { x[i] = 0 }; i += 1 }
    }

    /// g = a > 0 ? g : 0
    static func reluMask(_ g: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ n: Int) {
        let zero = V()
        var i = 0
        while i + 8 <= n {
            let av = load(a + i)
            store(g + i, load(g + i).replacing(with: zero, where: .!(av .> zero)))
            i += 8
        }
        while i < n { if !(a[i] > 0) { g[i] = 0 }; i += 1 }
    }

    /// y += alpha · x (multiply, then add)
    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let av = V(repeating: alpha)
        var i = 0
        while i + 8 <= n { store(y + i, load(y + i) + av * load(x + i)); i += 8 }
        while i < n { y[i] = y[i] + alpha * x[i]; i += 1 }
    }

    /// x *= alpha
    static func scale(_ x: UnsafeMutablePointer<Float>, _ alpha: Float, _ n: Int) {
        let av = V(repeating: alpha)
        var i = 0
        while i + 8 <= n { store(x + i, load(x + i) * av); i += 8 }
        while i < n { x[i] *= alpha; i += 1 }
    }

    /// c = a − b (c may be a or b)
    static func sub(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n { store(c + i, load(a + i) - load(b + i)); i += 8 }
        while i < n { c[i] = a[i] - b[i]; i += 1 }
    }

    /// The largest value (n ≥ 1). NaNs are skipped unless all are NaN.
    static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = x[0]
        var i = 1
        if n >= 16 {
            var mv = load(x)
            i = 8
            while i + 8 <= n { mv = pointwiseMax(mv, load(x + i)); i += 8 }
            m = mv.max()
        }
        while i < n { if x[i] > m || m.isNaN { m = x[i] }; i += 1 }
        return m
    }

    /// Σ a·b in Float, 8 interleaved lanes then the lanes in order, then the tail.
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V()
        var i = 0
        while i + 8 <= n { acc = acc + load(a + i) * load(b + i); i += 8 }
        var s: Float = 0
        for l in 0..<8 { s += acc[l] }
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// y[j] = Σ_p x[p] · w[p·n + j] for j < n (w k×n row-major), each sum in order of p from
    /// 0: four 8-column strips at a time held in registers while w is read row by row.
    static func rowTimesMatrix(_ x: UnsafePointer<Float>, k: Int, _ w: UnsafePointer<Float>, n: Int,
                               into y: UnsafeMutablePointer<Float>) {
        var j = 0
        while j + 32 <= n {
            var s0 = V(), s1 = V(), s2 = V(), s3 = V()
            var p = w + j
            for q in 0..<k {
                let a = V(repeating: x[q])
                s0 = s0 + a * load(p); s1 = s1 + a * load(p + 8)
                s2 = s2 + a * load(p + 16); s3 = s3 + a * load(p + 24)
                p += n
            }
            store(y + j, s0); store(y + j + 8, s1); store(y + j + 16, s2); store(y + j + 24, s3)
            j += 32
        }
        while j + 8 <= n {
            var s = V()
            var p = w + j
            for q in 0..<k { s = s + V(repeating: x[q]) * load(p); p += n }
            store(y + j, s)
            j += 8
        }
        while j < n {
            var s: Float = 0
            for q in 0..<k { s = s + x[q] * w[q * n + j] }
            y[j] = s
            j += 1
        }
    }

    /// (dot(a, b0, n), dot(a, b1, n)) in one pass over a: each the same arithmetic, so the
    /// same bits, as `dot`.
    static func dot2(_ a: UnsafePointer<Float>, _ b0: UnsafePointer<Float>, _ b1: UnsafePointer<Float>,
                     _ n: Int) -> (Float, Float) {
        var acc0 = V(), acc1 = V()
        var i = 0
        while i + 8 <= n {
            let x = load(a + i)
            acc0 = acc0 + x * load(b0 + i); acc1 = acc1 + x * load(b1 + i)
            i += 8
        }
        var s0: Float = 0, s1: Float = 0
        for l in 0..<8 { s0 += acc0[l]; s1 += acc1[l] }
        while i < n { s0 += a[i] * b0[i]; s1 += a[i] * b1[i]; i += 1 }
        return (s0, s1)
    }

    /// out[j] = Σ_r x[r·ld + j] for j < cols, rows summed in order from 0.
    static func columnSum(_ x: UnsafePointer<Float>, ld: Int, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
        var j = 0
        while j + 32 <= cols {
            var s0 = V(), s1 = V(), s2 = V(), s3 = V()
            var p = x + j
            for _ in 0..<rows {
                s0 += load(p); s1 += load(p + 8); s2 += load(p + 16); s3 += load(p + 24)
                p += ld
            }
            store(out + j, s0); store(out + j + 8, s1); store(out + j + 16, s2); store(out + j + 24, s3)
            j += 32
        }
        while j + 8 <= cols {
            var s = V()
            var p = x + j
            for _ in 0..<rows { s += load(p); p += ld }
            store(out + j, s)
            j += 8
        }
        while j < cols {
            var s: Float = 0
            var p = x + j
            for _ in 0..<rows { s += p[0]; p += ld }
            out[j] = s
            j += 1
        }
    }

    /// Σ x² in Double: four interleaved lanes (element i into lane i mod 4), the lanes added
    /// in order, then the tail.
    static func sumSquaresDouble(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        var acc = SIMD4<Double>()
        var i = 0
        while i + 4 <= n {
            let f = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<Float>.self)
            let d = SIMD4<Double>(f)
            acc = acc + d * d
            i += 4
        }
        var s = ((acc[0] + acc[1]) + acc[2]) + acc[3]
        while i < n { let d = Double(x[i]); s += d * d; i += 1 }
        return s
    }
}
