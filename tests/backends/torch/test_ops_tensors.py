"""A Learned tensor multiplied in is written as torch code reads a weight (``self.weight * x``, no batch axis),
and from_torch reads that back as the same Learned op and Binary; where torch's broadcasting from the right
is not the IR's by letter, or another kind of layer reads it, it is expanded over the batch as before. A
Permute that moves only size-1 axes is written as the ``permute`` it is (a view), so it reads back too; what
positions alone give stays without the batch axis through element-wise ops, a where and a clamp included.
Each model computes the same in torch and Keras, at two batch sizes."""

import numpy as np
import pytest
import torch

from twinnet import ir
from twinnet.backends import emit, from_torch, to_keras, to_torch
from twinnet.backends.importers.common.rewrites import apply_rewrites
from twinnet.ir import layers as L
from twinnet.ir import ops as O
from twinnet.ir.structure import structural_diff


def rms_scale() -> ir.Model:
    """An RMSNorm's weight (letters C) against tokens NTC, as Llama's."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    h = L.Dense(8)(x)
    return ir.Model(x, O.Binary("mul")([O.Learned((8,), "NC")(x), h]), name="rms_scale").randomize(0)


def layer_scale() -> ir.Model:
    """A ConvNeXt layer scale (C, 1, 1) against an image NCHW."""
    x = ir.Input((3, 6, 6), layout="NCHW", name="x")
    h = L.Conv2D(4, 3, padding="same")(x)
    scaled = O.Binary("mul")([h, O.Learned((4, 1, 1), "NCHW")(x)])
    return ir.Model(x, L.Add()([scaled, h]), name="layer_scale").randomize(0)


def channels_last_scale() -> ir.Model:
    """A layer scale declared (1, 1, C) against an NHWC image (a Keras source), which torch holds NCHW: the
    parameter is stored (C, 1, 1)."""
    x = ir.Input((6, 6, 3), name="x")
    h = L.Conv2D(4, 3, padding="same")(x)
    return ir.Model(x, O.Binary("mul")([h, O.Learned((1, 1, 4), "NHWC")(x)]), name="channels_last").randomize(0)


def keras_layer_scale() -> ir.Model:
    """Keras's ConvNeXt layer scale, a (C,) weight of letters C against an NHWC image, which torch holds NCHW:
    the parameter is stored (C,) and viewed to (C, 1, 1)."""
    x = ir.Input((6, 6, 3), name="x")
    h = L.Conv2D(4, 3, padding="same")(x)
    return ir.Model(x, L.Add()([O.Binary("mul")([h, O.Learned((4,), "NC")(x)]), h]), name="keras_scale").randomize(0)


def tokens_scale() -> ir.Model:
    """A Learned tensor of letters T against NTC: torch would align it with C, so it is viewed to (T, 1)."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    h = L.Dense(8)(x)
    return ir.Model(x, O.Binary("add")([h, O.Learned((5,), "NT")(x)]), name="tokens_scale").randomize(0)


def unfit() -> ir.Model:
    """A Learned tensor of letters CT against NTC: no view of it broadcasts by position as by letter, so it is
    expanded."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    return ir.Model(x, O.Binary("add")([x, O.Learned((8, 5), "NCT")(x)]), name="unfit").randomize(0)


def concatenated() -> ir.Model:
    """A Learned token read by a Concat (not a Binary): a LearnedConstant-style expand."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    token = O.Learned((1, 8), "NTC")(x)
    return ir.Model(x, O.Binary("mul", scalar=2.0)(O.Concat("T")([token, x])), name="concatenated").randomize(0)


def rotary() -> ir.Model:
    """Llama's rotary tables: position ids times a Learned inv_freq, cos, unsqueezed, times the heads."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    ids = O.View((1, 5, 1), "NCHW")(O.Cast("float32")(O.Positions("T", "A")(x)))
    freqs = O.Binary("mul")([ids, O.Learned((4,), "NW")(x)])
    cos = O.Binary("mul", scalar=1.0)(O.Unary("cos")(O.Concat("W")([freqs, freqs])))
    cos = O.View((1, 5, 8), "NHCW")(O.View((1, 1, 5, 8), "NCDHW")(cos))
    heads = L.Permute("NHCW")(L.Reshape((5, 2, 8), layout="NCHW")(L.Dense(16)(x)))
    return ir.Model(x, O.Binary("mul")([heads, cos]), name="rotary").randomize(0)


def position_buckets() -> ir.Model:
    """T5's relative position buckets, small: key minus query positions, their size, a where between it and a
    clamp of it, added to data (the scores)."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    query = O.View((5, 1), "NHW")(O.Positions("T", "A")(x))
    key = O.View((1, 5), "NHW")(O.Positions("T", "A")(x))
    far = O.Unary("abs")(O.Binary("sub")([key, query]))
    bucket = O.Where()([O.Binary("lt", scalar=2.0)(far), far, O.Clip(high=3.0)(O.Binary("add", scalar=1.0)(far))])
    scores = L.Reshape((5, 5), layout="NHW")(L.Dense(5)(x))
    return ir.Model(x, O.Binary("add")([scores, O.Cast("float32")(bucket)]), name="position_buckets").randomize(0)


