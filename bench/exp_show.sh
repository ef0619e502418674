#!/usr/bin/env bash
# ML-history commands (exp show, metrics diff, log --kind, lineage --downstream) on a
# history of N commits, against DVC and plain git on a mirror of the same history.
#
# usage: bench/exp_show.sh [--commits N] [--dvc-commits M] [--reps R] [--repro-every K] [--out FILE]
#   --commits N      commits in both histories (default 10000)
#   --dvc-commits M  commits DVC's `exp show` reads (`-n M`; default min(1000, N)): a cold
#                    `dvc exp show` costs ~40 ms a commit, so M < N and figures are also per commit
#   --reps R         repetitions of every timed command, medians reported (default 3)
#   --repro-every K  a real `mlrepo repro` every K-th commit (default 100), so lineage records exist
#   --out FILE       Markdown report (default bench/results/exp_show.md; raw numbers in .tsv next to it)
# env: MLREPO (default .build/release/mlrepo, as bench/run.sh), BENCH_DIR
#      (scratch root, default /tmp; repos and log in $BENCH_DIR/mlrepo-bench-exp)
set -euo pipefail

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_SRC/.." && pwd); export ROOT  # used by lib.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$BENCH_SRC/lib.sh"

N=10000 M="" REPS=3 REPRO_EVERY=100
OUT=$BENCH_SRC/results/exp_show.md
CHECKPOINT_ONLY=""
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (( $# )); do
  case $1 in
    --commits)     N=$2; shift 2 ;;
    --dvc-commits) M=$2; shift 2 ;;
    --reps)        REPS=$2; shift 2 ;;
    --repro-every) REPRO_EVERY=$2; shift 2 ;;
    --out)         OUT=$2; shift 2 ;;
    --checkpoint)  CHECKPOINT_ONLY=$2; shift 2 ;;  # internal: called by exp_history.py
    -h|--help)     usage 0 ;;
    *) echo "exp_show.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
[[ -n $M ]] || M=$(( N < 1000 ? N : 1000 ))
[[ $N =~ ^[0-9]+$ && $M =~ ^[0-9]+$ && $REPS =~ ^[1-9][0-9]*$ && $REPRO_EVERY =~ ^[1-9][0-9]*$ ]] \
  || die "--commits, --dvc-commits, --reps and --repro-every take positive integers"
