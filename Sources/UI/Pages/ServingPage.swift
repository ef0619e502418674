import ML
import Store
import Support

// SCAFFOLD: the Serving page (placeholder body).

extension UIApp {
    func servingPage(_ q: Query) throws -> PageContent {
        PageContent(title: "Serving", section: .serving, body: "<h1>Serving</h1><p class=\"muted\">not built yet</p>")
    }
}
