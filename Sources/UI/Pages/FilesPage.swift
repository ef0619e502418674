import ML
import Net
import Store
import Support

// The Files page: `/files?rev=REV&path=P[&page=N]` browses a commit's tree (folders first,
// sizes, kinds); a file is shown as text (its first 256 KiB), as a table (CSV/TSV, 50 rows a
// page, read only up to the page shown), or as an image through `/raw`. `/raw` sends a
// file's bytes: images with their type under a sandboxing CSP, everything else as a download
// (application/octet-stream, attachment), never as a page of this site.

/// Small formatting shared by the Lineage, Registry, Data, Files and Serving pages.
enum PageText {
    /// `1.5 KiB`, `12 B`.
    static func bytes(_ n: UInt64) -> String { ByteCount.format(n) }

    /// A statistic for a table cell: integers as such, others to 4 significant places.
    static func number(_ d: Double?) -> String {
        guard let d else { return "-" }
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
        let a = abs(d)
        if a >= 1e6 || a < 1e-4 { return JSON.number(d).encoded() }
        return formatFixed(d, a >= 100 ? 2 : 4)
    }

    /// The first line of a message, at most 100 characters.
    static func subject(_ message: String) -> String {
        let line = message.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return line.count > 100 ? String(line.prefix(99)) + "…" : line
    }
}

/// Stops a streaming read early (not an error).
struct StopReading: Error {}

extension UIApp {
    static let maxRawBytes: UInt64 = 32 << 20
    static let textPreviewBytes = 256 << 10
    static let tableRowsPerPage = 50
    /// The deepest page of a table shown (pages further would read too much of the file).
    static let maxTablePage = 2_000
    /// Bytes of a table read at most to reach a page.
    static let maxTableScanBytes = 256 << 20

    // MARK: Helpers shared by the pages

    /// A revision resolved to a commit; an unknown revision is a 404 naming it.
    func resolvePageCommit(_ rev: String) throws -> ObjectId {
        do { return try ml.repo.resolveCommit(rev) } catch {
            // A commit made since the index was refreshed may be in a pack this process has
            // not opened yet: look again once.
            if (try? ml.repo.store.reload()) != nil, let id = try? ml.repo.resolveCommit(rev) { return id }
            throw UIError(404, "revision '\(rev)': \(error)")
        }
    }

    /// A repository path from a request: relative, no empty, `.` or `..` component, no NUL,
    /// at most 4096 bytes. ("" is the root.)
    func checkedPath(_ raw: String?) throws -> String {
        var p = raw ?? ""
        while p.hasSuffix("/") && p.count > 1 { p.removeLast() }
        if p.isEmpty || p == "." { return "" }
        guard p.utf8.count <= 4096, !p.hasPrefix("/"), !p.utf8.contains(0), !p.contains("\\") else {
            throw UIError(400, "'\(p)' is not a path inside the repository")
        }
        for c in p.split(separator: "/", omittingEmptySubsequences: false) where c.isEmpty || c == "." || c == ".." {
            throw UIError(400, "'\(p)' is not a path inside the repository")
        }
        return p
    }

    /// The form that chooses a revision (a GET form: the page's URL stays shareable), with
    /// the commit it resolved to.
    func revisionForm(action: String, rev: String, commit: ObjectId, _ c: Commit, extra: [(String, String?)] = []) -> String {
        var out = "<form class=\"controls\" method=\"get\" action=\"\(HTML.attr(action))\"><label>Revision <input type=\"text\" name=\"rev\" value=\"\(HTML.attr(rev))\"></label>"
        for (k, v) in extra { if let v, !v.isEmpty { out += "<input type=\"hidden\" name=\"\(HTML.attr(k))\" value=\"\(HTML.attr(v))\">" } }
        out += "<button type=\"submit\">Show</button><span class=\"mono\">\(commit.short)</span><span>\(HTML.text(PageText.subject(c.message)))</span>"
        out += "<span class=\"muted\">\(HTML.text(c.author.name)) · \(HTML.text(ISOTime.format(Double(c.committer.time))))</span></form>"
        return out
    }

