#!/usr/bin/env bash
# Same-run A/B of two model files on one segstream build (e.g. a model without and with decoder blocks, docs/blocks.md):
# for each size, ROUNDS rounds alternating which model goes first, each `segstream profile --iterations N` (network
# alone, labels path, 2 threads); prints the median of the rounds' medians per model and the ratio B/A, and the load.
# Usage: bench/ab_models.sh SEGSTREAM MODEL_A MODEL_B [rounds] [iterations]
#   SIZES="512x1024 1024x2048" bench/ab_models.sh .build/release/segstream a-int8.safetensors b-int8.safetensors 7 5
set -euo pipefail
bin=$1; a=$2; b=$3; rounds=${4:-7}; iterations=${5:-5}
sizes=${SIZES:-"512x1024 1024x2048"}
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for size in $sizes; do
  : >"$tmp/a"; : >"$tmp/b"
  for r in $(seq 1 "$rounds"); do
    order="a b"; [ $((r % 2)) -eq 0 ] && order="b a"
    for which in $order; do
      model=$a; [ "$which" = b ] && model=$b
      "$bin" profile --model "$model" --size "$size" --threads 2 --iterations "$iterations" --warmup 1 --layer-runs 1 \
        | sed -nE 's/^latency: median ([0-9.]+) ms.*/\1/p' >>"$tmp/$which"
    done
  done
  am=$(median <"$tmp/a"); bm=$(median <"$tmp/b")
  printf '%-10s A median %8.2f ms  B median %8.2f ms  B/A %.3f\n' "$size" "$am" "$bm" "$(echo "$bm / $am" | bc -l)"
  echo "  rounds A: $(tr '\n' ' ' <"$tmp/a")  B: $(tr '\n' ' ' <"$tmp/b")"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
