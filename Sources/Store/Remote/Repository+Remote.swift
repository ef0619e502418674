#if canImport(Glibc)
import Glibc
#endif
import Support

/// A configured remote (`remote.NAME.url` and friends in `.mlrepo/config`).
public struct RemoteSpec: Sendable, Equatable {
    public var name: String
    public var url: String
    public var endpoint: String?
    public var region: String?
    public var profile: String?

    public init(name: String, url: String, endpoint: String? = nil, region: String? = nil, profile: String? = nil) {
        self.name = name; self.url = url; self.endpoint = endpoint; self.region = region; self.profile = profile
    }
}

extension Repository {
    // MARK: Configuration

    static func validRemoteName(_ n: String) -> Bool {
        !n.isEmpty && n.count <= 64 && n.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }
    }

    public func remotes() -> [RemoteSpec] {
        var names: [String] = []
        for (k, _) in config.values where k.hasPrefix("remote.") && k.hasSuffix(".url") {
            let n = String(k.dropFirst(7).dropLast(4))
            // A hand-edited name like ".." would become paths (.mlrepo/remotes/NAME, refs/remotes/NAME/…).
            if Repository.validRemoteName(n) && !names.contains(n) { names.append(n) }
        }
        return names.sorted().map { n in
            RemoteSpec(name: n, url: config["remote.\(n).url"] ?? "", endpoint: config["remote.\(n).endpoint"],
                       region: config["remote.\(n).region"], profile: config["remote.\(n).profile"])
        }
    }

    public func remote(_ name: String) throws -> RemoteSpec {
        guard let r = remotes().first(where: { $0.name == name }) else {
            let known = remotes().map(\.name)
            throw StoreError.invalid("no remote '\(name)'" + (known.isEmpty ? " (add one with 'mlrepo remote add NAME URL')" : " (remotes: \(known.joined(separator: ", ")))"))
        }
        return r
    }

    public func addRemote(_ spec: RemoteSpec) throws {
        guard Repository.validRemoteName(spec.name) else {
            throw StoreError.invalid("remote name '\(spec.name)': use lowercase letters, digits, '-' and '_'")
        }
        guard !remotes().contains(where: { $0.name == spec.name }) else { throw StoreError.invalid("remote '\(spec.name)' already exists") }
        _ = try Repository.transport(for: spec, cwd: root, create: false, check: false, s3: settings.s3)
        try setConfig("remote.\(spec.name).url", spec.url)
        if let e = spec.endpoint { try setConfig("remote.\(spec.name).endpoint", e) }
        if let r = spec.region { try setConfig("remote.\(spec.name).region", r) }
        if let p = spec.profile { try setConfig("remote.\(spec.name).profile", p) }
    }

    public func removeRemote(_ name: String) throws {
        _ = try remote(name)
        if config.bool("remote.\(name).lazy") == true {
            throw StoreError.invalid("remote '\(name)' holds the file data this lazy clone has not fetched; run 'mlrepo fetch --full \(name)' before removing it")
        }
        for k in ["url", "endpoint", "region", "profile", "lazy"] { try setConfig("remote.\(name).\(k)", nil) }
        for (ref, _) in (try? refs.list("remotes/\(name)")) ?? [] { try? refs.delete("refs/remotes/\(name)/\(ref)") }
        FS.removeTree(dotDir + "/remotes/" + name)
    }

    /// The transport for a remote URL: a folder (path or file://) or s3://. An S3 remote
    /// takes what its spec leaves unset (endpoint, region, profile) from `s3`.
    public static func transport(for spec: RemoteSpec, cwd: String, create: Bool, check: Bool = true,
                                 s3: S3Settings = S3Settings()) throws -> any RemoteTransport {
        let url = spec.url
        if url.hasPrefix("s3://") {
            let creds = AWSCredentials.discover(profile: spec.profile, settings: s3)
            return try S3Transport(url: url, endpoint: spec.endpoint ?? s3.endpoint, region: spec.region ?? s3.region, credentials: creds,
                                   caFile: s3.caFile)
        }
        var path = url
        if path.hasPrefix("file://") { path = String(path.dropFirst(7)) }
        guard !path.contains("://") else { throw StoreError.invalid("remote URL '\(url)': use a folder, file://PATH or s3://BUCKET/PREFIX") }
        if !path.hasPrefix("/") { path = Path.join(cwd, path) }
        if !check { return try DirectoryTransport(root: path, create: false, mustExist: false) }
        return try DirectoryTransport(root: path, create: create)
    }
}
