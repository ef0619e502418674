#!/usr/bin/env python3
"""Markdown report for bench/remote.sh: remote_report.py ROWS.tsv MOTO_MEM.txt (metadata in R_* env)."""
import os
import sys

GOAL_ROWS = ["csv-push-v1", "csv-push-v2", "csv-clone-v2", "files-push", "files-clone"]
ROWS = GOAL_ROWS + ["one-file"]
LABEL = {
    "csv-push-v1": "push v1 CSV (first push)",
    "csv-push-v2": "push v2 CSV (1% rows appended)",
    "csv-clone-v2": "clone/pull v2 CSV into a fresh folder",
    "files-push": "push 20,000 files",
    "files-clone": "clone/pull 20,000 files",
    "one-file": "one 20 MB file out of a repo with the v2 CSV",
}
TOOLS = ["mlrepo", "dvc", "aws"]
TNAME = {"mlrepo": "mlrepo", "dvc": "DVC", "aws": "aws s3 sync"}
ONEFILE_TNAME = {"mlrepo": "mlrepo", "dvc": "DVC", "aws": "aws s3 cp"}
env = os.environ.get


def mib(b):
    return f"{b / 1048576:,.1f} MiB"


def fmt_bytes(b):
    """TSV bytes: "N" uploaded, "<=N" at most the prefix, "=N" fetched (measured on the client)."""
    pre, num = ("<= ", b[2:]) if b.startswith("<=") else ("fetched ", b[1:]) if b.startswith("=") else ("", b)
    return pre + (f"{int(num):,}" if num.isdigit() else num)


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
    present = [r for r in ROWS if any((t, r) in rows for t in TOOLS)]
    only_onefile = env("R_ONLY_ONEFILE", "0") == "1"
    o = []
    p = o.append
    if only_onefile:
        p("# Remotes benchmark, one-file row: one 20 MB file out of a big repository (S3 on moto over loopback)")
    else:
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
    if only_onefile:
        p("Only the one-file row is timed (`--only-onefile`): the v1 and v2 CSV pushes it builds on ran")
        p("untimed, the clone and 20,000-file rows did not run.")
        p("")
    p("One timing per row (wall clock, transfer only: `mlrepo add/commit`, `dvc add`/`git commit` run untimed before).")
    p("Bytes = sizes of the bucket keys a push created or changed (boto3 listing before/after); for")
    p("clones `<=` the whole prefix (what a clone can at most download). MiB/s = data-set bytes / seconds.")
    if "one-file" in present:
        p("One-file row (20,000,000-byte random `model.bin`, pushed untimed on top of v2 into the CSV repo /")
        p("prefix): mlrepo = `clone --lazy --no-checkout` + `checkout main -- model.bin`; DVC = `git clone`")
        p("(local git repo) + `dvc pull model.bin`; aws = `aws s3 cp` of that one object (the ceiling).")
        p("Its bytes column is `fetched N` = what the client holds after the row, not a bucket figure:")
        p("mlrepo `du -sb DIR/.mlrepo/objects DIR/.mlrepo/remotes` (file data, commits/trees/metadata, and the")
        p("remote's pack indexes a lazy clone caches), DVC `du -sb DIR/.dvc/cache` (git's clone of the local")
        p("repo not counted), aws the downloaded file's size; keys `-`.")
    p("moto CPU = CPU seconds the moto server process used during the row: close to the wall time")
    p("means the single Python server process (GIL-bound) was the bottleneck, not the client.")
    p("")
    p("| row | tool | seconds | MiB/s | bytes | keys | moto CPU s | check |")
    p("|---|---|---:|---:|---:|---:|---:|---|")
    for r in ROWS:
        for t in tools:
            x = rows.get((t, r))
            if not x:
                continue
            rate = x["payload"] / 1048576 / x["secs"] if x["secs"] > 0 else 0
            bs = fmt_bytes(x["bytes"])
            chk = x["ok"] + (f" ({x['note']})" if x["note"] else "")
            tn = ONEFILE_TNAME[t] if r == "one-file" else TNAME[t]
            p(f"| {LABEL[r]} | {tn} | {x['secs']:.2f} | {rate:,.1f} | {bs} | {x['keys']} | {x['mcpu']:.1f} | {chk} |")
    p("")
    p("## Ratios (seconds, mlrepo / other; below 1 = mlrepo faster)")
    p("")
    p("| row | mlrepo / DVC | mlrepo / aws (s3 sync; s3 cp for one-file) |")
    p("|---|---:|---:|")

    def ratio(r, other):
        a, b = rows.get(("mlrepo", r)), rows.get((other, r))
        if not a or not b or b["secs"] <= 0:
            return None
        return a["secs"] / b["secs"]

    for r in present:
        rd, ra = ratio(r, "dvc"), ratio(r, "aws")
        p(f"| {LABEL[r]} | {'—' if rd is None else f'{rd:.2f}'} | {'—' if ra is None else f'{ra:.2f}'} |")
    p("")
    if mem:
        p("moto peak RSS (VmHWM) per tool's server: " + ", ".join(f"{TNAME.get(t, t)} {kb / 1048576:.2f} GiB" for t, kb in mem.items()))
        p("")
    if not any(r in present for r in GOAL_ROWS):
        print("\n".join(o))
        return
    p("## Goals")
    p("")
    p("| goal | result | figures |")
    p("|---|---|---|")
    # 1. faster than DVC on every row
    dv = [(r, ratio(r, "dvc")) for r in GOAL_ROWS]
    okrows = [x for x in dv if x[1] is not None]
    allok = all(rows[("mlrepo", r)]["ok"] == "ok" for r in GOAL_ROWS if ("mlrepo", r) in rows)
    if len(okrows) == len(GOAL_ROWS):
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
