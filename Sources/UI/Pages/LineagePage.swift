import ML
import Store
import Support

// SCAFFOLD: the Lineage page (placeholder body).

extension UIApp {
    func lineagePage(_ q: Query) throws -> PageContent {
        PageContent(title: "Lineage", section: .lineage, body: "<h1>Lineage</h1><p class=\"muted\">not built yet</p>")
    }
}
