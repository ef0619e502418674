#if canImport(Glibc)
import Glibc
#endif
import Compute
import Support

// ai.onnx elementwise operators: unary math and activations, broadcast arithmetic,
// comparisons and logic, Where, Clip, and the variadic Max/Min/Sum/Mean. Binary operators
// broadcast through `ONNXK.binary` (numpy's rules, fast paths for the common shapes).

/// Float → Int64 the way x86's conversion does it: truncation toward zero, and Int64.min
/// for NaN and values out of range (numpy and onnxruntime on x86 give the same).
@inline(__always)
func onnxInt64(_ d: Double) -> Int64 {
    guard d.isFinite, d > -9.223372036854775808e18, d < 9.223372036854775808e18 else { return .min }
    return Int64(d)
}

private func unary(_ op: String, _ f: @escaping @Sendable (Float) -> Float, _ d: @escaping @Sendable (Double) -> Double,
                   int i: (@Sendable (Int64) -> Int64)? = nil) -> ONNXOperatorFactory {
    { _ in
        { inputs, _ in
            let x = try tensorInput(inputs, 0)
            switch x.storage {
            case .float(let v): return [.tensor(ONNXArray(shape: x.shape, storage: .float(ONNXK.map(v, f))))]
            case .double(let v): return [.tensor(ONNXArray(shape: x.shape, storage: .double(ONNXK.map(v, d))))]
            case .int64(let v):
                if let i { return [.tensor(ONNXArray(shape: x.shape, storage: .int64(ONNXK.map(v, i))))] }
            default: break
            }
            throw ONNXRunError("\(op) takes \(i == nil ? "float or double" : "numeric") input, not \(x.elementType.name)")
        }
    }
}

/// The unary operators on the hot path of exported networks, as types so that each kernel
/// is specialized and its loop inlined (no call per element).
private protocol FloatUnary {
    static func f(_ x: Float) -> Float
    static func d(_ x: Double) -> Double
}
private enum ReluOp: FloatUnary {
    // NaN stays NaN (NaN < 0 is false).
    static func f(_ x: Float) -> Float { x < 0 ? 0 : x }
    static func d(_ x: Double) -> Double { x < 0 ? 0 : x }
}
private enum NegOp: FloatUnary {
    static func f(_ x: Float) -> Float { -x }
    static func d(_ x: Double) -> Double { -x }
}
private enum AbsOp: FloatUnary {
    static func f(_ x: Float) -> Float { abs(x) }
    static func d(_ x: Double) -> Double { abs(x) }
}
private enum SigmoidOp: FloatUnary {
    static func f(_ x: Float) -> Float { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }
    static func d(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }
}
private enum TanhOp: FloatUnary {
    static func f(_ x: Float) -> Float { tanh(x) }
    static func d(_ x: Double) -> Double { tanh(x) }
}
private enum ExpOp: FloatUnary {
    static func f(_ x: Float) -> Float { exp(x) }
    static func d(_ x: Double) -> Double { exp(x) }
}
private enum SqrtOp: FloatUnary {
    static func f(_ x: Float) -> Float { x.squareRoot() }
    static func d(_ x: Double) -> Double { x.squareRoot() }
}
private enum ReciprocalOp: FloatUnary {
    static func f(_ x: Float) -> Float { 1 / x }
    static func d(_ x: Double) -> Double { 1 / x }
}

private func unary<Op: FloatUnary>(_ op: String, _: Op.Type, int i: (@Sendable (Int64) -> Int64)? = nil) -> ONNXOperatorFactory {
    { _ in
        { inputs, _ in
            let x = try tensorInput(inputs, 0)
            switch x.storage {
            case .float(let v): return [.tensor(ONNXArray(shape: x.shape, storage: .float(ONNXK.map(v) { Op.f($0) })))]
            case .double(let v): return [.tensor(ONNXArray(shape: x.shape, storage: .double(ONNXK.map(v) { Op.d($0) })))]
            case .int64(let v):
                if let i { return [.tensor(ONNXArray(shape: x.shape, storage: .int64(ONNXK.map(v, i))))] }
            default: break
            }
            throw ONNXRunError("\(op) takes \(i == nil ? "float or double" : "numeric") input, not \(x.elementType.name)")
        }
    }
}

/// Both inputs of a binary operator, checked to hold one element type.
private func sameTyped(_ op: String, _ inputs: [ONNXValue?]) throws -> (ONNXArray, ONNXArray) {
    let a = try tensorInput(inputs, 0), b = try tensorInput(inputs, 1)
    guard a.elementType == b.elementType else {
        throw ONNXRunError("\(op) takes inputs of one element type, not \(a.elementType.name) and \(b.elementType.name)")
    }
    return (a, b)
}

