#if canImport(Glibc)
import Glibc
#endif
import CShims

/// The tool's version, recorded in lineage records and printed by `mlrepo --version`.
public let mlrepoVersion = "0.2.0"

/// Runs child processes (pipeline stages) with the caller's stdin/stdout/stderr.
public enum Subprocess {
    /// Runs `/bin/sh -c command` in `cwd` with the current environment plus `env`, waits
    /// for it and returns its exit status (128 + N when killed by signal N).
    public static func shell(_ command: String, cwd: String, env: [String: String] = [:]) throws -> Int32 {
        try run(["/bin/sh", "-c", command], cwd: cwd, env: env)
    }

    public static func run(_ argv: [String], cwd: String, env extra: [String: String] = [:]) throws -> Int32 {
        var envStrings: [String] = []
        var seen = Set<String>()
        for (k, v) in extra { envStrings.append("\(k)=\(v)"); seen.insert(k) }
        var e = environ
        while let p = e.pointee {
            let s = String(cString: p)
            let key = s.split(separator: "=", maxSplits: 1).first.map(String.init) ?? s
            if !seen.contains(key) { envStrings.append(s) }
            e += 1
        }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = envStrings.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) }; for p in cEnv { free(p) } }
        var pid: Int32 = 0
        let rc = mlrepo_spawn(argv[0], cArgs, cEnv, cwd, &pid)
        guard rc == 0 else { throw SystemError("run '\(argv.joined(separator: " "))' in", cwd, code: rc) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { throw SystemError("waitpid", argv[0]) }
        }
        let sig = status & 0x7f
        if sig == 0 { return (status >> 8) & 0xff }
        return 128 + sig
    }
}

extension FS {
    /// Creates a fresh private folder under $TMPDIR (or /tmp) and returns its path.
    public static func makeTempDirectory(prefix: String) throws -> String {
        let base = Env.get("TMPDIR").flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/" + prefix + "XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw SystemError("mkdtemp", base)
        }
        return String(cString: template)
    }

    /// Removes a file or a folder and everything below it (symlinks are removed, not
    /// followed). Missing paths are fine.
    public static func removeTree(_ path: String) {
        guard let st = lstat(path) else { return }
        if st.isDirectory {
            for e in (try? list(path)) ?? [] { removeTree(path + "/" + e.name) }
            _ = rmdir(path)
        } else { try? unlink(path) }
    }
}
