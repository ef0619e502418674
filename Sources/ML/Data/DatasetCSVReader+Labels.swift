// The label column, assembled from the chunks' interned codes or numbers.

extension DatasetCSVReader {
    /// Replaces interned codes by their numbers, in place.
    static func numbers(_ chunks: [DatasetChunk], _ labels: UnsafeMutableBufferPointer<Double>) {
        for c in chunks where c.rows > 0 && c.interning {
            c.values.withUnsafeBufferPointer { v in
                for r in c.rowBase..<(c.rowBase + c.rows) { labels[r] = v[Int(labels[r])] }
            }
        }
    }

    static func categorical(_ chunks: [DatasetChunk], _ labels: UnsafeBufferPointer<Double>, _ rows: Int) -> LabelColumn {
        var index: [String: Int32] = [:]
        var names: [String] = []
        let codes = [Int32](unsafeUninitializedCapacity: rows) { out, count in
            for c in chunks where c.rows > 0 {
                var map = [Int32](repeating: 0, count: c.table.entryCount)
                for e in 0..<c.table.entryCount {
                    let name = String(decoding: c.table.key(e), as: UTF8.self)
                    if let code = index[name] {
                        map[e] = code
                    } else {
                        let code = Int32(names.count)
                        index[name] = code
                        names.append(name)
                        map[e] = code
                    }
                }
                map.withUnsafeBufferPointer { m in
                    for r in c.rowBase..<(c.rowBase + c.rows) { out[r] = m[Int(labels[r])] }
                }
            }
            count = rows
        }
        return .categorical(codes: codes, names: names)
    }
}
