import Store
import Support

/// A model as the registry sees it in a commit: a file, or a folder promoted as a unit (its
/// tree id is the model id), with its format, its size and, for the formats mlrepo reads
/// (`.mlmodel`, ONNX), its signature.
public struct ModelArtifact: Sendable {
    public var path: String
    /// The file's id, or the folder's tree id.
    public var id: ObjectId
    public var isFolder: Bool
    public var format: ModelFormat
    /// Bytes: the file's, or the total of the folder's files.
    public var size: UInt64
    public var signature: ModelSignature?
    /// Why there is no signature although the format is one mlrepo reads (the file does not
    /// decode, or is too large to read); nil otherwise.
    public var signatureError: String?
}

extension MLRepo {
    /// Bytes of a file's head the registry recognises a format from.
    static let headBytes = 4_096
    /// Files larger than this are not read for a signature (ONNX's own limit for one file).
    static let maxSignatureBytes = UInt64(Int32.max)

    /// The first bytes (at most `limit`) of a stored file: its first chunk, verified, so a
    /// large model is not read whole to tell its format.
    func head(of id: ObjectId, limit: Int = MLRepo.headBytes) throws -> [UInt8] {
        struct Stop: Error {}
        var first: ObjectId? = nil
        do {
            try FileReader(store: repo.store).forEachChunk(id) { c, _ in first = c; throw Stop() }
        } catch is Stop {}
        guard let first else { return [] }
        return try repo.store.withObject(first) { _, b in Array(b.prefix(limit)) }
    }

    /// The kind declared by hand (`mlrepo add --kind`) for `path` or the nearest folder
    /// above it, as commit metadata `meta` records it.
    func declaredKind(_ meta: CommitMeta?, _ path: String) -> PathKind? {
        guard let m = meta?.manualKinds else { return nil }
        if let k = m[path] { return k }
        return m.filter { pathWithin(path, $0.key) }.max { $0.key.count < $1.key.count }?.value
    }

    /// Whether a file named `path` whose head is `head` is a model, and its format: a kind
    /// declared by hand decides; otherwise a recognised format (`ModelFormat.detect`), else the
    /// kind the commit records (a stage output of kind model: format `other`). Returns the
    /// kind it has instead when it is not a model (nil: no kind known).
    static func modelFormat(path: String, head: [UInt8], meta: CommitMeta?, declared: PathKind?) -> Result<ModelFormat, KindMismatch> {
        if let declared, declared != .model { return .failure(KindMismatch(kind: declared)) }
        if let f = ModelFormat.detect(name: path, head: head) { return .success(f) }
        let k = meta?.kind(of: path)
        if declared == .model || k == .model { return .success(.other) }
        return .failure(KindMismatch(kind: k))
    }

    struct KindMismatch: Error { var kind: PathKind? }

    /// The model at `path` in commit `commit`, named `rev` (messages name the file
    /// `REV:PATH`). Refuses a path that is not of kind model, naming its kind.
    /// With `signature`, reads an `.mlmodel` or ONNX file whole for its signature; a file that
    /// does not decode is still a model of its format, with `signatureError` saying why.
    public func modelArtifact(path: String, commit: ObjectId, rev: String, signature: Bool = true) throws -> ModelArtifact {
        let c = try repo.readCommit(commit)
        guard let entry = try repo.entry(in: c.tree, path: path) else {
            throw MLError.revision("\(commit.short) (\(rev))", reason: "has no file '\(path)'")
        }
        let meta = try meta(of: c)
        func refuse(_ kind: PathKind?) -> MLError {
            .promotionRefused(path: path, revision: commit.short, why: .notAModel(kind: kind?.rawValue))
        }
        let reader = FileReader(store: repo.store)
        if entry.mode.isDirectory {
            // A folder is a model only by its kind (declared, or a stage output of kind model).
            let k = meta?.kind(of: path)
            guard k == .model else { throw refuse(k) }
            var total: UInt64 = 0
            try repo.walkTree(entry.id) { _, e in
                guard !e.mode.isDirectory else { return }
                let (sum, over) = total.addingReportingOverflow(try reader.size(of: e.id))
                total = over ? .max : sum
            }
            return ModelArtifact(path: path, id: entry.id, isFolder: true, format: .directory, size: total)
        }
        let head = try head(of: entry.id)
        let format: ModelFormat
        switch MLRepo.modelFormat(path: path, head: head, meta: meta, declared: declaredKind(meta, path)) {
        case .success(let f): format = f
        case .failure(let m): throw refuse(m.kind)
        }
        let size = try reader.size(of: entry.id)
        var a = ModelArtifact(path: path, id: entry.id, isFolder: false, format: format, size: size)
        if signature { try readSignature(&a, rev: rev) }
        return a
    }

    /// Reads the signature of an `.mlmodel` or ONNX file (whole, up to 2 GiB); one that does
    /// not decode gets `signatureError` instead. Other formats: nothing. Throws only when the
    /// store cannot give the file's bytes (missing, corrupt).
    public func readSignature(_ a: inout ModelArtifact, rev: String) throws {
        guard !a.isFolder, a.format == .mlmodel || a.format == .onnx else { return }
        guard a.size <= MLRepo.maxSignatureBytes else {
            a.signatureError = "\(a.size) bytes is over the 2 GiB a signature is read from"
            return
        }
        let shownAs = "\(rev):\(a.path)"
        // Grown as verified chunks arrive, not reserved from the size the store claims.
        var bytes: [UInt8] = []
        try FileReader(store: repo.store).read(a.id) { bytes.append(contentsOf: $0) }
        do {
            a.signature = a.format == .mlmodel ? ModelSignature(mlmodel: try ModelFile.decode(bytes, path: shownAs))
                                               : ModelSignature(onnx: try ONNXModel.decode(bytes, path: shownAs))
        } catch {
            a.signatureError = "\(error)"
        }
    }
}
