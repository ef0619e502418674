import Synchronization
import Support

// The HTTP/1.1 server's event loops, shared by `mlrepo serve` (the scoring server) and
// `mlrepo ui` (the web app): the same limits, timeouts, connection reclaiming, TLS and bearer
// tokens. Every system call goes through System.swift (sockets, epoll, the eventfd, TLS
// sessions, threads); nothing here calls libc.

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
    /// A request head must arrive whole within this many seconds: of the connection's accept
    /// for its first request (TLS handshake included), of the request's first byte for later
    /// ones. A connection that sent nothing is closed; a partial head gets 408. This is what
    /// ends a slowloris client (one byte a second never completes a head).
    public var headerTimeout = 10.0
    /// An idle keep-alive connection is closed after this many seconds.
    public var idleTimeout = 60.0
    /// Open connections, all clients together. At the limit a new connection first reclaims
    /// the oldest reclaimable one (idle keep-alive, or no complete request head yet); only
    /// when none is reclaimable is it answered 503 and closed.
    public var maxConnections = 4096
    /// Open connections from one client address, reclaimed the same way (that address's
    /// oldest reclaimable connection goes first).
    public var maxConnectionsPerClient = 512
    /// On stop, in-flight requests get this long to finish.
    public var shutdownGrace = 10.0
    /// Bearer tokens that authorize a request (empty: no authentication). Compared in
    /// constant time, as SHA-256 digests; never logged.
    public var authTokens: [String] = []
    /// Paths served without a token when `authTokens` is set (unless `authAll`).
    public var openPaths: Set<String> = ["/ping", "/health"]
    /// With `authTokens`: every path needs a token, `openPaths` included.
    public var authAll = false
    /// Headers added to every response, the server's own error answers included (e.g.
    /// `X-Content-Type-Options: nosniff`).
    public var responseHeaders: [(String, String)] = []
    /// With `authTokens`: a cookie of this name holding a token authorizes too (for a browser,
    /// which cannot send an Authorization header when following a link). nil: header only.
    public var authCookie: String? = nil
    /// TLS termination: PEM certificate chain and private key files (nil: plain HTTP).
    public var tlsCertificate: String? = nil
    public var tlsKey: String? = nil
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
    let listener: ListeningSocket
    var listenFD: Int32 { listener.fd }
    /// The bound port (the one asked for, or the one the system chose for port 0).
    public var port: Int { listener.port }
    let wake: EventFD
    let stopping = Atomic<Bool>(false)
    /// Connection counts (shared with the handler, for its metrics).
    public let connections: ConnectionCounters
    /// The bearer tokens (as SHA-256 digests).
    let tokens: BearerTokens
    /// The server's TLS context (nil: plain HTTP).
    let tlsContext: TLSServerContext?
    var threads: [ThreadHandle] = []
    /// Per worker: connections it owns, sockets handed to it by the worker that accepted
    /// them, and an eventfd that wakes it for those. A new connection goes to the worker
    /// with the fewest, so all cores serve even when a client opens many at once.
    let handoff: [Handoff]

    final class Handoff: @unchecked Sendable {
        let owned = Atomic<Int>(0)
        let inbox = Mutex<[Int32]>([])
        let wake: EventFD
        init() throws(Errno) { wake = try EventFD() }
        deinit { wake.close() }
    }

    /// Binds and listens; throws a one-line error when the address is unusable.
    public init(config: ServerConfig, handler: any HTTPHandler, connections: ConnectionCounters = ConnectionCounters()) throws {
        self.config = config
        self.connections = connections
        self.handler = handler
        var loops: [Handoff] = []
        for _ in 0..<max(1, config.workers) {
            do throws(Errno) { loops.append(try Handoff()) } catch { throw HTTPServerError("eventfd failed: \(error.message)") }
        }
        handoff = loops
        tokens = BearerTokens(config.authTokens)
        if let cert = config.tlsCertificate, let key = config.tlsKey {
            do { tlsContext = try TLSServerContext(certificate: cert, key: key) } catch { throw HTTPServerError("\(error)") }
        } else if config.tlsCertificate != nil || config.tlsKey != nil {
            throw HTTPServerError("TLS needs both a certificate and a private key")
        } else {
            tlsContext = nil
        }
        do { listener = try ListeningSocket(host: config.host, port: config.port) } catch { throw HTTPServerError("\(error)") }
        do throws(Errno) { wake = try EventFD() } catch {
            listener.close()
            throw HTTPServerError("eventfd failed: \(error.message)")
        }
    }

    deinit {
        listener.close()
        wake.close()
    }

    /// Whether `request` may be served: no tokens configured, an open path, or an
    /// `Authorization: Bearer TOKEN` (or the `authCookie` cookie) naming one of the tokens.
    /// Every token's digest is compared in full, whatever matches, so timing tells nothing
    /// about them.
    func authorize(_ request: HTTPRequest) -> AuthResult {
        if tokens.isEmpty { return .ok }
        if !config.authAll && config.openPaths.contains(request.path) { return .ok }
        // A cookie that holds no token (a stale one) does not hide a good header.
        var cookieSent = false
        if let name = config.authCookie, let cookie = request.cookie(name) {
            if tokens.matches(cookie) { return .ok }
            cookieSent = true
        }
        guard let value = request.header("authorization") else { return cookieSent ? .invalid : .missing }
        let v = Substring(value)
        guard v.count > 7, v.prefix(7).lowercased() == "bearer " else { return .invalid }
        return tokens.matches(String(v.dropFirst(7)).trimmed(" \t")) ? .ok : .invalid
    }

    enum AuthResult { case ok, missing, invalid }

    /// `r` with the configured response headers (those it does not set itself).
    func decorate(_ r: HTTPResponse) -> HTTPResponse {
        guard !config.responseHeaders.isEmpty else { return r }
        var out = r
        for (k, v) in config.responseHeaders where !r.headers.contains(where: { $0.0.lowercased() == k.lowercased() }) {
            out.headers.append((k, v))
        }
        return out
    }

    static func unauthorized(_ result: AuthResult) -> HTTPResponse {
        var r = HTTPResponse.error(401, result == .missing ? "this server needs a bearer token (Authorization: Bearer TOKEN)" : "invalid bearer token")
        r.headers.append(("WWW-Authenticate", result == .missing ? "Bearer realm=\"mlrepo\"" : "Bearer realm=\"mlrepo\", error=\"invalid_token\""))
        return r
    }

    /// The descriptor that stops the server when written to (8 bytes): give it to a signal
    /// handler.
    public var stopDescriptor: Int32 { wake.fd }

    /// Starts the worker loops and returns.
    public func start() {
        for w in 0..<max(1, config.workers) {
            if let t = Sys.spawnThread({ [self] in
                guard var loop = try? EventLoop(server: self, index: w) else { return }  // no epoll set: this worker does not run
                loop.run()
            }) { threads.append(t) }
        }
    }

    /// Asks the loops to stop: no new connections; requests in flight finish (bounded by
    /// `shutdownGrace`).
    public func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
    }

    /// Waits for every loop to end (after `stop`, or a write to `stopDescriptor`).
    public func wait() {
        for t in threads { t.join() }
        threads = []
    }
}

