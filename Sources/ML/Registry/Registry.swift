import Store
import Support

/// A required metric for a promotion: `accuracy>=0.9`, `eval.json:rmse<3`.
public struct MetricCheck: Sendable, Equatable {
    public var key: String
    public var op: String
    public var value: Double
    public var text: String

    /// Parses "KEY OP VALUE" with OP one of >=, <=, >, <, ==, !=.
    public static func parse(_ s: String) throws -> MetricCheck {
        let chars = Array(s)
        for op in [">=", "<=", "==", "!=", ">", "<"] {
            let o = Array(op)
            var at: Int? = nil
            var i = 0
            while i + o.count <= chars.count { if Array(chars[i..<(i + o.count)]) == o { at = i; break }; i += 1 }
            if let at {
                let key = String(chars[0..<at]).trimmed(" ")
                let v = String(chars[(at + o.count)...]).trimmed(" ")
                guard !key.isEmpty, !key.contains(where: { "=<>!".contains($0) }), let d = Double(v), d.isFinite else { break }
                return MetricCheck(key: key, op: op, value: d, text: "\(key)\(op)\(v)")
            }
        }
        throw MLError.badArgument(option: "--require", value: s, reason: "expected METRIC OP NUMBER, e.g. 'accuracy>=0.9' (OP: >=, <=, >, <, ==, !=)")
    }

    func holds(_ x: Double) -> Bool {
        switch op {
        case ">=": return x >= value
        case "<=": return x <= value
        case ">": return x > value
        case "<": return x < value
        case "==": return x == value
        default: return x != value
        }
    }
}

/// One promotion of a model version to an alias (the `meta` record of a promotion commit).
public struct Promotion: Sendable {
    public var alias: String
    public var path: String
    public var modelId: String
    public var commit: String
    public var by: String
    public var time: String
    public var checks: [JSON]
    public var note: String?
    /// The promotion commit itself.
    public var id: ObjectId

    var json: JSON {
        var o: [String: JSON] = ["type": .string("promotion"), "alias": .string(alias), "path": .string(path), "model": .string(modelId),
                                 "commit": .string(commit), "by": .string(by), "time": .string(time), "checks": .array(checks)]
        if let note { o["note"] = .string(note) }
        return .object(o)
    }
}

/// The model registry: aliases (staging, production, …) are refs `refs/aliases/NAME` to
/// promotion commits. A promotion commit has the promoted commit's tree, its previous
/// promotion as first parent and the promoted commit as second parent, and a `meta` header
/// naming a canonical-JSON record (alias, model path and id, who, when, the checks that
/// passed). So an alias keeps its history, gc keeps what it points to, and push/pull move
/// it like a branch.
extension MLRepo {
    public static func aliasRef(_ name: String) -> String { "refs/aliases/" + name }

    /// Metrics values of a commit's declared metrics files.
    public func metricsValues(at commit: ObjectId) throws -> ValuesByFile {
        try values(of: .commit(commit, label: commit.short), metrics: true)
    }

    /// Promotes `path` at `rev` to `alias` after checking the model, its lineage and the
    /// required metrics. Throws naming the first failing check; nothing is written then.
    public func promote(path: String, rev: String, alias: String, require: [MetricCheck], note: String?) throws -> Promotion {
        guard Refs.isValidName(alias), !alias.contains("/") else { throw MLError.badName(what: "alias", name: alias) }
        let commit = try repo.resolveCommit(rev)
        func refused(_ why: MLError.Refusal) -> MLError { .promotionRefused(path: path, revision: commit.short, why: why) }
        let files = try repo.files(ofCommit: commit)
        guard let file = files[path] else { throw MLError.revision("\(commit.short) (\(rev))", reason: "has no file '\(path)'") }
        // It must be a model file.
        var bytes: [UInt8] = []
        try FileReader(store: repo.store).read(file.id) { bytes.append(contentsOf: $0) }
        _ = try ModelFile.decode(bytes, path: "\(rev):\(path)")
        // Lineage: a recorded run produced this version, and everything it read is stored.
        let node = try upstream(path: path, commit: commit)
        guard node.producedBy != nil else {
            throw refused(.incompleteLineage("no recorded run produced this version (train it with 'mlrepo train' or 'repro' and commit)"))
        }
        if let note = node.note { throw refused(.incompleteLineage(note)) }
        var missing: [String] = []
        func walk(_ n: LineageNode) {
            if let id = n.id, !repo.store.contains(id) { missing.append(n.path) }
            for i in n.producedBy?.inputs ?? [] { walk(i) }
            for p in n.parts { walk(p) }
        }
        for i in node.producedBy?.inputs ?? [] { walk(i) }
        if !missing.isEmpty {
            throw refused(.incompleteLineage("training input\(missing.count == 1 ? "" : "s") not in the store: \(missing.joined(separator: ", "))"))
        }
        // Metrics: only the model's own evaluation counts, found through lineage: the metrics
        // files written by the run that produced this version, and by runs that read it
        // directly (an eval stage), as this commit holds them.
        let all = require.isEmpty ? [:] : try metricsValues(at: commit)
        var own = Set<String>()
        if !require.isEmpty {
            if let step = node.producedBy {
                for o in try record(step.record).outs where o.kind == .metrics && files[o.path]?.id == o.id { own.insert(o.path) }
            }
            for d in try downstream(path: path, id: file.id) where d.depth == 1 && d.kind == .metrics && files[d.path]?.id == d.id {
                own.insert(d.path)
            }
        }
        let values = all.filter { own.contains($0.key) }
        var checks: [JSON] = []
        for c in require {
            var found: Double? = nil
            if let colon = c.key.lastIndex(of: ":") {
                let f = String(c.key[..<colon]), k = String(c.key[c.key.index(after: colon)...])
                if all[f] != nil && values[f] == nil { throw refused(.notAnEvaluation(file: f)) }
                found = values[f]?[k]?.doubleValue
            } else {
                let hits = values.keys.sorted().compactMap { values[$0]?[c.key]?.doubleValue }
                guard hits.count <= 1 else {
                    throw MLError.badArgument(option: "--require", value: c.text, reason: "'\(c.key)' is in several metrics files; name one as FILE:\(c.key)")
                }
                found = hits.first
            }
            guard let x = found else {
                throw refused(.metricMissing(key: c.key, available: values.flatMap { f, kv in kv.keys.map { "\(f):\($0)" } }.sorted()))
            }
            guard c.holds(x) else { throw refused(.checkFailed(check: c.text, key: c.key, value: x)) }
            checks.append(.object(["check": .string(c.text), "value": .number(x), "passed": .bool(true)]))
        }
        let ref = MLRepo.aliasRef(alias)
        let previous = try repo.refs.read(ref)
        let who = repo.signature()
        var p = Promotion(alias: alias, path: path, modelId: file.id.hex, commit: commit.hex, by: "\(who.name) <\(who.email)>",
                          time: ISOTime.format(Clock.wallSeconds()), checks: checks, note: note, id: commit)
        let meta = try repo.store.put(.blob, Array(p.json.encoded().utf8))
        try repo.store.commitPending()
        let tree = try repo.readCommit(commit).tree
        let msg = "promote \(path)@\(commit.short) to \(alias)" + (note.map { "\n\n\($0)" } ?? "")
        p.id = try repo.commitObject(tree: tree, parents: (previous.map { [$0] } ?? []) + [commit], headers: [("meta", meta.hex)],
                                     message: msg, ref: ref, expected: previous)
        return p
    }

