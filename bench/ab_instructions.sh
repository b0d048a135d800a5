#!/usr/bin/env bash
# Noise-free A/B of two SegBench builds: instructions per forward pass, counted by valgrind's callgrind on one
# thread (no pool spinning), as (I(6 passes) − I(1 pass)) / 5 so that loading and first-pass planning cancel.
# Counts work, not time: use it beside bench/ab_segbench.sh when the machine is too noisy for a 3 % question.
# Usage: bench/ab_instructions.sh OLD_SEGBENCH NEW_SEGBENCH
#   CONFIGS="df1-int8:512x1024 df1-fp32:256x512" bench/ab_instructions.sh old/SegBench new/SegBench
set -euo pipefail
cd "$(dirname "$0")/.."
configs=${CONFIGS:-"df1-int8:512x1024 df1-fp32:256x512"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# valgrind 3.19 cannot read Swift 6's debug info: count on stripped copies.
strip -o "$work/old" "$1"; strip -o "$work/new" "$2"
count() { valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$@" 2>&1 | awk '/Collected/ {print $4}'; }
for config in $configs; do
  net=${config%%:*}; size=${config#*:}; h=${size%x*}; w=${size#*x}
  case $net in
    df1-int8) args=(--model models/sfnet-df1-synth-int8.safetensors) ;;
    df1-fp32) args=(--model models/sfnet-df1-synth.safetensors) ;;
    r18-fp32) args=(--arch r18) ;;
    *) echo "unknown network $net" >&2; exit 64 ;;
  esac
  for which in old new; do
    one=$(count "$work/$which" "${args[@]}" --height "$h" --width "$w" --threads 1 --iterations 1 --warmup 0)
    six=$(count "$work/$which" "${args[@]}" --height "$h" --width "$w" --threads 1 --iterations 6 --warmup 0)
    echo "$net $size $which: $(( (six - one) / 5 )) instructions per pass"
  done
done
