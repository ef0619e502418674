#if canImport(Glibc)
import Glibc
#endif
import Support

/// A model mlrepo can score with, whatever its format: its own `.mlmodel` files or an ONNX
/// graph. `predict`, `eval` and `serve` load models through here, so every format goes one
/// way; a format mlrepo cannot run is refused with the export that makes it runnable.
public enum LoadedModel: Sendable {
    case builtin(ModelFile)
    case onnx(ONNXScorer)

    /// Loads the model in `bytes`. `name` is its file name or path (its extension helps tell
    /// the format), `shownAs` names it in errors (a path, or REV:PATH). For ONNX models,
    /// `features` and `label` are the training data's header and label, when the caller found
    /// them through lineage (the model's own metadata wins).
    public static func load(bytes: [UInt8], name: String, shownAs: String, features: [String]? = nil,
                            label: String? = nil) throws -> LoadedModel {
        let format = ModelFormat.detect(name: name, head: Array(bytes.prefix(64))) ?? .mlmodel
        switch format {
        case .mlmodel:
            return .builtin(try ModelFile.decode(bytes, path: shownAs))
        case .onnx:
            let program = try ONNXProgram(ONNXModel.decode(bytes, path: shownAs), path: shownAs)
            return .onnx(try ONNXScorer(program, features: features, label: label))
        default:
            throw ModelNotRunnable(path: shownAs, format: format)
        }
    }

    /// Loads the model file at `path` (absolute); errors name it `shownAs`.
    public static func read(path: String, shownAs: String, features: [String]? = nil, label: String? = nil) throws -> LoadedModel {
        guard let st = FS.stat(path) else { throw MLError.fileNotFound(shownAs, what: "model file") }
        guard st.isRegular else {
            if st.isDirectory { throw ModelNotRunnable(path: shownAs, format: .directory) }
            throw MLError.fileNotFound(shownAs, what: "model file")
        }
        // Refuse an unrunnable format by its name and first bytes before reading it all.
        var head = [UInt8](repeating: 0, count: 64)
        do {
            let f = try FileDescriptor(path: path, flags: O_RDONLY)
            let n = try head.withUnsafeMutableBytes { try f.readFully(into: $0.baseAddress!, count: 64) }
            head.removeSubrange(n...)
        } catch let e as SystemError { throw MLError.unreadable(path: shownAs, reason: e.message) }
        if let f = ModelFormat.detect(name: path, head: head), !f.executable { throw ModelNotRunnable(path: shownAs, format: f) }
        if ModelFormat.detect(name: path, head: head) == .onnx, st.size > UInt64(Int32.max) {
            throw MLError.onnx(path: shownAs, reason: "\(st.size) bytes is over ONNX's 2 GiB limit for one file")
        }
        let bytes: [UInt8]
        do { bytes = try FS.readFile(path) } catch let e as SystemError { throw MLError.unreadable(path: shownAs, reason: e.message) }
        return try load(bytes: bytes, name: path, shownAs: shownAs, features: features, label: label)
    }

    /// The model's format.
    public var format: ModelFormat {
        switch self { case .builtin: .mlmodel; case .onnx: .onnx }
    }

    /// The columns a request or data file gives the model, in the model's order.
    public var featureNames: [String] {
        switch self {
        case .builtin(let m): m.featureNames
        case .onnx(let s): s.featureNames
        }
    }

    /// The training data's label column, when known (a data file may carry it; it is not a feature).
    public var label: String? {
        switch self {
        case .builtin(let m): m.header["label"]?.stringValue
        case .onnx(let s): s.label
        }
    }

    /// The model's type, for people: the built-in type (logistic_regression, …) or "onnx".
    public var typeName: String {
        switch self {
        case .builtin(let m): m.type
        case .onnx: "onnx"
        }
    }
}

/// A model in a format mlrepo cannot run: one line naming the format and the export that
/// makes it runnable.
public struct ModelNotRunnable: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let format: ModelFormat
    public init(path: String, format: ModelFormat) { self.path = path; self.format = format }

    public var description: String {
        let name = format.displayName
        let first = name.first.map { String($0).lowercased() } ?? ""
        let article = ["a", "e", "i", "o", "u"].contains(first) || name.hasPrefix("HDF") || name.hasPrefix("X") ? "an" : "a"
        let what = format == .safetensors ? "safetensors file" : name
        return "\(path) is \(article) \(what); mlrepo runs .mlmodel and ONNX models: \(format.exportHint ?? "see docs/onnx.md")"
    }
}
