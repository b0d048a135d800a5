"""SFNet (Semantic Flow) in PyTorch, from the specification in sfnet-reference.md.

Module attribute names reproduce the SFSegNets state-dict keys exactly (`layer0.0.0.weight`,
`head.fpn_out.0.0.1.running_mean`, `backbone.stage1.3.weight`, ...), so a checkpoint trained with the
reference loads with `load_state_dict(strict=True)` once its `module.` prefix and unused `dsn` keys are gone.
This file is the independent oracle for the Swift engine's parity fixtures and the network that
`tools/train.py` trains.

Optional instance head (`instance_head=True`, issue #14): on the decoder's fused feature (the output of
`head.conv_last.0`, fpn_dim channels at the classifier's resolution), two 3×3 convs + BN + ReLU and a 1×1 conv
with bias to INSTANCE_HEAD_CHANNELS channels: one centre-heatmap logit per thing class (THING_CLASSES, in
train-id order), then the offset (dx, dy) from the cell to its instance's centre, in cells of that map
(CenterNet / Panoptic-DeepLab style). Its keys are `head.instance_head.*`; a model without it is unchanged.

Optional decoder blocks (`decoder_blocks`, issue #15, docs/blocks.md): FBNet's Dual Feature Modulator on P5
(`head.dfm.*`) and IFBFNet's balanced fusion at every FAM fusion (`head.ifbf.<i>.*`), from blocks_fbnet.py.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks_fbnet import BalancedFusion, FeatureModulator
from .blocks_seenet import BoundaryAttention, SeEM, validate_blocks as validate_seenet_blocks

ARCHS = ("r18", "df1", "df2")

CITYSCAPES_CLASSES = [
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
    "bicycle",
]
CITYSCAPES_PALETTE = [
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
]
# Train ids of the thing classes (person … bicycle): the instance head's heatmap channels, in this order.
THING_CLASSES = tuple(range(11, 19))
INSTANCE_HEAD_CHANNELS = len(THING_CLASSES) + 2
# Keys of `decoder_blocks` (issue #15, docs/model-format.md): each helper's blocks validate their own values.
DECODER_BLOCK_KEYS = {"dfm", "ifbf", "seem", "bam"}
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def conv3x3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut); the stride sits on conv1 and the projection."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(cout, cout, 1, dilation)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


def make_stage(cin: int, cout: int, blocks: int, stride: int, dilation: int = 1) -> nn.Sequential:
    layers = [BasicBlock(cin, cout, stride, dilation)]
    layers += [BasicBlock(cout, cout, 1, dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class DeepR18Backbone(nn.Module):
    """Deep-stem ResNet-18, variant D: conv2 of layer3/layer4 dilated 2/4, strides kept (output stride 32)."""

    def __init__(self, d: int = 1):
        super().__init__()
        stem = nn.Sequential(
            nn.Conv2d(3, 64 // d, 3, 2, 1, bias=False), nn.BatchNorm2d(64 // d), nn.ReLU(inplace=True),
            nn.Conv2d(64 // d, 64 // d, 3, 1, 1, bias=False), nn.BatchNorm2d(64 // d), nn.ReLU(inplace=True),
            nn.Conv2d(64 // d, 128 // d, 3, 1, 1, bias=False))
        self.layer0 = nn.Sequential(stem, nn.BatchNorm2d(128 // d), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        self.layer1 = make_stage(128 // d, 64 // d, 2, 1)
        self.layer2 = make_stage(64 // d, 128 // d, 2, 2)
        self.layer3 = make_stage(128 // d, 256 // d, 2, 2, dilation=2)
        self.layer4 = make_stage(256 // d, 512 // d, 2, 2, dilation=4)

    def forward(self, x):
        x = self.layer0(x)
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return [c1, c2, c3, c4]


def df_stem(d: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 32 // d, 3, 2, 1, bias=False), nn.BatchNorm2d(32 // d), nn.ReLU(inplace=True),
        nn.Conv2d(32 // d, 64 // d, 3, 2, 1, bias=False), nn.BatchNorm2d(64 // d), nn.ReLU(inplace=True))


class DFNetV1(nn.Module):
    def __init__(self, d: int = 1):
        super().__init__()
        self.stage1 = df_stem(d)
        self.stage2 = make_stage(64 // d, 64 // d, 3, 2)
        self.stage3 = make_stage(64 // d, 128 // d, 3, 2)
        self.stage4 = make_stage(128 // d, 256 // d, 3, 2)
        self.stage5 = make_stage(256 // d, 512 // d, 1, 1)

    def forward(self, x):
        x = self.stage2(self.stage1(x))
        x3 = self.stage3(x)
        x4 = self.stage4(x3)
        x5 = self.stage5(x4)
        return [x3, x4, x5]


class DFNetV2(nn.Module):
    def __init__(self, d: int = 1):
        super().__init__()
        self.stage1 = df_stem(d)
        self.stage2_1 = make_stage(64 // d, 64 // d, 2, 2)
        self.stage2_2 = make_stage(64 // d, 128 // d, 1, 1)
        self.stage3_1 = make_stage(128 // d, 128 // d, 10, 2)
        self.stage3_2 = make_stage(128 // d, 256 // d, 1, 1)
        self.stage4_1 = make_stage(256 // d, 256 // d, 4, 2)
        self.stage4_2 = make_stage(256 // d, 512 // d, 2, 1)

    def forward(self, x):
        x = self.stage1(x)
        x3 = self.stage2_2(self.stage2_1(x))
        x4 = self.stage3_2(self.stage3_1(x3))
        x5 = self.stage4_2(self.stage4_1(x4))
        return [x3, x4, x5]


class PSPModule(nn.Module):
    """Pyramid pooling: per bin avg-pool, 1x1 conv, BN (no ReLU), bilinear back; concat with the input."""

    def __init__(self, cin: int, cout: int, bins=(1, 2, 3, 6)):
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
            for b in bins)
        self.bottleneck = nn.Sequential(
            nn.Conv2d(cin + len(bins) * cout, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Dropout2d(0.1))

    def forward(self, x):
        h, w = x.shape[2:]
        priors = [F.interpolate(s(x), size=(h, w), mode="bilinear", align_corners=True) for s in self.stages]
        return self.bottleneck(torch.cat(priors + [x], 1))


def flow_warp(x: torch.Tensor, flow: torch.Tensor, size, align_corners: bool = True) -> torch.Tensor:
    """Sample x (N,C,Hi,Wi) at base grid + flow/(W_out,H_out); the grid's last dim is (x, y)."""
    out_h, out_w = size
    n = x.shape[0]
    norm = torch.tensor([[[[out_w, out_h]]]], dtype=x.dtype, device=x.device)
    gy = torch.linspace(-1.0, 1.0, out_h, dtype=x.dtype, device=x.device).view(-1, 1).repeat(1, out_w)
    gx = torch.linspace(-1.0, 1.0, out_w, dtype=x.dtype, device=x.device).repeat(out_h, 1)
    grid = torch.stack((gx, gy), 2).unsqueeze(0).repeat(n, 1, 1, 1)
    grid = grid + flow.permute(0, 2, 3, 1) / norm
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)


