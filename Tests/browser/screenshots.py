#!/usr/bin/env python3
"""Builds a demo repository and saves a screenshot of every page of `mlrepo ui` under docs/images.

usage: Tests/browser/screenshots.py [--mlrepo BIN] [--out DIR] [--keep]

One command, run from anywhere in the checkout:
  - builds, in a temporary folder, a small but realistic project: the breast cancer dataset
    (in two versions), a built-in MLP trainer (its loss curve is recorded), an eval stage, a stage
    that writes declared plots (a per-class bar chart and the confusion of predictions),
    31 commits on three branches with different params, promotions to staging and
    production;
  - starts `mlrepo ui --port 0` on it;
  - runs check_ui.py over every page (so a page with console errors fails here too) with
    --screenshots DIR --full-page, which writes DIR/ui-NAME.png (1400 px wide).
--mlrepo: the binary (default: $MLREPO, else .build/release/mlrepo, else .build/debug/mlrepo).
--out: default docs/images. --keep: keep the demo repository and print where it is.
Exit status: check_ui.py's (0 when every page loaded cleanly).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "datasets")

# The report stage: per-class recall and the confusion of predictions, from the eval's
# metrics (written by the command itself, so the stage has its own plots).
REPORT_PY = r'''import csv, json
m = json.load(open("eval.json"))
cm = m.get("confusion_matrix") or []
labels = [str(c) for c in m.get("classes") or range(len(cm))]
with open("plots/per_class.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["class", "recall"])
    for i, row in enumerate(cm):
        w.writerow([labels[i], round(row[i] / max(1, sum(row)), 4)])
with open("plots/predictions.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["actual", "predicted"])
    for i, row in enumerate(cm):
        for j, n in enumerate(row):
            for _ in range(int(n)):
                w.writerow([labels[i], labels[j]])
'''


def stages(hidden, lr, epochs, alpha):
    return {"stages": {
        "train": {"train": {"model": "mlp_classifier", "data": "data/cancer_train.csv", "label": "diagnosis",
                            "params": {"hidden_layers": hidden, "learning_rate": lr, "epochs": epochs, "alpha": alpha,
                                       "early_stopping": False}},
                  "outs": ["models/cancer.mlmodel"], "metrics": ["train.json"]},
        "eval": {"eval": {"model": "models/cancer.mlmodel", "data": "data/cancer_test.csv"}, "metrics": ["eval.json"]},
        "report": {"cmd": "python3 report.py", "deps": ["report.py", "eval.json"],
                   "plots": [{"plots/per_class.csv": {"x": "class", "y": "recall", "template": "bar", "title": "Recall per class"}},
                             {"plots/predictions.csv": {"template": "confusion", "x": "actual", "y": "predicted",
                                                        "title": "Predictions on the test set"}}]},
    }}


class Demo:
    def __init__(self, mlrepo, root):
        self.mlrepo, self.root = mlrepo, root
        self.t = 1_760_000_000
        self.env = dict(os.environ, MLREPO_NO_PROGRESS="1", MLREPO_FSYNC="0", TZ="UTC",
                        MLREPO_AUTHOR_NAME="Ada Lovelace", MLREPO_AUTHOR_EMAIL="ada@example.com")

    def run(self, *args):
        self.t += 3600 + 17 * len(args)
        env = dict(self.env, MLREPO_AUTHOR_DATE=str(self.t))
        r = subprocess.run([self.mlrepo] + list(args), cwd=self.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            sys.exit("screenshots: mlrepo %s failed: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
        return r.stdout.decode().strip()

    def write(self, rel, text):
        p = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)

    def experiment(self, message, hidden, lr, epochs=60, alpha=0.0001):
        self.write("mlrepo.json", json.dumps(stages(hidden, lr, epochs, alpha), indent=1) + "\n")
        self.run("repro")
        self.run("add", ".")
        return self.run("commit", "-q", "-m", message) or self.run("rev-parse", "HEAD")

    def build(self):
        os.makedirs(os.path.join(self.root, "data"))
        os.makedirs(os.path.join(self.root, "plots"))
        for part in ("train", "test"):
            shutil.copy(os.path.join(FIXTURES, "breast_cancer_%s.csv" % part), os.path.join(self.root, "data", "cancer_%s.csv" % part))
        self.write("report.py", REPORT_PY)
        self.write("README.md", "# tumour-diagnosis\n\nA demo project: an MLP on the breast cancer dataset, tuned over a few dozen commits.\n")
        self.run("init")
        ids = {}
        grid = [([16], 0.01), ([16], 0.003), ([32], 0.01), ([32], 0.003), ([32, 16], 0.01), ([32, 16], 0.003),
                ([64], 0.01), ([64], 0.001), ([8], 0.03), ([64, 32], 0.003), ([16], 0.03), ([32], 0.001)]
        for k, (h, lr) in enumerate(grid):
            ids.setdefault("main", []).append(self.experiment("mlp %s, lr %g" % ("x".join(map(str, h)), lr), h, lr))
            if k == 3:
                self.run("promote", "models/cancer.mlmodel", "--to", "staging", "--require", "accuracy>=0.8", "-m", "first candidate")
        self.run("promote", "models/cancer.mlmodel@HEAD~4", "--to", "production", "--require", "accuracy>=0.9", "-m", "release 1")
        # A branch trying stronger regularisation.
        self.run("switch", "-c", "regularise", "HEAD~6")
        for a in (0.001, 0.01, 0.03, 0.1, 0.3, 1.0):
            ids.setdefault("regularise", []).append(self.experiment("alpha %g" % a, [32, 16], 0.01, alpha=a))
        # A branch where the training data changes: fewer, then re-balanced rows.
        self.run("switch", "main")
        self.run("switch", "-c", "data-v2")
        path = os.path.join(self.root, "data", "cancer_train.csv")
        with open(path) as f:
            rows = f.read().splitlines()
        # Large tumours under-sampled: a visible drift in the size columns and the labels.
        kept = [rows[0]] + [r for i, r in enumerate(rows[1:]) if float(r.split(",")[0]) < 15 or i % 3 == 0]
        with open(path, "w") as f:
            f.write("\n".join(kept) + "\n")
        for h, lr in (([32], 0.01), ([32], 0.003), ([64], 0.003)):
            ids.setdefault("data-v2", []).append(self.experiment("fewer large tumours: mlp %s, lr %g" % ("x".join(map(str, h)), lr), h, lr))
        # Back on main: more tuning with longer training, and a second release.
        self.run("switch", "main")
        for h, lr, ep in (([32, 16], 0.003, 120), ([64, 32], 0.001, 150), ([64, 32], 0.003, 150), ([64, 32], 0.003, 200),
                          ([128, 64], 0.001, 200), ([128, 64], 0.003, 200), ([64, 32], 0.002, 250), ([64, 32], 0.002, 300),
                          ([64, 32, 16], 0.002, 300), ([64, 32], 0.0015, 300)):
            ids["main"].append(self.experiment("mlp %s, lr %g, %d epochs" % ("x".join(map(str, h)), lr, ep), h, lr, ep))
        self.run("promote", "models/cancer.mlmodel", "--to", "production", "--require", "accuracy>=0.9", "-m", "release 2: longer training")
        return ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlrepo")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "images"))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    mlrepo = a.mlrepo or os.environ.get("MLREPO") or next(
        (p for p in (os.path.join(ROOT, ".build", "release", "mlrepo"), os.path.join(ROOT, ".build", "debug", "mlrepo")) if os.access(p, os.X_OK)), None)
    if not mlrepo:
        sys.exit("screenshots: no mlrepo binary (swift build --product mlrepo, or --mlrepo BIN)")
    mlrepo = os.path.abspath(mlrepo)
    tmp = tempfile.mkdtemp(prefix="mlrepo-shots-")
    root = os.path.join(tmp, "tumour-diagnosis")
    os.makedirs(root)
    server = None
    try:
        t0 = time.time()
        ids = Demo(mlrepo, root).build()
        sys.stderr.write("screenshots: demo repository built in %.0f s (%s)\n" % (time.time() - t0, root))
        err = open(os.path.join(tmp, "ui.err"), "w+")
        server = subprocess.Popen([mlrepo, "ui", "--port", "0"], cwd=root, stdout=subprocess.DEVNULL, stderr=err)
        port = None
        for _ in range(300):
            err.seek(0)
            text = err.read()
            if "on http://127.0.0.1:" in text:
                port = int(text.split("on http://127.0.0.1:")[1].split("/")[0])
                break
            if server.poll() is not None:
                sys.exit("screenshots: mlrepo ui exited: " + text)
            time.sleep(0.1)
        if not port:
            sys.exit("screenshots: mlrepo ui did not start")
        main_ids, reg = ids["main"], ids["regularise"]
        pages = [
            {"name": "experiments", "path": "/experiments?branch=all", "tables": {"experiments": {"min": 25}}},
            {"name": "experiments-filter", "path": "/experiments?branch=all&filter=" + "accuracy%3E0.95&sort=accuracy&order=desc&diff=1"},
            {"name": "charts", "path": "/charts?branch=all&metric=accuracy&metric=log_loss", "counts": {"#metric-charts circle.pt": {"min": 25}}},
            {"name": "charts-curves", "path": "/charts?branch=main&metric=accuracy&c=%s&c=%s&c=%s" % (main_ids[-1], main_ids[5], reg[-1]),
             "counts": {"#plots path.line": {"min": 3}}},
            {"name": "charts-scatter", "path": "/charts?branch=all&x=train.learning_rate&y=accuracy", "counts": {"#scatter circle.pt": {"min": 25}}},
            {"name": "charts-parallel", "path": "/charts?branch=all&parallel=1&param=train.learning_rate&param=train.alpha&param=train.epochs&y=accuracy",
             "counts": {"path.pline": {"min": 25}}},
            {"name": "compare", "path": "/compare?c=%s&c=%s" % (main_ids[5], main_ids[-1])},
            {"name": "compare-data", "path": "/compare?c=%s&c=%s" % (main_ids[-1], ids["data-v2"][-1])},
            {"name": "lineage", "path": "/lineage?rev=%s" % main_ids[-1], "counts": {"g.node": {"min": 8}}},
            {"name": "registry", "path": "/registry"},
            {"name": "registry-alias", "path": "/registry?alias=production&metric=eval.json%3Aaccuracy", "counts": {"circle.pt": 2}},
            {"name": "data", "path": "/data?rev=%s&path=data/cancer_train.csv" % main_ids[-1]},
            {"name": "data-drift", "path": "/data?rev=%s&path=data/cancer_train.csv&base=%s" % (ids["data-v2"][-1], main_ids[-1])},
            {"name": "files", "path": "/files?rev=%s&path=" % main_ids[-1]},
            {"name": "files-table", "path": "/files?rev=%s&path=data/cancer_train.csv" % main_ids[-1]},
        ]
        expect = {"pages": pages, "crawl": False}
        exp_path = os.path.join(tmp, "expect.json")
        with open(exp_path, "w") as f:
            json.dump(expect, f)
        os.makedirs(a.out, exist_ok=True)
        r = subprocess.run([sys.executable, os.path.join(ROOT, "Tests", "browser", "check_ui.py"), "--base", "http://127.0.0.1:%d" % port,
                            "--expect", exp_path, "--screenshots", a.out, "--full-page"], stdout=subprocess.PIPE)
        result = json.loads(r.stdout or b"{}")
        for p in result.get("pages", []):
            sys.stderr.write("  %-20s %s\n" % (p["name"], os.path.join(a.out, "ui-%s.png" % p["name"])))
        for f in result.get("failures", []):
            sys.stderr.write("screenshots: FAIL %s\n" % f)
        if result.get("error"):
            sys.stderr.write("screenshots: %s\n" % result["error"])
        return r.returncode
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)
        if a.keep:
            sys.stderr.write("screenshots: demo repository kept at %s\n" % root)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
