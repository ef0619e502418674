import XCTest
import ML
import Store
import Support

/// Recomputes the worked examples of .mlrepo-format.md §10 (lineage records, commit
/// metadata, a commit that names them).
final class MLFormatSpecTests: XCTestCase {
    static let specPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".mlrepo-format.md").path

    var spec: String { (try? String(contentsOfFile: Self.specPath, encoding: .utf8)) ?? "" }

    func assertQuoted(_ s: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(spec.contains(s), "\(s) is not quoted in .mlrepo-format.md", file: file, line: line)
    }

    static let hello = ObjectId(hex: "2cf8d83d9ee29543b34a87727421fdecb7e3f3a183d337639025de576db9ebb4")!
    static let ramp = ObjectId(hex: "4913bbcbcaeb3d8d8e0f02c6aa5a85778ac673d2807afde00fb869093291f49c")!

    static var record: LineageRecord {
        LineageRecord(
            stage: "train", action: .command("python train.py"),
            deps: [RecordedPath(path: "hello.txt", id: hello, kind: .dataset)],
            params: ["params.json": ["lr": .number(0.1)]],
            outs: [RecordedPath(path: "ramp.bin", id: ramp, kind: .model)],
            exitStatus: 0, started: 1_700_000_000.5, duration: 1.25,
            environment: ["tool": .string("mlrepo"), "tool_version": .string("0.2.0"), "os": .string("Linux 6.8.0 x86_64"),
                          "cpu": .string("Example CPU"), "cpu_count": .int(2)])
    }

    func testExample5LineageRecord() throws {
        let text = String(decoding: Self.record.encoded(), as: UTF8.self)
        assertQuoted(text)
        let id = ObjectHash.id(.blob, Self.record.encoded())
        XCTAssertEqual(id.hex, "9e5fe0c1181d9810096086e61242134e908fd84f5b8ea5ec46dff65e81c74218")
        assertQuoted(id.hex)
        // Reading it back gives the same record and the same bytes.
        let back = try LineageRecord(json: JSON.parse(text))
        XCTAssertEqual(back, Self.record)
        XCTAssertEqual(back.encoded(), Self.record.encoded())
    }

    /// A built-in train stage: its hyperparameters are params of the stage, under
    /// `mlrepo.json` as `STAGE.NAME`, and still in its spec.
    static var builtinRecord: LineageRecord {
        let spec: JSON = .object(["model": .string("logistic_regression"), "data": .string("hello.txt"), "label": .string("y"),
                                  "params": .object(["C": .number(0.01)])])
        return LineageRecord(
            stage: "train", action: .builtin(kind: "train", spec: spec),
            deps: [RecordedPath(path: "hello.txt", id: hello, kind: .dataset)],
            params: ["mlrepo.json": ["train.C": .number(0.01)]],
            outs: [RecordedPath(path: "ramp.bin", id: ramp, kind: .model)],
            exitStatus: 0, started: 1_700_000_000.5, duration: 1.25,
            environment: ["tool": .string("mlrepo"), "tool_version": .string("0.2.0"), "os": .string("Linux 6.8.0 x86_64"),
                          "cpu": .string("Example CPU"), "cpu_count": .int(2)])
    }

    func testExample5bBuiltinTrainRecord() throws {
        let rec = Self.builtinRecord
        let text = String(decoding: rec.encoded(), as: UTF8.self)
        assertQuoted(text)
        let id = ObjectHash.id(.blob, rec.encoded())
        XCTAssertEqual(id.hex, "135e9aaa18faab0ac9f38039d175e117f3625f7d7ce3fe8a4f1c680abe20ebf4")
        assertQuoted(id.hex)
        let back = try LineageRecord(json: JSON.parse(text))
        XCTAssertEqual(back, rec)
        XCTAssertEqual(back.encoded(), rec.encoded())
        // The stage as mlrepo.json declares it gives the same params.
        let project = try Project.parse(#"{"stages": {"train": {"train": {"model": "logistic_regression", "data": "hello.txt", "label": "y", "params": {"C": 0.01}}, "outs": ["ramp.bin"]}}}"#)
        XCTAssertEqual(project.stages["train"]?.builtinParams, rec.params)
        XCTAssertEqual(try project.stages["train"]?.paramValues(read: { _ in nil }), rec.params)
        // A record written before hyperparameters were params reads as if it had them.
        var old = rec
        old.params = [:]
        XCTAssertEqual(try LineageRecord(json: JSON.parse(String(decoding: old.encoded(), as: UTF8.self))).params, rec.params)
    }

    func testExample6MetaAndExample7Commit() throws {
        let rid = ObjectHash.id(.blob, Self.record.encoded())
        var meta = CommitMeta()
        meta.runs = ["train": rid]
        meta.kinds = ["hello.txt": .dataset, "ramp.bin": .model]
        meta.params = ["params.json": ["lr": .number(0.1)]]
        meta.metrics = ["metrics.json": ["acc": .number(0.93)]]
        let text = String(decoding: meta.encoded(), as: UTF8.self)
        assertQuoted(text)
        let mid = ObjectHash.id(.blob, meta.encoded())
        XCTAssertEqual(mid.hex, "b62c9b9a0276588b2050f588032e831d9de523cf456676bd66d8c76aaec59d1f")
        assertQuoted(mid.hex)
        XCTAssertEqual(try CommitMeta(json: JSON.parse(text)), meta)

        let who = Signature(name: "Ada Lovelace", email: "ada@example.com", time: 1_700_000_000, tzOffsetMinutes: 0)
        let tree = ObjectId(hex: "090e3df10108703bf8d958c32138a588fab1c320df63a16c88c25b3e6791632f")!
        let c = Commit(tree: tree, parents: [], author: who, committer: who,
                       extra: [("meta", mid.hex), ("record", rid.hex)], message: "train\n")
        assertQuoted(String(decoding: c.encode(), as: UTF8.self))
        let cid = ObjectHash.id(.commit, c.encode())
        XCTAssertEqual(cid.hex, "d2cfcb06beb819481e8746fed6d1d2ee23e242a48d0e5cd8c5fe8c91f5a310e8")
        assertQuoted(cid.hex)
        XCTAssertEqual(c.headers("record"), [rid.hex])
        XCTAssertTrue(Commit.objectHeaders.contains("meta") && Commit.objectHeaders.contains("record"))
    }
}
