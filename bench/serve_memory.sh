#!/usr/bin/env bash
# Memory per stream of `segstream serve` (#16, item 2): for N = 1, 2, … sources (each the sample clip looping as a
# live source at FPS frames a second, recording on, all on the one shared model), the daemon's resident memory
# (VmRSS, sampled every second) over the second half of SECONDS; then the memory each additional stream adds
# (least-squares slope over N). A low FPS keeps the machine's cores out of it: memory, not capacity, is measured.
# Usage: bench/serve_memory.sh [SOURCE_COUNTS] [SECONDS] [FPS] [MODEL]     defaults: "1 2 4" 40 5 (bundled int8)
set -euo pipefail
cd "$(dirname "$0")/.."
counts=${1:-1 2 4}
seconds=${2:-40}
fps=${3:-5}
model=$(realpath "${4:-models/sfnet-df1-synth-int8.safetensors}")
bin=${BIN:-.build/release/segstream}
[ -x "$bin" ] || swift build -c release --product segstream
clip=$(realpath samples/drive.mp4)
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for n in $counts; do
    dir="$tmp/$n"; mkdir -p "$dir"
    {
        echo "state_dir: $dir/state"
        echo "http: 127.0.0.1:0"
        echo "defaults: {model: $model, fps: $fps, loop: true, drop: oldest, outputs: {recording: {segment: 1m}}}"
        echo "sources:"
        for i in $(seq 1 "$n"); do echo "  cam$i: $clip"; done
    } > "$dir/serve.yaml"
    "$bin" serve --config "$dir/serve.yaml" 2> "$dir/serve.log" &
    pid=$!
    for s in $(seq 1 "$seconds"); do
        sleep 1
        kb=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || true)
        [ "$s" -gt $((seconds / 2)) ] && [ -n "$kb" ] && echo "$kb" >> "$dir/rss"
    done
    kill -TERM $pid; wait $pid || true; pid=
    frames=$(cat "$dir"/state/*/frames.jsonl 2>/dev/null | grep -c '"type":"frame"' || true)
    echo "$n $(sort -n "$dir/rss" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') $frames"
done | python3 -c '
import sys
rows = [tuple(map(int, l.split())) for l in sys.stdin]
for n, kb, frames in rows:
    print(f"{n} source(s): RSS median {kb / 1024:.1f} MiB over the second half, {frames} frames processed")
if len(rows) >= 2:
    xs = [r[0] for r in rows]; ys = [r[1] / 1024 for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    print(f"each additional stream: {slope:.1f} MiB (least squares over {len(rows)} counts); one stream alone: {ys[0]:.1f} MiB")
'
