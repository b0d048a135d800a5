"""SeENet's decoder blocks for SFNet (Pang et al., "Towards Bridging Semantic Gap to Improve Semantic
Segmentation", ICCV 2019, §3.2–3.3), switched on by `decoder_blocks` (issue #15, docs/blocks.md):

- `"seem": "s-daspp"` / `"seem": "fs"`: a Semantic Enhancement Module on every lateral feature (fpn_in's
  output, the shallow input of that level's FAM) before it is fused. Four parallel branches, each a 1×1 conv to
  fpn_dim/2 channels, [SeEM-FS only: a dense depthwise r×r conv, r = the branch's dilation rounded up to odd],
  a depthwise 3×3 conv with dilation (1, 2, 4, 8), and a 1×1 conv (every conv BN + ReLU); the branches are
  concatenated with the input and projected back to fpn_dim by a 1×1 conv + BN, added to the input (residual)
  and ReLU'd. The projection's BN starts at γ = 0, so a new SeEM is the identity on the (post-ReLU) lateral.
- `"bam": true`: the Boundary Attention Module on the fused decoder feature P (the concat [P2, up(P3), …]):
  A = 1 − σ(conv1×1(P)) over the channels of B, the shallowest backbone feature the head gets (it has the
  fusion resolution); B̂ = A ⊙ B, then 1×1 (to fpn_dim) and 3×3 convs with BN + ReLU; the result is
  concatenated to P, so conv_last.0 reads levels·fpn_dim + fpn_dim channels. `extend_for_blocks` widens a
  checkpoint without the block by zero weights for those channels: same outputs until training moves them.

State-dict keys: `head.seem.<level>.branches.<k>.{reduce,local,atrous,fuse}.{0,1}.*`,
`head.seem.<level>.project.{0,1}.*`, `head.bam.attention.{weight,bias}`, `head.bam.reduce.{0,1}.*`,
`head.bam.fuse.{0,1}.*`, registered after every reference module (after the instance head).
"""
from __future__ import annotations

import torch
import torch.nn as nn

SEEM_VARIANTS = ("s-daspp", "fs")
SEEM_DILATIONS = (1, 2, 4, 8)


def full_sampling_kernel(dilation: int) -> int:
    """The dense kernel before an atrous conv of this dilation that makes its taps cover every input (§3.2, eq. 2):
    the dilation itself, rounded up to odd so the padding is symmetric (1 → no dense conv)."""
    return dilation if dilation % 2 else dilation + 1


def _conv_bn_relu(cin: int, cout: int, kernel: int = 1, dilation: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SeEMBranch(nn.Module):
    def __init__(self, channels: int, reduced: int, dilation: int, full_sampling: bool):
        super().__init__()
        self.reduce = _conv_bn_relu(channels, reduced)
        r = full_sampling_kernel(dilation)
        self.local = _conv_bn_relu(reduced, reduced, r, groups=reduced) if full_sampling and r > 1 else None
        self.atrous = _conv_bn_relu(reduced, reduced, 3, dilation, groups=reduced)
        self.fuse = _conv_bn_relu(reduced, reduced)

    def forward(self, x):
        x = self.reduce(x)
        # The depthwise convs run in fp32 even under bf16 autocast: on the CPU, the bf16 backward of a dilated
        # depthwise conv returned inf weight gradients for some batches (dilation 8 on DF1's /16 lateral, 2 of 8
        # batches; fp32 on the same batches: finite, ~5e-4), which blew the weights up and diverged training.
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            if self.local is not None:
                x = self.local(x)
            x = self.atrous(x)
        return self.fuse(x)


class SeEM(nn.Module):
    """relu(x + BN(conv1×1([x, branch_1(x), …, branch_4(x)])))."""

    def __init__(self, channels: int, variant: str):
        super().__init__()
        if variant not in SEEM_VARIANTS:
            raise ValueError(f"seem must be one of {SEEM_VARIANTS}, got {variant!r}")
        reduced = channels // 2
        self.branches = nn.ModuleList(SeEMBranch(channels, reduced, d, variant == "fs") for d in SEEM_DILATIONS)
        self.project = nn.Sequential(nn.Conv2d(channels + len(SEEM_DILATIONS) * reduced, channels, 1, bias=False),
                                     nn.BatchNorm2d(channels))
        nn.init.zeros_(self.project[1].weight)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.project(torch.cat([x] + [b(x) for b in self.branches], 1))
        return self.relu(x + y)


class BoundaryAttention(nn.Module):
    """BAM: fpn_dim channels of boundary features from the shallow feature B, gated by 1 − σ(conv1×1(P))."""

    def __init__(self, fused_channels: int, shallow_channels: int, dim: int):
        super().__init__()
        self.attention = nn.Conv2d(fused_channels, shallow_channels, 1, bias=True)
        self.reduce = _conv_bn_relu(shallow_channels, dim)
        self.fuse = _conv_bn_relu(dim, dim, 3)

    def forward(self, fused, shallow):
        gate = 1 - torch.sigmoid(self.attention(fused))
        return self.fuse(self.reduce(gate * shallow))


def validate_blocks(blocks: dict) -> None:
    """Raises ValueError for a SeENet value that is not one (other keys belong to other blocks)."""
    if "seem" in blocks and blocks["seem"] not in SEEM_VARIANTS:
        raise ValueError(f"seem must be one of {SEEM_VARIANTS}, got {blocks['seem']!r}")
    if "bam" in blocks and not isinstance(blocks["bam"], bool):
        raise ValueError("bam must be true or false")


def blocks_from_state_dict(keys) -> dict:
    """The SeENet part of `decoder_blocks` that a state dict's key names imply."""
    keys = list(keys)
    blocks: dict = {}
    if any(k.startswith("head.seem.") for k in keys):
        blocks["seem"] = "fs" if any(".local." in k for k in keys if k.startswith("head.seem.")) else "s-daspp"
    if any(k.startswith("head.bam.") for k in keys):
        blocks["bam"] = True
    return blocks


def extend_for_blocks(state: dict, model: nn.Module) -> dict:
    """`state` (a model without BAM) made loadable into `model` (with BAM): conv_last.0's weight gets zero
    columns for the BAM channels, so the network computes what it did. Other keys are returned unchanged."""
    key = "head.conv_last.0.0.weight"
    target = model.state_dict().get(key)
    if key in state and target is not None and state[key].shape[1] < target.shape[1] \
            and state[key].shape[0] == target.shape[0] and state[key].shape[2:] == target.shape[2:]:
        wide = torch.zeros_like(target)
        wide[:, :state[key].shape[1]] = state[key]
        state = dict(state)
        state[key] = wide
    return state
