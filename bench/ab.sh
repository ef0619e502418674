#!/usr/bin/env bash
# A/B of two mlrepo binaries on the store and serving hot paths, interleaved in one run.
#
# usage: bench/ab.sh OLD_BINARY NEW_BINARY [--size-mb N] [--files N] [--reps R] [--wrk-s S] [--out FILE]
#   --size-mb N   size of the CSV (default 256)
#   --files N     number of 20 KiB files for the status workload (default 5000)
#   --reps R      repetitions per workload; medians are reported (default 3)
#   --wrk-s S     seconds per wrk run (default 8)
#   --out FILE    Markdown report (default bench/results/ab.md)
#   --only KIND   store, serve or ml (default all three)
#   --ml-rows N   rows of the training CSV for the ml workloads (default 200000)
#
# For each repetition, both binaries run the same commands on the same data in fresh
# repositories, one after the other (A then B, then B then A on the next repetition, so that
# drift in the machine's load falls evenly on both):
#   add+commit of v1.csv, add+commit of v2.csv (0.1% relabelled, 1% appended), checkout of
#   v1's commit (W4, as bench/run.sh times it), checkout of v2's, a path checkout of v1's
#   data.csv, status on N unchanged files, fsck,
#   and `serve` under wrk (-t1 -c4) with a 1-row and a 100-row dataframe_split body,
#   and the data path: `profile` of a 100-feature numeric CSV (--ml-rows rows, default
#   200,000, about 150 MB) in a fresh repository, and `train` of a logistic regression and an
#   MLP on it (CSV parsing, standardization, the kernels).
# Each store command reports wall time and CPU time (user+sys, from GNU time); serving reports
# requests/s and the server's CPU time per request. The ratio column is NEW / OLD (for
# requests/s, OLD / NEW, so that above 1 always means NEW is slower). Used for issue 13 to
# show that building the parsing modules with -O instead of -Ounchecked and the hardening
# cost nothing beyond noise. Needs python3 with numpy, GNU time and wrk.
set -euo pipefail
BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
(( $# >= 2 )) || { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2; }
OLD=$(readlink -f "$1") NEW=$(readlink -f "$2"); shift 2
SIZE=256 FILES=5000 REPS=3 WRK_S=8 OUT=$BENCH_SRC/results/ab.md ONLY=all ML_ROWS=200000
while (( $# )); do
  case $1 in
    --size-mb) SIZE=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --wrk-s) WRK_S=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --ml-rows) ML_ROWS=$2; shift 2 ;;
    *) echo "ab.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case $OUT in /*) ;; *) OUT="$PWD/$OUT" ;; esac
