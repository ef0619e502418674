#!/usr/bin/env bash
# `mlrepo ui` against `mlflow ui` on the same history: server time per page and time until the
# experiment table is visible in headless Chromium.
#
# usage: bench/ui.sh [--commits N] [--requests R] [--cold K] [--out FILE] [--no-mlflow]
#   --commits N    commits in the mlrepo history = runs in MLflow (default 10000)
#   --requests R   timed requests per page (default 50; 3 warm-up requests before them)
#   --cold K       cold browser loads per tool (default 5, alternating tools)
#   --out FILE     Markdown report (default bench/results/ui.md; raw JSON next to it)
#   --no-mlflow    measure mlrepo only
# env: MLREPO (default .build/release/mlrepo), BENCH_DIR (scratch root, default /tmp; the
#      repository and MLflow's database are cached in $BENCH_DIR/mlrepo-bench-ui and reused
#      while their generator version matches), MLFLOW_VENV (default /work/benchvenv: bin/python
#      and bin/mlflow), CHROMIUM, CHROMEDRIVER. Needs python3 with selenium, chromium,
#      chromium-driver (the browser tests' tools) and MLflow in MLFLOW_VENV.
set -euo pipefail

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_SRC/.." && pwd); export ROOT
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$BENCH_SRC/lib.sh"

N=10000 REQS=50 COLD=5 MLFLOW=1
OUT=$BENCH_SRC/results/ui.md
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (( $# )); do
  case $1 in
    --commits)   N=$2; shift 2 ;;
    --requests)  REQS=$2; shift 2 ;;
    --cold)      COLD=$2; shift 2 ;;
    --out)       OUT=$2; shift 2 ;;
    --no-mlflow) MLFLOW=0; shift ;;
    -h|--help)   usage 0 ;;
    *) echo "ui.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
[[ $N =~ ^[0-9]+$ && $N -ge 200 && $REQS =~ ^[1-9][0-9]*$ && $COLD =~ ^[1-9][0-9]*$ ]] \
  || die "--commits takes a number >= 200; --requests and --cold positive integers"