    /// Passes the bytes of stored file `id` to `sink` chunk by chunk until it returns false
    /// or `maxBytes` have been passed (the last piece cut to fit).
    func readPrefix(_ id: ObjectId, maxBytes: Int, _ sink: ([UInt8]) throws -> Bool) throws {
        var passed = 0
        do {
            try FileReader(store: ml.repo.store).forEachChunk(id) { cid, _ in
                var bytes = try ml.repo.store.read(cid, as: .blob)
                if passed + bytes.count > maxBytes { bytes.removeLast(passed + bytes.count - maxBytes) }
                passed += bytes.count
                guard try sink(bytes), passed < maxBytes else { throw StopReading() }
            }
        } catch is StopReading {}
    }

    // MARK: /files

    func filesPage(_ q: Query) throws -> PageContent {
        let rev = q["rev"].flatMap { $0.isEmpty ? nil : $0 } ?? "HEAD"
        let path = try checkedPath(q["path"])
        let commit = try resolvePageCommit(rev)
        let c = try ml.repo.readCommit(commit)
        guard let entry = try ml.repo.entry(in: c.tree, path: path) else {
            throw UIError(404, "'\(path)' is not in \(rev) (\(commit.short))")
        }
        let meta = try? ml.meta(of: c)
        var body = "<h1>Files</h1>" + revisionForm(action: "/files", rev: rev, commit: commit, c, extra: [("path", path)])
        // Breadcrumbs: the root, then each folder on the way.
        body += "<p class=\"crumbs\"><a href=\"\(HTML.attr(HTML.url("/files", [("rev", rev)])))\">\(HTML.text(repoName))</a>"
        var sofar = ""
        for comp in path.split(separator: "/") {
            sofar = sofar.isEmpty ? String(comp) : sofar + "/" + comp
            body += " / <a href=\"\(HTML.attr(HTML.url("/files", [("rev", rev), ("path", sofar)])))\">\(HTML.text(String(comp)))</a>"
        }
        body += "</p>"
        if entry.mode.isDirectory {
            body += try folderListing(entry.id, path: path, rev: rev, meta: meta, page: try q.int("page", default: 1, max: 1_000_000))
        } else {
            body += try fileView(entry, path: path, rev: rev, meta: meta, page: try q.int("page", default: 1, max: 1_000_000))
        }
        return PageContent(title: path.isEmpty ? "Files" : Path.basename(path), section: .files, body: body)
    }

    /// Entries of a folder listed per page; tree entries a Data page walk visits at most.
    static let maxListing = 5_000
    static let listingPage = 1_000

    func folderListing(_ tree: ObjectId, path: String, rev: String, meta: CommitMeta?, page: Int) throws -> String {
        let entries = try ml.repo.readTree(tree).entries
        let all = entries.filter { $0.mode.isDirectory } + entries.filter { !$0.mode.isDirectory }
        let page = max(1, page)
        let first = (page - 1) * UIApp.listingPage
        guard first < max(1, all.count) else { throw UIError(400, "page \(page) is past the last page of '\(path)'") }
        let sorted = all[first..<min(all.count, first + UIApp.listingPage)]
        var out = "<table class=\"sortable files\"><thead><tr><th>Name</th><th class=\"num\">Size</th><th>Kind</th><th class=\"nosort\"></th></tr></thead><tbody>"
        for e in sorted {
            let p = path.isEmpty ? e.name : path + "/" + e.name
            let href = HTML.url("/files", [("rev", rev), ("path", p)])
            let kind = UIApp.kind(meta, p)?.rawValue ?? ""
            out += "<tr><td><a href=\"\(HTML.attr(href))\">\(HTML.text(e.name))\(e.mode.isDirectory ? "/" : "")</a></td>"
            out += e.mode.isDirectory ? "<td class=\"num\" data-v=\"-1\"></td>" : "<td class=\"num\" data-v=\"\(e.size)\">\(PageText.bytes(e.size))</td>"
            out += "<td>\(HTML.text(kind))</td><td>"
            if !e.mode.isDirectory {
                out += "<a href=\"\(HTML.attr(HTML.url("/lineage", [("rev", rev), ("path", p)])))\">lineage</a>"
                if MLRepo.isCSV(p) { out += " · <a href=\"\(HTML.attr(HTML.url("/data", [("rev", rev), ("path", p)])))\">profile</a>" }
            }
            out += "</td></tr>"
        }
        out += "</tbody></table>"
        if all.isEmpty { out += "<p class=\"muted\">empty folder</p>" }
        if all.count > UIApp.listingPage {
            out += "<div class=\"pager\">"
            if page > 1 { out += "<a href=\"\(HTML.attr(HTML.url("/files", [("rev", rev), ("path", path), ("page", String(page - 1))])))\">← previous</a>" }
            out += "<span>entries \(first + 1)–\(first + sorted.count) of \(all.count)</span>"
            if first + sorted.count < all.count { out += "<a href=\"\(HTML.attr(HTML.url("/files", [("rev", rev), ("path", path), ("page", String(page + 1))])))\">next →</a>" }
            out += "</div>"
        }
        return out
    }

