/// The one calendar of the code base: Unix seconds <-> civil UTC date and time, and the
/// ISO 8601 forms mlrepo writes ("2026-11-23T02:04:01Z", "…01.123Z"). Pure arithmetic
/// (Howard Hinnant's days-from-civil), no libc time zone state.
public struct CivilTime: Equatable, Sendable {
    public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year; self.month = month; self.day = day
        self.hour = hour; self.minute = minute; self.second = second
    }

    /// The range of Unix seconds dates are computed for (about ±2.2 million years); a time
    /// outside it (a hostile commit's, say) is clamped to it, so no date computation can
    /// overflow.
    public static let secondsLimit: Int64 = 1 << 46

    /// The UTC date and time of `unixSeconds` (clamped to ±`secondsLimit`).
    public init(unixSeconds raw: Int64) {
        let t = min(max(raw, -CivilTime.secondsLimit), CivilTime.secondsLimit)
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let secs = Int(t - days * 86400)
        let z = Int(days) + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        hour = secs / 3600; minute = secs / 60 % 60; second = secs % 60
    }

    /// Unix seconds of this UTC date and time (fields out of range carry over, like timegm).
    public var unixSeconds: Int64 {
        var y = year, m = month
        // Normalize the month first so that the day count below sees 1...12.
        y += (m - 1 >= 0 ? (m - 1) / 12 : (m - 12) / 12); m = ((m - 1) % 12 + 12) % 12 + 1
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = Int64(era) * 146097 + Int64(doe) - 719468
        return days * 86400 + Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)
    }

    /// Day of the week, 0 = Sunday … 6 = Saturday.
    public var weekday: Int {
        let days = Int((unixSeconds - Int64(hour * 3600 + minute * 60 + second)) / 86400)
        return ((days + 4) % 7 + 7) % 7   // 1970-01-01 was a Thursday
    }

    /// Zero-padded decimal: `pad(7, 2)` is "07".
    public static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

public enum ISOTime {
    public enum Fraction: Sendable { case never, milliseconds, millisecondsWhenNonzero }

    /// `2026-11-23T02:04:01Z`, with `.123` milliseconds as `fraction` says (by default only
    /// when the time has a nonzero millisecond part; milliseconds are rounded).
    public static func format(_ raw: Double, fraction: Fraction = .millisecondsWhenNonzero) -> String {
        // A non-finite or huge time (a hostile record's) is clamped, never converted blindly.
        let limit = Double(CivilTime.secondsLimit)
        let t = raw.isFinite ? min(max(raw, -limit), limit) : 0
        var secs = Int64(t.rounded(.down))
        var ms = Int(((t - Double(secs)) * 1000).rounded())
        if ms >= 1000 { secs += 1; ms -= 1000 }
        switch fraction {
        case .never: return format(seconds: Int64(t.rounded(.down)), milliseconds: nil)
        case .milliseconds: return format(seconds: secs, milliseconds: ms)
        case .millisecondsWhenNonzero: return format(seconds: secs, milliseconds: ms > 0 ? ms : nil)
        }
    }

    /// `seconds` (Unix) as `2026-11-23T02:04:01Z`, or `…01.123Z` given `milliseconds`
    /// (0...999).
    public static func format(seconds: Int64, milliseconds: Int?) -> String {
        let c = CivilTime(unixSeconds: seconds)
        let p = CivilTime.pad
        var s = "\(p(c.year, 4))-\(p(c.month, 2))-\(p(c.day, 2))T\(p(c.hour, 2)):\(p(c.minute, 2)):\(p(c.second, 2))"
        if let ms = milliseconds { s += "." + p(ms, 3) }
        return s + "Z"
    }

    /// Now, with milliseconds (log lines).
    public static func now() -> String {
        let ns = Clock.nowNs()
        let s = ns >= 0 ? ns / 1_000_000_000 : (ns - 999_999_999) / 1_000_000_000
        return format(seconds: s, milliseconds: Int((ns - s * 1_000_000_000) / 1_000_000))
    }

    /// Inverse of `format`: "YYYY-MM-DDTHH:MM:SS", an optional fraction, an optional "Z"
    /// (the forms mlrepo and S3 write). Nil for anything else.
    public static func parse(_ s: String) -> Double? {
        let b = Array(s.utf8)
        guard b.count >= 19, b.count <= 64, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              b[10] == UInt8(ascii: "T"), b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":") else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r { guard b[i] >= 48 && b[i] <= 57 else { return nil }; v = v * 10 + Int(b[i] - 48) }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13),
              let mi = num(14..<16), let se = num(17..<19) else { return nil }
        var end = b.count
        if b[end - 1] == UInt8(ascii: "Z") { end -= 1 }
        var frac = 0.0
        if end > 19 {
            guard b[19] == UInt8(ascii: "."), end > 20 else { return nil }
            // digits / 10^n: one correctly rounded division, as parsing "0.123" would give.
            var digits: Int64 = 0, scale: Int64 = 1
            for i in 20..<end {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                if scale < 1_000_000_000_000_000 { digits = digits * 10 + Int64(b[i] - 48); scale *= 10 }
            }
            frac = Double(digits) / Double(scale)
        }
        return Double(CivilTime(year: y, month: mo, day: d, hour: h, minute: mi, second: se).unixSeconds) + frac
    }
}

/// A commit's time as people read it, in the commit's own UTC offset. Overflow-safe for any
/// stored time and offset (both come from commits, which may be hostile).
public enum CommitTime {
    /// `t` shifted by `tzMinutes` (clamped to ±99:59), as a civil date.
    public static func civil(_ t: Int64, _ tzMinutes: Int) -> CivilTime {
        let tz = Int64(min(max(tzMinutes, -5999), 5999))
        let limit = CivilTime.secondsLimit
        return CivilTime(unixSeconds: min(max(t, -limit), limit) + tz * 60)
    }

    /// "+0100" or "+01:00".
    public static func offset(_ tzMinutes: Int, colon: Bool) -> String {
        let m = min(abs(max(tzMinutes, -5999)), 5999)
        return (tzMinutes < 0 ? "-" : "+") + CivilTime.pad(m / 60, 2) + (colon ? ":" : "") + CivilTime.pad(m % 60, 2)
    }

    /// ISO 8601 with the offset: "2023-11-14T22:13:20+00:00".
    public static func iso(_ t: Int64, tzMinutes: Int) -> String {
        let c = civil(t, tzMinutes), p = CivilTime.pad
        return "\(p(c.year, 4))-\(p(c.month, 2))-\(p(c.day, 2))T\(p(c.hour, 2)):\(p(c.minute, 2)):\(p(c.second, 2))" + offset(tzMinutes, colon: true)
    }

    /// "2023-11-14 22:13" (tables).
    public static func short(_ t: Int64, tzMinutes: Int) -> String {
        let c = civil(t, tzMinutes), p = CivilTime.pad
        return "\(p(c.year, 4))-\(p(c.month, 2))-\(p(c.day, 2)) \(p(c.hour, 2)):\(p(c.minute, 2))"
    }
}
