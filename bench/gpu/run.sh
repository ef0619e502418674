#!/usr/bin/env bash
# The GPU proof in one run (issue 18): `mlrepo doctor --gpu`, then mlrepo's GPU training of
# logistic regression and the MLP (100→128→2, Adam) at batch 256 and 4096 on generated
# 1M×100 data, each trained twice (bit-identity), side by side with PyTorch eager on the same
# GPU, and a results table (bench/results/gpu.md). Under 8 minutes on an H100.
#
# usage: bench/gpu/run.sh --prepare           build the binary HERE (bench/gpu/prepare.sh)
#        bash bench/gpu/run.sh [options]      on the device machine (no Swift, no network)
#   --quick            smoke test: 100,000 rows, 10,000 test rows, 1 epoch
#   --backend B        gpu (default) or cpu: mlrepo --backend cpu and PyTorch on the CPU, to
#                      test this script on a machine without a GPU
#   --rows N           training rows (default 1000000)
#   --test-rows T      held-out rows (default 100000)
#   --epochs E         epochs (default 5)
#   --budget S         seconds for all steps together (default 420); a step that would not
#                      fit is skipped and the report says so
#   --no-compile       skip the optional torch.compile rows
#   --no-cpu-ref       skip the optional mlrepo CPU run of the MLP at batch 4096
#   --out FILE         the report (default bench/results/gpu.md; with --backend cpu:
#                      bench/results/tmp/gpu-cpu.md, so no CPU run is taken for a GPU result)
# env: MLREPO (binary; default .device/bin/mlrepo, from --prepare), BENCH_DIR (scratch root on
#      local disk, default /tmp), PYTHON (default python3). Where the device tool's $OUT is a
#      folder, the report, the raw results and the log are copied into it.
#
# On the device tool: run(command="bash bench/gpu/run.sh", carry=[".device"], timeout_s=480).
# Every step runs under `timeout`; a failed step is noted in the report and the rest go on.
set -euo pipefail

GPU_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$GPU_SRC/../.." && pwd)
ROWS=1000000 TEST_ROWS=100000 EPOCHS=5 BUDGET=420 BACKEND=gpu COMPILE=1 CPUREF=1 QUICK=0 REPORT=""
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (( $# )); do
  case $1 in
    --prepare) exec bash "$GPU_SRC/prepare.sh" ;;
    --quick) QUICK=1 ROWS=100000 TEST_ROWS=10000 EPOCHS=1; shift ;;
    --backend) BACKEND=${2:-}; shift 2 ;;
    --rows) ROWS=${2:-}; shift 2 ;;
    --test-rows) TEST_ROWS=${2:-}; shift 2 ;;
    --epochs) EPOCHS=${2:-}; shift 2 ;;
    --budget) BUDGET=${2:-}; shift 2 ;;
    --no-compile) COMPILE=0; shift ;;
    --no-cpu-ref) CPUREF=0; shift ;;
    --out) REPORT=${2:-}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
[[ $BACKEND == gpu || $BACKEND == cpu ]] || { echo "run.sh: --backend takes gpu or cpu" >&2; exit 2; }
for v in ROWS TEST_ROWS EPOCHS BUDGET; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: ${v,,} takes a positive integer" >&2; exit 2; }
done
(( ROWS >= 1000 )) || { echo "run.sh: --rows must be at least 1000" >&2; exit 2; }
if [[ -z $REPORT ]]; then
  if [[ $BACKEND == gpu ]]; then REPORT=$ROOT/bench/results/gpu.md; else REPORT=$ROOT/bench/results/tmp/gpu-cpu.md; fi
