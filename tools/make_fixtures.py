#!/usr/bin/env python3
"""Writes the PyTorch parity fixtures for the Swift engine (committed; rerun only when the oracle changes).

    python3 tools/make_fixtures.py

Tests/SegEngineTests/Fixtures/ops.safetensors   one case per op: inputs, parameters, PyTorch's output;
                                                the case list (op + parameters) is JSON in __metadata__["cases"]
Tests/SegEngineTests/Fixtures/dtypes.safetensors the same values stored as F32, F16 and BF16
Tests/SFNetTests/Fixtures/<arch>_*.safetensors  narrow SFNet model files (docs/model-format.md) with random
                                                weights and random BN statistics
Tests/SFNetTests/Fixtures/<arch>_*_io.safetensors inputs and the oracle's logits (tools/sfnet/model.py)
Tests/SFNetTests/Fixtures/df1_w16_instances*.safetensors  the same with the instance head; the io file also
                                                holds the head's output (`instances<i>`, at the fusion resolution)
Tests/SFNetTests/Fixtures/<stem>.safetensors    for each of block_cases(): a narrow model with optional decoder
                                                blocks (issue #15, `decoder_blocks` metadata) and its io file

Only the decoder-block fixtures (leaves every other file as it is):

    python3 tools/make_fixtures.py --blocks
"""
from __future__ import annotations

import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from sfnet import build_sfnet, CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, MEAN, STD  # noqa: E402
from sfnet.blocks_seenet import BoundaryAttention  # noqa: E402
from sfnet.model import flow_warp  # noqa: E402
from sfnet.blocks_fbnet import BalancedFusion, FeatureModulator  # noqa: E402
from convert_checkpoint import instance_head_metadata, training_only as cc_training_only  # noqa: E402

ENGINE_DIR = os.path.join(ROOT, "Tests", "SegEngineTests", "Fixtures")
SFNET_DIR = os.path.join(ROOT, "Tests", "SFNetTests", "Fixtures")


