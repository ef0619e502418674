#if canImport(Glibc)
import Glibc
#endif
import Store
import Support

/// A path a run read or wrote, with the id it had then.
public struct RecordedPath: Equatable, Sendable {
    public var path: String
    public var id: ObjectId
    public var kind: PathKind

    public var json: JSON { .object(["path": .string(path), "id": .string(id.hex), "kind": .string(kind.rawValue)]) }

    public init(path: String, id: ObjectId, kind: PathKind) { self.path = path; self.id = id; self.kind = kind }

    init(json: JSON, what: String) throws {
        guard let p = json["path"]?.stringValue, let h = json["id"]?.stringValue, let id = ObjectId(hex: h) else {
            throw MLError.corrupt(what: "lineage record", reason: "bad \(what) entry")
        }
        path = p; self.id = id
        kind = json["kind"]?.stringValue.flatMap(PathKind.init(rawValue:)) ?? .other
    }
}

/// A lineage record (.mlrepo-format.md §Lineage record): one run of one stage, stored as a
/// blob of canonical JSON. It says which inputs (path, id) and params produced which
/// outputs (path, id), by which command or built-in trainer, on which machine, how long.
public struct LineageRecord: Equatable, Sendable {
    public static let type = "mlrepo.run"
    public var stage: String
    public var action: StageAction
    public var deps: [RecordedPath]
    public var params: ValuesByFile
    /// Outputs then metrics files, in declaration order.
    public var outs: [RecordedPath]
    public var exitStatus: Int32
    /// Start time, unix seconds (fraction kept to the millisecond).
    public var started: Double
    public var duration: Double
    public var environment: [String: JSON]

    public init(stage: String, action: StageAction, deps: [RecordedPath], params: ValuesByFile, outs: [RecordedPath],
                exitStatus: Int32, started: Double, duration: Double, environment: [String: JSON]) {
        self.stage = stage; self.action = action; self.deps = deps; self.params = params; self.outs = outs
        self.exitStatus = exitStatus; self.started = started; self.duration = duration; self.environment = environment
    }

    public func json() -> JSON {
        var o: [String: JSON] = [
            "type": .string(LineageRecord.type),
            "version": .int(Int64(ML.schemaVersion)),
            "stage": .string(stage),
            "deps": .array(deps.map(\.json)),
            "params": .object(params.mapValues { .object($0) }),
            "outs": .array(outs.map(\.json)),
            "exit_status": .int(Int64(exitStatus)),
            "started": .string(ISOTime.format(started)),
            "duration_s": .number((duration * 1000).rounded() / 1000),
            "environment": .object(environment),
        ]
        switch action {
        case .command(let c): o["cmd"] = .string(c)
        case .builtin(let k, let spec): o[k] = spec
        }
        return .object(o)
    }

    public init(json j: JSON) throws {
        guard j["type"]?.stringValue == LineageRecord.type, let stage = j["stage"]?.stringValue else {
            throw MLError.corrupt(what: "lineage record", reason: "its type is not \(LineageRecord.type) or it names no stage")
        }
        self.stage = stage
        if let c = j["cmd"]?.stringValue { action = .command(c) }
        else if let t = j["train"] { action = .builtin(kind: "train", spec: t) }
        else if let e = j["eval"] { action = .builtin(kind: "eval", spec: e) }
        else { throw MLError.corrupt(what: "lineage record", reason: "stage '\(stage)' has no command") }
        deps = try (j["deps"]?.arrayValue ?? []).map { try RecordedPath(json: $0, what: "deps") }
        outs = try (j["outs"]?.arrayValue ?? []).map { try RecordedPath(json: $0, what: "outs") }
        var p: ValuesByFile = [:]
        for (f, v) in j["params"]?.objectValue ?? [:] { p[f] = v.objectValue ?? [:] }
        // A built-in's hyperparameters are params of the stage; a record written before they
        // were recorded there has them only in its spec.
        for (f, kv) in Stage.builtinParams(stage: stage, action: action) {
            for (k, v) in kv where p[f]?[k] == nil { p[f, default: [:]][k] = v }
        }
        params = p
        exitStatus = Int32(truncatingIfNeeded: Int64(j["exit_status"]?.doubleValue ?? 0))
        started = j["started"]?.stringValue.flatMap(ISOTime.parse) ?? 0
        duration = j["duration_s"]?.doubleValue ?? 0
        environment = j["environment"]?.objectValue ?? [:]
    }

