import ML
import Store
import Support

// The in-memory index of the history behind the experiment table, the charts and compare
// pages. Built once (every commit's metadata read once), then brought up to date when a ref
// moves: nothing is read when no branch moved, and only the new commits when one moved
// forward. Per-column values are kept as arrays by commit, so sorting and filtering 10,000
// rows reads arrays, not dictionaries.
//
// Storage is by *slot*: commits are numbered in the order they were first read and never
// renumbered, so the column arrays only grow. `order` lists the visible slots newest first.

/// Every commit reachable from a branch (or HEAD when detached), with its params and metrics.
public final class ExperimentIndex: @unchecked Sendable {
    public let ml: MLRepo
    /// Rows newest first (every commit reachable from any branch, each once).
    public private(set) var rows: [ExperimentRow] = []
    /// Branch name → tip commit, sorted by name; a detached HEAD is the pseudo-branch "HEAD".
    public private(set) var branches: [(name: String, tip: ObjectId)] = []
    /// The branch HEAD is on (nil: detached, or no repository state read yet).
    public private(set) var currentBranch: String?
    /// The table's columns: metrics then params (names as `exp show` gives them): keys with
    /// at least one scalar value (number, string, bool), and params whose values are lists
    /// or objects (shown, sorted and filtered as their compact JSON text).
    public private(set) var columns: [ExperimentColumn] = []
    /// Metrics whose values are arrays or objects (per-step curves such as `loss_curve`):
    /// not table columns, known for the charts.
    public private(set) var curves: [ExperimentColumn] = []
    /// Bumped whenever anything changed (pages may cache by it).
    public private(set) var generation = 0
    /// Commits read so far (grows only with new commits; the tests check refreshes with it).
    public private(set) var commitsRead = 0
    /// Commits whose metadata could not be read (shown without params and metrics).
    public private(set) var unreadable: [ObjectId] = []

    // Storage by slot.
    private(set) var entries: [ExperimentRow] = []
    private var parentSlots: [[Int]] = []
    private var generationNumber: [Int] = []
    private var slotOf: [ObjectId: Int] = [:]
    /// Branch name → reachable, by slot.
    private var reach: [String: [Bool]] = [:]
    /// Visible slots, newest first, and each slot's position there (-1: not visible).
    private(set) var order: [Int] = []
    private var position: [Int] = []
    /// Rows that brought a new (metric, file, key) pair: enough to name the columns.
    private var introducers: [Int] = []

    struct ColumnData {
        var file: String, key: String, metric: Bool
        /// By slot: the value, and the number (NaN: none or not a number).
        var values: [JSON?]
        var numbers: [Double]
        var scalars = 0, structured = 0, nonNumeric = 0
    }
    private var data: [ColumnData] = []
    private var dataIndex: [String: Int] = [:]
    /// For each of `columns`: its index in `data`.
    private var columnData: [Int] = []
    /// Text of each value by slot, made on first use (sorting by a text column).
    private var textCache: [Int: [String]] = [:]
    /// By slot, made on first use: a chart point's label and the commit's compare link.
    private var labelCache: [String?] = []
    private var hrefCache: [String?] = []

    public init(ml: MLRepo) { self.ml = ml }

    /// The ref tips last seen (branches plus a detached HEAD).
    private var lastTips: [(String, ObjectId)] = []
    /// Some tip's commit was not in the store at the last refresh.
    private var tipMissing = false

