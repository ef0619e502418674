#!/usr/bin/env bash
# Remotes benchmark: push and clone of the store benchmark's data sets to a local S3 server
# (moto over loopback), mlrepo side by side with `dvc push` / `dvc pull` and `aws s3 sync`
# (awscli, the raw-transfer ceiling).
#
# Rows, per tool (each tool gets a fresh moto server and its own bucket prefix):
#   csv-push-v1   first push of v1.csv (~1 GiB numeric CSV)
#   csv-push-v2   push of v2 = v1 + 1% rows appended (nothing else changed)
#   csv-clone-v2  clone (mlrepo clone / git clone + dvc pull / aws s3 sync down) into a fresh folder
#   files-push    push of 20,000 files of 20 KiB
#   files-clone   clone of those files into a fresh folder
#   one-file      get one 20 MB model file (model.bin, random bytes) out of the CSV repository,
#                 which also holds v1 and v2: mlrepo clone --lazy --no-checkout + checkout main --
#                 model.bin / git clone + dvc pull model.bin / aws s3 cp of the one object. model.bin
#                 is added and pushed untimed after the CSV rows. Its bytes column is what the client
#                 fetched: du -sb of DIR/.mlrepo/objects + DIR/.mlrepo/remotes (mlrepo: its store and the
#                 cached remote pack indexes), of DIR/.dvc/cache (DVC), the file's size (aws).
# Only the transfer is timed: `mlrepo add`/`commit` and `dvc add`/`git commit` run untimed before.
# Bytes uploaded = sizes of the keys that are new or changed in the bucket listing (boto3),
# before vs after the row. Clones are checked: cmp for the CSV, diff -r for the files.
#
# Usage: bench/remote.sh [--size-mb MB] [--files N] [--tools "mlrepo dvc aws"] [--no-build] [--only-onefile]
#   --only-onefile  time only the one-file row: the CSV pushes it builds on still run (untimed), the
#                   clone and 20,000-file rows are skipped; the report goes to
#                   bench/results/remote-onefile.md instead of remote.md
# env: MLREPO  a prebuilt mlrepo binary (skips the build)
#      BENCH_DIR  data folder root (default /tmp/mlrepo-bench-data)
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SIZE_MB=1024
NFILES=20000
TOOLS="mlrepo dvc aws"
BUILD=1
ONLY_ONEFILE=0
CMDLINE="bench/remote.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mb) SIZE_MB="$2"; shift 2 ;;
    --files) NFILES="$2"; shift 2 ;;
    --tools) TOOLS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --only-onefile) ONLY_ONEFILE=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
log() { echo "[remote.sh] $*" >&2; }
PY=python3
S3PY="$ROOT/bench/remote_s3.py"
WORK=$(mktemp -d /tmp/mlrepo-remote.XXXXXX)
TSV="$WORK/rows.tsv"
: >"$TSV"
MOTO_PID=""
cleanup() {
  [ -n "$MOTO_PID" ] && kill "$MOTO_PID" 2>/dev/null && wait "$MOTO_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export MLREPO_AUTHOR_NAME=bench MLREPO_AUTHOR_EMAIL=bench@example.com MLREPO_NO_PROGRESS=1
export DVC_NO_ANALYTICS=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=b@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=b@example.com
BUCKET=bench

# ---- tools -------------------------------------------------------------------------------
SKIPPED=""
# dvc[s3] and awscli each pin botocore; when missing they go into their own venvs under
# .build-bench-remote/ so the system python's boto3/awscli pins stay untouched.
ensure_tool() {  # NAME PIPSPEC -> prints the path of the executable, or nothing
  local name=$1 spec=$2 venv="$ROOT/.build-bench-remote/venv-$1"
  if command -v "$name" >/dev/null 2>&1 && "$name" --version >/dev/null 2>&1; then command -v "$name"; return; fi
  if [ -x "$venv/bin/$name" ]; then echo "$venv/bin/$name"; return; fi
  log "installing $spec into $venv"
  if $PY -m venv "$venv" >&2 && "$venv/bin/pip" install -q "$spec" >&2 && "$venv/bin/$name" --version >/dev/null 2>&1; then
    echo "$venv/bin/$name"
  else
    log "could not install $spec: its rows are skipped"
  fi
}
DVC=""; AWS=""
case " $TOOLS " in *" dvc "*) DVC=$(ensure_tool dvc 'dvc[s3]'); [ -n "$DVC" ] || SKIPPED="$SKIPPED dvc" ;; esac
case " $TOOLS " in *" aws "*) AWS=$(ensure_tool aws awscli); [ -n "$AWS" ] || SKIPPED="$SKIPPED aws" ;; esac
$PY -c "import moto, boto3" 2>/dev/null || $PY -m pip install -q 'moto[server]' boto3 >&2 || { log "moto/boto3 missing"; exit 1; }

