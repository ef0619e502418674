#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one mutex of the code base: a pthread mutex in a class, for state shared between
/// the workers of a `Parallel` loop or between threads of the server. (Code that owns its
/// state outright can use `Synchronization.Mutex` instead.)
public final class Lock: @unchecked Sendable {
    @usableFromInline let m: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        m = .allocate(capacity: 1)
        m.initialize(to: pthread_mutex_t())
        pthread_mutex_init(m, nil)
    }

    deinit {
        pthread_mutex_destroy(m)
        m.deinitialize(count: 1)
        m.deallocate()
    }

    @inlinable public func lock() { pthread_mutex_lock(m) }
    @inlinable public func unlock() { pthread_mutex_unlock(m) }

    @inlinable
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
}
