"""Declared layouts (``common/declared.py``): ``from_keras(km, layouts=...)`` reads a batch-first Keras
tensor as the axis order it stands for, and ``to_keras`` records the orders Keras cannot hold."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from gaps import known_gap

from twinnet import ir
from twinnet.backends import from_keras, to_keras, to_torch
from twinnet.exporters.randomize import randomize_keras
from twinnet.ir.errors import LayoutError
from twinnet.ir.structure import structural_diff

ATOL, RTOL = 1e-5, 1e-4


def _keras_tagger(tail: str = "dense"):
    """Token ids (N, T) -> Embedding -> LSTM over the sequence -> a per-step Dense (``tail="dense"``), a
    Flatten then a Dense (``"flatten"``) or a Flatten as the output (``"flat"``): Flatten reads positions."""
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(20, 8, name="embedding")(tokens)
    h = keras.layers.LSTM(5, return_sequences=True, name="lstm")(h)
    if tail != "dense":
        h = keras.layers.Flatten(name="flatten" if tail == "flatten" else "head")(h)
    out = h if tail == "flat" else keras.layers.Dense(3, name="head")(h)
    return randomize_keras(keras.Model(tokens, out, name="tagger"), seed=4)


def _same(km, model, layouts) -> None:
    """The torch module of ``model`` on the declared (transposed) tensors computes what ``km`` does."""
    net = to_torch(model)
    for batch in (2, 3):
        ids = np.random.default_rng(batch).integers(0, 20, (batch, 6)).astype("int32")
        want = np.asarray(km(ids))
        given = torch.from_numpy(ids.T.copy() if layouts.get("tokens") == "TN" else ids).long()
        with torch.no_grad():
            got = net(given).numpy()
        if layouts.get("head", "NTC") == "TNC":
            got = got.transpose(1, 0, 2)
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)


def test_declared_layouts_reach_the_layers_that_act_on_letters():
    km = _keras_tagger()
    layouts = {"tokens": "TN", "head": "TNC"}
    model = from_keras(km, layouts=layouts)
    assert [(n.name, n.spec.layout) for n in model.nodes] == [
        ("tokens", "TN"),
        ("embedding", "TNC"),
        ("lstm", "TNC"),
        ("head", "TNC"),
    ]
    _same(km, model, layouts)


def test_a_flatten_feeding_a_dense_flattens_in_the_declared_order():
    km = _keras_tagger("flatten")
    model = from_keras(km, layouts={"tokens": "TN"})
    assert [n.spec.layout for n in model.nodes] == ["TN", "TNC", "TNC", "NC", "NC"]
    kernel = km.get_layer("head").get_weights()[0]
    # flattened TNC and NTC both hold (T, C) per sample: the Dense's rows need no reordering
    assert np.array_equal(model.weights["head/kernel"], kernel)
    _same(km, model, {"tokens": "TN"})


def test_a_flatten_output_gets_the_order_it_read():
    km = _keras_tagger("flat")
    model = from_keras(km, layouts={"tokens": "TN"})
    assert [type(n.layer).__name__ for n in model.nodes][-2:] == ["Permute", "Flatten"]
    assert model.node("lstm").spec.layout == "TNC"
    _same(km, model, {"tokens": "TN"})


@pytest.mark.parametrize(
    "layouts, words",
    [
        ({"words": "TN"}, ["'words'", "not an input or output", "tokens", "head"]),
        ({"tokens": "TC"}, ["'tokens'", "'TC'", "'NT'"]),
        ({"tokens": 3}, ["'tokens'", "3"]),
        ("TN", ["layouts must map"]),
    ],
)
def test_bad_layouts_are_named(layouts, words):
    with pytest.raises(LayoutError) as e:
        from_keras(_keras_tagger(), layouts=layouts)
    for word in words:
        assert word in str(e.value)


def _sequence_first():
    x = ir.Input((6,), layout="TN", dtype="int32", name="tokens")
    h = ir.layers.LSTM(5, return_sequences=True, name="lstm")(ir.layers.Embedding(20, 8, name="embedding")(x))
    return ir.Model(x, ir.layers.Dense(3, name="head")(h), name="tagger").randomize(seed=5)


def test_to_keras_records_what_keras_cannot_hold_and_from_keras_reads_it():
    m = _sequence_first()
    km = to_keras(m)
    assert dict(km.twinnet_layouts) == {"tokens": "TN", "head": "TNC"}
    assert structural_diff(m, from_keras(km), weights=True) == []


def test_a_saved_model_is_read_back_with_layouts_given(tmp_path):
    m = _sequence_first()
    path = tmp_path / "tagger.keras"
    to_keras(m).save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert structural_diff(m, from_keras(loaded, layouts={"tokens": "TN", "head": "TNC"}), weights=True) == []


@known_gap("keras-saved-batch-not-first-io")
def test_a_saved_model_keeps_its_declared_layouts(tmp_path):
    m = _sequence_first()
    path = tmp_path / "tagger.keras"
    to_keras(m).save(path)
    assert structural_diff(m, from_keras(keras.saving.load_model(path, safe_mode=True)), weights=True) == []


def test_native_io_records_the_declared_channels_first_layouts():
    """``to_keras(native_io=True)`` takes and returns NHWC for an NCHW model: the round trip still gives m."""
    x = ir.Input((3, 8, 8), layout="NCHW", name="img")
    m = ir.Model(x, ir.layers.Conv2D(4, 3, name="conv")(x), name="conv_net").randomize(seed=2)
    km = to_keras(m, native_io=True)
    assert dict(km.twinnet_layouts) == {"img": "NCHW", "conv": "NCHW"}
    assert structural_diff(m, from_keras(km), weights=True) == []