# ---- mlrepo binary -------------------------------------------------------------------------
HEAD_ID=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
if [ -n "${MLREPO:-}" ]; then
  M=$MLREPO; SOURCE_NOTE="given binary (MLREPO=$MLREPO)"
else
  # Build a `git archive HEAD` snapshot, so uncommitted edits in Sources/ (other work) are left out.
  PKG=$ROOT/.build-bench-remote/head-src
  M=$ROOT/.build-bench-remote/head-build/release/mlrepo
  SOURCE_NOTE="$HEAD_ID (git archive HEAD snapshot, release build)"
  if (( BUILD )); then
    if [ "$(cat "$PKG/.head" 2>/dev/null)" != "$(git -C "$ROOT" rev-parse HEAD)" ]; then
      rm -rf "$PKG"; mkdir -p "$PKG"
      git -C "$ROOT" archive HEAD Package.swift Sources Tests | tar -x -C "$PKG" || { log "git archive failed"; exit 1; }
      git -C "$ROOT" rev-parse HEAD >"$PKG/.head"
    fi
    log "building mlrepo ($SOURCE_NOTE)"
    (cd "$PKG" && swift build -c release --product mlrepo --scratch-path ../head-build >&2) || { log "build failed"; exit 1; }
  else
    SOURCE_NOTE="existing binary (--no-build), HEAD is $HEAD_ID"
  fi
fi
[ -x "$M" ] || { log "no mlrepo binary at $M"; exit 1; }

# ---- data --------------------------------------------------------------------------------
DATA="${BENCH_DIR:-/tmp/mlrepo-bench-data}/remote-s$SIZE_MB"
mkdir -p "$DATA"
if [ ! -f "$DATA/v2.csv" ] || [ ! -d "$DATA/files" ] || [ "$(find "$DATA/files" -type f | wc -l)" != "$NFILES" ]; then
  log "generating data in $DATA (bench/gen_data.py)"
  rm -rf "$DATA/files"
  $PY "$ROOT/bench/gen_data.py" "$DATA" --size-mb "$SIZE_MB" --files "$NFILES" >&2 || { log "gen_data failed"; exit 1; }
  rm -f "$DATA/v2a.csv"
fi
# gen_data's v2.csv also relabels 0.1% of the rows in place; this benchmark wants "only appended
# rows changed", so v2a.csv = v1.csv + v2.csv's appended tail (relabels keep byte lengths, so the
# tail starts at v1's size).
if [ ! -f "$DATA/v2a.csv" ]; then
  V1SZ=$(stat -c %s "$DATA/v1.csv")
  { cat "$DATA/v1.csv"; tail -c +$((V1SZ + 1)) "$DATA/v2.csv"; } >"$DATA/v2a.csv.tmp" && mv "$DATA/v2a.csv.tmp" "$DATA/v2a.csv"
fi
# one-file row: a 20 MB model of random bytes (incompressible, no chunk shared with the CSV)
MODEL=$DATA/model.bin
MODELSZ=20000000
if [ "$(stat -c %s "$MODEL" 2>/dev/null)" != "$MODELSZ" ]; then
  head -c "$MODELSZ" /dev/urandom >"$MODEL.tmp" && mv "$MODEL.tmp" "$MODEL" || { log "could not write $MODEL"; exit 1; }
