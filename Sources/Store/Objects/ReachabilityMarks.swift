/// A set of object ids kept as one bit per pack entry, so that marking everything
/// reachable in a store of 10 million objects costs ~1.2 MB rather than a hash set of
/// hundreds of MB. Ids found in no pack (missing objects) go into a small fallback set.
final class ReachabilityMarks {
    private let packs: [Pack]
    private var bits: [[UInt64]]
    private var other = Set<ObjectId>()

    init(packs: [Pack]) {
        self.packs = packs
        bits = packs.map { [UInt64](repeating: 0, count: ($0.index.count + 63) / 64) }
    }

    /// The (pack, position) that stands for `id`: the first pack holding it.
    private func slot(_ id: ObjectId) -> (Int, Int)? {
        for (k, p) in packs.enumerated() { if let i = p.index.find(id) { return (k, i) } }
        return nil
    }

    /// Marks `id`; returns true when it was not marked before.
    @discardableResult
    func insert(_ id: ObjectId) -> Bool {
        guard let (k, i) = slot(id) else { return other.insert(id).inserted }
        let mask = UInt64(1) << UInt64(i & 63)
        if bits[k][i >> 6] & mask != 0 { return false }
        bits[k][i >> 6] |= mask
        return true
    }

    func contains(_ id: ObjectId) -> Bool {
        guard let (k, i) = slot(id) else { return other.contains(id) }
        return bits[k][i >> 6] & (UInt64(1) << UInt64(i & 63)) != 0
    }

    /// Number of marked ids.
    var count: Int { bits.reduce(0) { $0 + $1.reduce(0) { $0 + $1.nonzeroBitCount } } + other.count }
}
