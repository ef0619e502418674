import Store
import Support

/// A failure of the ML layer. Each case is one operation that failed (reading the project
/// file, a params or metrics file, running a stage, training, reading a model or a record,
/// promoting) and carries what a person needs to act on it: the file, stage, path or
/// revision, and the cause. The description is one line; callers match on the case.
public enum MLError: Error, CustomStringConvertible, Equatable, Sendable {
    // MARK: Reading the project, params and metrics files

    /// The project file `file` (nil: a project built in code) is invalid; `stage` names the
    /// stage entry at fault, when one is.
    case project(file: String?, stage: String?, reason: String)
    /// `file` is not valid JSON at `line`, `column` (1-based; column counts characters).
    case json(file: String, line: Int, column: Int, reason: String)
    /// A params file named by `stage` is missing, is not an object, or lacks a key.
    case params(file: String, stage: String?, reason: String)
    /// A metrics file is not valid JSON or not an object.
    case metrics(file: String, reason: String)
    /// A file read whole (project, params, metrics) is larger than `limit` bytes.
    case tooLarge(path: String, limit: Int)
    /// There is no project file at the root of the work tree `root`.
    case noProject(root: String)
    /// `value` is not one of the `expected` names of `what` (a path kind, a model type).
    case unknownValue(what: String, value: String, expected: [String])
    /// No `what` (a stage, an alias) is named `name` in `place`; `known` lists those there are.
    case notFound(what: String, name: String, place: String?, known: [String])
    /// A command-line value (`--require 'x'`) cannot be used.
    case badArgument(option: String, value: String, reason: String)

    // MARK: Running stages

    /// Running stage `stage` failed before its command, or its result cannot be recorded.
    case stage(String, reason: String)
    /// Stage `stage` finished without writing its output `output`; nothing was recorded.
    case outputMissing(stage: String, output: String)

    // MARK: Training, evaluating and scoring models

    /// Hyperparameter `param` of model type `model` is wrong (or unknown).
    case param(model: String, param: String, reason: String)
    /// Model type `model` takes no hyperparameter `param` (a typo); `known` lists those it takes.
    case unknownParam(model: String, param: String, known: [String])
    /// Training or scoring a model of type `model` (nil: any) cannot go on with this data.
    case model(String?, reason: String)
    /// A model file is invalid; `path` nil when it was decoded without one.
    case modelFile(path: String?, reason: String)
    /// An ONNX file (`path` nil when decoded from memory) is malformed or uses what mlrepo
    /// cannot read; `reason` names the field and byte offset.
    case onnx(path: String?, reason: String)
    /// An ONNX model that loaded failed on the data it was given (a shape, an index, a
    /// missing input): the model is fine, the input is not.
    case onnxRun(path: String?, reason: String)
    /// A file could not be read at all (`reason`: the system's error).
    case unreadable(path: String, reason: String)
    /// A data file cannot be used (it names the file, line and column).
    case data(DatasetError)

    // MARK: History: commits, lineage records, the registry

    /// Revision `revision` (a commit's short id, with the name given where it helps) does
    /// not hold what was asked for, or is not what it was taken for.
    case revision(String, reason: String)
    /// `path` is not in commit `revision` (nil: in the work tree).
    case pathNotFound(String, revision: String?)
    /// A file that must exist does not (`what`: "model file").
    case fileNotFound(String, what: String)
    /// A stored record (`what`: "lineage record ab12…", "commit metadata", the pending-runs
    /// file) is malformed.
    case corrupt(what: String, reason: String)
    /// `name` is not a valid `what` name (an alias).
    case badName(what: String, name: String)
    /// Promoting `path` at commit `revision` was refused.
    case promotionRefused(path: String, revision: String, why: Refusal)

    /// A data file's columns do not fit the model that is to score it.
    case columns(file: String, reason: String)
    /// `path` is not a regular file of the work tree.
    case notAFile(String)
    /// `name` (a sort key) matches several columns, `candidates` (FILE:KEY).
    case ambiguous(name: String, candidates: [String])

    /// Why a promotion was refused.
    public enum Refusal: Equatable, Sendable {
        /// The model's lineage is incomplete (no recorded run, a stopped walk, inputs not stored).
        case incompleteLineage(String)
        /// A required metric is not in the commit's metrics files (`available`: FILE:KEY).
        case metricMissing(key: String, available: [String])
        /// `file` is a metrics file of the commit, but neither the run that produced the model
        /// nor a run that read this version of it wrote it.
        case notAnEvaluation(file: String)
        /// `check` (e.g. `accuracy>=0.9`) does not hold: `key` is `value`.
        case checkFailed(check: String, key: String, value: Double)
        /// The path is not a model: its kind (nil: none known, and its bytes are no
        /// recognised model format).
        case notAModel(kind: String?)
    }

