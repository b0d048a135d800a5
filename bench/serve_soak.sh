#!/usr/bin/env bash
# Soak of `segstream serve` (#12): SOURCES real RTSP cameras (tools/rtsp_test_server.py, gst-rtsp-server on
# loopback, one server per source), the release daemon with the bundled int8 model and recording on, for MINUTES;
# every RESTART_EVERY_S one camera server (round robin) is killed (SIGKILL) and started again on the same port.
# The daemon's resident memory (VmRSS) is sampled every 10 s into rss.csv. At the end (SIGTERM) it reports:
#   - RSS level (5-minute medians) after the first 10 % of the run vs the last 5 minutes and the highest level,
#   - restarts, and how many were recovered: a `connected` event in that source's frames.jsonl after the restart,
#     within the backoff cap + 5 s of the restarted server's READY,
#   - frames processed / dropped (inference busy) / skipped by `fps:` per source, from the `closed` events,
#   - frames lost inside a connection: the camera sends the clip at CLIP_FPS from its first frame on, so the frames
#     a connection received are contiguous in pts from its first one; every gap is a frame it sent that we lost.
#     Except in the last GOP before a kill: the clip has B-frames (x264's default), sent in decode order (I P B B B),
#     so a kill mid-GOP cuts B-frames that come before frames already received in pts: those were never sent, and
#     are counted apart ("cut by the kill"). GOPs start every whole second (-g CLIP_FPS, no scene cuts).
#   - that every segment decodes (`ffmpeg -v error -i SEG -f null -` prints nothing).
#
# Usage: bench/serve_soak.sh [MINUTES] [RESTART_EVERY_S] [SOURCES]      defaults 60 180 4 (the issue's soak)
# Environment: CLIP (default samples/drive.mp4), CLIP_SIZE (512x256), CLIP_FPS (8), SCALE (0.5), FPS (all),
#   BIN (default .build/release/segstream), KEEP=1 keeps the state directory. Exit status 1 if a check fails (RSS > 5 %, a restart not recovered, a frame dropped or lost (with FPS=all),
#   a segment that does not decode, the daemon not exiting 0).
#
# Sizing for a 2-core machine: each camera sends the clip scaled to CLIP_SIZE at CLIP_FPS (H.264, a key frame
# every second), looped (with -c copy) to the run's length + 2 minutes, so no stream ends during the run; the
# network input is CLIP_SIZE × SCALE × the model's network_scale 1.75 (512x256 × 0.5 × 1.75 = 448x224).
# Needs Debian's /usr/bin/python3 with gir1.2-gst-rtsp-server-1.0 (tools/install-deps.sh) and ffmpeg.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-60}
every=${2:-180}
n=${3:-4}
clip_src=$(realpath "${CLIP:-samples/drive.mp4}")
clip_size=${CLIP_SIZE:-512x256}
clip_fps=${CLIP_FPS:-8}
scale=${SCALE:-0.5}
fps=${FPS:-all}
backoff_initial=200ms; backoff_cap_s=1; stall=3s
model=$(realpath models/sfnet-df1-synth-int8.safetensors)
bin=${BIN:-.build/release/segstream}
[ -x "$bin" ] || swift build -c release --product segstream
tmp=$(mktemp -d); echo "state: $tmp" >&2
declare -a spid
pid=; sampler=
cleanup() {
    for p in "${spid[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

# The camera clip: scaled, re-timed, GOP 1 s, then looped without re-encoding to the run's length + 2 min.
w=${clip_size%x*}; h=${clip_size#*x}
ffmpeg -nostdin -v error -y -i "$clip_src" -vf "scale=$w:$h,fps=$clip_fps" -an -c:v libx264 -preset veryfast -crf 28 \
    -pix_fmt yuv420p -g "$clip_fps" -keyint_min "$clip_fps" -sc_threshold 0 "$tmp/short.mp4"
ffmpeg -nostdin -v error -y -stream_loop -1 -i "$tmp/short.mp4" -c copy -t $((minutes * 60 + 120)) "$tmp/clip.mp4"

# Free ports, one per source.
mapfile -t ports < <(python3 - "$n" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
for s in socks: print(s.getsockname()[1])
PY
)
start_server() {   # $1 = index (0-based); sets spid[$1] and ready_at (epoch seconds of its READY line)
    local i=$1 fifo="$tmp/ready$1"
    rm -f "$fifo"; mkfifo "$fifo"
    /usr/bin/python3 tools/rtsp_test_server.py "$tmp/clip.mp4" "${ports[$i]}" > "$fifo" 2>> "$tmp/server$i.log" &
    spid[$i]=$!
    local line; read -r line < "$fifo"
    [ "${line%% *}" = READY ] || { echo "server $i: $line" >&2; exit 1; }
    # keep the pipe drained (the server prints nothing more, but never block it)
    cat "$fifo" > /dev/null &
    ready_at=$(date +%s.%N)
}
for i in $(seq 0 $((n - 1))); do start_server "$i"; done

{
    echo "state_dir: $tmp/state"
    echo "http: 127.0.0.1:0   # on, as by default, on any free port"
    echo "backoff: {initial: $backoff_initial, cap: ${backoff_cap_s}s}"
    echo "defaults: {model: $model, scale: $scale, fps: $fps, stall_timeout: $stall, outputs: {recording: {segment: 1m, keep_count: none, keep_age: 1d}}}"
    echo "sources:"
    for i in $(seq 0 $((n - 1))); do echo "  cam$((i + 1)): rtsp://127.0.0.1:${ports[$i]}/clip"; done
} > "$tmp/serve.yaml"
"$bin" serve --config "$tmp/serve.yaml" 2> "$tmp/serve.log" &
pid=$!
t0=$(date +%s.%N)

( echo "t_s,rss_kib"
  while kill -0 "$pid" 2>/dev/null; do
      rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || break
      [ -n "$rss" ] && echo "$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')"),$rss"
      sleep 10
  done ) > "$tmp/rss.csv" &
sampler=$!

end=$(python3 -c "print($t0 + $minutes * 60)")
echo "source,killed_at,ready_at" > "$tmp/restarts.csv"
k=0
while :; do
    next=$(python3 -c "print($t0 + $every * ($k + 1))")
    if python3 -c "import sys; sys.exit(0 if $next < $end - 10 else 1)"; then
        sleep "$(python3 -c "import time; print(max(0, $next - time.time()))")"
        i=$((k % n))
        kill -KILL "${spid[$i]}"; wait "${spid[$i]}" 2>/dev/null || true
        killed=$(date +%s.%N)
        start_server "$i"
        echo "cam$((i + 1)),$killed,$ready_at" >> "$tmp/restarts.csv"
        echo "$(date -u +%T) restart $((k + 1)): cam$((i + 1)) killed and started again" >&2
        k=$((k + 1))
    else
        sleep "$(python3 -c "import time; print(max(0, $end - time.time()))")"
        break
    fi
done
term_s=$(python3 -c "import time; print(time.time() - $t0)")   # RSS samples after this are the exit, not the run
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=
wait "$sampler" 2>/dev/null || true; sampler=

fail=0
[ "$rc" = 0 ] || { echo "daemon exit status $rc (expected 0)" >&2; fail=1; }
bad=0; nseg=0
while IFS= read -r seg; do
    nseg=$((nseg + 1))
    out=$(ffmpeg -nostdin -v error -i "$seg" -f null - 2>&1 < /dev/null || echo "ffmpeg failed")
    [ -z "$out" ] || { echo "segment $seg: $out" >&2; bad=$((bad + 1)); }
done < <(find "$tmp/state" -path '*/recordings/*' -type f | sort)
echo "segments: $nseg, decode errors: $bad"
[ "$bad" = 0 ] && [ "$nseg" -gt 0 ] || fail=1

python3 - "$tmp" "$n" "$minutes" "$every" "$backoff_cap_s" "$clip_fps" "$clip_size" "$scale" "$fps" "$term_s" <<'PY' || fail=1
import csv, glob, json, os, sys
tmp, n, minutes, every, cap, clip_fps = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
clip_size, scale, fps = sys.argv[7:10]
term_s = float(sys.argv[10])
ok = True
rss = [(float(r["t_s"]), int(r["rss_kib"])) for r in csv.DictReader(open(os.path.join(tmp, "rss.csv")))]
rss = [r for r in rss if r[0] < term_s]
# Levels, not single samples: the daemon returns free memory once a minute and a reconnect frees a connection's
# buffers, so one sample can dip 10 % below the level. Base = median of the 5 minutes from the 10 % point; end =
# median of the last 5 minutes; peak = the highest 5-minute median after the base.
import statistics
base_t = minutes * 60 * 0.10
def level(a, b):
    v = [r[1] for r in rss if a <= r[0] < b]
    return statistics.median(v) if v else None
base = level(base_t, base_t + 300)
end_t = rss[-1][0]
last = level(end_t - 300, end_t + 1)
windows = [(t, level(t, t + 300)) for t in range(int(base_t), int(end_t) - 299, 300)]
peak_t, peak = max(((t, v) for t, v in windows if v is not None), key=lambda w: w[1], default=(base_t, base))
pct = lambda v: 100.0 * (v - base) / base
print(f"run: {minutes:g} min, {n} RTSP sources ({clip_size} {clip_fps:g} fps H.264, network scale {scale} x 1.75, fps: {fps}), "
      f"one server restart every {every:g} s")
print(f"RSS: {len(rss)} samples; median of {base_t:.0f}-{base_t + 300:.0f} s (10 %) {base / 1024:.1f} MiB, of the last 5 min "
      f"{last / 1024:.1f} MiB ({pct(last):+.1f} %), highest 5-min median after it {peak / 1024:.1f} MiB from {peak_t} s "
      f"({pct(peak):+.1f} %); single samples after 10 %: {min(r[1] for r in rss if r[0] >= base_t) / 1024:.1f}-"
      f"{max(r[1] for r in rss if r[0] >= base_t) / 1024:.1f} MiB")
if abs(pct(last)) > 5 or pct(peak) > 5:
    print("RSS: NOT flat within 5 %"); ok = False

def lines(name):
    paths = sorted(glob.glob(os.path.join(tmp, "state", name, "frames.jsonl*")), key=lambda p: (p.count("."), p), reverse=True)
    out = []
    for p in paths:
        out += [json.loads(l) for l in open(p)]
    return sorted(out, key=lambda l: l["t"])

ev = {f"cam{i}": lines(f"cam{i}") for i in range(1, n + 1)}
restarts = list(csv.DictReader(open(os.path.join(tmp, "restarts.csv"))))
recovered, delays = 0, []
for r in restarts:
    killed, ready = float(r["killed_at"]), float(r["ready_at"])
    conn = [l["t"] for l in ev[r["source"]] if l["type"] == "event" and l.get("event") == "connected" and l["t"] > killed]
    d_ready = conn[0] - ready if conn else None
    good = d_ready is not None and d_ready <= cap + 5
    recovered += good
    if conn: delays.append((conn[0] - killed, d_ready))
    if not good: print(f"  {r['source']} killed at {killed:.1f}: not recovered within cap + 5 s (first connected after: {d_ready})")
print(f"restarts: {len(restarts)}, recovered {recovered} (connected within backoff cap {cap:g} s + 5 s of the server's READY)", end="")
if delays:
    k = [d[0] for d in delays]; rd = [d[1] for d in delays]
    print(f"; kill -> connected mean {sum(k) / len(k):.2f} s, max {max(k):.2f} s; READY -> connected mean {sum(rd) / len(rd):.2f} s, max {max(rd):.2f} s")
else:
    print()
if recovered != len(restarts): ok = False

tot = [0, 0, 0]
tot_lost = [0]
tot_cut = [0]
for name, ls in ev.items():
    closed = [l for l in ls if l.get("event") == "closed"]
    frames = sum(c["frames"] for c in closed)
    dropped = sum(c["dropped"]["inference_busy"] for c in closed)
    skipped = sum(c["skipped_fps"] for c in closed)
    lines_f = sum(1 for l in ls if l["type"] == "frame")
    conns = sum(1 for l in ls if l.get("event") == "connected")
    disc = [l.get("reason", "") for l in ls if l.get("event") in ("disconnected", "stalled")]
    lat = sorted(l["latency_ms"] for l in ls if l["type"] == "frame") or [0]
    # per connection (frame lines between one `connected` and the next): the pts span against the frames seen
    spans, cur = [], []
    for l in ls:
        if l.get("event") == "connected":
            if cur: spans.append(cur)
            cur = []
        elif l["type"] == "frame" and (fps == "all"):
            cur.append(l["pts"])
    if cur: spans.append(cur)
    def holes(c, upto):   # frames missing between the first pts and `upto` (exclusive)
        seen = {round(p * clip_fps) for p in c if p < upto}
        return (round(upto * clip_fps) - round(min(c) * clip_fps)) - len(seen) if seen else 0
    import math
    lost = sum(holes(c, math.floor(max(c) + 1e-6)) for c in spans)   # up to the last GOP's key frame
    cut = sum(holes(c, max(c) + 1 / clip_fps) for c in spans) - lost
    tot_cut[0] += cut
    first_pts = max((min(c) for c in spans), default=0)
    tot_lost[0] += lost
    # frames the camera could have sent: the run minus the outages (disconnect/stall ... next connected)
    print(f"{name}: processed {frames} ({lines_f} frame lines), dropped (inference busy) {dropped}, skipped by fps: {skipped}, "
          f"connections {conns}, disconnections {len(disc)}, latency p50 {lat[len(lat) // 2]:.0f} ms, p95 {lat[int(len(lat) * 0.95)]:.0f} ms, "
          f"lost inside connections {lost}, cut by the kill in the last GOP {cut} (latest first frame of a connection at pts {first_pts:g} s)")
    tot[0] += frames; tot[1] += dropped; tot[2] += skipped
print(f"all: processed {tot[0]} ({tot[0] / (minutes * 60):.1f} fps), dropped (inference busy) {tot[1]}, skipped by fps {tot[2]}; "
      f"the cameras offer {n} x {clip_fps:g} = {n * clip_fps:g} fps while connected")
if fps == "all":
    print(f"lost: {tot_lost[0]} frames the cameras sent inside their connections" + ("" if tot_lost[0] == 0 else ": NOT none")
          + f"; {tot_cut[0]} B-frames of a last GOP never sent (server killed)")
    if tot_lost[0] or tot[1]: ok = False
sys.exit(0 if ok else 1)
PY
echo "state directory: $tmp (rss.csv, restarts.csv, serve.log, serve.yaml)$([ -n "${KEEP:-}" ] || echo ', removed; KEEP=1 keeps it')"
exit $fail
