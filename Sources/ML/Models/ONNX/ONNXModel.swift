import Support

// The structure of an ONNX file (onnx/onnx.proto: ModelProto, GraphProto, NodeProto,
// TensorProto, ValueInfoProto, AttributeProto), decoded with `ProtobufReader`. Every size is
// checked against the bytes that hold it before anything is allocated; nested graphs (the
// bodies of If, Loop and Scan) are bounded by `ONNXModel.maxGraphDepth`.
//
// This is the first step of running ONNX models on the compute core (issue 15): decoding and
// inspection. Execution comes next.

/// ONNX's tensor element types (TensorProto.DataType), the ones mlrepo names.
public enum ONNXElementType: Int32, Sendable, CaseIterable {
    case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, string = 8,
         bool = 9, float16 = 10, double = 11, uint32 = 12, uint64 = 13, bfloat16 = 16

    public var name: String { "\(self)" }
}

/// A constant tensor (an initializer, or an attribute's value).
public struct ONNXTensor: Equatable, Sendable {
    public enum Values: Equatable, Sendable {
        case floats([Float])
        case doubles([Double])
        /// int64, and the integer types ONNX stores in int32_data (int32, int16, int8, uint16,
        /// uint8, bool), widened.
        case ints([Int64])
        case strings([[UInt8]])
        /// Any other type: the little-endian bytes as stored (raw_data).
        case raw([UInt8])
    }

    public var name: String
    /// `ONNXElementType` raw value (kept as read: an unknown type is not an error here).
    public var dataType: Int32
    public var dims: [Int64]
    public var values: Values

    /// The number of elements the dims describe.
    /// Never traps: 0 when a dimension is 0, Int.max when the product overflows.
    public var count: Int {
        if dims.contains(0) { return 0 }
        var n = 1
        for d in dims {
            let (p, o) = n.multipliedReportingOverflow(by: Int(d))
            if o { return Int.max }
            n = p
        }
        return n
    }
}

/// One dimension of a declared shape: a size, a symbolic name (`N`), or unknown.
public enum ONNXDimension: Equatable, Sendable {
    case size(Int64)
    case symbol(String)
    case unknown
}

/// A graph input or output: its name and declared type.
public struct ONNXValueInfo: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case tensor, sequence, map, optional, other }
    public var name: String
    public var kind: Kind
    /// For tensors: the element type (`ONNXElementType` raw value), when declared.
    public var elementType: Int32?
    /// For tensors: the shape, when declared.
    public var shape: [ONNXDimension]?
}

/// A node attribute.
public struct ONNXAttribute: Equatable, Sendable {
    public enum Value: Equatable, Sendable {
        case float(Float)
        case int(Int64)
        case string([UInt8])
        case tensor(ONNXTensor)
        case graph(ONNXGraph)
        case floats([Float])
        case ints([Int64])
        case strings([[UInt8]])
        case tensors([ONNXTensor])
        case graphs([ONNXGraph])
    }
    public var name: String
    public var value: Value
}

/// One operator application.
public struct ONNXNode: Equatable, Sendable {
    public var name: String
    public var opType: String
    /// "" is the default domain, ai.onnx.
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [ONNXAttribute]

    public func attribute(_ name: String) -> ONNXAttribute.Value? { attributes.first { $0.name == name }?.value }
}

public struct ONNXGraph: Equatable, Sendable {
    public var name: String = ""
    public var nodes: [ONNXNode] = []
    public var initializers: [ONNXTensor] = []
    public var inputs: [ONNXValueInfo] = []
    public var outputs: [ONNXValueInfo] = []
    public var valueInfo: [ONNXValueInfo] = []

    /// The inputs a caller feeds: the declared inputs that are not initializers (IR < 4 lists
    /// initializers among the inputs too).
    public var feedInputs: [ONNXValueInfo] {
        let constants = Set(initializers.map(\.name))
        return inputs.filter { !constants.contains($0.name) }
    }
}

public struct ONNXModel: Equatable, Sendable {
    public var irVersion: Int64 = 0
    /// Operator sets: domain ("" for ai.onnx) and version.
    public var opsets: [(domain: String, version: Int64)] = []
    public var producerName = ""
    public var producerVersion = ""
    public var domain = ""
    public var modelVersion: Int64 = 0
    public var docString = ""
    /// metadata_props, in file order (a later duplicate key wins in `metadata`).
    public var metadataProps: [(key: String, value: String)] = []
    public var graph = ONNXGraph()

