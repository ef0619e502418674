import ML
import Net
import Store
import Support

// The Serving page: `/serving` (only with `mlrepo ui --serve-url URL`). Reads a running
// `mlrepo serve`'s `/metrics` (Prometheus text) and `/monitor` (JSON) with a 2 s timeout and
// at most 4 MiB each, and shows the request rate, latency percentiles (from the latency
// histogram), errors, rows scored, the models served and each feature's drift. A server that
// cannot be reached is said so on the page (status 200), with the error.

/// One sample of a Prometheus text exposition: name, labels, value.
public struct PromSample: Sendable {
    public var name: String
    public var labels: [String: String]
    public var value: Double
}

public enum PromText {
    public static let maxLines = 50_000

    /// Samples of the text (comments and malformed lines skipped).
    public static func parse(_ text: String) -> [PromSample] {
        var out: [PromSample] = []
        var lines = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            lines += 1
            if lines > maxLines { break }
            let line = Array(raw.utf8)
            if line.first == UInt8(ascii: "#") { continue }
            var i = 0
            while i < line.count && line[i] != UInt8(ascii: "{") && line[i] != UInt8(ascii: " ") { i += 1 }
            let name = String(decoding: line[0..<i], as: UTF8.self)
            guard !name.isEmpty else { continue }
            var labels: [String: String] = [:]
            if i < line.count && line[i] == UInt8(ascii: "{") {
                i += 1
                var ok = false
                while i < line.count {
                    if line[i] == UInt8(ascii: "}") { i += 1; ok = true; break }
                    if line[i] == UInt8(ascii: ",") || line[i] == UInt8(ascii: " ") { i += 1; continue }
                    var j = i
                    while j < line.count && line[j] != UInt8(ascii: "=") { j += 1 }
                    guard j + 1 < line.count, line[j + 1] == UInt8(ascii: "\"") else { break }
                    let key = String(decoding: line[i..<j], as: UTF8.self)
                    var value: [UInt8] = []
                    var k = j + 2
                    var closed = false
                    while k < line.count {
                        let b = line[k]
                        if b == UInt8(ascii: "\\") && k + 1 < line.count {
                            let n = line[k + 1]
                            value.append(n == UInt8(ascii: "n") ? 0x0A : n)
                            k += 2
                            continue
                        }
                        if b == UInt8(ascii: "\"") { closed = true; k += 1; break }
                        value.append(b)
                        k += 1
                    }
                    guard closed else { break }
                    labels[key] = String(decoding: value, as: UTF8.self)
                    i = k
                }
                guard ok else { continue }
            }
            let rest = String(decoding: line[min(i, line.count)...], as: UTF8.self).trimmed(" \t")
            let valueText = rest.split(separator: " ").first.map(String.init) ?? ""
            let value: Double
            switch valueText {
            case "+Inf": value = .infinity
            case "-Inf": value = -.infinity
            case "NaN": value = .nan
            default:
                guard let v = Double(valueText) else { continue }
                value = v
            }
            out.append(PromSample(name: name, labels: labels, value: value))
        }
        return out
    }

    /// The `q` quantile of a cumulative histogram (upper bounds, counts), interpolating
    /// linearly inside the bucket it falls in, as Prometheus's histogram_quantile does; nil
    /// when it holds no observations. A quantile in the +Inf bucket is the highest finite
    /// bound.
    static func quantile(_ q: Double, buckets: [(le: Double, count: Double)]) -> Double? {
        let b = buckets.sorted { $0.le < $1.le }
        guard let total = b.last?.count, total > 0 else { return nil }
        let rank = q * total
        var prevLe = 0.0, prevCount = 0.0
        for (le, count) in b {
            if count >= rank {
                if le.isInfinite { return prevLe }
                guard count > prevCount else { return le }
                return prevLe + (le - prevLe) * (rank - prevCount) / (count - prevCount)
            }
            prevLe = le; prevCount = count
        }
        return prevLe
    }
}

/// The previous reading of the served requests total, for a rate between two page views.
final class ServingSamples: @unchecked Sendable {
    private let lock = Lock()
    private var last: (at: Double, requests: Double)?
    /// Stores this reading; returns the previous one.
    func swap(at: Double, requests: Double) -> (at: Double, requests: Double)? {
        lock.withLock { let p = last; last = (at, requests); return p }
    }
}

extension UIApp {
    static let servingSamples = ServingSamples()
    static let maxServingBody = 4 << 20
    static let servingTimeout = 2.0

