"""Keras 3 -> IR import refusals: what from_keras cannot read (a Lambda, a custom layer, a subclassed model,
layers and options without an IR equivalent) is listed in one ``UnsupportedError``, every problem named by
its layer, never a traceback from inside Keras."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

from twinnet import ir  # noqa: E402
from twinnet.backends import from_keras  # noqa: E402


def problems(km):
    with pytest.raises(ir.UnsupportedError) as info:
        from_keras(km)
    return info.value, {p.where: p.reason for p in info.value.problems}


def test_lambda_and_unsupported_layers_are_all_listed():
    x = keras.Input((6, 4), name="x")
    y = layers.Lambda(lambda t: t * 2, name="double")(x)
    y = layers.Dense(4, name="dense")(y)
    y = layers.Masking(name="unit")(y)
    y = layers.Flatten(name="flat")(y)
    y = layers.CategoryEncoding(8, name="repeat")(y)
    z = keras.ops.cumsum(y, axis=1)
    add = z._keras_history.operation.name  # "cumsum", or "cumsum_<n>" after other ops in this process
    err, found = problems(keras.Model(x, z, name="bad"))
    assert set(found) == {"double", "unit", "repeat", add}
    assert "never runs code from a model" in found["double"]
    assert "Masking" in found["unit"] and "CategoryEncoding" in found["repeat"]
    assert "keras.ops" in found[add]
    for name in found:
        assert repr(name) in str(err)
    assert "keras.layers.Lambda" in str(err)


def test_conv3d_transpose_is_refused():
    x = keras.Input((4, 4, 4, 2))
    _, found = problems(
        keras.Sequential([x, layers.Conv3DTranspose(2, 2, name="c3t"), layers.Flatten(), layers.Dense(2)])
    )
    assert list(found) == ["c3t"]
    assert "Conv3DTranspose" in found["c3t"]


def test_unsupported_options_are_all_listed():
    ids = keras.Input((5,), dtype="int32", name="ids")
    e = layers.Embedding(10, 4, mask_zero=True, name="embed")(ids)
    r = layers.LSTM(3, go_backwards=True, return_sequences=True, name="backwards")(e)
    r = layers.GRU(3, activation="relu", name="relu_gru")(r)
    r = layers.Dense(3, activation="relu6", name="relu6")(r)
    r = layers.Dropout(0.5, name="always_on")(r, training=True)
    img = keras.Input((6, 6, 4), name="img")
    c = layers.Conv2D(2, 3, data_format="channels_first", name="cf")(img)
    c = layers.UpSampling2D(2, interpolation="bicubic", name="bicubic")(layers.Flatten(name="f")(c)[:, None, None, :])
    shared = layers.Dense(2, name="shared")
    out = [shared(r), shared(layers.Dense(3, name="d3")(layers.Flatten(name="f2")(c)))]
    _, found = problems(keras.Model([ids, img], out, name="options"))
    for name in ("embed", "backwards", "relu_gru", "relu6", "always_on", "cf", "bicubic", "shared"):
        assert name in found, f"{name} not reported: {found}"
    assert "mask_zero" in found["embed"] and "go_backwards" in found["backwards"]
    assert "training=True" in found["always_on"] and "shared" in found["shared"]
    assert "bicubic" in found["bicubic"]


def test_custom_layer_and_subclassed_model_are_refused():
    class Scale(layers.Layer):
        def call(self, x):
            return x * 3.0

    x = keras.Input((3,))
    _, found = problems(keras.Model(x, Scale(name="scale")(layers.Dense(3)(x))))
    assert "never runs code from a model" in found["scale"]

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, 3), np.float32))
    with pytest.raises(ir.UnsupportedError, match="subclassed"):
        from_keras(net)
