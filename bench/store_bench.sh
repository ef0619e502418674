#!/usr/bin/env bash
# mlrepo-only measurements that need no anchors:
#   1. pack lookups at N objects (default 10,000,000)
#   2. FastCDC and SHA-256 throughput (hardware reference)
#   3. cost of each compression policy (core.compression) on CSV and on random bytes
#   4. W2 store growth for several average chunk sizes (MLREPO_CHUNK_AVG)
# Usage: bench/store_bench.sh [--objects N] [--size-mb MB]
# env: MLREPO_BIN_DIR  folder holding mlrepo and mlrepo-bench (default: build .build/release)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OBJECTS=10000000
SIZE_MB=256
while [ $# -gt 0 ]; do
  case "$1" in
    --objects) OBJECTS="$2"; shift 2 ;;
    --size-mb) SIZE_MB="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
BIN="${MLREPO_BIN_DIR:-$ROOT/.build/release}"
[ -n "${MLREPO_BIN_DIR:-}" ] || (cd "$ROOT" && swift build -c release >/dev/null)
M="$BIN/mlrepo"
B="$BIN/mlrepo-bench"
DATA="${BENCH_DIR:-/tmp/mlrepo-bench-data}/store-s$SIZE_MB"
mkdir -p "$DATA"
if [ ! -f "$DATA/v2.csv" ]; then
  python3 "$ROOT/bench/gen_data.py" "$DATA" --size-mb "$SIZE_MB" --skip-files >/dev/null
fi
[ -f "$DATA/random.bin" ] || head -c $((SIZE_MB << 20)) /dev/urandom > "$DATA/random.bin"
export MLREPO_AUTHOR_NAME=bench MLREPO_AUTHOR_EMAIL=bench@example.com MLREPO_NO_PROGRESS=1

echo "## Throughput (one core)"
"$B" chunk 512
echo
echo "## Pack lookups at $OBJECTS objects"
"$B" lookup "$OBJECTS"
echo

secs() { /usr/bin/time -f "%e" "$@" 2>&1 >/dev/null | tail -1; }

echo "## Compression policy (core.compression), add of ${SIZE_MB} MiB, fsync off"
echo "| policy | data | add time | store size | store / data |"
echo "|---|---|---:|---:|---:|"
for policy in none auto all; do
  for f in v1.csv random.bin; do
    W=$(mktemp -d /tmp/mlrepo-sb.XXXXXX)
    (cd "$W" && "$M" init >/dev/null && "$M" config core.compression "$policy" && cp "$DATA/$f" . && sync)
    t=$(cd "$W" && MLREPO_FSYNC=0 secs "$M" add "$f")
    s=$(du -sb "$W/.mlrepo" | cut -f1); d=$(stat -c %s "$DATA/$f")
    echo "| $policy | $f | ${t} s | $s | $(python3 -c "print(f'{$s/$d:.2f}')") |"
    rm -rf "$W"
  done
done
echo
echo "## Chunk size vs W2 growth (v1 then v2 of ${SIZE_MB} MiB: 0.1% rows relabelled, 1% appended), fsync off"
echo "| avg chunk | v1 add | v2 add | growth | growth / file |"
echo "|---:|---:|---:|---:|---:|"
for avg in 8192 16384 32768 65536; do
  W=$(mktemp -d /tmp/mlrepo-sb.XXXXXX)
  cd "$W"; "$M" init >/dev/null; cp "$DATA/v1.csv" data.csv; sync
  t1=$(MLREPO_CHUNK_AVG=$avg MLREPO_FSYNC=0 secs "$M" add data.csv); "$M" commit -qm v1
  s1=$(du -sb .mlrepo | cut -f1)
  cp "$DATA/v2.csv" data.csv; sync
  t2=$(MLREPO_CHUNK_AVG=$avg MLREPO_FSYNC=0 secs "$M" add data.csv); "$M" commit -qm v2
  s2=$(du -sb .mlrepo | cut -f1); d=$(stat -c %s data.csv)
  echo "| $avg | ${t1} s | ${t2} s | $((s2 - s1)) | $(python3 -c "print(f'{100*($s2-$s1)/$d:.1f}%')") |"
  cd /; rm -rf "$W"
done
