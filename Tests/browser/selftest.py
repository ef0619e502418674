#!/usr/bin/env python3
"""Proves that check_ui.py fails where it should: serves deliberately broken pages from a
local server and checks that each fault is reported (and that a clean page passes).

usage: selftest.py    (prints one JSON object {"ok", "cases": [...]}; exit 0 when every
                       fault was caught, 1 when one was missed, 2 when no browser starts)
"""
import http.server
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_ui  # noqa: E402

CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
HOSTILE = '<img src=x onerror="window.__pwned=1">'
ESCAPED = HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def page(body, script=""):
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>T</title>%s</head><body>%s</body></html>" % (script, body)).encode()


PAGES = {
    "/good": (True, page("<h1>Good</h1><p>%s</p><table id='t'><tbody><tr><td>2</td></tr><tr><td>1</td></tr></tbody></table>"
                         "<a href='/good'>self</a>" % ESCAPED)),
    "/raw": (True, page("<h1>Raw</h1><p>%s</p>" % HOSTILE)),
    "/nocsp": (False, page("<h1>No CSP</h1><script>window.__pwned=1</script>")),
    "/jserror": (True, page("<h1>JS error</h1>", "<script src='/bad.js'></script>")),
    "/bad.js": (True, b"undefinedFunction();"),
    "/links": (True, page("<h1>Links</h1><a href='/missing'>gone</a>")),
}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/favicon.ico":
            self.send_response(204)
            self.end_headers()
            return
        if path not in PAGES:
            self.send_response(404)
            self.send_header("Content-Security-Policy", CSP)
            self.end_headers()
            self.wfile.write(b"not found")
            return
        csp, body = PAGES[path]
        self.send_response(200)
        self.send_header("Content-Type", "text/javascript" if path.endswith(".js") else "text/html; charset=utf-8")
        if csp:
            self.send_header("Content-Security-Policy", CSP)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


# (name, expectations, substrings every one of which must be among the failures; [] = must pass)
CASES = [
    ("clean page passes", {"hostile": [HOSTILE], "pages": [{"path": "/good", "title": "Good", "tables": {"t": 2}, "text": [HOSTILE]}]}, []),
    ("wrong row count", {"pages": [{"path": "/good", "tables": {"t": 3}}], "crawl": False}, ["table #t has 2 rows, want 3"]),
    ("missing text and title", {"pages": [{"path": "/good", "title": "Other", "text": ["absent"]}], "crawl": False},
     ["does not contain 'Other'", "'absent' is not in the visible text"]),
    ("unescaped value under CSP", {"hostile": [HOSTILE], "pages": [{"path": "/raw", "text": [HOSTILE]}], "crawl": False},
     ["sent the hostile string", "elements that should not exist", "is not in the visible text"]),
    ("inline script without CSP", {"pages": [{"path": "/nocsp"}], "crawl": False},
     ["no Content-Security-Policy", "window.__pwned is number", "inline script"]),
    ("script error", {"pages": [{"path": "/jserror"}], "crawl": False}, ["console errors"]),
    ("broken link", {"pages": [{"path": "/links"}]}, ["link /missing answers 404"]),
    ("sorting that does not sort", {"sort": [{"path": "/good", "table": "t", "column": "x"}], "crawl": False}, ["has no column 'x'"]),
]


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % server.server_address[1]
    results, ok = [], True
    first = check_ui.Checker(base, {}, (800, 600), None, False)
    try:
        first.start()
    except Exception as e:
        print(json.dumps({"ok": False, "error": "cannot start headless Chromium: %s" % (str(e).splitlines() or [repr(e)])[0]}))
        return 2
    driver = first.driver
    try:
        for name, expect, want in CASES:
            c = check_ui.Checker(base, expect, (800, 600), None, False)
            c.driver = driver
            try:
                c.run()
            except Exception as e:
                c.failures.append("checker stopped: %r" % e)
            missed = [w for w in want if not any(w in f for f in c.failures)]
            passed = (not c.failures) if not want else not missed
            ok &= passed
            results.append({"case": name, "passed": passed, "missed": missed, "failures": c.failures})
    finally:
        driver.quit()
        server.shutdown()
    print(json.dumps({"ok": ok, "cases": results}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
