"""FBNet's Dual Feature Modulator with its Block-wise BCE loss, and IFBFNet's inter-level balanced fusion, as
optional SFNet decoder blocks (issue #15; `decoder_blocks` {"dfm": true} and {"ifbf": true}; docs/blocks.md).

Where each sits in SFNet and what the papers leave open is decided in docs/blocks.md; in short:

- `FeatureModulator` (`head.dfm`, FBNet §3.2): on P5, the PPM output (the high-level feature every decoder level
  starts from). S_s = σ(conv1×1(X)) (one channel), S_c = σ(fc(avgpool(X))) (a 1×1 conv on the pooled vector),
  X_o = X ⊗ S_s ⊗ S_c, and the block's output is X + X_o (the fusion of X_o with X). During training it keeps
  the BwBCE prediction P = σ(conv1×1(X_o)) (`head.dfm.bwbce`, training only: the converter drops it).
- `bwbce_loss` (FBNet §3.1, eqs. 1–4): per foreground class, at P's stride, a block is positive when it holds a
  pixel of that class; binary cross-entropy averaged over the blocks that hold a labelled pixel and over classes.
- `BalancedFusion` (`head.ifbf.<i>`, IFBFNet §3.2): replaces `lat + warp(f)` at every FAM fusion by
  2σ(a_h)·warp(f) + 2σ(a_l)·lat, a = fc([avgpool(warp(f)), avgpool(lat)]): per-channel weights from the
  concatenated squeeze. The fc is one 1×1 conv over the concatenation, stored split by input half (`fc_h` reads
  the high half, with the bias; `fc_l` the low half), which is the same function. Zero-initialised, so the
  block starts as SFNet's plain addition.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

IGNORE = 255
# FBNet's background stuff (its footnote 1): road, sidewalk, building, vegetation, sky (Cityscapes train ids).
CITYSCAPES_BACKGROUND = (0, 1, 2, 8, 10)


def foreground_classes(num_classes: int) -> tuple[int, ...]:
    """The classes BwBCE supervises: Cityscapes' 14 foreground ones, or every class for other label sets."""
    if num_classes == 19:
        return tuple(c for c in range(19) if c not in CITYSCAPES_BACKGROUND)
    return tuple(range(num_classes))


class FeatureModulator(nn.Module):
    """FBNet's Dual Feature Modulator on a C-channel feature; out = X + X·S_s·S_c."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.spatial = nn.Conv2d(channels, 1, 1, bias=True)          # spatial sensor, eq. 5
        self.channel = nn.Conv2d(channels, channels, 1, bias=True)   # channel sensor's fc, eq. 6
        self.foreground = foreground_classes(num_classes)
        self.bwbce = nn.Conv2d(channels, len(self.foreground), 1, bias=True)  # G_conv of eq. 3, training only
        self.bwbce_logits: torch.Tensor | None = None

    def forward(self, x):
        s_s = torch.sigmoid(self.spatial(x))
        s_c = torch.sigmoid(self.channel(F.adaptive_avg_pool2d(x, 1)))
        x_o = x * s_s * s_c
        # The auxiliary prediction is kept for the loss only while training (eval passes hold nothing).
        self.bwbce_logits = self.bwbce(x_o) if self.training else None
        return x + x_o


def block_targets(target: torch.Tensor, classes, size) -> tuple[torch.Tensor, torch.Tensor]:
    """FBNet eq. 2 for N×H×W train ids: (Y' N×K×h×w, 1 where block (i, j) holds a pixel of classes[k]; valid
    N×1×h×w, 1 where the block holds any labelled pixel). Blocks follow adaptive max pooling's bins, which are
    the s×s blocks when h, w divide H, W."""
    cls = torch.tensor(classes, device=target.device).view(1, -1, 1, 1)
    onehot = (target.unsqueeze(1) == cls).float()
    labelled = (target != IGNORE).unsqueeze(1).float()
    return F.adaptive_max_pool2d(onehot, size), F.adaptive_max_pool2d(labelled, size)


def bwbce_loss(model: nn.Module, target: torch.Tensor) -> torch.Tensor:
    """Σ over the model's DFMs of the Block-wise BCE of their last training forward (FBNet eq. 4, averaged over
    labelled blocks and classes rather than summed, so λ1 = λ2 = 1 weighs it like the cross-entropy)."""
    total = None
    for m in model.modules():
        if isinstance(m, FeatureModulator):
            if m.bwbce_logits is None:
                raise RuntimeError("bwbce_loss needs a training-mode forward first")
            logits = m.bwbce_logits.float()
            positive, valid = block_targets(target, m.foreground, logits.shape[2:])
            loss = F.binary_cross_entropy_with_logits(logits, positive, reduction="none") * valid
            loss = loss.sum() / (valid.sum() * logits.shape[1]).clamp(min=1)
            total = loss if total is None else total + loss
    if total is None:
        raise ValueError("the model has no Dual Feature Modulator (decoder block dfm)")
    return total


class BalancedFusion(nn.Module):
    """IFBFNet's inter-level balanced fusion of a warped high-level and a low-level feature (C channels each)."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc_h = nn.Conv2d(channels, 2 * channels, 1, bias=True)
        self.fc_l = nn.Conv2d(channels, 2 * channels, 1, bias=False)
        for conv in (self.fc_h, self.fc_l):
            nn.init.zeros_(conv.weight)
        nn.init.zeros_(self.fc_h.bias)

    def forward(self, low, high):
        a = self.fc_h(F.adaptive_avg_pool2d(high, 1)) + self.fc_l(F.adaptive_avg_pool2d(low, 1))
        w = 2 * torch.sigmoid(a)
        c = high.shape[1]
        return w[:, :c] * high + w[:, c:] * low
