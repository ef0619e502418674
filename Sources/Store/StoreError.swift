import Support

/// Errors of the store library. Each carries what a person needs to act: the object id,
/// the revision or the path.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    case notARepository(String)
    case alreadyExists(String)
    case objectMissing(ObjectId, context: String?)
    case objectCorrupt(ObjectId, location: String, reason: String)
    case corruptFile(String, reason: String)
    case badRevision(String, reason: String)
    case ambiguousRevision(String, candidates: Int)
    case badPath(String, reason: String)
    case badRefName(String)
    case refExists(String)
    case locked(String)
    case wrongKind(ObjectId, expected: ObjectKind, found: ObjectKind)
    case unsafeTree(ObjectId, name: String)
    case uncommittedChanges([String])
    case untrackedWouldBeOverwritten([String])
    case nothingToCommit
    case system(SystemError)
    case invalid(String)

    public var description: String {
        switch self {
        case .notARepository(let p): return "not an mlrepo repository (or any parent up to /): \(p)"
        case .alreadyExists(let p): return "a repository already exists at \(p)"
        case let .objectMissing(id, ctx):
            return "object \(id.hex) is missing from the store" + (ctx.map { " (needed by \($0))" } ?? "")
        case let .objectCorrupt(id, loc, reason): return "object \(id.hex) is corrupt in \(loc): \(reason)"
        case let .corruptFile(p, reason): return "\(p) is corrupt: \(reason)"
        case let .badRevision(r, reason): return "bad revision '\(r)': \(reason)"
        case let .ambiguousRevision(r, n): return "ambiguous revision '\(r)': \(n) objects start with it; use more digits"
        case let .badPath(p, reason): return "\(p): \(reason)"
        case .badRefName(let n):
            return "'\(RefName.printable(n))' is not a valid branch or tag name" + (RefName.shortProblem(n).map { ": \($0)" } ?? "")
        case .refExists(let n): return "'\(n)' already exists"
        case .locked(let p): return "another mlrepo process is writing to this repository (lock held on \(p)); try again when it finishes"
        case let .wrongKind(id, e, f): return "object \(id.hex) is a \(f.name), expected a \(e.name)"
        case let .unsafeTree(id, name): return "tree \(id.hex) holds an unsafe entry name '\(name)'; refusing to use it"
        case .uncommittedChanges(let paths):
            return "your local changes would be overwritten: \(Self.list(paths)) (commit them, or use --force to discard them)"
        case .untrackedWouldBeOverwritten(let paths):
            return "untracked files would be overwritten: \(Self.list(paths)) (move them away, or use --force)"
        case .nothingToCommit: return "nothing to commit (use 'mlrepo add' to stage changes)"
        case .system(let e): return e.description
        case .invalid(let m): return m
        }
    }

    static func list(_ paths: [String]) -> String {
        let head = paths.prefix(5).joined(separator: ", ")
        return paths.count > 5 ? head + " and \(paths.count - 5) more" : head
    }
}

/// Runs `body`, turning SystemError into StoreError.system so callers see one error type.
@inline(__always)
func sys<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as SystemError { throw StoreError.system(e) }
}
