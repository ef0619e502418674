import ML
import Net
import Store
import Support

// SCAFFOLD: the Experiments page (placeholder body).

extension UIApp {
    func experimentsPage(_ q: Query) throws -> PageContent {
        PageContent(title: "Experiments", section: .experiments, body: "<h1>Experiments</h1><p class=\"muted\">not built yet</p>")
    }
}

extension UIApp {
    /// `/api/experiments`: the rows the experiments page shows, as JSON (same query).
    func experimentsJSON(_ q: Query) throws -> HTTPResponse {
        HTTPResponse(status: 200, json: "[]")
    }
}
