"""FBNet's DFM + Block-wise BCE and IFBFNet's balanced fusion (tools/sfnet/blocks_fbnet.py): targets, the
blocks' arithmetic, a training step on a tiny batch, fine-tuning init from a plain model file, conversion."""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import convert_checkpoint as cc  # noqa: E402
import train  # noqa: E402
from sfnet import build_sfnet  # noqa: E402
from sfnet.blocks_fbnet import (BalancedFusion, FeatureModulator, block_targets, bwbce_loss,  # noqa: E402
                                foreground_classes)

BLOCKS = {"dfm": True, "ifbf": True}


def test_foreground_classes_leave_out_fbnet_background_stuff():
    fg = foreground_classes(19)
    assert len(fg) == 14 and not {0, 1, 2, 8, 10} & set(fg) and {5, 6, 11, 12} <= set(fg)
    assert foreground_classes(7) == tuple(range(7))


def test_block_targets_mark_blocks_holding_a_class():
    # 4×8 labels onto 2×4 blocks of 2×2: a pole (5) pixel in block (0, 1), a person (11) pixel in block (1, 3),
    # block (1, 0) all ignore.
    y = torch.zeros(1, 4, 8, dtype=torch.long)
    y[0, 1, 3] = 5
    y[0, 3, 6] = 11
    y[0, 2:4, 0:2] = 255
    positive, valid = block_targets(y, (5, 11), (2, 4))
    expected = torch.zeros(1, 2, 2, 4)
    expected[0, 0, 0, 1] = 1
    expected[0, 1, 1, 3] = 1
    assert torch.equal(positive, expected)
    assert valid[0, 0, 1, 0] == 0 and valid.sum() == 7


def test_modulator_and_fusion_compute_the_papers_formulas():
    torch.manual_seed(0)
    dfm = FeatureModulator(6, 19).eval()
    x = torch.randn(1, 6, 5, 7)
    s_s = torch.sigmoid(F.conv2d(x, dfm.spatial.weight, dfm.spatial.bias))
    s_c = torch.sigmoid(F.conv2d(x.mean((2, 3), keepdim=True), dfm.channel.weight, dfm.channel.bias))
    torch.testing.assert_close(dfm(x), x + x * s_s * s_c)
    fusion = BalancedFusion(6)
    low, high = torch.randn(1, 6, 5, 7), torch.randn(1, 6, 5, 7)
    torch.testing.assert_close(fusion(low, high), low + high)  # zero-initialised: SFNet's plain addition
    with torch.no_grad():
        fusion.fc_h.weight.normal_()
        fusion.fc_l.weight.normal_()
        fusion.fc_h.bias.normal_()
    w = fusion.fc_h.weight[:, :, 0, 0] @ high.mean((2, 3))[0] + fusion.fc_h.bias + \
        fusion.fc_l.weight[:, :, 0, 0] @ low.mean((2, 3))[0]
    w = 2 * torch.sigmoid(w).view(1, 12, 1, 1)
    torch.testing.assert_close(fusion(low, high), w[:, :6] * high + w[:, 6:] * low)


def test_training_step_reaches_the_new_weights_and_lowers_the_loss():
    torch.manual_seed(1)
    model = build_sfnet("df1", 19, width_divisor=16, decoder_blocks=BLOCKS).train()
    x = torch.randn(2, 3, 64, 128)
    # Labels the input predicts (a pole wherever channel 0 is high, else road), so a few steps can learn them.
    y = torch.where(F.avg_pool2d(x[:, :1], 8).repeat_interleave(8, 2).repeat_interleave(8, 3)[:, 0] > 0, 5, 0)
    y[:, :8] = 255
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for step in range(10):
        ce = F.cross_entropy(model(x), y, ignore_index=255)
        loss = ce + bwbce_loss(model, y)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            for name in ("head.dfm.spatial.weight", "head.dfm.channel.weight", "head.dfm.bwbce.weight",
                         "head.ifbf.0.fc_h.weight", "head.ifbf.1.fc_l.weight"):
                grad = dict(model.named_parameters())[name].grad
                assert grad is not None and grad.abs().sum() > 0, name
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
    model.eval()
    with torch.no_grad():
        model(x)
    assert model.head.dfm.bwbce_logits is None  # eval passes keep nothing for the loss


def test_parse_blocks():
    assert train.parse_blocks("dfm,ifbf") == BLOCKS
    assert train.parse_blocks("seem=s-daspp, bam") == {"seem": "s-daspp", "bam": True}
    assert train.parse_blocks("") == {}
    for bad in ("dfm,dfm", "dfm=yes", "fbnet"):   # twice, a value where none is taken, an unknown block
        try:
            train.parse_blocks(bad)
        except argparse.ArgumentTypeError:
            pass
        else:
            raise AssertionError(f"--blocks {bad} was accepted")


