import XCTest
import TestHelpers
@testable import Store
import Support
#if canImport(Glibc)
import Glibc
#endif

/// The two ways `add` reads large files (memory map, read(2)) must give the same ids, and
/// the readers that confirm or restore files must agree with the writer.
final class FileIOPathsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fileio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func testMappedAndReadPathsGiveTheSameIdAndBytes() throws {
        // Larger than one 8 MiB window, so window hand-over and page release are exercised.
        var rng = SplitMix(seed: 42)
        let data = rng.bytes(9_000_000)
        let f = dir.appendingPathComponent("big.bin")
        try Data(data).write(to: f)
        let store = try ObjectStore(directory: dir.appendingPathComponent("pack").path, durable: false)
        let w = FileWriter(store: store, chunker: .default)

        let mapped = try w.store(path: f.path)
        try store.commitPending()
        store.mapFiles = false
        let viaRead = try FileWriter(store: store, chunker: .default, dryRun: true).store(path: f.path)
        XCTAssertEqual(mapped.id, viaRead.id)
        XCTAssertEqual(mapped.size, 9_000_000)

        var back: [UInt8] = []
        try FileReader(store: store).read(mapped.id) { back.append(contentsOf: $0) }
        XCTAssertEqual(back, data)

        // fileMatches confirms the same content and notices one changed byte.
        let reader = FileReader(store: store)
        XCTAssertTrue(try reader.fileMatches(path: f.path, id: mapped.id, size: 9_000_000))
        var changed = data
        changed[7_777_777] ^= 0xFF
        try Data(changed).write(to: f)
        XCTAssertFalse(try reader.fileMatches(path: f.path, id: mapped.id, size: 9_000_000))
    }

    func testAutoCompressionVerdicts() {
        let text = Array(String(repeating: "0.123456,1.234567,2.345678,3\n", count: 600).utf8)
        var rng = SplitMix(seed: 7)
        let noise = rng.bytes(16_384)
        var verdict: Bool? = nil
        let z = text.withUnsafeBytes { ObjectStore.autoCompress($0, verdict: &verdict) }
        XCTAssertEqual(verdict, true)
        XCTAssertNotNil(z)
        XCTAssertLessThan(z!.count, text.count / 2)
        verdict = nil
        XCTAssertNil(noise.withUnsafeBytes { ObjectStore.autoCompress($0, verdict: &verdict) })
        XCTAssertEqual(verdict, false)
        // A remembered "incompressible" verdict skips compressing text too (until re-probed).
        XCTAssertNil(text.withUnsafeBytes { ObjectStore.autoCompress($0, verdict: &verdict) })
    }
}
