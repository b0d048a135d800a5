"""SeENet's decoder blocks (tools/sfnet/blocks_seenet.py): shapes, fine-tuning from a file without them
(train.py --init), a training step that reaches the new weights, and conversion with `decoder_blocks`."""
import argparse
import json
import os
import sys

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import convert_checkpoint as cc  # noqa: E402
import train  # noqa: E402
from sfnet import build_sfnet  # noqa: E402
from sfnet.blocks_seenet import SeEM, full_sampling_kernel  # noqa: E402

BLOCKS = [{"seem": "s-daspp"}, {"seem": "fs"}, {"bam": True}, {"seem": "fs", "bam": True}]


def test_full_sampling_covers_every_input():
    # A dense kernel r then taps at −d, 0, d: the union of [k·d − r//2, k·d + r//2] has no hole.
    for d in (1, 2, 3, 4, 8, 13):
        r = full_sampling_kernel(d)
        covered = {k * d + j for k in (-1, 0, 1) for j in range(-(r // 2), r // 2 + 1)}
        assert covered == set(range(min(covered), max(covered) + 1)) and r % 2 == 1


def test_seem_starts_as_identity_and_keeps_the_shape():
    torch.manual_seed(0)
    for variant in ("s-daspp", "fs"):
        m = SeEM(16, variant).eval()
        x = torch.relu(torch.randn(2, 16, 9, 13))
        assert torch.equal(m(x), x)  # project BN starts at gamma 0: relu(x + 0) = x for x >= 0
        m.project[1].weight.data.fill_(1)
        assert m(x).shape == x.shape and not torch.equal(m(x), x)
    assert [b.local is None for b in SeEM(16, "fs").branches] == [True, False, False, False]
    assert all(b.local is None for b in SeEM(16, "s-daspp").branches)


def test_blocks_change_only_their_own_keys():
    base = build_sfnet("df1", 19, width_divisor=8).state_dict()
    for blocks in BLOCKS:
        state = build_sfnet("df1", 19, width_divisor=8, decoder_blocks=blocks).state_dict()
        new = [k for k in state if k not in base]
        assert new and all(k.startswith(("head.seem.", "head.bam.")) for k in new)
        assert set(base) <= set(state)
        changed = [k for k in base if state[k].shape != base[k].shape]
        assert changed == (["head.conv_last.0.0.weight"] if blocks.get("bam") else [])
    with pytest.raises(ValueError):
        build_sfnet("df1", decoder_blocks={"seem": "dense"})
    with pytest.raises(ValueError):
        build_sfnet("df1", decoder_blocks={"sem": "fs"})


def test_parse_blocks():
    assert train.parse_blocks("seem=s-daspp,bam") == {"seem": "s-daspp", "bam": True}
    assert train.parse_blocks("") == {}
    for bad in ("seem=x", "bam,bam", "nope"):
        with pytest.raises(argparse.ArgumentTypeError):
            train.parse_blocks(bad)


def write_model(tmp_path, model, name="plain.safetensors"):
    path = str(tmp_path / name)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    cc.save_model(state, cc.model_metadata("df1", 19, True, width_divisor=8), path)
    return path


@pytest.mark.parametrize("blocks", BLOCKS)
def test_init_from_a_file_without_blocks_computes_the_same_then_trains_them(tmp_path, blocks):
    torch.manual_seed(1)
    plain = build_sfnet("df1", 19, width_divisor=8).eval()
    for m in plain.modules():  # non-trivial BN statistics, so "the same output" means something
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    path = write_model(tmp_path, plain)
    model = build_sfnet("df1", 19, width_divisor=8, decoder_blocks=blocks)
    logs = []
    train.load_init(model, path, "df1", log=logs.append)
    assert "start fresh" in logs[0]
    model.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x), rtol=1e-5, atol=1e-5)

    # A few SGD steps on one tiny batch: the loss falls and every new weight gets a gradient.
    model.train()
    y = torch.randint(0, 19, (2, 64, 96))
    x = torch.randn(2, 3, 64, 96)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    new = {k: p for k, p in model.named_parameters() if k.startswith(("head.seem.", "head.bam."))}
    reached = set()
    losses = []
    for _ in range(6):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        reached |= {k for k, p in new.items() if p.grad is not None and p.grad.abs().sum() > 0}
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert reached == set(new), sorted(set(new) - reached)[:3]


def test_init_refuses_a_file_of_another_arch(tmp_path):
    path = write_model(tmp_path, build_sfnet("df2", 19, width_divisor=8))
    with pytest.raises(SystemExit):
        train.load_init(build_sfnet("df1", 19, width_divisor=8, decoder_blocks={"bam": True}), path, "df1")


@pytest.mark.parametrize("blocks", BLOCKS)
def test_checkpoint_with_blocks_converts_with_metadata(tmp_path, blocks):
    state = build_sfnet("df1", 19, width_divisor=8, decoder_blocks=blocks).state_dict()
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, path)
    out = str(tmp_path / "model.safetensors")
    assert cc.main([str(path), "-o", out, "--arch", "df1", "--width-divisor", "8"]) == 0
    with safe_open(out, "pt") as f:
        assert json.loads(f.metadata()["decoder_blocks"]) == blocks
        assert f.metadata()["decoder_blocks"] == json.dumps(blocks, sort_keys=True)
    # A plain checkpoint has no decoder_blocks key (old files unchanged).
    torch.save(build_sfnet("df1", 19, width_divisor=8).state_dict(), path)
    assert cc.main([str(path), "-o", out, "--arch", "df1", "--width-divisor", "8"]) == 0
    with safe_open(out, "pt") as f:
        assert "decoder_blocks" not in f.metadata()


@pytest.mark.parametrize("variant", ["s-daspp", "fs"])
def test_depthwise_convs_run_in_fp32_under_bf16_autocast(variant):
    # The CPU's bf16 backward of a dilated depthwise conv gave inf weight gradients (docs/blocks.md, "The ablation"):
    # every depthwise conv of a SeEM branch must see and give fp32 while the rest of the network runs in bf16.
    seem = SeEM(64, variant).train()
    seen = []
    for branch in seem.branches:
        for block in filter(None, [branch.local, branch.atrous]):
            block[0].register_forward_hook(lambda m, i, o: seen.append((i[0].dtype, o.dtype)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = seem(torch.rand(2, 64, 12, 24))
    assert len(seen) == (4 if variant == "s-daspp" else 7)
    assert all(i == torch.float32 and o == torch.float32 for i, o in seen)
    out.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in seem.parameters() if p.grad is not None)
