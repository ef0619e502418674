/// The one trim of the code base.
extension StringProtocol {
    /// `self` without leading and trailing characters from `chars` (by default ASCII space,
    /// tab, CR and LF). Works on Unicode scalars, so "\r\n" (one Swift `Character`) is
    /// trimmed like "\r" and "\n". Allocates only the result.
    @inlinable
    public func trimmed(_ chars: String = " \t\r\n") -> String {
        let s = Substring(self).unicodeScalars
        let set = chars.unicodeScalars
        var lo = s.startIndex, hi = s.endIndex
        while lo < hi && set.contains(s[lo]) { lo = s.index(after: lo) }
        while lo < hi {
            let last = s.index(before: hi)
            guard set.contains(s[last]) else { break }
            hi = last
        }
        return String(s[lo..<hi])
    }
}
