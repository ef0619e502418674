#if canImport(Glibc)
import Glibc
#endif
import Compute
import Support

// ai.onnx operators that move elements or make them without arithmetic: Reshape, Flatten,
// Squeeze, Unsqueeze, Concat, Split, Gather, Transpose, Slice, Expand, Tile, Shape, Size,
// Constant, ConstantOfShape, Range, Identity, Dropout (inference), Cast, CastLike. Every output
// size is checked before it is allocated.

/// Input `i` as int64 values (int64 or a narrower integer type), or throws naming `what`.
func int64Input(_ inputs: [ONNXValue?], _ i: Int, _ what: String) throws -> [Int64] {
    let t = try tensorInput(inputs, i)
    guard let v = t.int64s else { throw ONNXRunError("\(what) must be an integer tensor, not \(t.elementType.name)") }
    guard t.rank <= 1 else { throw ONNXRunError("\(what) must be 1-D, not of shape \(t.shape)") }
    return v
}

/// Input `i` when it is given (not omitted), else nil.
func optionalInput(_ inputs: [ONNXValue?], _ i: Int) throws -> ONNXArray? {
    guard i < inputs.count, inputs[i] != nil else { return nil }
    return try tensorInput(inputs, i)
}

/// The output shape of Reshape: 0 copies the input's dimension (unless allowzero), -1 is
/// inferred; the element count must not change.
func reshapeTarget(_ input: [Int], _ spec: [Int64], allowZero: Bool) throws -> [Int] {
    guard spec.count <= ONNXModel.maxRank else { throw ONNXRunError("Reshape to \(spec.count) dimensions, more than \(ONNXModel.maxRank)") }
    let total = try ONNXK.count(input, "input")
    var out: [Int] = []
    var infer: Int? = nil
    for (i, d) in spec.enumerated() {
        switch d {
        case -1:
            guard infer == nil else { throw ONNXRunError("Reshape's shape \(spec) has more than one -1") }
            infer = i; out.append(1)
        case 0 where !allowZero:
            guard i < input.count else { throw ONNXRunError("Reshape's shape \(spec) copies dimension \(i), which input \(input) lacks") }
            out.append(input[i])
        default:
            guard d >= 0, d <= Int64(ONNXK.maxElements) else { throw ONNXRunError("Reshape's shape \(spec) has a bad dimension \(d)") }
            out.append(Int(d))
        }
    }
    if allowZero, infer != nil, out.contains(0) { throw ONNXRunError("Reshape's shape \(spec) has both 0 and -1 with allowzero") }
    if let k = infer {
        let known = try ONNXK.count(out, "shape")
        guard known > 0, total % known == 0 else { throw ONNXRunError("cannot reshape \(input) (\(total) elements) to \(spec)") }
        out[k] = total / known
    }
    guard try ONNXK.count(out) == total else { throw ONNXRunError("cannot reshape \(input) (\(total) elements) to \(spec)") }
    return out
}

/// Element offsets of a sub-grid: per axis, the source positions to take.
func gridOffsets(_ shape: [Int], _ perAxis: [[Int]]) throws -> [Int] {
    let st = ONNXK.strides(shape)
    _ = try ONNXK.count(perAxis.map(\.count))
    var offs = [0]
    for (d, picks) in perAxis.enumerated() {
        var next = [Int]()
        next.reserveCapacity(offs.count * picks.count)
        for b in offs { for p in picks { next.append(b + p * st[d]) } }
        offs = next
    }
    return offs
}

private struct ConcatMover: ElementMover {
    let parts: [ONNXArray.Storage], blocks: [Int], outer: Int
    func move<T>(_ first: [T]) throws -> [T] {
        let arrays: [[T]] = parts.map { p in
            switch p {
            case .float(let v): v as! [T]
            case .double(let v): v as! [T]
            case .int64(let v): v as! [T]
            case .bool(let v): v as! [T]
            case .string(let v): v as! [T]
            }
        }
        var r = [T]()
        r.reserveCapacity(blocks.reduce(0, +) * outer)
        for o in 0..<outer {
            for (a, b) in zip(arrays, blocks) where b > 0 { r.append(contentsOf: a[(o * b)..<((o + 1) * b)]) }
        }
        return r
    }
}