    public var description: String {
        switch self {
        case let .project(file, stage, reason):
            return (file.map { "\($0): " } ?? "") + (stage.map { "stage '\($0)': " } ?? "") + reason
        case let .json(file, line, column, reason):
            return "\(file) line \(line), column \(column): invalid JSON: \(reason)"
        case let .params(file, stage, reason):
            return "params file '\(file)' \(reason)" + (stage.map { " (stage '\($0)')" } ?? "")
        case let .metrics(file, reason):
            return "metrics file '\(file)' \(reason)"
        case let .tooLarge(path, limit):
            return "'\(path)' is too large to read as JSON (over \(limit >> 20) MiB)"
        case .noProject(let root):
            return "no \(Project.fileName) at the repository root \(root); declare stages there (see docs/pipelines.md)"
        case let .unknownValue(what, value, expected):
            return "unknown \(what) '\(value)'; expected one of \(expected.joined(separator: ", "))"
        case let .notFound(what, name, place, known):
            return "no \(what) named '\(name)'" + (place.map { " in \($0)" } ?? "")
                + (known.isEmpty ? "" : " (\(what.hasSuffix("s") ? what + "es" : what + "s"): \(known.joined(separator: ", ")))")
        case let .badArgument(option, value, reason):
            return "\(option) '\(value)': \(reason)"
        case let .stage(name, reason):
            return "stage '\(name)': \(reason)"
        case let .outputMissing(stage, output):
            return "stage '\(stage)' finished but did not write its output '\(output)'; nothing was recorded"
        case let .param(model, param, reason):
            return "\(model) param '\(param)' \(reason)"
        case let .unknownParam(model, param, known):
            return "\(model) has no param '\(param)' (known: \(known.joined(separator: ", ")))"
        case let .model(type, reason):
            return (type.map { "\($0): " } ?? "") + reason
        case let .modelFile(path, reason):
            return path.map { "'\($0)' is not a valid mlrepo model: \(reason)" } ?? "invalid model file: \(reason)"
        case let .onnx(path, reason):
            return (path.map { "'\($0)': " } ?? "") + "invalid ONNX model: " + reason
        case let .onnxRun(path, reason):
            return (path.map { "'\($0)' " } ?? "the ONNX model ") + "cannot run on this input: " + reason
        case let .unreadable(path, reason):
            return "cannot read '\(path)': \(reason)"
        case .data(let e):
            return e.description
        case let .revision(rev, reason):
            return "commit \(rev) \(reason)"
        case let .pathNotFound(path, rev):
            return rev.map { "path '\(path)' is not in commit \($0)" } ?? "path '\(path)' does not exist in the work tree"
        case let .fileNotFound(path, what):
            return "\(what) '\(path)' does not exist"
        case let .corrupt(what, reason):
            return "\(what) is corrupt: \(reason)"
        case let .badName(what, name):
            return "'\(name)' is not a valid \(what) name"
        case let .promotionRefused(path, rev, why):
            switch why {
            case .incompleteLineage(let r):
                return "refused: lineage of \(path) at \(rev) is incomplete: \(r)"
            case let .metricMissing(key, available):
                return "refused: required metric '\(key)' is missing in commit \(rev) (metrics: \(available.prefix(12).joined(separator: ", ")))"
            case .notAnEvaluation(let file):
                return "refused: '\(file)' is not an evaluation of \(path) at \(rev): neither the run that produced this version nor a run that read it wrote it"
            case let .checkFailed(check, key, value):
                return "refused: \(check) failed: \(key) is \(value) in commit \(rev)"
            case .notAModel(let kind):
                return "refused: \(path) at \(rev) is not a model: " + (kind.map { "its kind is \($0)" } ?? "its kind is not known and it is no recognised model format")
                    + " (a model is a file of a recognised format, or a file or folder of kind model: mlrepo add --kind model PATH)"
            }
        case let .columns(file, reason):
            return "'\(file)' \(reason)"
        case .notAFile(let path):
            return "'\(path)' is not a file in the work tree"
        case let .ambiguous(name, candidates):
            return "'\(name)' is ambiguous: " + candidates.joined(separator: ", ")
        }
    }
}

/// A stage's command exited with a non-zero status; nothing was recorded.
public struct StageFailed: Error, CustomStringConvertible {
    public let stage: String
    public let status: Int32
    public var description: String { "stage '\(stage)' failed with exit status \(status); its outputs were not recorded" }
}
