import Support

/// The three-way merge of the rows of one changed region (pure: rows in, bytes out).
///
/// Rows are diffed base→ours and base→theirs. Changes that do not overlap apply cleanly
/// (an insertion before or after a changed row does not overlap it). Where both sides changed
/// the same rows: identical changes are taken once; two insertions at the same place are both
/// kept, ours then theirs (as git's `merge=union`); rows replaced one for one on both sides
/// merge row by row (a row changed on one side only takes that side); with a key column the
/// rows are matched by key. What is left is a conflict: resolved to a side by `favor`, else
/// written between git-style markers.
struct TableRowMerge {
    typealias Row = ArraySlice<UInt8>

    struct Conflict {
        /// Index of the first ours row of the conflict, in the ours rows passed to `merge`.
        var oursRow: Int
        var key: String?
        var base: Row?
        var ours: Row?
        var theirs: Row?
    }

    let scanner: TableRowScanner
    let keyIndex: Int?
    let favor: TableMergeOptions.Favor
    let oursLabel: String
    let theirsLabel: String
    private(set) var out: [UInt8] = []
    private(set) var conflicts: [Conflict] = []

    init(scanner: TableRowScanner, keyIndex: Int?, favor: TableMergeOptions.Favor, oursLabel: String, theirsLabel: String) {
        self.scanner = scanner; self.keyIndex = keyIndex; self.favor = favor; self.oursLabel = oursLabel; self.theirsLabel = theirsLabel
    }

    /// Takes the merged bytes so far.
    mutating func take() -> [UInt8] { defer { out = [] }; return out }
    mutating func takeConflicts() -> [Conflict] { defer { conflicts = [] }; return conflicts }

    /// The line end written where a row must start on a new line: CRLF when the rows use it.
    private var lineEnd: [UInt8] = [0x0A]

    private mutating func emit<S: Sequence>(_ rows: S) where S.Element == Row {
        for r in rows { breakLine(); out += r }
    }

    /// Ends the last row written when it has no line end (the last row of a side's file
    /// followed by more rows in the merge), so two rows are never glued into one.
    private mutating func breakLine() {
        if let l = out.last, l != 0x0A { out += lineEnd }
    }

    /// Appends rows inside a conflict block: every row ends with a line feed there.
    private mutating func emitTerminated(_ rows: ArraySlice<Row>) {
        for r in rows { out += r; if r.last != 0x0A { out.append(0x0A) } }
    }

    private mutating func conflictBlock(_ o: ArraySlice<Row>, _ t: ArraySlice<Row>, record: Conflict) {
        conflicts.append(record)
        switch favor {
        case .ours: emit(o)
        case .theirs: emit(t)
        case .none:
            breakLine()
            out += Array("<<<<<<< \(oursLabel)\n".utf8)
            emitTerminated(o)
            out += Array("=======\n".utf8)
            emitTerminated(t)
            out += Array(">>>>>>> \(theirsLabel)\n".utf8)
        }
    }

