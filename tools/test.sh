#!/usr/bin/env bash
# The test suite: Swift (engine, kernels, media, pipeline, CLI), the Python tools (converter), and
# ThreadSanitizer over the suites that run threads: the stream pipeline (five stage threads, queues, stop),
# its queues, and model forwards on the engine's worker threads.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product segstream
swift test
# TSan builds into its own scratch folder (.build-tsan, git-ignored); any report fails the run.
TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" swift test --sanitize=thread --scratch-path .build-tsan \
    --filter 'StreamPipelineTests|BoundedQueueTests|NetworkParityTests'
python3 -m pytest -q tools/tests
