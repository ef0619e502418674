#if canImport(Glibc)
import Glibc
#endif
import Support

// The parallel CSV reader behind `DatasetReader.readCSV`.
//
// 1. The file is memory-mapped; the header is parsed on its own.
// 2. The data is cut into chunks (4 per thread, at most 16 MiB each) just after a line feed,
//    and every chunk's line ends are counted in parallel (SIMD, ~10 GB/s). A chunk that
//    starts at a record start holds at most that many records, so every chunk gets a fixed
//    slot of rows in the one float32 matrix, which is allocated once and never grows. A
//    chunk's pages are dropped from the process once counted and again once parsed, so the
//    resident size is the matrix plus a few chunks, whatever the file's size.
// 3. The chunks are parsed in parallel, each straight into its slot. A chunk parses every
//    record that *starts* before its end and finishes the last one past it.
// 4. In file order, a chunk whose start is not where the previous chunk's last record ended
//    (its boundary fell inside a quoted field holding a line feed) is parsed again from the
//    right place. The first error in file order is reported; line numbers are counted only
//    then.
// 5. Slots are compacted where a chunk held fewer records than line ends (quoted line feeds,
//    trailing blank lines) and the label column is assembled.
//
// Labels are interned per chunk (a byte-keyed table: only distinct names are ever copied) and
// stored as codes; a chunk whose labels are all numbers and that sees more than
// `labelInternLimit` distinct values stores the numbers instead. Should text then appear, the
// file is parsed again with unlimited interning (needs > 4,096 distinct numbers in a chunk
// before the first text label: rare).
//
// The reader's parts: this file (reading, the chunked parallel parse), +Layout (the header and
// the column roles), +Labels (the label column), DatasetCSVChunk (one chunk's records and
// cells), DatasetCSVErrors (errors a chunk finds). Fields are scanned by Support's
// `CSVScanner` and cells converted by its `DecimalParser`, the code every CSV reader uses.

enum DatasetCSVReader {
    static let labelInternLimit = 4_096
    static let minChunkBytes = 64 << 10
    static let chunksPerThread = 4
    static let maxChunkBytes = 16 << 20

    static func read(path: String, label: String?, features: [String]?, threads: Int) throws -> Dataset {
        let file = try datasetMap(path)
        return try withExtendedLifetime(file) { () throws -> Dataset in
            let bytes = file.bytes
            guard let raw = bytes.baseAddress, bytes.count > 0 else { throw DatasetError(path: path, "is empty") }
            return try read(raw.assumingMemoryBound(to: UInt8.self), bytes.count, path: path, label: label,
                            features: features, threads: threads, allowNoRows: false, file: file)
        }
    }

    /// Reads `p[0..<n]`, named `path` in errors. `file`, when given, is the map that holds the
    /// bytes (its pages are released as chunks are done). `allowNoRows`: a header without data
    /// rows gives an empty data set instead of an error.
    static func read(_ p: UnsafePointer<UInt8>, _ n: Int, path: String, label: String?, features: [String]?,
                     threads: Int, allowNoRows: Bool, file: MappedFile?) throws -> Dataset {
        guard n > 0 else { throw DatasetError(path: path, "is empty") }
        let (names, dataStart) = try header(p, n, path: path)
        let layout = try resolve(names: names, label: label, features: features, path: path)
        if allowNoRows && (dataStart..<n).allSatisfy({ p[$0] == 0x0A || p[$0] == 0x0D }) {   // blank lines only
            return Dataset(rows: 0, cols: layout.cols, features: [], featureNames: layout.featureNames,
                           labelName: layout.labelIndex.map { layout.names[$0] },
                           label: layout.labelIndex == nil ? nil : .numeric([]))
        }
        if let d = try parse(p, n, dataStart, layout, threads: threads, internLimit: labelInternLimit, file: file) {
            return d
        }
        // Text labels after many distinct numbers in one chunk: intern everything.
        guard let d = try parse(p, n, dataStart, layout, threads: threads, internLimit: .max, file: file) else {
            throw DatasetError(path: path, "could not be parsed (internal error: label interning)")
        }
        return d
    }

    // MARK: Parse

