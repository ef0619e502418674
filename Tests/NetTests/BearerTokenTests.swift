import XCTest
@testable import Net

final class BearerTokenTests: XCTestCase {
    func testMatchesOnlyAGivenTokenAndNeverTheEmptyOne() {
        let t = BearerTokens(["alpha", "beta"])
        XCTAssertTrue(t.matches("alpha"))
        XCTAssertTrue(t.matches("beta"))
        XCTAssertFalse(t.matches("alph"))
        XCTAssertFalse(t.matches(""))
        XCTAssertFalse(BearerTokens([""]).matches(""))
        XCTAssertTrue(BearerTokens([]).isEmpty)
    }

    func testCookieValueByName() {
        let r = HTTPRequest(method: "GET", path: "/", query: "", headers: [("cookie", "a=1; mlrepo_ui_token=xyz ;b=2"), ("cookie", "c=3")], body: [], http11: true)
        XCTAssertEqual(r.cookie("mlrepo_ui_token"), "xyz")
        XCTAssertEqual(r.cookie("c"), "3")
        XCTAssertNil(r.cookie("mlrepo"))
    }
}
