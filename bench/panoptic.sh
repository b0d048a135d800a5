#!/usr/bin/env bash
# Panoptic measurements (issue #14), release build, one core for the fusion timings:
#   1. milliseconds of components / fusion / tracking / encoding at the drive's 512x1024 and at 1024x2048
#   2. id switches per 100 frames on the sample drive (ground-truth semantic labels, and the model's masks)
#   3. held-out PQ and mIoU before/after the fusion (needs samples/heldout/regenerate.sh); with HEAD_MODEL set
#      (an int8 model file with the instance head, docs/panoptic.md), also the head against components on it
#   4. run fps, semantic only against --panoptic, alternated
# The machine is shared: read the medians, not single runs.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build}
swift build -c release --scratch-path "$SCRATCH" --product segstream
swift build -c release --scratch-path "$SCRATCH" --product SegPanopticBench
bin="$SCRATCH/release"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== 1. timing (one core)"
taskset -c 0 "$bin/SegPanopticBench" time samples/drive_gtFine_labelTrainIds.mkv --frames 20 --repeat 5

echo "== 2. id switches on the sample drive"
"$bin/SegPanopticBench" idswitch samples/drive_gtFine_instanceIds.mkv samples/drive_gtFine_labelTrainIds.mkv
"$bin/segstream" run samples/drive.mp4 --masks "$tmp/masks" --telemetry /dev/null >/dev/null
"$bin/SegPanopticBench" idswitch samples/drive_gtFine_instanceIds.mkv "$tmp/masks"

if [ -d samples/heldout/data ]; then
    echo "== 3. held-out PQ"
    for mode in "" "--no-fusion" "--instance-grouping category" "--instance-grouping category --no-fusion"; do
        # shellcheck disable=SC2086
        "$bin/segstream" eval --data samples/heldout/data --panoptic $mode --json "$tmp/eval.json" >/dev/null
        python3 -c "import json,sys; d=json.load(open('$tmp/eval.json')); print('${mode:-fusion}:', {k: d[k] for k in ['pq','sq','rq','pq_things','pq_stuff','miou','miou_fused']})"
    done
fi

if [ -d samples/heldout/data ] && [ -n "${HEAD_MODEL:-}" ]; then
    echo "== 3b. held-out PQ, instance head vs components, $HEAD_MODEL"
    for mode in "--instances components" "--instances components --no-fusion" "--instances head" \
                "--instances head --no-fusion" "--instances head --instance-class labels" \
                "--instances head --instance-class components"; do
        # shellcheck disable=SC2086
        "$bin/segstream" eval --data samples/heldout/data --model "$HEAD_MODEL" --panoptic $mode --json "$tmp/eval.json" >/dev/null
        python3 -c "import json,sys; d=json.load(open('$tmp/eval.json')); print('$mode:', {k: d[k] for k in ['pq','sq','rq','pq_things','pq_stuff','miou','miou_fused']})"
    done
fi

echo "== 4. run fps, semantic only vs --panoptic (alternated)"
for i in 1 2 3; do
    for mode in "" "--panoptic"; do
        # shellcheck disable=SC2086
        "$bin/segstream" run samples/drive.mp4 -o "$tmp/out.mp4" $mode --telemetry /dev/null 2>&1 | grep -o '([0-9.]* fps)' \
            | sed "s/^/${mode:-semantic} /"
    done
done