class AlignedModule(nn.Module):
    """FAM: flow from [upsampled down_h(high), down_l(low)]; warps the full-width high to low's size."""

    def __init__(self, inplane: int, outplane: int, warp_align_corners: bool = True):
        super().__init__()
        self.down_h = nn.Conv2d(inplane, outplane, 1, bias=False)
        self.down_l = nn.Conv2d(inplane, outplane, 1, bias=False)
        self.flow_make = nn.Conv2d(outplane * 2, 2, 3, padding=1, bias=False)
        self.warp_align_corners = warp_align_corners

    def forward(self, low, high):
        size = low.shape[2:]
        l = self.down_l(low)
        h = F.interpolate(self.down_h(high), size=size, mode="bilinear", align_corners=True)
        flow = self.flow_make(torch.cat([h, l], 1))
        return flow_warp(high, flow, size, self.warp_align_corners)


def conv3x3_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UperNetAlignHead(nn.Module):
    def __init__(self, inplane: int, num_classes: int, fpn_inplanes, fpn_dim: int, warp_align_corners: bool = True,
                 instance_head: bool = False, decoder_blocks: dict | None = None):
        super().__init__()
        blocks = decoder_blocks or {}
        bam = blocks.get("bam", False)
        self.ppm = PSPModule(inplane, fpn_dim)
        self.fpn_in = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, fpn_dim, 1, bias=True), nn.BatchNorm2d(fpn_dim), nn.ReLU(inplace=True))
            for c in fpn_inplanes[:-1])
        self.fpn_out = nn.ModuleList(nn.Sequential(conv3x3_bn_relu(fpn_dim, fpn_dim)) for _ in fpn_inplanes[:-1])
        self.fpn_out_align = nn.ModuleList(
            AlignedModule(fpn_dim, fpn_dim // 2, warp_align_corners) for _ in fpn_inplanes[:-1])
        self.conv_last = nn.Sequential(
            conv3x3_bn_relu((len(fpn_inplanes) + bam) * fpn_dim, fpn_dim), nn.Conv2d(fpn_dim, num_classes, 1, bias=True))
        # Registered after conv_last, so state-dict order (and model files) put it last.
        self.instance_head = nn.Sequential(
            conv3x3_bn_relu(fpn_dim, fpn_dim), conv3x3_bn_relu(fpn_dim, fpn_dim),
            nn.Conv2d(fpn_dim, INSTANCE_HEAD_CHANNELS, 1, bias=True)
        ) if instance_head else None
        # Optional paper blocks (issue #15, tools/sfnet/blocks_*.py; SFNet validated the names and values),
        # registered last: files without them keep their tensors and order.
        self.dfm = FeatureModulator(fpn_dim, num_classes) if blocks.get("dfm") else None
        self.ifbf = nn.ModuleList(BalancedFusion(fpn_dim) for _ in fpn_inplanes[:-1]) if blocks.get("ifbf") else None
        self.seem = nn.ModuleList(SeEM(fpn_dim, blocks["seem"]) for _ in fpn_inplanes[:-1]) if "seem" in blocks else None
        self.bam = BoundaryAttention(len(fpn_inplanes) * fpn_dim, fpn_inplanes[0], fpn_dim) if bam else None

    def decode(self, feats):
        """The fused decoder feature (conv_last.0's output), before the classifier."""
        f = self.ppm(feats[-1])
        if self.dfm is not None:
            f = self.dfm(f)
        pyramid = [f]
        for i in reversed(range(len(feats) - 1)):
            lat = self.fpn_in[i](feats[i])
            if self.seem is not None:
                lat = self.seem[i](lat)
            warped = self.fpn_out_align[i](lat, f)
            f = lat + warped if self.ifbf is None else self.ifbf[i](lat, warped)
            pyramid.append(self.fpn_out[i](f))
        pyramid.reverse()
        size = pyramid[0].shape[2:]
        fused = [pyramid[0]] + [F.interpolate(p, size=size, mode="bilinear", align_corners=True) for p in pyramid[1:]]
        fused = torch.cat(fused, 1)
        if self.bam is not None:
            fused = torch.cat([fused, self.bam(fused, feats[0])], 1)
        return self.conv_last[0](fused)

    def forward(self, feats):
        """Logits at the classifier's resolution; with the instance head, also its output there."""
        feature = self.decode(feats)
        logits = self.conv_last[1](feature)
        if self.instance_head is None:
            return logits
        return logits, self.instance_head(feature)


class SFNet(nn.Module):
    """SFNet; `forward` returns logits at the input's size (no softmax), as the reference's eval does."""

    def __init__(self, arch: str = "df1", num_classes: int = 19, warp_align_corners: bool = True,
                 width_divisor: int = 1, instance_head: bool = False, decoder_blocks: dict | None = None):
        super().__init__()
        blocks = dict(decoder_blocks or {})
        unknown = sorted(set(blocks) - DECODER_BLOCK_KEYS)
        if unknown:
            raise ValueError(f"unknown decoder block {unknown[0]!r}; expected one of {sorted(DECODER_BLOCK_KEYS)}")
        validate_seenet_blocks(blocks)
        for key in ("dfm", "ifbf"):
            if key in blocks and not isinstance(blocks[key], bool):
                raise ValueError(f"{key} must be true or false")
        self.decoder_blocks = blocks
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; expected one of {ARCHS}")
        if width_divisor not in (1, 2, 4, 8, 16):
            raise ValueError("width_divisor must be 1, 2, 4, 8 or 16")
        self.arch = arch
        d = width_divisor
        if arch == "r18":
            backbone = DeepR18Backbone(d)
            # R18 checkpoints keep the backbone layers at the top level (layer0..layer4).
            for name in ("layer0", "layer1", "layer2", "layer3", "layer4"):
                setattr(self, name, getattr(backbone, name))
            self.head = UperNetAlignHead(512 // d, num_classes, [64 // d, 128 // d, 256 // d, 512 // d], 128 // d,
                                         warp_align_corners, instance_head, blocks)
        else:
            self.backbone = DFNetV1(d) if arch == "df1" else DFNetV2(d)
            self.head = UperNetAlignHead(512 // d, num_classes, [128 // d, 256 // d, 512 // d], 64 // d,
                                         warp_align_corners, instance_head, blocks)

    def features(self, x):
        if self.arch == "r18":
            x = self.layer0(x)
            c1 = self.layer1(x)
            c2 = self.layer2(c1)
            c3 = self.layer3(c2)
            return [c1, c2, c3, self.layer4(c3)]
        return self.backbone(x)

    @property
    def has_instance_head(self) -> bool:
        return self.head.instance_head is not None

    def forward(self, x):
        """Logits at the input's size; with the instance head, (logits, instance output at the classifier's
        resolution: heatmap logits and offsets in cells, not upsampled)."""
        out = self.head(self.features(x))
        logits, instances = out if self.has_instance_head else (out, None)
        logits = F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=True)
        return logits if instances is None else (logits, instances)


def build_sfnet(arch: str, num_classes: int = 19, warp_align_corners: bool = True, width_divisor: int = 1,
                instance_head: bool = False, decoder_blocks: dict | None = None) -> SFNet:
    """width_divisor > 1 divides every channel count (not the 3 inputs nor the classes): narrow test models.
    decoder_blocks: the optional paper blocks, as a model file's `decoder_blocks` JSON (None/{}: reference SFNet)."""
    return SFNet(arch, num_classes, warp_align_corners, width_divisor, instance_head, decoder_blocks)
