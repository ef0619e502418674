import XCTest
import Support
@testable import ComputeGPU

/// Recomputes Example 13 of .mlrepo-format.md (§13, the compiled-kernel cache).
final class KernelCacheFormatSpecTests: XCTestCase {
    func testExample13() throws {
        let specPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".mlrepo-format.md").path
        let spec = try String(contentsOfFile: specPath, encoding: .utf8)
        let key = KernelCache.key(source: "extern \"C\" __global__ void k() {}\n", arch: "sm_90", nvrtcVersion: (13, 0),
                                  options: ["--std=c++17"])
        let file = KernelCache.encode(Array("cubin".utf8), key: key)
        XCTAssertTrue(spec.contains("the key is\n`\(Hex.encode(key))`"), "the key of Example 13 is \(Hex.encode(key))")
        XCTAssertTrue(spec.contains("in hex,\n`\(Hex.encode(file))`"), "the file of Example 13 is \(Hex.encode(file))")
        XCTAssertEqual(KernelCache.decode(file, key: key), Array("cubin".utf8))
    }
}
