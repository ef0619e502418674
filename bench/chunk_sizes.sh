#!/usr/bin/env bash
# mlrepo only: W1 time/store, W2 store growth and W4 checkout for several
# average chunk sizes, set through the environment variable MLREPO_CHUNK_AVG
# (bytes). If mlrepo ignores that variable, all rows come out the same.
#
# usage: bench/chunk_sizes.sh [--size-mb N] [--reps R] [--sizes "8192 16384 32768 65536"] [--out FILE]
# env:   MLREPO, BENCH_DIR as for bench/run.sh
set -euo pipefail

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_SRC/.." && pwd); export ROOT  # used by lib.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$BENCH_SRC/lib.sh"

SIZE_MB=1024 REPS=1 SIZES="8192 16384 32768 65536" FILES=${FILES:-20000}
OUT=$BENCH_SRC/results/chunk_sizes.md
while (( $# )); do
  case $1 in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --reps)    REPS=$2; shift 2 ;;
    --sizes)   SIZES=$2; shift 2 ;;
    --files)   FILES=$2; shift 2 ;;   # only to pick/reuse the same data folder as run.sh
    --out)     OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "chunk_sizes.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ $SIZE_MB =~ ^[0-9]+$ && $REPS =~ ^[1-9][0-9]*$ ]] || die "--size-mb and --reps take positive integers"
case $OUT in /*) ;; *) OUT="$PWD/$OUT" ;; esac

resolve_mlrepo
[[ -x $MLREPO_BIN ]] || { log "SKIP: no mlrepo executable at $MLREPO_BIN (build it or set MLREPO=...)"; exit 0; }

WORK=${BENCH_DIR:-/tmp}/mlrepo-bench-work-chunks
mkdir -p "$WORK"; LOG=$WORK/run.log; : >"$LOG"
ensure_data "$SIZE_MB" "$FILES"
log "log: $LOG"

{
  echo "# mlrepo chunk-size sweep"
  echo
  echo "- date: $(date '+%F %T %Z'); mlrepo: $(tool_version mlrepo)"
  echo "- data: v1.csv $(stat -c %s "$DATA/v1.csv") B, v2.csv $(stat -c %s "$DATA/v2.csv") B; reps: $REPS (medians)"
  echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| MLREPO_CHUNK_AVG | W1 add+commit | W1 peak RSS | W1 store | W2 add+commit | W2 store growth | growth / file size | W4 checkout |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$OUT.tmp"

for cs in $SIZES; do
  RESULTS=$WORK/results-$cs.tsv; : >"$RESULTS"
  export MLREPO_CHUNK_AVG=$cs
  log "== MLREPO_CHUNK_AVG=$cs =="
  for ((r = 1; r <= REPS; r++)); do
    set +e; ( set -e; run_csv_rep mlrepo "$r" ); rc=$?; set -e
    (( rc == 0 )) || { log "!! MLREPO_CHUNK_AVG=$cs rep $r failed (exit $rc), see $LOG"; }
  done
  python3 - "$RESULTS" "$cs" >>"$OUT.tmp" <<'EOF'
import statistics, sys
from collections import defaultdict
v = defaultdict(list)
for line in open(sys.argv[1]):
    t, m, r, x = line.rstrip("\n").split("\t"); v[m].append(float(x))
md = lambda k: statistics.median(v[k]) if v[k] else None
def f(x, fmt):
    return "failed" if x is None else fmt(x)
g, fsz = md("w2_growth_b"), md("file_v2_b")
rss = max(md("w1_add_rss_kb") or 0, md("w1_commit_rss_kb") or 0) or None
print(f"| {sys.argv[2]} | {f(md('w1_s'), lambda x: f'{x:.2f} s')} | {f(rss, lambda x: f'{x/1024:.1f} MiB')} | "
      f"{f(md('w1_store_b'), lambda x: f'{x/2**20:,.1f} MiB')} | {f(md('w2_s'), lambda x: f'{x:.2f} s')} | "
      f"{f(g, lambda x: f'{x/2**20:,.2f} MiB')} | {f(g if fsz else None, lambda x: f'{100*x/fsz:.2f}%')} | "
      f"{f(md('w4_s'), lambda x: f'{x:.2f} s')} |")
EOF
done
unset MLREPO_CHUNK_AVG
mkdir -p "$(dirname "$OUT")"; mv "$OUT.tmp" "$OUT"
cat "$OUT"
log "written to $OUT"
