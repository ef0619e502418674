#if canImport(Glibc)
import Glibc
#endif
import Support
import Store
import Compute
import ComputeGPU
import ML
import Serve
import Net
import UI

// The fuzz targets' bodies (issue 13). One function per target takes an arbitrary input and
// drives one parser the way the product does. Errors the parser throws are the expected
// answer to bad input and are ignored; a crash (trap, AddressSanitizer report, timeout,
// out-of-memory) or a failed consistency check (`check`) is a finding.
//
// The libFuzzer binary (fuzz/Package.swift, target mlrepo-fuzz) calls `run` from its
// LLVMFuzzerTestOneInput; Tests/FuzzSeedTests feeds every seed in fuzz/corpus/<target>/
// through the same `run` without the fuzzer, so both stay compiling and exercised in CI.
// Nothing in the product links this module.

public enum FuzzHarness {
    /// Every target, by the name `fuzz/run.sh` and the corpus folders use.
    public static let targets: [String] = [
        "http", "chunked", "json", "packindex", "pack", "objects", "refname", "ignore", "csv",
        "config", "npy", "model", "decimal", "onnx", "merge", "index", "uifilter",
        "plotdata", "promtext", "uiquery", "kernelcache",
    ]

    /// Runs `target` on `data`. False when there is no such target.
    @discardableResult
    public static func run(_ target: String, _ data: UnsafeRawBufferPointer) -> Bool {
        switch target {
        case "http": http(data)
        case "chunked": chunked(data)
        case "json": json(data)
        case "packindex": packIndex(data)
        case "pack": pack(data)
        case "objects": objects(data)
        case "refname": refName(data)
        case "ignore": ignore(data)
        case "csv": csv(data)
        case "config": config(data)
        case "npy": npy(data)
        case "model": model(data)
        case "decimal": decimal(data)
        case "onnx": onnx(data)
        case "merge": merge(data)
        case "index": index(data)
        case "uifilter": uiFilter(data)
        case "plotdata": plotData(data)
        case "promtext": promText(data)
        case "uiquery": uiQuery(data)
        case "kernelcache": kernelCache(data)
        default: return false
        }
        return true
    }

    /// A broken invariant: report it as a crash so the fuzzer keeps the input.
    static func check(_ ok: @autoclosure () -> Bool, _ what: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
        if !ok() { fatalError("fuzz invariant broken: \(what())", file: file, line: line) }
    }

    // MARK: UI: the experiment table's filter expressions

    /// `FilterExpression` (UI/FilterExpression.swift) on the input as text: an error is one
    /// line starting "filter: " with status 400; a parsed expression names each column once
    /// with its position inside the text, evaluates without trapping, and `!( E )` parses
    /// (within the bounds) to its negation.
    static func uiFilter(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        let f: FilterExpression
        do { f = try FilterExpression(text) } catch {
            check(error.status == 400, "filter error status \(error.status)")
            check(error.message.hasPrefix("filter: "), "filter error without its prefix: \(error.message)")
            check(!error.message.contains("\n") && !error.message.contains("\r"), "filter error spans lines: \(error.message)")
            return
        }
        let scalars = text.unicodeScalars.count
        check(f.names.count == f.nameColumns.count, "names and their columns differ in number")
        check(Set(f.names).count == f.names.count, "a name listed twice")
        check(f.nameColumns.allSatisfy { $0 >= 1 && $0 <= scalars }, "a name's column is outside the text")
        check(f.isEmpty == f.names.isEmpty, "an expression with no names that is not blank, or the reverse")
        // Values that depend on the name only, by its length mod 3: none, a number, text.
        let value: (String) -> JSON? = { n in
            switch n.utf8.count % 3 {
            case 0: return nil
            case 1: return .number(Double(n.utf8.count) / 4)
            default: return .string(n)
            }
        }
        let result = f.matches(value)
        _ = f.evaluate { _ in true }
        _ = f.evaluate { _ in false }
        guard !f.isEmpty, let wrapped = try? FilterExpression("!(" + text + ")") else { return }
        check(wrapped.names == f.names, "wrapping changed the names")
        check(wrapped.matches(value) == !result, "!( E ) is not the negation of E for '\(text)'")
    }

