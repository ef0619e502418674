import Foundation
import XCTest
import ML
import Store
import Support

/// The values one side of a params or metrics comparison holds (`params diff`,
/// `metrics diff/show` and `promote --require` all read them through one function).
final class ComparisonTests: XCTestCase {
    var dir = ""
    var ml: MLRepo!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-cmp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ml = MLRepo(try Repository.create(at: dir, settings: StoreSettings(fsync: false, identity: Identity(name: "Lib Test", email: "lib@test"))))
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ rel: String, _ text: String) throws {
        try FS.atomicWrite(dir + "/" + rel, text: text, durable: false)
    }

    func commitAll(_ message: String) throws -> ObjectId {
        _ = try ml.repo.add([""])
        return try ml.commit(message: message).id
    }

    let project = """
    {"stages": {"train": {"cmd": "true", "params": ["lr", "opt.json:"], "metrics": ["metrics.json"]}}}
    """

    func testSidesResolveLikeTheCommandsExpect() throws {
        // Unborn branch: HEAD has no values, and is labelled HEAD.
        XCTAssertEqual(try ml.comparisonSide(nil, defaultHead: true), .commit(nil, label: "HEAD"))
        XCTAssertEqual(try ml.values(of: .commit(nil, label: "HEAD"), metrics: true), [:])
        XCTAssertEqual(try ml.comparisonSide(nil, defaultHead: false), .workspace)
        XCTAssertEqual(try ml.comparisonSide("workspace", defaultHead: true), .workspace)
        XCTAssertEqual(ComparisonSide.workspace.label, "workspace")
        try write("mlrepo.json", project)
        try write("params.json", #"{"lr": 0.1, "epochs": 3}"#)
        try write("opt.json", #"{"beta": {"one": 0.9}}"#)
        try write("metrics.json", #"{"acc": 0.5}"#)
        let c = try commitAll("first")
        XCTAssertEqual(try ml.comparisonSide(nil, defaultHead: true), .commit(c, label: "HEAD"))
        XCTAssertEqual(try ml.comparisonSide(c.short, defaultHead: false), .commit(c, label: c.short))
        XCTAssertThrowsError(try ml.comparisonSide("no-such-branch", defaultHead: false))
    }

    func testCommitAndWorkspaceValues() throws {
        try write("mlrepo.json", project)
        try write("params.json", #"{"lr": 0.1, "epochs": 3}"#)
        try write("opt.json", #"{"beta": {"one": 0.9}}"#)
        try write("metrics.json", #"{"acc": 0.5, "loss": {"train": 1.5}}"#)
        let c = try commitAll("first")
        let side = ComparisonSide.commit(c, label: "HEAD")
        // Only declared keys of params.json; a whole file with "FILE:"; keys flattened.
        XCTAssertEqual(try ml.values(of: side, metrics: false),
                       ["params.json": ["lr": .number(0.1)], "opt.json": ["beta.one": .number(0.9)]])
        XCTAssertEqual(try ml.values(of: side, metrics: true),
                       ["metrics.json": ["acc": .number(0.5), "loss.train": .number(1.5)]])
        // The registry's metric checks read the same values.
        XCTAssertEqual(try ml.metricsValues(at: c), try ml.values(of: side, metrics: true))

        // The work tree: a changed value, a removed params key, a deleted metrics file.
        try write("params.json", #"{"lr": 0.2}"#)
        try write("opt.json", #"{}"#)
        try FileManager.default.removeItem(atPath: dir + "/metrics.json")
        XCTAssertEqual(try ml.values(of: .workspace, metrics: false), ["params.json": ["lr": .number(0.2)], "opt.json": [:]])
        XCTAssertEqual(try ml.values(of: .workspace, metrics: true), [:])
        // The commit still has its values.
        XCTAssertEqual(try ml.values(of: side, metrics: true)["metrics.json"]?["acc"], .number(0.5))
        // A params key gone from the work tree is left out, so a diff shows it as removed.
        try write("params.json", #"{"epochs": 3}"#)
        XCTAssertNil(try ml.values(of: .workspace, metrics: false)["params.json"])
        let rows = compareValues(try ml.values(of: side, metrics: false), try ml.values(of: .workspace, metrics: false), all: false)
        XCTAssertTrue(rows.contains { $0.path == "params.json" && $0.key == "lr" && $0.new == nil })
    }

    func testNoProjectMeansNoValues() throws {
        try write("data.txt", "x")
        let c = try commitAll("plain")
        XCTAssertEqual(try ml.values(of: .commit(c, label: "HEAD"), metrics: true), [:])
        XCTAssertEqual(try ml.values(of: .workspace, metrics: false), [:])
    }

    func testBadMetricsFileNamesTheFile() throws {
        try write("mlrepo.json", project)
        try write("params.json", #"{"lr": 0.1}"#)
        try write("opt.json", "{}")
        try write("metrics.json", "{not json")
        XCTAssertThrowsError(try ml.values(of: .workspace, metrics: true)) { e in
            XCTAssertTrue("\(e)".contains("metrics.json"), "\(e)")
        }
    }
}
