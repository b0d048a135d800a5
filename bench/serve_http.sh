#!/usr/bin/env bash
# What `segstream serve`'s HTTP side costs (#13): SOURCES copies of the sample clip (1024×512, 20 fps) looping as
# live sources (`drop: oldest`, no recording: so the render stage runs only for the status page), once with
# `--http off` and once with HTTP on; processed fps from frames.jsonl for both; with HTTP on, the render stage's
# mean time per frame from /metrics, and the time and size of snapshot requests and of /metrics scrapes (curl).
# Usage: bench/serve_http.sh [SOURCES] [SECONDS] [MODEL]     (release build; needs curl)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2}
seconds=${2:-20}
model=$(realpath "${3:-models/sfnet-df1-synth-int8.safetensors}")
bin=.build/release/segstream
[ -x "$bin" ] || swift build -c release --product segstream
tmp=$(mktemp -d); echo "state: $tmp" >&2
pid=
trap 'kill $pid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
clip=$(realpath samples/drive.mp4)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

fps() {   # $1 = state dir: processed fps per source after a 5 s warm-up, summed
    python3 - "$1" <<'PY'
import glob, json, os, sys
total = 0.0
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*", "frames.jsonl"))):
    t = [json.loads(l)["t"] for l in open(path) if '"type":"frame"' in l.replace(" ", "")]
    late = [x for x in t if x >= t[0] + 5] if t else []
    total += len(late) / (t[-1] - t[0] - 5) if len(late) > 1 else 0
print(f"{total:.1f}")
PY
}

run() {   # $1 = label, $2 = --http value
    {
        echo "state_dir: $tmp/$1"
        echo "defaults: {model: $model, loop: true, drop: oldest}"
        echo "sources:"
        for i in $(seq 1 "$n"); do echo "  cam$i: $clip"; done
    } > "$tmp/$1.yaml"
    "$bin" serve --config "$tmp/$1.yaml" --http "$2" 2> "$tmp/$1.log" &
    pid=$!
}

run off off
sleep "$seconds"; kill -TERM $pid; wait $pid
echo "http off: $(fps "$tmp/off") fps processed, all $n sources"

run on "127.0.0.1:$port"
sleep 5
# Someone watches cam1 for the whole run (as the status page does: a snapshot every 500 ms).
( while kill -0 $pid 2>/dev/null; do curl -s -o /dev/null "$base/api/sources/cam1/snapshot.jpg"; sleep 0.5; done ) &
sleep $((seconds - 5))
curl -s "$base/metrics" > "$tmp/metrics.txt"
for i in $(seq 10); do curl -s -o /dev/null -w "%{time_total} %{size_download}\n" "$base/api/sources/cam1/snapshot.jpg"; sleep 0.6; done > "$tmp/snap.txt"
for i in $(seq 10); do curl -s -o /dev/null -w "%{time_total} %{size_download}\n" "$base/metrics"; done > "$tmp/scrape.txt"
kill -TERM $pid; wait $pid
echo "http on, cam1 watched: $(fps "$tmp/on") fps processed, all $n sources"
python3 - "$tmp" <<'PY'
import re, statistics, sys
tmp = sys.argv[1]
text = open(f"{tmp}/metrics.txt").read()
def series(name):
    return {tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(1)))): float(m.group(2))
            for m in re.finditer(rf'^{name}\{{([^}}]*)\}} (\S+)$', text, re.M)}
s, c = series("segstream_stage_latency_seconds_sum"), series("segstream_stage_latency_seconds_count")
for stage in ["render", "inference"]:
    means = [1000 * s[k] / c[k] for k in s if ("stage", stage) in k and c[k] > 0]
    print(f"{stage} stage: mean {statistics.mean(means):.1f} ms per frame (over {len(means)} sources)")
for name in ["snap", "scrape"]:
    rows = [tuple(map(float, l.split())) for l in open(f"{tmp}/{name}.txt")]
    print(f"{'snapshot.jpg' if name == 'snap' else '/metrics'}: median {1000 * statistics.median(r[0] for r in rows):.1f} ms, "
          f"{statistics.median(r[1] for r in rows) / 1024:.1f} KiB")
PY
