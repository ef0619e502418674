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
