"""twinnet's own helper modules in emitted torch code import whole (backends/importers/torch/own_modules.py):
a LayerNorm over the channels of a channels-first tensor, which ``to_torch`` writes as ``ChannelLayerNorm``,
comes back as that LayerNorm, a BatchNorm with only one affine half (``HalfAffineBatchNorm``) as that
BatchNorm, and Keras's Normalization (``KerasNormalization``) as a Normalization, each computing the same at two batch
sizes."""

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


def _reads_back(m, net, shape):
    """from_torch of ``net`` (to_torch of ``m``) is ``m`` again, weights included, and computes what ``net`` does."""
    back = from_torch(net, (torch.randn(2, *shape),), fixed_lengths=True)
    assert not structural_diff(m, back, weights=True)
    again = to_torch(back)
    for batch in (2, 3):
        x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            np.testing.assert_allclose(again(x).numpy(), net(x).numpy(), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("layout, shape, options", CASES, ids=["ncw", "nchw", "center-only"])
def test_channel_layer_norm_reads_back_as_a_layer_norm(layout, shape, options):
    m = _model(layout, shape, **options)
    net = to_torch(m)
    assert "ChannelLayerNorm" in {type(c).__name__ for c in net.modules()}
    _reads_back(m, net, shape)


def _norm_model(layout, shape, norm):
    x = ir.Input(shape, layout=layout, name="x")
    conv = L.Conv1D(3, 2) if len(shape) == 2 else L.Conv2D(3, 2)
    return ir.Model(x, conv(norm(x)), name="m").randomize(4)


# Normalization's statistics in numbers float32 holds exactly: torch holds them as float32 buffers (Keras as
# float32 weights), so that is what comes back
NORMS = [
    ("NCHW", (4, 5, 6), L.BatchNorm(scale=False)),
    ("NCW", (4, 6), L.BatchNorm(center=False)),
    ("NCHW", (4, 5, 6), L.Normalization(mean=[0.5, -0.25, 1.0, 0.0], variance=[0.25, 2.0, 0.0, 1.5])),
    ("NCHW", (4, 5, 6), L.Normalization(mean=0.375, variance=1.75, axis=None, invert=True)),
    (
        "NCW",
        (4, 6),
        L.Normalization(mean=[0.125 * i for i in range(6)], variance=[1.0 + i for i in range(6)], axis="W"),
    ),
]


@pytest.mark.parametrize(
    "layout, shape, norm", NORMS, ids=["bn-no-scale", "bn-no-center", "normalization", "whole-inverted", "width"]
)
def test_norm_helpers_read_back_as_their_layers(layout, shape, norm):
    m = _norm_model(layout, shape, norm)
    net = to_torch(m)
    assert {"HalfAffineBatchNorm", "KerasNormalization"} & {type(c).__name__ for c in net.modules()}
    _reads_back(m, net, shape)


def test_half_affine_batch_norm_trains_only_its_learned_half():
    net = to_torch(_norm_model("NCHW", (4, 5, 6), L.BatchNorm(scale=False)))
    (norm,) = [c for c in net.modules() if type(c).__name__ == "HalfAffineBatchNorm"]
    assert [name for name, _ in norm.named_parameters()] == ["bias"]
    assert set(norm.state_dict()) >= {"weight", "bias", "running_mean", "running_var"}


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


@pytest.mark.parametrize(
    "layout, shape, activation",
    [("NCW", (4, 6), None), ("NCHW", (4, 5, 6), "gelu"), ("NCDHW", (4, 3, 3, 3), None)],
    ids=["ncw", "nchw-gelu", "ncdhw"],
)
def test_channel_dense_reads_back_as_a_dense(layout, shape, activation):
    """A Dense over the channels of a channels-first tensor is a 1x1 convolution in torch, written as
    ``ChannelDense{n}d``, which comes back as the Dense (its activation fused), not as a Conv, and no user's block."""
    x = ir.Input(shape, layout=layout, name="x")
    h = L.Dense(5, activation=activation)(x)
    m = ir.Model(x, L.Dense(3, use_bias=False)(h), name="m").randomize(4)
    net = to_torch(m)
    assert {type(c).__name__ for c in net.modules()} >= {f"ChannelDense{len(shape) - 1}d"}
    _reads_back(m, net, shape)
    back = from_torch(net, (torch.randn(2, *shape),), fixed_lengths=True)
    assert all(not n.block for n in back.layers)
