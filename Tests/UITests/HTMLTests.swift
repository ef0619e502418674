import XCTest
@testable import UI

final class HTMLTests: XCTestCase {
    func testEscapesEveryCharacterThatCouldOpenMarkup() {
        XCTAssertEqual(HTML.text("<script>alert('x')</script> & \"q\""),
                       "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;")
        XCTAssertEqual(HTML.text("plain ünïcode"), "plain ünïcode")
    }

    func testURLComponentsRoundTrip() {
        for s in ["a b&c=d/é", "<x>", "100%", "+"] {
            XCTAssertEqual(HTML.percentDecode(Substring(HTML.urlComponent(s))), s)
        }
        XCTAssertEqual(HTML.url("/compare", [("c", "a&b"), ("skip", nil), ("c", "é")]), "/compare?c=a%26b&c=%C3%A9")
        XCTAssertNil(HTML.percentDecode("%zz"))
        XCTAssertNil(HTML.percentDecode("%ff"))
    }

    func testQueryKeepsRepeatedValuesAndRejectsBadEscapes() throws {
        let q = try Query("c=1&c=2&filter=acc%3E0.9+%26%26+x&flag")
        XCTAssertEqual(q.all("c"), ["1", "2"])
        XCTAssertEqual(q["filter"], "acc>0.9 && x")
        XCTAssertEqual(q["flag"], "")
        XCTAssertNil(q["missing"])
        XCTAssertThrowsError(try Query("a=%e2%28"))
        XCTAssertThrowsError(try Query(Array(repeating: "a=1", count: Query.maxPairs + 1).joined(separator: "&")))
    }

    func testAllowedHostsFollowTheAddressListenedOn() {
        let lo = UIApp.allowedHosts(listeningOn: "127.0.0.2", port: 8765, extra: [])
        XCTAssertTrue(lo.isSuperset(of: ["127.0.0.2:8765", "127.0.0.1:8765", "localhost:8765", "[::1]:8765"]), "\(lo)")
        XCTAssertFalse(lo.contains("127.0.0.2"))
        XCTAssertEqual(UIApp.allowedHosts(listeningOn: "0.0.0.0", port: 8765, extra: []), [])
        XCTAssertEqual(UIApp.allowedHosts(listeningOn: "0.0.0.0", port: 8765, extra: ["Box"]), ["box:8765"])
        let v6 = UIApp.allowedHosts(listeningOn: "::1", port: 80, extra: [])
        XCTAssertTrue(v6.isSuperset(of: ["[::1]:80", "[::1]", "localhost"]), "\(v6)")
        XCTAssertEqual(UIApp.allowedHosts(listeningOn: "10.0.0.5", port: 9000, extra: []), ["10.0.0.5:9000"])
    }
}