    /// Parses the data; nil when labels must be parsed again with unlimited interning. Pages of
    /// `file` are dropped from the process once counted and once parsed (they stay in the page
    /// cache), so the resident size stays near the matrix's whatever the file's size.
    static func parse(_ p: UnsafePointer<UInt8>, _ n: Int, _ dataStart: Int, _ layout: DatasetLayout,
                      threads: Int, internLimit: Int, file: MappedFile?) throws -> Dataset? {
        let path = layout.path
        guard dataStart < n else { throw DatasetError(path: path, "has no data rows") }

        // Chunks start just after a line feed.
        let dataBytes = n - dataStart
        // At least `chunksPerThread` per thread (balance) and at most `maxChunkBytes` each (the
        // file's resident pages), none under `minChunkBytes`.
        let wanted = max(1, min(max(threads * chunksPerThread, dataBytes / maxChunkBytes), dataBytes / minChunkBytes))
        var cuts = [dataStart]
        for k in 1..<max(wanted, 1) {
            let last = cuts[cuts.count - 1]
            let target = max(dataStart + Int((Double(k) / Double(wanted)) * Double(dataBytes)), last)
            guard target < n, let hit = memchr(p + target, 0x0A, n - target) else { break }
            let b = UnsafeRawPointer(hit) - UnsafeRawPointer(p) + 1
            if b >= n { break }
            if b > last { cuts.append(b) }
        }
        let starts = cuts
        let chunks = starts.count
        let ends = (0..<chunks).map { k in k + 1 < chunks ? starts[k + 1] : n }

        // Row slots: a chunk holds at most as many records as line ends (the last one also a
        // record without a line end).
        var upper = [Int](repeating: 0, count: chunks)
        upper.withUnsafeMutableBufferPointer { u in
            Parallel.forEach(chunks, threads: threads) { k in
                u[k] = CSVScanner.lineEnds(p, starts[k], ends[k], n)
                datasetRelease(file, starts[k], ends[k])
            }
        }
        upper[chunks - 1] += 1
        var bases = [Int](repeating: 0, count: chunks)
        var totalUpper = 0
        for k in 0..<chunks {
            bases[k] = totalUpper
            totalUpper += upper[k]
        }
        let rowBase = bases

        let cols = layout.cols
        let hasLabel = layout.labelIndex != nil
        let roles = UnsafeMutablePointer<Int32>.allocate(capacity: max(layout.roles.count, 1))
        defer { roles.deallocate() }
        for (k, r) in layout.roles.enumerated() { roles[k] = r }
        // Label codes or numbers per row; becomes the numeric label column in place.
        var labelStore = [Double](repeating: 0, count: hasLabel ? totalUpper : 0)
        let tables = DecimalTables.shared
        let dummy = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        defer { dummy.deallocate() }
        let dummyLabel = UnsafeMutablePointer<Double>.allocate(capacity: 1)
        defer { dummyLabel.deallocate() }

        var results: [DatasetChunk] = []
        var rows = 0
        let features = try labelStore.withUnsafeMutableBufferPointer { labelBuffer in
            let labels = labelBuffer.baseAddress ?? dummyLabel
            return try [Float](unsafeUninitializedCapacity: totalUpper * cols) { buffer, count in
                count = 0
                let ctx = DatasetCSVContext(p: p, n: n, ncols: layout.roles.count, roles: roles, cols: cols,
                                            features: buffer.baseAddress ?? dummy, labels: labels,
                                            numbers: tables, internLimit: internLimit)
                let slots = UnsafeMutablePointer<DatasetChunk?>.allocate(capacity: chunks)
                slots.initialize(repeating: nil, count: chunks)
                defer {
                    slots.deinitialize(count: chunks)
                    slots.deallocate()
                }
                Parallel.forEach(chunks, threads: threads) { k in
                    var c = DatasetChunk(ctx, rowBase: rowBase[k])
                    c.run(from: starts[k], to: ends[k])
                    c.release()
                    datasetRelease(file, starts[k], max(ends[k], c.stop))
                    slots[k] = c
                }

                // In file order: re-parse misaligned chunks, report the first error.
                var pos = dataStart
                var pendingBlank: DatasetPendingError? = nil
                results.reserveCapacity(chunks)
                for k in 0..<chunks {
                    var c: DatasetChunk
                    if let parsed = slots[k], pos == starts[k] {
                        c = parsed
                    } else {
                        c = DatasetChunk(ctx, rowBase: rowBase[k])
                        c.run(from: pos, to: ends[k])
                        c.release()
                    }
                    slots[k] = nil
                    if let b = pendingBlank, c.rows > 0 || c.error != nil { throw report(b, layout, p, n) }
                    if let e = c.error { throw report(e, layout, p, n) }
                    if pendingBlank == nil { pendingBlank = c.blankError() }
                    pos = c.stop
                    results.append(c)
                }
                rows = results.reduce(0) { $0 + $1.rows }
                guard rows > 0 else { throw DatasetError(path: path, "has no data rows") }

                // Close the gaps between slots (rare: quoted line feeds, blank lines at the end).
                var dest = 0
                for k in 0..<chunks {
                    let r = results[k].rows
                    if dest != rowBase[k] && r > 0 {
                        if cols > 0, let base = buffer.baseAddress {
                            memmove(base + dest * cols, base + rowBase[k] * cols, r * cols * MemoryLayout<Float>.stride)
                        }
                        if hasLabel { memmove(labels + dest, labels + rowBase[k], r * MemoryLayout<Double>.stride) }
                    }
                    results[k].rowBase = dest
                    dest += r
                }
                count = rows * cols
            }
        }

        var labelColumn: LabelColumn? = nil
        if hasLabel {
            let anyText = results.contains { !$0.allNumeric }
            if results.contains(where: { $0.lostText }) || (anyText && results.contains { !$0.interning }) {
                return nil
            }
            if anyText {
                labelColumn = labelStore.withUnsafeBufferPointer { categorical(results, $0, rows) }
            } else {
                labelStore.withUnsafeMutableBufferPointer { numbers(results, $0) }
                labelStore.removeLast(labelStore.count - rows)   // keeps the storage: no copy
                labelColumn = .numeric(labelStore)
            }
        }
        return Dataset(rows: rows, cols: cols, features: features, featureNames: layout.featureNames,
                       labelName: layout.labelIndex.map { layout.names[$0] }, label: labelColumn)
    }
}

// MARK: - Memory

private let datasetPageSize = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))

/// Drops the whole pages of [start, end) of the map from the process (see MappedFile.release).
func datasetRelease(_ file: MappedFile?, _ start: Int, _ end: Int) {
    guard let file else { return }
    let lo = start / datasetPageSize * datasetPageSize, hi = end / datasetPageSize * datasetPageSize
    if hi > lo { file.release(lo..<hi) }
}
