"""``unit_broadcast`` (backends/importers/common/broadcast.py): a tensor widened by a Reshape only for
broadcasting products (a Binary or a merge layer) is read bare; the rewritten model computes what the original
did in torch and in Keras (random weights, batch 2 and 3), and the round trip of a model multiplying a bare weight
in is exact; the rule stays put where the Reshape means more than size-1 axes. ``unit_learned`` does the same for
a weight stored with size-1 axes, and ``input_reference`` repeats a weight over the model input's batch."""

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


def _image_scaled(gamma, *, second_reader=False):
    """An NHWC image times a learned per-channel scale ``gamma(h)`` (made beside the data ``h``)."""
    x = ir.Input((6, 4, 5), layout="NHWC", name="x")
    h = L.Dense(5)(x)
    g = gamma(h)
    y = L.Multiply()([h, g])
    if second_reader:
        y = L.Add()([y, O.Binary("add")([h, g])])
    return ir.Model(x, L.Dense(2)(y))


def scale_stored_with_unit_axes():
    """The scale as from_torch reads ``gamma.view(C, 1, 1)`` against NCHW, in the image's letters: (1, 1, 5)."""
    return _image_scaled(lambda h: O.Learned((1, 1, 5), "NHWC", init="ones")(h))


def scale_read_twice():
    return _image_scaled(lambda h: O.Learned((1, 1, 5), "NHWC", init="ones")(h), second_reader=True)


def scale_adding_an_axis():
    """Features NC times a (1, 5) NTC weight: the result has the weight's T, so its size-1 axis stays."""
    x = ir.Input((5,), layout="NC", name="x")
    return ir.Model(x, O.Binary("mul")([L.Dense(5)(x), O.Learned((1, 5), "NTC", init="ones")(x)]))


def test_unit_learned_drops_the_size_1_axes_the_data_holds():
    before, after = rewritten(scale_stored_with_unit_axes)
    same_outputs(before, after)
    assert "unit_learned" in after.rewrites
    learned = next(n.layer for n in after.layers if isinstance(n.layer, O.Learned))
    assert (learned.layout, learned.shape) == ("NC", (5,))
    assert kinds(after) == ["Dense", "Learned", "Binary", "Dense"]


@pytest.mark.parametrize("build", [scale_read_twice, scale_adding_an_axis])
def test_unit_learned_stays_where_the_axes_matter(build):
    before, after = rewritten(build)
    same_outputs(before, after)
    assert "unit_learned" not in after.rewrites


def test_input_reference_repeats_a_weight_over_the_input_batch():
    """Keras's LayerScale reads its gamma beside the data; from_torch over the model's input: one form."""
    before, after = rewritten(scale_stored_with_unit_axes)
    assert "input_reference" in after.rewrites
    learned = next(n for n in after.layers if isinstance(n.layer, O.Learned))
    assert learned.inputs[0].node is after.inputs[0].node


def test_input_reference_stays_where_the_batch_is_regrouped():
    """A weight repeated over the rows of a View merging the batch with another axis keeps that reference."""
    x = ir.Input((4, 5), layout="NTC", name="x")
    rows = O.View((5,), "NC", merge=4)(x)
    m = ir.Model(x, O.Binary("mul")([rows, O.Learned((5,), "NC", init="ones")(rows)]))
    before, after = rewritten(lambda: m)
    assert "input_reference" not in after.rewrites


def test_torch_round_trip_of_a_keras_layer_scale_is_exact():
    """A (C,) weight against an NHWC image, read as Keras's ConvNeXt reads it (beside the data): to_torch views
    it to (C, 1, 1) for the NCHW data; from_torch reads that back as the same weight and product."""
    import torch

    from twinnet.backends import from_torch, to_torch
    from twinnet.backends.importers.common.rewrites import apply_rewrites

    x = ir.Input((6, 6, 3), name="x")
    h = L.Conv2D(4, 3, padding="same")(x)
    m = ir.Model(x, L.Add()([O.Binary("mul")([h, O.Learned((4,), "NC")(h)]), h]), name="scale").randomize(seed=1)
    back = from_torch(to_torch(m), (torch.zeros(2, 6, 6, 3),), fixed_lengths=True)
    assert structural_diff(apply_rewrites(m), back, weights=True) == []


def _learned(after):
    return next(n for n in after.layers if isinstance(n.layer, O.Learned))


def bias_over_windows():
    """A weight repeated over windows' rows, referring to a tensor after the View that made them."""
    x = ir.Input((4, 5), layout="NTC", name="x")
    rows = L.Dense(5)(O.View((5,), "NC", merge=4)(x))
    return ir.Model(x, O.Binary("add")([rows, O.Learned((5,), "NC")(rows)]))


def test_windows_reference_repeats_a_weight_over_the_view_that_made_the_windows():
    before, after = rewritten(bias_over_windows)
    same_outputs(before, after)
    assert "windows_reference" in after.rewrites
    assert _learned(after).inputs[0].node.layer.kind == "View"


def mask_permuted():
    """A weight stored in another order, permuted before it is added (a shifted-window mask as to_torch holds
    it), then widened by a size-1 axis for the data's heads."""
    x = ir.Input((4, 2, 3), layout="NTHC", name="x")
    mask = L.Permute("NAB")(O.Learned((3, 4), "NBA")(x))
    return ir.Model(x, L.Add()([L.Dense(3)(x), L.Reshape((4, 1, 3), layout="NTHC")(mask)]))


def test_a_permuted_and_widened_weight_is_read_bare_in_the_data_letters():
    before, after = rewritten(mask_permuted)
    same_outputs(before, after)
    assert {"permuted_learned", "widened_learned"} <= set(after.rewrites)
    assert kinds(after) == ["Dense", "Learned", "Binary"] and _learned(after).spec.layout == "NTC"


def table_reshaped_by_a_layer():
    """A position table gathered and reshaped by layers (how from_torch reads to_torch's module), then added."""
    x = ir.Input((4, 2, 3), layout="NTHC", name="x")
    table = O.Take("A", (0, 1, 2, 1, 0, 2, 1, 0))(O.Learned((3, 3), "NAB")(x))
    bias = L.Permute("NHTC")(L.Reshape((4, 2, 3), layout="NTHC")(table))
    return ir.Model(x, O.Binary("add")([L.Permute("NHTC")(L.Dense(3)(x)), bias]))


def test_weight_ops_reads_what_a_weight_alone_gives_with_ops():
    before, after = rewritten(table_reshaped_by_a_layer)
    same_outputs(before, after)
    assert "weight_ops" in after.rewrites
    assert kinds(after)[:4] == ["Learned", "Take", "View", "Transpose"]


def bias_added_by_a_layer():
    """A weight added to the data by an Add layer (how from_torch reads to_torch's ``x + bias``)."""
    x = ir.Input((4, 3), layout="NTC", name="x")
    return ir.Model(x, L.Add()([L.Dense(3)(x), O.Learned((4, 3), "NTC")(x)]))


def test_learned_merge_reads_a_sum_with_a_weight_as_the_binary():
    before, after = rewritten(bias_added_by_a_layer)
    same_outputs(before, after)
    assert "learned_merge" in after.rewrites and kinds(after) == ["Dense", "Learned", "Binary"]
