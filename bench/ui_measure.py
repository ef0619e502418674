#!/usr/bin/env python3
"""Measures `mlrepo ui` and `mlflow ui` for bench/ui.sh; prints one JSON object.

usage: ui_measure.py --spec SPEC.json [--requests N] [--cold K] [--window 1400x900]

SPEC.json: {"tools": {TOOL: {"base": URL, "view": PATH, "marker": TEXT,
                             "requests": [[NAME, METHOD, PATH, BODY or null], ...]}}}

Server time: for every request of every tool, 3 warm-up requests then N timed ones over one
keep-alive connection (http.client, loopback): the wall time from sending the request to
the last byte of the body, and the server's own figure where it sends
`Server-Timing: app;dur=MS`. Median and p99 (nearest rank) of each.

First view: K cold loads per tool, alternating tools, each in a fresh headless Chromium (new
profile: empty cache). A script installed before the page's own (DevTools
Page.addScriptToEvaluateOnNewDocument) checks at every animation frame whether an element
whose own text contains TEXT (the newest run's name, a row of the experiment table) is laid
out with a non-zero height, and records performance.now() (ms since navigation start) then.
Reported: median and all values. Page weight: at that moment plus 2 s, the bytes of the
document and every resource it loaded (Resource Timing decodedBodySize; transferSize too),
split into HTML + CSS + JS and data (fetch/XHR) and the rest.
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

PROBE = r"""
(function () {
  var marker = %s;
  window.__firstView = null;
  function look() {
    if (window.__firstView !== null) return;
    if (document.body) {
      var r = document.evaluate("//*[contains(text(), " + JSON.stringify(marker) + ")]", document, null,
                                XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
      for (var i = 0; i < r.snapshotLength; i++) {
        var b = r.snapshotItem(i).getBoundingClientRect();
        if (b.height > 0 && b.width > 0) { window.__firstView = performance.now(); return; }
      }
    }
    requestAnimationFrame(look);
  }
  requestAnimationFrame(look);
})();
"""


def pct(values, p):
    s = sorted(values)
    if not s:
        return None
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))  # nearest rank
    return s[k]


def server_times(base, method, path, body, n):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    headers = {"Host": "%s:%d" % (u.hostname, u.port), "Accept-Encoding": "identity"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    wall, app, size, status = [], [], 0, 0
    for i in range(n + 3):
        t0 = time.perf_counter()
        conn.request(method, path, body=body.encode() if body is not None else None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        dt = (time.perf_counter() - t0) * 1000
        status, size = r.status, len(data)
        st = r.getheader("Server-Timing") or ""
        if i >= 3:
            wall.append(dt)
            if "dur=" in st:
                try:
                    app.append(float(st.split("dur=")[1].split(";")[0].split(",")[0]))
                except ValueError:
                    pass
    conn.close()
    out = {"status": status, "bytes": size, "n": n,
           "wall_median_ms": statistics.median(wall), "wall_p99_ms": pct(wall, 99)}
    if app:
        out["app_median_ms"] = statistics.median(app)
        out["app_p99_ms"] = pct(app, 99)
    return out


def browser(window):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=%d,%d" % window, "--disable-extensions", "--no-first-run"):
        o.add_argument(a)
    d = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=o)
    d.set_page_load_timeout(120)
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False})
    return d


def first_view(tool, window):
    d = browser(window)
    try:
        d.get("about:blank")
        d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE % json.dumps(tool["marker"])})
        d.get(tool["base"].rstrip("/") + tool["view"])
        end = time.time() + 120
        fv = None
        while time.time() < end:
            fv = d.execute_script("return window.__firstView")
            if fv is not None:
                break
            time.sleep(0.05)
        if fv is None:
            return {"error": "the marker %r never became visible" % tool["marker"]}
        time.sleep(2)
        w = d.execute_script("""
            var nav = performance.getEntriesByType('navigation')[0];
            var out = {html: nav.decodedBodySize, html_transfer: nav.transferSize, css: 0, js: 0, data: 0, other: 0, transfer: nav.transferSize, requests: 1};
            performance.getEntriesByType('resource').forEach(function (e) {
              var n = e.name.split('?')[0], k;
              if (e.initiatorType === 'fetch' || e.initiatorType === 'xmlhttprequest') k = 'data';
              else if (/\\.css$/.test(n) || e.initiatorType === 'css' && /css/.test(n)) k = 'css';
              else if (/\\.m?js$/.test(n) || e.initiatorType === 'script') k = 'js';
              else k = 'other';
              out[k] += e.decodedBodySize; out.transfer += e.transferSize; out.requests += 1;
            });
            var p = performance.getEntriesByType('paint').filter(function (e) { return e.name === 'first-contentful-paint'; })[0];
            out.fcp = p ? p.startTime : null;
            out.dom_content_loaded = nav.domContentLoadedEventEnd; out.load = nav.loadEventEnd;
            return out;""")
        w["first_view_ms"] = fv
        return w
    finally:
        d.quit()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--cold", type=int, default=5)
    ap.add_argument("--window", default="1400x900")
    a = ap.parse_args()
    spec = json.load(open(a.spec))
    window = tuple(int(x) for x in a.window.split("x"))
    tools = spec["tools"]
    result = {"requests_per_page": a.requests, "cold_loads": a.cold, "server": {}, "first_view": {}}
    for name, t in tools.items():
        result["server"][name] = {}
        for label, method, path, body in t["requests"]:
            r = server_times(t["base"], method, path, body, a.requests)
            result["server"][name][label] = dict(r, method=method, path=path)
            sys.stderr.write("  %s %-28s %s wall median %.2f ms p99 %.2f ms%s (%d B)\n" % (
                name, label, r["status"], r["wall_median_ms"], r["wall_p99_ms"],
                ", app median %.2f p99 %.2f" % (r["app_median_ms"], r["app_p99_ms"]) if "app_median_ms" in r else "", r["bytes"]))
    loads = {name: [] for name in tools}
    for k in range(a.cold):
        for name, t in tools.items():
            r = first_view(t, window)
            loads[name].append(r)
            sys.stderr.write("  %s cold load %d: %s\n" % (name, k + 1, "%.1f ms" % r["first_view_ms"] if "first_view_ms" in r else r["error"]))
    for name, rs in loads.items():
        ok = [r for r in rs if "first_view_ms" in r]
        fv = [r["first_view_ms"] for r in ok]
        last = ok[-1] if ok else {}
        result["first_view"][name] = {
            "median_ms": statistics.median(fv) if fv else None, "values_ms": fv,
            "errors": [r["error"] for r in rs if "error" in r],
            "fcp_median_ms": statistics.median([r["fcp"] for r in ok if r.get("fcp") is not None]) if ok else None,
            "weight": {k: last.get(k) for k in ("html", "css", "js", "data", "other", "transfer", "requests")},
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
