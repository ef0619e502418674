#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

// Every C call of Net goes through this file: sockets, name resolution, poll and epoll, the
// eventfd, files a request body comes from or a response goes to, threads, the monotonic
// clock and libssl (CShims/tls.c). Each wrapper retries EINTR and turns errno into `Errno`.
// The rest of Net (and Serve's event loop, through Net's types) never calls libc itself.

/// A failed system call: the errno value and the call (swift-system's `Errno`, with the
/// operation that failed). Throwing it allocates nothing (typed throws, a static name), so
/// non-blocking loops may meet EAGAIN on every turn.
public struct Errno: Error, Equatable, CustomStringConvertible, Sendable {
    public let code: Int32
    /// The C function that failed ("connect", "recv"...).
    public let operation: StaticString

    public init(_ operation: StaticString, code: Int32) {
        self.operation = operation
        self.code = code
    }

    /// errno as it is now.
    @usableFromInline static func current(_ operation: StaticString) -> Errno { Errno(operation, code: errno) }

    /// strerror's text ("Connection refused").
    public var message: String { String(cString: strerror(code)) }
    public var description: String { "\(operation): \(message)" }

    /// EAGAIN / EWOULDBLOCK: a non-blocking call found nothing to do.
    @inlinable public var wouldBlock: Bool { code == EAGAIN || code == EWOULDBLOCK }
    /// Out of file descriptors (EMFILE, ENFILE).
    public var outOfDescriptors: Bool { code == EMFILE || code == ENFILE }

    public static func == (a: Errno, b: Errno) -> Bool {
        a.code == b.code && a.operation.description == b.operation.description
    }
}

/// A started thread.
public struct ThreadHandle: @unchecked Sendable {
    let thread: pthread_t
    /// Waits for it to end.
    public func join() { pthread_join(thread, nil) }
}

/// The system calls, one wrapper each.
public enum Sys {
    // MARK: Descriptors

