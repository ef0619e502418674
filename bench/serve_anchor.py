#!/usr/bin/env python3
"""Helpers of bench/serve.sh: the data, the scikit-learn + MLflow anchor model, the agreement check.

  serve_anchor.py gen DIR [--rows N] [--features F] [--eval-rows E] [--seed S]
      train.csv (F numeric features x0..x{F-1} on different scales, binary label y), eval.csv
      (E held-out rows), body1.json (one row) and body100.json (100 rows) as MLflow
      dataframe_split bodies, params.json. Fixed seed: the same bytes every time.
  serve_anchor.py fit DIR MODEL_DIR
      scikit-learn Pipeline(StandardScaler, LogisticRegression()) on train.csv, saved with
      mlflow.sklearn.save_model (with a signature inferred from the data) into MODEL_DIR.
  serve_anchor.py agree DIR URL_A URL_B [--out FILE]
      POSTs every eval.csv row to both servers' /invocations (100-row batches, plus 50 single
      rows) and to the local scikit-learn model; writes the agreement as JSON.
"""
import argparse
import json
import os
import sys
import urllib.request


def cmd_gen(a):
    import numpy as np
    rng = np.random.default_rng(a.seed)
    n, f, e = a.rows, a.features, a.eval_rows
    # Features on different scales and offsets, so the standardization matters.
    scale = np.exp(rng.uniform(-2.0, 3.0, size=f))
    offset = rng.normal(0.0, 10.0, size=f)
    w = rng.normal(0.0, 1.0, size=f)
    z = rng.normal(0.0, 1.0, size=(n + e, f))
    logit = z @ w / np.sqrt(f) * 3.0 + rng.logistic(0.0, 1.0, size=n + e) * 0.5
    y = (logit > 0).astype(int)
    x = z * scale + offset
    cols = ["x%d" % j for j in range(f)]
    os.makedirs(a.dir, exist_ok=True)

    def write(path, rows, labels):
        with open(path, "w") as fh:
            fh.write(",".join(cols + ["y"]) + "\n")
            for r, lab in zip(rows, labels):
                fh.write(",".join("%.6g" % v for v in r) + ",%d\n" % lab)

    write(os.path.join(a.dir, "train.csv"), x[:n], y[:n])
    write(os.path.join(a.dir, "eval.csv"), x[n:], y[n:])

    def body(rows):
        data = [[float("%.6g" % v) for v in r] for r in rows]
        return json.dumps({"dataframe_split": {"columns": cols, "data": data}}, separators=(",", ":"))

    for k in (1, 100):
        with open(os.path.join(a.dir, "body%d.json" % k), "w") as fh:
            fh.write(body(x[n:n + k]))
    with open(os.path.join(a.dir, "params.json"), "w") as fh:
        json.dump({"rows": n, "features": f, "eval_rows": e, "seed": a.seed,
                   "positive_share": float(y[:n].mean())}, fh)


def load(dirpath, name):
    import pandas as pd
    df = pd.read_csv(os.path.join(dirpath, name))
    return df.drop(columns=["y"]), df["y"]


def cmd_fit(a):
    import warnings
    warnings.filterwarnings("ignore")
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    x, y = load(a.dir, "train.csv")
    xe, ye = load(a.dir, "eval.csv")
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(x, y)
    sig = infer_signature(x, pipe.predict(x))
    mlflow.sklearn.save_model(pipe, a.model_dir, signature=sig)
    print(json.dumps({"eval_accuracy": float((pipe.predict(xe) == ye).mean()),
                      "n_iter": int(pipe[-1].n_iter_[0])}))


def post(url, body):
    req = urllib.request.Request(url.rstrip("/") + "/invocations", data=body.encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())["predictions"]


def cmd_agree(a):
    import warnings
    warnings.filterwarnings("ignore")
    import mlflow.sklearn
    xe, ye = load(a.dir, "eval.csv")
    cols = list(xe.columns)
    rows = xe.values.tolist()
    local = mlflow.sklearn.load_model(a.model_dir).predict(xe).tolist() if a.model_dir else None
    preds = {}
    for name, url in (("a", a.url_a), ("b", a.url_b)):
        out = []
        for i in range(0, len(rows), 100):
            body = json.dumps({"dataframe_split": {"columns": cols, "data": rows[i:i + 100]}})
            out.extend(post(url, body))
        single = [post(url, json.dumps({"dataframe_split": {"columns": cols, "data": [rows[i]]}}))[0]
                  for i in range(min(50, len(rows)))]
        preds[name] = ([float(p) for p in out], [float(p) for p in single])
    pa, sa = preds["a"]
    pb, sb = preds["b"]
    n = len(rows)
    agree = sum(1 for u, v in zip(pa, pb) if u == v)
    mism = [i for i in range(n) if pa[i] != pb[i]]
    res = {
        "rows": n, "agree": agree, "rate": agree / n,
        "mismatch_rows": mism[:10],
        "single_rows": len(sa),
        "single_vs_batch_a": sum(1 for i, v in enumerate(sa) if v == pa[i]),
        "single_vs_batch_b": sum(1 for i, v in enumerate(sb) if v == pb[i]),
        "accuracy_a": sum(1 for u, t in zip(pa, ye) if u == t) / n,
        "accuracy_b": sum(1 for u, t in zip(pb, ye) if u == t) / n,
    }
    if local is not None:
        res["b_vs_local_sklearn"] = sum(1 for u, v in zip(pb, local) if u == float(v))
    text = json.dumps(res)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text + "\n")
    print(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = p.add_subparsers(dest="cmd", required=True)
    g = sp.add_parser("gen")
    g.add_argument("dir")
    g.add_argument("--rows", type=int, default=10000)
    g.add_argument("--features", type=int, default=20)
    g.add_argument("--eval-rows", type=int, default=1000)
    g.add_argument("--seed", type=int, default=20240611)
    f = sp.add_parser("fit")
    f.add_argument("dir")
    f.add_argument("model_dir")
    c = sp.add_parser("agree")
    c.add_argument("dir")
    c.add_argument("url_a")
    c.add_argument("url_b")
    c.add_argument("--model-dir")
    c.add_argument("--out")
    a = p.parse_args()
    {"gen": cmd_gen, "fit": cmd_fit, "agree": cmd_agree}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
