#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Compute
import ML
import Net
import Support

/// A model ready to serve: the model (an .mlmodel or an ONNX graph), where it came from, and
/// its training profile.
public final class ServedModel: Sendable {
    public let loaded: LoadedModel
    /// The built-in model file (nil for ONNX).
    public var model: ModelFile? { if case .builtin(let m) = loaded { return m }; return nil }
    /// The built-in type (nil for ONNX).
    public let type: ModelType?
    /// The type for people and labels: the built-in type or "onnx".
    public var typeName: String { type?.rawValue ?? "onnx" }
    /// The model file's content id (the store's object id, 64 hex digits).
    public let id: String
    /// The commit it was read from (nil: a file outside any commit).
    public let commit: String?
    /// Its path in the commit or on disk.
    public let path: String
    /// The revision or ref it was asked for (e.g. "production", "HEAD", "v1").
    public let source: String
    /// Requests decoded into one float matrix (built-in models, ONNX models with one matrix
    /// input); nil when the model takes columns by input name.
    let decoder: InputDecoder?
    /// Requests decoded into typed columns (ONNX models with several or string inputs).
    let tableDecoder: TableDecoder?
    let profile: TrainingProfile
    /// Why drift monitoring is off (nil: on). Only ONNX models can lack training statistics.
    public let driftOff: String?
    /// Class names are numbers (a numeric label): predictions are sent as numbers.
    let numericClasses: Bool

    /// A built-in model.
    public convenience init(model: ModelFile, id: String, commit: String?, path: String, source: String) throws {
        try self.init(loaded: .builtin(model), id: id, commit: commit, path: path, source: source)
    }

    /// Any model. `trainingStats` (the `column_stats` of a `.mlmodel` header) gives an ONNX
    /// model its drift profile; without them `driftOff` says why.
    public init(loaded: LoadedModel, id: String, commit: String?, path: String, source: String,
                trainingStats: JSON? = nil, driftOff: String? = nil) throws {
        self.loaded = loaded
        self.id = id; self.commit = commit; self.path = path; self.source = source
        switch loaded {
        case .builtin(let model):
            type = try ModelType.parse(model.type)
            decoder = InputDecoder(features: model.featureNames, label: model.header["label"]?.stringValue)
            tableDecoder = nil
            profile = TrainingProfile(model: model)
            numericClasses = (model.classes ?? []).allSatisfy { Double($0) != nil } && !(model.classes ?? []).isEmpty
            self.driftOff = nil
        case .onnx(let s):
            type = nil
            if case .matrix = s.layout {
                guard s.width != nil else {
                    throw ServeError("\(path): its input does not declare how many columns it takes and the model names no features; name them in its metadata (see docs/onnx.md)")
                }
                decoder = InputDecoder(features: s.featureNames, label: s.label, byPosition: !s.namedFeatures, missingAsNaN: true)
                tableDecoder = nil
            } else {
                decoder = nil
                tableDecoder = TableDecoder(inputs: s.featureNames, label: s.label)
            }
            let numeric: [String]
            switch s.layout {
            case .matrix: numeric = s.featureNames
            case .columns(let inputs): numeric = inputs.filter { $0.type == .float || $0.type == .double }.filter { $0.width == 1 }.map(\.name)
            }
            profile = trainingStats.map { TrainingProfile(features: numeric, columnStats: $0) } ?? TrainingProfile(features: [], columnStats: nil)
            numericClasses = s.declaredNumericClasses
            // Drift is on only when some input the requests feed has training statistics.
            let watched = profile.features.contains { $0.mean != nil || !$0.edges.isEmpty }
            if trainingStats == nil {
                self.driftOff = driftOff ?? "\(path) has no training statistics"
            } else if s.namesFrom == "position" {
                self.driftOff = "\(path) takes its \(s.featureNames.count) features by position (neither its metadata nor its training data's header names them), so its training statistics cannot be matched to them"
            } else if profile.features.isEmpty {
                self.driftOff = "\(path) has no numeric inputs to watch"
            } else if !watched {
                self.driftOff = "none of \(path)'s inputs (\(numeric.prefix(4).joined(separator: ", "))\(numeric.count > 4 ? ", …" : "")) has training statistics"
            } else {
                self.driftOff = nil
            }
        }
    }

