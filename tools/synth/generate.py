#!/usr/bin/env python3
"""Write synthetic street scenes in Cityscapes layout, or render a drive clip to mp4.

  generate.py --out DIR --split NAME --seeds A-B [--size 512x1024] [--workers N]
  generate.py --clip OUT.mp4 --seed S --frames N --fps F [--size HxW] [--gt-dir DIR] [--crf 23]
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from synth.scene import render_clip, render_scene, train_to_label_ids  # noqa: E402


def _size(s):
    h, w = s.lower().split("x")
    return int(h), int(w)


def _seeds(s):
    if "-" in s:
        a, b = s.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s)]


def _write_one(args):
    seed, out, split, h, w = args
    rgb, tid, inst = render_scene(seed, h, w)
    stem = f"synth_{seed:07d}_000000"
    di = os.path.join(out, "leftImg8bit", split, "synth")
    dg = os.path.join(out, "gtFine", split, "synth")
    Image.fromarray(rgb).save(os.path.join(di, stem + "_leftImg8bit.png"))
    Image.fromarray(tid).save(os.path.join(dg, stem + "_gtFine_labelTrainIds.png"))
    Image.fromarray(train_to_label_ids(tid)).save(os.path.join(dg, stem + "_gtFine_labelIds.png"))
    Image.fromarray(inst.astype(np.uint16)).save(os.path.join(dg, stem + "_gtFine_instanceIds.png"))
    return np.bincount(tid.ravel(), minlength=256)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out")
    ap.add_argument("--split", default="train")
    ap.add_argument("--seeds")
    ap.add_argument("--size", default="512x1024")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--clip")
    ap.add_argument("--seed", type=int, default=2000000)
    ap.add_argument("--frames", type=int, default=250)
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--gt-dir")
    ap.add_argument("--crf", type=int, default=23)
    a = ap.parse_args()
    h, w = _size(a.size)
    t0 = time.time()
    if a.clip:
        if a.gt_dir:
            os.makedirs(a.gt_dir, exist_ok=True)
        cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
               "-r", str(a.fps), "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(a.crf), a.clip]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        n = 0
        for i, (rgb, tid, inst) in enumerate(render_clip(a.seed, a.frames, h, w, a.fps)):
            proc.stdin.write(np.ascontiguousarray(rgb).tobytes())
            if a.gt_dir:
                Image.fromarray(tid).save(os.path.join(a.gt_dir, f"frame_{i:06d}_gtFine_labelTrainIds.png"))
                Image.fromarray(inst.astype(np.uint16)).save(os.path.join(a.gt_dir, f"frame_{i:06d}_gtFine_instanceIds.png"))
            n += 1
        proc.stdin.close()
        rc = proc.wait()
        if rc != 0:
            sys.exit(f"ffmpeg failed with exit code {rc}")
        dt = time.time() - t0
        print(f"clip {a.clip}: seed {a.seed}, {n} frames {h}x{w} @ {a.fps:g} fps, {dt:.1f} s ({dt / max(n, 1):.2f} s/frame)"
              + (f", gt in {a.gt_dir}" if a.gt_dir else ""))
        return
    if not (a.out and a.seeds):
        ap.error("need --out and --seeds (or --clip)")
    for sub in ("leftImg8bit", "gtFine"):
        os.makedirs(os.path.join(a.out, sub, a.split, "synth"), exist_ok=True)
    seeds = _seeds(a.seeds)
    jobs = [(s, a.out, a.split, h, w) for s in seeds]
    if a.workers > 1:
        import multiprocessing as mp
        with mp.Pool(a.workers) as pool:
            hists = pool.map(_write_one, jobs, chunksize=4)
    else:
        hists = [_write_one(j) for j in jobs]
    hist = np.sum(hists, axis=0)
    frac = hist[:19] / max(hist.sum(), 1)
    present = int((hist[:19] > 0).sum())
    dt = time.time() - t0
    print(f"wrote {len(seeds)} frames {h}x{w} to {a.out} split={a.split} in {dt:.1f} s "
          f"({dt / max(len(seeds), 1):.2f} s/frame), {present}/19 classes present, min class frac {frac.min():.4f}")


if __name__ == "__main__":
    main()
