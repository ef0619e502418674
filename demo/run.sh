#!/usr/bin/env bash
# End-to-end demo on generated data: version a dataset, change it, see dedup, diff and
# check out the old version, verify the store. Usage: demo/run.sh [ROWS] (default 500000)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROWS="${1:-500000}"

echo "== building mlrepo (release)"
(cd "$ROOT" && swift build -c release >/dev/null)
M="$ROOT/.build/release/mlrepo"

WORK="$(mktemp -d /tmp/mlrepo-demo.XXXXXX)"
echo "== demo repository: $WORK"
cd "$WORK"
export MLREPO_AUTHOR_NAME="Demo User" MLREPO_AUTHOR_EMAIL="demo@example.com"

gen() { # gen SEED ROWS: a numeric CSV with a label column
  awk -v seed="$1" -v rows="$2" 'BEGIN {
    srand(seed); print "f1,f2,f3,f4,f5,f6,f7,f8,label"
    for (i = 0; i < rows; i++) {
      line = ""
      for (j = 0; j < 8; j++) line = line sprintf("%.6f,", rand() * 10 - 5)
      print line int(rand() * 10)
    }
  }'
}

"$M" init .
mkdir -p data code models
gen 42 "$ROWS" > data/train.csv
gen 7 $((ROWS / 10)) > data/test.csv
printf 'print("train")\n' > code/train.py
head -c 1000000 /dev/urandom > models/model.bin
printf '*.tmp\n' > .mlrepoignore
echo "scratch" > notes.tmp

echo "== add + commit version 1 ($(du -h data/train.csv | cut -f1) of CSV)"
time "$M" add .
V1=$("$M" commit -m "dataset v1, first model")
"$M" tag v1
echo "commit $V1"

echo "== relabel 0.1% of rows, append 1%, retrain"
awk -F, -v OFS=, 'NR > 1 && NR % 1000 == 0 { $9 = ($9 + 1) % 10 } { print }' data/train.csv > data/train.new
gen 99 $((ROWS / 100)) | tail -n +2 >> data/train.new
mv data/train.new data/train.csv
head -c 1000000 /dev/urandom > models/model.bin
"$M" status
"$M" add .
V2=$("$M" commit -m "relabelled 0.1%, appended 1%, new model")
echo "commit $V2"

echo "== what changed"
"$M" diff v1 HEAD --stat
"$M" log --oneline
echo "== storage: the second version stores only the chunks that changed"
"$M" du

echo "== check out v1 again, then come back"
"$M" checkout v1
"$M" show v1:data/train.csv | cmp - data/train.csv && echo "data/train.csv is v1 again"
"$M" switch main
"$M" fsck
echo "== done: $WORK"
