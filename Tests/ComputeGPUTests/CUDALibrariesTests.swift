import Foundation
import XCTest
import Synchronization
import Compute
import Support
@testable import ComputeGPU

/// Library search, the reasons given when CUDA is missing or broken, pip's site-packages
/// search, and the kernel cache's checks. All without a GPU.
final class CUDALibrariesTests: XCTestCase {
    var temp: String!

    override func setUpWithError() throws {
        temp = try FS.makeTempDirectory(prefix: "mlrepo-cudalib-")
    }

    override func tearDownWithError() throws {
        if let temp { FS.removeTree(temp) }
    }

    override class func tearDown() {
        if let c = sharedCacheFolder { FS.removeTree(c); sharedCacheFolder = nil }
        super.tearDown()
    }

    func mkdirs(_ rel: String) -> String {
        let p = temp + "/" + rel
        try! FS.mkdirs(p)
        return p
    }

    // MARK: Search order and reasons

    func testSearchOrderIsSettingsThenStandardEachOnce() {
        let s = GPUSettings(libraryDirectories: ["/opt/a", "relative/dir", "/usr/lib64", "/opt/b", "/opt/a"])
        let dirs = CUDALibraries.searchDirectories(s)
        XCTAssertEqual(Array(dirs.prefix(3)), ["/opt/a", "/usr/lib64", "/opt/b"])
        XCTAssertFalse(dirs.contains("relative/dir"), "never a relative folder")
        XCTAssertEqual(Set(dirs).count, dirs.count)
        for d in CUDALibraries.standardDirectories { XCTAssertTrue(dirs.contains(d), d) }
        XCTAssertEqual(dirs.firstIndex(of: "/usr/lib/x86_64-linux-gnu"), 3)
        XCTAssertTrue(CUDALibraries.standardDirectories.contains("/usr/local/cuda/lib64"))
        XCTAssertTrue(CUDALibraries.standardDirectories.contains("/usr/lib/wsl/lib"))
    }

    func testNoDriverReason() throws {
        if case .success(let h) = CUDALibraries.load(.driver, settings: GPUSettings()) {
            throw XCTSkip("this machine has an NVIDIA driver (\(h.path))")
        }
        let empty = mkdirs("empty")
        guard case .failure(let f) = CUDALibraries.load(.driver, settings: GPUSettings(libraryDirectories: [empty])) else {
            return XCTFail("loaded a driver from an empty folder")
        }
        XCTAssertTrue(f.notFound)
        XCTAssertEqual(f.message, "no NVIDIA driver: libcuda.so.1 not found")
        XCTAssertThrowsError(try CUDADevice.open(GPUSettings(libraryDirectories: [empty]))) { e in
            XCTAssertEqual((e as? ComputeError)?.message, "no NVIDIA driver: libcuda.so.1 not found")
        }
    }

    func testNVRTCNotFoundListsTheFoldersAndTheFix() {
        let a = mkdirs("a"), b = mkdirs("b")
        guard case .failure(let f) = CUDALibraries.load(.nvrtc, directories: [a, b], loaderSearch: false) else {
            return XCTFail("found libnvrtc in empty folders")
        }
        XCTAssertTrue(f.notFound)
        XCTAssertEqual(f.message, "libnvrtc.so.13 not found in \(a), \(b) (pip install nvidia-cuda-nvrtc, or set MLREPO_CUDA_LIBS)")
        // Long lists are cut.
        let many = (0..<20).map { "/nowhere/\($0)" }
        guard case .failure(let g) = CUDALibraries.load(.nvrtc, directories: many, loaderSearch: false) else { return XCTFail() }
        XCTAssertTrue(g.message.contains("/nowhere/11 and 8 more ("), g.message)
        XCTAssertFalse(g.message.contains("/nowhere/12,"), g.message)
    }

    func testAFakeDriverThatIsNotELFGivesAClearReason() throws {
        let dir = mkdirs("fake")
        try FS.atomicWrite(dir + "/libcuda.so.1", Array("this is not a shared library\n".utf8), durable: false)
        let r = CUDALibraries.load(.driver, directories: [dir], loaderSearch: false)
        guard case .failure(let f) = r else { return XCTFail("a text file loaded as libcuda") }
        XCTAssertFalse(f.notFound)
        XCTAssertTrue(f.message.hasPrefix("NVIDIA driver library found but not loadable: \(dir)/libcuda.so.1: "), f.message)
        XCTAssertFalse(f.message.contains("\n"), f.message)
        // Through the device: the same reason, no crash.
        if case .success = CUDALibraries.load(.driver, settings: GPUSettings()) { return }   // a real driver would load after it
        XCTAssertThrowsError(try CUDADevice.open(GPUSettings(libraryDirectories: [dir]))) { e in
            let m = (e as? ComputeError)?.message ?? ""
            XCTAssertTrue(m.hasPrefix("NVIDIA driver library found but not loadable: \(dir)/libcuda.so.1: "), m)
        }
        // A truncated ELF header too.
        try FS.atomicWrite(dir + "/libcuda.so.1", [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], durable: false)
        guard case .failure(let g) = CUDALibraries.load(.driver, directories: [dir], loaderSearch: false) else { return XCTFail() }
        XCTAssertFalse(g.notFound, g.message)
    }

    func testAFolderNamedLikeTheLibraryIsSkipped() {
        let dir = mkdirs("d")
        _ = mkdirs("d/libnvrtc.so.13")
        guard case .failure(let f) = CUDALibraries.load(.nvrtc, directories: [dir], loaderSearch: false) else { return XCTFail() }
        XCTAssertTrue(f.notFound, f.message)
    }

    func testProbeReportsEveryLibrary() throws {
        let empty = mkdirs("empty")
        let probe = CUDALibraries.probe(GPUSettings(libraryDirectories: [empty]))
        XCTAssertEqual(probe.map(\.library), [.driver, .nvrtc, .cublas])
        XCTAssertEqual(probe.map(\.required), [true, true, false])
        for p in probe {
            XCTAssertTrue((p.path == nil) != (p.reason == nil), "\(p): a path or a reason")
        }
        if probe[0].path == nil { XCTAssertEqual(probe[0].reason, "no NVIDIA driver: libcuda.so.1 not found") }
        // With the folders the CLI would search, NVRTC is found where the wheel put it.
        let pip = try NVRTCCompileTests.nvrtcDirectories()
        let dir = try XCTUnwrap(pip.first(where: { FS.exists($0 + "/libnvrtc.so.13") }), "NVRTC loaded, but not from \(pip)")
        let found = CUDALibraries.probe(GPUSettings(libraryDirectories: pip))
        XCTAssertEqual(found[1].path, dir + "/libnvrtc.so.13")
        XCTAssertNil(found[1].reason)
    }

