import Support
#if canImport(Glibc)
import Glibc
#endif
import Support

// Building blocks of the streaming profiler: a byte hash, cell classification (numbers are
// Support's `DecimalParser`), an exact byte-keyed counting table (also used as the Misra–Gries summary), HyperLogLog,
// and the per-column accumulator. Everything here works on raw bytes; nothing allocates
// per cell in the steady state.

let profileExactDistinctLimit = 65_536          // distinct values counted exactly per column
let profileExactArenaLimit = 16 << 20           // ... or this many bytes of distinct value text
let profileTopCounters = 1_024                  // Misra–Gries counters once past the exact limit
let profileExactQuantileLimit = 100_000         // values kept for exact quantiles / reservoir size
let profileTopReported = 10

// MARK: - Hash

/// 64-bit hash of a byte string: FNV-1a style absorption of 64-bit little-endian words with a
/// dense odd multiplier and an xor-shift per word, length mixed in, then the SplitMix64
/// finalizer. Platform independent (explicit little-endian loads), so distinct-count estimates
/// are the same everywhere.
@inline(__always)
func profileHash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    let raw = UnsafeRawPointer(p)
    var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ (UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15)
    var i = 0
    while i &+ 8 <= n {
        let w = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        h = (h ^ w) &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 29
        i &+= 8
    }
    if i < n {
        var t: UInt64 = 0
        var s: UInt64 = 0
        while i < n { t |= UInt64(p[i]) << s; s &+= 8; i &+= 1 }
        h = (h ^ t) &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 29
    }
    h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
    h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
    return h ^ (h >> 31)
}

// MARK: - Cell classification

/// Missing-value tokens (after trimming, ASCII case-insensitive): the empty string, `NA`,
/// `N/A`, `NaN`, `null`, `None`.
@inline(__always)
func profileIsMissing(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    switch n {
    case 2:
        return p[0] | 0x20 == 0x6E && p[1] | 0x20 == 0x61                                   // na
    case 3:
        return p[0] | 0x20 == 0x6E && p[2] | 0x20 == 0x6E && p[1] | 0x20 == 0x61           // nan
            || p[0] | 0x20 == 0x6E && p[1] == 0x2F && p[2] | 0x20 == 0x61                  // n/a
    case 4:
        let a = p[0] | 0x20, b = p[1] | 0x20, c = p[2] | 0x20, d = p[3] | 0x20
        return a == 0x6E && (b == 0x75 && c == 0x6C && d == 0x6C                            // null
                             || b == 0x6F && c == 0x6E && d == 0x65)                        // none
    default:
        return false
    }
}

/// `true` / `false`, ASCII case-insensitive.
@inline(__always)
func profileIsBool(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    if n == 4 {
        return p[0] | 0x20 == 0x74 && p[1] | 0x20 == 0x72 && p[2] | 0x20 == 0x75 && p[3] | 0x20 == 0x65
    }
    if n == 5 {
        return p[0] | 0x20 == 0x66 && p[1] | 0x20 == 0x61 && p[2] | 0x20 == 0x6C && p[3] | 0x20 == 0x73
            && p[4] | 0x20 == 0x65
    }
    return false
}

// MARK: - Byte-keyed counting table

struct CountEntry {
    var hash: UInt64
    var count: Int
    var offset: Int     // key bytes in the table's arena
    var length: Int
}

/// Open-addressing hash table from byte strings (stored in one arena) to counts. Keys are
/// compared byte for byte, so counts are exact. Used for exact distinct/top counting and, with
/// a fixed capacity, as the Misra–Gries summary.
struct CountTable {
    var slots: [Int32]          // entry index + 1; 0 = empty. Power-of-two size, load ≤ 1/2.
    var entries: [CountEntry] = []
    var arena: [UInt8] = []

    init(slotCount: Int) { slots = [Int32](repeating: 0, count: slotCount) }

    var entryCount: Int { entries.count }

    /// The entry holding the key, or `-(slot + 1)` for the empty slot where it would go.
    @inline(__always)
    func find(_ h: UInt64, _ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        slots.withUnsafeBufferPointer { slots in
            entries.withUnsafeBufferPointer { entries in
                arena.withUnsafeBufferPointer { arena in
                    let mask = slots.count &- 1
                    var i = Int(truncatingIfNeeded: h) & mask
                    while true {
                        let s = Int(slots[i])
                        if s == 0 { return -(i &+ 1) }
                        let e = s &- 1
                        let entry = entries[e]
                        if entry.hash == h && entry.length == n
                            && profileBytesEqual(arena.baseAddress.unsafelyUnwrapped + entry.offset, p, n) {
                            return e
                        }
                        i = (i &+ 1) & mask
                    }
                }
            }
        }
    }

