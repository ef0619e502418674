import Store
import Support

/// The data a model was trained on, found through lineage: the CSV that the run which wrote
/// the model read. It gives an ONNX model (which carries no training statistics of its own)
/// its feature names and the statistics drift monitoring compares live inputs with.
public struct TrainingData: Sendable {
    /// The data file's path and version.
    public var path: String
    public var id: ObjectId
    /// The stage whose run wrote the model and read the data.
    public var stage: String
    /// The data's column names (header), and which one is the label (nil: not known).
    public var columns: [String]
    public var label: String?
    /// Per feature: name, mean, std, min, max, deciles (the `column_stats` of a `.mlmodel`
    /// header), for the features the caller asked for.
    public var columnStats: JSON

    /// The statistics object a promotion stores (.mlrepo-format.md §12.3): `{"version": 1,
    /// "data": PATH, "data_id": HEX, "stage", "columns", "label", "column_stats"}`.
    public var json: JSON {
        .object(["version": .int(1), "data": .string(path), "data_id": .string(id.hex), "stage": .string(stage),
                 "columns": .array(columns.map { .string($0) }), "label": label.map { .string($0) } ?? .null,
                 "column_stats": columnStats])
    }

    /// Reads `json`'s object; nil when it is not one (a malformed object is not used).
    public init?(json j: JSON) {
        guard j["version"]?.doubleValue == 1, let path = j["data"]?.stringValue, let hex = j["data_id"]?.stringValue,
              let id = ObjectId(hex: hex), let cols = j["columns"]?.arrayValue, let stats = j["column_stats"], stats.arrayValue != nil
        else { return nil }
        let names = cols.compactMap(\.stringValue)
        guard names.count == cols.count else { return nil }
        self.init(path: path, id: id, stage: j["stage"]?.stringValue ?? "", columns: names, label: j["label"]?.stringValue, columnStats: stats)
    }

    public init(path: String, id: ObjectId, stage: String, columns: [String], label: String?, columnStats: JSON) {
        self.path = path; self.id = id; self.stage = stage; self.columns = columns; self.label = label; self.columnStats = columnStats
    }

    /// The same data with only the statistics of `features` (names it has no statistics for
    /// are left out).
    public func keeping(_ features: [String]) -> TrainingData {
        var byName: [String: JSON] = [:]
        for c in columnStats.arrayValue ?? [] { if let n = c["name"]?.stringValue { byName[n] = c } }
        var t = self
        t.columnStats = .array(features.compactMap { byName[$0] })
        return t
    }
}

