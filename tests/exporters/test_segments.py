"""A large Keras source runs a segment at a time: the same outputs as the whole model, cut only where exact."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from twinnet.exporters.segments import Segments, segmented  # noqa: E402


def residual_stack(blocks=3):
    x = keras.Input((8, 8, 4), name="image")
    h = keras.layers.Conv2D(4, 3, padding="same", name="stem")(x)
    for i in range(blocks):
        a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name=f"b{i}_a")(h)
        a = keras.layers.BatchNormalization(name=f"b{i}_bn")(
            keras.layers.Conv2D(4, 3, padding="same", name=f"b{i}_b")(a)
        )
        h = keras.layers.Activation("relu", name=f"b{i}_out")(keras.layers.Add(name=f"b{i}_add")([h, a]) * 0.5)
    out = keras.layers.Dense(3, name="head")(keras.layers.GlobalAveragePooling2D(name="pool")(h))
    return keras.Model(x, out)


def randomized(km, seed=0):
    rng = np.random.default_rng(seed)
    for v in km.weights:  # biases and statistics away from their defaults
        shape = tuple(v.shape)
        v.assign(
            rng.uniform(0.5, 1.5, shape).astype("float32")
            if "variance" in v.path
            else rng.standard_normal(shape).astype("float32") * 0.3
        )
    return km


def test_segments_cut_between_blocks_and_give_the_whole_models_outputs():
    km = randomized(residual_stack())
    parts = segmented(km, min_layers=3)
    assert isinstance(parts, Segments) and len(parts.parts) >= 3
    for batch in (1, 2):
        x = np.random.default_rng(batch).standard_normal((batch, 8, 8, 4)).astype("float32")
        np.testing.assert_array_equal(np.asarray(parts(x)), np.asarray(km(x, training=False)))


def test_what_runs_whole():
    tokens = keras.Input((5,), dtype="int32")
    masked = keras.Model(tokens, keras.layers.LSTM(3)(keras.layers.Embedding(10, 4, mask_zero=True)(tokens)))
    assert segmented(masked, min_layers=1) is masked  # a mask does not cross a sub-model's boundary
    x = keras.Input((4,))
    dense = keras.layers.Dense(4)
    twice = keras.Model(x, keras.layers.Dense(1)(dense(keras.layers.ReLU()(dense(x)))))
    assert segmented(twice, min_layers=1) is twice  # a layer called twice
    a, b = keras.Input((4,)), keras.Input((4,))
    two = keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Add()([a, b])))
    assert segmented(two, min_layers=1) is two  # several inputs
    short = residual_stack(1)
    assert segmented(short) is short  # no cut leaves MIN_LAYERS on each side
