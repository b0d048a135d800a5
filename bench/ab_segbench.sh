#!/usr/bin/env bash
# Same-run A/B of two SegBench builds (e.g. before and after an engine change): for each configuration,
# ROUNDS rounds alternating which binary goes first, each `--iterations N`; prints every round's median and
# the median of the rounds' medians and the best min per binary, and the ratio new/old; and the process CPU time
# per frame (steadier than wall time while other processes take turns on the cores).
# Usage: bench/ab_segbench.sh OLD_SEGBENCH NEW_SEGBENCH [rounds] [iterations]
#   CONFIGS="df1-int8:512x1024 df1-fp32:1024x2048 r18-fp32:512x1024" bench/ab_segbench.sh old/SegBench new/SegBench 5 5
#   R18_INT8=r18-int8.safetensors CONFIGS="r18-int8:512x1024" bench/ab_segbench.sh old/SegBench new/SegBench 5 3
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1; new=$2; rounds=${3:-5}; iterations=${4:-5}
configs=${CONFIGS:-"df1-int8:512x1024 df1-int8:1024x2048 df1-fp32:512x1024 df1-fp32:1024x2048 r18-fp32:512x1024 r18-fp32:1024x2048"}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# Private files: other sessions may run this script at the same time.
ab=$(mktemp -d)
trap 'rm -rf "$ab"' EXIT
for config in $configs; do
  net=${config%%:*}; size=${config#*:}; h=${size%x*}; w=${size#*x}
  case $net in
    df1-int8) args=(--model models/sfnet-df1-synth-int8.safetensors) ;;
    df1-fp32) args=(--model models/sfnet-df1-synth.safetensors) ;;
    r18-fp32) args=(--arch r18) ;;
    r18-int8) args=(--model "${R18_INT8:?r18-int8 needs R18_INT8=an int8 R18 model file (segstream quantize)}") ;;
    *) echo "unknown network $net" >&2; exit 64 ;;
  esac
  : >$ab/old; : >$ab/new; : >$ab/oldmin; : >$ab/newmin; : >$ab/oldcpu; : >$ab/newcpu
  for r in $(seq 1 "$rounds"); do
    order="old new"; [ $((r % 2)) -eq 0 ] && order="new old"
    for which in $order; do
      bin=$old; [ "$which" = new ] && bin=$new
      line=$("$bin" "${args[@]}" --height "$h" --width "$w" --threads 2 --iterations "$iterations" --warmup 1 | grep median)
      sed -E 's/.*median ([0-9.]+) ms.*/\1/' <<<"$line" >>$ab/$which
      sed -E 's/.*min ([0-9.]+),.*/\1/' <<<"$line" >>$ab/${which}min
      sed -E 's/.*cpu ([0-9.]+) ms.frame.*/\1/' <<<"$line" >>$ab/${which}cpu
    done
  done
  om=$(median <$ab/old); nm=$(median <$ab/new)
  omin=$(sort -n $ab/oldmin | head -1); nmin=$(sort -n $ab/newmin | head -1)
  ocpu=$(median <$ab/oldcpu); ncpu=$(median <$ab/newcpu)
  printf '%-9s %-10s old median %8.1f ms (min %7.1f)  new median %8.1f ms (min %7.1f)  new/old %.3f (mins %.3f)\n' \
    "$net" "$size" "$om" "$omin" "$nm" "$nmin" "$(echo "$nm / $om" | bc -l)" "$(echo "$nmin / $omin" | bc -l)"
  printf '  process CPU time per frame (all threads), median of rounds: old %.1f ms, new %.1f ms, new/old %.3f\n' \
    "$ocpu" "$ncpu" "$(echo "$ncpu / $ocpu" | bc -l)"
  echo "  rounds old: $(tr '\n' ' ' <$ab/old)  new: $(tr '\n' ' ' <$ab/new)  (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
done
