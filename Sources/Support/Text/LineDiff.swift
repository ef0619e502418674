/// Line diffs: the regions where two sequences differ, and unified-diff hunks.
///
/// STUB (issue 16): the bodies below are placeholders with the final API; the real
/// Myers diff with git-compatible placement replaces them.

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
    public init(oldStart: Int, oldCount: Int, newStart: Int, newCount: Int, lines: [HunkLine]) {
        self.oldStart = oldStart; self.oldCount = oldCount; self.newStart = newStart; self.newCount = newCount; self.lines = lines
    }
}

public enum LineDiff {
    /// Splits bytes into lines, each keeping its line feed (a last line without one is kept
    /// as it is). Empty input has no lines.
    public static func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var s = 0
        for i in bytes.indices where bytes[i] == 0x0A { out.append(bytes[s...i]); s = i + 1 }
        if s < bytes.count { out.append(bytes[s...]) }
        return out
    }

    /// The regions where `a` and `b` differ, in order and not touching.
    public static func diff<T: Hashable>(_ a: [T], _ b: [T]) -> [DiffRegion] {
        var p = 0
        while p < a.count && p < b.count && a[p] == b[p] { p += 1 }
        var s = 0
        while s < a.count - p && s < b.count - p && a[a.count - 1 - s] == b[b.count - 1 - s] { s += 1 }
        if p == a.count && p == b.count { return [] }
        return [DiffRegion(aStart: p, aCount: a.count - p - s, bStart: p, bCount: b.count - p - s)]
    }

    /// Unified-diff hunks from `old` to `new` with `context` lines around each change
    /// (hunks closer than 2 × context lines are joined, as git does).
    public static func hunks(_ old: [UInt8], _ new: [UInt8], context: Int = 3) -> [Hunk] {
        let a = lines(old), b = lines(new)
        var out: [Hunk] = []
        for r in diff(a, b) {
            var ls: [HunkLine] = []
            func line(_ k: HunkLine.Kind, _ l: ArraySlice<UInt8>) {
                let nl = l.last == 0x0A
                ls.append(HunkLine(kind: k, text: nl ? l.dropLast() : l, hasNewline: nl))
            }
            let lo = max(0, r.aStart - context)
            for i in lo..<r.aStart { line(.context, a[i]) }
            for i in r.aStart..<(r.aStart + r.aCount) { line(.removed, a[i]) }
            for i in r.bStart..<(r.bStart + r.bCount) { line(.added, b[i]) }
            let hi = min(a.count, r.aStart + r.aCount + context)
            for i in (r.aStart + r.aCount)..<hi { line(.context, a[i]) }
            let oc = hi - lo, nc = oc - r.aCount + r.bCount
            out.append(Hunk(oldStart: oc == 0 ? lo : lo + 1, oldCount: oc, newStart: nc == 0 ? lo : lo + 1, newCount: nc, lines: ls))
        }
        return out
    }

    /// The hunks as unified-diff text (`---`/`+++` headers, then each `@@` hunk).
    public static func unified(_ hunks: [Hunk], oldLabel: String, newLabel: String) -> [UInt8] {
        var o: [UInt8] = Array("--- \(oldLabel)\n+++ \(newLabel)\n".utf8)
        for h in hunks {
            func range(_ s: Int, _ c: Int) -> String { c == 1 ? "\(s)" : "\(s),\(c)" }
            o += Array("@@ -\(range(h.oldStart, h.oldCount)) +\(range(h.newStart, h.newCount)) @@\n".utf8)
            for l in h.lines {
                o.append(UInt8(ascii: l.kind == .context ? " " : l.kind == .removed ? "-" : "+"))
                o += l.text; o.append(0x0A)
                if !l.hasNewline { o += Array("\\ No newline at end of file\n".utf8) }
            }
        }
        return o
    }
}
