#!/usr/bin/env bash
# Built-in training (mlrepo train) against scikit-learn, PyTorch, pandas, numpy and pyarrow,
# side by side on the same generated data in the same run.
#
# usage: bench/train.sh [--rows N] [--test-rows T] [--reps R] [--slow-reps S] [--kmeans-iter I]
#                       [--threads T] [--workloads "parse logreg mlp kmeans pca"] [--no-torch1]
#                       [--perf] [--no-build] [--no-install] [--out FILE]
#   --rows N         training rows (default 1000000; 100 float features + label y)
#   --test-rows T    held-out rows (default min(100000, max(1000, N/10)))
#   --reps R         repetitions of the mlrepo rows and of the fast anchors; medians (default 3)
#   --slow-reps S    repetitions of the slow or supplementary anchors: numpy.loadtxt,
#                    pyarrow, sklearn MLPClassifier, PyTorch at 1 thread (default 1)
#   --kmeans-iter I  k-means iterations for both tools (tol 0: all I run; default 20)
#   --threads T      mlrepo --threads, torch.set_num_threads, scikit-learn pools (default 2)
#   --workloads "…"  subset of: parse logreg mlp kmeans pca (default all); logreg runs two
#                    mlrepo stages: logreg_lbfgs (the default solver: full-batch L-BFGS, against
#                    scikit-learn's LogisticRegression(), also L-BFGS) and logreg (adam, 5 epochs,
#                    batch 256, against PyTorch and SGDClassifier)
#   --no-torch1      skip the supplementary PyTorch rows at 1 thread
#   --perf           also `perf record` one more mlrepo parse+PCA(1) and MLP run each and
#                    group their hottest symbols (column statistics, GEMM, parse, ...)
#   --no-build       use the existing binary (default: swift build -c release first)
#   --worktree       build the working tree as it is; by default, when Package.swift or
#                    Sources/ has uncommitted edits (other work in progress), the build is of
#                    a `git archive HEAD` snapshot instead, so the binary is a commit
#   --no-install     do not pip-install missing anchors (default: numpy, pandas, scikit-learn,
#                    threadpoolctl and pyarrow are installed with pip when one is missing, and
#                    torch from the CPU wheel index, else PyPI, when the workloads need it)
#   --out FILE       Markdown report (default bench/results/train.md; raw numbers in .tsv)
# env: MLREPO (binary; default: built into .build-bench-train), BENCH_DIR (scratch root,
#      default /tmp: data in $BENCH_DIR/mlrepo-bench-train-data/rN-tT/, generated once and
#      reused; repo, outputs and log in $BENCH_DIR/mlrepo-bench-train), CMD_TIMEOUT (s, 900).
#
# Timing: every command runs under GNU time (wall from date +%s%N, peak RSS = %M). mlrepo rows
# are whole processes (`mlrepo train STAGE`: CSV parse, column statistics, standardization,
# training, writing the model and the lineage record); the lineage record's duration_s is
# parse + train. `mlrepo eval --model pca1.mlmodel --data train.csv` (parse + a 1-column
# projection, no column statistics) is the closest mlrepo gets to a parse-only command.
# Anchors report the parse alone (parse rows) or the fit alone (fit rows; the data comes from
# a .npy copy, untimed), measured inside the Python process. The report sets each mlrepo whole
# process against the anchor's pandas read_csv + fit (end to end), and mlrepo's training alone
# (the lineage record's phases.fit_s; estimated from lineage durations for binaries without
# phase timings) against the anchor's fit alone. If bench/results/gemm.md exists (bench/gemm.sh),
# its 2-thread ratios fill the GEMM row of the goals table.
# The default run measures for about 6-8 minutes on the 2-core VM (plus the build, and about
# a minute to generate the data the first time); more when the VM is shared, as PyTorch at
# 2 threads and scikit-learn's MLP slow down most (several-fold). Each run records how many
# cores other processes kept busy meanwhile; the report leaves out disturbed runs where a row
# has undisturbed ones. --reps 1: about 3 minutes; --rows 200000: about 2.
set -euo pipefail

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_SRC/.." && pwd)
ROWS=1000000 TEST_ROWS="" REPS=3 SLOW_REPS=1 KITER=20 THREADS=2
WORKLOADS="parse logreg mlp kmeans pca" TORCH1=1 PERF=0 BUILD=1 INSTALL=1 WORKTREE=0
OUT=$BENCH_SRC/results/train.md
CMD_TIMEOUT=${CMD_TIMEOUT:-900}
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (( $# )); do
  case $1 in
    --rows) ROWS=$2; shift 2 ;;
    --test-rows) TEST_ROWS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --slow-reps) SLOW_REPS=$2; shift 2 ;;
    --kmeans-iter) KITER=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --no-torch1) TORCH1=0; shift ;;
    --perf) PERF=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    --worktree) WORKTREE=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "train.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
