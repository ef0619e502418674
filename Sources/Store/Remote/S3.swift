#if canImport(Glibc)
import Glibc
#endif
import Net
import Support

/// An S3 bucket and prefix (`s3://BUCKET/PREFIX`), on AWS (`https://s3.REGION.amazonaws.com`)
/// or any S3-compatible server (`--endpoint http[s]://host[:port]`): virtual-hosted
/// addressing on AWS, path-style on other servers. https goes through OpenSSL's libssl, loaded at run time, with the certificate
/// and host name always verified (`caFile`, which the CLI takes from AWS_CA_BUNDLE, else SSL_CERT_FILE, names a CA file to trust
/// instead of the system's). Requests are signed with Signature V4 (HMAC-SHA256 from
/// libcrypto) and travel over kept-alive connections. Conditional writes use
/// `If-None-Match: *` (create only) and `If-Match: ETAG` (compare and swap); a server that
/// answers 412 refuses the write.
public struct S3Transport: RemoteTransport {
    public let bucket: String
    public let prefix: String
    public let endpointHost: String
    public let endpointPort: Int
    /// https (TLS) rather than plain http.
    public let endpointTLS: Bool
    public let region: String
    let signer: SigV4Signer?
    let pathStyle: Bool
    /// The Host header, as sent and signed: HOST, or HOST:PORT when the port is not the
    /// scheme's default (443 for https, 80 for http).
    let hostHeader: String
    /// A PEM file of CAs to trust for https instead of the system's (nil: the system's).
    let caFile: String?

    public var display: String { "s3://\(bucket)/\(prefix)" }

    /// `url` is s3://BUCKET[/PREFIX]; `endpoint` an http[s]://HOST[:PORT] URL (default: AWS's
    /// regional endpoint for `region`, default us-east-1).
    public init(url: String, endpoint: String?, region: String?, credentials: AWSCredentials?, caFile: String? = nil) throws {
        self.caFile = caFile
        guard url.hasPrefix("s3://") else { throw RemoteError(.open, subject: url, "'\(url)' is not an s3:// URL") }
        let rest = url.dropFirst(5)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        bucket = String(rest[..<slash])
        var p = slash == rest.endIndex ? "" : String(rest[rest.index(after: slash)...])
        while p.hasSuffix("/") { p.removeLast() }
        prefix = p
        guard !bucket.isEmpty else { throw RemoteError(.open, subject: url, "'\(url)' names no bucket") }
        let reg = region ?? "us-east-1"
        self.region = reg
        signer = credentials.map { SigV4Signer(credentials: $0, region: reg) }
        let ep: HTTPURL
        if let endpoint {
            do { ep = try HTTPURL(endpoint) } catch {
                throw RemoteError(.open, subject: endpoint, "endpoint '\(endpoint)': use http://HOST[:PORT] or https://HOST[:PORT]")
            }
        } else {
            do { ep = try HTTPURL(Self.awsEndpoint(region: reg)) } catch { throw RemoteError(.open, subject: reg, "'\(reg)' is not a valid AWS region") }
        }
        // AWS itself: virtual-hosted addressing (BUCKET.s3.REGION.amazonaws.com), AWS's
        // preferred form, when the bucket name is a valid DNS label (no dots, which would
        // not match the wildcard certificate); path-style otherwise and on custom endpoints.
        let virtual = endpoint == nil && Self.isDNSLabel(bucket)
        endpointHost = virtual ? bucket + "." + ep.host : ep.host
        endpointPort = ep.port
        endpointTLS = ep.tls
        hostHeader = virtual ? bucket + "." + ep.hostHeader : ep.hostHeader
        pathStyle = !virtual
    }

    /// 3–63 lowercase letters, digits and hyphens, starting and ending with a letter or digit.
    static func isDNSLabel(_ b: String) -> Bool {
        let u = Array(b.utf8)
        guard u.count >= 3, u.count <= 63, u.first != 45, u.last != 45 else { return false }
        return u.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
    }

    /// The request path (before encoding) of `key` (nil: the bucket itself).
    func requestPath(_ key: String?) -> String {
        var path = pathStyle ? "/" + bucket : ""
        if let key { path += "/" + objectKey(key) }
        return path.isEmpty ? "/" : path
    }

    /// AWS's regional S3 endpoint (path-style requests work on every bucket there).
    public static func awsEndpoint(region: String) -> String {
        "https://s3.\(region).amazonaws.com" + (region.hasPrefix("cn-") ? ".cn" : "")
    }

    func objectKey(_ key: String) -> String { prefix.isEmpty ? key : prefix + "/" + key }

