#!/usr/bin/env bash
# GEMM of the CPU backend against numpy (OpenBLAS) float32 matmul on the same shapes, with 1
# and 2 threads, side by side with ratios. Usage: bench/gemm.sh [N...]   (square sizes; default
# 256 512 1024 2048 plus the tall-skinny shapes training uses).
#
# Builds the mlrepo-gemm-bench product (Package.swift) in release.
# SKIP_BUILD=1 reuses the last build. Figures are medians of 5; run on an otherwise idle
# machine (other processes skew both sides, OpenBLAS's spinning threads most).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
SCRATCH=${SCRATCH:-$ROOT/.build}

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ -z ${SKIP_BUILD:-} ]]; then
  log "swift build -c release --product mlrepo-gemm-bench"
  if ! out=$(swift build -c release --package-path "$ROOT" --scratch-path "$SCRATCH" --product mlrepo-gemm-bench 2>&1); then
    printf '%s\n' "$out" | grep -E 'error' >&2 || true
    log "build failed"; exit 1
  fi
fi
BIN=$SCRATCH/release/mlrepo-gemm-bench
[[ -x $BIN ]] || { log "build failed"; exit 1; }

log "mlrepo-gemm-bench $*"
ours=$("$BIN" "$@")
printf '%s\n' "$ours"
shapes=$(printf '%s\n' "$ours" | awk 'NR > 2 && NF > 1 { print $1 }')

read -r -d '' NPSCRIPT <<'EOF' || true
import re, sys, time
import numpy as np
rng = np.random.default_rng(0)
for label in sys.argv[1:]:
    m = re.fullmatch(r'(\d+)x(\d+)(\^T)?\*(\d+)x(\d+)(\^T)?(?:/(\d+))?', label)
    r, c, ta, r2, c2, tb, block = m.groups()
    a = rng.uniform(-1, 1, (int(r), int(c))).astype(np.float32)
    b = rng.uniform(-1, 1, (int(r2), int(c2))).astype(np.float32)
    opa = a.T if ta else a
    opb = b.T if tb else b
    (mm, kk), n = opa.shape, opb.shape[1]
    if block:
        bs = int(block)
        out = np.empty((mm, n), np.float32)
        def once():
            for i in range(0, mm, bs):
                np.matmul(opa[i:i + bs], opb, out=out[i:i + bs])
    else:
        once = lambda: np.matmul(opa, opb)
    once()
    t0 = time.perf_counter(); once(); single = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(0.02 / single))
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(inner):
            once()
        ts.append((time.perf_counter() - t0) / inner)
    ts.sort()
    print(label, round(2 * mm * n * kk / ts[2] / 1e9, 1))
EOF
npbench() {  # $1 = threads, then shape labels; prints "label GFLOP/s" per shape
  local t=$1; shift
  OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t "$PYTHON" -c "$NPSCRIPT" "$@"
}

log "numpy $("$PYTHON" -c 'import numpy; print(numpy.__version__)') matmul, 1 and 2 threads"
# shellcheck disable=SC2086
np1=$(npbench 1 $shapes)
# shellcheck disable=SC2086
np2=$(npbench 2 $shapes)

echo
echo "GFLOP/s, median of 5 (mlrepo: portable and AVX2 kernels; numpy: OpenBLAS sgemm)"
awk -v np1="$np1" -v np2="$np2" '
  BEGIN {
    n = split(np1, l1, "\n"); for (i = 1; i <= n; i++) { split(l1[i], f, " "); N1[f[1]] = f[2] }
    n = split(np2, l2, "\n"); for (i = 1; i <= n; i++) { split(l2[i], f, " "); N2[f[1]] = f[2] }
  }
  NR == 2 {
    hdr = sprintf("%-30s", "shape"); for (i = 2; i <= NF; i++) { col[i] = $i; hdr = hdr sprintf("%12s", $i) }
    hdr = hdr sprintf("%12s%12s%12s%12s", "numpy/1", "numpy/2", "best/np 1t", "best/np 2t"); print hdr; next
  }
  NR > 2 && NF > 1 {
    line = sprintf("%-30s", $1); b1 = 0; b2 = 0
    for (i = 2; i <= NF; i++) {
      line = line sprintf("%12s", $i)
      if (col[i] ~ /\/1$/ && $i + 0 > b1) b1 = $i + 0
      if (col[i] ~ /\/2$/ && $i + 0 > b2) b2 = $i + 0
    }
    r1 = (N1[$1] > 0) ? sprintf("%.2f", b1 / N1[$1]) : "-"
    r2 = (N2[$1] > 0) ? sprintf("%.2f", b2 / N2[$1]) : "-"
    print line sprintf("%12s%12s%12s%12s", N1[$1], N2[$1], r1, r2)
  }' <<< "$ours"
