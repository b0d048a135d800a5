#!/usr/bin/env bash
# Fuzzing smoke run (issue #11): builds the libFuzzer targets (Sources/SegFuzz, ASan + coverage) in .build-fuzz
# and runs each for a few seconds from a seed corpus. A crash, trap or sanitizer report fails (libFuzzer exits
# non-zero and writes crash-* next to the corpus). bench/fuzz.sh is the long run.
#   tools/fuzz-smoke.sh [seconds per target, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
swift build --scratch-path .build-fuzz --product SegFuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING >&2
bin=.build-fuzz/debug/SegFuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tools/fuzz-seeds.sh "$work"
for target in model video; do
  echo "fuzz-smoke: $target for ${seconds} s" >&2
  (cd "$work" && SEGFUZZ_TARGET=$target ASAN_OPTIONS=detect_leaks=0 "$OLDPWD/$bin" "corpus-$target" \
     -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=4096 -print_final_stats=1 2>"$target.log") || {
    tail -n 60 "$work/$target.log" >&2
    echo "fuzz-smoke: the $target target found a crash" >&2
    exit 1
  }
  grep -E "stat::number_of_executed_units|cov:" "$work/$target.log" | tail -n 2 >&2
done
