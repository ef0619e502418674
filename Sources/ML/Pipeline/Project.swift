import Store
import Support

/// What a path holds, so `log`, `lineage` and `diff` can speak of "the model" and "the data".
public enum PathKind: String, CaseIterable, Sendable {
    case dataset, features, labels, code, model, metrics, params, other

    public static func parse(_ s: String) throws -> PathKind {
        guard let k = PathKind(rawValue: s.lowercased()) else {
            throw MLError.unknownValue(what: "kind", value: s, expected: PathKind.allCases.map(\.rawValue))
        }
        return k
    }

    static let codeExtensions: Set<String> = ["py", "sh", "bash", "r", "jl", "js", "ts", "swift", "c", "cc", "cpp", "h",
                                              "go", "rs", "java", "scala", "rb", "pl", "ipynb", "sql", "m", "lua", "awk"]
    static let modelExtensions: Set<String> = ["mlmodel", "pkl", "pickle", "joblib", "pt", "pth", "onnx", "h5", "keras",
                                               "safetensors", "ckpt", "pb", "tflite", "model", "gguf", "bst", "cbm", "npz"]

    public static func fileExtension(_ path: String) -> String {
        let base = Path.basename(path)
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return "" }
        return base[base.index(after: dot)...].lowercased()
    }
}

/// A path named by a stage, with its kind when declared.
public struct PathDecl: Equatable, Sendable {
    public var path: String
    public var kind: PathKind?
}

/// A plot a stage declares (DVC's `plots`): a CSV, TSV or JSON file the stage writes, and
/// how to draw it. `x` nil: the row index (step); `y` empty: the last column. For the
/// `confusion` template `x` is the actual-class column and `y` the predicted one.
public struct PlotDecl: Equatable, Sendable {
    public static let templates = ["linear", "scatter", "confusion", "bar"]
    public static let fields: Set<String> = ["x", "y", "template", "title", "x_label", "y_label"]

    public var path: String
    public var x: String?
    public var y: [String]
    /// One of `templates`; nil: linear.
    public var template: String?
    public var title: String?
    public var xLabel: String?
    public var yLabel: String?

    public init(path: String, x: String? = nil, y: [String] = [], template: String? = nil,
                title: String? = nil, xLabel: String? = nil, yLabel: String? = nil) {
        self.path = path; self.x = x; self.y = y; self.template = template
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
    }
}

/// A params entry: `FILE:KEY` (KEY may be nested `a.b`, or empty for the whole file);
/// a bare `KEY` refers to `params.json`.
public struct ParamRef: Equatable, Hashable, Sendable {
    public var file: String
    public var key: String

    public static let defaultFile = "params.json"

    public init(file: String, key: String) { self.file = file; self.key = key }

    public static func parse(_ s: String) -> ParamRef {
        if let c = s.firstIndex(of: ":") {
            return ParamRef(file: String(s[..<c]), key: String(s[s.index(after: c)...]))
        }
        return ParamRef(file: defaultFile, key: s)
    }

    public var text: String { key.isEmpty ? file + ":" : (file == ParamRef.defaultFile ? key : file + ":" + key) }
}

/// How a stage runs: a shell command, or a built-in trainer/evaluator (the compute core).
public enum StageAction: Equatable, Sendable {
    case command(String)
    case builtin(kind: String, spec: JSON)

    /// Equal in meaning: built-in specs compare by canonical JSON (`1.0` equals `1`).
    public func sameAs(_ other: StageAction) -> Bool {
        switch (self, other) {
        case (.command(let a), .command(let b)): return a == b
        case (.builtin(let k1, let s1), .builtin(let k2, let s2)): return k1 == k2 && s1.encoded() == s2.encoded()
        default: return false
        }
    }

    public var summary: String {
        switch self {
        case .command(let c): return c
        case .builtin(let k, let spec): return "built-in \(k) " + spec.encoded()
        }
    }

