#!/usr/bin/env python3
"""Train SFNet's instance head on generated street scenes, the rest of the network frozen; export a model file.

The semantic network (a segstream model file, `--init`) is frozen, so its fused decoder feature is computed once
per scene (no gradient, fp32) and kept with the scene's targets in `WORK/cache/` (float16, ~0.8 MB a scene at
512×1024); the head then trains on random batches of the cached scenes while new scenes keep arriving: one
scene is generated (`tools/synth`, training seeds below 1000000) and run through the network every
`--steps-per-scene` steps. Targets, at the head's resolution (the classifier's, 1/16 of the network input for DF1):

- heatmap per thing class (THING_CLASSES order): a Gaussian around each instance's mass centre (sigma from its
  area), 1 at the centre's cell; penalty-reduced focal loss on the sigmoid (CenterNet);
- offset (dx, dy) from each cell of a thing instance to its mass centre, in cells; L1 over those cells.

Label pixel (y, x) of an H×W frame sits at head coordinates (y·(h−1)/(H−1), x·(w−1)/(W−1)) (the
align_corners=True mapping of the logits' upsampling); segstream's decoding uses the same mapping.

Resumable (`--resume`: head, optimizer, next seed and elapsed time from `WORK/last.pth`, the cache from disk);
time-budgeted (`--time-budget`: the learning rate decays on elapsed time). Export: the init file's tensors
unchanged plus `head.instance_head.*`, through convert_checkpoint (metadata `instance_head`).

    nice -n 19 tools/train_instances.py --init models/sfnet-df1-synth.safetensors --work-dir /work/head-train \
        --time-budget 4500 --threads 2 [--resume] [--export OUT.safetensors]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_checkpoint  # noqa: E402
from sfnet import MEAN, STD, THING_CLASSES, build_sfnet  # noqa: E402
from synth.scene import LABEL_IDS, render_scene  # noqa: E402

HELDOUT_FIRST_SEED = 1_000_000
MIN_INSTANCE_PIXELS = 16  # label pixels; smaller instances get no centre (their cells are left out of the loss)


def label_to_thing_channel() -> dict[int, int]:
    return {int(LABEL_IDS[t]): c for c, t in enumerate(THING_CLASSES)}


def head_coordinates(n_label: int, n_head: int) -> float:
    """Factor from label pixels to head cells (align_corners=True)."""
    return (n_head - 1) / (n_label - 1) if n_label > 1 else 0.0


def instance_targets(instance_ids: np.ndarray, head_h: int, head_w: int):
    """Heatmap (8, h, w) float32, offsets (2, h, w) float32 in cells (dx, dy), offset mask (h, w) bool."""
    H, W = instance_ids.shape
    fy, fx = head_coordinates(H, head_h), head_coordinates(W, head_w)
    channel_of = label_to_thing_channel()
    heat = np.zeros((len(THING_CLASSES), head_h, head_w), np.float32)
    offsets = np.zeros((2, head_h, head_w), np.float32)
    mask = np.zeros((head_h, head_w), bool)
    # The label pixel nearest each cell decides the cell's instance.
    ys = np.clip(np.rint(np.arange(head_h) / fy if fy else np.zeros(head_h)), 0, H - 1).astype(int)
    xs = np.clip(np.rint(np.arange(head_w) / fx if fx else np.zeros(head_w)), 0, W - 1).astype(int)
    cell_ids = instance_ids[ys][:, xs]
    gy, gx = np.mgrid[0:head_h, 0:head_w].astype(np.float32)
    ids, inverse, counts = np.unique(instance_ids.ravel(), return_inverse=True, return_counts=True)
    sum_y = np.bincount(inverse, weights=np.repeat(np.arange(H), W), minlength=len(ids))
    sum_x = np.bincount(inverse, weights=np.tile(np.arange(W), H), minlength=len(ids))
    for i, iid in enumerate(ids):
        if iid < 1000 or (iid // 1000) not in channel_of:
            continue
        cells = cell_ids == iid
        if counts[i] < MIN_INSTANCE_PIXELS:
            continue
        cy, cx = sum_y[i] / counts[i] * fy, sum_x[i] / counts[i] * fx
        area_cells = counts[i] * fy * fx
        sigma = float(np.clip(np.sqrt(area_cells) / 5, 0.7, 4.0))
        c = channel_of[iid // 1000]
        g = np.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / (2 * sigma * sigma))
        peak_y, peak_x = min(head_h - 1, max(0, int(round(cy)))), min(head_w - 1, max(0, int(round(cx))))
        g[peak_y, peak_x] = 1.0
        np.maximum(heat[c], g, out=heat[c])
        offsets[0][cells] = cx - gx[cells]
        offsets[1][cells] = cy - gy[cells]
        mask |= cells
    return heat, offsets, mask


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2, beta: float = 4) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of centres."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = -torch.log(p) * (1 - p) ** alpha * pos
    neg_loss = -torch.log(1 - p) * p ** alpha * (1 - target) ** beta * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def head_loss(out: torch.Tensor, heat: torch.Tensor, offsets: torch.Tensor, mask: torch.Tensor, offset_weight: float):
    n = len(THING_CLASSES)
    hl = focal_loss(out[:, :n], heat)
    m = mask.unsqueeze(1).float()
    ol = (F.l1_loss(out[:, n:], offsets, reduction="none") * m).sum() / m.sum().clamp(min=1)
    return hl + offset_weight * ol, hl, ol


class SceneCache:
    """Frozen features and targets per seed, on disk (npz) and in memory."""

    def __init__(self, root: str):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.items: list[tuple[torch.Tensor, ...]] = []
        for path in sorted(glob.glob(os.path.join(root, "*.npz"))):
            self.items.append(self._load(path))

    @staticmethod
    def _load(path):
        z = np.load(path)
        return (torch.from_numpy(z["feature"]), torch.from_numpy(z["heat"]).float(),
                torch.from_numpy(z["offsets"]).float(), torch.from_numpy(z["mask"]))

    def add(self, seed: int, feature: np.ndarray, heat, offsets, mask):
        path = os.path.join(self.root, f"{seed:07d}.npz")
        tmp = path + ".tmp.npz"
        np.savez(tmp, feature=feature.astype(np.float16), heat=heat.astype(np.float16), offsets=offsets, mask=mask)
        os.replace(tmp, path)
        self.items.append(self._load(path))

    def batch(self, size: int, rng: np.random.Generator):
        picks = rng.choice(len(self.items), size=min(size, len(self.items)), replace=False)
        return [torch.stack([self.items[i][k] for i in picks]).float() if k < 3 else
                torch.stack([self.items[i][k] for i in picks]) for k in range(4)]


def network_input(rgb: np.ndarray, height: int, width: int) -> torch.Tensor:
    img = Image.fromarray(rgb).resize((width, height), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(img, np.float32)).permute(2, 0, 1)[None] / 255
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def network_size(h: int, w: int, scale: float) -> tuple[int, int]:
    """segstream's NetworkSize.automatic for a frame of h×w and the model's network_scale."""
    cap = max(32, int(1024 * scale / 32) * 32)
    nh, nw = h * scale, w * scale
    long = max(nh, nw)
    if long > cap:
        nh, nw = nh * cap / long, nw * cap / long
    r = lambda v: max(32, int(round(v / 32)) * 32)  # noqa: E731
    return min(r(nh), cap), min(r(nw), cap)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--init", required=True, help="segstream model file (fp32/f16) with the semantic weights")
    p.add_argument("--work-dir", required=True)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--size", default="512x1024", help="generated scene size HxW")
    p.add_argument("--time-budget", type=float, default=3600, metavar="SECONDS")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps-per-scene", type=int, default=4)
    p.add_argument("--max-scenes", type=int, default=100000, help="stop generating after this many scenes")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--offset-weight", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export", default=None, help="write a model file with the head after training")
    p.add_argument("--export-only", action="store_true", help="export the last checkpoint and exit")
    p.add_argument("--export-dtype", default=None, choices=["f32", "f16", "bf16"],
                   help="storage dtype of the exported file (default: the --init file's, so its tensors stay bit-identical)")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(args.init, "pt") as f:
        meta = f.metadata() or {}
    arch, classes = meta.get("arch", "df1"), int(meta.get("num_classes", "19"))
    scale = float(meta.get("network_scale", "1"))
    stored = load_file(args.init)
    if args.export_dtype is None:
        names = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
        args.export_dtype = names[next(iter(stored.values())).dtype]
    init = {k: v.float() for k, v in stored.items()}
    if any(k.startswith("head.instance_head.") for k in init):
        print("train_instances: the init file already has an instance head; training a new one", flush=True)
        init = {k: v for k, v in init.items() if not k.startswith("head.instance_head.")}
    model = build_sfnet(arch, classes, instance_head=True).eval()
    missing, unexpected = model.load_state_dict(init, strict=False)
    if unexpected or any(not (k.startswith("head.instance_head.") or k.endswith("num_batches_tracked")) for k in missing):
        raise SystemExit(f"train_instances: {args.init} does not match {arch}: {missing[:3]} {unexpected[:3]}")
    head = model.head.instance_head
    n = len(THING_CLASSES)
    with torch.no_grad():
        head[-1].bias[:n].fill_(-2.19)  # prior 0.1 (CenterNet): the focal loss starts from few false centres
        head[-1].bias[n:].zero_()
    for prm in model.parameters():
        prm.requires_grad_(False)
    for prm in head.parameters():
        prm.requires_grad_(True)

    os.makedirs(args.work_dir, exist_ok=True)
    ckpt_path = os.path.join(args.work_dir, "last.pth")
    log_path = os.path.join(args.work_dir, "log.jsonl")
    optimizer = torch.optim.Adam(head.parameters(), lr=args.lr)
    it, elapsed, next_seed = 0, 0.0, args.first_seed
    if (args.resume or args.export_only) and os.path.exists(ckpt_path):
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        it, elapsed, next_seed = state["iteration"], state["elapsed_s"], state["next_seed"]
        print(f"resumed at iteration {it}, next seed {next_seed}, {elapsed:.0f} s trained", flush=True)

    def save():
        tmp = ckpt_path + ".tmp"
        torch.save({"head": head.state_dict(), "optimizer": optimizer.state_dict(), "iteration": it,
                    "elapsed_s": time.time() - start, "next_seed": next_seed, "args": vars(args)}, tmp)
        os.replace(tmp, ckpt_path)

    start = time.time() - elapsed
    if not args.export_only:
        cache = SceneCache(os.path.join(args.work_dir, "cache"))
        hh, ww = (int(v) for v in args.size.split("x"))
        nh, nw = network_size(hh, ww, scale)
        rng = np.random.default_rng(it)
        scenes_added = 0
        while time.time() - start < args.time_budget:
            if it % args.steps_per_scene == 0 and len(cache.items) < args.max_scenes:
                if next_seed >= HELDOUT_FIRST_SEED:
                    raise SystemExit("train_instances: training seeds are exhausted (held-out seeds start at 1000000)")
                rgb, _, inst = render_scene(next_seed, hh, ww)
                with torch.no_grad():
                    feature = model.head.decode(model.features(network_input(rgb, nh, nw)))[0].numpy()
                heat, offsets, mask = instance_targets(inst, feature.shape[1], feature.shape[2])
                cache.add(next_seed, feature, heat, offsets, mask)
                next_seed += 1
                scenes_added += 1
            progress = (time.time() - start) / args.time_budget
            lr = args.lr * (1 - min(progress, 0.999)) ** 0.9
            for g in optimizer.param_groups:
                g["lr"] = lr
            feature, heat, offsets, mask = cache.batch(args.batch, rng)
            head.train()
            out = head(feature)
            loss, hl, ol = head_loss(out, heat, offsets, mask, args.offset_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            it += 1
            if it % 10 == 0:
                rec = {"iter": it, "loss": round(loss.item(), 4), "heat": round(hl.item(), 4),
                       "offset": round(ol.item(), 4), "lr": round(lr, 6), "scenes": len(cache.items),
                       "elapsed_s": round(time.time() - start)}
                print(json.dumps(rec), flush=True)
                with open(log_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            if it % args.checkpoint_every == 0:
                save()
        save()
        print(json.dumps({"iterations": it, "scenes": len(cache.items), "seconds": round(time.time() - start)}),
              flush=True)

    if args.export:
        state = {**init, **{f"head.instance_head.{k}": v for k, v in head.state_dict().items()}}
        final = os.path.join(args.work_dir, "final.pth")
        torch.save({"state_dict": state}, final)
        return convert_checkpoint.main([
            final, "-o", args.export, "--arch", arch, "--classes", str(classes), "--dtype", args.export_dtype,
            "--network-scale", str(scale),
            "--source", f"{meta.get('source', args.init)}; instance head: tools/train_instances.py, {it} iterations "
                        f"on {next_seed - args.first_seed} generated scenes, {round(time.time() - start)} s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
