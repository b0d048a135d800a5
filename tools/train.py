#!/usr/bin/env python3
"""Train SFNet (DF1 or R18) from scratch on Cityscapes-format data; export a segstream model file.

The reference recipe (SFSegNets), adapted to a 2-core CPU: SGD with momentum 0.9 and weight decay 5e-4, poly
learning rate (power 0.9), random scale / crop / horizontal flip, cross-entropy ignoring 255, OHEM optional.
Resumable: `--resume` continues from the last checkpoint in `--work-dir`, optimizer and schedule included.
Uses a CUDA GPU when one is present, otherwise the CPU with `--threads` threads.

    tools/train.py --data DATA --work-dir runs/df1 --arch df1 --iters 3600 --batch 8 --crop 256x512 \
        --export models/sfnet-df1-synth.safetensors

Decoder blocks (issue #15, docs/blocks.md): `--blocks dfm,ifbf,seem=s-daspp,bam` (names and values as a model
file's `decoder_blocks`). With `--init` from a file without them, the blocks' weights start fresh (their own
initialisation) and everything else is loaded. `dfm` trains with FBNet's loss λ1·BwBCE + λ2·CE (`--bwbce-weight`
λ1, default 1 as in the paper; λ2 = 1).
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_checkpoint  # noqa: E402
from sfnet import MEAN, STD, build_sfnet  # noqa: E402
from sfnet.blocks_fbnet import bwbce_loss  # noqa: E402
from sfnet.blocks_seenet import extend_for_blocks  # noqa: E402


def parse_blocks(text: str) -> dict:
    """`dfm,seem=s-daspp,bam` → {"dfm": True, "seem": "s-daspp", "bam": True}: a bare name switches a block on."""
    blocks: dict = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, value = item.partition("=")
        if name in blocks:
            raise argparse.ArgumentTypeError(f"block {name!r} given twice")
        blocks[name] = value if value else True
    try:
        build_sfnet("df1", 19, width_divisor=16, decoder_blocks=blocks)  # validates names and values
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))
    return blocks


def load_init(model, path: str, arch: str, log=print) -> None:
    """Loads a segstream model file's weights into `model`; tensors of decoder blocks the file lacks keep their
    fresh initialisation (conv_last.0 widened by `extend_for_blocks` where a block feeds it). Anything else
    missing or extra is an error."""
    from safetensors.torch import load_file
    weights = extend_for_blocks({k: v.float() for k, v in load_file(path).items()}, model)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    reference = set(build_sfnet(arch, model.head.conv_last[1].out_channels,
                                instance_head=model.has_instance_head).state_dict())
    fresh = [k for k in missing if k not in reference]
    missing = [k for k in missing if k in reference and not k.endswith("num_batches_tracked")]
    if unexpected or missing:
        raise SystemExit(f"train.py: {path} does not match arch {arch}: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    layers = sorted({k.rsplit(".", 1)[0] for k in fresh})
    log(f"initialised from {path}" + (f"; {len(fresh)} new decoder-block tensors start fresh, new block layers: "
                                      f"{', '.join(layers)}" if fresh else ""))


IGNORE = 255


def find_pairs(root: str, split: str) -> list[tuple[str, str]]:
    """Cityscapes layout: leftImg8bit/SPLIT/CITY/X_leftImg8bit.png ↔ gtFine/SPLIT/CITY/X_gtFine_labelTrainIds.png."""
    pairs = []
    for img in sorted(glob.glob(os.path.join(root, "leftImg8bit", split, "*", "*_leftImg8bit.png"))):
        lab = img.replace(os.sep + "leftImg8bit" + os.sep, os.sep + "gtFine" + os.sep).replace(
            "_leftImg8bit.png", "_gtFine_labelTrainIds.png")
        if os.path.exists(lab):
            pairs.append((img, lab))
    return pairs


def load_pairs(pairs) -> list[tuple[np.ndarray, np.ndarray]]:
    """Decode every pair once (uint8 RGB, uint8 train ids): PNG decoding would otherwise cost more CPU per
    batch than a DF1 training step's data needs. 900 scenes at 512×1024 take about 1.9 GB."""
    return [(np.asarray(Image.open(i).convert("RGB")), np.asarray(Image.open(l))) for i, l in pairs]


