import Store
import Support

/// The ML layer: pipelines (`mlrepo.json`), lineage records, params and metrics, kinds and
/// data profiles. It sits on the Store and, later, the compute core; it never prints.
public enum ML {
    /// Version of the lineage-record and commit-metadata JSON schemas.
    public static let schemaVersion = 1
}
