import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import Support

/// The one parallel loop, lock and CPU count (Support/Concurrency).
final class ParallelTests: XCTestCase {
    func testEveryTaskRunsOnceWhateverTheThreads() {
        for threads in [1, 2, 3, 8] {
            for tasks in [0, 1, 2, 7, 1000] {
                let counts = UnsafeMutablePointer<Int>.allocate(capacity: max(tasks, 1))
                counts.initialize(repeating: 0, count: max(tasks, 1))
                defer { counts.deallocate() }
                let workersSeen = Lock()
                nonisolated(unsafe) var maxWorker = -1
                Parallel.forEachWorker(tasks, threads: threads) { t, w in
                    counts[t] += 1
                    workersSeen.withLock { maxWorker = max(maxWorker, w) }
                }
                for t in 0..<tasks { XCTAssertEqual(counts[t], 1, "task \(t) of \(tasks) on \(threads) threads") }
                XCTAssertLessThan(maxWorker, max(1, min(threads, tasks)))
            }
        }
    }

    func testThrowingLoopRunsEveryTaskAndRethrowsTheLowestFailure() {
        struct E: Error, Equatable { let t: Int }
        let lock = Lock()
        nonisolated(unsafe) var ran = 0
        XCTAssertThrowsError(try Parallel.forEachThrowing(100, threads: 4) { t in
            lock.withLock { ran += 1 }
            if t == 70 || t == 30 { throw E(t: t) }
        }) { XCTAssertEqual($0 as? E, E(t: 30)) }
        XCTAssertEqual(ran, 100)
    }

    func testChunkRangesCoverTheCountInOrder() {
        for count in [0, 1, 5, 64, 1001] {
            for chunks in 1...9 {
                var next = 0
                for i in 0..<chunks {
                    let r = Parallel.chunkRange(i, of: chunks, count: count)
                    XCTAssertEqual(r.lowerBound, next)
                    XCTAssertLessThanOrEqual(r.count - Parallel.chunkRange(chunks - 1, of: chunks, count: count).count, 1)
                    next = r.upperBound
                }
                XCTAssertEqual(next, count)
            }
        }
    }

    func testCPUCountIsTheOnlineProcessors() {
        XCTAssertEqual(CPU.count, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }
}