    /// The action without a built-in's hyperparameters (its spec's "params"): those are
    /// params of the stage (`Stage.builtinParams`), compared as values, so changing one
    /// reads "params changed: train.C", not "its command changed".
    public var withoutHyperparameters: StageAction {
        guard case .builtin(let k, .object(var spec)) = self, spec["params"] != nil else { return self }
        spec["params"] = nil
        return .builtin(kind: k, spec: .object(spec))
    }
}

/// One stage of `mlrepo.json`.
public struct Stage: Equatable, Sendable {
    public var name: String
    public var action: StageAction
    public var deps: [PathDecl]
    public var params: [ParamRef]
    public var outs: [PathDecl]
    public var metrics: [PathDecl]
    public var desc: String?
    /// Plot files the stage writes (outputs too, recorded with kind `other`).
    public var plots: [PlotDecl] = []

    /// Every path the stage writes: outs, then metrics, then plots.
    public var outputs: [PathDecl] { outs + metrics + plots.map { PathDecl(path: $0.path, kind: nil) } }

    /// A built-in stage's hyperparameters (`"train": {"params": {...}}`) as params of the
    /// stage: under file `mlrepo.json`, keyed `STAGE.NAME` (`train.C`; nested objects
    /// flatten further with `.`). Empty for a command stage or a built-in without params.
    public var builtinParams: ValuesByFile { Stage.builtinParams(stage: name, action: action) }

    static func builtinParams(stage: String, action: StageAction) -> ValuesByFile {
        guard case .builtin(_, let spec) = action, let p = spec["params"], let o = p.objectValue, !o.isEmpty else { return [:] }
        return [Project.fileName: flatten(p, prefix: stage)]
    }

    /// Every params value of the stage: those its params entries name, read through `read`
    /// (path → text, nil when absent), then its built-in hyperparameters.
    /// - Throws: `MLError.params` for a missing params file or key, `MLError.json` for a
    ///   params file that is not JSON.
    public func paramValues(read: (String) throws -> String?) throws -> ValuesByFile {
        var out = try readParams(params, stage: name, read: read)
        for (f, kv) in builtinParams { out[f, default: [:]].merge(kv) { $1 } }
        return out
    }
}

/// The project file, `mlrepo.json` at the repository root (docs/pipelines.md):
/// `{"stages": {NAME: {"cmd", "deps", "params", "outs", "metrics"}}, "kinds": {PATH: KIND}}`.
public struct Project: Equatable, Sendable {
    public static let fileName = "mlrepo.json"

    public var stages: [String: Stage]
    /// Kinds declared at the top level, by path.
    public var declaredKinds: [String: PathKind]
    /// Stage names in execution order: producers before consumers, ties by name.
    public private(set) var order: [String] = []

    public init(stages: [String: Stage] = [:], declaredKinds: [String: PathKind] = [:]) throws {
        self.stages = stages
        self.declaredKinds = declaredKinds
        try validate()
    }

    // MARK: Parsing

    /// Parses and validates the text of a project file; errors name `file`, and line and
    /// column for malformed JSON.
    public static func parse(_ text: String, file: String = Project.fileName) throws -> Project {
        let j = try parseJSON(text, file: file)
        guard let top = j.objectValue else { throw MLError.project(file: file, stage: nil, reason: "the top level must be an object with \"stages\"") }
        for k in top.keys where k != "stages" && k != "kinds" && k != "version" {
            throw MLError.project(file: file, stage: nil, reason: "unknown field '\(k)' (expected \"stages\" and optionally \"kinds\")")
        }
        var kinds: [String: PathKind] = [:]
        if let kj = top["kinds"] {
            guard let ko = kj.objectValue else { throw MLError.project(file: file, stage: nil, reason: "\"kinds\" must map paths to kinds") }
            for (p, v) in ko {
                guard let s = v.stringValue else { throw MLError.project(file: file, stage: nil, reason: "kind of '\(p)' must be a string") }
                let path = try normalizePath(p, file: file, what: "kinds")
                do { kinds[path] = try PathKind.parse(s) } catch let e as MLError {
                    throw MLError.project(file: file, stage: nil, reason: "kinds: '\(p)': \(e)")
                }
            }
        }
        var stages: [String: Stage] = [:]
        if let sj = top["stages"] {
            guard let so = sj.objectValue else { throw MLError.project(file: file, stage: nil, reason: "\"stages\" must be an object of named stages") }
            for (name, v) in so { stages[name] = try parseStage(name, v, file: file) }
        }
        do { return try Project(stages: stages, declaredKinds: kinds) } catch MLError.project(nil, let stage, let reason) {
            throw MLError.project(file: file, stage: stage, reason: reason)
        }
    }