class SegmentationData(torch.utils.data.Dataset):
    """Random scale in [smin, smax], random crop (padding with ignore), random horizontal flip, normalise.

    The crop window is chosen in source pixels first and only that window is resized, so scales above 1
    cost no more than scales below it."""

    def __init__(self, frames, crop, scale_range, seed):
        self.frames, self.crop, self.scale_range, self.seed = frames, crop, scale_range, seed
        self.mean = np.array(MEAN, np.float32) * 255
        self.std = np.array(STD, np.float32) * 255

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, index):
        rng = random.Random(hash((self.seed, index, time.time_ns())))
        img, lab = self.frames[index]
        s = rng.uniform(*self.scale_range)
        ch, cw = self.crop
        h, w = lab.shape
        # Source window that maps onto the crop at scale s (clipped to the image; the rest is padding).
        sh, sw = min(h, max(1, round(ch / s))), min(w, max(1, round(cw / s)))
        top, left = rng.randint(0, h - sh), rng.randint(0, w - sw)
        oh, ow = min(ch, max(1, round(sh * s))), min(cw, max(1, round(sw * s)))
        window = Image.fromarray(img[top:top + sh, left:left + sw]).resize((ow, oh), Image.BILINEAR)
        labels = Image.fromarray(lab[top:top + sh, left:left + sw]).resize((ow, oh), Image.NEAREST)
        x = np.zeros((ch, cw, 3), np.float32)
        y = np.full((ch, cw), IGNORE, np.int64)
        oy, ox = rng.randint(0, ch - oh), rng.randint(0, cw - ow)
        x[oy:oy + oh, ox:ox + ow] = np.asarray(window, np.float32)
        y[oy:oy + oh, ox:ox + ow] = np.asarray(labels, np.int64)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        # Photometric jitter: brightness and contrast, so the net leans on shape and context.
        x = (x - x.mean()) * rng.uniform(0.75, 1.25) + x.mean() + rng.uniform(-20, 20)
        x = (np.clip(x, 0, 255) - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), torch.from_numpy(np.ascontiguousarray(y))


def ohem_loss(logits, target, thresh=0.7, min_kept=100000):
    """Online hard example mining as in the reference: keep pixels whose true-class prob < thresh (≥ min_kept)."""
    loss = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none").flatten()
    valid = target.flatten() != IGNORE
    loss = loss[valid]
    if loss.numel() == 0:
        return logits.sum() * 0
    prob_thresh_loss = -math.log(thresh)
    keep = max(min(min_kept, loss.numel()), int((loss > prob_thresh_loss).sum()))
    return loss.topk(keep)[0].mean()


def cpu_has_bf16() -> bool:
    if torch.cuda.is_available():
        return True
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def confusion(pred, target, n):
    valid = target != IGNORE
    return torch.bincount(target[valid] * n + pred[valid], minlength=n * n).reshape(n, n)


@torch.no_grad()
def evaluate(model, pairs, device, n_classes, max_frames, scale=1.0):
    """mIoU with the network run at `scale` × the frame size and its logits resized back to the labels."""
    model.eval()
    mean = torch.tensor(MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD).view(1, 3, 1, 1) * 255
    hist = torch.zeros(n_classes, n_classes, dtype=torch.int64)
    for img_path, lab_path in pairs[:max_frames]:
        x = torch.from_numpy(np.asarray(Image.open(img_path).convert("RGB"), np.float32)).permute(2, 0, 1)[None]
        y = torch.from_numpy(np.asarray(Image.open(lab_path), np.int64))
        x = (x - mean) / std
        if scale != 1:
            x = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
        logits = model(x.to(device)).float()
        if logits.shape[2:] != y.shape:
            logits = F.interpolate(logits, size=y.shape, mode="bilinear", align_corners=False)
        pred = logits.argmax(1)[0].cpu()
        hist += confusion(pred.flatten(), y.flatten(), n_classes)
    model.train()
    iou = hist.diag().double() / (hist.sum(0) + hist.sum(1) - hist.diag()).double()
    return iou  # NaN for classes absent from both prediction and ground truth