private enum Arithmetic: Sendable { case add, sub, mul, div }

/// a op b for floating point, each operation its own inlined loop.
@inline(__always)
private func arithmetic<T: FloatingPoint>(_ k: Arithmetic, _ x: [T], _ sx: [Int], _ y: [T], _ sy: [Int]) throws -> ([T], [Int]) {
    switch k {
    case .add: try ONNXK.binary(x, sx, y, sy) { $0 + $1 }
    case .sub: try ONNXK.binary(x, sx, y, sy) { $0 - $1 }
    case .mul: try ONNXK.binary(x, sx, y, sy) { $0 * $1 }
    case .div: try ONNXK.binary(x, sx, y, sy) { $0 / $1 }
    }
}

private func arithmetic(_ op: String, _ k: Arithmetic) -> ONNXOperatorFactory {
    { _ in
        { inputs, _ in
            let (a, b) = try sameTyped(op, inputs)
            switch (a.storage, b.storage) {
            case (.float(let x), .float(let y)):
                let (r, s) = try arithmetic(k, x, a.shape, y, b.shape)
                return [.tensor(ONNXArray(shape: s, storage: .float(r)))]
            case (.double(let x), .double(let y)):
                let (r, s) = try arithmetic(k, x, a.shape, y, b.shape)
                return [.tensor(ONNXArray(shape: s, storage: .double(r)))]
            case (.int64(let x), .int64(let y)):
                // Integers wrap (as int64); division truncates toward zero and refuses zero.
                let (r, s): ([Int64], [Int])
                switch k {
                case .add: (r, s) = try ONNXK.binary(x, a.shape, y, b.shape) { $0 &+ $1 }
                case .sub: (r, s) = try ONNXK.binary(x, a.shape, y, b.shape) { $0 &- $1 }
                case .mul: (r, s) = try ONNXK.binary(x, a.shape, y, b.shape) { $0 &* $1 }
                case .div:
                    if y.contains(0) { throw ONNXRunError("Div: integer division by zero") }
                    (r, s) = try ONNXK.binary(x, a.shape, y, b.shape) { $1 == -1 ? 0 &- $0 : $0 / $1 }
                }
                return [.tensor(ONNXArray(shape: s, storage: .int64(r)))]
            default:
                throw ONNXRunError("\(op) takes numeric inputs, not \(a.elementType.name)")
            }
        }
    }
}

private func comparison(_ op: String, _ f: @escaping @Sendable (Double, Double) -> Bool, strings: Bool = false, bools: Bool = false) -> ONNXOperatorFactory {
    { _ in
        { inputs, _ in
            let (a, b) = try sameTyped(op, inputs)
            let r: [Bool], s: [Int]
            switch (a.storage, b.storage) {
            case (.float(let x), .float(let y)): (r, s) = try ONNXK.binary(x, a.shape, y, b.shape) { f(Double($0), Double($1)) }
            case (.double(let x), .double(let y)): (r, s) = try ONNXK.binary(x, a.shape, y, b.shape, f)
            // Exact on int64 (no rounding through Double).
            case (.int64(let x), .int64(let y)):
                (r, s) = try ONNXK.binary(x, a.shape, y, b.shape) { $0 == $1 ? f(0, 0) : ($0 < $1 ? f(0, 1) : f(1, 0)) }
            case (.bool(let x), .bool(let y)) where bools:
                (r, s) = try ONNXK.binary(x, a.shape, y, b.shape) { f($0 ? 1 : 0, $1 ? 1 : 0) }
            case (.string(let x), .string(let y)) where strings:
                (r, s) = try ONNXK.binary(x, a.shape, y, b.shape) { $0 == $1 }
            default:
                throw ONNXRunError("\(op) does not take \(a.elementType.name) inputs")
            }
            return [.tensor(ONNXArray(shape: s, storage: .bool(r)))]
        }
    }
}

private func logic(_ op: String, _ f: @escaping @Sendable (Bool, Bool) -> Bool) -> ONNXOperatorFactory {
    { _ in
        { inputs, _ in
            let (a, b) = try sameTyped(op, inputs)
            guard let x = a.bools, let y = b.bools else { throw ONNXRunError("\(op) takes bool inputs, not \(a.elementType.name)") }
            let (r, s) = try ONNXK.binary(x, a.shape, y, b.shape, f)
            return [.tensor(ONNXArray(shape: s, storage: .bool(r)))]
        }
    }
}

