#!/usr/bin/env bash
# Engine comparison (bench/compare.py): builds the release segstream, then runs every engine in one process tree.
#   bench/compare.sh --calib DIR [--model df1=models/sfnet-df1-synth.safetensors] [--sizes 512x1024,1024x2048] ...
# Run it on a quiet machine: every row is wall-clock time.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product segstream >&2
exec python3 bench/compare.py --segstream "$(swift build -c release --show-bin-path)/segstream" "$@"
