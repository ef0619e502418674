/// Three-way merge of text, line by line, with git's conflict markers.
///
/// STUB (issue 16): placeholder body with the final API; the real diff3 merge matching
/// `git merge-file` replaces it.

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
    public static func merge(base: [UInt8], ours: [UInt8], theirs: [UInt8], options: TextMergeOptions = TextMergeOptions()) -> TextMergeResult {
        if ours == theirs || theirs == base { return TextMergeResult(bytes: ours, conflicts: 0) }
        if ours == base { return TextMergeResult(bytes: theirs, conflicts: 0) }
        switch options.favor {
        case .ours: return TextMergeResult(bytes: ours, conflicts: 0)
        case .theirs: return TextMergeResult(bytes: theirs, conflicts: 0)
        case .union: return TextMergeResult(bytes: ours + theirs, conflicts: 0)
        case .none: break
        }
        func nl(_ b: [UInt8]) -> [UInt8] { b.isEmpty || b.last == 0x0A ? b : b + [0x0A] }
        let m = options.markerSize
        var o = Array(String(repeating: "<", count: m).utf8) + Array(" \(options.oursLabel)\n".utf8) + nl(ours)
        if options.style == .diff3 { o += Array(String(repeating: "|", count: m).utf8) + Array(" \(options.baseLabel)\n".utf8) + nl(base) }
        o += Array(String(repeating: "=", count: m).utf8) + [0x0A] + nl(theirs)
        o += Array(String(repeating: ">", count: m).utf8) + Array(" \(options.theirsLabel)\n".utf8)
        return TextMergeResult(bytes: o, conflicts: 1)
    }
}
