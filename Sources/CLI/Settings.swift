#if canImport(Glibc)
import Glibc
#endif
import Store
import Support

/// What the CLI resolves for the libraries, which read no environment, no user config file
/// and no host name themselves: the store's settings and the committer's identity, from
/// the environment, ~/.mlrepoconfig, ~/.gitconfig and the host name. Every repository this
/// process opens gets `Settings.store`.
enum Settings {
    /// This process's store settings (read once, when the first repository opens; the
    /// command's entry point adds its hooks before that).
    nonisolated(unsafe) static var store = fromEnvironment()

    /// Store settings from the environment:
    ///   MLREPO_FSYNC         "0", "false" or "off" turns fsync off, anything else on (else core.fsync)
    ///   MLREPO_LOCK_TIMEOUT  seconds to wait for another writer (default 10)
    ///   MLREPO_CHUNK_AVG     average chunk size (else chunking.avgsize)
    ///   MLREPO_NO_MMAP       set: read files with read(2), not a memory map
    ///   AWS_*                S3 endpoint, region and credentials (`S3Settings(environment:)`)
    /// and the identity (`identity(env:)`).
    static func fromEnvironment(_ env: [String: String] = Env.all()) -> StoreSettings {
        var s = StoreSettings()
        if let e = env["MLREPO_FSYNC"] { s.fsync = !(e == "0" || e == "false" || e == "off") }
        s.lockTimeout = env["MLREPO_LOCK_TIMEOUT"].flatMap(Double.init) ?? 10
        s.chunkAverage = env["MLREPO_CHUNK_AVG"]
        s.mapFiles = env["MLREPO_NO_MMAP"] == nil
        s.identity = identity(env: env)
        s.s3 = S3Settings(environment: env)
        return s
    }

    /// The committer: MLREPO_AUTHOR_NAME/EMAIL, else GIT_AUTHOR_NAME/EMAIL (these override
    /// the repository's user.name/user.email); user.name/user.email of ~/.mlrepoconfig, else
    /// ~/.gitconfig (after the repository's); the login (USER, else LOGNAME) and the host
    /// name; MLREPO_AUTHOR_DATE (Unix seconds) fixes the time, for reproducible tests.
    static func identity(env: [String: String]) -> Identity {
        func first(_ names: [String]) -> String? {
            for n in names { if let v = env[n], !v.isEmpty { return v } }
            return nil
        }
        let home = env["HOME"] ?? ""
        // Lenient: ~/.gitconfig is git's (its syntax is wider than ours) and only user.* is read.
        let globals = [Config.loadLenient(home + "/.mlrepoconfig"), Config.loadLenient(home + "/.gitconfig")]
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        let hostName = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Identity(name: first(["MLREPO_AUTHOR_NAME", "GIT_AUTHOR_NAME"]),
                        email: first(["MLREPO_AUTHOR_EMAIL", "GIT_AUTHOR_EMAIL"]),
                        userName: globals.lazy.compactMap { $0["user.name"] }.first,
                        userEmail: globals.lazy.compactMap { $0["user.email"] }.first,
                        login: env["USER"] ?? env["LOGNAME"] ?? "unknown",
                        host: hostName,
                        time: env["MLREPO_AUTHOR_DATE"].flatMap { Int64($0) })
    }
}

extension Settings {
    /// A repository's table settings: `table.key`, the column that matches rows in table
    /// merges and `diff --rows` (`--key` overrides it), and `table.label`, the label column
    /// whose class counts `diff --rows` reports (else `label`, `target` or `y`).
    static func table(_ config: Config) -> (key: String?, label: String?) {
        func v(_ k: String) -> String? { config[k].flatMap { $0.trimmed().isEmpty ? nil : $0.trimmed() } }
        return (v("table.key"), v("table.label"))
    }
}
