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
# The tools need torch's CPU build only; this project's machines carry its wheel in /opt/wheels. Without it,
# pip takes torch from PyPI (a much larger download with CUDA libraries).
cpu_wheel=$(ls /opt/wheels/torch-2.13.0+cpu-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$cpu_wheel" ]; then python3 -m pip install -q "$cpu_wheel"; fi
python3 -m pip install -q -r tools/requirements.txt
