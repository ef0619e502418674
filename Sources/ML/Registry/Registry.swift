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

/// One promotion of a model version to an alias (the `meta` record of a promotion commit,
/// .mlrepo-format.md §12.3). `format`, `size`, `signature` and `signatureError` are absent
/// from records written before mlrepo recorded them (nil then).
public struct Promotion: Sendable {
    public var alias: String
    public var path: String
    /// The model's id: the file's, or a folder's tree id.
    public var modelId: String
    public var commit: String
    public var by: String
    public var time: String
    /// The `--require` checks that passed: {"check", "file", "key", "op", "threshold",
    /// "value", "passed"} ("check", "value" and "passed" only, in older records).
    public var checks: [JSON]
    public var note: String?
    /// The promotion commit itself.
    public var id: ObjectId
    /// `ModelFormat` raw value (`onnx`, `pickle`, `directory`, …).
    public var format: String? = nil
    /// Bytes of the model (a folder: the total of its files).
    public var size: UInt64? = nil
    public var signature: ModelSignature? = nil
    /// Why a model of a format mlrepo reads has no signature (it did not decode).
    public var signatureError: String? = nil
    /// An ONNX model's training statistics (`TrainingData.json`), computed at promotion from
    /// the data its producing run read: the blob's id (the commit's `training-stats` header
    /// names it too, so gc, push and fetch keep and move it). nil: none (see below, or an
    /// older record, or not an ONNX model).
    public var trainingStats: ObjectId? = nil
    /// Why an ONNX model has no training statistics (drift monitoring is off), one line.
    public var trainingStatsOff: String? = nil
    /// False when the promotion was made with `--no-lineage` (its lineage was not checked:
    /// a model trained outside mlrepo's runs); true otherwise, and in older records.
    public var lineageChecked = true

    /// The record's fields (without the promotion commit's id).
    public var json: JSON {
        var o: [String: JSON] = ["type": .string("promotion"), "alias": .string(alias), "path": .string(path), "model": .string(modelId),
                                 "commit": .string(commit), "by": .string(by), "time": .string(time), "checks": .array(checks)]
        if let note { o["note"] = .string(note) }
        if let format { o["format"] = .string(format) }
        if let size { o["size"] = .int(Int64(clamping: size)) }
        if let signature { o["signature"] = signature.json }
        if let signatureError { o["signature_error"] = .string(signatureError) }
        if let trainingStats { o["training_stats"] = .string(trainingStats.hex) }
        if let trainingStatsOff { o["training_stats_off"] = .string(trainingStatsOff) }
        if !lineageChecked { o["lineage_checked"] = .bool(false) }
        return .object(o)
    }
}

