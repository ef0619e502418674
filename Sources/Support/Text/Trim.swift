/// The one trim of the code base.
extension StringProtocol {
    /// `self` without leading and trailing characters from `chars` (by default ASCII space,
    /// tab, CR and LF). Works on Unicode scalars, so "\r\n" (one Swift `Character`) is
    /// trimmed like "\r" and "\n".
    public func trimmed(_ chars: String = " \t\r\n") -> String {
        let set = Array(chars.unicodeScalars)
        var s = Substring(self).unicodeScalars[...]
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
