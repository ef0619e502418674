import Compute
/// The GPU backend's kernels: CUDA C++ source, compiled at run time by NVRTC for the device's
/// architecture (cached by hash, see `KernelCache`), and compiled as host C++ by the
/// emulator in the tests. One source, so what the tests run is what the GPU runs.
///
/// Rules for this source (the emulator and the NVRTC tests hold it to them):
/// - every kernel is `extern "C" __global__ void mlr_NAME(...)` on one line up to the `{`,
///   its parameters of the types `KernelArgument` has: `T*`/`const T*` (T float, int,
///   double, unsigned int), `int`, `long long`, `float`, `double`;
/// - no atomics in reductions, no dynamic shared memory, no early `return` before a
///   `__syncthreads()`, warp shuffles only in full warps (blockDim.x a multiple of 32);
/// - results depend only on the shapes and the launch configuration the backend derives
///   from the shapes, never on the grid limit (`GPUBackend.maxGridBlocks`): loops over
///   elements are grid-stride loops, and reductions run over fixed blocks of rows;
/// - no headers: NVRTC compiles the source alone, so there is no `INFINITY` (−∞ is
///   `__int_as_float(0xff800000)`), and `min`/`max` are written as conditionals.
///
/// Checked without a GPU: NVRTC (pip `nvidia-cuda-nvrtc`) compiles it for sm_80 and sm_90
/// with an empty log, and ptxas reports no spills (mlr_gemm: 128 registers on sm_90, 117 on
/// sm_80, 8.25 KB of shared memory; mlr_gemm_small_n 48/55 registers, 18 KB; the others 8–56
/// registers; mlr_adam_multi_step calls CUDA's double `pow`,
/// `__internal_accurate_pow`, out of line, with no stack frame or spills).
public enum CUDAKernels {
    /// The source. `GPUBackend` launches these kernels by name.
    public static let source: String = #"""
// mlrepo GPU kernels (CUDA C++). See Sources/ComputeGPU/CUDAKernels.swift.
//
// Arithmetic. The elementwise kernels and the optimizers write every multiply and add as
// __fmul_rn/__fadd_rn, which nvcc never contracts into an FMA: they compute the CPU
// backend's formulas in its order of operations and agree with it bit for bit (the
// correctly rounded sqrt and division are IEEE by default; expf/logf may differ from the
// host's in the last bit). The GEMM accumulates each element with __fmaf_rn (one rounding
// a step) over k in increasing order (split-K: fixed chunks of k, added in chunk order), so
// it agrees with the CPU within a tolerance and with itself bit for bit. Reductions use
// fixed trees (warp butterflies, a shared-memory tree) or fixed blocks of rows: no atomics.
// Every loop over elements, rows or tiles is grid-stride, so the grid size never changes a
// result.

__device__ float mlr_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// A butterfly: every lane ends with the same bits (each step adds the same two values).
__device__ float mlr_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Grid-stride walks over a rows×cols matrix, element i = r·cols + j, without a division a
// step: the thread's first element and the stride are split into (row, column) once, then
// each step adds them with one carry (stride columns < cols). Call only with cols > 0.
struct mlr_walk {
    long long r, j, sr, sj;
};

__device__ mlr_walk mlr_walk_start(long long i, long long stride, int cols) {
    mlr_walk w;
    w.r = i / cols;
    w.j = i - w.r * cols;
    w.sr = stride / cols;
    w.sj = stride - w.sr * cols;
    return w;
}

__device__ void mlr_walk_next(mlr_walk* w, int cols) {
    w->r += w->sr;
    w->j += w->sj;
    if (w->j >= cols) { w->j -= cols; w->r += 1; }
}

// ---------------------------------------------------------------------------------------
// Gathers. Indices outside 0..<srcRows give a row of zeros and set err[0] (a plain store of
// the same value by whoever sees one; the backend reads and clears it when it next waits).

extern "C" __global__ void mlr_gather_rows(const float* src, const int* idx, float* dst, long long rows, int cols, long long srcRows, int* err) {
    const long long n = rows * cols;
    const long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
    if (i0 >= n) return;
    mlr_walk w = mlr_walk_start(i0, stride, cols);
    for (long long i = i0; i < n; i += stride, mlr_walk_next(&w, cols)) {
        const long long s = idx[w.r];
        if (s >= 0 && s < srcRows) {
            dst[i] = src[s * cols + w.j];
        } else {
            dst[i] = 0.0f;
            err[0] = 1;
        }
    }
}

// A minibatch gather whose offset is read on the device: cursor[0], read when the kernel
// runs (a recorded step replays at the cursor's value of the moment). An offset that puts
// [off, off + rows) outside idx's idxCount entries gives rows of zeros and sets err[0] = 1.
extern "C" __global__ void mlr_gather_rows_cursor(const float* src, const int* idx, const int* cursor, float* dst, long long rows, int cols, long long srcRows, long long idxCount, int* err) {
    const long long off = cursor[0];
    const bool inRange = off >= 0 && off + rows <= idxCount;
    const long long n = rows * cols;
    const long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
    if (i0 >= n) return;
    mlr_walk w = mlr_walk_start(i0, stride, cols);
    for (long long i = i0; i < n; i += stride, mlr_walk_next(&w, cols)) {
        const long long s = inRange ? (long long)idx[off + w.r] : -1;
        if (s >= 0 && s < srcRows) {
            dst[i] = src[s * cols + w.j];
        } else {
            dst[i] = 0.0f;
            err[0] = 1;
        }
    }
}

// counter[0] += by (a cursor or a step counter), by one thread; wraps as unsigned arithmetic.
extern "C" __global__ void mlr_advance(int* counter, int by) {
    if (blockIdx.x == 0 && threadIdx.x == 0) counter[0] = (int)((unsigned int)counter[0] + (unsigned int)by);
}

// ---------------------------------------------------------------------------------------
// GEMM: C (M×N, row-major, ldc = N) = epilogue(op(A)·op(B)), op(A) M×K, op(B) K×N.
// 64×64 tiles of C, 256 threads, each thread a 4×4 micro-tile (rows ty + 16i, columns
// tx + 16j), k in steps of 16 through shared memory. Each element's sum runs over k in
// order with one FMA a step. splits > 1: tile t of split s sums k in
// [s·kChunk, (s+1)·kChunk) and writes the raw sum to C + s·M·N (a partials buffer), which
// mlr_gemm_reduce adds in split order and finishes. flags: 1 = add bias[col], 2 = ReLU.
// Epilogue: v = alpha·acc; if beta ≠ 0, v += beta·c (with beta 0, c is never read, so its
// NaNs do not matter); then the bias; then ReLU (NaN stays NaN, as on the CPU).

__device__ float mlr_epilogue(float acc, const float* c, const float* bias, long long col, float alpha, float beta, int flags) {
    float v = __fmul_rn(alpha, acc);
    if (beta != 0.0f) v = __fadd_rn(v, __fmul_rn(beta, c[0]));
    if (flags & 1) v = __fadd_rn(v, bias[col]);
    if ((flags & 2) && v < 0.0f) v = 0.0f;
    return v;
}

// Element e (0..<1024) of a 64×16 tile of op(A) at (m0, k0), or of a 16×64 tile of op(B) at
// (k0, n0): its place in the tile (kk, r) and its value (0 outside the matrix or past kEnd).
// The mapping follows the stored matrix's rows, so that consecutive threads read
// consecutive addresses.
__device__ void mlr_tile_place(int e, int rowsAlongK, int* kk, int* r) {
    // rowsAlongK: the stored matrix's rows run along k (A transposed, B not).
    if (rowsAlongK) { *r = e & 63; *kk = e >> 6; } else { *kk = e & 15; *r = e >> 4; }
}

__device__ float mlr_tile_load(const float* X, int ld, int rowsAlongK, int limit, int kEnd, int base, int k0, int e) {
    int kk, r;
    mlr_tile_place(e, rowsAlongK, &kk, &r);
    const int g = base + r, gk = k0 + kk;
    if (g < limit && gk < kEnd) return rowsAlongK ? X[(long long)gk * ld + g] : X[(long long)g * ld + gk];
    return 0.0f;
}

extern "C" __global__ void mlr_gemm(const float* A, const float* B, float* C, const float* bias, int M, int N, int K, int lda, int ldb, int transA, int transB, float alpha, float beta, int flags, int kChunk, int splits) {
    // Rows of 66 floats: a warp's stores (32 consecutive e) hit 32 different banks in both
    // mappings of mlr_tile_place ((2·kk + r) mod 32 for kk = e & 15, r = e >> 4 with r from
    // an even start; r + const for r = e & 63), and the loads read one row kk a step
    // (As: two addresses a warp, broadcast; Bs: 16 consecutive floats).
    __shared__ float As[16][66];
    __shared__ float Bs[16][66];
    const int tid = threadIdx.x;
    const int tx = tid & 15, ty = tid >> 4;
    const int aAlongK = transA, bAlongK = !transB;
    // The host keeps M and N ≤ 2^31 − 65, so the tile counts and m0 + 63 fit an int.
    const int tilesN = (N + 63) / 64, tilesM = (M + 63) / 64;
    const long long tiles = (long long)tilesM * tilesN;
    const long long total = tiles * splits;
    const long long mn = (long long)M * N;
    for (long long t = blockIdx.x; t < total; t += gridDim.x) {
        const int s = (int)(t / tiles);
        const long long tt = t - (long long)s * tiles;
        const int m0 = (int)(tt / tilesN) * 64;
        const int n0 = (int)(tt - (tt / tilesN) * tilesN) * 64;
        const int kBegin = s * kChunk;
        const int kEnd = K < kBegin + kChunk ? K : kBegin + kChunk;
        float acc[4][4];
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
        // The next k step's elements are loaded into registers while this one computes.
        float ra[4], rb[4];
        for (int q = 0; q < 4; ++q) {
            ra[q] = mlr_tile_load(A, lda, aAlongK, M, kEnd, m0, kBegin, tid + 256 * q);
            rb[q] = mlr_tile_load(B, ldb, bAlongK, N, kEnd, n0, kBegin, tid + 256 * q);
        }
        for (int k0 = kBegin; k0 < kEnd; k0 += 16) {
            for (int q = 0; q < 4; ++q) {
                int kk, r;
                mlr_tile_place(tid + 256 * q, aAlongK, &kk, &r);
                As[kk][r] = ra[q];
                mlr_tile_place(tid + 256 * q, bAlongK, &kk, &r);
                Bs[kk][r] = rb[q];
            }
            __syncthreads();
            if (k0 + 16 < kEnd) {
                for (int q = 0; q < 4; ++q) {
                    ra[q] = mlr_tile_load(A, lda, aAlongK, M, kEnd, m0, k0 + 16, tid + 256 * q);
                    rb[q] = mlr_tile_load(B, ldb, bAlongK, N, kEnd, n0, k0 + 16, tid + 256 * q);
                }
            }
            for (int kk = 0; kk < 16; ++kk) {
                float a[4], b[4];
                for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
                for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
                for (int i = 0; i < 4; ++i)
                    for (int j = 0; j < 4; ++j) acc[i][j] = __fmaf_rn(a[i], b[j], acc[i][j]);
            }
            __syncthreads();
        }
        for (int i = 0; i < 4; ++i) {
            const int row = m0 + ty + 16 * i;
            for (int j = 0; j < 4; ++j) {
                const int col = n0 + tx + 16 * j;
                if (row < M && col < N) {
                    const long long o = (long long)row * N + col;
                    if (splits > 1) C[s * mn + o] = acc[i][j];
                    else C[o] = mlr_epilogue(acc[i][j], C + o, bias, col, alpha, beta, flags);
                }
            }
        }
    }
}

extern "C" __global__ void mlr_gemm_reduce(const float* part, float* C, const float* bias, int M, int N, int splits, float alpha, float beta, int flags) {
    const long long mn = (long long)M * N;
    const long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
    if (i0 >= mn) return;
    mlr_walk w = mlr_walk_start(i0, stride, N);
    for (long long i = i0; i < mn; i += stride, mlr_walk_next(&w, N)) {
        float s = part[i];
        for (int p = 1; p < splits; ++p) s = __fadd_rn(s, part[p * mn + i]);
        C[i] = mlr_epilogue(s, C + i, bias, w.j, alpha, beta, flags);
    }
}

// 16 steps of k for the first NC columns of a row (acc[j] += a[kk]·Bs[kk][j], kk in order);
// NC ≥ N, a compile-time width so that a 2-column output does 2 FMAs a step, not 16.
template <int NC>
__device__ __forceinline__ void mlr_small_n_steps(const float* a, float (*Bs)[16], float* acc) {
#pragma unroll 4
    for (int kk = 0; kk < 16; ++kk) {
        const float x = a[kk];
        for (int j = 0; j < NC; ++j) acc[j] = __fmaf_rn(x, Bs[kk][j], acc[j]);
    }
}

// Narrow outputs (N ≤ 16, the host's choice from the shapes): a block of 256 threads takes
// 256 rows, a thread one row and all its N columns; k runs in chunks of 16 through shared
// memory (op(A) 256×16, op(B) 16×16, zeros outside). Each element's sum starts at 0.0f and
// adds a[k]·b[k] with one __fmaf_rn a step for k = 0, 1, ..., K − 1 in order: the tiled
// kernel's order without split-K, so the two give the same bits. The epilogue is
// mlr_epilogue's (alpha, beta, bias, ReLU).
extern "C" __global__ void mlr_gemm_small_n(const float* A, const float* B, float* C, const float* bias, int M, int N, int K, int lda, int ldb, int transA, int transB, float alpha, float beta, int flags) {
    // Rows of 17: a thread reads its row at one kk (bank 17·row + kk: 32 banks a warp).
    __shared__ float As[256][17];
    __shared__ float Bs[16][16];
    const int tid = threadIdx.x;
    const int rowBlocks = (int)(((long long)M + 255) / 256);
    for (int rb = blockIdx.x; rb < rowBlocks; rb += gridDim.x) {
        const long long m0 = (long long)rb * 256;
        float acc[16];
        for (int j = 0; j < 16; ++j) acc[j] = 0.0f;
        for (int k0 = 0; k0 < K; k0 += 16) {
            __syncthreads();
            // op(A)'s 256×16 tile, 16 elements a thread, consecutive threads on consecutive
            // addresses of the stored matrix.
#pragma unroll 1
            for (int q = 0; q < 16; ++q) {
                const int e = tid + 256 * q;
                int r, kk;
                if (transA) { r = e & 255; kk = e >> 8; } else { kk = e & 15; r = e >> 4; }
                const long long g = m0 + r;
                const int gk = k0 + kk;
                As[r][kk] = (g < M && gk < K) ? (transA ? A[(long long)gk * lda + g] : A[g * lda + gk]) : 0.0f;
            }
            {
                int kk, c;
                if (transB) { kk = tid & 15; c = tid >> 4; } else { c = tid & 15; kk = tid >> 4; }
                const int gk = k0 + kk;
                Bs[kk][c] = (c < N && gk < K) ? (transB ? B[(long long)c * ldb + gk] : B[(long long)gk * ldb + c]) : 0.0f;
            }
            __syncthreads();
            if (N <= 2) mlr_small_n_steps<2>(As[tid], Bs, acc);
            else if (N <= 4) mlr_small_n_steps<4>(As[tid], Bs, acc);
            else if (N <= 8) mlr_small_n_steps<8>(As[tid], Bs, acc);
            else mlr_small_n_steps<16>(As[tid], Bs, acc);
        }
        const long long row = m0 + tid;
        if (row < M) {
            for (int j = 0; j < 16; ++j) {
                if (j < N) {
                    const long long o = row * N + j;
                    C[o] = mlr_epilogue(acc[j], C + o, bias, j, alpha, beta, flags);
                }
            }
        }
    }
}

// Short sums (K ≤ 16, the host's choice from the shapes): one thread an element, the sum
// from 0.0f with one __fmaf_rn a step over k = 0, ..., K − 1 in order (the tiled kernel's
// order: the same bits), then mlr_epilogue. Elements in row-major order; consecutive threads
// take consecutive columns.
extern "C" __global__ void mlr_gemm_small_k(const float* A, const float* B, float* C, const float* bias, int M, int N, int K, int lda, int ldb, int transA, int transB, float alpha, float beta, int flags) {
    const long long n = (long long)M * N;
    const long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
    if (i0 >= n) return;
    mlr_walk w = mlr_walk_start(i0, stride, N);
    for (long long i = i0; i < n; i += stride, mlr_walk_next(&w, N)) {
        float acc = 0.0f;
        for (int k = 0; k < K; ++k) {
            const float a = transA ? A[(long long)k * lda + w.r] : A[w.r * lda + k];
            const float b = transB ? B[(long long)w.j * ldb + k] : B[(long long)k * ldb + w.j];
            acc = __fmaf_rn(a, b, acc);
        }
        C[i] = mlr_epilogue(acc, C + i, bias, w.j, alpha, beta, flags);
    }
}

// ---------------------------------------------------------------------------------------
// Elementwise.

extern "C" __global__ void mlr_relu(float* x, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const float v = x[i];
        x[i] = v < 0.0f ? 0.0f : v;
    }
}