/// Max, Min, Sum, Mean: any number of broadcast inputs of one numeric type.
private func variadic(_ op: String, _ f: @escaping @Sendable (Float, Float) -> Float, _ d: @escaping @Sendable (Double, Double) -> Double,
                      _ i: (@Sendable (Int64, Int64) -> Int64)?, mean: Bool = false) -> ONNXOperatorFactory {
    { ctx in
        let n = ctx.node.inputs.count
        guard n >= 1 else { throw ONNXRunError("\(op) needs at least one input") }
        return { inputs, _ in
            var acc = try tensorInput(inputs, 0)
            for k in 1..<max(n, 1) {
                let b = try tensorInput(inputs, k)
                guard b.elementType == acc.elementType else {
                    throw ONNXRunError("\(op) takes inputs of one element type, not \(acc.elementType.name) and \(b.elementType.name)")
                }
                switch (acc.storage, b.storage) {
                case (.float(let x), .float(let y)):
                    let (r, s) = try ONNXK.binary(x, acc.shape, y, b.shape, f); acc = ONNXArray(shape: s, storage: .float(r))
                case (.double(let x), .double(let y)):
                    let (r, s) = try ONNXK.binary(x, acc.shape, y, b.shape, d); acc = ONNXArray(shape: s, storage: .double(r))
                case (.int64(let x), .int64(let y)) where i != nil:
                    let (r, s) = try ONNXK.binary(x, acc.shape, y, b.shape, i!); acc = ONNXArray(shape: s, storage: .int64(r))
                default:
                    throw ONNXRunError("\(op) does not take \(b.elementType.name) inputs")
                }
            }
            switch acc.storage {
            case .float(let v): if mean { acc.storage = .float(v.map { $0 / Float(n) }) }
            case .double(let v): if mean { acc.storage = .double(v.map { $0 / Double(n) }) }
            case .int64: break
            default: throw ONNXRunError("\(op) does not take \(acc.elementType.name) inputs")
            }
            return [.tensor(acc)]
        }
    }
}

@inline(__always) private func fmaxNaN(_ a: Float, _ b: Float) -> Float { a.isNaN || b.isNaN ? .nan : Swift.max(a, b) }
@inline(__always) private func fminNaN(_ a: Float, _ b: Float) -> Float { a.isNaN || b.isNaN ? .nan : Swift.min(a, b) }
@inline(__always) private func dmaxNaN(_ a: Double, _ b: Double) -> Double { a.isNaN || b.isNaN ? .nan : Swift.max(a, b) }
@inline(__always) private func dminNaN(_ a: Double, _ b: Double) -> Double { a.isNaN || b.isNaN ? .nan : Swift.min(a, b) }

@inline(__always) private func sign<T: SignedNumeric & Comparable>(_ x: T) -> T { x > 0 ? 1 : (x < 0 ? -1 : 0) }

/// Integer power by squaring (wrapping); a negative exponent gives 0 unless the base is ±1.
private func ipow(_ b: Int64, _ e: Int64) -> Int64 {
    if e < 0 { return b == 1 ? 1 : (b == -1 ? (e & 1 == 0 ? 1 : -1) : 0) }
    var r: Int64 = 1, x = b, n = e
    while n > 0 { if n & 1 == 1 { r = r &* x }; x = x &* x; n >>= 1 }
    return r
}

private func softplus(_ x: Double) -> Double { x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }

