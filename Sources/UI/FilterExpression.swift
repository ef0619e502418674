import Support

// SCAFFOLD (helper B builds it): the experiment table's filter, e.g.
// `accuracy>0.9 && train.lr<0.01`.

/// A parsed filter expression over a row's params and metrics.
public struct FilterExpression: Sendable {
    public let source: String
    /// Parses `source`; a syntax error names the position and what was expected.
    public init(_ source: String) throws(UIError) {
        self.source = source
    }
    /// Whether a row passes; `value` gives a column's value by the name written in the
    /// expression (nil: the row has none).
    public func matches(_ value: (String) -> JSON?) -> Bool { true }
}
