"""from_keras of models under float16/bfloat16 dtype policies (plain and mixed)."""

import keras
import numpy as np
import pytest

import twinnet
from twinnet import ir
from twinnet.ir.precision import round_to


def build(policy=None, dtypes=None):
    previous = keras.config.dtype_policy()
    if policy:
        keras.config.set_dtype_policy(policy)
    try:
        dtypes = dtypes or {}
        x = keras.Input((8, 8, 3), name="image")
        y = keras.layers.Conv2D(4, 3, name="conv", dtype=dtypes.get("conv"))(x)
        y = keras.layers.BatchNormalization(name="bn", dtype=dtypes.get("bn"))(y)
        y = keras.layers.Flatten(name="flat")(y)
        y = keras.layers.Dense(3, name="head", dtype=dtypes.get("head"))(y)
        km = keras.Model(x, y, name="km")
    finally:
        keras.config.set_dtype_policy(previous)
    rng = np.random.default_rng(0)
    km.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in km.get_weights()])
    return km


@pytest.mark.parametrize(
    "policy, dtype", [("float16", "float16"), ("bfloat16", "bfloat16"), ("mixed_float16", "float16")]
)
def test_a_half_policy_imports_as_the_model_precision_with_exact_weights(policy, dtype):
    km = build(policy)
    model = twinnet.from_keras(km)
    assert model.dtype == dtype
    kernel = np.asarray(km.get_layer("conv").kernel.numpy()).astype(np.float32)
    assert np.array_equal(model.weights["conv/kernel"], kernel)
    if not policy.startswith("mixed"):  # a half policy's variables are half: their values are on the grid
        assert np.array_equal(round_to(kernel, dtype), kernel)
    report = twinnet.verify(model, paths=("keras", "torch", "onnx-ir"))
    assert report.ok, report.table()


def test_a_float32_output_layer_in_a_half_model_takes_the_model_precision():
    model = twinnet.from_keras(build("mixed_bfloat16", {"head": "float32"}))
    assert model.dtype == "bfloat16"


def test_layers_in_two_half_precisions_are_refused():
    with pytest.raises(ir.UnsupportedError, match="both float16 and bfloat16"):
        twinnet.from_keras(build("float16", {"head": "bfloat16"}))


def test_normalization_holds_the_float32_statistics_keras_computes_with():
    """Keras holds a given mean of 0.1 as a float32 tensor: the IR holds that number (what torch's buffers read)."""
    x = keras.Input((4, 3), name="x")
    km = keras.Model(x, keras.layers.Normalization(mean=[0.1, -0.2, 0.3], variance=[0.5, 1.5, 2.0], name="norm")(x))
    layer = twinnet.from_keras(km).node("norm").layer
    assert list(layer.mean) == [float(np.float32(v)) for v in (0.1, -0.2, 0.3)]
    assert list(layer.variance) == [float(np.float32(v)) for v in (0.5, 1.5, 2.0)]
