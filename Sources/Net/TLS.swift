// The Swift side of TLS. The C part (Sources/CShims/tls.c) loads OpenSSL's libssl at run time
// with dlopen, so nothing links it; the client's sessions live in `HTTPStream`
// (HTTPClient.swift), the server's here.

/// Whether libssl can be loaded (once); the reason when it cannot.
public func tlsAvailable() -> (available: Bool, reason: String) { Sys.tlsAvailable() }

/// A server's TLS context: a PEM certificate chain and private key (TLS 1.2+, no
/// renegotiation).
public final class TLSServerContext: @unchecked Sendable {
    let ctx: UnsafeMutableRawPointer

    /// Throws a one-line `NetError` when the files cannot be used (or libssl is missing).
    public init(certificate: String, key: String) throws {
        let (ctx, why) = Sys.tlsServerNew(certificate: certificate, key: key)
        guard let ctx else { throw NetError(why, permanent: true) }
        self.ctx = ctx
    }

    deinit { Sys.tlsServerFree(ctx) }

    /// A session in accept state over the accepted non-blocking socket `fd` (nil: failed).
    public func session(_ fd: Int32) -> TLSServerSession? {
        Sys.tlsServerSession(ctx, fd).map(TLSServerSession.init)
    }
}

/// One server connection's TLS session (not owned: `free` it once). The threads that use it
/// block SIGPIPE (`ServerThreads.blockSIGPIPE`).
public struct TLSServerSession {
    let s: UnsafeMutableRawPointer

    public enum Handshake { case done, wait(wantRead: Bool), failed }

    /// Advances the handshake.
    public func handshake() -> Handshake {
        switch Sys.tlsServerHandshake(s) {
        case 1: return .done
        case -2: return .wait(wantRead: true)
        case -3: return .wait(wantRead: false)
        default: return .failed
        }
    }

    /// Reads decrypted bytes into `buffer`.
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        Self.result(Sys.tlsServerRead(s, buffer))
    }

    /// Writes some of `bytes` (after a `.wait`, the retry must pass the same bytes and length).
    public func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        Self.result(Sys.tlsServerWrite(s, bytes))
    }

    static func result(_ r: Int) -> IOResult {
        if r >= 0 { return .done(r) }
        if r == -2 { return .wait(wantRead: true) }
        if r == -3 { return .wait(wantRead: false) }
        return .failed
    }

    /// Frees the session, first sending close_notify (one try) when `notify`.
    public func free(notify: Bool) { Sys.tlsSessionFree(s, notify: notify) }
}
