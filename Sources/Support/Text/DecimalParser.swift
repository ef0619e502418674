// Decimal numbers straight from bytes, correctly rounded: the one number parser behind CSV
// datasets, data profiles, JSON and the scoring server's text/csv input.
//
// The syntax is `[+-]digits[.digits][(e|E)[+-]digits]`, with digits on at least one side of
// the point (`1.`, `.5`, `+.5e-3`). Nothing else is a number: no spaces (callers trim), no
// `inf`/`nan`, no hex, no digit separators. Values are correctly rounded Doubles (ties to
// even), as `Double(String)` gives: Clinger's fast path, then exact 64/128-bit integer
// arithmetic, then the standard library for the rare rest (more than 19 digits, large
// exponents). Hot callers hoist `DecimalTables.shared` out of their loop; every entry point is
// `@inlinable`, so it is specialised into the caller's loop across the module boundary.

/// Powers of ten for the parser, in memory allocated once (no global-initialisation check and
/// no bounds check in a hot loop): `scale[k + 22]` = 10^k rounded to a Double (exact for
/// k ≥ 0), `pow10` the exact Doubles 10^0...10^22, `pow10i` the integers 10^0...10^19.
public struct DecimalTables: @unchecked Sendable {
    @usableFromInline let scale: UnsafeMutablePointer<Double>
    @usableFromInline let pow10: UnsafeMutablePointer<Double>
    @usableFromInline let pow10i: UnsafeMutablePointer<UInt64>

    /// The one set of tables (never freed; 704 bytes).
    public static let shared = DecimalTables()

    private init() {
        scale = .allocate(capacity: 45)
        pow10 = .allocate(capacity: 23)
        pow10i = .allocate(capacity: 20)
        var d = 1.0
        for k in 0..<23 { pow10[k] = d; d *= 10 }
        for k in -22...22 { scale[k + 22] = k >= 0 ? pow10[k] : 1 / pow10[-k] }   // one correctly rounded division
        var u: UInt64 = 1
        for k in 0..<20 { pow10i[k] = u; if k < 19 { u &*= 10 } }
    }
}

/// A whole cell read as a number.
public enum DecimalNumber: Equatable, Sendable {
    case notNumber
    /// Integer syntax (no point, no exponent) whose value fits an Int64, as a Double.
    case integer(Double)
    case float(Double)

    /// The value, nil for `notNumber`.
    @inlinable public var value: Double? {
        switch self {
        case .integer(let v), .float(let v): return v
        case .notNumber: return nil
        }
    }
}

public enum DecimalParser {
    /// The bytes `p[0..<n]` as a finite number: `.integer` for integer syntax that fits an
    /// Int64, `.float` otherwise; `.notNumber` for anything that is not the decimal syntax
    /// (including the empty span) and for values that overflow a Double (underflow gives ±0).
    @inlinable @inline(__always)
    public static func number(_ p: UnsafePointer<UInt8>, _ n: Int, _ t: DecimalTables = .shared) -> DecimalNumber {
        guard let r = parse(p, n, t), r.value.isFinite else { return .notNumber }
        return r.integer ? .integer(r.value) : .float(r.value)
    }

    /// The bytes `p[0..<n]` as a correctly rounded Double, ±infinity where the value overflows;
    /// nil when they are not the decimal syntax.
    @inlinable
    public static func double(_ p: UnsafePointer<UInt8>, _ n: Int, _ t: DecimalTables = .shared) -> Double? {
        parse(p, n, t)?.value
    }

    /// The bytes `p[0..<n]` as an Int64 when they are integer syntax (`[+-]digits`) whose value
    /// fits; nil otherwise.
    @inlinable @inline(__always)
    public static func int64(_ p: UnsafePointer<UInt8>, _ n: Int, _ t: DecimalTables = .shared) -> Int64? {
        guard n > 0 else { return nil }
        var i = 0
        let negative = p[0] == 0x2D
        if negative || p[0] == 0x2B { i = 1 }
        let zerosStart = i
        if i < n && p[i] == 0x30 { skipZeros(p, &i, n) }   // leading zeros do not count
        let zeros = i &- zerosStart
        var m: UInt64 = 0
        let digits = digitRun(p, &i, n, &m, t.pow10i, partialWords: false)
        guard i == n, zeros &+ digits > 0, digits <= 19 else { return nil }   // < 10^19 < 2^64: no wrap
        if negative { return m <= UInt64(1) << 63 ? Int64(bitPattern: 0 &- m) : nil }
        return m <= UInt64(Int64.max) ? Int64(m) : nil
    }