case $OUT in /*) ;; *) OUT="$PWD/$OUT" ;; esac

resolve_mlrepo
[[ -x $MLREPO_BIN ]] || die "no mlrepo executable at $MLREPO_BIN (swift build -c release --product mlrepo, or set MLREPO=...)"
VENV=${MLFLOW_VENV:-/work/benchvenv}
python3 -c 'import selenium.webdriver' 2>/dev/null || die "python3 has no selenium (python3 -m pip install selenium)"
[[ -x ${CHROMIUM:-/usr/bin/chromium} && -x ${CHROMEDRIVER:-/usr/bin/chromedriver} ]] || die "needs chromium and chromedriver (apt-get install chromium chromium-driver)"
if (( MLFLOW )); then
  [[ -x $VENV/bin/python && -x $VENV/bin/mlflow ]] || die "no MLflow at $VENV (set MLFLOW_VENV, or --no-mlflow)"
fi
export MLREPO_FSYNC=0 MLREPO_NO_PROGRESS=1

WORK=${BENCH_DIR:-/tmp}/mlrepo-bench-ui
ML=$WORK/ml-$N DB=$WORK/mlflow-$N.db LOG=$WORK/run.log
mkdir -p "$WORK"
: >"$LOG"
# The generators' version (DATA_VERSION in ui_gen.py): the caches are rebuilt when it changes.
GEN_VERSION=$(grep -m1 '^DATA_VERSION' "$BENCH_SRC/ui_gen.py" | tr -dc '0-9')-$N
MLF_VERSION=$GEN_VERSION

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PIDS=()
# Servers run in their own process groups (mlflow ui starts uvicorn and a job runner).
# TERM, then KILL whatever of a group is left after 5 s.
cleanup() {
  local p i
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for i in $(seq 50); do kill -0 -- "-$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

# ---------------------------------------------------------------- the two stores
gen_mlflow() {
  if [[ $(cat "$DB.ok" 2>/dev/null) == "$MLF_VERSION" ]]; then log "MLflow: reusing $DB"; return; fi
  rm -f "$DB" "$DB.ok"
  log "MLflow: importing $N runs into $DB (log: $WORK/mlflow.log)"
  "$VENV/bin/python" "$BENCH_SRC/ui_mlflow.py" --db "$DB" --commits "$N" >"$WORK/mlflow.exp" 2>"$WORK/mlflow.log" \
    || die "MLflow import failed (see $WORK/mlflow.log)"
  echo "$MLF_VERSION" >"$DB.ok"
}
gen_mlrepo() {
  if [[ $(cat "$ML.ok" 2>/dev/null) == "$GEN_VERSION" ]]; then log "mlrepo: reusing $ML"; return; fi
  rm_repo "$ML"; rm -f "$ML.ok"; mkdir -p "$ML"
  log "mlrepo: building $N commits in $ML (log: $WORK/gen.log)"
  python3 "$BENCH_SRC/ui_gen.py" --mlrepo "$MLREPO_BIN" --repo "$ML" --commits "$N" >"$WORK/gen.log" 2>&1 \
    || die "building the history failed (see $WORK/gen.log)"
  echo "$GEN_VERSION" >"$ML.ok"
}
s=$(date +%s)
if (( MLFLOW )); then gen_mlflow & MPID=$!; fi
gen_mlrepo
if (( MLFLOW )); then wait "$MPID" || die "MLflow import failed"; fi
log "stores ready ($(( $(date +%s) - s )) s)"

# ---------------------------------------------------------------- servers
rev() { (cd "$ML" && "$MLREPO_BIN" rev-parse "$1"); }
HEAD_ID=$(rev HEAD) PREV_ID=$(rev HEAD~1) OLD_ID=$(rev "HEAD~$(( N / 2 ))")
LAST_REPRO=$(( (N - 1) / 100 * 100 + 1 ))           # commit i with i % 100 == 1 ran `mlrepo repro`
REPRO_ID=$(rev "HEAD~$(( N - LAST_REPRO ))")

(cd "$ML" && exec setsid "$MLREPO_BIN" ui --port 0) 2>"$WORK/mlrepo-ui.err" &
PIDS+=($!)
ML_PORT=""
for _ in $(seq 600); do
  ML_PORT=$(grep -oE 'on http://127\.0\.0\.1:[0-9]+/' "$WORK/mlrepo-ui.err" | grep -oE '[0-9]+/$' | tr -d / || true)
  [[ -n $ML_PORT ]] && break; sleep 0.1
done
[[ -n $ML_PORT ]] || die "mlrepo ui did not start: $(cat "$WORK/mlrepo-ui.err")"
log "mlrepo ui on port $ML_PORT"

if (( MLFLOW )); then
  MF_PORT=$(free_port)
  setsid "$VENV/bin/mlflow" ui --backend-store-uri "sqlite:///$DB" --host 127.0.0.1 --port "$MF_PORT" >"$WORK/mlflow-ui.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1200); do
    curl -fs "http://127.0.0.1:$MF_PORT/health" >/dev/null 2>&1 && break; sleep 0.1
  done
  curl -fs "http://127.0.0.1:$MF_PORT/health" >/dev/null || die "mlflow ui did not start (see $WORK/mlflow-ui.log)"
  log "mlflow ui on port $MF_PORT"
fi

# ---------------------------------------------------------------- what is measured
python3 - "$WORK/spec.json" "$ML_PORT" "${MF_PORT:-}" "$N" "$HEAD_ID" "$PREV_ID" "$OLD_ID" "$REPRO_ID" <<'EOF'
import json, sys, urllib.parse, urllib.request
out, mlp, mfp, n, head, prev, old, repro = sys.argv[1:9]
f = urllib.parse.quote("acc>0.98 && train.lr<0.005", safe="")
marker = "exp %s:" % n
per = 100
tools = {"mlrepo": {"base": "http://127.0.0.1:%s" % mlp, "view": "/experiments", "marker": marker, "requests": [
    ["experiments", "GET", "/experiments", None],
    ["experiments sorted by acc", "GET", "/experiments?sort=acc&order=desc", None],
    ["experiments filtered", "GET", "/experiments?filter=" + f, None],
    ["experiments, differing columns", "GET", "/experiments?diff=1", None],
    ["experiments, last page", "GET", "/experiments?page=%d" % (int(n) // per), None],
    ["api/experiments", "GET", "/api/experiments", None],
    ["charts: acc across commits", "GET", "/charts?metric=acc", None],
    ["charts: train.lr vs acc", "GET", "/charts?x=train.lr&y=acc", None],
    ["charts: parallel coordinates", "GET", "/charts?parallel=1", None],
    ["charts: loss curves of 2", "GET", "/charts?c=%s&c=%s" % (head, prev), None],
    ["compare 2 commits", "GET", "/compare?c=%s&c=%s" % (old, head), None],
    ["lineage", "GET", "/lineage?rev=%s" % repro, None],
    ["registry", "GET", "/registry", None],
    ["registry: production's acc", "GET", "/registry?alias=production&metric=" + urllib.parse.quote("metrics.json:acc", safe=""), None],
    ["data profile", "GET", "/data?rev=%s&path=data/train.csv" % head, None],
    ["data drift", "GET", "/data?rev=%s&path=data/train.csv&base=%s" % (head, old), None],
    ["files: tree", "GET", "/files?rev=%s&path=" % head, None],
    ["files: table", "GET", "/files?rev=%s&path=data/train.csv" % head, None],
    ["raw file", "GET", "/raw?rev=%s&path=params.json" % head, None],
]}}
if mfp:
    base = "http://127.0.0.1:%s" % mfp
    def post(path, body):
        r = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(r, timeout=300))
    exp = post("/ajax-api/2.0/mlflow/experiments/search", {"max_results": 10})["experiments"]
    eid = [e for e in exp if e["name"] == "ui-bench"][0]["experiment_id"]
    first = {"experiment_ids": [eid], "filter": "", "run_view_type": "ACTIVE_ONLY", "max_results": 100,
             "order_by": ["attributes.start_time DESC"]}
    runs = post("/ajax-api/2.0/mlflow/runs/search", first)["runs"]
    rid = runs[0]["info"]["run_id"]
    tools["mlflow"] = {"base": base, "view": "/#/experiments/%s/runs?workflowType=machine_learning" % eid, "marker": marker, "requests": [
        ["index.html", "GET", "/", None],
        ["experiments/get", "GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id=%s" % eid, None],
        ["runs/search (100 newest)", "POST", "/ajax-api/2.0/mlflow/runs/search", json.dumps(first)],
        ["runs/search sorted by acc", "POST", "/ajax-api/2.0/mlflow/runs/search", json.dumps(dict(first, order_by=["metrics.acc DESC"]))],
        ["runs/search filtered", "POST", "/ajax-api/2.0/mlflow/runs/search", json.dumps(dict(first, filter="metrics.acc > 0.98"))],
        ["runs/get", "GET", "/ajax-api/2.0/mlflow/runs/get?run_id=%s" % rid, None],
        ["metrics/get-history (curve)", "GET", "/ajax-api/2.0/mlflow/metrics/get-history?run_id=%s&metric_key=loss_curve" % rid, None],
    ]}
json.dump({"tools": tools}, open(out, "w"), indent=1)
EOF

log "== measuring: $REQS requests per page, $COLD cold loads per tool"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
python3 "$BENCH_SRC/ui_measure.py" --spec "$WORK/spec.json" --requests "$REQS" --cold "$COLD" >"$WORK/measure.json" 2>>"$LOG" \
  || die "measuring failed (see $LOG)"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
python3 - "$WORK/meta.json" <<EOF
import json, sys
json.dump({
  "date": "$(date '+%F %T %Z')",
  "host": "$(uname -srm); $(nproc) cores; $(awk '/MemTotal/{printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo); CPU $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)",
  "mlrepo": "$(tool_version mlrepo)",
  "mlflow": "$( (( MLFLOW )) && "$VENV/bin/python" -c 'import mlflow; print("mlflow " + mlflow.__version__)' 2>/dev/null | tail -1 || echo none)",
  "chromium": "$("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | head -1)",
  "selenium": "$(python3 -c 'import selenium; print(selenium.__version__)')",
  "commits": $N, "requests": $REQS, "cold": $COLD,
  "load_before": "$LOAD_BEFORE", "load_after": "$LOAD_AFTER",
  "ml_store_bytes": $(du -sb "$ML/.mlrepo" | cut -f1),
  "mlflow_db_bytes": $( [[ -f $DB ]] && stat -c %s "$DB" || echo 0),
}, open(sys.argv[1], "w"), indent=1)
EOF
mkdir -p "$(dirname "$OUT")"
python3 "$BENCH_SRC/ui_report.py" "$WORK/measure.json" "$WORK/meta.json" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cp "$WORK/measure.json" "${OUT%.md}.json"
cat "$OUT"
log "report written to $OUT (raw: ${OUT%.md}.json, log: $LOG)"
