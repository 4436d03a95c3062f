"""``bare_weight`` (backends/importers/common/broadcast.py): a Learned weight widened by a Reshape only for
Binary ops is read bare; the rewritten model computes what the original did in torch and in Keras (random
weights, batch 2 and 3), and the round trip of a model multiplying a bare weight in is exact; the rule stays put
where the Reshape means more than size-1 axes."""

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


@pytest.mark.parametrize("build", [widened, widened_by_a_view])
def test_fires_and_computes_the_same(build):
    before, after = rewritten(build)
    same_outputs(before, after)
    assert "bare_weight" in after.rewrites
    assert kinds(after) == ["Learned", "Dense", "Binary"]


@pytest.mark.parametrize("build", [widened_and_read_by_a_layer, relabelled_and_widened])
def test_stays_where_the_reshape_means_more(build):
    before, after = rewritten(build)
    same_outputs(before, after)
    assert "bare_weight" not in after.rewrites


def test_keras_round_trip_of_a_bare_weight_is_exact():
    """``to_keras`` widens the weight for Keras's positional broadcasting; ``from_keras`` reads it bare again."""
    x = ir.Input((5, 6), layout="NTC", name="x")
    y = O.Binary("mul")([O.Learned((6,), layout="NC")(x), L.Dense(6)(x)])
    m = ir.Model(x, y, name="bare").randomize(seed=1)
    assert structural_diff(m, from_keras(to_keras(m)), weights=True) == []
