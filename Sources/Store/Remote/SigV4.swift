import Support

/// AWS credentials: given directly (the CLI takes them from the standard environment
/// variables), else a profile of the shared credentials file (`S3Settings`).
public struct AWSCredentials: Sendable, Equatable {
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
        self.accessKey = accessKey; self.secretKey = secretKey; self.sessionToken = sessionToken
    }

    /// Finds credentials in an environment's AWS variables, else in a profile of its shared
    /// credentials file; nil when there are none (anonymous requests).
    public static func discover(profile: String? = nil, env: [String: String]) -> AWSCredentials? {
        discover(profile: profile, settings: S3Settings(environment: env))
    }

    /// The credentials `settings` give directly, else `profile` (or the settings' profile, or
    /// "default") of the settings' credentials file; nil when there are none.
    public static func discover(profile: String?, settings: S3Settings) -> AWSCredentials? {
        if let c = settings.credentials { return c }
        guard let file = settings.credentialsFile, let text = try? FS.readText(file) else { return nil }
        let want = profile ?? settings.profile ?? "default"
        var section = "", values: [String: String] = [:]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = String(raw).trimmed(" \t")
            if line.hasPrefix("#") || line.hasPrefix(";") || line.isEmpty { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmed(" \t")
                continue
            }
            guard section == want, let eq = line.firstIndex(of: "=") else { continue }
            values[String(line[..<eq]).trimmed(" \t").lowercased()] = String(line[line.index(after: eq)...]).trimmed(" \t")
        }
        guard let a = values["aws_access_key_id"], let s = values["aws_secret_access_key"] else { return nil }
        return AWSCredentials(accessKey: a, secretKey: s, sessionToken: values["aws_session_token"])
    }
}

/// AWS Signature Version 4 for S3 requests (header-based, signed payload hash).
public struct SigV4Signer: Sendable {
    public let credentials: AWSCredentials
    public let region: String
    public let service: String

    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials; self.region = region; self.service = service
    }

    /// RFC 3986 percent-encoding as SigV4 wants it (unreserved characters kept; "/" kept in
    /// paths when `slash` is false).
    public static func encode(_ s: String, encodeSlash: Bool) -> String { Percent.encode(s, keepSlash: !encodeSlash) }

    /// The headers to add to a request: x-amz-date, x-amz-content-sha256, (x-amz-security-token),
    /// Authorization. `path` is the encoded absolute path; `query` is name → value (unencoded);
    /// `headers` are the other headers to sign (host included), names lowercase.
    public func sign(method: String, path: String, query: [(String, String)], headers: [String: String],
                     payloadHash: String, date: (amz: String, day: String)) -> [String: String] {
        var h = headers
        h["x-amz-date"] = date.amz
        h["x-amz-content-sha256"] = payloadHash
        if let t = credentials.sessionToken { h["x-amz-security-token"] = t }
        let canonicalQuery = query.map { (SigV4Signer.encode($0.0, encodeSlash: true), SigV4Signer.encode($0.1, encodeSlash: true)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let names = h.keys.map { $0.lowercased() }.sorted()
        let canonicalHeaders = names.map { n in "\(n):\(h[n]!.trimmed(" \t"))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonicalRequest = [method, path, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        let scope = "\(date.day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", date.amz, scope, Hex.encode(SHA256Hasher.digest(Array(canonicalRequest.utf8)))].joined(separator: "\n")
        var key = hmacSHA256(key: Array(("AWS4" + credentials.secretKey).utf8), data: Array(date.day.utf8))
        key = hmacSHA256(key: key, data: Array(region.utf8))
        key = hmacSHA256(key: key, data: Array(service.utf8))
        key = hmacSHA256(key: key, data: Array("aws4_request".utf8))
        let signature = Hex.encode(hmacSHA256(key: key, data: Array(stringToSign.utf8)))
        h["authorization"] = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return h
    }

    /// Now, as SigV4's "yyyyMMdd'T'HHmmss'Z'" and "yyyyMMdd".
    public static func now() -> (amz: String, day: String) {
        let t = Int64(Clock.wallSeconds())
        return format(unixSeconds: t)
    }

    public static func format(unixSeconds t: Int64) -> (amz: String, day: String) {
        let c = CivilTime(unixSeconds: t), p = CivilTime.pad
        let day = p(c.year, 4) + p(c.month, 2) + p(c.day, 2)
        return (day + "T" + p(c.hour, 2) + p(c.minute, 2) + p(c.second, 2) + "Z", day)
    }
}

extension String {
    init(format2 b: UInt8) {
        let digits = Array("0123456789ABCDEF")
        self = String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }
}
