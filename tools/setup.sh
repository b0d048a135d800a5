#!/usr/bin/env bash
# Installs everything, builds segstream (release) and runs the main job: the bundled model on the bundled
# sample drive, writing an annotated video to drive-segmented.mp4.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
swift build -c release --product segstream
.build/release/segstream run samples/drive.mp4 -o drive-segmented.mp4 --json drive-segmented.jsonl
echo "wrote drive-segmented.mp4 and drive-segmented.jsonl"
