#if canImport(Glibc)
import Glibc
#endif
import ML
import Store
import Support

// Pipeline stages: `run`, `repro` (and `repro --verify`).

/// Prints pipeline progress; flushes before a stage's command writes to the same streams.
func pipelinePrinter(_ ctx: Context) -> PipelineEvents {
    return { e in
        switch e {
        case .upToDate(let s): ctx.out.line("stage \(s) is up to date")
        case .wouldRun(let s, let why): ctx.out.line("would run stage \(s) (\(why))")
        case .note(let s, let message): ctx.err.line(Quote.controls("note: stage '\(s)': \(message)"))
        case .running(let s, let action, let why):
            ctx.out.line("Running stage '\(s)' (\(why)):")
            ctx.out.line("> \(action)")
            ctx.out.flush(); ctx.err.flush()
        case .finished(let s, let secs, let rid):
            ctx.out.line("Recorded run of '\(s)' in \(format1(secs)) s (record \(rid.short))")
        }
    }
}

/// Runs `body`; a failed stage command ends the command with that command's exit status.
func stageStatus(_ ctx: Context, _ body: () throws -> Void) throws -> Int32 {
    do { try body() } catch let f as StageFailed {
        ctx.out.flush()
        ctx.err.line("error: " + Quote.controls("\(f)"))
        return f.status == 0 ? 1 : f.status
    }
    return 0
}

/// Runs `body` (which runs stages) so that nothing but the command's own JSON document
/// reaches stdout: with `json`, the process's stdout points at stderr meanwhile, so stage
/// commands (which inherit it) and progress lines print there. Restored before returning.
func stagesOutputToStderr<T>(_ json: Bool, _ ctx: Context, _ body: () throws -> T) throws -> T {
    guard json else { return try body() }
    ctx.out.flush()
    ctx.err.flush()
    let saved = dup(1)
    guard saved >= 0, dup2(2, 1) >= 0 else {
        if saved >= 0 { close(saved) }
        throw UserError(message: "cannot send the stages' output to stderr: \(String(cString: strerror(errno)))")
    }
    defer {
        ctx.out.flush()
        _ = dup2(saved, 1)
        close(saved)
    }
    return try body()
}

let runCommand = Command(
    name: "run", kind: .porcelain, summary: "run one pipeline stage now and record its lineage",
    usage: """
    mlrepo run STAGE

    Runs the stage of mlrepo.json in the repository root (its "cmd" by /bin/sh, with
    MLREPO_STAGE and MLREPO_ROOT set), whatever its state. On success its inputs, outputs,
    params files and mlrepo.json are staged and a lineage record is written; the next commit
    records it. A failed command exits with its own status and records nothing.
    """
) { a, ctx in
    guard a.positional.count == 1 else { throw UsageError(message: "run takes one stage name") }
    let ml = try ctx.mlRunningStages()
    let code = try stageStatus(ctx) { try ml.run(stage: a.positional[0], events: pipelinePrinter(ctx)) }
    if code == 0 { ctx.out.line("Use 'mlrepo commit -m MSG' to record the run in history.") }
    return code
}

