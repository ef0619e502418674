import Support

/// The format of a model artifact, recognised from its first bytes and its name. mlrepo runs
/// two of them (its own `.mlmodel` files and ONNX); the others can be tracked, registered and
/// promoted, and `predict`/`serve` of them is refused with the export that makes them runnable.
public enum ModelFormat: String, CaseIterable, Sendable {
    case mlmodel
    case onnx
    case pickle
    case joblib
    case torch
    case torchscript
    case safetensors
    case keras
    case hdf5
    case lightgbm
    case xgboost
    /// A folder of kind `model` (a saved-model directory, an MLflow model folder, …).
    case directory
    /// A file declared or recognised as a model whose bytes mlrepo does not recognise.
    case other

    /// Whether mlrepo runs models of this format (predict, eval, serve).
    public var executable: Bool { self == .mlmodel || self == .onnx }

    /// How to make a model of this format servable by mlrepo, one line; nil if it already is.
    public var exportHint: String? {
        switch self {
        case .mlmodel, .onnx: return nil
        case .pickle, .joblib:
            return "export it to ONNX with skl2onnx (scikit-learn) or onnxmltools (LightGBM, XGBoost): see docs/onnx.md"
        case .torch, .torchscript, .safetensors:
            return "export it to ONNX with torch.onnx.export: see docs/onnx.md"
        case .keras, .hdf5:
            return "export it to ONNX with tf2onnx: see docs/onnx.md"
        case .lightgbm, .xgboost:
            return "export it to ONNX with onnxmltools (convert_lightgbm / convert_xgboost): see docs/onnx.md"
        case .directory, .other:
            return "export it to ONNX: see docs/onnx.md"
        }
    }

    /// Describes the format in words, for messages.
    public var displayName: String {
        switch self {
        case .mlmodel: "mlrepo model"
        case .onnx: "ONNX"
        case .pickle: "Python pickle"
        case .joblib: "joblib pickle"
        case .torch: "PyTorch checkpoint"
        case .torchscript: "TorchScript archive"
        case .safetensors: "safetensors"
        case .keras: "Keras archive"
        case .hdf5: "HDF5 (Keras)"
        case .lightgbm: "LightGBM text model"
        case .xgboost: "XGBoost model"
        case .directory: "model folder"
        case .other: "unrecognised model file"
        }
    }

    /// The format of a file named `name` whose first bytes are `head` (at least 64 bytes when
    /// the file has them). Returns nil when neither the bytes nor the name say it is a model.
    public static func detect(name: String, head: [UInt8]) -> ModelFormat? {
        let ext = PathKind.fileExtension(name)
        func starts(_ s: String) -> Bool { head.starts(with: Array(s.utf8)) }
        if head.starts(with: ModelFile.magic) { return .mlmodel }
        if head.starts(with: [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]) { return ext == "keras" ? .keras : .hdf5 }
        if starts("tree\nversion=") || starts("tree\r\nversion=") { return .lightgbm }
        let isZip = head.starts(with: [0x50, 0x4b, 0x03, 0x04])
        switch ext {
        case "onnx": return .onnx
        case "pkl", "pickle": return .pickle
        case "joblib": return .joblib
        case "pt", "pth", "ckpt":
            // Both are zip files. torch.save writes its pickle (`NAME/data.pkl`) first; a
            // TorchScript archive (torch.jit.save) holds code/ and constants.pkl, and writes
            // its tensors (`NAME/data/0`, …) first when it has any. So: code/ in the first
            // bytes, or a first entry under data/, is TorchScript.
            if isZip, String(decoding: head, as: UTF8.self).contains("/code/") || firstZipEntry(head)?.contains("/data/") == true {
                return .torchscript
            }
            return .torch
        case "safetensors": return .safetensors
        case "keras": return .keras
        case "h5", "hdf5": return .hdf5
        case "mlmodel": return .mlmodel
        case "bst", "ubj", "xgb": return .xgboost
        case "json":
            let text = String(decoding: head, as: UTF8.self)
            return text.contains("\"learner\"") ? .xgboost : nil
        default:
            break
        }
        // XGBoost's JSON or UBJSON model under another name (`model.txt`, `xgb.model`).
        if head.first == UInt8(ascii: "{"), String(decoding: head.prefix(64), as: UTF8.self).contains("learner") { return .xgboost }
        if head.first == 0x80, head.count > 1, (2...5).contains(head[1]) { return .pickle }
        if safetensorsHeader(head) { return .safetensors }
        return nil
    }

    /// The name of the first entry of a zip file (its local file header: name length at
    /// offset 26, name at 30), when `head` holds it.
    static func firstZipEntry(_ head: [UInt8]) -> String? {
        guard head.count >= 30 else { return nil }
        let n = Int(head[26]) | Int(head[27]) << 8
        guard n > 0, 30 + n <= head.count else { return nil }
        return String(decoding: head[30..<(30 + n)], as: UTF8.self)
    }

    /// An 8-byte little-endian length followed by '{': the safetensors layout.
    static func safetensorsHeader(_ head: [UInt8]) -> Bool {
        guard head.count > 9, head[8] == UInt8(ascii: "{") else { return false }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(head[k]) << (8 * k) }
        return n > 1 && n < 100 << 20
    }
}