fi
case $REPORT in /*) ;; *) REPORT="$PWD/$REPORT" ;; esac
[[ $BACKEND == cpu ]] && CPUREF=0   # the CPU run is the run

# The Python that has PyTorch (and numpy): $PYTHON, else the first of python3, python that does.
if [[ -z ${PYTHON:-} ]]; then
  PYTHON=python3
  for p in python3 python; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch, numpy' 2>/dev/null; then PYTHON=$p; break; fi
  done
fi
M=${MLREPO:-$ROOT/.device/bin/mlrepo}
case $M in /*) ;; *) M="$PWD/$M" ;; esac
SCRATCH=${BENCH_DIR:-/tmp}
WORK=$SCRATCH/mlrepo-gpu-bench
DATA=$SCRATCH/mlrepo-gpu-bench-data/r$ROWS-t$TEST_ROWS
rm -rf "$WORK"; mkdir -p "$WORK/mlrepo" "$WORK/torch" "$WORK/meta"
LOG=$WORK/run.log STEPS=$WORK/steps.tsv
: >"$LOG"; : >"$STEPS"
START=$(date +%s)
DEADLINE=$(( START + BUDGET ))

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$LOG" >&2; }
meta() { printf '%s' "$2" >"$WORK/meta/$1.txt"; }
now_ns() { date +%s%N; }
secs() { awk -v s="$1" -v e="$2" 'BEGIN{printf "%.3f", (e-s)/1e9}'; }

# step NAME LIMIT OUTFILE CMD...: runs CMD under timeout (LIMIT s, less if the budget has less
# left), stdout to OUTFILE, stderr to the log. Writes OUTFILE.rc and OUTFILE.wall and a line in
# steps.tsv (name, status, seconds, the last stderr line of a failure); stderr goes to
# OUTFILE.err and the log. Never fails: sets RC and WALL. A step that cannot get at
# least 5 s of the budget is skipped (RC=skipped).
RC=0 WALL=0
step() {
  local name=$1 limit=$2 outf=$3; shift 3
  local left=$(( DEADLINE - $(date +%s) ))
  if (( left < 5 )); then
    RC=skipped WALL=0
    printf '%s\tskipped (time budget spent)\t0\n' "$name" >>"$STEPS"
    echo skipped >"$outf.rc"; log "SKIP $name: the ${BUDGET}s budget is spent"
    return 0
  fi
  (( limit > left )) && limit=$left
  log "RUN  $name (limit ${limit}s): $*"
  echo "== $name: $*" >>"$LOG"
  local s e rc=0
  s=$(now_ns)
  timeout --kill-after=5 "$limit" "$@" >"$outf" 2>"$outf.err" || rc=$?
  e=$(now_ns)
  cat "$outf.err" >>"$LOG"
  WALL=$(secs "$s" "$e") RC=$rc
  echo "$rc" >"$outf.rc"; echo "$WALL" >"$outf.wall"
  local status=ok why=""
  if (( rc == 124 || rc == 137 )); then status="timed out after ${limit}s"
  elif (( rc != 0 )); then status="failed (exit $rc)"; fi
  # A failure's reason: the last line it wrote to stderr (one line, no tabs, 300 bytes).
  if (( rc != 0 )); then why=$( { grep -v '^[[:space:]]*$' "$outf.err" || true; } | tail -1 | tr '\t' ' ' | cut -c1-300); fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$WALL" "$why" >>"$STEPS"
  log "     $name: $status, ${WALL}s"
  return 0
}

# ---------------------------------------------------------------- 1. the machine
log "bench/gpu/run.sh: backend $BACKEND, rows $ROWS, test rows $TEST_ROWS, epochs $EPOCHS, budget ${BUDGET}s, work $WORK"
meta params "backend=$BACKEND rows=$ROWS test_rows=$TEST_ROWS epochs=$EPOCHS budget=${BUDGET}s quick=$QUICK"
meta date "$(date -u '+%F %T UTC')"
meta host "$(uname -srm); $(nproc) cores; $(awk '/MemTotal/{printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo); CPU $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
if command -v nvidia-smi >/dev/null; then
  timeout 30 nvidia-smi >"$WORK/nvidia-smi.txt" 2>&1 || true
  meta gpu "$(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null | head -1)"
  cat "$WORK/nvidia-smi.txt" >&2
else
  echo "no nvidia-smi on this machine" >"$WORK/nvidia-smi.txt"; meta gpu "none (no nvidia-smi)"
fi
if [[ -f $ROOT/.device/build-info.txt && -z ${MLREPO:-} ]]; then meta build "$(tr '\n' ' ' <"$ROOT/.device/build-info.txt")"; fi
HAVE_M=0
if [[ -x $M ]]; then
  HAVE_M=1
  ldd "$M" >"$WORK/ldd.txt" 2>&1 || true
  if grep -q 'not found' "$WORK/ldd.txt" && [[ -d $ROOT/.device/lib ]]; then
    export LD_LIBRARY_PATH=$ROOT/.device/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    log "ldd: a library is missing here; using the copies in .device/lib"
    ldd "$M" >>"$WORK/ldd.txt" 2>&1 || true
  fi
  cat "$WORK/ldd.txt" >&2
  grep -qiE 'libcuda|libnvrtc|libcublas|libcudart' "$WORK/ldd.txt" && meta ldd "links a CUDA library (it must not)" || meta ldd "no CUDA library linked"
  meta version_mlrepo "$("$M" --version 2>&1 | head -1) (binary sha256 $(sha256sum "$M" | cut -c1-12), $(du -h "$M" | cut -f1))"
else
  log "no mlrepo binary at $M (build it here with: bench/gpu/run.sh --prepare; carry .device)"
  meta version_mlrepo "MISSING: no binary at $M"
fi
meta version_python "$("$PYTHON" -c 'import sys; print("python " + sys.version.split()[0])' 2>&1 | head -1); $("$PYTHON" -c 'import numpy; print("numpy " + numpy.__version__)' 2>&1 | tail -1); $("$PYTHON" -c 'import torch; print("torch %s (CUDA %s)" % (torch.__version__, torch.version.cuda))' 2>&1 | tail -1)"
# Where CUDA's libraries are (what mlrepo's search will find), for the record.
{
  echo "MLREPO_CUDA_LIBS=${MLREPO_CUDA_LIBS:-} CUDA_HOME=${CUDA_HOME:-} LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  ldconfig -p 2>/dev/null | grep -E 'libcuda\.so\.1|libnvrtc\.so|libcublas\.so' || true
  ls -d /usr/local/cuda*/lib64/libnvrtc.so* 2>/dev/null || true
  "$PYTHON" - <<'PY' 2>/dev/null || true
