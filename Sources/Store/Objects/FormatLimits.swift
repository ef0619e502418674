import Support

/// The bounds the format states (.mlrepo-format.md §3.1, §3.2, §4.1, §5). Readers enforce
/// them on every object before allocating for it, so a hostile pack or tree costs at most
/// these sizes; writers never produce anything outside them.
public enum FormatLimits {
    /// `chunking.avgsize` is a power of two from 256 bytes to 4 MiB.
    public static let maxAverageChunkSize = 4 << 20
    /// A blob (a small file, one chunk of a large file, or a metadata record) holds at most
    /// 16 MiB: 4 × the largest average chunk size.
    public static let maxBlobSize = 16 << 20
    /// Trees and commits hold at most 16 MiB too.
    public static let maxTreeSize = 16 << 20
    public static let maxCommitSize = 16 << 20
    /// A chunk list has at most 16384 parts (9 + 16384 × 40 = 655,369 bytes).
    public static let maxChunkListParts = 16384
    public static let maxChunkListSize = 9 + 16384 * 40
    /// A name in a tree is at most 255 bytes; a path (names joined by `/`) at most 4096.
    public static let maxNameBytes = 255
    public static let maxPathBytes = 4096
    /// Trees nest at most 2048 levels below the root (a path of 4096 bytes holds at most 2048
    /// names).
    public static let maxTreeDepth = 2048

    /// The largest payload an object of `kind` may have.
    public static func maxPayload(_ kind: ObjectKind) -> Int {
        switch kind {
        case .blob: return maxBlobSize
        case .chunks: return maxChunkListSize
        case .tree: return maxTreeSize
        case .commit: return maxCommitSize
        }
    }

    /// Why a payload of `size` bytes is not allowed for `kind`, or nil when it is.
    public static func sizeProblem(_ kind: ObjectKind, _ size: Int) -> String? {
        let max = maxPayload(kind)
        return size > max ? "\(size) bytes for a \(kind.name) object, over the format's limit of \(max)" : nil
    }

    /// A short, printable form of a (possibly huge or hostile) name for error messages.
    static func shortName(_ bytes: some Collection<UInt8>) -> String {
        let head = String(decoding: bytes.prefix(40), as: UTF8.self)
        return bytes.count > 40 ? head + "… (\(bytes.count) bytes)" : head
    }
}