    mutating func merge(base B: [Row], ours O: [Row], theirs T: [Row]) {
        if let r = (O + T + B).first(where: { $0.last == 0x0A }) {
            lineEnd = r.count >= 2 && r[r.endIndex - 2] == 0x0D ? [0x0D, 0x0A] : [0x0A]
        }
        var dO = RowDiff.diff(B, O), dT = RowDiff.diff(B, T)
        // A side that changed rows and added rows after them, where the other side added
        // rows too: its added rows are insertions at that point (so both sides' additions
        // are kept, ours first), not part of the change.
        func split(_ d: [DiffRegion], _ other: [DiffRegion]) -> [DiffRegion] {
            let points = Set(other.filter { $0.aCount == 0 }.map { $0.aStart })
            var out: [DiffRegion] = []
            for r in d {
                if r.aCount > 0 && r.bCount > r.aCount && points.contains(r.aStart + r.aCount) {
                    out.append(DiffRegion(aStart: r.aStart, aCount: r.aCount, bStart: r.bStart, bCount: r.aCount))
                    out.append(DiffRegion(aStart: r.aStart + r.aCount, aCount: 0, bStart: r.bStart + r.aCount, bCount: r.bCount - r.aCount))
                } else { out.append(r) }
            }
            return out
        }
        (dO, dT) = (split(dO, dT), split(dT, dO))
        var i = 0, j = 0, pos = 0, deltaO = 0, deltaT = 0
        func order(_ r: DiffRegion) -> (Int, Int) { (r.aStart, r.aCount == 0 ? 0 : 1) }
        while i < dO.count || j < dT.count {
            let takeO = i < dO.count && (j >= dT.count || order(dO[i]) <= order(dT[j]))
            let first = takeO ? dO[i] : dT[j]
            var gs = first.aStart, ge = first.aStart + first.aCount
            let i0 = i, j0 = j
            if takeO { i += 1 } else { j += 1 }
            func overlaps(_ r: DiffRegion) -> Bool {
                let rs = r.aStart, re = r.aStart + r.aCount
                if gs == ge { return rs == re ? rs == gs : (rs < gs && gs < re) }
                if rs == re { return gs < rs && rs < ge }
                return rs < ge && gs < re
            }
            while true {
                if i < dO.count && overlaps(dO[i]) { gs = min(gs, dO[i].aStart); ge = max(ge, dO[i].aStart + dO[i].aCount); i += 1; continue }
                if j < dT.count && overlaps(dT[j]) { gs = min(gs, dT[j].aStart); ge = max(ge, dT[j].aStart + dT[j].aCount); j += 1; continue }
                break
            }
            emit(B[pos..<gs])
            let growO = dO[i0..<i].reduce(0) { $0 + $1.bCount - $1.aCount }
            let growT = dT[j0..<j].reduce(0) { $0 + $1.bCount - $1.aCount }
            let oR = (gs + deltaO)..<(ge + deltaO + growO), tR = (gs + deltaT)..<(ge + deltaT + growT)
            deltaO += growO; deltaT += growT
            if i == i0 { emit(T[tR]) } else if j == j0 { emit(O[oR]) } else {
                resolve(B[gs..<ge], O[oR], T[tR])
            }
            pos = ge
        }
        emit(B[pos...])
    }

