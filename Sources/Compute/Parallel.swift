#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// A pthread mutex (Foundation-free).
final class PLock: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    init() {
        m = .allocate(capacity: 1)
        m.initialize(to: pthread_mutex_t())
        pthread_mutex_init(m, nil)
    }
    deinit { pthread_mutex_destroy(m); m.deallocate() }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(m); defer { pthread_mutex_unlock(m) }
        return try body()
    }
}

/// Runs `body(task, worker)` for every task in 0..<tasks on up to `threads` workers
/// (DispatchQueue.concurrentPerform; the caller is one of them). Workers take the next task
/// from a shared counter, so a worker whose core is busy with another process simply takes
/// fewer tasks; nobody spins. Which worker runs a task never changes what the task computes.
/// With one thread or one task, runs inline.
func parallelTasks(_ tasks: Int, threads: Int, _ body: (_ task: Int, _ worker: Int) -> Void) {
    if tasks <= 0 { return }
    let workers = min(threads, tasks)
    if workers <= 1 {
        for t in 0..<tasks { body(t, 0) }
        return
    }
    let next = Atomic<Int>(0)
    withoutActuallyEscaping(body) { body in
        // The tasks touch disjoint parts of the caller's buffers; the caller waits for all.
        nonisolated(unsafe) let run = body
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            while true {
                let t = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if t >= tasks { break }
                run(t, w)
            }
        }
    }
}

/// Splits 0..<count into `chunks` contiguous ranges of nearly equal size (earlier ranges
/// one longer), for kernels whose per-element result does not depend on the split.
@inline(__always)
func chunkRange(_ i: Int, of chunks: Int, count: Int) -> Range<Int> {
    let base = count / chunks, extra = count % chunks
    let lo = i * base + min(i, extra)
    return lo..<(lo + base + (i < extra ? 1 : 0))
}

/// Parallel loops for the layers above the compute core (data preparation in ML).
public enum Parallel {
    /// Runs `body(task)` for every task in 0..<tasks on up to `threads` workers, handing tasks
    /// out dynamically. Tasks must write disjoint memory; the caller waits for all of them.
    public static func forEach(_ tasks: Int, threads: Int, _ body: (_ task: Int) -> Void) {
        parallelTasks(tasks, threads: threads) { t, _ in body(t) }
    }
}
