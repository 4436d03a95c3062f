"""The source model's runner: a large Keras model runs a segment at a time (segments.py), with the same outputs."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from twinnet.exporters import memory  # noqa: E402
from twinnet.exporters.sources import keras_model, keras_runner  # noqa: E402


def chain(depth=20):
    x = keras.Input((6,), name="x")
    h = x
    for i in range(depth):
        h = keras.layers.Dense(6, activation="tanh", name=f"d{i}")(h)
    return keras.Model(x, h)


def test_only_a_large_model_runs_in_segments(monkeypatch):
    km = chain()
    model = keras_model(km).model
    calls = []
    original = keras.Model.__call__

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "__call__", counted)
    xs = [np.random.default_rng(0).standard_normal((2, 6)).astype("float32")]
    whole = keras_runner(km, model)(xs)
    assert len(calls) == 1  # a small model: one call
    monkeypatch.setattr(memory, "WORTH_RELEASING", 0)
    calls.clear()
    parts = keras_runner(km, model)(xs)
    assert len(calls) > 1  # one call per segment
    np.testing.assert_array_equal(parts[0], whole[0])
