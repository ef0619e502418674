import CShims

// The readiness side of a server loop: an epoll set (epoll(7), through CShims' flag-based
// wrappers) and an eventfd to wake it. System calls go through `Sys` (System.swift).

/// An epoll set whose descriptors each carry a 64-bit tag.
public struct Poller {
    public let fd: Int32

    public static let readable = UInt32(MLREPO_EV_IN), writable = UInt32(MLREPO_EV_OUT), error = UInt32(MLREPO_EV_ERR)
    public static let hangUp = UInt32(MLREPO_EV_HUP), peerClosed = UInt32(MLREPO_EV_RDHUP)
    /// Wake one of the sets that watch the same descriptor (a shared listening socket).
    public static let exclusive = UInt32(MLREPO_EV_EXCLUSIVE)

    public init() throws(Errno) { fd = try Sys.epollCreate() }

    public func close() { Sys.close(fd) }

    @discardableResult public func add(_ watched: Int32, events: UInt32, tag: UInt64) -> Bool { Sys.epollControl(fd, 1, watched, events, tag) }
    @discardableResult public func modify(_ watched: Int32, events: UInt32, tag: UInt64) -> Bool { Sys.epollControl(fd, 3, watched, events, tag) }
    @discardableResult public func remove(_ watched: Int32) -> Bool { Sys.epollControl(fd, 2, watched, 0, 0) }

    /// Waits up to `timeoutMs` for events: fills tags[i], events[i] and returns the count (0
    /// on a time-out or an interruption).
    public func wait(tags: inout [UInt64], events: inout [UInt32], timeoutMs: Int32) -> Int {
        let cap = Int32(min(tags.count, events.count))
        return tags.withUnsafeMutableBufferPointer { t in
            events.withUnsafeMutableBufferPointer { e in
                guard let tp = t.baseAddress, let ep = e.baseAddress else { return 0 }
                return max(0, Sys.epollWait(fd, tp, ep, cap, timeoutMs))
            }
        }
    }
}

/// An eventfd: a counter that wakes a poller when written.
public struct EventFD: Sendable {
    public let fd: Int32

    public init() throws(Errno) { fd = try Sys.eventFD() }

    /// Adds one (wakes whoever polls it).
    public func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { try? Sys.write(fd, $0) }
    }

    /// Reads the counter back to zero.
    public func drain() {
        var v: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &v) { try? Sys.read(fd, $0) }
    }

    public func close() { Sys.close(fd) }
}
