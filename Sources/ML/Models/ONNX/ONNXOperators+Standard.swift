import Compute
import Support

// ai.onnx operators (the default domain), opsets 7 to 25. Each entry prepares a node at load:
// it parses and checks the attributes (which moved to inputs in some versions: the factory
// reads `ctx.opset`), and returns the kernel that runs it. The families live in their own
// files: ONNXOperators+StandardMath (elementwise), +StandardShape (moving and making
// elements, Cast), +StandardNN (products, softmax, reductions, ArgMax, TopK); ONNXKernels
// holds the shared broadcasting and layout helpers.

/// Takes input `i` as a tensor, or throws naming it. The shape is checked (no negative
/// dimension, at most `ONNXModel.maxTensorElements` elements) and must describe exactly the
/// elements stored, so kernels can index by the shape.
@inline(__always)
func tensorInput(_ inputs: [ONNXValue?], _ i: Int) throws -> ONNXArray {
    guard i < inputs.count, let v = inputs[i] else { throw ONNXRunError("input \(i) is missing") }
    guard case .tensor(let t) = v else { throw ONNXRunError("input \(i) is not a tensor") }
    let n = try ONNXK.count(t.shape, "input \(i)")
    guard n == t.storedCount else { throw ONNXRunError("input \(i) has \(t.storedCount) values for shape \(t.shape)") }
    return t
}

let standardOperators: [String: ONNXOperatorFactory] = {
    var t = standardMathOperators
    t.merge(standardShapeOperators) { a, _ in a }
    t.merge(standardNNOperators) { a, _ in a }
    return t
}()