    /// The kind of `path`: its own, or that of the nearest folder above it with one (as
    /// `CommitMeta.kind(of:)`, looking up each folder instead of scanning every kind).
    static func kind(_ meta: CommitMeta?, _ path: String) -> PathKind? {
        guard let meta, !meta.kinds.isEmpty else { return nil }
        var p = path
        while !p.isEmpty && p != "." && p != "/" {
            if let k = meta.kinds[p] { return k }
            p = Path.dirname(p)
        }
        return nil
    }

    static func ext(_ path: String) -> String { PathKind.fileExtension(path) }

    static func isTable(_ path: String) -> Bool { ["csv", "tsv"].contains(ext(path)) }

    /// The image type of a file, from its name and confirmed by its first bytes; nil: not
    /// an image this app displays (SVG is not one: it can hold script).
    static func imageType(_ path: String, head: [UInt8]) -> String? {
        func starts(_ sig: [UInt8], at: Int = 0) -> Bool { head.count >= at + sig.count && Array(head[at..<(at + sig.count)]) == sig }
        switch ext(path) {
        case "png": return starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) ? "image/png" : nil
        case "jpg", "jpeg": return starts([0xFF, 0xD8, 0xFF]) ? "image/jpeg" : nil
        case "gif": return starts(Array("GIF8".utf8)) ? "image/gif" : nil
        case "webp": return starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) ? "image/webp" : nil
        default: return nil
        }
    }

    func fileView(_ e: TreeEntry, path: String, rev: String, meta: CommitMeta?, page: Int) throws -> String {
        let rawURL = HTML.url("/raw", [("rev", rev), ("path", path)])
        var out = "<p><span class=\"mono\">\(e.id.short)</span> · \(PageText.bytes(e.size))"
        if let k = UIApp.kind(meta, path) { out += " · <span class=\"tag\">\(k.rawValue)</span>" }
        out += " · <a href=\"\(HTML.attr(rawURL))\">download</a> · <a href=\"\(HTML.attr(HTML.url("/lineage", [("rev", rev), ("path", path)])))\">lineage</a>"
        if MLRepo.isCSV(path) { out += " · <a href=\"\(HTML.attr(HTML.url("/data", [("rev", rev), ("path", path)])))\">profile</a>" }
        out += "</p>"
        var head: [UInt8] = []
        try readPrefix(e.id, maxBytes: 16) { head += $0; return false }
        if let type = UIApp.imageType(path, head: head) {
            return out + "<p><img class=\"preview\" src=\"\(HTML.attr(rawURL))\" alt=\"\(HTML.attr(Path.basename(path)))\" title=\"\(HTML.attr(type))\" style=\"max-width:100%\"></p>"
        }
        if UIApp.isTable(path) {
            return out + (try tableView(e, path: path, rev: rev, page: max(1, page)))
        }
        // Text: the first 256 KiB; binary when it holds a NUL or is not UTF-8.
        var bytes: [UInt8] = []
        try readPrefix(e.id, maxBytes: UIApp.textPreviewBytes) { bytes += $0; return true }
        let truncated = UInt64(bytes.count) < e.size
        // A UTF-8 sequence cut by the limit is not a reason to call the file binary.
        var decoded = String(validating: bytes, as: UTF8.self)
        var cut = 1
        while decoded == nil && truncated && cut <= 3 && cut < bytes.count {
            decoded = String(validating: bytes.dropLast(cut), as: UTF8.self)
            cut += 1
        }
        guard !bytes.prefix(8192).contains(0), let s = decoded else {
            return out + "<p class=\"muted\">Binary file (\(PageText.bytes(e.size))): not shown.</p>"
        }
        out += "<pre class=\"file\">" + HTML.text(s) + "</pre>"
        if truncated { out += "<p class=\"muted\">Showing the first \(PageText.bytes(UInt64(bytes.count))) of \(PageText.bytes(e.size)).</p>" }
        return out
    }

    /// One page of a CSV/TSV file: streams the file, stops once the page is read.
    func tableView(_ e: TreeEntry, path: String, rev: String, page: Int) throws -> String {
        guard page <= UIApp.maxTablePage else { throw UIError(400, "page \(page) is past the last page shown (\(UIApp.maxTablePage)); use the profile or download the file") }
        let per = UIApp.tableRowsPerPage
        let first = (page - 1) * per
        var header: [String]? = nil
        var rows: [[String]] = []
        var seen = 0
        var more = false
        let table = TableStream(tab: UIApp.ext(path) == "tsv")
        var scanned = 0
        var stoppedEarly = false
        try readPrefix(e.id, maxBytes: UIApp.maxTableScanBytes) { chunk in
            scanned += chunk.count
            let last = UInt64(scanned) >= e.size
            var go = true
            try table.feed(chunk, atEnd: last) { rec in
                if header == nil { header = rec.texts; return true }
                if seen >= first + per { more = true; go = false; return false }
                if seen >= first { rows.append((0..<min(rec.count, 200)).map { String(rec.text($0).prefix(500)) }) }
                seen += 1
                return true
            }
            if !go { return false }
            if UInt64(scanned) >= UInt64(UIApp.maxTableScanBytes) && !last { stoppedEarly = true }
            return true
        }
        guard let header else { return "<p class=\"muted\">empty table</p>" }
        let columns = min(header.count, 200)
        var out = "<div class=\"scroll\"><table class=\"sortable data\"><thead><tr><th class=\"num\">#</th>"
        for h in header.prefix(columns) { out += "<th>\(HTML.text(String(h.prefix(200))))</th>" }
        out += "</tr></thead><tbody>"
        for (i, r) in rows.enumerated() {
            out += "<tr><td class=\"num\">\(first + i + 1)</td>"
            for j in 0..<columns { out += "<td>\(HTML.text(j < r.count ? String(r[j].prefix(500)) : ""))</td>" }
            out += "</tr>"
        }
        out += "</tbody></table></div>"
        if header.count > columns { out += "<p class=\"muted\">\(header.count - columns) more columns not shown.</p>" }
        if rows.isEmpty && page > 1 { out += "<p class=\"muted\">No rows on page \(page).</p>" }
        out += "<div class=\"pager\">"
        if page > 1 { out += "<a href=\"\(HTML.attr(HTML.url("/files", [("rev", rev), ("path", path), ("page", String(page - 1))])))\">← previous</a>" }
        out += "<span>page \(page) · rows \(rows.isEmpty ? 0 : first + 1)–\(first + rows.count)</span>"
        if more && page < UIApp.maxTablePage { out += "<a href=\"\(HTML.attr(HTML.url("/files", [("rev", rev), ("path", path), ("page", String(page + 1))])))\">next →</a>" }
        out += "</div>"
        if stoppedEarly { out += "<p class=\"muted\">Stopped reading after \(PageText.bytes(UInt64(UIApp.maxTableScanBytes))).</p>" }
        return out
    }

    // MARK: /raw

    /// `/raw?rev=R&path=P`: a file's bytes, for images shown on the Files page (other types
    /// are sent as an attachment of type application/octet-stream, never as a page).
    func rawFile(_ q: Query) throws -> HTTPResponse {
        let rev = q["rev"].flatMap { $0.isEmpty ? nil : $0 } ?? "HEAD"
        let path = try checkedPath(q["path"])
        let commit = try resolvePageCommit(rev)
        guard !path.isEmpty, let e = try ml.repo.entry(in: ml.repo.readCommit(commit).tree, path: path) else {
            throw UIError(404, "'\(path)' is not in \(rev) (\(commit.short))")
        }
        guard !e.mode.isDirectory else { throw UIError(400, "'\(path)' is a folder") }
        let size = try FileReader(store: ml.repo.store).size(of: e.id)
        guard size <= UIApp.maxRawBytes else {
            throw UIError(413, "'\(path)' is \(PageText.bytes(size)): files over \(PageText.bytes(UIApp.maxRawBytes)) are not sent (use mlrepo checkout)")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(size))
        try FileReader(store: ml.repo.store).read(e.id) { b in
            guard bytes.count + b.count <= Int(UIApp.maxRawBytes) else { throw UIError(413, "'\(path)' grew past the limit") }
            bytes.append(contentsOf: b)
        }
        var headers: [(String, String)] = [
            ("Content-Security-Policy", "default-src 'none'; sandbox"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
            ("Cache-Control", "no-store"),
        ]
        if let type = UIApp.imageType(path, head: Array(bytes.prefix(16))) {
            headers.insert(("Content-Type", type), at: 0)
        } else {
            // A file name for the download: ASCII letters, digits and . _ - only.
            let safe = String(Path.basename(path).unicodeScalars.map { s -> Character in
                s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "." || s == "_" || s == "-") ? Character(s) : "_"
            }.prefix(100))
            headers.insert(("Content-Type", "application/octet-stream"), at: 0)
            headers.append(("Content-Disposition", "attachment; filename=\"\(safe.isEmpty ? "file" : safe)\""))
        }
        return HTTPResponse(status: 200, headers: headers, body: bytes)
    }
}

