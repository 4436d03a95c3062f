"""twinnet's own helper modules in emitted torch code import whole (backends/importers/torch/own_modules.py):
a LayerNorm over the channels of a channels-first tensor, which ``to_torch`` writes as ``ChannelLayerNorm``,
comes back as that LayerNorm, computing the same at two batch sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from twinnet import ir
from twinnet.backends import from_torch, to_torch
from twinnet.ir import layers as L
from twinnet.ir.structure import structural_diff


def _model(layout, shape, **options):
    x = ir.Input(shape, layout=layout, name="x")
    norm = L.LayerNorm(axis="C", epsilon=1e-5, **options)(x)
    return ir.Model(x, L.Conv1D(3, 2)(norm) if layout == "NCW" else L.Conv2D(3, 2)(norm), name="m").randomize(4)


CASES = [
    ("NCW", (4, 6), {}),
    ("NCHW", (4, 5, 6), {}),
    ("NCW", (4, 6), {"scale": False}),  # nn.LayerNorm has no bias without a weight: the helper either way
]


@pytest.mark.parametrize("layout, shape, options", CASES, ids=["ncw", "nchw", "center-only"])
def test_channel_layer_norm_reads_back_as_a_layer_norm(layout, shape, options):
    m = _model(layout, shape, **options)
    net = to_torch(m)
    assert "ChannelLayerNorm" in {type(c).__name__ for c in net.modules()}
    back = from_torch(net, (torch.randn(2, *shape),), fixed_lengths=True)
    assert not structural_diff(m, back, weights=True)
    again = to_torch(back)
    for batch in (2, 3):
        x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            np.testing.assert_allclose(again(x).numpy(), net(x).numpy(), atol=1e-5, rtol=1e-4)


class ChannelLayerNorm(torch.nn.Module):
    """A user's module of the same name that is not twinnet's (no ``dims``): traced as usual."""

    def __init__(self, c):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.rand(1, c, 1) + 0.5)

    def forward(self, x):
        return x * self.weight


def test_a_module_of_that_name_without_its_attributes_is_not_taken_for_it():
    net = torch.nn.Sequential(ChannelLayerNorm(4), torch.nn.Conv1d(4, 3, 2)).eval()
    back = from_torch(net, (torch.randn(2, 4, 6),))
    assert "LayerNorm" not in {n.layer.kind for n in back.layers}
