import Support

// Run-time values of the ONNX executor: dense tensors of the element types the supported
// operators use, and the sequence-of-maps that ZipMap produces.

/// A dense tensor at run time: a shape and row-major elements of one type.
public struct ONNXArray: Sendable, Equatable {
    public enum Storage: Sendable, Equatable {
        case float([Float])
        case double([Double])
        /// int64 and every narrower integer type (int8…int32, uint8…uint32), widened.
        case int64([Int64])
        case bool([Bool])
        case string([String])
    }

    public var shape: [Int]
    public var storage: Storage

    public init(shape: [Int], storage: Storage) {
        self.shape = shape; self.storage = storage
    }
    public init(floats: [Float], shape: [Int]) { self.init(shape: shape, storage: .float(floats)) }
    public init(int64s: [Int64], shape: [Int]) { self.init(shape: shape, storage: .int64(int64s)) }
    public init(strings: [String], shape: [Int]) { self.init(shape: shape, storage: .string(strings)) }

    /// Elements the shape describes (1 for a scalar).
    /// Never traps: a shape whose product overflows (only constructible by hand; the executor
    /// checks every shape it makes) counts as Int.max.
    public var count: Int {
        var n = 1
        for d in shape {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            if o { return d == 0 || shape.contains(0) ? 0 : Int.max }
            n = p
        }
        return n
    }
    /// Bytes one element of the storage takes (a string counts 16, its inline size).
    public var elementWidth: Int {
        switch storage {
        case .float: 4
        case .double, .int64: 8
        case .bool: 1
        case .string: 16
        }
    }
    public var rank: Int { shape.count }

    /// The ONNX element type of the storage (int64 for the widened integer storage).
    public var elementType: ONNXElementType {
        switch storage {
        case .float: .float
        case .double: .double
        case .int64: .int64
        case .bool: .bool
        case .string: .string
        }
    }

    public var floats: [Float]? { if case .float(let v) = storage { return v }; return nil }
    public var doubles: [Double]? { if case .double(let v) = storage { return v }; return nil }
    public var int64s: [Int64]? { if case .int64(let v) = storage { return v }; return nil }
    public var bools: [Bool]? { if case .bool(let v) = storage { return v }; return nil }
    public var strings: [String]? { if case .string(let v) = storage { return v }; return nil }

    /// The elements as Float (numeric and bool storage), else nil.
    public var asFloats: [Float]? {
        switch storage {
        case .float(let v): v
        case .double(let v): v.map { Float($0) }
        case .int64(let v): v.map { Float($0) }
        case .bool(let v): v.map { $0 ? 1 : 0 }
        case .string: nil
        }
    }

    /// The elements as Int64 (integer and bool storage; floats truncated toward zero), else nil.
    public var asInt64s: [Int64]? {
        switch storage {
        case .int64(let v): v
        case .bool(let v): v.map { $0 ? 1 : 0 }
        case .float(let v): v.allSatisfy({ $0.isFinite && abs($0) < 9.2e18 }) ? v.map { Int64($0) } : nil
        case .double(let v): v.allSatisfy({ $0.isFinite && abs($0) < 9.2e18 }) ? v.map { Int64($0) } : nil
        case .string: nil
        }
    }

    /// A constant tensor from the file, converted to run-time storage.
    public init(_ t: ONNXTensor) throws {
        var shape: [Int] = []
        for d in t.dims {
            guard d >= 0, d <= Int64(ONNXModel.maxTensorElements) else { throw ONNXRunError("tensor '\(t.name)' has a bad dimension \(d)") }
            shape.append(Int(d))
        }
        var count = 1
        // The non-zero dimensions' product is bounded even when one is 0 (see ONNXK.count).
        for d in shape where d != 0 {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o, p <= ONNXModel.maxTensorElements else { throw ONNXRunError("tensor '\(t.name)' is too large") }
            count = p
        }
        if shape.contains(0) { count = 0 }
        let type = ONNXElementType(rawValue: t.dataType)
        func need(_ n: Int) throws {
            guard n == count else { throw ONNXRunError("tensor '\(t.name)' has \(n) values for shape \(shape)") }
        }
        switch t.values {
        case .floats(let v):
            try need(v.count)
            storage = .float(v)
        case .doubles(let v):
            try need(v.count)
            storage = .double(v)
        case .ints(let v):
            try need(v.count)
            storage = type == .bool ? .bool(v.map { $0 != 0 }) : .int64(v)
        case .strings(let v):
            try need(v.count)
            storage = .string(v.map { String(decoding: $0, as: UTF8.self) })
        case .raw(let b):
            guard let type else { throw ONNXRunError("tensor '\(t.name)' has element type \(t.dataType), which mlrepo does not run") }
            storage = try ONNXArray.decodeRaw(b, type: type, count: count, name: t.name)
        }
        self.shape = shape
    }

