import Compute
import Support

// ai.onnx.ml operators (the classic machine-learning domain: tree ensembles, linear models,
// scalers, encoders, ZipMap).

let mlOperators: [String: ONNXOperatorFactory] = [:]
