"""The instance head's training targets and loss, and its conversion into a model file (tools/train_instances.py,
tools/convert_checkpoint.py)."""
import json
import os
import sys

import numpy as np
import torch
from safetensors import safe_open

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import convert_checkpoint as cc  # noqa: E402
import train_instances as ti  # noqa: E402
from sfnet import build_sfnet  # noqa: E402


def test_targets_put_centres_and_offsets_where_the_instances_are():
    # A 9×17 label map onto a 5×9 head (factor 0.5 both ways): a car (label id 26) in pixels x 2..5, y 2..5
    # (mass centre (3.5, 3.5) px = (1.75, 1.75) cells), a person (24) in x 12..15, y 4..7 (centre (13.5, 5.5)
    # px = (6.75, 2.75) cells), a crowd of cars (26 < 1000: no instance) and road.
    ids = np.full((9, 17), 7, np.int32)
    ids[2:6, 2:6] = 26000
    ids[4:8, 12:16] = 24001
    ids[0:2, 8:10] = 26
    heat, offsets, mask = ti.instance_targets(ids, 5, 9)
    car, person = 2, 0  # THING_CLASSES order: person, rider, car, ...
    assert heat.shape == (8, 5, 9) and offsets.shape == (2, 5, 9)
    assert heat[car][2, 2] == 1.0 and heat[person][3, 7] == 1.0  # the cells nearest the centres
    assert (heat[car] == 1).sum() == 1 and (heat[person] == 1).sum() == 1 and heat[[1, 3, 4, 5, 6, 7]].max() == 0
    assert heat[car][1, 1] < heat[car][2, 2] and heat[car][0, 8] < 1e-3
    # Offsets on the cells whose nearest label pixel is the instance's: cell (1, 1) is pixel (2, 2), a car.
    assert mask[1, 1] and mask[2, 2] and not mask[0, 0] and not mask[0, 4]  # road and the crowd are left out
    np.testing.assert_allclose(offsets[:, 1, 1], [0.75, 0.75], atol=1e-6)
    np.testing.assert_allclose(offsets[:, 3, 6], [0.75, -0.25], atol=1e-6)


def test_focal_loss_prefers_the_right_peaks():
    target = torch.zeros(1, 1, 3, 3)
    target[0, 0, 1, 1] = 1
    good = torch.full((1, 1, 3, 3), -4.0)
    good[0, 0, 1, 1] = 4
    assert ti.focal_loss(good, target) < ti.focal_loss(-good, target)


def test_head_checkpoint_converts_with_metadata(tmp_path):
    torch.manual_seed(0)
    state = build_sfnet("df1", 19, width_divisor=8, instance_head=True).state_dict()
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": state}, path)
    out = str(tmp_path / "model.safetensors")
    assert cc.main([str(path), "-o", out, "--arch", "df1", "--width-divisor", "8"]) == 0
    with safe_open(out, "pt") as f:
        meta = f.metadata()
        keys = list(f.keys())
    assert json.loads(meta["instance_head"]) == {"thing_classes": list(range(11, 19)), "offset": "dx,dy",
                                                 "offset_unit": "cells"}
    assert "head.instance_head.2.weight" in keys
    # Without the head tensors there is no instance_head key: old files are unchanged.
    plain = {k: v for k, v in state.items() if not k.startswith("head.instance_head.")}
    torch.save(plain, path)
    assert cc.main([str(path), "-o", out, "--arch", "df1", "--width-divisor", "8"]) == 0
    with safe_open(out, "pt") as f:
        assert "instance_head" not in f.metadata()


def test_network_size_matches_segstream():
    assert ti.network_size(512, 1024, 1.75) == (896, 1792)
    assert ti.network_size(512, 1024, 1.0) == (512, 1024)
