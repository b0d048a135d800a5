"""tools/train.py's guards: a diverging run stops with a clear error and never overwrites its last finite
checkpoint; --clip-grad-norm bounds the update."""
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import train  # noqa: E402


def tiny_data(root, n=2):
    rng = np.random.default_rng(0)
    img_dir, lab_dir = root / "leftImg8bit/train/c", root / "gtFine/train/c"
    img_dir.mkdir(parents=True)
    lab_dir.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)).save(img_dir / f"s{i}_leftImg8bit.png")
        Image.fromarray(rng.integers(0, 19, (64, 128), dtype=np.uint8)).save(lab_dir / f"s{i}_gtFine_labelTrainIds.png")
    return str(root)


def args(tmp_path, *extra):
    return ["--data", tiny_data(tmp_path / "data"), "--work-dir", str(tmp_path / "run"), "--arch", "df1",
            "--batch", "2", "--crop", "64x128", "--eval-frames", "0", "--threads", "1", "--workers", "0", "--no-bf16",
            "--checkpoint-every", "1", *extra]


def test_divergence_stops_and_keeps_the_last_finite_checkpoint(tmp_path):
    torch.manual_seed(0)
    # A learning rate of 1e12 blows the weights up within a few steps.
    with pytest.raises(SystemExit, match="diverged"):
        train.main(args(tmp_path, "--iters", "20", "--lr", "1e12"))
    ckpt = torch.load(tmp_path / "run/last.pth", weights_only=False)
    assert all(torch.isfinite(t).all() for t in ckpt["state_dict"].values() if t.is_floating_point())
    assert ckpt["iteration"] < 20


def test_clipping_bounds_the_first_update(tmp_path):
    # Plain SGD (no momentum, no decay): the first step moves the weights by lr times the clipped gradient, whose
    # global norm is at most the bound.
    torch.manual_seed(0)
    model = train.build_sfnet("df1", 19)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(0)
    assert train.main(args(tmp_path, "--iters", "1", "--lr", "1", "--momentum", "0", "--weight-decay", "0",
                           "--clip-grad-norm", "0.5")) == 0
    after = torch.load(tmp_path / "run/last.pth", weights_only=False)["state_dict"]
    moved = torch.sqrt(sum(((after[k] - before[k]) ** 2).sum() for k in before
                           if before[k].is_floating_point() and not k.endswith(("running_mean", "running_var"))))
    assert 0 < moved <= 0.5 * (1 + 1e-4)
