import ML
import Net
import Store
import Support

// SCAFFOLD: the Files page (placeholder body).

extension UIApp {
    func filesPage(_ q: Query) throws -> PageContent {
        PageContent(title: "Files", section: .files, body: "<h1>Files</h1><p class=\"muted\">not built yet</p>")
    }
}

extension UIApp {
    /// `/raw?rev=R&path=P`: a file's bytes, for images shown on the Files page (other types
    /// are sent as an attachment of type application/octet-stream, never as a page).
    func rawFile(_ q: Query) throws -> HTTPResponse {
        throw UIError(404, "not built yet")
    }
}