(( N > 100 )) || die "--commits must be above 100 (metrics diff HEAD~100 HEAD)"
(( M <= N )) || die "--dvc-commits must not exceed --commits"
case $OUT in /*) ;; *) OUT="$PWD/$OUT" ;; esac

resolve_mlrepo
[[ -x $MLREPO_BIN ]] || die "no mlrepo executable at $MLREPO_BIN (swift build -c release, or set MLREPO=...)"
for c in /usr/bin/time python3 git dvc timeout; do
  [[ -x $c ]] || command -v "$c" >/dev/null || die "missing $c: run bench/setup.sh first"
done
/usr/bin/time -f '%M' true 2>/dev/null >/dev/null || die "/usr/bin/time is not GNU time (apt-get install time)"
export MLREPO_FSYNC=0   # history building and measuring alike; the read commands write nothing

WORK=${BENCH_DIR:-/tmp}/mlrepo-bench-exp
ML=$WORK/ml GR=$WORK/git
RESULTS=$WORK/results.tsv META=$WORK/meta.tsv LOG=$WORK/run.log

# timeit TOOL METRIC DIR CMD: REPS runs of CMD in DIR, each recorded (seconds and peak RSS).
timeit() {
  local tool=$1 metric=$2 dir=$3 cmd=$4 r
  cd "$dir"
  for ((r = 1; r <= REPS; r++)); do
    timed "$tool $metric" "$cmd"
    record "$tool" "$metric" "$r" "$T"; record "$tool" "${metric}_rss_kb" "$r" "$RSS"
  done
  cp "$LAST_STDOUT" "$WORK/out.$tool.$metric"
  log "  $tool $metric: median $(grep -P "^$tool\t$metric\t" "$RESULTS" | cut -f4 | median) s"
}

# The mlrepo commands whose cost may grow with the history (timed at each checkpoint too).
measure_mlrepo_scaling() { # PREFIX
  local p=$1
  timeit mlrepo "${p}exp_show_json_all" "$ML" "'$MLREPO_BIN' exp show --json"
  timeit mlrepo "${p}exp_show_sort_acc" "$ML" "'$MLREPO_BIN' exp show --sort-by acc"
  timeit mlrepo "${p}metrics_diff" "$ML" "'$MLREPO_BIN' metrics diff HEAD~100 HEAD --json"
  timeit mlrepo "${p}log_kind_model" "$ML" "'$MLREPO_BIN' log --kind model -n 100"
  timeit mlrepo "${p}log_kind_model_1" "$ML" "'$MLREPO_BIN' log --kind model -n 1"
  timeit mlrepo "${p}log_n100" "$ML" "'$MLREPO_BIN' log -n 100"
  timeit mlrepo "${p}lineage_model_down" "$ML" "'$MLREPO_BIN' lineage model.bin --downstream"
  timeit mlrepo "${p}lineage_train_down" "$ML" "'$MLREPO_BIN' lineage train.sh --downstream"
  timeit mlrepo "${p}status" "$ML" "'$MLREPO_BIN' status"
}

if [[ -n $CHECKPOINT_ONLY ]]; then
  log "checkpoint: $CHECKPOINT_ONLY commits"
  measure_mlrepo_scaling "cp${CHECKPOINT_ONLY}:"
  exit 0
fi

rm_repo "$WORK"; mkdir -p "$WORK"
: >"$RESULTS"; : >"$META"; : >"$LOG"
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
log "log: $LOG"
meta date "$(date '+%F %T %Z')"
meta host "$(uname -srm); $(nproc) cores; $(awk '/MemTotal/{printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo); CPU $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
meta fs "$(df -T "${BENCH_DIR:-/tmp}" | awk 'NR==2{print $2" on "$1}')"
meta params "commits=$N dvc_commits=$M reps=$REPS repro_every=$REPRO_EVERY"
meta version_mlrepo "$(tool_version mlrepo)"
meta version_dvc "$(tool_version dvc)"
meta version_git "$(git --version)"
meta load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
( while sleep 15; do cut -d' ' -f1 /proc/loadavg; done ) >"$WORK/load.samples" 2>/dev/null &
LOAD_PID=$!
trap 'kill "$LOAD_PID" 2>/dev/null || true' EXIT

# ---------------------------------------------------------------- history
# Checkpoints: the mlrepo commands are timed again at M, N/4 and N/2 commits (scaling).
CPS=$(printf '%s\n' "$M" $(( N / 4 )) $(( N / 2 )) | awk -v n="$N" '$1 > 100 && $1 < n' | sort -nu | tr '\n' ' ')
meta checkpoints "$CPS"
log "== building $N commits (mlrepo: add+commit, repro every $REPRO_EVERY; git+DVC mirror; MLREPO_FSYNC=0); checkpoints: $CPS"
s=$(date +%s%N)
python3 "$BENCH_SRC/exp_history.py" --mlrepo "$MLREPO_BIN" --ml-repo "$ML" --git-repo "$GR" \
  --commits "$N" --repro-every "$REPRO_EVERY" --timings "$WORK/build.tsv" --checkpoints "$CPS" \
  --checkpoint-cmd "BENCH_DIR='${BENCH_DIR:-/tmp}' MLREPO='$MLREPO_BIN' '$BENCH_SRC/exp_show.sh' --reps $REPS --checkpoint \$CHECKPOINT 2>>'$LOG'" \
  2>>"$LOG" || die "building the history failed (see $LOG)"
e=$(date +%s%N)
meta build_s "$(awk -v s="$s" -v e="$e" 'BEGIN{printf "%.1f", (e-s)/1e9}')"
cp "$WORK/build.tsv" "$WORK/build.copy.tsv"
( cd "$GR" && dvc status 2>&1 | tee -a "$LOG" | grep -q 'up to date' ) || die "DVC mirror: dvc status at HEAD is not clean (see $LOG)"
meta ml_commits "$(cd "$ML" && "$MLREPO_BIN" log --oneline | wc -l)"
meta git_commits "$(git -C "$GR" rev-list --count HEAD) (one more: the 'dvc init' commit)"
meta ml_store "$(du -sb "$ML/.mlrepo" | cut -f1)"
meta git_store "$(du -sb "$GR/.git" | cut -f1) .git + $(du -sb "$GR/.dvc/cache" | cut -f1) .dvc/cache"
derived=$(cd "$ML" && "$MLREPO_BIN" lineage train.sh --downstream | grep -c -- '->') || derived=0
meta ml_records "$derived derived outputs of train.sh (2 per recorded run)"

# ---------------------------------------------------------------- measuring at N
log "== measuring at $N commits ($REPS runs each)"
measure_mlrepo_scaling ""
timeit mlrepo exp_show_json_n "$ML" "'$MLREPO_BIN' exp show -n $N --json"
timeit mlrepo exp_show_json_m "$ML" "'$MLREPO_BIN' exp show -n $M --json"
timeit git log_floor_n "$GR" "git log --format=%H -n $N"
timeit git log_dvc_lock "$GR" "git log -n 100 -- dvc.lock"
timeit git rev_list_all "$GR" "git rev-list --all --header"
# DVC: the first `exp show` collects every commit and fills .dvc/tmp/exps/cache (cold);
# later runs read that cache (warm).
REPS_SAVED=$REPS; REPS=1
timeit dvc exp_show_json_cold "$GR" "dvc exp show -n $M --json"
REPS=$REPS_SAVED
timeit dvc exp_show_json "$GR" "dvc exp show -n $M --json"
timeit dvc exp_show_sort_acc "$GR" "dvc exp show -n $M --sort-by acc --no-pager"
timeit dvc metrics_diff "$GR" "dvc metrics diff HEAD~100 HEAD --json"
timeit dvc dag "$GR" "dvc dag"
cd "$WORK"

# ---------------------------------------------------------------- checks
python3 - "$WORK" "$N" "$M" >>"$LOG" 2>&1 <<'EOF' || die "output check failed (see $LOG)"
import json, sys
w, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ml = json.load(open(w + "/out.mlrepo.exp_show_json_n"))
assert len(ml) == n, "mlrepo exp show -n N: %d rows" % len(ml)
mlm = json.load(open(w + "/out.mlrepo.exp_show_json_m"))
dv = [r for r in json.load(open(w + "/out.dvc.exp_show_json")) if r["rev"] != "workspace"]
assert len(mlm) == m and len(dv) == m, "rows: mlrepo %d, dvc %d, want %d" % (len(mlm), len(dv), m)
def ml_row(r): return (r["message"], r["params"]["params.json"]["train.lr"], r["metrics"]["metrics.json"]["acc"])
pairs = sorted((r["params"]["params.json"]["train.lr"], r["metrics"]["metrics.json"]["acc"]) for r in mlm)
dpairs = sorted((r["data"]["params"]["params.json"]["data"]["train"]["lr"], r["data"]["metrics"]["metrics.json"]["data"]["acc"]) for r in dv)
assert pairs == dpairs, "mlrepo and DVC show different (lr, acc) values for the last M commits"
a = json.load(open(w + "/out.mlrepo.metrics_diff")); b = json.load(open(w + "/out.dvc.metrics_diff"))
for k in ("acc", "loss"):
    assert (a["metrics.json"][k]["old"], a["metrics.json"][k]["new"]) == (b["metrics.json"][k]["old"], b["metrics.json"][k]["new"]), k
rows = [l for l in open(w + "/out.mlrepo.exp_show_sort_acc") if l.strip()]
assert len(rows) == n + 1, "sort-by table: %d lines" % len(rows)
print("checks: exp show rows and values agree (mlrepo %d rows, last %d equal to DVC's), metrics diff agrees" % (n, m))
EOF
meta checks "exp show -n N --json has N rows; its last M rows hold the same (train.lr, acc) pairs as DVC's; metrics diff old/new agree with DVC's; DVC mirror's dvc status clean at HEAD; dvc.lock of commit 1 byte-identical to dvc repro's"
meta load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
kill "$LOAD_PID" 2>/dev/null || true
[[ -s $WORK/load.samples ]] && meta load_during "$(sort -g "$WORK/load.samples" | awk '{s+=$1; a[NR]=$1} END{printf "mean %.2f, max %.2f (1-min load, sampled every 15 s; this run alone keeps it near 1)", s/NR, a[NR]}')"

# ---------------------------------------------------------------- report
mkdir -p "$(dirname "$OUT")"
python3 "$BENCH_SRC/exp_report.py" "$RESULTS" "$META" "$WORK/build.tsv" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cp "$RESULTS" "${OUT%.md}.tsv"
cat "$OUT"
log "report written to $OUT (raw numbers: ${OUT%.md}.tsv, log: $LOG)"
