#!/usr/bin/env bash
# Capacity of `segstream serve` (#12): N sources, each the sample clip (1024×512, 20 fps) looping in real time, treated
# as live (`drop: oldest`), all on the one shared model, recording on; after a warm-up, the processed frames per
# second of each source and of all, and the frames dropped because inference was busy, from frames.jsonl.
# Usage: bench/serve_capacity.sh [SOURCES] [SECONDS] [MODEL]     (release build)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-4}
seconds=${2:-30}
model=$(realpath "${3:-models/sfnet-df1-synth-int8.safetensors}")
bin=.build/release/segstream
[ -x "$bin" ] || swift build -c release --product segstream
tmp=$(mktemp -d); echo "state: $tmp" >&2
trap 'kill $pid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
clip=$(realpath samples/drive.mp4)
{
    echo "state_dir: $tmp/state"
    echo "http: 127.0.0.1:0   # on, as by default, on any free port"
    echo "defaults: {model: $model, loop: true, drop: oldest, outputs: {recording: {segment: 1m}}}"
    echo "sources:"
    for i in $(seq 1 "$n"); do echo "  cam$i: $clip"; done
} > "$tmp/serve.yaml"
"$bin" serve --config "$tmp/serve.yaml" 2> "$tmp/serve.log" &
pid=$!
sleep "$seconds"
kill -TERM $pid
wait $pid
python3 - "$tmp/state" "$n" "$seconds" <<'PY'
import glob, json, os, sys
state, n, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
total = 0.0
for path in sorted(glob.glob(os.path.join(state, "*", "frames.jsonl"))):
    lines = [json.loads(l) for l in open(path)]
    frames = [l for l in lines if l["type"] == "frame"]
    closed = [l for l in lines if l.get("event") == "closed"]
    t = [f["t"] for f in frames]
    warm = t[0] + 5 if t else 0          # skip the first 5 s (model warm-up, first frames)
    late = [f for f in frames if f["t"] >= warm]
    fps = len(late) / (t[-1] - warm) if late and t[-1] > warm else 0
    lat = sorted(f["latency_ms"] for f in late) or [0]
    total += fps
    dropped = sum(c["dropped"]["inference_busy"] for c in closed)
    print(f"{os.path.basename(os.path.dirname(path))}: {fps:.1f} fps, latency p50 {lat[len(lat)//2]:.0f} ms, "
          f"p95 {lat[int(len(lat)*0.95)]:.0f} ms, dropped (inference busy) {dropped} of {dropped + len(frames)}")
print(f"all {n} sources: {total:.1f} fps processed (each source offers 20 fps)")
PY