import glob, site, sys
roots = set(site.getsitepackages() + [site.getusersitepackages()] + [p for p in sys.path if p.endswith("site-packages")])
for r in sorted(roots):
    for f in sorted(glob.glob(r + "/nvidia/*/lib/lib*.so*")):
        if any(k in f for k in ("nvrtc", "cublas.so", "cudart")):
            print(f)
PY
} >"$WORK/cuda-libs.txt" 2>&1
log "CUDA libraries seen:"; cat "$WORK/cuda-libs.txt" >&2
# mlrepo searches the usual site-packages itself; a Python elsewhere (a conda base without
# CONDA_PREFIX, a custom prefix) is covered by naming the folders of NVRTC this Python sees.
if [[ -z ${MLREPO_CUDA_LIBS:-} ]]; then
  nvlibs=$(grep -E '/libnvrtc\.so' "$WORK/cuda-libs.txt" | grep '/nvidia/' | xargs -r -n1 dirname | sort -u | paste -sd: -)
  if [[ -n $nvlibs ]]; then export MLREPO_CUDA_LIBS=$nvlibs; log "MLREPO_CUDA_LIBS=$nvlibs"; meta cuda_libs "$nvlibs"; fi
fi

# doctor --gpu: the conformance suite from the binary itself. Its exit code is recorded, not
# fatal.
if (( HAVE_M )); then
  # stderr too: the reason it fails is the point.
  step doctor 90 "$WORK/doctor.txt" sh -c 'exec "$0" doctor --gpu 2>&1' "$M"
  cat "$WORK/doctor.txt" >&2
fi

# ---------------------------------------------------------------- 2. data
if "$PYTHON" -c "import json,sys; p=json.load(open('$DATA/params.json')); sys.exit(not (p['rows']==$ROWS and p['test_rows']==$TEST_ROWS and p['features']==100))" 2>/dev/null \
   && [[ -s $DATA/train.csv && -s $DATA/test_y.npy ]]; then
  log "data: reusing $DATA"
  printf 'data\treused\t0\n' >>"$STEPS"