    public var metadata: [String: String] {
        var m: [String: String] = [:]
        for (k, v) in metadataProps { m[k] = v }
        return m
    }

    /// The version of operator set `domain` ("" and "ai.onnx" are the same), if imported.
    public func opsetVersion(_ domain: String) -> Int64? {
        let d = domain == "ai.onnx" ? "" : domain
        return opsets.first { ($0.domain == "ai.onnx" ? "" : $0.domain) == d }?.version
    }

    public static func == (a: ONNXModel, b: ONNXModel) -> Bool {
        a.irVersion == b.irVersion && a.opsets.elementsEqual(b.opsets, by: { $0.domain == $1.domain && $0.version == $1.version })
            && a.producerName == b.producerName && a.producerVersion == b.producerVersion && a.domain == b.domain
            && a.modelVersion == b.modelVersion && a.docString == b.docString
            && a.metadataProps.elementsEqual(b.metadataProps, by: { $0.key == $1.key && $0.value == $1.value })
            && a.graph == b.graph
    }

    /// Graphs nested in attributes (If/Loop/Scan bodies) deeper than this are refused.
    public static let maxGraphDepth = 16
    /// Elements of one constant tensor (2^31: 8 GiB of float32), and dims of one shape.
    public static let maxTensorElements = 1 << 31
    /// Bytes of storage one run-time tensor may take (elements × element width; a string
    /// element counts 16 bytes): 1 GiB.
    public static let maxTensorBytes = 1 << 30
    /// Bytes of run-time values (inputs and computed tensors) one run may hold live at once,
    /// counted as slots are filled and freed: 4 GiB.
    public static let maxRunBytes = 1 << 32
    public static let maxRank = 64

    /// Reads and decodes the ONNX file at `path`; errors name it as `shownAs` (default `path`).
    public static func load(path: String, shownAs: String? = nil) throws -> ONNXModel {
        let bytes: [UInt8]
        let name = shownAs ?? path
        // Protobuf messages are limited to 2 GiB; larger models keep weights in external files.
        if let st = FS.stat(path), st.isRegular, st.size > UInt64(Int32.max) {
            throw MLError.onnx(path: name, reason: "\(st.size) bytes is over ONNX's 2 GiB limit for one file")
        }
        do { bytes = try FS.readFile(path) } catch let e as SystemError {
            throw MLError.unreadable(path: name, reason: e.message)
        }
        return try decode(bytes, path: name)
    }

    /// Decodes a serialized ModelProto. `path` names the file in errors.
    public static func decode(_ bytes: [UInt8], path: String? = nil) throws -> ONNXModel {
        do {
            return try bytes.withUnsafeBytes { buf in
                var d = ONNXDecoder(buffer: buf)
                return try d.model()
            }
        } catch let e as ProtobufError {
            throw MLError.onnx(path: path, reason: e.description)
        }
    }
}

/// The decoder proper; `depth` counts graphs nested in attributes.
struct ONNXDecoder {
    let buffer: UnsafeRawBufferPointer

    func fail(_ r: ProtobufReader, _ reason: String) -> ProtobufError { ProtobufError(offset: r.offset, reason) }

    func expectBytes(_ v: ProtobufValue, _ r: ProtobufReader, _ what: String) throws -> Range<Int> {
        guard case .bytes(let range) = v else { throw fail(r, "\(what): wrong wire type") }
        return range
    }

    func expectInt(_ v: ProtobufValue, _ r: ProtobufReader, _ what: String) throws -> Int64 {
        guard case .varint(let x) = v else { throw fail(r, "\(what): wrong wire type") }
        return Int64(bitPattern: x)
    }