    /// Adds a new entry at the slot `find` reported (grows, rehashing, past load 1/2).
    @inline(__always)
    mutating func insert(slot: Int, _ h: UInt64, _ p: UnsafePointer<UInt8>, _ n: Int, count: Int) {
        let e = entries.count
        entries.append(CountEntry(hash: h, count: count, offset: arena.count, length: n))
        arena.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        if (e &+ 1) &* 2 > slots.count { rebuildSlots(size: slots.count &* 2) } else { slots[slot] = Int32(e &+ 1) }
    }

    mutating func rebuildSlots(size: Int) {
        if slots.count == size {
            slots.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        } else {
            slots = [Int32](repeating: 0, count: size)
        }
        let mask = size - 1
        slots.withUnsafeMutableBufferPointer { slots in
            for e in 0..<entries.count {
                var i = Int(truncatingIfNeeded: entries[e].hash) & mask
                while slots[i] != 0 { i = (i + 1) & mask }
                slots[i] = Int32(e + 1)
            }
        }
    }

    /// Misra–Gries step for a key that is not present while the table is full: every counter
    /// loses one, counters that reach zero are dropped (the arena is compacted into `spare`,
    /// which then becomes the arena, so no allocation happens in the steady state).
    mutating func decrementAll(spare: inout [UInt8]) {
        if !entries.contains(where: { $0.count > 1 }) {   // common in high-cardinality streams
            entries.removeAll(keepingCapacity: true)
            arena.removeAll(keepingCapacity: true)
            slots.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            return
        }
        spare.removeAll(keepingCapacity: true)
        var w = 0
        for e in 0..<entries.count where entries[e].count > 1 {
            var entry = entries[e]
            entry.count -= 1
            let off = entry.offset
            entry.offset = spare.count
            if entry.length > 0 { spare.append(contentsOf: arena[off..<(off + entry.length)]) }
            entries[w] = entry
            w += 1
        }
        entries.removeLast(entries.count - w)
        swap(&arena, &spare)
        rebuildSlots(size: slots.count)
    }

    func key(_ e: Int) -> ArraySlice<UInt8> { arena[entries[e].offset..<(entries[e].offset + entries[e].length)] }

    /// (count descending, key bytes ascending)
    private func precedes(_ a: Int, _ b: Int) -> Bool {
        if entries[a].count != entries[b].count { return entries[a].count > entries[b].count }
        return key(a).lexicographicallyPrecedes(key(b))
    }

    /// The `limit` entries with the highest counts, ties by key bytes (ascending), in that order.
    func ranked(limit: Int) -> [Int] {
        var best: [Int] = []
        best.reserveCapacity(limit + 1)
        for e in 0..<entries.count {
            if best.count == limit, let last = best.last, !precedes(e, last) { continue }
            var i = best.count
            while i > 0 && precedes(e, best[i - 1]) { i -= 1 }
            best.insert(e, at: i)
            if best.count > limit { best.removeLast() }
        }
        return best
    }

    /// The `limit` entries with the highest counts, ties by first appearance: cheap, and
    /// deterministic for the same input.
    func highestCounts(limit: Int) -> [Int] {
        var order = Array(0..<entries.count)
        order.sort { a, b in entries[a].count != entries[b].count ? entries[a].count > entries[b].count : a < b }
        if order.count > limit { order.removeLast(order.count - limit) }
        return order
    }
}

@inline(__always)
func profileBytesEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    var i = 0
    while i &+ 8 <= n {
        if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i &+= 8
    }
    while i < n {
        if a[i] != b[i] { return false }
        i &+= 1
    }
    return true
}

// MARK: - HyperLogLog

/// HyperLogLog with precision 14 (16,384 one-byte registers) over 64-bit hashes, estimated with
/// Ertl's improved raw estimator ("New cardinality estimation algorithms for HyperLogLog
/// sketches", 2017), which needs no empirical bias tables and is unbiased across the whole
/// range. Standard error ≈ 1.04 / √16384 ≈ 0.8 %.
struct HyperLogLog {
    static let precision = 14
    static let registerCount = 1 << precision
    static let q = 64 - precision
    var registers = [UInt8](repeating: 0, count: HyperLogLog.registerCount)

