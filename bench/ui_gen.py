#!/usr/bin/env python3
"""Builds the repository bench/ui.sh measures `mlrepo ui` on, and the values it holds.

usage: ui_gen.py --mlrepo BIN --repo DIR --commits N [--repro-every K]

The history (one branch, main; commit i has author/committer time T0 + 60*i):
- params.json: 50 params ({"train": {"lr", "epochs", "batch_size", "dropout", "seed",
  "p05".."p49"}}, flattened by mlrepo to train.lr ...), distinct per commit;
- metrics.json: 50 scalar metrics ("acc", "loss", "f1", "precision", "recall", "auc",
  "m06".."m49") and a training curve, "loss_curve": 50 values (one per epoch);
- model.bin (256 bytes derived from the params) and data/train.csv (2,000 rows x 8 columns;
  a second version from commit N/2 on);
- mlrepo.json: one stage `train` (cmd `python3 train.py`: reads params.json and
  data/train.csv, writes model.bin and metrics.json), deps train.py and data/train.csv,
  params train, outs model.bin, metrics metrics.json.
Every K-th commit (i % K == 1) runs `mlrepo repro` (train.py writes the same bytes this
driver computes; checked), so lineage records exist; the others write the files here and run
`mlrepo add` + `mlrepo commit`. At the end model.bin is promoted to `staging` (a repro commit
near N/2) and `production` (the last repro commit, then one before it), so the registry
has a history. MLREPO_FSYNC=0 is set by the caller.

The same values feed bench/ui_mlflow.py (MLflow runs), through params_of / metrics_of.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

# Bump when the values or the layout of the history change: bench/ui.sh rebuilds its caches.
DATA_VERSION = 1
T0 = 1_700_000_000
STEPS = 50
PARAM_NAMES = ["lr", "epochs", "batch_size", "dropout", "seed"] + ["p%02d" % k for k in range(5, 50)]
METRIC_NAMES = ["acc", "loss", "f1", "precision", "recall", "auc"] + ["m%02d" % k for k in range(6, 50)]


def mix(x):
    """SplitMix64 finaliser: a deterministic pseudo-random 64-bit value from x."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def unit(i, k):
    """A value in [0, 1) for commit i, slot k."""
    return mix(i * 1000 + k) / 2.0 ** 64


def params_of(i):
    """Commit i's params, in order: name -> number (ints stay ints)."""
    p = {
        "lr": round(0.0001 + ((i * 7919) % 10000) * 1e-6, 6),
        "epochs": STEPS,
        "batch_size": [16, 32, 64, 128][i % 4],
        "dropout": round(0.05 * (i % 10), 2),
        "seed": i,
    }
    for k in range(5, 50):
        p["p%02d" % k] = round(unit(i, k), 6) if k % 2 else int(unit(i, k) * 1000)
    return p


def metrics_of(i):
    """Commit i's scalar metrics (name -> float) and its loss curve (STEPS floats)."""
    lr = params_of(i)["lr"]
    d = (lr - 0.005) ** 2
    acc = 0.99 - 400 * d - 0.01 * unit(i, 100)
    final = 0.05 + 300 * d + 0.01 * unit(i, 101)
    m = {
        "acc": round(acc, 6),
        "loss": round(final, 6),
        "f1": round(acc - 0.02 * unit(i, 102), 6),
        "precision": round(acc - 0.01 * unit(i, 103), 6),
        "recall": round(acc - 0.03 * unit(i, 104), 6),
        "auc": round(min(0.999999, acc + 0.005), 6),
    }
    for k in range(6, 50):
        m["m%02d" % k] = round(unit(i, 100 + k), 6)
    start = 1.2 + 0.2 * unit(i, 105)
    curve = [round(final + (start - final) * math.exp(-s / (4 + 6 * unit(i, 106))), 6) for s in range(STEPS)]
    return m, curve


def params_text(i):
    return json.dumps({"train": params_of(i)}, indent=1) + "\n"


def metrics_text(i):
    m, curve = metrics_of(i)
    return json.dumps(dict(m, loss_curve=curve), indent=1) + "\n"


def model_bytes(i):
    return b"".join(b"%015d\n" % (mix(i * 31 + k) % 10 ** 15) for k in range(16))


