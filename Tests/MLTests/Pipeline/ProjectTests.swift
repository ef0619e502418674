import XCTest
import ML
import Support

/// The project file: parsing, validation, execution order, kinds; params and metrics values.
final class ProjectTests: XCTestCase {
    func parse(_ s: String) throws -> Project { try Project.parse(s) }

    func assertError(_ text: String, contains part: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(text), file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains(part), "'\(e)' does not mention '\(part)'", file: file, line: line)
            XCTAssertFalse("\(e)".contains("\n"), "error is not one line: \(e)", file: file, line: line)
        }
    }

    let pipeline = """
    {"stages": {
      "train": {"cmd": "python train.py", "deps": ["data/features", "src/train.py"], "params": ["train.lr", "other.json:"],
                "outs": ["models/model.pkl"], "metrics": ["metrics/train.json"]},
      "featurize": {"cmd": "python featurize.py", "deps": ["data/raw.csv", "data/labels.csv", "src/featurize.py"],
                    "outs": ["data/features"]},
      "evaluate": {"cmd": ["python eval.py", "echo done"], "deps": ["models/model.pkl", {"path": "data/test.bin", "kind": "dataset"}],
                   "metrics": ["metrics/eval.json"]}
    }, "kinds": {"data/raw.csv": "dataset"}}
    """

    func testOrderFollowsOutputsToDependencies() throws {
        let p = try parse(pipeline)
        XCTAssertEqual(p.order, ["featurize", "train", "evaluate"])
        XCTAssertEqual(try p.closure(of: ["train"]), ["featurize", "train"])
        XCTAssertEqual(try p.closure(of: ["featurize"]), ["featurize"])
        XCTAssertEqual(try p.closure(of: []), ["featurize", "train", "evaluate"])
        XCTAssertEqual(p.downstream(of: "featurize"), ["train", "evaluate"])
        XCTAssertEqual(p.producer(of: "data/features/part-0.csv"), "featurize")
        XCTAssertNil(p.producer(of: "data/raw.csv"))
        if case .command(let c) = p.stages["evaluate"]!.action { XCTAssertEqual(c, "python eval.py && echo done") } else { XCTFail() }
        XCTAssertEqual(p.stages["train"]!.params, [ParamRef(file: "params.json", key: "train.lr"), ParamRef(file: "other.json", key: "")])
        XCTAssertThrowsError(try p.closure(of: ["nope"])) { XCTAssertTrue("\($0)".contains("no stage named 'nope'")) }
    }

    func testKindsAreDeclaredOrInferredFromTheRole() throws {
        let k = try parse(pipeline).kinds()
        XCTAssertEqual(k["data/raw.csv"], .dataset)
        XCTAssertEqual(k["data/labels.csv"], .labels)
        XCTAssertEqual(k["src/featurize.py"], .code)
        XCTAssertEqual(k["data/features"], .features)
        XCTAssertEqual(k["models/model.pkl"], .model)
        XCTAssertEqual(k["metrics/train.json"], .metrics)
        XCTAssertEqual(k["params.json"], .params)
        XCTAssertEqual(k["other.json"], .params)
        XCTAssertEqual(k["data/test.bin"], .dataset)
        // A terminal output without a model extension is still the model.
        let q = try parse(#"{"stages": {"a": {"cmd": "x", "outs": ["out/weights"]}}, "kinds": {"out/weights": "other"}}"#)
        XCTAssertEqual(q.kinds()["out/weights"], .other)
        let r = try parse(#"{"stages": {"a": {"cmd": "x", "outs": ["out/weights"]}}}"#)
        XCTAssertEqual(r.kinds()["out/weights"], .model)
    }

    func testValidationErrorsAreOneClearLine() {
        assertError(#"{"stages": {"a": {"cmd": "x", "deps": ["b.txt"], "outs": ["a.txt"]}, "b": {"cmd": "y", "deps": ["a.txt"], "outs": ["b.txt"]}}}"#,
                    contains: "stage cycle: a -> b -> a")
        assertError(#"{"stages": {"a": {"cmd": "x", "deps": ["a.txt"], "outs": ["a.txt"]}}}"#, contains: "'a' depends on its own output")
        assertError(#"{"stages": {"a": {"cmd": "x", "outs": ["o"]}, "b": {"cmd": "y", "metrics": ["o"]}}}"#,
                    contains: "output 'o' is declared by two stages: 'a' and 'b'")
        assertError(#"{"stages": {"a": {"cmd": "x", "outs": ["d"]}, "b": {"cmd": "y", "outs": ["d/f"]}}}"#, contains: "outputs overlap")
        assertError("{\"stages\": {\n \"a\": {\"cmd\": \"x\",, \"outs\": []}}}", contains: "mlrepo.json line 2, column 19: invalid JSON: expected a key")
        assertError(#"{"stages": {"a": {"cmd": "x", "dep": ["a"]}}}"#, contains: "stage 'a': unknown field 'dep'")
        assertError(#"{"stages": {"a": {"deps": ["a"]}}}"#, contains: "needs a \"cmd\"")
        assertError(#"{"stages": {"a": {"cmd": "x", "train": {}}}}"#, contains: "has both cmd and train")
        assertError(#"{"stages": {"a": {"cmd": "x", "outs": ["../up"]}}}"#, contains: "'../up' is not a path inside the repository")
        assertError(#"{"stages": {"a": {"cmd": "x", "outs": [".mlrepo/x"]}}}"#, contains: "not a path inside the repository")
        assertError(#"{"stages": {"a b": {"cmd": "x"}}}"#, contains: "bad stage name 'a b'")
        assertError(#"{"stages": {"a": {"cmd": "x", "deps": [{"path": "p", "kind": "weights"}]}}}"#, contains: "unknown kind 'weights'")
        assertError(#"{"stage": {}}"#, contains: "unknown field 'stage'")
        assertError(#"[1]"#, contains: "top level must be an object")
    }

    func testPathsAreNormalized() throws {
        let p = try parse(#"{"stages": {"a": {"cmd": "x", "deps": ["./data/raw.csv", "src/"], "outs": ["out//m.bin"]}}}"#)
        XCTAssertEqual(p.stages["a"]!.deps.map(\.path), ["data/raw.csv", "src"])
        XCTAssertEqual(p.stages["a"]!.outs.map(\.path), ["out/m.bin"])
    }

    func testFlattenAndReadParams() throws {
        let j = try JSON.parse(#"{"train": {"lr": 0.1, "layers": [64, 32], "opt": {"name": "adam"}}, "seed": 7, "empty": {}}"#)
        let flat = flatten(j)
        XCTAssertEqual(flat["train.lr"], .number(0.1))
        XCTAssertEqual(flat["train.layers"], .array([.int(64), .int(32)]))
        XCTAssertEqual(flat["train.opt.name"], .string("adam"))
        XCTAssertEqual(flat["seed"], .int(7))
        XCTAssertEqual(flat["empty"], .object([:]))
        let files = ["params.json": j.encoded(), "p2.json": #"{"a": 1}"#]
        let read: (String) throws -> String? = { files[$0] }
        let v = try readParams([ParamRef.parse("train"), ParamRef.parse("p2.json:")], stage: "s", read: read)
        XCTAssertEqual(Set(v["params.json"]!.keys), ["train.lr", "train.layers", "train.opt.name"])
        XCTAssertEqual(v["p2.json"], ["a": .int(1)])
        XCTAssertThrowsError(try readParams([ParamRef.parse("nokey")], stage: "s", read: read)) {
            XCTAssertEqual("\($0)", "params file 'params.json' has no key 'nokey' (stage 's')")
        }
        XCTAssertThrowsError(try readParams([ParamRef.parse("x.json:k")], stage: "s", read: read)) {
            XCTAssertEqual("\($0)", "params file 'x.json' does not exist (stage 's')")
        }
        XCTAssertThrowsError(try readParams([ParamRef.parse("bad.json:k")], stage: nil, read: { _ in "{\n\"a\": }" })) {
            XCTAssertEqual("\($0)", "bad.json line 2, column 6: invalid JSON: unexpected character")
        }
    }

    func testMetricsFilesMustBeJSONObjects() throws {
        XCTAssertEqual(try readMetrics(#"{"acc": 0.9, "per_class": {"a": 1}}"#, file: "m.json"), ["acc": .number(0.9), "per_class.a": .int(1)])
        XCTAssertThrowsError(try readMetrics("acc=0.9", file: "m.json")) { XCTAssertTrue("\($0)".hasPrefix("metrics file 'm.json' is not valid JSON: line 1, column 1")) }
        XCTAssertThrowsError(try readMetrics("[0.9]", file: "m.json")) { XCTAssertTrue("\($0)".contains("must hold a JSON object")) }
    }

    func testCompareValuesInDVCShape() throws {
        let a: ValuesByFile = ["m.json": ["acc": .number(0.5), "loss": .int(2), "name": .string("x"), "gone": .int(1)]]
        let b: ValuesByFile = ["m.json": ["acc": .number(0.75), "loss": .number(2.0), "name": .string("y"), "new": .bool(true)]]
        let rows = compareValues(a, b, all: false)
        XCTAssertEqual(rows.map(\.key), ["acc", "gone", "name", "new"])  // loss 2 == 2.0 is unchanged
        XCTAssertEqual(rows[0].diff, 0.25)
        XCTAssertNil(rows[2].diff)
        XCTAssertEqual(compareValues(a, b, all: true).count, 5)
        let j = changesJSON(rows)
        XCTAssertEqual(j["m.json"]?["acc"], .object(["old": .number(0.5), "new": .number(0.75), "diff": .number(0.25)]))
        XCTAssertEqual(j["m.json"]?["gone"], .object(["old": .int(1), "new": .null, "diff": .null]))
        XCTAssertEqual(j["m.json"]?["name"]?["diff"], .null)
    }

    func testFixedFormatting() {
        XCTAssertEqual(formatFixed(0.123456789, 5), "0.12346")
        XCTAssertEqual(formatFixed(3.0, 5), "3")
        XCTAssertEqual(formatFixed(-0.25, 1), "-0.3")
        XCTAssertEqual(formatFixed(0.1 + 0.2, 5), "0.3")
        XCTAssertEqual(JSON.number(0.1 + 0.2).display(precision: 3), "0.3")
        XCTAssertEqual(JSON.int(12).display(precision: 3), "12")
    }
}