/// Bearer tokens, kept as SHA-256 digests and compared in constant time.
public struct BearerTokens: Sendable {
    let digests: [[UInt8]]
    public init(_ tokens: [String]) { digests = tokens.map { SHA256Hasher.digest(Array($0.utf8)) } }
    public var isEmpty: Bool { digests.isEmpty }

    /// Whether `token` is one of them. Every digest is compared in full, whatever matches,
    /// so timing tells nothing about the tokens.
    public func matches(_ token: String) -> Bool {
        let digest = SHA256Hasher.digest(Array(token.utf8))
        var matched: UInt8 = 0
        for d in digests {
            var diff: UInt8 = 0
            for i in 0..<32 { diff |= d[i] ^ digest[i] }
            matched |= diff == 0 ? 1 : 0
        }
        return matched == 1 && !token.isEmpty
    }
}

/// Connection counts of a server, for /metrics.
public final class ConnectionCounters: Sendable {
    /// Open now.
    public let open = Atomic<Int>(0)
    /// Closed to make room for a new connection (idle, or no complete request head).
    public let reclaimed = Atomic<Int>(0)
    /// New connections refused with 503 (nothing could be reclaimed).
    public let refused = Atomic<Int>(0)
    /// Closed (or answered 408) for not sending a whole request head within the header timeout.
    public let headerTimeouts = Atomic<Int>(0)
    public init() {}
}

/// A failure to start an HTTP server, one line.
public struct HTTPServerError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

