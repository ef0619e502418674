#!/usr/bin/env python3
"""Data for bench/gpu/run.sh: a binary classification problem, written fast with numpy only.

usage: gen_data.py OUTDIR [--rows N] [--test-rows T] [--features F] [--seed S]

Writes OUTDIR/train.csv and OUTDIR/test.csv (header x0..x{F-1},y), the same values as
float32 matrices for PyTorch (train_x.npy, train_y.npy, test_x.npy, test_y.npy: no CSV
parsing on the PyTorch side), and OUTDIR/params.json (sizes, seed, timings, and the
accuracy of the noiseless rule on the test rows: the best a model can expect).

The problem: x_j ~ N(0, 1), printed with 4 decimals ("-1.2345", "0.0420"); w uniform on the
unit sphere; y = 1 when sigmoid(x·w + 0.1 + e) > 1/2, e ~ N(0, 0.33²), i.e. a logistic of a
random linear function plus noise (Bayes accuracy about 0.90). Linear in x, so logistic
regression and the MLP both land near the rule's accuracy. Fixed seed: byte-identical
files every time on every machine (the CSV text is produced by integer arithmetic, not by
a float formatter).

Needs numpy only (the device machine has no pandas or pyarrow for certain). The CSV text is
built with array arithmetic, a chunk of rows at a time: about 10 s for 1.1 M × 100.
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
SCALE = 10_000          # 4 decimals
LIMIT = 99_999          # |x| ≤ 9.9999: one integer digit


def encode(q, y):
    """CSV bytes for a chunk: q (n × f int32, x·10⁴), y (n,) 0/1. Each value is written in a
    fixed 8-byte slot "s d . d d d d ," where s is '-' or a 0 byte for positive values; the
    0 bytes are then dropped, so positive values have no sign character."""
    n, f = q.shape
    neg = q < 0
    a = np.abs(q)
    slot = np.empty((n, f, 8), dtype=np.uint8)
    slot[:, :, 0] = np.where(neg, ord("-"), 0)
    slot[:, :, 1] = ord("0") + a // SCALE
    slot[:, :, 2] = ord(".")
    r = a % SCALE
    slot[:, :, 3] = ord("0") + r // 1000
    slot[:, :, 4] = ord("0") + r // 100 % 10
    slot[:, :, 5] = ord("0") + r // 10 % 10
    slot[:, :, 6] = ord("0") + r % 10
    slot[:, :, 7] = ord(",")
    row = np.empty((n, f * 8 + 2), dtype=np.uint8)
    row[:, : f * 8] = slot.reshape(n, f * 8)
    row[:, f * 8] = ord("0") + y
    row[:, f * 8 + 1] = ord("\n")
    flat = row.reshape(-1)
    return flat[flat != 0].tobytes()


def write_split(outdir, name, rng, rows, w, header):
    """Draws `rows` rows in chunks; writes NAME.csv and NAME_x.npy / NAME_y.npy. Returns
    (labels, rule-correct count, csv seconds)."""
    f = len(w)
    xs = np.lib.format.open_memmap(os.path.join(outdir, name + "_x.npy.tmp"), mode="w+", dtype=np.float32, shape=(rows, f))
    ys = np.empty(rows, dtype=np.int64)
    rule_ok = 0
    csv_s = 0.0
    path = os.path.join(outdir, name + ".csv")
    with open(path + ".tmp", "wb") as out:
        out.write((",".join(header) + "\n").encode())
        done = 0
        while done < rows:
            n = min(CHUNK, rows - done)
            q = np.clip(np.rint(rng.standard_normal((n, f)) * SCALE), -LIMIT, LIMIT).astype(np.int32)
            x = q.astype(np.float64) / SCALE          # the values the CSV says, exactly
            s = x @ w + BIAS
            y = ((1.0 / (1.0 + np.exp(-(s + rng.normal(0, NOISE, n))))) > 0.5).astype(np.int64)
            rule_ok += int(((s > 0).astype(np.int64) == y).sum())
            t = time.time()
            out.write(encode(q, y))
            csv_s += time.time() - t
            xs[done:done + n] = x.astype(np.float32)  # nearest float32 of the decimal, as a parser gives
            ys[done:done + n] = y
            done += n
    xs.flush()
    del xs
    os.replace(path + ".tmp", path)
    os.replace(os.path.join(outdir, name + "_x.npy.tmp"), os.path.join(outdir, name + "_x.npy"))
    np.save(os.path.join(outdir, name + "_y.npy"), ys)
    return ys, rule_ok, csv_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--test-rows", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--seed", type=int, default=20261206)
    a = ap.parse_args()
    if a.rows < 1 or a.test_rows < 1 or not 1 <= a.features <= 10_000:
        sys.exit("gen_data.py: rows, test rows ≥ 1 and 1 ≤ features ≤ 10000")
    os.makedirs(a.outdir, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    w = rng.standard_normal(a.features)
    w /= np.linalg.norm(w)
    header = ["x%d" % j for j in range(a.features)] + ["y"]
    t0 = time.time()
    ytr, _, csv_tr = write_split(a.outdir, "train", rng, a.rows, w, header)
    yte, rule_ok, csv_te = write_split(a.outdir, "test", rng, a.test_rows, w, header)
    meta = {
        "rows": a.rows, "test_rows": a.test_rows, "features": a.features, "seed": a.seed,
        "noise": NOISE, "bias": BIAS,
        "train_bytes": os.path.getsize(os.path.join(a.outdir, "train.csv")),
        "test_bytes": os.path.getsize(os.path.join(a.outdir, "test.csv")),
        "train_positive_fraction": round(float(ytr.mean()), 4),
        "test_rule_accuracy": round(rule_ok / a.test_rows, 4),
        "csv_write_s": round(csv_tr + csv_te, 2),
        "generated_in_s": round(time.time() - t0, 2),
    }
    with open(os.path.join(a.outdir, "params.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
