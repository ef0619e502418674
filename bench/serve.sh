#!/usr/bin/env bash
# Model serving: `mlrepo serve` against `mlflow models serve`, side by side in the same run,
# driven by wrk with the same request bodies, on the same machine.
#
# usage: bench/serve.sh [--duration S] [--soak S] [--rows N] [--features F]
#                       [--mlflow-workers N] [--wait-quiet S] [--no-build] [--worktree] [--no-install]
#                       [--out FILE]
#   --duration S       seconds per wrk run (default 12)
#   --soak S           seconds of the memory soak on mlrepo (default 60; 0 skips it)
#   --rows N           training rows (default 10000; F numeric features + binary label y,
#                      fixed seed; 1,000 more held-out rows for the agreement check)
#   --features F       features (default 20)
#   --mlflow-workers N supplementary MLflow rows with `--workers N` (default 2, one per core;
#                      0 skips them). The main comparison uses MLflow's default (1 worker).
#   --no-build         use the existing binary (default: swift build -c release first, into
#                      .build-bench-serve)
#   --worktree         build the working tree as it is; by default, when Package.swift or
#                      Sources/ has uncommitted edits (other work in progress), a
#                      `git archive HEAD` snapshot is built instead, so the binary is a commit
#   --no-install       do not install what is missing (default: apt-get install wrk;
#                      pip install mlflow scikit-learn pandas, falling back to mlflow-skinny
#                      plus fastapi and uvicorn if the full mlflow does not install)
#   --wait-quiet S     before measuring, wait up to S seconds (default 300) until the rest of the
#                      machine uses less than 0.3 of a core (builds, other benchmarks); 0: don't
#   --out FILE         Markdown report (default bench/results/serve.md)
# env: MLREPO (binary; default: built into .build-bench-serve), BENCH_DIR (scratch root,
#      default /tmp; everything goes to $BENCH_DIR/mlrepo-bench-serve).
#
# What it does: generates the data; trains mlrepo's logistic_regression (built-in
# `mlrepo train`, L-BFGS on scikit-learn's objective, standardized inputs) and the equivalent
# scikit-learn Pipeline(StandardScaler, LogisticRegression()) saved with
# mlflow.sklearn.save_model; starts `mlrepo serve --log /dev/null` (default workers: one per
# core) and `mlflow models serve --env-manager local` (default workers: 1); checks both predict
# the same on the held-out rows; then runs wrk (bench/serve_post.lua POSTs a dataframe_split
# body to /invocations) against each, interleaved, for a 1-row and a 100-row body at a
# moderate load (-t1 -c4) and a high load (-t2 -c32), plus a paced load (-t1 -c4 with a 1 ms
# pause between an answer and the next request on each connection). Every run records wrk's
# totals and latency percentiles, errors and non-2xx answers, the server's CPU time (whole
# process tree), wrk's own CPU time, and for mlrepo the change of
# mlrepo_requests_total on /metrics. Then a memory soak: mlrepo under the moderate 1-row load
# for --soak seconds, VmRSS sampled every 5 s. Supplementary rows: MLflow with --workers N,
# mlrepo with --workers 1 (leaves a core to wrk), and mlrepo with the access log written to a
# file. Every server gets SIGTERM at the end (mlrepo must exit 0).
# About 6 minutes with the defaults on the 2-core VM, plus the build. The client shares the machine with the
# servers: on 2 cores wrk's own CPU use is part of every figure (reported per run), and so is
# anything else running: every run reports the machine's busy time beyond the server and wrk.
# On a shared machine, `nice -n -10 bench/serve.sh` shields the runs (both servers and wrk
# inherit the priority; the report records it).
set -euo pipefail

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_SRC/.." && pwd)
DURATION=12 SOAK=60 ROWS=10000 FEATURES=20 MLFLOW_W=2 BUILD=1 WORKTREE=0 INSTALL=1 WAIT_QUIET=300
OUT=$BENCH_SRC/results/serve.md
ARGS_GIVEN="$*"
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (( $# )); do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --soak) SOAK=$2; shift 2 ;;
    --rows) ROWS=$2; shift 2 ;;
    --features) FEATURES=$2; shift 2 ;;
    --mlflow-workers) MLFLOW_W=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --worktree) WORKTREE=1; shift ;;
    --no-install) INSTALL=0; shift ;;
    --wait-quiet) WAIT_QUIET=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "serve.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
