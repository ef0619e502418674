#!/usr/bin/env python3
"""Checks a running `mlrepo ui` in headless Chromium (Selenium 4 + chromedriver).

usage: check_ui.py --base http://127.0.0.1:PORT --expect EXPECT.json [--screenshots DIR]
                   [--window 1400x900] [--full-page]

Visits every page EXPECT.json lists and checks, on each:
  - the HTTP status (default 200), a Content-Security-Policy header, and that no hostile
    string (EXPECT["hostile"]) appears unescaped in the HTML the server sent;
  - no console errors once loaded (SEVERE entries of the browser log: script errors, failed
    loads, CSP violations); window.__pwned is undefined; no element carries an inline event
    handler (on...=), no <script> without src, no <img src="x">; every <img> loaded;
  - "title": the h1 (or the document title) contains this text;
  - "tables": {ID: N or {"min": N}}: rows in the table's <tbody>;
  - "counts": {CSS selector: N or {"min": N}}: elements on the page (chart markers ...);
  - "text": strings that must be part of the page's visible text (hostile values shown as
    text, names, numbers).
Then the interactions:
  - "sort": [{"path", "table", "column"}]: clicking the column's header sorts the rows by it,
    clicking again reverses the order;
  - "compare": [{"path", "table", "link", "title"}]: ticking two input.pick boxes shows the
    link (#compare-link) with both boxes' values in its href; following it opens a page whose
    h1 contains "title";
  - "links": [{"path", "selector", "title", "min"}]: at least "min" (default 1) elements
    match; clicking the first leads to a page whose h1 or title contains "title";
  - "crawl" (default true): every same-origin link of every visited page answers < 400
    (or the status "crawl_allow": {PATH: STATUS} accepts for that exact path).
--screenshots DIR saves DIR/ui-NAME.png per page (NAME: the page's "name", or its path);
--full-page makes the window as tall as the page (up to 2,400 px) for the shot.

Prints one JSON object {"ok", "checks", "failures": [...], "pages": [...]} on stdout;
exit status 0 when every check passed, 1 when one failed, 2 when the browser could not be
started or the arguments are wrong.
Environment: CHROMIUM (default /usr/bin/chromium), CHROMEDRIVER (default /usr/bin/chromedriver).
"""
import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class Checker:
    def __init__(self, base, expect, window, shots, full_page):
        self.base = base.rstrip("/")
        self.expect = expect
        self.window = window
        self.shots = shots
        self.full_page = full_page
        self.failures = []
        self.checks = 0
        self.pages = []
        self.links = set()
        self.hostile = expect.get("hostile", [])
        self.driver = None

    # ------------------------------------------------------------------ plumbing
    def check(self, cond, what):
        self.checks += 1
        if not cond:
            self.failures.append(what)
            sys.stderr.write("check_ui: FAIL %s\n" % what)
        return cond

    def url(self, path):
        return path if path.startswith("http") else self.base + path

    def start(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        o = webdriver.ChromeOptions()
        o.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--hide-scrollbars", "--force-device-scale-factor=1",
                  "--window-size=%d,%d" % self.window, "--lang=en-US"):
            o.add_argument(a)
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=o)
        self.driver.set_page_load_timeout(30)
        self.viewport(*self.window)

    def viewport(self, w, h):
        """The page's viewport exactly w x h CSS pixels (the window's frame is not counted)."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": False})

    def fetch(self, path):
        """(status, headers, body text) of GET path, without following redirects."""
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(self.url(path), timeout=30) as r:
                return r.status, dict(r.headers), r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode("utf-8", "replace")

    def console_errors(self):
        return [e["message"] for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def load(self, path):
        """Navigates to path and waits until the document is complete."""
        self.driver.get_log("browser")  # drop what earlier pages logged
        self.driver.get(self.url(path))
        self.wait_ready()

    def wait_ready(self, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            if self.driver.execute_script("return document.readyState") == "complete":
                return True
            time.sleep(0.05)
        return False

    def heading(self):
        return self.driver.execute_script(
            "var h = document.querySelector('h1'); return [h ? h.innerText : '', document.title];")

    def count(self, selector):
        return self.driver.execute_script("return document.querySelectorAll(arguments[0]).length", selector)

    def matches(self, got, want):
        if isinstance(want, dict):
            return got >= want.get("min", 0) and ("max" not in want or got <= want["max"])
        return got == want

    # ------------------------------------------------------------------ pages
    def page(self, spec):
        path = spec["path"]
        name = spec.get("name") or re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "root"
        info = {"name": name, "path": path}
        status, headers, body = self.fetch(path)
        self.check(status == spec.get("status", 200), "%s: HTTP status %d, want %d" % (path, status, spec.get("status", 200)))
        csp = {k.lower(): v for k, v in headers.items()}.get("content-security-policy", "")
        self.check("script-src 'self'" in csp, "%s: no Content-Security-Policy with script-src 'self' (got %r)" % (path, csp))
        for h in self.hostile:
            self.check(h not in body, "%s: the server sent the hostile string %r unescaped" % (path, h))
        timing = {k.lower(): v for k, v in headers.items()}.get("server-timing", "")
        m = re.search(r"dur=([0-9.]+)", timing)
        info["server_ms"] = float(m.group(1)) if m else None

        t0 = time.time()
        self.load(path)
        info["load_ms"] = round((time.time() - t0) * 1000, 1)
        errors = self.console_errors()
        if spec.get("status", 200) != 200:  # the browser logs the page's own error status
            errors = [e for e in errors if not (e.startswith(self.url(path)) and "status of %d" % spec["status"] in e)]
        self.check(not errors, "%s: console errors: %s" % (path, errors))
        info["console_errors"] = errors
        d = self.driver
        pwned = d.execute_script("return typeof window.__pwned")
        self.check(pwned == "undefined", "%s: window.__pwned is %s: a hostile value ran as script" % (path, pwned))
        bad = d.execute_script("""
            var n = 0, out = [];
            document.querySelectorAll('*').forEach(function (e) {
              for (var i = 0; i < e.attributes.length; i++)
                if (/^on/i.test(e.attributes[i].name)) { out.push(e.tagName + '[' + e.attributes[i].name + ']'); }
            });
            document.querySelectorAll('script:not([src])').forEach(function (e) { out.push('inline script'); });
            document.querySelectorAll('img[src="x"]').forEach(function (e) { out.push('img[src=x]'); });
            document.querySelectorAll('img').forEach(function (e) {
              if (!e.complete || e.naturalWidth === 0) out.push('broken img ' + e.getAttribute('src'));
            });
            return out;""")
        self.check(not bad, "%s: elements that should not exist: %s" % (path, bad[:10]))
        h1, title = self.heading()
        info["h1"] = h1
        if "title" in spec:
            self.check(spec["title"] in h1 or spec["title"] in title,
                       "%s: h1 %r / title %r does not contain %r" % (path, h1, title, spec["title"]))
        info["tables"] = {}
        for tid, want in spec.get("tables", {}).items():
            n = d.execute_script("var t = document.getElementById(arguments[0]); return t ? t.querySelectorAll('tbody tr').length : -1", tid)
            info["tables"][tid] = n
            self.check(n >= 0, "%s: no table #%s" % (path, tid))
            if n >= 0:
                self.check(self.matches(n, want), "%s: table #%s has %d rows, want %s" % (path, tid, n, want))
        info["counts"] = {}
        for sel, want in spec.get("counts", {}).items():
            n = self.count(sel)
            info["counts"][sel] = n
            self.check(self.matches(n, want), "%s: %d elements match %r, want %s" % (path, n, sel, want))
        if spec.get("text"):
            visible = d.execute_script("return document.body.innerText")
            for t in spec["text"]:
                self.check(t in visible, "%s: %r is not in the visible text" % (path, t))
        # (SVG links too: their .href is not a string, so resolve the attribute.)
        for href in d.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(function (a) { return new URL(a.getAttribute('href'), document.baseURI).href; })"):
            if href.startswith(self.base + "/"):
                self.links.add(href.split("#")[0])
        if self.shots:
            self.screenshot(name)
        self.pages.append(info)

    def screenshot(self, name):
        d = self.driver
        w, h = self.window
        if self.full_page:
            full = d.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
            self.viewport(w, max(h, min(int(full), 2400)))
        os.makedirs(self.shots, exist_ok=True)
        d.save_screenshot(os.path.join(self.shots, "ui-%s.png" % name))
        if self.full_page:
            self.viewport(w, h)

    # ------------------------------------------------------------------ interactions
    def column_values(self, table, column):
        """The cells of `column` (matched against the header text) in table order, or None."""
        return self.driver.execute_script("""
            var t = document.getElementById(arguments[0]); if (!t) return null;
            var ths = t.querySelectorAll('thead th'), idx = -1;
            for (var i = 0; i < ths.length; i++) {
              var s = ths[i].innerText.replace(/[\\u2190-\\u21ff\\u25a0-\\u25ff\\s]+$/g, '').trim();
              if (s === arguments[1] || ths[i].getAttribute('data-key') === arguments[1]
                  || ths[i].getAttribute('data-col') === arguments[1]) { idx = i; break; }
            }
            if (idx < 0) return null;
            return Array.from(t.querySelectorAll('tbody tr')).map(function (r) {
              var c = r.children[idx]; return c ? c.innerText.trim() : ''; });""", table, column)

    @staticmethod
    def direction(values):
        """1: ascending, -1: descending, 0: neither (blank or '-' cells must come last)."""
        nums = []
        for v in values:
            try:
                nums.append(float(v.replace(",", "")))
            except ValueError:
                nums.append(None)
        present = [x for x in nums if x is not None]
        if len(present) < 2 or nums[:len(present)] != present:
            return 0
        if all(a <= b for a, b in zip(present, present[1:])):
            return 1
        if all(a >= b for a, b in zip(present, present[1:])):
            return -1
        return 0

    def click_header(self, table, column):
        d = self.driver
        before = (d.current_url, self.column_values(table, column))
        ok = d.execute_script("""
            var t = document.getElementById(arguments[0]); if (!t) return false;
            var ths = t.querySelectorAll('thead th');
            for (var i = 0; i < ths.length; i++) {
              var s = ths[i].innerText.replace(/[\\u2190-\\u21ff\\u25a0-\\u25ff\\s]+$/g, '').trim();
              if (s === arguments[1] || ths[i].getAttribute('data-key') === arguments[1]
                  || ths[i].getAttribute('data-col') === arguments[1]) {
                var a = ths[i].querySelector('a, button'); ths[i].scrollIntoView();
                (a || ths[i]).setAttribute('data-check-target', '1'); return true; }
            }
            return false;""", table, column)
        if not ok:
            return False
        from selenium.webdriver.common.by import By
        d.find_element(By.CSS_SELECTOR, "[data-check-target]").click()
        end = time.time() + 8
        while time.time() < end:
            time.sleep(0.1)
            try:
                if not self.wait_ready(2):
                    continue
                now = (d.current_url, self.column_values(table, column))
            except Exception:  # the page is being replaced
                continue
            if now != before and now[1] is not None:
                return True
        return True

    def sort(self, spec):
        path, table, col = spec["path"], spec["table"], spec["column"]
        self.load(path)
        vals = self.column_values(table, col)
        if not self.check(vals is not None and len(vals) >= 2, "%s: table #%s has no column %r with 2+ rows" % (path, table, col)):
            return
        if not self.check(self.click_header(table, col), "%s: no header %r to click" % (path, col)):
            return
        first = self.column_values(table, col) or []
        d1 = self.direction(first)
        self.check(d1 != 0, "%s: after clicking %r the column is not sorted: %s" % (path, col, first[:12]))
        self.click_header(table, col)
        second = self.column_values(table, col) or []
        d2 = self.direction(second)
        self.check(d2 == -d1 and d2 != 0, "%s: clicking %r again does not reverse the order: %s" % (path, col, second[:12]))
        errors = self.console_errors()
        self.check(not errors, "%s: console errors while sorting: %s" % (path, errors))

    def compare(self, spec):
        from selenium.webdriver.common.by import By
        path, table = spec["path"], spec.get("table", "experiments")
        link = spec.get("link", "#compare-link")
        self.load(path)
        d = self.driver
        boxes = d.find_elements(By.CSS_SELECTOR, "#%s input.pick" % table)
        if not self.check(len(boxes) >= 2, "%s: fewer than 2 input.pick boxes in #%s" % (path, table)):
            return
        picked = []
        for b in boxes[:2]:
            d.execute_script("arguments[0].scrollIntoView()", b)
            b.click()
            picked.append(b.get_attribute("value"))
        end = time.time() + 3
        el = None
        while time.time() < end:
            found = d.find_elements(By.CSS_SELECTOR, link)
            if found and found[0].is_displayed() and all(p and p in urllib.parse.unquote(found[0].get_attribute("href") or "") for p in picked):
                el = found[0]
                break
            time.sleep(0.1)
        href = d.execute_script("var e = document.querySelector(arguments[0]); return e ? e.href : null", link)
        if not self.check(el is not None, "%s: after ticking 2 boxes (%s) %s is not visible with both values (href %r)" % (path, picked, link, href)):
            return
        self.check("/compare" in href, "%s: %s points at %r, not /compare" % (path, link, href))
        el.click()
        self.wait_ready()
        time.sleep(0.2)
        self.wait_ready()
        h1, title = self.heading()
        want = spec.get("title", "Compare")
        self.check(want in h1 or want in title, "%s: the compare link opened %r (h1 %r), not %r" % (path, d.current_url, h1, want))
        errors = self.console_errors()
        self.check(not errors, "%s: console errors on the compare page: %s" % (path, errors))

    def follow(self, spec):
        from selenium.webdriver.common.by import By
        path, sel = spec["path"], spec["selector"]
        self.load(path)
        d = self.driver
        els = d.find_elements(By.CSS_SELECTOR, sel)
        if not self.check(len(els) >= spec.get("min", 1), "%s: %d links match %r, want at least %d" % (path, len(els), sel, spec.get("min", 1))):
            return
        href = els[0].get_attribute("href")
        d.execute_script("arguments[0].scrollIntoView()", els[0])
        try:
            els[0].click()
        except Exception:  # covered by another element (an SVG label): go there directly
            d.get(href)
        self.wait_ready()
        time.sleep(0.2)
        self.wait_ready()
        h1, title = self.heading()
        self.check(spec["title"] in h1 or spec["title"] in title,
                   "%s: link %r (%s) led to %r with h1 %r, title %r; want %r" % (path, sel, href, d.current_url, h1, title, spec["title"]))
        errors = self.console_errors()
        self.check(not errors, "%s: console errors after following %r: %s" % (path, sel, errors))

    def crawl(self):
        allowed = self.expect.get("crawl_allow", {})  # {path: status} known and accepted
        for href in sorted(self.links)[:400]:
            status, headers, _ = self.fetch(href)
            if status in (301, 302, 303, 307, 308):
                loc = {k.lower(): v for k, v in headers.items()}.get("location", "")
                status, _, _ = self.fetch(urllib.parse.urljoin(href, loc))
            path = href[len(self.base):]
            self.check(status < 400 or allowed.get(path) == status, "link %s answers %d" % (path, status))

    def run(self):
        for p in self.expect.get("pages", []):
            self.page(p)
        for s in self.expect.get("sort", []):
            self.sort(s)
        for c in self.expect.get("compare", []):
            self.compare(c)
        for link in self.expect.get("links", []):
            self.follow(link)
        if self.expect.get("crawl", True):
            self.crawl()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--screenshots")
    ap.add_argument("--window", default="1400x900")
    ap.add_argument("--full-page", action="store_true")
    a = ap.parse_args()
    try:
        w, h = (int(x) for x in a.window.lower().split("x"))
        with open(a.expect) as f:
            expect = json.load(f)
    except (ValueError, OSError) as e:
        print(json.dumps({"ok": False, "error": "bad arguments: %s" % e}))
        return 2
    c = Checker(a.base, expect, (w, h), a.screenshots, a.full_page)
    try:
        c.start()
    except Exception as e:  # no browser, no driver, a version mismatch
        print(json.dumps({"ok": False, "error": "cannot start headless Chromium: %s" % str(e).splitlines()[0] if str(e) else repr(e)}))
        return 2
    try:
        c.run()
    except Exception as e:
        import traceback
        traceback.print_exc()
        c.failures.append("checker stopped: %s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    finally:
        c.driver.quit()
    print(json.dumps({"ok": not c.failures, "checks": c.checks, "failures": c.failures, "pages": c.pages}, indent=1))
    return 0 if not c.failures else 1


if __name__ == "__main__":
    sys.exit(main())
