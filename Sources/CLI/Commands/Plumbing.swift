import ML
import Store
import Support

// Plumbing with stable machine output: `rev-parse`, `hash-object`, `cat-object`, `ls-tree`.

let revParseCommand = Command(
    name: "rev-parse", kind: .plumbing, summary: "print the full id of revisions",
    usage: "mlrepo rev-parse REV...\n\nREV: a full id or unique prefix (4+ hex digits), HEAD, a branch, a tag, refs/..., with ~N, ^ or ^N;\nREV:PATH is the id of the file or folder at PATH in REV.\n--abbrev-ref HEAD prints the branch name.",
    flags: ["abbrevRef": ["--abbrev-ref"], "short": ["--short"]]
) { a, ctx in
    guard !a.positional.isEmpty else { throw UsageError(message: "rev-parse needs a revision") }
    let repo = try ctx.repository()
    for r in a.positional {
        if a.has("abbrevRef") && r == "HEAD" {
            if case .branch(let b) = try repo.refs.head() { ctx.out.line(b) } else { ctx.out.line("HEAD") }
            continue
        }
        let id: ObjectId
        if r.contains(":") {
            // REV:PATH names the file or folder at PATH in REV, as in git.
            let (commit, path) = try repo.resolvePathSpec(r)
            guard let e = try repo.entry(in: repo.readCommit(commit).tree, path: path) else {
                throw UserError(message: "path '\(path)' does not exist in \(r.split(separator: ":").first.map(String.init) ?? "HEAD") (\(commit.short))")
            }
            id = e.id
        } else { id = try repo.resolve(r) }
        ctx.out.line(a.has("short") ? id.short : id.hex)
    }
    return 0
}

let hashObjectCommand = Command(
    name: "hash-object", kind: .plumbing, summary: "print the id a file would have",
    usage: "mlrepo hash-object [-w] FILE...\n\n-w also stores it. Outside a repository, ids use the default chunk size.",
    flags: ["write": ["-w"]]
) { a, ctx in
    guard !a.positional.isEmpty else { throw UsageError(message: "hash-object needs a file") }
    for f in a.positional {
        let path = f.hasPrefix("/") ? f : Path.join(ctx.cwd, f)
        guard let st = FS.stat(path), st.isRegular else { throw UserError(message: "cannot hash '\(f)': not a regular file") }
        let repo = try? ctx.repository()
        if a.has("write") {
            guard let repo else { throw UserError(message: "hash-object -w needs a repository") }
            ctx.out.line(try repo.hashFile(path, write: true).id.hex)
        } else if let repo {
            ctx.out.line(try repo.hashFile(path, write: false).id.hex)
        } else {
            let tmp = try ObjectStore(directory: "/nonexistent-mlrepo-scratch", durable: false)
            tmp.mapFiles = Settings.store.mapFiles
            ctx.out.line(try FileWriter(store: tmp, chunker: .default, dryRun: true).store(path: path).id.hex)
        }
    }
    return 0
}

let catObjectCommand = Command(
    name: "cat-object", kind: .plumbing, summary: "print an object's payload, kind or size",
    usage: "mlrepo cat-object [-t | -s | -p] ID\n\nWithout a flag: the raw payload bytes. -t kind, -s payload size, -p pretty form.",
    flags: ["type": ["-t"], "size": ["-s"], "pretty": ["-p"]]
) { a, ctx in
    guard a.positional.count == 1 else { throw UsageError(message: "cat-object takes one object id") }
    let repo = try ctx.repository()
    let id = try repo.resolve(a.positional[0])
    guard let info = try repo.store.info(id) else { throw UserError(message: "object \(id.hex) is missing") }
    if a.has("type") { ctx.out.line(info.kind.name); return 0 }
    if a.has("size") { ctx.out.line(String(info.size)); return 0 }
    try repo.store.withObject(id) { kind, bytes in
        guard a.has("pretty") else { ctx.out.writeBytes(bytes); return }
        switch kind {
        case .tree:
            for e in try Tree.decode(bytes, id: id).entries { ctx.out.line("\(e.mode.octal) \(e.size) \(e.id.hex)\t\(e.name)") }
        case .chunks:
            let l = try ChunkList.decode(bytes, id: id)
            ctx.out.line("level \(l.level) size \(l.totalSize) parts \(l.parts.count)")
            for p in l.parts { ctx.out.line("\(p.id.hex) \(p.size)") }
        default: ctx.out.writeBytes(bytes)
        }
    }
    return 0
}

let lsTreeCommand = Command(
    name: "ls-tree", kind: .plumbing, summary: "list a tree's entries",
    usage: """
    mlrepo ls-tree [-r] [--json] REV [PATH]

    One line per entry: mode, kind, id, size, path. -r recurses into folders.
    --json prints [{"path", "id", "size", "mode"}] (mode as octal text).
    """,
    flags: ["recursive": ["-r"], "json": ["--json"]]
) { a, ctx in
    guard (1...2).contains(a.positional.count) else { throw UsageError(message: "ls-tree takes REV [PATH]") }
    let repo = try ctx.repository()
    let target = try repo.resolve(a.positional[0])
    guard let info = try repo.store.info(target) else { throw UserError(message: "object \(target.hex) is missing") }
    var tree = target
    if info.kind == .commit { tree = try repo.readCommit(target).tree }
    else if info.kind != .tree { throw UserError(message: "'\(a.positional[0])' is not a commit or tree") }
    var base = ""
    if a.positional.count == 2 {
        var p = a.positional[1]
        while p.hasSuffix("/") { p.removeLast() }
        guard let e = try repo.entry(in: tree, path: p) else { throw UserError(message: "path '\(p)' does not exist in \(a.positional[0])") }
        if e.mode.isDirectory { tree = e.id; base = p } else {
            let row: [(String, TreeEntry)] = [(p, e)]
            return try emitTree(row, a, ctx)
        }
    }
    var rows: [(String, TreeEntry)] = []
    let recursive = a.has("recursive")
    try repo.walkTree(tree, base: base, descend: { _, _ in recursive }) { p, e in
        if !(e.mode.isDirectory && recursive) { rows.append((p, e)) }
    }
    return try emitTree(rows, a, ctx)
}

func emitTree(_ rows: [(String, TreeEntry)], _ a: Args, _ ctx: Context) throws -> Int32 {
    if a.has("json") {
        ctx.out.line(JSON.array(rows.map { p, e in .object([
            "path": .string(p), "id": .string(e.id.hex), "size": .int(Int64(e.size)),
            "mode": .string(String(repeating: "0", count: max(0, 6 - e.mode.octal.count)) + e.mode.octal),
            "type": .string(e.mode.isDirectory ? "tree" : "file"),
        ]) }).encoded(pretty: true))
        return 0
    }
    for (p, e) in rows {
        let mode = String(repeating: "0", count: max(0, 6 - e.mode.octal.count)) + e.mode.octal
        ctx.out.line("\(mode) \(e.mode.isDirectory ? "tree" : "file") \(e.id.hex) \(String(e.size).leftPad(12))\t\(Quote.path(p))")
    }
    return 0
}