    // MARK: pip's site-packages

    func testPythonSitePackagesSearch() throws {
        let home = mkdirs("home")
        let venv = mkdirs("venv")
        for d in ["home/.pyenv/versions/3.11.7/lib/python3.11/site-packages/nvidia/cublas/lib",
                  "home/.pyenv/versions/3.11.7/lib/python3.11/site-packages/nvidia/cu13/lib",
                  "home/.pyenv/versions/3.11.7/lib/python3.11/site-packages/nvidia/cu13x/bin",   // no lib: skipped
                  "home/.local/lib/python3.10/site-packages/nvidia/cuda_nvrtc/lib",
                  "venv/lib/python3.12/site-packages/nvidia/cu13/lib"] { _ = mkdirs(d) }
        let env = ["HOME": home, "VIRTUAL_ENV": venv + "/", "CONDA_PREFIX": "relative/ignored"]
        let dirs = CUDALibraries.pythonCUDADirectories(env: env).filter { $0.hasPrefix(temp) }
        XCTAssertEqual(dirs, [
            venv + "/lib/python3.12/site-packages/nvidia/cu13/lib",
            home + "/.local/lib/python3.10/site-packages/nvidia/cuda_nvrtc/lib",
            home + "/.pyenv/versions/3.11.7/lib/python3.11/site-packages/nvidia/cu13/lib",
            home + "/.pyenv/versions/3.11.7/lib/python3.11/site-packages/nvidia/cublas/lib",
        ])
        // PYENV_ROOT overrides ~/.pyenv.
        let other = mkdirs("pyenv")
        _ = mkdirs("pyenv/versions/3.13.0/lib/python3.13/site-packages/nvidia/cu13/lib")
        let d2 = CUDALibraries.pythonCUDADirectories(env: ["HOME": home, "PYENV_ROOT": other]).filter { $0.hasPrefix(temp) }
        XCTAssertEqual(d2, [home + "/.local/lib/python3.10/site-packages/nvidia/cuda_nvrtc/lib",
                            other + "/versions/3.13.0/lib/python3.13/site-packages/nvidia/cu13/lib"])
    }

    func testPythonSearchIsBounded() {
        let sp = "venv/lib/python3.11/site-packages/nvidia"
        for i in 0..<80 { _ = mkdirs("\(sp)/pkg\(i)/lib") }
        let dirs = CUDALibraries.pythonCUDADirectories(env: ["VIRTUAL_ENV": temp + "/venv"])
        XCTAssertEqual(dirs.count, CUDALibraries.maxPythonCandidates)
    }

    func testThisMachinesWheelIsFound() throws {
        let env = ProcessInfo.processInfo.environment
        let expected = (env["PYENV_ROOT"] ?? (env["HOME"] ?? "") + "/.pyenv") + "/versions/3.11.7/lib/python3.11/site-packages/nvidia/cu13/lib"
        guard FS.exists(expected + "/libnvrtc.so.13") else { throw XCTSkip("no pyenv 3.11.7 CUDA wheel here") }
        XCTAssertTrue(CUDALibraries.pythonCUDADirectories(env: env).contains(expected))
        if FS.exists(Path.dirname(expected) + "/bin/ptxas") {
            XCTAssertEqual(CUDALibraries.pythonPTXAS(env: env), Path.dirname(expected) + "/bin/ptxas")
        }
    }

    // MARK: Kernel cache

    let image: [UInt8] = Array("\u{7f}ELF pretend cubin bytes".utf8) + (0..<1000).map { UInt8($0 % 251) }

    func key(_ arch: String = "sm_90") -> [UInt8] {
        KernelCache.key(source: "src", arch: arch, nvrtcVersion: (13, 2), options: ["--std=c++17"])
    }

    func testCacheRoundTripAndPermissions() throws {
        let dir = temp + "/cache/mlrepo/cuda"
        let cache = KernelCache(directory: dir)
        XCTAssertNil(cache.load(key()), "empty cache")
        try cache.store(key(), image: image)
        XCTAssertEqual(cache.load(key()), image)
        XCTAssertNil(cache.load(key("sm_80")), "another key")
        let path = cache.path(for: key())
        XCTAssertEqual(path, dir + "/" + Hex.encode(key()) + ".cubin")
        XCTAssertEqual(FS.stat(dir)!.mode & 0o777, 0o700)
        XCTAssertEqual(FS.stat(temp + "/cache")!.mode & 0o777, 0o700, "created parents are 0700 too")
        XCTAssertEqual(FS.stat(path)!.mode & 0o777, 0o600)
        XCTAssertEqual(FS.stat(path)!.size, UInt64(80 + image.count))
        // Overwrite with another image for the same key.
        try cache.store(key(), image: [1, 2, 3])
        XCTAssertEqual(cache.load(key()), [1, 2, 3])
    }

    func testCacheKeyCoversEveryInput() {
        let base = KernelCache.key(source: "a", arch: "sm_90", nvrtcVersion: (13, 2), options: ["x"])
        XCTAssertEqual(base.count, 32)
        XCTAssertEqual(base, KernelCache.key(source: "a", arch: "sm_90", nvrtcVersion: (13, 2), options: ["x"]))
        XCTAssertNotEqual(base, KernelCache.key(source: "b", arch: "sm_90", nvrtcVersion: (13, 2), options: ["x"]))
        XCTAssertNotEqual(base, KernelCache.key(source: "a", arch: "sm_80", nvrtcVersion: (13, 2), options: ["x"]))
        XCTAssertNotEqual(base, KernelCache.key(source: "a", arch: "sm_90", nvrtcVersion: (13, 1), options: ["x"]))
        XCTAssertNotEqual(base, KernelCache.key(source: "a", arch: "sm_90", nvrtcVersion: (13, 2), options: ["x", "y"]))
        // Length-prefixed: moving bytes between fields changes the key.
        XCTAssertNotEqual(KernelCache.key(source: "ab", arch: "c", nvrtcVersion: (13, 2), options: []),
                          KernelCache.key(source: "a", arch: "bc", nvrtcVersion: (13, 2), options: []))
    }

