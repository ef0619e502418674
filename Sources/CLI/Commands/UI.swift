#if canImport(Glibc)
import Glibc
#endif
import CShims
import ML
import Net
import Store
import Support
import UI

// `mlrepo ui`: the local web app over the repository's history.

let uiCommand = Command(
    name: "ui", kind: .porcelain, summary: "browse experiments, charts, lineage, the registry and data in a local web app",
    usage: """
    mlrepo ui [--port 8765] [--host 127.0.0.1] [--auth-token-file FILE] [--serve-url URL] [--page-size N]
              [--allow-host NAME...] [--workers N]

    Serves a read-only web app over this repository on http://127.0.0.1:8765/ (--port 0: any
    free port): Experiments (one row per commit, params and metrics as columns; sort, filter
    with an expression such as `accuracy>0.9 && train.lr<0.01`, choose columns, compare),
    Charts (metrics across commits, params against a metric, training curves and declared
    plots), Compare, Lineage (the graph of a commit's stages, data and models), Registry,
    Data (profiles and drift) and Files. Pages are rendered on the server with charts as SVG;
    every asset is inside the binary and nothing is fetched from the network.

    It listens on loopback only unless --host names another address. It answers only requests
    whose Host header names the address it listens on (with its port), or a name given with
    --allow-host (repeatable); this stops other web sites reading it through DNS rebinding.
    On a wildcard address (--host 0.0.0.0) there is no Host check unless --allow-host is given. --auth-token-file FILE:
    every page needs one of the tokens in FILE (one per line, as `serve`); a browser signs
    in once with /login?token=TOKEN, which sets a cookie. --serve-url URL adds a Serving page
    with the request rate, latency and drift of a running `mlrepo serve`. Stop with Ctrl-C.
    """,
    flags: [:],
    options: ["host": ["--host"], "port": ["--port", "-p"], "auth-token-file": ["--auth-token-file"],
              "serve-url": ["--serve-url"], "page-size": ["--page-size"], "workers": ["--workers"],
              "allow-host": ["--allow-host"]]
) { a, ctx in
    guard a.positional.isEmpty else { throw UsageError(message: "ui takes no arguments (the repository is the one you are in)") }
    let ml = try ctx.ml()
    var config = ServerConfig()
    config.host = a.value("host") ?? "127.0.0.1"
    config.port = 8765
    if let p = try a.int("port") { guard p <= 65535 else { throw UsageError(message: "--port takes 0–65535") }; config.port = p }
    config.workers = try a.int("workers") ?? 2
    guard config.workers >= 1 else { throw UsageError(message: "--workers takes a number ≥ 1") }
    config.openPaths = ["/health", "/ping", "/login", "/favicon.ico", Assets.cssPath, Assets.jsPath]
    config.authCookie = UIApp.cookieName
    // Every answer, the server's own errors and the JSON API included, is never sniffed,
    // framed or run as a page.
    config.responseHeaders = [("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                              ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")]
    var options = UIOptions()
    if let f = a.value("auth-token-file") {
        config.authTokens = try readAuthTokens(f.hasPrefix("/") ? f : Path.join(ctx.cwd, f), shown: f)
        options.tokens = BearerTokens(config.authTokens)
    }
    if let u = a.value("serve-url") {
        guard u.hasPrefix("http://") else { throw UsageError(message: "--serve-url takes an http:// URL of a running `mlrepo serve`") }
        options.serveURL = u
    }
    if let n = try a.int("page-size") { guard n >= 1 && n <= 10000 else { throw UsageError(message: "--page-size takes 1–10000") }; options.pageSize = n }
    let app = UIApp(ml: ml, options: options)
    // Build the index before listening, so the first page is as fast as the others.
    try app.index.refresh()
    let server = try HTTPServer(config: config, handler: app)
    let loopback = UIApp.isLoopback(config.host)
    let hostShown = config.host.contains(":") ? "[\(config.host)]" : config.host
    app.allowedHosts = UIApp.allowedHosts(listeningOn: config.host, port: server.port, extra: a.values("allow-host"))
    let rc = mlrepo_install_stop_signals(server.stopDescriptor)
    guard rc == 0 else { throw UserError(message: "cannot install signal handlers: \(String(cString: strerror(rc)))") }
    server.start()
    var line = "mlrepo ui: serving \(Path.basename(ml.repo.root)) on http://\(hostShown):\(server.port)/"
    if !config.authTokens.isEmpty { line += " (token required: open http://\(hostShown):\(server.port)/login?token=TOKEN once)" }
    if !loopback { line += "; listening beyond this machine: anyone who can reach it can read the repository" + (config.authTokens.isEmpty ? " (no --auth-token-file)" : "") }
    ctx.err.line(line)
    ctx.err.flush()
    ctx.out.flush()
    server.wait()
    ctx.err.line("mlrepo ui: stopped")
    return 0
}
