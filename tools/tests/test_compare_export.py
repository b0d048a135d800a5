"""bench/compare.py's ONNX export: the rewrites it needs (adaptive pools as matmuls, the FAM grid as a constant)
keep PyTorch's values, and ORT runs the exported graph to PyTorch's labels."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import compare  # noqa: E402

FIXTURES = os.path.join(ROOT, "Tests", "SFNetTests", "Fixtures")


@pytest.mark.parametrize("bins,h,w", [(6, 5, 11), (3, 16, 32), (1, 7, 7), (2, 3, 9)])
def test_matmul_adaptive_pool_equals_pytorch(bins, h, w):
    m = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(bins))
    x = torch.randn(1, 4, h, w)
    ref = m(x)
    compare.patch_adaptive_pools(m)
    assert not isinstance(m[0], torch.nn.AdaptiveAvgPool2d)
    torch.testing.assert_close(m(x), ref, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name,h,w", [("df1_w16_ac0", 64, 128), ("r18_w16", 70, 100)])
def test_export_matches_pytorch(tmp_path, name, h, w):
    pytest.importorskip("onnxruntime")
    model, meta, mean, std = compare.load_torch_model(os.path.join(FIXTURES, f"{name}.safetensors"))
    x = np.random.default_rng(0).standard_normal((1, 3, h, w)).astype(np.float32)
    with torch.inference_mode():
        logits = model(torch.from_numpy(x))
    path = str(tmp_path / "m.onnx")
    compare.export_onnx(model, h, w, path)
    with torch.inference_mode():   # the patched model computes the same logits
        torch.testing.assert_close(model(torch.from_numpy(x)), logits, atol=1e-4, rtol=1e-4)
    assert compare.reference_check(model, path, x) > 0.999
    assert compare.conv_macs(model, h, w) > 0