    static func decodeRaw(_ b: [UInt8], type: ONNXElementType, count: Int, name: String) throws -> Storage {
        let width: Int
        switch type {
        case .float, .int32, .uint32: width = 4
        case .double, .int64, .uint64: width = 8
        case .int16, .uint16, .float16, .bfloat16: width = 2
        case .int8, .uint8, .bool: width = 1
        case .string: throw ONNXRunError("tensor '\(name)' stores strings as raw bytes")
        }
        guard b.count == count * width else {
            throw ONNXRunError("tensor '\(name)' has \(b.count) bytes, not \(count * width) for \(count) \(type.name) values")
        }
        func u(_ i: Int, _ w: Int) -> UInt64 {
            var x: UInt64 = 0
            for k in 0..<w { x |= UInt64(b[i * w + k]) << (8 * k) }
            return x
        }
        switch type {
        case .float: return .float((0..<count).map { Float(bitPattern: UInt32(u($0, 4))) })
        case .double: return .double((0..<count).map { Double(bitPattern: u($0, 8)) })
        case .float16: return .float((0..<count).map { Float(Float16(bitPattern: UInt16(u($0, 2)))) })
        case .bfloat16: return .float((0..<count).map { Float(bitPattern: UInt32(u($0, 2)) << 16) })
        case .int64: return .int64((0..<count).map { Int64(bitPattern: u($0, 8)) })
        case .uint64: return .int64((0..<count).map { Int64(bitPattern: u($0, 8)) })
        case .int32: return .int64((0..<count).map { Int64(Int32(bitPattern: UInt32(u($0, 4)))) })
        case .uint32: return .int64((0..<count).map { Int64(u($0, 4)) })
        case .int16: return .int64((0..<count).map { Int64(Int16(bitPattern: UInt16(u($0, 2)))) })
        case .uint16: return .int64((0..<count).map { Int64(u($0, 2)) })
        case .int8: return .int64((0..<count).map { Int64(Int8(bitPattern: UInt8(u($0, 1)))) })
        case .uint8: return .int64((0..<count).map { Int64(u($0, 1)) })
        case .bool: return .bool((0..<count).map { u($0, 1) != 0 })
        case .string: fatalError("unreachable")
        }
    }
}

/// A value flowing between nodes.
public enum ONNXValue: Sendable, Equatable {
    case tensor(ONNXArray)
    /// A sequence of maps (ZipMap's output: one map per row, class label → probability).
    /// Keys are int64 or string, values float.
    case mapSequence(keys: ONNXArray, rows: [[Float]])

    public var tensor: ONNXArray? { if case .tensor(let t) = self { return t }; return nil }

    /// Bytes of storage the value takes, as the executor's budgets count them: elements ×
    /// element width (a string counts 16 bytes; its characters are not counted).
    public var storageBytes: Int {
        switch self {
        case .tensor(let t):
            let (b, o) = t.count.multipliedReportingOverflow(by: t.elementWidth)
            return o ? Int.max : b
        case .mapSequence(let keys, let rows):
            return keys.count * keys.elementWidth + rows.count * keys.count * 4
        }
    }
}

/// A failure while loading or running an ONNX graph, one line (the executor prefixes the node).
public struct ONNXRunError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