def c(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().float()


def op_cases():
    g = torch.Generator().manual_seed(1234)
    rnd = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    tensors, cases = {}, []

    def add(name, op, params, **ts):
        cases.append({"name": name, "op": op, **params})
        for k, v in ts.items():
            tensors[f"{name}.{k}"] = c(v)

    # Convolutions: (name, cin, cout, H, W, k, stride, pad, dil, bias, relu, residual)
    convs = [
        ("conv1x1_bias", 16, 24, 13, 17, 1, 1, 0, 1, True, False, False),
        ("conv1x1_s2", 12, 20, 13, 17, 1, 2, 0, 1, False, False, False),
        ("conv3x3_bias_relu", 8, 12, 15, 19, 3, 1, 1, 1, True, True, False),
        ("conv3x3_s2_odd", 3, 16, 67, 93, 3, 2, 1, 1, False, True, False),
        ("conv3x3_s2_even", 6, 10, 10, 14, 3, 2, 1, 1, False, False, False),
        ("conv3x3_dil2_res_relu", 10, 10, 9, 23, 3, 1, 2, 2, False, True, True),
        ("conv3x3_dil4_res_relu", 10, 10, 12, 21, 3, 1, 4, 4, False, True, True),
        ("conv3x3_panels", 16, 8, 30, 50, 3, 1, 1, 1, True, True, True),
        ("conv3x3_small_map", 64, 64, 5, 6, 3, 1, 1, 1, True, True, False),
        ("conv1x1_small_map_res", 64, 48, 3, 3, 1, 1, 0, 1, True, True, True),
        ("conv5x5_pad2", 4, 6, 11, 13, 5, 1, 2, 1, True, False, False),
    ]
    for name, cin, cout, h, w, k, s, p, d, bias, relu, res in convs:
        x, wt = rnd(cin, h, w), rnd(cout, cin, k, k) * 0.3
        b = rnd(cout) if bias else None
        y = F.conv2d(x[None], wt, b, stride=s, padding=p, dilation=d)[0]
        ts = {"x": x, "w": wt, "y": None}
        if bias:
            ts["b"] = b
        if res:
            r = rnd(*y.shape)
            ts["res"] = r
            y = y + r
        if relu:
            y = torch.relu(y)
        ts["y"] = y
        add(name, "conv", {"kernel": k, "stride": s, "padding": p, "dilation": d, "relu": relu}, **ts)

    # Conv + eval BatchNorm (folding), with a conv bias as fpn_in has.
    x, wt, b = rnd(6, 9, 11), rnd(8, 6, 3, 3) * 0.3, rnd(8)
    bn = torch.nn.BatchNorm2d(8).eval()
    with torch.no_grad():
        bn.weight.copy_(torch.rand(8, generator=g) + 0.5)
        bn.bias.copy_(rnd(8) * 0.2)
        bn.running_mean.copy_(rnd(8) * 0.5)
        bn.running_var.copy_(torch.rand(8, generator=g) + 0.3)
        y = torch.relu(bn(F.conv2d(x[None], wt, b, padding=1)))[0]
    add("conv3x3_bn_relu", "conv_bn", {"kernel": 3, "stride": 1, "padding": 1, "dilation": 1, "relu": True},
        x=x, w=wt, b=b, gamma=bn.weight, beta=bn.bias, mean=bn.running_mean, var=bn.running_var, y=y)

    for name, h, w, out in [("adaptive_7x11_3", 7, 11, 3), ("adaptive_7x11_6", 7, 11, 6),
                            ("adaptive_32x64_3", 32, 64, 3), ("adaptive_9x5_6", 9, 5, 6), ("adaptive_5x7_1", 5, 7, 1)]:
        x = rnd(3, h, w)
        add(name, "adaptive_avgpool", {"out": out}, x=x, y=F.adaptive_avg_pool2d(x[None], out)[0])

    for name, h, w in [("maxpool_9x13", 9, 13), ("maxpool_10x12", 10, 12), ("maxpool_1x1", 1, 1)]:
        x = rnd(4, h, w)
        add(name, "maxpool", {}, x=x, y=F.max_pool2d(x[None], 3, 2, 1)[0])

    for align in (True, False):
        for name, hi, wi, ho, wo in [("up", 5, 7, 13, 17), ("down", 13, 17, 5, 6), ("same", 6, 9, 6, 9),
                                     ("to1", 4, 5, 1, 1), ("from1", 1, 1, 3, 4)]:
            x = rnd(3, hi, wi)
            y = F.interpolate(x[None], size=(ho, wo), mode="bilinear", align_corners=align)[0]
            add(f"bilinear_{name}_ac{int(align)}", "bilinear", {"align_corners": align, "height": ho, "width": wo}, x=x, y=y)

    for align in (True, False):
        for name, hi, wi, ho, wo, scale in [("up2", 6, 9, 12, 18, 5.0), ("odd", 6, 9, 11, 17, 8.0),
                                            ("same", 7, 8, 7, 8, 3.0), ("far", 5, 5, 10, 10, 40.0)]:
            high, lat = rnd(5, hi, wi), rnd(5, ho, wo)
            flow = rnd(2, ho, wo) * scale   # large values point outside the image
            y = lat + flow_warp(high[None], flow[None], (ho, wo), align)[0]
            add(f"warp_{name}_ac{int(align)}", "flow_warp", {"align_corners": align}, high=high, flow=flow, lat=lat, y=y)

    for name, hi, wi, ho, wo in [("up", 5, 6, 13, 17), ("same", 6, 7, 6, 7)]:
        x = rnd(7, hi, wi)
        up = F.interpolate(x[None], size=(ho, wo), mode="bilinear", align_corners=True)[0]
        add(f"upsample_argmax_{name}", "upsample_argmax", {"height": ho, "width": wo},
            x=x, y=up.argmax(0).to(torch.float32))
    # Decoder-block gates (issue #15): the modules' own arithmetic on random logits, odd sizes.
    for name, ch, h, w in [("modulate_7x13", 5, 7, 13), ("modulate_1x1", 9, 1, 1), ("modulate_wide", 17, 3, 37)]:
        x, spatial, channel = rnd(ch, h, w), rnd(1, h, w) * 2, rnd(ch, 1, 1) * 2
        y = x * torch.sigmoid(spatial) * torch.sigmoid(channel)
        add(name, "modulate", {}, x=x, spatial=spatial, channel=channel, y=x + y)
    for name, ch, h, w in [("balanced_sum_7x13", 5, 7, 13), ("balanced_sum_wide", 17, 3, 37)]:
        high, low, a_h, a_l = rnd(ch, h, w), rnd(ch, h, w), rnd(2 * ch, 1, 1), rnd(2 * ch, 1, 1)
        wgt = 2 * torch.sigmoid(a_h + a_l)
        add(name, "balanced_sum", {}, high=high, low=low, logits_high=a_h, logits_low=a_l,
            y=wgt[:ch] * high + wgt[ch:] * low)

    # Depthwise convs (SeENet's SeEM), appended last so the cases above keep their values:
    # (name, C, H, W, k, dilation, bias, relu, residual); padding d·(k−1)/2 keeps the size.
    for name, ch, h, w, k, d, bias, relu, res in [
            ("dw3x3", 5, 9, 13, 3, 1, True, True, False), ("dw3x3_dil4_edges", 3, 6, 7, 3, 4, False, False, False),
            ("dw3x3_dil8_res", 17, 12, 35, 3, 8, True, True, True), ("dw5x5", 4, 11, 19, 5, 1, True, False, False),
            ("dw9x9_wide", 2, 7, 40, 9, 1, False, True, False)]:
        x, wt = rnd(ch, h, w), rnd(ch, 1, k, k) * 0.3
        b = rnd(ch) if bias else None
        y = F.conv2d(x[None], wt, b, padding=d * (k - 1) // 2, dilation=d, groups=ch)[0]
        ts = {"x": x, "w": wt}
        if bias:
            ts["b"] = b
        if res:
            r = rnd(*y.shape)
            ts["res"] = r
            y = y + r
        ts["y"] = torch.relu(y) if relu else y
        add(name, "dwconv", {"kernel": k, "dilation": d, "padding": d * (k - 1) // 2, "relu": relu}, **ts)
    # The BAM gate b·(1 − σ(a)), with attention logits from far negative to far positive.
    a, b = rnd(6, 7, 11) * 8, rnd(6, 7, 11)
    add("gate_7x11", "gate", {}, a=a, b=b, y=b * (1 - torch.sigmoid(a)))
    return tensors, cases


def dtype_file():
    vals = torch.tensor([0.0, -0.0, 1.0, -1.5, 2.25, 65504.0, -65504.0, 6.103515625e-05, 5.960464477539063e-08,
                         3.0517578125e-05, 0.333251953125, float("inf"), float("-inf"), 1e-3, 7.0])
    return {"values_f32": vals.float(), "values_f16": vals.half(), "values_bf16": vals.bfloat16(),
            "expect_f16": vals.half().float(), "expect_bf16": vals.bfloat16().float()}


def randomize_bn(model: torch.nn.Module, g: torch.Generator):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            elif isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.randn(m.out_channels, generator=g) * 0.1)


def model_metadata(arch, classes, divisor, align):
    names = CITYSCAPES_CLASSES if classes == 19 else [f"class{i}" for i in range(classes)]
    palette = CITYSCAPES_PALETTE if classes == 19 else [(i * 20 % 256, i * 50 % 256, i * 90 % 256) for i in range(classes)]
    return {"format": "segstream.sfnet", "format_version": "1", "arch": arch, "num_classes": str(classes),
            "width_divisor": str(divisor), "class_names": json.dumps(names), "palette": json.dumps([list(p) for p in palette]),
            "mean": json.dumps(list(MEAN)), "std": json.dumps(list(STD)),
            "warp_align_corners": "true" if align else "false", "precision": "fp32",
            "source": "tools/make_fixtures.py (random weights)"}


def network_cases():
    # (file stem, arch, classes, width_divisor, warp align_corners, input sizes)
    return [("r18_w16", "r18", 19, 16, True, [(51, 77), (32, 64)]),
            ("df1_w16_ac0", "df1", 7, 16, False, [(64, 128), (37, 51)]),
            ("df2_w16", "df2", 11, 16, True, [(67, 93)])]


def block_cases():
    """Narrow models with decoder blocks, for the parity and int8 tests: (file stem, arch, classes, width_divisor,
    warp align_corners, blocks, input sizes, seed); the last one has every block on."""
    return [("df1_w16_dfm_ifbf", "df1", 19, 16, True, {"dfm": True, "ifbf": True}, [(48, 96), (37, 51)], 15),
            ("r18_w16_ifbf", "r18", 19, 16, True, {"ifbf": True}, [(51, 77)], 16),
            ("df1_w16_seem_bam", "df1", 7, 16, True, {"seem": "s-daspp", "bam": True}, [(64, 128), (45, 70)], 151),
            ("r18_w16_seem_fs", "r18", 19, 16, True, {"seem": "fs"}, [(51, 77)], 152),
            ("df2_w16_seem_fs_bam", "df2", 11, 16, False, {"seem": "fs", "bam": True}, [(67, 93)], 153),
            ("df1_w16_all_blocks", "df1", 19, 16, True, {"dfm": True, "ifbf": True, "seem": "s-daspp", "bam": True},
             [(64, 128), (45, 70)], 154)]


def randomize_blocks(model: torch.nn.Module, g: torch.Generator):
    """Block weights away from their initialisation: FBNet's and IFBF's at random (IFBF starts as a plain
    addition, which would test nothing); BAM's attention spread, so its gate is neither ~0.5 nor saturated."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (FeatureModulator, BalancedFusion)):
                for p in m.parameters():
                    p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            if isinstance(m, BoundaryAttention):
                m.attention.weight.mul_(4)


def write_io(model, stem: str, sizes, g: torch.Generator):
    """`<stem>_io.safetensors`: one random input per size (drawn from `g`) and the model's logits for it."""
    io = {}
    for i, (h, w) in enumerate(sizes):
        x = torch.randn(3, h, w, generator=g)
        with torch.no_grad():
            y = model(x[None])[0]
        io[f"input{i}"] = c(x)
        io[f"logits{i}"] = c(y)
    save_file(io, os.path.join(SFNET_DIR, f"{stem}_io.safetensors"))


def write_block_fixtures():
    for stem, arch, classes, divisor, align, blocks, sizes, seed in block_cases():
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = build_sfnet(arch, classes, align, divisor, decoder_blocks=blocks).eval()
        randomize_bn(model, g)
        randomize_blocks(model, g)
        sd = {k: c(v) for k, v in model.state_dict().items() if not cc_training_only(k)}
        meta = {**model_metadata(arch, classes, divisor, align), "decoder_blocks": json.dumps(blocks, sort_keys=True)}
        save_file(sd, os.path.join(SFNET_DIR, f"{stem}.safetensors"), metadata=meta)
        write_io(model, stem, sizes, g)


def main():
    if sys.argv[1:] == ["--blocks"]:
        write_block_fixtures()
        print("decoder-block fixtures written")
        return
    os.makedirs(ENGINE_DIR, exist_ok=True)
    os.makedirs(SFNET_DIR, exist_ok=True)
    tensors, cases = op_cases()
    save_file(tensors, os.path.join(ENGINE_DIR, "ops.safetensors"), metadata={"cases": json.dumps(cases)})
    save_file(dtype_file(), os.path.join(ENGINE_DIR, "dtypes.safetensors"))

    g = torch.Generator().manual_seed(42)
    torch.manual_seed(7)
    for stem, arch, classes, divisor, align, sizes in network_cases():
        model = build_sfnet(arch, classes, align, divisor).eval()
        randomize_bn(model, g)
        sd = {k: c(v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
        save_file(sd, os.path.join(SFNET_DIR, f"{stem}.safetensors"), metadata=model_metadata(arch, classes, divisor, align))
        write_io(model, stem, sizes, g)
    # The instance head fixture has its own generator, so the files above stay as they were.
    g = torch.Generator().manual_seed(14)
    torch.manual_seed(14)
    model = build_sfnet("df1", 19, True, 16, instance_head=True).eval()
    randomize_bn(model, g)
    sd = {k: c(v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    meta = {**model_metadata("df1", 19, 16, True), "instance_head": instance_head_metadata()}
    save_file(sd, os.path.join(SFNET_DIR, "df1_w16_instances.safetensors"), metadata=meta)
    io = {}
    for i, (h, w) in enumerate([(64, 128), (45, 70)]):
        x = torch.randn(3, h, w, generator=g)
        with torch.no_grad():
            logits, instances = model(x[None])
        io[f"input{i}"] = c(x)
        io[f"logits{i}"] = c(logits[0])
        io[f"instances{i}"] = c(instances[0])
    save_file(io, os.path.join(SFNET_DIR, "df1_w16_instances_io.safetensors"))
    write_block_fixtures()
    total = sum(os.path.getsize(os.path.join(d, f)) for d in (ENGINE_DIR, SFNET_DIR) for f in os.listdir(d))
    print(f"fixtures written, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