    @inline(__always)
    mutating func add(_ h: UInt64) {
        let idx = Int(truncatingIfNeeded: h >> UInt64(HyperLogLog.q))
        let rank = UInt8(Swift.min((h << UInt64(HyperLogLog.precision)).leadingZeroBitCount, HyperLogLog.q) + 1)
        if rank > registers[idx] { registers[idx] = rank }
    }

    func estimate() -> Double {
        let q = HyperLogLog.q
        let m = Double(HyperLogLog.registerCount)
        var c = [Int](repeating: 0, count: q + 2)
        for r in registers { c[Int(r)] += 1 }
        var z = m * HyperLogLog.tau(1 - Double(c[q + 1]) / m)
        for k in stride(from: q, through: 1, by: -1) { z = 0.5 * (z + Double(c[k])) }
        z += m * HyperLogLog.sigma(Double(c[0]) / m)
        return m * m / (2 * log(2.0)) / z
    }

    private static func sigma(_ x0: Double) -> Double {
        if x0 == 1 { return .infinity }
        var x = x0, y = 1.0, z = x0
        while true {
            x *= x
            let old = z
            z += x * y
            y += y
            if z == old { return z }
        }
    }

    private static func tau(_ x0: Double) -> Double {
        if x0 == 0 || x0 == 1 { return 0 }
        var x = x0, y = 1.0, z = 1 - x0
        while true {
            x = x.squareRoot()
            let old = z
            y *= 0.5
            z -= (1 - x) * (1 - x) * y
            if z == old { return z / 3 }
        }
    }
}

// MARK: - Quantiles

/// Quantile of sorted values by linear interpolation between closest ranks (numpy's default,
/// "linear" / Hyndman–Fan type 7): h = (n − 1)·q, value = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]),
/// evaluated the way numpy does (from the upper neighbour when the fraction is ≥ 0.5).
func profileQuantile(sorted x: [Double], _ q: Double) -> Double {
    let n = x.count
    let h = Double(n - 1) * q
    let lo = Int(h.rounded(.down))
    if lo >= n - 1 { return x[n - 1] }
    if lo < 0 { return x[0] }
    let t = h - Double(lo)
    let a = x[lo], b = x[lo + 1], diff = b - a
    // Near the ends of the Double range b − a overflows; interpolate without it.
    if !diff.isFinite {
        let half = b / 2 - a / 2  // finite; the factors below are at most 1
        return t >= 0.5 ? b - half * ((1 - t) * 2) : a + half * (t * 2)
    }
    return t >= 0.5 ? b - diff * (1 - t) : a + diff * t
}

// MARK: - Column accumulator

/// Everything the profiler keeps for one column. All state is bounded: an exact count table up
/// to 65,536 distinct values (or 16 MiB of their text), then HyperLogLog + Misra–Gries; up to
/// 100,000 numeric values, then a fixed-seed reservoir of that size.
struct ColumnState {
    var count = 0
    var missing = 0
    var allInt = true
    var allNumeric = true
    var allBool = true

    // Numeric statistics (valid while allNumeric).
    var mean = 0.0
    var m2 = 0.0
    var minValue = Double.infinity
    var maxValue = -Double.infinity
    var values: [Double] = []      // all values, then a uniform reservoir sample
    var rng: SplitMix64

    // Distinct and top values, tracked for every column from the first row.
    var approximate = false
    var exact = CountTable(slotCount: 16)
    var knownDistinct = 0          // exact distinct count at the switch, plus the new value
    var hll = HyperLogLog(registers: [])
    var summary = CountTable(slotCount: 0)
    var spare: [UInt8] = []