    /// The promotion an alias points at now, nil when the alias does not exist.
    public func alias(_ name: String) throws -> Promotion? {
        guard let id = try repo.refs.read(MLRepo.aliasRef(name)) else { return nil }
        return try promotion(id)
    }

    func promotion(_ id: ObjectId) throws -> Promotion {
        let c = try repo.readCommit(id)
        guard let metaHex = c.extra.first(where: { $0.key == "meta" })?.value, let metaId = ObjectId(hex: metaHex) else {
            throw MLError.revision(id.short, reason: "is not a promotion: it names no promotion record")
        }
        let j = try JSON.parse(text(of: metaId, path: "promotion record"))
        guard j["type"]?.stringValue == "promotion", let path = j["path"]?.stringValue, let commit = j["commit"]?.stringValue else {
            throw MLError.revision(id.short, reason: "is not a promotion")
        }
        return Promotion(alias: j["alias"]?.stringValue ?? "", path: path, modelId: j["model"]?.stringValue ?? "", commit: commit,
                         by: j["by"]?.stringValue ?? "", time: j["time"]?.stringValue ?? "", checks: j["checks"]?.arrayValue ?? [],
                         note: j["note"]?.stringValue, id: id)
    }

    /// Every promotion of an alias, newest first.
    public func aliasLog(_ name: String) throws -> [Promotion] {
        guard var id = try repo.refs.read(MLRepo.aliasRef(name)) else { throw MLError.notFound(what: "alias", name: name, place: nil, known: try aliases().map(\.name)) }
        var out: [Promotion] = []
        while true {
            out.append(try promotion(id))
            let c = try repo.readCommit(id)
            guard c.parents.count == 2 else { break }
            id = c.parents[0]
        }
        return out
    }

    public func aliases() throws -> [(name: String, promotion: Promotion)] {
        try repo.refs.list("aliases").map { ($0.name, try promotion($0.id)) }
    }

    /// Model files (`.mlmodel`, or paths of kind model) across the history of every branch:
    /// path → versions (model id, first commit that has it, its time), oldest first.
    public func registryModels() throws -> [(path: String, versions: [(id: String, commit: String, time: Int64)])] {
        var versions: [String: [(id: String, commit: String, time: Int64)]] = [:]
        // Parents before children (a topological order), so versions are listed oldest first
        // even when commits share a timestamp.
        var seenCommits = Set<ObjectId>()
        var commits: [(ObjectId, Commit)] = []
        var stack: [(ObjectId, Bool)] = try repo.branches().map { ($0.id, false) }
        while let (id, expanded) = stack.popLast() {
            if expanded { if let c = try? repo.readCommit(id) { commits.append((id, c)) }; continue }
            guard seenCommits.insert(id).inserted, let c = try? repo.readCommit(id) else { continue }
            stack.append((id, true))
            for p in c.parents.reversed() where !seenCommits.contains(p) { stack.append((p, false)) }
        }
        for (id, c) in commits {
            let files = try repo.flatten(c.tree)
            for (p, f) in files where p.hasSuffix(".mlmodel") {
                if versions[p]?.contains(where: { $0.id == f.id.hex }) == true { continue }
                versions[p, default: []].append((f.id.hex, id.hex, c.committer.time))
            }
        }
        return versions.keys.sorted().map { ($0, versions[$0]!) }
    }
}