extern "C" __global__ void mlr_relu_backward(float* g, const float* a, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        if (!(a[i] > 0.0f)) g[i] = 0.0f;
    }
}

extern "C" __global__ void mlr_sigmoid(float* x, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        x[i] = 1.0f / __fadd_rn(1.0f, expf(-x[i]));
    }
}

extern "C" __global__ void mlr_add_row(float* x, const float* v, long long rows, int cols) {
    const long long n = rows * cols;
    const long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
    if (i0 >= n) return;
    mlr_walk w = mlr_walk_start(i0, stride, cols);
    for (long long i = i0; i < n; i += stride, mlr_walk_next(&w, cols)) {
        x[i] = __fadd_rn(x[i], v[w.j]);
    }
}

extern "C" __global__ void mlr_axpy(float alpha, const float* x, float* y, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        y[i] = __fadd_rn(y[i], __fmul_rn(alpha, x[i]));
    }
}

extern "C" __global__ void mlr_scale(float* x, float alpha, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        x[i] = __fmul_rn(x[i], alpha);
    }
}

// c = a − b; c may be a or b (each element reads its inputs before writing).
extern "C" __global__ void mlr_sub(const float* a, const float* b, float* c, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        c[i] = a[i] - b[i];
    }
}

// d = (z − y)·s (outputDelta without softmax; d may be z or y).
extern "C" __global__ void mlr_delta(const float* z, const float* y, float* d, float s, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        d[i] = __fmul_rn(z[i] - y[i], s);
    }
}

