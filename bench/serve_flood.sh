#!/usr/bin/env bash
# Connection flood against `mlrepo serve` (issue 13 #3): a well-behaved client's latency and
# 503 count while an attacker on the same address holds idle and slowloris connections open.
#
# usage: bench/serve_flood.sh [--before BIN] [--idle N] [--slow N] [--requests N] [--pause S]
#                             [--no-reconnect] [--out FILE]
#   --before BIN     also run the same load against BIN (e.g. the binary built before this work,
#                    /work/wt-before/.build/release/mlrepo) first, for a before/after table
#   --idle N         connections that never send a byte (default 1000)
#   --slow N         connections that send a request head one byte a second (default 1000)
#   --requests N     the well-behaved client's requests (default 2000: half on one kept-alive
#                    connection, half each on a fresh connection; 2 ms pause between them)
#   --pause S        seconds between the client's requests (default 0.002)
#   --no-reconnect   the attacker does not reopen connections the server closes (default: it
#                    does, at once, so it keeps trying to hold N + N open)
#   --out FILE       Markdown report (default bench/results/serve_flood.md)
# env: MLREPO (binary under test; default .build/release/mlrepo, built with
#      `swift build -c release --product mlrepo` when missing), BENCH_DIR (scratch root,
#      default /tmp).
#
# Runs per binary: `mlrepo serve` on an iris logistic_regression model with its defaults (plus
# --log /dev/null), and for the new binary a second run with --max-connections-per-client 4096,
# where the server keeps every attacker connection until its header timeout instead of
# reclaiming it at the per-client limit. The attacker (bench/serve_flood.py attacker) opens its
# connections, then the client (bench/serve_flood.py client, a separate process) runs; the
# report gives p50/p99/max latency of the client, its status counts (503s in their own column)
# and the attacker's counters (connections closed by the server, 408s, 503s). The open-file
# limit of this shell is raised to its hard limit first. Everything runs on this machine: on
# 2 cores the attacker's own CPU use is part of every figure.
set -euo pipefail

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_SRC/.." && pwd)
BEFORE="" IDLE=1000 SLOW=1000 REQUESTS=2000 PAUSE=0.002 RECONNECT=1
OUT=$BENCH_SRC/results/serve_flood.md
ARGS_GIVEN="$*"
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (( $# )); do
  case $1 in
    --before) BEFORE=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --slow) SLOW=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --pause) PAUSE=$2; shift 2 ;;
    --no-reconnect) RECONNECT=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "serve_flood.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
