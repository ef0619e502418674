#!/usr/bin/env python3
"""Deterministic benchmark data generator for the mlrepo benchmark harness.

Writes into OUTDIR:
  v1.csv     numeric CSV of about --size-mb MiB: header row, 20 float columns
             (6 decimals, variable width, some negative) and an integer `label`
             column (0..9).
  v2.csv     v1 with 0.1% of its rows relabelled in place (label digit changed,
             same byte length, rows chosen independently at random, so
             scattered over the file) plus 1% more rows appended at the end.
  files/     --files files of 20 KiB of pseudo-random bytes, in subfolders of
             1,000 files each (files/d0000/f000000.bin, ...).
  params.json  the parameters and resulting sizes/counts; used by run.sh to
             decide whether existing data can be reused.

Everything is generated streaming in blocks, so memory stays at a few hundred
MiB whatever the size.  The same parameters always give byte-identical output.

Usage: gen_data.py OUTDIR [--size-mb N] [--files N] [--seed S]
"""
import argparse
import json
import os
import sys
import time

import numpy as np

GEN_VERSION = 2          # bump when the output format changes (invalidates reuse)
NCOLS = 20
BLOCK_ROWS = 65536       # rows per generated block (~12 MiB of CSV)
FILE_SIZE = 20 * 1024
FILES_PER_DIR = 1000
RELABEL_FRACTION = 0.001
APPEND_FRACTION = 0.01

# Field layout before padding removal: sign, 3 integer digits, '.', 6 decimals, sep
FIELD_W = 1 + 3 + 1 + 6 + 1
ROW_W = NCOLS * FIELD_W + 2     # + label digit + '\n'