let reproCommand = Command(
    name: "repro", kind: .porcelain, summary: "re-run the stages whose inputs changed; --verify a commit",
    usage: """
    mlrepo repro [STAGE...] [-f|--force] [--dry-run]
    mlrepo repro --verify [--rev REV] [--json]

    Runs, in dependency order, every stage (of STAGE and the stages upstream of it, or all)
    whose command, params values, dependencies or outputs differ from its last recorded run;
    the rest print "stage NAME is up to date". --force runs them all; --dry-run only says
    what would run. Stops at the first failing command, with its exit status.

    --verify rebuilds REV (default HEAD) in a scratch folder, re-runs its recorded stages
    there and reports each output as "bit-identical" or "differs" (with metric deltas for
    metrics files). Exit 0 only when every output is bit-identical. --json prints the report
    as one JSON document on stdout; the stages' own output goes to stderr.
    """,
    flags: ["force": ["-f", "--force"], "dryRun": ["--dry-run", "--dry"], "verify": ["--verify"], "json": ["--json"]],
    options: ["rev": ["--rev", "-r"]]
) { a, ctx in
    let ml = try ctx.mlRunningStages()
    if a.has("verify") {
        guard a.positional.isEmpty else { throw UsageError(message: "--verify checks a whole commit; use --rev REV instead of stage names") }
        let commit = try ml.repo.resolveCommit(a.value("rev") ?? "HEAD")
        let quiet = a.has("json")
        let report = try stagesOutputToStderr(quiet, ctx) { try ml.verify(commit: commit, events: quiet ? { _ in } : pipelinePrinter(ctx)) }
        printVerify(report, json: a.has("json"), ctx)
        return report.identical ? 0 : 1
    }
    guard a.value("rev") == nil else { throw UsageError(message: "--rev goes with --verify") }
    guard !a.has("json") else { throw UsageError(message: "--json goes with --verify") }
    var ran: [String] = []
    let code = try stageStatus(ctx) {
        ran = try ml.repro(targets: a.positional, force: a.has("force"), dryRun: a.has("dryRun"), events: pipelinePrinter(ctx))
    }
    if code == 0 && !ran.isEmpty && !a.has("dryRun") { ctx.out.line("Use 'mlrepo commit -m MSG' to record the runs in history.") }
    return code
}

func printVerify(_ r: VerifyReport, json: Bool, _ ctx: Context) {
    if json {
        let stages: [JSON] = r.stages.map { s in
            var o: [String: JSON] = [
                "stage": .string(s.stage), "record": jsonId(s.record),
                "exit_status": s.exitStatus.map { .int(Int64($0)) } ?? .null,
                "error": s.error.map { .string($0) } ?? .null,
                "duration_s": .number((s.seconds * 1000).rounded() / 1000),
            ]
            o["outputs"] = .array(s.outputs.map { v in
                .object([
                    "path": .string(v.path), "kind": .string(v.kind.rawValue),
                    "recorded": s.record == nil ? .null : .string(v.recorded.hex), "reproduced": jsonId(v.reproduced),
                    "status": .string(v.identical ? "bit-identical" : v.reproduced == nil ? "missing" : "differs"),
                    "metrics": changesJSON(v.metricChanges)[v.path] ?? .object([:]),
                    "max_weight_difference": v.maxWeightDifference.map { .number($0) } ?? .null,
                ])
            })
            return .object(o)
        }
        ctx.out.line(JSON.object(["commit": .string(r.commit.hex), "identical": .bool(r.identical), "stages": .array(stages)]).encoded(pretty: true))
        return
    }
    ctx.out.line("")
    ctx.out.line("Verification of \(r.commit.short):")
    var total = 0, same = 0
    for s in r.stages {
        ctx.out.line("stage \(s.stage)" + (s.error.map { ": \($0)" } ?? ""))
        for v in s.outputs {
            total += 1
            if v.identical { same += 1; ctx.out.line("  \(Quote.path(v.path)): bit-identical"); continue }
            if s.error != nil { ctx.out.line("  \(Quote.path(v.path)): not reproduced"); continue }
            guard let now = v.reproduced else { ctx.out.line("  \(Quote.path(v.path)): differs (the re-run did not write it)"); continue }
            ctx.out.line("  \(Quote.path(v.path)): differs (recorded \(v.recorded.short), reproduced \(now.short))"
                         + (v.maxWeightDifference.map { "; max |weight difference| \($0)" } ?? ""))
            for c in v.metricChanges {
                let d = c.diff.map { ($0 >= 0 ? " (+" : " (") + formatFixed($0, 6) + ")" } ?? ""
                ctx.out.line("    \(c.key): \(c.old?.display() ?? "-") -> \(c.new?.display() ?? "-")\(d)")
            }
        }
    }
    ctx.out.line(same == total ? "all \(total) output(s) bit-identical" : "\(total - same) of \(total) output(s) differ")
}