    func testCorruptTruncatedAndForeignFilesAreIgnored() throws {
        let cache = KernelCache(directory: temp + "/c")
        try cache.store(key(), image: image)
        let path = cache.path(for: key())
        let good = try FS.readFile(path)

        // One flipped bit in the image.
        var bad = good
        bad[good.count - 7] ^= 0x10
        try FS.atomicWrite(path, bad, mode: 0o600, durable: false)
        XCTAssertNil(cache.load(key()), "corrupt image")
        // A flipped bit in the stored hash.
        bad = good; bad[50] ^= 1
        try FS.atomicWrite(path, bad, mode: 0o600, durable: false)
        XCTAssertNil(cache.load(key()))
        // Truncated: in the image, in the header, empty.
        for n in [good.count - 1, 79, 40, 0] {
            try FS.atomicWrite(path, Array(good.prefix(n)), mode: 0o600, durable: false)
            XCTAssertNil(cache.load(key()), "truncated to \(n)")
        }
        // A length field that claims more than the file holds, or a huge image.
        bad = good
        bad[8] = 0xff; bad[9] = 0xff; bad[10] = 0xff; bad[14] = 0x7f
        try FS.atomicWrite(path, bad, mode: 0o600, durable: false)
        XCTAssertNil(cache.load(key()))
        // Wrong magic.
        bad = good; bad[0] = UInt8(ascii: "X")
        try FS.atomicWrite(path, bad, mode: 0o600, durable: false)
        XCTAssertNil(cache.load(key()))
        // Another key's valid file renamed to this key's name.
        let other = KernelCache(directory: temp + "/other")
        try other.store(key("sm_80"), image: image)
        try FS.atomicWrite(path, try FS.readFile(other.path(for: key("sm_80"))), mode: 0o600, durable: false)
        XCTAssertNil(cache.load(key()), "a file whose header names another key")
        // A symlink in place of the file.
        try FS.unlink(path)
        XCTAssertEqual(symlink(other.path(for: key("sm_80")), path), 0)
        XCTAssertNil(cache.load(key()), "a symlink")
        try FS.unlink(path)
        // A folder in place of the file.
        try FS.mkdir(path)
        XCTAssertNil(cache.load(key()))
        XCTAssertTrue(FS.rmdir(path))
        // Storing again repairs it.
        try cache.store(key(), image: image)
        XCTAssertEqual(cache.load(key()), image)
    }

    func testUnsafeCacheFoldersAreNotUsed() throws {
        // World-writable: another user could plant images.
        let open = mkdirs("open")
        chmod(open, 0o777)
        let c1 = KernelCache(directory: open)
        XCTAssertThrowsError(try c1.store(key(), image: image))
        chmod(open, 0o700)
        try c1.store(key(), image: image)
        chmod(open, 0o777)
        XCTAssertNil(c1.load(key()), "a world-writable folder is not read")
        // A symlink to a folder.
        XCTAssertEqual(symlink(open, temp + "/link"), 0)
        chmod(open, 0o700)
        XCTAssertNil(KernelCache(directory: temp + "/link").load(key()))
        XCTAssertThrowsError(try KernelCache(directory: temp + "/link").store(key(), image: image))
        // A relative folder.
        XCTAssertNil(KernelCache(directory: "relative").load(key()))
        // Bad images.
        XCTAssertThrowsError(try c1.store(key(), image: []))
    }