    static func parseStage(_ name: String, _ v: JSON, file: String) throws -> Stage {
        func fail(_ m: String) -> MLError { .project(file: file, stage: name, reason: m) }
        guard isValidStageName(name) else { throw MLError.project(file: file, stage: nil, reason: "bad stage name '\(name)' (letters, digits, '-', '_', '.')") }
        guard let o = v.objectValue else { throw fail("must be an object") }
        let known: Set<String> = ["cmd", "train", "eval", "deps", "params", "outs", "metrics", "plots", "desc"]
        for k in o.keys.sorted() where !known.contains(k) { throw fail("unknown field '\(k)'") }
        let actions = ["cmd", "train", "eval"].filter { o[$0] != nil }
        guard actions.count == 1 else {
            throw fail(actions.isEmpty ? "needs a \"cmd\" (or a built-in \"train\" or \"eval\")" : "has both \(actions.joined(separator: " and ")); give one")
        }
        let action: StageAction
        if let c = o["cmd"] {
            if let s = c.stringValue, !s.trimmed(" \t\n").isEmpty { action = .command(s) }
            else if let a = c.arrayValue, !a.isEmpty, a.allSatisfy({ $0.stringValue != nil }) {
                action = .command(a.compactMap(\.stringValue).joined(separator: " && "))
            } else { throw fail("\"cmd\" must be a non-empty string (or a list of strings)") }
        } else {
            let k = actions[0]
            guard o[k]?.objectValue != nil else { throw fail("\"\(k)\" must be an object") }
            action = .builtin(kind: k, spec: o[k]!)
        }
        func paths(_ key: String) throws -> [PathDecl] {
            guard let a = o[key] else { return [] }
            guard let arr = a.arrayValue else { throw fail("\"\(key)\" must be a list of paths") }
            return try arr.map { item in
                if let s = item.stringValue { return PathDecl(path: try normalizePath(s, file: file, what: "stage '\(name)' \(key)"), kind: nil) }
                if let d = item.objectValue, let p = d["path"]?.stringValue {
                    var kind: PathKind? = nil
                    if let ks = d["kind"] {
                        guard let s = ks.stringValue else { throw fail("kind of '\(p)' must be a string") }
                        do { kind = try PathKind.parse(s) } catch let e as MLError { throw fail(e.description) }
                    }
                    for k in d.keys where k != "path" && k != "kind" { throw fail("unknown field '\(k)' in \(key) entry '\(p)'") }
                    return PathDecl(path: try normalizePath(p, file: file, what: "stage '\(name)' \(key)"), kind: kind)
                }
                throw fail("each \"\(key)\" entry must be a path or {\"path\": ..., \"kind\": ...}")
            }
        }
        var params: [ParamRef] = []
        if let pj = o["params"] {
            guard let arr = pj.arrayValue else { throw fail("\"params\" must be a list like [\"params.json:train.lr\"]") }
            for item in arr {
                if let s = item.stringValue, !s.isEmpty {
                    var r = ParamRef.parse(s)
                    r.file = try normalizePath(r.file, file: file, what: "stage '\(name)' params")
                    params.append(r)
                } else if let d = item.objectValue {
                    // dvc.yaml's form: {"FILE": ["key", ...]}
                    for (f, keys) in d {
                        let nf = try normalizePath(f, file: file, what: "stage '\(name)' params")
                        guard let ks = keys.arrayValue, ks.allSatisfy({ $0.stringValue != nil }) else { throw fail("params of '\(f)' must be a list of keys") }
                        if ks.isEmpty { params.append(ParamRef(file: nf, key: "")) }
                        for k in ks { params.append(ParamRef(file: nf, key: k.stringValue!)) }
                    }
                } else { throw fail("each \"params\" entry must be \"FILE:KEY\" or \"KEY\"") }
            }
        }
        var desc: String? = nil
        if let d = o["desc"] { guard let s = d.stringValue else { throw fail("\"desc\" must be a string") }; desc = s }
        var deps = try paths("deps")
        if case .builtin(let kind, let spec) = action {
            // A built-in's data (and an evaluator's model) are dependencies like any other.
            for d in Project.builtinDeps(kind, spec) {
                let n = try normalizePath(d, file: file, what: "stage '\(name)' \(kind)")
                if !deps.contains(where: { $0.path == n }) { deps.append(PathDecl(path: n, kind: kind == "eval" && d == spec["model"]?.stringValue ? .model : nil)) }
            }
        }
        return Stage(name: name, action: action, deps: deps, params: params,
                     outs: try paths("outs"), metrics: try paths("metrics"), desc: desc,
                     plots: try o["plots"].map { try parsePlots($0, stage: name, file: file) } ?? [])
    }

