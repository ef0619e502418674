#!/usr/bin/env bash
# Data profiling benchmark: `mlrepo profile` (one streaming pass, cached by file id) against
# pandas (read_csv + describe + nunique + isna), side by side on the same generated CSV.
# Usage: bench/profile.sh [--rows N] [--reps R]   (default 1,500,000 rows ≈ 120 MiB, 3 reps)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROWS=1500000 REPS=3
while [ $# -gt 0 ]; do
  case "$1" in --rows) ROWS="$2"; shift 2 ;; --reps) REPS="$2"; shift 2 ;; *) echo "unknown option $1" >&2; exit 2 ;; esac
done
(cd "$ROOT" && swift build -c release >/dev/null)
M="$ROOT/.build/release/mlrepo"
WORK="$(mktemp -d /tmp/mlrepo-profile-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
awk -v rows="$ROWS" 'BEGIN { srand(42); print "f1,f2,f3,f4,f5,f6,f7,f8,label,city"; split("Paris,Lyon,Nice,Lille,Nantes", c, ",")
  for (i = 0; i < rows; i++) { line = ""; for (j = 0; j < 8; j++) line = line sprintf("%.6f,", rand() * 10 - 5)
    print line int(rand() * 10) "," c[int(rand() * 5) + 1] } }' > data.csv
"$M" init >/dev/null
MLREPO_FSYNC=0 "$M" add data.csv
SIZE=$(stat -c %s data.csv)

measure() { # measure LABEL CMD...: median wall seconds and max RSS (MB) of REPS runs
  local label="$1"; shift
  local times=() rss=0
  for _ in $(seq "$REPS"); do
    [ "$label" = "mlrepo (cold)" ] && rm -rf .mlrepo/cache
    /usr/bin/time -f "%e %M" -o t.txt "$@" >/dev/null
    read -r t m < t.txt; times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  local med; med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$label $med $((rss / 1024))"
}

{
  measure "mlrepo (cold)" "$M" profile data.csv --json
  measure "mlrepo (cached)" "$M" profile data.csv --json
  if python3 -c "import pandas" 2>/dev/null; then
    measure "pandas" python3 -c "
import pandas as pd
df = pd.read_csv('data.csv')
df.describe(include='all', percentiles=[.05, .25, .5, .75, .95]); df.nunique(); df.isna().sum()"
  else echo "pandas - -"; fi
} > results.txt

echo "profile of a ${ROWS}-row CSV ($(awk -v s="$SIZE" 'BEGIN {printf "%.1f", s / 1048576}') MiB), median of $REPS"
awk -v size="$SIZE" '
  { t[$1 " " $2] = $3; r[$1 " " $2] = $4; name[NR] = $1 " " $2; if ($1 == "pandas") { name[NR] = "pandas"; t["pandas"] = $2; r["pandas"] = $3 } }
  END {
    printf "%-16s %9s %10s %9s %14s\n", "tool", "seconds", "MiB/s", "peak MB", "vs pandas"
    for (i = 1; i <= NR; i++) { n = name[i]; if (t[n] == "-") { printf "%-16s %9s\n", n, "not installed"; continue }
      tt = t[n] < 0.01 ? 0.01 : t[n]; lt = t[n] < 0.01 ? "<" : ""   # /usr/bin/time counts hundredths
      ratio = (t["pandas"] != "" && t["pandas"] != "-") ? sprintf("%s%.1fx faster", t[n] < 0.01 ? ">" : "", t["pandas"] / tt) : "-"
      printf "%-16s %9s %10s %9d %14s\n", n, lt sprintf("%.2f", tt), (lt == "" ? "" : ">") sprintf("%.0f", size / 1048576 / tt), r[n], (n == "pandas" ? "1.0x" : ratio) }
  }' results.txt
