import ML
import Store
import Support

// `diff --rows`: the rows of tables that changed.

/// STUB (issue 16): prints the row changes of each modified, added or deleted table among
/// `entries` (text, or `--json`), honouring `--key`, `--limit` and `--offset`.
func runRowDiff(_ entries: [DiffEntry], from: DiffSide, to: DiffSide, _ a: Args, _ ctx: Context) throws -> Int32 {
    throw UserError(message: "diff --rows is not built yet")
}
