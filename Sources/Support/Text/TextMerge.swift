/// Three-way merge of text, line by line, with git's conflict markers.
///
/// The merge is diff3 (Khanna, Kunal and Pierce, "A Formal Investigation of Diff3"): diff
/// the base against each side, take what only one side changed, take once what both
/// changed alike, and mark the rest as conflicts. Changes of the two sides that overlap or
/// touch (no unchanged base line between them) form one conflict. Then, in the default
/// style, as `git merge-file` does: a conflict's lines that both sides share at its start and
/// end move out of it and it splits where both sides agree; two conflicts separated by at
/// most three lines, or by lines with no letter or digit, become one. The diff3 style shows
/// the base and does not refine. A favor (ours/theirs/union) resolves each conflict left.
/// Checked byte for byte against `git merge-file` on random cases (TextMergeOracleTests).

public struct TextMergeOptions: Sendable {
    public enum Style: String, Sendable { case merge, diff3 }
    public enum Favor: String, Sendable { case none, ours, theirs, union }
    public var style: Style = .merge
    public var favor: Favor = .none
    /// Labels after the markers: `<<<<<<< ours`, `||||||| base`, `>>>>>>> theirs`.
    public var oursLabel = "ours"
    public var baseLabel = "base"
    public var theirsLabel = "theirs"
    public var markerSize = 7
    public init(style: Style = .merge, favor: Favor = .none, oursLabel: String = "ours", baseLabel: String = "base", theirsLabel: String = "theirs") {
        self.style = style; self.favor = favor; self.oursLabel = oursLabel; self.baseLabel = baseLabel; self.theirsLabel = theirsLabel
    }
}

public struct TextMergeResult: Equatable, Sendable {
    /// The merged text, with conflict markers around each conflict (none with a favor).
    public var bytes: [UInt8]
    /// Number of conflict blocks (as `git merge-file` counts them).
    public var conflicts: Int
    public init(bytes: [UInt8], conflicts: Int) { self.bytes = bytes; self.conflicts = conflicts }
}

public enum TextMerge {
    /// One region of the result. Positions: `b*` in base, `o*` in ours, `t*` in theirs.
    struct Region {
        enum Kind { case conflict, ours, theirs, same }
        var kind: Kind
        var b0: Int, bn: Int
        var o0: Int, on: Int
        var t0: Int, tn: Int
    }

    public static func merge(base: [UInt8], ours: [UInt8], theirs: [UInt8], options: TextMergeOptions = TextMergeOptions()) -> TextMergeResult {
        let B = LineDiff.lines(base), O = LineDiff.lines(ours), T = LineDiff.lines(theirs)
        // Intern once so that the three diffs compare small integers.
        var ids: [ArraySlice<UInt8>: Int32] = [:]
        func intern(_ l: ArraySlice<UInt8>) -> Int32 {
            if let i = ids[l] { return i }
            let i = Int32(ids.count); ids[l] = i; return i
        }
        let ib = B.map(intern), io = O.map(intern), it = T.map(intern)
        let dOurs = LineDiff.diffIDs(ib, io, symbols: ids.count)
        let dTheirs = LineDiff.diffIDs(ib, it, symbols: ids.count)
        if dOurs.isEmpty { return TextMergeResult(bytes: theirs, conflicts: 0) }
        if dTheirs.isEmpty { return TextMergeResult(bytes: ours, conflicts: 0) }

        var regions = combine(dOurs, dTheirs, io, it, baseCount: ib.count)
        if options.style == .merge {
            regions = refine(regions, io, it, symbols: ids.count)
            regions = joinNearby(regions, O)
        }
        return render(regions, B, O, T, options)
    }