// ---------------------------------------------------------------------------------------
// Rows: one warp a row (blockDim.x a multiple of 32). Lane l takes columns l, l + 32, ...
// in order; the lanes' partial maxima and sums meet in a butterfly.

// A warp's row (lane l: columns l, l + 32, ...): each value replaced by e = exp(x − max),
// summed per lane in column order, the lanes' sums in a butterfly; returns 1 / Σe.
__device__ float mlr_row_exp(float* row, int cols, int lane) {
    float mx = __int_as_float(0xff800000);  // −∞
    for (int j = lane; j < cols; j += 32) mx = fmaxf(mx, row[j]);
    mx = mlr_warp_max(mx);
    float sum = 0.0f;
    for (int j = lane; j < cols; j += 32) {
        const float e = expf(row[j] - mx);
        row[j] = e;
        sum = __fadd_rn(sum, e);
    }
    sum = mlr_warp_sum(sum);
    return 1.0f / sum;
}

// mode 0: softmax (e = exp(x − max), then e · (1 / Σe), as the CPU); 1: log-softmax
// ((x − max) − log Σe).
extern "C" __global__ void mlr_softmax_rows(float* x, long long rows, int cols, int mode) {
    const int lane = threadIdx.x & 31;
    const long long warps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
        float* row = x + r * cols;
        if (mode == 0) {
            const float inv = mlr_row_exp(row, cols, lane);
            for (int j = lane; j < cols; j += 32) row[j] = __fmul_rn(row[j], inv);
        } else {
            float mx = __int_as_float(0xff800000);  // −∞
            for (int j = lane; j < cols; j += 32) mx = fmaxf(mx, row[j]);
            mx = mlr_warp_max(mx);
            float sum = 0.0f;
            for (int j = lane; j < cols; j += 32) sum = __fadd_rn(sum, expf(row[j] - mx));
            sum = mlr_warp_sum(sum);
            const float lse = logf(sum);
            for (int j = lane; j < cols; j += 32) row[j] = (row[j] - mx) - lse;
        }
    }
}

