#!/usr/bin/env bash
# The long fuzzing run (issue #11): each SegFuzz target (model loader, video source) for SECONDS with libFuzzer
# (ASan + coverage), keeping the corpus in bench/results/fuzz-<target>/ between runs. Prints executions,
# coverage and findings per target; crash inputs are copied to bench/results/fuzz-findings/ (replay one with
# `swift run SegFuzz model|video FILE`).
#   bench/fuzz.sh [seconds per target, default 600] [jobs, default 1]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}; jobs=${2:-1}
swift build --scratch-path .build-fuzz --product SegFuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING >&2
bin=$PWD/.build-fuzz/debug/SegFuzz
mkdir -p bench/results/fuzz-findings
seeds=$(mktemp -d); trap 'rm -rf "$seeds"' EXIT
tools/fuzz-seeds.sh "$seeds"
for target in model video; do
  corpus=bench/results/fuzz-$target
  mkdir -p "$corpus"
  cp -n "$seeds/corpus-$target"/* "$corpus/" 2>/dev/null || true
  log=bench/results/fuzz-$target.log
  set +e
  parallel=()
  if [ "$jobs" -gt 1 ]; then parallel=(-fork="$jobs"); fi
  (cd bench/results/fuzz-findings && SEGFUZZ_TARGET=$target ASAN_OPTIONS=detect_leaks=0 "$bin" "../fuzz-$target" \
     -max_total_time="$seconds" "${parallel[@]}" -max_len=262144 -rss_limit_mb=4096 \
     -print_final_stats=1 -artifact_prefix="$target-") >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -h "stat::number_of_executed_units" "$log" | awk '{s+=$2} END {print s+0}')
  cov=$(grep -hoE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -n 1)
  findings=$(ls bench/results/fuzz-findings | grep -c "^$target-" || true)
  echo "$target: exit $rc, $execs executions in ${seconds} s, $cov, corpus $(ls "$corpus" | wc -l) inputs, $findings findings"
done