    /// A stage's `"plots"`: a list of paths or `{PATH: {"x", "y", "template", "title",
    /// "x_label", "y_label"}}` objects (dvc.yaml's form).
    static func parsePlots(_ v: JSON, stage name: String, file: String) throws -> [PlotDecl] {
        func fail(_ m: String) -> MLError { .project(file: file, stage: name, reason: m) }
        guard let arr = v.arrayValue else { throw fail("\"plots\" must be a list of paths or {\"PATH\": {\"x\": ..., \"y\": ...}} objects") }
        var out: [PlotDecl] = []
        for item in arr {
            if let s = item.stringValue {
                out.append(PlotDecl(path: try normalizePath(s, file: file, what: "stage '\(name)' plots")))
                continue
            }
            guard let d = item.objectValue, d.count == 1, let (p, cfg) = d.first else {
                throw fail("each \"plots\" entry must be a path or {\"PATH\": {\"x\": ..., \"y\": ...}} with one path")
            }
            var decl = PlotDecl(path: try normalizePath(p, file: file, what: "stage '\(name)' plots"))
            guard let c = cfg.objectValue else { throw fail("plots entry '\(p)' must map to an object of fields (\(PlotDecl.fields.sorted().joined(separator: ", ")))") }
            for k in c.keys.sorted() where !PlotDecl.fields.contains(k) {
                throw fail("unknown field '\(k)' in plots entry '\(p)' (known: \(PlotDecl.fields.sorted().joined(separator: ", ")))")
            }
            func string(_ k: String) throws -> String? {
                guard let j = c[k] else { return nil }
                guard let s = j.stringValue, !s.isEmpty else { throw fail("plots entry '\(p)': \"\(k)\" must be a non-empty string") }
                return s
            }
            decl.x = try string("x")
            if let yj = c["y"] {
                if let s = yj.stringValue, !s.isEmpty { decl.y = [s] }
                else if let ys = yj.arrayValue, !ys.isEmpty, ys.allSatisfy({ !($0.stringValue ?? "").isEmpty }) { decl.y = ys.compactMap(\.stringValue) }
                else { throw fail("plots entry '\(p)': \"y\" must be a column name or a non-empty list of them") }
            }
            if let t = try string("template") {
                guard PlotDecl.templates.contains(t) else {
                    throw fail("plots entry '\(p)': unknown template '\(t)' (one of \(PlotDecl.templates.joined(separator: ", ")))")
                }
                decl.template = t
            }
            if decl.template == "confusion" && decl.y.count > 1 { throw fail("plots entry '\(p)': a confusion plot takes one \"y\" (the predicted column)") }
            decl.title = try string("title")
            decl.xLabel = try string("x_label")
            decl.yLabel = try string("y_label")
            out.append(decl)
        }
        return out
    }