// outputDelta with softmax: z's rows become their softmax (as mlr_softmax_rows), and
// d = (p − y)·s. d may be y, not z.
extern "C" __global__ void mlr_softmax_delta(float* z, const float* y, float* d, long long rows, int cols, float s) {
    const int lane = threadIdx.x & 31;
    const long long warps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
        float* row = z + r * cols;
        const float* yr = y + r * cols;
        float* dr = d + r * cols;
        const float inv = mlr_row_exp(row, cols, lane);
        for (int j = lane; j < cols; j += 32) {
            const float p = __fmul_rn(row[j], inv);
            row[j] = p;
            dr[j] = __fmul_rn(p - yr[j], s);
        }
    }
}

// One thread a row: the first index of the largest value (NaN never wins, as on the CPU).
extern "C" __global__ void mlr_row_argmax(const float* x, int* out, long long rows, int cols) {
    for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += (long long)gridDim.x * blockDim.x) {
        const float* row = x + r * cols;
        float best = cols > 0 ? row[0] : 0.0f;
        int bi = 0;
        for (int j = 1; j < cols; ++j) {
            if (row[j] > best) { best = row[j]; bi = j; }
        }
        out[r] = bi;
    }
}

// One thread a row: the first index of the smallest value, and the value.
extern "C" __global__ void mlr_row_argmin(const float* d, int* labels, float* dist, long long rows, int k) {
    for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += (long long)gridDim.x * blockDim.x) {
        const float* row = d + r * k;
        float best = row[0];
        int bi = 0;
        for (int j = 1; j < k; ++j) {
            if (row[j] < best) { best = row[j]; bi = j; }
        }
        labels[r] = bi;
        dist[r] = best;
    }
}

