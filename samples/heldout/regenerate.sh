#!/usr/bin/env bash
# Regenerates the held-out evaluation set bit for bit: seeds 1000000-1000199 (never used in training),
# 512x1024, Cityscapes layout, into samples/heldout/data (not committed: ~200 MB of PNGs).
#   segstream eval --data samples/heldout/data --json heldout.json
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 tools/synth/generate.py --out samples/heldout/data --split heldout --seeds 1000000-1000199 \
    --size 512x1024 --workers "${WORKERS:-$(nproc)}"
