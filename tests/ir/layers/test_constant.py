"""LearnedConstant: a trained value repeated over the batch of any reference tensor, checked completely
(both frameworks, both ONNX files), and its Keras chain of standard layers (saved and reloaded with safe_mode)."""

import numpy as np
import pytest
from layer_check import check_layer, image, sequence, tokens

from twinnet import ir
from twinnet.backends import emit, from_keras, to_keras
from twinnet.ir import layers as L

CASES = {
    # (layer, reference input, expected shape)
    "token-nchw-ref": (L.LearnedConstant((1, 16)), image("NCHW"), (None, 1, 16)),
    "positions-ntc-ref": (L.LearnedConstant((6, 4)), sequence("NTC"), (None, 6, 4)),
    "vector": (L.LearnedConstant(5, layout="NC"), {"shape": (7,)}, (None, 5)),
    "image-nhwc": (L.LearnedConstant((4, 5, 3), layout="NHWC"), image("NCHW"), (None, 4, 5, 3)),
    "image-nchw": (L.LearnedConstant((3, 4, 5), layout="NCHW"), image("NHWC"), (None, 3, 4, 5)),
    "symbolic-ref": (L.LearnedConstant((2, 3)), sequence("TNC", steps=None), (None, 2, 3)),
    "int-ref": (L.LearnedConstant((3, 2)), tokens(), (None, 3, 2)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_learned_constant(name, tmp_path):
    layer, inputs, shape = CASES[name]
    check_layer(layer, inputs, expect_shape=shape, tmp_path=tmp_path)


def _model():
    x = ir.Input(**image("NCHW"))
    return ir.Model([x], L.LearnedConstant((4, 5, 3), layout="NHWC", name="pos")(x), name="case").randomize(0)


def test_keras_chain_is_standard_layers_that_reload_safely(tmp_path):
    import keras

    model = _model()
    source = emit(model, "keras")
    assert "Lambda" not in source and "keras.ops" not in source
    for part in ("pos_flat", "pos_column", "pos_max", "pos_index", "pos_table", 'name="pos"'):
        assert part in source
    km = to_keras(model)
    assert [w.path for w in km.trainable_weights] == ["pos_table/embeddings"]
    km.save(tmp_path / "case.keras")
    again = keras.models.load_model(tmp_path / "case.keras", safe_mode=True)
    x = np.random.default_rng(0).standard_normal((3, 3, 9, 10)).astype("float32")
    want = np.broadcast_to(model.weights["pos/value"], (3, 4, 5, 3))
    np.testing.assert_array_equal(np.asarray(again(x)), want)


def test_keras_index_never_leaves_the_table():
    """NaN and inf in the reference still look up row 0 (a ReLU(max_value=0) would index out of range on NaN)."""
    model = _model()
    km = to_keras(model)
    want = np.broadcast_to(model.weights["pos/value"], (2, 4, 5, 3))
    for fill in (np.nan, np.inf, -np.inf, 3e38):
        x = np.full((2, 3, 9, 10), fill, "float32")
        np.testing.assert_array_equal(np.asarray(km(x)), want)
        np.testing.assert_array_equal(km.predict(x, verbose=0), want)


def test_torch_holds_a_parameter_expanded_over_the_batch():
    source = emit(_model(), "torch")
    assert "self.pos = nn.Parameter(torch.zeros(1, 3, 4, 5))" in source  # channels first, as torch holds it
    assert "x = self.pos.expand(input_.shape[0], -1, -1, -1)" in source


def test_from_keras_reads_the_chain_back_exactly():
    x = ir.Input(**image("NCHW"))
    outs = [
        L.LearnedConstant((4, 5, 3), layout="NHWC", name="pos")(x),
        L.LearnedConstant(6, layout="NC", name="tok")(x),
    ]
    model = ir.Model([x], outs, name="case").randomize(0)
    km = to_keras(model)
    back = from_keras(km)
    assert [(n.name, n.layer.config()) for n in back.layers] == [(n.name, n.layer.config()) for n in model.layers]
    assert back.weights.keys() == model.weights.keys()
    assert all(np.array_equal(back.weights[k], v) for k, v in model.weights.items())
    again = to_keras(back)  # Keras -> IR -> Keras: the same layers, the same weights
    assert [layer.name for layer in again.layers[1:]] == [layer.name for layer in km.layers[1:]]
    assert all(np.array_equal(a, b) for a, b in zip(again.get_weights(), km.get_weights()))


def test_from_keras_refuses_the_links_outside_the_chain():
    import keras
    from keras import layers

    x = keras.Input((3,))
    index = layers.Discretization(bin_boundaries=[0.0], name="bins")(x)  # two buckets: not the one-row lookup
    out = layers.Reshape((6,), name="out")(layers.Embedding(2, 2, name="table")(index))
    with pytest.raises(ir.UnsupportedError) as info:
        from_keras(keras.Model(x, out))
    assert [p.where for p in info.value.problems] == ["bins"]
    assert "no equivalent of Keras's Discretization" in info.value.problems[0].reason


def test_value_trains_the_same_in_both_frameworks():
    """The value is a trainable weight in both: its gradient (summed over the batch) is the same."""
    import tensorflow as tf
    import torch

    from twinnet.backends import to_torch

    x = ir.Input((4,))
    y = L.Add()([L.Dense(3, name="d")(x), L.LearnedConstant(3, layout="NC", name="c")(x)])
    model = ir.Model([x], y).randomize(0)
    xs = np.random.default_rng(1).standard_normal((5, 4)).astype("float32")
    km = to_keras(model)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(km(xs) ** 2)
    grad = tape.gradient(loss, km.get_layer("c_table").embeddings)  # IndexedSlices: one row per sample
    keras_grad = tf.convert_to_tensor(grad).numpy().reshape(3)
    tm = to_torch(model).train()
    (tm(torch.from_numpy(xs)) ** 2).sum().backward()
    np.testing.assert_allclose(keras_grad, tm.c.grad.numpy().reshape(3), atol=1e-5, rtol=1e-4)


ERRORS = [
    (lambda: L.LearnedConstant(()), "ConfigError", "shape must be a non-empty tuple"),
    (lambda: L.LearnedConstant((0, 3)), "ConfigError", "shape must be >= 1"),
    (lambda: L.LearnedConstant((2, 3), layout="TNC"), "ConfigError", "batch axis N first"),
    (lambda: L.LearnedConstant((2, 3), layout="NC"), "LayoutError", "has 2 axes but the tensor has rank 3"),
    (lambda: L.LearnedConstant((2,))([ir.Input((3,)), ir.Input((3,))]), "ShapeError", "expects 1 input(s), got 2"),
]


@pytest.mark.parametrize("make, kind, text", ERRORS, ids=[e[2] for e in ERRORS])
def test_learned_constant_errors(make, kind, text):
    with pytest.raises(ir.IRError) as info:
        make()
    assert type(info.value).__name__ == kind and text in str(info.value)