    /// Walks both change lists in base order, making regions: one side's change alone, or a
    /// conflict of changes that overlap or touch; identical changes stay in ours' text.
    private static func combine(_ d1: [DiffRegion], _ d2: [DiffRegion], _ io: [Int32], _ it: [Int32], baseCount: Int) -> [Region] {
        var out: [Region] = []
        func append(_ r: Region) {
            if var m = out.last, r.o0 <= m.o0 + m.on || r.t0 <= m.t0 + m.tn {
                if r.kind != m.kind { m.kind = .conflict }
                m.bn = r.b0 + r.bn - m.b0
                m.on = r.o0 + r.on - m.o0
                m.tn = r.t0 + r.tn - m.t0
                out[out.count - 1] = m
            } else {
                out.append(r)
            }
        }
        var p = 0, q = 0
        while p < d1.count && q < d2.count {
            let x = d1[p], y = d2[q]
            let xEnd = x.aStart + x.aCount, yEnd = y.aStart + y.aCount
            if xEnd < y.aStart {
                append(Region(kind: .ours, b0: x.aStart, bn: x.aCount, o0: x.bStart, on: x.bCount,
                              t0: x.aStart + (y.bStart - y.aStart), tn: x.aCount))
                p += 1; continue
            }
            if yEnd < x.aStart {
                append(Region(kind: .theirs, b0: y.aStart, bn: y.aCount, o0: y.aStart + (x.bStart - x.aStart), on: y.aCount,
                              t0: y.bStart, tn: y.bCount))
                q += 1; continue
            }
            let same = x.aStart == y.aStart && x.aCount == y.aCount && x.bCount == y.bCount
                && io[x.bStart..<(x.bStart + x.bCount)] == it[y.bStart..<(y.bStart + y.bCount)]
            if !same {
                let b0 = min(x.aStart, y.aStart), bEnd = max(xEnd, yEnd)
                let o0 = x.bStart - (x.aStart - b0), t0 = y.bStart - (y.aStart - b0)
                let oEnd = x.bStart + x.bCount + (bEnd - xEnd), tEnd = y.bStart + y.bCount + (bEnd - yEnd)
                append(Region(kind: .conflict, b0: b0, bn: bEnd - b0, o0: o0, on: oEnd - o0, t0: t0, tn: tEnd - t0))
            }
            if yEnd >= xEnd { p += 1 }
            if xEnd >= yEnd { q += 1 }
        }
        // Past the other side's last change, it and base differ by a fixed offset.
        while p < d1.count {
            let x = d1[p]
            append(Region(kind: .ours, b0: x.aStart, bn: x.aCount, o0: x.bStart, on: x.bCount,
                          t0: x.aStart + it.count - baseCount, tn: x.aCount))
            p += 1
        }
        while q < d2.count {
            let y = d2[q]
            append(Region(kind: .theirs, b0: y.aStart, bn: y.aCount, o0: y.aStart + io.count - baseCount, on: y.aCount,
                          t0: y.bStart, tn: y.bCount))
            q += 1
        }
        return out
    }

    /// Shrinks each conflict to where the two sides differ: diff ours' lines against theirs'
    /// and keep one conflict per difference; equal lines between them are taken once.
    private static func refine(_ regions: [Region], _ io: [Int32], _ it: [Int32], symbols: Int) -> [Region] {
        var out: [Region] = []
        out.reserveCapacity(regions.count)
        for r in regions {
            guard r.kind == .conflict, r.on > 0, r.tn > 0 else { out.append(r); continue }
            let d = LineDiff.diffIDs(Array(io[r.o0..<(r.o0 + r.on)]), Array(it[r.t0..<(r.t0 + r.tn)]), symbols: symbols)
            if d.isEmpty { var s = r; s.kind = .same; out.append(s); continue }
            for (k, g) in d.enumerated() {
                out.append(Region(kind: .conflict, b0: k == 0 ? r.b0 : r.b0 + r.bn, bn: k == 0 ? r.bn : 0,
                                  o0: r.o0 + g.aStart, on: g.aCount, t0: r.t0 + g.bStart, tn: g.bCount))
            }
        }
        return out
    }