    mutating func model() throws -> ONNXModel {
        var r = ProtobufReader(buffer)
        var m = ONNXModel()
        var sawGraph = false
        while let (f, v) = try r.next() {
            switch f {
            case 1: m.irVersion = try expectInt(v, r, "ir_version")
            case 2: m.producerName = r.string(try expectBytes(v, r, "producer_name"))
            case 3: m.producerVersion = r.string(try expectBytes(v, r, "producer_version"))
            case 4: m.domain = r.string(try expectBytes(v, r, "domain"))
            case 5: m.modelVersion = try expectInt(v, r, "model_version")
            case 6: m.docString = r.string(try expectBytes(v, r, "doc_string"))
            case 7:
                m.graph = try graph(r.nested(try expectBytes(v, r, "graph")), depth: 0)
                sawGraph = true
            case 8:
                var o = r.nested(try expectBytes(v, r, "opset_import"))
                var domain = "", version: Int64 = 0
                while let (g, w) = try o.next() {
                    if g == 1 { domain = o.string(try expectBytes(w, o, "opset_import.domain")) }
                    if g == 2 { version = try expectInt(w, o, "opset_import.version") }
                }
                m.opsets.append((domain, version))
            case 14:
                var p = r.nested(try expectBytes(v, r, "metadata_props"))
                var key = "", value = ""
                while let (g, w) = try p.next() {
                    if g == 1 { key = p.string(try expectBytes(w, p, "metadata_props.key")) }
                    if g == 2 { value = p.string(try expectBytes(w, p, "metadata_props.value")) }
                }
                m.metadataProps.append((key, value))
            default: break   // training_info, functions, …: not needed to run the graph
            }
        }
        guard sawGraph else { throw ProtobufError(offset: 0, "no graph (is this an ONNX model file?)") }
        guard m.irVersion >= 3 else { throw ProtobufError(offset: 0, "IR version \(m.irVersion) is older than 3") }
        return m
    }

    func graph(_ reader: ProtobufReader, depth: Int) throws -> ONNXGraph {
        guard depth <= ONNXModel.maxGraphDepth else {
            throw fail(reader, "graphs nested more than \(ONNXModel.maxGraphDepth) deep")
        }
        var r = reader
        var g = ONNXGraph()
        while let (f, v) = try r.next() {
            switch f {
            case 1: g.nodes.append(try node(r.nested(try expectBytes(v, r, "node")), depth: depth))
            case 2: g.name = r.string(try expectBytes(v, r, "graph.name"))
            case 5: g.initializers.append(try tensor(r.nested(try expectBytes(v, r, "initializer"))))
            case 11: g.inputs.append(try valueInfo(r.nested(try expectBytes(v, r, "input"))))
            case 12: g.outputs.append(try valueInfo(r.nested(try expectBytes(v, r, "output"))))
            case 13: g.valueInfo.append(try valueInfo(r.nested(try expectBytes(v, r, "value_info"))))
            default: break   // doc_string, sparse_initializer, quantization annotations
            }
        }
        return g
    }

    func node(_ reader: ProtobufReader, depth: Int) throws -> ONNXNode {
        var r = reader
        var n = ONNXNode(name: "", opType: "", domain: "", inputs: [], outputs: [], attributes: [])
        while let (f, v) = try r.next() {
            switch f {
            case 1: n.inputs.append(r.string(try expectBytes(v, r, "node.input")))
            case 2: n.outputs.append(r.string(try expectBytes(v, r, "node.output")))
            case 3: n.name = r.string(try expectBytes(v, r, "node.name"))
            case 4: n.opType = r.string(try expectBytes(v, r, "node.op_type"))
            case 5: n.attributes.append(try attribute(r.nested(try expectBytes(v, r, "node.attribute")), depth: depth))
            case 7: n.domain = r.string(try expectBytes(v, r, "node.domain"))
            default: break
            }
        }
        guard !n.opType.isEmpty else { throw fail(reader, "a node without op_type") }
        return n
    }

