#if canImport(Glibc)
import Glibc
#endif
import CShims
import Compute
import ComputeGPU
import ML
import Net
import Serve
import Store
import Support

let serveCommand = Command(
    name: "serve", kind: .porcelain, summary: "serve a model over HTTP (MLflow's scoring protocol), with metrics and drift monitoring",
    usage: """
    mlrepo serve [TARGET] [--model PATH] [--host H] [--port P] [--workers N] [--log FILE] [--backend cpu|gpu|auto]
                 [--follow REF [--poll-interval S]] [--canary REV --canary-percent N]
                 [--max-body BYTES] [--max-header BYTES] [--read-timeout S] [--header-timeout S]
                 [--idle-timeout S] [--max-connections N] [--max-connections-per-client N]
                 [--shutdown-timeout S] [--auth-token-file FILE [--auth-all]]
                 [--tls-cert FILE --tls-key FILE]
    mlrepo serve --remote URL --alias NAME [--endpoint URL] [--region R] [--cache DIR]
                 [--poll S] [--max-model-bytes N] [other serve options]

    TARGET is a revision (commit id, branch, tag, HEAD~N; default HEAD, or REF with --follow)
    whose tree holds one .mlmodel or .onnx file (or the one --model PATH names), REV:PATH, or a
    model file on disk. ONNX models (docs/onnx.md) take a request's columns by the names in
    their metadata, else their training data's header (lineage), else by position; a model
    with one input per column takes each from the column of its name (string inputs: text).
    An ONNX model's drift statistics come from the data the stage that wrote it read; without
    lineage, /health says drift is off and why. Other formats (pickle, PyTorch, …) are
    refused at start with the export that makes them servable. Listens on 127.0.0.1:5000
    unless told otherwise (--port 0: any free port).

    Endpoints: POST /invocations (JSON with one of dataframe_split, dataframe_records,
    instances, inputs; or text/csv), answering {"predictions": [...]} (add ?probabilities=true
    for class probabilities); GET /ping, /health, /version, /metrics (Prometheus), /monitor
    (drift per feature as JSON). One JSON access-log line per request goes to stderr, or to
    --log FILE. --follow REF polls REF every --poll-interval seconds (default 2) and swaps in
    the new model without dropping a request. --canary sends a deterministic
    --canary-percent share of requests to a second model. SIGINT/SIGTERM stop accepting,
    finish requests in flight (up to --shutdown-timeout, default 10 s) and exit 0.
    --backend (default cpu) scores on the GPU with gpu (built-in models, and an ONNX model's
    Gemm and MatMul; exits non-zero when none loads) or auto (the GPU if one loads, else the
    CPU, and says so); a worker whose device fails starts over (on the CPU if the GPU's
    context is lost); see docs/gpu.md.

    Limits: a request head must arrive within --header-timeout seconds (default 10; of the
    accept for a new connection, else of the request's first byte), the whole request within
    --read-timeout (default 30); idle keep-alive connections close after --idle-timeout
    (default 60). At --max-connections (default 4096) or --max-connections-per-client
    (default 512, per client address) a new connection first closes the oldest connection
    that has not completed a request, else the longest-idle keep-alive one; 503 only when
    every connection is busy. The open-file limit is raised to fit --max-connections.

    --auth-token-file FILE: requests need `Authorization: Bearer TOKEN` with one of the
    tokens in FILE (one per line; blank lines and lines starting with # are skipped), else
    401 with WWW-Authenticate: Bearer. /ping and /health stay open unless --auth-all. Tokens
    are never logged. --tls-cert FILE --tls-key FILE (PEM; the certificate file may hold the
    chain) serve HTTPS, through the system's libssl.so.3, loaded at run time.

    A replica with no repository: --remote URL (s3://BUCKET/PREFIX, with --endpoint for an
    S3-compatible server, or a folder) --alias NAME serves the model promoted to NAME there,
    fetching only that model and its metadata into --cache DIR (default
    $XDG_CACHE_HOME/mlrepo/serve/HASH, else ~/.cache/…; replicas on one machine may share
    it, through the lock file DIR.lock). Every --poll seconds (default 2; --poll-interval
    is the same) it reads the alias with one conditional request and, when it moved,
    fetches the new model and swaps it in without dropping a request; a promotion that
    cannot be fetched or loaded is logged (reload_failed) and the old model stays. A
    promotion of a format mlrepo does not run (pickle, folder, …) or of a model over
    --max-model-bytes (default 4 GiB) is refused before its data is fetched.
    """,
    flags: ["auth-all": ["--auth-all"]],
    options: ["model": ["--model"], "host": ["--host"], "port": ["--port", "-p"], "workers": ["--workers", "-w"],
              "log": ["--log"], "follow": ["--follow"], "poll": ["--poll-interval", "--poll"], "canary": ["--canary"],
              "canary-percent": ["--canary-percent"], "max-body": ["--max-body"], "max-header": ["--max-header"],
              "read-timeout": ["--read-timeout"], "idle-timeout": ["--idle-timeout"], "max-connections": ["--max-connections"],
              "shutdown-timeout": ["--shutdown-timeout"], "header-timeout": ["--header-timeout"],
              "max-connections-per-client": ["--max-connections-per-client"], "auth-token-file": ["--auth-token-file"],
              "tls-cert": ["--tls-cert"], "tls-key": ["--tls-key"], "remote": ["--remote"], "alias": ["--alias"],
              "endpoint": ["--endpoint"], "region": ["--region"], "cache": ["--cache"],
              "max-model-bytes": ["--max-model-bytes"], "backend": ["--backend"]]
) { a, ctx in
    guard a.positional.count <= 1 else { throw UsageError(message: "serve takes one model target") }
    func seconds(_ o: String, _ d: Double) throws -> Double {
        guard let v = a.value(o) else { return d }
        guard let x = Double(v), x > 0, x.isFinite else { throw UsageError(message: "--\(o) takes a number of seconds > 0, not '\(v)'") }
        return x
    }
    var config = ServerConfig()
    config.host = a.value("host") ?? "127.0.0.1"
    if let p = try a.int("port") { guard p <= 65535 else { throw UsageError(message: "--port takes 0–65535") }; config.port = p }
    config.workers = try a.int("workers") ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    guard config.workers >= 1 else { throw UsageError(message: "--workers takes a number ≥ 1") }
    if let b = try a.int("max-body") { guard b >= 1 else { throw UsageError(message: "--max-body takes a byte count ≥ 1") }; config.limits.maxBodyBytes = b }
    if let h = try a.int("max-header") { guard h >= 256 else { throw UsageError(message: "--max-header takes a byte count ≥ 256") }; config.limits.maxHeaderBytes = h }
    if let c = try a.int("max-connections") { guard c >= 1 else { throw UsageError(message: "--max-connections takes a number ≥ 1") }; config.maxConnections = c }
    if let c = try a.int("max-connections-per-client") {
        guard c >= 1 else { throw UsageError(message: "--max-connections-per-client takes a number ≥ 1") }
        config.maxConnectionsPerClient = c
    }
    config.readTimeout = try seconds("read-timeout", 30)
    config.headerTimeout = try seconds("header-timeout", 10)
    config.idleTimeout = try seconds("idle-timeout", 60)
    if a.has("auth-all") && a.value("auth-token-file") == nil { throw UsageError(message: "--auth-all needs --auth-token-file FILE") }
    if let f = a.value("auth-token-file") {
        config.authTokens = try readAuthTokens(f.hasPrefix("/") ? f : Path.join(ctx.cwd, f), shown: f)
        config.authAll = a.has("auth-all")
    }
    switch (a.value("tls-cert"), a.value("tls-key")) {
    case (nil, nil): break
    case (let cert?, let key?):
        config.tlsCertificate = cert.hasPrefix("/") ? cert : Path.join(ctx.cwd, cert)
        config.tlsKey = key.hasPrefix("/") ? key : Path.join(ctx.cwd, key)
    case (nil, _): throw UsageError(message: "--tls-key needs --tls-cert FILE")
    case (_, nil): throw UsageError(message: "--tls-cert needs --tls-key FILE")
    }
    // Room for every connection: raise the soft open-file limit (up to the hard one), else
    // serve fewer connections than asked.
    var fdNote: String? = nil
    var lim = rlimit()
    if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0 {
        let needed = rlim_t(config.maxConnections + 64)
        if lim.rlim_cur < needed {
            let old = lim.rlim_cur
            lim.rlim_cur = min(lim.rlim_max, needed)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) != 0 { lim.rlim_cur = old }
            if lim.rlim_cur < needed {
                let fit = max(1, Int(lim.rlim_cur) - 64)
                fdNote = "mlrepo serve: the open-file limit is \(lim.rlim_cur); serving at most \(fit) connections instead of \(config.maxConnections)"
                config.maxConnections = fit
            }
        }
    }
    config.shutdownGrace = try seconds("shutdown-timeout", 10)
    let poll = try seconds("poll", 2)
    var options = ServiceOptions()
    if let p = try a.int("canary-percent") { guard p <= 100 else { throw UsageError(message: "--canary-percent takes 0–100") }; options.canaryPercent = p }
    if a.value("canary") != nil && a.value("canary-percent") == nil { options.canaryPercent = 10 }
    if a.value("canary-percent") != nil && a.value("canary") == nil { throw UsageError(message: "--canary-percent needs --canary REV") }
    if let b = try a.value("backend").map(backendName) {
        if b != "cpu" {
            // Checked once here (gpu without a GPU fails before listening); the workers then
            // share the one device, each with its own buffers.
            let gpu = Settings.gpu
            let (probe, note) = try BackendRegistry.make(b, threads: 1, gpu: gpu)
            if let note { ctx.err.line("note: \(note)") }
            if probe.kind == "gpu" {
                options.makeBackend = { (try? BackendRegistry.make("gpu", threads: 1, gpu: gpu).backend) ?? CPUBackend(threads: 1) }
            }
        }
    }

    let follow = a.value("follow")
    let target = a.positional.first ?? follow ?? "HEAD"
    if let follow, a.positional.first != nil, a.positional.first != follow {
        throw UsageError(message: "--follow \(follow) serves what \(follow) points at; leave out TARGET or make it \(follow)")
    }
    let replica = try remoteReplica(a, ctx)
    let repo = replica == nil ? try? ctx.repository() : nil
    let (primary, cachedBecause) = try replica.map { try $0.start() } ?? (model: ModelSource(target: target, path: a.value("model")).load(repo: repo, cwd: ctx.cwd), cachedBecause: nil)
    var canary: ServedModel? = nil
    if let c = a.value("canary") {
        canary = try ModelSource(target: c, path: a.value("model")).load(repo: repo, cwd: ctx.cwd)
        guard canary!.features == primary.features || Set(canary!.features) == Set(primary.features) else {
            throw UserError(message: "the canary model's features differ from the primary's; both must score the same requests")
        }
    }
    var logFD: Int32 = 2
    if let path = a.value("log") {
        let full = path.hasPrefix("/") ? path : Path.join(ctx.cwd, path)
        logFD = open(full, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { throw UserError(message: "cannot open log file '\(path)': \(String(cString: strerror(errno)))") }
    }
    options.logFD = logFD
    let connections = ConnectionCounters()
    let service = ScoringService(primary: primary, canary: canary, workers: config.workers, options: options, connections: connections)
    let server = try HTTPServer(config: config, handler: service, connections: connections)
    let rc = mlrepo_install_stop_signals(server.stopDescriptor)
    guard rc == 0 else { throw UserError(message: "cannot install signal handlers: \(String(cString: strerror(rc)))") }
    var follower: ModelFollower? = nil
    if let replica {
        if let e = replica.lastFetch { service.event(e) }
        replica.onEvent = { service.event($0) }
        follower = replica.follower(service: service, interval: poll)
    } else if let follow {
        guard let repo else { throw UserError(message: "--follow needs an mlrepo repository (none found from \(ctx.cwd))") }
        _ = try repo.resolveCommit(follow)
        follower = ModelFollower(source: ModelSource(target: follow, path: a.value("model") ?? primary.path), repoRoot: repo.root,
                                 cwd: ctx.cwd, service: service, interval: poll, settings: repo.settings)
    }
    server.start()
    follower?.start(current: replica?.served?.hex ?? primary.commit)
    let hostShown = config.host.contains(":") ? "[\(config.host)]" : config.host
    if let fdNote { ctx.err.line(fdNote) }
    var line = "mlrepo serve: listening on \(config.tlsCertificate == nil ? "http" : "https")://\(hostShown):\(server.port) with \(config.workers) worker\(config.workers == 1 ? "" : "s"); model \(primary.path) (\(primary.typeName), id \(primary.id.prefix(12))"
    if let c = primary.commit { line += ", commit \(c.prefix(12))" }
    line += ")"
    if let canary { line += "; canary \(canary.path) (id \(canary.id.prefix(12))) for \(options.canaryPercent)% of requests" }
    if let follow { line += "; following \(follow)" }
    if let replica { line += "; following alias \(replica.alias) on \(replica.url) every \(poll) s (cache \(replica.cache))" }
    if let off = primary.driftOff { line += "; drift monitoring off: \(off)" }
    if !config.authTokens.isEmpty {
        line += "; bearer token required" + (config.authAll ? " on every path" : " (except \(config.openPaths.sorted().joined(separator: ", ")))")
    }
    ctx.err.line(line)
    if let cachedBecause { ctx.err.line("mlrepo serve: the remote's alias cannot be read (\(Quote.controls(cachedBecause))); serving the cached promotion until it can") }
    ctx.err.flush()
    ctx.out.flush()
    server.wait()
    // A poll in a request to a remote that does not answer is not waited for past the grace.
    follower?.stop(timeout: config.shutdownGrace)
    let sig = mlrepo_stop_signal()
    ctx.err.line("mlrepo serve: stopped\(sig == SIGINT ? " (SIGINT)" : sig == SIGTERM ? " (SIGTERM)" : "")")
    if logFD > 2 { close(logFD) }
    return 0
}