    static func isValidStageName(_ n: String) -> Bool {
        !n.isEmpty && n.utf8.count <= 128 && n.unicodeScalars.allSatisfy {
            ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == ".")
        }
    }

    /// A repo-relative path from a project file: no leading `/`, no `..`, no `.mlrepo`.
    static func normalizePath(_ p: String, file: String, what: String) throws -> String {
        var s = p
        while s.hasPrefix("./") { s.removeFirst(2) }
        while s.hasSuffix("/") { s.removeLast() }
        guard !s.isEmpty, !s.hasPrefix("/"), let n = Path.normalize(s), n != ".", !n.hasPrefix("../"), n != "..",
              n != Repository.dirName, !n.hasPrefix(Repository.dirName + "/") else {
            throw MLError.project(file: file, stage: nil, reason: "\(what): '\(p)' is not a path inside the repository")
        }
        return n
    }

    // MARK: Validation and order

    mutating func validate() throws {
        // Each output has one producer, and outputs do not nest inside each other.
        var producer: [String: String] = [:]
        for name in stages.keys.sorted() {
            let s = stages[name]!
            for o in s.outputs {
                if let other = producer[o.path] {
                    throw other == name ? MLError.project(file: nil, stage: name, reason: "declares output '\(o.path)' twice")
                                        : MLError.project(file: nil, stage: nil, reason: "output '\(o.path)' is declared by two stages: '\(other)' and '\(name)'")
                }
                for (p, other) in producer where pathWithin(p, o.path) || pathWithin(o.path, p) {
                    throw MLError.project(file: nil, stage: nil, reason: "outputs overlap: '\(p)' (stage '\(other)') and '\(o.path)' (stage '\(name)')")
                }
                producer[o.path] = name
            }
        }
        // Edges producer → consumer; Kahn's algorithm with ties by name; a cycle is named.
        var consumers: [String: Set<String>] = [:]
        var indegree: [String: Int] = [:]
        for n in stages.keys { indegree[n] = 0 }
        for (name, s) in stages {
            var ups = Set<String>()
            for d in s.deps {
                for (p, prod) in producer where p == d.path || pathWithin(d.path, p) || pathWithin(p, d.path) { ups.insert(prod) }
            }
            for r in s.params { if let prod = producer[r.file] { ups.insert(prod) } }
            for u in ups {
                if u == name { throw MLError.project(file: nil, stage: nil, reason: "stage cycle: '\(name)' depends on its own output") }
                if consumers[u, default: []].insert(name).inserted { indegree[name]! += 1 }
            }
        }
        var ready = indegree.filter { $0.value == 0 }.map(\.key).sorted()
        var out: [String] = []
        while !ready.isEmpty {
            let n = ready.removeFirst()
            out.append(n)
            for c in (consumers[n] ?? []).sorted() {
                indegree[c]! -= 1
                if indegree[c] == 0 { ready.append(c); ready.sort() }
            }
        }
        if out.count < stages.count {
            let left = Set(stages.keys).subtracting(out)
            throw MLError.project(file: nil, stage: nil, reason: "stage cycle: " + Project.describeCycle(in: left, consumers: consumers))
        }
        order = out
    }

    static func describeCycle(in left: Set<String>, consumers: [String: Set<String>]) -> String {
        // Follow edges inside the remaining set until a stage repeats.
        var path: [String] = []
        var cur = left.sorted().first!
        while !path.contains(cur) {
            path.append(cur)
            guard let next = (consumers[cur] ?? []).filter({ left.contains($0) }).sorted().first else { break }
            cur = next
        }
        if let i = path.firstIndex(of: cur) { return (path[i...] + [cur]).joined(separator: " -> ") }
        return left.sorted().joined(separator: ", ")
    }

    /// The stage that writes `path` (or a folder containing it).
    public func producer(of path: String) -> String? {
        for n in order { if stages[n]!.outputs.contains(where: { $0.path == path || pathWithin(path, $0.path) }) { return n } }
        return nil
    }

    /// Stages that write `path`, a folder containing it, or something inside folder `path`.
    public func producers(of path: String) -> [String] {
        order.filter { n in stages[n]!.outputs.contains { pathCovers($0.path, path) || pathWithin($0.path, path) } }
    }

    /// Stages `targets` need (themselves and every stage upstream), in execution order.
    public func closure(of targets: [String]) throws -> [String] {
        for t in targets where stages[t] == nil {
            throw MLError.notFound(what: "stage", name: t, place: Project.fileName, known: order)
        }
        if targets.isEmpty { return order }
        var need = Set(targets)
        var changed = true
        while changed {
            changed = false
            for n in need {
                let s = stages[n]!
                for d in s.deps.map(\.path) + s.params.map(\.file) {
                    if let p = producer(of: d), need.insert(p).inserted { changed = true }
                    for (m, st) in stages where st.outputs.contains(where: { pathWithin($0.path, d) }) {
                        if need.insert(m).inserted { changed = true }
                    }
                }
            }
        }
        return order.filter { need.contains($0) }
    }

    /// Stages downstream of `stage` (not including it), in execution order.
    public func downstream(of stage: String) -> [String] {
        var hit = Set([stage])
        for n in order where n != stage {
            let s = stages[n]!
            let inputs = s.deps.map(\.path) + s.params.map(\.file)
            if inputs.contains(where: { d in hit.contains(where: { h in stages[h]!.outputs.contains { $0.path == d || pathWithin(d, $0.path) || pathWithin($0.path, d) } }) }) {
                hit.insert(n)
            }
        }
        return order.filter { hit.contains($0) && $0 != stage }
    }

    // MARK: Kinds

    /// The kind of every path the project names: declared (top-level "kinds" or a
    /// `{"path", "kind"}` entry) or inferred from the stage role (docs/pipelines.md):
    /// metrics → metrics; params files → params; an output with a model extension, or one
    /// no stage consumes → model, else features; an input with a code extension → code,
    /// one whose name mentions "label" → labels, otherwise dataset.
    public func kinds() -> [String: PathKind] {
        var out: [String: PathKind] = [:]
        var consumed = Set<String>()
        for s in stages.values { for d in s.deps { consumed.insert(d.path) } }
        for n in order {
            let s = stages[n]!
            for r in s.params { out[r.file] = .params }
            for m in s.metrics { out[m.path] = m.kind ?? .metrics }
            for p in s.plots { out[p.path] = .other }
            for o in s.outs {
                if let k = o.kind { out[o.path] = k; continue }
                let ext = PathKind.fileExtension(o.path)
                let isConsumed = consumed.contains(o.path) || consumed.contains { pathWithin($0, o.path) || pathWithin(o.path, $0) }
                if PathKind.modelExtensions.contains(ext) { out[o.path] = .model }
                else if Path.basename(o.path).lowercased().contains("label") { out[o.path] = .labels }
                else { out[o.path] = isConsumed ? .features : .model }
            }
        }
        for n in order {
            for d in stages[n]!.deps where out[d.path] == nil || d.kind != nil {
                if let k = d.kind { out[d.path] = k; continue }
                if !producers(of: d.path).isEmpty { continue }
                let ext = PathKind.fileExtension(d.path)
                if PathKind.codeExtensions.contains(ext) { out[d.path] = .code }
                else if Path.basename(d.path).lowercased().contains("label") { out[d.path] = .labels }
                else { out[d.path] = .dataset }
            }
        }
        for (p, k) in declaredKinds { out[p] = k }
        return out
    }
}

/// True when `path` lies strictly below folder `dir`.
@inline(__always)
func pathWithin(_ path: String, _ dir: String) -> Bool {
    path.utf8.count > dir.utf8.count && path.hasPrefix(dir) && path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: dir.utf8.count)] == 0x2F
}

/// `path` equals `spec` or lies below it.
@inline(__always)
func pathCovers(_ spec: String, _ path: String) -> Bool { path == spec || pathWithin(path, spec) }

/// Parses JSON text, turning a syntax error into "FILE line L, column C: reason".
public func parseJSON(_ text: String, file: String) throws -> JSON {
    do { return try JSON.parse(text) } catch let e as JSON.ParseError {
        var line = 1, col = 1, i = 0
        for b in text.utf8 {
            if i >= e.offset { break }
            if b == 0x0A { line += 1; col = 1 } else if b & 0xC0 != 0x80 { col += 1 }
            i += 1
        }
        throw MLError.json(file: file, line: line, column: col, reason: e.reason)
    }
}

