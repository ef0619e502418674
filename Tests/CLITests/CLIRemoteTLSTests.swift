import Foundation
import XCTest
import TestHelpers

/// An S3 remote over https: moto in server mode with a self-signed certificate (made with the
/// `openssl` command), trusted through AWS_CA_BUNDLE or SSL_CERT_FILE. Skipped where moto,
/// boto3, openssl or libssl is missing.
final class CLIRemoteTLSTests: CLITestCase {
    var moto: Process?
    var motoPort = 0
    var cert = ""

    override func tearDownWithError() throws {
        if let m = moto, m.isRunning { m.terminate(); m.waitUntilExit() }
        try super.tearDownWithError()
    }

    /// A self-signed certificate (for 127.0.0.1 and localhost unless `san` says otherwise);
    /// moto serving https with it.
    func startMotoTLS(san: String = "IP:127.0.0.1,DNS:localhost") throws {
        guard tool(["python3", "-c", "import moto.server, boto3"]).code == 0 else {
            throw XCTSkip("moto[server] and boto3 are not installed (pip install 'moto[server]' boto3)")
        }
        cert = base.appendingPathComponent("cert.pem").path
        let key = base.appendingPathComponent("key.pem").path
        guard tool(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", key, "-out", cert, "-addext", "subjectAltName=" + san]).code == 0 else {
            throw XCTSkip("no openssl command")
        }
        motoPort = freeLoopbackPort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(motoPort), "-c", cert, "-k", key]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        moto = p
        // Ready once it answers https (the probe checks the chain, not the name).
        let probe = "import ssl, urllib.request; c = ssl.create_default_context(cafile='\(cert)'); c.check_hostname = False; urllib.request.urlopen('https://127.0.0.1:\(motoPort)/', context=c)"
        for _ in 0..<100 {
            if tool(["python3", "-c", probe]).code == 0 { return }
            usleep(100_000)
        }
        throw XCTSkip("moto did not start with https")
    }

    func testS3OverHTTPSPushCloneAndVerification() throws {
        try startMotoTLS()
        let endpoint = "https://127.0.0.1:\(motoPort)"
        var env = s3Env
        env["AWS_CA_BUNDLE"] = cert
        XCTAssertEqual(tool(["python3", "-c", "import boto3; boto3.client('s3', endpoint_url='\(endpoint)', verify='\(cert)').create_bucket(Bucket='ml-team')"],
                            env: s3Env).code, 0)
        let a = dir("a")
        ok("init", in: a)
        var g = SplitMix(seed: 44)
        try Data((0..<3_000_000).map { _ in UInt8.random(in: 0...255, using: &g) }).write(to: a.appendingPathComponent("data.bin"))
        try Data("hello\n".utf8).write(to: a.appendingPathComponent("a.txt"))
        try FileManager.default.createDirectory(at: a.appendingPathComponent("sub"), withIntermediateDirectories: true)
        for i in 0..<20 { try Data("small \(i)\n".utf8).write(to: a.appendingPathComponent("sub/f\(i).txt")) }
        ok("add", ".", in: a)
        ok("commit", "-m", "one", in: a)
        ok("remote", "add", "origin", "s3://ml-team/projects/demo", "--endpoint", endpoint, in: a)

        // Without the CA bundle the self-signed certificate is refused: one line, non-zero.
        var r = runResult(["push"], in: a, env: s3Env)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("https://127.0.0.1:\(motoPort): certificate verify failed"), r.err)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
        XCTAssertEqual(tool(["python3", "-c", "import boto3; print(boto3.client('s3', endpoint_url='\(endpoint)', verify='\(cert)').list_objects_v2(Bucket='ml-team').get('KeyCount', 0))"],
                            env: s3Env).out.trimmingCharacters(in: .whitespacesAndNewlines), "0", "nothing was sent")

        // With it, push and clone; the clone's files are byte-identical.
        r = runResult(["push"], in: a, env: env)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("[new] main -> main"), r.err)
        let b = base.appendingPathComponent("b")
        r = runResult(["clone", "s3://ml-team/projects/demo", b.path, "--endpoint", endpoint], in: base, env: env)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(head(b), head(a))
        let want = listFiles(a), got = listFiles(b)
        XCTAssertEqual(Set(got.keys), Set(want.keys))
        for (k, v) in want { XCTAssertEqual(got[k], v, k) }
        XCTAssertTrue(ok("fsck", in: b).contains(": ok"))

        // A lazy clone over https: ranged GETs on kept-alive TLS connections.
        let l = base.appendingPathComponent("lazy")
        r = runResult(["clone", "--lazy", "--no-checkout", "s3://ml-team/projects/demo", l.path, "--endpoint", endpoint], in: base, env: env)
        XCTAssertEqual(r.code, 0, r.err)
        r = runResult(["checkout", "main", "--", "sub"], in: l, env: env)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try String(contentsOf: l.appendingPathComponent("sub/f7.txt"), encoding: .utf8), "small 7\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: l.appendingPathComponent("data.bin").path))
        XCTAssertTrue(ok("fsck", in: l).contains("not fetched"))

        // By name (the certificate's DNS entry), trusted through SSL_CERT_FILE.
        var byName = s3Env
        byName["SSL_CERT_FILE"] = cert
        r = runResult(["clone", "s3://ml-team/projects/demo", base.appendingPathComponent("c").path, "--endpoint", "https://localhost:\(motoPort)"],
                      in: base, env: byName)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try Data(contentsOf: base.appendingPathComponent("c/data.bin")), try Data(contentsOf: a.appendingPathComponent("data.bin")))

        // A second push over https sends only the new objects; the clone pulls them.
        try Data("hello\nmore\n".utf8).write(to: a.appendingPathComponent("a.txt"))
        ok("add", "a.txt", in: a); ok("commit", "-m", "two", in: a)
        r = runResult(["push"], in: a, env: env)
        XCTAssertEqual(r.code, 0, r.err)
        r = runResult(["pull"], in: b, env: env)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try String(contentsOf: b.appendingPathComponent("a.txt"), encoding: .utf8), "hello\nmore\n")

        // No libssl: https fails with a one-line explanation (plain http would still work).
        var noSSL = env
        noSSL["MLREPO_TEST_LIBSSL"] = "libmlrepo-no-such-libssl.so"
        r = runResult(["fetch"], in: b, env: noSSL)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("https needs OpenSSL's libssl.so.3"), r.err)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
    }

    func testCertificateForAnotherNameIsRefused() throws {
        try startMotoTLS(san: "DNS:other.example")
        var env = s3Env
        env["AWS_CA_BUNDLE"] = cert
        // Trusted, but issued to another name: refused by address and by name.
        for (host, reason) in [("127.0.0.1", "IP address mismatch"), ("localhost", "hostname mismatch")] {
            let r = runResult(["clone", "s3://ml-team/x", base.appendingPathComponent("c-" + host).path, "--endpoint", "https://\(host):\(motoPort)"],
                              in: base, env: env)
            XCTAssertNotEqual(r.code, 0)
            XCTAssertEqual(r.err, "error: https://\(host):\(motoPort): certificate verify failed (\(reason))\n")
        }
    }
}
