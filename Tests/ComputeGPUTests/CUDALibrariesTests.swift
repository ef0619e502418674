import Foundation
import XCTest
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
        // With pip's folders, NVRTC is found where the wheel put it.
        let env = ProcessInfo.processInfo.environment
        let pip = CUDALibraries.pythonCUDADirectories(env: env)
        guard let dir = pip.first(where: { FS.exists($0 + "/libnvrtc.so.13") }) else {
            throw XCTSkip("nvidia-cuda-nvrtc not installed: pip install nvidia-cuda-nvrtc")
        }
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
    typedef struct { int kind; void *vals[6]; unsigned long long store[6]; unsigned gx, bx; } Rec;
    typedef struct { Rec *recs; int n, cap; } Graph;
    int fake_allocs, fake_frees, fake_launches, fake_module_loads, fake_capturing;
    static Graph *capture;
    CUresult cuInit(unsigned f) { return 0; }
    CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
    CUresult cuDeviceGetCount(int *c) { *c = 1; return 0; }
    CUresult cuDeviceGet(int *d, int o) { if (o != 0) return 101; *d = 0; return 0; }
    CUresult cuDeviceGetName(char *n, int len, int d) { strncpy(n, "Fake GPU 80GB", len); return 0; }
    CUresult cuDeviceGetAttribute(int *v, int a, int d) {
        switch (a) { case 75: *v = 9; return 0; case 76: *v = 0; return 0; case 16: *v = 132; return 0; }
        return 1;
    }
    CUresult cuDeviceTotalMem_v2(size_t *b, int d) { *b = (size_t)80 << 30; return 0; }
    CUresult cuDevicePrimaryCtxRetain(void **c, int d) { *c = (void *)0x1000; return 0; }
    CUresult cuDevicePrimaryCtxRelease_v2(int d) { return 0; }
    CUresult cuCtxSetCurrent(void *c) { return 0; }
    CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
        if (n > ((size_t)1 << 32)) return 2;
        void *m = malloc(n); if (!m) return 2;
        *p = (CUdeviceptr)m; fake_allocs++; return 0;
    }
    CUresult cuMemFree_v2(CUdeviceptr p) { free((void *)p); fake_frees++; return 0; }
    CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, void *st) { memcpy((void *)d, s, n); return 0; }
    CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, void *st) { memcpy(d, (void *)s, n); return 0; }
    CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void *st) { memmove((void *)d, (void *)s, n); return 0; }
    CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char c, size_t n, void *st) { memset((void *)d, c, n); return 0; }
    CUresult cuModuleLoadData(void **m, const void *image) {
        const unsigned char *b = image;
        if (!(b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F')) return 200;   /* CUDA_ERROR_INVALID_IMAGE */
        fake_module_loads++; *m = (void *)0x2000; return 0;
    }
    CUresult cuModuleGetFunction(void **f, void *m, const char *name) {
        *f = (void *)(long)(strcmp(name, "mlr_selftest_axpb") == 0 ? 2 : 1); return 0;
    }
    static void run(Rec *r) {
        if (r->kind != 2) return;
        float *y = *(float **)r->vals[0]; const float *x = *(const float **)r->vals[1];
        int a = *(int *)r->vals[2]; long long n = *(long long *)r->vals[3];
        float s = *(float *)r->vals[4]; double d = *(double *)r->vals[5];
        for (long long i = 0; i < n; i++) y[i] = y[i] + x[i] * s + (float)a + (float)d;
    }
    CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                            unsigned shm, void *st, void **params, void **extra) {
        if (bx * by * bz > 1024) return 1;
        fake_launches++;
        Rec r; memset(&r, 0, sizeof r); r.kind = (int)(long)f; r.gx = gx; r.bx = bx;
        if (r.kind == 2) for (int i = 0; i < 6; i++) { memcpy(&r.store[i], params[i], 8); r.vals[i] = &r.store[i]; }
        if (capture) {
            if (capture->n == capture->cap) { capture->cap = capture->cap * 2 + 4; capture->recs = realloc(capture->recs, capture->cap * sizeof(Rec)); }
            Rec *c = &capture->recs[capture->n++]; *c = r;
            for (int i = 0; i < 6; i++) c->vals[i] = &c->store[i];   /* values copied at launch, as CUDA does */
            return 0;
        }
        if (r.kind == 2) for (int i = 0; i < 6; i++) r.vals[i] = &r.store[i];
        run(&r); return 0;
    }
    CUresult cuStreamCreate(void **s, unsigned f) { *s = (void *)0x3000; return 0; }
    CUresult cuStreamSynchronize(void *s) { return 0; }
    CUresult cuGetErrorName(CUresult e, const char **s) {
        *s = e == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : e == 200 ? "CUDA_ERROR_INVALID_IMAGE" : "CUDA_ERROR_UNKNOWN"; return 0;
    }
    CUresult cuGetErrorString(CUresult e, const char **s) {
        *s = e == 2 ? "out of memory" : e == 200 ? "device kernel image is invalid" : "unknown error"; return 0;
    }
    CUresult cuStreamBeginCapture_v2(void *s, int mode) {
        if (capture || mode != 2) return 1;
        capture = calloc(1, sizeof(Graph)); fake_capturing = 1; return 0;
    }
    CUresult cuStreamEndCapture(void *s, void **g) { *g = capture; capture = 0; fake_capturing = 0; return *g ? 0 : 1; }
    CUresult cuGraphInstantiateWithFlags(void **e, void *g, unsigned long long f) { *e = g; return 0; }
    CUresult cuGraphLaunch(void *e, void *s) { Graph *g = e; for (int i = 0; i < g->n; i++) run(&g->recs[i]); return 0; }
    CUresult cuGraphExecDestroy(void *e) { return 0; }
    CUresult cuGraphDestroy(void *g) { Graph *gr = g; free(gr->recs); free(gr); return 0; }
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
        let env = ProcessInfo.processInfo.environment
        let pip = CUDALibraries.pythonCUDADirectories(env: env)
        guard (try? NVRTC.load(GPUSettings(libraryDirectories: pip))) != nil else {
            throw XCTSkip("nvidia-cuda-nvrtc not installed: pip install nvidia-cuda-nvrtc")
        }
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

        // A free during a capture waits for the capture's end.
        let p = try dev.allocate(64)
        let frees = try fakeCounter(handle, "fake_frees")
        XCTAssertTrue(try dev.beginCapture())
        XCTAssertThrowsError(try dev.beginCapture(), "one capture at a time")
        // Host copies cannot be captured (a recorded step must only queue device work).
        var host = [UInt8](repeating: 1, count: 64)
        XCTAssertThrowsError(try host.withUnsafeBytes { try dev.copy(toDevice: p, from: $0) })
        XCTAssertThrowsError(try host.withUnsafeMutableBytes { try dev.copy(toHost: $0, from: p) })
        dev.free(p)
        XCTAssertEqual(try fakeCounter(handle, "fake_frees"), frees)
        _ = try dev.endCapture()
        XCTAssertEqual(try fakeCounter(handle, "fake_frees"), frees + 1)
        XCTAssertThrowsError(try dev.endCapture(), "no capture running")
    }
}