// Σ x² of each row as the CPU's Vec.dot(x, x): 8 interleaved lanes, the lanes added in
// order, then the tail (bit-identical to the CPU).
extern "C" __global__ void mlr_row_sqnorms(const float* x, float* out, long long rows, int cols) {
    for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += (long long)gridDim.x * blockDim.x) {
        const float* p = x + r * cols;
        float acc[8];
        for (int l = 0; l < 8; ++l) acc[l] = 0.0f;
        const int n8 = cols & ~7;
        for (int i = 0; i < n8; i += 8)
            for (int l = 0; l < 8; ++l) acc[l] = __fadd_rn(acc[l], __fmul_rn(p[i + l], p[i + l]));
        float s = 0.0f;
        for (int l = 0; l < 8; ++l) s = __fadd_rn(s, acc[l]);
        for (int i = n8; i < cols; ++i) s = __fadd_rn(s, __fmul_rn(p[i], p[i]));
        out[r] = s;
    }
}

// d holds −2·x·cᵀ; d = max((‖x_i‖² + ‖c_j‖²) + d, 0) (NaN → 0, as on the CPU).
extern "C" __global__ void mlr_sqdist_finish(float* d, const float* xn, const float* cn, long long rows, int k) {
    const long long n = rows * k;
    const long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
    if (i0 >= n) return;
    mlr_walk w = mlr_walk_start(i0, stride, k);
    for (long long i = i0; i < n; i += stride, mlr_walk_next(&w, k)) {
        const float v = __fadd_rn(__fadd_rn(xn[w.r], cn[w.j]), d[i]);
        d[i] = v > 0.0f ? v : 0.0f;
    }
}

// ---------------------------------------------------------------------------------------
// Column sums: block b of `rowBlock` rows, column j → part[b·cols + j] (rows in order from
// 0.0f); then mlr_col_sums_final adds the blocks in order. One block: the first kernel
// writes the output directly.

extern "C" __global__ void mlr_col_sums_partial(const float* x, float* part, long long rows, int cols, int rowBlock) {
    const long long blocks = (rows + rowBlock - 1) / rowBlock;
    const long long n = blocks * cols;
    const long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
    if (i0 >= n) return;
    mlr_walk w = mlr_walk_start(i0, stride, cols);
    for (long long i = i0; i < n; i += stride, mlr_walk_next(&w, cols)) {
        const long long b = w.r;
        const long long j = w.j;
        const long long r0 = b * rowBlock;
        const long long r1 = rows < r0 + rowBlock ? rows : r0 + rowBlock;
        float s = 0.0f;
        for (long long r = r0; r < r1; ++r) s = __fadd_rn(s, x[r * cols + j]);
        part[i] = s;
    }
}

extern "C" __global__ void mlr_col_sums_final(const float* part, float* out, int blocks, int cols) {
    for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < cols; j += (long long)gridDim.x * blockDim.x) {
        float s = 0.0f;
        for (int b = 0; b < blocks; ++b) s = __fadd_rn(s, part[(long long)b * cols + j]);
        out[j] = s;
    }
}

