/// Who makes commits and reflog entries: resolved by the host (the CLI, from its environment,
/// the user's config files and the host name) and passed in. The library reads none of them.
///
/// A signature takes, in order: `name`/`email` (the host's overrides), the repository's
/// `user.name`/`user.email`, `userName`/`userEmail` (the user's own config files), then
/// `login` and `LOGIN@HOST`.
public struct Identity: Sendable, Equatable {
    /// Overrides of the repository's config (the CLI: MLREPO_AUTHOR_NAME, else GIT_AUTHOR_NAME).
    public var name: String?
    /// Overrides of the repository's config (the CLI: MLREPO_AUTHOR_EMAIL, else GIT_AUTHOR_EMAIL).
    public var email: String?
    /// `user.name` from the user's own configuration (the CLI: ~/.mlrepoconfig, else ~/.gitconfig).
    public var userName: String?
    /// `user.email` from the user's own configuration.
    public var userEmail: String?
    /// The login name, the last resort for the name (the CLI: USER, else LOGNAME).
    public var login: String
    /// The host name, for the last-resort email `LOGIN@HOST`.
    public var host: String
    /// A fixed time for every signature (Unix seconds; the CLI: MLREPO_AUTHOR_DATE), for
    /// reproducible output. Nil: the clock.
    public var time: Int64?

    public init(name: String? = nil, email: String? = nil, userName: String? = nil, userEmail: String? = nil,
                login: String = "unknown", host: String = "localhost", time: Int64? = nil) {
        self.name = name; self.email = email; self.userName = userName; self.userEmail = userEmail
        self.login = login; self.host = host; self.time = time
    }
}

/// How a process uses its repositories: resolved by the host (the CLI from its environment)
/// and passed to `Repository`. The defaults are the behaviour with nothing set.
public struct StoreSettings: Sendable {
    /// Overrides `core.fsync` when set (the CLI: MLREPO_FSYNC; "0", "false", "off" turn it off).
    public var fsync: Bool?
    /// Seconds a writer waits for another to release the repository's lock (the CLI:
    /// MLREPO_LOCK_TIMEOUT).
    public var lockTimeout: Double
    /// Overrides `chunking.avgsize` when set, checked the same way (the CLI: MLREPO_CHUNK_AVG).
    /// A value that is not a valid size gives the default size, not the config's.
    public var chunkAverage: String?
    /// Read large files through a memory map (false: read(2); the CLI: MLREPO_NO_MMAP).
    public var mapFiles: Bool
    /// Who commits.
    public var identity: Identity
    /// A short-lived process (the CLI) may ask that large transient structures (the index, a
    /// work-tree scan) are kept until it exits instead of freed: freeing 100k strings and
    /// dictionary entries costs more than the process has left to live. A long-running host
    /// leaves this off.
    public var keepTransientsUntilExit: Bool
    /// Called after objects were fetched on demand by a lazy clone (remote, objects, bytes),
    /// for a host to say so. Libraries never print.
    public var lazyFetchObserver: (@Sendable (String, Int, Int64) -> Void)?
    /// Progress of an on-demand fetch while it runs (for a progress line).
    public var lazyFetchProgress: (@Sendable (TransferProgress) -> Void)?
    /// Where S3 remotes find endpoints, regions and credentials not given in their config.
    public var s3: S3Settings

    public init(fsync: Bool? = nil, lockTimeout: Double = 10, chunkAverage: String? = nil, mapFiles: Bool = true,
                identity: Identity = Identity(), keepTransientsUntilExit: Bool = false,
                lazyFetchObserver: (@Sendable (String, Int, Int64) -> Void)? = nil,
                lazyFetchProgress: (@Sendable (TransferProgress) -> Void)? = nil, s3: S3Settings = S3Settings()) {
        self.fsync = fsync; self.lockTimeout = lockTimeout; self.chunkAverage = chunkAverage; self.mapFiles = mapFiles
        self.identity = identity; self.keepTransientsUntilExit = keepTransientsUntilExit
        self.lazyFetchObserver = lazyFetchObserver; self.lazyFetchProgress = lazyFetchProgress; self.s3 = s3
    }
}

/// Defaults for S3 remotes, used where a remote's own config (`remote.NAME.endpoint`,
/// `.region`, `.profile`) says nothing. The CLI fills them from the AWS variables.
public struct S3Settings: Sendable, Equatable {
    /// An endpoint for every S3 remote (the CLI: AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL).
    public var endpoint: String?
    /// The region (the CLI: AWS_REGION, else AWS_DEFAULT_REGION); nil: us-east-1.
    public var region: String?
    /// Credentials given directly (the CLI: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_SESSION_TOKEN); they win over any profile.
    public var credentials: AWSCredentials?
    /// The shared credentials file (the CLI: AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials).
    public var credentialsFile: String?
    /// The profile of that file when a remote names none (the CLI: AWS_PROFILE); nil: "default".
    public var profile: String?
    /// A PEM file of CAs that https endpoints are checked against instead of the system's
    /// (the CLI: AWS_CA_BUNDLE, else SSL_CERT_FILE).
    public var caFile: String?

    public init(endpoint: String? = nil, region: String? = nil, credentials: AWSCredentials? = nil,
                credentialsFile: String? = nil, profile: String? = nil, caFile: String? = nil) {
        self.endpoint = endpoint; self.region = region; self.credentials = credentials
        self.credentialsFile = credentialsFile; self.profile = profile; self.caFile = caFile
    }

    /// The settings the AWS command-line tools would take from `env` (an environment).
    public init(environment env: [String: String]) {
        endpoint = env["AWS_ENDPOINT_URL_S3"] ?? env["AWS_ENDPOINT_URL"]
        region = env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"]
        if let a = env["AWS_ACCESS_KEY_ID"], let s = env["AWS_SECRET_ACCESS_KEY"], !a.isEmpty, !s.isEmpty {
            credentials = AWSCredentials(accessKey: a, secretKey: s, sessionToken: env["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
        }
        credentialsFile = env["AWS_SHARED_CREDENTIALS_FILE"] ?? ((env["HOME"] ?? "") + "/.aws/credentials")
        profile = env["AWS_PROFILE"]
        caFile = ["AWS_CA_BUNDLE", "SSL_CERT_FILE"].lazy.compactMap { env[$0] }.first { !$0.isEmpty }
    }
}
