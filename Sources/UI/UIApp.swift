import ML
import Net
import Store
import Support

/// What `mlrepo ui` was told.
public struct UIOptions: Sendable {
    /// A running `mlrepo serve` to read /metrics and /monitor from (the Serving page).
    public var serveURL: String? = nil
    /// Experiments per page of the experiment table.
    public var pageSize = 100
    /// Bearer tokens (empty: open). With tokens, `/login?token=T` sets the cookie
    /// `UIApp.cookieName`, which the server accepts in place of the Authorization header.
    public var tokens = BearerTokens([])
    public init() {}
}

/// The web app behind `mlrepo ui`: read-only pages over one repository, rendered on the
/// server (HTML, charts as inline SVG), one stylesheet and one script from the binary.
/// Requests are answered one at a time (the repository is read under a lock); pages come from
/// an in-memory index of the history that is brought up to date when a ref moves.
public final class UIApp: HTTPHandler, @unchecked Sendable {
    public static let cookieName = "mlrepo_ui_token"
    public let ml: MLRepo
    public let options: UIOptions
    /// The experiment index (every commit's params and metrics), shared by the pages.
    public let index: ExperimentIndex
    let lock = Lock()
    /// Host header values accepted (empty: any). Set before the server starts: for a loopback
    /// address, the loopback names with the bound port, so a page on another site cannot
    /// read this one through DNS rebinding.
    public var allowedHosts: Set<String> = []
    /// The repository's name as shown in the bar (its folder's name).
    let repoName: String

    public init(ml: MLRepo, options: UIOptions) {
        self.ml = ml
        self.options = options
        self.index = ExperimentIndex(ml: ml)
        repoName = Path.basename(ml.repo.root)
    }

    /// The Host header values to accept for a server listening on `host`:`port`: the
    /// address itself (bracketed when IPv6) and, on a loopback address, the loopback names
    /// (`127.0.0.1`, `localhost`, `[::1]`), plus `extra` names, each with the port (and bare
    /// too on port 80). Empty (no check) on a wildcard address unless `extra` names hosts:
    /// the names clients use for it are unknown.
    public static func allowedHosts(listeningOn host: String, port: Int, extra: [String]) -> Set<String> {
        let wildcard = ["0.0.0.0", "::", "[::]"].contains(host)
        if wildcard && extra.isEmpty { return [] }
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("127.")
        let shown = (host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host).lowercased()
        var names = wildcard ? [] : [shown]
        if loopback { names += ["127.0.0.1", "localhost", "[::1]"] }
        names += extra.map { $0.lowercased() }
        var allowed = Set(names.map { "\($0):\(port)" })
        if port == 80 { allowed.formUnion(names) }
        return allowed
    }

