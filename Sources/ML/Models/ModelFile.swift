import Support

/// A trained model on disk (.mlrepo-format.md §11): the magic `MLRMODL1`, a little-endian
/// u32 header length, the header (canonical JSON: type, task, feature names, classes,
/// standardization, training-data column statistics, params, the tensor list), then each
/// tensor's float32 values, little-endian, in header order. The file's size must be exactly
/// what the header announces, so a truncated file is detected.
public struct ModelFile: Equatable, Sendable {
    public static let magic: [UInt8] = Array("MLRMODL1".utf8)
    public static let formatVersion = 1

    public struct NamedTensor: Equatable, Sendable {
        public var name: String
        public var rows: Int
        public var cols: Int
        public var values: [Float]
        public init(name: String, rows: Int, cols: Int, values: [Float]) {
            self.name = name; self.rows = rows; self.cols = cols; self.values = values
        }
    }

    public var type: String
    public var header: [String: JSON]
    public var tensors: [NamedTensor]

    public init(type: String, header: [String: JSON], tensors: [NamedTensor]) {
        self.type = type; self.header = header; self.tensors = tensors
    }

    public func tensor(_ name: String) -> NamedTensor? { tensors.first { $0.name == name } }

    public var featureNames: [String] { header["features"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public var classes: [String]? { header["classes"]?.arrayValue?.compactMap(\.stringValue) }
    public var task: String { header["task"]?.stringValue ?? "" }

    public func encode() -> [UInt8] {
        var h = header
        h["format"] = .int(Int64(ModelFile.formatVersion))
        h["type"] = .string(type)
        h["tensors"] = .array(tensors.map { .object(["name": .string($0.name), "rows": .int(Int64($0.rows)), "cols": .int(Int64($0.cols))]) })
        h["tensor_bytes"] = .int(Int64(tensors.reduce(0) { $0 + $1.values.count * 4 }))
        let text = Array(JSON.object(h).encoded().utf8)
        var out = ModelFile.magic
        let n = UInt32(text.count)
        out += [UInt8(n & 0xff), UInt8(n >> 8 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 24)]
        out += text
        out.reserveCapacity(out.count + tensors.reduce(0) { $0 + $1.values.count * 4 })
        for t in tensors {
            for v in t.values {
                let b = v.bitPattern.littleEndian
                out += [UInt8(b & 0xff), UInt8(b >> 8 & 0xff), UInt8(b >> 16 & 0xff), UInt8(b >> 24)]
            }
        }
        return out
    }

    public static func decode(_ bytes: [UInt8], path: String) throws -> ModelFile {
        func bad(_ why: String) -> MLError { .modelFile(path: path, reason: why) }
        guard bytes.count >= 12, Array(bytes[0..<8]) == magic else { throw bad("no MLRMODL1 header") }
        let n = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        guard 12 + n <= bytes.count else { throw bad("truncated header") }
        guard let text = String(validating: bytes[12..<(12 + n)], as: UTF8.self), let j = try? JSON.parse(text),
              var h = j.objectValue else { throw bad("unreadable header") }
        guard let format = h["format"]?.doubleValue, Int(format) <= formatVersion else {
            throw bad("format version \(h["format"]?.encoded() ?? "?") is newer than this mlrepo understands")
        }
        guard let type = h["type"]?.stringValue, let list = h["tensors"]?.arrayValue else { throw bad("header lacks type or tensors") }
        var offset = 12 + n
        var tensors: [NamedTensor] = []
        for t in list {
            guard let name = t["name"]?.stringValue, let r = t["rows"]?.doubleValue, let c = t["cols"]?.doubleValue,
                  r >= 0, c >= 0, r <= 1e12, c <= 1e12, r * c < 1e12 else { throw bad("bad tensor entry") }
            let count = Int(r) * Int(c)
            guard offset + count * 4 <= bytes.count else { throw bad("truncated (tensor '\(name)' is cut off)") }
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count {
                let o = offset + i * 4
                values[i] = Float(bitPattern: UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24)
            }
            offset += count * 4
            tensors.append(NamedTensor(name: name, rows: Int(r), cols: Int(c), values: values))
        }
        guard offset == bytes.count else { throw bad("\(bytes.count - offset) unexpected trailing bytes") }
        for k in ["format", "type", "tensors", "tensor_bytes"] { h[k] = nil }
        return ModelFile(type: type, header: h, tensors: tensors)
    }

    public static func read(path: String) throws -> ModelFile {
        guard FS.stat(path)?.isRegular == true else { throw MLError.fileNotFound(path, what: "model file") }
        return try decode(FS.readFile(path), path: path)
    }
}
