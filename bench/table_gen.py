#!/usr/bin/env python3
"""Three versions of a CSV table for bench/table_merge.sh: base, ours and theirs.

base has columns id,f1..f6,label and about SIZE_MB MiB of rows. ours relabels one row in
every block of 1000 at a random place in the block's first 400 rows; theirs one in the
block's rows 500..899, so the two sides never touch the same or adjacent rows (git's line
merge would call adjacent lines a conflict). Each side then appends APPEND new rows.
Deterministic for a given seed. Usage: table_gen.py OUTDIR SIZE_MB APPEND [SEED]
"""
import os
import random
import sys

LABELS = ["cat", "dog", "bird", "fish"]


def row(i, rnd, label=None):
    f = ",".join("%.4f" % (rnd.random() * 100) for _ in range(6))
    return "%d,%s,%s\n" % (i, f, label if label is not None else LABELS[i % 4])


def main():
    out, size_mb, append = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 16
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(seed)
    pick = random.Random(seed + 1)
    target = size_mb << 20
    files = [open(os.path.join(out, n), "w", buffering=1 << 22) for n in ("base.csv", "ours.csv", "theirs.csv")]
    header = "id,f1,f2,f3,f4,f5,f6,label\n"
    for f in files:
        f.write(header)
    written = len(header)
    i = 0
    relabel_o = relabel_t = -1
    while written < target:
        if i % 1000 == 0:
            relabel_o = i + 1 + pick.randrange(400)
            relabel_t = i + 501 + pick.randrange(400)
        i += 1
        line = row(i, rnd)
        written += len(line)
        files[0].write(line)
        if i == relabel_o:
            files[1].write(line.rsplit(",", 1)[0] + "," + LABELS[(i + 1) % 4] + "\n")
        else:
            files[1].write(line)
        if i == relabel_t:
            files[2].write(line.rsplit(",", 1)[0] + "," + LABELS[(i + 2) % 4] + "\n")
        else:
            files[2].write(line)
    for k in range(append):
        files[1].write(row(i + 1 + k, rnd, "dog"))
    for k in range(append):
        files[2].write(row(i + append + 1 + k, rnd, "cat"))
    for f in files:
        f.close()
    print(i)


if __name__ == "__main__":
    main()
