#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import CShims
import Support

/// How the server listens and what it tolerates.
public struct ServerConfig: Sendable {
    public var host = "127.0.0.1"
    /// 0: any free port (see `HTTPServer.port`).
    public var port = 5000
    /// Event-loop threads; each owns its connections and runs their requests.
    public var workers = 2
    public var limits = HTTPLimits()
    /// A request must arrive whole within this many seconds of its first byte (else 408).
    public var readTimeout = 30.0
    /// An idle keep-alive connection is closed after this many seconds.
    public var idleTimeout = 60.0
    /// Connections beyond this are answered 503 and closed.
    public var maxConnections = 1024
    /// On stop, in-flight requests get this long to finish.
    public var shutdownGrace = 10.0
    public init() {}
}

/// Handles one complete request on the worker thread that read it. `worker` is the loop's
/// index (per-worker state lives with the handler).
public protocol HTTPHandler: AnyObject, Sendable {
    func handle(_ request: HTTPRequest, worker: Int) -> HTTPResponse
    /// Called once per finished request (for access logs and metrics).
    func completed(_ request: HTTPRequest?, response: HTTPResponse, latencyMicros: Int, worker: Int)
    /// Called by each worker after a batch of events (flush buffered logs).
    func flush(worker: Int)
}

/// An HTTP/1.1 server over POSIX sockets: `workers` epoll loops sharing one listening
/// socket (EPOLLEXCLUSIVE wakes one loop per new connection). All sockets are non-blocking,
/// so a slow or stalled client never holds a loop; every limit in `ServerConfig` is enforced
/// per connection.
public final class HTTPServer: @unchecked Sendable {
    public let config: ServerConfig
    let handler: any HTTPHandler
    let listenFD: Int32
    /// The bound port (the one asked for, or the one the system chose for port 0).
    public let port: Int
    let wakeFD: Int32
    let stopping = Atomic<Bool>(false)
    let openConnections = Atomic<Int>(0)
    var threads: [pthread_t] = []
    /// Per worker: connections it owns, sockets handed to it by the worker that accepted
    /// them, and an eventfd that wakes it for those. A new connection goes to the worker
    /// with the fewest, so all cores serve even when a client opens many at once.
    let handoff: [Handoff]

    final class Handoff: @unchecked Sendable {
        let owned = Atomic<Int>(0)
        let inbox = Mutex<[Int32]>([])
        let wake: Int32 = mlrepo_eventfd()
        deinit { close(wake) }
    }

    /// Binds and listens; throws a one-line error when the address is unusable.
    public init(config: ServerConfig, handler: any HTTPHandler) throws {
        self.config = config
        self.handler = handler
        handoff = (0..<max(1, config.workers)).map { _ in Handoff() }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var res: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(config.host, String(config.port), &hints, &res)
        guard rc == 0, let first = res else {
            throw ServeError("cannot resolve host '\(config.host)': \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(res) }
        var fd: Int32 = -1
        var lastErr: Int32 = 0
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            if fd >= 0 {
                var one: Int32 = 1
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
                if bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 && listen(fd, 1024) == 0 { break }
                lastErr = errno
                close(fd); fd = -1
            } else { lastErr = errno }
            ai = a.pointee.ai_next
        }
        guard fd >= 0 else {
            throw ServeError("cannot listen on \(config.host):\(config.port): \(String(cString: strerror(lastErr)))")
        }
        listenFD = fd
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        if ss.ss_family == sa_family_t(AF_INET6) {
            port = withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } }
        } else {
            port = withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } }
        }
        wakeFD = mlrepo_eventfd()
        guard wakeFD >= 0 else { close(fd); throw ServeError("eventfd failed: \(String(cString: strerror(errno)))") }
    }

    deinit {
        close(listenFD)
        close(wakeFD)
    }

    /// The descriptor that stops the server when written to (8 bytes): give it to a signal
    /// handler.
    public var stopDescriptor: Int32 { wakeFD }

    /// Starts the worker loops and returns.
    public func start() {
        for w in 0..<max(1, config.workers) {
            let box = Unmanaged.passRetained(LoopBox(server: self, index: w))
            var t = pthread_t()
            let rc = pthread_create(&t, nil, { raw in
                let b = Unmanaged<LoopBox>.fromOpaque(raw!).takeRetainedValue()
                var loop = EventLoop(server: b.server, index: b.index)
                loop.run()
                return nil
            }, box.toOpaque())
            if rc == 0 { threads.append(t) } else { box.release() }
        }
    }

    /// Asks the loops to stop: no new connections; requests in flight finish (bounded by
    /// `shutdownGrace`).
    public func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Waits for every loop to end (after `stop`, or a write to `stopDescriptor`).
    public func wait() {
        for t in threads { pthread_join(t, nil) }
        threads = []
    }
}

