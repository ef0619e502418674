#!/usr/bin/env bash
# Builds the binary that bench/gpu/run.sh carries to the device machine (which has no Swift).
#
# usage: bench/gpu/prepare.sh [--no-build] [--no-strip]
#   (also reached as: bench/gpu/run.sh --prepare)
#
# 1. swift build -c release -Xswiftc -static-stdlib --product mlrepo, in its own build folder
#    (.build-gpu, so the usual .build is left alone);
# 2. copies the binary to .device/bin/mlrepo and strips it (symbols are not needed there;
#    the carry limit is 64 MiB for everything carried);
# 3. copies the few shared libraries the binary links that a bare machine might lack
#    (libcrypto.so.3, libz.so.1, libstdc++.so.6, libgcc_s.so.1) into .device/lib: run.sh
#    points LD_LIBRARY_PATH there only if `ldd` reports one of them missing;
# 4. makes sure git ignores .device/ (.gitignore has /.device/; if a checkout's does not, it
#    is added to .git/info/exclude), so the device tool carries it only when asked:
#    run(command="bash bench/gpu/run.sh", carry=[".device"]).
# Nothing CUDA is linked or copied: the GPU backend dlopens the driver and NVRTC there.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=1 STRIP=1
while (( $# )); do
  case $1 in
    --no-build) BUILD=0; shift ;;
    --no-strip) STRIP=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "prepare.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
SCRATCH=$ROOT/.build-gpu
if (( BUILD )); then
  echo "building: swift build -c release -Xswiftc -static-stdlib --product mlrepo --scratch-path .build-gpu" >&2
  swift build -c release -Xswiftc -static-stdlib --product mlrepo --scratch-path "$SCRATCH" >&2
fi
BIN=$SCRATCH/release/mlrepo
[[ -x $BIN ]] || { echo "prepare.sh: no binary at $BIN (build first)" >&2; exit 1; }

mkdir -p .device/bin .device/lib
cp "$BIN" .device/bin/mlrepo.tmp
if (( STRIP )) && command -v strip >/dev/null; then strip .device/bin/mlrepo.tmp; fi
mv .device/bin/mlrepo.tmp .device/bin/mlrepo
# The binary's provenance, for the report.
{
  echo "commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "dirty=$(git status --porcelain -- Sources Package.swift 2>/dev/null | wc -l | tr -d ' ')"
  echo "built=$(date -u '+%F %T UTC')"
  echo "swift=$(swift --version 2>&1 | head -1)"
  echo "sha256=$(sha256sum .device/bin/mlrepo | cut -c1-64)"
} >.device/build-info.txt

# Fallback copies of the non-CUDA shared libraries it links (used on the device only if
# ldd says one is missing there).
rm -f .device/lib/*
ldd "$BIN" | awk '/=> \//{print $1, $3}' | while read -r name path; do
  case $name in
    libcrypto.so.*|libz.so.*|libstdc++.so.*|libgcc_s.so.*) cp -L "$path" ".device/lib/$name" ;;
  esac
done

# .device/ must never be committed: .gitignore lists /.device/; where it does not (an older
# checkout), add it to .git/info/exclude.
if git rev-parse --git-dir >/dev/null 2>&1 && ! git check-ignore -q .device/bin/mlrepo; then
  EXCLUDE=$(git rev-parse --git-path info/exclude)
  mkdir -p "$(dirname "$EXCLUDE")"
  echo '.device/' >>"$EXCLUDE"
  echo "added .device/ to $EXCLUDE" >&2
fi

size=$(du -sb .device | cut -f1)
echo "prepared .device/ ($(( size / 1048576 )) MiB; the carry limit is 64 MiB):" >&2
ls -la .device/bin .device/lib >&2
cat .device/build-info.txt >&2
if (( size > 60 * 1048576 )); then
  echo "prepare.sh: WARNING: .device/ is $(( size / 1048576 )) MiB, too close to the 64 MiB carry limit" >&2
  exit 1
fi
