import Foundation
import XCTest
@testable import Net
import Support

/// A scratch folder, removed by `cleanup`.
final class TempDir {
    let path: String
    init(_ tag: String) {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-\(tag)-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    func sub(_ p: String) -> String { path + "/" + p }
}

/// The HTTP client over https (libssl loaded at run time) and its kept-alive connections,
/// against Python's http.server (wrapped in ssl) with self-signed certificates from the
/// `openssl` command. Skipped where python3, openssl or libssl is missing.
final class HTTPClientTLSTests: XCTestCase {
    var dir: TempDir!
    var servers: [Process] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        let (available, reason) = tlsAvailable()
        guard available else { throw XCTSkip(reason) }
        dir = TempDir("tls")
    }

    override func tearDownWithError() throws {
        for s in servers where s.isRunning { s.terminate(); s.waitUntilExit() }
        dir?.cleanup()
        try super.tearDownWithError()
    }

    /// A self-signed certificate and key for `san` (an openssl subjectAltName value).
    func makeCertificate(_ name: String, san: String) throws -> String {
        let cert = dir.sub(name + ".pem"), key = dir.sub(name + ".key")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mlrepo test",
                       "-keyout", key, "-out", cert, "-addext", "subjectAltName=" + san]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw XCTSkip("no openssl command") }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw XCTSkip("openssl could not make a certificate") }
        return cert
    }

    static let server = """
    import http.server, json, ssl, sys, threading
    lock = threading.Lock()
    conns = [0]
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
        def setup(self):
            super().setup()
            with lock:
                conns[0] += 1
                self.conn = conns[0]
            self.n = 0
        def do_GET(self):
            self.n += 1
            if self.path == "/drop-second" and self.n > 1:
                self.close_connection = True   # read the request, close without answering
                return
            body = json.dumps({"conn": self.conn, "n": self.n, "host": self.headers.get("Host")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if self.path == "/chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                half = len(body) // 2
                for part in (body[:half], body[half:]):
                    self.wfile.write(b"%x\\r\\n" % len(part) + part + b"\\r\\n")
                self.wfile.write(b"0\\r\\nX-Trailer: yes\\r\\n\\r\\n")
            else:
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    if len(sys.argv) > 1:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[1], sys.argv[2])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()
    """

    /// Starts the test server (https with `cert` and its key, else plain http); its port.
    func startServer(cert: String?) throws -> Int {
        let script = dir.sub("server.py")
        try Self.server.write(toFile: script, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script] + (cert.map { [$0, String($0.dropLast(4)) + ".key"] } ?? [])
        let out = Pipe()
        p.standardOutput = out; p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw XCTSkip("no python3") }
        servers.append(p)
        var line = Data()
        while !line.contains(10) {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            line.append(d)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw XCTSkip("the python test server did not start")
        }
        return port
    }

    /// The CA file the requests of `withTrust` pass (Net reads no environment: the CLI
    /// resolves AWS_CA_BUNDLE, else SSL_CERT_FILE, and passes the file in).
    var trust: String?

    /// Runs `body` with its requests trusting `awsCABundle`, else `sslCertFile` (nil: the
    /// system's store), the order in which the CLI takes them from the environment.
    func withTrust<T>(awsCABundle: String?, sslCertFile: String? = nil, _ body: () throws -> T) rethrows -> T {
        let saved = trust
        trust = [awsCABundle, sslCertFile].lazy.compactMap { $0 }.first { !$0.isEmpty }
        defer { trust = saved }
        return try body()
    }

    /// `HTTPClient.get` with the CA file `withTrust` chose.
    func get(_ url: String, timeout: Double = 10) throws -> (status: Int, body: [UInt8]) {
        try HTTPClient.get(url, timeout: timeout, caFile: trust)
    }

    static func json(_ body: [UInt8]) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }
    func json(_ body: [UInt8]) -> [String: Any] { Self.json(body) }

    func errorText(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    func testHTTPSGetVerifiesTheCertificateAndReusesTheConnection() throws {
        let cert = try makeCertificate("server", san: "IP:127.0.0.1,DNS:localhost")
        let port = try startServer(cert: cert)
        try withTrust(awsCABundle: cert) {
            let a = try get("https://127.0.0.1:\(port)/one")
            XCTAssertEqual(a.status, 200)
            let ja = json(a.body)
            XCTAssertEqual(ja["host"] as? String, "127.0.0.1:\(port)")
            // The second request rides the same TLS connection.
            let b = try get("https://127.0.0.1:\(port)/two")
            let jb = json(b.body)
            XCTAssertEqual(jb["conn"] as? Int, ja["conn"] as? Int, "kept alive")
            XCTAssertEqual(jb["n"] as? Int, 2)
            // Chunked bodies (with a trailer) leave the connection reusable too.
            let c = json(try get("https://127.0.0.1:\(port)/chunked").body)
            XCTAssertEqual(c["conn"] as? Int, ja["conn"] as? Int)
            XCTAssertEqual(c["n"] as? Int, 3)
            XCTAssertEqual(json(try get("https://127.0.0.1:\(port)/four").body)["n"] as? Int, 4)
            // By name: SNI and the certificate's DNS name.
            XCTAssertEqual(try get("https://localhost:\(port)/x").status, 200)
        }
        // SSL_CERT_FILE when AWS_CA_BUNDLE is unset.
        try withTrust(awsCABundle: nil, sslCertFile: cert) {
            XCTAssertEqual(try get("https://127.0.0.1:\(port)/five").status, 200)
        }
        // The system's trust store does not know the certificate: refused, in one line. (A
        // connection verified against another trust store is not reused for this.)
        let e = withTrust(awsCABundle: nil) { errorText { try get("https://127.0.0.1:\(port)/six") } }
        XCTAssertTrue(e.hasPrefix("https://127.0.0.1:\(port): certificate verify failed ("), e)
        XCTAssertFalse(e.contains("\n"), e)
        // A CA file that does not exist.
        let m = withTrust(awsCABundle: dir.sub("missing.pem")) { errorText { try get("https://127.0.0.1:\(port)/") } }
        XCTAssertTrue(m.contains("missing.pem"), m)
        // Plain http to the TLS port fails without hanging.
        XCTAssertNotEqual(errorText { try get("http://127.0.0.1:\(port)/", timeout: 5) }, "no error")
    }

    func testCertificateForAnotherNameIsRefused() throws {
        let cert = try makeCertificate("other", san: "DNS:other.example")
        let port = try startServer(cert: cert)
        withTrust(awsCABundle: cert) {
            let ip = errorText { try get("https://127.0.0.1:\(port)/") }
            XCTAssertEqual(ip, "https://127.0.0.1:\(port): certificate verify failed (IP address mismatch)")
            let name = errorText { try get("https://localhost:\(port)/") }
            XCTAssertEqual(name, "https://localhost:\(port): certificate verify failed (hostname mismatch)")
        }
    }

    func testHTTPSToAPlainServerFails() throws {
        let port = try startServer(cert: nil)
        let e = errorText { try get("https://127.0.0.1:\(port)/", timeout: 5) }
        XCTAssertTrue(e.hasPrefix("https://127.0.0.1:\(port): TLS handshake failed"), e)
    }

    /// A kept-alive connection that the server closes instead of answering: the request is
    /// sent again on a fresh connection, over http and https.
    func testClosedKeptAliveConnectionIsRetried() throws {
        let cert = try makeCertificate("server", san: "IP:127.0.0.1")
        for tls in [false, true] {
            let port = try startServer(cert: tls ? cert : nil)
            let base = (tls ? "https" : "http") + "://127.0.0.1:\(port)"
            try withTrust(awsCABundle: cert) {
                let first = json(try get(base + "/first").body)
                XCTAssertEqual(first["n"] as? Int, 1)
                let again = try get(base + "/drop-second")
                XCTAssertEqual(again.status, 200)
                let j = json(again.body)
                XCTAssertNotEqual(j["conn"] as? Int, first["conn"] as? Int, "a fresh connection")
                XCTAssertEqual(j["n"] as? Int, 1)
                // And that fresh connection is kept in turn.
                XCTAssertEqual(json(try get(base + "/third").body)["conn"] as? Int, j["conn"] as? Int)
            }
        }
    }

    /// Parallel requests (as push and fetch make with -j) each take a connection of their own
    /// and put it back: all answered, over far fewer connections than requests.
    func testParallelRequestsShareThePool() throws {
        let cert = try makeCertificate("server", san: "IP:127.0.0.1")
        let port = try startServer(cert: cert)
        final class Seen: @unchecked Sendable { var conns = Set<Int>(); var failures: [String] = []; let lock = NSLock() }
        let seen = Seen()
        withTrust(awsCABundle: cert) {
            DispatchQueue.concurrentPerform(iterations: 4) { t in
                for i in 0..<15 {
                    do {
                        let r = try HTTPClient.get("https://127.0.0.1:\(port)/t\(t)/\(i)", caFile: cert)
                        let c = HTTPClientTLSTests.json(r.body)["conn"] as? Int ?? -1
                        seen.lock.lock(); seen.conns.insert(c); if r.status != 200 { seen.failures.append("status \(r.status)") }; seen.lock.unlock()
                    } catch {
                        seen.lock.lock(); seen.failures.append("\(error)"); seen.lock.unlock()
                    }
                }
            }
        }
        XCTAssertEqual(seen.failures, [])
        XCTAssertLessThanOrEqual(seen.conns.count, 8, "60 requests from 4 threads over \(seen.conns.count) connections")
    }
}