    /// Sends a signed request. `path` is the object key (nil: the bucket itself).
    func request(_ method: String, key: String?, query: [(String, String)] = [], headers: [String: String] = [:],
                 body: HTTPConnection.Body? = nil, payloadHash: String? = nil, responseTo file: String? = nil,
                 maxBody: Int = HTTPConnection.defaultMaxBody, timeout: Double = 120, attempts: Int = 4) throws -> HTTPConnection.Response {
        let encodedPath = SigV4Signer.encode(requestPath(key), encodeSlash: false)
        var h = headers
        h["host"] = hostHeader
        let hash: String
        if let payloadHash { hash = payloadHash } else {
            switch body {
            case .bytes(let b)?: hash = Hex.encode(SHA256Hasher.digest(b))
            case .file?: hash = "UNSIGNED-PAYLOAD"
            case nil: hash = Hex.encode(SHA256Hasher.digest([UInt8]()))
            }
        }
        if let signer {
            h = signer.sign(method: method, path: encodedPath, query: query, headers: h, payloadHash: hash, date: SigV4Signer.now())
        }
        var target = encodedPath
        if !query.isEmpty {
            target += "?" + query.map { "\(SigV4Signer.encode($0.0, encodeSlash: true))=\(SigV4Signer.encode($0.1, encodeSlash: true))" }.joined(separator: "&")
        }
        let conn = HTTPConnection(host: endpointHost, port: endpointPort, timeout: timeout, tls: endpointTLS, caFile: caFile)
        var lastError: Error? = nil
        let last = max(1, attempts) - 1
        // Retry transient failures (connection errors, 5xx) a few times with back-off; not
        // permanent ones: a TLS refusal (an untrusted certificate stays untrusted) is the
        // connection's, an answer over `maxBody` (code 0) is the read's.
        for attempt in 0...last {
            do {
                let r = try conn.send(method: method, target: target, headers: h, body: body, responseTo: file, maxBody: maxBody)
                if r.status >= 500 && attempt < last { usleep(UInt32(100_000 << attempt)); continue }
                return r
            } catch let e as NetError where e.permanent {
                throw e.code == 0 ? RemoteError(.read, remote: display, subject: key, e.message) : RemoteError(.connect, e.message)
            } catch let e as NetError {
                lastError = RemoteError(.connect, e.message)
                if attempt < last { usleep(UInt32(100_000 << attempt)) }
            } catch {
                lastError = error
                if attempt < last { usleep(UInt32(100_000 << attempt)) }
            }
        }
        throw lastError ?? RemoteError(.connect, remote: display, "request failed")
    }

    func fail(_ what: String, _ r: HTTPConnection.Response) -> RemoteError {
        let text = String(decoding: r.body.prefix(2000), as: UTF8.self)
        let code = xmlValue(text, "Code") ?? "HTTP \(r.status)"
        let msg = xmlValue(text, "Message").map { ": \($0)" } ?? ""
        // AWS answers 301 for a bucket in another region than the endpoint's, and says which.
        let hint = r.headers["x-amz-bucket-region"].flatMap { $0 == region ? nil : "; the bucket is in \($0), use --region \($0)" } ?? ""
        // `what` is "listing", "reading 'KEY'", "creating bucket 'B'"…: its verb gives the
        // operation, its quoted part the key.
        let op: RemoteError.Operation
        switch what.prefix(while: { $0 != " " }) {
        case "listing": op = .list
        case "reading", "downloading": op = .read
        case "deleting": op = .delete
        default: op = .write
        }
        let subject = what.split(separator: "'", omittingEmptySubsequences: false).dropFirst().first.map(String.init)
        return RemoteError(op, remote: display, subject: subject, "\(what) failed (\(code)\(msg))\(hint)")
    }

    public func list(_ keyPrefix: String) throws -> [RemoteObject] {
        var out: [RemoteObject] = []
        var token: String? = nil
        let full = objectKey(keyPrefix)
        repeat {
            var q: [(String, String)] = [("list-type", "2"), ("prefix", full)]
            if let token { q.append(("continuation-token", token)) }
            let r = try request("GET", key: nil, query: q)
            guard r.status == 200 else {
                if r.status == 404 { throw RemoteError(.open, remote: display, subject: bucket, "bucket '\(bucket)' does not exist") }
                throw fail("listing", r)
            }
            let text = String(decoding: r.body, as: UTF8.self)
            for item in xmlBlocks(text, "Contents") {
                guard let k = xmlValue(item, "Key").map(xmlUnescape) else { continue }
                let rel = prefix.isEmpty ? k : String(k.dropFirst(prefix.count + 1))
                out.append(RemoteObject(key: rel, size: Int(xmlValue(item, "Size") ?? "0") ?? 0, tag: xmlValue(item, "ETag").map(xmlUnescape) ?? "",
                                        modified: xmlValue(item, "LastModified").flatMap(ISOTime.parse)))
            }
            token = xmlValue(text, "IsTruncated") == "true" ? xmlValue(text, "NextContinuationToken").map(xmlUnescape) : nil
        } while token != nil
        return out.sorted { $0.key < $1.key }
    }