    /// The parser behind `number` and `double`: the value (possibly infinite) and whether it
    /// is integer syntax that fits an Int64.
    @inlinable @inline(always)
    static func parse(_ p: UnsafePointer<UInt8>, _ n: Int, _ t: DecimalTables) -> (value: Double, integer: Bool)? {
        guard n > 0 else { return nil }
        var i = 0
        let negative = p[0] == 0x2D
        if negative || p[0] == 0x2B { i = 1 }
        let zerosStart = i
        if i < n && p[i] == 0x30 { skipZeros(p, &i, n) }   // leading zeros are not significant digits
        let zeros = i &- zerosStart
        var mantissa: UInt64 = 0    // wraps past 19 digits; such numbers take the slow path
        let significant = digitRun(p, &i, n, &mantissa, t.pow10i, partialWords: false)
        let intDigits = zeros &+ significant
        if i == n {
            if intDigits == 0 { return nil }
            if significant <= 19 {  // < 10^19 < 2^64: no wrap
                if negative {
                    if mantissa <= UInt64(1) << 63 { return (-Double(mantissa), true) }
                } else if mantissa <= UInt64(Int64.max) {
                    return (Double(mantissa), true)
                }
            }
            return slow(p, n).map { ($0, false) }
        }
        var fracDigits = 0
        if p[i] == 0x2E {
            i &+= 1
            fracDigits = digitRun(p, &i, n, &mantissa, t.pow10i, partialWords: false)
        }
        if intDigits == 0 && fracDigits == 0 { return nil }
        var exponent = -fracDigits
        if i < n {
            guard p[i] | 0x20 == 0x65 else { return nil }
            i &+= 1
            var expNegative = false
            if i < n && (p[i] == 0x2D || p[i] == 0x2B) { expNegative = p[i] == 0x2D; i &+= 1 }
            var e = 0
            let expStart = i
            while i < n {
                let d = p[i] &- 0x30
                if d > 9 { break }
                if e < 100_000 { e = e &* 10 &+ Int(d) }
                i &+= 1
            }
            if i == expStart || i != n { return nil }
            exponent &+= expNegative ? -e : e
        }
        if significant &+ fracDigits > 19 { return slow(p, n).map { ($0, false) } }
        if mantissa == 0 { return (negative ? -0.0 : 0.0, false) }
        guard let v = exactDouble(mantissa, exponent, t) else { return slow(p, n).map { ($0, false) } }
        return (negative ? -v : v, false)
    }