extension Promotion {
    /// Reads a record; nil when it is not a promotion. Unknown or malformed optional fields
    /// are dropped (the record still reads), so older and newer writers' records both load.
    init?(json j: JSON, id: ObjectId) {
        guard j["type"]?.stringValue == "promotion", let path = j["path"]?.stringValue, let commit = j["commit"]?.stringValue else { return nil }
        self.init(alias: j["alias"]?.stringValue ?? "", path: path, modelId: j["model"]?.stringValue ?? "", commit: commit,
                  by: j["by"]?.stringValue ?? "", time: j["time"]?.stringValue ?? "", checks: j["checks"]?.arrayValue ?? [],
                  note: j["note"]?.stringValue, id: id)
        format = j["format"]?.stringValue
        if let d = j["size"]?.doubleValue, d >= 0, d < 1.8e19 { size = UInt64(d) }
        signature = j["signature"].flatMap(ModelSignature.init(json:))
        signatureError = j["signature_error"]?.stringValue
        trainingStats = j["training_stats"]?.stringValue.flatMap { ObjectId(hex: $0) }
        trainingStatsOff = j["training_stats_off"]?.stringValue
        if case .bool(false)? = j["lineage_checked"] { lineageChecked = false }
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
    /// `checkLineage` false (`--no-lineage`): a model no recorded run produced (trained by a
    /// script outside mlrepo and added) is promoted too, and the record says its lineage was
    /// not checked; gates still read only the model's own evaluation (an eval stage that
    /// read this version).
    public func promote(path: String, rev: String, alias: String, require: [MetricCheck], note: String?,
                        checkLineage: Bool = true) throws -> Promotion {
        guard Refs.isValidName(alias), !alias.contains("/") else { throw MLError.badName(what: "alias", name: alias) }
        let commit = try repo.resolveCommit(rev)
        func refused(_ why: MLError.Refusal) -> MLError { .promotionRefused(path: path, revision: commit.short, why: why) }
        let files = try repo.files(ofCommit: commit)
        // It must be a model: a file of a recognised format, or a file or folder of kind model.
        var model = try modelArtifact(path: path, commit: commit, rev: rev, signature: false)
        // Lineage: a recorded run produced this version, and everything it read is stored.
        let node = try upstream(path: path, commit: commit)
        guard node.producedBy != nil || !checkLineage else {
            throw refused(.incompleteLineage("no recorded run produced this version (train it with 'mlrepo train' or 'repro' and commit, or promote a model trained elsewhere with --no-lineage)"))
        }
        if let note = node.note, checkLineage { throw refused(.incompleteLineage(note)) }
        var missing: [String] = []
        func walk(_ n: LineageNode) {
            if let id = n.id, !repo.store.contains(id) { missing.append(n.path) }
            for i in n.producedBy?.inputs ?? [] { walk(i) }
            for p in n.parts { walk(p) }
        }
        for i in node.producedBy?.inputs ?? [] { walk(i) }
        if !missing.isEmpty && checkLineage {
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
            for d in try downstream(path: path, id: model.id) where d.depth == 1 && d.kind == .metrics && files[d.path]?.id == d.id {
                own.insert(d.path)
            }
        }
        let values = all.filter { own.contains($0.key) }
        var checks: [JSON] = []
        for c in require {
            var found: (file: String, key: String, value: Double)? = nil
            if let colon = c.key.lastIndex(of: ":") {
                let f = String(c.key[..<colon]), k = String(c.key[c.key.index(after: colon)...])
                if all[f] != nil && values[f] == nil { throw refused(.notAnEvaluation(file: f)) }
                found = values[f]?[k]?.doubleValue.map { (f, k, $0) }
            } else {
                let hits = values.keys.sorted().compactMap { f in values[f]?[c.key]?.doubleValue.map { (file: f, key: c.key, value: $0) } }
                guard hits.count <= 1 else {
                    throw MLError.badArgument(option: "--require", value: c.text, reason: "'\(c.key)' is in several metrics files; name one as FILE:\(c.key)")
                }
                found = hits.first
            }
            guard let (file, key, x) = found else {
                throw refused(.metricMissing(key: c.key, available: values.flatMap { f, kv in kv.keys.map { "\(f):\($0)" } }.sorted()))
            }
            // The refusal names the file the value was read from.
            guard c.holds(x) else { throw refused(.checkFailed(check: c.text, key: "\(file):\(key)", value: x)) }
            checks.append(.object(["check": .string(c.text), "file": .string(file), "key": .string(key), "op": .string(c.op),
                                   "threshold": .number(c.value), "value": .number(x), "passed": .bool(true)]))
        }
        // Every check passed: read the signature (the whole file, for .mlmodel and ONNX).
        try readSignature(&model, rev: rev)
        let ref = MLRepo.aliasRef(alias)
        let previous = try repo.refs.read(ref)
        let who = repo.signature()
        var p = Promotion(alias: alias, path: path, modelId: model.id.hex, commit: commit.hex, by: "\(who.name) <\(who.email)>",
                          time: ISOTime.format(Clock.wallSeconds()), checks: checks, note: note, id: commit,
                          format: model.format.rawValue, size: model.size, signature: model.signature, signatureError: model.signatureError)
        p.lineageChecked = checkLineage
        // An ONNX model carries no training statistics: compute them now from the data its
        // run read, so that serving the alias (a replica too) never needs that data.
        var headers: [(key: String, value: String)] = []
        if model.format == .onnx {
            switch allTrainingData(ofModel: path, modelId: model.id.hex, commit: commit) {
            case .success(let td):
                let bytes = Array(td.json.encoded().utf8)
                if bytes.count <= MLRepo.maxSmallFile {
                    let id = try repo.store.put(.blob, bytes)
                    p.trainingStats = id
                    headers.append(("training-stats", id.hex))
                } else {
                    p.trainingStatsOff = "the training statistics of \(td.path) (\(td.columns.count) columns) are over \(MLRepo.maxSmallFile >> 20) MiB"
                }
            case .failure(let why): p.trainingStatsOff = why.description
            }
        }
        let meta = try repo.store.put(.blob, Array(p.json.encoded().utf8))
        try repo.store.commitPending()
        let tree = try repo.readCommit(commit).tree
        let msg = "promote \(path)@\(commit.short) to \(alias)" + (note.map { "\n\n\($0)" } ?? "")
        p.id = try repo.commitObject(tree: tree, parents: (previous.map { [$0] } ?? []) + [commit], headers: [("meta", meta.hex)] + headers,
                                     message: msg, ref: ref, expected: previous)
        return p
    }

    /// The promotion an alias points at now, nil when the alias does not exist.
    public func alias(_ name: String) throws -> Promotion? {
        guard let id = try repo.refs.read(MLRepo.aliasRef(name)) else { return nil }
        return try promotion(id)
    }

    /// The promotion record of promotion commit `id`.
    public func promotion(_ id: ObjectId) throws -> Promotion {
        let c = try repo.readCommit(id)
        guard let metaHex = c.extra.first(where: { $0.key == "meta" })?.value, let metaId = ObjectId(hex: metaHex) else {
            throw MLError.revision(id.short, reason: "is not a promotion: it names no promotion record")
        }
        let j = try JSON.parse(text(of: metaId, path: "promotion record"))
        guard let p = Promotion(json: j, id: id) else { throw MLError.revision(id.short, reason: "is not a promotion") }
        return p
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

    /// One version of a model in the registry listing.
    public struct RegistryVersion: Sendable {
        /// The model id: the file's, or a folder's tree id.
        public var id: String
        /// The first commit (oldest in topological order) that has it, and that commit's time.
        public var commit: String
        public var time: Int64
        /// `ModelFormat` raw value, from the name and the file's first bytes.
        public var format: String
        /// Bytes (a folder: the total of its files).
        public var size: UInt64
    }

    /// Models across the history of every branch: files of a recognised model format (by
    /// name and first bytes: `.mlmodel`, `.onnx`, `.pkl`, …), files and folders of kind model
    /// (declared, or a stage output), and every path an alias points at. Path → versions,
    /// oldest first. Reads one chunk per version (none in a lazy clone).
    public func registryModels() throws -> [(path: String, versions: [RegistryVersion])] {
        var versions: [String: [RegistryVersion]] = [:]
        var seen: [String: Set<ObjectId>] = [:]
        let promoted = Set(try aliases().map(\.promotion.path))
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
        let reader = FileReader(store: repo.store)
        // A lazy clone would download the first chunk of every version to list them: there,
        // formats come from names and kinds only.
        let readHeads = repo.lazyRemote == nil
        var formats: [ObjectId: ModelFormat] = [:]
        for (id, c) in commits {
            let files = try repo.flatten(c.tree)
            let meta = try? meta(of: c)
            // Folders of kind model are listed as one model; files inside them are not.
            var folders: [String: (id: ObjectId, size: UInt64)] = [:]
            for (p, k) in meta?.kinds ?? [:] where k == .model && files[p] == nil {
                guard let e = try repo.entry(in: c.tree, path: p), e.mode.isDirectory else { continue }
                let size = files.filter { pathWithin($0.key, p) }.reduce(UInt64(0)) { let (s, o) = $0.addingReportingOverflow($1.value.size); return o ? .max : s }
                folders[p] = (e.id, size)
            }
            func add(_ p: String, _ v: ObjectId, _ format: ModelFormat, _ size: UInt64) {
                guard seen[p, default: []].insert(v).inserted else { return }
                versions[p, default: []].append(RegistryVersion(id: v.hex, commit: id.hex, time: c.committer.time, format: format.rawValue, size: size))
            }
            for (p, f) in folders { add(p, f.id, .directory, f.size) }
            for (p, f) in files where !folders.keys.contains(where: { pathWithin(p, $0) }) {
                if seen[p]?.contains(f.id) == true { continue }
                let declared = declaredKind(meta, p)
                // Cheap test first: the name, or a recorded kind; the head only when needed.
                let byName = ModelFormat.detect(name: p, head: [])
                let kind = meta?.kind(of: p)
                guard promoted.contains(p) || (declared ?? kind) == .model || (declared == nil && byName != nil) else { continue }
                let format: ModelFormat
                if let known = formats[f.id] { format = known } else {
                    let head = readHeads ? (try? self.head(of: f.id)) ?? [] : []
                    guard case .success(let detected) = MLRepo.modelFormat(path: p, head: head, meta: meta, declared: declared) else { continue }
                    format = detected
                    formats[f.id] = detected
                }
                add(p, f.id, format, readHeads ? (try? reader.size(of: f.id)) ?? f.size : f.size)
            }
        }
        return versions.keys.sorted().map { ($0, versions[$0]!) }
    }
}
