#!/usr/bin/env bash
# How many sources `segstream serve` sustains without drops (#12, item 7): for each precision and network scale,
# N = 1, 2, … sources, each the sample clip (1024×512, 20 fps) looping in real time as a live source
# (`drop: oldest`, one-frame entrance) asking for FPS frames a second (`fps:`), recording on; a step passes when,
# after a 5 s warm-up, every source processed at least 95 % of FPS and at most 1 % of its frames were dropped
# because inference was busy. The sweep stops at the first failing N and reports the last passing one. Each step
# also prints the p50 end-to-end latency (from a frame's arrival) and the p50 inference stage of the same frames.
# Usage: bench/serve_capacity_sweep.sh [FPS] [SECONDS] [PRECISIONS] [SCALES] [MAX_SOURCES]
#        defaults: 5 30 "int8 fp32" "0.5 1" 8                         (release build)
set -euo pipefail
cd "$(dirname "$0")/.."
fps=${1:-5}
seconds=${2:-30}
precisions=${3:-int8 fp32}
scales=${4:-0.5 1}
max_n=${5:-8}
bin=${BIN:-.build/release/segstream}
[ -x "$bin" ] || swift build -c release --product segstream
clip=$(realpath samples/drive.mp4)
model=$(realpath models/sfnet-df1-synth-int8.safetensors)
fp32_model=$(realpath models/sfnet-df1-synth.safetensors)
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT

step() {   # precision scale n -> prints "ok|fail summary"
    local precision=$1 scale=$2 n=$3 dir="$tmp/$1-$2-$3" m=$model
    [ "$precision" = fp32 ] && m=$fp32_model
    mkdir -p "$dir"
    {
        echo "state_dir: $dir/state"
        echo "http: 127.0.0.1:0   # on, as by default, on any free port"
        echo "defaults: {model: $m, precision: $precision, scale: $scale, fps: $fps, loop: true, drop: oldest, outputs: {recording: {segment: 1m}}}"
        echo "sources:"
        for i in $(seq 1 "$n"); do echo "  cam$i: $clip"; done
    } > "$dir/serve.yaml"
    "$bin" serve --config "$dir/serve.yaml" 2> "$dir/serve.log" &
    pid=$!
    sleep "$seconds"
    kill -TERM $pid; wait $pid; pid=
    python3 - "$dir/state" "$n" "$fps" <<'PY'
import glob, json, os, sys
state, n, fps = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ok, rates, drops, lat, inf = True, [], 0, [], []
for path in sorted(glob.glob(os.path.join(state, "*", "frames.jsonl"))):
    lines = [json.loads(l) for l in open(path)]
    frames = [l for l in lines if l["type"] == "frame"]
    t = [f["t"] for f in frames]
    warm = t[0] + 5 if t else 0
    late = [f for f in frames if f["t"] >= warm]
    rate = len(late) / (t[-1] - warm) if late and t[-1] > warm else 0
    dropped = sum(c["dropped"]["inference_busy"] for c in lines if c.get("event") == "closed")
    rates.append(rate); drops += dropped; lat += [f["latency_ms"] for f in late]
    inf += [f["stages_ms"]["inference"] for f in late]
    if rate < 0.95 * fps or dropped > 0.01 * (dropped + len(frames)): ok = False
lat.sort(); inf.sort()
p50 = lat[len(lat) // 2] if lat else 0
inf50 = inf[len(inf) // 2] if inf else 0
print(("ok" if ok and len(rates) == n else "fail") +
      f" {n} sources: {min(rates, default=0):.1f}-{max(rates, default=0):.1f} fps each ({sum(rates):.1f} in all), "
      f"dropped {drops}, latency p50 {p50:.0f} ms, inference p50 {inf50:.0f} ms"
      + (f" (latency {p50 / inf50:.2f}x inference)" if inf50 else ""))
PY
}

echo "each source asks for $fps fps of the sample clip (1024x512); network input = frame x scale x 1.75; ${seconds} s per step"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for precision in $precisions; do
    for scale in $scales; do
        best=0
        for n in $(seq 1 "$max_n"); do
            out=$(step "$precision" "$scale" "$n")
            echo "  $precision scale $scale: $out"
            [ "${out%% *}" = ok ] || break
            best=$n
        done
        echo "$precision, scale $scale: sustains $best source(s) at $fps fps without drops"
    done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