def non_finite_tensors(model) -> list[str]:
    """Names of the parameters and buffers (BN statistics included) holding an inf or NaN."""
    return [name for name, t in list(model.named_parameters()) + list(model.named_buffers())
            if t.is_floating_point() and not torch.isfinite(t).all()]


def save_checkpoint(path, model, optimizer, it, args, extra=None):
    state = {"state_dict": model.state_dict(), "optimizer": optimizer.state_dict(), "iteration": it,
             "args": vars(args), **(extra or {})}
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="Cityscapes-format root (leftImg8bit/, gtFine/)")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val")
    p.add_argument("--work-dir", required=True)
    p.add_argument("--arch", default="df1", choices=["df1", "df2", "r18"])
    p.add_argument("--classes", type=int, default=19)
    p.add_argument("--iters", type=int, default=3600)
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="train for this long instead: the poly schedule runs on elapsed time (so a busy machine "
                        "gets fewer steps, not a cut-off schedule); --iters is then only an upper bound")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", default="256x512", help="HxW")
    p.add_argument("--scale", default="0.5,1.0", help="random scale range")
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--ohem", action="store_true")
    p.add_argument("--clip-grad-norm", type=float, default=None, metavar="NORM",
                   help="scale the gradients down to this global L2 norm when larger (default: no clipping)")
    p.add_argument("--bwbce-weight", type=float, default=1.0, metavar="L1",
                   help="with dfm: weight λ1 of FBNet's Block-wise BCE in λ1·BwBCE + CE (default 1, the paper's)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=cpu_has_bf16(),
                   help="bfloat16 autocast for convolutions (weights and the loss stay fp32); default: on where "
                        "the CPU has AVX-512 BF16 or AMX (1.5x faster steps on Zen 4), or on a CUDA GPU")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--eval-frames", type=int, default=40)
    p.add_argument("--eval-scale", type=float, default=1.0,
                   help="run the validation frames at this multiple of their size (the scale the model is for)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--init", default=None,
                   help="start from the weights of a segstream model file (e.g. the shipped model) instead of scratch")
    p.add_argument("--blocks", type=parse_blocks, default={}, metavar="NAME[=VALUE],...",
                   help="optional decoder blocks (issue #15, docs/blocks.md): dfm, ifbf, seem=s-daspp|fs, bam")
    p.add_argument("--export", default=None, help="write the final model file here (via convert_checkpoint)")
    p.add_argument("--export-dtype", default="f16", choices=["f32", "f16", "bf16"])
    p.add_argument("--network-scale", type=float, default=None,
                   help="network_scale stored in the exported file (default: --eval-scale): how much segstream "
                        "enlarges frames for this model")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    os.makedirs(args.work_dir, exist_ok=True)
    ckpt_path = os.path.join(args.work_dir, "last.pth")
    log_path = os.path.join(args.work_dir, "log.jsonl")
    crop = tuple(int(v) for v in args.crop.split("x"))
    scale_range = tuple(float(v) for v in args.scale.split(","))

    blocks = args.blocks
    model = build_sfnet(args.arch, args.classes, decoder_blocks=blocks).to(device).train()
    # On the CPU, NHWC lets oneDNN's convolutions (fp32 and bf16) skip layout reorders: ~10 % per step.
    channels_last = device.type == "cpu"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                weight_decay=args.weight_decay)
    it, elapsed = 0, 0.0
    if args.init:
        load_init(model, args.init, args.arch)
    if args.resume and os.path.exists(ckpt_path):
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        it, elapsed = state["iteration"], state.get("elapsed_s", 0.0)
        print(f"resumed at iteration {it}")

    decoded: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def batches():
        epoch = 0
        while True:
            pairs = find_pairs(args.data, args.train_split)  # re-scanned each epoch: data may still be growing
            if not pairs:
                raise SystemExit(f"train.py: no training pairs under {args.data}/leftImg8bit/{args.train_split}")
            new = [pair for pair in pairs if pair not in decoded]
            decoded.update(zip(new, load_pairs(new)))
            data = SegmentationData([decoded[pair] for pair in pairs], crop, scale_range, seed=(args.seed, epoch))
            loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=True, drop_last=True,
                                                 num_workers=args.workers, persistent_workers=False)
            yield from loader
            epoch += 1

    def checkpoint():
        """Saves, unless a weight or BN statistic went non-finite (then the last checkpoint stays, and training stops)."""
        bad = non_finite_tensors(model)
        if bad:
            raise SystemExit(f"train.py: non-finite values in {', '.join(bad[:4])}{' …' if len(bad) > 4 else ''} "
                             f"at iteration {it}: training diverged; {ckpt_path} keeps the last finite checkpoint")
        save_checkpoint(ckpt_path, model, optimizer, it, args, {"elapsed_s": time.time() - start})

    start = time.time() - elapsed
    stream = batches()
    while it < args.iters:
        x, y = next(stream)
        x, y = x.to(device), y.to(device)
        progress = (time.time() - start) / args.time_budget if args.time_budget else it / args.iters
        if progress >= 1:
            break
        lr = args.lr * (1 - progress) ** 0.9
        for g in optimizer.param_groups:
            g["lr"] = lr
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(x)
        logits = logits.float()
        loss = ohem_loss(logits, y) if args.ohem else F.cross_entropy(logits, y, ignore_index=IGNORE)
        if blocks.get("dfm"):
            loss = loss + args.bwbce_weight * bwbce_loss(model, y)
        if not torch.isfinite(loss):
            # Training on would write NaN weights over the last good checkpoint and export them.
            raise SystemExit(f"train.py: the loss is {loss.item()} at iteration {it + 1}: training diverged; "
                             f"{ckpt_path} keeps the last checkpoint")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad_norm)
        optimizer.step()
        it += 1
        if it % 10 == 0:
            rec = {"iter": it, "loss": round(loss.item(), 4), "lr": round(lr, 6), "elapsed_s": round(time.time() - start)}
            print(json.dumps(rec), flush=True)
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
        if it % args.checkpoint_every == 0 or it == args.iters:
            checkpoint()
    checkpoint()

    val = find_pairs(args.data, args.val_split)
    result = {"iters": it, "train_seconds": round(time.time() - start)}
    if val and args.eval_frames > 0:
        iou = evaluate(model, val, device, args.classes, args.eval_frames, args.eval_scale)
        result["val_miou"] = round(float(np.nanmean(iou.numpy())) * 100, 2)
        result["val_iou"] = [round(float(v) * 100, 2) for v in iou]
    print(json.dumps(result), flush=True)
    with open(os.path.join(args.work_dir, "result.json"), "w") as f:
        json.dump(result, f, indent=1)

    if args.export:
        final = os.path.join(args.work_dir, "final.pth")
        torch.save({"state_dict": {"module." + k: v.cpu() for k, v in model.state_dict().items()}}, final)
        return convert_checkpoint.main([final, "-o", args.export, "--arch", args.arch, "--classes", str(args.classes),
                                        "--dtype", args.export_dtype,
                                        "--network-scale", str(args.network_scale or args.eval_scale), "--source",
                                        f"segstream tools/train.py on generated street scenes, {it} iterations"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
