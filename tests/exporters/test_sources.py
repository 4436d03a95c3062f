"""The source model's runner: a large Keras model runs one sample at a time, with the same outputs."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from twinnet.exporters import memory  # noqa: E402
from twinnet.exporters.sources import keras_model, keras_runner, one_sample_at_a_time  # noqa: E402


def two_inputs():
    a, b = keras.Input((6,), name="a"), keras.Input((4, 3), name="b")
    h = keras.layers.Dense(5, name="d")(a)
    g = keras.layers.Flatten(name="f")(keras.layers.Dense(2, name="e")(b))
    return keras.Model([a, b], [keras.layers.Concatenate(name="c")([h, g]), keras.layers.Dense(1, name="o")(h)])


def test_one_sample_at_a_time_joins_what_the_whole_batch_gives():
    km = two_inputs()
    source = keras_model(km)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((3, 6), dtype="float32"), rng.standard_normal((3, 4, 3), dtype="float32")]
    whole = source.run(xs)
    each = one_sample_at_a_time(source.run, source.model)(xs)
    assert [o.shape for o in each] == [(3, 13), (3, 1)]
    for got, want in zip(each, whole):
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-6)


def test_only_a_large_model_runs_sample_by_sample(monkeypatch):
    km = two_inputs()
    model = keras_model(km).model
    calls = []
    original = keras.Model.__call__

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "__call__", counted)
    xs = [np.zeros((2, 6), "float32"), np.zeros((2, 4, 3), "float32")]
    keras_runner(km, model)(xs)
    assert len(calls) == 1  # a small model: the batch in one call
    monkeypatch.setattr(memory, "WORTH_RELEASING", 0)
    calls.clear()
    keras_runner(km, model)(xs)
    assert len(calls) == 2
