import XCTest
@testable import Store
import Net

/// S3 endpoints: addressing style, ports and Host headers. (The HTTP client itself, over http
/// and https, is tested in NetTests/HTTPClientTLSTests.swift.)
final class RemoteHTTPTLSTests: XCTestCase {
    func testEndpointsAndHostHeaders() throws {
        func t(_ endpoint: String?, region: String? = "eu-west-1") throws -> S3Transport {
            try S3Transport(url: "s3://bucket/p", endpoint: endpoint, region: region, credentials: nil)
        }
        // AWS itself: virtual-hosted addressing, unless the bucket name has dots.
        var s = try t(nil)
        XCTAssertEqual([s.endpointHost, String(s.endpointPort), String(s.endpointTLS), s.hostHeader],
                       ["bucket.s3.eu-west-1.amazonaws.com", "443", "true", "bucket.s3.eu-west-1.amazonaws.com"])
        XCTAssertEqual([s.requestPath("refs/heads/main"), s.requestPath(nil)], ["/p/refs/heads/main", "/"])
        XCTAssertEqual(try t(nil, region: "cn-north-1").endpointHost, "bucket.s3.cn-north-1.amazonaws.com.cn")
        let dotted = try S3Transport(url: "s3://my.bucket/p", endpoint: nil, region: "us-east-1", credentials: nil)
        XCTAssertEqual([dotted.hostHeader, dotted.requestPath("HEAD")], ["s3.us-east-1.amazonaws.com", "/my.bucket/p/HEAD"])
        XCTAssertEqual(try t("http://127.0.0.1:9000").requestPath("HEAD"), "/bucket/p/HEAD")
        s = try t("https://minio.internal:9443")
        XCTAssertEqual([s.endpointHost, String(s.endpointPort), String(s.endpointTLS), s.hostHeader],
                       ["minio.internal", "9443", "true", "minio.internal:9443"])
        XCTAssertEqual(try t("https://minio.internal:443/").hostHeader, "minio.internal")
        XCTAssertEqual(try t("https://minio.internal").endpointPort, 443)
        XCTAssertEqual(try t("http://minio.internal").hostHeader, "minio.internal")
        XCTAssertEqual(try t("http://minio.internal:80").hostHeader, "minio.internal")
        XCTAssertEqual(try t("http://127.0.0.1:9000").hostHeader, "127.0.0.1:9000")
        s = try t("http://[::1]:9000")
        XCTAssertEqual([s.endpointHost, s.hostHeader, String(s.endpointTLS)], ["::1", "[::1]:9000", "false"])
        XCTAssertThrowsError(try t("ftp://host"))
        XCTAssertThrowsError(try t("https://host:99999"))
        XCTAssertThrowsError(try t("https://"))
        let u = try HTTPURL("https://example.com?x=1")
        XCTAssertEqual([u.target, u.hostHeader], ["/?x=1", "example.com"])
    }
}