    /// GETs `path` under the serve URL: the status and body, or the error as one line.
    func serveGet(_ base: HTTPURL, _ path: String) -> Result<[UInt8], NetError> {
        var prefix = base.target
        if let q = prefix.firstIndex(of: "?") { prefix = String(prefix[..<q]) }
        while prefix.hasSuffix("/") { prefix.removeLast() }
        do {
            let r = try HTTPConnection(host: base.host, port: base.port, timeout: UIApp.servingTimeout, tls: base.tls)
                .send(method: "GET", target: prefix + path, headers: ["host": base.hostHeader, "accept": "*/*"], body: nil, maxBody: UIApp.maxServingBody)
            guard r.status == 200 else { return .failure(NetError("\(path) answered HTTP \(r.status)")) }
            return .success(r.body)
        } catch let e as NetError {
            return .failure(e)
        } catch {
            return .failure(NetError("\(error)"))
        }
    }

    func servingPage(_ q: Query) throws -> PageContent {
        guard let url = options.serveURL else {
            throw UIError(404, "no serving page: start mlrepo ui with --serve-url URL (a running mlrepo serve)")
        }
        var body = "<h1>Serving</h1><p>Reading <span class=\"mono\">\(HTML.text(url))</span>: <a href=\"/serving\">refresh</a></p>"
        let base: HTTPURL
        do { base = try HTTPURL(url) } catch {
            body += "<p class=\"error unreachable\">The serve URL is not usable: \(HTML.text("\(error)"))</p>"
            return PageContent(title: "Serving", section: .serving, body: body)
        }
        let metricsText: String
        switch serveGet(base, "/metrics") {
        case .failure(let e):
            body += "<p class=\"error unreachable\">Cannot read the server's metrics: \(HTML.text(e.message))</p>"
            return PageContent(title: "Serving", section: .serving, body: body)
        case .success(let b): metricsText = String(decoding: b, as: UTF8.self)
        }
        let samples = PromText.parse(metricsText)
        func sum(_ name: String, _ filter: ([String: String]) -> Bool = { _ in true }) -> Double {
            samples.filter { $0.name == name && filter($0.labels) }.reduce(0) { $0 + $1.value }
        }
        let requests = sum("mlrepo_requests_total")
        let errors = sum("mlrepo_requests_total") { (Int($0["status"] ?? "") ?? 0) >= 400 }
        let serverErrors = sum("mlrepo_requests_total") { (Int($0["status"] ?? "") ?? 0) >= 500 }
        let uptime = samples.first { $0.name == "mlrepo_uptime_seconds" }?.value
        let rows = sum("mlrepo_rows_scored_total")
        let now = Clock.wallSeconds()
        let previous = UIApp.servingSamples.swap(at: now, requests: requests)
        // Latency: the histogram's buckets summed over the models.
        var byLe: [Double: Double] = [:]
        for s in samples where s.name == "mlrepo_request_duration_seconds_bucket" {
            guard let le = s.labels["le"].flatMap({ $0 == "+Inf" ? Double.infinity : Double($0) }) else { continue }
            byLe[le, default: 0] += s.value
        }
        let buckets = byLe.map { (le: $0.key, count: $0.value) }
        let latencyCount = sum("mlrepo_request_duration_seconds_count"), latencySum = sum("mlrepo_request_duration_seconds_sum")
        func ms(_ s: Double?) -> String { s.map { formatFixed($0 * 1000, 3) + " ms" } ?? "-" }
        body += "<div class=\"cards\">"
        func card(_ title: String, _ value: String, _ note: String = "") {
            body += "<div class=\"card\"><div class=\"muted\">\(HTML.text(title))</div><div class=\"big\">\(HTML.text(value))</div><div class=\"muted\">\(HTML.text(note))</div></div>"
        }
        let rateSinceStart = uptime.flatMap { $0 > 0 ? requests / $0 : nil }
        card("Requests", PageText.number(requests), rateSinceStart.map { "\(formatFixed($0, 3))/s since start" } ?? "")
        if let p = previous, now > p.at, requests >= p.requests {
            card("Request rate", formatFixed((requests - p.requests) / (now - p.at), 3) + "/s", "since the last view, \(formatFixed(now - p.at, 1)) s ago")
        }
        card("Errors", PageText.number(errors), requests > 0 ? "\(formatFixed(errors * 100 / requests, 2))% (5xx: \(PageText.number(serverErrors)))" : "")
        card("Latency p50", ms(PromText.quantile(0.5, buckets: buckets)), latencyCount > 0 ? "mean \(ms(latencySum / latencyCount))" : "")
        card("Latency p90", ms(PromText.quantile(0.9, buckets: buckets)))
        card("Latency p99", ms(PromText.quantile(0.99, buckets: buckets)))
        card("Rows scored", PageText.number(rows))
        if let uptime { card("Uptime", formatFixed(uptime, 0) + " s") }
        body += "</div>"
        // Requests by status and model role.
        let byStatus = samples.filter { $0.name == "mlrepo_requests_total" }
        if !byStatus.isEmpty {
            body += "<h2>Requests by status</h2><table class=\"sortable requests\"><thead><tr><th>Model</th><th>Status</th><th class=\"num\">Requests</th></tr></thead><tbody>"
            for s in byStatus.prefix(200) {
                body += "<tr><td>\(HTML.text(s.labels["model"] ?? ""))</td><td>\(HTML.text(s.labels["status"] ?? ""))</td><td class=\"num\">\(HTML.text(PageText.number(s.value)))</td></tr>"
            }
            body += "</tbody></table>"
        }
        let models = samples.filter { $0.name == "mlrepo_model_info" }
        if !models.isEmpty {
            body += "<h2>Models</h2><table class=\"models\"><thead><tr><th>Role</th><th>Model id</th><th>Path</th><th>Commit</th><th>Type</th><th>Source</th></tr></thead><tbody>"
            for m in models.prefix(20) {
                body += "<tr>" + ["model", "model_id", "path", "commit", "type", "source"].map { "<td>\(HTML.text(m.labels[$0] ?? ""))</td>" }.joined() + "</tr>"
            }
            body += "</tbody></table>"
        }
        if !buckets.isEmpty {
            var prev = 0.0
            let sorted = buckets.sorted { $0.le < $1.le }
            let cats = sorted.map { $0.le.isInfinite ? "+Inf" : "≤" + ms($0.le) }
            let pts = sorted.enumerated().map { i, b -> ChartPoint in
                defer { prev = b.count }
                return ChartPoint(x: Double(i), y: b.count - prev, label: "\(cats[i]): \(PageText.number(b.count - prev)) requests")
            }
            body += "<h2>Latency</h2><div class=\"charts\"><div class=\"chart\">" + Chart(title: "Requests by latency", kind: .bar, series: [ChartSeries(name: "requests", points: pts)],
                                                                                     xLabel: "latency", yLabel: "requests", xCategories: cats, width: 720, height: 260).svg() + "</div></div>"
        }
        // Drift: from /monitor.
        body += "<h2>Drift</h2>"
        switch serveGet(base, "/monitor") {
        case .failure(let e):
            body += "<p class=\"error\">Cannot read the server's drift monitor: \(HTML.text(e.message))</p>"
        case .success(let b):
            guard let j = try? JSON.parse(String(decoding: b, as: UTF8.self)), let list = j["models"]?.arrayValue else {
                body += "<p class=\"error\">The server's /monitor answer is not the JSON expected.</p>"
                break
            }
            if list.isEmpty { body += "<p class=\"muted\">No model is being served.</p>" }
            for m in list.prefix(4) {
                let role = m["role"]?.stringValue ?? "?"
                let feats = m["features"]?.arrayValue ?? []
                body += "<h3>\(HTML.text(role)) · \(HTML.text(m["model"]?["path"]?.stringValue ?? "")) · \(HTML.text(PageText.number(m["rows"]?.doubleValue))) rows</h3>"
                guard !feats.isEmpty else { body += "<p class=\"muted\">This model has no training statistics: drift is not monitored.</p>"; continue }
                body += "<table class=\"sortable features\"><thead><tr><th>Feature</th><th class=\"num\">Rows</th><th class=\"num\">PSI</th><th class=\"num\">Mean shift (train sd)</th><th class=\"num\">Live mean</th><th class=\"num\">Train mean</th><th>Status</th></tr></thead><tbody>"
                var pts: [ChartPoint] = [], cats: [String] = []
                for f in feats.prefix(500) {
                    let name = f["name"]?.stringValue ?? ""
                    body += "<tr><td>\(HTML.text(name))</td>"
                    for k in ["rows", "psi", "mean_shift_std", "live_mean", "train_mean"] { body += "<td class=\"num\">\(HTML.text(PageText.number(f[k]?.doubleValue)))</td>" }
                    let status = f["status"]?.stringValue ?? ""
                    body += "<td class=\"\(status == "drift" ? "down" : "")\">\(HTML.text(status))</td></tr>"
                    if let psi = f["psi"]?.doubleValue, pts.count < 60 {
                        pts.append(ChartPoint(x: Double(cats.count), y: psi, label: "\(name): PSI \(PageText.number(psi)) (\(status))"))
                        cats.append(name)
                    }
                }
                body += "</tbody></table>"
                if !pts.isEmpty {
                    body += "<div class=\"charts\"><div class=\"chart\">" + Chart(title: "PSI by feature (\(role))", kind: .bar, series: [ChartSeries(name: "psi", points: pts)],
                                                                               xLabel: "feature", yLabel: "PSI", xCategories: cats, width: max(420, 40 * pts.count + 120), height: 240).svg() + "</div></div>"
                }
            }
            body += "<p class=\"muted\">PSI below 0.1 is stable, 0.1–0.25 a moderate shift, above 0.25 a significant one; no verdict below 100 rows.</p>"
        }
        return PageContent(title: "Serving", section: .serving, body: body)
    }
}
