#!/usr/bin/env bash
# fp32 SFNet forward, segstream vs PyTorch eager, same machine, same run. Median ms per frame (input →
# labels) and the ratio. Usage: bench/fp32_bench.sh [threads] [iterations]
#   SIZES="512x1024 1024x2048" ARCHS="r18 df1" bench/fp32_bench.sh 2 5
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}; iterations=${2:-5}
swift build -c release --product SegBench >/dev/null
bin=$(swift build -c release --show-bin-path)/SegBench
for size in ${SIZES:-512x1024 1024x2048}; do
  h=${size%x*}; w=${size#*x}
  for arch in ${ARCHS:-r18 df1}; do
    s=$("$bin" --arch "$arch" --height "$h" --width "$w" --threads "$threads" --iterations "$iterations" | grep median)
    t=$(python3 bench/torch_fp32.py --arch "$arch" --height "$h" --width "$w" --threads "$threads" --iterations "$iterations")
    echo "$s"; echo "$t"
    sm=$(sed -E 's/.*median ([0-9.]+) ms.*/\1/' <<<"$s"); tm=$(sed -E 's/.*median ([0-9.]+) ms.*/\1/' <<<"$t")
    python3 -c "print(f'  ratio torch/segstream = {$tm/$sm:.2f}x')"
  done
done
