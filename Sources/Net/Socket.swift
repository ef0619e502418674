#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

// What a server needs below HTTP: a listening socket, accepted connections and their peer
// addresses, non-blocking reads and writes (the epoll set is in Poller.swift). All system
// calls go through `Sys` (System.swift).

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

/// Threads for server loops, and what they must set up.
public enum ServerThreads {
    /// Blocks SIGPIPE in the calling thread (OpenSSL writes with write(2): a peer that went
    /// away must not raise it).
    public static func blockSIGPIPE() { Sys.blockSIGPIPE() }
}
