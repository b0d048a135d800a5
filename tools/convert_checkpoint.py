#!/usr/bin/env python3
"""Convert an SFSegNets checkpoint (.pth) into a segstream model file (safetensors).

    tools/convert_checkpoint.py CHECKPOINT -o OUT.safetensors --arch r18|df1|df2 [--classes N]
        [--warp-align-corners true|false] [--dtype f32|f16|bf16] [--class-names a,b,...] [--source TEXT]

Accepts a bare state dict or a training checkpoint (`{'state_dict': ..., 'epoch': ...}`), with or without
the `module.` prefix that DataParallel/DDP add. Training-only `dsn` heads and `num_batches_tracked` are
dropped with a message. Anything else that does not match the architecture is refused, naming the keys:
the reference's own loader silently skips mismatches (SFSegNets issue #33); this one never does.

A checkpoint with `head.instance_head.*` tensors (tools/train_instances.py) is converted with the instance head,
and the metadata gains `instance_head` (its thing classes and channel layout); files without it are unchanged.

A checkpoint with tensors of the optional decoder blocks (issue #15: `head.dfm.*`, `head.ifbf.*`, `head.seem.*`,
`head.bam.*`) is converted with those blocks, and the metadata gains `decoder_blocks`, the blocks its key names
imply (docs/model-format.md); FBNet's BwBCE classifier `head.dfm.bwbce.*` is training-only and dropped with a message.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sfnet import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, MEAN, STD, THING_CLASSES, build_sfnet  # noqa: E402
from sfnet.blocks_seenet import blocks_from_state_dict as seenet_blocks  # noqa: E402

EX_DATAERR, EX_NOINPUT, EX_IOERR = 65, 66, 74


class ConversionError(Exception):
    """A checkpoint that cannot become a model file; the message names the problem."""


def extract_state_dict(checkpoint) -> dict[str, torch.Tensor]:
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint and isinstance(checkpoint["state_dict"], dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict) or not checkpoint:
        raise ConversionError("checkpoint holds no state dict")
    state = {}
    for key, value in checkpoint.items():
        if not isinstance(value, torch.Tensor):
            raise ConversionError(f"entry {key!r} is not a tensor")
        state[key[len("module."):] if key.startswith("module.") else key] = value
    return state


def decoder_blocks_from_state(state) -> dict:
    """The `decoder_blocks` a state dict's key names imply ({} for the reference SFNet)."""
    blocks: dict = {}
    if any(k.startswith("head.dfm.") for k in state):
        blocks["dfm"] = True
    if any(k.startswith("head.ifbf.") for k in state):
        blocks["ifbf"] = True
    blocks.update(seenet_blocks(state))
    return blocks


def training_only(key: str) -> bool:
    """Tensors inference never reads: the deep-supervision heads, BN counters, FBNet's BwBCE classifier."""
    return key.startswith("head.dsn.") or key.endswith("num_batches_tracked") or key.startswith("head.dfm.bwbce.")
def convert_state_dict(state: dict[str, torch.Tensor], arch: str, num_classes: int | None,
                       width_divisor: int = 1, log=print) -> tuple[dict[str, torch.Tensor], int]:
    """Returns the tensors to store (reference key names, unfused) and the class count."""
    dropped = sorted(k for k in state if training_only(k))
    dsn = [k for k in dropped if k.startswith("head.dsn.")]
    if dsn:
        log(f"dropping {len(dsn)} unused training-only dsn tensors (head.dsn.*)")
    bwbce = [k for k in dropped if k.startswith("head.dfm.bwbce.")]
    if bwbce:
        log(f"dropping {len(bwbce)} training-only BwBCE classifier tensors (head.dfm.bwbce.*)")
    state = {k: v for k, v in state.items() if k not in set(dropped)}
    if num_classes is None:
        if "head.conv_last.1.weight" not in state:
            raise ConversionError("missing head.conv_last.1.weight (cannot infer the class count)")
        num_classes = int(state["head.conv_last.1.weight"].shape[0])
    instance_head = any(k.startswith("head.instance_head.") for k in state)
    reference = {k: v for k, v in build_sfnet(arch, num_classes, width_divisor=width_divisor,
                                              instance_head=instance_head,
                                              decoder_blocks=decoder_blocks_from_state(state)).state_dict().items()
                 if not training_only(k)}
    missing = [k for k in reference if k not in state]
    unexpected = [k for k in state if k not in reference]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}" + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""))
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:5])}"
                         + (f" (+{len(unexpected) - 5} more)" if len(unexpected) > 5 else ""))
        raise ConversionError(f"checkpoint does not match arch {arch}: " + "; ".join(parts))
    for key, ref in reference.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise ConversionError(f"{key} has shape {list(state[key].shape)}, expected {list(ref.shape)}")
        if not state[key].is_floating_point():
            raise ConversionError(f"{key} has dtype {state[key].dtype}, expected a float tensor")
    return {k: state[k].detach().contiguous() for k in reference}, num_classes