for v in IDLE SLOW REQUESTS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "serve_flood.sh: --${v,,} takes a number" >&2; exit 2; }
done
case $OUT in /*) ;; *) OUT="$PWD/$OUT" ;; esac
command -v python3 >/dev/null || { echo "serve_flood.sh: needs python3" >&2; exit 1; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NEED=$(( IDLE + SLOW + 200 ))
if (( $(ulimit -n) < NEED )); then
  echo "serve_flood.sh: the open-file limit ($(ulimit -n)) is below the $NEED this needs" >&2; exit 1
fi

MLREPO=${MLREPO:-$ROOT/.build/release/mlrepo}
if [[ ! -x $MLREPO ]]; then
  (cd "$ROOT" && swift build -c release --product mlrepo)
fi
[[ -z $BEFORE || -x $BEFORE ]] || { echo "serve_flood.sh: --before $BEFORE is not an executable" >&2; exit 2; }

WORK=${BENCH_DIR:-/tmp}/mlrepo-bench-serve-flood
rm -rf "$WORK"; mkdir -p "$WORK/repo"
cleanup() { for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# The model: iris, logistic regression, committed.
cp "$ROOT/Tests/Fixtures/datasets/iris_train.csv" "$WORK/repo/"
cat > "$WORK/repo/mlrepo.json" <<'EOF'
{"stages": {"train": {"train": {"model": "logistic_regression", "data": "iris_train.csv", "label": "species"},
                      "outs": ["models/iris.mlmodel"]}}}
EOF
(cd "$WORK/repo" && "$MLREPO" init >/dev/null && "$MLREPO" train --commit -m iris >/dev/null)

# run NAME BIN [serve flags...]: one server, attacker, client; appends a row to $WORK/rows.
run() {
  local name=$1 bin=$2; shift 2
  local err=$WORK/$name.err ready=$WORK/$name.ready stats=$WORK/$name.stats
  rm -f "$ready" "$stats"
  (cd "$WORK/repo" && exec "$bin" serve models/iris.mlmodel --port 0 --log /dev/null "$@") 2>"$err" &
  local spid=$!
  local port=""
  for _ in $(seq 200); do
    port=$(grep -oE 'listening on https?://127\.0\.0\.1:[0-9]+' "$err" 2>/dev/null | grep -oE '[0-9]+$' || true)
    [[ -n $port ]] && break
    sleep 0.05
  done
  [[ -n $port ]] || { echo "serve_flood.sh: $name did not start: $(cat "$err")" >&2; exit 1; }
  local rc_flag=""; (( RECONNECT )) || rc_flag=--no-reconnect
  python3 "$BENCH_SRC/serve_flood.py" attacker --port "$port" --idle "$IDLE" --slow "$SLOW" --duration 600 \
    --ready "$ready" --stats "$stats" $rc_flag &
  local apid=$!
  local result
  result=$(python3 "$BENCH_SRC/serve_flood.py" client --port "$port" --requests "$REQUESTS" --pause "$PAUSE" --ready "$ready")
  kill -TERM "$apid"; wait "$apid" 2>/dev/null || true
  local alive=yes; kill -0 "$spid" 2>/dev/null || alive=no
  kill -TERM "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
  echo "$name|$*|$alive|$result|$(cat "$stats" 2>/dev/null || echo '{}')" >> "$WORK/rows"
  echo "$name ($*): $result" >&2
}

: > "$WORK/rows"
if [[ -n $BEFORE ]]; then run before "$BEFORE"; fi
run after "$MLREPO"
run after-no-per-client-limit "$MLREPO" --max-connections-per-client 4096

mkdir -p "$(dirname "$OUT")"
python3 - "$WORK/rows" "$OUT" "$IDLE" "$SLOW" "$REQUESTS" "$PAUSE" "$RECONNECT" "$ARGS_GIVEN" <<'EOF'
import json, sys, platform, os
rows, out, idle, slow, reqs, pause, reconnect, args = sys.argv[1:9]
load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
lines = [f"# serve under a connection flood ({idle} idle + {slow} slowloris connections from 127.0.0.1)", "",
         f"`bench/serve_flood.sh {args}` on {platform.node()} ({os.cpu_count()} cores; load average at the end {load}). The client sends {reqs} "
         f"POST /invocations (1 row), alternating one kept-alive connection and a fresh connection, {float(pause)*1000:g} ms apart; "
         f"the attacker {'reopens' if reconnect == '1' else 'does not reopen'} connections the server closes.", "",
         "| server | flags | p50 ms | p99 ms | max ms | keep-alive p99 | new-conn p99 | 503s | other non-200 | attacker: closed by server / 408 / 503 | server alive |",
         "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
for line in open(rows):
    name, flags, alive, res, st = line.rstrip("\n").split("|", 4)
    r, s = json.loads(res), json.loads(st)
    other = sum(v for k, v in r["statuses"].items() if k not in ("200", "503"))
    lines.append(f"| {name} | {flags or '(defaults)'} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | "
                 f"{r['keep-alive']['p99_ms']:.2f} | {r['new connection']['p99_ms']:.2f} | {r['503']} | {other} | "
                 f"{s.get('closed_by_server', '?')} / {s.get('answered_408', '?')} / {s.get('answered_503', '?')} | {alive} |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
