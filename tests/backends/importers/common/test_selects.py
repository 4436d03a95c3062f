"""``split_select`` of backends/importers/common/selects.py: a one-wide part of the first axis a reshape splits
one axis into, summed away, becomes the slice of that axis and a reshape; the rewritten model computes what the
original did in torch and in Keras (random weights, batch 2 and 3). It stays put where the part is not one
contiguous run of the axis split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rewrite_check import checked, fires, kinds, stays

from twinnet import ir
from twinnet.backends import from_keras, from_torch, to_keras, to_torch
from twinnet.ir import layers as L
from twinnet.ir import ops as O
from twinnet.ir.structure import structural_diff


def _parts(h, axis: str, width: int = 1, count: int = 3):
    """Parts ``0 .. count - 1`` of ``axis`` (``width`` entries each, the last ones running to the end where they
    reach it), each summed over that axis."""
    return [O.Reduce("sum", axis)(L.Slice(axis, i, i + width)(h)) for i in range(count)]


def _slices(m):
    return [(n.layer.axis, n.layer.start, n.layer.stop) for n in m.layers if n.layer.kind == "Slice"]


# -- where it fires ---------------------------------------------------------------------------------------------
def qkv_unbound():
    """timm's attention input as from_torch reads it: the qkv features split into (3, heads, dim), each part
    summed away, and each moved heads first."""
    x = ir.Input((5, 6), layout="NTC", name="x")
    h = L.Reshape((5, 3, 2, 2), layout="NCDHW")(L.Dense(12)(x))
    q, k, v = (L.Permute("NHCW")(p) for p in _parts(h, "D"))
    a = O.ScaledDotProductAttention()([q, k, v])
    return ir.Model(x, L.Dense(3)(L.Reshape((5, 4), layout="NTC")(L.Permute("NCHW")(a))))


def qkv_unbound_as_keras_reads_it():
    """The same parts in Keras's letters (the reshape NDHWC), the last one read by a relabelling View."""
    x = ir.Input((5, 6), layout="NTC", name="x")
    h = L.Reshape((5, 3, 2, 2), layout="NDHWC")(L.Dense(12)(x))
    parts = _parts(h, "H")
    return ir.Model(x, L.Dense(3)(O.View((5, 2, 2), "NTAC")(L.Add()(parts))))


def middle_axis_split():
    """A View splitting the token axis (not the last) in two: the first half and the second."""
    x = ir.Input((6, 4), layout="NTC", name="x")
    h = O.View((2, 3, 4), "NDTC")(L.Dense(4)(x))
    return ir.Model(x, L.Dense(3)(L.Subtract()(_parts(h, "D", count=2))))


def symbolic_length():
    """Tokens of any length, their features split: the reshape after the slice keeps the length -1."""
    x = ir.Input((None, 6), layout="NTC", name="x")
    h = L.Reshape((-1, 2, 3), layout="NTDC")(L.Dense(6)(x))
    return ir.Model(x, L.Dense(3)(L.Add()(_parts(h, "D", count=2))))


def _qkv_sliced(m):
    return "Reduce" not in kinds(m) and _slices(m) == [("C", 0, 4), ("C", 4, 8), ("C", 8, None)]


FIRES = [
    (qkv_unbound, _qkv_sliced),
    (qkv_unbound_as_keras_reads_it, _qkv_sliced),
    (middle_axis_split, lambda m: "Reduce" not in kinds(m) and _slices(m) == [("T", 0, 3), ("T", 3, None)]),
    (symbolic_length, lambda m: "Reduce" not in kinds(m) and _slices(m) == [("C", 0, 3), ("C", 3, None)]),
]


@pytest.mark.parametrize("build, holds", FIRES, ids=[b.__name__ for b, _ in FIRES])
def test_split_select_fires_and_computes_the_same(build, holds):
    fires(build, "split_select", holds)


def qkv_unbound_of_a_view():
    """The same split as the op tier's View (how from_torch reads a reshape of tokens regrouped with the batch,
    MobileViT's patches)."""
    x = ir.Input((5, 6), layout="NTC", name="x")
    h = O.View((5, 3, 2, 2), "NCDHW")(L.Dense(12)(x))
    q, k, v = (L.Permute("NHCW")(p) for p in _parts(h, "D"))
    a = O.ScaledDotProductAttention()([q, k, v])
    return ir.Model(x, L.Dense(3)(L.Reshape((5, 4), layout="NTC")(L.Permute("NCHW")(a))))