    init(index: Int) {
        rng = SplitMix64(seed: 0x6D6C_7265_706F_0000 &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Counts one cell (nil or empty: missing); `decimals` is `DecimalTables.shared`, read once
    /// by the caller.
    @inline(__always)
    mutating func add(_ p0: UnsafePointer<UInt8>?, _ n0: Int, _ decimals: DecimalTables) {
        guard n0 > 0, var p = p0 else { missing &+= 1; return }
        var n = n0
        CSVScanner.trim(&p, &n)
        if n == 0 || (n <= 4 && profileIsMissing(p, n)) { missing &+= 1; return }
        count &+= 1
        if allNumeric {
            switch DecimalParser.number(p, n, decimals) {
            case .integer(let v): addNumber(v)
            case .float(let v): allInt = false; addNumber(v)
            case .notNumber:
                allNumeric = false
                allInt = false
                values = []
            }
        }
        if allBool && !profileIsBool(p, n) { allBool = false }
        let h = profileHash(p, n)
        if !approximate {
            let r = exact.find(h, p, n)
            if r >= 0 { exact.entries[r].count &+= 1; return }
            if exact.entryCount < profileExactDistinctLimit && exact.arena.count &+ n <= profileExactArenaLimit {
                exact.insert(slot: -r &- 1, h, p, n, count: 1)
                return
            }
            switchToApproximate()
        }
        hll.add(h)
        summaryAdd(h, p, n)
    }

    @inline(__always)
    private mutating func addNumber(_ v: Double) {
        // `count` already includes this value and equals the number of numeric values so far.
        let k = count
        // Welford. Multiplying by the reciprocal keeps the division off the dependency chain
        // through `mean` (measurably faster; the result differs by at most an ulp per step).
        let d = v - mean
        mean += d * (1 / Double(k))
        m2 += d * (v - mean)
        if v < minValue { minValue = v }
        if v > maxValue { maxValue = v }
        if k <= profileExactQuantileLimit {
            values.append(v)
        } else {
            // Algorithm R with SplitMix64: keep the k-th value with probability K/k.
            let z = rng.next()
            let j = Int(truncatingIfNeeded: UInt64(k).multipliedFullWidth(by: z).high)
            if j < profileExactQuantileLimit { values[j] = v }
        }
    }

    @inline(__always)
    private mutating func summaryAdd(_ h: UInt64, _ p: UnsafePointer<UInt8>, _ n: Int) {
        let r = summary.find(h, p, n)
        if r >= 0 { summary.entries[r].count &+= 1; return }
        if summary.entryCount < profileTopCounters {
            summary.insert(slot: -r &- 1, h, p, n, count: 1)
        } else {
            summary.decrementAll(spare: &spare)
        }
    }

    /// Leaves exact counting: HyperLogLog is seeded with every value seen so far and the
    /// Misra–Gries summary with the 1,024 highest exact counts.
    @inline(never)
    private mutating func switchToApproximate() {
        approximate = true
        knownDistinct = exact.entryCount + 1
        hll = HyperLogLog()
        for entry in exact.entries { hll.add(entry.hash) }
        summary = CountTable(slotCount: profileTopCounters * 4)
        for e in exact.highestCounts(limit: profileTopCounters) {
            let entry = exact.entries[e]
            exact.key(e).withUnsafeBufferPointer { b in
                let p = b.baseAddress ?? UnsafePointer(bitPattern: 1)!
                let r = summary.find(entry.hash, p, b.count)
                summary.insert(slot: -r - 1, entry.hash, p, b.count, count: entry.count)
            }
        }
        exact = CountTable(slotCount: 1)
    }

    func profile(name: String, levels: [Double] = ColumnProfile.quantileLevels) -> ColumnProfile {
        var c = ColumnProfile(name: name, type: "text", count: count, missing: missing)
        if count == 0 {
            c.type = "empty"
            return c
        }
        c.type = allInt ? "integer" : allNumeric ? "float" : allBool ? "boolean" : "text"
        if approximate {
            c.distinct = Swift.max(Int(hll.estimate().rounded()), knownDistinct)
            c.distinctApproximate = true
        } else {
            c.distinct = exact.entryCount
        }
        if allNumeric {
            c.min = minValue
            c.max = maxValue
            c.mean = mean.isFinite ? mean : nil            // overflow with values near ±1e308
            let std = (m2 / Double(count - 1)).squareRoot()
            c.std = count > 1 && std.isFinite ? std : nil
            let sorted = values.sorted()
            c.quantilesApproximate = count > profileExactQuantileLimit
            c.quantiles = levels.map { q in
                if q == 0 { return (q, minValue) }
                if q == 1 { return (q, maxValue) }
                return (q, profileQuantile(sorted: sorted, q))
            }
        } else {
            let table = approximate ? summary : exact
            c.top = table.ranked(limit: profileTopReported).map { e in
                (String(decoding: table.key(e), as: UTF8.self), table.entries[e].count)
            }
        }
        return c
    }
}