    public func get(_ key: String) throws -> (data: [UInt8], tag: String)? {
        let r = try request("GET", key: key)
        if r.status == 404 { return nil }
        guard r.status == 200 else { throw fail("reading '\(key)'", r) }
        return (r.body, r.headers["etag"] ?? "")
    }

    public func get(_ key: String, range: Range<Int>) throws -> [UInt8] {
        // A 206 answer holds the range: a longer body is refused as it arrives. A server that
        // ignores Range answers 200 with the object from its start; that is accepted only
        // when it fits the same bound (an object no longer than the range).
        let r = try request("GET", key: key, headers: ["range": "bytes=\(range.lowerBound)-\(range.upperBound - 1)"], maxBody: range.count)
        guard r.status == 206 || r.status == 200 else { throw fail("reading '\(key)'", r) }
        if r.status == 200 { return Array(r.body[range.clamped(to: 0..<r.body.count)]) }
        return r.body
    }

    @discardableResult
    public func put(_ key: String, _ data: [UInt8], condition: WriteCondition) throws -> Bool {
        var h: [String: String] = ["content-type": "application/octet-stream"]
        switch condition {
        case .none: break
        case .absent: h["if-none-match"] = "*"
        case .tag(let t): h["if-match"] = t
        }
        let r = try request("PUT", key: key, headers: h, body: .bytes(data))
        if r.status == 412 || r.status == 409 { return false }
        guard r.status == 200 else { throw fail("writing '\(key)'", r) }
        return true
    }

    public func putFile(_ key: String, path: String) throws {
        guard let st = FS.stat(path) else { throw RemoteError(.read, subject: path, "cannot read '\(path)'") }
        // Sign the file's hash, so the server can reject a corrupted upload.
        let hasher = SHA256Hasher()
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RemoteError(.read, subject: path, "cannot read '\(path)'") }
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let r = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if r <= 0 { break }
            buf.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<r])) }
        }
        close(fd)
        let r = try request("PUT", key: key, headers: ["content-type": "application/octet-stream"],
                            body: .file(path: path, size: Int(st.size)), payloadHash: Hex.encode(hasher.finalize()))
        guard r.status == 200 else { throw fail("uploading '\(key)'", r) }
    }

    public func getFile(_ key: String, to path: String) throws {
        let r = try request("GET", key: key, responseTo: path)
        if r.status == 404 { throw RemoteError(.read, remote: display, subject: key, "'\(key)' is missing") }
        guard r.status == 200 else { throw fail("downloading '\(key)'", r) }
    }

    public func delete(_ key: String) throws {
        let r = try request("DELETE", key: key)
        guard r.status == 204 || r.status == 200 || r.status == 404 else { throw fail("deleting '\(key)'", r) }
    }

    /// Creates the bucket (tests and first pushes to a fresh server); fine if it exists.
    public func createBucket() throws {
        let r = try request("PUT", key: nil)
        guard r.status == 200 || r.status == 409 else { throw fail("creating bucket '\(bucket)'", r) }
    }
}

func xmlValue(_ text: String, _ tag: String) -> String? {
    guard let a = text.remoteFind("<\(tag)>", from: text.startIndex), let b = text.remoteFind("</\(tag)>", from: a.upperBound) else { return nil }
    return String(text[a.upperBound..<b.lowerBound])
}

func xmlBlocks(_ text: String, _ tag: String) -> [String] {
    var out: [String] = []
    var start = text.startIndex
    while let a = text.remoteFind("<\(tag)>", from: start),
          let b = text.remoteFind("</\(tag)>", from: a.upperBound) {
        out.append(String(text[a.upperBound..<b.lowerBound]))
        start = b.upperBound
    }
    return out
}

func xmlUnescape(_ s: String) -> String {
    s.remoteReplacing("&quot;", "\"").remoteReplacing("&apos;", "'").remoteReplacing("&lt;", "<")
        .remoteReplacing("&gt;", ">").remoteReplacing("&amp;", "&")
}

extension String {
    func remoteFind(_ needle: String, from: String.Index) -> Range<String.Index>? {
        let hay = self[from..<endIndex]
        guard !needle.isEmpty else { return nil }
        var i = hay.startIndex
        let first = needle.first!
        while i < hay.endIndex {
            if hay[i] == first, hay[i...].hasPrefix(needle) {
                return i..<index(i, offsetBy: needle.count)
            }
            i = index(after: i)
        }
        return nil
    }

    func remoteReplacing(_ a: String, _ b: String) -> String {
        guard !a.isEmpty else { return self }
        var out = ""
        var from = startIndex
        while let r = remoteFind(a, from: from) {
            out += self[from..<r.lowerBound]
            out += b
            from = r.upperBound
        }
        return out + self[from...]
    }
}
