import XCTest
final class PlaceholderSupportTests: XCTestCase { func testNothing() {} }
