import ML
import Store
import Support

// SCAFFOLD (helper B builds it): the in-memory index of the history behind the experiment
// table, the charts and compare pages. Built once (every commit's metadata read once), then
// brought up to date when a ref moves, so a page over 10,000 commits is served from memory.

/// Every commit reachable from a branch (or tag), with its params and metrics.
public final class ExperimentIndex: @unchecked Sendable {
    public let ml: MLRepo
    /// Rows newest first (every commit reachable from any branch, each once).
    public private(set) var rows: [ExperimentRow] = []
    /// Branch name → tip commit.
    public private(set) var branches: [(name: String, tip: ObjectId)] = []

    public init(ml: MLRepo) { self.ml = ml }

    /// Brings the index up to date with the refs (cheap when nothing moved).
    public func refresh() throws {
        guard let head = try ml.repo.refs.headCommit() else { rows = []; return }
        if rows.first?.id == head { return }
        rows = try ml.experiments(from: head, limit: nil)
    }
}
