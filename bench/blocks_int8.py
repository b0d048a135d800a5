#!/usr/bin/env python3
"""int8 cost of decoder blocks (issue #15) on DF1: interleaved `segstream profile` runs of the shipped weights
without and with blocks (fresh block weights: the time does not depend on the values), docs/blocks.md.

    python3 bench/blocks_int8.py [--blocks seem=s-daspp,bam --blocks seem=fs,bam] [--size 512x1024]
        [--rounds 9] [--iterations 30] [--work /tmp/blocks-int8]

Needs a release build (.build/release/segstream). Per configuration: the median over rounds of each run's
median frame time, and the blocks' share of the summed per-layer time within each run, which holds still when
other jobs share the machine and whole-frame times do not. Prints the load average with each round.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
SEGSTREAM = os.path.join(ROOT, ".build", "release", "segstream")
SHIPPED = os.path.join(ROOT, "models", "sfnet-df1-synth.safetensors")
BLOCK_PREFIXES = ("head.seem.", "head.bam.")


def make_int8(blocks_text: str, work: str) -> str:
    import torch
    import convert_checkpoint as cc
    import train
    from safetensors import safe_open
    from sfnet import build_sfnet
    name = blocks_text.replace(",", "+").replace("=", "-") or "control"
    fp32, int8 = os.path.join(work, f"{name}.safetensors"), os.path.join(work, f"{name}-int8.safetensors")
    if not os.path.exists(int8):
        torch.manual_seed(0)
        blocks = train.parse_blocks(blocks_text)
        model = build_sfnet("df1", 19, decoder_blocks=blocks)
        train.load_init(model, SHIPPED, "df1")
        scale = float(safe_open(SHIPPED, "pt").metadata().get("network_scale", "1"))
        state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
        cc.save_model(state, cc.model_metadata("df1", 19, True, network_scale=scale, decoder_blocks=blocks,
                                               source="bench/blocks_int8.py"), fp32)
        subprocess.run([SEGSTREAM, "quantize", "--model", fp32, "--calibrate", os.path.join(ROOT, "samples", "drive.mp4"),
                        "--frames", "8", "--threads", "2", "-o", int8], check=True, stdout=subprocess.DEVNULL)
    return int8


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--blocks", action="append", default=None)
    p.add_argument("--size", default="512x1024")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--work", default="/tmp/blocks-int8")
    args = p.parse_args()
    if not os.path.exists(SEGSTREAM):
        print(f"blocks_int8: build first: swift build -c release --product segstream", file=sys.stderr)
        return 69
    os.makedirs(args.work, exist_ok=True)
    configs = [""] + (args.blocks or ["seem=s-daspp,bam", "seem=fs,bam"])
    models = {c: make_int8(c, args.work) for c in configs}
    frame = {c: [] for c in configs}
    share = {c: [] for c in configs}
    for r in range(args.rounds):
        for c in (configs if r % 2 == 0 else list(reversed(configs))):
            out = subprocess.run([SEGSTREAM, "profile", "--model", models[c], "--size", args.size, "--threads", "2",
                                  "--iterations", str(args.iterations), "--warmup", "3", "--layer-runs", "3", "--json"],
                                 capture_output=True, text=True, check=True, timeout=600)
            j = json.loads(out.stdout)
            frame[c].append(j["median_ms"])
            share[c].append(sum(l["ms"] or 0 for l in j["layers"] if l["name"].startswith(BLOCK_PREFIXES)) / j["layers_ms"])
        print(f"round {r}: " + ", ".join(f"{c or 'control'} {frame[c][-1]:.2f} ms" for c in configs)
              + f"; load average {os.getloadavg()[0]:.2f}", flush=True)
    base = statistics.median(frame[""])
    for c in configs:
        m = statistics.median(frame[c])
        print(f"{args.size} {c or 'control'}: frame {m:.2f} ms (x{m / base:.3f}); block layers "
              f"{100 * statistics.median(share[c]):.1f} % of layer time (runs {100 * min(share[c]):.1f}–{100 * max(share[c]):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