let evIn = Poller.readable, evOut = Poller.writable, evErr = Poller.error
let evHup = Poller.hangUp, evRdHup = Poller.peerClosed

@inline(__always) func serverClock() -> Double { Sys.monotonicSeconds() }

/// One connection's state, owned by one loop.
final class Connection {
    let fd: Int32
    let client: ClientAddress
    let acceptedAt: Double
    var input: [UInt8] = []
    var inputStart = 0
    var output: [UInt8] = []
    var outputStart = 0
    var lastActivity: Double
    /// When the first byte of the request being read arrived (nil: between requests).
    var requestStarted: Double? = nil
    /// The head of the request being read is complete (its body is still arriving).
    var headComplete = false
    /// Requests answered on this connection.
    var served = 0
    /// How far the request being read has been parsed (its head, its chunked body).
    var progress = ParseProgress()
    var sentContinue = false
    var closeAfterWrite = false
    /// After an error answer: our side is shut down and the client's remaining bytes are
    /// read and dropped until it closes or this deadline passes (so the client sees the
    /// answer instead of a reset).
    var lingerUntil: Double? = nil
    var lingerOnClose = false
    var wantsWrite = false
    /// TLS: the session (nil: plain), whether its handshake is still running, and the length
    /// of a write to repeat after the session asked to wait.
    var tls: TLSServerSession? = nil
    var handshaking = false
    var tlsRetryLength = 0
    /// Its place in one of the loop's lists of reclaimable connections (`lruList`: -1 none,
    /// 0 never completed a request, 1 idle keep-alive).
    var lruPrev: Connection? = nil
    var lruNext: Connection? = nil
    var lruList = -1

    init(fd: Int32, client: ClientAddress, now: Double) { self.fd = fd; self.client = client; acceptedAt = now; lastActivity = now }

    var pendingInput: Int { input.count - inputStart }
    var pendingOutput: Int { output.count - outputStart }

    /// Holds no request in progress: idle between requests, or its head is not complete
    /// (TLS handshake included). Such a connection may be closed to make room.
    var reclaimable: Bool { lingerUntil == nil && !headComplete && pendingOutput == 0 && !closeAfterWrite }

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
    /// This loop's epoll set (closed when `run` returns).
    let poller: Poller
    var conns: [Int32: Connection] = [:]
    var listening = true
    /// Accepting paused after EMFILE with nothing to reclaim (resumed by the sweep).
    var acceptPaused = false
    var readBuf = [UInt8](repeating: 0, count: 256 << 10)
    /// Reclaimable connections, least recently active first, in two lists reclaimed in
    /// order: [0] connections that never completed a request (silent, slowloris, in a TLS
    /// handshake), [1] idle keep-alive connections that did (a client that has been served is
    /// the last to lose its connection).
    var lruHead: [Connection?] = [nil, nil]
    var lruTail: [Connection?] = [nil, nil]
    /// The next connection to reclaim, if any.
    var reclaimCandidate: Connection? { lruHead[0] ?? lruHead[1] }
    /// Open connections per client address (this loop's).
    var perClient: [ClientAddress: Int] = [:]

    init(server: HTTPServer, index: Int) throws(Errno) {
        self.server = server; self.index = index
        poller = try Poller()
    }

    static let listenTag: UInt64 = UInt64.max
    static let wakeTag: UInt64 = UInt64.max - 1
    static let handoffTag: UInt64 = UInt64.max - 2

    /// This loop's share of a limit (connections are spread evenly over the loops).
    func share(_ limit: Int) -> Int {
        let w = server.handoff.count
        return max(1, (limit + w - 1) / w)
    }