def test_init_from_a_plain_model_file_loads_everything_but_the_new_blocks(tmp_path, capsys):
    torch.manual_seed(2)
    plain = build_sfnet("df1", 19, width_divisor=16)
    path = str(tmp_path / "plain.safetensors")
    save_file({k: v.contiguous() for k, v in plain.state_dict().items() if not k.endswith("num_batches_tracked")}, path)
    model = build_sfnet("df1", 19, width_divisor=16, decoder_blocks=BLOCKS)
    train.load_init(model, path, "df1")
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in plain.state_dict().items())
    assert "new block layers: head.dfm.bwbce, head.dfm.channel" in capsys.readouterr().out
    # A file that lacks one of the network's own tensors is refused.
    broken = {k: v.contiguous() for k, v in plain.state_dict().items()
              if not k.endswith("num_batches_tracked") and k != "head.fpn_in.0.0.weight"}
    save_file(broken, path)
    try:
        train.load_init(model, path, "df1")
    except SystemExit as e:
        assert "head.fpn_in.0.0.weight" in str(e)
    else:
        raise AssertionError("a file missing a network tensor was accepted")


def test_block_checkpoint_converts_with_decoder_blocks_and_without_bwbce(tmp_path):
    torch.manual_seed(3)
    state = build_sfnet("df1", 19, width_divisor=8, decoder_blocks=BLOCKS).state_dict()
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, path)
    out = str(tmp_path / "model.safetensors")
    assert cc.main([str(path), "-o", out, "--arch", "df1", "--width-divisor", "8"]) == 0
    with safe_open(out, "pt") as f:
        meta = f.metadata()
        keys = set(f.keys())
    assert json.loads(meta["decoder_blocks"]) == BLOCKS
    assert "head.dfm.spatial.weight" in keys and "head.ifbf.1.fc_l.weight" in keys
    assert not any(k.startswith("head.dfm.bwbce") for k in keys)
    only_ifbf = {k: v for k, v in state.items() if not k.startswith("head.dfm.")}
    torch.save(only_ifbf, path)
    assert cc.main([str(path), "-o", out, "--arch", "df1", "--width-divisor", "8"]) == 0
    with safe_open(out, "pt") as f:
        assert json.loads(f.metadata()["decoder_blocks"]) == {"ifbf": True}
    # Half a block is refused, naming the missing tensor.
    torch.save({k: v for k, v in state.items() if k != "head.ifbf.0.fc_l.weight"}, path)
    assert cc.main([str(path), "-o", out, "--arch", "df1", "--width-divisor", "8"]) == 65


def test_train_with_blocks_from_a_plain_file_exports_a_block_model(tmp_path):
    # The ablation's path end to end on two tiny scenes: --init from a plain model file, --blocks dfm,ifbf with the
    # BwBCE loss, export through the converter.
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(2):
        img_dir, lab_dir = tmp_path / "data/leftImg8bit/train/c", tmp_path / "data/gtFine/train/c"
        img_dir.mkdir(parents=True, exist_ok=True)
        lab_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)).save(img_dir / f"s{i}_leftImg8bit.png")
        Image.fromarray(rng.integers(0, 19, (64, 128), dtype=np.uint8)).save(lab_dir / f"s{i}_gtFine_labelTrainIds.png")
    torch.manual_seed(4)
    init = str(tmp_path / "plain.safetensors")
    save_file({k: v.contiguous() for k, v in build_sfnet("df1", 19).state_dict().items()
               if not k.endswith("num_batches_tracked")}, init)
    out = str(tmp_path / "blocks.safetensors")
    code = train.main(["--data", str(tmp_path / "data"), "--work-dir", str(tmp_path / "run"), "--arch", "df1",
                       "--iters", "2", "--batch", "2", "--crop", "64x128", "--blocks", "dfm,ifbf", "--init", init,
                       "--eval-frames", "0", "--threads", "1", "--workers", "0", "--no-bf16", "--export", out,
                       "--export-dtype", "f32"])
    assert code == 0
    with safe_open(out, "pt") as f:
        assert json.loads(f.metadata()["decoder_blocks"]) == BLOCKS
        keys = set(f.keys())
    assert "head.ifbf.0.fc_h.weight" in keys and not any(k.startswith("head.dfm.bwbce") for k in keys)