fi
V1=$DATA/v1.csv; V2=$DATA/v2a.csv; FILES=$DATA/files
V1SZ=$(stat -c %s "$V1"); V2SZ=$(stat -c %s "$V2"); FILESSZ=$(find "$FILES" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')

# ---- moto ---------------------------------------------------------------------------------
start_moto() {
  PORT=$($PY "$S3PY" - freeport)
  EP=http://127.0.0.1:$PORT
  $PY -m moto.server -H 127.0.0.1 -p "$PORT" >"$WORK/moto-$1.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 100); do
    $PY - "$EP" <<'PY' 2>/dev/null && break
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/", timeout=1)
PY
    sleep 0.2
  done
  $PY "$S3PY" "$EP" mkbucket "$BUCKET" || { log "could not create the bucket"; exit 1; }
}
stop_moto() {
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' /proc/"$MOTO_PID"/status 2>/dev/null)
  echo "$1 ${hwm:-0}" >>"$WORK/moto-mem.txt"
  kill "$MOTO_PID" 2>/dev/null; wait "$MOTO_PID" 2>/dev/null; MOTO_PID=""
}

# measure TOOL ROW PAYLOAD_BYTES PREFIX KIND(up|down) VERIFY_CMD -- CMD...   (CMD runs in the cwd)
# For a down row, FETCHED (in the environment: FETCHED='du -sb DIR | cut -f1' measure ...) is a
# command, run after the timed one, whose output (a byte count) replaces "<= prefix total" in the
# bytes column; it is written as "=N" and the keys column as "-".
measure() {
  local tool=$1 row=$2 payload=$3 prefix=$4 kind=$5 verify=$6 fetched=${FETCHED:-}; shift 7
  local t0 t1 c0 c1 ok=ok bytes keys note=""
  [ "$kind" = up ] && $PY "$S3PY" "$EP" snap "$BUCKET" "$prefix" "$WORK/before.json"
  c0=$($PY "$S3PY" - cpu "$MOTO_PID")
  t0=$EPOCHREALTIME
  "$@" >"$WORK/cmd.log" 2>&1; local rc=$?
  if [ $rc != 0 ]; then ok=FAIL; note="exit status $rc: $(tail -c 300 "$WORK/cmd.log" | tr '\n\t' '  ')"; fi
  t1=$EPOCHREALTIME
  c1=$($PY "$S3PY" - cpu "$MOTO_PID")
  if [ "$kind" = up ]; then
    $PY "$S3PY" "$EP" snap "$BUCKET" "$prefix" "$WORK/after.json"
    read -r bytes keys < <($PY "$S3PY" "$EP" diff "$WORK/before.json" "$WORK/after.json")
  elif [ -n "$fetched" ]; then
    bytes=$(eval "$fetched" 2>/dev/null | tail -1); keys=-
    [[ $bytes =~ ^[0-9]+$ ]] || bytes="?"
    bytes="=$bytes"
  else
    read -r bytes keys < <($PY "$S3PY" "$EP" total "$BUCKET" "$prefix"); bytes="<=$bytes"
  fi
  if [ "$ok" = ok ] && [ -n "$verify" ] && ! eval "$verify" >"$WORK/verify.log" 2>&1; then
    ok=MISMATCH; note="verify failed: $verify: $(head -c 200 "$WORK/verify.log" | tr '\n\t' '  ')"
  fi
  local secs; secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
  local mcpu; mcpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.2f", b - a}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$row" "$secs" "$bytes" "$keys" "$payload" "$mcpu" "$ok" "$note" >>"$TSV"
  log "$tool $row: ${secs} s, bytes $bytes ($keys keys), moto cpu ${mcpu} s, $ok $note"
}
# setup TOOL ROW ... -- CMD...: a push row that later rows build on. Timed via measure normally;
# with --only-onefile it runs untimed (and unrecorded).
setup() {
  if (( ONLY_ONEFILE )); then
    local tool=$1 row=$2; shift 7
    if "$@" >"$WORK/cmd.log" 2>&1; then log "$tool $row: done (untimed)"
    else log "$tool $row (untimed) failed: $(tail -c 300 "$WORK/cmd.log" | tr '\n\t' '  ')"; fi
  else
    measure "$@"
  fi
}
# untimed CMD...: run CMD (quietly), log a failure
untimed() {
  "$@" >"$WORK/untimed.log" 2>&1 || { log "untimed step failed: $*: $(tail -c 300 "$WORK/untimed.log" | tr '\n\t' '  ')"; return 1; }
}

# ---- mlrepo --------------------------------------------------------------------------------
run_mlrepo() {
  start_moto mlrepo
  local R=$WORK/ml-csv C=$WORK/ml-csv-clone F=$WORK/ml-files FC=$WORK/ml-files-clone O=$WORK/ml-onefile
  mkdir -p "$R" && cd "$R" && "$M" init >/dev/null
  cp "$V1" data.csv && "$M" add data.csv >/dev/null && "$M" commit -q -m v1 >/dev/null
  "$M" remote add origin "s3://$BUCKET/mlrepo/csv" --endpoint "$EP"
  setup mlrepo csv-push-v1 "$V1SZ" mlrepo/csv up "" -- "$M" push -q
  cp "$V2" data.csv && "$M" add data.csv >/dev/null && "$M" commit -q -m v2 >/dev/null
  setup mlrepo csv-push-v2 "$V2SZ" mlrepo/csv up "" -- "$M" push -q
  cd "$WORK"
  (( ONLY_ONEFILE )) || measure mlrepo csv-clone-v2 "$V2SZ" mlrepo/csv down "cmp '$C/data.csv' '$V2'" -- "$M" clone "s3://$BUCKET/mlrepo/csv" "$C" --endpoint "$EP" -q
  rm -rf "$C"
  # one-file: model.bin committed and pushed on top of v2 (untimed), then a lazy clone + one checkout
  cd "$R" && cp "$MODEL" model.bin && untimed "$M" add model.bin && untimed "$M" commit -q -m model \
    && untimed "$M" push -q
  cd "$WORK"
  # fetched = the object store plus the remote's pack indexes the lazy clone caches under .mlrepo/remotes
  FETCHED="du -sbc '$O/.mlrepo/objects' '$O/.mlrepo/remotes' | tail -1 | cut -f1" \
    measure mlrepo one-file "$MODELSZ" mlrepo/csv down "cmp '$O/model.bin' '$MODEL'" -- \
    bash -c "'$M' clone --lazy --no-checkout 's3://$BUCKET/mlrepo/csv' '$O' --endpoint '$EP' -q && cd '$O' && '$M' checkout main -- model.bin"
  rm -rf "$R" "$O"
  if (( ONLY_ONEFILE )); then stop_moto mlrepo; return; fi
  mkdir -p "$F" && cd "$F" && "$M" init >/dev/null
  cp -r "$FILES" files && "$M" add files >/dev/null && "$M" commit -q -m files >/dev/null
  "$M" remote add origin "s3://$BUCKET/mlrepo/files" --endpoint "$EP"
  measure mlrepo files-push "$FILESSZ" mlrepo/files up "" -- "$M" push -q
  cd "$WORK"
  measure mlrepo files-clone "$FILESSZ" mlrepo/files down "diff -rq '$FC/files' '$FILES'" -- "$M" clone "s3://$BUCKET/mlrepo/files" "$FC" --endpoint "$EP" -q
  rm -rf "$F" "$FC"
  stop_moto mlrepo
}

# ---- DVC -----------------------------------------------------------------------------------
dvc_repo() {  # DIR PREFIX: git + dvc repo with an S3 remote
  mkdir -p "$1" && cd "$1" && git init -q && "$DVC" init -q && "$DVC" config core.analytics false \
    && "$DVC" remote add -d s3 "s3://$BUCKET/$2" >/dev/null && "$DVC" remote modify s3 endpointurl "$EP" \
    && git add -A && git commit -qm init
}
run_dvc() {
  start_moto dvc
  local R=$WORK/dvc-csv C=$WORK/dvc-csv-clone F=$WORK/dvc-files FC=$WORK/dvc-files-clone O=$WORK/dvc-onefile
  dvc_repo "$R" dvc/csv || { log "dvc setup failed"; stop_moto dvc; return; }
  cp "$V1" data.csv && "$DVC" add -q data.csv && git add data.csv.dvc .gitignore && git commit -qm v1
  setup dvc csv-push-v1 "$V1SZ" dvc/csv up "" -- "$DVC" push -q
  cp "$V2" data.csv && "$DVC" add -q data.csv && git add data.csv.dvc && git commit -qm v2
  setup dvc csv-push-v2 "$V2SZ" dvc/csv up "" -- "$DVC" push -q
  if (( ! ONLY_ONEFILE )); then
    cd "$WORK" && git clone -q "$R" "$C" && cd "$C"
    measure dvc csv-clone-v2 "$V2SZ" dvc/csv down "cmp '$C/data.csv' '$V2'" -- "$DVC" pull -q
  fi
  cd "$WORK"; rm -rf "$C"
  # one-file: model.bin tracked and pushed on top of v2 (untimed), then git clone + a granular pull
  cd "$R" && cp "$MODEL" model.bin && untimed "$DVC" add -q model.bin && untimed git add model.bin.dvc .gitignore \
    && untimed git commit -qm model && untimed "$DVC" push -q
  cd "$WORK"
  FETCHED="du -sb '$O/.dvc/cache' | cut -f1" \
    measure dvc one-file "$MODELSZ" dvc/csv down "cmp '$O/model.bin' '$MODEL'" -- \
    bash -c "git clone -q '$R' '$O' && cd '$O' && '$DVC' pull -q model.bin"
  cd "$WORK"; rm -rf "$R" "$O"
  if (( ONLY_ONEFILE )); then stop_moto dvc; return; fi
  dvc_repo "$F" dvc/files || { log "dvc setup failed"; stop_moto dvc; return; }
  cp -r "$FILES" files && "$DVC" add -q files && git add files.dvc .gitignore && git commit -qm files
  measure dvc files-push "$FILESSZ" dvc/files up "" -- "$DVC" push -q
  cd "$WORK" && git clone -q "$F" "$FC" && cd "$FC"
  measure dvc files-clone "$FILESSZ" dvc/files down "diff -rq '$FC/files' '$FILES'" -- "$DVC" pull -q
  cd "$WORK"; rm -rf "$F" "$FC"
  stop_moto dvc
}

# ---- aws s3 sync ---------------------------------------------------------------------------
run_aws() {
  start_moto aws
  local U=$WORK/aws-csv D=$WORK/aws-csv-down FD=$WORK/aws-files-down OD=$WORK/aws-onefile
  mkdir -p "$U" && cp "$V1" "$U/data.csv"
  setup aws csv-push-v1 "$V1SZ" awsync/csv up "" -- "$AWS" --endpoint-url "$EP" s3 sync --only-show-errors "$U" "s3://$BUCKET/awsync/csv/"
  cp "$V2" "$U/data.csv"
  setup aws csv-push-v2 "$V2SZ" awsync/csv up "" -- "$AWS" --endpoint-url "$EP" s3 sync --only-show-errors "$U" "s3://$BUCKET/awsync/csv/"
  (( ONLY_ONEFILE )) || measure aws csv-clone-v2 "$V2SZ" awsync/csv down "cmp '$D/data.csv' '$V2'" -- "$AWS" --endpoint-url "$EP" s3 sync --only-show-errors "s3://$BUCKET/awsync/csv/" "$D"
  rm -rf "$U" "$D"
  # one-file: model.bin uploaded next to data.csv (untimed), then a single-object download
  untimed "$AWS" --endpoint-url "$EP" s3 cp --only-show-errors "$MODEL" "s3://$BUCKET/awsync/csv/model.bin"
  FETCHED="stat -c %s '$OD/model.bin'" \
    measure aws one-file "$MODELSZ" awsync/csv down "cmp '$OD/model.bin' '$MODEL'" -- \
    "$AWS" --endpoint-url "$EP" s3 cp --only-show-errors "s3://$BUCKET/awsync/csv/model.bin" "$OD/model.bin"
  rm -rf "$OD"
  if (( ONLY_ONEFILE )); then stop_moto aws; return; fi
  measure aws files-push "$FILESSZ" awsync/files up "" -- "$AWS" --endpoint-url "$EP" s3 sync --only-show-errors "$FILES" "s3://$BUCKET/awsync/files/"
  measure aws files-clone "$FILESSZ" awsync/files down "diff -rq '$FD' '$FILES'" -- "$AWS" --endpoint-url "$EP" s3 sync --only-show-errors "s3://$BUCKET/awsync/files/" "$FD"
  rm -rf "$FD"
  stop_moto aws
}

START=$EPOCHREALTIME
for t in $TOOLS; do
  case " $SKIPPED " in *" $t "*) continue ;; esac
  log "== $t"
  "run_$t"
