/// Line diffs: the regions where two sequences differ, and unified-diff hunks.
///
/// The diff is Myers' O(ND) algorithm ("An O(ND) Difference Algorithm and Its Variations",
/// 1986) in its linear-space form: find the middle snake of the edit graph, split there,
/// repeat on both halves (with an explicit work list, never recursion). Around it sit the
/// steps whose effect on the result matches git's default (myers, no indent heuristic) diff,
/// found by comparing with `git diff --no-index` and `git merge-file` as black boxes:
/// common leading and trailing lines are matched first; lines that occur nowhere in the
/// other side are changes without a search; lines that occur very often in the other side
/// are left out of the search when they sit among such changes; and at the end each block
/// of changed lines slides as far down as equal lines allow, unless an earlier position
/// lines it up with a change on the other side (a replacement rather than a deletion next
/// to an insertion). See docs/diffs.md.

/// A region where two sequences differ: `a[aStart ..< aStart + aCount]` became
/// `b[bStart ..< bStart + bCount]` (0-based; a count of 0 is a pure insertion or deletion).
public struct DiffRegion: Equatable, Sendable {
    public var aStart: Int
    public var aCount: Int
    public var bStart: Int
    public var bCount: Int
    public init(aStart: Int, aCount: Int, bStart: Int, bCount: Int) {
        self.aStart = aStart; self.aCount = aCount; self.bStart = bStart; self.bCount = bCount
    }
}

/// One line of a unified-diff hunk.
public struct HunkLine: Equatable, Sendable {
    public enum Kind: String, Sendable { case context = " ", removed = "-", added = "+" }
    public var kind: Kind
    /// The line's bytes without its line feed.
    public var text: ArraySlice<UInt8>
    /// False for a last line that had no line feed ("\ No newline at end of file").
    public var hasNewline: Bool
    public init(kind: Kind, text: ArraySlice<UInt8>, hasNewline: Bool) { self.kind = kind; self.text = text; self.hasNewline = hasNewline }
}

/// A unified-diff hunk: `@@ -oldStart,oldCount +newStart,newCount @@` (1-based starts, as in
/// `diff -u` and git: a start of 0 with a count of 0 for an empty side).
public struct Hunk: Equatable, Sendable {
    public var oldStart: Int
    public var oldCount: Int
    public var newStart: Int
    public var newCount: Int
    public var lines: [HunkLine]
    /// The text git prints after the second `@@`: the nearest line above the hunk (in the old
    /// side) that starts with a letter, `_` or `$`, cut to 80 bytes, trailing spaces removed.
    /// Empty when there is none.
    public var heading: ArraySlice<UInt8>
    public init(oldStart: Int, oldCount: Int, newStart: Int, newCount: Int, lines: [HunkLine]) {
        self.init(oldStart: oldStart, oldCount: oldCount, newStart: newStart, newCount: newCount, lines: lines, heading: [])
    }
    public init(oldStart: Int, oldCount: Int, newStart: Int, newCount: Int, lines: [HunkLine], heading: ArraySlice<UInt8>) {
        self.oldStart = oldStart; self.oldCount = oldCount; self.newStart = newStart; self.newCount = newCount
        self.lines = lines; self.heading = heading
    }
}