@pytest.mark.parametrize("build, kind", [(qkv_unbound, "Reshape"), (qkv_unbound_of_a_view, "View")])
def test_each_part_is_reshaped_as_the_split_was(build, kind):
    """A Reshape split gives a Reshape per part; a View a View, as from_torch reads back the reshape to_torch
    writes of each part of a regrouped batch."""
    _, after = checked(build)
    assert _qkv_sliced(after)
    parts = [n for n in after.layers if getattr(n.inputs[0].node.layer, "kind", None) == "Slice"]
    assert [n.layer.kind for n in parts] == [kind] * 3


def test_the_two_readings_of_qkv_meet():
    """from_torch's and from_keras's letters for the one qkv split give one model once rewritten (the parts'
    reshapes named by the attention's roles)."""

    def keras_letters():
        x = ir.Input((5, 6), layout="NTC", name="x")
        h = L.Reshape((5, 3, 2, 2), layout="NDHWC")(L.Dense(12)(x))
        q, k, v = (L.Permute("NHDC")(O.View((5, 2, 2), "NDHC")(p)) for p in _parts(h, "H"))
        a = O.ScaledDotProductAttention()([q, k, v])
        return ir.Model(x, L.Dense(3)(L.Reshape((5, 4), layout="NTC")(L.Permute("NDHC")(a))))

    _, torch_side = checked(qkv_unbound)
    _, keras_side = checked(keras_letters)
    assert structural_diff(torch_side, keras_side) == []


# -- where it stays ---------------------------------------------------------------------------------------------
def later_axis_selected():
    """A part of the second axis the features are split into: every other run of entries, not one run."""
    x = ir.Input((5, 6), layout="NTC", name="x")
    h = L.Reshape((5, 2, 3), layout="NTDC")(L.Dense(6)(x))
    return ir.Model(x, L.Dense(3)(L.Flatten()(L.Add()(_parts(h, "C", count=2)))))


def two_wide_parts():
    """A sum over two entries of the split axis: a sum, not a selection."""
    x = ir.Input((5, 6), layout="NTC", name="x")
    h = L.Reshape((5, 3, 2), layout="NTDC")(L.Dense(6)(x))
    return ir.Model(x, L.Dense(3)(L.Add()(_parts(h, "D", width=2, count=2))))


def reshape_that_merges():
    """A reshape merging the tokens with the features before splitting them otherwise: no axis split alone."""
    x = ir.Input((4, 6), layout="NTC", name="x")
    h = L.Reshape((3, 2, 4), layout="NDTC")(L.Dense(6)(x))
    return ir.Model(x, L.Dense(3)(L.Add()(_parts(h, "D"))))


STAYS = [later_axis_selected, two_wide_parts, reshape_that_merges]


@pytest.mark.parametrize("build", STAYS, ids=[b.__name__ for b in STAYS])
def test_split_select_does_not_fire_where_it_would_not_be_exact(build):
    before, after = stays(build, "split_select")
    assert kinds(after).count("Reduce") == kinds(before).count("Reduce")


# -- what it is for: timm's attention through Keras -------------------------------------------------------------
class _TimmAttention(torch.nn.Module):
    """timm's ViT attention: one qkv projection, reshaped, permuted with its three-way axis first, unbound (a
    scale other than 1/sqrt(head_dim), as a user may write, so that from_torch reads it op by op, as it does
    timm's, and not whole as a MultiHeadAttention)."""

    def __init__(self, features: int = 8, heads: int = 2):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(features, 3 * features)
        self.proj = torch.nn.Linear(features, features)

    def forward(self, x):
        b, t, c = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        h = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=0.3)
        return self.proj(h.transpose(1, 2).reshape(b, t, c))


def test_timm_attention_round_trips_exactly_through_keras_and_torch():
    """from_keras(to_keras(m)) and from_torch(to_torch(m)) give back m, and m computes what the module does."""
    torch.manual_seed(0)
    module = _TimmAttention().eval()
    m = from_torch(module, (torch.randn(2, 5, 8),), fixed_lengths=True)
    assert "split_select" in m.rewrites
    assert structural_diff(m, from_keras(to_keras(m)), weights=True) == []
    assert structural_diff(m, from_torch(to_torch(m), (torch.randn(2, 5, 8),), fixed_lengths=True), weights=True) == []
    for batch in (2, 3):
        x = torch.randn(batch, 5, 8)
        with torch.no_grad():
            want, got = module(x).numpy(), to_torch(m)(x).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
        np.testing.assert_allclose(np.asarray(to_keras(m)(x.numpy(), training=False)), want, atol=1e-5, rtol=1e-4)
