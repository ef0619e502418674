#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

// What a server needs below HTTP: a listening socket, accepted connections and their peer
// addresses, non-blocking reads and writes, an epoll set and an eventfd. All system calls go
// through `Sys` (System.swift).

/// A listening TCP socket (non-blocking, SO_REUSEADDR) and the port it is bound to.
public struct ListeningSocket: Sendable {
    public let fd: Int32
    /// The bound port (the one asked for, or the one the system chose for port 0).
    public let port: Int

    /// Binds and listens on the first address of `host` that works. Throws a one-line
    /// `NetError` ("cannot resolve host …", "cannot listen on HOST:PORT: …").
    public init(host: String, port: Int, backlog: Int32 = 4096) throws {
        var lastErr: Int32 = 0
        let bound: Int32?
        do {
            bound = try Sys.withAddresses(host: host, port: port, passive: true) { a -> Int32? in
                let fd: Int32
                do throws(Errno) { fd = try Sys.socket(for: a, nonBlocking: true) } catch { lastErr = error.code; return nil }
                Sys.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
                do throws(Errno) { try Sys.bindAndListen(fd, a, backlog: backlog); return fd } catch { lastErr = error.code }
                Sys.close(fd)
                return nil
            }
        } catch {
            throw NetError("cannot resolve host '\(host)': \(error)")
        }
        guard let fd = bound else {
            throw NetError("cannot listen on \(host):\(port): \(Errno("listen", code: lastErr).message)", code: lastErr)
        }
        self.fd = fd
        var p = 0
        if var ss = Sys.address(of: fd, peer: false) {
            if ss.ss_family == sa_family_t(AF_INET6) {
                p = withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } }
            } else {
                p = withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } }
            }
        }
        self.port = p
    }

    public func close() { Sys.close(fd) }
}

/// A client address (IPv6, or IPv4 in the low word), the key of a per-client limit.
public struct ClientAddress: Hashable, Sendable {
    public var hi: UInt64 = 0, lo: UInt64 = 0

    /// The peer address of a connected socket (all zero when it cannot be read).
    public init(peerOf fd: Int32) {
        guard var ss = Sys.address(of: fd, peer: true) else { return }
        if ss.ss_family == sa_family_t(AF_INET6) {
            withUnsafePointer(to: &ss) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a in
                    withUnsafeBytes(of: a.pointee.sin6_addr) { b in
                        hi = b.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
                        lo = b.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                    }
                }
            }
        } else if ss.ss_family == sa_family_t(AF_INET) {
            let v4 = withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr } }
            hi = 0
            lo = 0xffff_0000_0000_0000 | UInt64(v4)
        }
    }
}

/// What a non-blocking read or write did.
public enum IOResult: Equatable {
    /// This many bytes (0 for a read: the peer closed its side).
    case done(Int)
    /// Nothing now: wait until the socket is readable (`wantRead`) or writable.
    case wait(wantRead: Bool)
    /// The connection failed.
    case failed
}

/// A non-blocking socket's reads and writes.
public enum SocketIO {
    /// recv(2) into `buffer`.
    @inlinable public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        do throws(Errno) { return .done(try Sys.recv(fd, buffer)) } catch { return error.wouldBlock ? .wait(wantRead: true) : .failed }
    }

    /// send(2) of some of `bytes`, without SIGPIPE.
    @inlinable public static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> IOResult {
        do throws(Errno) { return .done(try Sys.send(fd, bytes)) } catch { return error.wouldBlock ? .wait(wantRead: false) : .failed }
    }
}

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
            events.withUnsafeMutableBufferPointer { e in max(0, Sys.epollWait(fd, t.baseAddress!, e.baseAddress!, cap, timeoutMs)) }
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

/// Threads for server loops, and what they must set up.
public enum ServerThreads {
    /// Blocks SIGPIPE in the calling thread (OpenSSL writes with write(2): a peer that went
    /// away must not raise it).
    public static func blockSIGPIPE() { Sys.blockSIGPIPE() }
}
