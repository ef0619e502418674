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
            "started": .string(isoUTC(started)),
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
        started = j["started"]?.stringValue.flatMap(parseISOUTC) ?? 0
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
        "cpu_count": .int(Int64(ProcessInfoLite.activeProcessorCount)),
    ]
    if let info = try? FS.readText("/proc/cpuinfo"),
       let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
       let colon = line.firstIndex(of: ":") {
        env["cpu"] = .string(String(line[line.index(after: colon)...]).trimmingCharacters(in: " \t"))
    } else {
        env["cpu"] = .string(field(u.machine))
    }
    return env
}

// MARK: Time

/// `2026-11-23T02:04:01.123Z` (milliseconds only when the time has a fraction).
public func isoUTC(_ t: Double) -> String {
    var secs = time_t(t.rounded(.down))
    let ms = Int(((t - Double(secs)) * 1000).rounded())
    var tm = tm()
    var ms2 = ms
    if ms2 >= 1000 { secs += 1; ms2 -= 1000 }
    gmtime_r(&secs, &tm)
    func p(_ v: Int32, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
    var s = "\(p(tm.tm_year + 1900, 4))-\(p(tm.tm_mon + 1, 2))-\(p(tm.tm_mday, 2))T\(p(tm.tm_hour, 2)):\(p(tm.tm_min, 2)):\(p(tm.tm_sec, 2))"
    if ms2 > 0 { s += "." + p(Int32(ms2), 3) }
    return s + "Z"
}

/// Inverse of `isoUTC` (also accepts no fraction).
public func parseISOUTC(_ s: String) -> Double? {
    let b = Array(s.utf8)
    guard b.count >= 20, b.last == UInt8(ascii: "Z") else { return nil }
    func num(_ r: Range<Int>) -> Int32? { Int32(String(decoding: b[r], as: UTF8.self)) }
    guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16), let se = num(17..<19) else { return nil }
    var tm = tm()
    tm.tm_year = y - 1900; tm.tm_mon = mo - 1; tm.tm_mday = d; tm.tm_hour = h; tm.tm_min = mi; tm.tm_sec = se
    var t = Double(timegm(&tm))
    if b.count > 21, b[19] == UInt8(ascii: "."), let f = Double("0" + String(decoding: b[19..<(b.count - 1)], as: UTF8.self)) { t += f }
    return t
}
