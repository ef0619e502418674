import Support

// The experiment table's filter, e.g. `accuracy>0.9 && train.lr<0.01`.
//
// Grammar (precedence from loosest to tightest: `||`, `&&`, `!`):
//
//     expr       := expr '||' expr | expr '&&' expr | '!' expr | '(' expr ')' | comparison
//     comparison := NAME OP VALUE
//     OP         := '>' | '>=' | '<' | '<=' | '==' | '!='
//     NAME       := bare name (letters, digits, _ . : / - and any non-ASCII) | "quoted" | 'quoted'
//     VALUE      := a number (-1, 0.5, 1e-3) | "a quoted string" | 'a quoted string'
//
// Parsed with an explicit operator stack (shunting-yard) into postfix: no recursion, so a
// deeply nested input cannot exhaust the stack; the text and the nesting are bounded.

/// A parsed filter expression over a row's params and metrics.
public struct FilterExpression: Sendable {
    /// The longest expression accepted, in bytes.
    public static let maxBytes = 4096
    /// The deepest nesting of parentheses accepted.
    public static let maxDepth = 64

    public enum Op: String, Sendable { case gt = ">", ge = ">=", lt = "<", le = "<=", eq = "==", ne = "!=" }

    /// The right-hand side of a comparison.
    public enum Literal: Sendable, Equatable {
        case number(Double)
        case string(String)
    }

    /// One comparison: `names[name] op literal`.
    public struct Comparison: Sendable {
        public var name: Int
        public var op: Op
        public var literal: Literal
    }

    /// One step of the postfix program.
    enum Step: Sendable { case compare(Comparison), and, or, not }

    public let source: String
    /// The column names the expression mentions, each once, in order of appearance.
    public let names: [String]
    /// The 1-based character column where each name first appears (for error messages).
    public let nameColumns: [Int]
    let program: [Step]

    /// Parses `source`; a syntax error names the position and what was expected. An empty
    /// (or blank) expression matches every row.
    public init(_ source: String) throws(UIError) {
        self.source = source
        guard source.utf8.count <= FilterExpression.maxBytes else {
            throw UIError(400, "filter: the expression is longer than \(FilterExpression.maxBytes) bytes")
        }
        var p = Parser(Array(source.unicodeScalars))
        try p.parse()
        names = p.names; nameColumns = p.nameColumns; program = p.output
    }

    /// True when the expression has no comparison (blank): it matches every row.
    public var isEmpty: Bool { program.isEmpty }

    /// Evaluates the expression, asking `compare` for each comparison's truth.
    public func evaluate(_ compare: (Comparison) -> Bool) -> Bool {
        if program.isEmpty { return true }
        var stack: [Bool] = []
        stack.reserveCapacity(8)
        for s in program {
            switch s {
            case .compare(let c): stack.append(compare(c))
            case .not: stack[stack.count - 1].toggle()
            case .and: let b = stack.removeLast(); stack[stack.count - 1] = stack[stack.count - 1] && b
            case .or: let b = stack.removeLast(); stack[stack.count - 1] = stack[stack.count - 1] || b
            }
        }
        return stack.last ?? true
    }

    /// Whether a row passes; `value` gives a column's value by the name written in the
    /// expression (nil: the row has none).
    public func matches(_ value: (String) -> JSON?) -> Bool {
        var cache: [Int: JSON?] = [:]
        return evaluate { c in
            let v: JSON?
            if let hit = cache[c.name] { v = hit } else { v = value(names[c.name]); cache[c.name] = v }
            return FilterExpression.compare(v, c.op, c.literal)
        }
    }

    /// The rule for one comparison: numbers compare numerically with a number; anything
    /// compares by its text with a quoted string; a missing value (or a number against a
    /// string value) matches nothing, `!=` included.
    public static func compare(_ v: JSON?, _ op: Op, _ lit: Literal) -> Bool {
        guard let v else { return false }
        switch lit {
        case .number(let n):
            guard let d = v.doubleValue else { return false }
            return compare(number: d, op, n)
        case .string(let s):
            return compare(text: v.display(), op, s)
        }
    }

    @inline(__always) public static func compare(number d: Double, _ op: Op, _ n: Double) -> Bool {
        switch op {
        case .gt: return d > n
        case .ge: return d >= n
        case .lt: return d < n
        case .le: return d <= n
        case .eq: return d == n
        case .ne: return d != n
        }
    }

    public static func compare(text a: String, _ op: Op, _ b: String) -> Bool {
        switch op {
        case .gt: return a > b
        case .ge: return a >= b
        case .lt: return a < b
        case .le: return a <= b
        case .eq: return a == b
        case .ne: return a != b
        }
    }
}

/// The shunting-yard parser (operators on an explicit stack).
private struct Parser {
    enum StackOp { case open(column: Int), not, and, or }
    let s: [Unicode.Scalar]
    var i = 0
    var output: [FilterExpression.Step] = []
    var ops: [StackOp] = []
    var names: [String] = []
    var nameColumns: [Int] = []
    var depth = 0

    init(_ s: [Unicode.Scalar]) { self.s = s }

    func fail(_ what: String) -> UIError { UIError(400, "filter: \(what)") }
    var column: Int { i + 1 }
    /// What is at the current position, for messages.
    var here: String {
        guard i < s.count else { return "at the end" }
        var t = ""
        for c in s[i..<min(s.count, i + 12)] { t.unicodeScalars.append(c) }
        return "at column \(column) ('\(Quote.controls(t))')"
    }

    mutating func skipSpace() {
        while i < s.count, s[i] == " " || s[i] == "\t" || s[i] == "\n" || s[i] == "\r" { i += 1 }
    }
    func peek(_ t: String) -> Bool {
        var j = i
        for c in t.unicodeScalars { guard j < s.count, s[j] == c else { return false }; j += 1 }
        return true
    }

