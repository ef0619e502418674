import XCTest
import TestHelpers
@testable import Store
@testable import Support

final class ChunkerTests: XCTestCase {
    /// A straightforward byte-at-a-time FastCDC, written from the format description, to pin
    /// the on-disk chunking (any optimisation of Chunker.cut must give the same boundaries).
    func referenceChunks(_ data: [UInt8], avg: Int) -> [Int] {
        let minS = avg / 4, maxS = avg * 4
        let bits = avg.trailingZeroBitCount
        func mask(_ n: Int) -> UInt64 { n <= 0 ? 0 : ~UInt64(0) << UInt64(64 - n) }
        let maskS = mask(bits + 2), maskL = mask(bits - 2)
        let gear: [UInt64] = (0..<256).map { i in
            sha(Array("mlrepo gear \(i)".utf8))[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
        var out: [Int] = []
        var off = 0
        while off < data.count {
            let n = min(data.count - off, maxS)
            var len = n
            if n > minS {
                var fp: UInt64 = 0
                var i = minS
                var found = false
                while i < n {
                    fp = (fp << 1) &+ gear[Int(data[off + i])]
                    let m = i < min(avg, n) ? maskS : maskL
                    if fp & m == 0 { len = i + 1; found = true; break }
                    i += 1
                }
                if !found { len = n }
            }
            out.append(len)
            off += len
        }
        return out
    }

    func chunks(_ c: Chunker, _ data: [UInt8]) -> [Int] { data.withUnsafeBytes { c.chunks($0) } }

    func testGearTableAndParameters() {
        XCTAssertEqual(Chunker.gear.count, 256)
        let d = sha(Array("mlrepo gear 0".utf8))
        XCTAssertEqual(Chunker.gear[0], d[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        XCTAssertEqual(Set(Chunker.gear).count, 256)
        let c = Chunker.default
        XCTAssertEqual(c.avgSize, 16 * 1024)
        XCTAssertEqual(c.minSize, 4 * 1024)
        XCTAssertEqual(c.maxSize, 64 * 1024)
        let s = Chunker(avgSize: 256)
        XCTAssertEqual(s.minSize, 64)
        XCTAssertEqual(s.maxSize, 1024)
    }

    func testMatchesReferenceImplementation() {
        var rng = SplitMix(seed: 11)
        let data = rng.bytes(1 << 20)
        for avg in [256, 1024, 16 * 1024] {
            XCTAssertEqual(chunks(Chunker(avgSize: avg), data), referenceChunks(data, avg: avg), "avg \(avg)")
        }
        // Odd lengths and short tails.
        for n in [0, 1, 63, 64, 65, 1023, 1024, 1025, 3001] {
            let d = Array(data[0..<n])
            XCTAssertEqual(chunks(Chunker(avgSize: 256), d), referenceChunks(d, avg: 256), "n \(n)")
        }
    }

    func checkBounds(_ c: Chunker, _ data: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        let lens = chunks(c, data)
        XCTAssertEqual(lens.reduce(0, +), data.count, "chunks cover the input", file: file, line: line)
        for (i, l) in lens.enumerated() {
            if i < lens.count - 1 {
                XCTAssertTrue((c.minSize...c.maxSize).contains(l), "chunk \(i) has length \(l)", file: file, line: line)
            } else {
                XCTAssertTrue((1...c.maxSize).contains(l), "last chunk has length \(l)", file: file, line: line)
            }
        }
    }

    func testDeterministicAndWithinBounds() {
        var rng = SplitMix(seed: 12)
        let data = rng.bytes(4 << 20)
        let c = Chunker.default
        let a = chunks(c, data), b = chunks(c, data)
        XCTAssertEqual(a, b)
        XCTAssertGreaterThan(a.count, 100)
        checkBounds(c, data)
        // Average near the target (normalized chunking): between avg/2 and 2*avg.
        let mean = data.count / a.count
        XCTAssertTrue((c.avgSize / 2...c.avgSize * 2).contains(mean), "mean chunk \(mean)")
        checkBounds(Chunker(avgSize: 256), Array(data[0..<(256 << 10)]))
        // Low-entropy input: no boundary is ever found, so chunks are cut at max.
        let zeros = [UInt8](repeating: 0, count: 300_000)
        checkBounds(c, zeros)
        // Input at or below min is one chunk.
        XCTAssertEqual(chunks(c, Array(data[0..<c.minSize])), [c.minSize])
        XCTAssertEqual(chunks(c, [1, 2, 3]), [3])
        XCTAssertEqual(chunks(c, []), [])
        XCTAssertEqual(data.withUnsafeBytes { c.cut(UnsafeRawBufferPointer(rebasing: $0[0..<10])) }, 10)
        XCTAssertLessThanOrEqual(data.withUnsafeBytes { c.cut($0) }, c.maxSize)
    }

    func chunkHashes(_ c: Chunker, _ data: [UInt8]) -> [[UInt8]] {
        var off = 0
        return chunks(c, data).map { l in
            defer { off += l }
            return sha(Array(data[off..<(off + l)]))
        }
    }

    func testBoundariesStableUnderInsertions() {
        var rng = SplitMix(seed: 13)
        let original = rng.bytes(4 << 20)
        let c = Chunker.default
        let before = chunkHashes(c, original)
        let beforeSet = Set(before)
        func shared(_ edited: [UInt8]) -> Double {
            let after = chunkHashes(c, edited)
            return Double(after.filter { beforeSet.contains($0) }.count) / Double(before.count)
        }
        var inserted = original
        inserted.insert(contentsOf: [1, 2, 3, 4, 5, 6, 7], at: 5000)
        XCTAssertGreaterThanOrEqual(shared(inserted), 0.9, "insertion near the start")
        var deleted = original
        deleted.removeSubrange(100_000..<100_013)
        XCTAssertGreaterThanOrEqual(shared(deleted), 0.9, "deletion")
        var edits = original
        for off in [10, 1_000_000, 2_500_000] { edits.insert(contentsOf: rng.bytes(100), at: off) }
        XCTAssertGreaterThanOrEqual(shared(edits), 0.9, "three insertions")
        var prefixed = original
        prefixed.insert(contentsOf: rng.bytes(1), at: 0)
        XCTAssertGreaterThanOrEqual(shared(prefixed), 0.9, "one byte at the very start")
        // Sanity: unrelated data shares nothing.
        XCTAssertEqual(shared(rng.bytes(1 << 20)), 0)
    }
}
