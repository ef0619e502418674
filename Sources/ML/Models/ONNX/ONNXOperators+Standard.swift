import Compute
import Support

// ai.onnx operators (the default domain). Each entry prepares a node at load: it parses and
// checks the attributes, and returns the kernel that runs it.

/// Takes input `i` as a tensor, or throws naming it.
@inline(__always)
func tensorInput(_ inputs: [ONNXValue?], _ i: Int) throws -> ONNXArray {
    guard i < inputs.count, let v = inputs[i] else { throw ONNXRunError("input \(i) is missing") }
    guard case .tensor(let t) = v else { throw ONNXRunError("input \(i) is not a tensor") }
    return t
}

let standardOperators: [String: ONNXOperatorFactory] = [
    "Identity": { _ in { inputs, _ in [.tensor(try tensorInput(inputs, 0))] } },
    "Relu": { _ in
        { inputs, _ in
            let x = try tensorInput(inputs, 0)
            guard let f = x.floats else { throw ONNXRunError("Relu takes float input, not \(x.elementType.name)") }
            return [.tensor(ONNXArray(floats: f.map { max($0, 0) }, shape: x.shape))]
        }
    },
]
