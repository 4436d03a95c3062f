"""``split_select`` of backends/importers/common/selects.py: a one-wide part of the first axis a reshape splits
one axis into, summed away, becomes the slice of that axis and a reshape; the rewritten model computes what the
original did in torch and in Keras (random weights, batch 2 and 3). It stays put where the part is not one
contiguous run of the axis split."""

from __future__ import annotations

import pytest
from rewrite_check import kinds, rewritten, same_outputs

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir import ops as O


def _rewritten(build):
    before, after = rewritten(build)
    same_outputs(before, after)
    return before, after


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
    _, after = _rewritten(build)
    assert "split_select" in after.rewrites
    assert holds(after), after.summary(print_fn=lambda s: None)


def test_the_two_readings_of_qkv_meet():
    """from_torch's and from_keras's letters for the one qkv split give one model once rewritten (the parts'
    reshapes named by the attention's roles)."""
    from twinnet.ir.structure import structural_diff

    def keras_letters():
        x = ir.Input((5, 6), layout="NTC", name="x")
        h = L.Reshape((5, 3, 2, 2), layout="NDHWC")(L.Dense(12)(x))
        q, k, v = (L.Permute("NHDC")(O.View((5, 2, 2), "NDHC")(p)) for p in _parts(h, "H"))
        a = O.ScaledDotProductAttention()([q, k, v])
        return ir.Model(x, L.Dense(3)(L.Reshape((5, 4), layout="NTC")(L.Permute("NDHC")(a))))

    _, torch_side = _rewritten(qkv_unbound)
    _, keras_side = _rewritten(keras_letters)
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
    before, after = _rewritten(build)
    assert "split_select" not in after.rewrites
    assert kinds(after).count("Reduce") == kinds(before).count("Reduce")
