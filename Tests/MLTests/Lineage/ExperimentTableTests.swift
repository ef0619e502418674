import XCTest
@testable import ML
import Store
import Support

/// `exp show`'s table: columns from commit metadata, sort-key matching and sorting.
final class ExperimentTableTests: XCTestCase {
    var counter = 0

    func row(metrics: ValuesByFile = [:], params: ValuesByFile = [:], plain: Bool = false) -> ExperimentRow {
        counter += 1
        let hex = String(format: "%064x", counter)
        let sig = Signature(name: "T", email: "t@t", time: Int64(counter))
        let commit = Commit(tree: ObjectId(hex: String(repeating: "a", count: 64))!, parents: [], author: sig, committer: sig, message: "c\(counter)")
        var meta = CommitMeta()
        meta.metrics = metrics; meta.params = params
        return ExperimentRow(id: ObjectId(hex: hex)!, commit: commit, meta: plain ? nil : meta)
    }

    func names(_ t: ExperimentTable) -> [String] { t.columns.map(\.name) }

    func testColumnsAreMetricsThenParamsNamedByKeyUnlessShared() {
        let t = ExperimentTable(rows: [
            row(metrics: ["train.json": ["loss": .number(1)], "eval.json": ["loss": .number(2), "acc": .number(0.9)]],
                params: ["params.json": ["lr": .number(0.1)]]),
            row(plain: true),
            row(metrics: ["eval.json": ["acc": .number(0.8)]], params: ["params.json": ["lr": .number(0.2), "model.depth": .int(3)]]),
        ])
        XCTAssertEqual(names(t), ["acc", "eval.json:loss", "train.json:loss", "lr", "model.depth"])
        XCTAssertEqual(t.metricColumns.map(\.name), ["acc", "eval.json:loss", "train.json:loss"])
        XCTAssertEqual(t.paramColumns.map(\.key), ["lr", "model.depth"])
        XCTAssertEqual(t.rows[0].value(t.columns[1]), .number(2))
        XCTAssertNil(t.rows[1].value(t.columns[0]))
        XCTAssertNil(t.rows[2].value(t.columns[1]))
    }

    func testSameFileAndKeyAsMetricAndParamSaysWhich() {
        let t = ExperimentTable(rows: [row(metrics: ["x.json": ["k": .int(1)]], params: ["x.json": ["k": .int(2)]])])
        XCTAssertEqual(names(t), ["metric x.json:k", "param x.json:k"])
        XCTAssertEqual(t.rows[0].value(t.columns[1]), .int(2))
    }

    func testSortKeyMatching() throws {
        let t = ExperimentTable(rows: [row(metrics: ["a.json": ["loss": .number(1), "eval.acc": .number(0.5)], "b.json": ["loss": .number(2)]],
                                           params: ["params.json": ["lr": .number(0.1)]])])
        XCTAssertEqual(try t.column(matching: "a.json:loss").file, "a.json")
        XCTAssertEqual(try t.column(matching: "lr").key, "lr")
        XCTAssertEqual(try t.column(matching: "params.json:lr").key, "lr")
        // The last part of a dotted key.
        XCTAssertEqual(try t.column(matching: "acc").key, "eval.acc")
        XCTAssertThrowsError(try t.column(matching: "loss")) { e in
            XCTAssertEqual("\(e)", "'loss' is ambiguous: a.json:loss, b.json:loss")
        }
        XCTAssertThrowsError(try t.column(matching: "nope")) { e in
            XCTAssertEqual("\(e)", "no metric or param named 'nope' in these commits")
        }
    }

    func testSortNumbersThenTextMissingLastTiesKeepOrder() throws {
        var t = ExperimentTable(rows: [
            row(metrics: ["m.json": ["acc": .number(0.7)]]),
            row(metrics: ["m.json": ["acc": .number(0.9)]]),
            row(plain: true),
            row(metrics: ["m.json": ["acc": .int(1)]]),
            row(metrics: ["m.json": ["acc": .number(0.7)]]),
        ])
        let ids = t.rows.map(\.id)
        try t.sort(by: "acc", descending: false)
        XCTAssertEqual(t.rows.map(\.id), [ids[0], ids[4], ids[1], ids[3], ids[2]])
        try t.sort(by: "acc", descending: true)
        XCTAssertEqual(t.rows.map(\.id), [ids[3], ids[1], ids[0], ids[4], ids[2]])

        var s = ExperimentTable(rows: [row(params: ["p.json": ["opt": .string("sgd")]]), row(params: ["p.json": ["opt": .string("adam")]])])
        let sids = s.rows.map(\.id)
        try s.sort(by: "opt", descending: false)
        XCTAssertEqual(s.rows.map(\.id), [sids[1], sids[0]])
    }
}