done
ELAPSED=$(awk -v a="$START" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b - a}')

# ---- report --------------------------------------------------------------------------------
mkdir -p "$ROOT/bench/results"
CPU_MODEL=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
MEM_GB=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)
export R_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')" R_HOST="$(hostname), $CPU_MODEL, $(nproc) cores, ${MEM_GB} GiB RAM, $(uname -sr)"
export R_MLREPO="$SOURCE_NOTE"
export R_DVC="$([ -n "$DVC" ] && "$DVC" --version 2>/dev/null || echo skipped)"
export R_AWS="$([ -n "$AWS" ] && "$AWS" --version 2>&1 | head -1 || echo skipped)"
export R_MOTO="$($PY -c 'import moto, boto3; print(f"moto {moto.__version__} (python -m moto.server, in-memory), boto3 {boto3.__version__}")')"
export R_PY="$($PY --version 2>&1)"
export R_CMD="$CMDLINE" R_SKIPPED="$SKIPPED" R_ELAPSED="$ELAPSED" R_ONLY_ONEFILE="$ONLY_ONEFILE"
export R_DATA="v1.csv $V1SZ B; v2 (v1 + 1% rows appended, nothing else changed) $V2SZ B; $NFILES files, $FILESSZ B in all (bench/gen_data.py, seed 20240501); model.bin $MODELSZ random bytes"
OUTMD=$ROOT/bench/results/remote.md
(( ONLY_ONEFILE )) && OUTMD=$ROOT/bench/results/remote-onefile.md
$PY "$ROOT/bench/remote_report.py" "$TSV" "$WORK/moto-mem.txt" | tee "$OUTMD"
