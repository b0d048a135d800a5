#!/usr/bin/env bash
# Issue 4's pipeline benchmarks (release build):
#  1. end-to-end file throughput (decode → infer → render → encode) against inference-only FPS at the same
#     network size, in one run: `segstream profile` then `segstream run` on the same input;
#  2. resident memory over a 10,000-frame run, sampled every second from /proc.
# Usage: bench/run_throughput.sh [MODEL] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/sfnet-df1-synth.safetensors}
threads=${2:-2}
bin=.build/release/segstream
[ -x "$bin" ] || swift build -c release --product segstream
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== throughput: samples/drive.mp4 (1024x512 network input), $threads threads"
"$bin" profile --model "$model" --input samples/drive.mp4 --size 512x1024 --threads "$threads" --iterations 20 --json \
    > "$tmp/profile.json"
"$bin" run samples/drive.mp4 -o "$tmp/out.mp4" --model "$model" --size 1024x512 --threads "$threads" \
    --telemetry "$tmp/telemetry.jsonl" --no-progress
python3 - "$tmp/profile.json" "$tmp/telemetry.jsonl" <<'PY'
import json, sys
profile = json.load(open(sys.argv[1]))
summary = [json.loads(l) for l in open(sys.argv[2]) if '"summary"' in l][-1]
print(f"inference only: median {profile['median_ms']:.1f} ms, {profile['fps']:.2f} fps")
print(f"end to end:     {summary['fps']:.2f} fps over {summary['frames']} frames "
      f"(inference p50 {summary['stages_ms']['inference']['p50']:.1f} ms, encode p50 {summary['stages_ms']['encode']['p50']:.1f} ms)")
print(f"ratio end-to-end / inference-only: {summary['fps'] / profile['fps'] * 100:.1f} %")
PY

echo "== resident memory over 10,000 frames (320x160 testsrc2, network 320x160)"
ffmpeg -v error -nostdin -y -f lavfi -i testsrc2=size=320x160:rate=50 -frames:v 10000 -c:v libx264 -preset ultrafast \
    "$tmp/long.mp4"
"$bin" run "$tmp/long.mp4" -o "$tmp/long-out.mp4" --model "$model" --size 320x160 --threads "$threads" \
    --telemetry "$tmp/long-telemetry.jsonl" --no-progress &
pid=$!
: > "$tmp/rss.txt"
while kill -0 $pid 2>/dev/null; do
    awk '/VmRSS/ {print $2}' /proc/$pid/status >> "$tmp/rss.txt" 2>/dev/null || true
    sleep 1
done
wait $pid
python3 - "$tmp/rss.txt" "$tmp/long-telemetry.jsonl" <<'PY'
import json, sys
rss = [int(l) for l in open(sys.argv[1]) if l.strip()]
summary = [json.loads(l) for l in open(sys.argv[2]) if '"summary"' in l][-1]
n = len(rss)
warm = rss[max(1, n // 10)]          # after the first 10 % (buffers allocated, caches warm)
last = rss[-2] if n > 2 else rss[-1]  # the last sample can catch the process exiting
print(f"frames {summary['frames']}, {summary['fps']:.1f} fps, {n} RSS samples")
print(f"RSS after warm-up {warm/1024:.1f} MiB, at the end {last/1024:.1f} MiB, max {max(rss)/1024:.1f} MiB, "
      f"growth {100 * (last - warm) / warm:+.2f} %")
PY
