"""The zoo's float64 reference and run-time ratio (``benchmarks/zoo_checks.py``), on small real models.

The float64 reference must really compute in float64 on both sides (a Keras
model rebuilt under a float64 policy, a torch module copied and doubled),
agree with the float32 models to float32 precision, and leave the models it
was given as they were. The run-time ratio is measured, not asserted against
a budget (the 5% check is a benchmark: docs/zoo.md).
"""

import keras
import numpy as np
import pytest
import torch
from siblings import benchmark

import twinnet

zoo = benchmark("zoo")
checks = zoo.checks


def _keras_net():
    keras.utils.set_random_seed(3)
    x = keras.Input((8, 8, 3))
    y = keras.layers.Rescaling(1 / 255, offset=-0.1)(x)  # float64 needs its float64 numbers (keras_float64)
    y = keras.layers.Conv2D(4, 3, padding="same")(y)
    y = keras.layers.BatchNormalization()(y)
    y = keras.ops.relu(y) * 2.0 + 1.0
    y = keras.layers.GlobalAveragePooling2D()(y)
    km = keras.Model(x, keras.layers.Dense(5)(y))
    rng = np.random.default_rng(0)
    km.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in km.get_weights()])
    return km


def _torch_net():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten(1)
    )
    return zoo.zoo_models.randomize_torch(net, 1), (torch.randn(2, 3, 8, 8),)


def test_keras_float64_computes_in_float64_with_the_same_weights():
    km = _keras_net()
    k64 = checks.keras_float64(km)
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 3))
    out64 = np.asarray(k64(x))
    assert out64.dtype == np.float64 and all(w.dtype == "float64" for w in k64.weights)
    assert all(w.dtype == "float32" for w in km.weights)  # the source is left as it was
    out32 = np.asarray(km(x.astype(np.float32)))
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    assert not np.array_equal(out32.astype(np.float64), out64)  # really another precision


def test_float64_check_from_keras_and_from_torch():
    km = _keras_net()
    model = twinnet.from_keras(km)
    row = checks.float64_check(zoo, "keras", km, model, twinnet.to_torch(model))
    assert row["equal64"] and row["rel64"] < 1e-12, row
    net, example = _torch_net()
    model = twinnet.from_torch(net, example)
    row = checks.float64_check(zoo, "torchvision", (net, example), model, twinnet.to_keras(model))
    assert row["equal64"] and row["rel64"] < 1e-12, row
    assert next(net.parameters()).dtype == torch.float32


def test_label_says_rounding_only_when_float64_agrees():
    assert checks.label({"rel64": 3e-7, "equal64": True}) == "float32 rounding (float64: 3.0e-07)"
    assert checks.label({"rel64": 0.2, "equal64": False}).startswith("differs in float64 too")
    assert checks.label({}) == ""


def test_speed_times_the_torch_module_compiled_back_against_the_source():
    net, example = _torch_net()
    model = twinnet.from_torch(net, example)
    row = checks.speed(zoo, "torchvision", (net, example), model, None, repeats=3)
    assert row["speed_vs"] == "torch" and row["source_ms"] > 0 and row["converted_ms"] > 0
    assert row["speed_ratio"] == pytest.approx(row["converted_ms"] / row["source_ms"])


def test_isolated_run_reports_a_dead_process_as_a_row(tmp_path):
    script = tmp_path / "dies.py"
    script.write_text("import sys\nsys.exit('out of memory')\n")
    row = checks.run_isolated(str(script), ["--isolate", "--models", "a,b", "--timeout", "5"], "keras", "a")
    assert not row["converts"] and "exit 1" in row["refusals"][0] and "out of memory" in row["refusals"][0]
