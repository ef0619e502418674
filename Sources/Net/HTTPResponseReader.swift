// The client's side of HTTP/1.1 framing: one response read from a byte stream (status line,
// headers, then a body delimited by Content-Length, chunked encoding or the end of the
// stream), into memory or streamed to a file. It scans with HTTPScan, as the server's
// request parser does.

/// Where a response is read from: a connection (`HTTPStream`) or, in tests, bytes in memory.
public protocol HTTPByteSource: AnyObject {
    /// How error messages name the peer ("HOST:PORT", "https://HOST:PORT").
    var label: String { get }
    /// Reads some bytes into the front of `buffer`: the count, 0 at the end of the stream.
    /// A failure throws `NetError` (its `code` the errno, EAGAIN for a time-out).
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A response as the client read it.
public struct HTTPClientResponse: Sendable {
    public var status: Int
    /// Header fields by lowercased name (the last of repeated fields).
    public var headers: [String: String]
    /// The body (empty when it went to a file).
    public var body: [UInt8]
}

/// The longest response head read (status line and fields).
let maxResponseHeadBytes = 1 << 20

/// Reads one response from `source` for a request with `method`; a 2xx body goes to `file`
/// when one is given. The flag says whether the connection can carry another request:
/// HTTP/1.1, no `connection: close`, the body delimited and read to its end, nothing after
/// it. `scratch`: a receive buffer (a connection keeps one for its life). Throws
/// `StaleConnection` when the stream ends or resets before the first byte of the answer.
/// A body kept in memory larger than `maxBody` bytes is refused (announced or as it arrives).
func readResponse(_ source: some HTTPByteSource, method: String, to file: String?, scratch: inout [UInt8],
                  maxBody: Int = Int.max) throws -> (HTTPClientResponse, Bool) {
    var r = ResponseReader(source: source)
    r.maxBody = maxBody
    swap(&r.scratch, &scratch)
    defer { swap(&r.scratch, &scratch) }
    return try r.read(method: method, to: file)
}

struct ResponseReader<Source: HTTPByteSource> {
    let source: Source
    var scratch: [UInt8] = []
    /// Bytes received and not yet used: data[start...].
    var data: [UInt8] = []
    var start = 0
    var gotAny = false
    /// The file a 2xx body goes to (-1: memory).
    var out: Int32 = -1
    var outPath = ""
    var body: [UInt8] = []
    /// The most bytes a body kept in memory may have.
    var maxBody = Int.max
    /// An error answer to a download (a non-2xx response when a file was asked for) is kept
    /// in memory for its message: only its first `errorBodyKeep` bytes; the rest is read and
    /// dropped.
    var keepOnly = Int.max
    static var errorBodyKeep: Int { 64 << 10 }

    init(source: Source) { self.source = source }

    func tooLarge() -> NetError { NetError("\(label) sent a response body larger than the \(maxBody) bytes expected", permanent: true) }

    var label: String { source.label }
    var available: Int { data.count - start }

    /// Reads more: false at the end of the stream.
    mutating func fill() throws -> Bool {
        if start > 0 && (start == data.count || start >= 1 << 20) { data.removeFirst(start); start = 0 }
        if scratch.isEmpty { scratch = [UInt8](repeating: 0, count: 1 << 16) }
        do {
            let n = try scratch.withUnsafeMutableBytes { try source.read(into: $0) }
            if n > 0 { data.append(contentsOf: scratch[0..<n]); gotAny = true; return true }
            if !gotAny { throw StaleConnection(error: NetError("\(label) closed the connection without answering")) }
            return false
        } catch let e as NetError {
            // Before any byte of the answer, a reset means a connection closed while idle;
            // a time-out means a slow server, which a second try would only wait for again.
            if !gotAny && !e.timedOut { throw StaleConnection(error: e) }
            throw e
        }
    }