final class LoopBox {
    let server: HTTPServer
    let index: Int
    init(server: HTTPServer, index: Int) { self.server = server; self.index = index }
}

/// A failure to start serving, one line.
public struct ServeError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

let evIn = UInt32(MLREPO_EV_IN), evOut = UInt32(MLREPO_EV_OUT), evErr = UInt32(MLREPO_EV_ERR)
let evHup = UInt32(MLREPO_EV_HUP), evRdHup = UInt32(MLREPO_EV_RDHUP)

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// One connection's state, owned by one loop.
final class Connection {
    let fd: Int32
    var input: [UInt8] = []
    var inputStart = 0
    var output: [UInt8] = []
    var outputStart = 0
    var lastActivity: Double
    /// When the first byte of the request being read arrived (nil: between requests).
    var requestStarted: Double? = nil
    var sentContinue = false
    var closeAfterWrite = false
    /// After an error answer: our side is shut down and the client's remaining bytes are
    /// read and dropped until it closes or this deadline passes (so the client sees the
    /// answer instead of a reset).
    var lingerUntil: Double? = nil
    var lingerOnClose = false
    var wantsWrite = false

    init(fd: Int32, now: Double) { self.fd = fd; lastActivity = now }

    var pendingInput: Int { input.count - inputStart }
    var pendingOutput: Int { output.count - outputStart }

    func compactInput() {
        if inputStart > 0 && (inputStart == input.count || inputStart > 65536) {
            input.removeFirst(inputStart)
            inputStart = 0
        }
    }
}

/// A worker: an epoll loop over the shared listening socket, the wake descriptor and the
/// connections it accepted.
struct EventLoop {
    let server: HTTPServer
    let index: Int
    var epfd: Int32 = -1
    var conns: [Int32: Connection] = [:]
    var listening = true
    var readBuf = [UInt8](repeating: 0, count: 256 << 10)

    init(server: HTTPServer, index: Int) { self.server = server; self.index = index }

    static let listenTag: UInt64 = UInt64.max
    static let wakeTag: UInt64 = UInt64.max - 1
    static let handoffTag: UInt64 = UInt64.max - 2

    mutating func run() {
        epfd = mlrepo_epoll_create()
        guard epfd >= 0 else { return }
        defer { close(epfd) }
        mlrepo_epoll_ctl(epfd, 1, server.listenFD, UInt32(MLREPO_EV_IN) | UInt32(MLREPO_EV_EXCLUSIVE), EventLoop.listenTag)
        mlrepo_epoll_ctl(epfd, 1, server.wakeFD, UInt32(MLREPO_EV_IN), EventLoop.wakeTag)
        mlrepo_epoll_ctl(epfd, 1, server.handoff[index].wake, UInt32(MLREPO_EV_IN), EventLoop.handoffTag)
        var tags = [UInt64](repeating: 0, count: 256)
        var evflags = [UInt32](repeating: 0, count: 256)
        var lastSweep = monotonicSeconds()
        var stopDeadline: Double? = nil
        while true {
            let n = mlrepo_epoll_wait(epfd, &tags, &evflags, 256, 200)
            let now = monotonicSeconds()
            if n > 0 {
                for i in 0..<Int(n) {
                    let tag = tags[i]
                    let flags = evflags[i]
                    if tag == EventLoop.listenTag { if listening { acceptAll(now) } }
                    else if tag == EventLoop.handoffTag { takeHandoffs(now) }
                    else if tag == EventLoop.wakeTag {
                        // stop() or a signal handler wrote to it; it stays readable, so every
                        // loop sees it.
                        server.stopping.store(true, ordering: .sequentiallyConsistent)
                    }
                    else if let c = conns[Int32(truncatingIfNeeded: tag)] { service(c, flags: flags, now: now) }
                }
            }
            server.handler.flush(worker: index)
            if server.stopping.load(ordering: .relaxed) {
                if stopDeadline == nil {
                    stopDeadline = now + server.config.shutdownGrace
                    listening = false
                    mlrepo_epoll_ctl(epfd, 2, server.listenFD, 0, 0)
                    // Keep the wake descriptor readable for the other loops, but stop polling it.
                    mlrepo_epoll_ctl(epfd, 2, server.wakeFD, 0, 0)
                }
                takeHandoffs(now)
                // Idle connections go now; busy ones finish their request.
                for c in Array(conns.values) where c.pendingOutput == 0 && c.pendingInput == 0 && c.requestStarted == nil {
                    closeConnection(c)
                }
                for c in conns.values { c.closeAfterWrite = true }
                if conns.isEmpty || now >= stopDeadline! {
                    for c in Array(conns.values) { closeConnection(c) }
                    server.handler.flush(worker: index)
                    return
                }
            }
            if now - lastSweep >= 0.2 {
                lastSweep = now
                sweep(now)
            }
        }
    }

