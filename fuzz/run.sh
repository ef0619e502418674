#!/usr/bin/env bash
# Fuzz mlrepo's parsers with libFuzzer + AddressSanitizer (issue 13). See fuzz/README.md.
#
#   fuzz/run.sh TARGET SECONDS [libFuzzer flags...]   fuzz one target for SECONDS
#   fuzz/run.sh all SECONDS [libFuzzer flags...]      every target, SECONDS each, one after another
#   fuzz/run.sh TARGET FILE...                        replay inputs (a crash reproducer, a corpus folder)
#   fuzz/run.sh list                                  the targets
#
# Builds fuzz/ first (debug, -sanitize=fuzzer,address; skip with MLREPO_FUZZ_NO_BUILD=1).
# The growing corpus lives in fuzz/.work/corpus/TARGET (ignored by git), seeded from
# fuzz/corpus/TARGET; crashes, timeouts and out-of-memory inputs are written to
# fuzz/findings/TARGET/. Runs under `nice -n 10`; set MLREPO_FUZZ_NICE=0 to not.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
targets=(http chunked json packindex pack objects refname ignore csv config npy model decimal onnx merge index uifilter plotdata promtext uiquery kernelcache)
nice_level="${MLREPO_FUZZ_NICE:-10}"
build_flags=(-c debug --package-path "$here" -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
if [ "$1" = list ]; then printf '%s\n' "${targets[@]}"; exit 0; fi
[ $# -ge 2 ] || usage
target="$1"; shift

if [ "$target" != all ] && ! printf '%s\n' "${targets[@]}" | grep -qx -- "$target"; then
    echo "run.sh: unknown target '$target' (targets: ${targets[*]})" >&2; exit 2
fi

if [ "${MLREPO_FUZZ_NO_BUILD:-0}" != 1 ]; then
    nice -n "$nice_level" swift build "${build_flags[@]}" >&2
fi
bin="$(swift build "${build_flags[@]}" --show-bin-path)/mlrepo-fuzz"
[ -x "$bin" ] || { echo "run.sh: $bin was not built" >&2; exit 1; }

# Swift's runtime keeps metadata caches for the life of the process; LeakSanitizer
# reports them as leaks, so leak detection is off (ASan proper stays on).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=0}"
# Swift's crash backtracer reads the stack from a helper thread, which AddressSanitizer
# reports as a stack-buffer-underflow on top of the real trap; libFuzzer catches the trap
# itself (deadly signal), so the backtracer is off.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"

max_len() {
    case "$1" in
        pack|packindex|csv|plotdata|promtext) echo 16384 ;;
        uifilter) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

fuzz_one() {
    local t="$1" seconds="$2"; shift 2
    local work="$here/.work/corpus/$t" findings="$here/findings/$t"
    mkdir -p "$work" "$findings"
    echo "== $t: ${seconds}s" >&2
    MLREPO_FUZZ_TARGET="$t" nice -n "$nice_level" "$bin" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
        -print_final_stats=1 -artifact_prefix="$findings/" "$@" "$work" "$here/corpus/$t"
}

if [[ "$1" =~ ^[0-9]+$ ]]; then
    seconds="$1"; shift
    if [ "$target" = all ]; then
        status=0
        for t in "${targets[@]}"; do fuzz_one "$t" "$seconds" "$@" || { status=1; echo "== $t: found a crash (see above)" >&2; }; done
        exit "$status"
    fi
    fuzz_one "$target" "$seconds" "$@"
else
    [ "$target" != all ] || { echo "run.sh: replay needs one target" >&2; exit 2; }
    MLREPO_FUZZ_TARGET="$target" "$bin" -timeout=10 -rss_limit_mb=2048 "$@"
fi