    /// Runs `body` over the unused bytes.
    func scan<T>(_ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        data.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start...])) }
    }

    /// The next `count` unused bytes go to the body (or its file).
    mutating func emit(_ count: Int) throws {
        guard count > 0 else { return }
        if out >= 0 {
            let failed = data.withUnsafeBytes { Sys.writeAll(out, UnsafeRawBufferPointer(rebasing: $0[start..<(start + count)])) }
            if let e = failed { throw NetError("writing '\(outPath)' failed: \(e.message)", code: e.code) }
        } else if keepOnly < Int.max {
            let room = max(0, keepOnly - body.count)
            body.append(contentsOf: data[start..<(start + min(count, room))])
        } else {
            guard count <= maxBody - body.count else { throw tooLarge() }
            body.append(contentsOf: data[start..<(start + count)])
        }
        start += count
    }

    mutating func read(method: String, to file: String?) throws -> (HTTPClientResponse, Bool) {
        var status = 0
        var headers: [String: String] = [:]
        var http11 = false
        repeat {  // 1xx interim responses (100 Continue) precede the final one
            var scanned = 0
            var end: (headEnd: Int, bodyStart: Int)? = nil
            while true {
                end = scan { HTTPScan.headEnd($0, limit: maxResponseHeadBytes, scanned: &scanned) }
                if end != nil { break }
                if available > maxResponseHeadBytes { throw NetError("\(label) sent a response head larger than \(maxResponseHeadBytes) bytes") }
                guard try fill() else { throw NetError("\(label) closed the connection without answering") }
            }
            let (headEnd, bodyStart) = end!
            var statusLine = ""
            headers = [:]
            scan { buf in
                var (lf, le) = HTTPScan.lineEnd(buf, from: 0, headEnd: headEnd)
                statusLine = HTTPScan.string(buf, 0, le)
                var p = lf + 1
                while p <= headEnd && lf < headEnd {
                    (lf, le) = HTTPScan.lineEnd(buf, from: p, headEnd: headEnd)
                    // A line that is no field is skipped: the server's problem, not ours.
                    if case .field(let name, let value) = HTTPScan.field(buf, from: p, to: le) { headers[name] = value }
                    p = lf + 1
                }
            }
            guard let st = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
                throw NetError("\(label) sent a malformed status line")
            }
            status = st
            http11 = statusLine.hasPrefix("HTTP/1.1 ")
            start += bodyStart
        } while status >= 100 && status < 200 && status != 101
        let keepAlive = http11 && headers["connection"]?.lowercased().contains("close") != true
        if method == "HEAD" || status == 204 || status == 304 { return (HTTPClientResponse(status: status, headers: headers, body: body), keepAlive && available == 0) }
        if file != nil && status / 100 != 2 { keepOnly = Self.errorBodyKeep }
        if let file, status / 100 == 2 {
            do throws(Errno) { out = try Sys.openWrite(file) } catch { throw NetError("cannot write '\(file)': \(error.message)", code: error.code) }
            outPath = file
        }
        defer { if out >= 0 { Sys.close(out); out = -1 } }
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            try readChunked()
            return (HTTPClientResponse(status: status, headers: headers, body: body), keepAlive && available == 0)
        }
        if let cl = headers["content-length"], let n = Int(cl) {
            if out < 0 && keepOnly == Int.max {
                guard n <= maxBody else { throw tooLarge() }
                body.reserveCapacity(min(n, 1 << 26))
            }
            var left = n
            while true {
                let take = min(left, available)
                try emit(take)
                left -= take
                if left == 0 { break }
                guard try fill() else { throw NetError("\(label): response ended \(left) bytes early") }
            }
            return (HTTPClientResponse(status: status, headers: headers, body: body), keepAlive && available == 0)
        }
        // No length: the body runs to the end of the connection.
        repeat { try emit(available) } while try fill()
        return (HTTPClientResponse(status: status, headers: headers, body: body), false)
    }

    /// A chunked body (RFC 9112 §7.1), strictly, as the server reads one; chunk data is passed
    /// on as it arrives (a large chunk is never held whole).
    mutating func readChunked() throws {
        while true {
            var size = 0
            while true {
                switch scan({ HTTPScan.chunkLine($0, at: 0, cap: Int.max) }) {
                case .incomplete(let tooLong):
                    if tooLong { throw malformed("chunk size line longer than \(maxChunkLineBytes) bytes") }
                    try more()
                    continue
                case .malformed(let why): throw malformed(why)
                case .size(let s, let dataStart): size = s; start += dataStart
                }
                break
            }
            if size == 0 {
                while true {
                    switch scan({ HTTPScan.trailers($0, from: 0, maxBytes: 64 << 10) }) {
                    case .incomplete: try more(); continue
                    case .failure(_, let why): throw malformed(why)
                    case .end(let end): start += end; return
                    }
                }
            }
            var left = size
            while left > 0 {
                if available == 0 { try more() }
                let take = min(left, available)
                try emit(take)
                left -= take
            }
            while true {
                switch scan({ HTTPScan.crlfAfterData($0, at: 0) }) {
                case nil: try more(); continue
                case false?: throw malformed("chunk data not followed by CRLF")
                case true?: start += 2
                }
                break
            }
        }
    }

    func malformed(_ why: String) -> NetError { NetError("\(label): malformed chunked response (\(why))") }

    mutating func more() throws { guard try fill() else { throw NetError("\(label): truncated chunked response") } }
}
