#!/usr/bin/env bash
# Does -Ounchecked still pay for the compute kernels (Compute, ComputeAVX2)? Issue 13 builds
# every module that parses input with -O and keeps -Ounchecked only where a benchmark shows it
# pays. This builds HEAD twice in release (as is, and with the kernels' -Ounchecked removed, in
# a temporary git worktree), then trains an MLP and k-means on the same generated CSV with
# both binaries, interleaved, and prints wall and user CPU seconds per run.
#
# usage: bench/kernel_flags.sh [--rows N] [--reps R]     (default 200000 rows x 50 features, 3 reps)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=200000 REPS=3
while (( $# )); do case $1 in --rows) ROWS=$2; shift 2 ;; --reps) REPS=$2; shift 2 ;; *) echo "unknown $1" >&2; exit 2 ;; esac; done
WORK=${BENCH_DIR:-/tmp}/mlrepo-bench-kernels; rm -rf "$WORK"; mkdir -p "$WORK/repo"
WT=$WORK/wt-O
git -C "$ROOT" worktree add -q --detach "$WT" HEAD
trap 'git -C "$ROOT" worktree remove --force "$WT" >/dev/null 2>&1 || true' EXIT
sed -i 's/^let kernels: \[SwiftSetting\] = .*/let kernels: [SwiftSetting] = []/; s/\.unsafeFlags(\["-Ounchecked", "-target-cpu", "haswell"\])/.unsafeFlags(["-target-cpu", "haswell"])/' "$WT/Package.swift"
grep -q 'let kernels: \[SwiftSetting\] = \[\]' "$WT/Package.swift" || { echo "could not patch Package.swift" >&2; exit 1; }
(cd "$ROOT" && swift build -c release --product mlrepo --scratch-path "$ROOT/.build-kernels-unchecked" >&2)
(cd "$WT" && swift build -c release --product mlrepo >&2)
A=$ROOT/.build-kernels-unchecked/release/mlrepo B=$WT/.build/release/mlrepo
cd "$WORK/repo"
python3 - "$ROWS" <<'PY'
import sys, numpy as np
n, f = int(sys.argv[1]), 50
rng = np.random.default_rng(0)
X = rng.standard_normal((n, f)).astype(np.float32); w = rng.standard_normal(f)
y = (X @ w + 0.3 * rng.standard_normal(n) > 0).astype(int)
with open("train.csv", "w") as fh:
    fh.write(",".join([f"x{i}" for i in range(f)] + ["y"]) + "\n")
    for i in range(n): fh.write(",".join(f"{v:.4f}" for v in X[i]) + f",{y[i]}\n")
PY
cat > mlrepo.json <<'J'
{"stages": {"mlp": {"train": {"model": "mlp_classifier", "data": "train.csv", "label": "y", "params": {"hidden_layers": [128], "epochs": 3, "batch_size": 256, "learning_rate": 0.001, "early_stopping": false}, "seed": 0}, "outs": ["mlp.mlmodel"], "metrics": ["mlp.json"]},
 "kmeans": {"train": {"model": "kmeans", "data": "train.csv", "params": {"k": 10, "n_init": 1, "max_iter": 20, "tol": 0}, "seed": 0}, "outs": ["kmeans.mlmodel"], "metrics": ["kmeans.json"]}}}
J
"$A" init . >/dev/null
for r in $(seq "$REPS"); do
  for side in A B; do
    m=$A; [[ $side == B ]] && m=$B
    for st in mlp kmeans; do
      /usr/bin/time -f "$side $st %e %U" -a -o "$WORK/times" "$m" run "$st" >/dev/null 2>&1
    done
  done
done
echo "kernels built with -Ounchecked (A) vs -O (B); $ROWS rows x 50 features; wall s / user s per run"
sort "$WORK/times" | awk '{k=$1" "$2; a[k]=a[k]"  "$3"/"$4} END {for (k in a) print k ":" a[k]}' | sort