    /// Canonical bytes, as stored.
    public func encoded() -> [UInt8] { Array(json().encoded().utf8) }
}

/// ML metadata of a commit (.mlrepo-format.md §Commit metadata), a canonical-JSON blob the
/// commit names in its `meta` header: the lineage records that describe its outputs (by
/// stage), the kinds of its paths, and its params and metrics values, so `exp show` reads
/// one small object per commit and no data.
public struct CommitMeta: Equatable, Sendable {
    public static let type = "mlrepo.meta"
    public var runs: [String: ObjectId] = [:]
    public var kinds: [String: PathKind] = [:]
    /// Kinds set by hand (`mlrepo add --kind`), carried to later commits.
    public var manualKinds: [String: PathKind] = [:]
    public var params: ValuesByFile = [:]
    public var metrics: ValuesByFile = [:]

    public init() {}

    public var isEmpty: Bool { runs.isEmpty && kinds.isEmpty && manualKinds.isEmpty && params.isEmpty && metrics.isEmpty }

    public func json() -> JSON {
        .object([
            "type": .string(CommitMeta.type),
            "version": .int(Int64(ML.schemaVersion)),
            "runs": .object(runs.mapValues { .string($0.hex) }),
            "kinds": .object(kinds.mapValues { .string($0.rawValue) }),
            "manual_kinds": .object(manualKinds.mapValues { .string($0.rawValue) }),
            "params": .object(params.mapValues { .object($0) }),
            "metrics": .object(metrics.mapValues { .object($0) }),
        ])
    }

    public init(json j: JSON) throws {
        guard j["type"]?.stringValue == CommitMeta.type else { throw MLError.corrupt(what: "commit metadata", reason: "its type is not \(CommitMeta.type)") }
        for (s, v) in j["runs"]?.objectValue ?? [:] {
            guard let h = v.stringValue, let id = ObjectId(hex: h) else { throw MLError.corrupt(what: "commit metadata", reason: "bad run id for stage '\(s)'") }
            runs[s] = id
        }
        for (p, v) in j["kinds"]?.objectValue ?? [:] { kinds[p] = v.stringValue.flatMap(PathKind.init(rawValue:)) ?? .other }
        for (p, v) in j["manual_kinds"]?.objectValue ?? [:] { manualKinds[p] = v.stringValue.flatMap(PathKind.init(rawValue:)) ?? .other }
        for (f, v) in j["params"]?.objectValue ?? [:] { params[f] = v.objectValue ?? [:] }
        for (f, v) in j["metrics"]?.objectValue ?? [:] { metrics[f] = v.objectValue ?? [:] }
    }

    public func encoded() -> [UInt8] { Array(json().encoded().utf8) }

    /// The kind of `path`: its own, or that of the nearest folder above it with one.
    public func kind(of path: String) -> PathKind? {
        if let k = kinds[path] { return k }
        var best: (String, PathKind)? = nil
        for (p, k) in kinds where pathWithin(path, p) { if best == nil || p.count > best!.0.count { best = (p, k) } }
        return best?.1
    }
}

// MARK: Machine description

/// What a lineage record says about where it ran.
public func machineEnvironment() -> [String: JSON] {
    var u = utsname()
    uname(&u)
    func field<T>(_ t: T) -> String {
        withUnsafeBytes(of: t) { b in String(decoding: b.prefix { $0 != 0 }, as: UTF8.self) }
    }
    var env: [String: JSON] = [
        "tool": .string("mlrepo"),
        "tool_version": .string(mlrepoVersion),
        "os": .string("\(field(u.sysname)) \(field(u.release)) \(field(u.machine))"),
        "cpu_count": .int(Int64(CPU.count)),
    ]
    if let info = try? FS.readText("/proc/cpuinfo"),
       let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
       let colon = line.firstIndex(of: ":") {
        env["cpu"] = .string(String(line[line.index(after: colon)...]).trimmed(" \t"))
    } else {
        env["cpu"] = .string(field(u.machine))
    }
    return env
}
