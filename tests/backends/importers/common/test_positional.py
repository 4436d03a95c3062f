"""The rules of backends/importers/common/positional.py that one-patch ViTs, Swin's windows of one window and its
crop of padded windows need (``unit_permute``, ``unit_move_reshape``, ``relabelled_crops``; the others are tested
in test_relabel.py): each fires
where it is exact, and the rewritten model computes what the original did in torch and in Keras (random weights,
batch 2 and 3); each stays put where it would not be exact."""

from __future__ import annotations

import pytest
from rewrite_check import fires, kinds, stays

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir import ops as O


def _reshape_layouts(m) -> list[str]:
    return [n.spec.layout for n in m.layers if n.layer.kind == "Reshape"]


def one_patch(patch: int = 8):
    """A ViT's patch tokens as torchvision writes them, the map reshaped to ``(C, tokens)`` and permuted to
    ``(tokens, C)``: at one patch (the whole 8 x 8 image) the Permute moves only the size-1 token axis."""
    x = ir.Input((3, 8, 8), layout="NCHW", name="x")
    h = L.Conv2D(8, patch, strides=patch)(x)
    h = L.Permute("NTC")(L.Reshape((8, h.spec.shape[2] * h.spec.shape[3]), layout="NCT")(h))
    h = L.Concatenate(axis="T")([L.LearnedConstant((1, 8), layout="NTC")(x), h])
    return ir.Model(x, L.Dense(4)(L.Reshape((8,), layout="NC")(L.Cropping1D((0, h.spec.shape[1] - 1))(h))))


def sixteen_patches():
    """The Permute moves the 16 tokens: not only size-1 axes."""
    return one_patch(patch=2)


def _windows(x, side):
    """Tokens as ``side`` windows of one row each (a View), to be merged back (one window when ``side`` is 1)."""
    return O.View((side, 1, 2, 3), layout="NHWCD")(L.Dense(3)(x))


def reshaped_after_a_unit_move():
    """A View, a Permute that moves only a size-1 axis, then a Reshape (one window's merge back into the map)."""
    x = ir.Input((2, 4), layout="NTC", name="x")
    return ir.Model(x, L.Dense(4)(L.Reshape((6,), layout="NC")(L.Permute("NWHCD")(_windows(x, 1)))))


def reshaped_after_a_move():
    x = ir.Input((4, 4), layout="NTC", name="x")
    return ir.Model(x, L.Dense(4)(L.Reshape((12,), layout="NC")(L.Permute("NCWHD")(_windows(x, 2)))))


def reshaped_after_a_norm():
    """A Permute back after a LayerNorm (a LayerNorm2d's) that moves only size-1 axes: not between reshapes."""
    x = ir.Input((1, 1, 3), layout="NHWC", name="x")
    return ir.Model(x, L.Dense(4)(L.Reshape((3,), layout="NC")(L.Permute("NCHW")(L.LayerNorm()(x)))))


def _map_by_position(x):
    """Tokens reshaped to a map lettered by position (``NCHW`` for what is ``(H, W, C)``), rolled, cropped and
    normalised over the last axis (``W`` by position)."""
    r = L.Reshape((4, 4, 3), layout="NCHW")(x)
    return L.LayerNorm(axis="W")(L.Cropping2D(((0, 1), (0, 0)))(L.Slice("C", 0, 3)(O.Roll("C", 1)(r))))


def cropped_then_relabelled():
    """``norm(x.view(n, 4, 4, c).roll(1, 1)[:, :3, :3])`` as from_torch letters it, then a relabel to ``NHWC``."""
    x = ir.Input((16, 3), layout="NTC", name="x")
    return ir.Model(x, L.LayerNorm()(L.Reshape((3, 3, 3), layout="NHWC")(_map_by_position(x))))


def cropped_read_twice():
    x = ir.Input((16, 3), layout="NTC", name="x")
    crop = _map_by_position(x)
    relabel = L.Reshape((3, 3, 3), layout="NHWC")(crop)
    return ir.Model(x, [L.LayerNorm()(relabel), L.Flatten()(crop)])


FIRES = [
    ("unit_permute", one_patch, lambda m: "Permute" not in kinds(m) and _reshape_layouts(m)[0] == "NTC"),
    ("unit_move_reshape", reshaped_after_a_unit_move, lambda m: kinds(m) == ["Dense", "View", "Reshape", "Dense"]),
    (
        "relabelled_crops",
        cropped_then_relabelled,
        lambda m: kinds(m) == ["Reshape", "Roll", "Cropping2D", "LayerNorm", "LayerNorm"],
    ),
]


@pytest.mark.parametrize("rule, build, holds", FIRES, ids=[f"{r}-{b.__name__}" for r, b, _ in FIRES])
def test_rule_fires_and_computes_the_same(rule, build, holds):
    fires(build, rule, holds)


STAYS = [
    (sixteen_patches, "unit_permute"),
    (reshaped_after_a_move, "unit_move_reshape"),
    (reshaped_after_a_norm, "unit_move_reshape"),
    (cropped_read_twice, "relabelled_crops"),
]


@pytest.mark.parametrize("build, rule", STAYS, ids=[b.__name__ for b, _ in STAYS])
def test_rule_stays_where_it_would_not_be_exact(build, rule):
    stays(build, rule)
