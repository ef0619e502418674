#if canImport(Glibc)
import Glibc
#endif
import Store
import Support

/// Buffered writes to stdout/stderr. A closed pipe (EPIPE) ends the process quietly,
/// as `git log | head` expects.
final class Output: @unchecked Sendable {
    static let stdout = Output(fd: 1)
    static let stderr = Output(fd: 2)

    let fd: Int32
    private var buf: [UInt8] = []
    init(fd: Int32) { self.fd = fd }

    var isTerminal: Bool { isatty(fd) == 1 }

    func write(_ s: String) {
        buf.append(contentsOf: s.utf8)
        if buf.count >= 1 << 16 { flush() }
    }

    func line(_ s: String = "") { write(s + "\n") }

    func writeBytes(_ b: UnsafeRawBufferPointer) {
        flush()
        var p = b.baseAddress
        var left = b.count
        while left > 0, let q = p {
            let n = Glibc.write(fd, q, left)
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE { exit(0) }
                return
            }
            p = q + n
            left -= n
        }
    }

    func flush() {
        if buf.isEmpty { return }
        let b = buf
        buf.removeAll(keepingCapacity: true)
        b.withUnsafeBytes { writeBytes($0) }
    }
}

/// A one-line progress bar on stderr, drawn only on a terminal and at most 10 times a second.
final class ProgressBar: @unchecked Sendable {
    let label: String
    let enabled: Bool
    private var last = 0.0
    private let start = Clock.monotonic()
    private let lock = Lock()
    private var drawn = false

    init(label: String) {
        self.label = label
        enabled = Output.stderr.isTerminal && Env.get("MLREPO_NO_PROGRESS") == nil
    }

    func update(_ done: UInt64, _ total: UInt64) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        let now = Clock.monotonic()
        if now - last < 0.1 && done < total { return }
        if now - start < 0.5 { return }  // quick operations show nothing
        last = now
        drawn = true
        let frac = total == 0 ? 1 : Double(done) / Double(total)
        let width = 30
        let filled = Int(frac * Double(width))
        let rate = Double(done) / max(now - start, 1e-6)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let s = "\r\(label) [\(bar)] \(Int(frac * 100))% \(formatBytes(done))/\(formatBytes(total)) \(formatBytes(UInt64(rate)))/s "
        Output.stderr.write(s)
        Output.stderr.flush()
    }

    func finish() {
        guard enabled, drawn else { return }
        Output.stderr.write("\r\u{1B}[K")
        Output.stderr.flush()
    }
}

func formatBytes(_ n: UInt64) -> String { ByteCount.format(n) }

/// git's default date form: "Tue Nov 14 22:13:20 2023 +0000" (the day space-padded).
func formatTime(_ t: Int64, tzMinutes: Int) -> String {
    let c = CommitTime.civil(t, tzMinutes), p = CivilTime.pad
    let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return "\(weekdays[c.weekday]) \(months[c.month - 1]) \(c.day < 10 ? " " : "")\(c.day) "
        + "\(p(c.hour, 2)):\(p(c.minute, 2)):\(p(c.second, 2)) \(c.year) " + CommitTime.offset(tzMinutes, colon: false)
}

/// ISO 8601: "2023-11-14T22:13:20+00:00".
func isoTime(_ t: Int64, tzMinutes: Int) -> String { CommitTime.iso(t, tzMinutes: tzMinutes) }

func format2(_ n: Int) -> String { CivilTime.pad(n, 2) }

/// "2023-11-14 22:13" in the commit's own offset (tables).
func formatShortTime(_ t: Int64, tzMinutes: Int) -> String { CommitTime.short(t, tzMinutes: tzMinutes) }

// MARK: Formatting shared by several commands

func jsonId(_ id: ObjectId?) -> JSON { id.map { .string($0.hex) } ?? .null }

func format1(_ d: Double) -> String { String((d * 100).rounded() / 100) }

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

extension String {
    func replacingOccurrences(_ a: String, _ b: String) -> String {
        split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b)
    }
}

func valueTable(_ header: [String], _ rows: [[String]], md: Bool, _ ctx: Context) {
    // Cells come from repository files (metric and param names, paths): no raw control bytes.
    let header = header.map(Quote.controls), rows = rows.map { $0.map(Quote.controls) }
    if md {
        ctx.out.line("| " + header.joined(separator: " | ") + " |")
        ctx.out.line("|" + header.map { _ in "---" }.joined(separator: "|") + "|")
        for r in rows { ctx.out.line("| " + r.map { $0.replacingOccurrences("|", "\\|") }.joined(separator: " | ") + " |") }
        return
    }
    var w = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() { w[i] = max(w[i], c.count) } }
    func line(_ cells: [String]) -> String {
        var s = ""
        for (i, c) in cells.enumerated() { s += i == cells.count - 1 ? c : c.padding(w[i]) + "  " }
        return s
    }
    ctx.out.line(line(header))
    for r in rows { ctx.out.line(line(r)) }
}
