#!/usr/bin/env bash
# The test suite: Swift (engine, kernels, media, pipeline, serve, CLI); ThreadSanitizer over the suites that run
# threads (the stream pipeline's five stage threads, queues and stop; model forwards on the engine's shared worker
# pool, two sessions sharing one model; serve's MQTT publisher, its network thread and four publishing threads);
# a fuzzing smoke run; and the Python tools (converter, panoptic PQ cross-checked against cityscapesscripts).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product segstream
swift test
# TSan builds into its own scratch folder (.build-tsan, git-ignored); any report fails the run.
TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" swift test --sanitize=thread --scratch-path .build-tsan \
    --filter 'StreamPipelineTests|BoundedQueueTests|NetworkParityTests|SessionTests|GraphTests|MQTTQueueTests'
tools/fuzz-smoke.sh 5   # libFuzzer targets (model loader, video source), a few seconds each
python3 -m pytest -q tools/tests
