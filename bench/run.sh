#!/usr/bin/env bash
# mlrepo benchmark: mlrepo vs git, git-lfs, DVC and Oxen on workloads W1-W4.
# See bench/README.md.
#
# usage: bench/run.sh [--size-mb N] [--files N] [--reps R] [--tools "mlrepo git git-lfs dvc oxen"]
#                     [--workloads "csv files"] [--status-runs N] [--out FILE] [--no-hw]
# env:   MLREPO   mlrepo binary (default <repo>/.build/release/mlrepo, else
#                 <repo>/.build-release/release/mlrepo; skipped if absent)
#        BENCH_DIR  scratch root (default /tmp): data in $BENCH_DIR/mlrepo-bench-data,
#                   repos in $BENCH_DIR/mlrepo-bench-work
#        GIT_REPS   repetitions of the slow plain-git CSV workloads (default 1)
#        CMD_TIMEOUT  seconds before a single timed command is killed (default 3600)
set -euo pipefail

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_SRC/.." && pwd); export ROOT  # used by lib.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$BENCH_SRC/lib.sh"

SIZE_MB=1024 FILES=20000 REPS=3 STATUS_RUNS=5 HW=1
TOOLS="mlrepo git git-lfs dvc oxen"
WORKLOADS="csv files"
OUT=$BENCH_SRC/results/latest.md
GIT_REPS=${GIT_REPS:-1}

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (( $# )); do
  case $1 in
    --size-mb)     SIZE_MB=$2; shift 2 ;;
    --files)       FILES=$2; shift 2 ;;
    --reps)        REPS=$2; shift 2 ;;
    --tools)       TOOLS=$2; shift 2 ;;
    --workloads)   WORKLOADS=$2; shift 2 ;;
    --status-runs) STATUS_RUNS=$2; shift 2 ;;
    --out)         OUT=$2; shift 2 ;;
    --no-hw)       HW=0; shift ;;
    -h|--help)     usage 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
[[ $SIZE_MB =~ ^[0-9]+$ && $FILES =~ ^[0-9]+$ && $REPS =~ ^[1-9][0-9]*$ && $STATUS_RUNS =~ ^[1-9][0-9]*$ ]] \
  || die "--size-mb, --files, --reps and --status-runs take positive integers"
