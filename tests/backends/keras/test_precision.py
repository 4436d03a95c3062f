"""to_keras(model, dtype=...): built under Keras's mixed-precision policy, variables on the half grid."""

import keras
import numpy as np
import pytest

import twinnet
from twinnet import ir
from twinnet.backends.keras import source
from twinnet.ir import layers as L
from twinnet.ir.precision import round_to


def model(dtype="float32"):
    x = ir.Input((None, 4), layout="NTC", name="seq")
    m = ir.Model(x, L.Dense(3)(L.LSTM(5)(x)), name="rnn").randomize(0)
    m.dtype = dtype
    return m


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_layers_compute_in_half_precision_with_float32_variables_on_the_half_grid(dtype):
    km = twinnet.to_keras(model(), dtype=dtype)
    lstm = km.get_layer("lstm")
    assert lstm.dtype_policy.name == f"mixed_{dtype}" and lstm.compute_dtype == dtype
    kernel = np.asarray(lstm.get_weights()[0])
    assert kernel.dtype == np.float32
    assert np.array_equal(kernel, round_to(model().weights["lstm/kernel"], dtype))
    out = km(np.ones((2, 3, 4), np.float32))
    assert dtype in str(out.dtype)


def test_the_global_policy_is_restored_after_building():
    before = keras.config.dtype_policy().name
    twinnet.to_keras(model("bfloat16"))
    assert keras.config.dtype_policy().name == before


def test_the_emitted_source_builds_under_the_policy_and_float32_source_is_unchanged():
    code = source(model("float16"))
    assert 'keras.config.set_dtype_policy("mixed_float16")' in code and "finally:" in code
    assert 'dtype="float16"' in code  # the float input
    assert "set_dtype_policy" not in source(model())
