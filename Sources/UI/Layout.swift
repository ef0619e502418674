import Support

/// The sections of the web app, in the order of its navigation bar.
public enum Section: String, CaseIterable, Sendable {
    case experiments, charts, compare, lineage, registry, data, files, serving

    public var title: String {
        switch self {
        case .experiments: return "Experiments"
        case .charts: return "Charts"
        case .compare: return "Compare"
        case .lineage: return "Lineage"
        case .registry: return "Registry"
        case .data: return "Data"
        case .files: return "Files"
        case .serving: return "Serving"
        }
    }
    public var path: String { "/" + rawValue }
}

/// What a page handler returns: the page's title, its section and its body HTML (already
/// escaped: build it with `HTML.text`/`HTML.attr` only).
public struct PageContent: Sendable {
    public var title: String
    public var section: Section?
    public var body: String
    public var status: Int = 200
    public init(title: String, section: Section?, body: String, status: Int = 200) {
        self.title = title; self.section = section; self.body = body; self.status = status
    }
}

/// The frame every page shares: head (one stylesheet and one script, both served from the
/// binary), the navigation bar, the body.
public enum Layout {
    /// A complete HTML document. `repoName` is shown in the bar (escaped here).
    public static func page(_ content: PageContent, repoName: String, showServing: Bool) -> String {
        var out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        out += "<title>\(HTML.text(content.title)) · mlrepo</title>"
        out += "<link rel=\"stylesheet\" href=\"\(Assets.cssPath)\">"
        out += "<script src=\"\(Assets.jsPath)\" defer></script></head><body>"
        out += "<header class=\"bar\"><a class=\"brand\" href=\"/experiments\">mlrepo</a><span class=\"repo\">\(HTML.text(repoName))</span><nav>"
        for s in Section.allCases where s != .serving || showServing {
            let cls = s == content.section ? " class=\"active\"" : ""
            out += "<a href=\"\(s.path)\"\(cls)>\(s.title)</a>"
        }
        out += "</nav></header><main>"
        out += content.body
        out += "</main></body></html>\n"
        return out
    }

    /// A self-contained document for `plots show/diff`: the stylesheet inline, no script.
    public static func standalone(title: String, body: String) -> String {
        var out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        out += "<title>\(HTML.text(title))</title><style>\(Assets.css)</style></head><body><main>"
        out += body
        out += "</main></body></html>\n"
        return out
    }

    /// An error page body.
    public static func errorBody(_ e: UIError) -> String {
        "<h1>\(e.status == 404 ? "Not found" : "Cannot show this page")</h1><p class=\"error\">\(HTML.text(e.message))</p>"
    }
}