    /// Brings the index up to date with the refs: cheap (the refs read and compared) when
    /// nothing moved; reads only commits it has not seen when a branch moved.
    public func refresh() throws {
        var tips = try ml.repo.refs.list("heads").map { ($0.name, $0.id) }
        var current: String?
        switch try ml.repo.refs.head() {
        case .branch(let b): current = b
        case .detached(let id): tips.append(("HEAD", id))
        }
        let same = tips.count == lastTips.count && zip(tips, lastTips).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        if same && current == currentBranch && generation > 0 && !tipMissing { return }
        currentBranch = current
        // Another process (a commit, a fetch, gc) wrote the objects the refs now name: see
        // its packs.
        if generation > 0 { try ml.repo.store.reload() }
        let old = Dictionary(lastTips, uniquingKeysWith: { a, _ in a })
        let firstNew = entries.count
        do {
            for (_, tip) in tips { try ingest(from: tip) }
        } catch {
            // All or nothing: rows read before the failure are dropped again, so the next
            // refresh reads them with their parents (rows that were never linked to their
            // parents would leave the index inconsistent).
            for s in firstNew..<entries.count { slotOf[entries[s].id] = nil }
            entries.removeSubrange(firstNew...)
            unreadable.removeAll { slotOf[$0] == nil }
            throw error
        }
        // A tip whose commit is not here (yet: a pack still being written, a partial copy)
        // is looked for again on the next refresh instead of being taken as seen.
        tipMissing = tips.contains { slotOf[$0.1] == nil }
        let added = firstNew..<entries.count
        labelCache.append(contentsOf: repeatElement(nil, count: added.count))
        hrefCache.append(contentsOf: repeatElement(nil, count: added.count))
        linkParents(added)
        extendColumns(added)
        var newReach: [String: [Bool]] = [:]
        for (name, tip) in tips {
            // Reuse the branch's reach when its tip did not move and was found last time.
            if old[name] == tip, var r = reach[name], let t = slotOf[tip], t < r.count, r[t] {
                r.append(contentsOf: repeatElement(false, count: entries.count - r.count))
                newReach[name] = r
            } else {
                newReach[name] = reachable(from: tip)
            }
        }
        reach = newReach
        lastTips = tips
        branches = tips.map { (name: $0.0, tip: $0.1) }
        rebuildOrder()
        generation += 1
    }

    // MARK: Building

    /// Reads the commits reachable from `tip` that the index does not hold yet.
    private func ingest(from tip: ObjectId) throws {
        var stack = [tip]
        while let id = stack.popLast() {
            guard slotOf[id] == nil, ml.repo.store.contains(id) else { continue }
            let row: ExperimentRow
            // One commit (and its metadata); `limit: 1` stops before its parents are read.
            do { guard let r = try ml.experiments(from: id, limit: 1).first else { continue }; row = r } catch {
                // Metadata that cannot be read: the commit is still shown, without values.
                let c = try ml.repo.readCommit(id)
                commitsRead += 1
                unreadable.append(id)
                for p in c.parents where slotOf[p] == nil { stack.append(p) }
                guard let r = try? placeholderRow(id, c) else { continue }
                slotOf[id] = entries.count
                entries.append(r)
                continue
            }
            commitsRead += 1
            slotOf[id] = entries.count
            entries.append(row)
            for p in row.commit.parents where slotOf[p] == nil { stack.append(p) }
        }
    }

    /// A row for a commit whose metadata is unreadable: `ExperimentRow` has no public
    /// initializer, so another row's copy with this commit's fields (none yet: skipped).
    private func placeholderRow(_ id: ObjectId, _ c: Commit) throws -> ExperimentRow {
        guard var r = entries.first else { throw UIError(500, "commit \(id.short) has unreadable metadata") }
        r.id = id; r.commit = c; r.meta = nil
        return r
    }

    private func linkParents(_ added: Range<Int>) {
        for s in added {
            parentSlots.append(entries[s].commit.parents.compactMap { slotOf[$0] })
            generationNumber.append(-1)
        }
        // Generation numbers (1 + the largest of the parents'), iteratively.
        for s in added where generationNumber[s] < 0 {
            var stack = [s]
            while let top = stack.last {
                var ready = true
                for p in parentSlots[top] where generationNumber[p] < 0 { stack.append(p); ready = false }
                if ready {
                    stack.removeLast()
                    if generationNumber[top] < 0 { generationNumber[top] = 1 + (parentSlots[top].map { generationNumber[$0] }.max() ?? 0) }
                }
            }
        }
    }