    /// Joins two conflicts that follow each other when the lines between them (in ours) are
    /// at most three, or have no ASCII letter or digit.
    private static func joinNearby(_ regions: [Region], _ O: [ArraySlice<UInt8>]) -> [Region] {
        var out: [Region] = []
        for r in regions {
            if var m = out.last, m.kind == .conflict, r.kind == .conflict {
                let gap = m.o0 + m.on ..< r.o0
                if gap.count <= 3 || !gap.contains(where: { O[$0].contains(where: isAlnum) }) {
                    m.bn = r.b0 + r.bn - m.b0
                    m.on = r.o0 + r.on - m.o0
                    m.tn = r.t0 + r.tn - m.t0
                    out[out.count - 1] = m
                    continue
                }
            }
            out.append(r)
        }
        return out
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    private static func render(_ regions: [Region], _ B: [ArraySlice<UInt8>], _ O: [ArraySlice<UInt8>], _ T: [ArraySlice<UInt8>],
                               _ options: TextMergeOptions) -> TextMergeResult {
        var out: [UInt8] = []
        var conflicts = 0
        var i = 0 // next line of ours to copy
        func copy(_ L: [ArraySlice<UInt8>], _ start: Int, _ count: Int, newline: [UInt8]? = nil) {
            guard count > 0 else { return }
            for k in start..<(start + count) { out += L[k] }
            if let nl = newline, L[start + count - 1].last != 0x0A { out += nl }
        }
        func marker(_ c: Character, _ label: String, _ eol: [UInt8]) {
            out += Array(String(repeating: c, count: options.markerSize).utf8)
            if !label.isEmpty { out.append(0x20); out += Array(label.utf8) }
            out += eol
        }
        for r in regions {
            var kind = r.kind
            if kind == .same { continue } // ours' lines, copied with what follows
            copy(O, i, r.o0 - i)
            if kind == .conflict {
                switch options.favor {
                case .none:
                    conflicts += 1
                    let eol: [UInt8] = crlfMarkers(B, O, T, r) ? [0x0D, 0x0A] : [0x0A]
                    marker("<", options.oursLabel, eol)
                    copy(O, r.o0, r.on, newline: eol)
                    if options.style == .diff3 {
                        marker("|", options.baseLabel, eol)
                        copy(B, r.b0, r.bn, newline: eol)
                    }
                    marker("=", "", eol)
                    copy(T, r.t0, r.tn, newline: eol)
                    marker(">", options.theirsLabel, eol)
                    i = r.o0 + r.on
                    continue
                case .ours: kind = .ours
                case .theirs: kind = .theirs
                case .union:
                    let eol: [UInt8] = crlfMarkers(B, O, T, r) ? [0x0D, 0x0A] : [0x0A]
                    copy(O, r.o0, r.on, newline: eol)
                    copy(T, r.t0, r.tn)
                    i = r.o0 + r.on
                    continue
                }
            }
            if kind == .ours { copy(O, r.o0, r.on) } else { copy(T, r.t0, r.tn) }
            i = r.o0 + r.on
        }
        copy(O, i, O.count - i)
        return TextMergeResult(bytes: out, conflicts: conflicts)
    }

    /// Whether markers end in CR LF: the line before the conflict in ours and in theirs (or
    /// their first line) and the base's first line end so, where they decide it.
    private static func crlfMarkers(_ B: [ArraySlice<UInt8>], _ O: [ArraySlice<UInt8>], _ T: [ArraySlice<UInt8>], _ r: Region) -> Bool {
        func crlf(_ L: [ArraySlice<UInt8>], _ k: Int) -> Int {
            guard k < L.count, L[k].last == 0x0A else { return -1 }
            return L[k].count >= 2 && L[k][L[k].endIndex - 2] == 0x0D ? 1 : 0
        }
        var v = crlf(O, r.o0 > 0 ? r.o0 - 1 : 0)
        if v != 0 { v = crlf(T, r.t0 > 0 ? r.t0 - 1 : 0) }
        if v != 0 { v = crlf(B, 0) }
        return v == 1
    }
}