def positions_reduced() -> ir.Model:
    """Position ids read by a Reduce (not an op of the batchless region): expanded over the batch."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    ids = O.Unary("sin")(O.Cast("float32")(O.Positions("T")(x)))
    return ir.Model(
        x,
        O.Binary("add")([O.Reduce("sum", "C")(x), O.Reduce("max", "T", keepdims=True)(ids)]),
        name="positions_reduced",
    ).randomize(0)


def unit_permutes() -> ir.Model:
    """ConvNeXt's head: pooled (C, 1, 1), a LayerNorm over C between two Permutes, then Flatten and Dense."""
    x = ir.Input((4, 6, 6), layout="NCHW", name="x")
    h = L.GlobalAvgPool2D(keepdims=True)(L.Conv2D(8, 3)(x))
    h = L.Permute("NCHW")(L.LayerNorm("C")(L.Permute("NHWC")(h)))
    return ir.Model(x, L.Dense(3)(L.Flatten()(h)), name="unit_permutes").randomize(0)


def _same_in_keras(model):
    tm, km = to_torch(model), to_keras(model)
    for batch in (2, 3):
        shape = (batch, *model.inputs[0].shape[1:])
        x = np.random.default_rng(batch).standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            ours = tm(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(ours, np.asarray(km(x, training=False)), atol=1e-5, rtol=1e-4)


def _round_trip(model):
    """The differences between ``from_torch(to_torch(model))`` and ``model`` in the form every importer gives
    back (its rewrites applied: a View of a View is one View, a Flatten dropping unit axes the Reshape that
    ``x[:, 0]`` reads as), as a model that came from an importer has it."""
    back = from_torch(to_torch(model), (torch.zeros(2, *model.inputs[0].shape[1:]),), fixed_lengths=True)
    return structural_diff(apply_rewrites(model), back)


def test_channels_last_scale_is_stored_as_torch_holds_it():
    model = channels_last_scale()
    source = emit(model, "torch")
    assert "nn.Parameter(torch.zeros(4, 1, 1))" in source and ".expand(" not in source
    assert source.count(".permute(") == 2  # the model's input and output only
    _same_in_keras(model)


@pytest.mark.parametrize("build", [rms_scale, layer_scale])
def test_learned_multiplied_in_is_a_bare_parameter(build):
    model = build()
    source = emit(model, "torch")
    assert ".expand(" not in source and "* self.learned" in source.replace("self.learned *", "* self.learned")
    _same_in_keras(model)
    assert _round_trip(model) == []


@pytest.mark.parametrize(
    "build, size, view", [(keras_layer_scale, 4, ".view(4, 1, 1)"), (tokens_scale, 5, ".view(5, 1)")]
)
def test_learned_viewed_with_unit_axes_where_torch_aligns_it_elsewhere(build, size, view):
    """Its letters stand in the held order but do not end it: the parameter as the IR stores it, viewed with a
    size-1 axis for each letter after its own (a view), read back as the same Learned op and Binary."""
    model = build()
    source = emit(model, "torch")
    assert ".expand(" not in source and f"self.learned{view}" in source
    assert f"nn.Parameter(torch.zeros({size}))" in source
    _same_in_keras(model)
    assert _round_trip(model) == []


@pytest.mark.parametrize("build", [unfit, concatenated])
def test_learned_expanded_where_broadcasting_differs(build):
    model = build()
    assert ".expand(" in emit(model, "torch")
    _same_in_keras(model)


def test_batchless_tables_are_computed_once():
    model = rotary()
    source = emit(model, "torch")
    assert ".expand(" not in source and "torch.arange(x.shape[1], dtype=torch.int64, device=x.device)\n" in source
    _same_in_keras(model)
    assert _round_trip(model) == []


def test_where_and_clip_keep_positions_batchless():
    """A where and a clamp of what positions alone give stay without the batch axis, as T5's buckets are computed
    (their round trip: tests/backends/importers/test_roundtrip.py)."""
    model = position_buckets()
    source = emit(model, "torch")
    assert ".expand(" not in source and "torch.where(" in source and "torch.clamp(" in source
    _same_in_keras(model)


def test_batchless_expanded_for_other_readers():
    model = positions_reduced()
    assert ".expand(x.shape[0]" in emit(model, "torch")
    _same_in_keras(model)


def test_permute_of_unit_axes_is_written_and_read_back():
    model = unit_permutes()
    source = emit(model, "torch")
    assert source.count(".permute(") == 2 and "h.reshape(" not in source
    _same_in_keras(model)
    assert _round_trip(model) == []


def test_bare_parameter_weights_come_back():
    """load_weights_from reads a trained bare parameter back into the Learned op's weight."""
    from twinnet.backends import load_weights_from

    model = layer_scale()
    tm = to_torch(model)
    with torch.no_grad():
        for p in tm.parameters():
            p.add_(0.5)
    back = load_weights_from(model, tm)
    key = next(k for k in model.weights if k.endswith("/value"))
    np.testing.assert_allclose(back.weights[key], model.weights[key] + 0.5, rtol=1e-6)


def test_bare_values_are_batched_where_exposed():
    """Every layer's output exposed (verify's localising): a bare value leaves the module batched, as Keras's."""
    model = rotary()
    tm, km = to_torch(model, expose=True), to_keras(model, expose=True)
    x = np.random.default_rng(3).standard_normal((3, 5, 8)).astype(np.float32)
    with torch.no_grad():
        ours = [t.numpy() for t in tm(torch.from_numpy(x))]
    theirs = [np.asarray(t) for t in km(x)]
    assert len(ours) == len(theirs) == len(model.layers)
    for a, b in zip(ours, theirs):
        assert a.shape[0] == 3
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)