// Column sums of a short matrix in one launch (the backend uses it up to 1024 rows): a
// block takes 32 columns, thread (g, c) = (threadIdx.x / 32, threadIdx.x % 32) sums rows
// g, g + 8, ... of column c in order (a warp reads 32 consecutive floats of a row), then the
// 8 row groups meet in a fixed shared-memory tree (blockDim.x = 256).
extern "C" __global__ void mlr_col_sums_small(const float* x, float* out, long long rows, int cols) {
    __shared__ float sh[8][32];
    const int c = threadIdx.x & 31, g = threadIdx.x >> 5;
    const int chunks = (cols + 31) / 32;
    for (int chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
        const int j = chunk * 32 + c;
        float s = 0.0f;
        if (j < cols)
            for (long long r = g; r < rows; r += 8) s = __fadd_rn(s, x[r * cols + j]);
        __syncthreads();
        sh[g][c] = s;
        __syncthreads();
        for (int o = 4; o > 0; o >>= 1) {
            if (g < o) sh[g][c] = __fadd_rn(sh[g][c], sh[g + o][c]);
            __syncthreads();
        }
        if (g == 0 && j < cols) out[j] = sh[0][c];
    }
}

// Σ x² in double over fixed blocks of blockLen values: thread t of a block sums elements
// t, t + blockDim.x, ... of it in order, then a shared-memory tree (blockDim.x = 256). The
// host adds the blocks' sums in order. (A float squared is exact in double, so an FMA
// contraction of s + x·x rounds the same.)
extern "C" __global__ void mlr_sum_squares_partial(const float* x, double* part, long long n, int blockLen) {
    __shared__ double sh[256];
    const int tid = threadIdx.x;
    const long long blocks = (n + blockLen - 1) / blockLen;
    for (long long b = blockIdx.x; b < blocks; b += gridDim.x) {
        const long long lo = b * blockLen;
        const long long hi = n < lo + blockLen ? n : lo + blockLen;
        double s = 0.0;
        for (long long i = lo + tid; i < hi; i += blockDim.x) {
            const double v = (double)x[i];
            s += v * v;
        }
        __syncthreads();
        sh[tid] = s;
        __syncthreads();
        for (int o = 128; o > 0; o >>= 1) {
            if (tid < o) sh[tid] = sh[tid] + sh[tid + o];
            __syncthreads();
        }
        if (tid == 0) part[b] = sh[0];
    }
}

// Cluster sums: the host orders the rows by cluster (stably) and cuts each cluster's rows
// into fixed blocks; blocks[3b..3b+2] = (start in order, length, cluster). Thread (b, j) sums
// column j of block b's rows in order, in double, into part[b·d + j]; the host adds the
// blocks of a cluster in order.
extern "C" __global__ void mlr_cluster_sums_partial(const float* x, const int* order, const int* blocks, double* part, int nblocks, int d) {
    const long long n = (long long)nblocks * d;
    const long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
    if (i0 >= n) return;
    mlr_walk w = mlr_walk_start(i0, stride, d);
    for (long long i = i0; i < n; i += stride, mlr_walk_next(&w, d)) {
        const long long b = w.r;
        const long long j = w.j;
        const int start = blocks[3 * b], len = blocks[3 * b + 1];
        double s = 0.0;
        for (int r = start; r < start + len; ++r) s += (double)x[(long long)order[r] * d + j];
        part[i] = s;
    }
}

// A block's sum of one double a thread (blockDim.x = 256), by a fixed tree; every thread
// gets it. Called by all threads of the block alike.
__device__ double mlr_block_sum(double v, double* sh) {
    const int tid = threadIdx.x;
    __syncthreads();
    sh[tid] = v;
    __syncthreads();
    for (int o = 128; o > 0; o >>= 1) {
        if (tid < o) sh[tid] = sh[tid] + sh[tid + o];
        __syncthreads();
    }
    return sh[0];
}