    /// Whether `host` is a loopback address (only this machine can connect).
    public static func isLoopback(_ host: String) -> Bool {
        ["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("127.")
    }

    // MARK: HTTPHandler

    public func handle(_ request: HTTPRequest, worker: Int) -> HTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            var r = HTTPResponse.error(405, "the web app is read-only: use GET")
            r.headers.append(("Allow", "GET, HEAD"))
            return r
        }
        if !allowedHosts.isEmpty {
            let host = (request.header("host") ?? "").lowercased()
            guard allowedHosts.contains(host) else {
                return htmlResponse(PageContent(title: "Wrong host", section: nil,
                    body: Layout.errorBody(UIError(421, "this server answers only to \(allowedHosts.sorted().joined(separator: ", ")) (the Host header was '\(host)')")), status: 421))
            }
        }
        let started = Sys.monotonicSeconds()
        var r = render(path: request.path, query: request.query)
        if UIApp.acceptsGzip(request.header("accept-encoding")) { r = UIApp.gzipped(r) }
        // How long the page took to build, for the browser's network panel and the benchmark.
        let ms = (Sys.monotonicSeconds() - started) * 1000
        r.headers.append(("Server-Timing", "app;dur=\((ms * 1000).rounded() / 1000)"))
        return r
    }

    /// Whether an Accept-Encoding header takes gzip (`gzip` or `*`, with a q-value above 0).
    static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        for item in header.lowercased().split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmed(" \t") }
            guard let coding = parts.first, coding == "gzip" || coding == "x-gzip" || coding == "*" else { continue }
            let q = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return q > 0
        }
        return false
    }

    /// `r` with its body gzipped when it is text of at least 1 KiB (pages, the stylesheet,
    /// the script, JSON): an experiment table of 100 rows × 100 columns goes from ~250 KB to
    /// a few tens of KB on the wire.
    static func gzipped(_ r: HTTPResponse) -> HTTPResponse {
        guard r.body.count >= 1024, !r.headers.contains(where: { $0.0.lowercased() == "content-encoding" }),
              let type = r.headers.first(where: { $0.0.lowercased() == "content-type" })?.1,
              type.hasPrefix("text/") || type.hasPrefix("application/json") else { return r }
        guard let z = r.body.withUnsafeBytes({ Zlib.gzip($0, level: 1) }), z.count < r.body.count else { return r }
        var out = r
        out.body = z
        out.headers.append(("Content-Encoding", "gzip"))
        out.headers.append(("Vary", "Accept-Encoding"))
        return out
    }

    public func completed(_ request: HTTPRequest?, response: HTTPResponse, latencyMicros: Int, worker: Int) {}
    public func flush(worker: Int) {}

    /// The response for `path` and its raw query string (used by the server, the tests and
    /// the benchmark).
    public func render(path rawPath: String, query rawQuery: String) -> HTTPResponse {
        guard let path = HTML.percentDecode(Substring(rawPath), plusIsSpace: false) else {
            return htmlResponse(PageContent(title: "Bad request", section: nil, body: Layout.errorBody(UIError(400, "the path is not valid percent-encoded UTF-8")), status: 400))
        }
        switch path {
        case Assets.cssPath: return asset(Assets.css, type: "text/css; charset=utf-8")
        case Assets.jsPath: return asset(Assets.js, type: "text/javascript; charset=utf-8")
        case "/health", "/ping": return HTTPResponse(status: 200, json: "{\"status\":\"ok\"}")
        case "/favicon.ico": return HTTPResponse(status: 204)
        case "/": return redirect("/experiments")
        default: break
        }
        let query: Query
        do throws(UIError) { query = try Query(rawQuery) } catch {
            return htmlResponse(PageContent(title: "Bad request", section: nil, body: Layout.errorBody(error), status: error.status))
        }
        if path == "/login" { return login(query) }
        // The Serving page reads another server (up to seconds when it does not answer) and
        // nothing of the repository: it does not hold up the other pages.
        if path == "/serving" {
            do { return htmlResponse(try servingPage(query)) } catch let e as UIError {
                return htmlResponse(PageContent(title: "Error", section: nil, body: Layout.errorBody(e), status: e.status))
            } catch {
                return htmlResponse(PageContent(title: "Error", section: nil, body: Layout.errorBody(UIError(502, "\(error)")), status: 502))
            }
        }
        return lock.withLock {
            do {
                try index.refresh()
                index.suggestionsLeft = 8
                switch path {
                case "/experiments": return htmlResponse(try experimentsPage(query))
                case "/charts": return htmlResponse(try chartsPage(query))
                case "/compare": return htmlResponse(try comparePage(query))
                case "/lineage": return htmlResponse(try lineagePage(query))
                case "/registry": return htmlResponse(try registryPage(query))
                case "/data": return htmlResponse(try dataPage(query))
                case "/files": return htmlResponse(try filesPage(query))
                case "/raw": return try rawFile(query)
                case "/api/experiments": return try experimentsJSON(query)
                default: throw UIError(404, "no page at '\(path)'")
                }
            } catch let e as UIError {
                return htmlResponse(PageContent(title: e.status == 404 ? "Not found" : "Error", section: nil, body: Layout.errorBody(e), status: e.status))
            } catch {
                // Repository errors (a bad revision, a missing path, a corrupt object): one line.
                return htmlResponse(PageContent(title: "Error", section: nil, body: Layout.errorBody(UIError(404, "\(error)")), status: 404))
            }
        }
    }

    // MARK: Responses

    /// Headers every page carries: no script but ours, nothing framed, nothing sniffed.
    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
    ]

    func htmlResponse(_ content: PageContent) -> HTTPResponse {
        let html = Layout.page(content, repoName: repoName, showServing: options.serveURL != nil)
        return HTTPResponse(status: content.status,
                            headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")] + UIApp.securityHeaders,
                            body: Array(html.utf8))
    }

    func asset(_ text: String, type: String) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", type), ("Cache-Control", "public, max-age=31536000, immutable")] + UIApp.securityHeaders,
                     body: Array(text.utf8))
    }

    func redirect(_ location: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: 303, headers: [("Location", location), ("Content-Type", "text/plain; charset=utf-8")] + headers, body: Array("see \(location)\n".utf8))
    }

    /// `/login?token=T`: checks T against the tokens and, when it is one, sets the cookie the
    /// server accepts and goes to the experiments.
    func login(_ q: Query) -> HTTPResponse {
        guard !options.tokens.isEmpty else { return redirect("/experiments") }
        guard let token = q["token"], options.tokens.matches(token) else {
            return htmlResponse(PageContent(title: "Sign in", section: nil,
                body: Layout.errorBody(UIError(401, "this server needs a token: open /login?token=TOKEN with one of the tokens in its --auth-token-file")), status: 401))
        }
        return redirect("/experiments", headers: [("Set-Cookie", "\(UIApp.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict")])
    }
}