    private func reachable(from tip: ObjectId) -> [Bool] {
        var r = [Bool](repeating: false, count: entries.count)
        guard let t = slotOf[tip] else { return r }
        var stack = [t]
        r[t] = true
        while let s = stack.popLast() {
            for p in parentSlots[s] where !r[p] { r[p] = true; stack.append(p) }
        }
        return r
    }

    private func rebuildOrder() {
        var visible: [Int] = []
        visible.reserveCapacity(entries.count)
        let maps = Array(reach.values)
        for s in 0..<entries.count where maps.contains(where: { $0[s] }) { visible.append(s) }
        visible.sort { a, b in
            let ta = entries[a].commit.committer.time, tb = entries[b].commit.committer.time
            if ta != tb { return ta > tb }
            if generationNumber[a] != generationNumber[b] { return generationNumber[a] > generationNumber[b] }
            return a > b
        }
        order = visible
        position = [Int](repeating: -1, count: entries.count)
        for (i, s) in order.enumerated() { position[s] = i }
        rows = order.map { entries[$0] }
    }

    private func extendColumns(_ added: Range<Int>) {
        guard !added.isEmpty else { return }
        let n = entries.count
        for i in data.indices {
            data[i].values.append(contentsOf: repeatElement(nil, count: n - data[i].values.count))
            data[i].numbers.append(contentsOf: repeatElement(.nan, count: n - data[i].numbers.count))
        }
        var newPairs = false
        for s in added {
            guard let m = entries[s].meta else { continue }
            var introduced = false
            for (isMetric, byFile) in [(true, m.metrics), (false, m.params)] {
                for (file, kv) in byFile {
                    for (key, v) in kv {
                        let k = (isMetric ? "m" : "p") + "\u{0}" + file + "\u{0}" + key
                        let ci: Int
                        if let x = dataIndex[k] { ci = x } else {
                            ci = data.count
                            dataIndex[k] = ci
                            data.append(ColumnData(file: file, key: key, metric: isMetric,
                                                   values: [JSON?](repeating: nil, count: n), numbers: [Double](repeating: .nan, count: n)))
                            introduced = true
                        }
                        data[ci].values[s] = v
                        switch v {
                        case .array, .object:
                            if isMetric { data[ci].structured += 1; break }
                            // A param's list or object (`hidden_layers: [8]`) is a text
                            // value: its compact JSON, shown, sorted and filtered as text.
                            data[ci].values[s] = .string(v.encoded())
                            data[ci].scalars += 1; data[ci].nonNumeric += 1
                        case .number(let d): data[ci].numbers[s] = d; data[ci].scalars += 1
                        case .int(let i): data[ci].numbers[s] = Double(i); data[ci].scalars += 1
                        default: data[ci].scalars += 1; data[ci].nonNumeric += 1
                        }
                    }
                }
            }
            if introduced { introducers.append(s); newPairs = true }
        }
        textCache = [:]
        guard newPairs else { return }
        // Names exactly as `exp show` gives them: the table over the rows that brought each pair.
        let named = ExperimentTable(rows: introducers.map { entries[$0] }).columns
        columns = []; curves = []; columnData = []
        for c in named {
            guard let ci = dataIndex[(c.metric ? "m" : "p") + "\u{0}" + c.file + "\u{0}" + c.key] else { continue }
            if data[ci].scalars > 0 { columns.append(c); columnData.append(ci) }
            if data[ci].structured > 0 { curves.append(c) }
        }
    }

    // MARK: Reading

    /// How many rows are visible.
    public var count: Int { order.count }
    /// How many commits the index holds (visible or not): slots are below this.
    var slotCount: Int { entries.count }

    /// The row of `id`, when the index holds it and a branch reaches it.
    public func row(_ id: ObjectId) -> ExperimentRow? {
        guard let s = slotOf[id], position[s] >= 0 else { return nil }
        return entries[s]
    }

    /// The slot of `id` (visible or not).
    func slot(of id: ObjectId) -> Int? { slotOf[id] }

    func entry(_ slot: Int) -> ExperimentRow { entries[slot] }

