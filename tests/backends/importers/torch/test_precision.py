"""from_torch of a float16/bfloat16 module: imported from a float32 copy, the precision recorded, weights exact."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

import twinnet
from twinnet import ir


def net():
    torch.manual_seed(0)
    n = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    with torch.no_grad():
        n[1].running_mean.uniform_(-0.5, 0.5)
        n[1].running_var.uniform_(0.5, 1.5)
        n[1].bias.uniform_(-0.5, 0.5)
    return n.eval()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_module_imports_with_its_precision_and_compiles_back_bit_for_bit(dtype):
    source = net().to(dtype)
    before = copy.deepcopy(source.state_dict())
    model = twinnet.from_torch(source, (torch.zeros(2, 3, 8, 8, dtype=dtype),))
    assert model.dtype == str(dtype).removeprefix("torch.")
    assert {w.dtype for w in model.weights.values()} == {np.dtype(np.float32)}
    assert all(torch.equal(before[k], v) for k, v in source.state_dict().items())  # the module is untouched
    back = twinnet.to_torch(model)  # in the model's precision by default
    again = dict(back.named_parameters())
    for key, value in source.named_parameters():  # the same values, in the same precision
        match = [t for t in again.values() if t.shape == value.shape and t.dtype == dtype and torch.equal(t, value)]
        assert match, key
    report = twinnet.verify(model, paths=("torch", "onnx-ir"))
    assert report.ok and report.dtype == model.dtype, report.table()


def test_a_module_in_two_precisions_is_refused_naming_both():
    mixed = net()
    mixed[4].half()
    with pytest.raises(ir.UnsupportedError, match=r"float32: \d+ tensor.*float16: 2 tensor"):
        twinnet.from_torch(mixed, (torch.zeros(2, 3, 8, 8),))
