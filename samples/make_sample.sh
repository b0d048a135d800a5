#!/usr/bin/env bash
# Regenerates samples/drive.mp4 (the clip README's main command segments) and its exact ground truth,
# bit for bit, with the street-scene generator: seed 2000000, 200 frames at 20 fps, 512x1024.
# The ground truth is stored as lossless FFV1 video, one frame per video frame:
#   drive_gtFine_labelTrainIds.mkv (gray, train ids, 255 = ignore)
#   drive_gtFine_instanceIds.mkv   (gray16le, labelId*1000+k for things, labelId for stuff; k follows an object
#                                   through the whole clip, so identity switches can be counted)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 tools/synth/generate.py --clip samples/drive.mp4 --seed 2000000 --frames 200 --fps 20 --size 512x1024 \
    --gt-dir "$tmp" --crf 26
ffmpeg -v error -nostdin -y -framerate 20 -i "$tmp/frame_%06d_gtFine_labelTrainIds.png" -c:v ffv1 -pix_fmt gray \
    samples/drive_gtFine_labelTrainIds.mkv
ffmpeg -v error -nostdin -y -framerate 20 -i "$tmp/frame_%06d_gtFine_instanceIds.png" -c:v ffv1 -pix_fmt gray16le \
    samples/drive_gtFine_instanceIds.mkv
ls -l samples/drive*.m*