let standardMathOperators: [String: ONNXOperatorFactory] = [
    "Abs": unary("Abs", AbsOp.self, int: { $0 == .min ? .min : abs($0) }),
    "Neg": unary("Neg", NegOp.self, int: { 0 &- $0 }),
    "Sign": unary("Sign", { $0.isNaN ? $0 : sign($0) }, { $0.isNaN ? $0 : sign($0) }, int: { sign($0) }),
    "Exp": unary("Exp", ExpOp.self),
    "Log": unary("Log", { log($0) }, { log($0) }),
    "Sqrt": unary("Sqrt", SqrtOp.self),
    "Reciprocal": unary("Reciprocal", ReciprocalOp.self),
    "Floor": unary("Floor", { floor($0) }, { floor($0) }),
    "Ceil": unary("Ceil", { ceil($0) }, { ceil($0) }),
    "Erf": unary("Erf", { erf($0) }, { erf($0) }),
    "Tanh": unary("Tanh", TanhOp.self),
    "Sigmoid": unary("Sigmoid", SigmoidOp.self),
    "Relu": unary("Relu", ReluOp.self, int: { max($0, 0) }),
    "Softplus": unary("Softplus", { Float(softplus(Double($0))) }, softplus),
    "LeakyRelu": { ctx in
        let alpha = try ctx.float("alpha", 0.01)
        return try unary("LeakyRelu", { $0 >= 0 ? $0 : alpha * $0 }, { $0 >= 0 ? $0 : Double(alpha) * $0 })(ctx)
    },
    "Elu": { ctx in
        let alpha = try ctx.float("alpha", 1)
        return try unary("Elu", { $0 >= 0 ? $0 : alpha * (exp($0) - 1) }, { $0 >= 0 ? $0 : Double(alpha) * (exp($0) - 1) })(ctx)
    },
    "Gelu": { ctx in
        let approx = try ctx.string("approximate", "none")
        switch approx {
        case "none":
            return try unary("Gelu", { 0.5 * $0 * (1 + erf($0 * Float(0.5).squareRoot())) },
                             { 0.5 * $0 * (1 + erf($0 * (0.5).squareRoot())) })(ctx)
        case "tanh":
            let c = (2 / Double.pi).squareRoot()
            return try unary("Gelu", { 0.5 * $0 * (1 + tanh(Float(c) * ($0 + 0.044715 * $0 * $0 * $0))) },
                             { 0.5 * $0 * (1 + tanh(c * ($0 + 0.044715 * $0 * $0 * $0))) })(ctx)
        default: throw ONNXRunError("attribute 'approximate' must be none or tanh, not '\(approx)'")
        }
    },
    "IsNaN": { _ in
        { inputs, _ in
            let x = try tensorInput(inputs, 0)
            switch x.storage {
            case .float(let v): return [.tensor(ONNXArray(shape: x.shape, storage: .bool(v.map(\.isNaN))))]
            case .double(let v): return [.tensor(ONNXArray(shape: x.shape, storage: .bool(v.map(\.isNaN))))]
            default: throw ONNXRunError("IsNaN takes float or double input, not \(x.elementType.name)")
            }
        }
    },
    "IsInf": { ctx in
        let neg = try ctx.int("detect_negative", 1) != 0, pos = try ctx.int("detect_positive", 1) != 0
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let test: (Double) -> Bool = { $0.isInfinite && ($0 > 0 ? pos : neg) }
            switch x.storage {
            case .float(let v): return [.tensor(ONNXArray(shape: x.shape, storage: .bool(v.map { test(Double($0)) })))]
            case .double(let v): return [.tensor(ONNXArray(shape: x.shape, storage: .bool(v.map(test))))]
            default: throw ONNXRunError("IsInf takes float or double input, not \(x.elementType.name)")
            }
        }
    },
    "Not": { _ in
        { inputs, _ in
            let x = try tensorInput(inputs, 0)
            guard let v = x.bools else { throw ONNXRunError("Not takes bool input, not \(x.elementType.name)") }
            return [.tensor(ONNXArray(shape: x.shape, storage: .bool(v.map { !$0 })))]
        }
    },

    "Add": arithmetic("Add", .add),
    "Sub": arithmetic("Sub", .sub),
    "Mul": arithmetic("Mul", .mul),
    "Div": arithmetic("Div", .div),
    "Pow": { _ in
        { inputs, _ in
            let a = try tensorInput(inputs, 0), b = try tensorInput(inputs, 1)
            // The exponent may have another numeric type than the base.
            switch a.storage {
            case .float(let x):
                guard let y = b.asFloats, b.elementType != .bool else { throw ONNXRunError("Pow's exponent must be numeric, not \(b.elementType.name)") }
                let (r, s) = try ONNXK.binary(x, a.shape, y, b.shape) { pow($0, $1) }
                return [.tensor(ONNXArray(shape: s, storage: .float(r)))]
            case .double(let x):
                let y: [Double]
                switch b.storage {
                case .double(let v): y = v
                case .float(let v): y = v.map(Double.init)
                case .int64(let v): y = v.map(Double.init)
                default: throw ONNXRunError("Pow's exponent must be numeric, not \(b.elementType.name)")
                }
                let (r, s) = try ONNXK.binary(x, a.shape, y, b.shape) { pow($0, $1) }
                return [.tensor(ONNXArray(shape: s, storage: .double(r)))]
            case .int64(let x):
                switch b.storage {
                case .int64(let y):
                    let (r, s) = try ONNXK.binary(x, a.shape, y, b.shape, ipow)
                    return [.tensor(ONNXArray(shape: s, storage: .int64(r)))]
                case .float, .double:
                    let y: [Double] = b.doubles ?? (b.floats ?? []).map(Double.init)
                    let (r, s) = try ONNXK.binary(x, a.shape, y, b.shape) { onnxInt64(pow(Double($0), $1)) }
                    return [.tensor(ONNXArray(shape: s, storage: .int64(r)))]
                default: throw ONNXRunError("Pow's exponent must be numeric, not \(b.elementType.name)")
                }
            default: throw ONNXRunError("Pow takes numeric input, not \(a.elementType.name)")
            }
        }
    },

    "Equal": comparison("Equal", { $0 == $1 }, strings: true, bools: true),
    "Greater": comparison("Greater") { $0 > $1 },
    "Less": comparison("Less") { $0 < $1 },
    "GreaterOrEqual": comparison("GreaterOrEqual") { $0 >= $1 },
    "LessOrEqual": comparison("LessOrEqual") { $0 <= $1 },
    "And": logic("And") { $0 && $1 },
    "Or": logic("Or") { $0 || $1 },
    "Xor": logic("Xor") { $0 != $1 },

    "Max": variadic("Max", fmaxNaN, dmaxNaN, { Swift.max($0, $1) }),
    "Min": variadic("Min", fminNaN, dminNaN, { Swift.min($0, $1) }),
    "Sum": variadic("Sum", { $0 + $1 }, { $0 + $1 }, { $0 &+ $1 }),
    "Mean": variadic("Mean", { $0 + $1 }, { $0 + $1 }, nil, mean: true),

    "Where": { _ in
        { inputs, _ in
            let c = try tensorInput(inputs, 0), x = try tensorInput(inputs, 1), y = try tensorInput(inputs, 2)
            guard let cond = c.bools else { throw ONNXRunError("Where's condition must be bool, not \(c.elementType.name)") }
            guard x.elementType == y.elementType else {
                throw ONNXRunError("Where takes X and Y of one element type, not \(x.elementType.name) and \(y.elementType.name)")
            }
            let out = try ONNXK.broadcastShape(try ONNXK.broadcastShape(c.shape, x.shape), y.shape)
            _ = try ONNXK.count(out)
            let cc = try ONNXK.expand(cond, c.shape, to: out)
            let xe = try x.moved(out, ExpandMover(from: x.shape, to: out)), ye = try y.moved(out, ExpandMover(from: y.shape, to: out))
            struct Choose: ElementMover {
                let cond: [Bool], other: ONNXArray.Storage
                func move<T>(_ v: [T]) throws -> [T] {
                    let o: [T]
                    switch other {
                    case .float(let w): o = w as! [T]
                    case .double(let w): o = w as! [T]
                    case .int64(let w): o = w as! [T]
                    case .bool(let w): o = w as! [T]
                    case .string(let w): o = w as! [T]
                    }
                    return (0..<v.count).map { cond[$0] ? v[$0] : o[$0] }
                }
            }
            return [.tensor(try xe.moved(out, Choose(cond: cc, other: ye.storage)))]
        }
    },

    "Clip": { ctx in
        // Before opset 11 the bounds are attributes; from 11 they are optional inputs.
        let attrLo = try ctx.float("min", -.infinity), attrHi = try ctx.float("max", .infinity)
        let fromInputs = ctx.opset >= 11
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            func bound(_ i: Int) throws -> ONNXArray? {
                guard fromInputs, i < inputs.count, inputs[i] != nil else { return nil }
                let b = try tensorInput(inputs, i)
                guard b.elementType == x.elementType else { throw ONNXRunError("Clip's bounds must be \(x.elementType.name), not \(b.elementType.name)") }
                guard b.count == 1 else { throw ONNXRunError("Clip's bounds must be scalars, not of shape \(b.shape)") }
                return b
            }
            let lo = try bound(1), hi = try bound(2)
            switch x.storage {
            case .float(let v):
                let l = fromInputs ? (lo?.floats?[0] ?? -.infinity) : attrLo, h = fromInputs ? (hi?.floats?[0] ?? .infinity) : attrHi
                return [.tensor(ONNXArray(shape: x.shape, storage: .float(v.map { $0.isNaN ? $0 : Swift.min(Swift.max($0, l), h) })))]
            case .double(let v):
                let l = fromInputs ? (lo?.doubles?[0] ?? -.infinity) : Double(attrLo), h = fromInputs ? (hi?.doubles?[0] ?? .infinity) : Double(attrHi)
                return [.tensor(ONNXArray(shape: x.shape, storage: .double(v.map { $0.isNaN ? $0 : Swift.min(Swift.max($0, l), h) })))]
            case .int64(let v) where fromInputs:
                let l = lo?.int64s?[0] ?? .min, h = hi?.int64s?[0] ?? .max
                return [.tensor(ONNXArray(shape: x.shape, storage: .int64(v.map { Swift.min(Swift.max($0, l), h) })))]
            default:
                throw ONNXRunError("Clip takes numeric input, not \(x.elementType.name)")
            }
        }
    },
]