    /// "1a2b3c4 message" (cut to 60 characters): a chart point's label.
    func label(_ slot: Int) -> String {
        if let l = labelCache[slot] { return l }
        let r = entries[slot]
        let l = r.id.short + " " + UIFormat.cut(r.commit.subject, 60)
        labelCache[slot] = l
        return l
    }

    /// `/compare?c=ID` for the commit.
    func compareHref(_ slot: Int) -> String {
        if let h = hrefCache[slot] { return h }
        let h = HTML.url("/compare", [("c", entries[slot].id.hex)])
        hrefCache[slot] = h
        return h
    }

    /// The visible slots reached from `branchNames` (nil: every branch), newest first.
    func slots(branches branchNames: [String]?) -> [Int] {
        guard let branchNames else { return order }
        let maps = branchNames.compactMap { reach[$0] }
        if maps.count == 1 { let m = maps[0]; return order.filter { m[$0] } }
        return order.filter { s in maps.contains { $0[s] } }
    }

    /// The branches that reach `slot`, in name order.
    func branchNames(reaching slot: Int) -> [String] {
        branches.compactMap { reach[$0.name]?[slot] == true ? $0.name : nil }
    }

    /// The branches whose tip is `slot`.
    func tipNames(_ slot: Int) -> [String] {
        let id = entries[slot].id
        return branches.compactMap { $0.tip == id ? $0.name : nil }
    }

    func hasBranch(_ name: String) -> Bool { reach[name] != nil }

    /// The value of column `c` (an index into `columns`) at `slot`.
    func value(_ c: Int, _ slot: Int) -> JSON? { data[columnData[c]].values[slot] }
    /// Its number (NaN: none, or not a number).
    func number(_ c: Int, _ slot: Int) -> Double { data[columnData[c]].numbers[slot] }
    /// Every slot's number of column `c`.
    func numbers(_ c: Int) -> [Double] { data[columnData[c]].numbers }
    /// Whether every value of column `c` is a number.
    func isNumeric(_ c: Int) -> Bool { data[columnData[c]].nonNumeric == 0 }

    /// Column `c`'s values as text, by slot ("" for none).
    func texts(_ c: Int) -> [String] {
        if let t = textCache[c] { return t }
        let t = data[columnData[c]].values.map { $0?.display() ?? "" }
        textCache[c] = t
        return t
    }

    /// The column a name written by a person means: its name, FILE:KEY, else a bare key,
    /// else the last part of a dotted key (as `exp show --sort-by`). Unknown and ambiguous
    /// names are errors that say what exists.
    public func column(named name: String, what: String = "column") throws(UIError) -> Int {
        let suggest = suggestionsLeft > 0
        suggestionsLeft -= 1
        return try ExperimentIndex.find(name, in: columns, what: what, suggest: suggest)
    }

    /// How many more unknown names get "did you mean" suggestions in the request being
    /// answered (the app resets it per request): a query naming hundreds of unknown columns
    /// costs no more than a few.
    public var suggestionsLeft = 8

    static func find(_ name: String, in cols: [ExperimentColumn], what: String, suggest: Bool) throws(UIError) -> Int {
        let exact = cols.indices.filter { cols[$0].name == name || "\(cols[$0].file):\(cols[$0].key)" == name }
        let byKey = cols.indices.filter { cols[$0].key == name }
        let leaf = cols.indices.filter { cols[$0].key.hasSuffix("." + name) }
        let pick = !exact.isEmpty ? exact : !byKey.isEmpty ? byKey : leaf
        guard let first = pick.first else {
            let near = suggest ? closeMatches(name, cols.map(\.name)) : []
            let hint = near.isEmpty ? "" : " (did you mean \(near.map { "'\($0)'" }.joined(separator: ", "))?)"
            throw UIError(400, "no \(what) '\(name)'\(hint)")
        }
        guard pick.count == 1 else {
            throw UIError(400, "'\(name)' names several \(what)s: \(pick.prefix(8).map { "'\(cols[$0].file):\(cols[$0].key)'" }.joined(separator: ", ")); write FILE:KEY")
        }
        return first
    }

    static let maxCompared = 2000