private func slices(_ x: ONNXArray, along axis: Int, sizes: [Int]) throws -> [ONNXArray] {
    let (outer, n, inner) = ONNXK.around(x.shape, axis)
    guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == n else {
        throw ONNXRunError("Split sizes \(sizes) do not add up to dimension \(n) of axis \(axis)")
    }
    var start = 0
    return try sizes.map { s in
        var idx = [Int]()
        idx.reserveCapacity(outer * s * inner)
        for o in 0..<outer { let b = (o * n + start) * inner; idx.append(contentsOf: b..<(b + s * inner)) }
        start += s
        var shape = x.shape; shape[axis] = s
        return try x.picking(idx, shape: shape)
    }
}

// MARK: Cast

/// Wraps an integer to the range of ONNX type `t`, as a C cast does.
private func wrapInt(_ v: Int64, _ t: ONNXElementType) -> Int64 {
    switch t {
    case .int8: Int64(Int8(truncatingIfNeeded: v))
    case .uint8: Int64(UInt8(truncatingIfNeeded: v))
    case .int16: Int64(Int16(truncatingIfNeeded: v))
    case .uint16: Int64(UInt16(truncatingIfNeeded: v))
    case .int32: Int64(Int32(truncatingIfNeeded: v))
    case .uint32: Int64(UInt32(truncatingIfNeeded: v))
    default: v
    }
}

/// A float from a string: decimal or scientific notation, INF/-INF/+INF, NaN (any case).
private func parseDouble(_ s: String) throws -> Double {
    let t = s.trimmed()
    switch t.lowercased() {
    case "inf", "+inf", "infinity", "+infinity": return .infinity
    case "-inf", "-infinity": return -.infinity
    case "nan", "+nan", "-nan": return .nan
    default:
        guard let d = Double(t) else { throw ONNXRunError("Cast cannot read '\(s.prefix(40))' as a number") }
        return d
    }
}

private func parseFloat(_ s: String) throws -> Float {
    let t = s.trimmed()
    if let f = Float(t), !t.lowercased().contains("n") { return f }   // plain numbers, exactly rounded
    return Float(try parseDouble(s))
}