    // MARK: UI: plot files, a served model's metrics, page queries

    /// A plot data file (the first byte picks CSV, TSV or JSON; the rest is the file) as
    /// `plots` reads it, then drawn as every chart kind over its numeric columns and as a
    /// confusion matrix of its first and last columns: nothing traps or hangs, and no text
    /// of the file reaches the SVG unescaped.
    static func plotData(_ data: UnsafeRawBufferPointer) {
        guard let first = data.first else { return }
        let path = ["p.csv", "p.tsv", "p.json"][Int(first % 3)]
        let bytes = Array(data.dropFirst())
        guard let table = try? PlotTable.parse(bytes, path: path) else { return }
        check(table.rows.allSatisfy { $0.count <= max(table.columns.count, 1) || table.columns.isEmpty }, "a row wider than the header")
        var series: [ChartSeries] = []
        for (c, name) in table.columns.enumerated().prefix(4) {
            var pts: [ChartPoint] = []
            for (i, row) in table.rows.enumerated().prefix(5000) where c < row.count {
                if let v = PlotTable.number(row[c]) { pts.append(ChartPoint(x: Double(i), y: v, label: row[c])) }
            }
            series.append(ChartSeries(name: name, points: pts))
        }
        for kind in ChartKind.allCases {
            var chart = Chart(title: table.columns.first ?? "", kind: kind, series: series, xLabel: table.columns.last ?? "",
                              xCategories: kind == .bar ? table.rows.prefix(50).map { $0.first ?? "" } : nil)
            chart.markerLimit = 1000
            let svg = chart.svg()
            check(!svg.contains("<script"), "a chart holds raw markup")
        }
        if table.columns.count >= 2, let (labels, counts) = try? PlotTable.confusion(table.rows, 0, table.columns.count - 1, path: path) {
            check(counts.count == labels.count && counts.allSatisfy { $0.count == labels.count }, "a confusion matrix that is not square")
            check(!ConfusionChart(title: path, labels: labels, counts: counts).svg().contains("<script"), "a confusion chart holds raw markup")
        }
    }

    /// The Serving page's reader of a served model's /metrics (Prometheus text): bounded,
    /// never traps, and every sample has a name.
    static func promText(_ data: UnsafeRawBufferPointer) {
        let samples = PromText.parse(String(decoding: data, as: UTF8.self))
        check(samples.count <= PromText.maxLines, "more samples than lines read")
        check(samples.allSatisfy { !$0.name.isEmpty }, "a sample without a name")
    }

    /// A page's query string: decoding is bounded and total, names and values round-trip
    /// through the URL encoder, and escaping any text leaves no markup.
    static func uiQuery(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        if let q = try? Query(text) {
            check(q.pairs.count <= Query.maxPairs, "more pairs than the bound")
            for (k, v) in q.pairs {
                check(HTML.percentDecode(Substring(HTML.urlComponent(k))) == k, "a name does not round-trip")
                check(HTML.percentDecode(Substring(HTML.urlComponent(v))) == v, "a value does not round-trip")
            }
        }
        let escaped = HTML.text(text)
        check(!escaped.contains("<") && !escaped.contains(">") && !escaped.contains("\""), "escaping left markup")
    }

    /// A compiled-kernel cache file (ComputeGPU/KernelCache.swift), read from the user's cache
    /// folder before the driver ever sees it: the key is taken from the input's own key field
    /// so that the fuzzer reaches the length and digest checks. Whatever decodes re-encodes
    /// to the same bytes, and an image is never longer than the bound.
    static func kernelCache(_ data: UnsafeRawBufferPointer) {
        let file = Array(data)
        let key = file.count >= 48 ? Array(file[16..<48]) : [UInt8](repeating: 0, count: 32)
        if let image = KernelCache.decode(file, key: key) {
            check(image.count <= KernelCache.maxImageBytes, "an image over the bound")
            check(KernelCache.encode(image, key: key) == file, "a decoded file does not re-encode to itself")
        }
    }

