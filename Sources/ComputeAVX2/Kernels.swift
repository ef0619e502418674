// AVX2 + FMA kernels (this module is compiled with -target-cpu haswell). Call only after
// the runtime check in Compute says the CPU has AVX2 and FMA.
//
// Nothing here may be @inlinable: the code must be compiled in this module, for Haswell,
// and never copied into a caller compiled for baseline x86-64.

/// The GEMM micro-kernel for AVX2+FMA: a 6×16 block of C held in 12 ymm registers.
public enum AVX2Kernels {
    /// Rows of the register block (A panel width).
    public static let mr = 6
    /// Columns of the register block (B panel width).
    public static let nr = 16

    /// C[0..<6, 0..<16] = alpha · Σ_p a[p·6 + r] · b[p·16 + j] + beta · C (beta 0: C's old
    /// contents ignored). `a` is a packed 6-row panel (kc × 6), `b` a packed 16-column panel
    /// (kc × 16, 32-byte aligned). The sum for each element is one fused multiply-add chain
    /// over p = 0..<kc starting from 0, so the result does not depend on where the block sits.
    public static func kernel(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                              _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
        typealias V = SIMD8<Float>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        var pa = a
        var pb = UnsafeRawPointer(b)
        var p = 0
        while p < kc {
            let b0 = pb.load(as: V.self)
            let b1 = pb.load(fromByteOffset: 32, as: V.self)
            var av = V(repeating: pa[0])
            c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: pa[1])
            c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: pa[2])
            c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: pa[3])
            c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = V(repeating: pa[4])
            c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = V(repeating: pa[5])
            c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            pa += 6
            pb += 64
            p += 1
        }
        let va = V(repeating: alpha)
        if beta == 0 {
            store(c, 0, c00 * va, c01 * va)
            store(c, ldc, c10 * va, c11 * va)
            store(c, 2 * ldc, c20 * va, c21 * va)
            store(c, 3 * ldc, c30 * va, c31 * va)
            store(c, 4 * ldc, c40 * va, c41 * va)
            store(c, 5 * ldc, c50 * va, c51 * va)
        } else {
            let vb = V(repeating: beta)
            update(c, 0, c00 * va, c01 * va, vb)
            update(c, ldc, c10 * va, c11 * va, vb)
            update(c, 2 * ldc, c20 * va, c21 * va, vb)
            update(c, 3 * ldc, c30 * va, c31 * va, vb)
            update(c, 4 * ldc, c40 * va, c41 * va, vb)
            update(c, 5 * ldc, c50 * va, c51 * va, vb)
        }
    }

    /// The same kernel reading A unpacked: row r of the block at a + r·lda, contiguous in p
    /// (for row-major A when packing would cost more than it saves). Same arithmetic, so the
    /// same bits, as `kernel` on the packed copy.
    public static func kernelStridedA(_ kc: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>,
                                      _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
        typealias V = SIMD8<Float>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        var pa = a
        let a3 = lda * 3
        var pb = UnsafeRawPointer(b)
        var p = 0
        while p < kc {
            let b0 = pb.load(as: V.self)
            let b1 = pb.load(fromByteOffset: 32, as: V.self)
            var av = V(repeating: pa[0])
            c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: pa[lda])
            c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: pa[2 * lda])
            c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: pa[a3])
            c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = V(repeating: pa[4 * lda])
            c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = V(repeating: pa[a3 + 2 * lda])
            c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            pa += 1
            pb += 64
            p += 1
        }
        let va = V(repeating: alpha)
        if beta == 0 {
            store(c, 0, c00 * va, c01 * va)
            store(c, ldc, c10 * va, c11 * va)
            store(c, 2 * ldc, c20 * va, c21 * va)
            store(c, 3 * ldc, c30 * va, c31 * va)
            store(c, 4 * ldc, c40 * va, c41 * va)
            store(c, 5 * ldc, c50 * va, c51 * va)
        } else {
            let vb = V(repeating: beta)
            update(c, 0, c00 * va, c01 * va, vb)
            update(c, ldc, c10 * va, c11 * va, vb)
            update(c, 2 * ldc, c20 * va, c21 * va, vb)
            update(c, 3 * ldc, c30 * va, c31 * va, vb)
            update(c, 4 * ldc, c40 * va, c41 * va, vb)
            update(c, 5 * ldc, c50 * va, c51 * va, vb)
        }
    }

    @inline(__always)
    static func store(_ c: UnsafeMutablePointer<Float>, _ off: Int, _ x0: SIMD8<Float>, _ x1: SIMD8<Float>) {
        let r = UnsafeMutableRawPointer(c + off)
        r.storeBytes(of: x0, as: SIMD8<Float>.self)
        r.storeBytes(of: x1, toByteOffset: 32, as: SIMD8<Float>.self)
    }

    /// C = x + beta·C, written as (beta·C) + x: a separate multiply and add, exactly as the
    /// portable kernel does it.
    @inline(__always)
    static func update(_ c: UnsafeMutablePointer<Float>, _ off: Int, _ x0: SIMD8<Float>, _ x1: SIMD8<Float>,
                       _ vb: SIMD8<Float>) {
        let r = UnsafeMutableRawPointer(c + off)
        let o0 = UnsafeRawPointer(r).loadUnaligned(as: SIMD8<Float>.self)
        let o1 = UnsafeRawPointer(r).loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        r.storeBytes(of: x0 + vb * o0, as: SIMD8<Float>.self)
        r.storeBytes(of: x1 + vb * o1, toByteOffset: 32, as: SIMD8<Float>.self)
    }
}
