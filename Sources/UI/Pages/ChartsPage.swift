import ML
import Store
import Support

// SCAFFOLD: the Charts page (placeholder body).

extension UIApp {
    func chartsPage(_ q: Query) throws -> PageContent {
        PageContent(title: "Charts", section: .charts, body: "<h1>Charts</h1><p class=\"muted\">not built yet</p>")
    }
}
