import XCTest
import ML
import Support

/// MLError: each failure is a case carrying the file, stage, path or revision and the cause,
/// so callers can match on it; the description stays one line.
final class MLErrorTests: XCTestCase {
    func thrown(_ body: () throws -> Void) -> MLError? {
        do { try body() } catch let e as MLError { return e } catch { XCTFail("not an MLError: \(error)") }
        return nil
    }

    func testProjectErrorsNameTheFileAndStage() {
        let bad = thrown { _ = try Project.parse(#"{"stages": {"a": {"cmd": "x", "bogus": 1}}}"#) }
        XCTAssertEqual(bad, .project(file: "mlrepo.json", stage: "a", reason: "unknown field 'bogus'"))
        XCTAssertEqual(bad?.description, "mlrepo.json: stage 'a': unknown field 'bogus'")

        // Validation errors raised by Project(stages:) gain the file name when parsed.
        let twice = thrown { _ = try Project.parse(#"{"stages": {"a": {"cmd": "x", "outs": ["o", "o"]}}}"#, file: "p.json") }
        XCTAssertEqual(twice, .project(file: "p.json", stage: "a", reason: "declares output 'o' twice"))

        let json = thrown { _ = try Project.parse("{\n  \"stages\": [}", file: "p.json") }
        guard case .json(let file, let line, _, _)? = json else { return XCTFail("\(String(describing: json))") }
        XCTAssertEqual(file, "p.json")
        XCTAssertEqual(line, 2)

        // A bad kinds path is named once, not prefixed twice.
        let kinds = thrown { _ = try Project.parse(#"{"kinds": {"../x": "model"}}"#) }
        XCTAssertEqual(kinds?.description, "mlrepo.json: kinds: '../x' is not a path inside the repository")
    }

    func testParamsAndMetricsErrorsNameTheFile() {
        let missing = thrown { _ = try readParams([ParamRef.parse("p.json:lr")], stage: "train", read: { _ in nil }) }
        XCTAssertEqual(missing, .params(file: "p.json", stage: "train", reason: "does not exist"))
        XCTAssertEqual(missing?.description, "params file 'p.json' does not exist (stage 'train')")
        let noKey = thrown { _ = try readParams([ParamRef.parse("p.json:lr")], stage: nil, read: { _ in #"{"x": 1}"# }) }
        XCTAssertEqual(noKey?.description, "params file 'p.json' has no key 'lr'")

        let metrics = thrown { _ = try readMetrics("{", file: "m.json") }
        guard case .metrics(let file, let reason)? = metrics else { return XCTFail("\(String(describing: metrics))") }
        XCTAssertEqual(file, "m.json")
        XCTAssertTrue(reason.hasPrefix("is not valid JSON: line 1, column 2"), reason)
    }

    func testNamesAndValues() {
        XCTAssertEqual(thrown { _ = try PathKind.parse("weights") },
                       .unknownValue(what: "kind", value: "weights", expected: PathKind.allCases.map(\.rawValue)))
        XCTAssertEqual(thrown { _ = try ModelType.parse("forest") }?.description.hasPrefix("unknown model type 'forest'; expected one of "), true)
        let p = try? Project.parse(#"{"stages": {"a": {"cmd": "x"}}}"#)
        let none = thrown { _ = try p?.closure(of: ["b"]) }
        XCTAssertEqual(none, .notFound(what: "stage", name: "b", place: "mlrepo.json", known: ["a"]))
        XCTAssertEqual(none?.description, "no stage named 'b' in mlrepo.json (stages: a)")
    }

    func testDescriptionsAreOneLine() {
        let all: [MLError] = [
            .stage("train", reason: "dependency 'x' does not exist"),
            .outputMissing(stage: "lazy", output: "never.txt"),
            .param(model: "ridge", param: "alpha", reason: "must be at least 0.0, not -1.0"),
            .unknownParam(model: "ridge", param: "alpah", known: ["alpha"]),
            .model("pca", reason: "needs at least two rows"),
            .modelFile(path: "m.mlmodel", reason: "truncated header"),
            .modelFile(path: nil, reason: "it has no layers"),
            .revision("abc123", reason: "records no stage runs"),
            .pathNotFound("models/m.mlmodel", revision: "abc123"),
            .pathNotFound("models/m.mlmodel", revision: nil),
            .fileNotFound("m.mlmodel", what: "model file"),
            .corrupt(what: "lineage record 00", reason: "bad deps entry"),
            .tooLarge(path: "params.json", limit: 16 << 20),
            .promotionRefused(path: "m", revision: "abc", why: .checkFailed(check: "accuracy>=0.9", key: "accuracy", value: 0.5)),
            .promotionRefused(path: "m", revision: "abc", why: .metricMissing(key: "f1", available: ["m.json:accuracy"])),
            .promotionRefused(path: "m", revision: "abc", why: .incompleteLineage("no recorded run produced this version")),
        ]
        for e in all {
            XCTAssertFalse(e.description.isEmpty)
            XCTAssertFalse(e.description.contains("\n"), e.description)
        }
        XCTAssertEqual(all[1].description, "stage 'lazy' finished but did not write its output 'never.txt'; nothing was recorded")
        XCTAssertEqual(all[3].description, "ridge has no param 'alpah' (known: alpha)")
        XCTAssertEqual(all[12].description, "'params.json' is too large to read as JSON (over 16 MiB)")
        XCTAssertEqual(all[13].description, "refused: accuracy>=0.9 failed: accuracy is 0.5 in commit abc")
    }
}