[[ -n $TEST_ROWS ]] || TEST_ROWS=$(( ROWS / 10 < 1000 ? 1000 : (ROWS / 10 > 100000 ? 100000 : ROWS / 10) ))
for v in ROWS TEST_ROWS REPS SLOW_REPS KITER THREADS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "train.sh: ${v,,} takes a positive integer" >&2; exit 2; }
done
(( ROWS >= 1000 )) || { echo "train.sh: --rows must be at least 1000" >&2; exit 2; }
case $OUT in /*) ;; *) OUT="$PWD/$OUT" ;; esac
has() { [[ " $WORKLOADS " == *" $1 "* ]]; }
TORCH_WANTED=0; if has logreg || has mlp; then TORCH_WANTED=1; fi

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
PYTHON=$(python3 -c 'import sys; print(sys.executable)')  # not the pyenv shim (~50 ms a call)
[[ -x /usr/bin/time ]] && /usr/bin/time -f %M true >/dev/null 2>&1 || die "needs GNU time at /usr/bin/time (apt-get install time)"
# The anchors are pip-installed here when missing (--no-install: skip what is missing instead).
if ! "$PYTHON" -c 'import numpy, pandas, sklearn, threadpoolctl, pyarrow.csv' 2>/dev/null; then
  if (( INSTALL )); then
    log "installing the Python anchors: pip install scikit-learn pandas threadpoolctl pyarrow"
    "$PYTHON" -m pip install scikit-learn pandas threadpoolctl pyarrow >&2 || log "pip install failed"
  fi
  "$PYTHON" -c 'import numpy, pandas, sklearn, threadpoolctl' 2>/dev/null \
    || die "needs numpy, pandas, scikit-learn, threadpoolctl (pip install scikit-learn pandas threadpoolctl pyarrow)"
fi
if ! "$PYTHON" -c 'import torch' 2>/dev/null && (( INSTALL && TORCH_WANTED )); then
  log "installing PyTorch (CPU wheel): pip install torch --index-url https://download.pytorch.org/whl/cpu"
  "$PYTHON" -m pip install torch --index-url https://download.pytorch.org/whl/cpu >&2 \
    || { log "the CPU wheel index failed; pip install torch"; "$PYTHON" -m pip install torch >&2 || log "pip install torch failed"; }
fi
HAVE_TORCH=1; "$PYTHON" -c 'import torch' 2>/dev/null || { HAVE_TORCH=0; log "no torch: PyTorch rows skipped (pip install torch --index-url https://download.pytorch.org/whl/cpu)"; }
HAVE_ARROW=1; "$PYTHON" -c 'import pyarrow.csv' 2>/dev/null || { HAVE_ARROW=0; log "no pyarrow: its parse row is skipped"; }

# ---------------------------------------------------------------- binary
SOURCE_NOTE=""
if [[ -n ${MLREPO:-} ]]; then
  M=$MLREPO SOURCE_NOTE="given binary (MLREPO)"
else
  M=$ROOT/.build-bench-train/release/mlrepo
  PKG=$ROOT
  HEAD_ID=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
  if git -C "$ROOT" diff --quiet HEAD -- Sources Package.swift 2>/dev/null \
     && [[ -z $(git -C "$ROOT" ls-files --others --exclude-standard -- Sources 2>/dev/null) ]]; then
    SOURCE_NOTE="$HEAD_ID (clean work tree)"
  elif (( WORKTREE )); then
    SOURCE_NOTE="$HEAD_ID + uncommitted edits in Sources/ or Package.swift (--worktree)"
  else
    # Other work is editing the tree: build the last commit, from a snapshot with its own
    # build folder (.build-bench-train/head-src and head-build).
    PKG=$ROOT/.build-bench-train/head-src
    M=$ROOT/.build-bench-train/head-build/release/mlrepo
    SOURCE_NOTE="$HEAD_ID (a git archive HEAD snapshot; the work tree's uncommitted edits left out)"
    if (( BUILD )); then
      log "Sources/ or Package.swift has uncommitted edits: building a snapshot of HEAD ($HEAD_ID) instead (--worktree: the tree as is)"
      mkdir -p "$PKG"
      # Refresh the snapshot when HEAD moved, rewriting only the files whose content changed
      # (so their mtimes alone move and the build stays incremental).
      if [[ $(cat "$PKG/.head" 2>/dev/null) != "$(git -C "$ROOT" rev-parse HEAD)" ]]; then
        snap=$(mktemp -d "$ROOT/.build-bench-train/snap.XXXXXX")
        git -C "$ROOT" archive HEAD Package.swift Sources Tests | tar -x -C "$snap" || die "git archive HEAD failed"
        "$PYTHON" - "$snap" "$PKG" <<'PY' || die "refreshing the HEAD snapshot failed"
import filecmp, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
keep = set()
for d, _, files in os.walk(src):
    for name in files:
        rel = os.path.relpath(os.path.join(d, name), src)
        keep.add(rel)
        t = os.path.join(dst, rel)
        if not (os.path.isfile(t) and filecmp.cmp(os.path.join(src, rel), t, shallow=False)):
            os.makedirs(os.path.dirname(t), exist_ok=True)
            shutil.copyfile(os.path.join(src, rel), t)
for d, _, files in os.walk(dst):
    for name in files:
        rel = os.path.relpath(os.path.join(d, name), dst)
        if rel not in keep and rel != ".head":
            os.remove(os.path.join(d, name))
PY
        rm -rf "$snap"
        git -C "$ROOT" rev-parse HEAD >"$PKG/.head"
      fi
    fi
  fi
  if (( ! BUILD )); then
    [[ -x $M ]] || M=$ROOT/.build-bench-train/release/mlrepo
    SOURCE_NOTE="an existing binary (--no-build; HEAD is $HEAD_ID)"
  else
    SP=$ROOT/.build-bench-train; [[ $PKG == "$ROOT" ]] || SP=$ROOT/.build-bench-train/head-build
    # Other work may be editing Sources/ mid-build: retry a few times.
    for try in 1 2 3 4 5; do
      log "building mlrepo (release, package ${PKG/#"$ROOT"/.}, scratch ${SP/#"$ROOT"/.}), try $try"
      if (cd "$PKG" && swift build -c release --package-path "$PKG" --scratch-path "$SP" >/tmp/mlrepo-train-build.log 2>&1); then break; fi
      (( try < 5 )) || die "swift build failed (see /tmp/mlrepo-train-build.log)"
      sleep 60
    done
  fi
fi
case $M in /*) ;; *) M="$PWD/$M" ;; esac
[[ -x $M ]] || die "no mlrepo executable at $M"

# ---------------------------------------------------------------- data
SCRATCH=${BENCH_DIR:-/tmp}
DATA=$SCRATCH/mlrepo-bench-train-data/r$ROWS-t$TEST_ROWS
if ! "$PYTHON" -c "import json,sys; p=json.load(open('$DATA/params.json')); sys.exit(not (p['rows']==$ROWS and p['test_rows']==$TEST_ROWS and p['features']==100))" 2>/dev/null \
   || [[ ! -s $DATA/train.csv || ! -s $DATA/test.csv ]]; then
  log "generating $ROWS + $TEST_ROWS rows into $DATA"
  rm -rf "$DATA"; mkdir -p "$DATA"
  "$PYTHON" "$BENCH_SRC/gen_train_data.py" "$DATA" --rows "$ROWS" --test-rows "$TEST_ROWS" || die "data generation failed"
fi
"$PYTHON" "$BENCH_SRC/train_anchors.py" prepare --train "$DATA/train.csv" --test "$DATA/test.csv" || die "writing the .npy copies failed"

WORK=$SCRATCH/mlrepo-bench-train
rm -rf "$WORK"; mkdir -p "$WORK/out" "$WORK/repo"
RESULTS=$WORK/results.tsv META=$WORK/meta.tsv LOG=$WORK/run.log
: >"$RESULTS"; : >"$META"; : >"$LOG"
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }

# ---------------------------------------------------------------- repo
REPO=$WORK/repo
cd "$REPO"
"$M" init . >/dev/null
ln "$DATA/train.csv" train.csv 2>/dev/null || cp "$DATA/train.csv" train.csv
ln "$DATA/test.csv" test.csv 2>/dev/null || cp "$DATA/test.csv" test.csv
FEATS=$("$PYTHON" -c 'import json; print(json.dumps(["x%d" % j for j in range(100)]))')
cat >mlrepo.json <<EOF
{"stages": {
 "pca1":    {"train": {"model": "pca", "data": "train.csv", "params": {"n_components": 1}, "seed": 0}, "outs": ["pca1.mlmodel"], "metrics": ["pca1.json"]},
 "logreg_lbfgs": {"train": {"model": "logistic_regression", "data": "train.csv", "label": "y", "seed": 0}, "outs": ["logreg_lbfgs.mlmodel"], "metrics": ["logreg_lbfgs.json"]},
 "logreg":  {"train": {"model": "logistic_regression", "data": "train.csv", "label": "y", "params": {"epochs": 5, "batch_size": 256, "learning_rate": 0.01, "optimizer": "adam"}, "seed": 0}, "outs": ["logreg.mlmodel"], "metrics": ["logreg.json"]},
 "mlp":     {"train": {"model": "mlp_classifier", "data": "train.csv", "label": "y", "params": {"hidden_layers": [128], "epochs": 5, "batch_size": 256, "learning_rate": 0.001, "early_stopping": false}, "seed": 0}, "outs": ["mlp.mlmodel"], "metrics": ["mlp.json"]},
 "kmeans":  {"train": {"model": "kmeans", "data": "train.csv", "features": $FEATS, "params": {"k": 10, "n_init": 1, "max_iter": $KITER, "tol": 0}, "seed": 0}, "outs": ["kmeans.mlmodel"], "metrics": ["kmeans.json"]},
 "pca10":   {"train": {"model": "pca", "data": "train.csv", "features": $FEATS, "params": {"n_components": 10}, "seed": 0}, "outs": ["pca10.mlmodel"], "metrics": ["pca10.json"]}
}}
EOF
# Staging the data once (untimed here, reported): a stage's deps whose stat data match the
# index are not hashed again, so every timed `mlrepo train` reads the CSV once, to parse it.
s=$(date +%s%N)
"$M" add train.csv test.csv mlrepo.json >>"$LOG" 2>&1 || die "mlrepo add failed (see $LOG)"
meta first_add_s "$(awk -v s="$s" -v e="$(date +%s%N)" 'BEGIN{printf "%.2f", (e-s)/1e9}')"

# ---------------------------------------------------------------- metadata
meta date "$(date -u '+%F %T UTC')"
meta host "$(uname -srm); $(nproc) cores; $(awk '/MemTotal/{printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo); CPU $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
meta params "rows=$ROWS test_rows=$TEST_ROWS reps=$REPS slow_reps=$SLOW_REPS kmeans_iter=$KITER threads=$THREADS workloads=$WORKLOADS"
meta command "bench/train.sh --rows $ROWS --reps $REPS --slow-reps $SLOW_REPS --kmeans-iter $KITER --threads $THREADS$( [[ $WORKLOADS != "parse logreg mlp kmeans pca" ]] && printf ' --workloads "%s"' "$WORKLOADS")$( (( TORCH1 )) || printf ' --no-torch1')$( (( PERF )) && printf ' --perf')"
meta data "$(cat "$DATA/params.json" | tr -d '\n ')"
meta version_mlrepo "$("$M" --version 2>/dev/null | head -1) [binary $(sha256sum "$M" | cut -c1-12), built $(date -r "$M" '+%F %T')], source $SOURCE_NOTE"
meta version_python "$("$PYTHON" -c 'import sys, numpy, pandas, sklearn; print("python %s, numpy %s, pandas %s, scikit-learn %s" % (sys.version.split()[0], numpy.__version__, pandas.__version__, sklearn.__version__))')"
(( HAVE_TORCH )) && meta version_torch "$("$PYTHON" -c 'import torch; b=[l.split(":",1)[1].strip() for l in torch.__config__.parallel_info().splitlines() if "parallel backend" in l]; print("torch %s (intra-op: %s)" % (torch.__version__, b[0] if b else "?"))' 2>/dev/null)"
(( HAVE_ARROW )) && meta version_pyarrow "pyarrow $("$PYTHON" -c 'import pyarrow; print(pyarrow.__version__)')"
meta swift "$(swift --version 2>&1 | head -1)"
meta load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
( while sleep 10; do cut -d' ' -f1 /proc/loadavg; done ) >"$WORK/load.samples" 2>/dev/null &
LOAD_PID=$!
trap 'kill "$LOAD_PID" 2>/dev/null || true' EXIT

# ---------------------------------------------------------------- measuring
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
# timed TOOL WORKLOAD REP OUTFILE CMD...: one run under GNU time; a row in results.tsv:
# tool, workload, rep, wall s, peak RSS KiB, user s, sys s, 1-min load at start, output file,
# others: the cores that everything else on the machine kept busy meanwhile (the busy time
# in /proc/stat over the run, less this command's user + sys, over the wall time), steal:
# the cores the hypervisor took (steal time over the wall time).
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8, $9; exit}' /proc/stat; }
timed() {
  local tool=$1 wl=$2 rep=$3 outf=$4; shift 4
  local load s e rc=0 b0 st0 b1 st1
  load=$(cut -d' ' -f1 /proc/loadavg)
  read -r b0 st0 < <(cpu_busy)
  s=$(date +%s%N)
  timeout "$CMD_TIMEOUT" /usr/bin/time -f '%M %U %S' -o "$WORK/time.txt" "$@" >"$outf" 2>>"$LOG" || rc=$?
  e=$(date +%s%N)
  read -r b1 st1 < <(cpu_busy)
  local wall; wall=$(awk -v s="$s" -v e="$e" 'BEGIN{printf "%.3f", (e-s)/1e9}')
  if (( rc != 0 )); then
    log "  $tool $wl rep $rep FAILED (exit $rc after ${wall}s; see $LOG)"
    printf '%s\t%s\t%s\tNA\tNA\tNA\tNA\t%s\t%s\tNA\tNA\n' "$tool" "$wl" "$rep" "$load" "$outf" >>"$RESULTS"
    return 0
  fi
  read -r rss us ss < <(tail -1 "$WORK/time.txt")
  local others steal
  read -r others steal < <(awk -v b="$((b1 - b0))" -v st="$((st1 - st0))" -v hz="$HZ" -v u="$us" -v sy="$ss" -v w="$wall" \
    'BEGIN { o = (b / hz - u - sy) / w; if (o < 0) o = 0; printf "%.2f %.2f\n", o, st / hz / w }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$wl" "$rep" "$wall" "$rss" "$us" "$ss" "$load" "$outf" "$others" "$steal" >>"$RESULTS"
  log "  $tool $wl rep $rep: ${wall}s, $((rss / 1024)) MiB (load $load; other processes ${others} cores, steal ${steal})"
}
# ml STAGE WORKLOAD REP: `mlrepo train STAGE`, then its training metrics and lineage duration.
ml() {
  local stage=$1 wl=$2 rep=$3 o=$WORK/out/mlrepo.$1.$3
  timed mlrepo "$wl" "$rep" "$o.stdout" "$M" train "$stage" --threads "$THREADS"
  cp "$REPO/$stage.json" "$o.metrics.json" 2>/dev/null || true
  "$M" lineage "$stage.mlmodel" --json >"$o.lineage.json" 2>>"$LOG" || true
}
# mlparse REP: `mlrepo eval` of the PCA(1) model on the training CSV (parse + projection).
mlparse() {
  timed mlrepo-eval parse "$1" "$WORK/out/mlrepo-eval.parse.$1.json" "$M" eval --model pca1.mlmodel --data train.csv --threads "$THREADS" --json
}
# an TASK TOOL WORKLOAD REP [ARGS]: one anchor process.
an() {
  local task=$1 tool=$2 wl=$3 rep=$4; shift 4
  timed "$tool" "$wl" "$rep" "$WORK/out/$tool.$wl.$rep.json" "$PYTHON" "$BENCH_SRC/train_anchors.py" "$task" \
    --train "$DATA/train.csv" --test "$DATA/test.csv" --epochs 5 --batch 256 --kmeans-iter "$KITER" --threads "$THREADS" "$@"
}

log "== measuring: $WORKLOADS; $REPS reps (slow anchors: $SLOW_REPS); log $LOG"
START=$(date +%s)
# Repetitions are the outer loop, tools the inner one, so a burst of load from elsewhere
# touches every tool of a workload alike rather than all reps of one tool.
for ((r = 1; r <= REPS; r++)); do
  slow=$(( r <= SLOW_REPS ))
  if has parse; then
    ml pca1 parse "$r"
    mlparse "$r"
    an parse_pandas pandas parse "$r"
    (( HAVE_ARROW && slow )) && an parse_pyarrow pyarrow parse "$r"
    (( slow )) && an parse_numpy numpy parse "$r"
  fi
  if has logreg; then
    ml logreg_lbfgs logreg_lbfgs "$r"
    an logreg_lbfgs sklearn-lbfgs logreg_lbfgs "$r"
    ml logreg logreg "$r"
    an logreg_sgd sklearn-sgd logreg "$r"
    (( HAVE_TORCH )) && an logreg_torch pytorch logreg "$r"
    (( HAVE_TORCH && TORCH1 && slow )) && an logreg_torch pytorch-1t logreg "$r" --threads 1
  fi
  if has mlp; then
    ml mlp mlp "$r"
    (( HAVE_TORCH )) && an mlp_torch pytorch mlp "$r"
    (( HAVE_TORCH && TORCH1 && slow )) && an mlp_torch pytorch-1t mlp "$r" --threads 1
    (( slow )) && an mlp_sklearn sklearn mlp "$r"
  fi
  if has kmeans; then
    ml kmeans kmeans "$r"
    an kmeans_sklearn sklearn kmeans "$r"
  fi
  if has pca; then
    ml pca10 pca "$r"
    an pca_sklearn sklearn pca "$r"
  fi
  log "rep $r done after $(( $(date +%s) - START )) s"
done
meta measure_s "$(( $(date +%s) - START ))"

# Untimed: test accuracy of the mlrepo classifiers (the models are the same every rep: same
# seed, same data).
for s in logreg_lbfgs logreg mlp; do
  [[ -f $REPO/$s.mlmodel ]] || continue
  "$M" eval --model "$s.mlmodel" --data test.csv --threads "$THREADS" --json >"$WORK/out/mlrepo.$s.eval.json" 2>>"$LOG" || true
done

if (( PERF )) && command -v perf >/dev/null; then
  for stage in pca1 mlp; do
    [[ $stage == pca1 ]] && ! has parse && continue
    [[ $stage == mlp ]] && ! has mlp && continue
    log "perf record of one mlrepo train $stage"
    perf record -g -o "$WORK/perf.$stage.data" "$M" train "$stage" --threads "$THREADS" >/dev/null 2>>"$LOG" \
      && perf report -i "$WORK/perf.$stage.data" --no-children --sort symbol -g none 2>/dev/null \
         | grep -v '^#' | grep '%' | head -25 | sed -E 's/^ +//; s/ {3,}.*$//' \
         | { if command -v swift >/dev/null; then swift demangle --simplified --compact; else cat; fi; } >"$WORK/perf.$stage.top" || true
    rm -f "$WORK/perf.$stage.data"
  done
fi

meta load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
kill "$LOAD_PID" 2>/dev/null || true
[[ -s $WORK/load.samples ]] && meta load_during "$(sort -g "$WORK/load.samples" | awk -v t="$THREADS" '{s+=$1; a[NR]=$1} END{printf "mean %.2f, max %.2f (1-min load, sampled every 10 s; this run alone keeps it near %d)", s/NR, a[NR], t}')"

# ---------------------------------------------------------------- report
mkdir -p "$(dirname "$OUT")"
GEMM_MD=${GEMM_MD:-$BENCH_SRC/results/gemm.md} "$PYTHON" "$BENCH_SRC/train_report.py" "$WORK" "$DATA/params.json" >"$OUT.tmp" || die "report failed"
mv "$OUT.tmp" "$OUT"
cp "$RESULTS" "${OUT%.md}.tsv"
cat "$OUT"
log "report written to $OUT (raw numbers: ${OUT%.md}.tsv, outputs and log: $WORK)"