    // MARK: Support: line diff and three-way text merge

    /// Three texts separated by NUL bytes (base, ours, theirs). The diff of any two must
    /// turn one into the other; a merge where one side is the base or both sides agree is
    /// that side with no conflict; a favor never leaves a conflict; every style terminates.
    static func merge(_ data: UnsafeRawBufferPointer) {
        let parts = Array(data).split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false).map { Array($0) }
        let base = parts[0], ours = parts.count > 1 ? parts[1] : [], theirs = parts.count > 2 ? parts[2] : []
        let a = LineDiff.lines(base), b = LineDiff.lines(ours)
        var rebuilt: [UInt8] = [], at = 0, last = -1
        for r in LineDiff.diff(a, b) {
            check(r.aStart > last && r.aStart >= at && r.aStart + r.aCount <= a.count && r.bStart + r.bCount <= b.count
                  && r.aCount + r.bCount > 0, "bad region \(r)")
            for i in at..<r.aStart { rebuilt += a[i] }
            for i in r.bStart..<(r.bStart + r.bCount) { rebuilt += b[i] }
            at = r.aStart + r.aCount; last = at
        }
        for i in at..<a.count { rebuilt += a[i] }
        check(rebuilt == ours, "applying the diff does not give the new text")
        for c in [0, 1, 3] { _ = LineDiff.unified(LineDiff.hunks(base, ours, context: c), oldLabel: "a", newLabel: "b") }
        for style in [TextMergeOptions.Style.merge, .diff3] {
            let m = TextMerge.merge(base: base, ours: ours, theirs: theirs, options: TextMergeOptions(style: style))
            check(m.conflicts >= 0, "negative conflict count")
            let one = TextMerge.merge(base: base, ours: ours, theirs: base, options: TextMergeOptions(style: style))
            check(one == TextMergeResult(bytes: ours, conflicts: 0), "a change on one side only is not taken as it is")
            let other = TextMerge.merge(base: base, ours: base, theirs: theirs, options: TextMergeOptions(style: style))
            check(other == TextMergeResult(bytes: theirs, conflicts: 0), "a change on the other side only is not taken as it is")
            let same = TextMerge.merge(base: base, ours: theirs, theirs: theirs, options: TextMergeOptions(style: style))
            check(same == TextMergeResult(bytes: theirs, conflicts: 0), "the same change on both sides is not taken once")
        }
        for favor in [TextMergeOptions.Favor.ours, .theirs, .union] {
            let m = TextMerge.merge(base: base, ours: ours, theirs: theirs, options: TextMergeOptions(favor: favor))
            check(m.conflicts == 0, "favor \(favor) left \(m.conflicts) conflicts")
        }
    }

    // MARK: Net: HTTP request parser and chunked decoder

    /// A connection's buffer: pipelined requests parsed one after another, as the server
    /// does, until the buffer is incomplete or a request fails. Small limits so the limit
    /// paths are reachable.
    static func http(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        parseConnection(bytes, maxHeaderBytes: 2048, maxBodyBytes: 4096)
        parseConnection(bytes, maxHeaderBytes: 64 << 10, maxBodyBytes: 64 << 20)
    }

    static let chunkedHead = Array("POST /invocations HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)

    /// The input is a chunked body behind a fixed valid head, so every byte goes to the
    /// chunked decoder.
    static func chunked(_ data: UnsafeRawBufferPointer) {
        let bytes = chunkedHead + Array(data)
        parseConnection(bytes, maxHeaderBytes: 2048, maxBodyBytes: 4096)
        parseConnection(bytes, maxHeaderBytes: 64 << 10, maxBodyBytes: 64 << 20)
    }

    static func parseConnection(_ bytes: [UInt8], maxHeaderBytes: Int, maxBodyBytes: Int) {
        var start = 0
        var steps = 0
        while start < bytes.count {
            steps += 1
            check(steps <= bytes.count + 1, "parser made no progress")
            let step = bytes.withUnsafeBufferPointer { b in
                parseRequest(UnsafeBufferPointer(rebasing: b[start...]),
                             limits: HTTPLimits(maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes))
            }
            switch step {
            case .incomplete: return
            case .failure(let status, _):
                check((400...599).contains(status), "failure status \(status)")
                return
            case .request(let r, let used):
                check(used > 0 && used <= bytes.count - start, "consumed \(used) of \(bytes.count - start) bytes")
                check(r.body.count <= maxBodyBytes, "body of \(r.body.count) bytes over the limit \(maxBodyBytes)")
                check(!r.method.isEmpty, "empty method")
                // What the server then reads from a request.
                _ = r.mediaType
                _ = r.queryValue("probabilities")
                _ = r.header("connection")
                start += used
            }
        }
    }

    // MARK: Support: JSON

    /// Parses; a value that parses must encode to text that parses again and encodes to
    /// the same text (the canonical form is a fixed point), compact and pretty.
    static func json(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        guard let v = try? JSON.parse(text) else { return }
        for pretty in [false, true] {
            let once = v.encoded(pretty: pretty)
            guard let again = try? JSON.parse(once) else {
                return check(false, "canonical text does not parse: \(once.prefix(200))")
            }
            let twice = again.encoded(pretty: pretty)
            check(once == twice, "canonical text is not a fixed point: \(once.prefix(200)) vs \(twice.prefix(200))")
        }
    }

    // MARK: Store: pack index, packs, objects

    /// A scratch folder for the targets that read files, one per process.
    nonisolated(unsafe) static var scratchDir: String?
    static func scratch() -> String {
        if let d = scratchDir { return d }
        let base = "/tmp/mlrepo-fuzz-\(getpid())"
        try? FS.mkdirs(base + "/objects")
        scratchDir = base
        return base
    }

    static func write(_ path: String, _ bytes: UnsafeRawBufferPointer) {
        do { try FS.atomicWrite(path, Array(bytes), durable: false) } catch {
            fatalError("fuzz harness: cannot write \(path): \(error)")
        }
    }

    /// The input is a pack index file: open it (header and size checks), then use every
    /// entry the way the store does (id, entry, lookup, prefix search, checksum).
    static func packIndex(_ data: UnsafeRawBufferPointer) {
        let path = scratch() + "/fuzz.idx"
        write(path, data)
        guard let idx = try? PackIndex(path: path) else { return }
        _ = idx.verifyChecksum()
        for i in 0..<min(idx.count, 64) {
            let id = idx.id(at: i)
            _ = try? idx.entry(at: i)
            _ = idx.find(id)
            let b = id.bytes
            _ = idx.ids(withPrefix: Array(b[0..<2]), oddNibble: b[2] >> 4, limit: 4)
        }
        // Ids that are not in the index, in every fan-out bucket's neighbourhood.
        for fb in stride(from: 0, to: 256, by: 15) {
            _ = idx.find(ObjectId(bytes: [UInt8(fb)] + [UInt8](repeating: 0x80, count: 31)))
            _ = idx.ids(withPrefix: [UInt8(fb)], oddNibble: nil, limit: 4)
        }
    }

    /// The input is a store of one pack: u32 (little-endian) length of the index, the
    /// index, then the pack. Every object is read through the store (entry header checks,
    /// zlib, verification against its id) and decoded by its kind; files are streamed
    /// through FileReader.
    static func pack(_ data: UnsafeRawBufferPointer) {
        guard data.count >= 4 else { return }
        let idxLen = Int(UInt32(littleEndian: data.loadUnaligned(as: UInt32.self)))
        guard idxLen <= data.count - 4 else { return }
        let dir = scratch() + "/objects"
        write(dir + "/pack-fuzz.idx", UnsafeRawBufferPointer(rebasing: data[4..<(4 + idxLen)]))
        write(dir + "/pack-fuzz.pack", UnsafeRawBufferPointer(rebasing: data[(4 + idxLen)...]))
        guard let store = try? ObjectStore(directory: dir, durable: false) else { return }
        let reader = FileReader(store: store)
        for id in store.allIds().prefix(64) {
            guard let info = try? store.info(id) else { continue }
            switch info.kind {
            case .blob:
                _ = try? store.read(id, as: .blob)
            case .tree:
                _ = try? store.withObject(id) { _, b in try Tree.decode(b, id: id) }
            case .commit:
                _ = try? store.withObject(id) { _, b in try Commit.decode(b, id: id) }
            case .chunks:
                _ = try? reader.size(of: id)
                var total: UInt64 = 0
                _ = try? reader.read(id) { total += UInt64($0.count) }
            }
        }
        _ = store.ids(withHexPrefix: "0")
        _ = store.ids(withHexPrefix: "ab1")
    }

    /// The input is an object payload, decoded as a tree, a commit and a chunk list. What
    /// decodes must encode and decode back to the same value.
    static func objects(_ data: UnsafeRawBufferPointer) {
        let id = ObjectId.zero
        if let t = try? Tree.decode(data, id: id) {
            let enc = t.encode()
            let back = enc.withUnsafeBytes { try? Tree.decode($0, id: id) }
            check(back == t, "tree does not survive encode/decode")
        }
        if let c = try? Commit.decode(data, id: id) {
            _ = c.subject
            let enc = c.encode()
            let back = enc.withUnsafeBytes { try? Commit.decode($0, id: id) }
            check(back == c, "commit does not survive encode/decode")
        }
        if let l = try? ChunkList.decode(data, id: id) {
            let enc = l.encode()
            let back = enc.withUnsafeBytes { try? ChunkList.decode($0, id: id) }
            check(back == l, "chunk list does not survive encode/decode")
        }
    }

    // MARK: Store: the index (with merge conflict stages) and MERGE_MODE

    /// An `.mlrepo/index` file, and the same bytes as a MERGE_MODE file. Whatever decodes
    /// holds only safe relative paths (merge --abort and checkout delete and write them),
    /// every unmerged path has a stage, and re-encoding gives bytes that decode the same.
    static func index(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        if let idx = try? StagingIndex.decode(bytes: bytes, path: "index") {
            for p in idx.entries.keys { check(StagingIndex.isSafePath(p), "unsafe path \(p) decoded") }
            for u in idx.unmerged.values {
                check(StagingIndex.isSafePath(u.path), "unsafe unmerged path \(u.path) decoded")
                check(!u.stages.isEmpty && idx.entries[u.path] == nil, "unmerged path \(u.path) without stages, or also merged")
            }
            let enc = idx.encode()
            let back = try? StagingIndex.decode(bytes: enc, path: "index")
            check(back?.encode() == enc, "the index does not survive encode/decode")
        }
        if let text = String(validating: bytes, as: UTF8.self), let m = try? MergeMode.parse(text, path: "MERGE_MODE") {
            check(m.touched.allSatisfy(StagingIndex.isSafePath), "unsafe touched path decoded")
            check((try? MergeMode.parse(m.text, path: "MERGE_MODE"))?.text == m.text, "MERGE_MODE does not survive encode/decode")
        }
    }

    // MARK: Store: ref names, ignore rules

    /// A name the validator accepts must be safe to join to the refs folder: relative, no
    /// empty, `.` or `..` component, no NUL or control character, no backslash.
    static func refName(_ data: UnsafeRawBufferPointer) {
        let name = String(decoding: data, as: UTF8.self)
        guard Refs.isValidName(name) else { return }
        check(!name.hasPrefix("/"), "valid ref name is absolute: \(name.debugDescription)")
        for comp in name.split(separator: "/", omittingEmptySubsequences: false) {
            check(!comp.isEmpty && comp != "." && comp != "..", "valid ref name has component \(String(comp).debugDescription): \(name.debugDescription)")
        }
        check(!name.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" },
              "valid ref name has a control character or backslash: \(name.debugDescription)")
        check(!name.hasSuffix(".lock"), "valid ref name ends in .lock: \(name.debugDescription)")
    }

    /// The input is an ignore file; its last line is also the path asked about. Rules are
    /// loaded at the root and in a subfolder, and asked about the path as a file and as a
    /// folder; the first line is also matched directly as a glob.
    static func ignore(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let path = String(lines.last ?? "")
        var rules = IgnoreRules()
        // A line over the length limit refuses the whole file (an error, not a crash).
        guard (try? rules.add(text: text, base: "")) != nil, (try? rules.add(text: text, base: "sub")) != nil else { return }
        for p in [path, "sub/" + path, "a/b/" + path] {
            _ = rules.isIgnored(p, isDirectory: false)
            _ = rules.isIgnored(p, isDirectory: true)
        }
        if let first = lines.first {
            _ = Glob.match(Array(first.utf8), Array(path.utf8))
        }
    }

    // MARK: ML: CSV

    /// The input is a CSV file: read as a dataset (every column a feature, and with the
    /// label `y`), read again from memory (as the server reads a text/csv body), and
    /// profiled. Every field is scanned with `CSVScanner` and read by `DecimalParser`, whose
    /// numbers must match the standard library's `Double(String)` bit for bit, and whose
    /// float32 fast path must match Float of that.
    static func csv(_ data: UnsafeRawBufferPointer) {
        let path = scratch() + "/fuzz.csv"
        write(path, data)
        let fromFile = try? DatasetReader.readCSV(path: path, label: nil, threads: 1)
        if let d = fromFile {
            check(d.features.count == d.rows * d.cols, "matrix of \(d.features.count) values for \(d.rows)x\(d.cols)")
        }
        let fromMemory = try? DatasetReader.readCSV(bytes: data, name: path, label: nil, threads: 1)
        check(fromFile == fromMemory, "the file and the same bytes in memory read differently")
        if let d = try? DatasetReader.readCSV(path: path, label: "y", threads: 2) {
            check(d.features.count == d.rows * d.cols, "matrix of \(d.features.count) values for \(d.rows)x\(d.cols)")
        }
        let profiler = CSVProfiler(path: path)
        if (try? profiler.feed(data)) != nil { _ = try? profiler.finish() }

        guard let base = data.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let n = data.count
        var i = 0, fields = 0
        while i < n && fields < 4_096 {
            let f = CSVScanner.field(base, i, n)
            if f.next < 0 { break }
            check(f.next >= i && f.next <= n && f.start >= i && f.start + f.count <= n, "field \(f) at \(i) of \(n)")
            let cell = Array(CSVScanner.text(base, f).utf8)
            cell.withUnsafeBufferPointer { b in
                guard var q = b.baseAddress else { return }
                var len = b.count
                CSVScanner.trim(&q, &len)
                let text = String(decoding: UnsafeBufferPointer(start: q, count: len), as: UTF8.self)
                let number = DecimalParser.number(q, len)
                if let v = number.value {
                    check(Double(text)?.bitPattern == v.bitPattern, "'\(text)' read as \(v), the standard library says \(String(describing: Double(text)))")
                }
                if let r = DecimalParser.float32Prefix(q, 0, len, .shared), r.next == len, let v = number.value {
                    check(r.value.bitPattern == Float(v).bitPattern, "'\(text)' as float32: \(r.value), not \(Float(v))")
                }
            }
            fields += 1
            i = f.next + 1
        }
    }

    // MARK: Support: decimal numbers

    /// The input is lines of text, each read by `DecimalParser` (whole-cell, Double, Int64 and
    /// the float32 fast path): what it reads must match the standard library bit for bit.
    static func decimal(_ data: UnsafeRawBufferPointer) {
        guard let base = data.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var start = 0
        while start <= data.count {
            var end = start
            while end < data.count && base[end] != 0x0A { end += 1 }
            let p = base + start, n = end - start
            let text = String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
            let oracle = Double(text)
            if let v = DecimalParser.double(p, n) {
                check(oracle?.bitPattern == v.bitPattern, "'\(text)' read as \(v), the standard library says \(String(describing: oracle))")
            }
            let number = DecimalParser.number(p, n)
            if case .integer(let v) = number {
                check(Int64(text).map(Double.init) == v, "'\(text)' read as the integer \(v), Int64 says \(String(describing: Int64(text)))")
            }
            if let i = DecimalParser.int64(p, n) {
                check(Double(i) == number.value, "'\(text)' is the Int64 \(i) but the number \(String(describing: number.value))")
            }
            if let r = DecimalParser.float32Prefix(p, 0, n, .shared) {
                check(r.next > 0 && r.next <= n, "float32 prefix of '\(text)' ends at \(r.next)")
                let prefix = String(decoding: UnsafeBufferPointer(start: p, count: r.next), as: UTF8.self)
                check(Double(prefix).map { Float($0).bitPattern } == r.value.bitPattern,
                      "'\(prefix)' as float32: \(r.value), the standard library says \(String(describing: Double(prefix).map { Float($0) }))")
            }
            start = end + 1
        }
    }

    // MARK: Store: config files

    /// The input is a config file (`.mlrepo/config` arrives with a copied repository): every
    /// value it yields must be found again by key, and every problem names a line of it.
    static func config(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        let c = Config(text: text)
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).count
        for p in c.problems { check(p.line >= 1 && p.line <= lines, "problem on line \(p.line) of \(lines)") }
        for (k, _) in c.values { check(c[k] != nil, "key \(k.debugDescription) listed but not found") }
    }

    // MARK: ML: NumPy arrays and model files

    /// The input is a `.npy` file (a dataset given to `train`/`predict`).
    static func npy(_ data: UnsafeRawBufferPointer) {
        let path = scratch() + "/fuzz.npy"
        write(path, data)
        if let d = try? DatasetReader.readNPY(path: path) {
            check(d.values.count == d.rows * d.cols, "\(d.values.count) values for \(d.rows)x\(d.cols)")
        }
    }

    /// The input is a `.mlmodel` file (`predict`, `serve`, `promote` read models from clones).
    static func model(_ data: UnsafeRawBufferPointer) {
        _ = try? ModelFile.decode(Array(data), path: "fuzz.mlmodel")
    }

    /// An ONNX file: `ONNXModel.decode` (ML/Models/ONNX). What decodes must hold exactly the
    /// elements its tensors' dims describe.
    static func onnx(_ data: UnsafeRawBufferPointer) {
        guard let m = try? ONNXModel.decode(Array(data), path: "fuzz.onnx") else { return }
        for t in m.graph.initializers {
            let n: Int
            switch t.values {
            case .floats(let v): n = v.count
            case .doubles(let v): n = v.count
            case .ints(let v): n = v.count
            case .strings(let v): n = v.count
            case .raw: continue
            }
            precondition(n == t.count, "tensor '\(t.name)': \(n) values for dims \(t.dims)")
        }
        // What decodes is then checked and prepared as `predict`/`serve` would (operators,
        // attributes, constants), and what loads runs once on small inputs (2 rows, every
        // unknown or symbolic dimension 2): errors are fine, crashes are findings.
        guard let program = try? ONNXProgram(m, path: "fuzz.onnx") else { return }
        var feeds: [String: ONNXValue] = [:]
        for input in program.inputs {
            var shape: [Int] = []
            for d in input.shape ?? [.unknown, .unknown] {
                switch d {
                case .size(let k): shape.append(Int(k))
                case .symbol, .unknown: shape.append(2)
                }
            }
            guard shape.allSatisfy({ $0 >= 0 && $0 <= 64 }), shape.reduce(1, *) <= 4096 else { return }
            let n = shape.reduce(1, *)
            let storage: ONNXArray.Storage
            switch input.elementType.flatMap(ONNXElementType.init(rawValue:)) {
            case .string?: storage = .string(Array(repeating: "a", count: n))
            case .double?: storage = .double(Array(repeating: 0.5, count: n))
            case .bool?: storage = .bool(Array(repeating: true, count: n))
            case .int64?, .int32?, .int16?, .int8?, .uint8?, .uint16?, .uint32?, .uint64?: storage = .int64(Array(repeating: 1, count: n))
            default: storage = .float(Array(repeating: 0.5, count: n))
            }
            feeds[input.name] = .tensor(ONNXArray(shape: shape, storage: storage))
        }
        _ = try? program.run(feeds, backend: fuzzBackend)
    }
}

/// One single-threaded CPU backend for every ONNX run of the fuzz target.
let fuzzBackend = CPUBackend(threads: 1)