for b in "$OLD" "$NEW"; do [[ -x $b ]] || { echo "ab.sh: no executable at $b" >&2; exit 2; }; done
command -v wrk >/dev/null || { echo "ab.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "ab.sh: needs GNU time (apt-get install time)" >&2; exit 2; }
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

WORK=${BENCH_DIR:-/tmp}/mlrepo-bench-ab
DATA=${BENCH_DIR:-/tmp}/mlrepo-bench-data/s$SIZE-f$FILES
mkdir -p "$WORK" "$DATA"
if [[ ! -f $DATA/params.json ]]; then
  log "generating $SIZE MiB CSV + $FILES files in $DATA"
  python3 "$BENCH_SRC/gen_data.py" "$DATA" --size-mb "$SIZE" --files "$FILES" >&2
fi
SD=$WORK/serve-data
if [[ $ONLY == all || $ONLY == serve ]]; then
  [[ -f $SD/body100.json ]] || python3 "$BENCH_SRC/serve_anchor.py" gen "$SD" --rows 10000 --features 20 --eval-rows 1000 >&2
fi
MD=${BENCH_DIR:-/tmp}/mlrepo-bench-data/train-$ML_ROWS
if [[ $ONLY == all || $ONLY == ml ]] && [[ ! -f $MD/train.csv ]]; then
  log "generating a $ML_ROWS-row training CSV in $MD"
  python3 "$BENCH_SRC/gen_train_data.py" "$MD" --rows "$ML_ROWS" --test-rows 1000 >&2
fi
RAW=$WORK/raw.tsv; : >"$RAW"
export MLREPO_FSYNC=1

# timed LABEL SIDE CMD...: runs CMD, appends "label side wall cpu" to RAW.
timed() {
  local label=$1 side=$2; shift 2
  /usr/bin/time -f '%e %U %S' -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; log "FAILED: $label ($side)"; return 1; }
  awk -v l="$label" -v s="$side" '{printf "%s\t%s\t%.3f\t%.3f\n", l, s, $1, $2 + $3}' "$WORK/t" >>"$RAW"
}
store_round() {  # SIDE BINARY
  local side=$1 m=$2 r=$WORK/repo-$1
  rm -rf "$r"; mkdir -p "$r"; cd "$r"
  "$m" init . >/dev/null
  cp "$DATA/v1.csv" data.csv
  timed "W1 add+commit v1 (s)" "$side" sh -c "'$m' add data.csv && '$m' commit -m v1"
  local v1 v2; v1=$("$m" rev-parse HEAD)
  cp "$DATA/v2.csv" data.csv
  timed "W2 add+commit v2 (s)" "$side" sh -c "'$m' add data.csv && '$m' commit -m v2"
  v2=$("$m" rev-parse HEAD)
  timed "W4 checkout v1 (s)" "$side" "$m" checkout "$v1"
  cmp -s data.csv "$DATA/v1.csv" || { log "W4: data.csv is not v1 after checkout ($side)"; return 1; }
  timed "checkout v2 (s)" "$side" "$m" checkout "$v2"
  cmp -s data.csv "$DATA/v2.csv" || { log "data.csv is not v2 after checkout ($side)"; return 1; }
  timed "path checkout v1 (s)" "$side" "$m" checkout "$v1" -- data.csv
  "$m" checkout "$v2" -- data.csv >/dev/null
  cp -r "$DATA/files" files
  "$m" add files >/dev/null && "$m" commit -m files >/dev/null
  "$m" status >/dev/null
  timed "status, $FILES unchanged files (s)" "$side" "$m" status
  timed "fsck (s)" "$side" "$m" fsck
  cd "$WORK"; rm -rf "$r"
}
serve_round() {  # SIDE BINARY
  local side=$1 m=$2 r=$WORK/srv-$1
  rm -rf "$r"; mkdir -p "$r"; cd "$r"
  "$m" init . >/dev/null; cp "$SD/train.csv" train.csv
  cat >mlrepo.json <<'EOF'
{"stages": {"train": {"train": {"model": "logistic_regression", "data": "train.csv", "label": "y"},
                      "outs": ["model.mlmodel"], "metrics": ["train_metrics.json"]}}}
EOF
  "$m" train --commit -m model >/dev/null 2>&1
  "$m" serve --port 0 --log /dev/null 2>"$WORK/serve.err" &
  local pid=$! url="" i
  for i in $(seq 100); do url=$(grep -o 'http://[0-9.]*:[0-9]*' "$WORK/serve.err" | head -1 || true); [[ -n $url ]] && break; sleep 0.1; done
  [[ -n $url ]] || { log "serve did not start: $(cat "$WORK/serve.err")"; kill $pid; return 1; }
  for body in 1 100; do
    SERVE_BODY=$SD/body$body.json wrk -t1 -c4 -d2s -s "$BENCH_SRC/serve_post.lua" "$url/invocations" >/dev/null 2>&1 || true
    local c0 c1; c0=$(awk '{print $14 + $15}' /proc/$pid/stat)
    SERVE_BODY=$SD/body$body.json wrk -t1 -c4 -d"${WRK_S}s" -s "$BENCH_SRC/serve_post.lua" "$url/invocations" >"$WORK/wrk.out" 2>&1
    c1=$(awk '{print $14 + $15}' /proc/$pid/stat)
    local rps n
    rps=$(grep -o 'Requests/sec: *[0-9.]*' "$WORK/wrk.out" | awk '{print $2}')
    n=$(grep -o '"requests": [0-9]*' "$WORK/wrk.out" | awk '{print $2}')
    printf 'serve %s-row body (req/s)\t%s\t%s\t-\n' "$body" "$side" "$rps" >>"$RAW"
    awk -v l="serve $body-row body, server CPU per request (µs)" -v s="$side" -v d=$(( c1 - c0 )) -v n="$n" -v t="$(getconf CLK_TCK)" \
      'BEGIN {printf "%s\t%s\t%.1f\t-\n", l, s, d / t / n * 1e6}' >>"$RAW"
  done
  kill -TERM $pid; wait $pid || true
  cd "$WORK"; rm -rf "$r"
}
ml_round() {  # SIDE BINARY
  local side=$1 m=$2 r=$WORK/ml-$1
  rm -rf "$r"; mkdir -p "$r"; cd "$r"
  "$m" init . >/dev/null
  ln "$MD/train.csv" train.csv 2>/dev/null || cp "$MD/train.csv" train.csv   # a regular file: profile reads work-tree files only
  timed "profile, $ML_ROWS x 100 CSV (s)" "$side" "$m" profile train.csv
  cat >mlrepo.json <<'EOF'
{"stages": {
  "logreg": {"train": {"model": "logistic_regression", "data": "train.csv", "label": "y"},
             "outs": ["logreg.mlmodel"], "metrics": ["logreg.json"]},
  "mlp": {"train": {"model": "mlp_classifier", "data": "train.csv", "label": "y",
                    "params": {"hidden_layers": [64], "epochs": 3}},
          "outs": ["mlp.mlmodel"], "metrics": ["mlp.json"]}}}
EOF
  timed "train logistic_regression (s)" "$side" "$m" train logreg
  timed "train mlp_classifier, 3 epochs (s)" "$side" "$m" train mlp
  cd "$WORK"; rm -rf "$r"
}