    /// Up to three names within a small edit distance of `name` (or containing it).
    /// Bounded: names whose lengths differ by more than the allowed distance are skipped
    /// before any distance is computed, and at most `maxCompared` names are compared.
    static func closeMatches(_ name: String, _ names: [String]) -> [String] {
        let a = Array(name.lowercased().unicodeScalars.prefix(64))
        guard !a.isEmpty else { return [] }
        let allowed = max(1, min(3, a.count / 3))
        var scored: [(Int, String)] = []
        var compared = 0
        for n in names {
            let b = Array(n.lowercased().unicodeScalars.prefix(64))
            if n.lowercased().contains(name.lowercased()) { scored.append((0, n)); continue }
            guard abs(b.count - a.count) <= allowed, compared < maxCompared else { continue }
            compared += 1
            // Levenshtein with two rows.
            var prev = Array(0...b.count), cur = [Int](repeating: 0, count: b.count + 1)
            for i in 1...a.count {
                cur[0] = i
                for j in stride(from: 1, through: b.count, by: 1) {
                    cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                swap(&prev, &cur)
            }
            let d = prev[b.count]
            if d <= allowed { scored.append((d, n)) }
        }
        return scored.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.prefix(3).map(\.1)
    }

    // MARK: Filtering and sorting

    /// The slots of `slots` that pass `filter` (its names resolved to columns first: an
    /// unknown name is an error).
    func filter(_ slots: [Int], _ filter: FilterExpression) throws(UIError) -> [Int] {
        if filter.isEmpty { return slots }
        var cols: [Int] = []
        for (i, n) in filter.names.enumerated() {
            do { cols.append(try column(named: n)) } catch {
                throw UIError(400, "filter: \(error.message) at column \(filter.nameColumns[i])")
            }
        }
        let nums = cols.map { data[columnData[$0]].numbers }
        let vals = cols.map { data[columnData[$0]].values }
        return slots.filter { s in
            filter.evaluate { c in
                if case .number(let n) = c.literal {
                    let d = nums[c.name][s]
                    return !d.isNaN && FilterExpression.compare(number: d, c.op, n)
                }
                return FilterExpression.compare(vals[c.name][s], c.op, c.literal)
            }
        }
    }

    /// What rows can be sorted by besides a column.
    public enum SortKey: Equatable, Sendable {
        case time, message, column(Int)
    }

    /// `slots` sorted (stable: ties keep their order); rows without a value go last.
    func sort(_ slots: [Int], by key: SortKey, descending: Bool) -> [Int] {
        let pos = position
        switch key {
        case .time:
            return descending ? slots.sorted { pos[$0] < pos[$1] } : slots.sorted { pos[$0] > pos[$1] }
        case .message:
            let msgs = slots.map { (s: $0, m: entries[$0].commit.subject) }
            return msgs.sorted { x, y in x.m != y.m ? (descending ? x.m > y.m : x.m < y.m) : pos[x.s] < pos[y.s] }.map(\.s)
        case .column(let c):
            let nums = numbers(c)
            if isNumeric(c) {
                return slots.sorted { a, b in
                    let x = nums[a], y = nums[b]
                    if x.isNaN || y.isNaN { return x.isNaN != y.isNaN ? !x.isNaN : pos[a] < pos[b] }
                    if x != y { return descending ? x > y : x < y }
                    return pos[a] < pos[b]
                }
            }
            let vals = data[columnData[c]].values
            let text = texts(c)
            return slots.sorted { a, b in
                let x = vals[a], y = vals[b]
                if x == nil || y == nil { return (x == nil) != (y == nil) ? x != nil : pos[a] < pos[b] }
                let u = nums[a], v = nums[b]
                if !u.isNaN && !v.isNaN && u != v { return descending ? u > v : u < v }
                // Numbers before text (ascending), as `exp show` orders mixed values.
                if u.isNaN != v.isNaN { return descending ? u.isNaN : !u.isNaN }
                if text[a] != text[b] { return descending ? text[a] > text[b] : text[a] < text[b] }
                return pos[a] < pos[b]
            }
        }
    }
}
