import ML
import Store
import Support

// `mlrepo config`: repository settings.

let configCommand = Command(
    name: "config", kind: .porcelain, summary: "get or set repository settings",
    usage: """
    mlrepo config KEY [VALUE]
    mlrepo config --list
    mlrepo config --unset KEY

    Keys: user.name, user.email, core.compression (none|auto|all), core.fsync (true|false),
    chunking.avgsize (bytes, power of two; affects new files only).
    A line of .mlrepo/config that does not parse stops every command, naming the file and
    line; setting or unsetting a key rewrites the file without such lines (and says so).
    """,
    flags: ["list": ["-l", "--list"], "unset": ["--unset"]]
) { a, ctx in
    // Opened leniently, so that setting or unsetting a key can repair a broken file.
    let repo = try Repository.discover(from: ctx.cwd, lenientConfig: true, settings: Settings.store)
    let path = repo.dotDir + "/config"
    let writes = !a.has("list") && (a.has("unset") || a.positional.count == 2)
    if !writes, let p = repo.config.problems.first { throw UserError(message: "\(path):\(p.line): \(p.reason)") }
    func set(_ key: String, _ value: String?) throws {
        for d in try repo.setConfig(key, value, dropUnparseable: true) { ctx.err.line("warning: \(d); removed that line") }
    }
    if a.has("list") {
        for (k, v) in repo.config.values { ctx.out.line("\(k)=\(v)") }
        return 0
    }
    guard let key = a.positional.first, a.positional.count <= 2 else { throw UsageError(message: "config takes KEY [VALUE]") }
    guard key.contains(".") else { throw UsageError(message: "key '\(key)' must look like section.name") }
    if a.has("unset") { try set(key, nil); return 0 }
    if a.positional.count == 2 {
        let v = a.positional[1]
        switch key.lowercased() {
        case "core.compression":
            guard CompressionPolicy(rawValue: v) != nil else { throw UserError(message: "core.compression must be none, auto or all, not '\(v)'") }
        case "core.fsync":
            guard ["true", "false", "yes", "no", "on", "off", "1", "0"].contains(v.lowercased()) else { throw UserError(message: "core.fsync must be true or false") }
        case "chunking.avgsize":
            guard let n = Int(v), n >= 256, n <= FormatLimits.maxAverageChunkSize, n & (n - 1) == 0 else {
                throw UserError(message: "chunking.avgsize must be a power of two from 256 to \(FormatLimits.maxAverageChunkSize)")
            }
        default: break
        }
        try set(key, v)
        return 0
    }
    guard let v = repo.config[key] else { return 1 }
    ctx.out.line(v)
    return 0
}
