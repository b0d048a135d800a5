#!/usr/bin/env bash
# The test suite: Swift (engine, kernels, media, pipeline, CLI), a fuzzing smoke run, and the Python tools (converter).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product segstream
swift test
tools/fuzz-smoke.sh 5   # libFuzzer targets (model loader, video source), a few seconds each
python3 -m pytest -q tools/tests
