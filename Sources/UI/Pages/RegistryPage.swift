import ML
import Store
import Support

// SCAFFOLD: the Registry page (placeholder body).

extension UIApp {
    func registryPage(_ q: Query) throws -> PageContent {
        PageContent(title: "Registry", section: .registry, body: "<h1>Registry</h1><p class=\"muted\">not built yet</p>")
    }
}