/// The replica `--remote URL --alias NAME` asks for (nil without --remote): a folder URL is
/// taken from the current folder, and the cache is --cache DIR, else
/// $XDG_CACHE_HOME/mlrepo/serve/HASH (else ~/.cache/…), HASH naming the URL, endpoint, alias
/// and region (an unset region leaves the key as it was before --region counted).
func remoteReplica(_ a: Args, _ ctx: Context) throws -> RemoteReplica? {
    guard var url = a.value("remote") else {
        for o in ["alias", "endpoint", "region", "cache", "max-model-bytes"] where a.value(o) != nil { throw UsageError(message: "--\(o) goes with --remote URL") }
        return nil
    }
    guard let alias = a.value("alias") else { throw UsageError(message: "--remote needs --alias NAME (the registry alias to serve)") }
    for o in ["follow", "canary", "model"] where a.value(o) != nil { throw UsageError(message: "--remote serves the alias's model; leave out --\(o)") }
    guard a.positional.isEmpty else { throw UsageError(message: "--remote serves the alias's model; leave out TARGET") }
    // A folder URL (PATH or file://PATH) is taken from the current folder, as remotes are.
    if let t = try Repository.transport(for: RemoteSpec(name: "origin", url: url), cwd: ctx.cwd, create: false, check: false) as? DirectoryTransport {
        url = t.root
    }
    let cache: String
    if let c = a.value("cache") { cache = c.hasPrefix("/") ? c : Path.join(ctx.cwd, c) } else {
        let env = Env.all()
        let base: String
        if let x = env["XDG_CACHE_HOME"], x.hasPrefix("/") { base = x } else {
            guard let home = env["HOME"], home.hasPrefix("/") else { throw UserError(message: "no cache folder: set HOME or XDG_CACHE_HOME, or give --cache DIR") }
            base = home + "/.cache"
        }
        let key = url + "\n" + (a.value("endpoint") ?? "") + "\n" + alias + (a.value("region").map { "\n" + $0 } ?? "")
        cache = base + "/mlrepo/serve/" + Hex.encode(SHA256Hasher.digest(Array(key.utf8))).prefix(16)
    }
    // A long-running process: nothing kept until exit, no progress lines for what it fetches.
    var settings = Settings.store
    settings.keepTransientsUntilExit = false
    settings.lazyFetchProgress = nil
    settings.lazyFetchObserver = nil
    let maxModel = try a.int("max-model-bytes")
    if let m = maxModel, m < 1 { throw UsageError(message: "--max-model-bytes takes a byte count ≥ 1") }
    let replica = try RemoteReplica(url: url, alias: alias, cache: cache, endpoint: a.value("endpoint"), region: a.value("region"), settings: settings)
    if let m = maxModel { replica.maxModelBytes = UInt64(m) }
    return replica
}

