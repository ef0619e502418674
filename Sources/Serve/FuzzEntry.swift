// A public door to the internal HTTP parser for the fuzz targets (fuzz/, FuzzHarness) and
// their seed test. The server does not use it.

/// What `FuzzEntry.parseHTTP` found at one step of a connection's buffer.
public enum HTTPFuzzStep: Sendable {
    case incomplete(expectsContinue: Bool)
    case request(HTTPRequest, consumed: Int)
    case failure(status: Int)
}

public enum FuzzEntry {
    /// Parses one request from the front of `bytes`, exactly as a connection does.
    public static func parseHTTP(_ bytes: UnsafeBufferPointer<UInt8>, maxHeaderBytes: Int, maxBodyBytes: Int) -> HTTPFuzzStep {
        switch parseRequest(bytes, limits: HTTPLimits(maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes)) {
        case .incomplete(let c, _): return .incomplete(expectsContinue: c)
        case .request(let r, let used): return .request(r, consumed: used)
        case .failure(let status, _): return .failure(status: status)
        }
    }
}