def dataset_text(version):
    rows = ["id,f1,f2,f3,f4,f5,city,label"]
    cities = ["Oslo", "Lima", "Pune", "Kyiv", "Nice"]
    for r in range(2000):
        u = [mix(version * 100000 + r * 10 + k) / 2.0 ** 64 for k in range(7)]
        rows.append("%d,%.4f,%.4f,%.3f,%d,%s,%s,%d" % (
            r, u[0] * (1 + version), u[1] - 0.5, u[2] * 100, int(u[3] * 50),
            "" if u[4] < 0.02 * version else "%.2f" % u[4], cities[int(u[5] * (4 + version))], int(u[6] < 0.3 + 0.1 * version)))
    return "\n".join(rows) + "\n"


# The stage command: writes what this driver writes (it imports this file).
TRAIN_PY = """import json, os, sys
sys.path.insert(0, os.environ["UI_GEN_DIR"])
import ui_gen
i = json.load(open("params.json"))["train"]["seed"]
open("metrics.json", "w").write(ui_gen.metrics_text(i))
open("model.bin", "wb").write(ui_gen.model_bytes(i))
"""

MLREPO_JSON = json.dumps({"stages": {"train": {
    "cmd": "python3 train.py", "deps": ["train.py", "data/train.csv"], "params": ["train"],
    "outs": ["model.bin"], "metrics": ["metrics.json"]}}}, indent=1) + "\n"


def run(cmd, cwd, env):
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit("ui_gen: %s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode,
                 r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")))
    return r.stdout.decode()


def write(path, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlrepo", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--commits", type=int, required=True)
    ap.add_argument("--repro-every", type=int, default=100)
    a = ap.parse_args()
    n, d, mb = a.commits, a.repo, a.mlrepo
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    env = dict(os.environ, UI_GEN_DIR=os.path.dirname(os.path.abspath(__file__)),
               MLREPO_NO_PROGRESS="1", MLREPO_AUTHOR_NAME="bench", MLREPO_AUTHOR_EMAIL="bench@example.com")
    write(os.path.join(d, "train.py"), TRAIN_PY)
    write(os.path.join(d, "mlrepo.json"), MLREPO_JSON)
    write(os.path.join(d, "data", "train.csv"), dataset_text(0))
    run([mb, "init", "."], d, env)
    repro_commits = []
    t_start = time.perf_counter()
    for i in range(1, n + 1):
        cenv = dict(env, MLREPO_AUTHOR_DATE=str(T0 + 60 * i))
        write(os.path.join(d, "params.json"), params_text(i))
        changed = ["params.json", "metrics.json", "model.bin"]
        if i == n // 2 + 1:
            write(os.path.join(d, "data", "train.csv"), dataset_text(1))
            changed.append("data/train.csv")
        if i % a.repro_every == 1 or a.repro_every == 1:
            run([mb, "repro"], d, cenv)
            if open(os.path.join(d, "metrics.json")).read() != metrics_text(i):
                sys.exit("ui_gen: commit %d: train.py wrote other metrics than metrics_text()" % i)
            repro_commits.append(i)
            if i == 1:
                changed += ["train.py", "mlrepo.json", "data/train.csv"]
            run([mb, "add"] + changed, d, cenv)
        else:
            write(os.path.join(d, "metrics.json"), metrics_text(i))
            write(os.path.join(d, "model.bin"), model_bytes(i))
            run([mb, "add"] + changed, d, cenv)
        run([mb, "commit", "-q", "-m", "exp %d: lr %s batch %d" % (i, params_of(i)["lr"], params_of(i)["batch_size"])], d, cenv)
        if i % 1000 == 0 or i == n:
            sys.stderr.write("  %d commits (%.0f s)\n" % (i, time.perf_counter() - t_start))
    # The registry: promotions from repro commits (HEAD~K names commit n-K).
    def rev(i):
        return "HEAD~%d" % (n - i)
    mid = [c for c in repro_commits if c <= n // 2][-1]
    run([mb, "promote", "model.bin@%s" % rev(mid), "--to", "staging", "-m", "first candidate"], d, env)
    if len(repro_commits) > 1:
        run([mb, "promote", "model.bin@%s" % rev(repro_commits[-2]), "--to", "production",
             "--require", "acc>=0.5", "-m", "release 1"], d, env)
    run([mb, "promote", "model.bin@%s" % rev(repro_commits[-1]), "--to", "production",
         "--require", "acc>=0.5", "-m", "release 2"], d, env)


if __name__ == "__main__":
    main()
