#!/bin/sh
# The daemon's reconnection test at the issue's scale (#12): the RTSP camera is killed and restarted CYCLES times
# (default 20; the test suite does 10 to stay short), each recovery within the backoff cap + 5 s, the file source
# never stopping, every segment playable after SIGTERM.
#   bench/serve_reconnect.sh [CYCLES]      e.g. bench/serve_reconnect.sh 50
# Needs a debug build with tests (swift build --build-tests) and the peers of tools/install-deps.sh.
set -eu
cd "$(dirname "$0")/.."
SEGSTREAM_SERVE_CYCLES="${1:-20}" exec swift test --skip-build --filter 'ServeDaemonTests/reconnects'