for v in DURATION ROWS FEATURES; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "serve.sh: ${v,,} takes a positive integer" >&2; exit 2; }
done
for v in SOAK MLFLOW_W WAIT_QUIET; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "serve.sh: ${v,,} takes a number" >&2; exit 2; }
done
case $OUT in /*) ;; *) OUT="$PWD/$OUT" ;; esac

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
PYTHON=$(python3 -c 'import sys; print(sys.executable)')  # not the pyenv shim
[[ -x /usr/bin/time ]] && /usr/bin/time -f %M true >/dev/null 2>&1 || die "needs GNU time at /usr/bin/time (apt-get install time)"
command -v curl >/dev/null || die "needs curl"

# ---------------------------------------------------------------- tools
if ! command -v wrk >/dev/null; then
  (( INSTALL )) || die "needs wrk (apt-get install wrk)"
  log "installing wrk: apt-get install -y wrk"
  { apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }; } || die "apt-get install wrk failed"
fi
MLFLOW_PKG="mlflow (present)"
if ! "$PYTHON" -c 'import sklearn, pandas, numpy' 2>/dev/null; then
  (( INSTALL )) || die "needs scikit-learn and pandas (pip install scikit-learn pandas)"
  log "pip install scikit-learn pandas"
  "$PYTHON" -m pip install scikit-learn pandas >&2 || die "pip install scikit-learn pandas failed"
fi
if ! "$PYTHON" -c 'import mlflow.sklearn, mlflow.pyfunc.scoring_server' 2>/dev/null; then
  (( INSTALL )) || die "needs mlflow (pip install mlflow)"
  log "pip install mlflow (large)"
  # Note: pip may replace packages that other benchmarks use (mlflow pins pyarrow, for one).
  if "$PYTHON" -m pip install mlflow >&2 && "$PYTHON" -c 'import mlflow.sklearn' 2>/dev/null; then
    MLFLOW_PKG="mlflow (pip install mlflow, this run)"
  else
    log "pip install mlflow failed; trying mlflow-skinny + fastapi + uvicorn"
    "$PYTHON" -m pip install mlflow-skinny fastapi uvicorn >&2 || die "pip install mlflow-skinny failed"
    MLFLOW_PKG="mlflow-skinny + fastapi + uvicorn (the full mlflow did not install)"
  fi
fi
MLFLOW_BIN=$(dirname "$PYTHON")/mlflow
[[ -x $MLFLOW_BIN ]] || MLFLOW_BIN=$(command -v mlflow) || die "no mlflow command"

# ---------------------------------------------------------------- binary
SOURCE_NOTE=""
HEAD_ID=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
if [[ -n ${MLREPO:-} ]]; then
  M=$MLREPO SOURCE_NOTE="given binary (MLREPO)"
else
  PKG=$ROOT SP=$ROOT/.build-bench-serve
  M=$SP/release/mlrepo
  if git -C "$ROOT" diff --quiet HEAD -- Sources Package.swift 2>/dev/null \
     && [[ -z $(git -C "$ROOT" ls-files --others --exclude-standard -- Sources 2>/dev/null) ]]; then
    SOURCE_NOTE="$HEAD_ID (clean work tree)"
  elif (( WORKTREE )); then
    SOURCE_NOTE="$HEAD_ID + uncommitted edits in Sources/ or Package.swift (--worktree)"
  else
    PKG=$ROOT/.build-bench-serve/head-src SP=$ROOT/.build-bench-serve/head-build
    M=$SP/release/mlrepo
    SOURCE_NOTE="$HEAD_ID (a git archive HEAD snapshot; the work tree's uncommitted edits left out)"
    if (( ! BUILD )); then
      SNAP=$(cat "$PKG/.head" 2>/dev/null || echo '?')
      SOURCE_NOTE="${SNAP:0:7} (an earlier git archive snapshot of HEAD, --no-build)"
    else
      log "Sources/ or Package.swift has uncommitted edits: building a snapshot of HEAD ($HEAD_ID)"
      mkdir -p "$PKG"
      if [[ $(cat "$PKG/.head" 2>/dev/null) != "$(git -C "$ROOT" rev-parse HEAD)" ]]; then
        find "$PKG" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
        git -C "$ROOT" archive HEAD Package.swift Sources Tests | tar -x -C "$PKG" || die "git archive HEAD failed"
        git -C "$ROOT" rev-parse HEAD >"$PKG/.head"
      fi
    fi
  fi
  if (( BUILD )); then
    for try in 1 2 3; do
      log "building mlrepo (release, scratch ${SP#"$ROOT"/}), try $try"
      if (cd "$PKG" && swift build -c release --package-path "$PKG" --scratch-path "$SP" >/tmp/mlrepo-serve-build.log 2>&1); then break; fi
      (( try < 3 )) || die "swift build failed (see /tmp/mlrepo-serve-build.log)"
      sleep 30
    done
  fi
fi
case $M in /*) ;; *) M="$PWD/$M" ;; esac
[[ -x $M ]] || die "no mlrepo executable at $M"

# ---------------------------------------------------------------- scratch, servers, clean-up
SCRATCH=${BENCH_DIR:-/tmp}
WORK=$SCRATCH/mlrepo-bench-serve
rm -rf "$WORK"; mkdir -p "$WORK/wrk" "$WORK/repo"
META=$WORK/meta.tsv RUNS=$WORK/runs.tsv SOAKF=$WORK/soak.tsv
: >"$META"; : >"$RUNS"; : >"$SOAKF"
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
LUA=$BENCH_SRC/serve_post.lua

MLREPO_PID="" MLREPO_URL="" MLFLOW_PID="" MLFLOW_URL=""
cleanup() {
  [[ -n $MLREPO_PID ]] && kill -TERM "$MLREPO_PID" 2>/dev/null || true
  # mlflow runs in its own process group (setsid): the CLI and uvicorn's processes.
  [[ -n $MLFLOW_PID ]] && kill -TERM -- "-$MLFLOW_PID" 2>/dev/null || true
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The pids of a process and its descendants.
tree_pids() { local p; for p in "$@"; do echo "$p"; tree_pids $(cat /proc/"$p"/task/*/children 2>/dev/null); done; }
# CPU time (utime + stime, clock ticks) of a process tree.
tree_ticks() {
  local t=0 p f
  for p in $(tree_pids "$1"); do
    f=$(sed 's/^.*) //' /proc/"$p"/stat 2>/dev/null) || continue
    set -- $f; t=$(( t + ${12} + ${13} ))
  done
  echo "$t"
}
# "tid:ticks ..." for every thread of a process (to see how the work spreads over mlrepo's loops).
thread_ticks() { local t; for t in /proc/"$1"/task/*; do awk '{printf "%s:%d ", $1, $14 + $15}' "$t"/stat 2>/dev/null; done; }
# Busy CPU time of the whole machine (clock ticks): user + nice + system + irq + softirq + steal.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
# Resident memory (kB) of a process tree (sum of VmRSS).
tree_rss() {
  local t=0 p r
  for p in $(tree_pids "$1"); do
    r=$(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status 2>/dev/null) || continue
    t=$(( t + ${r:-0} ))
  done
  echo "$t"
}
# Scoring requests answered so far (GET /ping, /metrics, ... count under model="none": left out).
metrics_total() { curl -s --max-time 5 "$1/metrics" | awk '/^mlrepo_requests_total\{model="(primary|canary)"/ {s += $NF} END {printf "%d\n", s}'; }
# "pid rss_kb command" for each process of a tree, joined with " | ".
tree_ps() { local p; for p in $(tree_pids "$1"); do printf '%s %s %s\n' "$p" "$(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status 2>/dev/null)" "$(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | cut -c1-120)"; done | paste -sd'|'; }

start_mlrepo() {  # NAME ARGS...: sets MLREPO_PID, MLREPO_URL
  local name=$1; shift
  local err=$WORK/mlrepo-$name.err
  (cd "$WORK/repo" && exec "$M" serve --port 0 "$@") 2>"$err" &
  MLREPO_PID=$!
  local i
  for i in $(seq 1 100); do
    if grep -q 'listening on' "$err" 2>/dev/null; then break; fi
    kill -0 "$MLREPO_PID" 2>/dev/null || die "mlrepo serve exited: $(cat "$err")"
    sleep 0.1
  done
  MLREPO_URL=$(grep -o 'http://[0-9.]*:[0-9]*' "$err" | head -1)
  [[ -n $MLREPO_URL ]] || die "mlrepo serve did not say where it listens: $(cat "$err")"
  meta "mlrepo_line_$name" "$(grep -m1 'listening on' "$err")"
  log "mlrepo serve ($name, pid $MLREPO_PID) at $MLREPO_URL"
}
stop_mlrepo() {  # NAME: SIGTERM, records the exit status
  local rc=0 note=""
  if kill -TERM "$MLREPO_PID" 2>/dev/null; then :; else note=" (it had ended before: not stopped by this script)"; fi
  wait "$MLREPO_PID" || rc=$?
  meta "mlrepo_exit_$1" "$rc$note"
  log "mlrepo serve ($1) stopped with SIGTERM, exit status $rc$note"
  MLREPO_PID=""
}
start_mlflow() {  # NAME [--workers N]: sets MLFLOW_PID (also its process group), MLFLOW_URL
  local name=$1; shift
  local port; port=$(free_port)
  # setsid: a process group of its own, so that clean-up reaches uvicorn's worker processes.
  # No usage telemetry (this machine may have no way out; it is not part of scoring anyway).
  MLFLOW_DISABLE_TELEMETRY=1 setsid "$MLFLOW_BIN" models serve -m "$WORK/mlflow-model" --env-manager local -h 127.0.0.1 -p "$port" "$@" \
    >"$WORK/mlflow-$name.log" 2>&1 &
  MLFLOW_PID=$!
  MLFLOW_URL=http://127.0.0.1:$port
  local t0=$SECONDS
  until curl -sf --max-time 2 "$MLFLOW_URL/ping" >/dev/null 2>&1; do
    kill -0 "$MLFLOW_PID" 2>/dev/null || die "mlflow models serve exited: $(tail -20 "$WORK/mlflow-$name.log")"
    (( SECONDS - t0 < 180 )) || die "mlflow models serve did not answer /ping in 180 s"
    sleep 0.5
  done
  meta "mlflow_start_s_$name" "$(( SECONDS - t0 ))"
  log "mlflow models serve ($name, pgid $MLFLOW_PID) at $MLFLOW_URL after $(( SECONDS - t0 )) s"
}
stop_mlflow() {
  kill -TERM -- "-$MLFLOW_PID" 2>/dev/null || true
  wait "$MLFLOW_PID" 2>/dev/null || true
  MLFLOW_PID=""
}

# run_wrk LABEL SERVER VARIANT BODY THREADS CONNS DELAY_MS SECONDS PID URL
run_wrk() {
  local label=$1 server=$2 variant=$3 body=$4 t=$5 c=$6 delay=$7 secs=$8 pid=$9 url=${10}
  local out=$WORK/wrk/$label.txt
  local c0 c1 b0 b1 t0="" t1="" m0="-" m1="-" alive=1
  c0=$(tree_ticks "$pid") b0=$(busy_ticks)
  [[ $server == mlrepo ]] && t0=$(thread_ticks "$pid")
  [[ $server == mlrepo ]] && m0=$(metrics_total "$url")
  SERVE_BODY=$WORK/data/body$body.json SERVE_DELAY_MS=$delay \
    /usr/bin/time -f '%U %S' -o "$WORK/wrk/$label.time" \
    wrk -t"$t" -c"$c" -d"${secs}s" --timeout 10s --latency -s "$LUA" "$url/invocations" >"$out" 2>&1 \
    || log "wrk exited non-zero for $label"
  c1=$(tree_ticks "$pid") b1=$(busy_ticks)
  [[ $server == mlrepo ]] && t1=$(thread_ticks "$pid")
  kill -0 "$pid" 2>/dev/null || alive=0
  (( alive )) || log "WARNING: the $server server died during $label"
  [[ $server == mlrepo && $alive == 1 ]] && m1=$(metrics_total "$url")
  local md="-"; [[ $m0 != - && $m1 != - ]] && md=$(( m1 - m0 ))
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$server" "$variant" "$body" "$t" "$c" \
    "$delay" "$secs" "$(( c1 - c0 ))" "$(tail -1 "$WORK/wrk/$label.time")" "$md" "$alive" "$(tree_rss "$pid")" \
    "$(( b1 - b0 ))" "$t0" "$t1" >>"$RUNS"
  log "  $label: $(grep -o 'Requests/sec: *[0-9.]*' "$out" || echo 'no Requests/sec line'), p99 $(grep -o '"p99_us": [0-9.]*' "$out" | awk '{print $2}') µs"
}
warm() {  # URL BODY: 2 s of load, not recorded
  SERVE_BODY=$WORK/data/body$2.json wrk -t1 -c4 -d2s -s "$LUA" "$1/invocations" >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- environment
# CPU cores the rest of the machine keeps busy, over 3 s.
other_load() {
  local b0 b1; b0=$(busy_ticks); sleep 3; b1=$(busy_ticks)
  awk -v d=$(( b1 - b0 )) -v t="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", d / t / 3}'
}
if (( WAIT_QUIET > 0 )); then
  t0=$SECONDS
  while :; do
    busy=$(other_load)
    awk -v b="$busy" 'BEGIN {exit !(b < 0.3)}' && break
    if (( SECONDS - t0 >= WAIT_QUIET )); then log "the machine is still busy ($busy cores); measuring anyway"; break; fi
    log "the machine is busy ($busy cores in use by other processes); waiting"
    sleep 10
  done
  meta busy_before "$busy cores in use before the start (waited $(( SECONDS - t0 )) s)"
fi
meta nice "$(ps -o ni= $$ | tr -d ' ')"
meta date "$(date -u '+%F %T UTC')"
meta host "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
meta loadavg_before "$(cut -d' ' -f1-3 /proc/loadavg)"
meta mlrepo_version "$("$M" --version 2>/dev/null | head -1), build of $SOURCE_NOTE"
meta mlflow_version "$("$PYTHON" -c 'import mlflow; print(mlflow.__version__)') [$MLFLOW_PKG]"
meta sklearn_version "$("$PYTHON" -c 'import sklearn; print(sklearn.__version__)')"
meta server_stack "$("$PYTHON" -c 'import importlib.metadata as m
out=[]
for p in ("uvicorn","fastapi","starlette","pandas","numpy"):
    try: out.append(p+" "+m.version(p))
    except Exception: pass
print(", ".join(out))')"
meta python_version "$("$PYTHON" -c 'import platform; print(platform.python_version())')"
meta wrk_version "$(wrk -v 2>&1 | head -1 | sed 's/ Copyright.*//')"
meta command "bench/serve.sh${ARGS_GIVEN:+ $ARGS_GIVEN}"
meta duration "$DURATION"
meta soak "$SOAK"
meta clk_tck "$(getconf CLK_TCK)"
log "host: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- data and models
log "generating $ROWS rows x $FEATURES features (+1000 held-out rows)"
"$PYTHON" "$BENCH_SRC/serve_anchor.py" gen "$WORK/data" --rows "$ROWS" --features "$FEATURES" --eval-rows 1000 \
  || die "data generation failed"
meta data "$(cat "$WORK/data/params.json")"
meta body_bytes "1 row: $(stat -c %s "$WORK/data/body1.json") B, 100 rows: $(stat -c %s "$WORK/data/body100.json") B"

log "training mlrepo logistic_regression"
(
  cd "$WORK/repo"
  "$M" init . >/dev/null
  cp "$WORK/data/train.csv" train.csv
  cat >mlrepo.json <<'EOF'
{"stages": {"train": {"train": {"model": "logistic_regression", "data": "train.csv", "label": "y"},
                      "outs": ["model.mlmodel"], "metrics": ["train_metrics.json"]}}}
EOF
  "$M" train --commit -m "serving benchmark model" >"$WORK/train.log" 2>&1
) || die "mlrepo train failed: $(tail -5 "$WORK/train.log")"
meta mlrepo_train "$("$PYTHON" -c "import json; d=json.load(open('$WORK/repo/train_metrics.json')); print('optimizer %s, %s iterations, converged %s, final loss %.6f' % (d['optimizer'], d['iterations'], d['converged'], d['loss_last']))")"

log "training scikit-learn Pipeline(StandardScaler, LogisticRegression) and saving it with mlflow.sklearn.save_model"
FIT=$("$PYTHON" "$BENCH_SRC/serve_anchor.py" fit "$WORK/data" "$WORK/mlflow-model" 2>"$WORK/fit.log") \
  || die "fitting the scikit-learn model failed: $(tail -5 "$WORK/fit.log")"
meta sklearn_fit "$FIT"
meta mlflow_format "$(grep -m1 'serialization_format' "$WORK/mlflow-model/MLmodel" | sed 's/^ *//')"

# ---------------------------------------------------------------- servers, agreement
start_mlrepo main --log /dev/null
meta mlrepo_rss_start_kb "$(tree_rss "$MLREPO_PID")"
start_mlflow main
meta mlflow_rss_start_kb "$(tree_rss "$MLFLOW_PID")"

log "agreement: 1,000 held-out rows through both servers"
"$PYTHON" "$BENCH_SRC/serve_anchor.py" agree "$WORK/data" "$MLREPO_URL" "$MLFLOW_URL" \
  --model-dir "$WORK/mlflow-model" --out "$WORK/agree.json" >/dev/null 2>"$WORK/agree.err" \
  || { log "the agreement check failed: $(tail -3 "$WORK/agree.err")"; echo '{"error": "agreement check failed"}' >"$WORK/agree.json"; }
log "  $(cat "$WORK/agree.json")"

for b in 1 100; do warm "$MLREPO_URL" "$b"; warm "$MLFLOW_URL" "$b"; done

# ---------------------------------------------------------------- main matrix (interleaved)
log "main matrix: ${DURATION} s a run"
for b in 1 100; do
  for load in moderate high; do
    if [[ $load == moderate ]]; then t=1 c=4; else t=2 c=32; fi
    run_wrk "mlrepo-b$b-$load" mlrepo default "$b" "$t" "$c" 0 "$DURATION" "$MLREPO_PID" "$MLREPO_URL"
    run_wrk "mlflow-b$b-$load" mlflow default "$b" "$t" "$c" 0 "$DURATION" "$MLFLOW_PID" "$MLFLOW_URL"
  done
done
log "paced load: -t1 -c4, 1 ms between an answer and the next request"
run_wrk mlrepo-b1-paced mlrepo default 1 1 4 1 "$DURATION" "$MLREPO_PID" "$MLREPO_URL"
run_wrk mlflow-b1-paced mlflow default 1 1 4 1 "$DURATION" "$MLFLOW_PID" "$MLFLOW_URL"
meta mlrepo_rss_after_matrix_kb "$(tree_rss "$MLREPO_PID")"
meta mlflow_rss_after_matrix_kb "$(tree_rss "$MLFLOW_PID")"
meta mlflow_procs_main "$(tree_ps "$MLFLOW_PID")"
stop_mlflow

# ---------------------------------------------------------------- soak
if (( SOAK > 0 )); then
  log "soak: mlrepo, 1-row body, -t1 -c4, $SOAK s, VmRSS every 5 s"
  (
    i=0
    while (( i * 5 <= SOAK )); do
      printf '%d\t%s\n' $(( i * 5 )) "$(awk '/^VmRSS:/ {print $2}' /proc/"$MLREPO_PID"/status 2>/dev/null || echo -)" >>"$SOAKF"
      i=$(( i + 1 ))
      (( i * 5 <= SOAK )) && sleep 5
    done
  ) &
  SAMPLER=$!
  run_wrk mlrepo-soak mlrepo default 1 1 4 0 "$SOAK" "$MLREPO_PID" "$MLREPO_URL"
  wait "$SAMPLER" || true
  meta mlrepo_rss_after_soak_kb "$(tree_rss "$MLREPO_PID")"
fi
meta mlrepo_metrics_rows "$(curl -s "$MLREPO_URL/metrics" | awk '/^mlrepo_rows_scored_total/ {s += $NF} END {printf "%d", s}')"
stop_mlrepo main

# ---------------------------------------------------------------- supplementary rows
if (( MLFLOW_W > 0 )); then
  log "MLflow with --workers $MLFLOW_W"
  start_mlflow "w$MLFLOW_W" --workers "$MLFLOW_W"
  warm "$MLFLOW_URL" 1; warm "$MLFLOW_URL" 1
  run_wrk "mlflow-w$MLFLOW_W-b1-moderate" mlflow "workers $MLFLOW_W" 1 1 4 0 "$DURATION" "$MLFLOW_PID" "$MLFLOW_URL"
  run_wrk "mlflow-w$MLFLOW_W-b1-high" mlflow "workers $MLFLOW_W" 1 2 32 0 "$DURATION" "$MLFLOW_PID" "$MLFLOW_URL"
  meta "mlflow_rss_w${MLFLOW_W}_kb" "$(tree_rss "$MLFLOW_PID")"
  meta "mlflow_procs_w$MLFLOW_W" "$(tree_ps "$MLFLOW_PID")"
  stop_mlflow
fi

log "mlrepo with --workers 1"
start_mlrepo w1 --workers 1 --log /dev/null
warm "$MLREPO_URL" 1
run_wrk mlrepo-w1-b1-moderate mlrepo "workers 1" 1 1 4 0 "$DURATION" "$MLREPO_PID" "$MLREPO_URL"
run_wrk mlrepo-w1-b1-high mlrepo "workers 1" 1 2 32 0 "$DURATION" "$MLREPO_PID" "$MLREPO_URL"
run_wrk mlrepo-w1-b1-paced mlrepo "workers 1" 1 1 4 1 "$DURATION" "$MLREPO_PID" "$MLREPO_URL"
stop_mlrepo w1

log "mlrepo with the access log written to a file"
ACCESS=$WORK/access.log
start_mlrepo logfile --log "$ACCESS"
warm "$MLREPO_URL" 1
L0=$(wc -l <"$ACCESS")
run_wrk mlrepo-log-b1-moderate mlrepo "log to file" 1 1 4 0 "$DURATION" "$MLREPO_PID" "$MLREPO_URL"
stop_mlrepo logfile
meta access_log "$(( $(wc -l <"$ACCESS") - L0 )) lines, $(stat -c %s "$ACCESS") bytes in all; last line: $(tail -1 "$ACCESS" | cut -c1-200)"

meta loadavg_after "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- report
mkdir -p "$(dirname "$OUT")"
"$PYTHON" "$BENCH_SRC/serve_report.py" "$WORK" >"$OUT" || die "the report failed"
cat "$OUT"
log "report: $OUT (raw: $WORK)"
