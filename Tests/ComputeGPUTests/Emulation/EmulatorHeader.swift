/// The header that lets CUDA C++ kernel source compile as host C++ (the emulator). Kept as a
/// Swift string so the test target needs no resource files; `EmulatedDevice` writes it next
/// to the source it compiles.
///
/// How a launch runs: one OS thread per thread of the block (threadIdx, blockIdx, blockDim,
/// gridDim are thread_local), all of them walking the grid's blocks one at a time, in an
/// order shuffled anew for every launch. A block
/// barrier implements __syncthreads (a thread that has returned from the kernel leaves the
/// barrier, as on Volta and later). A warp barrier and a 32-slot exchange implement the
/// warp shuffles. `__shared__` is a function-local `static`: one copy, which is right
/// because blocks run one after another and all threads of a block see it.
let emulatorHeader = #"""
// cuda_emu.h: CUDA C++ kernels compiled as host C++ (mlrepo tests only).
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <thread>
#include <mutex>
#include <condition_variable>
#include <vector>
#include <functional>
#include <atomic>

struct uint3 { unsigned int x, y, z; };
struct dim3 { unsigned int x, y, z; };

extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
static const int warpSize = 32;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __shared__ static

namespace emu {
// A barrier whose party shrinks when a thread leaves (returns from the kernel).
struct Barrier {
    std::mutex m;
    std::condition_variable cv;
    int expected = 0, arrived = 0;
    unsigned long generation = 0;
    void reset(int n) { std::lock_guard<std::mutex> l(m); expected = n; arrived = 0; }
    void release() { arrived = 0; generation++; cv.notify_all(); }
    void wait() {
        std::unique_lock<std::mutex> l(m);
        unsigned long g = generation;
        if (++arrived >= expected) { release(); return; }
        cv.wait(l, [&] { return generation != g; });
    }
    void leave() {
        std::lock_guard<std::mutex> l(m);
        expected--;
        if (arrived > 0 && arrived >= expected) release();
    }
};
struct Warp {
    Barrier barrier;
    uint64_t slots[32];
};
struct Block {
    Barrier barrier;
    std::vector<Warp*> warps;
};
extern thread_local Block* block;
extern thread_local Warp* warp;
extern thread_local int lane;
extern std::mutex atomics;

inline void syncthreads() { block->barrier.wait(); }
inline void syncwarp() { warp->barrier.wait(); }

template <class T> inline T exchange(T v, int src) {
    static_assert(sizeof(T) <= 8, "shuffle of a value wider than 8 bytes");
    memcpy(&warp->slots[lane], &v, sizeof(T));
    warp->barrier.wait();
    T r = v;
    if (src >= 0 && src < 32) memcpy(&r, &warp->slots[src], sizeof(T));
    warp->barrier.wait();
    return r;
}
} // namespace emu

inline void __syncthreads() { emu::syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::syncwarp(); }
template <class T> inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
    int l = emu::lane, base = l - l % width;
    int src = (l % width) + (int)delta < width ? l + (int)delta : l;
    (void)base;
    return emu::exchange(v, src);
}
template <class T> inline T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
    int l = emu::lane;
    int src = (l % width) >= (int)delta ? l - (int)delta : l;
    return emu::exchange(v, src);
}
template <class T> inline T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
    int l = emu::lane, base = l - l % width;
    int src = base + ((l % width) ^ mask);
    if (src >= base + width) src = l;
    return emu::exchange(v, src);
}
template <class T> inline T __shfl_sync(unsigned, T v, int srcLane, int width = 32) {
    int l = emu::lane, base = l - l % width;
    return emu::exchange(v, base + ((srcLane % width + width) % width));
}

// Rounding-mode intrinsics: the default rounding, as separate operations (never fused).
__attribute__((noinline)) inline float __fmul_rn(float a, float b) { return a * b; }
__attribute__((noinline)) inline float __fadd_rn(float a, float b) { return a + b; }
__attribute__((noinline)) inline float __fsub_rn(float a, float b) { return a - b; }
__attribute__((noinline)) inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
__attribute__((noinline)) inline double __dmul_rn(double a, double b) { return a * b; }
__attribute__((noinline)) inline double __dadd_rn(double a, double b) { return a + b; }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float rsqrtf(float a) { return 1.0f / sqrtf(a); }
inline float __expf(float a) { return expf(a); }
inline float __logf(float a) { return logf(a); }
inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
template <class T> inline T __ldg(const T* p) { return *p; }