/// One record of a table, valid only during the callback: its fields' extents over the
/// bytes read so far.
struct TableRecord {
    let p: UnsafePointer<UInt8>
    let fields: [CSVField]
    var count: Int { fields.count }
    /// Field `j`'s text, unquoted (not trimmed).
    func text(_ j: Int) -> String { CSVScanner.text(p, fields[j]) }
    var texts: [String] { fields.indices.map(text) }
    /// Field `j` as a finite number (trimmed of spaces and tabs); nil for anything else,
    /// missing-value words included.
    func number(_ j: Int) -> Double? {
        let f = fields[j]
        guard !f.assemble else { return Double(text(j).trimmed(" \t")).flatMap { $0.isFinite ? $0 : nil } }
        var q = p + f.start, len = f.count
        CSVScanner.trim(&q, &len)
        guard len > 0, let d = DecimalParser.double(q, len), d.isFinite else { return nil }
        return d
    }
}

/// Records of a CSV (RFC 4180 quoting, via `CSVScanner`) or TSV (tab-separated, no
/// quoting) file fed in pieces, passed as field extents (no string is made for a field
/// nobody reads). A record longer than `maxRecordBytes` is an error.
final class TableStream {
    static let maxRecordBytes = 4 << 20
    let tab: Bool
    private var pending: [UInt8] = []
    private var started = false
    init(tab: Bool) { self.tab = tab }

