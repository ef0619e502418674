import ML
import Store
import Support

// SCAFFOLD: the Data page (placeholder body).

extension UIApp {
    func dataPage(_ q: Query) throws -> PageContent {
        PageContent(title: "Data", section: .data, body: "<h1>Data</h1><p class=\"muted\">not built yet</p>")
    }
}