    public static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    /// read(2) into `buffer`: the count, 0 at the end.
    @inlinable public static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        while true {
            let r = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if r >= 0 { return r }
            if errno != EINTR { throw Errno.current("read") }
        }
    }

    /// write(2) of some of `bytes`: the count written.
    @inlinable public static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
        while true {
            let r = Glibc.write(fd, bytes.baseAddress, bytes.count)
            if r >= 0 { return r }
            if errno != EINTR { throw Errno.current("write") }
        }
    }

    /// Writes all of `bytes`: nil, or the failure (ENOSPC for a write that wrote nothing).
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Errno? {
        var off = 0
        while off < bytes.count {
            do throws(Errno) {
                let w = try write(fd, UnsafeRawBufferPointer(rebasing: bytes[off...]))
                if w == 0 { return Errno("write", code: ENOSPC) }
                off += w
            } catch { return error }
        }
        return nil
    }

    /// Opens a file for reading.
    public static func openRead(_ path: String) throws(Errno) -> Int32 {
        while true {
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            if fd >= 0 { return fd }
            if errno != EINTR { throw Errno.current("open") }
        }
    }

    /// Creates or truncates a file for writing (mode 0644).
    public static func openWrite(_ path: String) throws(Errno) -> Int32 {
        while true {
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            if fd >= 0 { return fd }
            if errno != EINTR { throw Errno.current("open") }
        }
    }

    // MARK: Sockets

    /// A TCP socket for an address of `info` (blocking unless `nonBlocking`).
    static func socket(for info: addrinfo, nonBlocking: Bool) throws(Errno) -> Int32 {
        var type = info.ai_socktype | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let fd = Glibc.socket(info.ai_family, type, info.ai_protocol)
        if fd < 0 { throw Errno.current("socket") }
        return fd
    }

    /// setsockopt(2) of an Int32 option.
    @discardableResult
    public static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var v = value
        return setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    /// TCP_NODELAY on.
    @discardableResult
    public static func noDelay(_ fd: Int32) -> Bool { setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }

    /// SO_RCVTIMEO and SO_SNDTIMEO of `seconds`.
    static func setTimeouts(_ fd: Int32, seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    static func connect(_ fd: Int32, _ info: addrinfo) throws(Errno) {
        if Glibc.connect(fd, info.ai_addr, info.ai_addrlen) != 0 { throw Errno.current("connect") }
    }

    static func bindAndListen(_ fd: Int32, _ info: addrinfo, backlog: Int32) throws(Errno) {
        if bind(fd, info.ai_addr, info.ai_addrlen) != 0 { throw Errno.current("bind") }
        if listen(fd, backlog) != 0 { throw Errno.current("listen") }
    }

    /// The addresses of `host`:`port` (getaddrinfo), in order, passed to `body` one by one
    /// until it returns a value. Throws the resolver's message when the name does not resolve.
    static func withAddresses<T>(host: String, port: Int, passive: Bool, _ body: (addrinfo) -> T?) throws -> T? {
        var hints = addrinfo()
        if passive { hints.ai_family = AF_UNSPEC; hints.ai_flags = AI_PASSIVE }
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else { throw ResolveError(message: String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(res) }
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            if let v = body(a.pointee) { return v }
            ai = a.pointee.ai_next
        }
        return nil
    }

    /// gai_strerror's text.
    struct ResolveError: Error, CustomStringConvertible { let message: String; var description: String { message } }

    /// accept4(2), non-blocking and close-on-exec.
    @inlinable public static func accept(_ fd: Int32) throws(Errno) -> Int32 {
        while true {
            let c = mlrepo_accept(fd)
            if c >= 0 { return c }
            if errno != EINTR { throw Errno.current("accept") }
        }
    }

    /// recv(2): the count, 0 at the end of the stream.
    @inlinable public static func recv(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        while true {
            let r = Glibc.recv(fd, buffer.baseAddress, buffer.count, 0)
            if r >= 0 { return r }
            if errno != EINTR { throw Errno.current("recv") }
        }
    }

    /// send(2) without SIGPIPE: the count sent.
    @inlinable public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
        while true {
            let r = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if r >= 0 { return r }
            if errno != EINTR { throw Errno.current("send") }
        }
    }

    /// Shuts down the sending side.
    public static func shutdownWrite(_ fd: Int32) { _ = shutdown(fd, Int32(SHUT_WR)) }

    /// Whether `fd` has something to read (or was closed by the peer) right now.
    static func readable(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) != 0
    }

    /// The local (`peer` false) or remote address of a socket, nil when it cannot be read.
    static func address(of fd: Int32, peer: Bool) -> sockaddr_storage? {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &ss) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer ? getpeername(fd, $0, &len) : getsockname(fd, $0, &len) }
        }
        return rc == 0 ? ss : nil
    }

    // MARK: epoll and eventfd

    static func epollCreate() throws(Errno) -> Int32 {
        let fd = mlrepo_epoll_create()
        if fd < 0 { throw Errno.current("epoll_create1") }
        return fd
    }

    @discardableResult
    static func epollControl(_ ep: Int32, _ op: Int32, _ fd: Int32, _ events: UInt32, _ tag: UInt64) -> Bool {
        mlrepo_epoll_ctl(ep, op, fd, events, tag) == 0
    }

    static func epollWait(_ ep: Int32, _ tags: UnsafeMutablePointer<UInt64>, _ events: UnsafeMutablePointer<UInt32>, _ max: Int32, _ timeoutMs: Int32) -> Int {
        Int(mlrepo_epoll_wait(ep, tags, events, max, timeoutMs))
    }

    public static func eventFD() throws(Errno) -> Int32 {
        let fd = mlrepo_eventfd()
        if fd < 0 { throw Errno.current("eventfd") }
        return fd
    }

    // MARK: Threads and time

    /// Seconds on the monotonic clock.
    @inlinable public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Sleeps the calling thread (nanosleep; a signal cuts it short).
    public static func sleep(milliseconds ms: Int32) {
        var ts = timespec(tv_sec: Int(ms / 1000), tv_nsec: Int(ms % 1000) * 1_000_000)
        _ = nanosleep(&ts, nil)
    }

    /// Starts a thread running `body`; nil when the system refuses one.
    public static func spawnThread(_ body: @escaping @Sendable () -> Void) -> ThreadHandle? {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body))
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box.toOpaque())
        if rc != 0 { box.release(); return nil }
        return ThreadHandle(thread: t)
    }

    /// Blocks SIGPIPE in the calling thread (OpenSSL writes with write(2): a peer that went
    /// away must not raise it).
    static func blockSIGPIPE() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    // MARK: libssl (CShims/tls.c, loaded at run time)

    /// Runs `body` with a C buffer for an error text; the text after.
    static func withErrorText<T>(_ capacity: Int, _ body: (UnsafeMutablePointer<CChar>, Int) -> T) -> (T, String) {
        var err = [CChar](repeating: 0, count: capacity)
        let r = err.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        return (r, err.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }

    /// Whether libssl can be loaded; the reason when not.
    public static func tlsAvailable() -> (Bool, String) {
        let (ok, why) = withErrorText(256) { mlrepo_tls_available($0, $1) }
        return (ok == 1, why)
    }

    /// A client session over the connected socket `fd`: the session, or the reason and errno
    /// (EPROTO: TLS refused the peer).
    static func tlsConnect(_ fd: Int32, host: String, caFile: String?) -> (UnsafeMutableRawPointer?, String, Int32) {
        let (session, why) = withErrorText(512) { mlrepo_tls_connect(fd, host, caFile, 1, $0, $1) }
        return (session, why, errno)
    }

    /// A client session's read (`writing` false) or write: the count (0: end of stream, for a
    /// read), or the reason and errno.
    static func tlsIO(_ session: UnsafeMutableRawPointer, _ buffer: UnsafeMutableRawBufferPointer, writing: Bool) -> (Int, String, Int32) {
        let (r, why) = withErrorText(256) { e, n in
            writing ? mlrepo_tls_write(session, buffer.baseAddress, buffer.count, e, n)
                    : mlrepo_tls_read(session, buffer.baseAddress, buffer.count, e, n)
        }
        return (r, why, errno)
    }

    /// errno EPROTO after `tlsConnect`: TLS itself refused the peer (or libssl is missing).
    static func isTLSRefusal(_ code: Int32) -> Bool { code == EPROTO }

    static func tlsClose(_ session: UnsafeMutableRawPointer) { mlrepo_tls_close(session) }

    static func tlsServerNew(certificate: String, key: String) -> (UnsafeMutableRawPointer?, String) {
        withErrorText(512) { mlrepo_tls_server_new(certificate, key, $0, $1) }
    }

    static func tlsServerFree(_ ctx: UnsafeMutableRawPointer) { mlrepo_tls_server_free(ctx) }
    static func tlsServerSession(_ ctx: UnsafeMutableRawPointer, _ fd: Int32) -> UnsafeMutableRawPointer? { mlrepo_tls_server_session(ctx, fd) }
    static func tlsServerHandshake(_ s: UnsafeMutableRawPointer) -> Int { Int(mlrepo_tls_server_handshake(s)) }
    static func tlsServerRead(_ s: UnsafeMutableRawPointer, _ b: UnsafeMutableRawBufferPointer) -> Int { mlrepo_tls_server_read(s, b.baseAddress, b.count) }
    static func tlsServerWrite(_ s: UnsafeMutableRawPointer, _ b: UnsafeRawBufferPointer) -> Int { mlrepo_tls_server_write(s, b.baseAddress, b.count) }
    static func tlsSessionFree(_ s: UnsafeMutableRawPointer, notify: Bool) { mlrepo_tls_session_free(s, notify ? 1 : 0) }
}
