#!/usr/bin/env bash
# Seed corpora for the SegFuzz targets, written into DIR/corpus-model and DIR/corpus-video:
# the test-fixture model files, and tiny clips in the containers segstream reads (few frames, 32x32).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir=$1
mkdir -p "$dir/corpus-model" "$dir/corpus-video"
cp "$root"/Tests/SFNetTests/Fixtures/df1_w16_ac0.safetensors "$root"/Tests/SegEngineTests/Fixtures/dtypes.safetensors \
   "$dir/corpus-model/"
for spec in "mp4 libx264" "mkv libx264" "ts libx264" "avi mpeg4" "webm libvpx-vp9"; do
  set -- $spec
  ffmpeg -v error -nostdin -y -f lavfi -i testsrc2=size=32x32:rate=10 -frames:v 4 -c:v "$2" -pix_fmt yuv420p \
    "$dir/corpus-video/seed.$1" || true
done