def _digit_tables():
    n = np.arange(1000)
    d = np.stack([n // 100, (n // 10) % 10, n % 10], axis=1).astype(np.uint8) + ord("0")
    # 3 fraction digits: keep leading zeros.
    frac = d.copy()
    # integer part: leading zeros become padding (0 bytes), but keep the units digit.
    intp = d.copy()
    intp[n < 100, 0] = 0
    intp[n < 10, 1] = 0
    return intp, frac


INT_TBL, FRAC_TBL = _digit_tables()
COL_SCALE = np.array([0.5, 1, 2, 5, 10, 20, 50, 100, 3, 7,
                      0.1, 1.5, 25, 75, 150, 0.8, 4, 12, 40, 90], dtype=np.float64)
assert COL_SCALE.shape[0] == NCOLS
HEADER = (",".join([f"f{i:02d}" for i in range(NCOLS)] + ["label"]) + "\n").encode()


def gen_block(rng, nrows):
    """Return (bytes_array_uint8, row_lengths) for nrows random rows."""
    x = rng.standard_normal((nrows, NCOLS)) * COL_SCALE
    labels = rng.integers(0, 10, size=nrows, dtype=np.uint8)
    micro = np.rint(np.abs(x) * 1e6).astype(np.int64)
    micro = np.minimum(micro, 999_999_999)
    neg = (x < 0) & (micro != 0)
    ip = micro // 1_000_000
    fr = micro % 1_000_000
    buf = np.zeros((nrows, NCOLS, FIELD_W), dtype=np.uint8)
    buf[:, :, 0] = np.where(neg, ord("-"), 0).astype(np.uint8)
    buf[:, :, 1:4] = INT_TBL[ip]
    buf[:, :, 4] = ord(".")
    buf[:, :, 5:8] = FRAC_TBL[fr // 1000]
    buf[:, :, 8:11] = FRAC_TBL[fr % 1000]
    buf[:, :, 11] = ord(",")
    rows = np.empty((nrows, ROW_W), dtype=np.uint8)
    rows[:, : NCOLS * FIELD_W] = buf.reshape(nrows, NCOLS * FIELD_W)
    rows[:, -2] = labels + ord("0")
    rows[:, -1] = ord("\n")
    mask = rows != 0
    lengths = mask.sum(axis=1)
    out = rows[mask]            # row-major: drops padding, keeps row order
    return out, lengths


def relabel(block, lengths, which):
    """Change the label digit of the rows flagged in `which` (bool array), in place."""
    if not which.any():
        return 0
    ends = np.cumsum(lengths) - 1          # index of '\n' of each row
    pos = ends[which] - 1                  # index of the label digit
    old = block[pos] - ord("0")
    new = (old + 1 + (pos % 9)) % 10       # always differs from old (shift 1..9)
    block[pos] = (new + ord("0")).astype(np.uint8)
    return int(which.sum())


def gen_csvs(outdir, size_mb, seed):
    target = size_mb * 1024 * 1024
    rng = np.random.default_rng([seed, 1])      # v1 content
    rng_edit = np.random.default_rng([seed, 2])  # which rows to relabel
    rng_app = np.random.default_rng([seed, 3])   # appended rows
    p1 = os.path.join(outdir, "v1.csv.tmp")
    p2 = os.path.join(outdir, "v2.csv.tmp")
    nrows = 0
    nrelabel = 0
    written = len(HEADER)
    with open(p1, "wb", buffering=0) as f1, open(p2, "wb", buffering=0) as f2:
        f1.write(HEADER)
        f2.write(HEADER)
        while written < target:
            block, lengths = gen_block(rng, BLOCK_ROWS)
            # trim the last block so that v1 ends near the target, on a row boundary
            remaining = target - written
            if block.size > remaining:
                keep = int(np.searchsorted(np.cumsum(lengths), remaining)) + 1
                keep = min(keep, lengths.size)
                lengths = lengths[:keep]
                block = block[: int(lengths.sum())]
            f1.write(block.tobytes())
            which = rng_edit.random(lengths.size) < RELABEL_FRACTION
            nrelabel += relabel(block, lengths, which)
            f2.write(block.tobytes())
            written += block.size
            nrows += lengths.size
        napp = max(1, int(round(nrows * APPEND_FRACTION)))
        left = napp
        while left > 0:
            n = min(BLOCK_ROWS, left)
            block, _ = gen_block(rng_app, n)
            f2.write(block.tobytes())
            left -= n
    os.replace(p1, os.path.join(outdir, "v1.csv"))
    os.replace(p2, os.path.join(outdir, "v2.csv"))
    return {"v1_rows": nrows, "v2_rows": nrows + napp, "relabelled_rows": nrelabel,
            "appended_rows": napp}


def gen_files(outdir, nfiles, seed):
    base = os.path.join(outdir, "files")
    tmp = base + ".tmp"
    if os.path.exists(tmp):
        import shutil
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    rng = np.random.default_rng([seed, 4])
    # "random-ish": half of each file is random bytes, the other half a short
    # random pattern repeated (compressible), so compressing stores gain a bit.
    for d0 in range(0, nfiles, FILES_PER_DIR):
        sub = os.path.join(tmp, f"d{d0 // FILES_PER_DIR:04d}")
        os.makedirs(sub)
        n = min(FILES_PER_DIR, nfiles - d0)
        rnd = rng.integers(0, 256, size=(n, FILE_SIZE // 2), dtype=np.uint8)
        pat = rng.integers(0, 256, size=(n, 64), dtype=np.uint8)
        rep = np.tile(pat, (1, FILE_SIZE // 2 // 64))
        data = np.concatenate([rnd, rep], axis=1)
        for i in range(n):
            with open(os.path.join(sub, f"f{d0 + i:06d}.bin"), "wb") as f:
                f.write(data[i].tobytes())
    if os.path.exists(base):
        import shutil
        shutil.rmtree(base)
    os.replace(tmp, base)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--size-mb", type=int, default=1024, help="v1.csv size in MiB (default 1024)")
    ap.add_argument("--files", type=int, default=20000, help="number of 20 KiB files (default 20000)")
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--skip-files", action="store_true")
    ap.add_argument("--skip-csv", action="store_true")
    a = ap.parse_args()
    if a.size_mb < 1 or a.files < 0:
        sys.exit("gen_data.py: --size-mb must be >= 1 and --files >= 0")
    os.makedirs(a.outdir, exist_ok=True)
    params_path = os.path.join(a.outdir, "params.json")
    # Invalidate first so that an interrupted run is never taken as complete.
    if os.path.exists(params_path):
        os.remove(params_path)
    info = {"gen_version": GEN_VERSION, "size_mb": a.size_mb, "files": a.files,
            "file_size": FILE_SIZE, "seed": a.seed}
    t0 = time.time()
    if not a.skip_csv:
        info.update(gen_csvs(a.outdir, a.size_mb, a.seed))
        info["v1_bytes"] = os.path.getsize(os.path.join(a.outdir, "v1.csv"))
        info["v2_bytes"] = os.path.getsize(os.path.join(a.outdir, "v2.csv"))
        print(f"gen_data: v1.csv {info['v1_bytes']} B ({info['v1_rows']} rows), "
              f"v2.csv {info['v2_bytes']} B (+{info['appended_rows']} rows, "
              f"{info['relabelled_rows']} relabelled) in {time.time() - t0:.1f}s", flush=True)
    t1 = time.time()
    if not a.skip_files:
        gen_files(a.outdir, a.files, a.seed)
        print(f"gen_data: files/ {a.files} x {FILE_SIZE} B in {time.time() - t1:.1f}s", flush=True)
    if not a.skip_csv and not a.skip_files:
        with open(params_path, "w") as f:
            json.dump(info, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