    /// A plain decimal number at `p[start...]` (`[+-]digits[.digits][e[+-]digits]`, at most 19
    /// significant digits, |exponent| ≤ 22) as a Float, and the offset after it; nil for
    /// anything else (the caller then takes the general path, `number`). It stops at the first
    /// byte that cannot continue the number; the caller checks what follows.
    ///
    /// The result is always Float(correctly rounded Double), as numpy's `astype(float32)` of a
    /// parsed float64 gives. Exact cases (an integer mantissa ≤ 2^53 times an exact 10^k) take
    /// one rounding. Otherwise `Double(m) * 10^k` (10^k rounded) is within 2 Double ulps of the
    /// correctly rounded Double, so it converts to the same Float unless a Float rounding
    /// boundary (a Double whose low 29 mantissa bits are 1000…0) is that close, or the value is
    /// in Float's subnormal range: those rare cases are computed exactly.
    @inlinable @inline(always)
    public static func float32Prefix(_ p: UnsafePointer<UInt8>, _ start: Int, _ n: Int,
                                     _ t: DecimalTables) -> (value: Float, next: Int)? {
        var i = start
        if i >= n { return nil }
        var negative = false
        let c = p[i]
        if c == 0x2D { negative = true; i &+= 1 } else if c == 0x2B { i &+= 1 }
        var m: UInt64 = 0
        var digits = digitRun(p, &i, n, &m, t.pow10i)   // all digits seen
        // Leading zeros are not significant; but a mantissa of 0 after more than 19 digits may
        // have wrapped (2^64 = 18446744073709551616): the general path.
        var significant = m == 0 && digits <= 19 ? 0 : digits
        var exponent = 0
        if i < n && p[i] == 0x2E {
            i &+= 1
            if m == 0 && i < n && p[i] == 0x30 {   // leading zeros of a fraction do not count
                let z = i
                skipZeros(p, &i, n)
                exponent = z &- i
                digits &+= i &- z
            }
            let frac = digitRun(p, &i, n, &m, t.pow10i)
            exponent &-= frac
            digits &+= frac
            significant &+= frac
        }
        if digits == 0 || significant > 19 { return nil }
        if i < n && p[i] | 0x20 == 0x65 {
            i &+= 1
            var expNegative = false
            if i < n && (p[i] == 0x2D || p[i] == 0x2B) { expNegative = p[i] == 0x2D; i &+= 1 }
            let expStart = i
            var e = 0
            while i < n {
                let d = p[i] &- 0x30
                if d > 9 { break }
                if e < 100_000 { e = e &* 10 &+ Int(d) }
                i &+= 1
            }
            if i == expStart { return nil }
            exponent &+= expNegative ? -e : e
        }
        var f: Float = 0
        if m != 0 {
            guard exponent >= -22 && exponent <= 22 else { return nil }
            // m < 2^63 but with 19 digits; a signed conversion is one instruction.
            let v = (significant < 19 ? Double(Int64(bitPattern: m)) : Double(m)) * t.scale[exponent &+ 22]
            if exponent >= 0 && m <= UInt64(1) << 53 {
                f = Float(v)
            } else {
                let low = v.bitPattern & 0x1FFF_FFFF
                if low &- 0x0FFF_FFFB <= 10 || v < 0x1p-125 {
                    guard let d = exactDoubleRare(m, exponent, t) else { return nil }
                    f = Float(d)
                } else {
                    f = Float(v)
                }
            }
        }
        return (negative ? -f : f, i)
    }

    // MARK: Digits

    /// Appends the run of decimal digits at `p[i...]` to `m` (wrapping past 19 digits; callers
    /// count), advancing `i` past it; returns the run's length. Eight bytes at a time (SWAR, as
    /// in simdjson): a per-byte digit test, then eight digits converted at once. With
    /// `partialWords` the run's length within a word is taken from the test and that many
    /// digits converted at once too, so numbers of varying length cost no mispredicted
    /// branches (the dataset reader's float32 path); without, a word that is not all digits is
    /// finished byte by byte: fewer instructions for short cells (the general parser).
    @inlinable @inline(always)
    static func digitRun(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ n: Int, _ m: inout UInt64,
                         _ pow10i: UnsafePointer<UInt64>, partialWords: Bool = true) -> Int {
        let start = i
        let raw = UnsafeRawPointer(p)
        let zeros: UInt64 = 0x3030_3030_3030_3030, highs: UInt64 = 0x8080_8080_8080_8080
        while i &+ 8 <= n {
            // t = byte - '0': a digit iff t ≤ 9, i.e. neither t nor t + 0x76 has its high bit. A
            // borrow or carry out of a byte comes only from a non-digit and only disturbs the
            // bytes after it.
            let t = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &- zeros
            let nonDigits = ((t &+ 0x7676_7676_7676_7676) | t) & highs
            if nonDigits == 0 {
                m = m &* 100_000_000 &+ eightDigits(t)
                i &+= 8
                continue
            }
            if !partialWords { break }
            let len = nonDigits.trailingZeroBitCount >> 3
            if len > 0 {
                // Digits to the high bytes; the zero bytes below act as leading zeros.
                m = m &* pow10i[len] &+ eightDigits(t << UInt64((8 &- len) &<< 3))
                i &+= len
            }
            return i &- start
        }
        while i < n {
            let d = p[i] &- 0x30
            if d > 9 { break }
            m = m &* 10 &+ UInt64(d)
            i &+= 1
        }
        return i &- start
    }

