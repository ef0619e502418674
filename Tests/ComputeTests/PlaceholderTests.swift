import XCTest
@testable import Compute

final class ComputePlaceholderTests: XCTestCase {
    func testModuleLoads() { XCTAssertNotNil(Compute.self) }
}
