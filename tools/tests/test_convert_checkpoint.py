"""The converter on checkpoints written in every layout the reference produces, and on broken ones."""
import json
import os
import sys

import pytest
import torch
from safetensors import safe_open

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import convert_checkpoint as cc  # noqa: E402
from sfnet import build_sfnet  # noqa: E402


def reference_state(arch="df1", classes=19, d=8):
    torch.manual_seed(0)
    model = build_sfnet(arch, classes, width_divisor=d)
    for m in model.modules():  # non-trivial BN statistics, as a trained checkpoint has
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.state_dict()


def write(tmp_path, obj, name="ckpt.pth"):
    path = tmp_path / name
    torch.save(obj, path)
    return str(path)


def run(tmp_path, ckpt, *extra):
    out = str(tmp_path / "model.safetensors")
    code = cc.main([ckpt, "-o", out, "--arch", "df1", "--width-divisor", "8", *extra])
    return code, out


@pytest.mark.parametrize("layout", ["bare", "wrapped", "module_prefix", "wrapped_module_prefix_dsn"])
def test_layouts_convert_to_identical_tensors(tmp_path, layout):
    state = reference_state()
    ckpt = dict(state)
    if "module" in layout:
        ckpt = {"module." + k: v for k, v in ckpt.items()}
    if "dsn" in layout:
        ckpt["module.head.dsn.0.0.weight"] = torch.zeros(4, 4, 3, 3)
        ckpt["module.head.dsn.0.1.running_mean"] = torch.zeros(4)
    if "wrapped" in layout:
        ckpt = {"state_dict": ckpt, "epoch": 3, "mean_iu": 0.5, "command": "train.py"}
    code, out = run(tmp_path, write(tmp_path, ckpt))
    assert code == 0
    with safe_open(out, "pt") as f:
        meta = f.metadata()
        keys = set(f.keys())
        expected = {k for k in state if not k.endswith("num_batches_tracked")}
        assert keys == expected
        for k in expected:
            assert torch.equal(f.get_tensor(k), state[k]), k
    assert meta["arch"] == "df1" and meta["num_classes"] == "19" and meta["warp_align_corners"] == "true"
    assert len(json.loads(meta["class_names"])) == 19 and json.loads(meta["palette"])[0] == [128, 64, 128]


def test_missing_key_is_refused_by_name(tmp_path, capsys):
    state = reference_state()
    del state["head.fpn_in.1.0.bias"]
    code, out = run(tmp_path, write(tmp_path, state))
    assert code == 65 and not os.path.exists(out)
    assert "missing head.fpn_in.1.0.bias" in capsys.readouterr().err


def test_wrong_shape_is_refused_by_name(tmp_path, capsys):
    state = reference_state()
    state["head.fpn_out.0.0.0.weight"] = torch.zeros(8, 4, 3, 3)
    code, _ = run(tmp_path, write(tmp_path, state))
    assert code == 65
    assert "head.fpn_out.0.0.0.weight has shape [8, 4, 3, 3], expected [8, 8, 3, 3]" in capsys.readouterr().err


def test_wrong_arch_is_refused(tmp_path, capsys):
    state = reference_state(arch="r18")
    code, _ = run(tmp_path, write(tmp_path, state))
    assert code == 65
    assert "does not match arch df1" in capsys.readouterr().err


def test_class_count_inferred_and_overridden(tmp_path):
    state = reference_state(classes=7)
    code, out = run(tmp_path, write(tmp_path, state), "--warp-align-corners", "false", "--dtype", "f16")
    assert code == 0
    with safe_open(out, "pt") as f:
        assert f.metadata()["num_classes"] == "7" and f.metadata()["warp_align_corners"] == "false"
        assert f.get_tensor("head.conv_last.1.weight").dtype == torch.float16
    code, _ = run(tmp_path, write(tmp_path, state), "--classes", "19")
    assert code == 65


def test_network_scale(tmp_path):
    state = reference_state()
    code, out = run(tmp_path, write(tmp_path, state))
    with safe_open(out, "pt") as f:
        assert "network_scale" not in f.metadata()  # absent means 1 (Cityscapes checkpoints)
    code, out = run(tmp_path, write(tmp_path, state), "--network-scale", "2")
    assert code == 0
    with safe_open(out, "pt") as f:
        assert float(f.metadata()["network_scale"]) == 2.0
    code, _ = run(tmp_path, write(tmp_path, state), "--network-scale", "0")
    assert code == 65


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a pickle at all")
    code, _ = run(tmp_path, str(bad))
    assert code == 65
    code, _ = run(tmp_path, str(tmp_path / "absent.pth"))
    assert code == 66
