import XCTest
@testable import Store
import Support

final class RemoteSigV4Tests: XCTestCase {
    /// AWS's published example ("GET Object" in the S3 Signature Version 4 documentation);
    /// Example 10 of .mlrepo-format.md §12.2.
    func testAWSDocumentedGetObjectSignature() {
        let signer = SigV4Signer(credentials: AWSCredentials(accessKey: "AKIAIOSFODNN7EXAMPLE",
                                                             secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                                 region: "us-east-1")
        let h = signer.sign(method: "GET", path: "/test.txt", query: [],
                            headers: ["host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9"],
                            payloadHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                            date: ("20130524T000000Z", "20130524"))
        XCTAssertEqual(h["authorization"],
                       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    func testDateFormattingAndEncoding() {
        XCTAssertEqual(SigV4Signer.format(unixSeconds: 1369353600).amz, "20130524T000000Z")
        XCTAssertEqual(SigV4Signer.format(unixSeconds: 951782400 + 3723).amz, "20000229T010203Z")
        XCTAssertEqual(SigV4Signer.encode("a b/c~d+é", encodeSlash: false), "a%20b/c~d%2B%C3%A9")
        XCTAssertEqual(SigV4Signer.encode("a/b", encodeSlash: true), "a%2Fb")
    }

    func testCredentialsFromEnvironmentAndProfileFile() throws {
        let dir = try FS.makeTempDirectory(prefix: "creds")
        defer { FS.removeTree(dir) }
        try FS.atomicWrite(dir + "/credentials", text: "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n[team]\naws_access_key_id=A2\naws_secret_access_key=S2\naws_session_token = T2\n")
        XCTAssertEqual(AWSCredentials.discover(env: ["AWS_ACCESS_KEY_ID": "E", "AWS_SECRET_ACCESS_KEY": "F"]), AWSCredentials(accessKey: "E", secretKey: "F"))
        XCTAssertEqual(AWSCredentials.discover(env: ["AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials"]), AWSCredentials(accessKey: "A1", secretKey: "S1"))
        XCTAssertEqual(AWSCredentials.discover(profile: "team", env: ["AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials"]),
                       AWSCredentials(accessKey: "A2", secretKey: "S2", sessionToken: "T2"))
        XCTAssertNil(AWSCredentials.discover(env: ["HOME": dir]))
    }
}
