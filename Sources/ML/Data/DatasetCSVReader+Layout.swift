import Support

// The header of a CSV data set, and the caller's column choice resolved against it.

let datasetLabelRole: Int32 = -1
let datasetSkipRole: Int32 = -2

/// The header resolved against the caller's column choice.
struct DatasetLayout {
    let path: String
    let names: [String]
    /// Per file column: the feature index (≥ 0), `datasetLabelRole` or `datasetSkipRole`.
    let roles: [Int32]
    let featureNames: [String]
    let labelIndex: Int?
    var cols: Int { featureNames.count }
}

extension DatasetCSVReader {
    /// The header's names (trimmed, made unique as the profiler does) and the data's offset.
    static func header(_ p: UnsafePointer<UInt8>, _ n: Int, path: String) throws -> (names: [String], dataStart: Int) {
        let i = CSVScanner.headerStart(p, n)   // past a byte order mark and blank lines
        guard i < n else { throw DatasetError(path: path, "is empty") }
        do {
            let (raw, next) = try CSVScanner.record(p, from: i, n)
            return (CSVProfilerCore.uniqueNames(raw), next)
        } catch let e as CSVUnterminatedQuote {
            throw DatasetError(path: path, line: CSVScanner.line(p, at: e.offset, n), "unterminated quoted field in the header")
        }
    }

    static func resolve(names: [String], label: String?, features: [String]?, path: String) throws -> DatasetLayout {
        var index: [String: Int] = [:]
        for (k, name) in names.enumerated() { index[name] = k }
        func noColumn(_ c: String) -> DatasetError {
            let shown = names.count <= 20 ? names.joined(separator: ", ")
                : names.prefix(20).joined(separator: ", ") + ", ... (\(names.count) in all)"
            return DatasetError(path: path, "has no column '\(c)' (columns: \(shown))")
        }
        var roles = [Int32](repeating: datasetSkipRole, count: names.count)
        var labelIndex: Int? = nil
        if let label {
            guard let k = index[label] else { throw noColumn(label) }
            roles[k] = datasetLabelRole
            labelIndex = k
        }
        var featureNames: [String] = []
        if let features {
            for f in features {
                guard let k = index[f] else { throw noColumn(f) }
                if k == labelIndex { throw DatasetError(path: path, "column '\(f)' is the label; it cannot also be a feature") }
                if roles[k] >= 0 { throw DatasetError(path: path, "column '\(f)' is selected twice as a feature") }
                roles[k] = Int32(featureNames.count)
                featureNames.append(f)
            }
        } else {
            for k in names.indices where k != labelIndex {
                roles[k] = Int32(featureNames.count)
                featureNames.append(names[k])
            }
        }
        if featureNames.isEmpty && labelIndex == nil {
            throw DatasetError(path: path, "has no columns selected (no feature columns and no label)")
        }
        return DatasetLayout(path: path, names: names, roles: roles, featureNames: featureNames, labelIndex: labelIndex)
    }
}