    func testFileLayout() {
        // The layout in KernelCache's comment, byte by byte.
        let k = [UInt8](repeating: 0xab, count: 32)
        let img: [UInt8] = [1, 2, 3]
        let file = KernelCache.encode(img, key: k)
        XCTAssertEqual(Array(file[0..<8]), Array("MLRKC01\n".utf8))
        XCTAssertEqual(Array(file[8..<16]), [3, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(file[16..<48]), k)
        XCTAssertEqual(Hex.encode(file[48..<80]), "039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81")
        XCTAssertEqual(Array(file[80...]), img)
        XCTAssertEqual(KernelCache.decode(file, key: k), img)
    }
}

// MARK: CUDADevice over a fake driver

/// A stand-in libcuda.so.1, compiled from C at test time: device memory is host memory, the
/// self-test's kernel runs on the host, other kernels' launches are only counted, and stream
/// capture records launches for replay. It lets `CUDADevice` run end to end without a GPU:
/// opening (queries, NVRTC compile, the kernel cache), copies, argument marshalling, launches,
/// graphs, deferred frees and error names. Built without an SONAME, so loading it by path
/// never makes `libcuda.so.1` resolvable for other tests in this process.
extension CUDALibrariesTests {
    static let fakeDriverSource = #"""
    #include <stdlib.h>
    #include <string.h>
    typedef int CUresult;
    typedef unsigned long long CUdeviceptr;
    /* kind: 1 a backend kernel (counted only), 2 the self-test kernel, 3 a device-to-device
       copy, 4 a memset, 5 a host-to-device copy (reads the host buffer when it runs, as a
       captured memcpy node does at every replay). */
    typedef struct { int kind; void *vals[6]; unsigned long long store[6]; unsigned gx, bx; } Rec;
    typedef struct { Rec *recs; int n, cap; int invalid; } Graph;
    int fake_allocs, fake_frees, fake_launches, fake_module_loads, fake_module_unloads, fake_capturing;
    int fake_syncs, fake_stream_destroys, fake_ctx_releases, fake_graph_destroys;
    /* Set by the tests through dlsym: what cuInit and cuDriverGetVersion answer, what cuMemFree returns. */
    int fake_init_result = 0, fake_driver_version = 13000, fake_free_result = 0;
    unsigned fake_ctx_flags = 0xffff;
    static Graph *capture;
    CUresult cuInit(unsigned f) { return fake_init_result; }
    CUresult cuDriverGetVersion(int *v) { *v = fake_driver_version; return 0; }
    CUresult cuDeviceGetCount(int *c) { *c = 1; return 0; }
    CUresult cuDeviceGet(int *d, int o) { if (o != 0) return 101; *d = 0; return 0; }
    CUresult cuDeviceGetName(char *n, int len, int d) { strncpy(n, "Fake GPU 80GB", len); return 0; }
    CUresult cuDeviceGetAttribute(int *v, int a, int d) {
        switch (a) { case 75: *v = 9; return 0; case 76: *v = 0; return 0; case 16: *v = 132; return 0; }
        return 1;
    }
    CUresult cuDeviceTotalMem_v2(size_t *b, int d) { *b = (size_t)80 << 30; return 0; }
    CUresult cuDevicePrimaryCtxSetFlags_v2(int d, unsigned flags) { fake_ctx_flags = flags; return 0; }
    CUresult cuDevicePrimaryCtxRetain(void **c, int d) { *c = (void *)0x1000; return 0; }
    CUresult cuDevicePrimaryCtxRelease_v2(int d) { fake_ctx_releases++; return 0; }
    CUresult cuCtxSetCurrent(void *c) { return 0; }
    CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
        if (n > ((size_t)1 << 32)) return 2;
        void *m = malloc(n); if (!m) return 2;
        *p = (CUdeviceptr)m; fake_allocs++; return 0;
    }
    /* Freeing during a capture is not allowed (it would synchronize). */
    CUresult cuMemFree_v2(CUdeviceptr p) {
        if (capture) { capture->invalid = 1; return 900; }
        if (fake_free_result) return fake_free_result;
        free((void *)p); fake_frees++; return 0;
    }
    static void run(Rec *r) {
        unsigned long long *v = r->store;
        if (r->kind == 3) { memmove((void *)v[0], (void *)v[1], v[2]); return; }
        if (r->kind == 4) { memset((void *)v[0], (int)v[1], v[2]); return; }
        if (r->kind == 5) { memcpy((void *)v[0], (const void *)v[1], v[2]); return; }
        if (r->kind != 2) return;
        float *y = *(float **)r->vals[0]; const float *x = *(const float **)r->vals[1];
        int a = *(int *)r->vals[2]; long long n = *(long long *)r->vals[3];
        float s = *(float *)r->vals[4]; double d = *(double *)r->vals[5];
        for (long long i = 0; i < n; i++) y[i] = y[i] + x[i] * s + (float)a + (float)d;
    }
    /* Runs `r` now, or records it in the capture. */
    static CUresult submit(Rec r) {
        for (int i = 0; i < 6; i++) r.vals[i] = 0;
        if (capture) {
            if (capture->n == capture->cap) { capture->cap = capture->cap * 2 + 4; capture->recs = realloc(capture->recs, capture->cap * sizeof(Rec)); }
            Rec *c = &capture->recs[capture->n++]; *c = r;
            for (int i = 0; i < 6; i++) c->vals[i] = &c->store[i];   /* values copied at launch, as CUDA does */
            return 0;
        }
        for (int i = 0; i < 6; i++) r.vals[i] = &r.store[i];
        run(&r); return 0;
    }
    static Rec op(int kind, unsigned long long a, unsigned long long b, unsigned long long n) {
        Rec r; memset(&r, 0, sizeof r); r.kind = kind; r.store[0] = a; r.store[1] = b; r.store[2] = n; return r;
    }
    CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, void *st) { return submit(op(5, d, (unsigned long long)s, n)); }
    /* A copy to the host cannot complete inside a capture. */
    CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, void *st) {
        if (capture) { capture->invalid = 1; return 900; }
        memcpy(d, (void *)s, n); return 0;
    }
    CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void *st) { return submit(op(3, d, s, n)); }
    CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char c, size_t n, void *st) { return submit(op(4, d, c, n)); }
    CUresult cuModuleLoadData(void **m, const void *image) {
        const unsigned char *b = image;
        if (!(b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F')) return 200;   /* CUDA_ERROR_INVALID_IMAGE */
        fake_module_loads++; *m = (void *)(long)(0x2000 + fake_module_loads); return 0;
    }
    CUresult cuModuleUnload(void *m) { fake_module_unloads++; return 0; }
    CUresult cuModuleGetFunction(void **f, void *m, const char *name) {
        *f = (void *)(long)(strcmp(name, "mlr_selftest_axpb") == 0 ? 2 : 1); return 0;
    }
    CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                            unsigned shm, void *st, void **params, void **extra) {
        if ((unsigned long long)bx * by * bz > 1024) return 1;
        fake_launches++;
        Rec r; memset(&r, 0, sizeof r); r.kind = (int)(long)f; r.gx = gx; r.bx = bx;
        if (r.kind == 2) for (int i = 0; i < 6; i++) memcpy(&r.store[i], params[i], 8);
        return submit(r);
    }
    CUresult cuStreamCreate(void **s, unsigned f) { *s = (void *)0x3000; return 0; }
    CUresult cuStreamDestroy_v2(void *s) { fake_stream_destroys++; return 0; }
    /* CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED (900) on a capturing stream, which also
       invalidates the capture (its end then fails with 901). */
    CUresult cuStreamSynchronize(void *s) {
        if (capture) { capture->invalid = 1; return 900; }
        fake_syncs++; return 0;
    }
    CUresult cuGetErrorName(CUresult e, const char **s) {
        switch (e) {
        case 2: *s = "CUDA_ERROR_OUT_OF_MEMORY"; return 0;
        case 34: *s = "CUDA_ERROR_STUB_LIBRARY"; return 0;
        case 200: *s = "CUDA_ERROR_INVALID_IMAGE"; return 0;
        case 700: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; return 0;
        case 803: *s = "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH"; return 0;
        case 804: *s = "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE"; return 0;
        case 900: *s = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; return 0;
        case 901: *s = "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"; return 0;
        }
        *s = "CUDA_ERROR_UNKNOWN"; return 0;
    }
    CUresult cuGetErrorString(CUresult e, const char **s) {
        switch (e) {
        case 2: *s = "out of memory"; return 0;
        case 34: *s = "CUDA driver is a stub library"; return 0;
        case 200: *s = "device kernel image is invalid"; return 0;
        case 700: *s = "an illegal memory access was encountered"; return 0;
        }
        *s = "unknown error"; return 0;
    }
    CUresult cuStreamBeginCapture_v2(void *s, int mode) {
        if (capture || mode != 2) return 1;
        capture = calloc(1, sizeof(Graph)); fake_capturing = 1; return 0;
    }
    CUresult cuStreamEndCapture(void *s, void **g) {
        Graph *c = capture; capture = 0; fake_capturing = 0;
        if (!c) return 1;
        if (c->invalid) { free(c->recs); free(c); *g = 0; return 901; }
        *g = c; return 0;
    }
    CUresult cuGraphInstantiateWithFlags(void **e, void *g, unsigned long long f) { *e = g; return 0; }
    CUresult cuGraphLaunch(void *e, void *s) { Graph *g = e; for (int i = 0; i < g->n; i++) run(&g->recs[i]); return 0; }
    CUresult cuGraphExecDestroy(void *e) { return 0; }
    CUresult cuGraphDestroy(void *g) { Graph *gr = g; free(gr->recs); free(gr); fake_graph_destroys++; return 0; }
    """#

    /// Compiles the fake driver into `dir`/libcuda.so.1; nil (the caller skips) without a C compiler.
    func buildFakeDriver(in dir: String) throws -> String? {
        guard let cc = ["/opt/swift/usr/bin/clang", "/usr/bin/cc", "/usr/bin/clang", "/usr/bin/gcc"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        let src = dir + "/fake_cuda.c"
        try FS.atomicWrite(src, Array(Self.fakeDriverSource.utf8), durable: false)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cc)
        p.arguments = ["-shared", "-fPIC", "-O1", "-o", dir + "/libcuda.so.1", src]
        let pipe = Pipe()
        p.standardError = pipe
        try p.run()
        let err = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, err)
        return p.terminationStatus == 0 ? dir + "/libcuda.so.1" : nil
    }

    func fakeCounter(_ h: CUDALibraries.Handle, _ name: String) throws -> Int32 {
        try h.symbol(name).assumingMemoryBound(to: Int32.self).pointee
    }

    func testCUDADeviceOverAFakeDriver() throws {
        let pip = try NVRTCCompileTests.nvrtcDirectories()
        let dir = mkdirs("fakedriver")
        guard let lib = try buildFakeDriver(in: dir) else { throw XCTSkip("no C compiler for the fake driver") }
        let cacheDir = temp + "/cache"
        let settings = GPUSettings(libraryDirectories: [dir] + pip, cacheDirectory: cacheDir)
        let handle = try CUDALibraries.open(.driver, settings: settings)
        XCTAssertEqual(handle.path, lib)

        // Open: device queries, NVRTC compile for sm_90, the image cached.
        let dev = try CUDADevice.open(settings)
        XCTAssertEqual(dev.info, GPUDeviceInfo(name: "Fake GPU 80GB", computeCapability: (9, 0), driverVersion: 13000,
                                               nvrtcVersion: try NVRTC.load(settings).version, multiprocessors: 132,
                                               totalMemory: 80 << 30))
        XCTAssertEqual(dev.info.driverVersionString, "13.0")
        XCTAssertEqual(dev.kernelTarget, "sm_90")
        XCTAssertEqual(dev.kernelOrigin, "compiled")
        XCTAssertEqual(dev.driverPath, lib)
        let cached = try FS.list(cacheDir).map(\.name).filter { $0.hasSuffix(".cubin") }
        XCTAssertEqual(cached.count, 1)
        // A second open loads the cached image; a corrupt one is recompiled.
        XCTAssertEqual(try CUDADevice.open(settings).kernelOrigin, "cache")
        let file = cacheDir + "/" + cached[0]
        var bytes = try FS.readFile(file)
        bytes[bytes.count / 2] ^= 0xff
        try FS.atomicWrite(file, bytes, mode: 0o600, durable: false)
        XCTAssertEqual(try CUDADevice.open(settings).kernelOrigin, "compiled")
        XCTAssertEqual(try CUDADevice.open(settings).kernelOrigin, "cache", "the recompiled image was written back")

        // Copies, a launch with every argument kind, a graph, the argument checks.
        let results = dev.selfTest()
        XCTAssertEqual(results.map(\.check), ["device: copies", "device: launch with every argument kind",
                                              "device: graph capture and replay", "device: argument checks"])
        for r in results { XCTAssertTrue(r.passed, "\(r.check): \(r.detail)") }

        // Errors carry the driver's name for them.
        XCTAssertThrowsError(try dev.allocate(1 << 40)) { e in
            XCTAssertEqual((e as? ComputeError)?.message,
                           "gpu: cuMemAlloc(\(1 << 40) bytes) failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)")
        }
        XCTAssertThrowsError(try dev.allocate(0))
        // Every kernel of the source resolves; a launch with the wrong arguments is refused
        // before anything is queued.
        let launches = try fakeCounter(handle, "fake_launches")
        for spec in CUDAKernels.specs {
            XCTAssertThrowsError(try dev.launch(spec.name, grid: Dim3(1), block: Dim3(32), [.int32(1)] + spec.parameters.map { _ in .int32(0) }))
        }
        XCTAssertEqual(try fakeCounter(handle, "fake_launches"), launches)

        // A free during a capture belongs to the graph: freed when the graph is.
        let p = try dev.allocate(64)
        let frees = try fakeCounter(handle, "fake_frees")
        XCTAssertTrue(try dev.beginCapture())
        XCTAssertThrowsError(try dev.beginCapture(), "one capture at a time")
        dev.free(p)
        XCTAssertEqual(try fakeCounter(handle, "fake_frees"), frees)
        var graph: (any DeviceGraph)? = try dev.endCapture()
        XCTAssertEqual(try fakeCounter(handle, "fake_frees"), frees, "the graph may use it")
        XCTAssertNotNil(graph)
        graph = nil
        XCTAssertEqual(try fakeCounter(handle, "fake_frees"), frees + 1)
        XCTAssertThrowsError(try dev.endCapture(), "no capture running")
    }

    // MARK: The fake driver, finding by finding

    /// The fake driver built in its own folder (so each test has its own copy and counters),
    /// its handle, and settings that find it first, NVRTC where pip put it, and a kernel cache
    /// shared by the tests of this process (one NVRTC compile, not one per test).
    func fake(_ name: String = "fakedriver") throws -> (handle: CUDALibraries.Handle, settings: GPUSettings) {
        let nvrtcDirs = try NVRTCCompileTests.nvrtcDirectories()
        let dir = mkdirs(name)
        guard let lib = try buildFakeDriver(in: dir) else { throw XCTSkip("no C compiler for the fake driver") }
        let settings = GPUSettings(libraryDirectories: [dir] + nvrtcDirs, cacheDirectory: Self.sharedCache)
        let h = try CUDALibraries.open(.driver, settings: settings)
        XCTAssertEqual(h.path, lib)
        return (h, settings)
    }

    nonisolated(unsafe) static var sharedCacheFolder: String? = nil
    static var sharedCache: String {
        if let c = sharedCacheFolder { return c }
        let c = try! FS.makeTempDirectory(prefix: "mlrepo-fakecache-")
        sharedCacheFolder = c
        return c
    }

    func setFake(_ h: CUDALibraries.Handle, _ name: String, _ value: Int32) throws {
        try h.symbol(name).assumingMemoryBound(to: Int32.self).pointee = value
    }

    func upload(_ dev: CUDADevice, _ p: DevicePointer, _ v: [Float]) throws {
        try v.withUnsafeBytes { try dev.copy(toDevice: p, from: $0) }
    }

    func download(_ dev: CUDADevice, _ p: DevicePointer, _ n: Int) throws -> [Float] {
        var out = [Float](repeating: -1, count: n)
        try out.withUnsafeMutableBytes { try dev.copy(toHost: $0, from: p) }
        return out
    }

    /// Finding 1: while one thread captures, another thread's call waits for the end of the
    /// capture instead of landing in the graph.
    func testACaptureBelongsToOneThread() throws {
        let (h, settings) = try fake()
        let dev = try CUDADevice.open(settings)
        let n = 16
        let zeros = [Float](repeating: 0, count: n), pattern = (0..<n).map { Float($0 + 1) }
        let p = try dev.allocate(4 * n), q = try dev.allocate(4 * n)
        try upload(dev, p, pattern)
        try upload(dev, q, zeros)
        XCTAssertTrue(try dev.beginCapture())
        XCTAssertEqual(try fakeCounter(h, "fake_capturing"), 1)
        try dev.copy(q, from: p, bytes: 4 * n)   // recorded, not run
        let finished = DispatchSemaphore(value: 0)
        let other = Thread { try? dev.zero(p, bytes: 4 * n); finished.signal() }
        other.start()
        XCTAssertEqual(finished.wait(timeout: .now() + 0.5), .timedOut, "the other thread waits while this one captures")
        let graph = try dev.endCapture()
        XCTAssertEqual(finished.wait(timeout: .now() + 30), .success, "the other thread goes on after the capture")
        XCTAssertEqual(try download(dev, p, n), zeros, "its zeroing ran after the capture")
        XCTAssertEqual(try download(dev, q, n), zeros, "the captured copy did not run")
        try upload(dev, p, pattern)
        try dev.launch(graph: graph)
        XCTAssertEqual(try download(dev, q, n), pattern, "the graph holds the copy")
        XCTAssertEqual(try download(dev, p, n), pattern, "and not the other thread's zeroing")
        dev.free(p); dev.free(q)
    }

    /// Findings 2 and 17: memory freed during a capture stays allocated while the graph lives
    /// (its nodes use it), so a later allocation cannot get it and a replay still reads it.
    func testMemoryFreedDuringACaptureIsFreedWithTheGraph() throws {
        let (h, settings) = try fake()
        let dev = try CUDADevice.open(settings)
        let n = 64
        let data = (0..<n).map { Float($0) * 0.5 }
        let a = try dev.allocate(4 * n), b = try dev.allocate(4 * n)
        try upload(dev, a, data)
        try upload(dev, b, [Float](repeating: 0, count: n))
        let frees = try fakeCounter(h, "fake_frees"), destroys = try fakeCounter(h, "fake_graph_destroys")
        XCTAssertTrue(try dev.beginCapture())
        try dev.copy(b, from: a, bytes: 4 * n)
        dev.free(a)
        var graph: (any DeviceGraph)? = try dev.endCapture()
        XCTAssertEqual(try fakeCounter(h, "fake_frees"), frees, "not freed at the capture's end")
        // What a freed `a` would have been handed out again as.
        let c = try dev.allocate(4 * n)
        XCTAssertNotEqual(c, a, "a's memory still belongs to the graph")
        try upload(dev, c, [Float](repeating: 9, count: n))
        try dev.launch(graph: graph!)
        XCTAssertEqual(try download(dev, b, n), data, "the replay read a's data")
        graph = nil
        XCTAssertEqual(try fakeCounter(h, "fake_graph_destroys"), destroys + 1)
        XCTAssertEqual(try fakeCounter(h, "fake_frees"), frees + 1, "freed with the graph")
        dev.free(b); dev.free(c)
        XCTAssertEqual(try fakeCounter(h, "fake_frees"), frees + 3)
    }

    /// Findings 4 and 17: on the capturing thread, host copies and waits throw before they
    /// reach the driver (which would invalidate the capture); device-side work is recorded.
    func testHostCopiesAndWaitsAreRefusedWhileCapturing() throws {
        let (h, settings) = try fake()
        let dev = try CUDADevice.open(settings)
        let n = 8
        let p = try dev.allocate(4 * n)
        try upload(dev, p, [Float](repeating: 3, count: n))
        XCTAssertTrue(try dev.beginCapture())
        let host = [Float](repeating: 1, count: n)
        XCTAssertThrowsError(try upload(dev, p, host)) { e in
            XCTAssertEqual((e as? ComputeError)?.message, "gpu: a copy from host memory cannot be part of a graph capture (end or abort the capture first)")
        }
        XCTAssertThrowsError(try download(dev, p, n)) { e in
            XCTAssertEqual((e as? ComputeError)?.message, "gpu: a copy to host memory cannot be part of a graph capture (end or abort the capture first)")
        }
        XCTAssertThrowsError(try dev.synchronize())
        try dev.zero(p, bytes: 4 * n)
        let graph = try dev.endCapture()   // not invalidated: nothing illegal reached the driver
        XCTAssertEqual(try download(dev, p, n), [Float](repeating: 3, count: n), "the zeroing was recorded, not run")
        try dev.launch(graph: graph)
        XCTAssertEqual(try download(dev, p, n), [Float](repeating: 0, count: n))
        // The fake itself refuses a wait on a capturing stream, as CUDA does.
        XCTAssertEqual(try fakeCounter(h, "fake_capturing"), 0)
        dev.free(p)
    }

    /// Finding 1: an error path ends the capture with abortCapture: the partial graph is
    /// destroyed, memory freed during it is freed, and the device works as before.
    func testAbortCapture() throws {
        let (h, settings) = try fake()
        let dev = try CUDADevice.open(settings)
        let p = try dev.allocate(64), scratch = try dev.allocate(64)
        let frees = try fakeCounter(h, "fake_frees"), destroys = try fakeCounter(h, "fake_graph_destroys")
        XCTAssertTrue(try dev.beginCapture())
        try dev.zero(p, bytes: 64)
        dev.free(scratch)
        XCTAssertThrowsError(try dev.synchronize())
        dev.abortCapture()
        XCTAssertEqual(try fakeCounter(h, "fake_capturing"), 0)
        XCTAssertEqual(try fakeCounter(h, "fake_graph_destroys"), destroys + 1)
        XCTAssertEqual(try fakeCounter(h, "fake_frees"), frees + 1)
        dev.abortCapture()   // none running: nothing happens
        try dev.synchronize()
        XCTAssertThrowsError(try dev.endCapture(), "no capture running")
        XCTAssertTrue(try dev.beginCapture(), "a new capture can start")
        _ = try dev.endCapture()
        dev.free(p)
    }

    /// Finding 3: free waits for the queued work, and a failed free is reported by the next wait.
    func testFreeWaitsForTheQueueAndReportsItsError() throws {
        let (h, settings) = try fake()
        let dev = try CUDADevice.open(settings)
        let p = try dev.allocate(64), q = try dev.allocate(64)
        let syncs = try fakeCounter(h, "fake_syncs")
        dev.free(p)
        XCTAssertEqual(try fakeCounter(h, "fake_syncs"), syncs + 1, "the stream is synchronized before cuMemFree")
        try setFake(h, "fake_free_result", 1)
        dev.free(q)
        try setFake(h, "fake_free_result", 0)
        XCTAssertThrowsError(try dev.synchronize()) { e in
            XCTAssertEqual((e as? ComputeError)?.message, "gpu: cuMemFree failed: CUDA_ERROR_UNKNOWN (unknown error)")
        }
        try dev.synchronize()   // reported once
    }

    /// Finding 5: every launch dimension is bounded before a product is formed (no trap).
    func testLaunchShapeLimits() throws {
        XCTAssertNil(CUDADevice.launchShapeProblem(grid: Dim3(Int(Int32.max), 65535, 65535), block: Dim3(1024)))
        XCTAssertNil(CUDADevice.launchShapeProblem(grid: Dim3(1), block: Dim3(16, 16, 4)))
        XCTAssertNil(CUDADevice.launchShapeProblem(grid: Dim3(1), block: Dim3(1, 1, 64)))
        for (g, b) in [(Dim3(1), Dim3(1 << 40, 1 << 40, 1 << 40)), (Dim3(Int.max, Int.max, Int.max), Dim3(32)),
                       (Dim3(1 << 31), Dim3(32)), (Dim3(1, 65536), Dim3(32)), (Dim3(1, 1, 65536), Dim3(32)),
                       (Dim3(1), Dim3(1025)), (Dim3(1), Dim3(1, 1025)), (Dim3(1), Dim3(1, 1, 65)), (Dim3(0), Dim3(1)),
                       (Dim3(1), Dim3(-1, -1)), (Dim3(1), Dim3(Int.min, Int.min, 1))] {
            XCTAssertEqual(CUDADevice.launchShapeProblem(grid: g, block: b), "bad launch shape grid \(g) block \(b)")
        }
        XCTAssertEqual(CUDADevice.launchShapeProblem(grid: Dim3(1), block: Dim3(64, 32)), "2048 threads a block (at most 1024)")
        XCTAssertEqual(CUDADevice.launchShapeProblem(grid: Dim3(1), block: Dim3(1024, 1024, 64)), "67108864 threads a block (at most 1024)")
        // Through a device: refused, nothing queued.
        let (h, settings) = try fake()
        let dev = try CUDADevice.open(settings)
        let spec = CUDAKernels.specs[0]
        let args: [KernelArgument] = spec.parameters.map { $0.hasSuffix("*") ? .pointer(.null) : $0 == "int" ? .int32(0) : $0 == "long long" ? .int64(0) : $0 == "float" ? .float(0) : .double(0) }
        let launches = try fakeCounter(h, "fake_launches")
        XCTAssertThrowsError(try dev.launch(spec.name, grid: Dim3(1), block: Dim3(1 << 40, 1 << 40, 1 << 40), args))
        XCTAssertEqual(try fakeCounter(h, "fake_launches"), launches)
        try dev.launch(spec.name, grid: Dim3(1), block: Dim3(32), args)
        XCTAssertEqual(try fakeCounter(h, "fake_launches"), launches + 1)
    }

    /// Findings 7 and 12: a driver older than NVRTC is refused with what to do, cuInit's
    /// compatibility errors get a hint, and the context sleeps while it waits.
    func testDriverVersionAndInitHints() throws {
        let (h, settings) = try fake()
        let nvrtc = try NVRTC.load(settings)
        try setFake(h, "fake_driver_version", 12040)
        XCTAssertThrowsError(try CUDADevice.open(settings)) { e in
            XCTAssertEqual((e as? ComputeError)?.message,
                           "the NVIDIA driver supports CUDA 12.4, NVRTC is \(nvrtc.versionString): update the driver (or use an NVRTC no newer than the driver)")
        }
        XCTAssertEqual(CUDADevice.driverTooOld(driverVersion: 12040, nvrtc: "13.2"),
                       "the NVIDIA driver supports CUDA 12.4, NVRTC is 13.2: update the driver (or use an NVRTC no newer than the driver)")
        try setFake(h, "fake_driver_version", Int32(nvrtc.version.major * 1000))
        let dev = try CUDADevice.open(settings)
        XCTAssertEqual(dev.kernelTarget, "sm_90", "a CUBIN needs only the same major version")
        XCTAssertEqual(try fakeCounter(h, "fake_ctx_flags"), 4, "CU_CTX_SCHED_BLOCKING_SYNC set before the context is retained")
        for (rc, hint) in [(803, "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH (unknown error): \(h.path) does not match the loaded NVIDIA kernel driver"),
                           (804, "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE (unknown error): this GPU does not support the forward-compatibility driver \(h.path)")] {
            try setFake(h, "fake_init_result", Int32(rc))
            XCTAssertThrowsError(try CUDADevice.open(settings)) { e in
                let m = (e as? ComputeError)?.message ?? ""
                XCTAssertTrue(m.hasPrefix("gpu: cuInit failed: " + hint), m)
                XCTAssertFalse(m.contains("\n"))
            }
        }
        try setFake(h, "fake_init_result", 0)
        // A sticky error says the process must restart.
        XCTAssertEqual(try CUDADriver(h).error(700, "cuStreamSynchronize").message,
                       "gpu: cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS (an illegal memory access was encountered); the GPU context is lost: restart the process")
        XCTAssertEqual(try CUDADriver(h).error(2, "cuMemAlloc").message, "gpu: cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)")
    }

    /// Finding 8: the driver is not taken from a stubs folder or site-packages; a stub that
    /// answers CUDA_ERROR_STUB_LIBRARY is passed over for the next copy found, and named when
    /// there is none.
    func testStubDriversArePassedOver() throws {
        let s = GPUSettings(libraryDirectories: ["/usr/local/cuda/lib64/stubs", "/x/site-packages/nvidia/cu13/lib", "/opt/drv"])
        let driverDirs = CUDALibraries.searchDirectories(s, for: .driver)
        XCTAssertEqual(driverDirs.first, "/opt/drv")
        XCTAssertFalse(driverDirs.contains { $0.contains("stubs") || $0.contains("site-packages") }, "\(driverDirs)")
        XCTAssertEqual(Array(CUDALibraries.searchDirectories(s, for: .nvrtc).prefix(3)), s.libraryDirectories)

        let (stub, stubSettings) = try fake("stub")
        try setFake(stub, "fake_init_result", 34)
        XCTAssertThrowsError(try CUDADevice.open(stubSettings)) { e in
            XCTAssertEqual((e as? ComputeError)?.message,
                           "gpu: cuInit failed: CUDA_ERROR_STUB_LIBRARY (CUDA driver is a stub library): the stub library loaded from \(stub.path) is not the driver (remove its folder from LD_LIBRARY_PATH or MLREPO_CUDA_LIBS)")
        }
        let (real, realSettings) = try fake("real")
        var both = stubSettings
        both.libraryDirectories.insert(Path.dirname(real.path), at: 1)
        let dev = try CUDADevice.open(both)
        XCTAssertEqual(dev.driverPath, real.path, "the next copy after the stub")
        _ = realSettings
    }

    /// Findings 10 and 11: the loaded file is the handle's own (dlinfo), and a long list of
    /// unloadable copies is cut.
    func testLoadedPathAndCappedReasons() throws {
        let (h, _) = try fake()
        XCTAssertEqual(CUDALibraries.loadedPath(h.handle), h.path)
        if let z = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL) {
            let p = CUDALibraries.loadedPath(z) ?? ""
            XCTAssertTrue(p.hasPrefix("/") && p.contains("libz.so"), p)
        }
        var dirs: [String] = []
        for i in 0..<5 {
            let d = mkdirs("bad\(i)")
            try FS.atomicWrite(d + "/libnvrtc.so.13", Array("not a library".utf8), durable: false)
            dirs.append(d)
        }
        guard case .failure(let f) = CUDALibraries.load(.nvrtc, directories: dirs, loaderSearch: false) else { return XCTFail() }
        XCTAssertFalse(f.notFound)
        XCTAssertTrue(f.message.contains(dirs[2] + "/libnvrtc.so.13: "), f.message)
        XCTAssertFalse(f.message.contains(dirs[3]), f.message)
        XCTAssertTrue(f.message.hasSuffix(" and 2 more"), f.message)
        XCTAssertEqual(CUDALibraries.listedReasons(["a", "b"]), "a; b")
    }

    /// Finding 14: the self-test's module is loaded once, and a device that goes away unloads
    /// its modules, destroys its stream and releases the primary context.
    func testSelfTestLoadsOnceAndTheDeviceTearsDown() throws {
        let (h, settings) = try fake()
        var dev: CUDADevice? = try CUDADevice.open(settings)
        let loads = try fakeCounter(h, "fake_module_loads")
        let unloads = try fakeCounter(h, "fake_module_unloads"), streams = try fakeCounter(h, "fake_stream_destroys")
        let releases = try fakeCounter(h, "fake_ctx_releases")
        for _ in 0..<2 {
            for r in dev!.selfTest() { XCTAssertTrue(r.passed, "\(r.check): \(r.detail)") }
        }
        XCTAssertEqual(try fakeCounter(h, "fake_module_loads"), loads + 1, "one self-test module for two runs")
        dev = nil
        XCTAssertEqual(try fakeCounter(h, "fake_module_unloads"), unloads + 2, "the kernels' and the self-test's modules")
        XCTAssertEqual(try fakeCounter(h, "fake_stream_destroys"), streams + 1)
        XCTAssertEqual(try fakeCounter(h, "fake_ctx_releases"), releases + 1)
    }

    /// Finding 13: settings that differ only in the cache folder get the device already open.
    func testTheRegistryOpensADeviceOnce() throws {
        let (_, settings) = try fake()
        defer { BackendRegistry.forgetOpenedDevices() }
        BackendRegistry.forgetOpenedDevices()
        var other = settings
        other.cacheDirectory = nil
        let a = try BackendRegistry.loadGPU(settings).get(), b = try BackendRegistry.loadGPU(other).get()
        XCTAssertTrue((a.device as AnyObject) === (b.device as AnyObject), "one device per ordinal")
    }

    /// The kernel driver's release for the lineage record, from /proc/driver/nvidia/version.
    func testNVIDIADriverReleaseFromProc() throws {
        let p = temp + "/version"
        try "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 07:09:25 UTC 2025\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
            .write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertEqual(CUDADevice.nvidiaDriverRelease(path: p), "580.65.06")
        try "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.124\n".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertEqual(CUDADevice.nvidiaDriverRelease(path: p), "570.124")
        try "GCC version 12.2.0\nKernel Module ...\n".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertEqual(CUDADevice.nvidiaDriverRelease(path: p), "")
        XCTAssertEqual(CUDADevice.nvidiaDriverRelease(path: temp + "/missing"), "")
        try String(repeating: "x", count: 100_000).write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertEqual(CUDADevice.nvidiaDriverRelease(path: p), "")
    }

    /// After a sticky error (an illegal address: the context is lost) the registry no longer
    /// hands the device out, so serve's workers fall back and other commands say why.
    func testALostContextIsNotHandedOutAgain() throws {
        let (h, settings) = try fake()
        defer { BackendRegistry.forgetOpenedDevices() }
        BackendRegistry.forgetOpenedDevices()
        let gpu = try BackendRegistry.loadGPU(settings).get()
        let dev = try XCTUnwrap(gpu.device as? CUDADevice)
        XCTAssertFalse(dev.contextLost)
        let p = try dev.allocate(64)
        try setFake(h, "fake_free_result", 700)   // CUDA_ERROR_ILLEGAL_ADDRESS
        dev.free(p)
        try setFake(h, "fake_free_result", 0)
        XCTAssertThrowsError(try dev.synchronize()) { e in
            XCTAssertTrue("\(e)".hasSuffix("the GPU context is lost: restart the process"), "\(e)")
        }
        XCTAssertTrue(dev.contextLost)
        XCTAssertThrowsError(try BackendRegistry.loadGPU(settings).get()) { e in
            XCTAssertEqual((e as? ComputeError)?.message, "the GPU context is lost after a device error: restart the process")
        }
        let (_, note) = try BackendRegistry.make("auto", threads: 1, gpu: settings)
        XCTAssertEqual(note, "auto: the GPU context is lost after a device error: restart the process; using cpu")
    }

    /// Finding 6: the cache file is opened relative to the checked folder without following
    /// links or blocking: a FIFO in its place is ignored at once.
    func testACacheFileThatIsAFIFOIsIgnoredWithoutBlocking() throws {
        let cache = KernelCache(directory: temp + "/fifo")
        try cache.store(key(), image: image)
        let path = cache.path(for: key())
        try FS.unlink(path)
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<[UInt8]??>(nil)
        let k = key()
        let reader = Thread { let r = cache.load(k); result.withLock { $0 = .some(r) }; done.signal() }
        reader.start()
        if done.wait(timeout: .now() + 20) == .timedOut {
            // Unblock the reader before failing.
            let w = open(path, O_WRONLY | O_NONBLOCK)
            if w >= 0 { close(w) }
            return XCTFail("load blocked on a FIFO")
        }
        XCTAssertEqual(result.withLock { $0 }, .some(nil))
        try FS.unlink(path)
        try cache.store(key(), image: image)
        XCTAssertEqual(cache.load(key()), image)
        // No temp file is left behind by the store.
        XCTAssertEqual(try FS.list(temp + "/fifo").map(\.name), [Path.basename(path)])
        // What doctor reports.
        XCTAssertNil(cache.problem())
        XCTAssertNil(KernelCache(directory: temp + "/not/yet").problem(), "created when needed")
        chmod(temp + "/fifo", 0o777)
        XCTAssertEqual(cache.problem(), "gpu: kernel cache folder \(temp!)/fifo is not usable: writable by group or others")
        chmod(temp + "/fifo", 0o700)
        XCTAssertEqual(symlink(temp + "/fifo", temp + "/fifolink"), 0)
        XCTAssertEqual(KernelCache(directory: temp + "/fifolink").problem(), "gpu: kernel cache folder \(temp!)/fifolink is not usable: a symlink or not a folder")
    }
}