    /// The value of eight digit values (0...9) in the bytes of `d`, the first in the low byte.
    @inlinable @inline(always)
    static func eightDigits(_ d: UInt64) -> UInt64 {
        let w = (d &* 10) &+ (d >> 8)
        let mask: UInt64 = 0x0000_00FF_0000_00FF
        return ((w & mask) &* (100 &+ (1_000_000 << 32)) &+ ((w >> 16) & mask) &* (1 &+ (10_000 << 32))) >> 32
    }

    /// Advances `i` past a run of '0' bytes, eight at a time.
    @inlinable @inline(always)
    static func skipZeros(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ n: Int) {
        let raw = UnsafeRawPointer(p)
        let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        while i &+ 8 <= n {
            let x = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) ^ 0x3030_3030_3030_3030
            let others = (((x & low7) &+ low7) | x) & ~low7     // high bit set in bytes that are not '0'
            if others == 0 { i &+= 8; continue }
            i &+= others.trailingZeroBitCount >> 3
            return
        }
        while i < n && p[i] == 0x30 { i &+= 1 }
    }

    // MARK: Exact conversion

    /// m · 10^e correctly rounded (m ≥ 1), or nil where that needs the general parser:
    /// Clinger's fast path (m ≤ 2^53, |e| ≤ 22: exact operands, one rounding), else exact
    /// integer arithmetic for |e| ≤ 19.
    @inlinable @inline(always)
    static func exactDouble(_ m: UInt64, _ e: Int, _ t: DecimalTables) -> Double? {
        if m <= UInt64(1) << 53 && e >= -22 && e <= 22 {
            return e < 0 ? Double(m) / t.pow10[-e] : Double(m) * t.pow10[e]
        }
        if e < 0 && e >= -19 { return exactQuotient(m, t.pow10i[-e]) }
        if e >= 0 && e <= 19 { return exactProduct(m, t.pow10i[e]) }
        return nil
    }

    /// `exactDouble` kept out of line, for the rare cases of a hot loop.
    @inline(never) @usableFromInline
    static func exactDoubleRare(_ m: UInt64, _ e: Int, _ t: DecimalTables) -> Double? {
        exactDouble(m, e, t)
    }

    /// m / d correctly rounded, for 1 ≤ m < 2^64 and 10 ≤ d < 2^64: a 64-bit quotient (≥ 63
    /// significant bits) of the scaled mantissa, with the remainder folded into its lowest bit
    /// as a sticky bit, converts to a correctly rounded Double; the power-of-two scaling is exact.
    @inlinable @inline(always)
    static func exactQuotient(_ m: UInt64, _ d: UInt64) -> Double {
        let lz = m.leadingZeroBitCount
        let mn = m << UInt64(lz)                                // in [2^63, 2^64)
        let t = 63 - d.leadingZeroBitCount                      // bit length of d, minus one (≥ 3)
        let high = mn >> UInt64(64 - t), low = mn << UInt64(t)  // mn · 2^t; high < d
        var (q, r) = d.dividingFullWidth((high, low))
        if r != 0 { q |= 1 }
        return Double(sign: .plus, exponent: -(lz + t), significand: Double(q))
    }

    /// m · p correctly rounded, for m, p < 2^64: the 128-bit product's top 64 bits with a
    /// sticky bit.
    @inlinable @inline(always)
    static func exactProduct(_ m: UInt64, _ p: UInt64) -> Double {
        let (high, low) = m.multipliedFullWidth(by: p)
        if high == 0 { return Double(low) }
        let shift = 64 - high.leadingZeroBitCount               // 1...64
        var top = shift == 64 ? high : (high << UInt64(64 - shift)) | (low >> UInt64(shift))
        if shift == 64 { if low != 0 { top |= 1 } } else if low << UInt64(64 - shift) != 0 { top |= 1 }
        return Double(sign: .plus, exponent: shift, significand: Double(top))
    }

    /// Syntax already checked: the standard library's correctly rounded parse (±infinity on
    /// overflow).
    @inline(never) @usableFromInline
    static func slow(_ p: UnsafePointer<UInt8>, _ n: Int) -> Double? {
        Double(String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self))
    }
}