/// The bearer tokens in `path`: one per line, blank lines and `#` comments skipped. Errors
/// name the file and line, never a token.
func readAuthTokens(_ path: String, shown: String) throws -> [String] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw UserError(message: "cannot read auth token file '\(shown)': \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let r = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if r < 0 && errno == EINTR { continue }
        guard r >= 0 else { throw UserError(message: "cannot read auth token file '\(shown)': \(String(cString: strerror(errno)))") }
        if r == 0 { break }
        bytes.append(contentsOf: buf[0..<r])
        guard bytes.count <= 1 << 20 else { throw UserError(message: "auth token file '\(shown)' is larger than 1 MiB") }
    }
    var tokens: [String] = []
    for (i, raw) in bytes.split(separator: 10, omittingEmptySubsequences: false).enumerated() {
        var line = raw[...]
        while let f = line.first, f == 32 || f == 9 { line.removeFirst() }
        while let l = line.last, l == 32 || l == 9 || l == 13 { line.removeLast() }
        if line.isEmpty || line.first == 35 { continue }
        // RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "="s.
        var k = line.startIndex
        while k < line.endIndex, case let c = line[k], (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || [45, 46, 95, 126, 43, 47].contains(c) { k += 1 }
        while k < line.endIndex, line[k] == 61 { k += 1 }
        guard k == line.endIndex, line.first != 61 else {
            throw UserError(message: "auth token file '\(shown)' line \(i + 1): not a bearer token (letters, digits and -._~+/ only)")
        }
        tokens.append(String(decoding: line, as: UTF8.self))
    }
    guard !tokens.isEmpty else { throw UserError(message: "auth token file '\(shown)' holds no token") }
    return tokens
}