    /// The columns a request gives the model.
    public var features: [String] { loaded.featureNames }

    var info: JSON {
        var o: [String: JSON] = ["id": .string(id), "path": .string(path), "type": .string(typeName), "source": .string(source),
                                 "features": .int(Int64(features.count))]
        o["commit"] = commit.map { .string($0) } ?? .null
        if let c = model?.classes { o["classes"] = .array(c.map { .string($0) }) }
        if case .onnx = loaded { o["format"] = .string("onnx"); o["drift"] = .string(driftOff.map { "off: " + $0 } ?? "on") }
        return .object(o)
    }
}

/// Where the access log goes and which models answer.
public struct ServiceOptions: Sendable {
    /// Access log descriptor (-1: none). One JSON line per request.
    public var logFD: Int32 = 2
    /// Share of /invocations requests (0–100) routed to the canary model.
    public var canaryPercent = 0
    /// Makes each worker's backend (one per worker: a scorer's buffers are its own); nil:
    /// the CPU backend on one thread.
    public var makeBackend: (@Sendable () -> any Backend)? = nil
    public init() {}
}

/// The scoring service behind `mlrepo serve`: MLflow's scoring protocol, health, version,
/// Prometheus metrics and the drift monitor. Models can be swapped while serving (`swap`):
/// a request uses the model current when it starts, so no request fails during a swap.
public final class ScoringService: HTTPHandler, @unchecked Sendable {
    let options: ServiceOptions
    let workers: Int
    private let current: Mutex<(primary: ServedModel?, canary: ServedModel?)>
    private let counter = Atomic<Int>(0)
    /// Per worker: its backend and scorers, its stats per model id, and its log buffer.
    private let slots: [WorkerSlot]
    let started = Clock.wallSeconds()
    private let swaps = Atomic<Int>(0)

    final class WorkerSlot: @unchecked Sendable {
        /// This worker's backend (only its thread uses it).
        private(set) var backend: any Backend
        init(backend: any Backend) { self.backend = backend }
        /// After a device error: a new backend, and scorers made again on it.
        func reset(backend b: any Backend) { backend = b; scorers = [:] }
        var scorers: [String: ModelScorer] = [:]
        let stats = Mutex<[String: LiveStats]>([:])
        var log = ""
        /// Request-independent counts (errors answered before a request was parsed).
        let early = Mutex<[Int: Int]>([:])
    }

    /// The server's connection counts, shown on /metrics (nil: not shown).
    let connections: ConnectionCounters?

    public init(primary: ServedModel, canary: ServedModel? = nil, workers: Int, options: ServiceOptions,
                connections: ConnectionCounters? = nil) {
        self.options = options
        self.connections = connections
        self.workers = max(1, workers)
        current = Mutex((primary, canary))
        slots = (0..<max(1, workers)).map { _ in WorkerSlot(backend: options.makeBackend?() ?? CPUBackend(threads: 1)) }
    }

    /// The models being served.
    public var models: (primary: ServedModel?, canary: ServedModel?) { current.withLock { $0 } }

    /// Replaces the primary model (hot swap). Requests already running finish on the old one.
    public func swap(primary: ServedModel) {
        current.withLock { $0.primary = primary }
        swaps.wrappingAdd(1, ordering: .relaxed)
    }

    /// Writes a JSON event line (model swaps, reload failures) to the log.
    public func event(_ fields: [String: JSON]) {
        guard options.logFD >= 0 else { return }
        var o = fields
        o["time"] = .string(ISOTime.now())
        let line = JSON.object(o).encoded() + "\n"
        var text = line
        _ = text.withUTF8 { Sys.writeAll(options.logFD, UnsafeRawBufferPointer($0)) }
    }

    // MARK: HTTPHandler