    mutating func acceptAll(_ now: Double) {
        while true {
            let fd = mlrepo_accept(server.listenFD)
            if fd < 0 {
                if errno == EINTR { continue }
                return  // EAGAIN, or a transient error (EMFILE, ECONNABORTED): try on the next event
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let open = server.openConnections.wrappingAdd(1, ordering: .relaxed).newValue
            if open > server.config.maxConnections {
                let r = HTTPResponse.error(503, "too many connections (limit \(server.config.maxConnections))")
                let bytes = r.serialized(keepAlive: false, headOnly: false)
                _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
                server.openConnections.wrappingSubtract(1, ordering: .relaxed)
                server.handler.completed(nil, response: r, latencyMicros: 0, worker: index)
                continue
            }
            // Hand it to the least-loaded worker (this one on ties).
            var target = index
            for (w, h) in server.handoff.enumerated() where h.owned.load(ordering: .relaxed) < server.handoff[target].owned.load(ordering: .relaxed) {
                target = w
            }
            server.handoff[target].owned.wrappingAdd(1, ordering: .relaxed)
            if target == index { adopt(fd, now) } else {
                server.handoff[target].inbox.withLock { $0.append(fd) }
                var one: UInt64 = 1
                _ = write(server.handoff[target].wake, &one, 8)
            }
        }
    }

    mutating func adopt(_ fd: Int32, _ now: Double) {
        let c = Connection(fd: fd, now: now)
        conns[fd] = c
        mlrepo_epoll_ctl(epfd, 1, fd, evIn | evRdHup, UInt64(UInt32(bitPattern: fd)))
        // Data may have arrived before the socket was registered: serve it now.
        service(c, flags: evIn, now: now)
    }

    mutating func takeHandoffs(_ now: Double) {
        var v: UInt64 = 0
        _ = read(server.handoff[index].wake, &v, 8)
        let fds = server.handoff[index].inbox.withLock { box -> [Int32] in let f = box; box = []; return f }
        for fd in fds { adopt(fd, now) }
    }

    /// Closes after the last answer: at once, or by lingering when the client may still be
    /// sending a body we refused.
    mutating func finish(_ c: Connection) {
        if c.lingerOnClose && c.lingerUntil == nil {
            shutdown(c.fd, Int32(SHUT_WR))
            c.lingerUntil = monotonicSeconds() + 2
            c.inputStart = c.input.count
            c.compactInput()
            return
        }
        closeConnection(c)
    }

    mutating func closeConnection(_ c: Connection) {
        mlrepo_epoll_ctl(epfd, 2, c.fd, 0, 0)
        close(c.fd)
        conns[c.fd] = nil
        server.openConnections.wrappingSubtract(1, ordering: .relaxed)
        server.handoff[index].owned.wrappingSubtract(1, ordering: .relaxed)
    }

    mutating func service(_ c: Connection, flags: UInt32, now: Double) {
        if flags & (evErr | evHup) != 0 && flags & evIn == 0 {
            closeConnection(c); return
        }
        if flags & evOut != 0 {
            if !flushOutput(c) { closeConnection(c); return }
            if c.pendingOutput == 0 && c.closeAfterWrite { finish(c); return }
        }
        if c.lingerUntil != nil {
            // Drop what the client still sends; close at its end of stream.
            while true {
                let r = readBuf.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
                if r > 0 { continue }
                if r < 0 && errno == EINTR { continue }
                if r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
                closeConnection(c); return
            }
        }
        if flags & (evIn | evRdHup) != 0 {
            var eof = false
            while true {
                let r = readBuf.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
                if r > 0 {
                    if c.requestStarted == nil { c.requestStarted = now }
                    c.input.append(contentsOf: readBuf[0..<r])
                    c.lastActivity = now
                    if r < readBuf.count { break }
                    // Stop reading a client that floods past the limits; the parser answers it.
                    if c.pendingInput > server.config.limits.maxBodyBytes + server.config.limits.maxHeaderBytes + 65536 { break }
                } else if r == 0 { eof = true; break }
                else if errno == EINTR { continue }
                else if errno == EAGAIN || errno == EWOULDBLOCK { break }
                else { closeConnection(c); return }
            }
            processInput(c, now: now)
            guard conns[c.fd] != nil else { return }
            if eof {
                // The client closed its side: answer what is complete, drop a half request.
                if c.pendingOutput == 0 { closeConnection(c) } else { c.closeAfterWrite = true }
            }
        }
    }

    /// Parses and answers every complete request in the input (pipelining), stopping while
    /// a response is still being written.
    mutating func processInput(_ c: Connection, now: Double) {
        while c.pendingInput > 0 && c.pendingOutput == 0 && !c.closeAfterWrite {
            let outcome = c.input.withUnsafeBufferPointer { buf in
                parseRequest(UnsafeBufferPointer(rebasing: buf[c.inputStart...]), limits: server.config.limits)
            }
            switch outcome {
            case .incomplete(let expectsContinue):
                if expectsContinue && !c.sentContinue {
                    c.sentContinue = true
                    queue(c, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                }
                c.compactInput()
                return
            case .failure(let status, let message):
                let r = HTTPResponse.error(status, message)
                c.closeAfterWrite = true
                c.lingerOnClose = true
                server.handler.completed(nil, response: r, latencyMicros: latency(c, now), worker: index)
                c.inputStart = c.input.count
                queue(c, r.serialized(keepAlive: false, headOnly: false))
                return
            case .request(let req, let consumed):
                c.inputStart += consumed
                c.sentContinue = false
                let started = c.requestStarted ?? now
                var resp = server.handler.handle(req, worker: index)
                let connectionHeader = req.header("connection")?.lowercased() ?? ""
                var keepAlive = req.http11 ? !connectionHeader.contains("close") : connectionHeader.contains("keep-alive")
                if server.stopping.load(ordering: .relaxed) { keepAlive = false }
                if !keepAlive { c.closeAfterWrite = true }
                if resp.status == 405, !resp.headers.contains(where: { $0.0 == "Allow" }) { resp.headers.append(("Allow", "GET")) }
                // Account for the request before the client can see the answer (a follow-up
                // /metrics request then always includes it).
                let done = monotonicSeconds()
                server.handler.completed(req, response: resp, latencyMicros: Int((done - started) * 1e6), worker: index)
                c.requestStarted = c.pendingInput > 0 ? done : nil
                queue(c, resp.serialized(keepAlive: keepAlive, headOnly: req.method == "HEAD"))
                guard conns[c.fd] != nil else { return }
            }
        }
        c.compactInput()
    }

    func latency(_ c: Connection, _ now: Double) -> Int {
        Int((monotonicSeconds() - (c.requestStarted ?? now)) * 1e6)
    }

    /// Appends to the output and writes as much as the socket takes.
    mutating func queue(_ c: Connection, _ bytes: [UInt8]) {
        if c.pendingOutput == 0 { c.output = bytes; c.outputStart = 0 } else { c.output.append(contentsOf: bytes) }
        if !flushOutput(c) { closeConnection(c); return }
        if c.pendingOutput == 0 && c.closeAfterWrite { finish(c) }
    }

    /// Writes pending output; false on a dead socket. Watches for writability while output
    /// remains, and stops watching when it is gone.
    mutating func flushOutput(_ c: Connection) -> Bool {
        while c.pendingOutput > 0 {
            let r = c.output.withUnsafeBytes { send(c.fd, $0.baseAddress! + c.outputStart, c.pendingOutput, Int32(MSG_NOSIGNAL)) }
            if r > 0 { c.outputStart += r; c.lastActivity = monotonicSeconds(); continue }
            if r < 0 && errno == EINTR { continue }
            if r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            return false
        }
        let want = c.pendingOutput > 0
        if want != c.wantsWrite {
            c.wantsWrite = want
            mlrepo_epoll_ctl(epfd, 3, c.fd, evIn | evRdHup | (want ? evOut : 0), UInt64(UInt32(bitPattern: c.fd)))
        }
        if !want { c.output = []; c.outputStart = 0 }
        return true
    }

    /// Time-outs: a request not complete within readTimeout gets 408; an idle keep-alive
    /// connection is closed after idleTimeout; a client that does not read its response for
    /// readTimeout is dropped.
    mutating func sweep(_ now: Double) {
        for c in Array(conns.values) {
            if let until = c.lingerUntil {
                if now > until { closeConnection(c) }
                continue
            }
            if c.pendingOutput > 0 {
                if now - c.lastActivity > server.config.readTimeout { closeConnection(c) }
                continue
            }
            if let started = c.requestStarted, c.pendingInput > 0 {
                if now - started > server.config.readTimeout {
                    let r = HTTPResponse.error(408, "request not received within \(server.config.readTimeout == server.config.readTimeout.rounded() ? String(Int(server.config.readTimeout)) : String(server.config.readTimeout)) s")
                    c.closeAfterWrite = true
                    c.lingerOnClose = true
                    c.inputStart = c.input.count
                    c.requestStarted = nil
                    queue(c, r.serialized(keepAlive: false, headOnly: false))
                    server.handler.completed(nil, response: r, latencyMicros: Int((now - started) * 1e6), worker: index)
                }
            } else if now - c.lastActivity > server.config.idleTimeout {
                closeConnection(c)
            }
        }
    }
}