    /// Both sides changed base rows `b` (to `o` and `t`).
    private mutating func resolve(_ b: ArraySlice<Row>, _ o: ArraySlice<Row>, _ t: ArraySlice<Row>) {
        if RowDiff.sameRows(o, t) { emit(o); return }
        if let k = keyIndex, resolveByKey(b, o, t, k) { return }
        if b.isEmpty {
            // Both inserted here: keep both, ours then theirs (git's union), lines shared at
            // the start or end once, as git's refinement of the conflict does (a last row
            // without a line end included). Rows holding a quoted line break are kept whole
            // instead: a line merge could share half of such a row.
            let ob = o.reduce(into: [UInt8]()) { $0 += $1 }, tb = t.reduce(into: [UInt8]()) { $0 += $1 }
            func oneLine(_ r: Row) -> Bool { r.dropLast().firstIndex(of: 0x0A) == nil }
            if ob.count + tb.count <= 8 << 20 && o.allSatisfy(oneLine) && t.allSatisfy(oneLine) {
                breakLine()
                out += TextMerge.merge(base: [], ours: ob, theirs: tb, options: TextMergeOptions(favor: .union)).bytes
            } else {
                // Row by row: identical rows shared at the start or end once; between them
                // ours' rows, then theirs'.
                func eq(_ x: Row, _ y: Row) -> Bool { RowDiff.same(x, y) }
                func pick(_ x: Row, _ y: Row) -> Row { x }
                let n = min(o.count, t.count)
                var p = 0, q = 0
                while p < n && eq(o[o.startIndex + p], t[t.startIndex + p]) { p += 1 }
                while q < n - p && eq(o[o.endIndex - 1 - q], t[t.endIndex - 1 - q]) { q += 1 }
                for k in 0..<p { emit([pick(o[o.startIndex + k], t[t.startIndex + k])]) }
                emit(o[(o.startIndex + p)..<(o.endIndex - q)]); emit(t[(t.startIndex + p)..<(t.endIndex - q)])
                for k in (0..<q).reversed() { emit([pick(o[o.endIndex - 1 - k], t[t.endIndex - 1 - k])]) }
            }
            return
        }
        if b.count == o.count && b.count == t.count {
            // Row for row: a run of rows changed differently on both sides is one conflict.
            var r = 0
            while r < b.count {
                let bi = b.index(b.startIndex, offsetBy: r), oi = o.index(o.startIndex, offsetBy: r), ti = t.index(t.startIndex, offsetBy: r)
                let (br, or, tr) = (b[bi], o[oi], t[ti])
                if RowDiff.same(or, tr) || RowDiff.same(tr, br) { emit([or]); r += 1; continue }
                if RowDiff.same(or, br) { emit([tr]); r += 1; continue }
                var e = r + 1
                while e < b.count {
                    let (b2, o2, t2) = (b[b.startIndex + e], o[o.startIndex + e], t[t.startIndex + e])
                    if RowDiff.same(o2, t2) || RowDiff.same(o2, b2) || RowDiff.same(t2, b2) { break }
                    e += 1
                }
                // one record per row, one block per run
                var records: [Conflict] = []
                for x in r..<e {
                    records.append(Conflict(oursRow: o.startIndex + x, key: nil, base: b[b.startIndex + x], ours: o[o.startIndex + x], theirs: t[t.startIndex + x]))
                }
                conflictBlock(o[(o.startIndex + r)..<(o.startIndex + e)], t[(t.startIndex + r)..<(t.startIndex + e)], record: records[0])
                conflicts += records.dropFirst()
                r = e
            }
            return
        }
        conflictBlock(o, t, record: Conflict(oursRow: o.startIndex, key: nil, base: b.first, ours: o.first, theirs: t.first))
    }

    /// Matches the rows by key; false when keys are missing or repeated (then positional).
    private mutating func resolveByKey(_ b: ArraySlice<Row>, _ o: ArraySlice<Row>, _ t: ArraySlice<Row>, _ k: Int) -> Bool {
        func keyed(_ rows: ArraySlice<Row>) -> (order: [(String, Int)], map: [String: Row])? {
            var order: [(String, Int)] = [], map: [String: Row] = [:]
            for (n, r) in zip(rows.indices, rows) {
                guard let key = scanner.cell(r, k), map[key] == nil else { return nil }
                map[key] = r
                order.append((key, n))
            }
            return (order, map)
        }
        guard let kb = keyed(b), let ko = keyed(o), let kt = keyed(t) else { return false }
        for (key, n) in ko.order {
            let orow = ko.map[key]!, brow = kb.map[key], trow = kt.map[key]
            if let trow {
                if RowDiff.same(orow, trow) || brow.map({ RowDiff.same(trow, $0) }) == true { emit([orow]) } else if brow.map({ RowDiff.same(orow, $0) }) == true { emit([trow]) } else {
                    conflictBlock([orow], [trow], record: Conflict(oursRow: n, key: key, base: brow, ours: orow, theirs: trow))
                }
            } else if let brow {
                // theirs deleted the row
                if !RowDiff.same(orow, brow) { conflictBlock([orow], [], record: Conflict(oursRow: n, key: key, base: brow, ours: orow, theirs: nil)) }
            } else { emit([orow]) }
        }
        let after = o.endIndex
        for (key, _) in kt.order where ko.map[key] == nil {
            let trow = kt.map[key]!
            if let brow = kb.map[key] {
                // ours deleted the row
                if !RowDiff.same(trow, brow) { conflictBlock([], [trow], record: Conflict(oursRow: after, key: key, base: brow, ours: nil, theirs: trow)) }
            } else { emit([trow]) }
        }
        return true
    }
}
