import XCTest
@testable import Serve
import ML
import Support

/// `InputDecoder.fastRows` (the tensor form read without a JSON tree) gives bit for bit the
/// matrix the general decoder gives, and declines every body it does not fully understand,
/// so the general decoder answers those (and names their errors).
final class InputFastPathTests: XCTestCase {
    let decoder = InputDecoder(features: ["a", "b", "c"], label: "y")

    /// The general decoder alone (the fast path bypassed).
    func general(_ body: String) throws -> (x: [Float], rows: Int) {
        let doc = try JSON.parse(body)
        return try decoder.tensorInput(doc.objectValue!.values.first!, field: "inputs")
    }

    func testSameMatrixAsTheGeneralDecoder() throws {
        var rng = SplitMix64(seed: 42)
        let tokens = ["0", "-0", "-0.0", "1", "-17", "3.25", "1e3", "2.5E-3", "-1.0e+2", "123456789012345678", "9223372036854775807",
                      "99999999999999999999", "0.1", "3.4028235e38", "1.17549435e-38", "1e-50", "16777217", "0.30000000000000004"]
        for _ in 0..<200 {
            let rows = Int(rng.next() % 5) + 1
            var body = "{ \"" + (rng.next() % 2 == 0 ? "inputs" : "instances") + "\" :\n["
            for r in 0..<rows {
                body += (r > 0 ? " , " : "") + "[" + (0..<3).map { _ in tokens[Int(rng.next() % UInt64(tokens.count))] }.joined(separator: rng.next() % 2 == 0 ? "," : ", ") + "]"
            }
            body += "] }\n"
            let fast = try XCTUnwrap(decoder.fastRows(Array(body.utf8)), body)
            let slow = try general(body)
            XCTAssertEqual(fast.rows, slow.rows, body)
            XCTAssertEqual(fast.x.map(\.bitPattern), slow.x.map(\.bitPattern), body)
            XCTAssertEqual(try decoder.decodeJSON(Array(body.utf8)).x.map(\.bitPattern), slow.x.map(\.bitPattern))
        }
    }

    func testDeclinesWhatItDoesNotFullyUnderstand() {
        let declined = [
            #"{"inputs": [[1, 2]]}"#,                       // too few values: the general decoder names the row
            #"{"inputs": [[1, 2, 3, 4]]}"#,
            #"{"inputs": [[1, 2, "3"]]}"#,
            #"{"inputs": [[1, 2, null]]}"#,
            #"{"inputs": [[1, 2, 01]]}"#,
            #"{"inputs": [[1, 2, 1.]]}"#,
            #"{"inputs": [[1, 2, 1e400]]}"#,                // not finite as a float32
            #"{"inputs": [[1, 2, 3e38], [1, 2, 4e38]]}"#,
            #"{"inputs": [[1, 2, 3]], "params": {}}"#,
            #"{"inputs": [[1, 2, 3]]} x"#,
            #"{"inputs": [[1, 2, 3],]}"#,
            #"{"inputs": [[1, 2, 3]]"#,
            #"{"inputs": [{"a": 1, "b": 2, "c": 3}]}"#,
            #"{"dataframe_split": {"data": [[1, 2, 3]]}}"#,
            #"{"inp\"uts": [[1, 2, 3]]}"#,
            #"{"inputs": []}"#,
        ]
        for body in declined { XCTAssertNil(decoder.fastRows(Array(body.utf8)), body) }
        // And the general decoder answers them: a row of two values is refused by name.
        XCTAssertThrowsError(try decoder.decodeJSON(Array(declined[0].utf8))) { e in
            XCTAssertTrue((e as? InputError)?.message.contains("row 0 has 2 values") == true, "\(e)")
        }
    }
}
