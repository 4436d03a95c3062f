"""Importing Keras MultiHeadAttention calls: tensors passed by position or keyword, and what is refused.

The full transformer model (masks, cross and causal attention) is ``transformer`` in test_import_keras.py.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402
from siblings import sibling  # noqa: E402

from twinnet import ir  # noqa: E402
from twinnet.backends import from_keras  # noqa: E402

_keras_import = sibling("backends/importers/keras/test_import.py")
check_import, randomize = _keras_import.check_import, _keras_import.randomize


def refused(km) -> dict[str, str]:
    with pytest.raises(ir.UnsupportedError) as info:
        from_keras(km)
    return {p.where: p.reason for p in info.value.problems}


def test_tensors_by_position_and_by_keyword():
    q, v, k = keras.Input((4, 6), name="q"), keras.Input((5, 3), name="v"), keras.Input((5, 2), name="k")
    by_position = layers.MultiHeadAttention(2, 3, name="pos")(q, v, k)
    by_keyword = layers.MultiHeadAttention(3, 2, name="kw")(query=by_position, value=v, key=k)
    same_key = layers.MultiHeadAttention(2, 3, name="same")(by_keyword, v, key=v)  # key is value: two IR inputs
    model = check_import(randomize(keras.Model([q, v, k], same_key, name="calls"), seed=4))
    assert [t.name for t in model.node("pos").inputs] == ["q", "v", "k"]
    assert [t.name for t in model.node("kw").inputs] == ["pos", "v", "k"]
    assert [t.name for t in model.node("same").inputs] == ["kw", "v"]


def test_causal_flag_becomes_a_field():
    x = keras.Input((None, 4), name="x")
    km = keras.Model(x, layers.MultiHeadAttention(2, 2, name="att")(x, x, use_causal_mask=True))
    model = check_import(randomize(km, seed=1))
    assert model.node("att").layer.use_causal_mask


def test_what_the_ir_cannot_take_is_refused():
    q, v = keras.Input((4, 6), name="q"), keras.Input((5, 6), name="v")
    full = keras.Input((4, 5), name="full_mask")  # a per-query (B, T, S) mask
    pad = keras.Input((5,), name="pad")
    computed = layers.Dense(5, name="computed")(layers.Flatten(name="flat")(v))  # a mask that is no model input
    bcast = layers.Reshape((1, 5), name="bcast")(pad)
    outs = [
        layers.MultiHeadAttention(2, 3, name="per_query")(q, v, attention_mask=full),
        layers.MultiHeadAttention(2, 3, name="scores")(q, v, return_attention_scores=True)[0],
        layers.MultiHeadAttention(2, 3, use_gate=True, name="gated")(q, v),
        layers.MultiHeadAttention(2, 3, name="both")(q, v, attention_mask=bcast, value_mask=pad),
        layers.MultiHeadAttention(2, 3, name="not_input")(q, v, value_mask=computed),
        layers.MultiHeadAttention(2, 3, attention_axes=(1, 2), name="axes")(q, v),
    ]
    found = refused(keras.Model([q, v, full, pad], outs, name="bad"))
    assert "attention_mask of shape (None, 4, 5)" in found["per_query"]
    assert "return_attention_scores" in found["scores"]
    assert "use_gate" in found["gated"]
    assert "both value_mask and attention_mask" in found["both"]
    assert "model input" in found["not_input"]
    assert "attention_axes" in found["axes"]
