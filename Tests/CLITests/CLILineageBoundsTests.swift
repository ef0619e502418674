import Foundation
import XCTest

/// Lineage records arrive with clones, so an upstream walk must stay bounded whatever they
/// claim (issue 13): a diamond chain of stages (each reading the two before it) expands to
/// 2^n nodes as a tree, and a long chain used to recurse once per stage.
final class CLILineageBoundsTests: CLITestCase {
    func testDiamondLineageIsBoundedAndNoted() throws {
        let n = 40
        var stages: [String] = [#""s0": {"cmd": "echo 0 > f0", "outs": ["f0"]}"#,
                                #""s1": {"cmd": "cat f0 > f1", "deps": ["f0"], "outs": ["f1"]}"#]
        for i in 2..<n {
            stages.append(#""s\#(i)": {"cmd": "cat f\#(i - 1) f\#(i - 2) | head -c 64 > f\#(i)", "deps": ["f\#(i - 1)", "f\#(i - 2)"], "outs": ["f\#(i)"]}"#)
        }
        write("mlrepo.json", "{\"stages\": {" + stages.joined(separator: ",\n") + "}}\n")
        ok("init", ".")
        ok("repro")
        ok("add", ".")
        commit("diamond")
        // Before the bound, this walk built 2^39 nodes (it did not finish); now it stops with a note.
        let r = runBounded(["lineage", "f\(n - 1)", "--json"], seconds: 60)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("not followed further"), String(r.out.prefix(400)))
        // The text form and promote's lineage check go through the same walk.
        let text = runBounded(["lineage", "f\(n - 1)"], seconds: 60)
        XCTAssertEqual(text.code, 0, text.err)
        XCTAssertTrue(text.out.contains("not followed further"))
    }

    func testLongStageChainIsBounded() throws {
        let n = 140
        var stages: [String] = [#""s0": {"cmd": "echo 0 > f0", "outs": ["f0"]}"#]
        for i in 1..<n { stages.append(#""s\#(i)": {"cmd": "cp f\#(i - 1) f\#(i)", "deps": ["f\#(i - 1)"], "outs": ["f\#(i)"]}"#) }
        write("mlrepo.json", "{\"stages\": {" + stages.joined(separator: ",\n") + "}}\n")
        ok("init", ".")
        ok("repro")
        ok("add", ".")
        commit("chain")
        let r = runResult(["lineage", "f\(n - 1)", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("lineage deeper than 128 stages: not followed further"), String(r.out.suffix(400)))
        // Within the bound the chain is complete: f100's lineage reaches the raw start.
        let short = runResult(["lineage", "f100", "--json"])
        XCTAssertEqual(short.code, 0, short.err)
        XCTAssertFalse(short.out.contains("not followed further"))
        XCTAssertTrue(short.out.contains("\"stage\":\"s0\"") || short.out.contains("\"stage\": \"s0\""), String(short.out.suffix(400)))
    }

    /// Runs the binary, killing it (exit 137) if it is still running after `seconds`.
    func runBounded(_ args: [String], seconds: Double) -> RunResult {
        guard let s = try? start(args) else { XCTFail("could not start mlrepo"); return RunResult(outData: Data(), err: "", code: -1) }
        let deadline = Date().addingTimeInterval(seconds)
        // Poll without reaping (collect reaps): a finished child is a zombie, state Z.
        func finished() -> Bool {
            guard let st = try? String(contentsOfFile: "/proc/\(s.pid)/stat", encoding: .utf8) else { return true }
            return st.contains(") Z")
        }
        while !finished() {
            if Date() > deadline { kill(s.pid, SIGKILL); XCTFail("mlrepo \(args.joined(separator: " ")) ran over \(seconds) s"); break }
            usleep(20_000)
        }
        return collect(s)
    }
}
