"""`segstream eval --panoptic` against cityscapesscripts' panoptic evaluation (evalPanopticSemanticLabeling, a copy of
panopticapi's pq_compute) on the same predictions: PQ, SQ and RQ for all classes, things, stuff and per class agree to
0.01 (percent). The predictions are the PNG/JSON pairs that `eval --panoptic-out` writes, gathered into the COCO
prediction file; the ground truth is cityscapesscripts' own conversion of the gtFine instance ids (createPanopticImgs).
Needs the built binary (tools/test.sh builds it first); skipped without it."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest

from cityscapesscripts.evaluation.evalPanopticSemanticLabeling import evaluatePanoptic
from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("SEGSTREAM_BIN") or next(
    (p for p in (os.path.join(ROOT, ".build", c, "segstream") for c in ("debug", "release")) if os.path.exists(p)), None)


def _dataset(root):
    """Four held-out scenes (seeds never used in training) at 256x512, split `val`, Cityscapes layout."""
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "synth", "generate.py"), "--out", root, "--split", "val",
                    "--seeds", "1000000-1000003", "--size", "256x512"], check=True, capture_output=True)


def _cityscapes_scores(data, pred_dir, tmp):
    gt_out = os.path.join(tmp, "gt")
    os.makedirs(gt_out)
    convert2panoptic(os.path.join(data, "gtFine"), gt_out, setNames=["val"])
    annotations = []
    for path in sorted(glob.glob(os.path.join(pred_dir, "*_panoptic.json"))):
        with open(path) as f:
            d = json.load(f)
        annotations.append({"image_id": d["image_id"], "file_name": d["file_name"], "segments_info": d["segments_info"]})
    pred_json = os.path.join(tmp, "pred.json")
    with open(pred_json, "w") as f:
        json.dump({"annotations": annotations}, f)
    return evaluatePanoptic(os.path.join(gt_out, "cityscapes_panoptic_val.json"),
                            os.path.join(gt_out, "cityscapes_panoptic_val"), pred_json, pred_dir,
                            os.path.join(tmp, "results.json"))


@pytest.mark.skipif(BINARY is None, reason="segstream is not built (swift build)")
@pytest.mark.parametrize("extra", [[], ["--no-fusion"], ["--instance-grouping", "category", "--min-instance-area", "16"]])
def test_eval_panoptic_matches_cityscapesscripts(tmp_path, extra):
    data = str(tmp_path / "data")
    _dataset(data)
    pred_dir, ours_json = str(tmp_path / "pred"), str(tmp_path / "ours.json")
    subprocess.run([BINARY, "eval", "--data", data, "--split", "val", "--panoptic-out", pred_dir, "--json", ours_json] + extra,
                   check=True, capture_output=True)
    with open(ours_json) as f:
        ours = json.load(f)
    theirs = _cityscapes_scores(data, pred_dir, str(tmp_path))
    for key, group in [("", "All"), ("_things", "Things"), ("_stuff", "Stuff")]:
        for m in ("pq", "sq", "rq"):
            assert ours[m + key] == pytest.approx(100 * theirs[group][m], abs=0.01), (m + key, extra)
    # Per class (cityscapesscripts keys classes by label id; ours by name).
    names = {24: "person", 25: "rider", 26: "car", 27: "truck", 28: "bus", 31: "train", 32: "motorcycle", 33: "bicycle",
             7: "road", 8: "sidewalk", 11: "building", 12: "wall", 13: "fence", 17: "pole", 19: "traffic light",
             20: "traffic sign", 21: "vegetation", 22: "terrain", 23: "sky"}
    counted = 0
    for label, r in theirs["per_class"].items():
        mine = ours["per_class_panoptic"].get(names[int(label)])
        if mine is None:  # no TP, FP or FN: cityscapesscripts reports zeros
            assert r == {"pq": 0.0, "sq": 0.0, "rq": 0.0}
            continue
        counted += 1
        for m in ("pq", "sq", "rq"):
            assert mine[m] == pytest.approx(100 * r[m], abs=0.01), (names[int(label)], m)
    assert counted >= 10 and theirs["Things"]["n"] >= 3  # the comparison covers things and stuff