for rep in $(seq "$REPS"); do
  if (( rep % 2 )); then order="A B"; else order="B A"; fi
  for side in $order; do
    m=$OLD; [[ $side == B ]] && m=$NEW
    if [[ $ONLY == all || $ONLY == store ]]; then log "rep $rep/$REPS: $side store"; store_round "$side" "$m"; fi
    if [[ $ONLY == all || $ONLY == serve ]]; then log "rep $rep/$REPS: $side serve"; serve_round "$side" "$m"; fi
    if [[ $ONLY == all || $ONLY == ml ]]; then log "rep $rep/$REPS: $side ml"; ml_round "$side" "$m"; fi
  done
done

python3 - "$RAW" "$OUT" "$OLD" "$NEW" "$REPS" "$SIZE" "$FILES" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import sys, statistics, collections, datetime
raw, out, old, new, reps, size, files, cores, load = sys.argv[1:]
v = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
for line in open(raw):
    label, side, a, b = line.rstrip("\n").split("\t")
    if label not in order: order.append(label)
    v[label][side].append((float(a), None if b == "-" else float(b)))
def med(xs): return statistics.median(xs) if xs else float("nan")
def ratio(a, b): return f"{a / b:.3f}" if b else "-"
rows = ["| workload | OLD wall | NEW wall | NEW/OLD | OLD CPU | NEW CPU | NEW/OLD CPU |", "|---|---:|---:|---:|---:|---:|---:|"]
for label in order:
    A, B = v[label]["A"], v[label]["B"]
    wa, wb = med([x[0] for x in A]), med([x[0] for x in B])
    if "req/s" in label:
        rows.append(f"| {label} | {wa:,.0f} | {wb:,.0f} | {ratio(wa, wb)} | | | |")
    elif A and A[0][1] is None:
        rows.append(f"| {label} | {wa:,.1f} | {wb:,.1f} | {ratio(wb, wa)} | | | |")
    else:
        ca, cb = med([x[1] for x in A]), med([x[1] for x in B])
        rows.append(f"| {label} | {wa:.3f} | {wb:.3f} | {ratio(wb, wa)} | {ca:.3f} | {cb:.3f} | {ratio(cb, ca)} |")
text = "\n".join([
    f"# A/B: {old} (OLD) vs {new} (NEW)", "",
    f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {cores} cores, load average at the end {load}; "
    f"{size} MiB CSV, {files} files, medians of {reps} interleaved repetitions. Ratios above 1 mean NEW is slower.", "",
    *rows, ""])
open(out, "w").write(text)
print(text)
PY
