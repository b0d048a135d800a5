#!/usr/bin/env bash
# System packages (FFmpeg 5.1, OpenBLAS, pkg-config; libsystemd-dev for sd_notify, systemd for the unit tests'
# systemd-analyze) and the Python tools' requirements, on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    pkg-config ffmpeg libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libavdevice-dev \
    libopenblas-dev libsystemd-dev systemd python3-pip >/dev/null
# Test peers (issue #11): a real RTSP server on loopback (gst-rtsp-server through Debian's python3-gi, run by
# tools/rtsp_test_server.py with /usr/bin/python3), and util-linux's unshare for the full-disk tests (a 64 KiB
# tmpfs in a private mount namespace).
$SUDO apt-get install -y -qq --no-install-recommends \
    python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base \
    gstreamer1.0-plugins-good gstreamer1.0-plugins-bad util-linux >/dev/null
# MQTT (issue #13): libmosquitto for `serve`'s client, and the broker and mosquitto_sub as the tests' real peers.
$SUDO apt-get install -y -qq --no-install-recommends mosquitto libmosquitto-dev mosquitto-clients >/dev/null
# The status page's test (issue #13) loads it in Debian's headless chromium; DejaVu gives it a font to draw with.
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
# The tools need torch's CPU build only; this project's machines carry its wheel in /opt/wheels. Without it,
# pip takes torch from PyPI (a much larger download with CUDA libraries).
cpu_wheel=$(ls /opt/wheels/torch-2.13.0+cpu-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$cpu_wheel" ]; then python3 -m pip install -q "$cpu_wheel"; fi
python3 -m pip install -q -r tools/requirements.txt
