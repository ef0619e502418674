// AVX2 + FMA kernels (this module is compiled with -target-cpu haswell). Call only after
// the runtime check in Compute says the CPU has AVX2 and FMA.

/// Placeholder so the module is not empty; the GEMM micro-kernel goes here.
public enum AVX2Kernels {}
