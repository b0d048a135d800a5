#!/usr/bin/env bash
# The test suite: Swift (engine, kernels, media, pipeline, CLI) and the Python tools (converter).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product segstream
swift test
python3 -m pytest -q tools/tests
