import XCTest
@testable import Store
@testable import Support

/// What a host passes instead of the environment: the identity's order against the
/// repository's config, the settings that override the config, and the AWS variables.
final class StoreSettingsTests: XCTestCase {
    func testSignatureTakesOverridesThenTheRepositoryThenTheUsersOwnThenTheLogin() throws {
        let tmp = TempDir("settings"); defer { tmp.cleanup() }
        let bare = Identity(login: "ann", host: "box", time: 1_700_000_000)
        var repo = try Repository.create(at: tmp.path, settings: StoreSettings(fsync: false, identity: bare))
        XCTAssertEqual(repo.signature().name, "ann")
        XCTAssertEqual(repo.signature().email, "ann@box")
        XCTAssertEqual(repo.signature().time, 1_700_000_000)

        var mine = bare
        mine.userName = "Ann Global"; mine.userEmail = "ann@global"
        repo = try Repository(root: tmp.path, settings: StoreSettings(fsync: false, identity: mine))
        XCTAssertEqual(repo.signature().name, "Ann Global")
        try repo.setConfig("user.name", "Ann Repo")
        XCTAssertEqual(repo.signature().name, "Ann Repo", "the repository's config wins over the user's own")
        XCTAssertEqual(repo.signature().email, "ann@global")

        mine.name = "Override"; mine.email = "o@x"
        repo = try Repository(root: tmp.path, settings: StoreSettings(fsync: false, identity: mine))
        XCTAssertEqual(repo.signature().name, "Override")
        XCTAssertEqual(repo.signature().email, "o@x")
    }

    func testSettingsOverrideTheConfig() throws {
        let tmp = TempDir("settings"); defer { tmp.cleanup() }
        _ = try Repository.create(at: tmp.path)
        XCTAssertTrue(try Repository(root: tmp.path).durable, "core.fsync is true in a new repository")
        XCTAssertFalse(try Repository(root: tmp.path, settings: StoreSettings(fsync: false)).durable)
        XCTAssertEqual(try Repository(root: tmp.path, settings: StoreSettings(chunkAverage: "4096")).chunker.avgSize, 4096)
        XCTAssertEqual(try Repository(root: tmp.path, settings: StoreSettings(chunkAverage: "1000")).chunker.avgSize, Chunker.default.avgSize,
                       "an invalid size gives the default")
        XCTAssertFalse(try Repository(root: tmp.path, settings: StoreSettings(mapFiles: false)).store.mapFiles)
    }

    func testS3SettingsFromTheAWSVariables() {
        let s = S3Settings(environment: ["AWS_ENDPOINT_URL": "http://b:2", "AWS_ENDPOINT_URL_S3": "http://a:1", "AWS_DEFAULT_REGION": "eu-west-1",
                                         "AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": "",
                                         "AWS_PROFILE": "team", "HOME": "/h", "AWS_CA_BUNDLE": "", "SSL_CERT_FILE": "/ca.pem"])
        XCTAssertEqual(s, S3Settings(endpoint: "http://a:1", region: "eu-west-1", credentials: AWSCredentials(accessKey: "K", secretKey: "S"),
                                     credentialsFile: "/h/.aws/credentials", profile: "team", caFile: "/ca.pem"))
        XCTAssertEqual(S3Settings(environment: ["AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"]).region, "us-west-2")
        // Nothing set: anonymous, AWS's endpoint for us-east-1, the system's CAs.
        let none = S3Settings(environment: [:])
        XCTAssertNil(none.credentials); XCTAssertNil(none.endpoint); XCTAssertNil(none.region); XCTAssertNil(none.caFile)
    }
}