// Softmax cross-entropy of a linear model (CPUBackend.softmaxLinearGradient's per-row
// arithmetic, in double): z holds x·W (float), bias is added in double, p = softmax(z),
// loss_i = −log max(p[label_i], 1e-300), d_i = p − e_label (stored as float for the
// gradient's GEMM). Rows in fixed chunks of 256 (one thread a row); each chunk's loss and
// Σ d_j go to part[chunk·(k+1) + {0, 1 + j}] by fixed trees. blockDim.x = 256.
extern "C" __global__ void mlr_softmax_xent(const float* z, const float* bias, const int* labels, float* d, double* part, long long n, int k) {
    __shared__ double sh[256];
    const long long chunks = (n + 255) / 256;
    const double negInf = (double)__int_as_float(0xff800000);
    for (long long ch = blockIdx.x; ch < chunks; ch += gridDim.x) {
        const long long i = ch * 256 + threadIdx.x;
        const int valid = i < n;
        const float* zr = z + (valid ? i : 0) * k;
        double zmax = negInf, sum = 0.0, loss = 0.0;
        int c = 0;
        if (valid) {
            c = labels[i];
            for (int j = 0; j < k; ++j) {
                const double zj = (double)zr[j] + (double)bias[j];
                zmax = zj > zmax ? zj : zmax;
            }
            for (int j = 0; j < k; ++j) sum += exp(((double)zr[j] + (double)bias[j]) - zmax);
            const double pc = exp(((double)zr[c] + (double)bias[c]) - zmax) / sum;
            loss = -log(pc > 1e-300 ? pc : 1e-300);
        }
        const double total = mlr_block_sum(loss, sh);
        if (threadIdx.x == 0) part[ch * (k + 1)] = total;
        for (int j = 0; j < k; ++j) {
            double dj = 0.0;
            if (valid) {
                dj = exp(((double)zr[j] + (double)bias[j]) - zmax) / sum - (j == c ? 1.0 : 0.0);
                d[i * k + j] = (float)dj;
            }
            const double sj = mlr_block_sum(dj, sh);
            if (threadIdx.x == 0) part[ch * (k + 1) + 1 + j] = sj;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Optimizers, in CPUBackend.adamStep's order of operations (torch.optim.Adam's
// single-tensor path):
//   g = grad + wd·p (if wd ≠ 0);  m = lerp(m, g, w1);  v = v·β2 + ((1−β2)·g)·g
//   p = p + (negStep·m) / (sqrt(v)/bc2Sqrt + eps)
// with negStep = −lr/bc1 and bc2Sqrt = sqrt(bc2) computed on the host in double. lerp as
// torch: |w1| < 0.5 ? m + w1·(g − m) : g − (g − m)·(1 − w1), w1 = 1 − β1, omw1 = 1 − w1.

__device__ void mlr_adam_one(float* p, const float* g, float* m, float* v, long long i, float wd, float negStep, float bc2Sqrt, float beta2, float w1, float omw1, float w2, float eps, int lerpLow) {
    float gi = g[i];
    const float pi = p[i];
    if (wd != 0.0f) gi = __fadd_rn(gi, __fmul_rn(wd, pi));
    const float mo = m[i];
    const float mi = lerpLow ? __fadd_rn(mo, __fmul_rn(w1, gi - mo)) : gi - __fmul_rn(gi - mo, omw1);
    const float vi = __fadd_rn(__fmul_rn(v[i], beta2), __fmul_rn(__fmul_rn(w2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(sqrtf(vi) / bc2Sqrt, eps);
    p[i] = __fadd_rn(pi, __fmul_rn(negStep, mi) / denom);
}

extern "C" __global__ void mlr_adam(float* p, const float* g, float* m, float* v, long long n, float wd, float negStep, float bc2Sqrt, float beta2, float w1, float omw1, float w2, float eps, int lerpLow) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        mlr_adam_one(p, g, m, v, i, wd, negStep, bc2Sqrt, beta2, w1, omw1, w2, eps, lerpLow);
    }
}

// Every parameter of a model in one launch. table: 12 words a tensor: the addresses of p,
// g, m, v (low word, high word each), the element count (low, high), the weight decay's
// bits, and a spare word.
__device__ float* mlr_table_pointer(const unsigned int* w) {
    return (float*)(((unsigned long long)w[1] << 32) | (unsigned long long)w[0]);
}

// Every tensor of a table (12 words each: p, g, m, v pointers, the count, the weight decay)
// through mlr_adam_one, grid-stride within each tensor.
__device__ void mlr_adam_table(const unsigned int* table, int tensors, float negStep, float bc2Sqrt, float beta2, float w1, float omw1, float w2, float eps, int lerpLow) {
    for (int t = 0; t < tensors; ++t) {
        const unsigned int* e = table + 12 * t;
        float* p = mlr_table_pointer(e);
        float* g = mlr_table_pointer(e + 2);
        float* m = mlr_table_pointer(e + 4);
        float* v = mlr_table_pointer(e + 6);
        const long long n = (long long)(((unsigned long long)e[9] << 32) | (unsigned long long)e[8]);
        const float wd = __int_as_float((int)e[10]);
        for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
            mlr_adam_one(p, g, m, v, i, wd, negStep, bc2Sqrt, beta2, w1, omw1, w2, eps, lerpLow);
        }
    }
}

extern "C" __global__ void mlr_adam_multi(const unsigned int* table, int tensors, float negStep, float bc2Sqrt, float beta2, float w1, float omw1, float w2, float eps, int lerpLow) {
    mlr_adam_table(table, tensors, negStep, bc2Sqrt, beta2, w1, omw1, w2, eps, lerpLow);
}

// mlr_adam_multi with Adam's step read on the device (step[0], from 1), so a recorded step
// replays with the step of the moment. Every thread computes the scalars as the host does
// (AdamScalars, CPUBackend.adamStep): bc = 1 − β^step in double, negStep = (float)(−(lr/bc1)),
// bc2Sqrt = (float)sqrt(bc2), w1 = 1 − β1, omw1 = 1 − w1, w2 = 1 − β2 in float. The device's
// double pow may differ from the host's in the last bits, which moves negStep or bc2Sqrt by
// one float ulp at most (only when the double lies that close to a rounding boundary). A step
// below 1 updates nothing and sets err[0] = 2.
extern "C" __global__ void mlr_adam_multi_step(const unsigned int* table, int tensors, const int* step, float lr, float beta1, float beta2, float eps, int* err) {
    const int s = step[0];
    if (s < 1) {
        if (blockIdx.x == 0 && threadIdx.x == 0) err[0] = 2;
    } else {
        const double bc1 = 1.0 - pow((double)beta1, (double)s);
        const double bc2 = 1.0 - pow((double)beta2, (double)s);
        const float negStep = (float)(-((double)lr / bc1));
        const float bc2Sqrt = (float)sqrt(bc2);
        const float w1 = 1.0f - beta1;
        const float omw1 = 1.0f - w1;
        const float w2 = 1.0f - beta2;
        const int lerpLow = fabsf(w1) < 0.5f ? 1 : 0;
        mlr_adam_table(table, tensors, negStep, bc2Sqrt, beta2, w1, omw1, w2, eps, lerpLow);
    }
}

// velocity = velocity·momentum + (grad + wd·p); p = p − lr·velocity (torch.optim.SGD).
extern "C" __global__ void mlr_sgd(float* p, const float* g, float* vel, long long n, float lr, float momentum, float wd) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float gi = g[i];
        const float pi = p[i];
        if (wd != 0.0f) gi = __fadd_rn(gi, __fmul_rn(wd, pi));
        const float v = __fadd_rn(__fmul_rn(vel[i], momentum), gi);
        vel[i] = v;
        p[i] = pi - __fmul_rn(lr, v);
    }
}
"""#

    /// The `KernelArgument` case a parameter takes (`unsupported`: a type the launcher has no
    /// case for).
    public enum ArgumentKind: Sendable, Equatable {
        case pointer, int32, int64, float, double, unsupported

        /// The kind of `a`.
        @inline(__always) public init(_ a: KernelArgument) {
            switch a {
            case .pointer: self = .pointer
            case .int32: self = .int32
            case .int64: self = .int64
            case .float: self = .float
            case .double: self = .double
            }
        }
    }

    /// One kernel's name and the C types of its parameters, in order; `kinds` are the
    /// parameters' argument kinds, worked out once (a launch compares these).
    public struct Spec: Sendable, Equatable {
        public let name: String
        public let parameters: [String]
        public let kinds: [ArgumentKind]

        public init(name: String, parameters: [String]) {
            self.name = name
            self.parameters = parameters
            kinds = parameters.map { CUDAKernels.kind(ofCType: $0) }
        }
    }

    /// Every kernel in `source`, in source order.
    public static let specs: [Spec] = parseSpecs(source)

    /// The kernels declared in `text`: each line starting `extern "C" __global__ void`.
    static func parseSpecs(_ text: String) -> [Spec] {
        var out: [Spec] = []
        let prefix = "extern \"C\" __global__ void "
        for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
            let rest = line.dropFirst(prefix.count)
            guard let open = rest.firstIndex(of: "("), let close = rest.firstIndex(of: ")") else { continue }
            let name = String(rest[..<open]).trimmingSpaces
            let params = rest[rest.index(after: open)..<close].split(separator: ",").map { p -> String in
                // "const float* __restrict__ x" → "const float*"; "long long n" → "long long"
                // Drop the parameter's name (the trailing identifier), then the qualifiers.
                var t = Substring(p.trimmingSpaces)
                while let c = t.last, c.isLetter || c.isNumber || c == "_" { t = t.dropLast() }
                let words = t.split(separator: " ").map(String.init).filter { $0 != "__restrict__" }
                return words.joined(separator: " ").replacingStarSpacing
            }
            out.append(Spec(name: name, parameters: params.filter { !$0.isEmpty }))
        }
        return out
    }

    /// The `KernelArgument` case a C parameter type takes: "pointer", "int32", "int64",
    /// "float" or "double"; nil for a type the launcher does not support.
    public static func argumentKind(_ cType: String) -> String? {
        if cType.hasSuffix("*") { return "pointer" }
        switch cType {
        case "int", "unsigned int": return "int32"
        case "long long", "unsigned long long": return "int64"
        case "float": return "float"
        case "double": return "double"
        default: return nil
        }
    }

    /// `argumentKind` as an `ArgumentKind`.
    static func kind(ofCType cType: String) -> ArgumentKind {
        switch argumentKind(cType) {
        case "pointer": return .pointer
        case "int32": return .int32
        case "int64": return .int64
        case "float": return .float
        case "double": return .double
        default: return .unsupported
        }
    }

    /// Whether `args` fit `spec`'s parameters (count and kinds): compares the kinds worked
    /// out when the spec was made (no string work a launch).
    public static func matches(_ spec: Spec, _ args: [KernelArgument]) -> Bool {
        let kinds = spec.kinds
        guard kinds.count == args.count else { return false }
        for i in 0..<kinds.count where kinds[i] != ArgumentKind(args[i]) { return false }
        return true
    }
}

private extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

private extension String {
    /// "float *" → "float*", so pointer types compare as written without a space.
    var replacingStarSpacing: String {
        var out = ""
        for c in self {
            if c == "*" { while out.last == " " { out.removeLast() } }
            out.append(c)
        }
        return out
    }
}