/// A float as onnxruntime's Cast writes it: "%.8g", and NaN, INF, -INF.
private func formatFloat(_ x: Double) -> String {
    if x.isNaN { return "NaN" }
    if x.isInfinite { return x > 0 ? "INF" : "-INF" }
    var buf = [CChar](repeating: 0, count: 40)
    let n = buf.withUnsafeMutableBufferPointer { p in withVaList([x]) { vsnprintf(p.baseAddress, 40, "%.8g", $0) } }
    return String(decoding: buf[0..<Int(max(0, min(n, 39)))].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Casts `x` to element type `to`, following the spec's rules (float → integer truncates
/// toward zero, integers wrap to the target's width, bool is x != 0, strings parse and print).
func onnxCast(_ x: ONNXArray, to: ONNXElementType) throws -> ONNXArray {
    let s: ONNXArray.Storage
    switch to {
    case .float, .float16, .bfloat16:
        var f: [Float]
        switch x.storage {
        case .float(let v): f = v
        case .double(let v): f = v.map { Float($0) }
        case .int64(let v): f = v.map { Float($0) }
        case .bool(let v): f = v.map { $0 ? 1 : 0 }
        case .string(let v): f = try v.map(parseFloat)
        }
        if to == .float16 { f = f.map { Float(Float16($0)) } }
        if to == .bfloat16 { f = f.map { Float(bitPattern: ($0.bitPattern &+ 0x7FFF &+ (($0.bitPattern >> 16) & 1)) & 0xFFFF_0000) } }
        s = .float(f)
    case .double:
        switch x.storage {
        case .float(let v): s = .double(v.map { Double($0) })
        case .double(let v): s = .double(v)
        case .int64(let v): s = .double(v.map { Double($0) })
        case .bool(let v): s = .double(v.map { $0 ? 1 : 0 })
        case .string(let v): s = .double(try v.map(parseDouble))
        }
    case .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64:
        let i: [Int64]
        switch x.storage {
        case .float(let v): i = v.map { onnxInt64(Double($0)) }
        case .double(let v): i = v.map { onnxInt64($0) }
        case .int64(let v): i = v
        case .bool(let v): i = v.map { $0 ? 1 : 0 }
        case .string(let v):
            i = try v.map { str in
                let t = str.trimmed()
                if let n = Int64(t) { return n }
                if to == .uint64, let n = UInt64(t) { return Int64(bitPattern: n) }
                return onnxInt64(try parseDouble(t))
            }
        }
        s = .int64(i.map { wrapInt($0, to) })
    case .bool:
        switch x.storage {
        case .float(let v): s = .bool(v.map { $0 != 0 })
        case .double(let v): s = .bool(v.map { $0 != 0 })
        case .int64(let v): s = .bool(v.map { $0 != 0 })
        case .bool(let v): s = .bool(v)
        case .string(let v): s = .bool(try v.map { try parseDouble($0) != 0 })
        }
    case .string:
        switch x.storage {
        case .float(let v): s = .string(v.map { formatFloat(Double($0)) })
        case .double(let v): s = .string(v.map(formatFloat))
        case .int64(let v): s = .string(v.map { "\($0)" })
        case .bool(let v): s = .string(v.map { $0 ? "1" : "0" })
        case .string(let v): s = .string(v)
        }
    }
    return ONNXArray(shape: x.shape, storage: s)
}

private func constantValue(_ ctx: ONNXNodeContext) throws -> ONNXArray {
    if let t = try ctx.tensor("value") { return t }
    if ctx.has("value_float") { return ONNXArray(shape: [], storage: .float([try ctx.float("value_float", 0)])) }
    if let v = try ctx.floats("value_floats") { return ONNXArray(shape: [v.count], storage: .float(v)) }
    if ctx.has("value_int") { return ONNXArray(shape: [], storage: .int64([try ctx.int("value_int", 0)])) }
    if let v = try ctx.ints("value_ints") { return ONNXArray(shape: [v.count], storage: .int64(v)) }
    if ctx.has("value_string") { return ONNXArray(shape: [], storage: .string([try ctx.string("value_string", "")])) }
    if let v = try ctx.strings("value_strings") { return ONNXArray(shape: [v.count], storage: .string(v)) }
    throw ONNXRunError("Constant has no value attribute mlrepo reads (value, value_float(s), value_int(s), value_string(s))")
}

/// Axes of Squeeze/Unsqueeze: an attribute before opset 13, an input from 13.
private func axesOf(_ ctx: ONNXNodeContext) throws -> (attr: [Int64]?, fromInput: Bool) {
    ctx.opset >= 13 ? (nil, true) : (try ctx.ints("axes"), false)
}

let standardShapeOperators: [String: ONNXOperatorFactory] = [
    "Identity": { _ in { inputs, _ in [.tensor(try tensorInput(inputs, 0))] } },

    "Constant": { ctx in
        let v = try constantValue(ctx)
        return { _, _ in [.tensor(v)] }
    },

    "Dropout": { ctx in
        let attrRatio = try ctx.float("ratio", 0.5)
        let opset = ctx.opset
        let wantsMask = ctx.node.outputs.count > 1 && !ctx.node.outputs[1].isEmpty
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            var ratio = Double(attrRatio), training = false
            if opset >= 12 {
                if let r = try optionalInput(inputs, 1) {
                    guard r.count == 1, let v = r.doubles?[0] ?? r.floats.map({ Double($0[0]) }) else {
                        throw ONNXRunError("Dropout's ratio must be a float scalar")
                    }
                    ratio = v
                }
                if let t = try optionalInput(inputs, 2) {
                    guard t.count == 1, let b = t.bools else { throw ONNXRunError("Dropout's training_mode must be a bool scalar") }
                    training = b[0]
                }
            }
            if training && ratio != 0 {
                throw ONNXRunError("Dropout in training mode drops at random; mlrepo runs inference only (export with model.eval())")
            }
            guard wantsMask else { return [.tensor(x)] }
            // The mask at inference: all true from opset 12 (the reference); before 12 it was
            // left unspecified and onnxruntime gives all false (of the input's type before 10).
            let keep = ONNXArray(shape: x.shape, storage: .bool([Bool](repeating: opset >= 12, count: x.count)))
            let mask = opset >= 10 ? keep : try onnxCast(keep, to: x.elementType)
            return [.tensor(x), .tensor(mask)]
        }
    },

    "Cast": { ctx in
        let to = try ctx.int("to", -1)
        guard let t = ONNXElementType(rawValue: Int32(truncatingIfNeeded: to)), Int64(t.rawValue) == to else {
            throw ONNXRunError("Cast to element type \(to), which mlrepo does not run")
        }
        return { inputs, _ in [.tensor(try onnxCast(try tensorInput(inputs, 0), to: t))] }
    },
    "CastLike": { _ in
        { inputs, _ in
            let x = try tensorInput(inputs, 0), like = try tensorInput(inputs, 1)
            return [.tensor(try onnxCast(x, to: like.elementType))]
        }
    },

    "Shape": { ctx in
        let start = try ctx.int("start", 0), end = try ctx.has("end") ? ctx.int("end", 0) : Int64.max
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let r = Int64(x.rank)
            func clamp(_ v: Int64) -> Int { Int(Swift.min(Swift.max(v < 0 ? v + r : v, 0), r)) }
            let s = clamp(start), e = clamp(end)
            let dims = s < e ? x.shape[s..<e].map { Int64($0) } : []
            return [.tensor(ONNXArray(int64s: dims, shape: [dims.count]))]
        }
    },
    "Size": { _ in
        { inputs, _ in
            let x = try tensorInput(inputs, 0)
            return [.tensor(ONNXArray(int64s: [Int64(x.count)], shape: []))]
        }
    },

    "Reshape": { ctx in
        let allowZero = try ctx.int("allowzero", 0) != 0
        let attr = ctx.opset < 5 ? try ctx.ints("shape") : nil
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let spec = try attr ?? int64Input(inputs, 1, "Reshape's shape")
            return [.tensor(x.reshaped(try reshapeTarget(x.shape, spec, allowZero: allowZero)))]
        }
    },
    "Flatten": { ctx in
        let axis = try ctx.int("axis", 1)
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let r = x.rank
            guard axis >= -Int64(r), axis <= Int64(r) else { throw ONNXRunError("Flatten's axis \(axis) is out of range for rank \(r)") }
            let a = Int(axis < 0 ? axis + Int64(r) : axis)
            return [.tensor(x.reshaped([ONNXK.product(x.shape[..<a]), ONNXK.product(x.shape[a...])]))]
        }
    },
    "Squeeze": { ctx in
        let (attr, fromInput) = try axesOf(ctx)
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let given = fromInput ? try optionalInput(inputs, 1).map { try int64Input([.tensor($0)], 0, "Squeeze's axes") } : attr
            var out: [Int] = []
            if let given, !given.isEmpty {
                let axes = Set(try ONNXK.axes(given, rank: x.rank))
                for (i, d) in x.shape.enumerated() {
                    if axes.contains(i) {
                        guard d == 1 else { throw ONNXRunError("Squeeze of axis \(i) of shape \(x.shape), which is not 1") }
                    } else { out.append(d) }
                }
            } else {
                out = x.shape.filter { $0 != 1 }
            }
            return [.tensor(x.reshaped(out))]
        }
    },
    "Unsqueeze": { ctx in
        let (attr, fromInput) = try axesOf(ctx)
        if !fromInput && attr == nil { throw ONNXRunError("attribute 'axes' is required") }
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let given = try attr ?? int64Input(inputs, 1, "Unsqueeze's axes")
            let r = x.rank + given.count
            guard r <= ONNXModel.maxRank else { throw ONNXRunError("Unsqueeze to \(r) dimensions, more than \(ONNXModel.maxRank)") }
            let axes = Set(try ONNXK.axes(given, rank: r))
            var out: [Int] = []
            var k = 0
            for i in 0..<r {
                if axes.contains(i) { out.append(1) } else { out.append(x.shape[k]); k += 1 }
            }
            return [.tensor(x.reshaped(out))]
        }
    },

    "Concat": { ctx in
        guard ctx.has("axis") else { throw ONNXRunError("attribute 'axis' is required") }
        let axis = try ctx.int("axis", 0)
        return { inputs, _ in
            let ts = try (0..<inputs.count).compactMap { try optionalInput(inputs, $0) }
            guard let first = ts.first else { throw ONNXRunError("Concat has no inputs") }
            let r = first.rank
            let a = try ONNXK.axis(axis, rank: r)
            var out = first.shape
            out[a] = 0
            for t in ts {
                guard t.elementType == first.elementType else {
                    throw ONNXRunError("Concat takes inputs of one element type, not \(first.elementType.name) and \(t.elementType.name)")
                }
                guard t.rank == r, (0..<r).allSatisfy({ $0 == a || t.shape[$0] == first.shape[$0] }) else {
                    throw ONNXRunError("Concat of shapes \(first.shape) and \(t.shape) along axis \(a)")
                }
                out[a] += t.shape[a]
            }
            _ = try ONNXK.count(out)
            let outer = ONNXK.product(first.shape[..<a]), inner = ONNXK.product(first.shape[(a + 1)...])
            let blocks = ts.map { $0.shape[a] * inner }
            return [.tensor(try first.moved(out, ConcatMover(parts: ts.map(\.storage), blocks: blocks, outer: outer)))]
        }
    },

    "Split": { ctx in
        let axis = try ctx.int("axis", 0)
        let attrSplit = ctx.opset < 13 ? try ctx.ints("split") : nil
        let numOutputs: Int? = ctx.opset >= 18 && ctx.has("num_outputs") ? Int(try ctx.int("num_outputs", 0)) : nil
        let outputs = ctx.node.outputs.count
        if let n = numOutputs, n != outputs { throw ONNXRunError("attribute 'num_outputs' is \(n) but the node has \(outputs) outputs") }
        let opset = ctx.opset
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let a = try ONNXK.axis(axis, rank: x.rank)
            let dim = x.shape[a]
            var sizes: [Int]
            if let given = try attrSplit ?? (opset >= 13 ? optionalInput(inputs, 1).map { try int64Input([.tensor($0)], 0, "Split's split") } : nil) {
                guard given.count == outputs else { throw ONNXRunError("Split into \(given.count) parts for \(outputs) outputs") }
                sizes = try given.map { v in
                    guard v >= 0, v <= Int64(dim) else { throw ONNXRunError("Split size \(v) for dimension \(dim)") }
                    return Int(v)
                }
            } else if numOutputs != nil {
                let chunk = (dim + outputs - 1) / Swift.max(outputs, 1)
                sizes = (0..<outputs).map { Swift.max(0, Swift.min(chunk, dim - $0 * chunk)) }
            } else {
                guard outputs > 0, dim % outputs == 0 else { throw ONNXRunError("Split of dimension \(dim) into \(outputs) equal parts") }
                sizes = [Int](repeating: dim / outputs, count: outputs)
            }
            return try slices(x, along: a, sizes: sizes).map { .tensor($0) }
        }
    },

    "Gather": { ctx in
        let axis = try ctx.int("axis", 0)
        return { inputs, _ in
            let x = try tensorInput(inputs, 0), ind = try tensorInput(inputs, 1)
            guard let idx = ind.int64s else { throw ONNXRunError("Gather's indices must be integers, not \(ind.elementType.name)") }
            let a = try ONNXK.axis(axis, rank: x.rank)
            let (outer, n, inner) = ONNXK.around(x.shape, a)
            let out = Array(x.shape[..<a]) + ind.shape + Array(x.shape[(a + 1)...])
            let total = try ONNXK.count(out)
            var rows = [Int]()
            rows.reserveCapacity(idx.count)
            for i in idx {
                guard i >= -Int64(n), i < Int64(n) else { throw ONNXRunError("Gather index \(i) is out of range for dimension \(n) of axis \(a)") }
                rows.append(Int(i < 0 ? i + Int64(n) : i))
            }
            var picks = [Int]()
            picks.reserveCapacity(total)
            for o in 0..<outer {
                for r in rows { let b = (o * n + r) * inner; picks.append(contentsOf: b..<(b + inner)) }
            }
            return [.tensor(try x.picking(picks, shape: out))]
        }
    },

    "Transpose": { ctx in
        let permAttr = try ctx.ints("perm")
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let perm = permAttr.map { $0.map { Int(truncatingIfNeeded: $0) } } ?? Array((0..<x.rank).reversed())
            guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else {
                throw ONNXRunError("Transpose's perm \(perm) is not a permutation of the \(x.rank) axes")
            }
            return [.tensor(try x.moved(perm.map { x.shape[$0] }, TransposeMover(shape: x.shape, perm: perm)))]
        }
    },

    "Slice": { ctx in
        let opset = ctx.opset
        let attrStarts = opset < 10 ? try ctx.ints("starts") : nil, attrEnds = opset < 10 ? try ctx.ints("ends") : nil
        let attrAxes = opset < 10 ? try ctx.ints("axes") : nil
        if opset < 10 && (attrStarts == nil || attrEnds == nil) { throw ONNXRunError("attributes 'starts' and 'ends' are required") }
        return { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let starts = try attrStarts ?? int64Input(inputs, 1, "Slice's starts")
            let ends = try attrEnds ?? int64Input(inputs, 2, "Slice's ends")
            let axesV = try attrAxes ?? (opset >= 10 ? optionalInput(inputs, 3).map { try int64Input([.tensor($0)], 0, "Slice's axes") } : nil)
            let steps = try opset >= 10 ? optionalInput(inputs, 4).map { try int64Input([.tensor($0)], 0, "Slice's steps") } : nil
            guard starts.count == ends.count else { throw ONNXRunError("Slice has \(starts.count) starts and \(ends.count) ends") }
            let axes = try ONNXK.axes(axesV ?? (0..<starts.count).map(Int64.init), rank: x.rank)
            guard axes.count == starts.count, steps == nil || steps!.count == starts.count else {
                throw ONNXRunError("Slice's starts, ends, axes and steps differ in length")
            }
            // An empty input makes an empty output (its shape still follows the slice).
            var perAxis = x.count == 0 ? x.shape.map { _ in [Int]() } : x.shape.map { Array(0..<$0) }
            var out = x.shape
            for (k, a) in axes.enumerated() {
                let dim = Int64(x.shape[a])
                let step = steps?[k] ?? 1
                guard step != 0 else { throw ONNXRunError("Slice step 0 on axis \(a)") }
                var s = starts[k], e = ends[k]
                if s < 0 { s = s &+ dim }
                if e < 0 { e = e &+ dim }
                if step > 0 { s = Swift.min(Swift.max(s, 0), dim); e = Swift.min(Swift.max(e, 0), dim) }
                else { s = Swift.min(Swift.max(s, 0), dim - 1); e = Swift.min(Swift.max(e, -1), dim - 1) }
                // Elements taken: ceil(|e - s| / |step|) when moving toward e (all values
                // here are within [-1, dim], so nothing overflows).
                let back = step == .min ? Int64.max : -step
                let taken = Int(step > 0 ? (e > s ? (e - s - 1) / step + 1 : 0) : (s > e ? (s - e - 1) / back + 1 : 0))
                let picks = x.count == 0 ? [] : (0..<taken).map { Int(s) + $0 * Int(step) }
                perAxis[a] = picks
                out[a] = taken
            }
            if x.count == 0 || out.contains(0) { return [.tensor(x.emptied(out))] }
            return [.tensor(try x.picking(try gridOffsets(x.shape, perAxis), shape: out))]
        }
    },

    "Expand": { _ in
        { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let target = try int64Input(inputs, 1, "Expand's shape")
            let t = try target.map { d -> Int in
                guard d >= 0, d <= Int64(ONNXK.maxElements) else { throw ONNXRunError("Expand to a bad dimension \(d)") }
                return Int(d)
            }
            let out = try ONNXK.broadcastShape(x.shape, t)
            _ = try ONNXK.count(out, width: x.elementWidth)
            return [.tensor(try x.moved(out, ExpandMover(from: x.shape, to: out)))]
        }
    },

    "Tile": { _ in
        { inputs, _ in
            let x = try tensorInput(inputs, 0)
            let reps = try int64Input(inputs, 1, "Tile's repeats")
            guard reps.count == x.rank else { throw ONNXRunError("Tile has \(reps.count) repeats for rank \(x.rank)") }
            let out = try zip(x.shape, reps).map { d, r -> Int in
                guard r >= 0, r <= Int64(ONNXK.maxElements) else { throw ONNXRunError("Tile repeat \(r)") }
                return d * Int(r)
            }
            if try ONNXK.count(out, width: x.elementWidth) == 0 { return [.tensor(x.emptied(out))] }
            let perAxis = zip(x.shape, out).map { d, o in (0..<o).map { $0 % Swift.max(d, 1) } }
            return [.tensor(try x.picking(try gridOffsets(x.shape, perAxis), shape: out))]
        }
    },

    "ConstantOfShape": { ctx in
        let value = try ctx.tensor("value") ?? ONNXArray(shape: [1], storage: .float([0]))
        guard value.count == 1 else { throw ONNXRunError("attribute 'value' must hold one element, not \(value.count)") }
        return { inputs, _ in
            let shape = try ONNXK.shape(try int64Input(inputs, 0, "ConstantOfShape's input"), "ConstantOfShape's shape")
            let n = try ONNXK.count(shape, width: value.elementWidth)
            let s: ONNXArray.Storage
            switch value.storage {
            case .float(let v): s = .float([Float](repeating: v[0], count: n))
            case .double(let v): s = .double([Double](repeating: v[0], count: n))
            case .int64(let v): s = .int64([Int64](repeating: v[0], count: n))
            case .bool(let v): s = .bool([Bool](repeating: v[0], count: n))
            case .string(let v): s = .string([String](repeating: v[0], count: n))
            }
            return [.tensor(ONNXArray(shape: shape, storage: s))]
        }
    },

    "Range": { _ in
        { inputs, _ in
            let a = try tensorInput(inputs, 0), b = try tensorInput(inputs, 1), c = try tensorInput(inputs, 2)
            guard a.elementType == b.elementType, b.elementType == c.elementType else {
                throw ONNXRunError("Range takes start, limit and delta of one element type")
            }
            guard a.count == 1, b.count == 1, c.count == 1 else { throw ONNXRunError("Range takes scalars") }
            func size(_ d: Double) throws -> Int {
                guard d.isFinite || d < 0 else { throw ONNXRunError("Range of \(d) elements") }
                let n = Swift.max(d.rounded(.up), 0)
                guard n <= Double(ONNXK.maxElements) else { throw ONNXRunError("Range would make more than \(ONNXK.maxElements) elements") }
                return try ONNXK.count([Int(n)], "Range's output", width: a.elementWidth)
            }
            switch (a.storage, b.storage, c.storage) {
            case (.float(let s), .float(let l), .float(let d)):
                guard d[0] != 0 else { throw ONNXRunError("Range with delta 0") }
                let n = try size((Double(l[0]) - Double(s[0])) / Double(d[0]))
                return [.tensor(ONNXArray(floats: (0..<n).map { s[0] + Float($0) * d[0] }, shape: [n]))]
            case (.double(let s), .double(let l), .double(let d)):
                guard d[0] != 0 else { throw ONNXRunError("Range with delta 0") }
                let n = try size((l[0] - s[0]) / d[0])
                return [.tensor(ONNXArray(shape: [n], storage: .double((0..<n).map { s[0] + Double($0) * d[0] })))]
            case (.int64(let s), .int64(let l), .int64(let d)):
                guard d[0] != 0 else { throw ONNXRunError("Range with delta 0") }
                let span = Double(l[0]) - Double(s[0])
                let n = try size(span / Double(d[0]))
                return [.tensor(ONNXArray(int64s: (0..<n).map { s[0] &+ Int64($0) &* d[0] }, shape: [n]))]
            default:
                throw ONNXRunError("Range takes numeric inputs, not \(a.elementType.name)")
            }
        }
    },
]
