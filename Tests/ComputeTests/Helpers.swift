import XCTest
@testable import Compute
import TestHelpers

extension SplitMix {
    /// Uniform in [-1, 1).
    mutating func float() -> Float { Float(Double(next() >> 40) / Double(1 << 24)) * 2 - 1 }
    mutating func floats(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in float() * scale } }
}

/// The GEMM paths this CPU can run.
var gemmPaths: [GEMMPath] { GEMMPath.avx2Supported ? [.portable, .avx2] : [.portable] }

/// Naive reference in Double: alpha·op(A)·op(B) + beta·C, and the magnitude
/// |alpha|·Σ|a||b| + |beta·c| per element (the scale for the error bound).
func referenceGEMM(_ a: [Float], _ aRows: Int, _ aCols: Int, transA: Bool,
                   _ b: [Float], _ bRows: Int, _ bCols: Int, transB: Bool,
                   c: [Float], alpha: Float, beta: Float) -> (value: [Double], scale: [Double]) {
    let m = transA ? aCols : aRows, k = transA ? aRows : aCols
    let n = transB ? bRows : bCols
    var out = [Double](repeating: 0, count: m * n), mag = out
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0, sa = 0.0
            for p in 0..<k {
                let av = Double(transA ? a[p * aCols + i] : a[i * aCols + p])
                let bv = Double(transB ? b[j * bCols + p] : b[p * bCols + j])
                s += av * bv; sa += abs(av * bv)
            }
            let old = beta == 0 ? 0 : Double(beta) * Double(c[i * n + j])
            out[i * n + j] = Double(alpha) * s + old
            mag[i * n + j] = abs(Double(alpha)) * sa + abs(old)
        }
    }
    return (out, mag)
}

func bits(_ x: [Float]) -> [UInt32] { x.map(\.bitPattern) }