// CUDA's overloaded min/max of device code.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// Atomics (one lock; the kernels' rules keep them out of reductions).
template <class T> inline T atomicAdd(T* p, T v) { std::lock_guard<std::mutex> l(emu::atomics); T o = *p; *p = o + v; return o; }
template <class T> inline T atomicMax(T* p, T v) { std::lock_guard<std::mutex> l(emu::atomics); T o = *p; if (v > o) *p = v; return o; }
template <class T> inline T atomicOr(T* p, T v) { std::lock_guard<std::mutex> l(emu::atomics); T o = *p; *p = o | v; return o; }
template <class T> inline T atomicExch(T* p, T v) { std::lock_guard<std::mutex> l(emu::atomics); T o = *p; *p = v; return o; }

namespace emu {
// Runs `kernel` over the grid: dims = grid x, y, z, block x, y, z. Returns 0, or 1 when a
// thread could not be started.
int run(const unsigned* dims, const std::function<void()>& kernel);
}
"""#

/// The emulator's runtime: the thread-local indices and `emu::run`. Compiled once with the
/// kernels.
let emulatorRuntime = #"""
thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;
namespace emu {
thread_local Block* block;
thread_local Warp* warp;
thread_local int lane;
std::mutex atomics;

int run(const unsigned* d, const std::function<void()>& kernel) {
    const dim3 grid = {d[0], d[1], d[2]}, blk = {d[3], d[4], d[5]};
    const int threads = (int)(blk.x * blk.y * blk.z);
    const long long blocks = (long long)grid.x * grid.y * grid.z;
    Block b;
    int nwarps = (threads + 31) / 32;
    std::vector<Warp> warps(nwarps);
    for (auto& w : warps) b.warps.push_back(&w);
    // Blocks run one after another, in a different shuffled order every launch: a kernel
    // whose result depends on the order of its blocks (a race between blocks on a GPU) gives
    // results that differ from run to run, which the tests' bit-identity checks catch.
    static std::atomic<unsigned long long> launches{0};
    unsigned long long state = (launches.fetch_add(1) + 1) * 0x9E3779B97F4A7C15ull;
    std::vector<long long> order((size_t)blocks);
    for (long long i = 0; i < blocks; i++) order[(size_t)i] = i;
    for (long long i = blocks - 1; i > 0; i--) {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17;
        long long j = (long long)(state % (unsigned long long)(i + 1));
        long long t = order[(size_t)i]; order[(size_t)i] = order[(size_t)j]; order[(size_t)j] = t;
    }
    Barrier end;
    auto resetAll = [&] {
        b.barrier.reset(threads);
        for (int w = 0; w < nwarps; w++) warps[w].barrier.reset(w == nwarps - 1 ? threads - 32 * w : 32);
        end.reset(threads);
    };
    resetAll();
    auto body = [&](int t) {
        block = &b; warp = &warps[t / 32]; lane = t % 32;
        blockDim = blk; gridDim = grid;
        threadIdx = {(unsigned)(t % blk.x), (unsigned)((t / blk.x) % blk.y), (unsigned)(t / (blk.x * blk.y))};
        for (long long n = 0; n < blocks; n++) {
            const long long i = order[(size_t)n];
            blockIdx = {(unsigned)(i % grid.x), (unsigned)((i / grid.x) % grid.y), (unsigned)(i / ((long long)grid.x * grid.y))};
            kernel();
            b.barrier.leave();
            warp->barrier.leave();
            end.wait();                 // every thread is done with this block
            if (t == 0) { b.barrier.reset(threads); for (int w = 0; w < nwarps; w++) warps[w].barrier.reset(w == nwarps - 1 ? threads - 32 * w : 32); }
            end.wait();                 // barriers reset before the next block starts
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(threads);
    try {
        for (int t = 1; t < threads; t++) pool.emplace_back(body, t);
    } catch (...) {
        // Could not start every thread: the started ones would wait for ever at the first
        // barrier; this is a test harness, so give up loudly instead.
        fprintf(stderr, "emulator: could not start %d threads\n", threads);
        abort();
    }
    body(0);
    for (auto& th : pool) th.join();
    return 0;
}
} // namespace emu
"""#
