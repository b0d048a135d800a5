#!/usr/bin/env python3
"""Train SFNet (DF1 or R18) from scratch on Cityscapes-format data; export a segstream model file.

The reference recipe (SFSegNets), adapted to a 2-core CPU: SGD with momentum 0.9 and weight decay 5e-4, poly
learning rate (power 0.9), random scale / crop / horizontal flip, cross-entropy ignoring 255, OHEM optional.
Resumable: `--resume` continues from the last checkpoint in `--work-dir`, optimizer and schedule included.
Uses a CUDA GPU when one is present, otherwise the CPU with `--threads` threads.

    tools/train.py --data DATA --work-dir runs/df1 --arch df1 --iters 3600 --batch 8 --crop 256x512 \
        --export models/sfnet-df1-synth.safetensors
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


class SegmentationData(torch.utils.data.Dataset):
    """Random scale in [smin, smax], random crop (padding with ignore), random horizontal flip, normalise."""

    def __init__(self, pairs, crop, scale_range, seed):
        self.pairs, self.crop, self.scale_range, self.seed = pairs, crop, scale_range, seed
        self.mean = np.array(MEAN, np.float32) * 255
        self.std = np.array(STD, np.float32) * 255

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        rng = random.Random(hash((self.seed, index, time.time_ns())))
        img = Image.open(self.pairs[index][0]).convert("RGB")
        lab = Image.open(self.pairs[index][1])
        s = rng.uniform(*self.scale_range)
        w, h = img.size
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        img = img.resize((nw, nh), Image.BILINEAR)
        lab = lab.resize((nw, nh), Image.NEAREST)
        ch, cw = self.crop
        x = np.asarray(img, np.float32)
        y = np.asarray(lab, np.int64)
        px, py = max(0, cw - nw), max(0, ch - nh)
        if px or py:
            x = np.pad(x, ((0, py), (0, px), (0, 0)), constant_values=0)
            y = np.pad(y, ((0, py), (0, px)), constant_values=IGNORE)
        top = rng.randint(0, x.shape[0] - ch)
        left = rng.randint(0, x.shape[1] - cw)
        x = x[top:top + ch, left:left + cw]
        y = y[top:top + ch, left:left + cw]
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


def confusion(pred, target, n):
    valid = target != IGNORE
    return torch.bincount(target[valid] * n + pred[valid], minlength=n * n).reshape(n, n)


@torch.no_grad()
def evaluate(model, pairs, device, n_classes, max_frames):
    model.eval()
    mean = torch.tensor(MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD).view(1, 3, 1, 1) * 255
    hist = torch.zeros(n_classes, n_classes, dtype=torch.int64)
    for img_path, lab_path in pairs[:max_frames]:
        x = torch.from_numpy(np.asarray(Image.open(img_path).convert("RGB"), np.float32)).permute(2, 0, 1)[None]
        y = torch.from_numpy(np.asarray(Image.open(lab_path), np.int64))
        pred = model(((x - mean) / std).to(device)).argmax(1)[0].cpu()
        hist += confusion(pred.flatten(), y.flatten(), n_classes)
    model.train()
    iou = hist.diag().double() / (hist.sum(0) + hist.sum(1) - hist.diag()).double()
    return iou  # NaN for classes absent from both prediction and ground truth


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
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", default="256x512", help="HxW")
    p.add_argument("--scale", default="0.5,1.0", help="random scale range")
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--ohem", action="store_true")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--eval-frames", type=int, default=40)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--init", default=None,
                   help="start from the weights of a segstream model file (e.g. the shipped model) instead of scratch")
    p.add_argument("--export", default=None, help="write the final model file here (via convert_checkpoint)")
    p.add_argument("--export-dtype", default="f16", choices=["f32", "f16", "bf16"])
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

    model = build_sfnet(args.arch, args.classes).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                weight_decay=args.weight_decay)
    it, elapsed = 0, 0.0
    if args.init:
        from safetensors.torch import load_file
        weights = {k: v.float() for k, v in load_file(args.init).items()}
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
            raise SystemExit(f"train.py: {args.init} does not match arch {args.arch}: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")
        print(f"initialised from {args.init}")
    if args.resume and os.path.exists(ckpt_path):
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        it, elapsed = state["iteration"], state.get("elapsed_s", 0.0)
        print(f"resumed at iteration {it}")

    def batches():
        epoch = 0
        while True:
            pairs = find_pairs(args.data, args.train_split)  # re-scanned each epoch: data may still be growing
            if not pairs:
                raise SystemExit(f"train.py: no training pairs under {args.data}/leftImg8bit/{args.train_split}")
            data = SegmentationData(pairs, crop, scale_range, seed=(args.seed, epoch))
            loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=True, drop_last=True,
                                                 num_workers=args.workers, persistent_workers=False)
            yield from loader
            epoch += 1

    start = time.time() - elapsed
    stream = batches()
    while it < args.iters:
        x, y = next(stream)
        x, y = x.to(device), y.to(device)
        lr = args.lr * (1 - it / args.iters) ** 0.9
        for g in optimizer.param_groups:
            g["lr"] = lr
        logits = model(x)
        loss = ohem_loss(logits, y) if args.ohem else F.cross_entropy(logits, y, ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        it += 1
        if it % 10 == 0:
            rec = {"iter": it, "loss": round(loss.item(), 4), "lr": round(lr, 6), "elapsed_s": round(time.time() - start)}
            print(json.dumps(rec), flush=True)
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
        if it % args.checkpoint_every == 0 or it == args.iters:
            save_checkpoint(ckpt_path, model, optimizer, it, args, {"elapsed_s": time.time() - start})

    val = find_pairs(args.data, args.val_split)
    result = {"iters": it, "train_seconds": round(time.time() - start)}
    if val:
        iou = evaluate(model, val, device, args.classes, args.eval_frames)
        result["val_miou"] = round(float(np.nanmean(iou.numpy())) * 100, 2)
        result["val_iou"] = [round(float(v) * 100, 2) for v in iou]
    print(json.dumps(result), flush=True)
    with open(os.path.join(args.work_dir, "result.json"), "w") as f:
        json.dump(result, f, indent=1)

    if args.export:
        final = os.path.join(args.work_dir, "final.pth")
        torch.save({"state_dict": {"module." + k: v.cpu() for k, v in model.state_dict().items()}}, final)
        return convert_checkpoint.main([final, "-o", args.export, "--arch", args.arch, "--classes", str(args.classes),
                                        "--dtype", args.export_dtype, "--source",
                                        f"segstream tools/train.py on generated street scenes, {it} iterations"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
