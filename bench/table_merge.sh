#!/usr/bin/env bash
# Table merge benchmark (issue 16): a CSV on two branches that each relabel 0.1% of rows at
# scattered places and append rows, merged by `mlrepo merge` and by `git merge` of the same
# history (git with `*.csv merge=union`, and plain), side by side in one run; then
# `mlrepo diff --rows BASE OURS`. Prints wall time and peak RSS (GNU time) with ratios, and
# checks that mlrepo's merged file is byte-identical to git's union merge.
#
# Usage: bench/table_merge.sh        (SIZE_MB=1000 by default: git merges no file of 1023 MiB
#   or more line by line (xdiff's size limit), it calls it binary and conflicts)
#   SIZE_MB=64 bench/table_merge.sh  a quick run
#   APPEND=N      rows each side appends (default 1000)
#   MLREPO=PATH   the binary (default .build/release/mlrepo, built if missing)
#   KEEP=1        keep the work folder
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SIZE_MB=${SIZE_MB:-1000}
APPEND=${APPEND:-1000}
M=${MLREPO:-$ROOT/.build/release/mlrepo}
if [ ! -x "$M" ]; then (cd "$ROOT" && swift build -c release --product mlrepo >/dev/null); fi
WORK="$(mktemp -d /tmp/mlrepo-table-bench.XXXXXX)"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_CONFIG_NOSYSTEM=1 MLREPO_NO_PROGRESS=1
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "generating ${SIZE_MB} MiB x 3 in $WORK"
ROWS=$(python3 "$ROOT/bench/table_gen.py" "$WORK/gen" "$SIZE_MB" "$APPEND")
BYTES=$(stat -c %s "$WORK/gen/base.csv")

RESULTS="$WORK/results.txt"
: > "$RESULTS"
measure() { # measure LABEL CMD...: wall seconds and peak RSS (MiB) of one run; exit status kept
  local label="$1"; shift
  local rc=0
  /usr/bin/time -f "%e %M" -o "$WORK/t.txt" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || rc=$?
  local t m; read -r t m < <(tail -1 "$WORK/t.txt")
  echo "$label|$t|$((m / 1024))|$rc" >> "$RESULTS"
  log "$label: ${t}s, $((m / 1024)) MiB, exit $rc"
}

# mlrepo: base on main, theirs on a branch, ours on main.
log "mlrepo history"
mkdir "$WORK/m" && cd "$WORK/m"
"$M" init >/dev/null
cp "$WORK/gen/base.csv" data.csv && MLREPO_FSYNC=0 "$M" add data.csv && "$M" commit -m base >/dev/null
"$M" tag base && "$M" branch theirs
cp "$WORK/gen/ours.csv" data.csv && MLREPO_FSYNC=0 "$M" add data.csv && "$M" commit -m ours >/dev/null && "$M" tag ours
"$M" switch theirs >/dev/null
cp "$WORK/gen/theirs.csv" data.csv && MLREPO_FSYNC=0 "$M" add data.csv && "$M" commit -m theirs >/dev/null
"$M" switch main >/dev/null

# git: the same history, with merge=union and plain.
for kind in union plain; do
  log "git history ($kind)"
  mkdir "$WORK/g-$kind" && cd "$WORK/g-$kind"
  git init -q -b main .
  [ $kind = union ] && echo '*.csv merge=union' > .gitattributes && git add .gitattributes
  cp "$WORK/gen/base.csv" data.csv && git add data.csv && git commit -qm base
  git branch theirs
  cp "$WORK/gen/ours.csv" data.csv && git commit -qam ours
  git checkout -q theirs
  cp "$WORK/gen/theirs.csv" data.csv && git commit -qam theirs
  git checkout -q main
done

cd "$WORK/m" && measure "mlrepo merge" "$M" merge theirs -m merge
MERGE_RC=$(tail -1 "$RESULTS" | cut -d'|' -f4)
if grep -q "unknown command" "$WORK/err.txt"; then log "mlrepo has no merge command yet: skipped"; fi
# git treats files over core.bigFileThreshold (512 MiB) as binary: raise it so git merges lines.
cd "$WORK/g-union" && measure "git merge (merge=union)" git -c core.bigFileThreshold=16g merge -q --no-edit theirs
cd "$WORK/g-plain" && measure "git merge (plain)" git -c core.bigFileThreshold=16g merge -q --no-edit theirs
cd "$WORK/m" && measure "mlrepo diff --rows base ours" "$M" diff --rows base ours -- data.csv
head -3 "$WORK/out.txt" >&2
measure "mlrepo diff --rows (again)" "$M" diff --rows base ours -- data.csv

SAME="no"
if [ "$MERGE_RC" = 0 ] && cmp -s "$WORK/m/data.csv" "$WORK/g-union/data.csv"; then SAME="yes"; fi

echo
echo "Table merge: $(numfmt --to=iec "$BYTES")B CSV, $ROWS rows; each side relabels 0.1% of rows and appends $APPEND"
echo "mlrepo merged file byte-identical to git's merge=union result: $SAME"
GIT_T=$(grep '^git merge (merge=union)|' "$RESULTS" | cut -d'|' -f2)
printf '%-32s %9s %10s %6s %12s\n' "step" "wall (s)" "RSS (MiB)" "exit" "git/this"
while IFS='|' read -r label t m rc; do
  ratio=$(awk -v g="$GIT_T" -v t="$t" 'BEGIN { if (t > 0) printf "%.1fx", g / t; else print "-" }')
  printf '%-32s %9s %10s %6s %12s\n' "$label" "$t" "$m" "$rc" "$ratio"
done < "$RESULTS"
