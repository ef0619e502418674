/// The ASCII drawing of `log --graph` (docs/merge-history.md), one commit at a time, in the
/// order `Repository.walkTopo` gives: `*` marks the commit, `|` a line of history passing
/// by, `\` a merge's extra parent branching off to the right (or lines to its right making
/// room), `/` a line moving left to join another one that waits for the same commit.
///
/// Each column is two characters wide (the line, then a space). A line moves at most one
/// column per row, so memory and work per commit are bounded by the number of lines open
/// at once, never by the length of history. The drawing of a simple merge and of a
/// criss-cross merge is tested against `git log --graph` (Tests/CLITests/LogGraphTests.swift).
public struct LogGraph<Node: Hashable> {
    /// The commit each open line waits for, left to right (no duplicates between commits).
    public private(set) var lanes: [Node] = []

    public init() {}

    /// The rows for one commit.
    public struct Rows: Sendable {
        /// The row with `*`, padded so the commit's text starts right after it.
        public var commit: String
        /// Rows to draw after the commit row (a merge's fork, lines joining), in order; each
        /// can carry a line of the commit's text.
        public var after: [String]
        /// The row that carries further lines of the commit's text once `after` is used up.
        public var padding: String
    }

    /// How many columns the commit `node` spans: its lines now or after it, whichever is more.
    private func width(_ node: Node, _ parents: [Node]) -> (index: Int, width: Int) {
        let i = lanes.firstIndex(of: node) ?? lanes.count
        let before = max(lanes.count, i + 1)
        let ps = distinct(parents)
        var inserted = 0
        if ps.count > 1 {
            for (k, p) in ps.dropFirst().enumerated() {
                if k == 0, i + 1 < lanes.count, lanes[i + 1] == p { continue }
                inserted += 1
            }
        }
        return (i, max(before, before - (ps.isEmpty ? 1 : 0) + inserted))
    }

    private func distinct(_ ps: [Node]) -> [Node] {
        var seen = Set<Node>()
        return ps.filter { seen.insert($0).inserted }
    }

    /// The blank row between the previous commit's text and the commit `node` (the open
    /// lines, padded to the width that commit will need).
    public func separator(before node: Node, parents: [Node]) -> String {
        let w = width(node, parents).width
        return pad(String(repeating: "| ", count: lanes.count), w)
    }

    private func pad(_ s: String, _ columns: Int) -> String {
        let n = s.count
        return n >= 2 * columns ? s : s + String(repeating: " ", count: 2 * columns - n)
    }

    /// Draws `node` (with its parents, in order) and moves the lines on.
    public mutating func add(_ node: Node, parents rawParents: [Node]) -> Rows {
        let (i, w) = width(node, rawParents)
        if i == lanes.count { lanes.append(node) }
        let parents = distinct(rawParents)
        let n = lanes.count
        // The commit row.
        var row: [Character] = Array(repeating: " ", count: 2 * w)
        for j in 0..<n { row[2 * j] = j == i ? "*" : "|" }
        let commitRow = String(row)

        // Lines after the commit: its first parent takes its column; other parents join the
        // line just right of it when that line waits for them, else open new columns.
        var mid: [Node] = Array(lanes[..<i])
        var pos: [Int] = (0..<i).map { 2 * $0 }
        var after: [String] = []
        var inserted: [Node] = []
        var joined = false
        if let first = parents.first { mid.append(first); pos.append(2 * i) }
        for (k, p) in parents.dropFirst().enumerated() {
            if k == 0, i + 1 < n, lanes[i + 1] == p { joined = true; continue }
            inserted.append(p)
        }
        for (k, p) in inserted.enumerated() { mid.append(p); pos.append(2 * (i + 1 + k)) }
        let shift = inserted.count
        for j in (i + 1)..<n {
            mid.append(lanes[j])
            // Lines right of a fork are drawn in their new columns after the fork row.
            pos.append(shift > 0 ? 2 * (j + shift) : 2 * j)
        }
        if parents.count > 1 {
            var r: [Character] = Array(repeating: " ", count: 2 * w)
            for j in 0..<i { r[2 * j] = "|" }
            r[2 * i] = "|"
            if joined { r[2 * i + 1] = "\\" }
            for k in 0..<shift { r[2 * (i + 1 + k) - 1] = "\\" }
            for j in (i + 1)..<n {
                if shift > 0 { r[2 * (j + shift) - 1] = "\\" } else { r[2 * j] = "|" }
            }
            after.append(String(r))
        }
        // Lines waiting for the same commit join the leftmost one, one column per row; lines
        // right of a line that ended move left to close the gap.
        var final: [Node] = []
        var target: [Int] = []
        var firstAt: [Node: Int] = [:]
        for m in mid {
            if let t = firstAt[m] { target.append(t) } else { firstAt[m] = final.count; target.append(final.count); final.append(m) }
        }
        while zip(pos, target).contains(where: { $0 > 2 * $1 }) {
            var r: [Character] = Array(repeating: " ", count: 2 * w)
            for j in 0..<mid.count {
                if pos[j] > 2 * target[j] {
                    pos[j] -= 2
                    r[pos[j] + 1] = "/"
                } else if r[pos[j]] == " " {
                    r[pos[j]] = "|"
                }
            }
            after.append(String(r))
        }
        lanes = final
        let padding = pad(String(repeating: "| ", count: final.count), w)
        return Rows(commit: commitRow, after: after, padding: padding)
    }
}