else
  rm -rf "$DATA"; mkdir -p "$DATA"
  step data 200 "$WORK/data.json" "$PYTHON" "$GPU_SRC/gen_data.py" "$DATA" --rows "$ROWS" --test-rows "$TEST_ROWS"
fi
cp "$DATA/params.json" "$WORK/data-params.json" 2>/dev/null || true

# ---------------------------------------------------------------- 3. mlrepo
MODELS="logreg mlp"
BATCHES="256 4096"
REPO=$WORK/repo
MLREADY=0
stage_json() {  # NAME MODEL BATCH
  local p
  if [[ $2 == logreg ]]; then
    p="\"optimizer\": \"adam\", \"epochs\": $EPOCHS, \"batch_size\": $3, \"learning_rate\": 0.01, \"early_stopping\": false"
    printf ' "%s": {"train": {"model": "logistic_regression", "data": "train.csv", "label": "y", "params": {%s}, "seed": 0}, "outs": ["%s.mlmodel"], "metrics": ["%s.json"]}' "$1" "$p" "$1" "$1"
  else
    p="\"hidden_layers\": [128], \"optimizer\": \"adam\", \"epochs\": $EPOCHS, \"batch_size\": $3, \"learning_rate\": 0.001, \"early_stopping\": false"
    printf ' "%s": {"train": {"model": "mlp_classifier", "data": "train.csv", "label": "y", "params": {%s}, "seed": 0}, "outs": ["%s.mlmodel"], "metrics": ["%s.json"]}' "$1" "$p" "$1" "$1"
  fi
}
if (( HAVE_M )) && [[ -s $DATA/train.csv ]]; then
  mkdir -p "$REPO"; cd "$REPO"
  "$M" init . >>"$LOG" 2>&1 || log "mlrepo init failed"
  ln "$DATA/train.csv" train.csv 2>/dev/null || cp "$DATA/train.csv" train.csv
  ln "$DATA/test.csv" test.csv 2>/dev/null || cp "$DATA/test.csv" test.csv
  # Two stages per configuration (r1, r2: the same definition under two names, so each run
  # has its own model file and lineage record), and the CPU reference.
  {
    echo '{"stages": {'
    sep=""
    for model in $MODELS; do for b in $BATCHES; do for r in 1 2; do
      printf '%s' "$sep"; stage_json "${model}_b${b}_r$r" "$model" "$b"; sep=$',\n'
    done; done; done
    printf '%s' "$sep"; stage_json "mlp_b4096_cpu" mlp 4096
    printf '\n}}\n'
  } >mlrepo.json
  # Staged once, untimed in the train rows: afterwards a stage's inputs whose stat data match
  # the index are not hashed again.
  step add 150 "$WORK/add.txt" "$M" add train.csv test.csv mlrepo.json

  # train STAGE BACKEND: one `mlrepo train`, then its lineage (phases) and the model's hash.
  train() {
    local stage=$1 be=$2 o=$WORK/mlrepo/$1
    step "train $stage ($be)" 120 "$o.train.json" "$M" train "$stage" --backend "$be" --json
    if [[ $RC == 0 ]]; then
      "$M" lineage "$stage.mlmodel" --json >"$o.lineage.json" 2>>"$LOG" || true
      sha256sum "$stage.mlmodel" | cut -c1-64 >"$o.sha256"
      cp "$stage.mlmodel" "$o.mlmodel" 2>/dev/null || true
    fi
  }
  evaluate() {  # STAGE BACKEND
    local stage=$1 be=$2 o=$WORK/mlrepo/$1
    [[ -f $stage.mlmodel ]] || return 0
    step "eval $stage ($be)" 90 "$o.eval.json" "$M" eval --model "$stage.mlmodel" --data test.csv --backend "$be" --json
  }
  MLREADY=1
  cd "$ROOT"
else
  log "mlrepo rows skipped: $( (( HAVE_M )) || echo 'no binary' ) $( [[ -s $DATA/train.csv ]] || echo 'no data' )"
  printf 'mlrepo\tskipped (no binary or no data)\t0\n' >>"$STEPS"
fi

