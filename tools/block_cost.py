#!/usr/bin/env python3
"""Parameters and conv GMAC of SFNet with optional decoder blocks (issue #15), against the reference SFNet.

    tools/block_cost.py [--arch df1] [--size 512x1024] [--blocks dfm,ifbf ...]

Each `--blocks` value is one configuration (train.py's syntax); without any, every block alone, SeENet's pair
and all blocks together are listed. Only the inference network counts: training-only tensors (FBNet's BwBCE
classifier `head.dfm.bwbce`) are left out, as the converter leaves them out of model files. MACs are counted per
convolution (output elements × input channels per group × kernel area), as `segstream profile` counts them;
pools, resizes, warps and gates are not MACs.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_checkpoint import training_only  # noqa: E402
from sfnet import build_sfnet  # noqa: E402
from train import parse_blocks  # noqa: E402

DEFAULT_CONFIGS = ["dfm", "ifbf", "seem=s-daspp", "seem=fs", "bam", "seem=s-daspp,bam", "dfm,ifbf,seem=s-daspp,bam"]


def cost(arch: str, blocks: dict, height: int, width: int) -> tuple[int, int]:
    """(parameters without BN statistics, conv MACs) of the inference network at this input size."""
    model = build_sfnet(arch, 19, decoder_blocks=blocks).eval()
    macs = 0

    def count(module, _inputs, output):
        nonlocal macs
        kh, kw = module.kernel_size
        macs += output.numel() * (module.in_channels // module.groups) * kh * kw

    hooks = [m.register_forward_hook(count) for name, m in model.named_modules()
             if isinstance(m, torch.nn.Conv2d) and not training_only(name + ".weight")]
    with torch.no_grad():
        model(torch.zeros(1, 3, height, width))
    for h in hooks:
        h.remove()
    return sum(p.numel() for name, p in model.named_parameters() if not training_only(name)), macs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="df1", choices=["df1", "df2", "r18"])
    p.add_argument("--size", default="512x1024", help="HxW")
    p.add_argument("--blocks", action="append", default=None, metavar="NAME[=VALUE],...")
    args = p.parse_args(argv)
    height, width = (int(v) for v in args.size.split("x"))
    base_params, base_macs = cost(args.arch, {}, height, width)
    print(f"{args.arch} at {height}x{width}: reference {base_params / 1e6:.3f} M params, {base_macs / 1e9:.3f} GMAC")
    print("| blocks | params (M) | added params | GMAC | added GMAC |")
    print("|---|---|---|---|---|")
    for text in args.blocks or DEFAULT_CONFIGS:
        params, macs = cost(args.arch, parse_blocks(text), height, width)
        print(f"| {text} | {params / 1e6:.3f} | +{(params - base_params) / 1e3:.1f} k ({100 * (params / base_params - 1):+.2f} %) "
              f"| {macs / 1e9:.3f} | +{(macs - base_macs) / 1e9:.4f} ({100 * (macs / base_macs - 1):+.3f} %) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