    static func isNameScalar(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "a"..."z", "A"..."Z", "0"..."9", "_", ".", ":", "/", "-", "@", "#", "[", "]": return true
        default: return c.value >= 0x80 && !c.properties.isWhitespace
        }
    }

    /// A quoted name or string starting at `i` (the quote character), with \" \' \\ escapes.
    mutating func quoted() throws(UIError) -> String {
        let q = s[i], start = column
        i += 1
        var out = ""
        while i < s.count {
            let c = s[i]
            if c == q { i += 1; return out }
            if c == "\\" {
                guard i + 1 < s.count else { break }
                out.unicodeScalars.append(s[i + 1]); i += 2; continue
            }
            out.unicodeScalars.append(c); i += 1
        }
        throw fail("the quote at column \(start) is not closed")
    }

    mutating func name() throws(UIError) -> String? {
        if i < s.count, s[i] == "\"" || s[i] == "'" {
            let n = try quoted()
            guard !n.isEmpty else { throw fail("an empty column name at column \(column - 2)") }
            return n
        }
        var out = ""
        while i < s.count, Parser.isNameScalar(s[i]) { out.unicodeScalars.append(s[i]); i += 1 }
        return out.isEmpty ? nil : out
    }

    mutating func op() throws(UIError) -> FilterExpression.Op? {
        for (t, o) in [(">=", FilterExpression.Op.ge), ("<=", .le), ("==", .eq), ("!=", .ne), (">", .gt), ("<", .lt)] where peek(t) {
            i += t.unicodeScalars.count
            return o
        }
        if peek("=") { throw fail("use '==' to compare, not '=', at column \(column)") }
        return nil
    }

    mutating func literal(after op: FilterExpression.Op) throws(UIError) -> FilterExpression.Literal {
        skipSpace()
        let opText = op.rawValue
        guard i < s.count else { throw fail("expected a number or a quoted string after '\(opText)' at the end") }
        if s[i] == "\"" || s[i] == "'" { return .string(try quoted()) }
        let start = i
        var text = ""
        while i < s.count, Parser.isNameScalar(s[i]) || s[i] == "+" {
            // `+` only inside an exponent (1e+5).
            if s[i] == "+", !(text.last == "e" || text.last == "E") { break }
            text.unicodeScalars.append(s[i]); i += 1
        }
        let bytes = Array(text.utf8)
        let value: Double? = bytes.isEmpty ? nil : bytes.withUnsafeBufferPointer { DecimalParser.double($0.baseAddress!, $0.count) }
        guard let value, value.isFinite else {
            i = start
            if text.isEmpty { throw fail("expected a number or a quoted string after '\(opText)' \(here)") }
            throw fail("expected a number after '\(opText)' at column \(start + 1) (write \"\(Quote.controls(text))\" in quotes to compare text)")
        }
        return .number(value)
    }

    /// Pops operators of precedence at least `prec` (`!` 3, `&&` 2, `||` 1) into the output.
    mutating func popOps(atLeast prec: Int) {
        while let top = ops.last {
            let p: Int
            switch top {
            case .open: return
            case .not: p = 3
            case .and: p = 2
            case .or: p = 1
            }
            guard p >= prec else { return }
            ops.removeLast()
            switch top {
            case .not: output.append(.not)
            case .and: output.append(.and)
            case .or: output.append(.or)
            case .open: break
            }
        }
    }

    mutating func parse() throws(UIError) {
        var expectOperand = true
        var sawAny = false
        while true {
            skipSpace()
            if i >= s.count { break }
            sawAny = true
            if expectOperand {
                if s[i] == "(" {
                    depth += 1
                    guard depth <= FilterExpression.maxDepth else { throw fail("parentheses nest deeper than \(FilterExpression.maxDepth) at column \(column)") }
                    ops.append(.open(column: column)); i += 1; continue
                }
                if s[i] == "!" && !peek("!=") { ops.append(.not); i += 1; continue }
                let at = column
                guard let n = try name() else {
                    if s[i] == ")" { throw fail("expected a comparison before ')' at column \(column)") }
                    throw fail("expected a column name, '(' or '!' \(here)")
                }
                skipSpace()
                guard let o = try op() else {
                    throw fail("expected a comparison (> >= < <= == !=) after '\(Quote.controls(n))' \(here)")
                }
                let lit = try literal(after: o)
                let idx: Int
                if let k = names.firstIndex(of: n) { idx = k } else { idx = names.count; names.append(n); nameColumns.append(at) }
                output.append(.compare(.init(name: idx, op: o, literal: lit)))
                expectOperand = false
            } else {
                if peek("&&") { i += 2; popOps(atLeast: 2); ops.append(.and); expectOperand = true; continue }
                if peek("||") { i += 2; popOps(atLeast: 1); ops.append(.or); expectOperand = true; continue }
                if s[i] == ")" {
                    popOps(atLeast: 0)
                    guard case .open? = ops.last else { throw fail("')' at column \(column) has no matching '('") }
                    ops.removeLast(); depth -= 1; i += 1
                    // A `!` before the group applies to all of it.
                    popOps(atLeast: 3)
                    continue
                }
                if s[i] == "&" || s[i] == "|" { throw fail("use '&&' or '||' \(here)") }
                throw fail("expected '&&', '||' or ')' \(here)")
            }
        }
        if !sawAny { return }
        if expectOperand { throw fail("the expression ends where a comparison was expected") }
        popOps(atLeast: 0)
        if case .open(let col)? = ops.last { throw fail("the '(' at column \(col) is not closed") }
    }
}