    mutating func run() {
        // OpenSSL writes with write(2): a peer that went away must not raise SIGPIPE.
        ServerThreads.blockSIGPIPE()
        let p = poller
        defer { p.close() }
        p.add(server.listenFD, events: Poller.readable | Poller.exclusive, tag: EventLoop.listenTag)
        p.add(server.wake.fd, events: Poller.readable, tag: EventLoop.wakeTag)
        p.add(server.handoff[index].wake.fd, events: Poller.readable, tag: EventLoop.handoffTag)
        var tags = [UInt64](repeating: 0, count: 256)
        var evflags = [UInt32](repeating: 0, count: 256)
        var lastSweep = serverClock()
        var stopDeadline: Double? = nil
        while true {
            let n = p.wait(tags: &tags, events: &evflags, timeoutMs: 200)
            let now = serverClock()
            if n > 0 {
                for i in 0..<n {
                    let tag = tags[i]
                    let flags = evflags[i]
                    if tag == EventLoop.listenTag { if listening && !acceptPaused { acceptAll(now) } }
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
                    if !acceptPaused { p.remove(server.listenFD) }
                    // Keep the wake descriptor readable for the other loops, but stop polling it.
                    p.remove(server.wake.fd)
                }
                takeHandoffs(now)
                // Idle connections go now; busy ones finish their request.
                for c in Array(conns.values) where c.pendingOutput == 0 && c.pendingInput == 0 && c.requestStarted == nil {
                    closeConnection(c)
                }
                for c in conns.values { c.closeAfterWrite = true }
                if conns.isEmpty || now >= stopDeadline ?? now {
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
            let fd: Int32
            do throws(Errno) { fd = try Sys.accept(server.listenFD) } catch {
                if error.outOfDescriptors {
                    // Out of descriptors: make room, or stop polling the (still readable)
                    // listening socket until the next sweep instead of spinning on it.
                    if let victim = reclaimCandidate { reclaim(victim); continue }
                    acceptPaused = true
                    poller.remove(server.listenFD)
                }
                return  // EAGAIN, or a transient error (ECONNABORTED): try on the next event
            }
            Sys.noDelay(fd)
            server.connections.open.wrappingAdd(1, ordering: .relaxed)
            // Hand it to the least-loaded worker (this one on ties).
            var target = index
            for (w, h) in server.handoff.enumerated() where h.owned.load(ordering: .relaxed) < server.handoff[target].owned.load(ordering: .relaxed) {
                target = w
            }
            server.handoff[target].owned.wrappingAdd(1, ordering: .relaxed)
            if target == index { adopt(fd, now) } else {
                server.handoff[target].inbox.withLock { $0.append(fd) }
                server.handoff[target].wake.signal()
            }
        }
    }

    /// Takes a new connection, first making room under this loop's share of the limits by
    /// reclaiming the oldest reclaimable connection (of the same client for the per-client
    /// limit); refuses it with 503 only when nothing can be reclaimed.
    mutating func adopt(_ fd: Int32, _ now: Double) {
        let client = ClientAddress(peerOf: fd)
        var refusal: String? = nil
        if perClient[client, default: 0] >= share(server.config.maxConnectionsPerClient) {
            if let victim = oldestReclaimable(of: client) { reclaim(victim) }
            else { refusal = "too many connections from this address (limit \(server.config.maxConnectionsPerClient))" }
        }
        if refusal == nil && conns.count >= share(server.config.maxConnections) {
            if let victim = reclaimCandidate { reclaim(victim) }
            else { refusal = "too many connections (limit \(server.config.maxConnections))" }
        }
        if let refusal {
            let r = HTTPResponse.error(503, refusal)
            if server.tlsContext == nil {
                let bytes = r.serialized(keepAlive: false, headOnly: false)
                _ = bytes.withUnsafeBytes { SocketIO.write(fd, $0) }
            }
            Sys.close(fd)
            server.connections.open.wrappingSubtract(1, ordering: .relaxed)
            server.handoff[index].owned.wrappingSubtract(1, ordering: .relaxed)
            server.connections.refused.wrappingAdd(1, ordering: .relaxed)
            server.handler.completed(nil, response: r, latencyMicros: 0, worker: index)
            return
        }
        let c = Connection(fd: fd, client: client, now: now)
        if let ctx = server.tlsContext {
            guard let session = ctx.session(fd) else {
                Sys.close(fd)
                server.connections.open.wrappingSubtract(1, ordering: .relaxed)
                server.handoff[index].owned.wrappingSubtract(1, ordering: .relaxed)
                return
            }
            c.tls = session
            c.handshaking = true
        }
        conns[fd] = c
        perClient[client, default: 0] += 1
        lruAppend(c)
        poller.add(fd, events: evIn | evRdHup, tag: UInt64(UInt32(bitPattern: fd)))
        // Data may have arrived before the socket was registered: serve it now.
        service(c, flags: evIn, now: now)
    }

    mutating func takeHandoffs(_ now: Double) {
        server.handoff[index].wake.drain()
        let fds = server.handoff[index].inbox.withLock { box -> [Int32] in let f = box; box = []; return f }
        for fd in fds { adopt(fd, now) }
    }

    // MARK: Reclaimable connections

    /// Appends `c` to its list (a connection already on it keeps its place).
    mutating func lruAppend(_ c: Connection) {
        let list = c.served == 0 ? 0 : 1
        if c.lruList == list { return }
        lruRemove(c)
        c.lruList = list
        c.lruPrev = lruTail[list]
        c.lruNext = nil
        if let t = lruTail[list] { t.lruNext = c } else { lruHead[list] = c }
        lruTail[list] = c
    }

    mutating func lruRemove(_ c: Connection) {
        let list = c.lruList
        guard list >= 0 else { return }
        c.lruList = -1
        if let p = c.lruPrev { p.lruNext = c.lruNext } else { lruHead[list] = c.lruNext }
        if let n = c.lruNext { n.lruPrev = c.lruPrev } else { lruTail[list] = c.lruPrev }
        c.lruPrev = nil
        c.lruNext = nil
    }

    /// Puts `c` on the reclaimable list (at the end: most recent) or takes it off, as its
    /// state says.
    mutating func updateReclaimable(_ c: Connection) {
        if c.reclaimable { lruAppend(c) } else { lruRemove(c) }
    }

    func oldestReclaimable(of client: ClientAddress) -> Connection? {
        for list in 0..<2 {
            var c = lruHead[list]
            while let x = c { if x.client == client { return x }; c = x.lruNext }
        }
        return nil
    }

    mutating func reclaim(_ c: Connection) {
        server.connections.reclaimed.wrappingAdd(1, ordering: .relaxed)
        closeConnection(c)
    }

    // MARK: Closing

    /// Closes after the last answer: at once, or by lingering when the client may still be
    /// sending a body we refused.
    mutating func finish(_ c: Connection) {
        if c.lingerOnClose && c.lingerUntil == nil {
            if let s = c.tls { s.free(notify: true); c.tls = nil }
            Sys.shutdownWrite(c.fd)
            c.lingerUntil = serverClock() + 2
            c.inputStart = c.input.count
            c.compactInput()
            lruRemove(c)
            return
        }
        closeConnection(c)
    }

    mutating func closeConnection(_ c: Connection) {
        guard conns[c.fd] === c else { return }
        lruRemove(c)
        if let s = c.tls { s.free(notify: !c.handshaking); c.tls = nil }
        poller.remove(c.fd)
        Sys.close(c.fd)
        conns[c.fd] = nil
        if let k = perClient[c.client] { if k <= 1 { perClient[c.client] = nil } else { perClient[c.client] = k - 1 } }
        server.connections.open.wrappingSubtract(1, ordering: .relaxed)
        server.handoff[index].owned.wrappingSubtract(1, ordering: .relaxed)
    }

    // MARK: I/O

    /// Reads into readBuf: the count, 0 at the end of the stream, -1 when nothing is there
    /// yet, -2 on a failure.
    mutating func readSome(_ c: Connection) -> Int {
        if let s = c.tls {
            switch readBuf.withUnsafeMutableBytes({ s.read(into: $0) }) {
            case .done(let r): return r
            case .wait(let wantRead): if !wantRead { watch(c, output: true) }; return -1
            case .failed: return -2
            }
        }
        switch readBuf.withUnsafeMutableBytes({ SocketIO.read(c.fd, into: $0) }) {
        case .done(let r): return r
        case .wait: return -1
        case .failed: return -2
        }
    }

    mutating func watch(_ c: Connection, output: Bool) {
        guard output != c.wantsWrite else { return }
        c.wantsWrite = output
        poller.modify(c.fd, events: evIn | evRdHup | (output ? evOut : 0), tag: UInt64(UInt32(bitPattern: c.fd)))
    }

    mutating func service(_ c: Connection, flags: UInt32, now: Double) {
        var flags = flags
        if flags & (evErr | evHup) != 0 && flags & evIn == 0 {
            closeConnection(c); return
        }
        if c.handshaking, let s = c.tls {
            switch s.handshake() {
            case .done:
                c.handshaking = false
                watch(c, output: false)
                flags |= evIn  // application data may be buffered already
            case .wait(let wantRead): watch(c, output: !wantRead); return
            case .failed: closeConnection(c); return
            }
        }
        // (A TLS write that waited for readability is retried on input too.)
        if flags & evOut != 0 || (c.tls != nil && c.pendingOutput > 0 && flags & evIn != 0) {
            if !flushOutput(c) { closeConnection(c); return }
            if c.pendingOutput == 0 && c.closeAfterWrite { finish(c); return }
            // A TLS read may have waited for writability.
            if c.tls != nil { flags |= evIn }
            if c.pendingOutput == 0 && c.pendingInput > 0 { processInput(c, now: now); guard conns[c.fd] != nil else { return } }
        }
        if c.lingerUntil != nil {
            // Drop what the client still sends; close at its end of stream.
            while true {
                switch readBuf.withUnsafeMutableBytes({ SocketIO.read(c.fd, into: $0) }) {
                case .done(let r) where r > 0: continue
                case .wait: return
                default: closeConnection(c); return
                }
            }
        }
        if flags & (evIn | evRdHup) != 0 {
            var eof = false
            while true {
                let r = readSome(c)
                if r > 0 {
                    if c.requestStarted == nil { c.requestStarted = now }
                    c.input.append(contentsOf: readBuf[0..<r])
                    c.lastActivity = now
                    if r < readBuf.count && c.tls == nil { break }
                    // Stop reading a client that floods past the limits; the parser answers it.
                    if c.pendingInput > server.config.limits.maxBodyBytes + server.config.limits.maxHeaderBytes + 65536 { break }
                } else if r == 0 { eof = true; break }
                else if r == -1 { break }
                else { closeConnection(c); return }
            }
            processInput(c, now: now)
            guard conns[c.fd] != nil else { return }
            if eof {
                // The client closed its side: answer what is complete, drop a half request.
                if c.pendingOutput == 0 { closeConnection(c) } else { c.closeAfterWrite = true; updateReclaimable(c) }
            }
        }
    }

    /// Answers a request that cannot be served and closes (lingering: the client may still
    /// be sending).
    mutating func fail(_ c: Connection, _ r: HTTPResponse, now: Double) {
        c.progress = ParseProgress()
        c.closeAfterWrite = true
        c.lingerOnClose = true
        c.headComplete = false
        server.handler.completed(nil, response: r, latencyMicros: latency(c, now), worker: index)
        c.inputStart = c.input.count
        lruRemove(c)
        queue(c, server.decorate(r).serialized(keepAlive: false, headOnly: false))
    }

    /// Parses and answers every complete request in the input (pipelining), stopping while
    /// a response is still being written.
    mutating func processInput(_ c: Connection, now: Double) {
        while c.pendingInput > 0 && c.pendingOutput == 0 && !c.closeAfterWrite {
            var progress = ParseProgress()
            swap(&progress, &c.progress)
            let outcome = c.input.withUnsafeBufferPointer { buf in
                parseRequest(UnsafeBufferPointer(rebasing: buf[c.inputStart...]), limits: server.config.limits, progress: &progress)
            }
            if case .incomplete = outcome { swap(&progress, &c.progress) }
            switch outcome {
            case .incomplete(let expectsContinue, let head):
                if let head {
                    // Refuse an unauthorized request before its body is read.
                    let auth = server.authorize(head)
                    if auth != .ok { fail(c, HTTPServer.unauthorized(auth), now: now); return }
                }
                c.headComplete = head != nil
                if expectsContinue && !c.sentContinue {
                    c.sentContinue = true
                    queue(c, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                    guard conns[c.fd] != nil else { return }
                }
                c.compactInput()
                updateReclaimable(c)
                return
            case .failure(let status, let message):
                fail(c, HTTPResponse.error(status, message), now: now)
                return
            case .request(let req, let consumed):
                c.inputStart += consumed
                c.sentContinue = false
                c.headComplete = false
                c.served += 1
                let started = c.requestStarted ?? now
                let auth = server.authorize(req)
                var resp = auth == .ok ? server.handler.handle(req, worker: index) : HTTPServer.unauthorized(auth)
                let connectionHeader = req.header("connection")?.lowercased() ?? ""
                var keepAlive = req.http11 ? !connectionHeader.contains("close") : connectionHeader.contains("keep-alive")
                if server.stopping.load(ordering: .relaxed) { keepAlive = false }
                if !keepAlive { c.closeAfterWrite = true }
                if resp.status == 405, !resp.headers.contains(where: { $0.0 == "Allow" }) { resp.headers.append(("Allow", "GET")) }
                // Account for the request before the client can see the answer (a follow-up
                // /metrics request then always includes it).
                let done = serverClock()
                server.handler.completed(req, response: resp, latencyMicros: Int((done - started) * 1e6), worker: index)
                c.requestStarted = c.pendingInput > 0 ? done : nil
                // The connection counts as idle from now (for the reclaimable order).
                lruRemove(c)
                queue(c, server.decorate(resp).serialized(keepAlive: keepAlive, headOnly: req.method == "HEAD"))
                guard conns[c.fd] != nil else { return }
            }
        }
        c.compactInput()
        updateReclaimable(c)
    }

    func latency(_ c: Connection, _ now: Double) -> Int {
        Int((serverClock() - (c.requestStarted ?? now)) * 1e6)
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
        var blockedOnRead = false
        while c.pendingOutput > 0 {
            if let s = c.tls {
                let length = c.tlsRetryLength > 0 ? c.tlsRetryLength : min(c.pendingOutput, 1 << 20)
                let r = c.output.withUnsafeBytes { b in s.write(UnsafeRawBufferPointer(rebasing: b[c.outputStart..<(c.outputStart + length)])) }
                if case .done(let n) = r, n > 0 { c.tlsRetryLength = 0; c.outputStart += n; c.lastActivity = serverClock(); continue }
                if case .wait(let wantRead) = r { c.tlsRetryLength = length; blockedOnRead = wantRead; break }
                return false
            }
            let r = c.output.withUnsafeBytes { b in SocketIO.write(c.fd, UnsafeRawBufferPointer(rebasing: b[c.outputStart...])) }
            if case .done(let n) = r, n > 0 { c.outputStart += n; c.lastActivity = serverClock(); continue }
            if case .wait = r { break }
            return false
        }
        let want = c.pendingOutput > 0 && !blockedOnRead
        watch(c, output: want)
        if c.pendingOutput == 0 { c.output = []; c.outputStart = 0; if c.lingerUntil == nil { updateReclaimable(c) } }
        return true
    }

    /// Time-outs: a head not complete within headerTimeout (of the accept for a new
    /// connection, of its first byte for a later request) gets 408, or is closed when it sent
    /// nothing; a request not complete within readTimeout gets 408; an idle keep-alive
    /// connection is closed after idleTimeout; a client that does not read its response for
    /// readTimeout is dropped.
    mutating func sweep(_ now: Double) {
        if acceptPaused && listening {
            acceptPaused = false
            poller.add(server.listenFD, events: Poller.readable | Poller.exclusive, tag: EventLoop.listenTag)
        }
        let cfg = server.config
        for c in Array(conns.values) {
            if let until = c.lingerUntil {
                if now > until { closeConnection(c) }
                continue
            }
            if c.pendingOutput > 0 {
                if now - c.lastActivity > cfg.readTimeout { closeConnection(c) }
                continue
            }
            let hasBytes = c.pendingInput > 0 || c.handshaking
            let headStart = c.served == 0 ? c.acceptedAt : (c.requestStarted ?? now)
            if !c.headComplete && now - headStart > cfg.headerTimeout && (hasBytes || c.served == 0) {
                server.connections.headerTimeouts.wrappingAdd(1, ordering: .relaxed)
                if c.pendingInput > 0 && !c.handshaking {
                    timeOut(c, "request head not received within \(seconds(cfg.headerTimeout)) s", started: headStart, now: now)
                } else {
                    closeConnection(c)  // sent nothing (or never finished the TLS handshake)
                }
            } else if let started = c.requestStarted, c.pendingInput > 0 {
                if now - started > cfg.readTimeout {
                    timeOut(c, "request not received within \(seconds(cfg.readTimeout)) s", started: started, now: now)
                }
            } else if c.served > 0 && now - c.lastActivity > cfg.idleTimeout {
                closeConnection(c)
            }
        }
    }

    mutating func timeOut(_ c: Connection, _ message: String, started: Double, now: Double) {
        let r = HTTPResponse.error(408, message)
        c.progress = ParseProgress()
        c.closeAfterWrite = true
        c.lingerOnClose = true
        c.headComplete = false
        c.inputStart = c.input.count
        c.requestStarted = nil
        lruRemove(c)
        server.handler.completed(nil, response: r, latencyMicros: Int((now - started) * 1e6), worker: index)
        queue(c, server.decorate(r).serialized(keepAlive: false, headOnly: false))
    }

    func seconds(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}