public enum LineDiff {
    /// Splits bytes into lines, each keeping its line feed (a last line without one is kept
    /// as it is). Empty input has no lines.
    public static func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var s = 0
        bytes.withUnsafeBufferPointer { p in
            for i in 0..<p.count where p[i] == 0x0A { out.append(bytes[s...i]); s = i + 1 }
        }
        if s < bytes.count { out.append(bytes[s...]) }
        return out
    }

    /// The regions where `a` and `b` differ, in order and not touching.
    public static func diff<T: Hashable>(_ a: [T], _ b: [T]) -> [DiffRegion] {
        var ids: [T: Int32] = [:]
        ids.reserveCapacity(Swift.min(a.count + b.count, 1 << 20))
        func intern(_ x: T) -> Int32 {
            if let i = ids[x] { return i }
            let i = Int32(ids.count); ids[x] = i; return i
        }
        let ia = a.map(intern), ib = b.map(intern)
        return diffIDs(ia, ib, symbols: ids.count)
    }

    /// The diff of two sequences of small integers (`0 ..< symbols`).
    static func diffIDs(_ a: [Int32], _ b: [Int32], symbols: Int) -> [DiffRegion] {
        var ca = [Bool](repeating: false, count: a.count)
        var cb = [Bool](repeating: false, count: b.count)
        markChanges(a, b, symbols: symbols, &ca, &cb)
        slide(a, &ca, cb)
        slide(b, &cb, ca)
        return regions(ca, cb)
    }

    // MARK: - Which lines change

    /// A power of two at least the square root of `n` (at least 1).
    static func roughSqrt(_ n: Int) -> Int {
        var r = 1, m = n
        while m > 0 { r <<= 1; m >>= 2 }
        return r
    }

    private static func markChanges(_ a: [Int32], _ b: [Int32], symbols: Int, _ ca: inout [Bool], _ cb: inout [Bool]) {
        // Common leading and trailing lines are matched as they are.
        var lo = 0
        while lo < a.count && lo < b.count && a[lo] == b[lo] { lo += 1 }
        var hiA = a.count, hiB = b.count
        while hiA > lo && hiB > lo && a[hiA - 1] == b[hiB - 1] { hiA -= 1; hiB -= 1 }
        if lo == hiA { for j in lo..<hiB { cb[j] = true }; return }
        if lo == hiB { for i in lo..<hiA { ca[i] = true }; return }

        // How often each line occurs in each whole side.
        var countA = [Int32](repeating: 0, count: symbols), countB = [Int32](repeating: 0, count: symbols)
        for x in a { countA[Int(x)] += 1 }
        for x in b { countB[Int(x)] += 1 }

        // Classify the middle lines: 0 = absent from the other side (a change for sure),
        // 1 = take part in the search, 2 = very common in the other side (decided below).
        func classify(_ s: [Int32], _ range: Range<Int>, _ other: [Int32], limit: Int) -> [UInt8] {
            range.map { i in
                let n = Int(other[Int(s[i])])
                return n == 0 ? 0 : n >= limit ? 2 : 1
            }
        }
        let classA = classify(a, lo..<hiA, countB, limit: min(roughSqrt(a.count), 1024))
        let classB = classify(b, lo..<hiB, countA, limit: min(roughSqrt(b.count), 1024))

        // A very common line is left out of the search when the lines around it (up to
        // 100 each way, stopping at the first line that takes part) are mostly changes.
        func leftOut(_ c: [UInt8], _ i: Int) -> Bool {
            let lower = max(0, i - 100), upper = min(c.count - 1, i + 100)
            var absentBefore = 0, commonBefore = 1, j = i - 1
            while j >= lower { if c[j] == 0 { absentBefore += 1 } else if c[j] == 2 { commonBefore += 1 } else { break }; j -= 1 }
            if absentBefore == 0 { return false }
            var absentAfter = 0, commonAfter = 1
            j = i + 1
            while j <= upper { if c[j] == 0 { absentAfter += 1 } else if c[j] == 2 { commonAfter += 1 } else { break }; j += 1 }
            if absentAfter == 0 { return false }
            let absent = absentBefore + absentAfter, common = commonBefore + commonAfter
            return common * 4 < common + absent
        }
        func keep(_ s: [Int32], _ c: [UInt8], offset: Int, _ changed: inout [Bool]) -> (ids: [Int32], index: [Int]) {
            var ids: [Int32] = [], index: [Int] = []
            ids.reserveCapacity(c.count); index.reserveCapacity(c.count)
            for k in 0..<c.count {
                if c[k] == 1 || (c[k] == 2 && !leftOut(c, k)) { ids.append(s[offset + k]); index.append(offset + k) }
                else { changed[offset + k] = true }
            }
            return (ids, index)
        }
        let ka = keep(a, classA, offset: lo, &ca)
        let kb = keep(b, classB, offset: lo, &cb)
        var ra = [Bool](repeating: false, count: ka.ids.count), rb = [Bool](repeating: false, count: kb.ids.count)
        myers(ka.ids, kb.ids, &ra, &rb)
        for k in 0..<ra.count where ra[k] { ca[ka.index[k]] = true }
        for k in 0..<rb.count where rb[k] { cb[kb.index[k]] = true }
    }

    /// Myers' linear-space diff of `a` and `b`, marking the lines that are not in the chosen
    /// common subsequence. Work list instead of recursion; a cost cap keeps each split
    /// bounded on very different inputs (then the split is the furthest point reached).
    private static func myers(_ a: [Int32], _ b: [Int32], _ ca: inout [Bool], _ cb: inout [Bool]) {
        let n = a.count, m = b.count
        let width = n + m + 3
        let shift = m + 1
        var fwd = [Int](repeating: 0, count: width + 2), bwd = [Int](repeating: 0, count: width + 2)
        let maxCost = max(256, roughSqrt(width))
        var work: [(Int, Int, Int, Int)] = [(0, n, 0, m)]
        a.withUnsafeBufferPointer { A in
            b.withUnsafeBufferPointer { B in
                fwd.withUnsafeMutableBufferPointer { F in
                    bwd.withUnsafeMutableBufferPointer { W in
                        while let (o1, l1, o2, l2) = work.popLast() {
                            var off1 = o1, lim1 = l1, off2 = o2, lim2 = l2
                            while off1 < lim1 && off2 < lim2 && A[off1] == B[off2] { off1 += 1; off2 += 1 }
                            while off1 < lim1 && off2 < lim2 && A[lim1 - 1] == B[lim2 - 1] { lim1 -= 1; lim2 -= 1 }
                            if off1 == lim1 { for j in off2..<lim2 { cb[j] = true }; continue }
                            if off2 == lim2 { for i in off1..<lim1 { ca[i] = true }; continue }
                            let (x, y) = split(A, B, off1, lim1, off2, lim2, F, W, shift: shift, maxCost: maxCost)
                            work.append((x, lim1, y, lim2))
                            work.append((off1, x, off2, y))
                        }
                    }
                }
            }
        }
    }

    /// The point where an optimal (or, past the cost cap, a good) path crosses the middle.
    /// Diagonal k = x - y; `F[k]` is the furthest x reached going forward on it, `W[k]` the
    /// smallest x reached going backward.
    private static func split(_ A: UnsafeBufferPointer<Int32>, _ B: UnsafeBufferPointer<Int32>,
                              _ off1: Int, _ lim1: Int, _ off2: Int, _ lim2: Int,
                              _ F: UnsafeMutableBufferPointer<Int>, _ W: UnsafeMutableBufferPointer<Int>,
                              shift: Int, maxCost: Int) -> (Int, Int) {
        let kLow = off1 - lim2, kHigh = lim1 - off2
        let fMid = off1 - off2, bMid = lim1 - lim2
        let odd = (fMid - bMid) & 1 != 0
        var fLo = fMid, fHi = fMid, bLo = bMid, bHi = bMid
        F[fMid + shift] = off1
        W[bMid + shift] = lim1
        var cost = 1
        while true {
            // Forward: widen the band of diagonals by one each way (within the box).
            if fLo > kLow { fLo -= 1; F[fLo - 1 + shift] = -1 } else { fLo += 1 }
            if fHi < kHigh { fHi += 1; F[fHi + 1 + shift] = -1 } else { fHi -= 1 }
            var k = fHi
            while k >= fLo {
                let left = F[k - 1 + shift], right = F[k + 1 + shift]
                var x = left >= right ? left + 1 : right
                var y = x - k
                while x < lim1 && y < lim2 && A[x] == B[y] { x += 1; y += 1 }
                F[k + shift] = x
                if odd && bLo <= k && k <= bHi && W[k + shift] <= x { return (x, y) }
                k -= 2
            }
            // Backward.
            if bLo > kLow { bLo -= 1; W[bLo - 1 + shift] = Int.max } else { bLo += 1 }
            if bHi < kHigh { bHi += 1; W[bHi + 1 + shift] = Int.max } else { bHi -= 1 }
            k = bHi
            while k >= bLo {
                let left = W[k - 1 + shift], right = W[k + 1 + shift]
                var x = left < right ? left : right - 1
                var y = x - k
                while x > off1 && y > off2 && A[x - 1] == B[y - 1] { x -= 1; y -= 1 }
                W[k + shift] = x
                if !odd && fLo <= k && k <= fHi && x <= F[k + shift] { return (x, y) }
                k -= 2
            }
            if cost >= maxCost {
                // Too expensive to finish exactly: split at the point that got furthest.
                var fBest = -1, fx = off1, fy = off2
                k = fHi
                while k >= fLo {
                    var x = min(F[k + shift], lim1)
                    if x - k > lim2 { x = lim2 + k }
                    if x + (x - k) > fBest { fBest = x + (x - k); fx = x; fy = x - k }
                    k -= 2
                }
                var bBest = Int.max, bx = lim1, by = lim2
                k = bHi
                while k >= bLo {
                    var x = max(off1, W[k + shift])
                    if x - k < off2 { x = off2 + k }
                    if x + (x - k) < bBest { bBest = x + (x - k); bx = x; by = x - k }
                    k -= 2
                }
                if (lim1 + lim2) - bBest < fBest - (off1 + off2) { return (fx, fy) }
                return (bx, by)
            }
            cost += 1
        }
    }

    // MARK: - Placing the changes

    /// Slides each block of changed lines of `s` (flags `c`) as far down as equal lines
    /// allow, merging blocks that meet; then, if on the way it lined up with a change in the
    /// other side (`o`), moves it back to the lowest such place. Repeats while blocks grow.
    private static func slide(_ s: [Int32], _ c: inout [Bool], _ o: [Bool]) {
        let n = s.count, no = o.count
        // A "group" is a run [start, end) of changed lines; between two unchanged lines there
        // is one (maybe empty) group in each side, and the groups of both sides pair up.
        var gs = 0, ge = 0
        while ge < n && c[ge] { ge += 1 }
        var os = 0, oe = 0
        while oe < no && o[oe] { oe += 1 }
        func nextOther() { os = oe + 1; oe = os; while oe < no && o[oe] { oe += 1 } }
        func prevOther() { oe = os - 1; os = oe; while os > 0 && o[os - 1] { os -= 1 } }
        while true {
            if ge > gs {
                var size: Int
                var matchEnd: Int
                var earliestEnd: Int
                repeat {
                    size = ge - gs
                    // Up as far as possible.
                    while gs > 0 && s[gs - 1] == s[ge - 1] {
                        gs -= 1; ge -= 1; c[gs] = true; c[ge] = false
                        while gs > 0 && c[gs - 1] { gs -= 1 }
                        prevOther()
                    }
                    earliestEnd = ge
                    matchEnd = oe > os ? ge : -1
                    // Down as far as possible.
                    while ge < n && s[gs] == s[ge] {
                        c[gs] = false; c[ge] = true; gs += 1; ge += 1
                        while ge < n && c[ge] { ge += 1 }
                        nextOther()
                        if oe > os { matchEnd = ge }
                    }
                } while size != ge - gs
                if ge != earliestEnd && matchEnd >= 0 {
                    while oe == os {
                        gs -= 1; ge -= 1; c[gs] = true; c[ge] = false
                        while gs > 0 && c[gs - 1] { gs -= 1 }
                        prevOther()
                    }
                }
            }
            // Next group.
            if ge >= n { break }
            gs = ge + 1; ge = gs
            while ge < n && c[ge] { ge += 1 }
            nextOther()
        }
    }

    private static func regions(_ ca: [Bool], _ cb: [Bool]) -> [DiffRegion] {
        var out: [DiffRegion] = []
        var i = 0, j = 0
        while i < ca.count || j < cb.count {
            if i < ca.count && j < cb.count && !ca[i] && !cb[j] { i += 1; j += 1; continue }
            let si = i, sj = j
            while i < ca.count && ca[i] { i += 1 }
            while j < cb.count && cb[j] { j += 1 }
            out.append(DiffRegion(aStart: si, aCount: i - si, bStart: sj, bCount: j - sj))
        }
        return out
    }

    // MARK: - Unified diffs

    /// Unified-diff hunks from `old` to `new` with `context` lines around each change
    /// (changes at most 2 × context unchanged lines apart share a hunk, as in git).
    public static func hunks(_ old: [UInt8], _ new: [UInt8], context: Int = 3) -> [Hunk] {
        let a = lines(old), b = lines(new)
        return hunks(a, b, regions: diff(a, b), context: context)
    }

    /// Hunks for already computed regions between the lines `a` and `b`.
    public static func hunks(_ a: [ArraySlice<UInt8>], _ b: [ArraySlice<UInt8>], regions rs: [DiffRegion], context: Int = 3) -> [Hunk] {
        // Clamped so that 2 × ctx and index + ctx cannot overflow (a context of Int.max means "all").
        let ctx = min(max(0, context), a.count + b.count + 1)
        var out: [Hunk] = []
        var headingLine = -1, searchedTo = 0 // nearest heading line found below searchedTo
        var r = 0
        while r < rs.count {
            var last = r
            while last + 1 < rs.count && rs[last + 1].aStart - (rs[last].aStart + rs[last].aCount) <= 2 * ctx { last += 1 }
            let s1 = max(0, rs[r].aStart - ctx), s2 = max(0, rs[r].bStart - ctx)
            let e1 = min(a.count, rs[last].aStart + rs[last].aCount + ctx)
            let e2 = min(b.count, rs[last].bStart + rs[last].bCount + ctx)
            var ls: [HunkLine] = []
            func line(_ k: HunkLine.Kind, _ l: ArraySlice<UInt8>) {
                let nl = l.last == 0x0A
                ls.append(HunkLine(kind: k, text: nl ? l.dropLast() : l, hasNewline: nl))
            }
            var i = s1
            for q in r...last {
                let g = rs[q]
                while i < g.aStart { line(.context, a[i]); i += 1 }
                for x in g.aStart..<(g.aStart + g.aCount) { line(.removed, a[x]) }
                for y in g.bStart..<(g.bStart + g.bCount) { line(.added, b[y]) }
                i = g.aStart + g.aCount
            }
            while i < e1 { line(.context, a[i]); i += 1 }
            // Heading: the nearest line above the hunk that starts like a definition.
            var k = s1 - 1
            while k >= searchedTo {
                if let f = a[k].first, isHeadingStart(f) { headingLine = k; break }
                k -= 1
            }
            searchedTo = max(searchedTo, s1)
            var heading: ArraySlice<UInt8> = []
            if headingLine >= 0 {
                var h = a[headingLine].prefix(80)
                while let l = h.last, isSpace(l) { h = h.dropLast() }
                heading = h
            }
            let oc = e1 - s1, nc = e2 - s2
            out.append(Hunk(oldStart: oc == 0 ? s1 : s1 + 1, oldCount: oc, newStart: nc == 0 ? s2 : s2 + 1, newCount: nc,
                            lines: ls, heading: heading))
            r = last + 1
        }
        return out
    }

    private static func isHeadingStart(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x24
    }
    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }

    /// The hunks as unified-diff text (`---`/`+++` headers, then each `@@` hunk).
    public static func unified(_ hunks: [Hunk], oldLabel: String, newLabel: String) -> [UInt8] {
        Array("--- \(oldLabel)\n+++ \(newLabel)\n".utf8) + hunkText(hunks)
    }

    /// The hunks alone, from the first `@@` line on, as git prints them.
    public static func hunkText(_ hunks: [Hunk]) -> [UInt8] {
        var o: [UInt8] = []
        for h in hunks {
            func range(_ s: Int, _ c: Int) -> String { c == 1 ? "\(s)" : "\(s),\(c)" }
            o += Array("@@ -\(range(h.oldStart, h.oldCount)) +\(range(h.newStart, h.newCount)) @@".utf8)
            if !h.heading.isEmpty { o.append(0x20); o += h.heading }
            o.append(0x0A)
            for l in h.lines {
                o.append(UInt8(ascii: l.kind == .context ? " " : l.kind == .removed ? "-" : "+"))
                o += l.text; o.append(0x0A)
                if !l.hasNewline { o += Array("\\ No newline at end of file\n".utf8) }
            }
        }
        return o
    }
}
