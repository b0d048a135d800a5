#!/usr/bin/env python3
"""PyTorch eager fp32 SFNet forward timing (random weights), the baseline for bench/fp32_bench.sh.

    python3 bench/torch_fp32.py --arch r18 --height 512 --width 1024 --threads 2 --iterations 5
    python3 bench/torch_fp32.py --model FILE.safetensors ...   # that segstream model file's network and weights
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
from sfnet import build_sfnet  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--arch", default="df1")
p.add_argument("--height", type=int, default=512)
p.add_argument("--width", type=int, default=1024)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--iterations", type=int, default=5)
p.add_argument("--warmup", type=int, default=1)
p.add_argument("--model", help="segstream model file: its arch, width, classes and weights (overrides --arch)")
a = p.parse_args()
torch.set_num_threads(a.threads)
if a.model:
    from safetensors import safe_open
    with safe_open(a.model, "pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k).float() for k in f.keys()}
    a.arch = meta["arch"]
    model = build_sfnet(a.arch, int(meta["num_classes"]), meta.get("warp_align_corners", "true") == "true",
                        int(meta.get("width_divisor", "1")))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if [k for k in missing if not k.endswith("num_batches_tracked")] or unexpected:
        sys.exit(f"torch_fp32: {a.model} does not match the PyTorch SFNet")
    model = model.eval()
else:
    model = build_sfnet(a.arch).eval()
x = torch.randn(1, 3, a.height, a.width)
times, cpu = [], []
with torch.inference_mode():
    for i in range(a.warmup + a.iterations):
        t0, c0 = time.perf_counter(), time.process_time()
        model(x).argmax(1)
        if i >= a.warmup:
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
print(f"torch {a.arch} {a.height}x{a.width} threads={a.threads}: median {statistics.median(times):.1f} ms "
      f"(min {min(times):.1f}, max {max(times):.1f}, n={len(times)}), cpu {statistics.median(cpu):.1f} ms/frame")
