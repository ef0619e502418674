import XCTest
import FuzzHarness

/// Feeds every seed in fuzz/corpus/<target>/ through the fuzz targets' entry points without
/// libFuzzer (see fuzz/README.md), so the seeds and the targets keep compiling and running in CI.
final class FuzzSeedTests: XCTestCase {
    static let fuzzDir: String = {
        // Tests/FuzzSeedTests/FuzzSeedTests.swift -> repository root.
        var p = "\(#filePath)"
        for _ in 0..<3 { p = String(p[..<(p.lastIndex(of: "/") ?? p.startIndex)]) }
        return p + "/fuzz"
    }()

    func files(in dir: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return names.filter { !$0.hasPrefix(".") && !$0.hasSuffix(".md") }.sorted().map { dir + "/" + $0 }
    }

    func testEverySeedRuns() throws {
        var total = 0
        for target in FuzzHarness.targets {
            let seeds = files(in: Self.fuzzDir + "/corpus/" + target)
            XCTAssertFalse(seeds.isEmpty, "no seeds for fuzz target \(target) in fuzz/corpus/\(target)")
            for path in seeds {
                let data = try XCTUnwrap(FileManager.default.contents(atPath: path), path)
                let known = data.withUnsafeBytes { FuzzHarness.run(target, $0) }
                XCTAssertTrue(known, "unknown fuzz target \(target)")
                total += 1
            }
            // Truncations and an empty input, cheap extra coverage of the error paths.
            for path in seeds.prefix(3) {
                let data = try XCTUnwrap(FileManager.default.contents(atPath: path))
                for cut in [0, data.count / 2, max(0, data.count - 1)] {
                    data.prefix(cut).withUnsafeBytes { _ = FuzzHarness.run(target, $0) }
                }
            }
        }
        XCTAssertGreaterThan(total, FuzzHarness.targets.count)
    }

    /// Every input the fuzzers found (fuzz/findings/<target>/: crashes, a hang) now runs to
    /// the end quickly: a trap would kill this test process, a hang would show in the time.
    func testEveryFindingIsFixed() throws {
        var total = 0
        for target in FuzzHarness.targets {
            for path in files(in: Self.fuzzDir + "/findings/" + target) {
                let data = try XCTUnwrap(FileManager.default.contents(atPath: path), path)
                let t0 = Date()
                _ = data.withUnsafeBytes { FuzzHarness.run(target, $0) }
                XCTAssertLessThan(Date().timeIntervalSince(t0), 2, "\(path) took too long")
                total += 1
            }
        }
        XCTAssertGreaterThanOrEqual(total, 8, "the findings are in fuzz/findings/<target>/")
    }

    func testUnknownTargetIsRefused() {
        XCTAssertFalse([UInt8]().withUnsafeBytes { FuzzHarness.run("no-such-target", $0) })
    }
}