# ---------------------------------------------------------------- 3 + 4. mlrepo and PyTorch
# One configuration at a time, the MLP first: mlrepo twice (bit-identity), its test accuracy,
# then PyTorch eager (one process: import, CUDA context, load, warm-up, two timed loops). If
# the budget runs out, the configurations done are complete rows.
TDEV=cuda; TTHREADS=0
if [[ $BACKEND == cpu ]]; then TDEV=cpu; TTHREADS=$(nproc); fi
for c in mlp:256 mlp:4096 logreg:256 logreg:4096; do
  model=${c%:*} b=${c#*:}
  if (( MLREADY )); then
    cd "$REPO"
    train "${model}_b${b}_r1" "$BACKEND"
    train "${model}_b${b}_r2" "$BACKEND"
    evaluate "${model}_b${b}_r1" "$BACKEND"
    cd "$ROOT"
  fi
  if [[ -s $DATA/train_x.npy ]]; then
    step "pytorch $model b$b ($TDEV)" 120 "$WORK/torch/${model}_b$b.json" \
      "$PYTHON" "$GPU_SRC/torch_baseline.py" "$DATA" --model "$model" --batch "$b" --epochs "$EPOCHS" --device "$TDEV" --threads "$TTHREADS"
  fi
done

# PyTorch's FP32 GEMM rate at the MLP's shapes: the reference for mlrepo's GEMM (whose own
# timings are in the doctor table).
step "pytorch gemm rates ($TDEV)" 60 "$WORK/torch/gemm.json" "$PYTHON" "$GPU_SRC/torch_baseline.py" --gemm --device "$TDEV"

# ---------------------------------------------------------------- optional rows
# The MLP at batch 4096 on the CPU backend, for reference (all cores).
if (( CPUREF && MLREADY )); then
  if (( DEADLINE - $(date +%s) >= 60 )); then
    cd "$REPO"; train mlp_b4096_cpu cpu; evaluate mlp_b4096_cpu cpu; cd "$ROOT"
  else
    printf 'train mlp_b4096_cpu (cpu)\tskipped (optional; under 60 s of budget left)\t0\n' >>"$STEPS"
  fi
fi
# torch.compile (optional: labelled separately; the goals are against eager).
if (( COMPILE )) && [[ -s $DATA/train_x.npy ]]; then
  for model in $MODELS; do for b in $BATCHES; do
    if (( DEADLINE - $(date +%s) >= 45 )); then
      step "pytorch-compile $model b$b ($TDEV)" 120 "$WORK/torch/${model}_b${b}_compile.json" \
        "$PYTHON" "$GPU_SRC/torch_baseline.py" "$DATA" --model "$model" --batch "$b" --epochs "$EPOCHS" --device "$TDEV" --threads "$TTHREADS" --compile
    else
      printf 'pytorch-compile %s b%s\tskipped (optional; under 45 s of budget left)\t0\n' "$model" "$b" >>"$STEPS"
    fi
  done; done
fi

# ---------------------------------------------------------------- 5. report
meta total_s "$(( $(date +%s) - START ))"
mkdir -p "$(dirname "$REPORT")"
if "$PYTHON" "$GPU_SRC/report.py" "$WORK" >"$REPORT.tmp" 2>>"$LOG"; then
  mv "$REPORT.tmp" "$REPORT"
else
  log "report.py failed; the raw results are in $WORK"
  { echo "# GPU benchmark: report.py failed"; echo; echo '```'; cat "$STEPS"; echo '```'; } >"$REPORT"
  rm -f "$REPORT.tmp"
fi
cat "$REPORT"
log "report: $REPORT (raw results, outputs and log: $WORK)"
# The device tool returns what is written under $OUT.
if [[ -n ${OUT:-} && -d ${OUT:-} && -w ${OUT:-} ]]; then
  cp "$REPORT" "$OUT/" 2>/dev/null || true
  tar -C "$WORK" --exclude='repo' --exclude='*.mlmodel' -czf "$OUT/gpu-bench-raw.tar.gz" . 2>/dev/null || true
  cp "$WORK"/mlrepo/*.mlmodel "$OUT/" 2>/dev/null || true
  log "copied the report and the raw results into \$OUT ($OUT)"
fi