    func attribute(_ reader: ProtobufReader, depth: Int) throws -> ONNXAttribute {
        var r = reader
        var name = ""
        var type: Int64 = 0
        var f32: Float? = nil, i64: Int64? = nil, str: [UInt8]? = nil
        var t: ONNXTensor? = nil, g: ONNXGraph? = nil
        var floats: [Float] = [], ints: [Int64] = [], strings: [[UInt8]] = []
        var tensors: [ONNXTensor] = [], graphs: [ONNXGraph] = []
        let limit = ONNXModel.maxTensorElements
        while let (f, v) = try r.next() {
            switch f {
            case 1: name = r.string(try expectBytes(v, r, "attribute.name"))
            case 2:
                guard case .fixed32(let x) = v else { throw fail(r, "attribute.f: wrong wire type") }
                f32 = Float(bitPattern: x)
            case 3: i64 = try expectInt(v, r, "attribute.i")
            case 4: str = r.bytes(try expectBytes(v, r, "attribute.s"))
            case 5: t = try tensor(r.nested(try expectBytes(v, r, "attribute.t")))
            case 6: g = try graph(r.nested(try expectBytes(v, r, "attribute.g")), depth: depth + 1)
            case 7: try r.appendFloats(v, to: &floats, limit: limit, field: "attribute.floats")
            case 8: try r.appendVarints(v, to: &ints, limit: limit, field: "attribute.ints")
            case 9: strings.append(r.bytes(try expectBytes(v, r, "attribute.strings")))
            case 10: tensors.append(try tensor(r.nested(try expectBytes(v, r, "attribute.tensors"))))
            case 11: graphs.append(try graph(r.nested(try expectBytes(v, r, "attribute.graphs")), depth: depth + 1))
            case 20: type = try expectInt(v, r, "attribute.type")
            default: break
            }
        }
        let value: ONNXAttribute.Value
        // AttributeType: FLOAT=1 INT=2 STRING=3 TENSOR=4 GRAPH=5 FLOATS=6 INTS=7 STRINGS=8
        // TENSORS=9 GRAPHS=10. Files from before the `type` field (IR < 2) carry one value.
        switch type {
        case 1: value = .float(f32 ?? 0)
        case 2: value = .int(i64 ?? 0)
        case 3: value = .string(str ?? [])
        case 4:
            guard let t else { throw fail(reader, "attribute '\(name)' of type TENSOR has no tensor") }
            value = .tensor(t)
        case 5:
            guard let g else { throw fail(reader, "attribute '\(name)' of type GRAPH has no graph") }
            value = .graph(g)
        case 6: value = .floats(floats)
        case 7: value = .ints(ints)
        case 8: value = .strings(strings)
        case 9: value = .tensors(tensors)
        case 10: value = .graphs(graphs)
        case 0:
            if let f32 { value = .float(f32) } else if let i64 { value = .int(i64) } else if let str { value = .string(str) }
            else if let t { value = .tensor(t) } else if let g { value = .graph(g) } else if !floats.isEmpty { value = .floats(floats) }
            else if !ints.isEmpty { value = .ints(ints) } else if !strings.isEmpty { value = .strings(strings) }
            else { throw fail(reader, "attribute '\(name)' has no value") }
        default:
            throw fail(reader, "attribute '\(name)' has unsupported type \(type)")
        }
        return ONNXAttribute(name: name, value: value)
    }

    func valueInfo(_ reader: ProtobufReader) throws -> ONNXValueInfo {
        var r = reader
        var info = ONNXValueInfo(name: "", kind: .other, elementType: nil, shape: nil)
        while let (f, v) = try r.next() {
            switch f {
            case 1: info.name = r.string(try expectBytes(v, r, "value_info.name"))
            case 2:
                var t = r.nested(try expectBytes(v, r, "value_info.type"))
                while let (g, w) = try t.next() {
                    switch g {
                    case 1:
                        info.kind = .tensor
                        var tt = t.nested(try expectBytes(w, t, "type.tensor_type"))
                        while let (h, x) = try tt.next() {
                            if h == 1 { info.elementType = Int32(truncatingIfNeeded: try expectInt(x, tt, "tensor_type.elem_type")) }
                            if h == 2 { info.shape = try shape(tt.nested(try expectBytes(x, tt, "tensor_type.shape"))) }
                        }
                    case 4: info.kind = .sequence
                    case 5: info.kind = .map
                    case 9: info.kind = .optional
                    default: break
                    }
                }
            default: break
            }
        }
        return info
    }

    func shape(_ reader: ProtobufReader) throws -> [ONNXDimension] {
        var r = reader
        var dims: [ONNXDimension] = []
        while let (f, v) = try r.next() {
            guard f == 1 else { continue }
            guard dims.count < ONNXModel.maxRank else { throw fail(r, "shape of more than \(ONNXModel.maxRank) dimensions") }
            var d = r.nested(try expectBytes(v, r, "shape.dim"))
            var dim = ONNXDimension.unknown
            while let (g, w) = try d.next() {
                if g == 1 { dim = .size(try expectInt(w, d, "dim_value")) }
                if g == 2 { dim = .symbol(d.string(try expectBytes(w, d, "dim_param"))) }
            }
            dims.append(dim)
        }
        return dims
    }

