import Foundation
import XCTest

/// `mlrepo profile` and the CSV statistics in `mlrepo diff`, through the binary.
final class CLIProfileTests: CLITestCase {
    func json(_ s: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
    }

    func column(_ profile: [String: Any], _ name: String) throws -> [String: Any] {
        let cols = try XCTUnwrap(profile["columns"] as? [[String: Any]])
        return try XCTUnwrap(cols.first { $0["name"] as? String == name })
    }

    func testProfileOfAWorkTreeFileIsExactAndCached() throws {
        ok("init")
        write("data.csv", "id,price,city,flag\n1,10.5,Paris,true\n2,,Lyon,false\n3,20.5,Paris,true\n4,30,\"Nice, FR\",TRUE\n")
        let first = try json(ok("profile", "data.csv", "--json"))
        XCTAssertEqual(first["cached"] as? Bool, false)
        XCTAssertEqual(first["id"] as? String, ok("hash-object", "data.csv").trimmingCharacters(in: .whitespacesAndNewlines))
        let p = try XCTUnwrap(first["profile"] as? [String: Any])
        XCTAssertEqual(p["rows"] as? Int, 4)
        let price = try column(p, "price")
        XCTAssertEqual(price["type"] as? String, "float")
        XCTAssertEqual(price["missing"] as? Int, 1)
        XCTAssertEqual(price["count"] as? Int, 3)
        XCTAssertEqual(price["min"] as? Double, 10.5)
        XCTAssertEqual(price["max"] as? Double, 30)
        XCTAssertEqual(try XCTUnwrap(price["mean"] as? Double), (10.5 + 20.5 + 30) / 3, accuracy: 1e-12)
        let q = try XCTUnwrap(price["quantiles"] as? [String: Any])
        XCTAssertEqual(q["0.5"] as? Double, 20.5)
        let city = try column(p, "city")
        XCTAssertEqual(city["type"] as? String, "text")
        XCTAssertEqual(city["distinct"] as? Int, 3)
        let top = try XCTUnwrap(city["top"] as? [[String: Any]])
        XCTAssertEqual(top.first?["value"] as? String, "Paris")
        XCTAssertEqual(top.first?["count"] as? Int, 2)
        XCTAssertTrue(top.contains { $0["value"] as? String == "Nice, FR" }, "a quoted field with a comma is one value")
        XCTAssertEqual(try column(p, "flag")["type"] as? String, "boolean")
        XCTAssertEqual(try column(p, "id")["type"] as? String, "integer")

        let second = try json(ok("profile", "data.csv", "--json"))
        XCTAssertEqual(second["cached"] as? Bool, true)
        XCTAssertEqual((second["profile"] as? [String: Any]).map { NSDictionary(dictionary: $0) }, NSDictionary(dictionary: p))

        let human = ok("profile", "data.csv")
        XCTAssertTrue(human.contains("4 rows, 4 columns"), human)
        XCTAssertTrue(human.contains("city: Paris 2 (50%)"), human)
    }

    func testProfileOfACommittedVersionAndErrors() throws {
        ok("init")
        write("d.csv", "a,b\n1,x\n2,y\n")
        ok("add", "d.csv")
        _ = commit("v1")
        write("d.csv", "a,b\n1,x\n2,y\n3,z\n")
        let old = try json(ok("profile", "d.csv", "--rev", "HEAD", "--json"))
        XCTAssertEqual((old["profile"] as? [String: Any])?["rows"] as? Int, 2)
        let now = try json(ok("profile", "d.csv", "--json"))
        XCTAssertEqual((now["profile"] as? [String: Any])?["rows"] as? Int, 3)

        write("bad.csv", "a,b\n1,2\n3,4,5\n")
        let r = fails(1, "profile", "bad.csv")
        XCTAssertTrue(r.err.contains("bad.csv") && r.err.contains("line 3"), r.err)
        write("empty.csv", "")
        XCTAssertTrue(fails(1, "profile", "empty.csv").err.contains("empty"))
        XCTAssertTrue(fails(1, "profile", "nope.csv").err.contains("nope.csv"))
        XCTAssertTrue(fails(1, "profile", "d.csv", "--rev", "HEAD~5").err.contains("HEAD~5"))
    }

    func testDiffShowsSchemaAndStatisticChanges() throws {
        ok("init")
        write("train.csv", "x,y,label\n1,2,a\n2,4,b\n3,6,a\n")
        write("notes.txt", "v1\n")
        ok("add", ".")
        _ = commit("v1")
        write("train.csv", "x,y,label,weight\n1,2,1,0.5\n2,4,2,0.5\n3,6,1,1\n4,,2,1\n")
        write("notes.txt", "v2\n")
        ok("add", ".")
        _ = commit("v2")
        let entries = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(ok("diff", "HEAD~1", "HEAD", "--json").utf8)) as? [[String: Any]])
        let csv = try XCTUnwrap(entries.first { $0["path"] as? String == "train.csv" })
        let prof = try XCTUnwrap(csv["profile"] as? [String: Any])
        XCTAssertEqual(prof["rows"] as? [String: Int], ["old": 3, "new": 4])
        XCTAssertEqual(prof["columns_added"] as? [String], ["weight"])
        XCTAssertEqual(prof["columns_removed"] as? [String], [])
        let retyped = try XCTUnwrap(prof["retyped"] as? [[String: String]])
        XCTAssertEqual(retyped, [["column": "label", "old": "text", "new": "integer"]])
        let changes = try XCTUnwrap(prof["changes"] as? [[String: Any]])
        XCTAssertTrue(changes.contains { $0["column"] as? String == "y" && $0["stat"] as? String == "missing" && $0["old"] as? Int == 0 && $0["new"] as? Int == 1 }, "\(changes)")
        XCTAssertTrue(changes.contains { $0["column"] as? String == "x" && $0["stat"] as? String == "max" && $0["new"] as? Int == 4 })
        let notes = try XCTUnwrap(entries.first { $0["path"] as? String == "notes.txt" })
        XCTAssertNil(notes["profile"], "only CSV files get statistics")

        let human = ok("diff", "HEAD~1", "HEAD")
        XCTAssertTrue(human.contains("rows: 3 -> 4 (+1)"), human)
        XCTAssertTrue(human.contains("columns added: weight"), human)
        XCTAssertTrue(human.contains("column label retyped: text -> integer"), human)
        XCTAssertFalse(ok("diff", "HEAD~1", "HEAD", "--no-profile").contains("rows:"))
        // The work tree side is profiled from disk.
        write("train.csv", "x,y,label,weight\n1,2,1,0.5\n")
        XCTAssertTrue(ok("diff").contains("rows: 4 -> 1 (-3)"))
    }
}
