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
}

extension MLRepo {
    static let trainingStatsVersion = 1
    var trainingStatsDir: String { repo.dotDir + "/cache/training-stats" }

    /// The training data of the model at `path` in `commit` (nil: the work tree's view),
    /// with statistics of the columns `features` picks from its header (all but the label
    /// when nil). Returns the reason, one line, when lineage does not name one. Statistics
    /// are computed once per model version and data version, then cached in
    /// `.mlrepo/cache/training-stats/` (a cache: losing it costs a recomputation).
    public func trainingData(ofModel path: String, modelId: String, commit: ObjectId?,
                             features: @Sendable ([String], String?) -> [String]) -> Result<TrainingData, TrainingDataUnknown> {
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
            var bytes: [UInt8] = []
            try FileReader(store: repo.store).read(dataId) { bytes.append(contentsOf: $0) }
            let header = try bytes.withUnsafeBytes { b -> [String] in
                guard let p = b.baseAddress?.assumingMemoryBound(to: UInt8.self), b.count > 0 else { return [] }
                return try CSVScanner.record(p, from: CSVScanner.headerStart(p, b.count), b.count).fields.map { $0.trimmed(" \t") }
            }
            let label = trainingLabel(step, header: header)
            let wanted = features(header, label).filter { header.contains($0) && $0 != label }
            let d = try bytes.withUnsafeBytes {
                try DatasetReader.readCSV(bytes: $0, name: data.path, label: nil, features: wanted, threads: 2)
            }
            let stats = d.rows > 0 && d.cols > 0 ? columnStats(d, columnMoments(d, threads: 2), threads: 2) : .array([])
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
}

/// Why a model's training data is not known (drift monitoring is off), one line.
public struct TrainingDataUnknown: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}
