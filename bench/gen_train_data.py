#!/usr/bin/env python3
"""Data for bench/train.sh: a binary classification problem with 100 float features.

usage: gen_train_data.py OUTDIR [--rows N] [--test-rows T] [--features F] [--seed S]

Writes OUTDIR/train.csv (N rows), OUTDIR/test.csv (T rows, held out: drawn after the
training rows from the same stream) and OUTDIR/params.json (the parameters, the sizes and
the reference accuracy of the true rule on the test set).

Features x_j ~ N(0, 1), printed with 4 decimals (shortest form: "-1.2345", "0.5", about
7.5 bytes a value). Label y = 1[x·w + b + e > 0] with w uniform on the unit sphere, b = 0.1
and noise e ~ N(0, 0.33^2): a linear rule whose Bayes accuracy is about 90%, so a linear
model and an MLP should both land near 0.90. Fixed seed: byte-identical every time.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

NOISE = 0.33
BIAS = 0.1
CHUNK = 50_000


def write_csv(path, rng, rows, w, header):
    """Draws `rows` rows from rng in chunks and writes them; returns the labels (for checks)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        pa = None
    f = len(w)
    tmp = path + ".tmp"
    ys = []
    with open(tmp, "wb") as out:
        out.write((",".join(header) + "\n").encode())
        done = 0
        while done < rows:
            n = min(CHUNK, rows - done)
            x = np.round(rng.standard_normal((n, f)), 4)
            x[x == 0] = 0.0  # no "-0.0"
            y = ((x @ w + BIAS + rng.normal(0, NOISE, n)) > 0).astype(np.int64)
            ys.append(y)
            if pa is not None:
                cols = [pa.array(x[:, j]) for j in range(f)] + [pa.array(y)]
                table = pa.Table.from_arrays(cols, names=header)
                pacsv.write_csv(table, out, write_options=pacsv.WriteOptions(include_header=False))
            else:  # pandas fallback (slower)
                import pandas as pd
                df = pd.DataFrame(x, columns=header[:-1])
                df[header[-1]] = y
                df.to_csv(out, header=False, index=False, float_format="%.4f", lineterminator="\n")
            done += n
    os.replace(tmp, path)
    return np.concatenate(ys) if ys else np.zeros(0, np.int64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--test-rows", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--seed", type=int, default=20261123)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    w = rng.standard_normal(a.features)
    w /= np.linalg.norm(w)
    header = ["x%d" % j for j in range(a.features)] + ["y"]
    t0 = time.time()
    ytr = write_csv(os.path.join(a.outdir, "train.csv"), rng, a.rows, w, header)
    yte = write_csv(os.path.join(a.outdir, "test.csv"), rng, a.test_rows, w, header)
    # Accuracy of the noiseless rule on the test set (re-read: what the tools will see).
    import pandas as pd
    te = pd.read_csv(os.path.join(a.outdir, "test.csv"), dtype=np.float64)
    rule_acc = float((((te.iloc[:, :-1].to_numpy() @ w + BIAS) > 0).astype(int) == te["y"].to_numpy()).mean())
    meta = {
        "rows": a.rows, "test_rows": a.test_rows, "features": a.features, "seed": a.seed,
        "noise": NOISE, "bias": BIAS,
        "train_bytes": os.path.getsize(os.path.join(a.outdir, "train.csv")),
        "test_bytes": os.path.getsize(os.path.join(a.outdir, "test.csv")),
        "train_positive_fraction": float(ytr.mean()) if len(ytr) else 0.0,
        "test_rule_accuracy": rule_acc,
        "generated_in_s": round(time.time() - t0, 1),
    }
    with open(os.path.join(a.outdir, "params.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta), file=sys.stderr)


if __name__ == "__main__":
    main()
