#!/usr/bin/env python3
"""Markdown report for bench/remote.sh: remote_report.py ROWS.tsv MOTO_MEM.txt (metadata in R_* env)."""
import os
import sys

ROWS = ["csv-push-v1", "csv-push-v2", "csv-clone-v2", "files-push", "files-clone"]
LABEL = {
    "csv-push-v1": "push v1 CSV (first push)",
    "csv-push-v2": "push v2 CSV (1% rows appended)",
    "csv-clone-v2": "clone/pull v2 CSV into a fresh folder",
    "files-push": "push 20,000 files",
    "files-clone": "clone/pull 20,000 files",
}
TOOLS = ["mlrepo", "dvc", "aws"]
TNAME = {"mlrepo": "mlrepo", "dvc": "DVC", "aws": "aws s3 sync"}
env = os.environ.get


def mib(b):
    return f"{b / 1048576:,.1f} MiB"


def main():
    rows = {}
    for line in open(sys.argv[1]):
        f = line.rstrip("\n").split("\t")
        if len(f) < 9:
            continue
        tool, row, secs, nbytes, keys, payload, mcpu, ok, note = f[:9]
        rows[(tool, row)] = dict(secs=float(secs), bytes=nbytes, keys=keys, payload=int(payload),
                                 mcpu=float(mcpu), ok=ok, note=note)
    mem = {}
    if os.path.exists(sys.argv[2]):
        for line in open(sys.argv[2]):
            t, kb = line.split()
            mem[t] = int(kb)
    tools = [t for t in TOOLS if any((t, r) in rows for r in ROWS)]
    o = []
    p = o.append
    p("# Remotes benchmark: push / clone to S3 (moto over loopback)")
    p("")
    p(f"- date: {env('R_DATE')}")
    p(f"- host: {env('R_HOST')}")
    p(f"- mlrepo: {env('R_MLREPO')}")
    p(f"- DVC: {env('R_DVC')} (dvc-s3; default jobs)")
    p(f"- awscli: {env('R_AWS')} (default 10 concurrent requests, 8 MiB multipart)")
    p(f"- server: {env('R_MOTO')}, {env('R_PY')}; a fresh server per tool, one bucket, a prefix per tool and data set")
    p(f"- data: {env('R_DATA')}")
    p(f"- command: `{env('R_CMD')}` ({env('R_ELAPSED')} s in all, data generation and build excluded)")
    if env("R_SKIPPED", "").strip():
        p(f"- **skipped tools** (install failed): {env('R_SKIPPED').strip()}")
    p("")
    p("One timing per row (wall clock, transfer only: `mlrepo add/commit`, `dvc add`/`git commit` run untimed before).")
    p("Bytes = sizes of the bucket keys a push created or changed (boto3 listing before/after); for")
    p("clones `<=` the whole prefix (what a clone can at most download). MiB/s = data-set bytes / seconds.")
    p("moto CPU = CPU seconds the moto server process used during the row: close to the wall time")
    p("means the single Python server process (GIL-bound) was the bottleneck, not the client.")
    p("")
    p("| row | tool | seconds | MiB/s | bytes uploaded | keys | moto CPU s | check |")
    p("|---|---|---:|---:|---:|---:|---:|---|")
    for r in ROWS:
        for t in tools:
            x = rows.get((t, r))
            if not x:
                continue
            rate = x["payload"] / 1048576 / x["secs"] if x["secs"] > 0 else 0
            b = x["bytes"]
            bs = ("<= " + f"{int(b[2:]):,}") if b.startswith("<=") else f"{int(b):,}"
            chk = x["ok"] + (f" ({x['note']})" if x["note"] else "")
            p(f"| {LABEL[r]} | {TNAME[t]} | {x['secs']:.2f} | {rate:,.1f} | {bs} | {x['keys']} | {x['mcpu']:.1f} | {chk} |")
    p("")
    p("## Ratios (seconds, mlrepo / other; below 1 = mlrepo faster)")
    p("")
    p("| row | mlrepo / DVC | mlrepo / aws s3 sync |")
    p("|---|---:|---:|")

    def ratio(r, other):
        a, b = rows.get(("mlrepo", r)), rows.get((other, r))
        if not a or not b or b["secs"] <= 0:
            return None
        return a["secs"] / b["secs"]

    for r in ROWS:
        rd, ra = ratio(r, "dvc"), ratio(r, "aws")
        p(f"| {LABEL[r]} | {'—' if rd is None else f'{rd:.2f}'} | {'—' if ra is None else f'{ra:.2f}'} |")
    p("")
    if mem:
        p("moto peak RSS (VmHWM) per tool's server: " + ", ".join(f"{TNAME.get(t, t)} {kb / 1048576:.2f} GiB" for t, kb in mem.items()))
        p("")
    p("## Goals")
    p("")
    p("| goal | result | figures |")
    p("|---|---|---|")
    # 1. faster than DVC on every row
    dv = [(r, ratio(r, "dvc")) for r in ROWS]
    okrows = [x for x in dv if x[1] is not None]
    allok = all(rows[("mlrepo", r)]["ok"] == "ok" for r in ROWS if ("mlrepo", r) in rows)
    if len(okrows) == len(ROWS):
        res = "PASS" if all(v < 1 for _, v in okrows) and allok else "FAIL"
        slow = [f"{r} {v:.2f}" for r, v in okrows if v >= 1]
        p(f"| faster than DVC on every row | {res} | mlrepo/DVC " + ", ".join(f"{v:.2f}" for _, v in okrows)
          + (f"; not faster: {', '.join(slow)}" if slow else "") + " |")
    else:
        p("| faster than DVC on every row | n/a | DVC rows missing |")
    # 2. first push within 1.5x of aws s3 sync
    ra = ratio("csv-push-v1", "aws")
    if ra is None:
        p("| first push within 1.5× of aws s3 sync | n/a | aws rows missing |")
    else:
        p(f"| first push within 1.5× of aws s3 sync | {'PASS' if ra <= 1.5 else 'FAIL'} | "
          f"{rows[('mlrepo', 'csv-push-v1')]['secs']:.2f} s vs {rows[('aws', 'csv-push-v1')]['secs']:.2f} s = {ra:.2f}× |")
    # 3. v2 push transfers < 10% of its bytes
    x = rows.get(("mlrepo", "csv-push-v2"))
    if x:
        frac = int(x["bytes"]) / x["payload"]
        p(f"| v2 push uploads < 10% of v2's bytes | {'PASS' if frac < 0.10 else 'FAIL'} | "
          f"{int(x['bytes']):,} B of {x['payload']:,} B = {100 * frac:.2f}% ({mib(int(x['bytes']))}) |")
    p("")
    print("\n".join(o))


if __name__ == "__main__":
    main()