    func tensor(_ reader: ProtobufReader) throws -> ONNXTensor {
        var r = reader
        var dims: [Int64] = []
        var dataType: Int32 = 0
        var name = ""
        var floats: [Float] = [], doubles: [Double] = [], ints: [Int64] = [], strings: [[UInt8]] = []
        var raw: Range<Int>? = nil
        var external = false
        let limit = ONNXModel.maxTensorElements
        while let (f, v) = try r.next() {
            switch f {
            case 1: try r.appendVarints(v, to: &dims, limit: ONNXModel.maxRank, field: "tensor.dims")
            case 2: dataType = Int32(truncatingIfNeeded: try expectInt(v, r, "tensor.data_type"))
            case 4: try r.appendFloats(v, to: &floats, limit: limit, field: "tensor.float_data")
            case 5, 7: try r.appendVarints(v, to: &ints, limit: limit, field: f == 5 ? "tensor.int32_data" : "tensor.int64_data")
            case 6: strings.append(r.bytes(try expectBytes(v, r, "tensor.string_data")))
            case 8: name = r.string(try expectBytes(v, r, "tensor.name"))
            case 9: raw = try expectBytes(v, r, "tensor.raw_data")
            case 10: try r.appendDoubles(v, to: &doubles, limit: limit, field: "tensor.double_data")
            case 13: external = true
            case 14: if try expectInt(v, r, "tensor.data_location") == 1 { external = true }
            default: break
            }
        }
        let what = "tensor '\(name)'"
        guard !external else { throw fail(reader, "\(what) keeps its data in an external file, which mlrepo does not read") }
        var count = 1
        for d in dims {
            guard d >= 0 else { throw fail(reader, "\(what) has a negative dimension \(d)") }
            let (p, o) = count.multipliedReportingOverflow(by: Int(d))
            guard !o && p <= limit else { throw fail(reader, "\(what) has more than \(limit) elements") }
            count = p
        }
        let type = ONNXElementType(rawValue: dataType)
        func check(_ n: Int) throws {
            guard n == count else { throw fail(reader, "\(what): \(n) values for dims \(dims) (\(count) elements)") }
        }
        let values: ONNXTensor.Values
        if let raw {
            let size: Int
            switch type {
            case .float, .int32, .uint32: size = 4
            case .double, .int64, .uint64: size = 8
            case .int16, .uint16, .float16, .bfloat16: size = 2
            case .int8, .uint8, .bool: size = 1
            case .string, nil: throw fail(reader, "\(what): raw_data for element type \(dataType)")
            }
            guard raw.count == count * size else {
                throw fail(reader, "\(what): \(raw.count) bytes of raw_data for \(count) elements of \(size) bytes")
            }
            func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
                T(littleEndian: buffer.loadUnaligned(fromByteOffset: raw.lowerBound + i * size, as: T.self))
            }
            switch type {
            case .float: values = .floats((0..<count).map { Float(bitPattern: load(UInt32.self, $0)) })
            case .double: values = .doubles((0..<count).map { Double(bitPattern: load(UInt64.self, $0)) })
            case .int64: values = .ints((0..<count).map { load(Int64.self, $0) })
            case .int32: values = .ints((0..<count).map { Int64(load(Int32.self, $0)) })
            case .int16: values = .ints((0..<count).map { Int64(load(Int16.self, $0)) })
            case .uint16: values = .ints((0..<count).map { Int64(load(UInt16.self, $0)) })
            case .int8: values = .ints((0..<count).map { Int64(load(Int8.self, $0)) })
            case .uint8, .bool: values = .ints((0..<count).map { Int64(load(UInt8.self, $0)) })
            default: values = .raw(Array(buffer[raw]))
            }
        } else {
            switch type {
            case .float, .float16, .bfloat16:
                // float16/bfloat16 without raw_data keep their bits in int32_data.
                if type == .float { try check(floats.count); values = .floats(floats) } else { try check(ints.count); values = .ints(ints) }
            case .double: try check(doubles.count); values = .doubles(doubles)
            case .int64, .int32, .int16, .int8, .uint16, .uint8, .bool: try check(ints.count); values = .ints(ints)
            case .uint32, .uint64:
                // Stored in uint64_data (field 11), which this decoder does not keep: refuse.
                throw fail(reader, "\(what): element type \(type!.name) without raw_data is not supported")
            case .string: try check(strings.count); values = .strings(strings)
            case nil: throw fail(reader, "\(what): unknown element type \(dataType)")
            }
        }
        return ONNXTensor(name: name, dataType: dataType, dims: dims, values: values)
    }
}
