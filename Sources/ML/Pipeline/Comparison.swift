import Store
import Support

/// One side of a params or metrics comparison: a commit, or the work tree ("workspace").
public enum ComparisonSide: Sendable, Equatable {
    /// A commit (nil: an unborn branch, which has no values) and how to name it.
    case commit(ObjectId?, label: String)
    case workspace

    public var label: String { if case .commit(_, let l) = self { return l }; return "workspace" }
}

extension MLRepo {
    /// The side `rev` names: "workspace" or nil (unless `defaultHead`) is the work tree,
    /// anything else a commit.
    public func comparisonSide(_ rev: String?, defaultHead: Bool) throws -> ComparisonSide {
        guard let rev else {
            if defaultHead { return .commit(try repo.refs.headCommit(), label: "HEAD") }
            return .workspace
        }
        if rev == "workspace" { return .workspace }
        return .commit(try repo.resolveCommit(rev), label: rev)
    }

    /// Params (`metrics` false) or metrics values of one side, for the stages its project
    /// declares, by file then flattened key. A params file or key missing on that side is
    /// left out (so a comparison shows it as added or removed).
    public func values(of side: ComparisonSide, metrics: Bool) throws -> ValuesByFile {
        var out: ValuesByFile = [:]
        switch side {
        case .commit(let id, _):
            guard let id else { return [:] }
            let files = try repo.files(ofCommit: id)
            guard let project = try project(in: files, label: id.short) else { return [:] }
            let read: (String) throws -> String? = { p in try files[p].map { try self.text(of: $0.id, path: p) } }
            try Self.collect(project, metrics: metrics, read: read, into: &out)
        case .workspace:
            guard let project = try workProject() else { return [:] }
            try Self.collect(project, metrics: metrics, read: workText, into: &out)
        }
        return out
    }

    private static func collect(_ project: Project, metrics: Bool, read: (String) throws -> String?, into out: inout ValuesByFile) throws {
        for name in project.order {
            let s = project.stages[name]!
            if metrics {
                for m in s.metrics { if let t = try read(m.path) { out[m.path] = try readMetrics(t, file: m.path) } }
            } else {
                for r in s.params {
                    guard let v = try? readParams([r], stage: name, read: read) else { continue }
                    for (f, kv) in v { out[f, default: [:]].merge(kv) { $1 } }
                }
                for (f, kv) in s.builtinParams { out[f, default: [:]].merge(kv) { $1 } }
            }
        }
    }
}
