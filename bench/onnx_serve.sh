#!/usr/bin/env bash
# ONNX models: `mlrepo serve` against `mlflow models serve` (MLflow's onnx flavor, which runs
# onnxruntime), and mlrepo's model execution alone against onnxruntime called in-process from
# Python, side by side in the same run, on the same data and the same two models:
#   lgbm.onnx  LightGBM, 100 trees, exported with onnxmltools
#   mlp.onnx   PyTorch MLP 100 -> 128 -> 2, exported with torch.onnx.export
#
# usage: bench/onnx_serve.sh [--duration S] [--exec-seconds S] [--no-build] [--out FILE]
#   --duration S       seconds per wrk run (default 8)
#   --exec-seconds S   seconds per execution-only measurement (default 3)
#   --no-build         use the existing release binaries (.build/release/mlrepo, mlrepo-bench)
#   --out FILE         Markdown report (default bench/results/onnx_serve.md)
# env: MLREPO, MLREPO_BENCH (binaries), BENCH_DIR (scratch root, default /tmp),
#      BENCH_VENV (a venv with mlflow and onnxruntime; default $BENCH_DIR/mlrepo-bench-venv,
#      created with `pip install mlflow onnxruntime onnx` when missing).
# The exporting interpreter (python3 on the PATH) needs lightgbm, onnxmltools, torch, onnx,
# onnxruntime (pip install lightgbm onnxmltools torch onnx onnxruntime).
#
# What it measures, per model:
#   1. execution alone: rows/s at batch 1 and batch 10,000, mlrepo (mlrepo-bench onnx,
#      CPUBackend with 1 or 2 threads) against onnxruntime's InferenceSession.run from Python
#      (intra_op_num_threads 1 or 2), same rows;
#   2. agreement: 1,000 rows through mlrepo serve against onnxruntime in-process;
#   3. serving: wrk POSTs a 1-row and a 100-row body ({"inputs": rows}, MLflow's tensor form) at concurrency 1, 4 and
#      32 to each server in turn (mlrepo serve with its default workers, MLflow with its
#      default single worker), requests/s and latency percentiles, errors.
# The client shares the 2-core machine with the servers; the figures say so.
set -euo pipefail

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_SRC/.." && pwd)
DURATION=8 EXEC_S=3 BUILD=1
OUT=$BENCH_SRC/results/onnx_serve.md
while (( $# )); do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --exec-seconds) EXEC_S=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "onnx_serve.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case $OUT in /*) ;; *) OUT="$PWD/$OUT" ;; esac
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
command -v wrk >/dev/null || die "needs wrk (apt-get install wrk)"
command -v curl >/dev/null || die "needs curl"
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
"$PYTHON" -c 'import lightgbm, onnxmltools, torch, onnx, onnxruntime' 2>/dev/null \
  || die "python3 needs lightgbm onnxmltools torch onnx onnxruntime (pip install ...)"

SCRATCH=${BENCH_DIR:-/tmp}
WORK=$SCRATCH/mlrepo-bench-onnx
VENV=${BENCH_VENV:-$SCRATCH/mlrepo-bench-venv}
if [[ ! -x $VENV/bin/mlflow ]]; then
  log "creating the MLflow venv at $VENV (pip install mlflow onnxruntime onnx)"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q mlflow onnxruntime onnx >&2 || die "could not install mlflow into $VENV"
fi
VPY=$VENV/bin/python

if (( BUILD )); then
  log "building mlrepo and mlrepo-bench (release)"
  (cd "$ROOT" && swift build -c release --product mlrepo >/tmp/mlrepo-onnx-build.log 2>&1 \
    && swift build -c release --product mlrepo-bench >>/tmp/mlrepo-onnx-build.log 2>&1) || die "build failed: see /tmp/mlrepo-onnx-build.log"
fi
M=${MLREPO:-$ROOT/.build/release/mlrepo}
MB=${MLREPO_BENCH:-$ROOT/.build/release/mlrepo-bench}
[[ -x $M && -x $MB ]] || die "no release binaries at $M and $MB"

rm -rf "$WORK"; mkdir -p "$WORK/wrk"
RES=$WORK/results.jsonl
: >"$RES"
rec() { echo "$1" >>"$RES"; }
log "data and models"
"$PYTHON" "$BENCH_SRC/onnx_models.py" gen "$WORK" || die "data generation failed"
"$PYTHON" "$BENCH_SRC/onnx_models.py" export "$WORK" >"$WORK/export.json" 2>"$WORK/export.log" || die "export failed: $(tail -3 "$WORK/export.log")"
"$VPY" "$BENCH_SRC/onnx_models.py" mlflow "$WORK" 2>"$WORK/mlflow-save.log" || die "mlflow.onnx.save_model failed: $(tail -3 "$WORK/mlflow-save.log")"

rec "$(printf '{"kind":"meta","date":"%s","host":"%s","mlrepo":"%s","commit":"%s","onnxruntime":"%s","mlflow":"%s","duration":%s}' \
  "$(date -u '+%F %T UTC')" "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" \
  "$("$M" --version | head -1)" "$(git -C "$ROOT" rev-parse --short HEAD)" \
  "$("$PYTHON" -c 'import onnxruntime; print(onnxruntime.__version__)')" \
  "$("$VPY" -c 'import mlflow; print(mlflow.__version__)')" "$DURATION")"

# ---------------------------------------------------------------- execution alone
for model in lgbm mlp; do
  for spec in "1 1" "10000 1" "10000 2"; do
    set -- $spec
    log "execution: $model batch $1, $2 thread(s)"
    r=$("$MB" onnx "$WORK/$model.onnx" "$WORK/eval.f32" 100 "$1" "$2" "$EXEC_S") || die "mlrepo-bench onnx failed on $model"
    rec "{\"kind\":\"exec\",\"engine\":\"mlrepo\",\"r\":$r}"
    r=$("$PYTHON" "$BENCH_SRC/onnx_models.py" ort "$WORK" "$model.onnx" --batch "$1" --threads "$2" --seconds "$EXEC_S")
    rec "{\"kind\":\"exec\",\"engine\":\"onnxruntime\",\"r\":$r}"
  done
done

# ---------------------------------------------------------------- serving
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_ping() { local t0=$SECONDS; until curl -sf --max-time 2 "$1/ping" >/dev/null 2>&1; do (( SECONDS - t0 < 180 )) || return 1; sleep 0.3; done; }
run_wrk() {  # LABEL URL BODY CONNS
  local t=1; (( $4 >= 8 )) && t=2
  SERVE_BODY=$WORK/body$3.json wrk -t"$t" -c"$4" -d"${DURATION}s" --timeout 10s --latency -s "$BENCH_SRC/serve_post.lua" \
    "$2/invocations" >"$WORK/wrk/$1.txt" 2>&1 || true
  local j; j=$(grep -o 'WRKJSON .*' "$WORK/wrk/$1.txt" | sed 's/^WRKJSON //')
  [[ -n $j ]] || j='{"requests":0}'
  rec "{\"kind\":\"serve\",\"label\":\"$1\",\"body\":$3,\"conns\":$4,\"r\":$j}"
  log "  $1: $(grep -o 'Requests/sec: *[0-9.]*' "$WORK/wrk/$1.txt" || echo 'no result')"
}
for model in lgbm mlp; do
  port=$(free_port)
  setsid "$M" serve "$WORK/$model.onnx" --port "$port" --log /dev/null >"$WORK/mlrepo-$model.log" 2>&1 &
  MP=$!; PIDS+=("$MP")
  port2=$(free_port)
  # mlflow starts uvicorn by name: the venv's bin must come first on the PATH.
  PATH="$VENV/bin:$PATH" MLFLOW_DISABLE_TELEMETRY=1 setsid "$VENV/bin/mlflow" models serve -m "$WORK/mlflow-$model" --env-manager local -h 127.0.0.1 -p "$port2" \
    >"$WORK/mlflow-$model.log" 2>&1 &
  FP=$!; PIDS+=("$FP")
  wait_ping "http://127.0.0.1:$port" || die "mlrepo serve $model did not start: $(tail -3 "$WORK/mlrepo-$model.log")"
  wait_ping "http://127.0.0.1:$port2" || die "mlflow serve $model did not start: $(tail -5 "$WORK/mlflow-$model.log")"
  a=$("$PYTHON" "$BENCH_SRC/onnx_models.py" agree "$WORK" "$model.onnx" "http://127.0.0.1:$port" 2>"$WORK/agree.err") || a='{"error":"agreement check failed"}'
  rec "{\"kind\":\"agree\",\"model\":\"$model\",\"r\":$a}"
  log "agreement $model: $a"
  for b in 1 100; do
    SERVE_BODY=$WORK/body$b.json wrk -t1 -c4 -d2s -s "$BENCH_SRC/serve_post.lua" "http://127.0.0.1:$port/invocations" >/dev/null 2>&1 || true
    SERVE_BODY=$WORK/body$b.json wrk -t1 -c4 -d2s -s "$BENCH_SRC/serve_post.lua" "http://127.0.0.1:$port2/invocations" >/dev/null 2>&1 || true
    for c in 1 4 32; do
      run_wrk "mlrepo-$model-b$b-c$c" "http://127.0.0.1:$port" "$b" "$c"
      run_wrk "mlflow-$model-b$b-c$c" "http://127.0.0.1:$port2" "$b" "$c"
    done
  done
  kill -TERM -- "-$MP" 2>/dev/null || true; kill -TERM -- "-$FP" 2>/dev/null || true
  wait "$MP" 2>/dev/null || true; wait "$FP" 2>/dev/null || true
done

"$PYTHON" "$BENCH_SRC/onnx_report.py" "$RES" >"$OUT" || die "report failed"
log "report: $OUT"
cat "$OUT"
