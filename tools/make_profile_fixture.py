#!/usr/bin/env python3
"""Writes the PyTorch reference MAC counts that `segstream profile` is checked against (committed; rerun only
when the oracle or the fixture models change).

    python3 tools/make_profile_fixture.py

Tests/SFNetTests/Fixtures/reference_macs.json: for each fixture model in Tests/SFNetTests/Fixtures and each
size (H, W), every nn.Conv2d the PyTorch oracle (tools/sfnet/model.py) runs, in execution order, with its
multiply-accumulate count out_channels·out_h·out_w·(in_channels/groups)·kh·kw, counted by forward hooks on
the real module outputs. It shares no code with the Swift engine's own count (Conv2d.macs).
"""
from __future__ import annotations

import json
import os
import sys

import torch
from safetensors import safe_open

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from sfnet import build_sfnet  # noqa: E402

MODELS = ["r18_w16", "df1_w16_ac0", "df2_w16", "df1_w16_seem_bam", "df2_w16_seem_fs_bam"]
SIZES = [(64, 128), (70, 100)]   # (H, W); 70×100 is not a multiple of 32: stride-2 convs round up


def conv_macs(model: torch.nn.Module, height: int, width: int) -> list[dict]:
    layers = []

    def hook(name):
        def record(module, inputs, output):
            n, oc, oh, ow = output.shape
            kh, kw = module.kernel_size
            layers.append({"name": name, "macs": oc * oh * ow * (module.in_channels // module.groups) * kh * kw})
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules()
               if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        model(torch.zeros(1, 3, height, width))
    for h in handles:
        h.remove()
    return layers


def main() -> None:
    out = {"about": __doc__.strip().splitlines()[0], "models": {}}
    for name in MODELS:
        with safe_open(os.path.join(ROOT, "Tests", "SFNetTests", "Fixtures", f"{name}.safetensors"), "pt") as f:
            meta = f.metadata()
        model = build_sfnet(meta["arch"], int(meta["num_classes"]), meta["warp_align_corners"] == "true",
                            int(meta["width_divisor"]), decoder_blocks=json.loads(meta.get("decoder_blocks", "{}"))).eval()
        cases = []
        for h, w in SIZES:
            layers = conv_macs(model, h, w)
            cases.append({"height": h, "width": w, "macs": sum(l["macs"] for l in layers), "layers": layers})
        out["models"][name] = {"arch": meta["arch"], "cases": cases}
    path = os.path.join(ROOT, "Tests", "SFNetTests", "Fixtures", "reference_macs.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