extension MLRepo {
    static let trainingStatsVersion = 2
    var trainingStatsDir: String { repo.dotDir + "/cache/training-stats" }
    /// The quantile levels of `column_stats` deciles.
    public static let decileLevels: [Double] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]

    /// The training data of the model at `path` in `commit` (nil: the work tree's view),
    /// with statistics of the columns `features` picks from its header (all but the label
    /// when nil). Returns the reason, one line, when lineage does not name one. Statistics
    /// (of every numeric column but the label) are computed once per model version and data
    /// version, streaming (`trainingProfile`), then cached in `.mlrepo/cache/training-stats/`
    /// (a cache: losing it costs a recomputation).
    public func trainingData(ofModel path: String, modelId: String, commit: ObjectId?,
                             features: @Sendable ([String], String?) -> [String]) -> Result<TrainingData, TrainingDataUnknown> {
        switch allTrainingData(ofModel: path, modelId: modelId, commit: commit) {
        case .failure(let why): return .failure(why)
        case .success(let td): return .success(td.keeping(features(td.columns, td.label).filter { $0 != td.label }))
        }
    }

    /// `trainingData` with the statistics of every numeric column but the label.
    func allTrainingData(ofModel path: String, modelId: String, commit: ObjectId?) -> Result<TrainingData, TrainingDataUnknown> {
        let node: LineageNode
        do { node = try upstream(path: path, commit: commit) } catch {
            return .failure(TrainingDataUnknown("\(path) has no lineage: \(error)"))
        }
        guard let step = node.producedBy else {
            return .failure(TrainingDataUnknown("\(path) has no lineage record naming its training data"))
        }
        let csvs = step.inputs.filter { MLRepo.isCSV($0.path) && $0.id != nil }
        guard let data = csvs.first(where: { $0.path.lowercased().contains("train") }) ?? csvs.first, let dataId = data.id else {
            return .failure(TrainingDataUnknown("stage '\(step.stage)', which wrote \(path), read no CSV file"))
        }
        let key = "\(modelId.prefix(64))-\(dataId.hex)"
        guard key.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) || $0 == 45 }) else {
            return .failure(TrainingDataUnknown("\(path): model id is not hexadecimal"))
        }
        let cacheFile = trainingStatsDir + "/" + key + ".json"
        if let text = try? FS.readText(cacheFile), let j = try? JSON.parse(text),
           j["version"]?.doubleValue == Double(MLRepo.trainingStatsVersion),
           let cols = j["columns"]?.arrayValue?.compactMap(\.stringValue), let stats = j["column_stats"] {
            return .success(TrainingData(path: data.path, id: dataId, stage: step.stage, columns: cols,
                                         label: j["label"]?.stringValue, columnStats: stats))
        }
        do {
            let profile = try trainingProfile(id: dataId, path: data.path)
            let header = profile.columns.map(\.name)
            let label = trainingLabel(step, header: header)
            let stats = MLRepo.columnStats(profile, features: header.filter { $0 != label })
            let td = TrainingData(path: data.path, id: dataId, stage: step.stage, columns: header, label: label, columnStats: stats)
            try? FS.mkdirs(trainingStatsDir)
            let j = JSON.object(["version": .int(Int64(MLRepo.trainingStatsVersion)), "model": .string(modelId), "data": .string(dataId.hex),
                                 "data_path": .string(data.path), "columns": .array(header.map { .string($0) }),
                                 "label": label.map { .string($0) } ?? .null, "column_stats": stats])
            try? FS.atomicWrite(cacheFile, text: j.encoded() + "\n", durable: false)
            return .success(td)
        } catch {
            return .failure(TrainingDataUnknown("cannot read \(path)'s training data \(data.path): \(error)"))
        }
    }

    /// The profile of a stored CSV version with deciles for its numeric columns, in one
    /// streaming pass over the file's chunks (`CSVProfiler`): memory is bounded per column
    /// (at most 100,000 sampled values, plus the profiler's distinct-value tables) whatever
    /// the number of rows. Deciles are exact up to 100,000 non-missing values in a column;
    /// beyond, they come from a fixed-seed uniform reservoir sample of 100,000 values
    /// (deterministic; a decile's rank is then off by at most about ±0.5 % of the rows,
    /// three standard errors).
    public func trainingProfile(id: ObjectId, path: String) throws -> DataProfile {
        let profiler = CSVProfiler(path: path, quantileLevels: MLRepo.decileLevels)
        try FileReader(store: repo.store).read(id) { try profiler.feed($0) }
        return try profiler.finish()
    }

    /// `column_stats` (the shape of a `.mlmodel` header, §11: name, mean, std, min, max,
    /// deciles) of the numeric columns among `features`, in that order, from a profile with
    /// decile quantiles (`trainingProfile`). Text and empty columns have none.
    public static func columnStats(_ p: DataProfile, features: [String]) -> JSON {
        var byName: [String: ColumnProfile] = [:]
        for c in p.columns { byName[c.name] = c }
        var out: [JSON] = []
        for name in features {
            guard let c = byName[name], c.type == "integer" || c.type == "float",
                  let mean = c.mean, let lo = c.min, let hi = c.max, c.quantiles.count == 9 else { continue }
            out.append(.object(["name": .string(name), "mean": .number(mean), "std": .number(c.std ?? 0),
                                "min": .number(lo), "max": .number(hi), "deciles": .array(c.quantiles.map { .number($0.value) })]))
        }
        return .array(out)
    }

    /// The label column of a training run: the built-in stage's "label", a params value named
    /// label or target, or a column named label, target, y or class.
    func trainingLabel(_ step: LineageStep, header: [String]) -> String? {
        if case .builtin(_, let spec) = step.action, let l = spec["label"]?.stringValue, header.contains(l) { return l }
        for (_, values) in step.params.sorted(by: { $0.key < $1.key }) {
            for key in values.keys.sorted() {
                let last = key.split(separator: ".").last.map(String.init) ?? key
                if ["label", "target", "label_column", "target_column"].contains(last), let l = values[key]?.stringValue, header.contains(l) { return l }
            }
        }
        return header.first { ["label", "target", "y", "class"].contains($0.lowercased()) }
    }

    /// The training statistics promotion `p` stores (`training_stats`), or why drift is off
    /// (`training_stats_off`); nil for a record from before promotions stored them (or one
    /// whose statistics object cannot be read: the caller falls back to lineage).
    public func promotedTrainingData(_ p: Promotion) -> Result<TrainingData, TrainingDataUnknown>? {
        if let why = p.trainingStatsOff { return .failure(TrainingDataUnknown(why)) }
        guard let id = p.trainingStats, let text = try? text(of: id, path: "training statistics of promotion \(p.id.short)"),
              let j = try? JSON.parse(text), let td = TrainingData(json: j) else { return nil }
        return .success(td)
    }
}

/// Why a model's training data is not known (drift monitoring is off), one line.
public struct TrainingDataUnknown: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}
