import ML
import Store
import Support

// SCAFFOLD: the Compare page (placeholder body).

extension UIApp {
    func comparePage(_ q: Query) throws -> PageContent {
        PageContent(title: "Compare", section: .compare, body: "<h1>Compare</h1><p class=\"muted\">not built yet</p>")
    }
}
