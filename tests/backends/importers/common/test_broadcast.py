"""``unit_broadcast`` (backends/importers/common/broadcast.py): a tensor widened by a Reshape only for
broadcasting products (a Binary or a merge layer) is read bare; the rewritten model computes what the original
did in torch and in Keras (random weights, batch 2 and 3), and the round trip of a model multiplying a bare weight
in is exact; the rule stays put where the Reshape means more than size-1 axes."""

from __future__ import annotations

import pytest
from rewrite_check import kinds, rewritten, same_outputs

from twinnet import ir
from twinnet.backends import from_keras, to_keras
from twinnet.ir import layers as L
from twinnet.ir import ops as O
from twinnet.ir.structure import structural_diff


def _scaled(widen, reader=None, letters="NC"):
    """Tokens times a learned per-feature scale (Llama's RMSNorm weight), the scale made ``NTC`` by ``widen``."""
    x = ir.Input((5, 6), layout="NTC", name="x")
    w = O.Learned((6,), layout=letters, init="ones")(x)
    wide = widen(w)
    y = O.Binary("mul")([wide, L.Dense(6)(x)])
    if reader is not None:
        y = L.Add()([y, reader(wide)])
    return ir.Model(x, y, name="scaled")


def widened():
    return _scaled(lambda w: L.Reshape((1, 6), layout="NTC")(w))


def widened_by_a_view():
    return _scaled(lambda w: O.View((1, 6), layout="NTC")(w))


def widened_and_read_by_a_layer():
    return _scaled(lambda w: L.Reshape((1, 6), layout="NTC")(w), reader=lambda wide: L.Dense(6)(wide))


def relabelled_and_widened():
    return _scaled(lambda w: L.Reshape((1, 6), layout="NTC")(w), letters="NW")


def layer_scale_as_keras_writes_it():
    """An NHWC tensor times a learned (5,) vector reshaped to (1, 1, 5), multiplied by a Multiply layer."""
    x = ir.Input((6, 4, 5), layout="NHWC", name="x")
    h = L.Dense(5)(x)
    gamma = L.Reshape((1, 1, 5), layout="NHWC")(O.Learned((5,), "NC", init="ones")(h))
    return ir.Model(x, L.Dense(2)(L.Multiply()([h, gamma])))


def vector_reshaped_onto_another_axis():
    """The (5,) vector reshaped to (1, 5, 1) scales W, not C: its letter changes, so the Reshape stays."""
    x = ir.Input((6, 5, 5), layout="NHWC", name="x")
    h = L.Dense(5)(x)
    gamma = L.Reshape((1, 5, 1), layout="NHWC")(O.Learned((5,), "NC", init="ones")(h))
    return ir.Model(x, L.Dense(2)(L.Multiply()([h, gamma])))


@pytest.mark.parametrize(
    "build, order",
    [
        (widened, ["Learned", "Dense", "Binary"]),
        (widened_by_a_view, ["Learned", "Dense", "Binary"]),
        (layer_scale_as_keras_writes_it, ["Dense", "Learned", "Binary", "Dense"]),
    ],
)
def test_fires_and_computes_the_same(build, order):
    before, after = rewritten(build)
    same_outputs(before, after)
    assert "unit_broadcast" in after.rewrites
    assert kinds(after) == order


@pytest.mark.parametrize(
    "build", [widened_and_read_by_a_layer, relabelled_and_widened, vector_reshaped_onto_another_axis]
)
def test_stays_where_the_reshape_means_more(build):
    before, after = rewritten(build)
    same_outputs(before, after)
    assert "unit_broadcast" not in after.rewrites


def test_keras_round_trip_of_a_bare_weight_is_exact():
    """``to_keras`` widens the weight for Keras's positional broadcasting; ``from_keras`` reads it bare again."""
    x = ir.Input((5, 6), layout="NTC", name="x")
    y = O.Binary("mul")([O.Learned((6,), layout="NC")(x), L.Dense(6)(x)])
    m = ir.Model(x, y, name="bare").randomize(seed=1)
    assert structural_diff(m, from_keras(to_keras(m)), weights=True) == []
