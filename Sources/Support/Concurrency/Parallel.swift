#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// The one parallel loop of the code base (kernels, data preparation, the store's hashing,
/// packing, checkout and transfers all use it).
///
/// Workers take the next task from a shared counter, so a worker whose core is busy with
/// another process simply takes fewer tasks and nobody waits on a fixed stripe of work
/// (DESIGN: hot paths degrade gracefully when another process holds a core). Which worker
/// runs a task never changes what the task computes. With one thread or one task the loop
/// runs inline on the caller.
public enum Parallel {
    /// Runs `body(task)` for every task in 0..<tasks on up to `threads` workers (the caller
    /// is one of them). Tasks must touch disjoint memory or synchronize; the call returns
    /// when every task has run.
    public static func forEach(_ tasks: Int, threads: Int, _ body: (_ task: Int) -> Void) {
        forEachWorker(tasks, threads: threads) { t, _ in body(t) }
    }

    /// As `forEach`, also passing the worker's index in 0..<min(threads, tasks), for
    /// per-worker scratch buffers.
    public static func forEachWorker(_ tasks: Int, threads: Int, _ body: (_ task: Int, _ worker: Int) -> Void) {
        if tasks <= 0 { return }
        let workers = min(threads, tasks)
        if workers <= 1 {
            for t in 0..<tasks { body(t, 0) }
            return
        }
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            // The tasks touch disjoint parts of the caller's state; the caller waits for all.
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

    /// As `forEach` for throwing tasks: every task still runs (a failure does not cancel the
    /// others, so no task is left half-done), then the error of the lowest-numbered failed
    /// task is rethrown.
    public static func forEachThrowing(_ tasks: Int, threads: Int, _ body: (_ task: Int) throws -> Void) throws {
        let failures = Lock()
        nonisolated(unsafe) var first: (task: Int, error: Error)?
        forEach(tasks, threads: threads) { t in
            do { try body(t) } catch {
                failures.withLock { if first == nil || t < first!.task { first = (t, error) } }
            }
        }
        if let f = first { throw f.error }
    }

    /// Splits 0..<count into `chunks` contiguous ranges of nearly equal size (earlier ranges
    /// one longer), for work whose per-element result does not depend on the split.
    @inlinable
    public static func chunkRange(_ i: Int, of chunks: Int, count: Int) -> Range<Int> {
        let base = count / chunks, extra = count % chunks
        let lo = i * base + min(i, extra)
        return lo..<(lo + base + (i < extra ? 1 : 0))
    }
}

/// The machine's processors.
public enum CPU {
    /// Online processors (at least 1): the default parallelism of every loop.
    public static var count: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}