def instance_head_metadata() -> str:
    """What segstream needs to read the head's output: heatmap channels per thing train id, then the offset."""
    return json.dumps({"thing_classes": list(THING_CLASSES), "offset": "dx,dy", "offset_unit": "cells"})


def model_metadata(arch: str, num_classes: int, warp_align_corners: bool, class_names=None, palette=None,
                   width_divisor: int = 1, source: str = "", network_scale: float = 1.0,
                   instance_head: bool = False, decoder_blocks: dict | None = None) -> dict[str, str]:
    if class_names is None:
        if num_classes != 19:
            class_names = [f"class{i}" for i in range(num_classes)]
        else:
            class_names = CITYSCAPES_CLASSES
    if palette is None:
        palette = CITYSCAPES_PALETTE if num_classes == 19 else [
            [(37 * i) % 256, (91 * i + 60) % 256, (151 * i + 120) % 256] for i in range(num_classes)]
    if len(class_names) != num_classes or len(palette) != num_classes:
        raise ConversionError(f"class names/palette must have {num_classes} entries")
    if not 0.125 <= network_scale <= 8:
        raise ConversionError(f"--network-scale must be in 0.125...8 (got {network_scale})")
    metadata = {
        "format": "segstream.sfnet", "format_version": "1", "arch": arch, "num_classes": str(num_classes),
        "width_divisor": str(width_divisor), "class_names": json.dumps(list(class_names)),
        "palette": json.dumps([list(map(int, c)) for c in palette]), "mean": json.dumps(list(MEAN)),
        "std": json.dumps(list(STD)), "warp_align_corners": "true" if warp_align_corners else "false",
        "precision": "fp32", "source": source,
    }
    if network_scale != 1:
        metadata["network_scale"] = repr(float(network_scale))
    if instance_head:
        metadata["instance_head"] = instance_head_metadata()
    if decoder_blocks:
        metadata["decoder_blocks"] = json.dumps(decoder_blocks, sort_keys=True)
    return metadata


DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def save_model(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: str, dtype: str = "f32") -> None:
    out = {k: v.to(DTYPES[dtype]) for k, v in tensors.items()}
    tmp = path + ".tmp"
    save_file(out, tmp, metadata=metadata)
    os.replace(tmp, path)  # never leave a half-written model at the final path


def parse_bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError("expected true or false")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--arch", required=True, choices=["r18", "df1", "df2"])
    p.add_argument("--classes", type=int, default=None, help="class count (default: from the classifier)")
    p.add_argument("--warp-align-corners", type=parse_bool, default=True,
                   help="grid_sample convention the checkpoint was trained with (default true)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="f32", help="storage dtype (default f32)")
    p.add_argument("--class-names", default=None, help="comma-separated class names")
    p.add_argument("--width-divisor", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--source", default="", help="free text stored in the metadata")
    p.add_argument("--network-scale", type=float, default=1.0,
                   help="how much segstream enlarges frames before the network by default: the scale of scenes "
                        "the model was trained for (default 1, right for Cityscapes checkpoints)")
    args = p.parse_args(argv)
    if not os.path.isfile(args.checkpoint):
        print(f"convert_checkpoint: no such file: {args.checkpoint}", file=sys.stderr)
        return EX_NOINPUT
    try:
        checkpoint = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad pickles
        print(f"convert_checkpoint: cannot read {args.checkpoint}: {str(e).splitlines()[0]}", file=sys.stderr)
        return EX_DATAERR
    try:
        state = extract_state_dict(checkpoint)
        tensors, num_classes = convert_state_dict(
            state, args.arch, args.classes, args.width_divisor, log=lambda m: print(f"convert_checkpoint: {m}"))
        names = args.class_names.split(",") if args.class_names else None
        metadata = model_metadata(args.arch, num_classes, args.warp_align_corners, names,
                                  width_divisor=args.width_divisor,
                                  source=args.source or f"converted from {os.path.basename(args.checkpoint)}",
                                  network_scale=args.network_scale,
                                  instance_head=any(k.startswith("head.instance_head.") for k in tensors),
                                  decoder_blocks=decoder_blocks_from_state(tensors))
    except ConversionError as e:
        print(f"convert_checkpoint: {e}", file=sys.stderr)
        return EX_DATAERR
    try:
        save_model(tensors, metadata, args.output, args.dtype)
    except OSError as e:
        print(f"convert_checkpoint: cannot write {args.output}: {e.strerror}", file=sys.stderr)
        return EX_IOERR
    print(f"convert_checkpoint: wrote {args.output} ({args.arch}, {num_classes} classes, {len(tensors)} tensors, "
          f"{args.dtype})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
