#!/usr/bin/env python3
"""Parameters and multiply-accumulates that decoder blocks (issue #15) add to SFNet, at inference.

    tools/block_cost.py --arch df1 --size 512x1024 --blocks dfm,ifbf [--blocks ifbf ...]

Counts the inference network only (training-only tensors such as FBNet's BwBCE classifier are left out, as the
converter leaves them out of model files). MACs: every Conv2d's output elements × (in/groups)·k·k, from forward hooks
at the given input size; the blocks' elementwise gates and pools are a few multiplies per element of maps at the
decoder's resolution and are not included (they are listed by `segstream profile` with their times).
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


def cost(arch: str, size, blocks: dict) -> tuple[int, int]:
    """(parameters, conv MACs) of the inference network at input size (H, W)."""
    model = build_sfnet(arch, 19, decoder_blocks=blocks).eval()
    params = sum(v.numel() for k, v in model.state_dict().items()
                 if not training_only(k) and "running_" not in k and not k.startswith("head.dfm.bwbce"))
    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        k = module.kernel_size[0] * module.kernel_size[1]
        macs += output.numel() * (module.in_channels // module.groups) * k

    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d) and not name.startswith("head.dfm.bwbce"):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, *size))
    return params, macs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="df1", choices=["df1", "df2", "r18"])
    p.add_argument("--size", default="512x1024", help="HxW")
    p.add_argument("--blocks", action="append", default=[], help="a block set as train.py --blocks takes; repeatable")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    base_params, base_macs = cost(args.arch, size, {})
    print(f"{args.arch} {args.size}: {base_params / 1e6:.3f} M parameters, {base_macs / 1e9:.3f} GMAC (no block)")
    for text in args.blocks:
        params, macs = cost(args.arch, size, parse_blocks(text))
        print(f"+ {text}: +{params - base_params} parameters (+{100 * (params - base_params) / base_params:.2f} %), "
              f"+{(macs - base_macs) / 1e6:.4f} MMAC (+{100 * (macs - base_macs) / base_macs:.4f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