let monitorCommand = Command(
    name: "monitor", kind: .porcelain, summary: "show a running server's drift monitor",
    usage: """
    mlrepo monitor --url URL [--json]

    Reads GET URL/monitor from a running `mlrepo serve` and prints, per model and feature,
    the rows seen, the population stability index (PSI) over the training deciles, the mean
    shift in training standard deviations, and a status: ok (PSI < 0.1), warn (< 0.25),
    drift. --json prints the server's JSON as it is.
    """,
    flags: ["json": ["--json"]],
    options: ["url": ["--url"]]
) { a, ctx in
    guard var url = a.value("url") else { throw UsageError(message: "--url URL is required (e.g. http://127.0.0.1:5000)") }
    if !url.hasPrefix("http://") && !url.hasPrefix("https://") { url = "http://" + url }
    while url.hasSuffix("/") { url.removeLast() }
    if !url.hasSuffix("/monitor") { url += "/monitor" }
    let (status, body) = try HTTPClient.get(url, caFile: Settings.store.s3.caFile)
    let text = String(decoding: body, as: UTF8.self)
    guard status == 200 else { throw UserError(message: "\(url) answered HTTP \(status): \(text.prefix(200))") }
    guard let doc = try? JSON.parse(text) else { throw UserError(message: "\(url) did not answer JSON; is it an mlrepo server?") }
    if a.has("json") { ctx.out.write(doc.encoded(pretty: true) + "\n"); return 0 }
    func fmt(_ v: JSON?, _ digits: Int) -> String {
        guard let d = v?.doubleValue else { return "-" }
        var s = String(Double(Int((d * pow(10, Double(digits))).rounded())) / pow(10, Double(digits)))
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }
    for m in doc["models"]?.arrayValue ?? [] {
        let info = m["model"]
        ctx.out.write("\(m["role"]?.stringValue ?? "model") \(info?["path"]?.stringValue ?? "") (id \(String((info?["id"]?.stringValue ?? "").prefix(12)))): \(m["rows"]?.doubleValue.map { String(Int($0)) } ?? "0") rows in \(m["requests"]?.doubleValue.map { String(Int($0)) } ?? "0") requests\n")
        var rows: [[String]] = [["feature", "psi", "mean shift (sd)", "live mean", "train mean", "status"]]
        for f in m["features"]?.arrayValue ?? [] {
            rows.append([f["name"]?.stringValue ?? "", fmt(f["psi"], 4), fmt(f["mean_shift_std"], 3), fmt(f["live_mean"], 4),
                         fmt(f["train_mean"], 4), f["status"]?.stringValue ?? ""])
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        for r in rows {
            let cells = r.enumerated().map { i, c in i == 0 || i == r.count - 1 ? c.padding(widths[i]) : String(repeating: " ", count: widths[i] - c.count) + c }
            ctx.out.write("  " + cells.joined(separator: "  ") + "\n")
        }
    }
    return 0
}