    public func handle(_ request: HTTPRequest, worker: Int) -> HTTPResponse {
        switch request.path {
        case "/invocations":
            guard request.method == "POST" else { return methodNotAllowed("POST") }
            return invocations(request, worker: worker)
        case "/ping", "/health":
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            guard let p = models.primary else { return HTTPResponse.error(503, "no model loaded") }
            // ONNX models say whether drift monitoring is on (built-in models always have it).
            guard case .onnx = p.loaded else { return HTTPResponse(status: 200, json: "{\"status\":\"ok\"}") }
            var body = "{\"status\":\"ok\",\"drift\":"
            JSON.quote(p.driftOff.map { "off: " + $0 } ?? "on", into: &body)
            return HTTPResponse(status: 200, json: body + "}")
        case "/version":
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            return HTTPResponse(status: 200, json: versionJSON().encoded())
        case "/metrics":
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            return HTTPResponse(status: 200, text: prometheus(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case "/monitor":
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            return HTTPResponse(status: 200, json: monitorJSON().encoded(pretty: request.queryValue("pretty") != nil))
        default:
            return HTTPResponse.error(404, "no endpoint \(request.path.prefix(200)); try POST /invocations, GET /ping, /health, /version, /metrics, /monitor")
        }
    }

    func methodNotAllowed(_ allow: String) -> HTTPResponse {
        var r = HTTPResponse.error(405, "method not allowed; use \(allow)")
        r.headers.append(("Allow", allow))
        return r
    }

    /// Which model answers: a deterministic share of requests (request number · 61 mod 100 <
    /// percent, which spreads the share evenly) goes to the canary.
    func route() -> (ServedModel?, role: String) {
        let (p, c) = models
        if let c, options.canaryPercent > 0 {
            let k = counter.wrappingAdd(1, ordering: .relaxed).oldValue
            if (k % 100) * 61 % 100 < options.canaryPercent { return (c, "canary") }
        }
        return (p, "primary")
    }

    func invocations(_ request: HTTPRequest, worker: Int) -> HTTPResponse {
        let (served, role) = route()
        guard let m = served else { return HTTPResponse.error(503, "no model loaded") }
        let slot = slots[worker]
        let json: Bool
        switch request.mediaType {
        case "application/json", "application/json; format=pandas-split": json = true
        case "text/csv": json = false
        case nil: return tagged(HTTPResponse.error(415, "missing Content-Type; send application/json or text/csv"), m, role)
        case let media?: return tagged(HTTPResponse.error(415, "unsupported Content-Type '\(media.prefix(100))'; send application/json or text/csv"), m, role)
        }
        let probabilities = request.queryValue("probabilities").map { $0 == "" || $0 == "true" || $0 == "1" } ?? false
        let scored: Scored
        do {
            if case .onnx(let scorer) = m.loaded {
                scored = try scoreONNX(request.body, json: json, m, scorer, slot: slot, probabilities: probabilities)
            } else {
                scored = try scoreBuiltin(request.body, json: json, m, slot: slot, probabilities: probabilities)
            }
        } catch let e as ScorerUnavailable {
            return tagged(HTTPResponse.error(500, "cannot load the model: \(e.error)"), m, role)
        } catch let e as InputError {
            return tagged(HTTPResponse.error(400, e.message), m, role)
        } catch {
            // A device error (out of memory on a GPU, a lost context) is the server's fault,
            // not the request's, and stays with the backend: this worker starts over on a new
            // one, so one failed request does not fail every later one.
            var deviceFailed = false
            do { try slot.backend.checkError() } catch { deviceFailed = true }
            if deviceFailed {
                slot.reset(backend: options.makeBackend?() ?? CPUBackend(threads: 1))
                return tagged(HTTPResponse.error(500, "the scoring device failed: \(error)"), m, role)
            }
            return tagged(HTTPResponse.error(400, "\(error)"), m, role)
        }
        if !scored.observed.isEmpty {
            slot.stats.withLock { s in
                if s[m.id] == nil { s[m.id] = LiveStats(profile: m.profile) }
                s[m.id]!.observe(rows: scored.observed, count: scored.rows, profile: m.profile)
            }
        }
        var r = tagged(HTTPResponse(status: 200, json: scored.body), m, role)
        r.headers.append(("X-Mlrepo-Rows", String(scored.rows)))
        return r
    }

    /// A scored request: its rows, the rows drift monitoring observes (row-major over the
    /// profile's features; empty: none), and the response body.
    struct Scored { var rows: Int; var observed: [Float]; var body: String }

    /// The worker could not prepare the model (answered with 500, not 400).
    struct ScorerUnavailable: Error { let error: Error }

    /// An mlrepo model: the body read straight into its feature matrix.
    func scoreBuiltin(_ body: [UInt8], json: Bool, _ m: ServedModel, slot: WorkerSlot, probabilities: Bool) throws -> Scored {
        var decoded = json ? try m.decoder!.decodeJSON(body) : try m.decoder!.decodeCSV(body)
        let observed = m.profile.features.isEmpty ? [] : decoded.x
        let scorer: ModelScorer
        if let s = slot.scorers[m.id] { scorer = s } else {
            do { scorer = try ModelScorer(m.model!, backend: slot.backend) } catch { throw ScorerUnavailable(error: error) }
            // Keep scorers only for the models being served.
            let live = models
            slot.scorers = slot.scorers.filter { $0.key == live.primary?.id || $0.key == live.canary?.id }
            slot.scorers[m.id] = scorer
        }
        let n = decoded.rows
        let p = try scorer.score(taking: &decoded.x, rows: n)
        return Scored(rows: n, observed: observed, body: predictionsJSON(p, m, rows: n, probabilities: probabilities))
    }

    /// An ONNX model: a float matrix when it takes one (JSON, or CSV without missing cells),
    /// else a table of typed columns.
    func scoreONNX(_ body: [UInt8], json: Bool, _ m: ServedModel, _ scorer: ONNXScorer, slot: WorkerSlot,
                   probabilities: Bool) throws -> Scored {
        let p: ONNXPrediction
        var observed: [Float] = []
        if let decoder = m.decoder, json {
            var d = try decoder.decodeJSON(body)
            // Rows with missing values (NaN) are scored but not observed.
            if !m.profile.features.isEmpty, !d.x.contains(where: { $0.isNaN }) { observed = d.x }
            p = try scorer.score(taking: &d.x, rows: d.rows, backend: slot.backend)
        } else if let decoder = m.decoder {
            // CSV: the fast numeric reader; a body with missing values (empty cells, nan:
            // NaN for the graph's imputers) is read again as a table.
            if var d = try? decoder.decodeCSV(body) {
                if !m.profile.features.isEmpty { observed = d.x }
                p = try scorer.score(taking: &d.x, rows: d.rows, backend: slot.backend)
            } else {
                let t: ScoringTable
                do { t = try body.withUnsafeBytes { try ScoringTable.csv($0, name: "CSV body") } } catch {
                    _ = try decoder.decodeCSV(body)   // its message
                    throw error
                }
                _ = try decoder.columnMap(t.names)
                p = try scorer.score(t, label: m.loaded.label, backend: slot.backend, file: "CSV body")
                observed = numericRows(t, m.profile)
            }
        } else {
            let t = json ? try m.tableDecoder!.decodeJSON(body) : try m.tableDecoder!.decodeCSV(body)
            p = try scorer.score(t, backend: slot.backend)
            observed = numericRows(t, m.profile)
        }
        return Scored(rows: p.rows, observed: observed, body: onnxPredictionsJSON(p, probabilities: probabilities))
    }

    /// The profile's features from a table's columns, row-major (empty when a cell is not a
    /// number: that request is not observed).
    func numericRows(_ t: ScoringTable, _ profile: TrainingProfile) -> [Float] {
        let k = profile.features.count
        guard k > 0 else { return [] }
        var x = [Float](repeating: 0, count: t.rows * k)
        for (j, f) in profile.features.enumerated() {
            guard let col = t.column(f.name) else { return [] }
            for i in 0..<t.rows {
                let c: ScoringCell
                if case .list(let l) = col[i], l.count == 1 { c = l[0] } else { c = col[i] }
                guard let d = ScoringTable.number(c) else { return [] }
                x[i * k + j] = Float(d)
            }
        }
        return x
    }

    /// {"predictions": [...]}: labels (numbers or texts), or values (one number a row, or a
    /// list a row); with probabilities asked for, "classes" and "probabilities" too.
    func onnxPredictionsJSON(_ p: ONNXPrediction, probabilities: Bool) -> String {
        var out = "{\"predictions\":["
        func num(_ v: Double) -> String {
            guard v.isFinite else { return "null" }
            let f = Float(v)
            return Double(f) == v ? "\(f)" : "\(v)"
        }
        func appendClass(_ c: String) { if p.numericClasses, Double(c) != nil { out += c } else { JSON.quote(c, into: &out) } }
        switch p.labels {
        case .strings(let v)?:
            for (i, l) in v.enumerated() { if i > 0 { out += "," }; JSON.quote(l, into: &out) }
        case .ints(let v)?:
            for (i, l) in v.enumerated() { if i > 0 { out += "," }; out += String(l) }
        case nil:
            let v = p.values ?? [], k = max(1, p.valueWidth)
            for i in 0..<p.rows {
                if i > 0 { out += "," }
                if k == 1 { out += num(v[i]); continue }
                out += "["
                for j in 0..<k { if j > 0 { out += "," }; out += num(v[i * k + j]) }
                out += "]"
            }
        }
        out += "]"
        if probabilities, let probs = p.probabilities {
            let c = p.classes.count
            out += ",\"classes\":["
            for (j, name) in p.classes.enumerated() { if j > 0 { out += "," }; appendClass(name) }
            out += "],\"probabilities\":["
            for i in 0..<p.rows {
                if i > 0 { out += "," }
                out += "["
                for j in 0..<c { if j > 0 { out += "," }; out += "\(probs[i * c + j])" }
                out += "]"
            }
            out += "]"
        }
        out += "}"
        return out
    }

    func tagged(_ r: HTTPResponse, _ m: ServedModel, _ role: String) -> HTTPResponse {
        var r = r
        r.headers.append(("X-Mlrepo-Model", m.id))
        r.headers.append(("X-Mlrepo-Role", role))
        return r
    }

    /// {"predictions": [...]} (+ "probabilities" and "classes" when asked, for classifiers).
    func predictionsJSON(_ p: Prediction, _ m: ServedModel, rows n: Int, probabilities: Bool) -> String {
        var out = "{\"predictions\":["
        let classes = m.model?.classes ?? []
        /// A class name: a JSON number when every class is numeric, else a string.
        func appendClass(_ name: String) { if m.numericClasses { out += name } else { JSON.quote(name, into: &out) } }
        /// `n` rows of `k` values, row-major, as nested arrays.
        func appendRows(_ values: [Float], columns k: Int) {
            for i in 0..<n {
                if i > 0 { out += "," }
                out += "["
                for j in 0..<k { if j > 0 { out += "," }; out += "\(values[i * k + j])" }
                out += "]"
            }
        }
        switch m.type! {
        case .linearRegression, .ridge, .mlpRegressor:
            for (i, v) in (p.values ?? []).enumerated() { if i > 0 { out += "," }; out += number(v) }
        case .logisticRegression, .mlpClassifier:
            for (i, l) in (p.labels ?? []).enumerated() {
                if i > 0 { out += "," }
                appendClass(Int(l) < classes.count ? classes[Int(l)] : String(l))
            }
        case .kmeans:
            for (i, l) in (p.labels ?? []).enumerated() { if i > 0 { out += "," }; out += String(l) }
        case .pca:
            appendRows(p.components ?? [], columns: p.componentCount)
        }
        out += "]"
        if probabilities, let probs = p.probabilities {
            out += ",\"classes\":["
            for (j, c) in classes.enumerated() { if j > 0 { out += "," }; appendClass(c) }
            out += "],\"probabilities\":["
            appendRows(probs, columns: classes.count)
            out += "]"
        }
        out += "}"
        return out
    }

    func number(_ v: Double) -> String { v.isFinite ? "\(v)" : "null" }

    public func completed(_ request: HTTPRequest?, response: HTTPResponse, latencyMicros: Int, worker: Int) {
        let slot = slots[worker]
        let modelId = response.headers.first { $0.0 == "X-Mlrepo-Model" }?.1
        let rows = Int(response.headers.first { $0.0 == "X-Mlrepo-Rows" }?.1 ?? "") ?? 0
        if let modelId {
            let seconds = Double(latencyMicros) / 1e6
            slot.stats.withLock { s in
                var st = s[modelId] ?? LiveStats(profile: nil)
                st.requests[response.status, default: 0] += 1
                var b = 0
                while b < latencyBuckets.count && seconds > latencyBuckets[b] { b += 1 }
                st.latency[b] += 1
                st.latencySum += seconds
                if s[modelId] == nil, let m = [models.primary, models.canary].compactMap({ $0 }).first(where: { $0.id == modelId }) {
                    var fresh = LiveStats(profile: m.profile)
                    fresh.merge(st)
                    st = fresh
                }
                s[modelId] = st
            }
        } else {
            slot.early.withLock { $0[response.status, default: 0] += 1 }
        }
        guard options.logFD >= 0 else { return }
        var line = "{\"time\":\"" + ISOTime.now() + "\",\"method\":"
        JSON.quote(request?.method ?? "-", into: &line)
        line += ",\"path\":"
        JSON.quote(String((request?.path ?? "-").prefix(200)), into: &line)
        line += ",\"status\":\(response.status),\"latency_us\":\(latencyMicros),\"rows\":\(rows),\"model\":"
        if let modelId { JSON.quote(modelId, into: &line) } else { line += "null" }
        if let role = response.headers.first(where: { $0.0 == "X-Mlrepo-Role" })?.1, role != "primary" { line += ",\"role\":\"\(role)\"" }
        line += "}\n"
        slot.log += line
        if slot.log.utf8.count > 32 << 10 { flush(worker: worker) }
    }

    public func flush(worker: Int) {
        let slot = slots[worker]
        guard !slot.log.isEmpty, options.logFD >= 0 else { return }
        var text = slot.log
        slot.log = ""
        _ = text.withUTF8 { Sys.writeAll(options.logFD, UnsafeRawBufferPointer($0)) }
    }

    // MARK: Read-outs

    /// Every worker's stats for one model id, merged.
    func merged(_ id: String, profile: TrainingProfile?) -> LiveStats {
        var total = LiveStats(profile: profile)
        for s in slots { s.stats.withLock { if let st = $0[id] { total.merge(st) } } }
        return total
    }

    func versionJSON() -> JSON {
        let (p, c) = models
        var o: [String: JSON] = ["mlrepo": .string(mlrepoVersion), "model": p?.info ?? .null]
        if let c { o["canary"] = c.info; o["canary_percent"] = .int(Int64(options.canaryPercent)) }
        return .object(o)
    }

    func monitorJSON() -> JSON {
        let (p, c) = models
        var list: [JSON] = []
        for (m, role) in [(p, "primary"), (c, "canary")] {
            guard let m else { continue }
            let live = merged(m.id, profile: m.profile)
            let feats = drift(live, m.profile).map { d -> JSON in
                var o: [String: JSON] = ["name": .string(d.name), "rows": .int(Int64(d.rows)), "status": .string(d.status)]
                o["psi"] = d.psi.map { .number($0) } ?? .null
                o["mean_shift_std"] = d.meanShift.map { .number($0) } ?? .null
                o["live_mean"] = d.liveMean.map { .number($0) } ?? .null
                o["train_mean"] = d.trainMean.map { .number($0) } ?? .null
                o["train_std"] = d.trainStd.map { .number($0) } ?? .null
                return .object(o)
            }
            list.append(.object(["role": .string(role), "model": m.info, "rows": .int(Int64(live.rows)),
                                 "requests": .int(Int64(live.requests.values.reduce(0, +))), "features": .array(feats)]))
        }
        return .object(["models": .array(list), "thresholds": .object(["psi_warn": .number(0.1), "psi_drift": .number(0.25)])])
    }

    /// Prometheus text exposition (version 0.0.4).
    func prometheus() -> String {
        let (p, c) = models
        var out = ""
        out += "# HELP mlrepo_requests_total Requests answered, by model role and HTTP status.\n# TYPE mlrepo_requests_total counter\n"
        var hist = "# HELP mlrepo_request_duration_seconds Request latency from first byte to response.\n# TYPE mlrepo_request_duration_seconds histogram\n"
        var rowsOut = "# HELP mlrepo_rows_scored_total Rows scored.\n# TYPE mlrepo_rows_scored_total counter\n"
        var info = "# HELP mlrepo_model_info The model being served (value 1).\n# TYPE mlrepo_model_info gauge\n"
        var psiOut = "# HELP mlrepo_feature_drift_psi Population stability index of live inputs over the training decile bins.\n# TYPE mlrepo_feature_drift_psi gauge\n"
        var shiftOut = "# HELP mlrepo_feature_drift_mean_shift Live mean minus training mean, in training standard deviations.\n# TYPE mlrepo_feature_drift_mean_shift gauge\n"
        for (m, role) in [(p, "primary"), (c, "canary")] {
            guard let m else { continue }
            let live = merged(m.id, profile: m.profile)
            // model_id: the short id (12 hex digits) on every series, mlrepo_model_info
            // included, so they join on it (`* on(model_id) group_left(commit) mlrepo_model_info`);
            // the full id is mlrepo_model_info's model_full_id.
            let shortId = m.id.prefix(12)
            let labels = "model=\"\(role)\",model_id=\"\(shortId)\""
            for status in live.requests.keys.sorted() { out += "mlrepo_requests_total{\(labels),status=\"\(status)\"} \(live.requests[status]!)\n" }
            var cum = 0
            for (i, le) in latencyBuckets.enumerated() {
                cum += live.latency[i]
                hist += "mlrepo_request_duration_seconds_bucket{\(labels),le=\"\(le)\"} \(cum)\n"
            }
            cum += live.latency[latencyBuckets.count]
            hist += "mlrepo_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(cum)\n"
            hist += "mlrepo_request_duration_seconds_sum{\(labels)} \(live.latencySum)\n"
            hist += "mlrepo_request_duration_seconds_count{\(labels)} \(cum)\n"
            rowsOut += "mlrepo_rows_scored_total{\(labels)} \(live.rows)\n"
            info += "mlrepo_model_info{model=\"\(role)\",model_id=\"\(shortId)\",model_full_id=\"\(m.id)\",commit=\"\(m.commit ?? "")\",path=\(promQuote(m.path)),type=\"\(m.typeName)\",source=\(promQuote(m.source))} 1\n"
            for d in drift(live, m.profile) {
                let fl = "\(labels),feature=\(promQuote(d.name))"
                if let psi = d.psi { psiOut += "mlrepo_feature_drift_psi{\(fl)} \(psi)\n" }
                if let s = d.meanShift { shiftOut += "mlrepo_feature_drift_mean_shift{\(fl)} \(s)\n" }
            }
        }
        var early: [Int: Int] = [:]
        for s in slots { s.early.withLock { for (k, v) in $0 { early[k, default: 0] += v } } }
        for status in early.keys.sorted() { out += "mlrepo_requests_total{model=\"none\",status=\"\(status)\"} \(early[status]!)\n" }
        out += hist + rowsOut + info + psiOut + shiftOut
        out += "# HELP mlrepo_model_swaps_total Hot swaps of the primary model (--follow).\n# TYPE mlrepo_model_swaps_total counter\n"
        out += "mlrepo_model_swaps_total \(swaps.load(ordering: .relaxed))\n"
        if let c = connections {
            out += "# HELP mlrepo_connections_open Open client connections.\n# TYPE mlrepo_connections_open gauge\n"
            out += "mlrepo_connections_open \(c.open.load(ordering: .relaxed))\n"
            out += "# HELP mlrepo_connections_reclaimed_total Connections closed to make room for new ones (idle, or without a complete request head).\n# TYPE mlrepo_connections_reclaimed_total counter\n"
            out += "mlrepo_connections_reclaimed_total \(c.reclaimed.load(ordering: .relaxed))\n"
            out += "# HELP mlrepo_connections_refused_total New connections refused with 503 (nothing to reclaim).\n# TYPE mlrepo_connections_refused_total counter\n"
            out += "mlrepo_connections_refused_total \(c.refused.load(ordering: .relaxed))\n"
            out += "# HELP mlrepo_connections_header_timeouts_total Connections closed for not sending a whole request head in time.\n# TYPE mlrepo_connections_header_timeouts_total counter\n"
            out += "mlrepo_connections_header_timeouts_total \(c.headerTimeouts.load(ordering: .relaxed))\n"
        }
        out += "# HELP mlrepo_uptime_seconds Seconds since the server started.\n# TYPE mlrepo_uptime_seconds gauge\n"
        out += "mlrepo_uptime_seconds \(Clock.wallSeconds() - started)\n"
        return out
    }

    func promQuote(_ s: String) -> String {
        var o = "\""
        for ch in s { switch ch { case "\\": o += "\\\\"; case "\"": o += "\\\""; case "\n": o += "\\n"; default: o.append(ch) } }
        return o + "\""
    }
}