    /// Adds `bytes` and calls `record` for every complete record (the last one too when
    /// `atEnd`), until it returns false.
    func feed(_ bytes: [UInt8], atEnd: Bool, _ record: (TableRecord) throws -> Bool) throws {
        pending += bytes
        var consumed = 0
        defer { if consumed > 0 { pending.removeFirst(consumed) } }
        var fields: [CSVField] = []
        try pending.withUnsafeBufferPointer { buf in
            guard let p = buf.baseAddress else { return }
            let n = buf.count
            var i = 0
            if !started {
                // Past a byte order mark and blank lines; wait for enough bytes to tell.
                guard n >= 3 || atEnd else { return }
                i = CSVScanner.headerStart(p, n)
                started = true
                consumed = i
            }
            scan: while i < n {
                fields.removeAll(keepingCapacity: true)
                var j = i
                // One record: fields up to a line end (LF, CRLF or CR).
                while true {
                    let f: CSVField
                    if tab {
                        var k = j
                        while k < n && p[k] != 0x09 && p[k] != 0x0A && p[k] != 0x0D { k += 1 }
                        f = CSVField(start: j, count: k - j, assemble: false, next: k)
                    } else {
                        f = CSVScanner.field(p, j, n)
                        if f.next < 0 {   // a quoted field still open
                            if atEnd { throw UIError(422, "the table has a quoted field that is never closed") }
                            break scan
                        }
                    }
                    fields.append(f)
                    j = f.next
                    if j >= n {
                        // The record may go on in the next piece.
                        if !atEnd { break scan }
                        break
                    }
                    let d = p[j]
                    j += 1
                    if d == (tab ? 0x09 : 0x2C) { continue }
                    if d == 0x0D {
                        if j >= n && !atEnd { break scan }   // CR LF may be split
                        if j < n && p[j] == 0x0A { j += 1 }
                    }
                    break
                }
                i = j
                consumed = i
                if fields.count == 1 && fields[0].count == 0 { continue }  // a blank line
                guard try record(TableRecord(p: p, fields: fields)) else { return }
            }
        }
        if pending.count - consumed > TableStream.maxRecordBytes { throw UIError(422, "a record of the table is longer than \(TableStream.maxRecordBytes >> 20) MiB") }
    }
}