case $OUT in /*) ;; *) OUT="$PWD/$OUT" ;; esac

for c in /usr/bin/time hyperfine python3 git timeout du; do
  [[ -x $c ]] || command -v "$c" >/dev/null || die "missing $c: run bench/setup.sh first"
done
/usr/bin/time -f '%M' true 2>/dev/null >/dev/null || die "/usr/bin/time is not GNU time (apt-get install time)"

resolve_mlrepo
SELECTED=()
for t in $TOOLS; do
  if ! declare -F "t_${t}_init" >/dev/null; then die "unknown tool '$t'"; fi
  if tool_available "$t"; then SELECTED+=("$t")
  else
    case $t in
      mlrepo) log "SKIP mlrepo: no executable at $MLREPO_BIN (build it with 'swift build -c release' or set MLREPO=...)" ;;
      *)      log "SKIP $t: not installed (run bench/setup.sh)" ;;
    esac
  fi
done
(( ${#SELECTED[@]} )) || die "no tool to benchmark"

WORK=${BENCH_DIR:-/tmp}/mlrepo-bench-work
mkdir -p "$WORK"
RESULTS=$WORK/results.tsv; META=$WORK/meta.tsv; LOG=$WORK/run.log
: >"$RESULTS"; : >"$META"; : >"$LOG"
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
log "log: $LOG"

ensure_data "$SIZE_MB" "$FILES"
[[ " ${SELECTED[*]} " == *" oxen "* ]] && ensure_oxen_user

meta date "$(date '+%F %T %Z')"
meta host "$(uname -srm); $(nproc) cores; $(awk '/MemTotal/{printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo); CPU $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
meta fs "$(df -T "$WORK" | awk 'NR==2{print $2" on "$1}')"
meta params "size_mb=$SIZE_MB files=$FILES reps=$REPS git_reps=$GIT_REPS status_runs=$STATUS_RUNS"
meta data "$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print("v1.csv %d B (%d rows), v2.csv %d B (+%d rows appended, %d rows relabelled), %d files x %d B" % (p["v1_bytes"],p["v1_rows"],p["v2_bytes"],p["appended_rows"],p["relabelled_rows"],p["files"],p["file_size"]))' "$DATA/params.json")"
meta load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
for t in "${SELECTED[@]}"; do meta "version_$t" "$(tool_version "$t")"; done
if [[ " ${SELECTED[*]} " == *" oxen "* ]]; then
  hyperfine -N --style none --warmup 2 --runs 10 --export-json "$WORK/hf.json" "$OXEN noop" >/dev/null 2>&1 \
    && meta oxen_startup "$(python3 -c 'import json,sys; print("%.0f ms median for oxen_cli.py noop" % (1000*json.load(open(sys.argv[1]))["results"][0]["median"]))' "$WORK/hf.json")"
fi

# ---------------------------------------------------------------- hardware reference
if (( HW )); then
  log "hardware: single-core SHA-256 (OpenSSL) and disk write speed"
  if command -v openssl >/dev/null; then
    sha=$(openssl speed -evp sha256 -bytes 16384 -seconds 2 2>/dev/null | awk '/^sha256/ {v=$NF} END{sub(/k$/,"",v); if (v!="") printf "%.0f", v*1000/1048576}')
    [[ -n $sha ]] && meta sha256_openssl_mib_s "$sha"
  fi
  sha_py=$(python3 - <<'EOF'
import hashlib, os, time
buf = os.urandom(64 << 20); h = hashlib.sha256(); t = time.perf_counter(); n = 0
while time.perf_counter() - t < 2: h.update(buf); n += len(buf)
print("%.0f" % (n / (time.perf_counter() - t) / 1048576))
EOF
)
  meta sha256_hashlib_mib_s "$sha_py"
  dd_out=$(dd if=/dev/zero of="$WORK/dd.tmp" bs=1M count=1024 conv=fsync 2>&1 | tail -n 1); rm -f "$WORK/dd.tmp"
  meta disk_write "dd 1 GiB conv=fsync: ${dd_out##*, }"
  sync
fi

# ---------------------------------------------------------------- workloads
# Sample the 1-minute load average every 15 s: other work on the machine skews timings.
( while sleep 15; do cut -d' ' -f1 /proc/loadavg; done ) >"$WORK/load.samples" 2>/dev/null &
LOAD_PID=$!
trap 'kill "$LOAD_PID" 2>/dev/null || true' EXIT
# A failing tool is reported and skipped; the others go on.
FAILED=()
run_guarded() { # name fn args...
  local name=$1 rc; shift
  set +e; ( set -e; "$@" ); rc=$?; set -e
  if (( rc != 0 )); then log "!! $name failed (exit $rc); continuing without it"; FAILED+=("$name"); fi
  cd "$WORK"
}

if [[ " $WORKLOADS " == *" csv "* ]]; then
  log "== W1/W2/W4: CSV v1 -> v2, checkout switches (${SIZE_MB} MiB) =="
  for t in "${SELECTED[@]}"; do
    reps=$REPS; [[ $t == git ]] && reps=$GIT_REPS
    for ((r = 1; r <= reps; r++)); do run_guarded "$t csv rep $r" run_csv_rep "$t" "$r"; done
  done
fi
if [[ " $WORKLOADS " == *" files "* ]]; then
  log "== W3: $FILES small files, add+commit and status =="
  for t in "${SELECTED[@]}"; do
    for ((r = 1; r <= REPS; r++)); do run_guarded "$t files rep $r" run_files_rep "$t" "$r"; done
  done
fi
meta load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
kill "$LOAD_PID" 2>/dev/null || true
[[ -s $WORK/load.samples ]] && meta load_during "$(sort -g "$WORK/load.samples" | awk '{s+=$1; a[NR]=$1} END{printf "mean %.2f, max %.2f (1-min load, sampled every 15 s; this run alone keeps it near 1)", s/NR, a[NR]}')"
(( ${#FAILED[@]} )) && meta failed "$(IFS=';'; echo "${FAILED[*]}")"

# ---------------------------------------------------------------- report
mkdir -p "$(dirname "$OUT")"
python3 "$BENCH_SRC/report.py" "$RESULTS" "$META" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cp "$RESULTS" "${OUT%.md}.tsv"
cat "$OUT"
log "report written to $OUT (raw numbers: ${OUT%.md}.tsv, log: $LOG)"
